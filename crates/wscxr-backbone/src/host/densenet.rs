//! DenseNet-121's trunk on the host: channels-last; each dense block writes every layer's new
//! channels straight into one block buffer (so concatenation costs nothing); `norm0` and `norm2`
//! folded into the convolutions before them; `norm1` (and each transition's norm) one
//! scale-shift-ReLU pass; the transition's 2x2 average pool done before its 1x1 convolution (the
//! two commute), which does the GEMM on a quarter of the pixels.

use rayon::prelude::*;

use super::buffers::Scratch;
use super::conv::Conv;
use super::fold;
use super::gemm::Threads;
use super::norm::{Affine, bn_relu, bn_relu_avgpool2, bn_relu_rows};
use super::pointwise::{Pointwise, Target, relu_in_place};
use super::pool::max_pool_pad1_relu;
use super::{Map, Profile};
use crate::BackboneError;
use crate::densenet::{DenseLayer, DenseNet121, Transition};

#[derive(Debug, Clone)]
struct Layer {
    norm1: Affine,
    /// 1x1 bottleneck with `norm2` folded in, followed by ReLU.
    conv1: Pointwise,
    conv2: Conv,
}

impl Layer {
    fn new(layer: &DenseLayer) -> Result<Self, BackboneError> {
        Ok(Self {
            norm1: fold::affine(&layer.norm1)?,
            conv1: fold::pointwise(&layer.conv1, Some(&layer.norm2))?,
            conv2: fold::conv(&layer.conv2, None, 1, 1)?,
        })
    }
}

#[derive(Debug, Clone)]
struct Trans {
    norm: Affine,
    conv: Pointwise,
}

impl Trans {
    fn new(t: &Transition) -> Result<Self, BackboneError> {
        Ok(Self {
            norm: fold::affine(&t.norm)?,
            conv: fold::pointwise(&t.conv, None)?,
        })
    }
}

/// Profile labels per dense block and transition.
const CONV1: [&str; 4] = [
    "denseblock1 norm1 + conv1 1x1 (6 layers, 64x64)",
    "denseblock2 norm1 + conv1 1x1 (12 layers, 32x32)",
    "denseblock3 norm1 + conv1 1x1 (24 layers, 16x16)",
    "denseblock4 norm1 + conv1 1x1 (16 layers, 8x8)",
];
const CONV2: [&str; 4] = [
    "denseblock1 conv2 3x3",
    "denseblock2 conv2 3x3",
    "denseblock3 conv2 3x3",
    "denseblock4 conv2 3x3",
];
const TRANSITIONS: [&str; 3] = ["transition1", "transition2", "transition3"];

/// DenseNet-121's trunk weights in host form.
#[derive(Debug, Clone)]
pub(crate) struct HostDenseNet {
    conv0: Conv,
    blocks: Vec<Vec<Layer>>,
    transitions: Vec<Trans>,
}

impl HostDenseNet {
    pub fn new(model: &DenseNet121) -> Result<Self, BackboneError> {
        let f = &model.features;
        let blocks = [
            &f.denseblock1,
            &f.denseblock2,
            &f.denseblock3,
            &f.denseblock4,
        ];
        Ok(Self {
            conv0: fold::conv(&f.conv0, Some(&f.norm0), 2, 3)?,
            blocks: blocks
                .iter()
                .map(|b| b.layers.iter().map(Layer::new).collect())
                .collect::<Result<_, _>>()?,
            transitions: [&f.transition1, &f.transition2, &f.transition3]
                .iter()
                .map(|t| Trans::new(t))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The maps of the taps marked in `keep` (indexed like [`crate::DENSENET121_TAPS`]; the pass
    /// stops at its last entry), channels-last, `None` for the others.
    pub fn forward(&self, x: Map, keep: &[bool], profile: &mut Profile) -> Vec<Option<Map>> {
        let (h0, w0) = self.conv0.out_size(x.h, x.w);
        let (h1, w1) = ((h0 - 1) / 2 + 1, (w0 - 1) / 2 + 1);
        let mut buffer = Map::zeros(x.n, h1, w1, block_width(&self.blocks[0]));
        // The stem one image at a time: conv0's map (4 MiB per image at 256 px) then stays in
        // cache for the pool instead of streaming the whole batch's through memory.
        let mut stem = Map::zeros(1, h0, w0, self.conv0.cout);
        let (image, pooled) = (x.h * x.w * x.c, h1 * w1 * buffer.c);
        for (input, out) in x.data.chunks(image).zip(buffer.data.chunks_mut(pooled)) {
            self.conv0
                .run(input, 1, x.h, x.w, false, &mut stem.data, stem.c, 0);
            profile.lap("conv0 7x7/2 3->64");
            max_pool_pad1_relu(&stem.data, 1, h0, w0, stem.c, out, buffer.c);
            profile.lap("pool0 3x3/2");
        }
        drop(stem);
        let mut taps: Vec<Option<Map>> = Vec::with_capacity(keep.len());
        let mut prev: Option<Map> = None;
        let mut normed = Scratch::new();
        let mut bottleneck = Scratch::new();
        for (i, block) in self.blocks.iter().enumerate().take(keep.len()) {
            if let Some(prev) = prev.take() {
                let t = &self.transitions[i - 1];
                let (h, w) = (prev.h / 2, prev.w / 2);
                normed.resize(prev.n * h * w * prev.c, 0.0);
                bn_relu_avgpool2(&prev.data, prev.n, prev.h, prev.w, &t.norm, &mut normed);
                buffer = Map::zeros(prev.n, h, w, block_width(block));
                let rows = buffer.pixels();
                t.conv.run(
                    &normed,
                    prev.c,
                    rows,
                    &mut buffer.data,
                    buffer.c,
                    0,
                    Target::Fresh,
                    Threads::All,
                );
                profile.lap(TRANSITIONS[i - 1]);
            }
            let rows = buffer.pixels();
            for layer in block {
                let cin = layer.norm1.scale.len();
                let mid = layer.conv1.cout;
                bottleneck.resize(rows * mid, 0.0);
                if layer.conv1.fuses(rows, 1) {
                    // norm1 + ReLU of a band straight into the band's GEMM, from cache.
                    let (data, stride) = (&buffer.data, buffer.c);
                    let fill = |p0: usize, p1: usize, tile: &mut [f32]| {
                        bn_relu_rows(data, stride, &layer.norm1, p0, p1, tile);
                    };
                    layer
                        .conv1
                        .run_fused(rows, 1, fill, &mut bottleneck, Target::Fresh, true);
                    profile.lap(CONV1[i]);
                } else {
                    normed.resize(rows * cin, 0.0);
                    bn_relu(&buffer.data, buffer.c, rows, &layer.norm1, &mut normed);
                    layer.conv1.run(
                        &normed,
                        cin,
                        rows,
                        &mut bottleneck,
                        mid,
                        0,
                        Target::Fresh,
                        Threads::All,
                    );
                    bottleneck.par_chunks_mut(64 * mid).for_each(relu_in_place);
                    profile.lap(CONV1[i]);
                }
                // The bottleneck is already activated (ReLU fused into conv1's bands).
                layer.conv2.run(
                    &bottleneck,
                    buffer.n,
                    buffer.h,
                    buffer.w,
                    false,
                    &mut buffer.data,
                    buffer.c,
                    cin,
                );
                profile.lap(CONV2[i]);
            }
            let done = std::mem::replace(&mut buffer, Map::zeros(0, 0, 0, 0));
            let last = i + 1 == keep.len();
            // The next transition reads the block's output: copy it only when both need it.
            match (keep[i], last) {
                (true, true) => taps.push(Some(done)),
                (true, false) => {
                    taps.push(Some(done.clone()));
                    prev = Some(done);
                }
                (false, _) => {
                    taps.push(None);
                    prev = Some(done);
                }
            }
        }
        taps
    }
}

/// Channels at the end of a dense block: the last layer's input plus its new channels.
fn block_width(block: &[Layer]) -> usize {
    block
        .last()
        .map_or(0, |l| l.norm1.scale.len() + l.conv2.cout)
}
