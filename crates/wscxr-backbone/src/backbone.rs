//! A frozen backbone with its weights on a device, and its forward pass to feature taps.

use std::sync::Arc;
use std::time::Duration;

use burn::prelude::*;

use crate::densenet::DenseNet121;
use crate::device::is_host;
use crate::host::HostNet;
use crate::model::Model;
use crate::{BackboneError, Network};

/// What runs the forward pass.
#[derive(Debug, Clone)]
pub(crate) enum Engine {
    /// The host path (CPU devices).
    Host(Arc<HostNet>),
    /// burn's operators on the folded weights (any device).
    Burn(Arc<Model>),
}

/// A frozen ImageNet backbone on a device, ready to extract feature maps.
///
/// On a CPU device (flex, ndarray) the forward pass runs on the host path: the same network with
/// its batch norms folded into the convolutions, channels-last, on kernels written for inference
/// (see the README's speed section). [`Backbone::with_host_path`] switches to burn's own operators,
/// which every device runs.
#[derive(Debug, Clone)]
pub struct Backbone {
    pub(crate) network: Network,
    /// The weights as loaded and saved (batch norms unfolded).
    pub(crate) model: Model,
    pub(crate) device: Device,
    /// The weights in the form the forward pass uses (batch norms folded).
    pub(crate) engine: Engine,
}

impl Backbone {
    /// A backbone over loaded weights, with the host path on CPU devices.
    pub(crate) fn assemble(
        network: Network,
        model: Model,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let engine = if is_host(device) {
            Engine::Host(Arc::new(HostNet::new(&model)?))
        } else {
            Engine::Burn(Arc::new(model.folded()))
        };
        Ok(Self {
            network,
            model,
            device: device.clone(),
            engine,
        })
    }

    /// Turns the host path on (the default on CPU devices) or off (burn's operators, as on any
    /// device). Asking for it on a device whose memory is not the host's changes nothing.
    pub fn with_host_path(mut self, enabled: bool) -> Result<Self, BackboneError> {
        self.engine = match (enabled, &self.engine) {
            (true, Engine::Host(_)) | (false, Engine::Burn(_)) => self.engine,
            (true, Engine::Burn(_)) if is_host(&self.device) => {
                Engine::Host(Arc::new(HostNet::new(&self.model)?))
            }
            (true, Engine::Burn(_)) => self.engine,
            (false, Engine::Host(_)) => Engine::Burn(Arc::new(self.model.folded())),
        };
        Ok(self)
    }

    /// Whether [`Backbone::forward`] runs on the host path.
    pub fn uses_host_path(&self) -> bool {
        matches!(self.engine, Engine::Host(_))
    }

    /// Runs one host-path forward pass to the deepest of `taps` and returns the wall time spent in
    /// each kind of layer (summed over the network), for profiling. `None` when the host path is
    /// off.
    pub fn host_profile(
        &self,
        input: Tensor<4>,
        taps: &[&str],
    ) -> Result<Option<Vec<(&'static str, Duration)>>, BackboneError> {
        let indices = self.deepest(taps)?.0;
        match &self.engine {
            Engine::Host(host) => Ok(Some(host.profile(input, &indices, &self.device)?)),
            Engine::Burn(_) => Ok(None),
        }
    }

    /// The tap indices of `taps` and the deepest of them.
    fn deepest(&self, taps: &[&str]) -> Result<(Vec<usize>, usize), BackboneError> {
        let indices = taps
            .iter()
            .map(|tap| self.network.tap_index(tap))
            .collect::<Result<Vec<_>, _>>()?;
        let deepest =
            indices
                .iter()
                .copied()
                .max()
                .ok_or_else(|| BackboneError::InvalidParameter {
                    name: "taps",
                    value: "[]".into(),
                    reason: "name at least one feature tap",
                })?;
        Ok((indices, deepest))
    }

    /// Which network this is.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The DenseNet-121 module, for callers that need more than feature taps (e.g. logits).
    pub fn densenet121(&self) -> Option<&DenseNet121> {
        match &self.model {
            Model::DenseNet121(m) => Some(m),
            Model::Xception(_) => None,
        }
    }

    /// Feature maps of the requested taps for a normalised `[N, 3, H, W]` batch, in the order asked.
    ///
    /// The forward pass stops after the deepest requested tap.
    pub fn forward(
        &self,
        input: Tensor<4>,
        taps: &[&str],
    ) -> Result<Vec<Tensor<4>>, BackboneError> {
        let (indices, deepest) = self.deepest(taps)?;
        let maps = match &self.engine {
            Engine::Host(host) if host.supports(&input.dims()) => {
                return host.forward(input, &indices, &self.device);
            }
            // Inputs the host path leaves alone run on the stored weights (rare: unfolded).
            Engine::Host(_) => self.model.forward_taps(input, deepest),
            Engine::Burn(model) => model.forward_taps(input, deepest),
        };
        Ok(indices.iter().map(|&i| maps[i].clone()).collect())
    }
}
