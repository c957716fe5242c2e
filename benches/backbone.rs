//! Backbone forward passes, 256x256 input, batch 1 and 8, stopping at each tap, on every CPU backend
//! of the build (and wgpu with its feature). Weights are the architectures' (lazy, random)
//! initialisation: speed does not depend on their values, and no weight file is needed.
//!
//! `cargo bench --bench backbone [--features ndarray,wgpu]`; throughput is reported in images/s.
//!
//! A second group, `backbone/paths`, times `Backbone::forward` to the deepest taps on flex through
//! the host path and through burn's operators (folded weights): Xception from the bundled record,
//! DenseNet-121 from `../shared/fixtures/densenet121_synthetic.onnx` when it is there.

use burn::prelude::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wscxr::backbone::{DENSENET121_TAPS, DenseNet121, XCEPTION_TAPS, Xception};

fn forward(c: &mut Criterion) {
    let backends: Vec<&str> = std::env::var("WSCXR_BENCH_BACKENDS")
        .map(|v| v.split(',').map(|s| &*s.to_string().leak()).collect())
        .unwrap_or_else(|_| {
            let all = wscxr::device::available_backends();
            all.into_iter()
                .filter(|b| matches!(*b, "flex" | "ndarray" | "wgpu"))
                .collect()
        });
    for backend in backends {
        let device = wscxr::device::device(backend).expect("backend of this build");
        let xception = Xception::new(&device);
        let densenet = DenseNet121::new(&device);
        let mut group = c.benchmark_group(format!("backbone/{backend}"));
        group.sample_size(10);
        group.measurement_time(std::time::Duration::from_secs(8));
        for batch in [1usize, 8] {
            group.throughput(Throughput::Elements(batch as u64));
            let x = Tensor::<4>::random(
                [batch, 3, 256, 256],
                burn::tensor::Distribution::Default,
                &device,
            );
            for (tap_index, tap) in XCEPTION_TAPS.iter().enumerate() {
                group.bench_with_input(
                    BenchmarkId::new(format!("xception/{tap}"), batch),
                    &x,
                    |b, x| {
                        b.iter(|| {
                            let maps = xception.forward_taps(x.clone(), tap_index);
                            maps.last().expect("a map").to_data()
                        })
                    },
                );
            }
            for (tap_index, tap) in DENSENET121_TAPS.iter().enumerate() {
                group.bench_with_input(
                    BenchmarkId::new(format!("densenet121/{tap}"), batch),
                    &x,
                    |b, x| {
                        b.iter(|| {
                            let maps = densenet.forward_taps(x.clone(), tap_index);
                            maps.last().expect("a map").to_data()
                        })
                    },
                );
            }
        }
        group.finish();
    }
}

fn paths(c: &mut Criterion) {
    use wscxr::backbone::{Backbone, Network};
    let device = Device::flex();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut backbones = Vec::new();
    match Backbone::from_record(
        Network::Xception,
        root.join(wscxr::BUNDLED_XCEPTION),
        &device,
    ) {
        Ok(b) => backbones.push(b),
        Err(e) => eprintln!("skipping Xception: {e}"),
    }
    let densenet = root.join("../shared/fixtures/densenet121_synthetic.onnx");
    match Backbone::from_onnx(Network::DenseNet121, &densenet, &device) {
        Ok(b) => backbones.push(b),
        Err(e) => eprintln!("skipping DenseNet-121 (needs ../shared): {e}"),
    }
    let mut group = c.benchmark_group("backbone/paths");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(8));
    for host in backbones {
        let network = host.network();
        let tap = *network.taps().last().expect("a tap");
        let burn = host.clone().with_host_path(false).expect("burn path");
        for batch in [1usize, 8] {
            group.throughput(Throughput::Elements(batch as u64));
            let x = Tensor::<4>::random(
                [batch, 3, 256, 256],
                burn::tensor::Distribution::Default,
                &device,
            );
            for (path, backbone) in [("host", &host), ("burn", &burn)] {
                group.bench_with_input(
                    BenchmarkId::new(format!("{network}/{tap}/{path}"), batch),
                    &x,
                    |b, x| {
                        b.iter(|| {
                            let maps = backbone.forward(x.clone(), &[tap]).expect("forward");
                            maps.into_iter().map(Tensor::into_data).count()
                        })
                    },
                );
            }
        }
    }
    group.finish();
}

criterion_group!(benches, forward, paths);
criterion_main!(benches);
