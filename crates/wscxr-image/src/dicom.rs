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
//! 4. `MONOCHROME1` inverted, so that bone is bright as in `MONOCHROME2`, and so is a
//!    `Presentation LUT Shape` of INVERSE (the DX IOD pairs INVERSE with MONOCHROME1, both
//!    meaning one inversion, so the two together invert once).
//!
//! What this pipeline cannot follow is refused by name rather than shown wrongly: a malformed
//! VOI LUT Sequence item, an unknown VOI LUT Function or Presentation LUT Shape, and a
//! `High Bit` other than `Bits Stored - 1`. Data sets written without the Part 10 preamble and
//! meta group (implicit VR little endian, explicit VR little or big endian) are read too.
//!
//! The result, in [0, 1], is quantised to 8 bits: what a display shows, and what the PNG exports
//! that chest X-ray datasets (and the method's reference code) are made of hold, so that a DICOM
//! file gives exactly the features of its 8-bit PNG export. Transfer syntaxes: implicit and
//! explicit VR little endian, explicit VR big endian,
//! deflated explicit VR little endian, RLE lossless, JPEG baseline, extended and lossless, and
//! JPEG 2000 (lossless and lossy), all decoded in pure Rust. JPEG-LS, JPEG XL and HTJ2K are not
//! built in and are refused by name.
//!
//! Decoding needs the `dicom` feature (on by default). Without it, [`is_dicom_file`] still
//! recognises DICOM files by their header, so that listing a folder finds them, and reading one
//! is an [`ImageError::Dicom`](crate::ImageError::Dicom) that says the feature is missing.

#[cfg(feature = "dicom")]
mod decode;

use std::io::Read;
use std::path::Path;

#[cfg(not(feature = "dicom"))]
use image::DynamicImage;

#[cfg(not(feature = "dicom"))]
use crate::ImageError;
#[cfg(feature = "dicom")]
pub(crate) use decode::{decode_dicom, read_dicom};

/// The largest DICOM file read: ten times a 4,300 x 3,500 16-bit detector's image.
pub const MAX_DICOM_BYTES: u64 = 300 << 20;
/// The most pixels one image may have (8,192 x 8,192).
pub const MAX_DICOM_PIXELS: u64 = 1 << 26;

/// Whether `path` is a DICOM file: a Part 10 file (128 bytes of preamble, then `DICM`), or a
/// bare data set without that header whose first element is in group 0008, as old archives and
/// some toolkits write them.
pub fn is_dicom_file(path: &Path) -> bool {
    let mut head = Vec::with_capacity(132);
    std::fs::File::open(path)
        .and_then(|file| file.take(132).read_to_end(&mut head))
        .is_ok()
        && is_dicom(&head)
}

/// Whether `bytes` (a file's first 132 bytes are enough) are DICOM: a Part 10 file, or a bare
/// data set whose first element is in group 0008 (see [`is_dicom_file`]).
pub fn is_dicom(bytes: &[u8]) -> bool {
    is_part10(bytes) || bare_syntax(bytes).is_some()
}

/// Why `bytes` are not read as DICOM, naming the first element they would hold.
pub(crate) fn not_dicom(bytes: &[u8]) -> String {
    let mut reason = String::from(
        "not readable DICOM: no DICM marker after a 128-byte preamble, and not a data set without \
         Part 10 header either, which would start with an element of group 0008",
    );
    if bytes.len() >= 4 {
        // Both byte orders' reading of the first tag, as a person comparing with a dump would.
        let group = u16::from_le_bytes([bytes[0], bytes[1]]);
        let element = u16::from_le_bytes([bytes[2], bytes[3]]);
        reason.push_str(&format!(
            " (its first four bytes read as the tag ({group:04X},{element:04X}))"
        ));
    } else {
        reason.push_str(&format!(" (it holds {} bytes)", bytes.len()));
    }
    reason
}

fn is_part10(head: &[u8]) -> bool {
    head.len() >= 132 && &head[128..132] == b"DICM"
}

/// The transfer syntaxes a data set without Part 10 header can be in (their UIDs are written
/// out, as the header sniff works without dicom-rs).
const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// Retired from the standard (hence deprecated in dicom-dictionary-std), yet still in archives.
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// The transfer syntax of a data set without Part 10 header, told from its first element, which
/// must be in group 0008 (every image IOD has group 0008 attributes, and nothing sorts before
/// them once the meta group is gone). Explicit VR shows as two capital letters after the tag;
/// in implicit VR those bytes are the low half of a length, which two capitals would make over
/// 16 KiB for an element of short strings. Big endian exists only as explicit VR.
fn bare_syntax(head: &[u8]) -> Option<&'static str> {
    if head.len() < 8 {
        return None;
    }
    let explicit = head[4].is_ascii_uppercase() && head[5].is_ascii_uppercase();
    match (head[0], head[1]) {
        (0x08, 0x00) if explicit => Some(EXPLICIT_VR_LITTLE_ENDIAN),
        (0x08, 0x00) => Some(IMPLICIT_VR_LITTLE_ENDIAN),
        (0x00, 0x08) if explicit => Some(EXPLICIT_VR_BIG_ENDIAN),
        _ => None,
    }
}

/// Without the `dicom` feature: refuses the file, naming it and the missing feature.
#[cfg(not(feature = "dicom"))]
pub(crate) fn read_dicom(path: &Path) -> Result<DynamicImage, ImageError> {
    decode_dicom(path, &[])
}

/// Without the `dicom` feature: refuses the bytes, naming them and the missing feature.
#[cfg(not(feature = "dicom"))]
pub(crate) fn decode_dicom(path: &Path, _bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    Err(ImageError::Dicom {
        path: path.to_path_buf(),
        reason: "wscxr was built without the `dicom` feature, which reads DICOM files".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_data_sets_are_told_by_their_first_element() {
        // (0008,0005) CS, explicit VR little endian.
        let explicit_le = [0x08, 0x00, 0x05, 0x00, b'C', b'S', 0x0A, 0x00];
        assert_eq!(bare_syntax(&explicit_le), Some(EXPLICIT_VR_LITTLE_ENDIAN));
        // The same tag with a 4-byte implicit VR length.
        let implicit_le = [0x08, 0x00, 0x05, 0x00, 0x0A, 0x00, 0x00, 0x00];
        assert_eq!(bare_syntax(&implicit_le), Some(IMPLICIT_VR_LITTLE_ENDIAN));
        let explicit_be = [0x00, 0x08, 0x00, 0x05, b'C', b'S', 0x00, 0x0A];
        assert_eq!(bare_syntax(&explicit_be), Some(EXPLICIT_VR_BIG_ENDIAN));
        assert_eq!(bare_syntax(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(bare_syntax(&explicit_le[..7]), None);
        let mut part10 = vec![0u8; 128];
        part10.extend_from_slice(b"DICM");
        assert!(is_part10(&part10));
        assert!(!is_part10(&part10[..131]));
    }

    #[cfg(feature = "dicom")]
    #[test]
    fn written_out_uids_are_dicom_rs_ones() {
        use dicom_dictionary_std::uids;
        assert_eq!(IMPLICIT_VR_LITTLE_ENDIAN, uids::IMPLICIT_VR_LITTLE_ENDIAN);
        assert_eq!(EXPLICIT_VR_LITTLE_ENDIAN, uids::EXPLICIT_VR_LITTLE_ENDIAN);
        #[allow(deprecated)]
        let big_endian = uids::EXPLICIT_VR_BIG_ENDIAN;
        assert_eq!(EXPLICIT_VR_BIG_ENDIAN, big_endian);
    }

    #[cfg(not(feature = "dicom"))]
    #[test]
    fn without_the_feature_reading_names_the_file_and_the_feature() {
        let error = read_dicom(Path::new("scans/a.dcm"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("scans/a.dcm"), "{error}");
        assert!(error.contains("`dicom` feature"), "{error}");
    }
}
