//! 1x1 convolutions as one GEMM over every pixel of the batch (channels-last rows), with the
//! folded batch-norm bias and an optional residual add done by the GEMM's own accumulation.

use rayon::prelude::*;

use super::gemm::{Threads, matmul};

/// A 1x1 convolution, `cin -> cout`, weights `[cin][cout]` row-major, optional bias.
#[derive(Debug, Clone)]
pub(crate) struct Pointwise {
    pub cin: usize,
    pub cout: usize,
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
}

/// What is in `dst` before the product is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Overwrite: `dst = bias + x · w`.
    Fresh,
    /// Residual add: `dst += bias + x · w` (the residual is already in `dst`).
    Residual,
}

impl Pointwise {
    /// Runs on `rows` pixels: `x` has row stride `x_rs` (>= `cin`), the result goes to columns
    /// `off .. off + cout` of `dst`'s rows (stride `dst_rs`).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        x: &[f32],
        x_rs: usize,
        rows: usize,
        dst: &mut [f32],
        dst_rs: usize,
        off: usize,
        into: Target,
        threads: Threads,
    ) {
        let cout = self.cout;
        let dst = &mut dst[off..];
        let mut accumulate = into == Target::Residual;
        if let Some(bias) = &self.bias {
            // The bias goes in first, so that the GEMM's `dst += x w` finishes the layer in one pass.
            let fill = |row: &mut [f32]| {
                let row = &mut row[..cout];
                if accumulate {
                    row.iter_mut().zip(bias).for_each(|(d, b)| *d += b);
                } else {
                    row.copy_from_slice(bias);
                }
            };
            let span = (rows - 1) * dst_rs + cout;
            match threads {
                Threads::All => dst[..span].par_chunks_mut(dst_rs).for_each(fill),
                Threads::One => dst[..span].chunks_mut(dst_rs).for_each(fill),
            }
            accumulate = true;
        }
        matmul(
            rows,
            cout,
            self.cin,
            x,
            x_rs,
            &self.weight,
            dst,
            dst_rs,
            accumulate,
            threads,
        );
    }
}

/// Floats in one band's input tile for [`Pointwise::run_fused`]: 64 Ki floats, 256 KiB (L2).
const TILE_FLOATS: usize = 64 * 1024;

impl Pointwise {
    /// Pixels per band for [`Pointwise::run_fused`], a multiple of `align`.
    fn band_pixels(&self, align: usize) -> usize {
        let band = (TILE_FLOATS / self.cin.max(1)).clamp(64, 2048);
        band.div_ceil(align).max(1) * align
    }

    /// Whether [`Pointwise::run_fused`] beats producing the whole input then one threaded GEMM
    /// (split by rows, so each worker packs the weights once): sixteen bands per worker. Each
    /// band's GEMM packs the weights again, about 1/band of its work; for Xception's 728 x 728
    /// middle flow at batch 8 (eleven bands per worker) that measured dearer than the input's round
    /// trip through memory (4% of the pass, on an AVX-512 EPYC).
    pub fn fuses(&self, pixels: usize, align: usize) -> bool {
        pixels >= 16 * rayon::current_num_threads() * self.band_pixels(align)
    }

    /// Like [`Pointwise::run`] into a contiguous `[pixels, cout]` `dst`, with the input produced
    /// band by band: `fill(p0, p1, tile)` writes pixels `p0 .. p1` (`[p1 - p0, cin]`) into a tile
    /// that stays in cache for the band's GEMM. Bands run in parallel, each GEMM on one thread;
    /// band edges fall on multiples of `align` pixels. `relu` applies ReLU to the band's output
    /// while it is still in cache.
    pub fn run_fused(
        &self,
        pixels: usize,
        align: usize,
        fill: impl Fn(usize, usize, &mut [f32]) + Sync,
        dst: &mut [f32],
        into: Target,
        relu: bool,
    ) {
        let (cin, cout) = (self.cin, self.cout);
        let band = self.band_pixels(align);
        dst[..pixels * cout]
            .par_chunks_mut(band * cout)
            .enumerate()
            .for_each(|(index, out)| {
                let p0 = index * band;
                let rows = out.len() / cout;
                let mut tile = vec![0f32; rows * cin];
                fill(p0, p0 + rows, &mut tile);
                self.run(&tile, cin, rows, out, cout, 0, into, Threads::One);
                if relu {
                    relu_in_place(out);
                }
            });
    }
}

/// `x = max(x, 0)` (NaN kept), on the calling thread.
pub(crate) fn relu_in_place(x: &mut [f32]) {
    x.iter_mut()
        .for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v });
}
