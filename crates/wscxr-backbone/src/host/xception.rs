//! Xception to block 13 on the host: channels-last, batch norms folded, ReLUs fused into the
//! depthwise loads, residual adds fused into the last pointwise GEMM (middle blocks) or the max pool
//! (down blocks).

use rayon::prelude::*;

use super::buffers::Scratch;
use super::conv::Conv;
use super::depthwise::{depthwise3x3, depthwise3x3_rows};
use super::fold;
use super::gemm::Threads;
use super::pointwise::{Pointwise, Target};
use super::pool::max_pool_same_add;
use super::{Map, Profile};
use crate::BackboneError;
use crate::xception::{DownBlock, MiddleBlock, SeparableConv2d, Xception};

/// A separable convolution with the following batch norm folded into its pointwise half.
#[derive(Debug, Clone)]
struct Separable {
    depthwise: Vec<f32>,
    pointwise: Pointwise,
}

impl Separable {
    fn new(sep: &SeparableConv2d, bn: &burn::nn::BatchNorm) -> Result<Self, BackboneError> {
        Ok(Self {
            depthwise: fold::depthwise(&sep.depthwise)?,
            pointwise: fold::pointwise(&sep.pointwise, Some(bn))?,
        })
    }

    /// `dst (+)= pointwise(depthwise(x))`, ReLU applied to `x` as it is loaded when
    /// `relu_input`; `dst` is `[pixels, cout]`. Large maps go band by band (the depthwise output of
    /// a band feeds its GEMM from cache); small ones through `scratch` and one threaded GEMM.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        x: &Map,
        relu_input: bool,
        scratch: &mut Vec<f32>,
        dst: &mut [f32],
        into: Target,
        profile: &mut Profile,
        label: &'static str,
    ) {
        let pixels = x.pixels();
        let (h, w, c) = (x.h, x.w, x.c);
        if self.pointwise.fuses(pixels, w) {
            let fill = |p0: usize, p1: usize, tile: &mut [f32]| {
                depthwise3x3_rows(&x.data, h, w, c, &self.depthwise, relu_input, p0, p1, tile);
            };
            self.pointwise.run_fused(pixels, w, fill, dst, into, false);
            profile.lap(label);
            return;
        }
        scratch.resize(pixels * c, 0.0);
        depthwise3x3(&x.data, x.n, h, w, c, &self.depthwise, relu_input, scratch);
        let cout = self.pointwise.cout;
        self.pointwise
            .run(scratch, c, pixels, dst, cout, 0, into, Threads::All);
        profile.lap(label);
    }
}

#[derive(Debug, Clone)]
struct Down {
    /// Profile labels: residual projection, sepconv1, sepconv2, pool + add.
    labels: [&'static str; 4],
    sep1: Separable,
    sep2: Separable,
    residual: Pointwise,
    activate_input: bool,
}

impl Down {
    fn new(block: &DownBlock, labels: [&'static str; 4]) -> Result<Self, BackboneError> {
        Ok(Self {
            labels,
            sep1: Separable::new(&block.sepconv1, &block.sepconv1_bn)?,
            sep2: Separable::new(&block.sepconv2, &block.sepconv2_bn)?,
            residual: fold::pointwise(&block.residual_conv, Some(&block.residual_bn))?,
            activate_input: block.activate_input,
        })
    }

    fn run(&self, x: &Map, scratch: &mut Vec<f32>, profile: &mut Profile) -> Map {
        let (oh, ow) = (x.h.div_ceil(2), x.w.div_ceil(2));
        let cout = self.sep2.pointwise.cout;
        let mut out = Map::zeros(x.n, oh, ow, cout);
        // The strided 1x1 projection: gather every other pixel, then one GEMM.
        let picked = subsample2(x);
        let rows = out.pixels();
        self.residual.run(
            &picked,
            x.c,
            rows,
            &mut out.data,
            cout,
            0,
            Target::Fresh,
            Threads::All,
        );
        profile.lap(self.labels[0]);
        // sepconv1 (its ReLU only from block 3 on: block 2's input is already activated).
        let mid = self.sep1.pointwise.cout;
        let mut y = Map::zeros(x.n, x.h, x.w, mid);
        self.sep1.run(
            x,
            self.activate_input,
            scratch,
            &mut y.data,
            Target::Fresh,
            profile,
            self.labels[1],
        );
        let mut z = Map::zeros(x.n, x.h, x.w, cout);
        self.sep2.run(
            &y,
            true,
            scratch,
            &mut z.data,
            Target::Fresh,
            profile,
            self.labels[2],
        );
        max_pool_same_add(&z.data, z.n, z.h, z.w, z.c, &mut out.data);
        profile.lap(self.labels[3]);
        out
    }
}

#[derive(Debug, Clone)]
struct Middle {
    seps: [Separable; 3],
}

impl Middle {
    fn new(block: &MiddleBlock) -> Result<Self, BackboneError> {
        Ok(Self {
            seps: [
                Separable::new(&block.sepconv1, &block.sepconv1_bn)?,
                Separable::new(&block.sepconv2, &block.sepconv2_bn)?,
                Separable::new(&block.sepconv3, &block.sepconv3_bn)?,
            ],
        })
    }

    /// In place: `x += sep3(relu(sep2(relu(sep1(relu(x))))))`, `a` and `b` scratch maps.
    fn run(
        &self,
        x: &mut Map,
        a: &mut Map,
        b: &mut Map,
        scratch: &mut Vec<f32>,
        profile: &mut Profile,
    ) {
        self.seps[0].run(
            x,
            true,
            scratch,
            &mut a.data,
            Target::Fresh,
            profile,
            MIDDLE,
        );
        self.seps[1].run(
            a,
            true,
            scratch,
            &mut b.data,
            Target::Fresh,
            profile,
            MIDDLE,
        );
        // The identity shortcut is x itself: the last GEMM accumulates onto it.
        self.seps[2].run(
            b,
            true,
            scratch,
            &mut x.data,
            Target::Residual,
            profile,
            MIDDLE,
        );
    }
}

/// Profile label of the middle flow.
const MIDDLE: &str = "blocks 5-12: 24 sepconvs 728->728 (16x16)";

/// Xception's weights in host form.
#[derive(Debug, Clone)]
pub(crate) struct HostXception {
    conv1: Conv,
    conv2: Conv,
    down: [Down; 3],
    middle: Vec<Middle>,
    block13: Down,
}

impl HostXception {
    pub fn new(model: &Xception) -> Result<Self, BackboneError> {
        let stem = &model.block1;
        Ok(Self {
            conv1: fold::conv(&stem.conv1, Some(&stem.conv1_bn), 2, 0)?,
            conv2: fold::conv(&stem.conv2, Some(&stem.conv2_bn), 1, 0)?,
            down: [
                Down::new(
                    &model.block2,
                    [
                        "block2 residual 1x1/2 64->128",
                        "block2 sepconv1 64->128 (125x125)",
                        "block2 sepconv2 128->128",
                        "block2 max pool + add",
                    ],
                )?,
                Down::new(
                    &model.block3,
                    [
                        "block3 residual 1x1/2 128->256",
                        "block3 sepconv1 128->256 (63x63)",
                        "block3 sepconv2 256->256",
                        "block3 max pool + add",
                    ],
                )?,
                Down::new(
                    &model.block4,
                    [
                        "block4 residual 1x1/2 256->728",
                        "block4 sepconv1 256->728 (32x32)",
                        "block4 sepconv2 728->728",
                        "block4 max pool + add",
                    ],
                )?,
            ],
            middle: model
                .middle
                .iter()
                .map(Middle::new)
                .collect::<Result<_, _>>()?,
            block13: Down::new(
                &model.block13,
                [
                    "block13 residual 1x1/2 728->1024",
                    "block13 sepconv1 728->728 (16x16)",
                    "block13 sepconv2 728->1024",
                    "block13 max pool + add",
                ],
            )?,
        })
    }

    /// The maps of the taps marked in `keep` (indexed like [`crate::XCEPTION_TAPS`]; the pass
    /// stops at its last entry), channels-last, `None` for the others.
    pub fn forward(&self, x: Map, keep: &[bool], profile: &mut Profile) -> Vec<Option<Map>> {
        let deepest = keep.len().saturating_sub(1);
        let mut taps = Vec::with_capacity(keep.len());
        let tap = |x: &Map, taps: &mut Vec<Option<Map>>| {
            let wanted = keep.get(taps.len()).copied().unwrap_or(false);
            taps.push(wanted.then(|| x.clone()));
        };
        let mut scratch = Scratch::new();
        // The high-resolution start (stem, blocks 2 and 3) one image at a time: its maps
        // (8 MiB per image at 256 px) then stay in the last-level cache instead of streaming
        // the whole batch's through memory; the deeper blocks, where weights dominate, run on the
        // whole batch.
        let mut x = x.per_image(|x| self.entry(x, &mut scratch, profile));
        tap(&x, &mut taps);
        if taps.len() > deepest {
            return taps;
        }
        x = self.down[2].run(&x, &mut scratch, profile);
        tap(&x, &mut taps);
        if taps.len() > deepest {
            return taps;
        }
        let mut a = Map::zeros(x.n, x.h, x.w, x.c);
        let mut b = Map::zeros(x.n, x.h, x.w, x.c);
        for block in &self.middle {
            block.run(&mut x, &mut a, &mut b, &mut scratch, profile);
        }
        tap(&x, &mut taps);
        if taps.len() > deepest {
            return taps;
        }
        taps.push(Some(self.block13.run(&x, &mut scratch, profile)));
        taps
    }
}

impl HostXception {
    /// Stem, block 2 and block 3: up to `block3_out`.
    fn entry(&self, x: Map, scratch: &mut Vec<f32>, profile: &mut Profile) -> Map {
        let (h1, w1) = self.conv1.out_size(x.h, x.w);
        let mut a = Map::zeros(x.n, h1, w1, self.conv1.cout);
        self.conv1
            .run(&x.data, x.n, x.h, x.w, false, &mut a.data, a.c, 0);
        profile.lap("block1 conv1 3x3/2 3->32");
        let (h2, w2) = self.conv2.out_size(h1, w1);
        let mut b = Map::zeros(x.n, h2, w2, self.conv2.cout);
        self.conv2
            .run(&a.data, a.n, h1, w1, true, &mut b.data, b.c, 0);
        drop(a);
        b.data
            .par_iter_mut()
            .for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v });
        profile.lap("block1 conv2 3x3 32->64 (125x125)");
        let x = self.down[0].run(&b, scratch, profile);
        self.down[1].run(&x, scratch, profile)
    }
}

/// Every other pixel of every other row, `[n, ceil(h/2), ceil(w/2), c]`: the input of a 1x1
/// stride-2 convolution.
fn subsample2(x: &Map) -> Vec<f32> {
    let (oh, ow, c) = (x.h.div_ceil(2), x.w.div_ceil(2), x.c);
    let mut out = vec![0f32; x.n * oh * ow * c];
    out.par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / oh, row % oh);
            for (ox, pixel) in out_row.chunks_exact_mut(c).enumerate() {
                let at = ((b * x.h + y * 2) * x.w + ox * 2) * c;
                pixel.copy_from_slice(&x.data[at..at + c]);
            }
        });
    out
}
