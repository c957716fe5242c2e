//! The burn module of either network, as loaded and saved (batch norms unfolded).

use burn::prelude::*;

use crate::Network;
use crate::densenet::DenseNet121;
use crate::xception::Xception;

/// Either network's burn module.
#[derive(Debug, Clone)]
pub(crate) enum Model {
    DenseNet121(Box<DenseNet121>),
    Xception(Box<Xception>),
}

impl Model {
    pub(crate) fn new(network: Network, device: &Device) -> Self {
        match network {
            Network::DenseNet121 => Model::DenseNet121(Box::new(DenseNet121::new(device))),
            Network::Xception => Model::Xception(Box::new(Xception::new(device))),
        }
    }

    /// The maps of every tap up to `deepest`, through burn's operators.
    pub(crate) fn forward_taps(&self, input: Tensor<4>, deepest: usize) -> Vec<Tensor<4>> {
        match self {
            Model::DenseNet121(m) => m.forward_taps(input, deepest),
            Model::Xception(m) => m.forward_taps(input, deepest),
        }
    }

    /// A copy with the batch norms that follow convolutions folded into them.
    pub(crate) fn folded(&self) -> Self {
        match self {
            Model::DenseNet121(m) => Model::DenseNet121(Box::new(m.folded())),
            Model::Xception(m) => Model::Xception(Box::new(m.folded())),
        }
    }
}
