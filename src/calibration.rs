//! What a raw score means: a decision threshold and the normal images' score distribution, fixed
//! when the detector is fitted and stored with it.

use serde::{Deserialize, Serialize};

use crate::WscxrError;
use crate::metrics::{accuracy_f1, youden_threshold};

/// How the decision threshold is chosen on the validation images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdRule {
    /// Maximise Youden's J = sensitivity + specificity - 1 (needs normal and abnormal images).
    Youden,
    /// The lowest threshold that keeps at least this fraction of the normal validation images
    /// below it (works with normal images alone).
    Specificity(f64),
    /// Maximise F1 of the abnormal class (needs normal and abnormal images).
    MaxF1,
}

impl ThresholdRule {
    /// The rule named as `wscxr fit --rule` names it: `youden`, `max-f1`, or `specificity`
    /// (keeping `specificity` of the normal validation images below the threshold); `None` for
    /// any other name.
    pub fn from_name(name: &str, specificity: f64) -> Option<Self> {
        match name {
            "youden" => Some(ThresholdRule::Youden),
            "max-f1" => Some(ThresholdRule::MaxF1),
            "specificity" => Some(ThresholdRule::Specificity(specificity)),
            _ => None,
        }
    }
}

/// Quantiles kept of the normal validation scores: every percent.
const QUANTILES: usize = 101;

/// A detector's calibration: its threshold and the quantiles of its normal validation scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Images scoring at least this are called abnormal.
    pub threshold: f32,
    /// How the threshold was chosen.
    pub rule: ThresholdRule,
    /// The 0%, 1%, ..., 100% quantiles of the normal validation images' scores.
    pub normal_quantiles: Vec<f32>,
    /// Normal validation images.
    pub normal_images: usize,
    /// Abnormal validation images.
    pub abnormal_images: usize,
}

impl Calibration {
    /// Calibrates on validation `scores` with `labels` (`true` = abnormal). There must be normal
    /// images, and abnormal ones too for the Youden and F1 rules; scores must be finite.
    pub fn fit(scores: &[f32], labels: &[bool], rule: ThresholdRule) -> Result<Self, WscxrError> {
        if scores.len() != labels.len() {
            return Err(WscxrError::invalid(
                "validation labels",
                labels.len(),
                format!("one per score ({} scores)", scores.len()),
            ));
        }
        if let Some(bad) = scores.iter().find(|s| !s.is_finite()) {
            return Err(WscxrError::invalid(
                "validation score",
                bad,
                "calibration needs finite scores",
            ));
        }
        let mut normal: Vec<f32> = scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| !**l)
            .map(|(s, _)| *s)
            .collect();
        let abnormal_images = scores.len() - normal.len();
        if normal.is_empty() {
            return Err(WscxrError::invalid(
                "validation images",
                0,
                "calibration needs normal validation images",
            ));
        }
        normal.sort_by(f32::total_cmp);
        let needs_both = || {
            WscxrError::invalid(
                "validation images",
                abnormal_images,
                "this threshold rule needs abnormal validation images too",
            )
        };
        let threshold = match rule {
            ThresholdRule::Youden => youden_threshold(scores, labels).ok_or_else(needs_both)?,
            ThresholdRule::MaxF1 => {
                if abnormal_images == 0 {
                    return Err(needs_both());
                }
                let mut candidates = scores.to_vec();
                candidates.sort_by(|a, b| b.total_cmp(a));
                candidates.dedup();
                // Highest threshold among equals, as for Youden's J.
                let mut best = (f64::NEG_INFINITY, f32::INFINITY);
                for t in candidates {
                    let (_, f1) = accuracy_f1(scores, labels, t);
                    if f1 > best.0 {
                        best = (f1, t);
                    }
                }
                best.1
            }
            ThresholdRule::Specificity(s) => {
                if !(s > 0.0 && s <= 1.0) {
                    return Err(WscxrError::invalid("specificity", s, "must be in (0, 1]"));
                }
                // At least ceil(s * n) normal scores must lie strictly below the threshold.
                let below = ((s * normal.len() as f64).ceil() as usize).min(normal.len());
                // The next representable value up, so that the `below`-th score is below it.
                normal[below - 1].next_up()
            }
        };
        let normal_quantiles = (0..QUANTILES)
            .map(|q| quantile(&normal, q as f64 / (QUANTILES - 1) as f64))
            .collect();
        Ok(Self {
            threshold,
            rule,
            normal_quantiles,
            normal_images: normal.len(),
            abnormal_images,
        })
    }

    /// Whether `score` is called abnormal.
    pub fn is_abnormal(&self, score: f32) -> bool {
        score >= self.threshold
    }

    /// Where `score` falls among the normal validation scores, in [0, 1]: 0.5 is a typical
    /// normal image, 1 is above every normal one (interpolated between stored quantiles).
    pub fn normalized(&self, score: f32) -> f32 {
        let q = &self.normal_quantiles;
        if q.is_empty() || score.is_nan() {
            return f32::NAN;
        }
        if score <= q[0] {
            return 0.0;
        }
        if score >= q[q.len() - 1] {
            return 1.0;
        }
        let above = q.partition_point(|&v| v <= score);
        let (lo, hi) = (q[above - 1], q[above]);
        let step = 1.0 / (q.len() - 1) as f32;
        let within = if hi > lo {
            (score - lo) / (hi - lo)
        } else {
            0.0
        };
        ((above - 1) as f32 + within) * step
    }
}

/// Linear-interpolated quantile of sorted `values` (NumPy's default), `q` in [0, 1].
fn quantile(sorted: &[f32], q: f64) -> f32 {
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let t = (position - low as f64) as f32;
    sorted[low] + (sorted[high] - sorted[low]) * t
}

/// The colour scale of a detector's heatmaps, fixed when it is fitted so that the same colour
/// means the same patch score in every picture: scores at or below `low` are blue, at or above
/// `high` red.
///
/// `low` is the median patch score of normal training images (what normal lung looks like).
/// `high` is the calibrated threshold when the detector is calibrated (red: a patch that alone
/// makes the image abnormal), else the highest patch score of those normal images (red: beyond
/// anything seen in them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ColourScale {
    /// Patch score drawn blue.
    pub low: f32,
    /// Patch score drawn red.
    pub high: f32,
    /// The calibrated threshold, marked on the colour bar.
    pub threshold: Option<f32>,
}

impl Default for ColourScale {
    fn default() -> Self {
        Self {
            low: 0.0,
            high: 1.0,
            threshold: None,
        }
    }
}

impl ColourScale {
    /// The scale from normal images' patch scores and, when there is one, the calibration.
    pub fn from_normals(
        normal_patch_scores: &[f32],
        calibration: Option<&Calibration>,
    ) -> Result<Self, WscxrError> {
        let mut sorted: Vec<f32> = normal_patch_scores.to_vec();
        if sorted.is_empty() || sorted.iter().any(|s| !s.is_finite()) {
            return Err(WscxrError::invalid(
                "normal patch scores",
                sorted.len(),
                "the colour scale needs finite scores of at least one patch",
            ));
        }
        sorted.sort_unstable_by(f32::total_cmp);
        let low = sorted[sorted.len() / 2];
        let threshold = calibration.map(|c| c.threshold);
        let high = threshold.unwrap_or(sorted[sorted.len() - 1]);
        // A threshold at or below the median normal patch would leave no range to draw.
        let high = if high > low { high } else { low + 1.0 };
        Self {
            low,
            high,
            threshold,
        }
        .checked()
    }

    /// A scale must map scores to colours: finite, `low < high`.
    pub fn checked(self) -> Result<Self, WscxrError> {
        let finite = self.low.is_finite()
            && self.high.is_finite()
            && self.threshold.is_none_or(f32::is_finite);
        if !finite || self.low >= self.high {
            return Err(WscxrError::invalid(
                "colour scale",
                format!("{self:?}"),
                "needs finite values and low < high",
            ));
        }
        Ok(self)
    }

    /// Where `score` falls on the scale, in [0, 1].
    pub fn position(&self, score: f32) -> f32 {
        ((score - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_the_programs_names() {
        assert_eq!(
            ThresholdRule::from_name("youden", 0.9),
            Some(ThresholdRule::Youden)
        );
        assert_eq!(
            ThresholdRule::from_name("max-f1", 0.9),
            Some(ThresholdRule::MaxF1)
        );
        assert_eq!(
            ThresholdRule::from_name("specificity", 0.9),
            Some(ThresholdRule::Specificity(0.9))
        );
        assert_eq!(ThresholdRule::from_name("Youden", 0.9), None);
        assert_eq!(ThresholdRule::from_name("max_f1", 0.9), None);
    }

    fn data() -> (Vec<f32>, Vec<bool>) {
        let normal: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect(); // 0.00 .. 0.99
        let abnormal = [0.95f32, 1.2, 1.5, 2.0];
        let scores: Vec<f32> = normal.iter().chain(&abnormal).copied().collect();
        let labels = (0..104).map(|i| i >= 100).collect();
        (scores, labels)
    }

    #[test]
    fn youden_threshold_and_quantiles() {
        let (scores, labels) = data();
        let c = Calibration::fit(&scores, &labels, ThresholdRule::Youden).unwrap();
        // At 0.95: all 4 abnormal caught, 5 normal (0.95..0.99) called abnormal: J = 1 - 0.05;
        // at 1.2: 3/4 caught, no false positive: J = 0.75.
        assert_eq!(c.threshold, 0.95);
        assert_eq!((c.normal_images, c.abnormal_images), (100, 4));
        assert_eq!(c.normal_quantiles.len(), 101);
        assert_eq!(c.normal_quantiles[0], 0.0);
        assert!((c.normal_quantiles[50] - 0.495).abs() < 1e-6);
        assert_eq!(c.normal_quantiles[100], 0.99);
        assert!(c.is_abnormal(0.95) && !c.is_abnormal(0.949));
    }

    #[test]
    fn normalized_scores_are_the_rank_among_normals() {
        let (scores, labels) = data();
        let c = Calibration::fit(&scores, &labels, ThresholdRule::Youden).unwrap();
        assert_eq!(c.normalized(-1.0), 0.0);
        assert_eq!(c.normalized(5.0), 1.0);
        assert!(
            (c.normalized(0.495) - 0.5).abs() < 1e-4,
            "{}",
            c.normalized(0.495)
        );
        assert!(
            (c.normalized(0.2475) - 0.25).abs() < 2e-3,
            "{}",
            c.normalized(0.2475)
        );
        let mut last = 0.0;
        for i in 0..200 {
            let n = c.normalized(i as f32 / 190.0);
            assert!(n >= last, "normalized scores must not decrease");
            last = n;
        }
        assert!(c.normalized(f32::NAN).is_nan());
    }

    #[test]
    fn specificity_rule_needs_only_normal_images() {
        let normal: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let labels = vec![false; 100];
        let c = Calibration::fit(&normal, &labels, ThresholdRule::Specificity(0.95)).unwrap();
        let below = normal.iter().filter(|&&s| !c.is_abnormal(s)).count();
        assert_eq!(below, 95, "threshold {}", c.threshold);
        assert!(Calibration::fit(&normal, &labels, ThresholdRule::Youden).is_err());
        assert!(Calibration::fit(&normal, &labels, ThresholdRule::MaxF1).is_err());
        let err = Calibration::fit(&normal, &labels, ThresholdRule::Specificity(0.0)).unwrap_err();
        assert_eq!(err.invalid_parameter(), Some("specificity"));
    }

    #[test]
    fn max_f1_rule_and_bad_inputs() {
        let (scores, labels) = data();
        let c = Calibration::fit(&scores, &labels, ThresholdRule::MaxF1).unwrap();
        // At 1.2: tp 3, fp 0, fn 1: F1 = 6/7, better than 0.95's 8/13.
        assert_eq!(c.threshold, 1.2);
        let mut nan = scores.clone();
        nan[3] = f32::NAN;
        let err = Calibration::fit(&nan, &labels, ThresholdRule::Youden).unwrap_err();
        assert_eq!(err.invalid_parameter(), Some("validation score"));
        let err = Calibration::fit(&scores[..5], &labels, ThresholdRule::Youden).unwrap_err();
        assert_eq!(err.invalid_parameter(), Some("validation labels"));
    }
}
