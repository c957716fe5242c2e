//! The library's errors as the package's exceptions (`wscxr.errors`, defined in Python so that
//! each can also be a `ValueError`): the Rust message, and the class that says what was wrong.

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use wscxr::WscxrError;
use wscxr::backbone::BackboneError;

/// The exception classes of `wscxr.errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Anything else the library refuses.
    Wscxr,
    /// An image file or array that cannot be read as an X-ray.
    Image,
    /// A configuration or argument value out of range.
    Config,
    /// A detector file that cannot be loaded or written.
    DetectorFile,
    /// Backbone weights that are missing, unreadable or of another network.
    Weights,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::Wscxr => "WscxrError",
            Kind::Image => "ImageError",
            Kind::Config => "ConfigError",
            Kind::DetectorFile => "DetectorFileError",
            Kind::Weights => "WeightsError",
        }
    }

    /// The class of a library error.
    pub(crate) fn of(error: &WscxrError) -> Self {
        match error {
            WscxrError::Backbone(BackboneError::Image(_)) => Kind::Image,
            WscxrError::Backbone(
                BackboneError::Io { .. }
                | BackboneError::WeightsFormat { .. }
                | BackboneError::WrongNetwork { .. }
                | BackboneError::MissingTensor { .. }
                | BackboneError::UnexpectedTensor { .. }
                | BackboneError::ShapeMismatch { .. }
                | BackboneError::NonFinite { .. }
                | BackboneError::Record { .. },
            )
            | WscxrError::WeightsNotFound { .. }
            | WscxrError::Download(_) => Kind::Weights,
            WscxrError::DetectorFile { .. } => Kind::DetectorFile,
            e if e.invalid_parameter().is_some() => Kind::Config,
            _ => Kind::Wscxr,
        }
    }
}

/// A `wscxr.errors` exception of `kind` with `message`.
pub(crate) fn raise(py: Python<'_>, kind: Kind, message: impl Into<String>) -> PyErr {
    let class = py
        .import("wscxr.errors")
        .and_then(|module| module.getattr(kind.class_name()));
    match class {
        Ok(class) => PyErr::from_value(
            class
                .call1((message.into(),))
                .unwrap_or_else(|e| e.into_value(py).into_any().into_bound(py)),
        ),
        Err(e) => e,
    }
}

/// A library error as its exception. An interruption is the `KeyboardInterrupt` (or other
/// exception) that the signal handler raised, when there is one.
pub(crate) fn to_py(py: Python<'_>, error: WscxrError, signal: Option<PyErr>) -> PyErr {
    if let WscxrError::Interrupted { stage } = &error {
        let raised = signal.unwrap_or_else(|| PyKeyboardInterrupt::new_err(error.to_string()));
        // PEP 678 (Python 3.11+): the traceback says the call stopped cleanly, and where.
        let value = raised.value(py);
        if value.hasattr("add_note").unwrap_or(false) {
            let note = format!("wscxr stopped cleanly during {stage}, between two batches");
            let _ = value.call_method1("add_note", (note,));
        }
        return raised;
    }
    raise(py, Kind::of(&error), error.to_string())
}

/// `Result<T, WscxrError>` into `PyResult<T>`.
pub(crate) trait IntoPy<T> {
    /// The error as its exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, WscxrError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e, None))
    }
}
