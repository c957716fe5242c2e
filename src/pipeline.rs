//! The end-to-end method: fit a detector on normal and abnormal image files, score new ones.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};
use wscxr_backbone::{Backbone, ExtractOptions};
use wscxr_bank::{
    CoresetConfig, LinearMixer, NormalBank, SearchConfig, greedy_coreset, mine_prototypes,
    patch_features, patchcore_scores,
};
use wscxr_detector::{Discriminator, EpochReport, image_scores, patch_scores, train};

use crate::cache::{FeatureCache, extract_features};
use crate::config::WscxrConfig;
use crate::data::file_sha256;
use crate::{BUNDLED_XCEPTION, WscxrError};

/// Seconds spent in each stage of a fit, and the sizes it worked with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Normal and abnormal images used.
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

/// What scores patches: the trained discriminator, or (K = 0) the distance to the normal bank.
#[derive(Debug, Clone)]
pub(crate) enum Scorer {
    Discriminator(Discriminator),
    PatchCore(NormalBank),
}

/// A trained detector: backbone, patch scorer and the configuration that made them.
#[derive(Debug, Clone)]
pub struct Detector {
    pub(crate) config: WscxrConfig,
    pub(crate) backbone: Backbone,
    pub(crate) weights_sha256: String,
    pub(crate) scorer: Scorer,
    pub(crate) dim: usize,
    pub(crate) report: FitReport,
    pub(crate) cache: Option<FeatureCache>,
}

/// One scored image.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredImage {
    /// The image file.
    pub path: PathBuf,
    /// Image anomaly score: the maximum patch score.
    pub score: f32,
    /// Patch scores on the feature grid, row-major.
    pub patch_scores: Vec<f32>,
    /// The feature grid `(rows, columns)`.
    pub grid: [usize; 2],
}

impl ScoredImage {
    /// The anomaly map at `size x size` pixels (bilinear upsampling, then a Gaussian of `sigma`
    /// pixels; the paper displays sigma 4).
    pub fn anomaly_map(&self, size: usize, sigma: f32) -> Vec<f32> {
        wscxr_detector::anomaly_map(&self.patch_scores, self.grid, [size, size], sigma)
    }
}

/// Resolves the configured weights and loads the backbone; returns it with the weights' SHA-256.
pub fn load_backbone(
    config: &WscxrConfig,
    device: &Device,
) -> Result<(Backbone, String), WscxrError> {
    let path = match &config.weights {
        Some(path) => path.clone(),
        None if config.backbone == wscxr_backbone::Network::Xception => bundled_xception_path(),
        None => {
            return Err(WscxrError::InvalidConfig(format!(
                "no weights given for {}: only Xception's are bundled; pass an ONNX file or burn record",
                config.backbone
            )));
        }
    };
    let hash = file_sha256(&path)?;
    let is_onnx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    let backbone = if is_onnx {
        Backbone::from_onnx(config.backbone, &path, device)?
    } else {
        Backbone::from_record(config.backbone, &path, device)?
    };
    Ok((backbone, hash))
}

/// Where the bundled Xception record is: `assets/` of this crate's source.
pub fn bundled_xception_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(BUNDLED_XCEPTION)
}

/// The WSCXR method.
pub struct Wscxr;

impl Wscxr {
    /// Fits a detector: normal bank from `normals`, prototypes mined from `abnormals` (K images),
    /// discriminator trained against mixed fakes. With no abnormal image (K = 0) the result is the
    /// unsupervised PatchCore detector (nearest-neighbour distance to the bank).
    pub fn fit(
        normals: &[PathBuf],
        abnormals: &[PathBuf],
        config: &WscxrConfig,
        device: &Device,
    ) -> Result<Detector, WscxrError> {
        Self::fit_with(
            normals,
            abnormals,
            config,
            device,
            None,
            &mut |_, _| ControlFlow::Continue(()),
            &mut |_, _, _| {},
        )
    }

    /// [`Wscxr::fit`] with a feature cache, a callback after every training epoch (it sees an
    /// inference copy of the discriminator; `Break` stops training), and progress reports
    /// `(stage, done, total)`.
    pub fn fit_with(
        normals: &[PathBuf],
        abnormals: &[PathBuf],
        config: &WscxrConfig,
        device: &Device,
        cache: Option<&FeatureCache>,
        after_epoch: &mut dyn FnMut(EpochReport, &Discriminator) -> ControlFlow<()>,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<Detector, WscxrError> {
        validate(config)?;
        if normals.is_empty() {
            return Err(WscxrError::InvalidConfig("no normal training image".into()));
        }
        let mut report = FitReport::default();
        let (backbone, weights_sha256) = load_backbone(config, device)?;
        let identity = format!("{}:{weights_sha256}", config.backbone);
        let mut rng = StdRng::seed_from_u64(config.seed);
        let normals: Vec<PathBuf> = if normals.len() > config.max_normals {
            let mut picked = sample(&mut rng, normals.len(), config.max_normals).into_vec();
            picked.sort_unstable();
            picked.into_iter().map(|i| normals[i].clone()).collect()
        } else {
            normals.to_vec()
        };
        report.normal_images = normals.len();
        report.abnormal_images = abnormals.len();
        let options = ExtractOptions {
            size: config.image_size,
            taps: config.layers.clone(),
            batch_size: config.batch_size,
        };

        let clock = Instant::now();
        let normal_maps =
            extract_features(&backbone, &identity, &normals, &options, cache, |d, t| {
                progress("normal features", d, t)
            })?;
        let abnormal_maps = if abnormals.is_empty() {
            None
        } else {
            Some(extract_features(
                &backbone,
                &identity,
                abnormals,
                &options,
                cache,
                |d, t| progress("abnormal features", d, t),
            )?)
        };
        report.extract_seconds = clock.elapsed().as_secs_f64();

        let clock = Instant::now();
        let (normal_rows, grid) = patch_features(&normal_maps, &config.patch)?;
        drop(normal_maps);
        let [rows, dim] = normal_rows.dims();
        let patches_per_image = grid[0] * grid[1];
        let coreset = CoresetConfig {
            seed: config.seed,
            ..config.coreset
        };
        let kept = greedy_coreset(&normal_rows, &coreset)?;
        if kept.is_empty() {
            return Err(WscxrError::InvalidConfig(format!(
                "the coreset keeps no row of {rows} normal patches; raise its size"
            )));
        }
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(
                kept.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [kept.len()],
            ),
            device,
        );
        let bank = NormalBank::new(normal_rows.clone().select(0, index))?;
        report.bank_rows = bank.len();
        report.bank_seconds = clock.elapsed().as_secs_f64();

        let scorer = match abnormal_maps {
            None => Scorer::PatchCore(bank),
            Some(maps) => {
                let clock = Instant::now();
                let (abnormal_rows, _) = patch_features(&maps, &config.patch)?;
                let search = SearchConfig::default();
                let prototypes = if config.ablation.mining() {
                    mine_prototypes(&abnormal_rows, &bank, config.mining_ratio, &search)?.rows
                } else {
                    abnormal_rows
                };
                report.prototypes = prototypes.dims()[0];
                report.mine_seconds = clock.elapsed().as_secs_f64();
                drop(bank);

                let clock = Instant::now();
                let min_alpha = if config.ablation.mixing() { 0.1 } else { 1.0 };
                let mut mixer =
                    LinearMixer::with_min_alpha(prototypes, min_alpha, config.seed ^ 0x6d69_7865)?;
                let discriminator = config.discriminator.init(dim, config.seed, device);
                let train_config = wscxr_detector::TrainConfig {
                    seed: config.seed,
                    ..config.train.clone()
                };
                let epochs = train_config.epochs;
                let trained = train(
                    discriminator,
                    &normal_rows,
                    patches_per_image,
                    &mut mixer,
                    &train_config,
                    |epoch, d| {
                        progress("training", epoch.epoch, epochs);
                        after_epoch(epoch, d)
                    },
                )
                .map_err(WscxrError::Detector)?;
                report.train_seconds = clock.elapsed().as_secs_f64();
                Scorer::Discriminator(trained)
            }
        };
        Ok(Detector {
            config: config.clone(),
            backbone,
            weights_sha256,
            scorer,
            dim,
            report,
            cache: cache.cloned(),
        })
    }
}

fn validate(config: &WscxrConfig) -> Result<(), WscxrError> {
    if config.layers.is_empty() {
        return Err(WscxrError::InvalidConfig("no backbone layer chosen".into()));
    }
    if config.max_normals == 0 {
        return Err(WscxrError::InvalidConfig(
            "max_normals must be positive".into(),
        ));
    }
    if config.image_size < 32 {
        return Err(WscxrError::InvalidConfig(format!(
            "image size {} is below the backbones' stride of 32",
            config.image_size
        )));
    }
    Ok(())
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

    /// The backbone.
    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// Whether this is the unsupervised (K = 0, PatchCore) detector.
    pub fn is_unsupervised(&self) -> bool {
        matches!(self.scorer, Scorer::PatchCore(_))
    }

    /// Uses (and fills) a feature cache when scoring.
    pub fn set_cache(&mut self, cache: Option<FeatureCache>) {
        self.cache = cache;
    }

    /// Scores image files: image score and patch scores on the feature grid.
    pub fn score(&self, paths: &[PathBuf]) -> Result<Vec<ScoredImage>, WscxrError> {
        self.score_with_progress(paths, &mut |_, _| {})
    }

    /// [`Detector::score`] with progress reports `(done, total)`.
    pub fn score_with_progress(
        &self,
        paths: &[PathBuf],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<ScoredImage>, WscxrError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let maps = self.features(paths, progress)?;
        let (rows, grid) = patch_features(&maps, &self.config.patch)?;
        let per_image = grid[0] * grid[1];
        let scores = self.patch_scores(rows, per_image)?;
        let image_scores = image_scores(&scores, per_image);
        Ok(paths
            .iter()
            .zip(scores.chunks(per_image))
            .zip(image_scores)
            .map(|((path, patches), score)| ScoredImage {
                path: path.clone(),
                score,
                patch_scores: patches.to_vec(),
                grid,
            })
            .collect())
    }

    /// Backbone feature maps of image files (through the cache, if set).
    pub fn features(
        &self,
        paths: &[PathBuf],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Tensor<4>>, WscxrError> {
        let options = ExtractOptions {
            size: self.config.image_size,
            taps: self.config.layers.clone(),
            batch_size: self.config.batch_size,
        };
        let identity = format!("{}:{}", self.config.backbone, self.weights_sha256);
        extract_features(
            &self.backbone,
            &identity,
            paths,
            &options,
            self.cache.as_ref(),
            progress,
        )
    }

    /// Patch scores of patch feature rows (`[images * per_image, d]`).
    pub fn patch_scores(&self, rows: Tensor<2>, per_image: usize) -> Result<Vec<f32>, WscxrError> {
        let [_, dim] = rows.dims();
        if dim != self.dim {
            return Err(WscxrError::InvalidConfig(format!(
                "patch features have {dim} channels, the detector was fitted on {}",
                self.dim
            )));
        }
        let scores = match &self.scorer {
            Scorer::Discriminator(d) => patch_scores(d, rows).map_err(WscxrError::Detector)?,
            Scorer::PatchCore(bank) => {
                patchcore_scores(&rows, per_image, bank, &SearchConfig::default())?.1
            }
        };
        wscxr_detector::ensure_finite(&scores, "patch scores").map_err(WscxrError::Detector)?;
        Ok(scores)
    }
}
