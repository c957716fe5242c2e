//! The pipeline's configuration, defaulting to the official WSCXR choices.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wscxr_backbone::{BackboneError, ExtractOptions, Network};
use wscxr_bank::{CoresetConfig, PatchConfig, check_mining_ratio};
use wscxr_detector::{DiscriminatorConfig, TrainConfig};

use crate::WscxrError;

/// Input sides outside this range are refused: below it the deepest taps have no cells, above it
/// one image's activations alone take gigabytes.
pub const IMAGE_SIZE_RANGE: std::ops::RangeInclusive<usize> = 32..=2048;
/// Images per forward pass at most (activations grow with the batch).
pub const MAX_BATCH_SIZE: usize = 256;

/// Which of the method's two ideas are on (the paper's Table II ablations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ablation {
    /// Mining and mixing (the method).
    Full,
    /// Prototypes are all abnormal patches, not the top r.
    NoMining,
    /// Fakes are the prototypes themselves (a = 1).
    NoMixing,
    /// Neither.
    Neither,
}

impl Ablation {
    /// Every ablation, the method first.
    pub const ALL: [Ablation; 4] = [
        Ablation::Full,
        Ablation::NoMining,
        Ablation::NoMixing,
        Ablation::Neither,
    ];

    /// `full`, `no-mining`, `no-mixing` or `neither`.
    pub fn name(self) -> &'static str {
        match self {
            Ablation::Full => "full",
            Ablation::NoMining => "no-mining",
            Ablation::NoMixing => "no-mixing",
            Ablation::Neither => "neither",
        }
    }

    /// Parses [`Ablation::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether prototypes are mined (top r) rather than all abnormal patches.
    pub fn mining(self) -> bool {
        matches!(self, Ablation::Full | Ablation::NoMixing)
    }

    /// Whether fakes are mixed with normal patches.
    pub fn mixing(self) -> bool {
        matches!(self, Ablation::Full | Ablation::NoMining)
    }
}

/// Everything [`Wscxr::fit`](crate::Wscxr::fit) needs besides the images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WscxrConfig {
    /// The frozen backbone (here Xception, whose ImageNet weights ship with the project).
    pub backbone: Network,
    /// Its weights: an ONNX file or a burn record (`.bpk`); `None` = the bundled Xception record.
    pub weights: Option<PathBuf>,
    /// Feature taps, concatenated after alignment to the largest grid.
    pub layers: Vec<String>,
    /// Input side in pixels (official: 256).
    pub image_size: usize,
    /// Images per backbone forward pass.
    pub batch_size: usize,
    /// Patch aggregation (official: 5x5 mean).
    pub patch: PatchConfig,
    /// Normal bank coreset (official: half of the normal patches).
    pub coreset: CoresetConfig,
    /// Fraction of abnormal patches kept as prototypes (official: 0.2).
    pub mining_ratio: f64,
    /// Normal training images used, sampled with the seed (official: 500).
    pub max_normals: usize,
    /// Mining and mixing on or off.
    pub ablation: Ablation,
    /// Discriminator shape (official: linear).
    pub discriminator: DiscriminatorConfig,
    /// Discriminator training.
    pub train: TrainConfig,
    /// The one seed of a fit: it draws the normal subset, the coreset, the fakes, D's
    /// initialisation and the training order (the stage configurations hold no seed of their own).
    pub seed: u64,
}

impl WscxrConfig {
    /// Rejects every out-of-range value before any file is read: taps that the backbone lacks,
    /// sizes, the patch window, coreset, mining ratio, discriminator and training settings, and
    /// missing weights for a backbone that has none bundled. Fitting calls it first.
    pub fn check(&self) -> Result<(), WscxrError> {
        if self.layers.is_empty() {
            return Err(WscxrError::invalid(
                "layers",
                "[]",
                "name at least one backbone tap",
            ));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if self.backbone.tap_channels(layer).is_none() {
                return Err(BackboneError::UnknownTap {
                    tap: layer.clone(),
                    network: self.backbone.name().to_string(),
                    available: self.backbone.taps().join(", "),
                }
                .into());
            }
            if self.layers[..i].contains(layer) {
                return Err(WscxrError::invalid("layers", layer, "listed twice"));
            }
        }
        if !IMAGE_SIZE_RANGE.contains(&self.image_size) {
            return Err(WscxrError::invalid(
                "image_size",
                self.image_size,
                format!(
                    "must be in {}..={} pixels",
                    IMAGE_SIZE_RANGE.start(),
                    IMAGE_SIZE_RANGE.end()
                ),
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(WscxrError::invalid(
                "batch_size",
                self.batch_size,
                format!("must be in 1..={MAX_BATCH_SIZE}"),
            ));
        }
        if self.max_normals == 0 {
            return Err(WscxrError::invalid("max_normals", 0, "must be positive"));
        }
        if self.weights.is_none() && self.backbone != Network::Xception {
            return Err(WscxrError::invalid(
                "weights",
                "none",
                format!(
                    "only Xception's weights are bundled; give {} weights as an ONNX file or burn record",
                    self.backbone
                ),
            ));
        }
        self.patch.check()?;
        self.coreset.check()?;
        check_mining_ratio(self.mining_ratio)?;
        self.discriminator.check()?;
        self.train.check()?;
        Ok(())
    }

    /// This configuration with another seed.
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// How the backbone is run for this configuration.
    pub fn extract_options(&self) -> ExtractOptions {
        ExtractOptions {
            size: self.image_size,
            taps: self.layers.clone(),
            batch_size: self.batch_size,
        }
    }
}

impl std::str::FromStr for Ablation {
    type Err = WscxrError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| {
            WscxrError::invalid(
                "ablation",
                name,
                "use full, no-mining, no-mixing or neither",
            )
        })
    }
}

impl std::fmt::Display for Ablation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for WscxrConfig {
    fn default() -> Self {
        Self {
            backbone: Network::Xception,
            weights: None,
            layers: vec!["block13_out".into()],
            image_size: 256,
            batch_size: 8,
            patch: PatchConfig::default(),
            coreset: CoresetConfig::default(),
            mining_ratio: 0.2,
            max_normals: 500,
            ablation: Ablation::Full,
            discriminator: DiscriminatorConfig::linear(),
            train: TrainConfig::default(),
            seed: 0,
        }
    }
}
