//! Evaluation protocols: which images a fit may see, which choose the decision threshold, which
//! are scored, and what one run reports.
//!
//! - [`Protocol::Honest`] trains a fixed number of epochs and takes the ACC/F1 threshold (Youden's
//!   J) from images that no fit sees: a validation split, or a part carved off `train/` by
//!   patient.
//! - [`Protocol::Oracle`] is the official code's practice: the best epoch and the threshold are
//!   both chosen on the evaluated images themselves. It is optimistic and labelled so everywhere.
//!
//! A dataset folder holds `train/normal`, `train/anomaly` and split folders (`val/normal`,
//! `val/anomaly`, ...).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use wscxr_backbone::Xray;
use wscxr_bank::PatchFeatures;
use wscxr_detector::{Discriminator, EpochReport, image_scores, patch_scores};

use crate::WscxrError;
use crate::anomaly_map::AnomalyMap;
use crate::cache::FeatureCache;
use crate::config::WscxrConfig;
use crate::data::{draw_abnormal, file_sha256, list_images};
use crate::fit::{FitReport, Wscxr};
use crate::localisation::{Boxes, Localisation, LocalisationTally};
use crate::metrics::{Metrics, evaluate, roc_curve, youden_threshold};
use crate::observer::{Observer, Stage};
pub use crate::patients::patient_id;
use crate::patients::{PatientKey, carve_by_patient};
pub use crate::plot::{RocSeries, write_roc_png};
pub use crate::training_set::LabelledImages;
use crate::training_set::TrainingSet;
use crate::weights::LoadedBackbone;

/// The fixed seed of the carve-off, so that every run of a sweep carves the same images.
const CARVE_SEED: u64 = 0x0076_616c;

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

/// Which folders play which part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// The split that is scored and reported (e.g. `test` or `val`); never `train`.
    pub eval_split: String,
    /// Under the honest protocol, the split that chooses the threshold, when the dataset has it
    /// and it is not the eval split.
    pub val_split: String,
    /// Otherwise this fraction of `train/` (in (0, 1)) is carved off, by patient, to choose it.
    pub val_fraction: f64,
    /// Honest or oracle.
    pub protocol: Protocol,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            eval_split: "test".into(),
            val_split: "val".into(),
            val_fraction: 0.2,
            protocol: Protocol::Honest,
        }
    }
}

impl SplitOptions {
    /// Rejects an eval or validation split named `train` (or not a plain folder name) and a
    /// carve-off fraction outside (0, 1), before any file is read.
    pub fn check(&self) -> Result<(), WscxrError> {
        for (name, split) in [
            ("eval split", &self.eval_split),
            ("val split", &self.val_split),
        ] {
            if split == "train" {
                return Err(WscxrError::invalid(
                    name,
                    split,
                    "train/ is what fits draw from; evaluate on another split",
                ));
            }
            let plain = Path::new(split.as_str())
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if split.is_empty() || !plain {
                return Err(WscxrError::invalid(
                    name,
                    split,
                    "must name a folder inside the dataset",
                ));
            }
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(WscxrError::invalid(
                "val fraction",
                self.val_fraction,
                "must be in (0, 1)",
            ));
        }
        Ok(())
    }
}

/// Where the decision threshold comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdSource {
    /// Youden's J on a validation split that no fit sees.
    Split {
        /// The split's folder name.
        name: String,
    },
    /// Youden's J on images carved off `train/`, whole patients at a time; fits draw only from
    /// the rest.
    CarvedFromTrain {
        /// Normal images carved.
        normal_images: usize,
        /// Abnormal images carved.
        abnormal_images: usize,
        /// Patients carved.
        patients: usize,
        /// The fraction asked for.
        fraction: f64,
        /// Patients that a carve of single images (same fraction and seed) would have split
        /// between the carved and the fitted part.
        image_carve_would_split: usize,
    },
    /// The official code's practice: threshold (and best epoch) chosen on the eval split itself.
    Oracle {
        /// The eval split.
        split: String,
    },
}

impl std::fmt::Display for ThresholdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdSource::Split { name } => write!(f, "Youden's J on the '{name}' split"),
            ThresholdSource::CarvedFromTrain {
                normal_images,
                abnormal_images,
                patients,
                fraction,
                image_carve_would_split,
            } => write!(
                f,
                "Youden's J on {normal_images} normal + {abnormal_images} abnormal images \
                 ({patients} patients, {:.0}%) carved from train/ by patient, disjoint from every \
                 fit (carving single images would have split {image_carve_would_split} patients)",
                fraction * 100.0
            ),
            ThresholdSource::Oracle { split } => write!(
                f,
                "oracle: best epoch and threshold chosen on {split} itself (optimistic)"
            ),
        }
    }
}

/// A dataset laid out for one protocol: what fits may draw from, what chooses the threshold and
/// what is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// The protocol the splits were made for.
    pub protocol: Protocol,
    /// Normal images fits may use.
    pub fit_normals: Vec<PathBuf>,
    /// Abnormal images the K-shot sets are drawn from.
    pub fit_abnormal_pool: Vec<PathBuf>,
    /// Images that choose the threshold (honest protocol only).
    pub threshold: Option<LabelledImages>,
    /// The evaluated images.
    pub eval: LabelledImages,
    /// Where the evaluated images come from: the eval split, or (when the dataset has none) a
    /// part carved off `train/` by patient.
    pub eval_source: String,
    /// Where the threshold comes from, for every output to name.
    pub threshold_source: ThresholdSource,
    /// Images with radiologists' boxes, scored for localisation (see [`Splits::with_boxes`]).
    pub boxed: Option<BoxedImages>,
}

/// Images with radiologists' boxes: a localisation set, and an image-level anomaly set (any
/// finding against the eval split's normal images), kept apart from the K pool.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxedImages {
    /// The boxes, by image.
    pub boxes: Boxes,
    /// The image files, in the boxes file's order.
    pub paths: Vec<PathBuf>,
}

impl BoxedImages {
    /// Reads a boxes CSV (`image,finding,x,y,w,h`); each image is a path relative to `dir`.
    pub fn read(csv: &Path, dir: &Path) -> Result<Self, WscxrError> {
        let boxes = Boxes::read(csv)?;
        let paths = boxes.image_paths(dir)?;
        Ok(Self { boxes, paths })
    }
}

impl Splits {
    /// Lays out the dataset folder `data` for `options`. Refuses a split that shares an image
    /// (by content) with `train/` or with the other split.
    pub fn from_folder(data: &Path, options: &SplitOptions) -> Result<Self, WscxrError> {
        options.check()?;
        let mut fit_normals = list_images(data.join("train/normal"))?;
        let mut fit_abnormal_pool = list_images(data.join("train/anomaly"))?;
        let eval_dir = data.join(&options.eval_split);
        let mut rng = StdRng::seed_from_u64(CARVE_SEED);
        let (eval, eval_source) = if eval_dir.is_dir() {
            (
                LabelledImages::from_folder(&eval_dir)?,
                format!("the '{}' split", options.eval_split),
            )
        } else {
            // A dataset without the split (e.g. nih-dev): evaluate on a patient carve of train/.
            let normal = carve_by_patient(&mut fit_normals, options.val_fraction, &mut rng);
            let anomaly = carve_by_patient(&mut fit_abnormal_pool, options.val_fraction, &mut rng);
            let source = format!(
                "{} normal + {} abnormal images ({} patients, {:.0}%) carved from train/ by \
                 patient, as {}/ does not exist",
                normal.images.len(),
                anomaly.images.len(),
                normal.patients + anomaly.patients,
                options.val_fraction * 100.0,
                options.eval_split
            );
            (LabelledImages::new(normal.images, anomaly.images), source)
        };
        let val_dir = data.join(&options.val_split);
        let (threshold, threshold_source) = match options.protocol {
            Protocol::Oracle => (
                None,
                ThresholdSource::Oracle {
                    split: options.eval_split.clone(),
                },
            ),
            Protocol::Honest if options.val_split != options.eval_split && val_dir.is_dir() => (
                Some(LabelledImages::from_folder(&val_dir)?),
                ThresholdSource::Split {
                    name: options.val_split.clone(),
                },
            ),
            Protocol::Honest => {
                let normal = carve_by_patient(&mut fit_normals, options.val_fraction, &mut rng);
                let anomaly =
                    carve_by_patient(&mut fit_abnormal_pool, options.val_fraction, &mut rng);
                let source = ThresholdSource::CarvedFromTrain {
                    normal_images: normal.images.len(),
                    abnormal_images: anomaly.images.len(),
                    patients: normal.patients + anomaly.patients,
                    fraction: options.val_fraction,
                    image_carve_would_split: normal.image_carve_would_split
                        + anomaly.image_carve_would_split,
                };
                (
                    Some(LabelledImages::new(normal.images, anomaly.images)),
                    source,
                )
            }
        };
        if fit_normals.is_empty() || fit_abnormal_pool.is_empty() {
            return Err(WscxrError::invalid(
                "val fraction",
                options.val_fraction,
                "leaves no normal or no abnormal training image",
            ));
        }
        let splits = Self {
            protocol: options.protocol,
            fit_normals,
            fit_abnormal_pool,
            threshold,
            eval,
            eval_source,
            threshold_source,
            boxed: None,
        };
        splits.ensure_disjoint()?;
        Ok(splits)
    }

    /// Adds boxed images to score for localisation. Fits then draw from no image of their
    /// patients, and a boxed image that is (by content) also a fit image under another name is
    /// refused. Boxed images may also be eval or threshold images: no fit sees those either.
    pub fn with_boxes(mut self, boxed: BoxedImages) -> Result<Self, WscxrError> {
        let patients: HashSet<String> = boxed.paths.iter().map(|p| p.patient_key()).collect();
        self.fit_normals
            .retain(|p| !patients.contains(&p.patient_key()));
        self.fit_abnormal_pool
            .retain(|p| !patients.contains(&p.patient_key()));
        if self.fit_normals.is_empty() || self.fit_abnormal_pool.is_empty() {
            return Err(WscxrError::invalid(
                "boxes",
                boxed.paths.len(),
                "their patients leave no normal or no abnormal training image",
            ));
        }
        let mut boxed_hashes = HashMap::new();
        for path in &boxed.paths {
            boxed_hashes.insert(file_sha256(path)?, path);
        }
        for path in self.fit_images() {
            if let Some(boxed_path) = boxed_hashes.get(&file_sha256(path)?) {
                return Err(WscxrError::Data {
                    path: path.clone(),
                    reason: format!(
                        "the same image as the boxed {}: fits must not see a boxed image",
                        boxed_path.display()
                    ),
                });
            }
        }
        self.boxed = Some(boxed);
        Ok(self)
    }

    /// The training set of one run: every fit normal, and K abnormal images drawn with `seed`.
    pub fn training_set(&self, k: usize, seed: u64) -> Result<TrainingSet, WscxrError> {
        Ok(TrainingSet::new(
            self.fit_normals.clone(),
            draw_abnormal(&self.fit_abnormal_pool, k, seed)?,
        ))
    }

    /// Every image a fit may see.
    pub fn fit_images(&self) -> impl Iterator<Item = &PathBuf> {
        self.fit_normals.iter().chain(&self.fit_abnormal_pool)
    }

    fn ensure_disjoint(&self) -> Result<(), WscxrError> {
        let mut seen: HashMap<String, (PathBuf, &'static str)> = HashMap::new();
        let groups: [(&'static str, Vec<&PathBuf>); 3] = [
            ("train", self.fit_images().collect()),
            (
                "threshold",
                self.threshold.iter().flat_map(|t| &t.paths).collect(),
            ),
            ("eval", self.eval.paths.iter().collect()),
        ];
        for (group, paths) in groups {
            for path in paths {
                let hash = file_sha256(path)?;
                match seen.get(&hash) {
                    Some((first, first_group)) if *first_group != group => {
                        return Err(WscxrError::Data {
                            path: path.clone(),
                            reason: format!(
                                "the same image as {} ({first_group} part): the {group} part must \
                                 not share images with it",
                                first.display()
                            ),
                        });
                    }
                    _ => {
                        seen.insert(hash, (path.clone(), group));
                    }
                }
            }
        }
        Ok(())
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
            backbone.patch_features(&Xray::files(&splits.eval.paths), &config, cache, |d, t| {
                observer.progress(Stage::Scoring, d, t)
            })?;
        let threshold_features = match &splits.threshold {
            Some(images) => Some(backbone.patch_features(
                &Xray::files(&images.paths),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dataset folder of empty `.png` files (the splits never decode images, they only hash
    /// them, so each file gets distinct bytes).
    fn dataset(layout: &[(&str, &[&str])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (folder, names) in layout {
            let folder = dir.path().join(folder);
            std::fs::create_dir_all(&folder).unwrap();
            for name in *names {
                let path = folder.join(name);
                std::fs::write(&path, path.display().to_string()).unwrap();
            }
        }
        dir
    }

    fn zhanglab_like() -> tempfile::TempDir {
        let normal: Vec<String> = (0..40)
            .flat_map(|p| (1..=(1 + p % 3)).map(move |i| format!("IM-{p:04}-{i:04}.png")))
            .collect();
        let anomaly: Vec<String> = (0..30)
            .flat_map(|p| (0..(1 + p % 2)).map(move |i| format!("person{p}_bacteria_{i}.png")))
            .collect();
        let eval_n: Vec<String> = (100..110).map(|p| format!("IM-{p:04}-0001.png")).collect();
        let eval_a: Vec<String> = (100..110)
            .map(|p| format!("person{p}_virus_0.png"))
            .collect();
        fn as_refs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let (n, a, en, ea) = (
            as_refs(&normal),
            as_refs(&anomaly),
            as_refs(&eval_n),
            as_refs(&eval_a),
        );
        dataset(&[
            ("train/normal", &n),
            ("train/anomaly", &a),
            ("test/normal", &en),
            ("test/anomaly", &ea),
        ])
    }

    fn options(protocol: Protocol) -> SplitOptions {
        SplitOptions {
            eval_split: "test".into(),
            val_split: "val".into(),
            val_fraction: 0.25,
            protocol,
        }
    }

    #[test]
    fn patient_ids_follow_zhanglab_names() {
        let id = |name: &str| patient_id(Path::new(name));
        assert_eq!(
            id("person1000_virus_1681.png").as_deref(),
            Some("person1000")
        );
        assert_eq!(id("person7_bacteria_29.jpeg").as_deref(), Some("person7"));
        assert_eq!(id("IM-0115-0001.png").as_deref(), Some("IM-0115"));
        assert_eq!(
            id("NORMAL2-IM-0381-0001.png").as_deref(),
            Some("NORMAL2-IM-0381")
        );
        assert_eq!(id("scan.png"), None);
        assert_eq!(id("person_x.png"), None);
        assert_eq!(id("IM-abc-0001.png"), None);
        assert_eq!(id("00013118_008.png").as_deref(), Some("00013118"));
        assert_eq!(id("0013118_008.png"), None);
        assert_eq!(id("00013118_08a.png"), None);
    }

    #[test]
    fn honest_fits_never_see_carved_or_eval_images_nor_their_patients() {
        let data = zhanglab_like();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        let threshold = splits
            .threshold
            .as_ref()
            .expect("honest carves a threshold part");
        assert!(matches!(
            splits.threshold_source,
            ThresholdSource::CarvedFromTrain { .. }
        ));
        assert!(threshold.abnormal() > 0 && threshold.abnormal() < threshold.len());
        let patients =
            |paths: &mut dyn Iterator<Item = &PathBuf>| -> std::collections::HashSet<String> {
                paths.map(|p| patient_id(p).unwrap()).collect()
            };
        let fit = patients(&mut splits.fit_images());
        let carved = patients(&mut threshold.paths.iter());
        let eval = patients(&mut splits.eval.paths.iter());
        assert!(
            fit.is_disjoint(&carved),
            "a patient is both fitted and carved"
        );
        assert!(
            fit.is_disjoint(&eval),
            "a patient is both fitted and evaluated"
        );
        // Every run's training set comes from the fit part only.
        for k in [0, 1, 4, 16] {
            for seed in 0..5 {
                let training = splits.training_set(k, seed).unwrap();
                assert_eq!(training.abnormals().len(), k);
                for xray in training.normals().iter().chain(training.abnormals()) {
                    let path = &xray.path().expect("a file").to_path_buf();
                    assert!(
                        !threshold.paths.contains(path),
                        "{} was carved",
                        path.display()
                    );
                    assert!(
                        !splits.eval.paths.contains(path),
                        "{} is evaluated",
                        path.display()
                    );
                }
            }
        }
        // About a quarter carved, and nothing lost.
        let ThresholdSource::CarvedFromTrain {
            normal_images,
            abnormal_images,
            ..
        } = splits.threshold_source
        else {
            unreachable!()
        };
        assert_eq!(normal_images + splits.fit_normals.len(), 79);
        assert_eq!(abnormal_images + splits.fit_abnormal_pool.len(), 45);
        assert!(
            (normal_images as f64 - 20.0).abs() <= 3.0,
            "carved {normal_images} of 79"
        );
    }

    #[test]
    fn boxed_patients_leave_the_fits_and_a_missing_eval_split_is_carved() {
        let normal: Vec<String> = (0..40).map(|p| format!("{p:08}_000.png")).collect();
        let anomaly: Vec<String> = (100..130).map(|p| format!("{p:08}_001.png")).collect();
        let boxed = ["00000003_005.png", "00000101_009.png", "00000200_000.png"];
        fn refs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let data = dataset(&[
            ("train/normal", &refs(&normal)),
            ("train/anomaly", &refs(&anomaly)),
            ("boxed", &boxed),
        ]);
        let csv = data.path().join("boxes.csv");
        let mut text = String::from("image,finding,x,y,w,h\n");
        for name in boxed {
            text.push_str(&format!("{name},Mass,1,1,4,4\n"));
        }
        std::fs::write(&csv, text).unwrap();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert!(
            splits.eval_source.contains("carved"),
            "{}",
            splits.eval_source
        );
        assert!(splits.eval.abnormal() > 0 && splits.eval.len() > splits.eval.abnormal());
        let fit_patients =
            |s: &Splits| -> HashSet<String> { s.fit_images().map(|p| p.patient_key()).collect() };
        let carved_patients: HashSet<String> =
            splits.eval.paths.iter().map(|p| p.patient_key()).collect();
        assert!(fit_patients(&splits).is_disjoint(&carved_patients));
        let boxed_images = BoxedImages::read(&csv, &data.path().join("boxed")).unwrap();
        assert_eq!(boxed_images.paths.len(), 3);
        let fits_before = splits.fit_images().count();
        let splits = splits.with_boxes(boxed_images.clone()).unwrap();
        let fit = fit_patients(&splits);
        assert!(!fit.contains("00000003") && !fit.contains("00000101"));
        assert!(splits.fit_images().count() < fits_before);
        // The same bytes under another patient's name in a fit's pool are refused (the carve
        // depends on names only, so the same image stays in the pool).
        let copy = splits.fit_normals[0].clone();
        std::fs::copy(&boxed_images.paths[2], &copy).unwrap();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert!(splits.fit_normals.contains(&copy));
        let error = splits.with_boxes(boxed_images).unwrap_err().to_string();
        assert!(error.contains("00000200_000.png"), "{error}");
    }

    #[test]
    fn carve_is_the_same_every_time() {
        let data = zhanglab_like();
        let a = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        let b = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn threshold_comes_from_the_val_split_when_there_is_one() {
        let data = zhanglab_like();
        for (folder, name) in [
            ("val/normal", "IM-0200-0001.png"),
            ("val/anomaly", "person200_virus_0.png"),
        ] {
            let dir = data.path().join(folder);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), folder).unwrap();
        }
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert_eq!(
            splits.threshold_source,
            ThresholdSource::Split { name: "val".into() }
        );
        let threshold = splits.threshold.unwrap();
        assert_eq!(threshold.len(), 2);
        assert!(
            threshold
                .paths
                .iter()
                .all(|p| p.starts_with(data.path().join("val")))
        );
        // Nothing carved: fits get all of train/.
        assert_eq!(splits.fit_normals.len(), 79);
    }

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

    #[test]
    fn oracle_has_no_threshold_images_and_says_so() {
        let data = zhanglab_like();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Oracle)).unwrap();
        assert!(splits.threshold.is_none());
        assert_eq!(
            splits.threshold_source,
            ThresholdSource::Oracle {
                split: "test".into()
            }
        );
        assert!(splits.threshold_source.to_string().contains("optimistic"));
    }

    #[test]
    fn bad_split_options_are_refused_before_reading_anything() {
        let nowhere = Path::new("/nonexistent/dataset");
        let reject = |o: SplitOptions| Splits::from_folder(nowhere, &o).unwrap_err();
        let name = |e: WscxrError| e.invalid_parameter();
        for fraction in [0.0, 1.0, -0.2, 1.5, f64::NAN, f64::INFINITY] {
            let o = SplitOptions {
                val_fraction: fraction,
                ..options(Protocol::Honest)
            };
            assert_eq!(name(reject(o)), Some("val fraction"), "fraction {fraction}");
        }
        let o = SplitOptions {
            eval_split: "train".into(),
            ..options(Protocol::Honest)
        };
        assert_eq!(name(reject(o)), Some("eval split"));
        let o = SplitOptions {
            eval_split: "../elsewhere".into(),
            ..options(Protocol::Honest)
        };
        assert_eq!(name(reject(o)), Some("eval split"));
        let o = SplitOptions {
            val_split: "train".into(),
            ..options(Protocol::Honest)
        };
        assert_eq!(name(reject(o)), Some("val split"));
    }

    #[test]
    fn an_eval_split_sharing_an_image_with_train_is_refused() {
        let data = zhanglab_like();
        let copy = data.path().join("test/normal/copied.png");
        std::fs::copy(data.path().join("train/normal/IM-0000-0001.png"), &copy).unwrap();
        let err = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap_err();
        assert!(err.to_string().contains("copied.png"), "{err}");
    }

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
