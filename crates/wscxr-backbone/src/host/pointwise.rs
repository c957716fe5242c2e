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
