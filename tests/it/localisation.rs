//! Localisation end to end: an evaluation with radiologists' boxes reports the pointing game,
//! its chance level and the boxed images' image AUROC, on the bundled X-rays.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use wscxr::WscxrConfig;
use wscxr::eval::{BoxedImages, Evaluation, Protocol, SplitOptions, Splits};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/quickstart")
}

#[test]
fn an_evaluation_with_boxes_reports_localisation_and_boxed_auroc() {
    let options = SplitOptions {
        eval_split: "test".into(),
        val_split: "none".into(),
        val_fraction: 0.25,
        protocol: Protocol::Honest,
    };
    let splits = Splits::from_folder(&assets(), &options).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("boxes.csv");
    // Two boxes cover whole 224 x 224 images (the maximum must be inside); one covers a 10 x 10
    // corner.
    std::fs::write(
        &csv,
        "image,finding,x,y,w,h\n\
         person115_virus_219.png,Pneumonia,0,0,224,224\n\
         person1214_bacteria_3166.png,Pneumonia,0,0,224,224\n\
         person1240_bacteria_3196.png,Nodule,0,0,10,10\n",
    )
    .unwrap();
    let boxed = BoxedImages::read(&csv, &assets().join("test/anomaly")).unwrap();
    let splits = splits.with_boxes(boxed).unwrap();
    let mut config = WscxrConfig {
        image_size: 128,
        ..WscxrConfig::default()
    };
    config.train.epochs = 2;
    let evaluation = Evaluation::new(config, &splits, None, &Device::flex(), &mut ()).unwrap();
    let run = evaluation.run(2, 0, &mut ()).unwrap();
    let boxed = run.boxed.expect("boxed images were given");
    let l = &boxed.localisation;
    assert_eq!(l.images, 3);
    let expected_chance = (2.0 + 100.0 / (224.0 * 224.0)) / 3.0;
    assert!((l.chance - expected_chance).abs() < 1e-9, "{}", l.chance);
    assert!(
        l.pointing_game >= 2.0 / 3.0 - 1e-9,
        "whole-image boxes are always hit: {}",
        l.pointing_game
    );
    assert_eq!(l.per_finding["Pneumonia"].hits, 2);
    assert_eq!(l.per_finding["Nodule"].images, 1);
    let auroc = boxed.image_auroc.expect("boxed against the eval normals");
    assert!((0.0..=1.0).contains(&auroc), "{auroc}");
    let pixel = l.pixel_auroc.expect("inside and outside pixels");
    assert!((0.0..=1.0).contains(&pixel), "{pixel}");
}
