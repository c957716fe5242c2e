//! ONNX weight files: `Backbone::from_onnx` on arbitrary bytes must return, never panic, abort or
//! allocate without bound. Seed: `seeds/onnx_weights/tiny.onnx` (make_seeds).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use wscxr::backbone::{Backbone, Network};
use wscxr::burn::prelude::Device;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("weights.onnx");
    std::fs::write(&path, data).expect("write");
    let device = Device::flex();
    // The file names tensors of one network or the other; both read it the same way up to the
    // name check.
    for network in [Network::DenseNet121, Network::Xception] {
        let _ = Backbone::from_onnx(network, &path, &device);
    }
});
