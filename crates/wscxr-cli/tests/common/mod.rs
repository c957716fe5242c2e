//! What the program's end-to-end tests share: the checkout, running `wscxr`, a small real
//! detector.
#![allow(dead_code)]

// The opt-out protocol of the library's tests (`.ci/run` counts the skips it records).
#[path = "../../../../tests/it/opt_out.rs"]
pub mod opt_out;
pub mod server;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Command;

use wscxr::burn::prelude::Device;
use wscxr::{Detector, ThresholdRule, TrainingSet, Validation, Wscxr, WscxrConfig, list_images};

/// The workspace root.
pub fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the built `wscxr` with `args`.
pub fn wscxr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wscxr"))
        .args(args)
        .output()
        .expect("the wscxr binary runs")
}

/// The small detectors' setup: 128 px input (a 4x4 grid), 2 epochs, the first `normals` normal
/// and 2 abnormal bundled X-rays.
fn small_setup(normals: usize) -> (WscxrConfig, TrainingSet) {
    let assets = checkout().join("assets/quickstart");
    let mut config = WscxrConfig {
        image_size: 128,
        weights: Some(checkout().join(wscxr::BUNDLED_XCEPTION)),
        ..WscxrConfig::default()
    };
    config.train.epochs = 2;
    let training = TrainingSet::new(
        list_images(assets.join("train/normal")).unwrap()[..normals].to_vec(),
        list_images(assets.join("train/anomaly")).unwrap()[..2].to_vec(),
    );
    (config, training)
}

/// A small real detector (see [`small_setup`], 8 normal X-rays), saved as `dir/d.wscxr`.
pub fn small_detector(dir: &Path) -> (Detector, PathBuf) {
    let (config, training) = small_setup(8);
    let detector = Wscxr::new(config)
        .unwrap()
        .fit(&training, &Device::flex())
        .unwrap();
    let file = dir.join("d.wscxr");
    detector.save(&file).unwrap();
    (detector, file)
}

/// A small real detector calibrated: 12 normal X-rays of which a quarter (whole patients) set the
/// threshold at specificity 0.95, saved as `dir/calibrated.wscxr`.
pub fn small_calibrated_detector(dir: &Path) -> (Detector, PathBuf) {
    let (config, training) = small_setup(12);
    let detector = Wscxr::new(config)
        .unwrap()
        .calibrate(
            Validation::CarveNormals(0.25),
            ThresholdRule::Specificity(0.95),
        )
        .fit(&training, &Device::flex())
        .unwrap();
    assert!(detector.calibration().is_some());
    let file = dir.join("calibrated.wscxr");
    detector.save(&file).unwrap();
    (detector, file)
}
