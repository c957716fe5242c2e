//! Chest X-rays as the backbone takes them: image files (PNG, JPEG, DICOM), or pixels a program
//! already holds in memory (a service scoring what it received, without writing it to disk).

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::error::{DecodingError, ImageFormatHint};
use image::{DynamicImage, ImageBuffer, ImageFormat, ImageReader, Luma};

use crate::ImageError;
use crate::dicom::{decode_dicom, is_dicom, is_dicom_file, not_dicom, read_dicom};

/// A decoded chest X-ray in memory, with a name saying where it came from (shown in errors and
/// outputs in place of a path).
#[derive(Debug, Clone, PartialEq)]
pub struct Radiograph {
    name: String,
    pixels: DynamicImage,
}

impl Radiograph {
    /// Decoded pixels (gray or colour, 8 or 16 bit; colour is used as Pillow's `convert('RGB')`
    /// would, gray is copied to the three channels). An image without pixels is an error.
    pub fn new(name: impl Into<String>, pixels: DynamicImage) -> Result<Self, ImageError> {
        let name = name.into();
        if pixels.width() == 0 || pixels.height() == 0 {
            return Err(ImageError::Decoded {
                name,
                reason: format!("{} x {} pixels", pixels.width(), pixels.height()),
            });
        }
        Ok(Self { name, pixels })
    }

    /// 8-bit gray pixels, row-major, `width * height` of them.
    pub fn gray8(
        name: impl Into<String>,
        width: u32,
        height: u32,
        pixels: Vec<u8>,
    ) -> Result<Self, ImageError> {
        let name = name.into();
        let len = pixels.len();
        if len as u64 != width as u64 * height as u64 {
            return Err(size_mismatch(name, width, height, len));
        }
        match ImageBuffer::<Luma<u8>, _>::from_raw(width, height, pixels) {
            Some(image) => Self::new(name, DynamicImage::ImageLuma8(image)),
            None => Err(size_mismatch(name, width, height, len)),
        }
    }

    /// 16-bit gray pixels (0 black, 65535 white), row-major, `width * height` of them.
    pub fn gray16(
        name: impl Into<String>,
        width: u32,
        height: u32,
        pixels: Vec<u16>,
    ) -> Result<Self, ImageError> {
        let name = name.into();
        let len = pixels.len();
        if len as u64 != width as u64 * height as u64 {
            return Err(size_mismatch(name, width, height, len));
        }
        match ImageBuffer::<Luma<u16>, _>::from_raw(width, height, pixels) {
            Some(image) => Self::new(name, DynamicImage::ImageLuma16(image)),
            None => Err(size_mismatch(name, width, height, len)),
        }
    }

    /// Reads an image file: DICOM (recognised by its `DICM` preamble, or as a data set without
    /// that Part 10 header, whatever the file's name;
    /// see the [module](crate::dicom) notes on how its values are read), else PNG or JPEG by
    /// content. The name is the path. A `.dcm` or `.dicom` file that is not readable DICOM is
    /// refused as DICOM, saying why.
    pub fn read(path: &Path) -> Result<Self, ImageError> {
        let pixels = if is_dicom_file(path) {
            read_dicom(path)?
        } else {
            let io = |source| ImageError::Io {
                path: path.to_path_buf(),
                source,
            };
            let open = || std::fs::File::open(path).map(std::io::BufReader::new);
            // By content, else by the file's extension (a damaged `.png` is a PNG that fails).
            let format = ImageReader::open(path)
                .map_err(io)?
                .with_guessed_format()
                .map_err(io)?
                .format();
            let Some(format) = format else {
                let mut head = Vec::with_capacity(132);
                open()
                    .and_then(|file| file.take(132).read_to_end(&mut head))
                    .map_err(io)?;
                return Err(unrecognised(path, &head));
            };
            decode_raster(path, format, open)?
        };
        Self::new(path.display().to_string(), pixels)
    }

    /// Decodes an image held in memory (a request's body), by content as [`Radiograph::read`]
    /// decides for files: DICOM, PNG or JPEG. Bytes of none of these kinds are an
    /// [`ImageError::Unrecognised`]. The name stands for the bytes in errors and outputs.
    pub fn from_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Self, ImageError> {
        let name = name.into();
        let path = Path::new(&name);
        let pixels = match ImageKind::of(bytes) {
            Some(ImageKind::Dicom) => decode_dicom(path, bytes)?,
            Some(ImageKind::Png) => {
                decode_raster(path, ImageFormat::Png, || Ok(std::io::Cursor::new(bytes)))?
            }
            Some(ImageKind::Jpeg) => {
                decode_raster(path, ImageFormat::Jpeg, || Ok(std::io::Cursor::new(bytes)))?
            }
            None => return Err(unrecognised(path, bytes)),
        };
        Self::new(name, pixels)
    }

    /// Decodes bytes that were sent as DICOM (`application/dicom`): bytes that are not readable
    /// DICOM are refused as such, saying why, rather than as an unknown kind of image.
    pub fn from_dicom_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Self, ImageError> {
        let name = name.into();
        let pixels = decode_dicom(Path::new(&name), bytes)?;
        Self::new(name, pixels)
    }

    /// Where it came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pixels.
    pub fn pixels(&self) -> &DynamicImage {
        &self.pixels
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.pixels.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.pixels.height()
    }
}

/// Decodes a PNG or JPEG (`format`) that `open` hands out (twice for a PNG, whose checksums are
/// read first): files and request bodies take this one path.
fn decode_raster<R: std::io::BufRead + std::io::Seek>(
    path: &Path,
    format: ImageFormat,
    open: impl Fn() -> std::io::Result<R>,
) -> Result<DynamicImage, ImageError> {
    let io = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    if format == ImageFormat::Png {
        verify_png_checksum(path, open().map_err(io)?)?;
    }
    ImageReader::with_format(open().map_err(io)?, format)
        .decode()
        .map_err(|source| ImageError::Image {
            path: path.to_path_buf(),
            source,
        })
}

/// The `png` decoder behind `image` skips the Adler-32 checksum of the compressed image data, so
/// a PNG whose data was damaged (with its chunk CRCs made to match) decodes to wrong pixels
/// without an error. Reading its rows once with the checksum on refuses it; rows are streamed
/// (within `png`'s default memory limit), never held.
fn verify_png_checksum(
    path: &Path,
    source: impl std::io::BufRead + std::io::Seek,
) -> Result<(), ImageError> {
    let error = |e: png::DecodingError| ImageError::Image {
        path: path.to_path_buf(),
        source: image::ImageError::Decoding(DecodingError::new(
            ImageFormatHint::Exact(ImageFormat::Png),
            e,
        )),
    };
    let mut options = png::DecodeOptions::default();
    options.set_ignore_adler32(false);
    let mut reader = png::Decoder::new_with_options(source, options)
        .read_info()
        .map_err(error)?;
    while reader.next_row().map_err(error)?.is_some() {}
    reader.finish().map_err(error)
}

/// The error for bytes of no kind read here: for a file named as DICOM, why it is not readable
/// DICOM; otherwise which kinds are read.
fn unrecognised(path: &Path, head: &[u8]) -> ImageError {
    let named_dicom = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dcm") || e.eq_ignore_ascii_case("dicom"));
    if named_dicom {
        return ImageError::Dicom {
            path: path.to_path_buf(),
            reason: not_dicom(head),
        };
    }
    ImageError::Unrecognised {
        name: path.display().to_string(),
        reason: format!(
            "neither PNG nor JPEG by its first bytes, and DICOM's {}",
            not_dicom(head)
        ),
    }
}

/// The kinds of image read here, told by content (never by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// A DICOM Part 10 file, or a data set without its Part 10 header.
    Dicom,
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
}

impl ImageKind {
    /// The kind of image `bytes` hold (their first 132 bytes are enough), if any.
    pub fn of(bytes: &[u8]) -> Option<Self> {
        if is_dicom(bytes) {
            return Some(Self::Dicom);
        }
        // The signatures `image` reads, as `Radiograph::read` guesses a file's format.
        match image::guess_format(bytes) {
            Ok(ImageFormat::Png) => Some(Self::Png),
            Ok(ImageFormat::Jpeg) => Some(Self::Jpeg),
            _ => None,
        }
    }
}

fn size_mismatch(name: String, width: u32, height: u32, len: usize) -> ImageError {
    ImageError::Decoded {
        name,
        reason: format!("{len} pixels given for {width} x {height}"),
    }
}

/// One chest X-ray to extract features from: a file to read, or a radiograph already in memory.
/// Paths convert into it, so that `&[PathBuf]` stays the convenient form.
#[derive(Debug, Clone, PartialEq)]
pub enum Xray {
    /// An image file (PNG, JPEG or DICOM), read when needed.
    File(PathBuf),
    /// Pixels in memory (shared, not copied, when the `Xray` is cloned).
    Decoded(Arc<Radiograph>),
}

impl Xray {
    /// The decoded radiograph: the file read now, or the one in memory.
    pub fn decode(&self) -> Result<Arc<Radiograph>, ImageError> {
        match self {
            Xray::File(path) => Radiograph::read(path).map(Arc::new),
            Xray::Decoded(radiograph) => Ok(radiograph.clone()),
        }
    }

    /// The file, for an X-ray read from one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Xray::File(path) => Some(path),
            Xray::Decoded(_) => None,
        }
    }

    /// The path, or the in-memory radiograph's name.
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            Xray::File(path) => path.to_string_lossy(),
            Xray::Decoded(radiograph) => Cow::Borrowed(radiograph.name()),
        }
    }

    /// X-rays of these files.
    pub fn files<P: AsRef<Path>>(paths: &[P]) -> Vec<Xray> {
        paths
            .iter()
            .map(|p| Xray::File(p.as_ref().into()))
            .collect()
    }
}

impl fmt::Display for Xray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl From<PathBuf> for Xray {
    fn from(path: PathBuf) -> Self {
        Xray::File(path)
    }
}

impl From<&PathBuf> for Xray {
    fn from(path: &PathBuf) -> Self {
        Xray::File(path.clone())
    }
}

impl From<&Path> for Xray {
    fn from(path: &Path) -> Self {
        Xray::File(path.into())
    }
}

impl From<&str> for Xray {
    fn from(path: &str) -> Self {
        Xray::File(path.into())
    }
}

impl From<Radiograph> for Xray {
    fn from(radiograph: Radiograph) -> Self {
        Xray::Decoded(Arc::new(radiograph))
    }
}

impl From<Arc<Radiograph>> for Xray {
    fn from(radiograph: Arc<Radiograph>) -> Self {
        Xray::Decoded(radiograph)
    }
}

impl From<&Xray> for Xray {
    fn from(xray: &Xray) -> Self {
        xray.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_counts_must_match_the_size() {
        assert!(Radiograph::gray8("a", 3, 2, vec![0; 6]).is_ok());
        let short = Radiograph::gray8("upload 7", 3, 2, vec![0; 5]).unwrap_err();
        assert!(short.to_string().contains("upload 7"), "{short}");
        assert!(Radiograph::gray16("b", 2, 2, vec![0; 5]).is_err());
        assert!(Radiograph::gray8("empty", 0, 0, vec![]).is_err());
    }

    #[test]
    fn names_say_where_an_xray_came_from() {
        let file = Xray::from("scans/a.png");
        assert_eq!(file.name(), "scans/a.png");
        assert_eq!(file.path(), Some(Path::new("scans/a.png")));
        let memory = Xray::from(Radiograph::gray8("pacs:1.2.3", 1, 1, vec![9]).unwrap());
        assert_eq!(memory.to_string(), "pacs:1.2.3");
        assert_eq!(memory.path(), None);
        assert_eq!(memory.decode().unwrap().pixels().to_luma8().as_raw(), &[9]);
    }
}
