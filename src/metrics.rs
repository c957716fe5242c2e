//! Image-level metrics: AUROC, and accuracy / F1 at a threshold (abnormal is the positive class).

use serde::{Deserialize, Serialize};

/// Scores and labels (`true` = abnormal) of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Area under the ROC curve.
    pub auroc: f64,
    /// Accuracy at `threshold`.
    pub accuracy: f64,
    /// F1 of the abnormal class at `threshold`.
    pub f1: f64,
    /// Images scoring `>= threshold` are called abnormal.
    pub threshold: f32,
}

/// Exact AUROC: the probability that a random abnormal image outscores a random normal one, ties
/// counting one half (the Mann-Whitney U statistic with mid-ranks). `None` without both classes,
/// or when a score is NaN (it has no rank).
pub fn auroc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    if scores.iter().any(|s| s.is_nan()) || scores.len() != labels.len() {
        return None;
    }
    assert_eq!(scores.len(), labels.len());
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mid_rank = (i + j + 2) as f64 / 2.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (positives * (positives + 1)) as f64 / 2.0;
    Some(u / (positives * negatives) as f64)
}

/// The ROC curve: `(false positive rate, true positive rate)` as the threshold sweeps down over
/// the observed scores, tied scores taken together, from `(0, 0)` to `(1, 1)`. `None` without both
/// classes, or when a score is NaN.
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Option<Vec<[f64; 2]>> {
    if scores.iter().any(|s| s.is_nan()) || scores.len() != labels.len() {
        return None;
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![[0.0, 0.0]];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (i, &k) in order.iter().enumerate() {
        if labels[k] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order
            .get(i + 1)
            .is_none_or(|&next| scores[next] != scores[k]);
        if last_of_tie {
            points.push([fp as f64 / negatives as f64, tp as f64 / positives as f64]);
        }
    }
    Some(points)
}

/// The threshold maximising Youden's J = TPR - FPR over the observed scores (ties: the highest
/// threshold, i.e. the first met when sweeping down, as scikit-learn's `roc_curve` + `argmax`).
/// `None` without both classes, or when a score is NaN.
pub fn youden_threshold(scores: &[f32], labels: &[bool]) -> Option<f32> {
    if scores.iter().any(|s| s.is_nan()) || scores.len() != labels.len() {
        return None;
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut best = (f64::NEG_INFINITY, f32::INFINITY);
    let mut i = 0;
    while i < order.len() {
        let threshold = scores[order[i]];
        while i < order.len() && scores[order[i]] == threshold {
            if labels[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let j = tp as f64 / positives as f64 - fp as f64 / negatives as f64;
        if j > best.0 {
            best = (j, threshold);
        }
    }
    Some(best.1)
}

/// Accuracy and F1 when images scoring `>= threshold` are called abnormal.
pub fn accuracy_f1(scores: &[f32], labels: &[bool], threshold: f32) -> (f64, f64) {
    let (mut tp, mut fp, mut tn, mut fn_) = (0usize, 0usize, 0usize, 0usize);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s >= threshold, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let accuracy = (tp + tn) as f64 / scores.len().max(1) as f64;
    let f1 = if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    };
    (accuracy, f1)
}

/// AUROC, and accuracy / F1 at `threshold`.
pub fn evaluate(scores: &[f32], labels: &[bool], threshold: f32) -> Option<Metrics> {
    let auroc = auroc(scores, labels)?;
    let (accuracy, f1) = accuracy_f1(scores, labels, threshold);
    Some(Metrics {
        auroc,
        accuracy,
        f1,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trapezoid area under the curve is the AUROC (ties make diagonal steps, which the
    /// trapezoid counts half, as the Mann-Whitney statistic does).
    #[test]
    fn roc_curve_runs_corner_to_corner_and_its_area_is_the_auroc() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.7];
        let labels = [false, true, false, true, false, true, false, false];
        let curve = roc_curve(&scores, &labels).unwrap();
        assert_eq!(curve.first(), Some(&[0.0, 0.0]));
        assert_eq!(curve.last(), Some(&[1.0, 1.0]));
        assert!(
            curve
                .windows(2)
                .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1])
        );
        let area: f64 = curve
            .windows(2)
            .map(|w| (w[1][0] - w[0][0]) * (w[0][1] + w[1][1]) / 2.0)
            .sum();
        let expected = auroc(&scores, &labels).unwrap();
        assert!((area - expected).abs() < 1e-12, "{area} vs {expected}");
        // The tied pair (0.4: one of each class) is one diagonal step, not two.
        assert_eq!(curve.len(), 8);
        assert!(roc_curve(&[0.1, f32::NAN], &[false, true]).is_none());
        assert!(roc_curve(&[0.1, 0.2], &[true, true]).is_none());
    }

    #[test]
    fn auroc_counts_ties_as_half() {
        assert_eq!(auroc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(auroc(&[0.9, 0.1], &[false, true]), Some(0.0));
        assert_eq!(auroc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // 2 positives (0.4, 0.8) x 2 negatives (0.4, 0.2): pairs won 1 + 0.5 + 1 + 1 = 3.5 of 4.
        assert_eq!(
            auroc(&[0.4, 0.8, 0.4, 0.2], &[true, true, false, false]),
            Some(0.875)
        );
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auroc(&[0.1, f32::NAN], &[false, true]), None);
        assert_eq!(youden_threshold(&[f32::NAN, 0.2], &[false, true]), None);
    }

    #[test]
    fn youden_picks_the_separating_threshold() {
        let scores = [0.1, 0.2, 0.5, 0.3, 0.7, 0.8, 0.9];
        let labels = [false, false, false, true, true, true, true];
        // J: 0.9 -> 1/4, 0.8 -> 2/4, 0.7 -> 3/4, 0.5 -> 3/4 - 1/3, 0.3 -> 1 - 1/3.
        let t = youden_threshold(&scores, &labels).unwrap();
        assert_eq!(t, 0.7);
        let (acc, f1) = accuracy_f1(&scores, &labels, t);
        assert!((acc - 6.0 / 7.0).abs() < 1e-12);
        assert!((f1 - 6.0 / 7.0).abs() < 1e-12);
    }
}
