//! The discriminator D: patch feature -> normality score (high = normal).

use burn::module::Param;
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, LeakyRelu, LeakyReluConfig, Linear, LinearConfig,
};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// The most hidden layers [`DiscriminatorConfig::check`] accepts.
pub const MAX_HIDDEN_LAYERS: usize = 16;
/// The widest hidden layer [`DiscriminatorConfig::check`] accepts.
pub const MAX_HIDDEN_WIDTH: usize = 65536;

/// Shape of the discriminator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DiscriminatorConfig {
    /// Hidden widths of an MLP (`Linear -> BatchNorm1d -> LeakyReLU(0.2)` per width); empty for the
    /// official single linear layer `d -> 1` without bias.
    pub hidden: Vec<usize>,
}

/// One hidden block of the MLP discriminator.
#[derive(Module, Debug)]
pub struct HiddenBlock {
    /// Affine map to the block's width.
    pub linear: Linear,
    /// Batch normalisation over the batch of patches.
    pub norm: BatchNorm,
    /// LeakyReLU with slope 0.2.
    pub activation: LeakyRelu,
}

/// The discriminator: optional hidden blocks, then a bias-free linear map to one score.
/// All linear weights are Xavier-normal initialised (the official `init_weight`), biases zero.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// Hidden blocks (none for the linear discriminator).
    pub hidden: Vec<HiddenBlock>,
    /// Final `width -> 1` map, no bias.
    pub head: Linear,
}

/// A Xavier-normal linear layer drawn from a host RNG, so that a seed gives the same weights on
/// every backend (burn's own initialisers draw from the device's generator).
fn xavier_linear(
    d_in: usize,
    d_out: usize,
    bias: bool,
    rng: &mut StdRng,
    device: &Device,
) -> Linear {
    let std = (2.0 / (d_in + d_out) as f64).sqrt() as f32;
    let weights: Vec<f32> = (0..d_in * d_out)
        .map(|_| {
            let v: f32 = StandardNormal.sample(rng);
            v * std
        })
        .collect();
    let mut linear = LinearConfig::new(d_in, d_out)
        .with_bias(bias)
        .with_initializer(Initializer::Zeros)
        .init(device);
    linear.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weights, [d_in, d_out]),
        device,
    ));
    linear
}

impl DiscriminatorConfig {
    /// The official linear discriminator.
    pub fn linear() -> Self {
        Self { hidden: Vec::new() }
    }

    /// Rejects more than [`MAX_HIDDEN_LAYERS`] hidden layers and a width outside
    /// 1..=[`MAX_HIDDEN_WIDTH`], before any work (a saved detector's sizes are bounded by these).
    pub fn check(&self) -> Result<(), crate::DetectorError> {
        if self.hidden.len() > MAX_HIDDEN_LAYERS {
            return Err(crate::DetectorError::InvalidParameter {
                name: "discriminator hidden layers",
                value: self.hidden.len().to_string(),
                reason: "at most 16",
            });
        }
        match self
            .hidden
            .iter()
            .position(|&w| w == 0 || w > MAX_HIDDEN_WIDTH)
        {
            Some(i) => Err(crate::DetectorError::InvalidParameter {
                name: "discriminator hidden width",
                value: format!("{} (layer {})", self.hidden[i], i + 1),
                reason: "must be in 1..=65536",
            }),
            None => Ok(()),
        }
    }

    /// Builds a discriminator for `dim`-dimensional patch features on `device`, its weights drawn
    /// with `seed`.
    pub fn init(&self, dim: usize, seed: u64, device: &Device) -> Discriminator {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut width = dim;
        let mut hidden = Vec::with_capacity(self.hidden.len());
        for &w in &self.hidden {
            hidden.push(HiddenBlock {
                linear: xavier_linear(width, w, true, &mut rng, device),
                norm: BatchNormConfig::new(w).init(device),
                activation: LeakyReluConfig::new().with_negative_slope(0.2).init(),
            });
            width = w;
        }
        Discriminator {
            hidden,
            head: xavier_linear(width, 1, false, &mut rng, device),
        }
    }
}

impl Discriminator {
    /// Scores `[n, d]` patch features: `[n]`, high for normal-looking patches.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let mut x = x;
        for block in &self.hidden {
            x = block
                .activation
                .forward(block.norm.forward(block.linear.forward(x)));
        }
        let [n, _] = x.dims();
        self.head.forward(x).reshape([n])
    }
}
