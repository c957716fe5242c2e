//! The configuration from Python: a dict and keywords with the names of `WscxrConfig`'s fields
//! (nested dicts for its sections), laid over the official defaults and checked by the library.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;
use wscxr::WscxrConfig;

use crate::errors::{Kind, raise};

/// The official defaults, as the dict `Detector.fit` and `evaluate` take (`wscxr.default_config()`).
#[pyfunction]
pub(crate) fn default_config(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let json = serde_json::to_string(&WscxrConfig::default())
        .map_err(|e| raise(py, Kind::Config, e.to_string()))?;
    py.import("json")?.call_method1("loads", (json,))
}

/// `config` (a dict, or None), then `fields` (keywords), over the defaults. Unknown names and
/// values of the wrong type are `ConfigError`s naming them; ranges are checked by the library
/// when the configuration is used.
pub(crate) fn build(
    py: Python<'_>,
    config: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<WscxrConfig> {
    let mut merged = serde_json::to_value(WscxrConfig::default())
        .map_err(|e| raise(py, Kind::Config, e.to_string()))?;
    if let Some(config) = config.filter(|c| !c.is_none()) {
        if !config.is_instance_of::<PyDict>() {
            return Err(raise(
                py,
                Kind::Config,
                format!(
                    "config: a dict of WscxrConfig fields, not a {}",
                    config.get_type().name()?
                ),
            ));
        }
        overlay(&mut merged, to_json(py, config)?);
    }
    if let Some(fields) = fields {
        overlay(&mut merged, to_json(py, fields.as_any())?);
    }
    serde_json::from_value(merged).map_err(|e| raise(py, Kind::Config, format!("config: {e}")))
}

/// A Python value as JSON (paths as their text), through the `json` module.
fn to_json(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("default", py.import("os")?.getattr("fspath")?)?;
    kwargs.set_item("allow_nan", false)?;
    let text: String = py
        .import("json")?
        .call_method("dumps", (value,), Some(&kwargs))
        .map_err(|e| raise(py, Kind::Config, format!("config: {e}")))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| raise(py, Kind::Config, format!("config: {e}")))
}

/// `patch` laid over `base`: objects merge key by key (so `{"train": {"epochs": 5}}` keeps the
/// other training settings); anything else replaces. Unknown keys are kept for serde to refuse.
fn overlay(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(slot) => overlay(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}
