//! What a long call reports to: progress bars or the caller's own function, and Python's signal
//! handlers.

use pyo3::prelude::*;
use pyo3::types::PyBool;
use wscxr::progress::ProgressBars;
use wscxr::{Observer, Stage, WscxrError};

use crate::errors::to_py;

/// Shows progress as asked (`progress=True`: bars on standard error; a callable: called with
/// `(stage, done, total)`), and stops the run when a signal handler (Ctrl-C) or that callable
/// raises.
pub(crate) struct Watch {
    bars: ProgressBars,
    callback: Option<Py<PyAny>>,
    raised: Option<PyErr>,
}

impl Watch {
    /// A watch for the `progress` argument: a bool, or a callable.
    pub(crate) fn new(progress: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (bars, callback) = if let Ok(flag) = progress.cast::<PyBool>() {
            (flag.is_true(), None)
        } else if progress.is_callable() {
            (false, Some(progress.clone().unbind()))
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "progress: True, False or a callable (stage, done, total), not a {}",
                progress.get_type().name()?
            )));
        };
        Ok(Self {
            bars: ProgressBars::new(!bars),
            callback,
            raised: None,
        })
    }

    /// Clears the bars, and turns a library error into its exception (an interruption into the
    /// exception that stopped it).
    pub(crate) fn finish<T>(
        mut self,
        py: Python<'_>,
        result: Result<T, WscxrError>,
    ) -> PyResult<T> {
        self.bars.finish();
        result.map_err(|e| to_py(py, e, self.raised.take()))
    }

    /// Labels the bars (`K=4 seed=0 `).
    pub(crate) fn set_prefix(&mut self, prefix: String) {
        self.bars.set_prefix(prefix);
    }
}

impl Observer for Watch {
    fn progress(&mut self, stage: Stage, done: usize, total: usize) {
        self.bars.progress(stage, done, total);
        if let (Some(callback), None) = (&self.callback, &self.raised) {
            let called = Python::attach(|py| callback.call1(py, (stage.label(), done, total)));
            self.raised = called.err();
        }
    }

    fn interrupted(&mut self) -> bool {
        if self.raised.is_none() {
            // Runs the handlers of signals that arrived while the GIL was released; on threads
            // other than the main one this does nothing, as in Python.
            self.raised = Python::attach(|py| py.check_signals()).err();
        }
        self.raised.is_some()
    }
}
