//! The protocols, and the metrics each computes from scores.

use serde::{Deserialize, Serialize};

use crate::WscxrError;
use crate::metrics::{Metrics, evaluate, youden_threshold};

/// How the threshold (and, for the oracle, the epoch) is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Fixed epochs; threshold from images that no fit sees.
    Honest,
    /// Best epoch and threshold chosen on the evaluated images (the official code; optimistic).
    Oracle,
}

impl Protocol {
    /// `honest` or `oracle`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Honest => "honest",
            Protocol::Oracle => "oracle",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = WscxrError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "honest" => Ok(Protocol::Honest),
            "oracle" => Ok(Protocol::Oracle),
            other => Err(WscxrError::invalid(
                "protocol",
                other,
                "use honest or oracle",
            )),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The honest protocol's numbers: the threshold is Youden's J on `threshold_scores`, and only
/// then applied to the eval scores.
pub fn honest_metrics(
    threshold_scores: &[f32],
    threshold_labels: &[bool],
    eval_scores: &[f32],
    eval_labels: &[bool],
) -> Result<Metrics, WscxrError> {
    let threshold = youden_threshold(threshold_scores, threshold_labels).ok_or_else(|| {
        WscxrError::invalid(
            "threshold images",
            threshold_labels.len(),
            "need both normal and abnormal images",
        )
    })?;
    evaluate(eval_scores, eval_labels, threshold).ok_or_else(|| {
        WscxrError::invalid(
            "eval images",
            eval_labels.len(),
            "need both normal and abnormal images",
        )
    })
}

/// The oracle protocol's numbers for one state of D: threshold chosen on the eval scores.
pub fn oracle_metrics(eval_scores: &[f32], eval_labels: &[bool]) -> Result<Metrics, WscxrError> {
    youden_threshold(eval_scores, eval_labels)
        .and_then(|t| evaluate(eval_scores, eval_labels, t))
        .ok_or_else(|| {
            WscxrError::invalid(
                "eval images",
                eval_labels.len(),
                "need both normal and abnormal images",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_threshold_is_chosen_on_the_threshold_images_not_the_eval_ones() {
        // On the threshold images Youden's J picks 0.5; on the eval images it would pick 0.9.
        let threshold_scores = [0.1, 0.2, 0.5, 0.6];
        let threshold_labels = [false, false, true, true];
        let eval_scores = [0.4, 0.6, 0.9, 0.95];
        let eval_labels = [false, false, true, true];
        let m = honest_metrics(
            &threshold_scores,
            &threshold_labels,
            &eval_scores,
            &eval_labels,
        )
        .unwrap();
        assert_eq!(m.threshold, 0.5);
        assert_eq!(m.accuracy, 0.75, "0.6 is a false positive at 0.5");
        let oracle = oracle_metrics(&eval_scores, &eval_labels).unwrap();
        assert_eq!(oracle.threshold, 0.9);
        assert_eq!(oracle.accuracy, 1.0);
    }
}
