//! Frozen ImageNet backbones for WSCXR: DenseNet-121 (the paper's) and Xception (whose genuine
//! ImageNet weights ship with this project), their weight import from ONNX files chosen at run
//! time, burn records, and image preprocessing that matches Pillow.
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
pub mod dicom;
mod error;
mod extract;
mod fold;
mod host;
mod network;
mod preprocess;
mod record;
mod weights;
mod xception;
mod xray;

pub use backbone::Backbone;
pub use densenet::{DENSENET121_TAPS, DenseNet121};
pub use error::BackboneError;
pub use extract::ExtractOptions;
pub use network::Network;
pub use preprocess::{InputImage, Normalization, load_image, preprocess};
pub use record::Precision;
pub use xception::{XCEPTION_TAPS, Xception};
pub use xray::{Radiograph, Xray};
