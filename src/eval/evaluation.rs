//! The runner: fits under a protocol, each scored on images whose features are computed once.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::prelude::*;
use wscxr_bank::PatchFeatures;
use wscxr_detector::{Discriminator, EpochReport, image_scores, patch_scores};
use wscxr_image::Xray;

use super::protocol::{Protocol, honest_metrics, oracle_metrics};
use super::records::{BoxedRecord, RunRecord};
use super::splits::Splits;
use crate::WscxrError;
use crate::anomaly_map::AnomalyMap;
use crate::config::WscxrConfig;
use crate::features::FeatureCache;
use crate::fit::Wscxr;
use crate::localisation::LocalisationTally;
use crate::metrics::{Metrics, roc_curve};
use crate::observer::{Observer, Part, Stage};
use crate::weights::LoadedBackbone;

/// Runs fits under a protocol: the eval and threshold images' patch features are computed once
/// and scored by every fit.
pub struct Evaluation<'a> {
    config: WscxrConfig,
    splits: &'a Splits,
    cache: Option<&'a FeatureCache>,
    device: Device,
    eval_features: PatchFeatures,
    threshold_features: Option<PatchFeatures>,
    /// The boxed images' features and their `[height, width]`.
    boxed_features: Option<(PatchFeatures, Vec<[usize; 2]>)>,
}

impl<'a> Evaluation<'a> {
    /// Checks `config`, loads its backbone and extracts the eval and threshold images' features.
    pub fn new(
        config: WscxrConfig,
        splits: &'a Splits,
        cache: Option<&'a FeatureCache>,
        device: &Device,
        observer: &mut dyn Observer,
    ) -> Result<Self, WscxrError> {
        config.check()?;
        let backbone = LoadedBackbone::load(&config, device)?;
        let eval_features =
            backbone.patch_features(&splits.eval.images, &config, cache, |d, t| {
                observer.progress(Stage::Scoring, d, t)
            })?;
        let threshold_features = match &splits.threshold {
            Some(images) => Some(backbone.patch_features(
                &images.images,
                &config,
                cache,
                |d, t| observer.progress(Stage::Scoring, d, t),
            )?),
            None => None,
        };
        let boxed_features = match &splits.boxed {
            Some(boxed) => {
                let xrays = Xray::files(&boxed.paths);
                let sizes = xrays
                    .iter()
                    .map(|x| {
                        let r = x.decode()?;
                        Ok([r.height() as usize, r.width() as usize])
                    })
                    .collect::<Result<Vec<_>, WscxrError>>()?;
                let features = backbone.patch_features(&xrays, &config, cache, |d, t| {
                    observer.progress(Stage::Scoring, d, t)
                })?;
                Some((features, sizes))
            }
            None => None,
        };
        Ok(Self {
            config,
            splits,
            cache,
            device: device.clone(),
            eval_features,
            threshold_features,
            boxed_features,
        })
    }

    /// Fits with K abnormal images drawn with `seed` (K = 0: unsupervised) and evaluates the
    /// detector under the splits' protocol.
    pub fn run(
        &self,
        k: usize,
        seed: u64,
        observer: &mut dyn Observer,
    ) -> Result<RunRecord, WscxrError> {
        let training = self.splits.training_set(k, seed)?;
        let config = self.config.clone().with_seed(seed);
        let oracle = self.splits.protocol == Protocol::Oracle;
        let mut watch = EpochWatch {
            features: (oracle && k > 0).then_some(&self.eval_features),
            labels: &self.splits.eval.labels,
            history: Vec::new(),
            failure: None,
            inner: observer,
        };
        let clock = Instant::now();
        let mut builder = Wscxr::new(config)?.observer(&mut watch);
        if let Some(cache) = self.cache {
            builder = builder.cache(cache);
        }
        let detector = builder.fit(&training, &self.device)?;
        if let Some(failure) = watch.failure.take() {
            return Err(failure);
        }
        let fit_seconds = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let eval_scores = detector.image_scores(&self.eval_features)?;
        let eval_labels = &self.splits.eval.labels;
        let (metrics, best_epoch, final_epoch) = match self.splits.protocol {
            Protocol::Honest => {
                let (Some(features), Some(images)) =
                    (&self.threshold_features, &self.splits.threshold)
                else {
                    return Err(WscxrError::invalid(
                        "threshold images",
                        0,
                        "the honest protocol needs images to choose the threshold",
                    ));
                };
                let threshold_scores = detector.image_scores(features)?;
                let metrics =
                    honest_metrics(&threshold_scores, &images.labels, &eval_scores, eval_labels)?;
                (metrics, None, None)
            }
            Protocol::Oracle => {
                let final_metrics = oracle_metrics(&eval_scores, eval_labels)?;
                // K = 0 has no epochs: its best is its only state.
                let best = watch
                    .history
                    .iter()
                    .copied()
                    .max_by(|a, b| {
                        let total = |m: &Metrics| m.auroc + m.accuracy + m.f1;
                        total(&a.1).total_cmp(&total(&b.1))
                    })
                    .unwrap_or((self.config.train.epochs, final_metrics));
                (best.1, Some(best.0), Some(final_metrics))
            }
        };
        let boxed = match (&self.boxed_features, &self.splits.boxed) {
            (Some((features, sizes)), Some(boxed)) => {
                let patch_scores = detector.patch_scores(features)?;
                let per_image = features.per_image();
                let mut tally = LocalisationTally::default();
                // `paths` were resolved from `boxes` in its order, one per image.
                for (((scores, &size), path), (_, boxes)) in patch_scores
                    .chunks(per_image)
                    .zip(sizes)
                    .zip(&boxed.paths)
                    .zip(boxed.boxes.images())
                {
                    let map = AnomalyMap::from_patch_scores(
                        scores,
                        features.grid(),
                        detector.map_settings(),
                        size,
                    )?;
                    tally.add(&map, boxes).map_err(|e| WscxrError::Data {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                }
                let normal_scores = eval_scores
                    .iter()
                    .zip(eval_labels)
                    .filter(|(_, abnormal)| !**abnormal)
                    .map(|(s, _)| *s);
                let boxed_scores = image_scores(&patch_scores, per_image);
                let scores: Vec<f32> = normal_scores.chain(boxed_scores.iter().copied()).collect();
                let normals = scores.len() - boxed_scores.len();
                let labels: Vec<bool> = (0..scores.len()).map(|i| i >= normals).collect();
                Some(BoxedRecord {
                    localisation: tally.finish().expect("a boxes file holds an image"),
                    image_auroc: crate::metrics::auroc(&scores, &labels),
                })
            }
            _ => None,
        };
        let score_seconds = clock.elapsed().as_secs_f64();
        Ok(RunRecord {
            k,
            seed,
            detector: if k == 0 { "patchcore" } else { "wscxr" }.into(),
            protocol: self.splits.protocol,
            metrics,
            best_epoch,
            final_epoch,
            abnormal_images: training
                .abnormals()
                .iter()
                .filter_map(|x| x.path().map(Into::into))
                .collect(),
            roc: roc_curve(&eval_scores, eval_labels).ok_or_else(|| {
                WscxrError::invalid(
                    "eval images",
                    eval_labels.len(),
                    "need normal and abnormal images with finite scores for a ROC curve",
                )
            })?,
            fit: detector.report().clone(),
            fit_seconds,
            score_seconds,
            boxed,
        })
    }
}

/// Passes progress on and, under the oracle protocol, scores the eval images after every epoch.
/// An epoch that cannot be scored (non-finite patch scores, a single class) stops the fit: the
/// oracle's best epoch would otherwise be chosen among the epochs that happened to score.
struct EpochWatch<'w> {
    features: Option<&'w PatchFeatures>,
    labels: &'w [bool],
    history: Vec<(usize, Metrics)>,
    failure: Option<WscxrError>,
    inner: &'w mut dyn Observer,
}

impl EpochWatch<'_> {
    fn score_epoch(
        features: &PatchFeatures,
        labels: &[bool],
        discriminator: &Discriminator,
        epoch: usize,
    ) -> Result<Metrics, WscxrError> {
        let patches = patch_scores(discriminator, features)?;
        crate::detector::ensure_finite(&patches, "oracle epoch patch scores")?;
        oracle_metrics(&image_scores(&patches, features.per_image()), labels).map_err(|e| {
            WscxrError::invalid("oracle epoch", epoch, format!("cannot be scored: {e}"))
        })
    }
}

impl Observer for EpochWatch<'_> {
    fn progress(&mut self, stage: Stage, done: usize, total: usize) {
        self.inner.progress(stage, done, total);
    }

    fn epoch(&mut self, report: EpochReport, discriminator: &Discriminator) -> ControlFlow<()> {
        if let Some(features) = self.features {
            match Self::score_epoch(features, self.labels, discriminator, report.epoch) {
                Ok(metrics) => self.history.push((report.epoch, metrics)),
                Err(e) => {
                    self.failure = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        self.inner.epoch(report, discriminator)
    }

    fn timed(&mut self, part: Part, seconds: f64) {
        self.inner.timed(part, seconds);
    }

    fn interrupted(&mut self) -> bool {
        self.inner.interrupted()
    }
}
