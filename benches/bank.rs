//! Feature-bank kernels on the default CPU backend (flex):
//! - exact nearest-neighbour search at the official scale (2,048 queries x 16,000 bank x 1,024),
//!   next to a plain f32 GEMM of the same shape run in the same process (the machine's practical
//!   peak); throughput in "elements" = multiply-adds, so criterion's elem/s x 2 is FLOP/s. The large
//!   scale (16,384 x 262,144) is `benches/nn_large.rs`: one iteration takes about a minute;
//! - greedy coreset selection of 16,000 of 32,000 rows (1,024-d).
//!
//! `cargo bench --bench bank`.

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wscxr::bank::{CoresetConfig, CoresetSize, NormalBank, SearchConfig, greedy_coreset};

mod common;

fn rows(n: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::random([n, d], Distribution::Normal(0.0, 1.0), device)
}

fn nearest(c: &mut Criterion) {
    let device = Device::flex();
    let (nq, nb, d) = (2048usize, 16_000usize, 1024usize);
    let mut group = c.benchmark_group("nn/official");
    group.sample_size(10);
    group.throughput(Throughput::Elements((nq * nb * d) as u64));
    let queries = rows(nq, d, &device);
    let bank = NormalBank::new(rows(nb, d, &device)).unwrap();
    group.bench_function("nearest", |b| {
        b.iter(|| bank.nearest(&queries, &SearchConfig::default()).unwrap())
    });
    // The GEMM reference on tiles of the size the search uses, so its memory stays bounded too.
    let q = queries.clone().try_into_vec_as::<f32>().unwrap();
    let b_tile = rows(4096, d, &device).try_into_vec_as::<f32>().unwrap();
    let mut out = vec![0f32; 512 * 4096];
    group.bench_function("gemm", |bencher| {
        bencher.iter(|| common::gemm_over(&q, &b_tile, &mut out, nq, nb, d))
    });
    group.finish();
}

fn coreset(c: &mut Criterion) {
    let device = Device::flex();
    let features = rows(32_000, 1024, &device);
    let mut group = c.benchmark_group("coreset");
    group.sample_size(10);
    group.bench_function("16000_of_32000", |b| {
        b.iter(|| {
            greedy_coreset(
                &features,
                &CoresetConfig {
                    size: CoresetSize::Count(16_000),
                    ..CoresetConfig::default()
                },
                0,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, nearest, coreset);
criterion_main!(benches);
