//! The end-to-end pipeline on the bundled quickstart X-rays and weights (no ../shared needed).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use wscxr::detector::{Discriminator, EpochReport};

use crate::common::fit;
use wscxr::{
    Detector, Observer, Stage, ThresholdRule, TrainingSet, Validation, WeightsStore, Wscxr,
    WscxrConfig, WscxrError, draw_abnormal, list_images,
};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/quickstart")
}

/// A small, quick configuration: 128 px (a 4x4 grid), 3 epochs.
fn small_config() -> WscxrConfig {
    let mut config = WscxrConfig {
        image_size: 128,
        ..WscxrConfig::default()
    };
    config.train.epochs = 3;
    config
}

fn data() -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let normals = list_images(assets().join("train/normal")).unwrap()[..10].to_vec();
    let abnormals = list_images(assets().join("train/anomaly")).unwrap()[..2].to_vec();
    let mut tests = list_images(assets().join("test/normal")).unwrap()[..2].to_vec();
    tests.extend(list_images(assets().join("test/anomaly")).unwrap()[..2].to_vec());
    (normals, abnormals, tests)
}

fn scores(detector: &Detector, tests: &[PathBuf]) -> Vec<f32> {
    detector
        .score(tests)
        .unwrap()
        .iter()
        .map(|s| s.score)
        .collect()
}

#[test]
fn same_seed_same_scores_and_save_load_round_trip() {
    let device = Device::flex();
    let (normals, abnormals, tests) = data();
    let config = small_config();
    let a = fit(&normals, &abnormals, &config, &device).unwrap();
    let b = fit(&normals, &abnormals, &config, &device).unwrap();
    let scores_a = scores(&a, &tests);
    assert_eq!(scores_a, scores(&b, &tests), "same seed, same scores");
    assert!(scores_a.iter().all(|s| s.is_finite()));
    let other = fit(
        &normals,
        &abnormals,
        &WscxrConfig {
            seed: 1,
            ..config.clone()
        },
        &device,
    )
    .unwrap();
    assert_ne!(
        scores_a,
        scores(&other, &tests),
        "another seed, other scores"
    );

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("detector.wscxr");
    a.save(&file).unwrap();
    let loaded = Detector::load(&file, &device).unwrap();
    assert_eq!(
        scores(&loaded, &tests),
        scores_a,
        "a loaded detector scores identically"
    );
    let scored = loaded.score(&tests[..1]).unwrap();
    assert_eq!(scored[0].grid, [4, 4]);
    let map = scored[0].anomaly_map(128, 4.0);
    assert_eq!(map.len(), 128 * 128);
    assert!(map.iter().all(|v| v.is_finite()));

    // Tampering with the weights, the version or the magic is rejected with a clear error.
    let bytes = std::fs::read(&file).unwrap();
    let mut tampered = bytes.clone();
    let last = tampered.len() - 3;
    tampered[last] ^= 0x55;
    std::fs::write(tmp.path().join("tampered.wscxr"), &tampered).unwrap();
    let err = Detector::load(tmp.path().join("tampered.wscxr"), &device).unwrap_err();
    assert!(err.to_string().contains("corrupted"), "{err}");
    let mut version = bytes.clone();
    version[8..12].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(tmp.path().join("version.wscxr"), &version).unwrap();
    let err = Detector::load(tmp.path().join("version.wscxr"), &device).unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
    std::fs::write(
        tmp.path().join("garbage.wscxr"),
        b"hello world, not a detector",
    )
    .unwrap();
    let err = Detector::load(tmp.path().join("garbage.wscxr"), &device).unwrap_err();
    assert!(matches!(err, WscxrError::DetectorFile { .. }), "{err}");
}

#[test]
fn unsupervised_detector_through_the_same_api() {
    let device = Device::flex();
    let (normals, _, tests) = data();
    let detector = fit(&normals, &[], &small_config(), &device).unwrap();
    assert!(detector.is_unsupervised());
    let s = scores(&detector, &tests);
    assert!(s.iter().all(|v| v.is_finite() && *v >= 0.0));
    let tmp = tempfile::tempdir().unwrap();
    detector.save(tmp.path().join("pc.wscxr")).unwrap();
    let loaded = Detector::load(tmp.path().join("pc.wscxr"), &device).unwrap();
    assert_eq!(scores(&loaded, &tests), s);
}

#[test]
fn bad_folders_and_k_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = list_images(tmp.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    std::fs::write(tmp.path().join("empty/readme.txt"), "no images").unwrap();
    let err = list_images(tmp.path().join("empty")).unwrap_err();
    assert!(err.to_string().contains("no .png"), "{err}");
    let pool = list_images(assets().join("train/anomaly")).unwrap();
    let err = draw_abnormal(&pool, pool.len() + 1, 0).unwrap_err();
    assert!(err.to_string().contains("only 4"), "{err}");
    assert_eq!(
        draw_abnormal(&pool, 2, 3).unwrap(),
        draw_abnormal(&pool, 2, 3).unwrap()
    );
    let err = fit(&[], &pool, &small_config(), &Device::flex()).unwrap_err();
    assert_eq!(err.invalid_parameter(), Some("normal images"), "{err}");
}

#[test]
fn a_corrupt_training_image_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut normals, abnormals, _) = data();
    let bad = tmp.path().join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\n garbage").unwrap();
    normals.push(bad);
    let err = fit(&normals, &abnormals, &small_config(), &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("broken.png"), "{err}");
}

#[test]
fn mlp_discriminator_trains_saves_and_loads() {
    let device = Device::flex();
    let (normals, abnormals, tests) = data();
    let mut config = small_config();
    config.discriminator.hidden = vec![64];
    let detector = fit(&normals, &abnormals, &config, &device).unwrap();
    let s = scores(&detector, &tests);
    assert!(s.iter().all(|v| v.is_finite()));
    let tmp = tempfile::tempdir().unwrap();
    detector.save(tmp.path().join("mlp.wscxr")).unwrap();
    let loaded = Detector::load(tmp.path().join("mlp.wscxr"), &device).unwrap();
    assert_eq!(scores(&loaded, &tests), s);
}

/// Records what a fit reports, and stops training after `stop_after` epochs.
struct Recorder {
    stages: Vec<Stage>,
    epochs: Vec<usize>,
    stop_after: usize,
}

impl Observer for Recorder {
    fn progress(&mut self, stage: Stage, _done: usize, _total: usize) {
        if self.stages.last() != Some(&stage) {
            self.stages.push(stage);
        }
    }

    fn epoch(&mut self, report: EpochReport, _d: &Discriminator) -> ControlFlow<()> {
        self.epochs.push(report.epoch);
        if report.epoch >= self.stop_after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[test]
fn the_observer_sees_every_stage_in_order_and_can_stop_training() {
    let (normals, abnormals, _) = data();
    let mut recorder = Recorder {
        stages: Vec::new(),
        epochs: Vec::new(),
        stop_after: 2,
    };
    let training = TrainingSet::new(normals, abnormals);
    let detector = Wscxr::new(small_config())
        .unwrap()
        .observer(&mut recorder)
        .fit(&training, &Device::flex())
        .unwrap();
    assert!(!detector.is_unsupervised());
    assert_eq!(
        recorder.stages,
        [
            Stage::NormalFeatures,
            Stage::AbnormalFeatures,
            Stage::NormalBank,
            Stage::Mining,
            Stage::Training
        ]
    );
    assert_eq!(recorder.epochs, [1, 2], "Break after epoch 2 ends training");
}

/// Asks to stop once `stage` has reported progress `after` times.
struct StopIn {
    stage: Stage,
    after: usize,
    reports: usize,
    asked: usize,
}

impl StopIn {
    fn new(stage: Stage, after: usize) -> Self {
        Self {
            stage,
            after,
            reports: 0,
            asked: 0,
        }
    }
}

impl Observer for StopIn {
    fn progress(&mut self, stage: Stage, _done: usize, _total: usize) {
        if stage == self.stage {
            self.reports += 1;
        }
    }

    fn interrupted(&mut self) -> bool {
        self.asked += 1;
        self.reports >= self.after
    }
}

#[test]
fn an_observer_stops_a_fit_or_a_scoring_run_between_batches() {
    let device = Device::flex();
    let (normals, abnormals, tests) = data();
    let training = TrainingSet::new(normals.clone(), abnormals.clone());
    // Extraction stops after its first batch, training after its first epoch.
    for stage in [
        Stage::NormalFeatures,
        Stage::AbnormalFeatures,
        Stage::Training,
    ] {
        let mut stop = StopIn::new(stage, 1);
        let err = Wscxr::new(small_config())
            .unwrap()
            .observer(&mut stop)
            .fit(&training, &device)
            .unwrap_err();
        assert!(
            matches!(err, WscxrError::Interrupted { stage: s } if s == stage),
            "{stage}: {err}"
        );
    }
    let detector = fit(&normals, &abnormals, &small_config(), &device).unwrap();
    let mut stop = StopIn::new(Stage::Scoring, 1);
    let err = detector.score_observed(&tests, &mut stop).unwrap_err();
    assert!(
        matches!(
            err,
            WscxrError::Interrupted {
                stage: Stage::Scoring
            }
        ),
        "{err}"
    );
    // An observer that never asks to stop was asked, and changes nothing.
    let mut never = StopIn::new(Stage::Scoring, usize::MAX);
    let scored = detector.score_observed(&tests, &mut never).unwrap();
    assert!(never.asked > 0);
    assert_eq!(
        scored.iter().map(|s| s.score).collect::<Vec<_>>(),
        scores(&detector, &tests)
    );
}

#[test]
fn a_detector_copied_elsewhere_finds_its_weights_by_hash() {
    let device = Device::flex();
    let (normals, abnormals, tests) = data();
    let tmp = tempfile::tempdir().unwrap();
    // The machine it was fitted on: a checkout whose weights file is later removed.
    let fitting = tmp.path().join("fitting-checkout");
    std::fs::create_dir_all(&fitting).unwrap();
    let weights = fitting.join("weights.bpk");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(wscxr::BUNDLED_XCEPTION),
        &weights,
    )
    .unwrap();
    let config = WscxrConfig {
        weights: Some(weights.clone()),
        ..small_config()
    };
    let detector = fit(&normals, &abnormals, &config, &device).unwrap();
    let expected = scores(&detector, &tests);
    detector.save(fitting.join("d.wscxr")).unwrap();

    // Another machine: the detector file copied, the checkout gone, the weights only in a store.
    let elsewhere = tmp.path().join("elsewhere");
    let store = WeightsStore::new(elsewhere.join("weights"));
    let stored = store.add(&weights).unwrap();
    assert_eq!(
        stored.file_name().unwrap().to_str().unwrap(),
        format!("{}.bpk", wscxr::BUNDLED_XCEPTION_SHA256)
    );
    std::fs::copy(fitting.join("d.wscxr"), elsewhere.join("d.wscxr")).unwrap();
    std::fs::remove_dir_all(&fitting).unwrap();
    let loaded = Detector::load_with(elsewhere.join("d.wscxr"), &store, &device).unwrap();
    assert_eq!(
        scores(&loaded, &tests),
        expected,
        "same scores after the move"
    );

    // Weights that are nowhere: the error names their hash.
    let missing = "0123456789abcdef".repeat(4);
    let empty = WeightsStore::new(tmp.path().join("empty"));
    let err = wscxr::LoadedBackbone::load_by_hash(&small_config(), &missing, &empty, &device)
        .unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
}

#[test]
fn a_calibrated_detector_decides_and_keeps_its_calibration_through_a_file() {
    let device = Device::flex();
    let (_, abnormals, tests) = data();
    let normals = list_images(assets().join("train/normal")).unwrap();
    let training = TrainingSet::new(normals.clone(), abnormals);
    let detector = Wscxr::new(small_config())
        .unwrap()
        .calibrate(
            Validation::CarveNormals(0.25),
            ThresholdRule::Specificity(0.8),
        )
        .fit(&training, &device)
        .unwrap();
    let calibration = detector.calibration().expect("calibrated").clone();
    // A quarter of the 24 normals, whole patients at a time, and none of them fitted.
    assert!(
        (5..=7).contains(&calibration.normal_images),
        "{calibration:?}"
    );
    assert_eq!(calibration.abnormal_images, 0);
    assert_eq!(
        detector.report().normal_images + calibration.normal_images,
        normals.len()
    );
    let scored = detector.score(&tests).unwrap();
    for s in &scored {
        assert_eq!(s.abnormal, Some(s.score >= calibration.threshold));
        let n = s.normalized.expect("a normalised score");
        assert!((0.0..=1.0).contains(&n), "{n}");
    }
    let tmp = tempfile::tempdir().unwrap();
    detector.save(tmp.path().join("c.wscxr")).unwrap();
    let loaded = Detector::load(tmp.path().join("c.wscxr"), &device).unwrap();
    assert_eq!(loaded.calibration(), Some(&calibration));
    assert_eq!(loaded.score(&tests).unwrap(), scored);
    // An uncalibrated detector says nothing it does not know.
    let plain = fit(&normals[..10], &[], &small_config(), &device).unwrap();
    assert!(plain.score(&tests[..1]).unwrap()[0].abnormal.is_none());
}

/// A self-contained file: the weights travel inside it, so it loads on a machine whose weights
/// store is empty (and fills it), and scores as before.
#[test]
fn a_detector_with_embedded_weights_loads_where_no_weights_are() {
    let device = Device::flex();
    let (normals, abnormals, tests) = data();
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("weights.bpk");
    let sha256 = crate::common::full_precision_weights(&weights, &device);
    let config = WscxrConfig {
        weights: Some(weights.clone()),
        ..small_config()
    };
    let detector = fit(&normals, &abnormals, &config, &device).unwrap();
    let file = tmp.path().join("self-contained.wscxr");
    detector.save_with_weights(&file).unwrap();
    let plain = tmp.path().join("plain.wscxr");
    detector.save(&plain).unwrap();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(size(&file) > size(&plain) + size(&weights) - 1024);
    std::fs::remove_file(&weights).unwrap();

    let empty = WeightsStore::new(tmp.path().join("empty-store"));
    assert!(
        Detector::load_with(&plain, &empty, &device).is_err(),
        "the plain file needs its weights"
    );
    let loaded = Detector::load_with(&file, &empty, &device).unwrap();
    assert_eq!(scores(&loaded, &tests), scores(&detector, &tests));
    assert_eq!(loaded.colour_scale(), detector.colour_scale());
    assert!(
        !empty.dir().exists(),
        "loading wrote nothing: the embedded weights are used from memory"
    );
    // A store that cannot be written (its folder would sit under a regular file) does not stop
    // a self-contained file from loading.
    let unwritable = WeightsStore::new(plain.join("store"));
    let again = Detector::load_with(&file, &unwritable, &device).unwrap();
    assert_eq!(scores(&again, &tests), scores(&detector, &tests));
    // Stored only when asked, by hash; and saved again with the weights it holds in memory.
    let stored = loaded.store_weights(&empty).unwrap();
    assert_eq!(wscxr::file_sha256(&stored).unwrap(), sha256);
    let resaved = tmp.path().join("resaved.wscxr");
    loaded.save_with_weights(&resaved).unwrap();
    let other_empty = WeightsStore::new(tmp.path().join("other-empty"));
    let reloaded = Detector::load_with(&resaved, &other_empty, &device).unwrap();
    assert_eq!(scores(&reloaded, &tests), scores(&detector, &tests));

    // Embedded weights that do not hash to the SHA-256 the header names: refused.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 32 - 1000;
    bytes[at] ^= 0x55;
    let body = bytes.len() - 32;
    let checksum = <sha2::Sha256 as sha2::Digest>::digest(&bytes[..body]);
    bytes[body..].copy_from_slice(&checksum);
    let tampered = tmp.path().join("tampered.wscxr");
    std::fs::write(&tampered, bytes).unwrap();
    let other = WeightsStore::new(tmp.path().join("other-store"));
    let err = Detector::load_with(&tampered, &other, &device).unwrap_err();
    assert!(err.to_string().contains("embedded weights"), "{err}");
}

/// Calibration settings that could only fail after the fit are refused before any stage runs:
/// the observer hears nothing.
#[test]
fn bad_calibration_is_refused_before_any_image_is_read() {
    let (normals, abnormals, tests) = data();
    let training = TrainingSet::new(normals.clone(), abnormals);
    let labelled = |normal: &[PathBuf], abnormal: &[PathBuf]| {
        Validation::Images(wscxr::eval::LabelledImages::new(
            normal.to_vec(),
            abnormal.to_vec(),
        ))
    };
    let (test_normals, test_abnormals) = (&tests[..2], &tests[2..]);
    let cases = [
        (
            Validation::CarveNormals(0.2),
            ThresholdRule::Specificity(1.5),
            "specificity",
        ),
        (
            Validation::CarveNormals(0.2),
            ThresholdRule::Youden,
            "carved normal images",
        ),
        (
            labelled(test_normals, &[]),
            ThresholdRule::MaxF1,
            "needs abnormal validation images",
        ),
        (
            labelled(&[], test_abnormals),
            ThresholdRule::Specificity(0.9),
            "needs normal validation images",
        ),
        (
            labelled(&[normals[3].clone()], test_abnormals),
            ThresholdRule::Youden,
            "the same image as the training image",
        ),
    ];
    for (validation, rule, expected) in cases {
        let mut recorder = Recorder {
            stages: Vec::new(),
            epochs: Vec::new(),
            stop_after: usize::MAX,
        };
        let error = Wscxr::new(small_config())
            .unwrap()
            .observer(&mut recorder)
            .calibrate(validation, rule)
            .fit(&training, &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{rule:?}: {error}");
        assert!(
            recorder.stages.is_empty(),
            "{rule:?} was refused only after {:?}",
            recorder.stages
        );
    }
}

/// A builder holding an observer, and a fitted detector, can move to another thread (a service
/// fits or scores off its request thread).
#[test]
fn builders_with_observers_and_detectors_are_send() {
    fn send<T: Send>(_: &T) {}
    let mut recorder = Recorder {
        stages: Vec::new(),
        epochs: Vec::new(),
        stop_after: usize::MAX,
    };
    let builder = Wscxr::new(small_config()).unwrap().observer(&mut recorder);
    send(&builder);
    let (normals, abnormals, tests) = data();
    let training = TrainingSet::new(normals, abnormals);
    let detector = std::thread::scope(|scope| {
        scope
            .spawn(move || builder.fit(&training, &Device::flex()))
            .join()
            .unwrap()
    })
    .unwrap();
    send(&detector);
    assert_eq!(recorder.stages.first(), Some(&Stage::NormalFeatures));
    // score_each takes what score takes: here the paths themselves, not a slice of Xray.
    let mut each = Vec::new();
    detector
        .score_each(&tests, &mut (), |image| {
            each.push(image.score);
            Ok(())
        })
        .unwrap();
    assert_eq!(each, scores(&detector, &tests));
}
