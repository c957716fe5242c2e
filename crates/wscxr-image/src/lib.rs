//! Image input for WSCXR, without burn: chest X-rays read from PNG and JPEG files (a PNG's
//! Adler-32 checksum verified, which the decoder behind `image` skips), from DICOM files (the
//! `dicom` feature, on by default; see [`dicom`]) or taken as pixels in memory, then resized
//! exactly as Pillow does and normalised into the `3 x size x size` floats a network takes.
//!
//! ```no_run
//! use std::path::Path;
//! use wscxr_image::{Normalization, Radiograph, Xray, load_image, preprocess};
//!
//! // A file straight to network input: 3 x 256 x 256 values, channel-major.
//! let input = load_image(Path::new("cxr.dcm"), 256, Normalization::SymmetricUnit)?;
//! assert_eq!(input.data.len(), 3 * 256 * 256);
//!
//! // Pixels a program already holds, named for errors and outputs.
//! let upload = Radiograph::gray8("upload 7", 2, 2, vec![0, 64, 128, 255])?;
//! let input = preprocess(upload.pixels(), 224, Normalization::ImageNet);
//! assert_eq!(input.size, 224);
//!
//! // Files and radiographs in memory mix as `Xray`s, decoded when needed.
//! let xrays = [Xray::from("cxr.png"), Xray::from(upload)];
//! let first = xrays[0].decode()?;
//! println!("{} is {} x {}", xrays[0], first.width(), first.height());
//! # Ok::<(), wscxr_image::ImageError>(())
//! ```

#![warn(missing_docs)]

mod ahead;
pub mod dicom;
mod error;
mod preprocess;
mod xray;

pub use ahead::read_ahead;
pub use error::ImageError;
pub use preprocess::{InputImage, Normalization, load_image, preprocess};
pub use xray::{ImageKind, Radiograph, Xray};
