//! Square k x k convolutions (stems, DenseNet's 3x3) on channels-last maps, without a full im2col:
//! the output is cut into bands of rows, and each band gathers only its own patch matrix (about
//! half a MiB, so that it stays in cache) before one GEMM writes the band.

use rayon::prelude::*;

use super::gemm::{Threads, matmul};

/// A k x k convolution with symmetric zero padding and a bias (batch norm folded in).
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub cin: usize,
    pub cout: usize,
    /// `[(ky * k + kx) * cin + ci][cout]` row-major: the patch matrix's column order.
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
}

/// Floats per band's patch matrix: 128 Ki floats, 512 KiB.
const PATCH_FLOATS: usize = 128 * 1024;

impl Conv {
    /// Output height and width for an `h x w` input.
    pub fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        let size = |s: usize| (s + 2 * self.pad).saturating_sub(self.k) / self.stride + 1;
        (size(h), size(w))
    }

    /// Convolves `x` (`[n, h, w, cin]`, contiguous; ReLU applied to it on the fly when
    /// `relu_input`) into columns `off .. off + cout` of `dst`'s rows (stride `dst_rs`), one row per
    /// output pixel.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        x: &[f32],
        n: usize,
        h: usize,
        w: usize,
        relu_input: bool,
        dst: &mut [f32],
        dst_rs: usize,
        off: usize,
    ) {
        let (oh, ow) = self.out_size(h, w);
        let patch = self.k * self.k * self.cin;
        let band_pixels = (PATCH_FLOATS / patch).clamp(64, 4096);
        let workers = rayon::current_num_threads();
        // Small maps (deep layers, batch 1) still get two bands per worker, so that the gather
        // runs in parallel too instead of one band's gather on one thread.
        let band_rows = band_pixels
            .div_ceil(ow)
            .min(oh)
            .min((n * oh / (2 * workers)).max(1))
            .max(1);
        let bands = n * oh.div_ceil(band_rows);
        // Few bands: bands one after the other, each GEMM threaded. Otherwise bands in parallel,
        // each GEMM on its own thread.
        let threads = if bands >= 2 * workers {
            Threads::One
        } else {
            Threads::All
        };
        let image_span = oh * ow * dst_rs;
        let band = |image: usize, index: usize, band_dst: &mut [f32]| {
            let y0 = index * band_rows;
            let y1 = (y0 + band_rows).min(oh);
            let pixels = (y1 - y0) * ow;
            let mut cols = vec![0f32; pixels * patch];
            let src = &x[image * h * w * self.cin..(image + 1) * h * w * self.cin];
            gather(self, src, h, w, y0, y1, ow, relu_input, &mut cols);
            let target = &mut band_dst[off..];
            let mut accumulate = false;
            if let Some(bias) = &self.bias {
                for row in target.chunks_mut(dst_rs).take(pixels) {
                    row[..self.cout].copy_from_slice(bias);
                }
                accumulate = true;
            }
            matmul(
                pixels,
                self.cout,
                patch,
                &cols,
                patch,
                &self.weight,
                target,
                dst_rs,
                accumulate,
                threads,
            );
        };
        let dst = &mut dst[..n * image_span];
        match threads {
            Threads::One => {
                dst.par_chunks_mut(image_span)
                    .enumerate()
                    .for_each(|(image, image_dst)| {
                        image_dst
                            .par_chunks_mut(band_rows * ow * dst_rs)
                            .enumerate()
                            .for_each(|(index, band_dst)| band(image, index, band_dst))
                    })
            }
            Threads::All => {
                for (image, image_dst) in dst.chunks_mut(image_span).enumerate() {
                    for (index, band_dst) in
                        image_dst.chunks_mut(band_rows * ow * dst_rs).enumerate()
                    {
                        band(image, index, band_dst);
                    }
                }
            }
        }
    }
}

/// Fills the patch matrix of output rows `y0 .. y1` of one image (`src`, `[h, w, cin]`).
#[allow(clippy::too_many_arguments)]
fn gather(
    conv: &Conv,
    src: &[f32],
    h: usize,
    w: usize,
    y0: usize,
    y1: usize,
    ow: usize,
    relu_input: bool,
    cols: &mut [f32],
) {
    let (k, cin, stride, pad) = (conv.k, conv.cin, conv.stride, conv.pad);
    let patch = k * k * cin;
    let mut rows = cols.chunks_mut(patch);
    for oy in y0..y1 {
        for ox in 0..ow {
            let Some(row) = rows.next() else { return };
            for ky in 0..k {
                let iy = (oy * stride + ky) as isize - pad as isize;
                let line = &mut row[ky * k * cin..(ky + 1) * k * cin];
                if iy < 0 || iy >= h as isize {
                    line.fill(0.0);
                    continue;
                }
                let ix0 = (ox * stride) as isize - pad as isize;
                if ix0 >= 0 && ix0 as usize + k <= w {
                    // The whole kernel row is inside the image: one contiguous run of k * cin.
                    let at = (iy as usize * w + ix0 as usize) * cin;
                    copy(&src[at..at + k * cin], line, relu_input);
                    continue;
                }
                for kx in 0..k {
                    let ix = ix0 + kx as isize;
                    let out = &mut line[kx * cin..(kx + 1) * cin];
                    if ix < 0 || ix >= w as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let at = (iy as usize * w + ix as usize) * cin;
                    copy(&src[at..at + cin], out, relu_input);
                }
            }
        }
    }
}

/// `out = relu_input ? relu(input) : input` (NaN kept).
#[inline(always)]
fn copy(input: &[f32], out: &mut [f32], relu_input: bool) {
    if relu_input {
        out.iter_mut()
            .zip(input)
            .for_each(|(o, &v)| *o = if v < 0.0 { 0.0 } else { v });
    } else {
        out.copy_from_slice(input);
    }
}
