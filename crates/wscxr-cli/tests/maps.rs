//! `wscxr score --maps` writes each image's anomaly map as a `.npy` file that reads back as the
//! library's map; `--boxes` outlines radiologists' boxes on the heatmaps.

mod common;

use std::path::{Path, PathBuf};

use common::{checkout, small_detector, wscxr};
use wscxr::{Radiograph, list_images};

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

#[test]
fn maps_read_back_as_the_library_map_and_boxes_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let (detector, file) = small_detector(dir.path());
    let inputs = checkout().join("assets/quickstart/test/anomaly");
    let (maps, heatmaps) = (dir.path().join("maps"), dir.path().join("heatmaps"));
    let boxes = dir.path().join("boxes.csv");
    // A box around the top-left quarter of one 224 x 224 image.
    std::fs::write(
        &boxes,
        "image,finding,x,y,w,h\nperson115_virus_219.png,Pneumonia,20,30,60,50\n",
    )
    .unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let run = wscxr(&[
        "score",
        "--quiet",
        "--detector",
        &path(&file),
        "--maps",
        &path(&maps),
        "--heatmaps",
        &path(&heatmaps),
        "--boxes",
        &path(&boxes),
        "--csv",
        &path(&dir.path().join("scores.csv")),
        &path(&inputs),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let images = list_images(&inputs).unwrap();
    assert_eq!(images.len(), 6);
    for image in &images {
        let stem = image.file_stem().unwrap().to_string_lossy();
        let (shape, values) = read_npy(&maps.join(format!("{stem}.npy")));
        let radiograph = Radiograph::read(image).unwrap();
        let size = [radiograph.height() as usize, radiograph.width() as usize];
        assert_eq!(shape, vec![size[0] as u64, size[1] as u64], "{stem}");
        let expected = detector.score([image.clone()]).unwrap()[0]
            .map(size)
            .unwrap();
        let worst = values
            .iter()
            .zip(expected.values())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, |m, d| {
                if d.is_nan() || m.is_nan() {
                    f32::NAN
                } else {
                    m.max(d)
                }
            });
        assert!(worst <= 1e-5, "{stem}: the map differs by {worst}");
        // The map varies: not a constant written in place of the scores.
        let spread = expected.argmax().0
            - expected
                .values()
                .iter()
                .copied()
                .fold(f32::INFINITY, f32::min);
        assert!(spread > 0.0, "{stem}: a flat map");
    }
    let pictures: Vec<PathBuf> = std::fs::read_dir(&heatmaps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pictures.len(), 6);
    let boxed = pictures
        .iter()
        .find(|p| p.to_string_lossy().contains("person115_virus_219"))
        .unwrap();
    let plain = pictures
        .iter()
        .find(|p| p.to_string_lossy().contains("person1214_bacteria_3166"))
        .unwrap();
    let rgb = |p: &Path| {
        let picture = Radiograph::read(p).unwrap().pixels().to_rgb8();
        (picture.width(), picture.into_raw())
    };
    let (boxed, plain) = (rgb(boxed), rgb(plain));
    let white = |(width, raw): &(u32, Vec<u8>), x: u32, y: u32| {
        let at = ((y * width + x) * 3) as usize;
        raw[at..at + 3] == [255, 255, 255]
    };
    // The box's edges (x 20..80, y 30..80) are white, its inside is not, and an image without a
    // box has no outline there.
    assert!(white(&boxed, 20, 30) && white(&boxed, 79, 79) && white(&boxed, 50, 31));
    assert!(!white(&boxed, 50, 55));
    assert!(!white(&plain, 20, 30) || !white(&plain, 50, 31));
}

#[test]
fn two_inputs_of_one_name_are_refused_before_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let assets = checkout().join("assets/quickstart");
    let png = assets.join("test/anomaly");
    let dicom = assets.join("test-dicom/anomaly");
    let run = wscxr(&[
        "score",
        "--quiet",
        "--detector",
        checkout().join("Cargo.toml").to_str().unwrap(),
        "--maps",
        dir.path().to_str().unwrap(),
        png.to_str().unwrap(),
        dicom.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let error = String::from_utf8_lossy(&run.stderr);
    assert!(
        error.contains("--maps") && error.contains("person115_virus_219.npy"),
        "{error}"
    );
}
