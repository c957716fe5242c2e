//! The pipeline's configuration, defaulting to the official WSCXR choices.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wscxr_backbone::Network;
use wscxr_bank::{CoresetConfig, PatchConfig};
use wscxr_detector::{DiscriminatorConfig, TrainConfig};

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
    /// Parses `full`, `no-mining`, `no-mixing`, `neither`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "full" => Some(Ablation::Full),
            "no-mining" => Some(Ablation::NoMining),
            "no-mixing" => Some(Ablation::NoMixing),
            "neither" => Some(Ablation::Neither),
            _ => None,
        }
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
    /// Seeds the normal subset, coreset, mixing, D's initialisation and the training order.
    pub seed: u64,
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
