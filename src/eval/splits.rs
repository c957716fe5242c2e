//! Which images play which part: what fits may draw from, what chooses the threshold and what
//! is evaluated, kept apart by patient.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::protocol::Protocol;
use crate::WscxrError;
use crate::data::{check_k, draw_abnormal, list_images};
use crate::fsutil::file_sha256;
use crate::localisation::Boxes;
use crate::patients::{PatientKey, carve_by_patient};
use crate::training_set::{LabelledImages, TrainingSet};

/// The fixed seed of the carve-off, so that every run of a sweep carves the same images.
const CARVE_SEED: u64 = 0x0076_616c;

/// Which folders play which part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// The split that is scored and reported (e.g. `test` or `val`); never `train`.
    pub eval_split: String,
    /// Under the honest protocol, the split that chooses the threshold, when the dataset has it
    /// and it is not the eval split.
    pub val_split: String,
    /// Otherwise this fraction of `train/` (in (0, 1)) is carved off, by patient, to choose it.
    pub val_fraction: f64,
    /// Honest or oracle.
    pub protocol: Protocol,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            eval_split: "test".into(),
            val_split: "val".into(),
            val_fraction: 0.2,
            protocol: Protocol::Honest,
        }
    }
}

impl SplitOptions {
    /// Rejects an eval or validation split named `train` (or not a plain folder name) and a
    /// carve-off fraction outside (0, 1), before any file is read.
    pub fn check(&self) -> Result<(), WscxrError> {
        for (name, split) in [
            ("eval split", &self.eval_split),
            ("val split", &self.val_split),
        ] {
            if split == "train" {
                return Err(WscxrError::invalid(
                    name,
                    split,
                    "train/ is what fits draw from; evaluate on another split",
                ));
            }
            let plain = Path::new(split.as_str())
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if split.is_empty() || !plain {
                return Err(WscxrError::invalid(
                    name,
                    split,
                    "must name a folder inside the dataset",
                ));
            }
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(WscxrError::invalid(
                "val fraction",
                self.val_fraction,
                "must be in (0, 1)",
            ));
        }
        Ok(())
    }
}

/// Where the decision threshold comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdSource {
    /// Youden's J on a validation split that no fit sees.
    Split {
        /// The split's folder name.
        name: String,
    },
    /// Youden's J on images carved off `train/`, whole patients at a time; fits draw only from
    /// the rest.
    CarvedFromTrain {
        /// Normal images carved.
        normal_images: usize,
        /// Abnormal images carved.
        abnormal_images: usize,
        /// Patients carved.
        patients: usize,
        /// The fraction asked for.
        fraction: f64,
        /// Patients that a carve of single images (same fraction and seed) would have split
        /// between the carved and the fitted part.
        image_carve_would_split: usize,
    },
    /// The official code's practice: threshold (and best epoch) chosen on the eval split itself.
    Oracle {
        /// The eval split.
        split: String,
    },
}

impl std::fmt::Display for ThresholdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdSource::Split { name } => write!(f, "Youden's J on the '{name}' split"),
            ThresholdSource::CarvedFromTrain {
                normal_images,
                abnormal_images,
                patients,
                fraction,
                image_carve_would_split,
            } => write!(
                f,
                "Youden's J on {normal_images} normal + {abnormal_images} abnormal images \
                 ({patients} patients, {:.0}%) carved from train/ by patient, disjoint from every \
                 fit (carving single images would have split {image_carve_would_split} patients)",
                fraction * 100.0
            ),
            ThresholdSource::Oracle { split } => write!(
                f,
                "oracle: best epoch and threshold chosen on {split} itself (optimistic)"
            ),
        }
    }
}

/// A dataset laid out for one protocol: what fits may draw from, what chooses the threshold and
/// what is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// The protocol the splits were made for.
    pub protocol: Protocol,
    /// Normal images fits may use.
    pub fit_normals: Vec<PathBuf>,
    /// Abnormal images the K-shot sets are drawn from.
    pub fit_abnormal_pool: Vec<PathBuf>,
    /// Images that choose the threshold (honest protocol only).
    pub threshold: Option<LabelledImages>,
    /// The evaluated images.
    pub eval: LabelledImages,
    /// Where the evaluated images come from: the eval split, or (when the dataset has none) a
    /// part carved off `train/` by patient.
    pub eval_source: String,
    /// Where the threshold comes from, for every output to name.
    pub threshold_source: ThresholdSource,
    /// Images with radiologists' boxes, scored for localisation (see [`Splits::with_boxes`]).
    pub boxed: Option<BoxedImages>,
}

/// Images with radiologists' boxes: a localisation set, and an image-level anomaly set (any
/// finding against the eval split's normal images), kept apart from the K pool.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxedImages {
    /// The boxes, by image.
    pub boxes: Boxes,
    /// The image files, in the boxes file's order.
    pub paths: Vec<PathBuf>,
}

impl BoxedImages {
    /// Reads a boxes CSV (`image,finding,x,y,w,h`); each image is a path relative to `dir`.
    pub fn read(csv: &Path, dir: &Path) -> Result<Self, WscxrError> {
        let boxes = Boxes::read(csv)?;
        let paths = boxes.image_paths(dir)?;
        Ok(Self { boxes, paths })
    }
}

impl Splits {
    /// Lays out the dataset folder `data` for `options`. Refuses a split that shares an image
    /// (by content) with `train/` or with the other split.
    pub fn from_folder(data: &Path, options: &SplitOptions) -> Result<Self, WscxrError> {
        options.check()?;
        let mut fit_normals = list_images(data.join("train/normal"))?;
        let mut fit_abnormal_pool = list_images(data.join("train/anomaly"))?;
        let eval_dir = data.join(&options.eval_split);
        let mut rng = StdRng::seed_from_u64(CARVE_SEED);
        let (eval, eval_source) = if eval_dir.is_dir() {
            (
                LabelledImages::from_folder(&eval_dir)?,
                format!("the '{}' split", options.eval_split),
            )
        } else {
            // A dataset without the split (e.g. nih-dev): evaluate on a patient carve of train/.
            let normal = carve_by_patient(&mut fit_normals, options.val_fraction, &mut rng);
            let anomaly = carve_by_patient(&mut fit_abnormal_pool, options.val_fraction, &mut rng);
            let source = format!(
                "{} normal + {} abnormal images ({} patients, {:.0}%) carved from train/ by \
                 patient, as {}/ does not exist",
                normal.images.len(),
                anomaly.images.len(),
                normal.patients + anomaly.patients,
                options.val_fraction * 100.0,
                options.eval_split
            );
            (LabelledImages::new(normal.images, anomaly.images), source)
        };
        let val_dir = data.join(&options.val_split);
        let (threshold, threshold_source) = match options.protocol {
            Protocol::Oracle => (
                None,
                ThresholdSource::Oracle {
                    split: options.eval_split.clone(),
                },
            ),
            Protocol::Honest if options.val_split != options.eval_split && val_dir.is_dir() => (
                Some(LabelledImages::from_folder(&val_dir)?),
                ThresholdSource::Split {
                    name: options.val_split.clone(),
                },
            ),
            Protocol::Honest => {
                let normal = carve_by_patient(&mut fit_normals, options.val_fraction, &mut rng);
                let anomaly =
                    carve_by_patient(&mut fit_abnormal_pool, options.val_fraction, &mut rng);
                let source = ThresholdSource::CarvedFromTrain {
                    normal_images: normal.images.len(),
                    abnormal_images: anomaly.images.len(),
                    patients: normal.patients + anomaly.patients,
                    fraction: options.val_fraction,
                    image_carve_would_split: normal.image_carve_would_split
                        + anomaly.image_carve_would_split,
                };
                (
                    Some(LabelledImages::new(normal.images, anomaly.images)),
                    source,
                )
            }
        };
        if fit_normals.is_empty() || fit_abnormal_pool.is_empty() {
            return Err(WscxrError::invalid(
                "val fraction",
                options.val_fraction,
                "leaves no normal or no abnormal training image",
            ));
        }
        let splits = Self {
            protocol: options.protocol,
            fit_normals,
            fit_abnormal_pool,
            threshold,
            eval,
            eval_source,
            threshold_source,
            boxed: None,
        };
        splits.ensure_disjoint()?;
        Ok(splits)
    }

    /// Adds boxed images to score for localisation. Fits then draw from no image of their
    /// patients, and a boxed image that is (by content) also a fit image under another name is
    /// refused. Boxed images may also be eval or threshold images: no fit sees those either.
    pub fn with_boxes(mut self, boxed: BoxedImages) -> Result<Self, WscxrError> {
        let patients: HashSet<String> = boxed.paths.iter().map(|p| p.patient_key()).collect();
        self.fit_normals
            .retain(|p| !patients.contains(&p.patient_key()));
        self.fit_abnormal_pool
            .retain(|p| !patients.contains(&p.patient_key()));
        if self.fit_normals.is_empty() || self.fit_abnormal_pool.is_empty() {
            return Err(WscxrError::invalid(
                "boxes",
                boxed.paths.len(),
                "their patients leave no normal or no abnormal training image",
            ));
        }
        let mut boxed_hashes = HashMap::new();
        for path in &boxed.paths {
            boxed_hashes.insert(file_sha256(path)?, path);
        }
        for path in self.fit_images() {
            if let Some(boxed_path) = boxed_hashes.get(&file_sha256(path)?) {
                return Err(WscxrError::Data {
                    path: path.clone(),
                    reason: format!(
                        "the same image as the boxed {}: fits must not see a boxed image",
                        boxed_path.display()
                    ),
                });
            }
        }
        self.boxed = Some(boxed);
        Ok(self)
    }

    /// Refuses a K that the abnormal pool cannot supply, as a run would, but before any work.
    pub fn check_k(&self, k: usize) -> Result<(), WscxrError> {
        check_k(&self.fit_abnormal_pool, k)
    }

    /// The training set of one run: every fit normal, and K abnormal images drawn with `seed`.
    pub fn training_set(&self, k: usize, seed: u64) -> Result<TrainingSet, WscxrError> {
        Ok(TrainingSet::new(
            self.fit_normals.clone(),
            draw_abnormal(&self.fit_abnormal_pool, k, seed)?,
        ))
    }

    /// Every image a fit may see.
    pub fn fit_images(&self) -> impl Iterator<Item = &PathBuf> {
        self.fit_normals.iter().chain(&self.fit_abnormal_pool)
    }

    fn ensure_disjoint(&self) -> Result<(), WscxrError> {
        let mut seen: HashMap<String, (PathBuf, &'static str)> = HashMap::new();
        let groups: [(&'static str, Vec<&Path>); 3] = [
            ("train", self.fit_images().map(PathBuf::as_path).collect()),
            (
                "threshold",
                self.threshold.iter().flat_map(|t| t.files()).collect(),
            ),
            ("eval", self.eval.files().collect()),
        ];
        for (group, paths) in groups {
            for path in paths {
                let hash = file_sha256(path)?;
                match seen.get(&hash) {
                    Some((first, first_group)) if *first_group != group => {
                        return Err(WscxrError::Data {
                            path: path.to_path_buf(),
                            reason: format!(
                                "the same image as {} ({first_group} part): the {group} part must \
                                 not share images with it",
                                first.display()
                            ),
                        });
                    }
                    _ => {
                        seen.insert(hash, (path.to_path_buf(), group));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patients::patient_id;

    /// A dataset folder of empty `.png` files (the splits never decode images, they only hash
    /// them, so each file gets distinct bytes).
    fn dataset(layout: &[(&str, &[&str])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (folder, names) in layout {
            let folder = dir.path().join(folder);
            std::fs::create_dir_all(&folder).unwrap();
            for name in *names {
                let path = folder.join(name);
                std::fs::write(&path, path.display().to_string()).unwrap();
            }
        }
        dir
    }

    fn zhanglab_like() -> tempfile::TempDir {
        let normal: Vec<String> = (0..40)
            .flat_map(|p| (1..=(1 + p % 3)).map(move |i| format!("IM-{p:04}-{i:04}.png")))
            .collect();
        let anomaly: Vec<String> = (0..30)
            .flat_map(|p| (0..(1 + p % 2)).map(move |i| format!("person{p}_bacteria_{i}.png")))
            .collect();
        let eval_n: Vec<String> = (100..110).map(|p| format!("IM-{p:04}-0001.png")).collect();
        let eval_a: Vec<String> = (100..110)
            .map(|p| format!("person{p}_virus_0.png"))
            .collect();
        fn as_refs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let (n, a, en, ea) = (
            as_refs(&normal),
            as_refs(&anomaly),
            as_refs(&eval_n),
            as_refs(&eval_a),
        );
        dataset(&[
            ("train/normal", &n),
            ("train/anomaly", &a),
            ("test/normal", &en),
            ("test/anomaly", &ea),
        ])
    }

    fn options(protocol: Protocol) -> SplitOptions {
        SplitOptions {
            eval_split: "test".into(),
            val_split: "val".into(),
            val_fraction: 0.25,
            protocol,
        }
    }

    #[test]
    fn patient_ids_follow_zhanglab_names() {
        let id = |name: &str| patient_id(Path::new(name));
        assert_eq!(
            id("person1000_virus_1681.png").as_deref(),
            Some("person1000")
        );
        assert_eq!(id("person7_bacteria_29.jpeg").as_deref(), Some("person7"));
        assert_eq!(id("IM-0115-0001.png").as_deref(), Some("IM-0115"));
        assert_eq!(
            id("NORMAL2-IM-0381-0001.png").as_deref(),
            Some("NORMAL2-IM-0381")
        );
        assert_eq!(id("scan.png"), None);
        assert_eq!(id("person_x.png"), None);
        assert_eq!(id("IM-abc-0001.png"), None);
        assert_eq!(id("00013118_008.png").as_deref(), Some("00013118"));
        assert_eq!(id("0013118_008.png"), None);
        assert_eq!(id("00013118_08a.png"), None);
    }

    #[test]
    fn honest_fits_never_see_carved_or_eval_images_nor_their_patients() {
        let data = zhanglab_like();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        let threshold = splits
            .threshold
            .as_ref()
            .expect("honest carves a threshold part");
        assert!(matches!(
            splits.threshold_source,
            ThresholdSource::CarvedFromTrain { .. }
        ));
        assert!(threshold.abnormal() > 0 && threshold.abnormal() < threshold.len());
        let patients =
            |paths: &mut dyn Iterator<Item = &Path>| -> std::collections::HashSet<String> {
                paths.map(|p| patient_id(p).unwrap()).collect()
            };
        let fit = patients(&mut splits.fit_images().map(PathBuf::as_path));
        let carved = patients(&mut threshold.files());
        let eval = patients(&mut splits.eval.files());
        assert!(
            fit.is_disjoint(&carved),
            "a patient is both fitted and carved"
        );
        assert!(
            fit.is_disjoint(&eval),
            "a patient is both fitted and evaluated"
        );
        // Every run's training set comes from the fit part only.
        for k in [0, 1, 4, 16] {
            for seed in 0..5 {
                let training = splits.training_set(k, seed).unwrap();
                assert_eq!(training.abnormals().len(), k);
                for xray in training.normals().iter().chain(training.abnormals()) {
                    let path = xray.path().expect("a file");
                    assert!(
                        !threshold.files().any(|p| p == path),
                        "{} was carved",
                        path.display()
                    );
                    assert!(
                        !splits.eval.files().any(|p| p == path),
                        "{} is evaluated",
                        path.display()
                    );
                }
            }
        }
        // About a quarter carved, and nothing lost.
        let ThresholdSource::CarvedFromTrain {
            normal_images,
            abnormal_images,
            ..
        } = splits.threshold_source
        else {
            unreachable!()
        };
        assert_eq!(normal_images + splits.fit_normals.len(), 79);
        assert_eq!(abnormal_images + splits.fit_abnormal_pool.len(), 45);
        assert!(
            (normal_images as f64 - 20.0).abs() <= 3.0,
            "carved {normal_images} of 79"
        );
    }

    #[test]
    fn boxed_patients_leave_the_fits_and_a_missing_eval_split_is_carved() {
        let normal: Vec<String> = (0..40).map(|p| format!("{p:08}_000.png")).collect();
        let anomaly: Vec<String> = (100..130).map(|p| format!("{p:08}_001.png")).collect();
        let boxed = ["00000003_005.png", "00000101_009.png", "00000200_000.png"];
        fn refs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let data = dataset(&[
            ("train/normal", &refs(&normal)),
            ("train/anomaly", &refs(&anomaly)),
            ("boxed", &boxed),
        ]);
        let csv = data.path().join("boxes.csv");
        let mut text = String::from("image,finding,x,y,w,h\n");
        for name in boxed {
            text.push_str(&format!("{name},Mass,1,1,4,4\n"));
        }
        std::fs::write(&csv, text).unwrap();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert!(
            splits.eval_source.contains("carved"),
            "{}",
            splits.eval_source
        );
        assert!(splits.eval.abnormal() > 0 && splits.eval.len() > splits.eval.abnormal());
        let fit_patients =
            |s: &Splits| -> HashSet<String> { s.fit_images().map(|p| p.patient_key()).collect() };
        let carved_patients: HashSet<String> =
            splits.eval.files().map(|p| p.patient_key()).collect();
        assert!(fit_patients(&splits).is_disjoint(&carved_patients));
        let boxed_images = BoxedImages::read(&csv, &data.path().join("boxed")).unwrap();
        assert_eq!(boxed_images.paths.len(), 3);
        let fits_before = splits.fit_images().count();
        let splits = splits.with_boxes(boxed_images.clone()).unwrap();
        let fit = fit_patients(&splits);
        assert!(!fit.contains("00000003") && !fit.contains("00000101"));
        assert!(splits.fit_images().count() < fits_before);
        // The same bytes under another patient's name in a fit's pool are refused (the carve
        // depends on names only, so the same image stays in the pool).
        let copy = splits.fit_normals[0].clone();
        std::fs::copy(&boxed_images.paths[2], &copy).unwrap();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert!(splits.fit_normals.contains(&copy));
        let error = splits.with_boxes(boxed_images).unwrap_err().to_string();
        assert!(error.contains("00000200_000.png"), "{error}");
    }

    #[test]
    fn carve_is_the_same_every_time() {
        let data = zhanglab_like();
        let a = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        let b = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn threshold_comes_from_the_val_split_when_there_is_one() {
        let data = zhanglab_like();
        for (folder, name) in [
            ("val/normal", "IM-0200-0001.png"),
            ("val/anomaly", "person200_virus_0.png"),
        ] {
            let dir = data.path().join(folder);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), folder).unwrap();
        }
        let splits = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap();
        assert_eq!(
            splits.threshold_source,
            ThresholdSource::Split { name: "val".into() }
        );
        let threshold = splits.threshold.unwrap();
        assert_eq!(threshold.len(), 2);
        assert!(
            threshold
                .files()
                .all(|p| p.starts_with(data.path().join("val")))
        );
        // Nothing carved: fits get all of train/.
        assert_eq!(splits.fit_normals.len(), 79);
    }

    #[test]
    fn oracle_has_no_threshold_images_and_says_so() {
        let data = zhanglab_like();
        let splits = Splits::from_folder(data.path(), &options(Protocol::Oracle)).unwrap();
        assert!(splits.threshold.is_none());
        assert_eq!(
            splits.threshold_source,
            ThresholdSource::Oracle {
                split: "test".into()
            }
        );
        assert!(splits.threshold_source.to_string().contains("optimistic"));
    }

    #[test]
    fn bad_split_options_are_refused_before_reading_anything() {
        let nowhere = Path::new("/nonexistent/dataset");
        let reject = |o: SplitOptions| Splits::from_folder(nowhere, &o).unwrap_err();
        let name = |e: WscxrError| e.invalid_parameter();
        for fraction in [0.0, 1.0, -0.2, 1.5, f64::NAN, f64::INFINITY] {
            let o = SplitOptions {
                val_fraction: fraction,
                ..options(Protocol::Honest)
            };
            assert_eq!(name(reject(o)), Some("val fraction"), "fraction {fraction}");
        }
        let o = SplitOptions {
            eval_split: "train".into(),
            ..options(Protocol::Honest)
        };
        assert_eq!(name(reject(o)), Some("eval split"));
        let o = SplitOptions {
            eval_split: "../elsewhere".into(),
            ..options(Protocol::Honest)
        };
        assert_eq!(name(reject(o)), Some("eval split"));
        let o = SplitOptions {
            val_split: "train".into(),
            ..options(Protocol::Honest)
        };
        assert_eq!(name(reject(o)), Some("val split"));
    }

    #[test]
    fn an_eval_split_sharing_an_image_with_train_is_refused() {
        let data = zhanglab_like();
        let copy = data.path().join("test/normal/copied.png");
        std::fs::copy(data.path().join("train/normal/IM-0000-0001.png"), &copy).unwrap();
        let err = Splits::from_folder(data.path(), &options(Protocol::Honest)).unwrap_err();
        assert!(err.to_string().contains("copied.png"), "{err}");
    }
}
