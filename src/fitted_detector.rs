//! A fitted detector: scores images, draws anomaly maps.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use wscxr_backbone::Backbone;
use wscxr_bank::{NormalBank, PatchFeatures, SearchConfig, patchcore_scores};
use wscxr_detector::{Discriminator, ensure_finite, image_scores, patch_scores};
use wscxr_image::Xray;

use crate::WscxrError;
use crate::anomaly_map::{AnomalyMap, MapSettings};
use crate::calibration::{Calibration, ColourScale};
use crate::config::WscxrConfig;
use crate::features::FeatureCache;
use crate::observer::{Observer, Offset, Part, Stage, check_interrupted};
use crate::weights::LoadedBackbone;

/// Seconds spent in each stage of a fit, and the sizes it worked with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Normal images used (at most `max_normals`).
    pub normal_images: usize,
    /// Abnormal images used (K).
    pub abnormal_images: usize,
    /// Rows of the normal bank after the coreset.
    pub bank_rows: usize,
    /// Anomaly prototypes (0 for the unsupervised detector).
    pub prototypes: usize,
    /// Backbone feature extraction (or cache reads).
    pub extract_seconds: f64,
    /// Patch features and the coreset.
    pub bank_seconds: f64,
    /// Mining.
    pub mine_seconds: f64,
    /// Discriminator training.
    pub train_seconds: f64,
}

/// Images whose features are held at once while scoring: 64 images of Xception `block13_out` at
/// 256 px are 16 MiB of feature maps.
pub const SCORING_CHUNK: usize = 64;

/// The Gaussian's sigma of the drawn maps, in pixels of the network input (the paper's).
pub const DISPLAY_SIGMA: f32 = 4.0;

/// What scores patches: the trained discriminator, or (K = 0) the distance to the normal bank.
#[derive(Debug, Clone)]
pub(crate) enum Scorer {
    Discriminator(Discriminator),
    PatchCore(NormalBank),
}

/// A fitted detector: the frozen backbone, the patch scorer and the configuration that made them.
#[derive(Debug, Clone)]
pub struct Detector {
    pub(crate) config: WscxrConfig,
    pub(crate) backbone: LoadedBackbone,
    pub(crate) scorer: Scorer,
    pub(crate) dim: usize,
    pub(crate) report: FitReport,
    pub(crate) cache: Option<FeatureCache>,
    pub(crate) calibration: Option<Calibration>,
    pub(crate) colour_scale: ColourScale,
}

/// One scored image.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredImage {
    /// The X-ray as it was given: its file, or the radiograph in memory.
    pub xray: Xray,
    /// Image anomaly score: the maximum patch score.
    pub score: f32,
    /// With a calibrated detector: where the score falls among the normal validation scores,
    /// in [0, 1] (1: above every one of them).
    pub normalized: Option<f32>,
    /// With a calibrated detector: whether the score reaches its threshold.
    pub abnormal: Option<bool>,
    /// Patch scores on the feature grid, row-major.
    pub patch_scores: Vec<f32>,
    /// The feature grid `(rows, columns)`.
    pub grid: [usize; 2],
    /// How the patch scores are drawn as a map.
    pub map_settings: MapSettings,
}

impl ScoredImage {
    /// The anomaly map at `size x size` pixels (bilinear upsampling, then a Gaussian of `sigma`
    /// pixels; the paper displays sigma 4).
    pub fn anomaly_map(&self, size: usize, sigma: f32) -> Vec<f32> {
        wscxr_detector::anomaly_map(&self.patch_scores, self.grid, [size, size], sigma)
    }

    /// The anomaly map the heatmaps draw, at `[height, width]` pixels (the image's own size), in
    /// the detector's score units.
    pub fn map(&self, size: [usize; 2]) -> Result<AnomalyMap, WscxrError> {
        AnomalyMap::from_patch_scores(&self.patch_scores, self.grid, self.map_settings, size)
    }
}

impl Detector {
    /// The configuration it was fitted with.
    pub fn config(&self) -> &WscxrConfig {
        &self.config
    }

    /// Stage timings and sizes of the fit (zeros for a loaded detector).
    pub fn report(&self) -> &FitReport {
        &self.report
    }

    /// The frozen backbone.
    pub fn backbone(&self) -> &Backbone {
        self.backbone.backbone()
    }

    /// The SHA-256 of its backbone weights, which name them in its file.
    pub fn weights_sha256(&self) -> &str {
        self.backbone.weights_sha256()
    }

    /// The threshold and normal score quantiles, when the detector was calibrated.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// Whether this is the unsupervised (K = 0, PatchCore) detector.
    pub fn is_unsupervised(&self) -> bool {
        matches!(self.scorer, Scorer::PatchCore(_))
    }

    /// How its patch scores are drawn as maps.
    pub fn map_settings(&self) -> MapSettings {
        MapSettings {
            input_size: self.config.image_size,
            sigma: DISPLAY_SIGMA,
        }
    }

    /// The fixed colour scale of its heatmaps, set when it was fitted.
    pub fn colour_scale(&self) -> &ColourScale {
        &self.colour_scale
    }

    /// The picture people look at: `radiograph` at its own resolution and aspect ratio, with
    /// Uses (and fills) a feature cache when scoring.
    pub fn set_cache(&mut self, cache: Option<FeatureCache>) {
        self.cache = cache;
    }

    /// Scores X-rays (paths, or [`Radiograph`](crate::Radiograph)s in memory): image score and patch scores on the
    /// feature grid.
    pub fn score<I>(&self, images: I) -> Result<Vec<ScoredImage>, WscxrError>
    where
        I: IntoIterator,
        I::Item: Into<Xray>,
    {
        self.score_observed(images, &mut ())
    }

    /// [`Detector::score`], reporting progress to `observer` ([`Stage::Scoring`], in images).
    pub fn score_observed<I>(
        &self,
        images: I,
        observer: &mut dyn Observer,
    ) -> Result<Vec<ScoredImage>, WscxrError>
    where
        I: IntoIterator,
        I::Item: Into<Xray>,
    {
        let images: Vec<Xray> = images.into_iter().map(Into::into).collect();
        let mut scored = Vec::with_capacity(images.len());
        self.score_each(&images, observer, |image| {
            scored.push(image);
            Ok(())
        })?;
        Ok(scored)
    }

    /// Scores X-rays (the inputs [`Detector::score`] takes) a chunk at a time and hands each
    /// result to `sink` in input order, so that memory stays constant however many images there
    /// are (features of one chunk of [`SCORING_CHUNK`] images at a time; the X-rays themselves
    /// are paths or shared radiographs). An error from `sink` stops scoring.
    pub fn score_each<I>(
        &self,
        images: I,
        observer: &mut dyn Observer,
        mut sink: impl FnMut(ScoredImage) -> Result<(), WscxrError>,
    ) -> Result<(), WscxrError>
    where
        I: IntoIterator,
        I::Item: Into<Xray>,
    {
        let paths: Vec<Xray> = images.into_iter().map(Into::into).collect();
        let total = paths.len();
        for (c, chunk) in paths.chunks(SCORING_CHUNK).enumerate() {
            check_interrupted(observer, Stage::Scoring)?;
            let offset = c * SCORING_CHUNK;
            let mut progress = Offset {
                inner: &mut *observer,
                offset,
                total,
            };
            let features = self.backbone.patch_features_observed(
                chunk,
                &self.config,
                self.cache.as_ref(),
                Stage::Scoring,
                &mut progress,
            )?;
            let clock = Instant::now();
            let per_image = features.per_image();
            let scores = self.patch_scores(&features)?;
            let image_scores = image_scores(&scores, per_image);
            observer.timed(Part::Scoring, clock.elapsed().as_secs_f64());
            for ((xray, patches), score) in
                chunk.iter().zip(scores.chunks(per_image)).zip(image_scores)
            {
                let calibration = self.calibration.as_ref();
                sink(ScoredImage {
                    xray: xray.clone(),
                    score,
                    normalized: calibration.map(|c| c.normalized(score)),
                    abnormal: calibration.map(|c| c.is_abnormal(score)),
                    patch_scores: patches.to_vec(),
                    grid: features.grid(),
                    map_settings: self.map_settings(),
                })?;
            }
        }
        Ok(())
    }

    /// Patch scores of patch features, image-major; NaN or infinite scores are an error.
    pub(crate) fn patch_scores(&self, features: &PatchFeatures) -> Result<Vec<f32>, WscxrError> {
        if features.dim() != self.dim {
            return Err(WscxrError::invalid(
                "patch feature dimension",
                features.dim(),
                format!("the detector was fitted on {}", self.dim),
            ));
        }
        let scores = match &self.scorer {
            Scorer::Discriminator(d) => patch_scores(d, features)?,
            Scorer::PatchCore(bank) => {
                patchcore_scores(features, bank, &SearchConfig::default())?.1
            }
        };
        ensure_finite(&scores, "patch scores")?;
        Ok(scores)
    }

    /// Image scores (maximum patch score) of patch features.
    pub(crate) fn image_scores(&self, features: &PatchFeatures) -> Result<Vec<f32>, WscxrError> {
        Ok(image_scores(
            &self.patch_scores(features)?,
            features.per_image(),
        ))
    }
}
