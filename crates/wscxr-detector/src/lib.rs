//! WSCXR's detector: the discriminator D, its hinge loss, training against mixed fakes, and
//! scoring (patch scores `-D(x)`, image score = max, anomaly maps).

mod discriminator;
mod error;
mod loss;
mod scoring;
mod training;

pub use discriminator::{
    Discriminator, DiscriminatorConfig, HiddenBlock, MAX_HIDDEN_LAYERS, MAX_HIDDEN_WIDTH,
};
pub use error::DetectorError;
pub use loss::hinge_loss;
pub use scoring::{anomaly_map, ensure_finite, image_scores, patch_scores, resample_bilinear};
pub use training::{EpochReport, TrainConfig, train};
