//! Which network: names, feature taps and their channels, input normalisation, weight names.

use serde::{Deserialize, Serialize};
use wscxr_image::Normalization;

use crate::BackboneError;
use crate::densenet::{DENSENET121_TAP_CHANNELS, DENSENET121_TAPS, DenseNet121};
use crate::xception::{XCEPTION_TAP_CHANNELS, XCEPTION_TAPS, Xception};

/// The networks this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// torchvision DenseNet-121 (the paper's backbone), ImageNet normalisation.
    DenseNet121,
    /// Keras Xception up to block 13, `x / 127.5 - 1` normalisation.
    Xception,
}

impl Network {
    /// Short lower-case name (`densenet121`, `xception`), as used on command lines and in files.
    pub fn name(self) -> &'static str {
        match self {
            Network::DenseNet121 => "densenet121",
            Network::Xception => "xception",
        }
    }

    /// Parses [`Network::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "densenet121" => Some(Network::DenseNet121),
            "xception" => Some(Network::Xception),
            _ => None,
        }
    }

    /// The feature taps, shallow to deep.
    pub fn taps(self) -> &'static [&'static str] {
        match self {
            Network::DenseNet121 => &DENSENET121_TAPS,
            Network::Xception => &XCEPTION_TAPS,
        }
    }

    /// Channels of a tap's feature map.
    pub fn tap_channels(self, tap: &str) -> Option<usize> {
        let index = self.taps().iter().position(|t| *t == tap)?;
        Some(match self {
            Network::DenseNet121 => DENSENET121_TAP_CHANNELS[index],
            Network::Xception => XCEPTION_TAP_CHANNELS[index],
        })
    }

    /// How the network expects its input scaled.
    pub fn normalization(self) -> Normalization {
        match self {
            Network::DenseNet121 => Normalization::ImageNet,
            Network::Xception => Normalization::SymmetricUnit,
        }
    }

    /// The weight-file name of a module path (inverse of `module_path`).
    pub(crate) fn weight_name(self, path: &str) -> String {
        match self {
            Network::DenseNet121 => DenseNet121::weight_name(path),
            Network::Xception => Xception::weight_name(path),
        }
    }

    /// The module path a weight-file name maps to, `None` when the name is not one of this network's.
    pub(crate) fn module_path(self, name: &str) -> Option<String> {
        match self {
            Network::DenseNet121 => DenseNet121::module_path(name),
            Network::Xception => Xception::module_path(name),
        }
    }

    pub(crate) fn tap_index(self, tap: &str) -> Result<usize, BackboneError> {
        self.taps()
            .iter()
            .position(|t| *t == tap)
            .ok_or_else(|| BackboneError::UnknownTap {
                tap: tap.to_string(),
                network: self.name().to_string(),
                available: self.taps().join(", "),
            })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
