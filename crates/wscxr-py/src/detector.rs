//! `wscxr.Detector`: fit on normal and a few abnormal X-rays, score, draw maps and heatmaps,
//! decide at the calibrated threshold, save and load, as the library and the `wscxr` program do.

use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayLike1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};
use rayon::prelude::*;
use wscxr::{
    Detector, LabelledImages, SCORING_CHUNK, ScoredImage, ThresholdRule, TrainingSet, Validation,
    Wscxr, WscxrError, Xray,
};

use crate::config;
use crate::errors::{IntoPy, Kind, raise};
use crate::images::xrays;
use crate::watch::Watch;

/// A fitted WSCXR detector: a frozen ImageNet backbone, the normal bank's patches or a trained
/// discriminator, and the threshold calibrated when it was fitted.
#[pyclass(name = "Detector", module = "wscxr", frozen)]
pub(crate) struct PyDetector {
    inner: Detector,
}

/// The calibration rule by the program's names (`wscxr fit --rule`).
fn threshold_rule(
    py: Python<'_>,
    rule: Option<&str>,
    specificity: f64,
    has_images: bool,
) -> PyResult<ThresholdRule> {
    if !(specificity > 0.0 && specificity <= 1.0) {
        return Err(raise(
            py,
            Kind::Config,
            format!("specificity: {specificity} is not in (0, 1]"),
        ));
    }
    match rule {
        None if has_images => Ok(ThresholdRule::Youden),
        None => Ok(ThresholdRule::Specificity(specificity)),
        Some(name) => ThresholdRule::from_name(name, specificity).ok_or_else(|| {
            raise(
                py,
                Kind::Config,
                format!("rule: '{name}': use 'youden', 'max-f1' or 'specificity'"),
            )
        }),
    }
}

/// A `json`-module value (dict, list, number) of anything serde writes.
fn to_python<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_string(value).map_err(|e| raise(py, Kind::Wscxr, e.to_string()))?;
    py.import("json")?.call_method1("loads", (json,))
}

/// The `progress` argument, or `default` (bars or none) when it was not given.
pub(crate) fn progress_or<'py>(
    py: Python<'py>,
    progress: Option<&Bound<'py, PyAny>>,
    default: bool,
) -> Bound<'py, PyAny> {
    match progress {
        Some(progress) if !progress.is_none() => progress.clone(),
        _ => PyBool::new(py, default).to_owned().into_any(),
    }
}

impl PyDetector {
    /// Scores X-rays a chunk at a time, handing each result to `each` with the GIL released.
    fn score_each(
        &self,
        py: Python<'_>,
        images: Vec<Xray>,
        progress: &Bound<'_, PyAny>,
        each: impl FnMut(ScoredImage) -> Result<(), WscxrError> + Send,
    ) -> PyResult<()> {
        let mut watch = Watch::new(progress)?;
        let detector = &self.inner;
        let result = py.detach(|| detector.score_each(&images, &mut watch, each));
        watch.finish(py, result)
    }
}

#[pymethods]
impl PyDetector {
    /// Fits a detector, as `wscxr fit` does.
    #[staticmethod]
    #[pyo3(signature = (
        normal, abnormal = None, *, config = None, epochs = None, calibrate_on = None,
        calibration_fraction = 0.2, rule = None, specificity = 0.95, backend = "flex",
        cache = None, progress = None, **fields
    ))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        py: Python<'_>,
        normal: &Bound<'_, PyAny>,
        abnormal: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
        epochs: Option<usize>,
        calibrate_on: Option<PathBuf>,
        calibration_fraction: f64,
        rule: Option<&str>,
        specificity: f64,
        backend: &str,
        cache: Option<PathBuf>,
        progress: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut config = config::build(py, config, fields)?;
        if let Some(epochs) = epochs {
            config.train.epochs = epochs;
        }
        let rule = threshold_rule(py, rule, specificity, calibrate_on.is_some())?;
        // The fraction's range is checked by the fit, before any image is read.
        let validation = match &calibrate_on {
            Some(dir) => Validation::Images(LabelledImages::from_folder(dir).or_raise(py)?),
            None => Validation::CarveNormals(calibration_fraction),
        };
        let normals = xrays(normal, "normal")?;
        let abnormals = match abnormal.filter(|a| !a.is_none()) {
            Some(images) if images.len().ok() == Some(0) => Vec::new(),
            Some(images) => xrays(images, "abnormal")?,
            None => Vec::new(),
        };
        let method = Wscxr::new(config).or_raise(py)?.calibrate(validation, rule);
        let device = wscxr::device::device(backend)
            .map_err(|e| raise(py, Kind::Config, format!("backend: {e}")))?;
        let cache = match cache {
            Some(dir) => Some(wscxr::FeatureCache::new(&dir).or_raise(py)?),
            None => None,
        };
        let mut watch = Watch::new(&progress_or(py, progress, true))?;
        let training = TrainingSet::new(normals, abnormals);
        let result = py.detach(|| {
            let mut method = method.observer(&mut watch);
            if let Some(cache) = &cache {
                method = method.cache(cache);
            }
            method.fit(&training, &device)
        });
        let detector = watch.finish(py, result)?;
        Ok(Self { inner: detector })
    }

    /// Loads a detector file written by `save` or `wscxr fit`.
    #[staticmethod]
    #[pyo3(signature = (path, *, backend = "flex"))]
    fn load(py: Python<'_>, path: PathBuf, backend: &str) -> PyResult<Self> {
        let device = wscxr::device::device(backend)
            .map_err(|e| raise(py, Kind::Config, format!("backend: {e}")))?;
        let detector = py.detach(|| Detector::load(&path, &device)).or_raise(py)?;
        Ok(Self { inner: detector })
    }

    /// Writes the detector file (`embed_weights`: with its backbone weights inside).
    #[pyo3(signature = (path, *, embed_weights = false))]
    fn save(&self, py: Python<'_>, path: PathBuf, embed_weights: bool) -> PyResult<()> {
        let detector = &self.inner;
        py.detach(|| {
            if embed_weights {
                detector.save_with_weights(&path)
            } else {
                detector.save(&path)
            }
        })
        .or_raise(py)
    }

    /// Image anomaly scores (the maximum patch score), float32, one per image.
    #[pyo3(signature = (images, *, progress = None))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let images = xrays(images, "images")?;
        let progress = progress_or(py, progress, false);
        let mut scores = Vec::with_capacity(images.len());
        self.score_each(py, images, &progress, |scored| {
            scores.push(scored.score);
            Ok(())
        })?;
        Ok(PyArray1::from_vec(py, scores))
    }

    /// Anomaly maps at each image's own size (float32, height x width, in score units): the
    /// maps that `wscxr score --maps` writes and the heatmaps draw.
    #[pyo3(signature = (images, *, progress = None))]
    fn maps<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Vec<Bound<'py, PyArray2<f32>>>> {
        let images = xrays(images, "images")?;
        let mut watch = Watch::new(&progress_or(py, progress, false))?;
        let detector = &self.inner;
        let result = py.detach(|| -> Result<Vec<Array2<f32>>, WscxrError> {
            let mut maps = Vec::with_capacity(images.len());
            // Decoded a chunk at a time: the maps need each image's size, and the chunk is
            // scored from memory rather than read twice.
            for chunk in images.chunks(SCORING_CHUNK) {
                let decoded = chunk
                    .par_iter()
                    .map(|x| x.decode().map(Xray::from))
                    .collect::<Result<Vec<Xray>, _>>()?;
                let scored = detector.score_observed(&decoded, &mut watch)?;
                let drawn = scored
                    .par_iter()
                    .zip(&decoded)
                    .map(|(scored, xray)| {
                        let radiograph = xray.decode()?;
                        let size = [radiograph.height() as usize, radiograph.width() as usize];
                        let map = scored.map(size)?;
                        Array2::from_shape_vec(size, map.values().to_vec()).map_err(|e| {
                            WscxrError::Data {
                                path: xray.name().into_owned().into(),
                                reason: format!("its map does not fill {size:?}: {e}"),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, WscxrError>>()?;
                maps.extend(drawn);
            }
            Ok(maps)
        });
        let maps = watch.finish(py, result)?;
        Ok(maps.into_iter().map(|m| m.into_pyarray(py)).collect())
    }

    /// Whether each score reaches the calibrated threshold (bool, one per score).
    fn decide<'py>(
        &self,
        py: Python<'py>,
        scores: PyArrayLike1<'py, f32, numpy::AllowTypeChange>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let calibration = self.inner.calibration().ok_or_else(|| {
            raise(
                py,
                Kind::Wscxr,
                "this detector has no calibrated threshold (it was saved without one)",
            )
        })?;
        let scores = scores.as_array();
        if let Some(i) = scores.iter().position(|s| s.is_nan()) {
            return Err(PyValueError::new_err(format!("scores[{i}] is NaN")));
        }
        let decided: Vec<bool> = scores.iter().map(|&s| calibration.is_abnormal(s)).collect();
        Ok(PyArray1::from_vec(py, decided))
    }

    /// The heatmap people look at: the image at its own size with its anomaly map on the
    /// detector's fixed colour scale and a colour bar. Written as a PNG to `path` when given
    /// (what `wscxr score --heatmaps` writes), else returned as an RGB uint8 array.
    #[pyo3(signature = (image, path = None))]
    fn heatmap<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        path: Option<PathBuf>,
    ) -> PyResult<Option<Bound<'py, PyArray3<u8>>>> {
        let mut images = xrays(image, "image")?;
        if images.len() != 1 {
            return Err(raise(
                py,
                Kind::Image,
                format!("image: one image, not {}", images.len()),
            ));
        }
        let xray = images.remove(0);
        let detector = &self.inner;
        let picture = py
            .detach(|| -> Result<_, WscxrError> {
                let radiograph = xray.decode()?;
                let scored = detector.score([Xray::from(radiograph.clone())])?;
                let picture = detector.heatmap(&radiograph, &scored[0])?;
                if let Some(path) = &path {
                    picture.save(path).map_err(|e| WscxrError::Data {
                        path: path.clone(),
                        reason: format!("cannot write the heatmap: {e}"),
                    })?;
                }
                Ok(picture)
            })
            .or_raise(py)?;
        if path.is_some() {
            return Ok(None);
        }
        let (width, height) = picture.dimensions();
        let array = numpy::ndarray::Array3::from_shape_vec(
            [height as usize, width as usize, 3],
            picture.into_raw(),
        )
        .map_err(|e| raise(py, Kind::Wscxr, e.to_string()))?;
        Ok(Some(array.into_pyarray(py)))
    }

    /// The calibrated threshold on the score, or None.
    #[getter]
    fn threshold(&self) -> Option<f32> {
        self.inner.calibration().map(|c| c.threshold)
    }

    /// The configuration it was fitted with, as the dict `fit` takes.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.inner.config())
    }

    /// Sizes and stage timings of the fit (zeros for a loaded detector).
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.inner.report())
    }

    /// The SHA-256 of its backbone weights, which name them in its file.
    #[getter]
    fn weights_sha256(&self) -> &str {
        self.inner.weights_sha256()
    }

    /// Whether this is the unsupervised (K = 0, PatchCore) detector.
    #[getter]
    fn is_unsupervised(&self) -> bool {
        self.inner.is_unsupervised()
    }

    fn __repr__(&self) -> String {
        let config = self.inner.config();
        let threshold = match self.inner.calibration() {
            Some(c) => format!("threshold={}", c.threshold),
            None => "uncalibrated".into(),
        };
        format!(
            "Detector({} {}, {} px, {}, {threshold})",
            config.backbone,
            config.layers.join("+"),
            config.image_size,
            if self.inner.is_unsupervised() {
                "unsupervised"
            } else {
                "weakly supervised"
            },
        )
    }
}
