//! Image decoding and preprocessing: `load_image` on arbitrary bytes (PNG, JPEG or anything
//! else) returns an image or an error, never a panic. Memory is bounded by the `image` crate's
//! default limits. Seeds: PNGs and a JPEG (make_seeds).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use wscxr::backbone::{Normalization, load_image};

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("image.png");
    std::fs::write(&path, data).expect("write");
    if let Ok(input) = load_image(&path, 32, Normalization::SymmetricUnit) {
        assert_eq!(input.data.len(), 3 * 32 * 32);
    }
});
