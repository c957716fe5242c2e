//! The host inference path: both networks run on the CPU's own memory with kernels written for
//! inference (channels-last activations, batch norms folded, GEMM-based 1x1 and banded k x k
//! convolutions, direct depthwise and pooling kernels, fused epilogues), chosen automatically when a
//! [`crate::Backbone`] lives on a CPU device. burn tensors stay at its edges: the input is read back
//! from the device's (host) memory and the feature maps are handed back as tensors.
//!
//! Parallelism is rayon's (one worker per core): GEMMs split across the pool, the other kernels
//! run one output row per task.

mod buffers;
mod conv;
mod densenet;
mod depthwise;
mod fold;
mod gemm;
mod layout;
mod norm;
mod pointwise;
mod pool;
pub(crate) mod simd;
mod xception;

use std::time::{Duration, Instant};

use burn::prelude::*;

use crate::BackboneError;
use crate::model::Model;
use densenet::HostDenseNet;
use xception::HostXception;

/// A channels-last activation map `[n, h, w, c]`, contiguous.
#[derive(Debug, Clone)]
pub(crate) struct Map {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Map {
    pub fn zeros(n: usize, h: usize, w: usize, c: usize) -> Self {
        Self {
            n,
            h,
            w,
            c,
            data: buffers::zeroed(n * h * w * c),
        }
    }

    /// `f` applied to each image of the batch on its own, the results stacked back into a batch
    /// (all of the same shape).
    pub fn per_image(self, mut f: impl FnMut(Map) -> Map) -> Map {
        if self.n == 1 {
            return f(self);
        }
        let image = self.h * self.w * self.c;
        let mut out: Option<Map> = None;
        for (i, chunk) in self.data.chunks(image).enumerate() {
            let mut alone = Map::zeros(1, self.h, self.w, self.c);
            alone.data.copy_from_slice(chunk);
            let one = f(alone);
            let out = out.get_or_insert_with(|| Map::zeros(self.n, one.h, one.w, one.c));
            let size = one.data.len();
            out.data[i * size..(i + 1) * size].copy_from_slice(&one.data);
        }
        out.unwrap_or_else(|| Map::zeros(0, 0, 0, 0))
    }

    /// Pixels over the whole batch (`n * h * w`): the rows of a 1x1 convolution's GEMM.
    pub fn pixels(&self) -> usize {
        self.n * self.h * self.w
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        buffers::recycle(std::mem::take(&mut self.data));
    }
}

/// Wall time per kind of layer, summed over a forward pass; a no-op unless enabled.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    last: Option<Instant>,
    laps: Vec<(&'static str, Duration)>,
}

impl Profile {
    fn enabled() -> Self {
        Self {
            last: Some(Instant::now()),
            laps: Vec::new(),
        }
    }

    /// Charges the time since the previous lap to `label`.
    pub fn lap(&mut self, label: &'static str) {
        let Some(last) = self.last else { return };
        let now = Instant::now();
        let spent = now - last;
        match self.laps.iter_mut().find(|(l, _)| *l == label) {
            Some((_, total)) => *total += spent,
            None => self.laps.push((label, spent)),
        }
        self.last = Some(now);
    }
}

/// A network's weights in host form (batch norms folded), built from the burn module.
#[derive(Debug, Clone)]
pub(crate) enum HostNet {
    DenseNet121(Box<HostDenseNet>),
    Xception(Box<HostXception>),
}

impl HostNet {
    pub fn new(model: &Model) -> Result<Self, BackboneError> {
        Ok(match model {
            Model::DenseNet121(m) => HostNet::DenseNet121(Box::new(HostDenseNet::new(m)?)),
            Model::Xception(m) => HostNet::Xception(Box::new(HostXception::new(m)?)),
        })
    }

    /// Whether the host path handles an input of these dimensions (`[N, 3, H, W]`, H, W >= 32:
    /// smaller inputs, which no caller of this crate uses, are left to burn's operators).
    pub fn supports(&self, dims: &[usize; 4]) -> bool {
        let [n, c, h, w] = *dims;
        n > 0 && c == 3 && h >= 32 && w >= 32
    }

    /// The maps of the taps `wanted` (indices into the network's taps), in that order, as NCHW
    /// tensors on `device`; the pass stops after the deepest of them.
    pub fn forward(
        &self,
        input: Tensor<4>,
        wanted: &[usize],
        device: &Device,
    ) -> Result<Vec<Tensor<4>>, BackboneError> {
        self.run(input, wanted, device, &mut Profile::default())
    }

    /// Like [`HostNet::forward`], also returning where the time went, by kind of layer.
    pub fn profile(
        &self,
        input: Tensor<4>,
        wanted: &[usize],
        device: &Device,
    ) -> Result<Vec<(&'static str, Duration)>, BackboneError> {
        let mut profile = Profile::enabled();
        self.run(input, wanted, device, &mut profile)?;
        Ok(profile.laps)
    }

    fn run(
        &self,
        input: Tensor<4>,
        wanted: &[usize],
        device: &Device,
        profile: &mut Profile,
    ) -> Result<Vec<Tensor<4>>, BackboneError> {
        let Some(&deepest) = wanted.iter().max() else {
            return Ok(Vec::new());
        };
        let mut keep = vec![false; deepest + 1];
        wanted.iter().for_each(|&i| keep[i] = true);
        let [n, c, h, w] = input.dims();
        if !self.supports(&[n, c, h, w]) {
            return Err(BackboneError::Unsupported(format!(
                "expected a [N, 3, H, W] batch with H, W >= 32, got [{n}, {c}, {h}, {w}]"
            )));
        }
        let data = input
            .try_into_vec_as::<f32>()
            .map_err(|e| BackboneError::Readback {
                what: "the input batch".into(),
                reason: format!("{e:?}"),
            })?;
        let mut x = Map::zeros(n, h, w, c);
        layout::nchw_to_nhwc(&data, n, c, h, w, &mut x.data);
        drop(data);
        profile.lap("input to channels-last");
        let maps = match self {
            HostNet::DenseNet121(net) => net.forward(x, &keep, profile),
            HostNet::Xception(net) => net.forward(x, &keep, profile),
        };
        let tensors = wanted
            .iter()
            .map(|&i| {
                let m = maps[i]
                    .as_ref()
                    .ok_or_else(|| BackboneError::Unsupported(format!("tap {i} not computed")))?;
                let data = layout::nhwc_to_nchw(&m.data, m.n, m.h, m.w, m.c, m.c);
                Ok(Tensor::<4>::from_data(
                    TensorData::new(data, [m.n, m.c, m.h, m.w]),
                    device,
                ))
            })
            .collect::<Result<_, BackboneError>>()?;
        profile.lap("taps to NCHW tensors");
        Ok(tensors)
    }
}
