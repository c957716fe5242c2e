//! Approximate greedy coreset (PatchCore's `ApproximateGreedyCoresetSampler`): the normal bank keeps
//! the rows that cover the feature cloud best, measured in a random 128-d projection.

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::BankError;
use crate::host::{dot, to_host};

/// How many rows the coreset keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CoresetSize {
    /// `floor(fraction * n)` rows, `0 < fraction <= 1` (the official setting: 0.5).
    Fraction(f64),
    /// Exactly this many rows (at most n).
    Count(usize),
}

/// Options of [`greedy_coreset`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoresetConfig {
    /// How many rows to keep.
    pub size: CoresetSize,
    /// Width of the random projection the distances are measured in (official: 128). Features
    /// no wider than this are used as they are (exact distances).
    pub projection_dim: usize,
    /// Random starting points whose mean distance seeds the minimum distances (official: 10).
    /// With 0 the minimum distances start infinite, so the first pick is row 0: plain
    /// farthest-point sampling.
    pub starting_points: usize,
}

impl CoresetConfig {
    /// Rejects a fraction outside (0, 1], a count of zero and a zero-width projection, before any
    /// work. (A count larger than the rows can only be checked against the rows.)
    pub fn check(&self) -> Result<(), BankError> {
        match self.size {
            CoresetSize::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(BankError::InvalidParameter {
                    name: "coreset fraction",
                    value: f.to_string(),
                    reason: "must be in (0, 1]",
                });
            }
            CoresetSize::Count(0) => {
                return Err(BankError::InvalidParameter {
                    name: "coreset count",
                    value: "0".into(),
                    reason: "must be positive",
                });
            }
            _ => {}
        }
        if self.projection_dim == 0 {
            return Err(BankError::InvalidParameter {
                name: "coreset projection_dim",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        Ok(())
    }
}

impl Default for CoresetConfig {
    fn default() -> Self {
        Self {
            size: CoresetSize::Fraction(0.5),
            projection_dim: 128,
            starting_points: 10,
        }
    }
}

/// Indices (in selection order) of the rows of `features` `[n, d]` that the greedy coreset keeps.
///
/// Each step takes the row farthest from everything selected so far (ties: the lowest index),
/// with distances measured after a seeded Gaussian projection to `projection_dim` dimensions.
/// Time O(n * m * projection_dim), extra memory O(n * projection_dim): no n x n matrix is formed.
/// Runs on the host; features on another device are read back once. `seed` draws the projection
/// and the starting points.
pub fn greedy_coreset(
    features: &Tensor<2>,
    config: &CoresetConfig,
    seed: u64,
) -> Result<Vec<usize>, BankError> {
    config.check()?;
    let [n, dim] = features.dims();
    if n == 0 {
        return Err(BankError::Empty("the coreset's feature set"));
    }
    let keep = match config.size {
        CoresetSize::Fraction(f) => ((n as f64) * f).floor() as usize,
        CoresetSize::Count(m) if m <= n => m,
        CoresetSize::Count(m) => {
            return Err(BankError::InvalidParameter {
                name: "coreset count",
                value: m.to_string(),
                reason: "cannot exceed the number of rows",
            });
        }
    };
    if keep == 0 {
        return Ok(Vec::new());
    }
    let rows = to_host(features.clone(), "coreset features")?;
    if rows.iter().any(|v| !v.is_finite()) {
        return Err(BankError::NonFinite("the coreset's feature set"));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (z, p) = if dim <= config.projection_dim {
        (rows, dim)
    } else {
        let p = config.projection_dim;
        let scale = 1.0 / (dim as f32).sqrt();
        let projection: Vec<f32> = (0..dim * p)
            .map(|_| {
                let v: f32 = StandardNormal.sample(&mut rng);
                v * scale
            })
            .collect();
        (project(&rows, dim, &projection, p), p)
    };
    let norms: Vec<f32> = z.par_chunks(p).map(|r| dot(r, r)).collect();
    let starts = sample(&mut rng, n, config.starting_points.min(n));
    let mut min_distance = if starts.is_empty() {
        vec![f32::INFINITY; n]
    } else {
        vec![0f32; n]
    };
    for start in starts.iter() {
        let anchor = z[start * p..(start + 1) * p].to_vec();
        let anchor_norm = norms[start];
        min_distance
            .par_iter_mut()
            .zip(z.par_chunks(p))
            .zip(norms.par_iter())
            .for_each(|((m, row), &nn)| *m += distance(row, nn, &anchor, anchor_norm));
    }
    if !starts.is_empty() {
        let starts_used = starts.len() as f32;
        min_distance.iter_mut().for_each(|m| *m /= starts_used);
    }

    let mut selected = Vec::with_capacity(keep);
    for _ in 0..keep {
        let chosen = argmax(&min_distance);
        selected.push(chosen);
        let anchor = z[chosen * p..(chosen + 1) * p].to_vec();
        update_min_distances(&z, &norms, &anchor, norms[chosen], p, &mut min_distance);
        // Rounding can leave a chosen row's distance to itself slightly above 0; never pick it twice.
        min_distance[chosen] = f32::NEG_INFINITY;
    }
    Ok(selected)
}

/// `rows [n, dim] x projection [dim, p]`.
fn project(rows: &[f32], dim: usize, projection: &[f32], p: usize) -> Vec<f32> {
    let n = rows.len() / dim;
    let mut z = vec![0f32; n * p];
    // SAFETY: z is n x p (row stride p), rows is n x dim (row stride dim), projection is
    // dim x p (row stride p); all three buffers have exactly those sizes.
    unsafe {
        gemm::gemm(
            n,
            p,
            dim,
            z.as_mut_ptr(),
            1,
            p as isize,
            false,
            rows.as_ptr(),
            1,
            dim as isize,
            projection.as_ptr(),
            1,
            p as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
    z
}

#[inline(always)]
fn distance(row: &[f32], row_norm: f32, anchor: &[f32], anchor_norm: f32) -> f32 {
    (row_norm - 2.0 * dot(row, anchor) + anchor_norm)
        .max(0.0)
        .sqrt()
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// `min_distance[i] = min(min_distance[i], |z_i - anchor|)`, compiled for the widest vector unit the
/// CPU has (the default x86-64 target only assumes SSE2).
fn update_min_distances(
    z: &[f32],
    norms: &[f32],
    anchor: &[f32],
    anchor_norm: f32,
    p: usize,
    min_distance: &mut [f32],
) {
    #[inline(always)]
    fn body(z: &[f32], norms: &[f32], anchor: &[f32], anchor_norm: f32, p: usize, out: &mut [f32]) {
        for ((m, row), &nn) in out.iter_mut().zip(z.chunks_exact(p)).zip(norms) {
            let d = distance(row, nn, anchor, anchor_norm);
            if d < *m {
                *m = d;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn body_avx512(
        z: &[f32],
        norms: &[f32],
        anchor: &[f32],
        anchor_norm: f32,
        p: usize,
        out: &mut [f32],
    ) {
        body(z, norms, anchor, anchor_norm, p, out)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn body_avx2(
        z: &[f32],
        norms: &[f32],
        anchor: &[f32],
        anchor_norm: f32,
        p: usize,
        out: &mut [f32],
    ) {
        body(z, norms, anchor, anchor_norm, p, out)
    }
    const CHUNK: usize = 2048;
    min_distance
        .par_chunks_mut(CHUNK)
        .zip(z.par_chunks(CHUNK * p))
        .zip(norms.par_chunks(CHUNK))
        .for_each(|((out, z), norms)| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F, checked just above.
                    return unsafe { body_avx512(z, norms, anchor, anchor_norm, p, out) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    return unsafe { body_avx2(z, norms, anchor, anchor_norm, p, out) };
                }
            }
            body(z, norms, anchor, anchor_norm, p, out)
        });
}
