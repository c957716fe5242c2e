//! Fitting a detector: the method's stages in order, set up as a builder.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use wscxr_bank::{LinearMixer, NormalBank, PatchFeatures, SearchConfig, mine_prototypes};
use wscxr_detector::train;
use wscxr_image::Xray;

use crate::WscxrError;
use crate::calibration::{Calibration, ColourScale, ThresholdRule};
use crate::config::WscxrConfig;
use crate::features::FeatureCache;
use crate::fitted_detector::{Detector, FitReport, Scorer};
use crate::fsutil::file_sha256;
use crate::observer::{Observer, Part, Stage, check_interrupted};
use crate::patients::carve_by_patient;
use crate::training_set::{LabelledImages, TrainingSet};
use crate::weights::LoadedBackbone;

/// Mixes the fit's seed for the mixer, so that its draws differ from the coreset's.
const MIXER_SEED: u64 = 0x6d69_7865;
/// Mixes the fit's seed for carving calibration images off the normal ones.
const CALIBRATION_SEED: u64 = 0x6361_6c69;

/// The images that calibrate a fitted detector (its threshold and normalised scores); no fit sees
/// them.
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    /// These labelled images.
    Images(LabelledImages),
    /// This fraction (in (0, 1)) of the normal training images, carved off whole patients at a
    /// time before fitting. Normal images only: use [`ThresholdRule::Specificity`].
    CarveNormals(f64),
}

/// The WSCXR method, set up before it runs: a checked configuration, and optionally a feature
/// cache and an observer.
///
/// ```no_run
/// # use wscxr::{Wscxr, WscxrConfig, TrainingSet, list_images};
/// # let device = wscxr::burn::prelude::Device::flex();
/// let training = TrainingSet::new(list_images("normal")?, list_images("abnormal")?);
/// let detector = Wscxr::new(WscxrConfig::default())?.fit(&training, &device)?;
/// # Ok::<(), wscxr::WscxrError>(())
/// ```
pub struct Wscxr<'a> {
    config: WscxrConfig,
    cache: Option<&'a FeatureCache>,
    observer: Option<&'a mut dyn Observer>,
    calibration: Option<(Validation, ThresholdRule)>,
}

impl<'a> Wscxr<'a> {
    /// The method with `config`, which is checked here, before any file is read.
    pub fn new(config: WscxrConfig) -> Result<Self, WscxrError> {
        config.check()?;
        Ok(Self {
            config,
            cache: None,
            observer: None,
            calibration: None,
        })
    }

    /// Calibrates the fitted detector on `validation` with `rule`: it then stores a threshold and
    /// the normal validation scores' quantiles, and scoring returns decisions and normalised
    /// scores.
    pub fn calibrate(mut self, validation: Validation, rule: ThresholdRule) -> Self {
        self.calibration = Some((validation, rule));
        self
    }

    /// Reads backbone features from (and adds them to) `cache`.
    pub fn cache(mut self, cache: &'a FeatureCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Reports progress and every training epoch to `observer`.
    pub fn observer(mut self, observer: &'a mut dyn Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The checked configuration.
    pub fn config(&self) -> &WscxrConfig {
        &self.config
    }

    /// Fits a detector on `training` with the method's stages: backbone features, the normal
    /// bank (coreset), anomaly mining, linear mixing and discriminator training. With no abnormal
    /// image (K = 0) the result is the unsupervised PatchCore detector.
    pub fn fit(self, training: &TrainingSet, device: &Device) -> Result<Detector, WscxrError> {
        let Wscxr {
            config,
            cache,
            observer,
            calibration,
        } = self;
        let mut none = ();
        let observer: &mut dyn Observer = match observer {
            Some(o) => o,
            None => &mut none,
        };
        if training.normals().is_empty() {
            return Err(WscxrError::invalid(
                "normal images",
                0,
                "a fit needs at least one normal training image",
            ));
        }
        if let Some((validation, rule)) = &calibration {
            check_calibration(validation, *rule, training)?;
        }
        let mut fit_normals = training.normals().to_vec();
        let validation = match &calibration {
            None => None,
            Some((Validation::Images(images), rule)) => {
                Some((images.images.clone(), images.labels.clone(), *rule))
            }
            Some((Validation::CarveNormals(fraction), rule)) => {
                // `check_calibration` refused a fraction outside (0, 1) above.
                let mut rng = StdRng::seed_from_u64(config.seed ^ CALIBRATION_SEED);
                let carved = carve_by_patient(&mut fit_normals, *fraction, &mut rng);
                if carved.images.is_empty() || fit_normals.is_empty() {
                    return Err(WscxrError::invalid(
                        "calibration fraction",
                        fraction,
                        format!(
                            "leaves {} of {} normal images for calibration and {} for fitting",
                            carved.images.len(),
                            training.normals().len(),
                            fit_normals.len()
                        ),
                    ));
                }
                let labels = vec![false; carved.images.len()];
                Some((carved.images, labels, *rule))
            }
        };
        let mut report = FitReport::default();
        let backbone = LoadedBackbone::load(&config, device)?;
        let normals = sample_normals(&fit_normals, config.max_normals, config.seed);
        report.normal_images = normals.len();
        report.abnormal_images = training.abnormals().len();

        let clock = Instant::now();
        let normal_features = backbone.patch_features_observed(
            &normals,
            &config,
            cache,
            Stage::NormalFeatures,
            observer,
        )?;
        let abnormal_features = if training.is_unsupervised() {
            None
        } else {
            Some(backbone.patch_features_observed(
                training.abnormals(),
                &config,
                cache,
                Stage::AbnormalFeatures,
                observer,
            )?)
        };
        report.extract_seconds = clock.elapsed().as_secs_f64();

        check_interrupted(observer, Stage::NormalBank)?;
        let clock = Instant::now();
        observer.progress(Stage::NormalBank, 0, 1);
        let bank = NormalBank::coreset(&normal_features, &config.coreset, config.seed)?;
        observer.progress(Stage::NormalBank, 1, 1);
        report.bank_rows = bank.len();
        report.bank_seconds = clock.elapsed().as_secs_f64();
        observer.timed(Part::Coreset, report.bank_seconds);

        let dim = normal_features.dim();
        // The colour scale's sample of normal patches, kept before the bank takes the features.
        let scale_sample = scale_sample(&normal_features)?;
        let scorer = match abnormal_features {
            None => Scorer::PatchCore(bank),
            Some(abnormal) => {
                check_interrupted(observer, Stage::Mining)?;
                let clock = Instant::now();
                observer.progress(Stage::Mining, 0, 1);
                let prototypes = if config.ablation.mining() {
                    let search = SearchConfig::default();
                    mine_prototypes(&abnormal, &bank, config.mining_ratio, &search)?.rows
                } else {
                    abnormal.into_rows()
                };
                observer.progress(Stage::Mining, 1, 1);
                report.prototypes = prototypes.dims()[0];
                report.mine_seconds = clock.elapsed().as_secs_f64();
                observer.timed(Part::Mining, report.mine_seconds);
                drop(bank);

                let clock = Instant::now();
                let min_alpha = if config.ablation.mixing() { 0.1 } else { 1.0 };
                let mut mixer =
                    LinearMixer::with_min_alpha(prototypes, min_alpha, config.seed ^ MIXER_SEED)?;
                let discriminator = config.discriminator.init(dim, config.seed, device);
                let epochs = config.train.epochs;
                observer.progress(Stage::Training, 0, epochs);
                let mut interrupted = false;
                let trained = train(
                    discriminator,
                    &normal_features,
                    &mut mixer,
                    &config.train,
                    config.seed,
                    |epoch, d| {
                        observer.progress(Stage::Training, epoch.epoch, epochs);
                        if observer.interrupted() {
                            interrupted = true;
                            return ControlFlow::Break(());
                        }
                        observer.epoch(epoch, d)
                    },
                )?;
                if interrupted {
                    return Err(WscxrError::Interrupted {
                        stage: Stage::Training,
                    });
                }
                report.train_seconds = clock.elapsed().as_secs_f64();
                observer.timed(Part::Training, report.train_seconds);
                Scorer::Discriminator(trained)
            }
        };
        let mut detector = Detector {
            config,
            backbone,
            scorer,
            dim,
            report,
            cache: cache.cloned(),
            calibration: None,
            colour_scale: ColourScale::default(),
        };
        let clock = Instant::now();
        let normal_patch_scores = detector.patch_scores(&scale_sample)?;
        observer.timed(Part::Scoring, clock.elapsed().as_secs_f64());
        if let Some((images, labels, rule)) = validation {
            let features = detector.backbone.patch_features_observed(
                &images,
                &detector.config,
                cache,
                Stage::Calibration,
                observer,
            )?;
            let clock = Instant::now();
            let scores = detector.image_scores(&features)?;
            detector.calibration = Some(Calibration::fit(&scores, &labels, rule)?);
            observer.timed(Part::Scoring, clock.elapsed().as_secs_f64());
        }
        detector.colour_scale =
            ColourScale::from_normals(&normal_patch_scores, detector.calibration.as_ref())?;
        Ok(detector)
    }
}

/// Images whose normal patches set the colour scale: enough for its quantiles, few enough that
/// scoring them by nearest neighbours (K = 0) costs little next to the fit.
const SCALE_IMAGES: usize = 32;

/// The patch features of the first [`SCALE_IMAGES`] normal training images.
fn scale_sample(normals: &PatchFeatures) -> Result<PatchFeatures, WscxrError> {
    let images = normals.images().min(SCALE_IMAGES);
    let rows = normals
        .rows()
        .clone()
        .slice(0..images * normals.per_image());
    Ok(PatchFeatures::new(rows, normals.grid())?)
}

/// At most `max` of `normals`, drawn with `seed` and kept in their given order.
fn sample_normals(normals: &[Xray], max: usize, seed: u64) -> Vec<Xray> {
    if normals.len() <= max {
        return normals.to_vec();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked = sample(&mut rng, normals.len(), max).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| normals[i].clone()).collect()
}

/// Refuses, before any image is read, calibration settings that could only fail after the fit: a
/// specificity outside (0, 1], Youden or max-F1 without abnormal validation images, validation
/// images without normal ones or with a label count that does not match, and validation images
/// that are also training images (by content: a threshold chosen on images the fit saw is
/// optimistic).
fn check_calibration(
    validation: &Validation,
    rule: ThresholdRule,
    training: &TrainingSet,
) -> Result<(), WscxrError> {
    if let ThresholdRule::Specificity(s) = rule
        && !(s > 0.0 && s <= 1.0)
    {
        return Err(WscxrError::invalid("specificity", s, "must be in (0, 1]"));
    }
    let needs_abnormal = matches!(rule, ThresholdRule::Youden | ThresholdRule::MaxF1);
    match validation {
        Validation::CarveNormals(fraction) => {
            if !(*fraction > 0.0 && *fraction < 1.0) {
                return Err(WscxrError::invalid(
                    "calibration fraction",
                    fraction,
                    "must be in (0, 1)",
                ));
            }
            if needs_abnormal {
                return Err(WscxrError::invalid(
                    "threshold rule",
                    format!("{rule:?}"),
                    "carved normal images have no abnormal ones to choose it: use a \
                     specificity rule or labelled validation images",
                ));
            }
        }
        Validation::Images(images) => {
            if images.len() != images.labels.len() {
                return Err(WscxrError::invalid(
                    "validation labels",
                    images.labels.len(),
                    format!("must be one per image ({} images)", images.len()),
                ));
            }
            let abnormal = images.abnormal();
            if abnormal == images.len() {
                return Err(WscxrError::invalid(
                    "validation images",
                    images.len(),
                    "calibration needs normal validation images",
                ));
            }
            if needs_abnormal && abnormal == 0 {
                return Err(WscxrError::invalid(
                    "validation images",
                    0,
                    format!("the {rule:?} rule needs abnormal validation images too"),
                ));
            }
            let mut training_files = std::collections::HashMap::new();
            for xray in training.normals().iter().chain(training.abnormals()) {
                if let Some(path) = xray.path() {
                    training_files.insert(file_sha256(path)?, path);
                }
            }
            for path in images.files() {
                if let Some(training_path) = training_files.get(&file_sha256(path)?) {
                    return Err(WscxrError::Data {
                        path: path.to_path_buf(),
                        reason: format!(
                            "the same image as the training image {}: validation images must \
                             be images no fit sees",
                            training_path.display()
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}
