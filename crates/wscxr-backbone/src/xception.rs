//! Keras Xception (Chollet 2017), entry and middle flow up to block 13.
//!
//! Field names mirror the Keras layer names as they appear in the ONNX export
//! (`block2_sepconv1.depthwise.weight` lives at `block2.sepconv1.depthwise.weight`, and the middle
//! blocks 5..=12 at `middle.0` ..= `middle.7`), see [`Xception::module_path`].

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::fold::conv_bn;

/// `bn(x)`, or `x` when the batch norm is already folded into the convolution before it.
fn norm(bn: &BatchNorm, folded: bool, x: Tensor<4>) -> Tensor<4> {
    if folded { x } else { bn.forward(x) }
}

/// Keras' BatchNormalization epsilon.
const BN_EPS: f64 = 1e-3;

fn bn(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(BN_EPS)
        .init(device)
}

fn conv(in_ch: usize, out_ch: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([in_ch, out_ch], [kernel, kernel])
        .with_stride([stride, stride])
        .with_bias(false)
        .init(device)
}

/// A depthwise 3x3 convolution ('same' padding) followed by a pointwise 1x1 convolution, no biases.
#[derive(Module, Debug)]
pub struct SeparableConv2d {
    /// Depthwise 3x3 kernel, one group per input channel: `[C, 1, 3, 3]`.
    pub depthwise: Conv2d,
    /// Pointwise 1x1 kernel: `[O, C, 1, 1]`.
    pub pointwise: Conv2d,
}

impl SeparableConv2d {
    fn new(in_ch: usize, out_ch: usize, device: &Device) -> Self {
        Self {
            depthwise: Conv2dConfig::new([in_ch, in_ch], [3, 3])
                .with_groups(in_ch)
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            pointwise: conv(in_ch, out_ch, 1, 1, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pointwise.forward(self.depthwise.forward(x))
    }

    /// With the following batch norm folded into the pointwise half.
    fn folded(&self, bn: &BatchNorm) -> Self {
        Self {
            depthwise: self.depthwise.clone(),
            pointwise: conv_bn(&self.pointwise, bn),
        }
    }
}

/// Block 1: two plain 3x3 'valid' convolutions, the first with stride 2.
#[derive(Module, Debug)]
pub struct StemBlock {
    /// 3 -> 32, stride 2.
    pub conv1: Conv2d,
    /// BN after `conv1`.
    pub conv1_bn: BatchNorm,
    /// 32 -> 64.
    pub conv2: Conv2d,
    /// BN after `conv2`.
    pub conv2_bn: BatchNorm,
    /// Whether the batch norms are folded into the convolutions (and so skipped).
    pub(crate) folded: bool,
}

impl StemBlock {
    fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 32, 3, 2, device),
            conv1_bn: bn(32, device),
            conv2: conv(32, 64, 3, 1, device),
            conv2_bn: bn(64, device),
            folded: false,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(norm(&self.conv1_bn, self.folded, self.conv1.forward(x)));
        relu(norm(&self.conv2_bn, self.folded, self.conv2.forward(x)))
    }

    fn folded(&self) -> Self {
        Self {
            conv1: conv_bn(&self.conv1, &self.conv1_bn),
            conv2: conv_bn(&self.conv2, &self.conv2_bn),
            folded: true,
            ..self.clone()
        }
    }
}

/// Blocks 2, 3, 4 and 13: two separable convolutions and a stride-2 max pool, plus a strided 1x1
/// residual projection.
#[derive(Module, Debug)]
pub struct DownBlock {
    /// First separable convolution.
    pub sepconv1: SeparableConv2d,
    /// BN after `sepconv1`.
    pub sepconv1_bn: BatchNorm,
    /// Second separable convolution.
    pub sepconv2: SeparableConv2d,
    /// BN after `sepconv2`.
    pub sepconv2_bn: BatchNorm,
    /// 1x1 stride-2 projection of the block input.
    pub residual_conv: Conv2d,
    /// BN after `residual_conv`.
    pub residual_bn: BatchNorm,
    /// 3x3 stride-2 max pool with TensorFlow 'same' padding (asymmetric on even sizes).
    pub pool: MaxPool2d,
    /// Block 2 follows block 1's ReLU directly; later blocks start with their own ReLU.
    pub activate_input: bool,
    /// Whether the batch norms are folded into the convolutions (and so skipped).
    pub(crate) folded: bool,
}

impl DownBlock {
    fn new(
        in_ch: usize,
        mid_ch: usize,
        out_ch: usize,
        activate_input: bool,
        device: &Device,
    ) -> Self {
        Self {
            sepconv1: SeparableConv2d::new(in_ch, mid_ch, device),
            sepconv1_bn: bn(mid_ch, device),
            sepconv2: SeparableConv2d::new(mid_ch, out_ch, device),
            sepconv2_bn: bn(out_ch, device),
            residual_conv: conv(in_ch, out_ch, 1, 2, device),
            residual_bn: bn(out_ch, device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Same)
                .init(),
            activate_input,
            folded: false,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = norm(
            &self.residual_bn,
            self.folded,
            self.residual_conv.forward(x.clone()),
        );
        let x = if self.activate_input { relu(x) } else { x };
        let x = relu(norm(
            &self.sepconv1_bn,
            self.folded,
            self.sepconv1.forward(x),
        ));
        let x = norm(&self.sepconv2_bn, self.folded, self.sepconv2.forward(x));
        self.pool.forward(x) + residual
    }

    fn folded(&self) -> Self {
        Self {
            sepconv1: self.sepconv1.folded(&self.sepconv1_bn),
            sepconv2: self.sepconv2.folded(&self.sepconv2_bn),
            residual_conv: conv_bn(&self.residual_conv, &self.residual_bn),
            folded: true,
            ..self.clone()
        }
    }
}

/// Blocks 5..=12: three ReLU-separable-BN units at 728 channels with an identity shortcut.
#[derive(Module, Debug)]
pub struct MiddleBlock {
    /// First separable convolution.
    pub sepconv1: SeparableConv2d,
    /// BN after `sepconv1`.
    pub sepconv1_bn: BatchNorm,
    /// Second separable convolution.
    pub sepconv2: SeparableConv2d,
    /// BN after `sepconv2`.
    pub sepconv2_bn: BatchNorm,
    /// Third separable convolution.
    pub sepconv3: SeparableConv2d,
    /// BN after `sepconv3`.
    pub sepconv3_bn: BatchNorm,
    /// Whether the batch norms are folded into the convolutions (and so skipped).
    pub(crate) folded: bool,
}

impl MiddleBlock {
    fn new(device: &Device) -> Self {
        Self {
            sepconv1: SeparableConv2d::new(728, 728, device),
            sepconv1_bn: bn(728, device),
            sepconv2: SeparableConv2d::new(728, 728, device),
            sepconv2_bn: bn(728, device),
            sepconv3: SeparableConv2d::new(728, 728, device),
            sepconv3_bn: bn(728, device),
            folded: false,
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = self.sepconv1.forward(relu(input.clone()));
        let x = norm(&self.sepconv1_bn, self.folded, x);
        let x = norm(
            &self.sepconv2_bn,
            self.folded,
            self.sepconv2.forward(relu(x)),
        );
        let x = norm(
            &self.sepconv3_bn,
            self.folded,
            self.sepconv3.forward(relu(x)),
        );
        x + input
    }

    fn folded(&self) -> Self {
        Self {
            sepconv1: self.sepconv1.folded(&self.sepconv1_bn),
            sepconv2: self.sepconv2.folded(&self.sepconv2_bn),
            sepconv3: self.sepconv3.folded(&self.sepconv3_bn),
            folded: true,
            ..self.clone()
        }
    }
}

/// Xception's feature taps, each the residual sum at the end of its block (before the next ReLU).
pub const XCEPTION_TAPS: [&str; 4] = ["block3_out", "block4_out", "block12_out", "block13_out"];

/// Channels of each of [`XCEPTION_TAPS`].
pub(crate) const XCEPTION_TAP_CHANNELS: [usize; 4] = [256, 728, 728, 1024];

/// Xception up to block 13 (ImageNet weights from Keras Applications), input `x / 127.5 - 1`.
#[derive(Module, Debug)]
pub struct Xception {
    /// Two plain convolutions (stride 2).
    pub block1: StemBlock,
    /// 64 -> 128, stride 4 overall.
    pub block2: DownBlock,
    /// 128 -> 256, stride 8: `block3_out`.
    pub block3: DownBlock,
    /// 256 -> 728, stride 16: `block4_out`.
    pub block4: DownBlock,
    /// Blocks 5..=12 at 728 channels, stride 16: the last is `block12_out`.
    pub middle: Vec<MiddleBlock>,
    /// 728 -> 1024, stride 32: `block13_out`.
    pub block13: DownBlock,
}

impl Xception {
    /// The architecture with uninitialised (lazy) parameters on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            block1: StemBlock::new(device),
            block2: DownBlock::new(64, 128, 128, false, device),
            block3: DownBlock::new(128, 256, 256, true, device),
            block4: DownBlock::new(256, 728, 728, true, device),
            middle: (0..8).map(|_| MiddleBlock::new(device)).collect(),
            block13: DownBlock::new(728, 728, 1024, true, device),
        }
    }

    /// Runs the network up to the deepest tap in `taps` (indices into [`XCEPTION_TAPS`]) and
    /// returns the maps of all taps up to it, in tap order.
    pub fn forward_taps(&self, x: Tensor<4>, deepest: usize) -> Vec<Tensor<4>> {
        let mut out = Vec::with_capacity(deepest + 1);
        let x = self.block1.forward(x);
        let x = self.block2.forward(x);
        let x = self.block3.forward(x);
        out.push(x.clone());
        if deepest == 0 {
            return out;
        }
        let mut x = self.block4.forward(x);
        out.push(x.clone());
        if deepest == 1 {
            return out;
        }
        for block in &self.middle {
            x = block.forward(x);
        }
        out.push(x.clone());
        if deepest == 2 {
            return out;
        }
        out.push(self.block13.forward(x));
        out
    }

    /// A copy for inference with every batch norm folded into the convolution before it (see
    /// `crate::fold`); its forward pass skips the norms.
    pub(crate) fn folded(&self) -> Self {
        Self {
            block1: self.block1.folded(),
            block2: self.block2.folded(),
            block3: self.block3.folded(),
            block4: self.block4.folded(),
            middle: self.middle.iter().map(MiddleBlock::folded).collect(),
            block13: self.block13.folded(),
        }
    }

    /// Maps a Keras/ONNX weight name (`block7_sepconv2.pointwise.weight`) to this module's path
    /// (`middle.2.sepconv2.pointwise.weight`); `None` for names outside the architecture.
    pub fn module_path(name: &str) -> Option<String> {
        let rest = name.strip_prefix("block")?;
        let (number, rest) = rest.split_once('_')?;
        let block: usize = number.parse().ok()?;
        match block {
            1..=4 | 13 => Some(format!("block{block}.{rest}")),
            5..=12 => Some(format!("middle.{}.{rest}", block - 5)),
            _ => None,
        }
    }

    /// The inverse of [`Xception::module_path`].
    pub fn weight_name(path: &str) -> String {
        let (head, rest) = path.split_once('.').unwrap_or((path, ""));
        if head == "middle"
            && let Some((index, rest)) = rest.split_once('.')
            && let Ok(index) = index.parse::<usize>()
        {
            return format!("block{}_{rest}", index + 5);
        }
        format!("{head}_{rest}")
    }
}
