//! Detector files: `Detector::load_with` on arbitrary contents must return, never panic or abort.
//! The input is a file without its trailing SHA-256, which the target appends, so that mutations
//! reach the header and payload checks rather than stopping at the checksum. The bundled Xception
//! weights are in the weights store, so a header that passes its checks goes on to load the
//! backbone and the payload (a burnpack record or a bank). Seeds: a discriminator and a K = 0
//! detector (make_seeds).
#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wscxr::burn::prelude::Device;
use wscxr::{Detector, WeightsStore};

fn store() -> &'static WeightsStore {
    static STORE: OnceLock<WeightsStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = WeightsStore::new(common::scratch().join("weights"));
        store
            .add(&common::checkout().join(wscxr::BUNDLED_XCEPTION))
            .expect("the bundled weights (run from a checkout with assets/)");
        store
    })
}

fuzz_target!(|data: &[u8]| {
    let store = store();
    let path = common::scratch().join("detector.wscxr");
    std::fs::write(&path, common::with_checksum(data)).expect("write");
    if let Ok(detector) = Detector::load_with(&path, store, &Device::flex()) {
        // A file that loads must also score without a panic.
        let image = common::checkout().join("tests/fixtures/resize_src_rgb.png");
        let _ = detector.score(&[image]);
    }
});
