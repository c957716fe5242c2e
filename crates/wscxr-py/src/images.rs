//! X-rays from Python: image files (PNG, JPEG, DICOM) by path, folders of them, and 2-D NumPy
//! arrays (what pydicom's `pixel_array`, after its window, and PIL's `convert('L')` give).

use std::path::PathBuf;

use numpy::{PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use wscxr::{Radiograph, Xray, list_images};

use crate::errors::{IntoPy, Kind, raise};

/// `images` as X-rays: one path, folder or 2-D array, or an iterable of paths and arrays.
/// `what` names the argument in errors (`images[3]: ...`). An empty list is an `ImageError`.
pub(crate) fn xrays(images: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Xray>> {
    let py = images.py();
    let xrays = match one(images, what)? {
        Some(xrays) => xrays,
        None => {
            let mut xrays = Vec::new();
            let items = images.try_iter().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{what}: a path, a folder, a 2-D array or a list of them, not a {}",
                    type_name(images)
                ))
            })?;
            for (i, item) in items.enumerate() {
                let item = item?;
                let name = format!("{what}[{i}]");
                match one(&item, &name)? {
                    Some(found) => xrays.extend(found),
                    None => {
                        return Err(PyTypeError::new_err(format!(
                            "{name}: a path or a 2-D array, not a {}",
                            type_name(&item)
                        )));
                    }
                }
            }
            xrays
        }
    };
    if xrays.is_empty() {
        return Err(raise(
            py,
            Kind::Image,
            format!("{what}: no images; give at least one path or array"),
        ));
    }
    Ok(xrays)
}

/// A path (a folder's images in name order), or an array; `None` for anything else.
fn one(item: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Vec<Xray>>> {
    let py = item.py();
    if item.is_instance_of::<PyString>() || item.hasattr("__fspath__")? {
        let path: PathBuf = item.extract()?;
        if path.is_dir() {
            return list_images(&path)
                .or_raise(py)
                .map(|paths| Some(paths.into_iter().map(Xray::File).collect()));
        }
        return Ok(Some(vec![Xray::File(path)]));
    }
    if let Ok(array) = item.cast::<PyUntypedArray>() {
        return radiograph(array, name).map(|r| Some(vec![Xray::from(r)]));
    }
    // PIL images and other array-likes: read through NumPy's array protocol.
    if item.hasattr("__array_interface__")? || item.hasattr("__array__")? {
        let array = py.import("numpy")?.call_method1("asarray", (item,))?;
        let array = array.cast::<PyUntypedArray>()?;
        return radiograph(array, name).map(|r| Some(vec![Xray::from(r)]));
    }
    Ok(None)
}

fn type_name(item: &Bound<'_, PyAny>) -> String {
    item.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A 2-D array as a radiograph: uint8 (0 black, 255 white), uint16 (0 to 65535) or float in
/// [0, 1], which is quantised to 8 bits exactly as a DICOM file's windowed values are, so that
/// `wscxr.window` of a file's pixels scores as the file does. The pixels are copied once, into
/// the image the preprocessing reads (one `memcpy` for a C-contiguous array).
fn radiograph(array: &Bound<'_, PyUntypedArray>, name: &str) -> PyResult<Radiograph> {
    let py = array.py();
    let shape = array.shape().to_vec();
    let dtype = array.dtype();
    if shape.len() != 2 {
        return Err(raise(
            py,
            Kind::Image,
            format!(
                "{name}: an array of shape {shape:?}; an X-ray is one 2-D gray image \
                 (height, width): convert colour to gray first (PIL: .convert('L')), and give \
                 a stack as a list of its images"
            ),
        ));
    }
    let too_large = |side: usize| u32::try_from(side).is_err();
    if shape.iter().any(|&side| side == 0 || too_large(side)) {
        return Err(raise(
            py,
            Kind::Image,
            format!("{name}: an array of shape {shape:?} has no pixels to read"),
        ));
    }
    let (height, width) = (shape[0] as u32, shape[1] as u32);
    let built = if dtype.is_equiv_to(&numpy::dtype::<u8>(py)) {
        Radiograph::gray8(name, width, height, pixels::<u8>(array)?)
    } else if dtype.is_equiv_to(&numpy::dtype::<u16>(py)) {
        Radiograph::gray16(name, width, height, pixels::<u16>(array)?)
    } else if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        let values = pixels::<f64>(array)?;
        Radiograph::gray8(name, width, height, quantise(py, name, width, &values)?)
    } else if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        let values: Vec<f64> = pixels::<f32>(array)?.into_iter().map(f64::from).collect();
        Radiograph::gray8(name, width, height, quantise(py, name, width, &values)?)
    } else {
        return Err(raise(
            py,
            Kind::Image,
            format!(
                "{name}: pixels of dtype {dtype}; give uint8 (0-255), uint16 (0-65535) or \
                 float in [0, 1]. DICOM stored values need their rescale and window first \
                 (wscxr.window)"
            ),
        ));
    };
    built.map_err(|e| raise(py, Kind::Image, e.to_string()))
}

/// The array's values in row-major order.
fn pixels<T: numpy::Element + Copy>(array: &Bound<'_, PyUntypedArray>) -> PyResult<Vec<T>> {
    let array = array.cast::<PyArray2<T>>()?.readonly();
    Ok(match array.as_slice() {
        Ok(contiguous) => contiguous.to_vec(),
        Err(_) => array.as_array().iter().copied().collect(),
    })
}

/// Display values in [0, 1] to 8 bits, rounding as the DICOM reader does; NaN or a value outside
/// [0, 1] is an error naming its place.
fn quantise(py: Python<'_>, name: &str, width: u32, values: &[f64]) -> PyResult<Vec<u8>> {
    if let Some(i) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        let (row, column) = (i / width as usize, i % width as usize);
        return Err(raise(
            py,
            Kind::Image,
            format!(
                "{name}: value {} at row {row}, column {column}; float pixels are display \
                 values in [0, 1] (0 black, 1 white)",
                values[i]
            ),
        ));
    }
    Ok(values.iter().map(|&v| (v * 255.0).round() as u8).collect())
}
