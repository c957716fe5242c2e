//! Frozen ImageNet backbones for WSCXR: DenseNet-121 (the paper's) and Xception (whose genuine
//! ImageNet weights ship with this project), their weight import from ONNX files chosen at run
//! time, burn records, and feature extraction from chest X-rays in batches.
//!
//! Image input (PNG, JPEG, DICOM, Pillow-exact preprocessing) lives in `wscxr-image`, which
//! needs no burn; its types are re-exported here, and the network input is built from its
//! [`InputImage`]s. DICOM decoding is the `dicom` feature (on by default).
//!
//! ```no_run
//! use burn::prelude::Device;
//! use wscxr_backbone::{Backbone, ExtractOptions, Network};
//!
//! let device = Device::flex();
//! let backbone = Backbone::from_onnx(Network::Xception, "xception_imagenet_b13.onnx", &device)?;
//! let maps = backbone.extract(&["cxr.png".into(), "cxr.dcm".into()], &ExtractOptions::new(["block13_out"]), |_, _| {})?;
//! assert_eq!(maps[0].dims(), [2, 1024, 8, 8]);
//! # Ok::<(), wscxr_backbone::BackboneError>(())
//! ```

mod backbone;
mod densenet;
mod device;
mod error;
mod extract;
mod fold;
mod host;
mod model;
mod network;
mod record;
mod weights;
mod xception;

pub use backbone::Backbone;
pub use densenet::{DENSENET121_TAPS, DenseNet121};
pub use device::is_host;
pub use error::BackboneError;
pub use extract::{ExtractOptions, ExtractTimings};
pub use network::Network;
pub use record::Precision;
pub use wscxr_image::dicom;
pub use wscxr_image::{InputImage, Normalization, Radiograph, Xray, load_image, preprocess};
pub use xception::{XCEPTION_TAPS, Xception};
