//! # wscxr
//!
//! Weakly supervised anomaly detection in chest X-rays (WSCXR, Ni et al.) in pure Rust on
//! [burn](https://burn.dev): train on many normal images and a few abnormal ones with image-level
//! labels, then score new images and draw anomaly maps.
//!
//! Fit, score, save and load, on the X-rays and weights bundled with the crate:
//!
//! ```
//! use wscxr::burn::prelude::Device;
//! use wscxr::{Detector, TrainingSet, Wscxr, WscxrConfig, list_images};
//!
//! let device = Device::flex();
//! let training = TrainingSet::new(
//!     list_images("assets/quickstart/train/normal")?,
//!     list_images("assets/quickstart/train/anomaly")?, // K = 4 abnormal images
//! );
//! let mut config = WscxrConfig::default();
//! config.train.epochs = 5;
//! let detector = Wscxr::new(config)?.fit(&training, &device)?;
//!
//! let tests = list_images("assets/quickstart/test/anomaly")?;
//! let scored = detector.score(&tests)?;
//! let heatmap = scored[0].anomaly_map(256, 4.0); // 256 x 256, row-major
//! assert_eq!(heatmap.len(), 256 * 256);
//!
//! let file = std::env::temp_dir().join(format!("wscxr-doc-{}.wscxr", std::process::id()));
//! detector.save(&file)?;
//! let again = Detector::load(&file, &device)?;
//! assert_eq!(again.score(&tests)?, scored);
//! # std::fs::remove_file(&file).ok();
//! # Ok::<(), wscxr::WscxrError>(())
//! ```
//!
//! The method's stages, each a crate re-exported here:
//! [`backbone`] (step 1: frozen ImageNet networks, weight import, preprocessing),
//! [`bank`] (steps 2-5: [`PatchFeatures`](bank::PatchFeatures), the normal bank's coreset, nearest
//! neighbours, anomaly mining, linear mixing) and
//! [`detector`] (steps 6-7: discriminator, hinge loss, training, scoring).
//! [`Wscxr`] runs them in order; [`eval`] holds the evaluation protocols.
//! Every stage takes a burn [`Device`](burn::prelude::Device), which picks the backend at run time:
//! see [`device`].

mod anomaly_map;
mod cache;
mod calibration;
mod config;
mod data;
pub mod device;
mod error;
pub mod eval;
mod fit;
mod fitted_detector;
pub mod heatmap;
pub mod localisation;
pub mod metrics;
mod observer;
mod patients;
mod persist;
mod plot;
mod training_set;
mod weights;

pub use anomaly_map::{AnomalyMap, MapSettings};
/// The burn version this crate is built on, so that callers name the same `Device` and `Tensor`.
pub use burn;
pub use cache::{FeatureCache, extract_features};
pub use calibration::{Calibration, ThresholdRule};
pub use config::{Ablation, IMAGE_SIZE_RANGE, MAX_BATCH_SIZE, WscxrConfig};
pub use data::{draw_abnormal, file_sha256, list_images};
pub use error::WscxrError;
pub use fit::{FitReport, Validation, Wscxr};
pub use fitted_detector::{DISPLAY_SIGMA, Detector, SCORING_CHUNK, ScoredImage};
pub use observer::{Observer, Stage};
pub use persist::FORMAT_VERSION;
pub use training_set::{LabelledImages, TrainingSet};
pub use weights::{BUNDLED_XCEPTION_SHA256, LoadedBackbone, WEIGHTS_DIR_VAR, WeightsStore};
pub use wscxr_backbone as backbone;
pub use wscxr_backbone::{Radiograph, Xray};
pub use wscxr_bank as bank;
pub use wscxr_detector as detector;

/// The bundled ImageNet Xception weights (Keras Applications, MIT licence), truncated after
/// block 13 and stored in half precision as a burn record, relative to the crate root.
pub const BUNDLED_XCEPTION: &str = "assets/xception_b13_f16.bpk";

/// The README's code blocks, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
