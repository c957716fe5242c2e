//! Helpers shared by the integration tests: locating `../shared`, reading `.npy` fixtures,
//! comparing tensors, and the devices to run on.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::prelude::*;

/// `../shared` (or `$WSCXR_SHARED`). When it is missing, tests that need it print why and return
/// early on a developer's machine, and fail under CI (`CI` set), so that CI never passes silently.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WSCXR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("fixtures").is_dir() {
        return Some(dir);
    }
    let message = format!(
        "{} not found: this test needs the project's shared data (weights, fixtures, X-rays); \
         put it beside the checkout as ../shared or set WSCXR_SHARED",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// A float32 `.npy` file: shape and values.
pub fn read_npy(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    let data = npy
        .into_vec::<f32>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (shape, data)
}

/// A fixture as a tensor on `device`.
pub fn npy_tensor<const D: usize>(path: &std::path::Path, device: &Device) -> Tensor<D> {
    let (shape, data) = read_npy(path);
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// `max |a - b| / max |b|`, asserting equal shapes.
pub fn relative_error(actual: (Vec<usize>, Vec<f32>), expected: &(Vec<usize>, Vec<f32>)) -> f32 {
    assert_eq!(actual.0, expected.0, "shapes differ");
    let scale = expected.1.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = actual
        .1
        .iter()
        .zip(&expected.1)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff.is_finite(), "non-finite values");
    diff / scale
}

/// A tensor's shape and values.
pub fn host<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let shape = t.dims().to_vec();
    (shape, t.try_into_vec_as::<f32>().expect("readback"))
}

/// The CPU devices of this build (flex, and ndarray with its feature).
pub fn cpu_devices() -> Vec<(&'static str, Device)> {
    wscxr::device::available_backends()
        .into_iter()
        .filter(|name| matches!(*name, "flex" | "ndarray"))
        .map(|name| (name, wscxr::device::device(name).unwrap()))
        .collect()
}

/// The wgpu device, when the build has it.
pub fn gpu_device() -> Option<Device> {
    wscxr::device::device("wgpu").ok()
}
