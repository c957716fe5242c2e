//! Decoding of DICOM files (the `dicom` feature): the pixel pipeline described in the
//! [module](super) notes, on dicom-rs.

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use dicom_dictionary_std::{tags, uids};
use dicom_object::file::ReadPreamble;
use dicom_object::{
    DefaultDicomObject, DicomCollectorOptions, FileMetaTableBuilder, InMemDicomObject,
    OpenFileOptions,
};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder, VoiLutFunction};
use image::{DynamicImage, ImageBuffer, Luma};

use super::{MAX_DICOM_BYTES, MAX_DICOM_PIXELS, bare_syntax, is_part10, not_dicom};
use crate::ImageError;

/// Where the percentile window sits when a file has no VOI attributes (per mille).
const PERCENTILE_WINDOW: (usize, usize) = (5, 995);

/// dicom-parser reserves a value's declared length before reading it, so a hostile length field
/// (up to 4 GiB) costs that much memory until the read fails. Parsing one file at a time keeps
/// that to one such reservation however many images are decoded in parallel; the pixel decoding
/// itself, bounded by [`MAX_DICOM_PIXELS`], runs in parallel.
static PARSE: Mutex<()> = Mutex::new(());

/// Reads a Part 10 file, or a bare data set given the meta group it lacks, so that the rest of
/// the pipeline (the pixel decoder included) sees one kind of object.
fn open_object(bytes: &[u8]) -> Result<DefaultDicomObject, String> {
    if is_part10(bytes) {
        return OpenFileOptions::new()
            .read_preamble(ReadPreamble::Always)
            .from_reader(bytes)
            .map_err(|e| format!("not a readable DICOM file: {e}"));
    }
    let Some(syntax) = bare_syntax(bytes) else {
        return Err(not_dicom(bytes));
    };
    let mut dataset = InMemDicomObject::new_empty();
    DicomCollectorOptions::new()
        .expected_ts(syntax)
        .read_preamble(ReadPreamble::Never)
        .from_reader(std::io::BufReader::new(std::io::Cursor::new(bytes)))
        .read_dataset_to_end(&mut dataset)
        .map_err(|e| {
            format!("not a readable DICOM data set (no Part 10 header, read as {syntax}): {e}")
        })?;
    dataset
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(syntax)
                .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
                .media_storage_sop_instance_uid("2.25.0"),
        )
        .map_err(|e| format!("DICOM data set without Part 10 header: {e}"))
}

/// Reads a single-frame grayscale DICOM file into an 8-bit gray image of display values.
pub(crate) fn read_dicom(path: &Path) -> Result<DynamicImage, ImageError> {
    let error = |reason: String| ImageError::Dicom {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|source| ImageError::Io {
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
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_DICOM_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    decode_dicom(path, &bytes)
}

/// Decodes DICOM bytes (a Part 10 file, or a bare data set) into an 8-bit gray image of display
/// values; `path` names them in errors.
pub(crate) fn decode_dicom(path: &Path, bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let error = |reason: String| ImageError::Dicom {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() as u64 > MAX_DICOM_BYTES {
        return Err(error(format!(
            "{} bytes, over the limit of {MAX_DICOM_BYTES}",
            bytes.len()
        )));
    }
    let object = {
        let _one_at_a_time = PARSE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open_object(bytes).map_err(error)?
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

    let voi_lut = match voi_lut_item(&object).map_err(error)? {
        Some(lut) => Some(lut),
        // Enhanced objects keep their VOI LUT in the functional groups, which dicom-pixeldata
        // reads.
        None => decoded
            .voi_lut_sequence()
            .map_err(|e| error(format!("bad VOI LUT Sequence: {e}")))?
            .and_then(<[_]>::first)
            .map(|lut| VoiLut {
                first: lut.min_pixel_value as i64,
                bits: lut.bits_stored as u32,
                data: lut.data.clone(),
            }),
    };
    let windows = decoded
        .window()
        .map_err(|e| error(format!("bad window attributes: {e}")))?;
    let mut display: Vec<f64> = if let Some(lut) = voi_lut {
        if lut.data.is_empty() || !(1..=16).contains(&lut.bits) {
            return Err(error(format!(
                "VOI LUT of {} entries and {} bits",
                lut.data.len(),
                lut.bits
            )));
        }
        let top = ((1u32 << lut.effective_bits()) - 1) as f64;
        let last = lut.data.len() as i64 - 1;
        modality
            .iter()
            .map(|&m| {
                let index = (m.round() as i64 - lut.first).clamp(0, last);
                (lut.data[index as usize] as f64 / top).min(1.0)
            })
            .collect()
    } else if let Some(window) = windows.and_then(<[_]>::first) {
        let function = match image.voi_function {
            Some(function) => function,
            None => decoded
                .voi_lut_function()
                .map_err(|e| error(format!("bad VOI LUT Function: {e}")))?
                .and_then(<[_]>::first)
                .copied()
                .unwrap_or_default(),
        };
        let (center, width) = (window.center, window.width);
        // PS3.3 C.11.2.1.2.1: LINEAR needs a width of at least 1 (1 is a threshold);
        // C.11.2.1.3: LINEAR_EXACT and SIGMOID any positive width.
        let legal = if function == VoiLutFunction::Linear {
            width >= 1.0
        } else {
            width > 0.0
        };
        if !(center.is_finite() && width.is_finite() && legal) {
            return Err(error(format!(
                "window centre {center} and width {width}: the width must be at least 1 for \
                 LINEAR, above 0 otherwise"
            )));
        }
        modality
            .iter()
            .map(|&m| window_value(m, center, width, function))
            .collect()
    } else {
        percentile_window(&modality)
    };
    if image.monochrome1 || image.inverse {
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
    /// Presentation LUT Shape INVERSE.
    inverse: bool,
    /// The VOI LUT Function at the top level, when there is one.
    voi_function: Option<VoiLutFunction>,
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
        let high_bit = int(tags::HIGH_BIT, "High Bit")?.unwrap_or(stored - 1);
        if high_bit != stored - 1 {
            return Err(format!(
                "High Bit {high_bit} with {stored} bits stored: only stored values that end at \
                 bit Bits Stored - 1 are read"
            ));
        }
        let text = |tag, name: &str| -> Result<Option<String>, String> {
            match object.get(tag) {
                None => Ok(None),
                Some(element) => element
                    .to_str()
                    .map(|s| Some(s.trim_matches(['\0', ' ']).to_string()))
                    .map_err(|e| format!("bad {name}: {e}")),
            }
        };
        let inverse = match text(tags::PRESENTATION_LUT_SHAPE, "Presentation LUT Shape")?.as_deref()
        {
            None | Some("IDENTITY") => false,
            Some("INVERSE") => true,
            Some(other) => {
                return Err(format!(
                    "Presentation LUT Shape {other:?}: only IDENTITY and INVERSE are defined"
                ));
            }
        };
        // dicom-pixeldata reads an unknown function as LINEAR; a SIGMOID-like curve shown as
        // a straight line would be a silently different image.
        let voi_function = match text(tags::VOILUT_FUNCTION, "VOI LUT Function")?.as_deref() {
            None => None,
            Some("LINEAR") => Some(VoiLutFunction::Linear),
            Some("LINEAR_EXACT") => Some(VoiLutFunction::LinearExact),
            Some("SIGMOID") => Some(VoiLutFunction::Sigmoid),
            Some(other) => {
                return Err(format!(
                    "VOI LUT Function {other:?}: only LINEAR, LINEAR_EXACT and SIGMOID are read"
                ));
            }
        };
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
            inverse,
            voi_function,
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

/// A VOI LUT: the modality value `first` maps to `data[0]`.
struct VoiLut {
    first: i64,
    /// The entry depth its LUT Descriptor declares.
    bits: u32,
    data: Vec<u16>,
}

impl VoiLut {
    /// The depth its entries actually span, which scales them to [0, 1]. Some CR devices
    /// declare 16 bits for 12-bit entries, which at face value would show a nearly black image;
    /// like dicom-pixeldata, the declared depth still wins when the data exceeds it or is all
    /// zero.
    fn effective_bits(&self) -> u32 {
        let max = self.data.iter().copied().max().unwrap_or(0);
        let used = u16::BITS - max.leading_zeros();
        if used == 0 || used > self.bits {
            self.bits
        } else {
            used
        }
    }
}

/// The first item of the top-level VOI LUT Sequence. dicom-pixeldata drops a sequence whose
/// item it cannot parse, which would quietly show the file through its window or the
/// percentile window instead: here any defect is an error.
fn voi_lut_item(object: &DefaultDicomObject) -> Result<Option<VoiLut>, String> {
    let Some(sequence) = object.get(tags::VOILUT_SEQUENCE) else {
        return Ok(None);
    };
    let bad = |what: String| format!("bad VOI LUT Sequence: {what}");
    let item = sequence
        .items()
        .ok_or_else(|| bad("not a sequence".into()))?
        .first()
        .ok_or_else(|| bad("no item".into()))?;
    let descriptor = item
        .get(tags::LUT_DESCRIPTOR)
        .ok_or_else(|| bad("no LUT Descriptor".into()))?
        .to_multi_int::<i64>()
        .map_err(|e| bad(format!("LUT Descriptor: {e}")))?;
    let &[entries, first, bits] = descriptor.as_slice() else {
        return Err(bad(format!(
            "LUT Descriptor of {} values, not 3",
            descriptor.len()
        )));
    };
    // PS3.3 C.11.2.1.1: 0 entries stands for 2^16.
    let entries = if entries == 0 { 1 << 16 } else { entries };
    if !(1..=1 << 16).contains(&entries) || !(8..=16).contains(&bits) {
        return Err(bad(format!(
            "LUT Descriptor ({entries}, {first}, {bits}): 1 to 65536 entries of 8 to 16 bits \
             expected"
        )));
    }
    let data = item
        .get(tags::LUT_DATA)
        .ok_or_else(|| bad("no LUT Data".into()))?
        .to_multi_int::<u16>()
        .map_err(|e| bad(format!("LUT Data: {e}")))?;
    if data.len() as i64 != entries {
        return Err(bad(format!(
            "LUT Data of {} entries, its descriptor says {entries}",
            data.len()
        )));
    }
    Ok(Some(VoiLut {
        first,
        bits: bits as u32,
        data,
    }))
}

/// One value through a window (PS3.3 C.11.2.1.2/3), to [0, 1].
fn window_value(x: f64, center: f64, width: f64, function: VoiLutFunction) -> f64 {
    match function {
        // Width 1 is a threshold; the general formula would divide by zero.
        VoiLutFunction::Linear if width <= 1.0 => {
            if x <= center - 0.5 {
                0.0
            } else {
                1.0
            }
        }
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
    fn a_linear_window_of_width_one_is_a_threshold() {
        let f = |x| window_value(x, 100.0, 1.0, VoiLutFunction::Linear);
        assert_eq!((f(99.0), f(99.5), f(99.6), f(100.0)), (0.0, 0.0, 1.0, 1.0));
    }

    #[test]
    fn a_voi_lut_is_scaled_by_the_depth_its_entries_span() {
        let lut = |bits, data: Vec<u16>| VoiLut {
            first: 0,
            bits,
            data,
        };
        assert_eq!(lut(16, vec![0, 2000, 4095]).effective_bits(), 12);
        assert_eq!(lut(8, vec![0, 255]).effective_bits(), 8);
        assert_eq!(lut(12, vec![0, 0]).effective_bits(), 12);
        assert_eq!(lut(12, vec![0, 65535]).effective_bits(), 12);
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
            inverse: false,
            voi_function: None,
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
