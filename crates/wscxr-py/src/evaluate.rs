//! `wscxr.evaluate`: the paper's tables on a dataset folder, as `wscxr evaluate --json` reports
//! them.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use wscxr::FeatureCache;
use wscxr::eval::{BoxedImages, Evaluation, Protocol, Report, SplitOptions, Splits};

use crate::config;
use crate::detector::progress_or;
use crate::errors::{IntoPy, Kind, raise};
use crate::watch::Watch;

/// Fits and evaluates a detector for every K and seed on `data` (a folder with `train/normal`,
/// `train/anomaly` and the split folders); returns the document `wscxr evaluate --json` writes.
#[pyfunction]
#[pyo3(signature = (
    data, *, k = vec![16], seeds = vec![0, 1, 2], protocol = "honest", eval_split = "test".to_string(),
    val_split = "val".to_string(), val_fraction = 0.2, boxes = None, boxed_images = None,
    unsupervised = false, cache = None, backend = "flex", progress = None, config = None,
    epochs = None, **fields
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate<'py>(
    py: Python<'py>,
    data: PathBuf,
    k: Vec<usize>,
    seeds: Vec<u64>,
    protocol: &str,
    eval_split: String,
    val_split: String,
    val_fraction: f64,
    boxes: Option<PathBuf>,
    boxed_images: Option<PathBuf>,
    unsupervised: bool,
    cache: Option<PathBuf>,
    backend: &str,
    progress: Option<&Bound<'py, PyAny>>,
    config: Option<&Bound<'py, PyAny>>,
    epochs: Option<usize>,
    fields: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut config = config::build(py, config, fields)?;
    if let Some(epochs) = epochs {
        config.train.epochs = epochs;
    }
    let protocol: Protocol = protocol.parse().or_raise(py)?;
    let options = SplitOptions {
        eval_split,
        val_split,
        val_fraction,
        protocol,
    };
    // Every argument is checked before any image is read or any weight loaded.
    config.check().or_raise(py)?;
    options.check().or_raise(py)?;
    let device = wscxr::device::device(backend)
        .map_err(|e| raise(py, Kind::Config, format!("backend: {e}")))?;
    let mut splits = Splits::from_folder(&data, &options).or_raise(py)?;
    if let Some(csv) = &boxes {
        let dir = match &boxed_images {
            Some(dir) => dir.clone(),
            None => csv.parent().map(PathBuf::from).unwrap_or_default(),
        };
        let boxed = BoxedImages::read(csv, &dir).or_raise(py)?;
        splits = splits.with_boxes(boxed).or_raise(py)?;
    }
    for &k in &k {
        splits.check_k(k).or_raise(py)?;
    }
    let cache = match &cache {
        Some(dir) => Some(FeatureCache::new(dir).or_raise(py)?),
        None => None,
    };
    let mut ks = k;
    if unsupervised {
        ks.insert(0, 0);
    }
    let mut watch = Watch::new(&progress_or(py, progress, true))?;
    let result = py.detach(|| {
        let evaluation =
            Evaluation::new(config.clone(), &splits, cache.as_ref(), &device, &mut watch)?;
        let mut runs = Vec::new();
        for &k in &ks {
            for &seed in &seeds {
                watch.set_prefix(format!("K={k} seed={seed} "));
                runs.push(evaluation.run(k, seed, &mut watch)?);
            }
        }
        Ok(Report::new(
            runs,
            &splits,
            &options,
            &data,
            backend,
            config.clone(),
        ))
    });
    let report = watch.finish(py, result)?;
    let json = serde_json::to_string(&report).map_err(|e| raise(py, Kind::Wscxr, e.to_string()))?;
    py.import("json")?.call_method1("loads", (json,))
}
