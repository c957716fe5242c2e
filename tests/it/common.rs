//! Helpers shared by the integration tests: locating `../shared`, reading `.npy` fixtures,
//! comparing tensors, and the devices to run on.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::prelude::*;

pub use crate::opt_out::{SKIP_SHARED, SKIP_WGPU, cannot_run};

#[test]
fn opt_outs_are_explicit_and_never_honoured_under_ci() {
    use crate::opt_out::opt_out_honoured;
    assert!(opt_out_honoured(None, Some("1")));
    assert!(opt_out_honoured(Some("false"), Some("1")));
    assert!(!opt_out_honoured(None, None), "no opt-out: fail");
    assert!(!opt_out_honoured(None, Some("0")));
    assert!(!opt_out_honoured(None, Some("")));
    assert!(!opt_out_honoured(Some("true"), Some("1")), "CI never skips");
    assert!(!opt_out_honoured(Some("1"), Some("1")), "CI never skips");
}

/// `../shared` (or `$WSCXR_SHARED`). When it is missing the test fails, unless the runner set
/// `WSCXR_SKIP_SHARED=1` outside CI: then it is reported as skipped and the caller returns early.
#[track_caller]
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WSCXR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("fixtures").is_dir() {
        return Some(dir);
    }
    cannot_run(
        &format!(
            "{} not found: this test needs the project's shared data (weights, fixtures, X-rays); \
             put it beside the checkout as ../shared or set WSCXR_SHARED",
            dir.display()
        ),
        SKIP_SHARED,
    );
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

/// `max |a - b|` over equal-length slices, NaN when any element of either is NaN.
///
/// Every number comparison in the tests goes through here (or [`relative_error`]): `f32::max`
/// drops NaN (`NaN.max(x) == x`), so a fold with it lets an all-NaN output pass any tolerance.
pub fn max_abs_diff(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    actual
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, nan_max)
}

/// `max |x|`, NaN when any element is NaN.
pub fn max_abs(values: &[f32]) -> f32 {
    values.iter().map(|v| v.abs()).fold(0f32, nan_max)
}

/// The larger of two numbers, NaN if either is (unlike `f32::max`).
pub fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// Asserts `max |actual - expected| <= tolerance`; NaN or infinity anywhere fails.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32, what: &str) {
    let diff = max_abs_diff(actual, expected);
    // `diff <= tolerance` is false for NaN, so a NaN anywhere fails here.
    assert!(
        diff <= tolerance,
        "{what}: max abs diff {diff:e} exceeds {tolerance:e}"
    );
}

/// `max |a - b| / max |b|`, asserting equal shapes and finite values: NaN or infinity in either
/// is a failure, not a number that a tolerance check could let through.
pub fn relative_error(actual: (Vec<usize>, Vec<f32>), expected: &(Vec<usize>, Vec<f32>)) -> f32 {
    assert_eq!(actual.0, expected.0, "shapes differ");
    let scale = max_abs(&expected.1);
    let diff = max_abs_diff(&actual.1, &expected.1);
    assert!(
        diff.is_finite() && scale.is_finite(),
        "non-finite values (NaN or infinity): max abs diff {diff}, max |expected| {scale}"
    );
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

/// The wgpu device, checked by running a small computation on it. Without one the test fails,
/// unless the runner set `WSCXR_SKIP_WGPU=1` outside CI: then it is reported as skipped and the
/// caller gets `None`. Builds without the `wgpu` feature mark their wgpu tests `#[ignore]`
/// instead, which libtest counts and shows.
#[track_caller]
pub fn gpu_device() -> Option<Device> {
    match wgpu_probe() {
        Ok(device) => Some(device),
        Err(why) => {
            cannot_run(&format!("no working wgpu device: {why}"), SKIP_WGPU);
            None
        }
    }
}

/// Starts the wgpu device once per process and checks that it computes; `device("wgpu")` alone
/// does not touch the adapter (Vulkan), and a missing one panics on first use.
fn wgpu_probe() -> Result<Device, String> {
    use std::sync::OnceLock;
    static PROBE: OnceLock<Result<Device, String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let device = wscxr::device::device("wgpu").map_err(|e| e.to_string())?;
            let probe = device.clone();
            // Element-wise only: Mesa's lavapipe crashes the process compiling reductions.
            let sum = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                Tensor::<1>::from_data(TensorData::new(vec![1f32, 2.0, 4.0], [3]), &probe)
                    .add_scalar(1.0)
                    .try_into_vec_as::<f32>()
                    .map(|v| v.iter().sum::<f32>())
                    .unwrap_or(f32::NAN)
            }))
            .map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the device panicked".into())
            })?;
            if sum == 10.0 {
                Ok(device)
            } else {
                Err(format!("(1, 2, 4) + 1 computed as summing to {sum}"))
            }
        })
        .clone()
}

// The comparison helpers themselves: a NaN anywhere must fail, whatever its position.

#[test]
fn max_abs_diff_is_nan_when_either_side_has_nan() {
    assert!(max_abs_diff(&[1.0, f32::NAN, 3.0], &[1.0, 2.0, 3.0]).is_nan());
    assert!(max_abs_diff(&[1.0, 2.0, 3.0], &[f32::NAN, 2.0, 3.0]).is_nan());
    // A NaN followed by a larger difference, which `f32::max` would have reported instead.
    assert!(max_abs_diff(&[f32::NAN, 100.0], &[0.0, 0.0]).is_nan());
    assert!(max_abs(&[0.5, f32::NAN]).is_nan());
    assert_eq!(max_abs_diff(&[1.0, -2.0], &[1.5, -2.25]), 0.5);
}

#[test]
#[should_panic(expected = "max abs diff NaN")]
fn assert_close_fails_on_nan() {
    assert_close(&[f32::NAN; 4], &[0.0; 4], 1e3, "all-NaN output");
}

#[test]
#[should_panic(expected = "non-finite values")]
fn relative_error_fails_on_nan() {
    relative_error(
        (vec![2, 2], vec![1.0, f32::NAN, 1.0, 1.0]),
        &(vec![2, 2], vec![1.0, 1.0, 1.0, 1.0]),
    );
}

#[test]
#[should_panic(expected = "non-finite values")]
fn relative_error_fails_on_an_all_nan_output() {
    relative_error(
        (vec![3], vec![f32::NAN; 3]),
        &(vec![3], vec![0.5, -1.0, 2.0]),
    );
}

/// Fits a detector through the builder (the tests' short form).
pub fn fit(
    normals: &[std::path::PathBuf],
    abnormals: &[std::path::PathBuf],
    config: &wscxr::WscxrConfig,
    device: &burn::prelude::Device,
) -> Result<wscxr::Detector, wscxr::WscxrError> {
    let training = wscxr::TrainingSet::new(normals.to_vec(), abnormals.to_vec());
    wscxr::Wscxr::new(config.clone())?.fit(&training, device)
}

/// The bundled Xception weights written again at full precision to `path`: real weights of a
/// hash of their own, so that the bundled record cannot stand in for them. Returns their SHA-256.
pub fn full_precision_weights(path: &std::path::Path, device: &Device) -> String {
    wscxr::backbone::Backbone::from_record(
        wscxr::backbone::Network::Xception,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(wscxr::BUNDLED_XCEPTION),
        device,
    )
    .unwrap()
    .save_record(path, wscxr::backbone::Precision::Full)
    .unwrap();
    let sha256 = wscxr::file_sha256(path).unwrap();
    assert_ne!(sha256, wscxr::BUNDLED_XCEPTION_SHA256);
    sha256
}
