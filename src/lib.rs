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
//! [`input`] (X-rays read as the network sees them: PNG, JPEG and DICOM, Pillow-exact
//! preprocessing), [`backbone`] (step 1: frozen ImageNet networks and their weight import),
//! [`bank`] (steps 2-5: [`PatchFeatures`](bank::PatchFeatures), the normal bank's coreset, nearest
//! neighbours, anomaly mining, linear mixing) and
//! [`detector`] (steps 6-7: discriminator, hinge loss, training, scoring).
//! [`Wscxr`] runs them in order; [`eval`] holds the evaluation protocols.
//! Every stage takes a burn [`Device`](burn::prelude::Device), which picks the backend at run time:
//! see [`device`].

mod anomaly_map;
mod calibration;
mod config;
mod data;
pub mod device;
#[cfg(feature = "download")]
mod download;
mod error;
pub mod eval;
mod features;
mod fit;
mod fitted_detector;
mod fsutil;
#[cfg(feature = "plots")]
pub mod heatmap;
pub mod localisation;
pub mod metrics;
mod observer;
mod outputs;
mod patients;
mod persist;
#[cfg(feature = "plots")]
mod plot;
#[cfg(feature = "cli-progress")]
pub mod progress;
mod registry;
mod timings;
mod training_set;
mod weights;

pub use anomaly_map::{AnomalyMap, MapSettings};
/// The burn version this crate is built on, so that callers name the same `Device` and `Tensor`.
pub use burn;
pub use calibration::{Calibration, ColourScale, ThresholdRule};
pub use config::{Ablation, IMAGE_SIZE_RANGE, MAX_BATCH_SIZE, WscxrConfig};
pub use data::{draw_abnormal, list_images};
#[cfg(feature = "download")]
pub use download::DownloadError;
pub use error::WscxrError;
pub use features::{FeatureCache, extract_features};
pub use fit::{Validation, Wscxr};
pub use fitted_detector::{DISPLAY_SIGMA, Detector, FitReport, SCORING_CHUNK, ScoredImage};
pub use fsutil::file_sha256;
pub use observer::{Observer, Part, Stage};
pub use outputs::{DRAW_GROUP, ImageOutputs};
pub use persist::FORMAT_VERSION;
pub use registry::{
    BUNDLED_XCEPTION_WEIGHTS, KNOWN_WEIGHTS, KnownWeights, RELEASE_URL, WEIGHTS_URL_VAR,
};
pub use timings::Timings;
pub use training_set::{LabelledImages, TrainingSet};
pub use weights::{BUNDLED_XCEPTION_SHA256, LoadedBackbone, WEIGHTS_DIR_VAR, WeightsStore};
pub use wscxr_backbone as backbone;
pub use wscxr_bank as bank;
pub use wscxr_detector as detector;
pub use wscxr_image as input;
pub use wscxr_image::{Radiograph, Xray};

/// The bundled ImageNet Xception weights (Keras Applications, MIT licence), truncated after
/// block 13 and stored in half precision as a burn record, relative to the crate root.
pub const BUNDLED_XCEPTION: &str = "assets/xception_b13_f16.bpk";

/// The README's code blocks, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
