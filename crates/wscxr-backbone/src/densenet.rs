//! torchvision's DenseNet-121 (Huang et al. 2017): growth 32, blocks 6/12/24/16, bottleneck 4.
//!
//! Field names mirror torchvision's state-dict names: `features.denseblock1.denselayer1.conv1.weight`
//! lives at `features.denseblock1.layers.0.conv1.weight`, see [`DenseNet121::module_path`].

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::fold::conv_bn;

const GROWTH: usize = 32;
const BOTTLENECK: usize = 4;
const BLOCKS: [usize; 4] = [6, 12, 24, 16];
const INIT_FEATURES: usize = 64;
/// PyTorch's BatchNorm2d epsilon.
const BN_EPS: f64 = 1e-5;

fn bn(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(BN_EPS)
        .init(device)
}

/// BN-ReLU-Conv1x1 (to `4 * growth`) then BN-ReLU-Conv3x3 (to `growth`) new channels.
#[derive(Module, Debug)]
pub struct DenseLayer {
    /// BN over all channels so far.
    pub norm1: BatchNorm,
    /// 1x1 bottleneck.
    pub conv1: Conv2d,
    /// BN over the bottleneck.
    pub norm2: BatchNorm,
    /// 3x3, padding 1, producing the new channels.
    pub conv2: Conv2d,
    /// Whether `norm2` is folded into `conv1` (and so skipped).
    pub(crate) folded: bool,
}

impl DenseLayer {
    fn new(in_ch: usize, device: &Device) -> Self {
        let mid = BOTTLENECK * GROWTH;
        Self {
            norm1: bn(in_ch, device),
            conv1: Conv2dConfig::new([in_ch, mid], [1, 1])
                .with_bias(false)
                .init(device),
            norm2: bn(mid, device),
            conv2: Conv2dConfig::new([mid, GROWTH], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            folded: false,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv1.forward(relu(self.norm1.forward(x)));
        let x = if self.folded {
            x
        } else {
            self.norm2.forward(x)
        };
        self.conv2.forward(relu(x))
    }

    fn folded(&self) -> Self {
        Self {
            conv1: conv_bn(&self.conv1, &self.norm2),
            folded: true,
            ..self.clone()
        }
    }
}

/// A dense block: each layer sees the concatenation of the block input and all earlier outputs.
#[derive(Module, Debug)]
pub struct DenseBlock {
    /// torchvision's `denselayer1..N`, zero-based here.
    pub layers: Vec<DenseLayer>,
}

impl DenseBlock {
    fn new(in_ch: usize, layers: usize, device: &Device) -> Self {
        Self {
            layers: (0..layers)
                .map(|i| DenseLayer::new(in_ch + i * GROWTH, device))
                .collect(),
        }
    }

    /// The block's final concatenation (what torchvision passes to the next transition).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut features = vec![x];
        for layer in &self.layers {
            let input = Tensor::cat(features.clone(), 1);
            features.push(layer.forward(input));
        }
        Tensor::cat(features, 1)
    }

    fn folded(&self) -> Self {
        Self {
            layers: self.layers.iter().map(DenseLayer::folded).collect(),
        }
    }
}

/// BN-ReLU-Conv1x1 halving the channels, then 2x2 average pooling.
#[derive(Module, Debug)]
pub struct Transition {
    /// BN over the block output.
    pub norm: BatchNorm,
    /// 1x1 compression.
    pub conv: Conv2d,
    /// 2x2 stride-2 average pool.
    pub pool: AvgPool2d,
}

impl Transition {
    fn new(in_ch: usize, device: &Device) -> Self {
        Self {
            norm: bn(in_ch, device),
            conv: Conv2dConfig::new([in_ch, in_ch / 2], [1, 1])
                .with_bias(false)
                .init(device),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool
            .forward(self.conv.forward(relu(self.norm.forward(x))))
    }
}

/// torchvision's `features` sequential.
#[derive(Module, Debug)]
pub struct DenseNetFeatures {
    /// 7x7 stride-2 stem convolution.
    pub conv0: Conv2d,
    /// BN after the stem.
    pub norm0: BatchNorm,
    /// 3x3 stride-2 max pool, padding 1.
    pub pool0: MaxPool2d,
    /// 6 layers, 64 -> 256 channels, stride 4.
    pub denseblock1: DenseBlock,
    /// 256 -> 128, stride 8.
    pub transition1: Transition,
    /// 12 layers, 128 -> 512 channels, stride 8.
    pub denseblock2: DenseBlock,
    /// 512 -> 256, stride 16.
    pub transition2: Transition,
    /// 24 layers, 256 -> 1024 channels, stride 16.
    pub denseblock3: DenseBlock,
    /// 1024 -> 512, stride 32.
    pub transition3: Transition,
    /// 16 layers, 512 -> 1024 channels, stride 32.
    pub denseblock4: DenseBlock,
    /// Final BN before the classifier.
    pub norm5: BatchNorm,
    /// Whether `norm0` is folded into `conv0` (and so skipped).
    pub(crate) folded: bool,
}

/// DenseNet-121's feature taps: each dense block's final concatenation.
pub const DENSENET121_TAPS: [&str; 4] =
    ["denseblock1", "denseblock2", "denseblock3", "denseblock4"];

/// Channels of each of [`DENSENET121_TAPS`].
pub(crate) const DENSENET121_TAP_CHANNELS: [usize; 4] = [256, 512, 1024, 1024];

/// DenseNet-121 with torchvision's architecture and parameter names; input ImageNet-normalised RGB.
#[derive(Module, Debug)]
pub struct DenseNet121 {
    /// The convolutional trunk.
    pub features: DenseNetFeatures,
    /// ImageNet classifier, 1024 -> 1000.
    pub classifier: Linear,
}

impl DenseNet121 {
    /// The architecture with uninitialised (lazy) parameters on `device`.
    pub fn new(device: &Device) -> Self {
        let mut channels = INIT_FEATURES;
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (i, &layers) in BLOCKS.iter().enumerate() {
            blocks.push(DenseBlock::new(channels, layers, device));
            channels += layers * GROWTH;
            if i + 1 < BLOCKS.len() {
                transitions.push(Transition::new(channels, device));
                channels /= 2;
            }
        }
        let mut blocks = blocks.into_iter();
        let mut transitions = transitions.into_iter();
        let mut next_block = || blocks.next().expect("four dense blocks");
        let mut next_transition = || transitions.next().expect("three transitions");
        let features = DenseNetFeatures {
            conv0: Conv2dConfig::new([3, INIT_FEATURES], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .with_bias(false)
                .init(device),
            norm0: bn(INIT_FEATURES, device),
            pool0: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            denseblock1: next_block(),
            transition1: next_transition(),
            denseblock2: next_block(),
            transition2: next_transition(),
            denseblock3: next_block(),
            transition3: next_transition(),
            denseblock4: next_block(),
            norm5: bn(channels, device),
            folded: false,
        };
        Self {
            features,
            classifier: LinearConfig::new(channels, 1000).init(device),
        }
    }

    /// Runs the trunk up to the deepest tap (index into [`DENSENET121_TAPS`]) and returns the maps of
    /// all taps up to it, in tap order.
    pub fn forward_taps(&self, x: Tensor<4>, deepest: usize) -> Vec<Tensor<4>> {
        let f = &self.features;
        let x = f.conv0.forward(x);
        let x = if f.folded { x } else { f.norm0.forward(x) };
        let x = f.pool0.forward(relu(x));
        let blocks = [
            &f.denseblock1,
            &f.denseblock2,
            &f.denseblock3,
            &f.denseblock4,
        ];
        let transitions = [&f.transition1, &f.transition2, &f.transition3];
        let mut out = Vec::with_capacity(deepest + 1);
        let mut x = x;
        for (i, block) in blocks.iter().enumerate().take(deepest + 1) {
            if i > 0 {
                x = transitions[i - 1].forward(x);
            }
            x = block.forward(x);
            out.push(x.clone());
        }
        out
    }

    /// A copy for inference with `norm0` folded into `conv0` and each layer's `norm2` into its
    /// `conv1` (see `crate::fold`); its forward pass skips those norms. The other norms follow a
    /// concatenation or the trunk's output, not a convolution, and stay.
    pub(crate) fn folded(&self) -> Self {
        let f = &self.features;
        Self {
            features: DenseNetFeatures {
                conv0: conv_bn(&f.conv0, &f.norm0),
                denseblock1: f.denseblock1.folded(),
                denseblock2: f.denseblock2.folded(),
                denseblock3: f.denseblock3.folded(),
                denseblock4: f.denseblock4.folded(),
                folded: true,
                ..f.clone()
            },
            classifier: self.classifier.clone(),
        }
    }

    /// ImageNet logits: trunk, `norm5`, ReLU, global average pool, classifier.
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.forward_taps(x, 3).pop().expect("denseblock4");
        let x = relu(self.features.norm5.forward(x));
        let pooled: Tensor<2> = x.mean_dims(&[2, 3]).flatten(1, 3);
        self.classifier.forward(pooled)
    }

    /// Maps a torchvision weight name (`features.denseblock2.denselayer3.norm1.weight`) to this
    /// module's path (`features.denseblock2.layers.2.norm1.weight`); `None` for names outside the
    /// architecture. Old-style names (`norm.1`, `conv.2`) are accepted too.
    pub fn module_path(name: &str) -> Option<String> {
        let parts: Vec<&str> = name.split('.').collect();
        let mut out: Vec<String> = Vec::with_capacity(parts.len());
        let mut i = 0;
        while i < parts.len() {
            let part = parts[i];
            if let Some(n) = part.strip_prefix("denselayer") {
                let index: usize = n.parse().ok()?;
                out.push("layers".into());
                out.push(index.checked_sub(1)?.to_string());
            } else if matches!(part, "norm" | "conv" | "relu")
                && parts.get(i + 1).is_some_and(|p| *p == "1" || *p == "2")
                && out.iter().any(|p| p == "layers")
            {
                out.push(format!("{part}{}", parts[i + 1]));
                i += 1;
            } else {
                out.push(part.to_string());
            }
            i += 1;
        }
        let path = out.join(".");
        let known_root = path.starts_with("features.") || path.starts_with("classifier.");
        known_root.then_some(path)
    }

    /// The inverse of [`DenseNet121::module_path`] (torchvision's current names).
    pub fn weight_name(path: &str) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        let mut out = Vec::with_capacity(parts.len());
        let mut i = 0;
        while i < parts.len() {
            if parts[i] == "layers"
                && let Some(index) = parts.get(i + 1).and_then(|p| p.parse::<usize>().ok())
            {
                out.push(format!("denselayer{}", index + 1));
                i += 2;
                continue;
            }
            out.push(parts[i].to_string());
            i += 1;
        }
        out.join(".")
    }
}
