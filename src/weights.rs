//! The frozen backbone of a fit, loaded from its weights file and known by that file's hash.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use wscxr_backbone::{Backbone, Network};
use wscxr_bank::PatchFeatures;

use crate::cache::{FeatureCache, extract_features};
use crate::config::WscxrConfig;
use crate::data::file_sha256;
use crate::{BUNDLED_XCEPTION, WscxrError};

/// A backbone together with the SHA-256 of the weights it was loaded from: the identity that ties
/// cached features and saved detectors to exactly those weights.
#[derive(Debug, Clone)]
pub struct LoadedBackbone {
    backbone: Backbone,
    weights_sha256: String,
}

impl LoadedBackbone {
    /// Loads the configured backbone: `config.weights` (ONNX by its extension, else a burn
    /// record), or the bundled Xception record when none is given.
    pub fn load(config: &WscxrConfig, device: &Device) -> Result<Self, WscxrError> {
        let path = match &config.weights {
            Some(path) => path.clone(),
            None if config.backbone == Network::Xception => bundled_xception_path(),
            None => {
                return Err(WscxrError::invalid(
                    "weights",
                    "none",
                    format!(
                        "only Xception's weights are bundled, not {}'s",
                        config.backbone
                    ),
                ));
            }
        };
        let weights_sha256 = file_sha256(&path)?;
        let is_onnx = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        let backbone = if is_onnx {
            Backbone::from_onnx(config.backbone, &path, device)?
        } else {
            Backbone::from_record(config.backbone, &path, device)?
        };
        Ok(Self {
            backbone,
            weights_sha256,
        })
    }

    /// The network and its weights.
    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// SHA-256 of the weights file, lower-case hex.
    pub fn weights_sha256(&self) -> &str {
        &self.weights_sha256
    }

    /// `network:sha256`, the key that features and detectors are tied to.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.backbone.network(), self.weights_sha256)
    }

    /// Patch features of image files under `config` (through `cache` when given);
    /// `progress(done, total)` counts images.
    pub fn patch_features(
        &self,
        paths: &[PathBuf],
        config: &WscxrConfig,
        cache: Option<&FeatureCache>,
        progress: impl FnMut(usize, usize),
    ) -> Result<PatchFeatures, WscxrError> {
        let maps = extract_features(
            &self.backbone,
            &self.identity(),
            paths,
            &config.extract_options(),
            cache,
            progress,
        )?;
        Ok(wscxr_bank::patch_features(&maps, &config.patch)?)
    }
}

/// Where the bundled Xception record is: `assets/` of this crate's source.
pub fn bundled_xception_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(BUNDLED_XCEPTION)
}
