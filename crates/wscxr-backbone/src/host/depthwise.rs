//! Direct depthwise 3x3 convolution, stride 1, zero padding 1, on channels-last maps: every output
//! pixel is nine multiply-adds over contiguous channel vectors, ReLU of the input applied as it is
//! loaded (Xception's separable convolutions all follow a ReLU).

use rayon::prelude::*;

use super::simd::simd_kernel;

/// `out = depthwise3x3(relu_input ? relu(x) : x)`, `x` and `out` `[n, h, w, c]`, `weight` `[9][c]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise3x3(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    weight: &[f32],
    relu_input: bool,
    out: &mut [f32],
) {
    let image = h * w * c;
    out[..n * image]
        .par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / h, row % h);
            let src = &x[b * image..(b + 1) * image];
            depthwise_row(src, h, w, c, y, weight, relu_input, out_row);
        });
}

/// The depthwise output of whole image rows: pixels `p0 .. p1` of the batch (multiples of `w`)
/// into `out` (`[p1 - p0, c]`), for [`super::pointwise::Pointwise::run_fused`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise3x3_rows(
    x: &[f32],
    h: usize,
    w: usize,
    c: usize,
    weight: &[f32],
    relu_input: bool,
    p0: usize,
    p1: usize,
    out: &mut [f32],
) {
    let image = h * w * c;
    for (i, out_row) in out.chunks_exact_mut(w * c).enumerate().take((p1 - p0) / w) {
        let row = p0 / w + i;
        let (b, y) = (row / h, row % h);
        depthwise_row(
            &x[b * image..(b + 1) * image],
            h,
            w,
            c,
            y,
            weight,
            relu_input,
            out_row,
        );
    }
}

simd_kernel! {
    #[allow(clippy::too_many_arguments)]
    fn depthwise_row(src: &[f32], h: usize, w: usize, c: usize, y: usize, weight: &[f32], relu_input: bool, out: &mut [f32]) => depthwise_row_body
}

/// Channels per block of accumulators: 32 floats, four AVX2 registers, kept in registers over the
/// nine taps so that each output value is stored once (rather than loaded and stored per tap).
const BLOCK: usize = 32;

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn depthwise_row_body(
    src: &[f32],
    h: usize,
    w: usize,
    c: usize,
    y: usize,
    weight: &[f32],
    relu_input: bool,
    out: &mut [f32],
) {
    for (x, o) in out.chunks_exact_mut(c).enumerate().take(w) {
        // The taps inside the image, in (dy, dx) order: (input offset, weight offset).
        let mut taps = [(0usize, 0usize); 9];
        let mut count = 0;
        for dy in 0..3 {
            let Some(iy) = (y + dy).checked_sub(1).filter(|&iy| iy < h) else {
                continue;
            };
            for dx in 0..3 {
                let Some(ix) = (x + dx).checked_sub(1).filter(|&ix| ix < w) else {
                    continue;
                };
                taps[count] = ((iy * w + ix) * c, (dy * 3 + dx) * c);
                count += 1;
            }
        }
        let taps = &taps[..count];
        let blocks = c / BLOCK * BLOCK;
        for c0 in (0..blocks).step_by(BLOCK) {
            let mut acc = [0f32; BLOCK];
            for &(at, k_at) in taps {
                let input: &[f32; BLOCK] = src[at + c0..at + c0 + BLOCK].try_into().unwrap();
                let k: &[f32; BLOCK] = weight[k_at + c0..k_at + c0 + BLOCK].try_into().unwrap();
                accumulate(&mut acc, input, k, relu_input);
            }
            o[c0..c0 + BLOCK].copy_from_slice(&acc);
        }
        let tail = &mut o[blocks..];
        tail.fill(0.0);
        for &(at, k_at) in taps {
            let input = &src[at + blocks..at + c];
            let k = &weight[k_at + blocks..k_at + c];
            accumulate(tail, input, k, relu_input);
        }
    }
}

/// `acc += (relu_input ? relu(input) : input) * k`, element by element, in the order the taps
/// come (the same sums as one tap at a time over the whole pixel).
#[inline(always)]
fn accumulate(acc: &mut [f32], input: &[f32], k: &[f32], relu_input: bool) {
    if relu_input {
        for ((a, &v), &k) in acc.iter_mut().zip(input).zip(k) {
            // `v < 0` rather than `max`: a NaN input stays NaN.
            *a += if v < 0.0 { 0.0 } else { v } * k;
        }
    } else {
        for ((a, &v), &k) in acc.iter_mut().zip(input).zip(k) {
            *a += v * k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output value at a time, taps in (dy, dx) order.
    fn naive(x: &[f32], n: usize, h: usize, w: usize, c: usize, k: &[f32], relu: bool) -> Vec<f32> {
        let mut out = vec![0f32; n * h * w * c];
        for b in 0..n {
            for y in 0..h {
                for x0 in 0..w {
                    for ch in 0..c {
                        let mut sum = 0f32;
                        for dy in 0..3 {
                            for dx in 0..3 {
                                let (iy, ix) = (y as isize + dy - 1, x0 as isize + dx - 1);
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let v = x[((b * h + iy as usize) * w + ix as usize) * c + ch];
                                let v = if relu && v < 0.0 { 0.0 } else { v };
                                sum += v * k[(dy * 3 + dx) as usize * c + ch];
                            }
                        }
                        out[((b * h + y) * w + x0) * c + ch] = sum;
                    }
                }
            }
        }
        out
    }

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// Odd shapes: channel counts below, at and past a multiple of the accumulator block, maps of
    /// one pixel and non-square ones, negative inputs (the ReLU) and a NaN (kept, not clamped).
    #[test]
    fn matches_the_definition_on_odd_shapes() {
        for (n, h, w, c) in [(1, 1, 1, 3), (2, 5, 3, 37), (1, 4, 6, 64), (1, 3, 2, 101)] {
            let mut x: Vec<f32> = (0..n * h * w * c)
                .map(|i| ((i * 37 + 11) % 23) as f32 / 7.0 - 1.5)
                .collect();
            x[c / 2] = f32::NAN;
            let k: Vec<f32> = (0..9 * c)
                .map(|i| ((i * 13 + 5) % 17) as f32 / 9.0 - 0.8)
                .collect();
            for relu in [false, true] {
                let expected = naive(&x, n, h, w, c, &k, relu);
                let mut out = vec![1f32; n * h * w * c];
                depthwise3x3(&x, n, h, w, c, &k, relu, &mut out);
                assert!(same(&out, &expected), "{n}x{h}x{w}x{c}, relu {relu}");
                // Whole rows from the second on, as a fused band asks for them.
                let p0 = w;
                let mut rows = vec![1f32; (n * h * w - p0) * c];
                depthwise3x3_rows(&x, h, w, c, &k, relu, p0, n * h * w, &mut rows);
                assert!(same(&rows, &expected[p0 * c..]), "rows of {n}x{h}x{w}x{c}");
            }
        }
    }
}
