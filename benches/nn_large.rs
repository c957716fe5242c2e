//! The nearest-neighbour search at a large scale (16,384 queries x 262,144 bank rows x 1,024 dims,
//! 8.8 TFLOP), timed once next to a plain f32 GEMM over the same shape in the same process. One
//! iteration takes about a minute on two cores, too long for criterion's ten samples; run it under
//! `/usr/bin/time -v` to see the peak memory:
//!
//! `cargo bench --bench nn_large` (`-- QUERIES BANK` for another size).

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use wscxr::bank::{NormalBank, SearchConfig};

mod common;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (nq, nb, d) = (
        *args.first().unwrap_or(&16_384),
        *args.get(1).unwrap_or(&262_144),
        1024,
    );
    let device = Device::flex();
    let flop = 2.0 * nq as f64 * nb as f64 * d as f64;
    let queries = Tensor::<2>::random([nq, d], Distribution::Normal(0.0, 1.0), &device);
    let bank = NormalBank::new(Tensor::<2>::random(
        [nb, d],
        Distribution::Normal(0.0, 1.0),
        &device,
    ))
    .unwrap();
    let start = Instant::now();
    let found = bank.nearest(&queries, &SearchConfig::default()).unwrap();
    let nn = start.elapsed().as_secs_f64();
    assert_eq!(found.indices.len(), nq);

    // Plain GEMM of the same shape, tile by tile so that it too stays within bounded memory.
    let q = queries.try_into_vec_as::<f32>().unwrap();
    let tile_rows = 4096.min(nb);
    let b = Tensor::<2>::random([tile_rows, d], Distribution::Normal(0.0, 1.0), &device)
        .try_into_vec_as::<f32>()
        .unwrap();
    let mut out = vec![0f32; 512 * tile_rows];
    let start = Instant::now();
    common::gemm_over(&q, &b, &mut out, nq, nb, d);
    let gemm_s = start.elapsed().as_secs_f64();
    println!(
        "nn {nq} x {nb} x {d}: {nn:.1} s, {:.1} GFLOP/s; plain GEMM: {gemm_s:.1} s, {:.1} GFLOP/s; ratio {:.0}%",
        flop / nn / 1e9,
        flop / gemm_s / 1e9,
        100.0 * gemm_s / nn
    );
}
