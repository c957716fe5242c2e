//! # wscxr
//!
//! Weakly supervised anomaly detection in chest X-rays (WSCXR, Ni et al.) in pure Rust on
//! [burn](https://burn.dev): train on many normal images and a few abnormal ones with image-level
//! labels, then score new images and draw anomaly maps.
//!
//! The stages live in their own crates, re-exported here:
//! [`backbone`] (frozen ImageNet networks, weight import, preprocessing),
//! [`bank`] (patch features, coreset, nearest neighbours, mining, mixing) and
//! [`detector`] (discriminator, loss, training, scoring).
//! Every stage takes a burn [`Device`](burn::prelude::Device), which picks the backend at run time:
//! see [`device`].

mod cache;
mod config;
mod data;
pub mod device;
mod error;
pub mod metrics;
mod persist;
mod pipeline;

/// The burn version this crate is built on, so that callers name the same `Device` and `Tensor`.
pub use burn;
pub use cache::{FeatureCache, extract_features};
pub use config::{Ablation, WscxrConfig};
pub use data::{draw_abnormal, file_sha256, list_images};
pub use error::WscxrError;
pub use persist::FORMAT_VERSION;
pub use pipeline::{Detector, FitReport, ScoredImage, Wscxr, bundled_xception_path, load_backbone};
pub use wscxr_backbone as backbone;
pub use wscxr_bank as bank;
pub use wscxr_detector as detector;

/// The bundled ImageNet Xception weights (Keras Applications, MIT licence), truncated after
/// block 13 and stored in half precision as a burn record, relative to the crate root.
pub const BUNDLED_XCEPTION: &str = "assets/xception_b13_f16.bpk";
