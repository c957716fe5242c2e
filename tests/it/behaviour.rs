//! The method detects: on the bundled quickstart X-rays (24 normal + 4 abnormal training images,
//! 6 + 6 held-back test images; no ../shared needed) the fitted detector ranks abnormal images
//! above normal ones. These tests fail when the score's sign, the hinge loss, the mixing or the
//! features are broken, which the determinism and save/load tests in pipeline.rs cannot see.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use wscxr::{Detector, WscxrConfig, list_images};

use crate::common::fit;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/quickstart")
}

struct Quickstart {
    normals: Vec<PathBuf>,
    abnormals: Vec<PathBuf>,
    tests: Vec<PathBuf>,
    labels: Vec<bool>,
}

fn quickstart() -> Quickstart {
    let test_normal = list_images(assets().join("test/normal")).unwrap();
    let test_abnormal = list_images(assets().join("test/anomaly")).unwrap();
    let labels = [
        vec![false; test_normal.len()],
        vec![true; test_abnormal.len()],
    ]
    .concat();
    Quickstart {
        normals: list_images(assets().join("train/normal")).unwrap(),
        abnormals: list_images(assets().join("train/anomaly")).unwrap(),
        tests: [test_normal, test_abnormal].concat(),
        labels,
    }
}

/// The probability that an abnormal image outscores a normal one (ties count half), computed
/// here rather than with `wscxr::metrics` so that a bug there cannot hide one in the detector.
/// Fails on any non-finite score.
fn auroc(scores: &[f32], labels: &[bool]) -> f64 {
    assert!(
        scores.iter().all(|s| s.is_finite()),
        "non-finite scores: {scores:?}"
    );
    let mut wins = 0.0;
    let mut pairs = 0.0;
    for (a, _) in scores.iter().zip(labels).filter(|(_, l)| **l) {
        for (n, _) in scores.iter().zip(labels).filter(|(_, l)| !**l) {
            pairs += 1.0;
            wins += if a > n {
                1.0
            } else if a == n {
                0.5
            } else {
                0.0
            };
        }
    }
    assert!(pairs > 0.0, "need both classes");
    wins / pairs
}

fn test_auroc(detector: &Detector, data: &Quickstart) -> f64 {
    let scored = detector.score(&data.tests).unwrap();
    let scores: Vec<f32> = scored.iter().map(|s| s.score).collect();
    let value = auroc(&scores, &data.labels);
    println!("scores {scores:?}: AUROC {value:.3}");
    value
}

/// The official configuration (256 px, Xception block13_out, linear D, 30 epochs), K = 4. It
/// reaches AUROC 0.917 (33 of 36 abnormal-normal pairs ordered correctly); the floor 0.80 allows
/// four pairs fewer, for numerical drift across backends and burn versions. Measured with the
/// method broken by hand: score sign flipped 0.167, hinge margin sign flipped 0.722, mixing
/// alpha forced to 0 (fakes = normals) 0.444.
#[test]
fn fitted_detector_ranks_abnormal_above_normal() {
    let data = quickstart();
    let detector = fit(
        &data.normals,
        &data.abnormals,
        &WscxrConfig::default(),
        &Device::flex(),
    )
    .unwrap();
    let value = test_auroc(&detector, &data);
    assert!(value >= 0.80, "AUROC {value:.3} below the floor 0.80");
}

/// K = 0: the unsupervised PatchCore detector (max distance to the normal bank) on the same
/// split reaches AUROC 0.750 (27 of 36 pairs), the baseline that the four abnormal images raise
/// to 0.917. The floor allows three pairs fewer; a detector ranking at random sits at 0.5.
#[test]
fn unsupervised_detector_ranks_abnormal_above_normal() {
    let data = quickstart();
    let detector = fit(&data.normals, &[], &WscxrConfig::default(), &Device::flex()).unwrap();
    assert!(detector.is_unsupervised());
    let value = test_auroc(&detector, &data);
    assert!(value >= 0.65, "AUROC {value:.3} below the floor 0.65");
}
