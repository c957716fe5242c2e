//! DenseNet's pre-activation batch norms (`norm1` of each layer, the transitions' `norm`), which
//! follow a concatenation rather than a convolution and so cannot be folded: one fused
//! scale-shift-ReLU pass, itself fused with the transition's 2x2 average pool.

use rayon::prelude::*;

use super::simd::simd_kernel;

/// A batch norm in inference form: `y = x * scale + shift`, per channel.
#[derive(Debug, Clone)]
pub(crate) struct Affine {
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
}

/// Rows of pixels per parallel task in [`bn_relu`].
const ROWS_PER_TASK: usize = 64;

/// `out[p] = relu(x[p][..c] * scale + shift)` for `rows` pixels; `x` has row stride `x_rs`, `out`
/// is `[rows, c]` contiguous, where `c = affine.scale.len()` (the first `c` channels of `x`).
pub(crate) fn bn_relu(x: &[f32], x_rs: usize, rows: usize, affine: &Affine, out: &mut [f32]) {
    let c = affine.scale.len();
    out[..rows * c]
        .par_chunks_mut(ROWS_PER_TASK * c)
        .enumerate()
        .for_each(|(task, out)| {
            for (i, o) in out.chunks_exact_mut(c).enumerate() {
                let p = task * ROWS_PER_TASK + i;
                scale_shift_relu(&x[p * x_rs..p * x_rs + c], affine, o, false);
            }
        });
}

/// [`bn_relu`] of pixels `p0 .. p1` only, on the calling thread (for a fused GEMM band).
pub(crate) fn bn_relu_rows(
    x: &[f32],
    x_rs: usize,
    affine: &Affine,
    p0: usize,
    p1: usize,
    out: &mut [f32],
) {
    let c = affine.scale.len();
    for (o, p) in out.chunks_exact_mut(c).zip(p0..p1) {
        scale_shift_relu(&x[p * x_rs..p * x_rs + c], affine, o, false);
    }
}

/// `out = avgpool2x2(relu(x * scale + shift))`, stride 2, odd last row/column dropped (PyTorch's
/// floor mode). `x` is `[n, h, w, c]` contiguous, `out` `[n, h / 2, w / 2, c]`.
pub(crate) fn bn_relu_avgpool2(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    affine: &Affine,
    out: &mut [f32],
) {
    let c = affine.scale.len();
    let (oh, ow) = (h / 2, w / 2);
    out[..n * oh * ow * c]
        .par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / oh, row % oh);
            for (x_out, o) in out_row.chunks_exact_mut(c).enumerate() {
                o.fill(0.0);
                for dy in 0..2 {
                    for dx in 0..2 {
                        let p = (b * h + y * 2 + dy) * w + x_out * 2 + dx;
                        scale_shift_relu(&x[p * c..(p + 1) * c], affine, o, true);
                    }
                }
                o.iter_mut().for_each(|o| *o *= 0.25);
            }
        });
}

simd_kernel! {
    fn scale_shift_relu(x: &[f32], affine: &Affine, out: &mut [f32], accumulate: bool) => scale_shift_relu_body
}

#[inline(always)]
fn scale_shift_relu_body(x: &[f32], affine: &Affine, out: &mut [f32], accumulate: bool) {
    let lanes = out
        .iter_mut()
        .zip(x)
        .zip(affine.scale.iter().zip(&affine.shift));
    for ((o, &v), (&s, &t)) in lanes {
        let y = v * s + t;
        let y = if y < 0.0 { 0.0 } else { y };
        if accumulate {
            *o += y;
        } else {
            *o = y;
        }
    }
}
