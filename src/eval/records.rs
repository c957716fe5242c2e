//! What one run reports, and its summaries over seeds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::protocol::Protocol;
use super::splits::{SplitOptions, Splits, ThresholdSource};
use crate::config::WscxrConfig;
use crate::fitted_detector::FitReport;
use crate::localisation::Localisation;
use crate::metrics::Metrics;

/// One fit and its evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Abnormal training images (0: the unsupervised PatchCore detector).
    pub k: usize,
    /// The fit's seed.
    pub seed: u64,
    /// `wscxr` or `patchcore`.
    pub detector: String,
    /// The protocol.
    pub protocol: Protocol,
    /// AUROC, and ACC / F1 at the protocol's threshold.
    pub metrics: Metrics,
    /// Oracle: the epoch whose D gave `metrics`.
    pub best_epoch: Option<usize>,
    /// Oracle: the final epoch's numbers (threshold also chosen on the eval split).
    pub final_epoch: Option<Metrics>,
    /// The K abnormal images.
    pub abnormal_images: Vec<PathBuf>,
    /// The ROC curve of the fitted detector's eval scores, `(FPR, TPR)` points (under the oracle
    /// protocol: the final epoch's).
    pub roc: Vec<[f64; 2]>,
    /// Sizes and stage timings of the fit.
    pub fit: FitReport,
    /// The whole fit, seconds.
    pub fit_seconds: f64,
    /// Scoring the eval (and threshold) images, seconds.
    pub score_seconds: f64,
    /// With boxed images: how the maps localise, and how the boxed images separate from the
    /// eval split's normal images.
    pub boxed: Option<BoxedRecord>,
}

/// One fit's numbers on the boxed images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxedRecord {
    /// Pointing game, chance, top-pixel share and pixel AUROC.
    pub localisation: Localisation,
    /// Image AUROC of the boxed images (any finding) against the eval split's normal images.
    pub image_auroc: Option<f64>,
}

/// Mean and sample standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
}

impl MeanStd {
    /// Of `values` (NaN when empty).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Self {
            mean,
            std: var.sqrt(),
        }
    }
}

/// The runs of one K summarised over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Abnormal training images.
    pub k: usize,
    /// Runs (seeds).
    pub runs: usize,
    /// AUROC over the seeds.
    pub auroc: MeanStd,
    /// Accuracy over the seeds.
    pub accuracy: MeanStd,
    /// F1 over the seeds.
    pub f1: MeanStd,
}

/// The distinct K of `runs`, in the order they first appear.
fn ks_in_order<'r>(runs: impl Iterator<Item = &'r RunRecord>) -> Vec<usize> {
    let mut ks: Vec<usize> = Vec::new();
    for run in runs {
        if !ks.contains(&run.k) {
            ks.push(run.k);
        }
    }
    ks
}

/// One summary per K, in the order the K first appear in `runs`.
pub fn summarize(runs: &[RunRecord]) -> Vec<Summary> {
    ks_in_order(runs.iter())
        .into_iter()
        .map(|k| {
            let of_k: Vec<&Metrics> = runs
                .iter()
                .filter(|r| r.k == k)
                .map(|r| &r.metrics)
                .collect();
            let column = |f: fn(&Metrics) -> f64| {
                MeanStd::of(&of_k.iter().map(|m| f(m)).collect::<Vec<_>>())
            };
            Summary {
                k,
                runs: of_k.len(),
                auroc: column(|m| m.auroc),
                accuracy: column(|m| m.accuracy),
                f1: column(|m| m.f1),
            }
        })
        .collect()
}

/// The boxed images' numbers of one K over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalisationSummary {
    /// Abnormal training images.
    pub k: usize,
    /// Runs (seeds).
    pub runs: usize,
    /// Pointing game.
    pub pointing_game: MeanStd,
    /// Pointing game per finding.
    pub per_finding: BTreeMap<String, MeanStd>,
    /// The pointing game's chance level (the same for every run).
    pub chance: f64,
    /// Share of the maps' top 5% pixels inside boxes.
    pub top_share: MeanStd,
    /// Pixel AUROC, inside against outside boxes.
    pub pixel_auroc: MeanStd,
    /// Image AUROC, boxed images against the eval split's normal images.
    pub image_auroc: MeanStd,
}

/// One localisation summary per K (in the order the K first appear) of the runs with boxed
/// images.
pub fn summarize_localisation(runs: &[RunRecord]) -> Vec<LocalisationSummary> {
    ks_in_order(runs.iter().filter(|r| r.boxed.is_some()))
        .into_iter()
        .map(|k| {
            let of_k: Vec<&BoxedRecord> = runs
                .iter()
                .filter(|r| r.k == k)
                .filter_map(|r| r.boxed.as_ref())
                .collect();
            let column = |f: &dyn Fn(&BoxedRecord) -> f64| {
                MeanStd::of(&of_k.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let findings: BTreeMap<String, MeanStd> = of_k[0]
                .localisation
                .per_finding
                .keys()
                .map(|finding| {
                    let rate = column(&|r| {
                        r.localisation
                            .per_finding
                            .get(finding)
                            .map_or(f64::NAN, |h| h.rate())
                    });
                    (finding.clone(), rate)
                })
                .collect();
            LocalisationSummary {
                k,
                runs: of_k.len(),
                pointing_game: column(&|r| r.localisation.pointing_game),
                per_finding: findings,
                chance: of_k[0].localisation.chance,
                top_share: column(&|r| r.localisation.top_share),
                pixel_auroc: column(&|r| r.localisation.pixel_auroc.unwrap_or(f64::NAN)),
                image_auroc: column(&|r| r.image_auroc.unwrap_or(f64::NAN)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of `k` with the given AUROC and boxed record, zeros elsewhere.
    fn record(k: usize, seed: u64, auroc: f64, boxed: Option<BoxedRecord>) -> RunRecord {
        RunRecord {
            k,
            seed,
            detector: "wscxr".into(),
            protocol: Protocol::Honest,
            metrics: Metrics {
                auroc,
                accuracy: 0.5,
                f1: 0.5,
                threshold: 0.0,
            },
            best_epoch: None,
            final_epoch: None,
            abnormal_images: Vec::new(),
            roc: Vec::new(),
            fit: FitReport::default(),
            fit_seconds: 0.0,
            score_seconds: 0.0,
            boxed,
        }
    }

    #[test]
    fn localisation_summaries_average_over_seeds_per_k() {
        let run = |k, pointing_game, nodule_hits| {
            let localisation = Localisation {
                images: 4,
                pointing_game,
                per_finding: BTreeMap::from([(
                    "Nodule".to_string(),
                    crate::localisation::FindingHits {
                        hits: nodule_hits,
                        images: 2,
                    },
                )]),
                chance: 0.1,
                top_share: 0.3,
                pixel_auroc: Some(0.7),
            };
            record(
                k,
                0,
                0.9,
                Some(BoxedRecord {
                    localisation,
                    image_auroc: None,
                }),
            )
        };
        let s = summarize_localisation(&[run(16, 0.25, 0), run(16, 0.75, 2), run(4, 0.5, 1)]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].k, s[0].runs), (16, 2));
        assert_eq!(s[0].pointing_game.mean, 0.5);
        assert_eq!(s[0].per_finding["Nodule"].mean, 0.5);
        assert_eq!(s[1].per_finding["Nodule"].mean, 0.5);
        assert!(
            s[0].image_auroc.mean.is_nan(),
            "no image AUROC is not a number"
        );
    }

    #[test]
    fn summaries_average_over_seeds_per_k() {
        let run = |k, seed, auroc| record(k, seed, auroc, None);
        let s = summarize(&[run(2, 0, 0.8), run(2, 1, 0.9), run(4, 0, 0.95)]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].k, s[0].runs), (2, 2));
        assert!((s[0].auroc.mean - 0.85).abs() < 1e-12);
        assert!((s[0].auroc.std - 0.0707107).abs() < 1e-6);
        assert_eq!(s[1].auroc.std, 0.0);
    }
}

/// A whole evaluation as `wscxr evaluate --json` writes it (and Python's `wscxr.evaluate`
/// returns it): every run, the summaries over seeds, and what produced them. Fields are in name
/// order, the order of the JSON object it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The burn backend it ran on.
    pub backend: String,
    /// The configuration of every fit (each run's seed aside).
    pub config: WscxrConfig,
    /// The dataset folder.
    pub data: String,
    /// Which images were evaluated.
    pub eval_source: String,
    /// The split named for evaluation.
    pub eval_split: String,
    /// Localisation summaries per K (empty without boxes).
    pub localisation: Vec<LocalisationSummary>,
    /// Honest or oracle.
    pub protocol: Protocol,
    /// Every run.
    pub runs: Vec<RunRecord>,
    /// AUROC, ACC and F1 per K over seeds.
    pub summary: Vec<Summary>,
    /// Where the threshold came from.
    pub threshold_source: ThresholdSource,
}

impl Report {
    /// The report of `runs` on `splits`, with their summaries.
    pub fn new(
        runs: Vec<RunRecord>,
        splits: &Splits,
        options: &SplitOptions,
        data: &std::path::Path,
        backend: &str,
        config: WscxrConfig,
    ) -> Self {
        Self {
            backend: backend.to_string(),
            config,
            data: data.display().to_string(),
            eval_source: splits.eval_source.clone(),
            eval_split: options.eval_split.clone(),
            localisation: summarize_localisation(&runs),
            protocol: options.protocol,
            summary: summarize(&runs),
            threshold_source: splits.threshold_source.clone(),
            runs,
        }
    }
}
