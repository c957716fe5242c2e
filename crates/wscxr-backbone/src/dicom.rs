//! DICOM input: chest X-rays as a PACS sends them, read to display values the way a viewer shows
//! them.
//!
//! The pixel pipeline of DICOM PS3.3 C.11 for grayscale images:
//! 1. the stored values (`Bits Stored` of them, unsigned or two's complement), decoded by
//!    `dicom-pixeldata` from native or compressed pixel data;
//! 2. the modality LUT: `Rescale Slope` and `Rescale Intercept` (a Modality LUT Sequence is refused:
//!    its table is not applied here);
//! 3. the VOI LUT: the first VOI LUT Sequence item when there is one, else the first
//!    `Window Center` / `Window Width` with its `VOI LUT Function` (LINEAR, LINEAR_EXACT or
//!    SIGMOID), else a window from the 0.5th to the 99.5th percentile of the modality values;
//! 4. `MONOCHROME1` inverted, so that bone is bright as in `MONOCHROME2`.
//!
//! The result, in [0, 1], is quantised to 8 bits: what a display shows, and what the PNG exports
//! that chest X-ray datasets (and the method's reference code) are made of hold, so that a DICOM
//! file gives exactly the features of its 8-bit PNG export. Transfer syntaxes: implicit and explicit VR little endian, explicit VR big endian,
//! deflated explicit VR little endian, RLE lossless, JPEG baseline, extended and lossless, and
//! JPEG 2000 (lossless and lossy), all decoded in pure Rust. JPEG-LS, JPEG XL and HTJ2K are not
//! built in and are refused by name.

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder, VoiLutFunction};
use image::{DynamicImage, ImageBuffer, Luma};

use crate::BackboneError;

/// The largest DICOM file read: ten times a 4,300 x 3,500 16-bit detector's image.
pub const MAX_DICOM_BYTES: u64 = 300 << 20;
/// The most pixels one image may have (8,192 x 8,192).
pub const MAX_DICOM_PIXELS: u64 = 1 << 26;
/// Where the percentile window sits when a file has no VOI attributes (per mille).
const PERCENTILE_WINDOW: (usize, usize) = (5, 995);

/// dicom-parser reserves a value's declared length before reading it, so a hostile length field
/// (up to 4 GiB) costs that much memory until the read fails. Parsing one file at a time keeps
/// that to one such reservation however many images are decoded in parallel; the pixel decoding
/// itself, bounded by [`MAX_DICOM_PIXELS`], runs in parallel.
static PARSE: Mutex<()> = Mutex::new(());

/// Whether `path` is a DICOM Part 10 file: 128 bytes of preamble, then `DICM`.
pub fn is_dicom_file(path: &Path) -> bool {
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut head))
        .is_ok()
        && &head[128..] == b"DICM"
}

/// Reads a single-frame grayscale DICOM file into an 8-bit gray image of display values.
pub(crate) fn read_dicom(path: &Path) -> Result<DynamicImage, BackboneError> {
    let error = |reason: String| BackboneError::Dicom {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|source| BackboneError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !metadata.is_file() {
        return Err(error("not a regular file".into()));
    }
    if metadata.len() > MAX_DICOM_BYTES {
        return Err(error(format!(
            "{} bytes, over the limit of {MAX_DICOM_BYTES}",
            metadata.len()
        )));
    }
    let object = {
        let _one_at_a_time = PARSE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        OpenFileOptions::new()
            .open_file(path)
            .map_err(|e| error(format!("not a readable DICOM file: {e}")))?
    };
    let image = Attributes::read(&object).map_err(error)?;
    let syntax = object
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' ']);
    let decoded = object.decode_pixel_data().map_err(|e| {
        error(format!(
            "cannot decode its pixel data (transfer syntax {syntax}): {e}"
        ))
    })?;
    let raw: Vec<i32> = decoded
        .to_vec_frame_with_options(
            0,
            &ConvertOptions::new().with_modality_lut(ModalityLutOption::None),
        )
        .map_err(|e| error(format!("cannot read its pixel values: {e}")))?;
    let pixels = image.rows as usize * image.columns as usize;
    if raw.len() != pixels {
        return Err(error(format!(
            "pixel data holds {} values for {} x {} pixels",
            raw.len(),
            image.rows,
            image.columns
        )));
    }
    let rescale = decoded
        .rescale()
        .map_err(|e| error(format!("bad rescale attributes: {e}")))?
        .first()
        .map_or((1.0, 0.0), |r| (r.slope, r.intercept));
    if !(rescale.0.is_finite() && rescale.1.is_finite() && rescale.0 != 0.0) {
        return Err(error(format!(
            "rescale slope {} and intercept {} must be finite, the slope non-zero",
            rescale.0, rescale.1
        )));
    }
    let modality: Vec<f64> = raw
        .iter()
        .map(|&v| image.stored_value(v) as f64 * rescale.0 + rescale.1)
        .collect();

    let voi_luts = decoded
        .voi_lut_sequence()
        .map_err(|e| error(format!("bad VOI LUT Sequence: {e}")))?;
    let windows = decoded
        .window()
        .map_err(|e| error(format!("bad window attributes: {e}")))?;
    let mut display: Vec<f64> = if let Some(lut) = voi_luts.and_then(<[_]>::first) {
        if lut.data.is_empty() || lut.bits_stored == 0 || lut.bits_stored > 16 {
            return Err(error(format!(
                "VOI LUT of {} entries and {} bits",
                lut.data.len(),
                lut.bits_stored
            )));
        }
        let top = ((1u32 << lut.bits_stored) - 1) as f64;
        let last = lut.data.len() as i64 - 1;
        modality
            .iter()
            .map(|&m| {
                let index = (m.round() as i64 - lut.min_pixel_value as i64).clamp(0, last);
                (lut.data[index as usize] as f64 / top).min(1.0)
            })
            .collect()
    } else if let Some(window) = windows.and_then(<[_]>::first) {
        let function = decoded
            .voi_lut_function()
            .map_err(|e| error(format!("bad VOI LUT Function: {e}")))?
            .and_then(<[_]>::first)
            .copied()
            .unwrap_or_default();
        let (center, width) = (window.center, window.width);
        let least = if function == VoiLutFunction::Linear {
            1.0
        } else {
            0.0
        };
        if !(center.is_finite() && width.is_finite() && width > least) {
            return Err(error(format!(
                "window centre {center} and width {width}: the width must exceed {least}"
            )));
        }
        modality
            .iter()
            .map(|&m| window_value(m, center, width, function))
            .collect()
    } else {
        percentile_window(&modality)
    };
    if image.monochrome1 {
        display.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    let gray: Vec<u8> = display
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    ImageBuffer::<Luma<u8>, _>::from_raw(image.columns, image.rows, gray)
        .map(DynamicImage::ImageLuma8)
        .ok_or_else(|| error("pixel buffer does not match its size".into()))
}

/// The attributes that say how to read the pixel data, checked before any of it is decoded.
struct Attributes {
    rows: u32,
    columns: u32,
    bits_stored: u32,
    signed: bool,
    monochrome1: bool,
}

impl Attributes {
    fn read(object: &DefaultDicomObject) -> Result<Self, String> {
        let int = |tag, name: &str| -> Result<Option<i64>, String> {
            match object.get(tag) {
                None => Ok(None),
                Some(element) => element
                    .to_int::<i64>()
                    .map(Some)
                    .map_err(|e| format!("bad {name}: {e}")),
            }
        };
        let required = |tag, name: &str| -> Result<i64, String> {
            int(tag, name)?.ok_or_else(|| format!("has no {name}"))
        };
        if object.get(tags::PIXEL_DATA).is_none() {
            return Err("holds no pixel data (7FE0,0010): not an image".into());
        }
        let rows = required(tags::ROWS, "Rows")?;
        let columns = required(tags::COLUMNS, "Columns")?;
        if !(1..=65535).contains(&rows) || !(1..=65535).contains(&columns) {
            return Err(format!("{rows} x {columns} pixels"));
        }
        if (rows * columns) as u64 > MAX_DICOM_PIXELS {
            return Err(format!(
                "{rows} x {columns} pixels, over the limit of {MAX_DICOM_PIXELS}"
            ));
        }
        let frames = int(tags::NUMBER_OF_FRAMES, "Number of Frames")?.unwrap_or(1);
        if frames != 1 {
            return Err(format!(
                "{frames} frames: one chest X-ray per file is expected"
            ));
        }
        let samples = int(tags::SAMPLES_PER_PIXEL, "Samples per Pixel")?.unwrap_or(1);
        let photometric = object
            .get(tags::PHOTOMETRIC_INTERPRETATION)
            .ok_or("has no Photometric Interpretation")?
            .to_str()
            .map_err(|e| format!("bad Photometric Interpretation: {e}"))?
            .trim()
            .to_string();
        if samples != 1 || !matches!(photometric.as_str(), "MONOCHROME1" | "MONOCHROME2") {
            return Err(format!(
                "photometric interpretation {photometric} with {samples} samples per pixel: \
                 only grayscale (MONOCHROME1, MONOCHROME2) X-rays are read"
            ));
        }
        let allocated = required(tags::BITS_ALLOCATED, "Bits Allocated")?;
        let stored = required(tags::BITS_STORED, "Bits Stored")?;
        if !matches!(allocated, 8 | 16) || !(1..=allocated).contains(&stored) {
            return Err(format!(
                "{stored} bits stored in {allocated} allocated: 8 or 16 bits allocated are read"
            ));
        }
        if object.get(tags::MODALITY_LUT_SEQUENCE).is_some() {
            return Err(
                "has a Modality LUT Sequence, which is not applied here: only rescale slope \
                 and intercept are"
                    .into(),
            );
        }
        Ok(Self {
            rows: rows as u32,
            columns: columns as u32,
            bits_stored: stored as u32,
            signed: int(tags::PIXEL_REPRESENTATION, "Pixel Representation")?.unwrap_or(0) == 1,
            monochrome1: photometric == "MONOCHROME1",
        })
    }

    /// A raw sample reduced to its `Bits Stored`: bits above them (old overlays) are dropped,
    /// and signed values are sign-extended from their top stored bit.
    fn stored_value(&self, raw: i32) -> i32 {
        let unused = 32 - self.bits_stored;
        if self.signed {
            (raw << unused) >> unused
        } else {
            ((raw as u32) << unused >> unused) as i32
        }
    }
}

/// One value through a window (PS3.3 C.11.2.1.2/3), to [0, 1].
fn window_value(x: f64, center: f64, width: f64, function: VoiLutFunction) -> f64 {
    match function {
        VoiLutFunction::Linear => {
            let (c, w) = (center - 0.5, width - 1.0);
            ((x - c) / w + 0.5).clamp(0.0, 1.0)
        }
        VoiLutFunction::LinearExact => ((x - center) / width + 0.5).clamp(0.0, 1.0),
        VoiLutFunction::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - center) / width).exp()),
    }
}

/// Without VOI attributes: a linear window from the 0.5th to the 99.5th percentile of the
/// values, so that a few extreme pixels (collimator edges, markers) do not set the contrast.
fn percentile_window(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let at = |per_mille: usize| sorted[(sorted.len() - 1) * per_mille / 1000];
    let (low, high) = (at(PERCENTILE_WINDOW.0), at(PERCENTILE_WINDOW.1));
    let span = high - low;
    values
        .iter()
        .map(|&v| {
            if span > 0.0 {
                ((v - low) / span).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_window_follows_the_standard() {
        // PS3.3 C.11.2.1.2.1: centre 2048, width 4096 maps [0, 4095] linearly onto [0, 1].
        let f = |x| window_value(x, 2048.0, 4096.0, VoiLutFunction::Linear);
        assert_eq!(f(0.0), 0.0);
        assert_eq!(f(4095.0), 1.0);
        assert!((f(2047.5) - 0.5).abs() < 1e-12);
        assert_eq!(f(-10.0), 0.0);
        assert_eq!(f(1e6), 1.0);
        let exact = |x| window_value(x, 100.0, 50.0, VoiLutFunction::LinearExact);
        assert_eq!((exact(75.0), exact(100.0), exact(125.0)), (0.0, 0.5, 1.0));
        let sigmoid = |x| window_value(x, 100.0, 50.0, VoiLutFunction::Sigmoid);
        assert!((sigmoid(100.0) - 0.5).abs() < 1e-12);
        assert!(sigmoid(0.0) < 0.001 && sigmoid(200.0) > 0.999);
    }

    #[test]
    fn percentile_window_ignores_a_few_extreme_pixels() {
        let mut values: Vec<f64> = (0..1000).map(|i| 100.0 + (i % 100) as f64).collect();
        values[0] = -30000.0;
        values[1] = 30000.0;
        let display = percentile_window(&values);
        assert_eq!(display[0], 0.0);
        assert_eq!(display[1], 1.0);
        // The bulk keeps its spread instead of being squashed by the outliers.
        assert!(display[50] > 0.4 && display[50] < 0.6, "{}", display[50]);
        assert!(percentile_window(&[7.0; 10]).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn stored_bits_are_masked_and_sign_extended() {
        let unsigned = Attributes {
            rows: 1,
            columns: 1,
            bits_stored: 12,
            signed: false,
            monochrome1: false,
        };
        assert_eq!(unsigned.stored_value(0xF_0FFF), 0x0FFF);
        let signed = Attributes {
            signed: true,
            ..unsigned
        };
        assert_eq!(signed.stored_value(0x0FFF), -1);
        assert_eq!(signed.stored_value(0x07FF), 2047);
    }
}
