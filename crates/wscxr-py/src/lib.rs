//! The native half of the `wscxr` Python package (`python/wscxr`): the detector on NumPy arrays
//! and image files, with the library's errors raised as the package's exceptions.
//!
//! Every long call (fitting, scoring, drawing, evaluating) releases the GIL, and polls Python's
//! signal handlers between batches so that Ctrl-C stops it with `KeyboardInterrupt`.

mod config;
mod detector;
mod errors;
mod evaluate;
mod images;
mod watch;

use pyo3::prelude::*;

/// The native module, imported by the package as `wscxr._wscxr`.
#[pymodule]
fn _wscxr(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("IMAGE_SIZE", wscxr::WscxrConfig::default().image_size)?;
    m.add_class::<detector::PyDetector>()?;
    m.add_function(wrap_pyfunction!(evaluate::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(config::default_config, m)?)?;
    Ok(())
}
