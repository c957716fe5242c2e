//! Pooling on channels-last maps, without indices and without padded copies.

use rayon::prelude::*;

use super::simd::simd_kernel;

/// Xception's 3x3 stride-2 max pool with TensorFlow 'same' padding (the padding ignored, extra
/// row/column at the bottom/right on even sizes), added onto the residual already in `out`:
/// `out += maxpool(x)`. `x` is `[n, h, w, c]`, `out` `[n, ceil(h/2), ceil(w/2), c]`.
pub(crate) fn max_pool_same_add(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    out: &mut [f32],
) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let top = ((oh - 1) * 2 + 3).saturating_sub(h) / 2;
    let left = ((ow - 1) * 2 + 3).saturating_sub(w) / 2;
    let image = h * w * c;
    out[..n * oh * ow * c]
        .par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / oh, row % oh);
            let src = &x[b * image..(b + 1) * image];
            let window = (y * 2).saturating_sub(top)..(y * 2 + 3 - top).min(h);
            max_row(
                src,
                w,
                c,
                window.start,
                window.end,
                left,
                out_row,
                c,
                true,
                false,
            );
        });
}

/// DenseNet's stem pool: 3x3, stride 2, padding 1 on every side (the padding ignored), with the
/// preceding ReLU applied to the result. `x` is `[n, h, w, c]`; the result goes to the first `c`
/// columns of `out`'s rows (stride `out_rs`), `[n, (h - 1) / 2 + 1, (w - 1) / 2 + 1]` pixels.
#[allow(clippy::too_many_arguments)]
pub(crate) fn max_pool_pad1_relu(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    out: &mut [f32],
    out_rs: usize,
) {
    let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
    let image = h * w * c;
    out[..n * oh * ow * out_rs]
        .par_chunks_mut(ow * out_rs)
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / oh, row % oh);
            let src = &x[b * image..(b + 1) * image];
            let window = (y * 2).saturating_sub(1)..(y * 2 + 2).min(h);
            max_row(
                src,
                w,
                c,
                window.start,
                window.end,
                1,
                out_row,
                out_rs,
                false,
                true,
            );
        });
}

simd_kernel! {
    #[allow(clippy::too_many_arguments)]
    fn max_row(src: &[f32], w: usize, c: usize, y0: usize, y1: usize, left: usize, out: &mut [f32], out_rs: usize, add: bool, relu: bool) => max_row_body
}

/// One output row of a 3x3 stride-2 max pool over input rows `y0 .. y1`, `left` columns of
/// padding on the left; the first `c` values of each of `out`'s pixels (stride `out_rs`) are added
/// to (`add`) or overwritten, optionally through ReLU.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn max_row_body(
    src: &[f32],
    w: usize,
    c: usize,
    y0: usize,
    y1: usize,
    left: usize,
    out: &mut [f32],
    out_rs: usize,
    add: bool,
    relu: bool,
) {
    let mut best = vec![f32::NEG_INFINITY; c];
    for (x, o) in out.chunks_mut(out_rs).enumerate() {
        let o = &mut o[..c];
        best.fill(f32::NEG_INFINITY);
        let x0 = (x * 2).saturating_sub(left);
        let x1 = (x * 2 + 3 - left).min(w);
        for iy in y0..y1 {
            for ix in x0..x1 {
                let at = (iy * w + ix) * c;
                for (b, &v) in best.iter_mut().zip(&src[at..at + c]) {
                    // A NaN input wins (and stays): `|` rather than `||` keeps the loop branch-free.
                    let take = (v > *b) | v.is_nan();
                    *b = if take { v } else { *b };
                }
            }
        }
        if relu {
            best.iter_mut()
                .for_each(|b| *b = if *b < 0.0 { 0.0 } else { *b });
        }
        if add {
            o.iter_mut().zip(&best).for_each(|(o, b)| *o += b);
        } else {
            o.copy_from_slice(&best);
        }
    }
}
