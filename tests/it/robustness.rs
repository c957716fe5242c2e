//! Damaged input files, deterministically mutated by the thousand: images (PNG, JPEG) and ONNX
//! weight files. Every mutant ends in `Ok` or `Err` (ONNX: always `Err`), never a panic.
//!
//! Image decoding: each mutant of a PNG and a JPEG ends in `Ok` or `Err`, never a panic. PNG chunks are re-checksummed after each edit, so the
//! mutation reaches the decoder rather than stopping at the CRC check; damaged image data is
//! then refused by zlib's Adler-32, which wscxr has the png crate verify.
//! Memory is bounded by the `image` crate's default decoding limit (512 MiB), which a header
//! declaring a huge image hits.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use crate::common::shared_dir;
use image::{ImageBuffer, Rgb};
use wscxr::backbone::{Backbone, BackboneError, Network};
use wscxr::burn::prelude::Device;
use wscxr::input::{ImageError, Normalization, load_image};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `(start, data length)` of each chunk after the 8-byte signature.
fn png_chunks(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        chunks.push((at, len));
        at += 12 + len;
    }
    chunks
}

/// Recomputes the CRC of the chunk at `start` (type and data).
fn fix_crc(bytes: &mut [u8], start: usize, len: usize) {
    let crc = crc32(&bytes[start + 4..start + 8 + len]);
    bytes[start + 8 + len..start + 12 + len].copy_from_slice(&crc.to_be_bytes());
}

/// Decodes `bytes` from a file: an error must be an image or I/O error naming the file; success
/// must give the requested input size.
fn decode(dir: &Path, bytes: &[u8], what: &str) -> bool {
    let path = dir.join("mutant.png");
    std::fs::write(&path, bytes).unwrap();
    match load_image(&path, 32, Normalization::SymmetricUnit) {
        Ok(input) => {
            assert_eq!(input.data.len(), 3 * 32 * 32, "{what}");
            true
        }
        Err(ImageError::Image { path: p, .. } | ImageError::Io { path: p, .. }) => {
            assert_eq!(p, path, "{what}");
            false
        }
        Err(other) => panic!("{what}: unexpected error {other}"),
    }
}

#[test]
fn damaged_png_files_are_errors_or_images_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bytes = std::fs::read(fixture("resize_src_rgb.png")).unwrap();
    let chunks = png_chunks(&bytes);
    assert!(decode(dir, &bytes, "intact"));
    let mut mutants = 0;
    let mut errors = 0;
    // Bit flips: every byte of the signature and of each chunk's length, type and CRC fields,
    // every byte of small chunks, every 11th of the image data; the CRC is then made right again.
    for &(start, len) in &chunks {
        let mut positions: Vec<usize> = (start..start + 8).collect();
        if len <= 64 {
            positions.extend(start + 8..start + 8 + len);
        } else {
            positions.extend((start + 8..start + 8 + len).step_by(11));
        }
        positions.extend(start + 8 + len..start + 12 + len);
        for at in positions {
            for bit in [0x01, 0x80] {
                let mut m = bytes.clone();
                m[at] ^= bit;
                // Type and data edits get a matching CRC; length and CRC edits stay as made.
                if (start + 4..start + 8 + len).contains(&at) {
                    fix_crc(&mut m, start, len);
                }
                let decoded = decode(dir, &m, &format!("byte {at} ^ {bit:#x}"));
                // Damaged image data (CRC made right) must not decode to a wrong image: zlib's
                // Adler-32 is checked.
                let in_image_data = &m[start + 4..start + 8] == b"IDAT"
                    && (start + 8..start + 8 + len).contains(&at);
                assert!(
                    !(decoded && in_image_data),
                    "byte {at} ^ {bit:#x} of the image data decoded"
                );
                errors += usize::from(!decoded);
                mutants += 1;
            }
        }
    }
    for at in 0..8 {
        let mut m = bytes.clone();
        m[at] ^= 0x20;
        errors += usize::from(!decode(dir, &m, &format!("signature byte {at}")));
        mutants += 1;
    }
    // Truncated at and around every chunk boundary.
    for &(start, len) in &chunks {
        for cut in [
            start,
            start + 4,
            start + 8,
            start + 8 + len,
            start + 12 + len,
        ] {
            for cut in cut.saturating_sub(1)..=cut + 1 {
                if cut < bytes.len() {
                    errors += usize::from(!decode(dir, &bytes[..cut], &format!("cut {cut}")));
                    mutants += 1;
                }
            }
        }
    }
    // Length fields set to huge values, and the header's width and height (CRC fixed): the
    // decoder must refuse a huge image rather than allocate it.
    for &(start, len) in &chunks {
        for huge in [u32::MAX, 0x7fff_ffff, 1 << 30] {
            let mut m = bytes.clone();
            m[start..start + 4].copy_from_slice(&huge.to_be_bytes());
            // A damaged IEND is never read once the image data is complete: success is fine.
            errors += usize::from(!decode(
                dir,
                &m,
                &format!("chunk at {start}: length {huge}"),
            ));
            mutants += 1;
        }
        let _ = len;
    }
    let (ihdr, ihdr_len) = chunks[0];
    for (w, h) in [
        (u32::MAX, 1u32),
        (1 << 20, 1 << 20),
        (0x7fff_ffff, 0x7fff_ffff),
        (0, 61),
    ] {
        let mut m = bytes.clone();
        m[ihdr + 8..ihdr + 12].copy_from_slice(&w.to_be_bytes());
        m[ihdr + 12..ihdr + 16].copy_from_slice(&h.to_be_bytes());
        fix_crc(&mut m, ihdr, ihdr_len);
        assert!(!decode(dir, &m, &format!("{w} x {h}")), "{w} x {h} decoded");
        mutants += 1;
    }
    println!("{mutants} damaged PNGs: {errors} errors, the rest decoded");
    assert!(mutants > 1000, "only {mutants} mutants");
}

#[test]
fn damaged_jpeg_files_are_errors_or_images_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let source = tmp.path().join("source.jpg");
    ImageBuffer::<Rgb<u8>, _>::from_fn(48, 40, |x, y| {
        Rgb([(x * 5) as u8, (y * 6) as u8, ((x * y) % 256) as u8])
    })
    .save(&source)
    .unwrap();
    let bytes = std::fs::read(&source).unwrap();
    assert!(decode(dir, &bytes, "intact"));
    let mut mutants = 0;
    for at in 0..bytes.len() {
        let mut m = bytes.clone();
        m[at] ^= 0x41;
        decode(dir, &m, &format!("byte {at}"));
        mutants += 1;
    }
    // Every marker segment's length set to the largest value, and every truncation point
    // near a marker.
    for at in 0..bytes.len() - 1 {
        if bytes[at] == 0xFF && bytes[at + 1] != 0 && bytes[at + 1] != 0xFF {
            if at + 4 <= bytes.len() {
                let mut m = bytes.clone();
                m[at + 2..at + 4].copy_from_slice(&[0xFF, 0xFF]);
                decode(dir, &m, &format!("marker at {at}: length 65535"));
                mutants += 1;
            }
            for cut in [at, at + 2, at + 4] {
                if cut < bytes.len() {
                    decode(dir, &bytes[..cut], &format!("cut {cut}"));
                    mutants += 1;
                }
            }
        }
    }
    println!("{mutants} damaged JPEGs decoded or refused");
    assert!(mutants > 1000, "only {mutants} mutants");
}

/// The system allocator, noting the largest single request made on a thread that asked for it
/// (see [`largest_allocation`]), so that loading a damaged file can be held to a stated bound.
/// Other threads, and so the other tests of this binary, pay one thread-local read.
struct Tracking;

thread_local! {
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note(size: usize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = LARGEST.try_with(|largest| {
        if let Some(seen) = largest.get()
            && size > seen
        {
            largest.set(Some(size));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; `note` neither allocates nor unwinds.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(Some(0)));
    let out = f();
    let largest = LARGEST.with(|l| l.replace(None)).unwrap_or(0);
    (out, largest)
}

/// A protobuf field, for writing ONNX files by hand: unlike a protobuf library's encoder, this
/// one can declare a length that is not the value's, and reports where every field starts.
#[derive(Clone)]
enum Pb {
    Varint(u32, u64),
    Fixed32(u32, u32),
    Bytes(u32, Vec<u8>),
    Message(u32, Vec<Pb>),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One change to make while encoding: the `index`-th varint field (in document order) takes
/// `value`, or the `index`-th length-delimited field declares `value` as its length.
#[derive(Clone, Copy)]
enum Edit {
    None,
    Varint(usize, u64),
    Length(usize, u64),
}

#[derive(Default)]
struct Encoder {
    /// Offsets of every field's tag, length, value and end.
    boundaries: Vec<usize>,
    varints: usize,
    lengths: usize,
}

impl Encoder {
    fn encode(&mut self, fields: &[Pb], edit: Edit, base: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for field in fields {
            self.boundaries.push(base + out.len());
            match field {
                Pb::Varint(n, v) => {
                    put_varint(&mut out, (*n as u64) << 3);
                    self.boundaries.push(base + out.len());
                    let v = match edit {
                        Edit::Varint(i, huge) if i == self.varints => huge,
                        _ => *v,
                    };
                    self.varints += 1;
                    put_varint(&mut out, v);
                }
                Pb::Fixed32(n, v) => {
                    put_varint(&mut out, ((*n as u64) << 3) | 5);
                    self.boundaries.push(base + out.len());
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Pb::Bytes(n, _) | Pb::Message(n, _) => {
                    put_varint(&mut out, ((*n as u64) << 3) | 2);
                    self.boundaries.push(base + out.len());
                    let declared = match edit {
                        Edit::Length(i, huge) if i == self.lengths => Some(huge),
                        _ => None,
                    };
                    self.lengths += 1;
                    // The value's own offsets depend on the length's width: encode it twice.
                    let mut probe = Encoder {
                        varints: self.varints,
                        lengths: self.lengths,
                        ..Encoder::default()
                    };
                    let value = match field {
                        Pb::Bytes(_, bytes) => bytes.clone(),
                        Pb::Message(_, inner) => probe.encode(inner, edit, 0),
                        _ => unreachable!(),
                    };
                    put_varint(&mut out, declared.unwrap_or(value.len() as u64));
                    let start = base + out.len();
                    self.boundaries
                        .extend(probe.boundaries.iter().map(|b| b + start));
                    self.varints = probe.varints;
                    self.lengths = probe.lengths;
                    out.extend_from_slice(&value);
                }
            }
            self.boundaries.push(base + out.len());
        }
        out
    }
}

fn text(n: u32, s: &str) -> Pb {
    Pb::Bytes(n, s.as_bytes().to_vec())
}

fn floats(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// An ONNX TensorProto: dims (1, one varint each), data type (2), name (8), then either packed
/// float_data (4) or raw_data (9).
fn onnx_tensor(name: &str, dims: &[u64], data_type: u64, data: Pb) -> Pb {
    let mut fields: Vec<Pb> = dims.iter().map(|&d| Pb::Varint(1, d)).collect();
    fields.push(Pb::Varint(2, data_type));
    fields.push(text(8, name));
    fields.push(data);
    Pb::Message(5, fields)
}

/// A NodeProto: inputs (1), output (2), name (3), op type (4), attributes (5).
fn onnx_node(name: &str, op: &str, inputs: &[&str], attributes: Vec<Pb>) -> Pb {
    let mut fields: Vec<Pb> = inputs.iter().map(|i| text(1, i)).collect();
    fields.push(text(2, &format!("{name}:out")));
    fields.push(text(3, name));
    fields.push(text(4, op));
    fields.extend(attributes);
    Pb::Message(1, fields)
}

/// A tiny ONNX model (ModelProto: ir_version 1, producer 2, graph 7) that `read_onnx` reads to
/// the end: parameter-named and `onnx::*`-named initializers (renamed after their Conv and Gemm
/// consumers, one transposed), raw and packed float data, an int64 counter it skips. It is then
/// refused as not being the network asked for.
fn tiny_onnx() -> Vec<Pb> {
    let alpha = Pb::Message(5, vec![text(1, "alpha"), Pb::Fixed32(2, 1f32.to_bits())]);
    let graph = vec![
        onnx_node(
            "/features/conv0/Conv",
            "Conv",
            &["input", "onnx::Conv_1", "onnx::Conv_2"],
            vec![],
        ),
        onnx_node(
            "/classifier/Gemm",
            "Gemm",
            &["x", "onnx::Gemm_3"],
            vec![alpha],
        ),
        text(2, "tiny"),
        onnx_tensor(
            "onnx::Conv_1",
            &[2, 3, 1, 1],
            1,
            Pb::Bytes(9, floats(&[0.5; 6])),
        ),
        onnx_tensor(
            "onnx::Conv_2",
            &[2],
            1,
            Pb::Bytes(4, floats(&[0.25, -0.25])),
        ),
        onnx_tensor(
            "onnx::Gemm_3",
            &[3, 2],
            1,
            Pb::Bytes(9, floats(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        ),
        onnx_tensor(
            "features.norm0.weight",
            &[2],
            1,
            Pb::Bytes(4, floats(&[1.0; 2])),
        ),
        onnx_tensor(
            "block1_conv1/kernel",
            &[1, 1, 1],
            1,
            Pb::Bytes(9, floats(&[2.0])),
        ),
        onnx_tensor(
            "features.norm0.num_batches_tracked",
            &[],
            7,
            Pb::Bytes(9, vec![0; 8]),
        ),
    ];
    vec![
        Pb::Varint(1, 8),
        text(2, "wscxr-test"),
        Pb::Message(7, graph),
    ]
}

/// Largest single allocation accepted while loading one damaged tiny ONNX file (a few hundred
/// bytes): 80 MB. The loader allocates in proportion to the file; the bound is set by the protobuf
/// library (rust-protobuf 3), which, reading a packed repeated field, reserves room for up to 10
/// million elements (8 bytes each for `int64`, such as a tensor's dims) before it checks the
/// declared length against the message around it, and up to 10 MB for a string or bytes field at
/// the top level. A loader that believed a declared length, dimension or count (up to 2^64) would
/// go far above it, or abort.
const ONNX_ALLOCATION_BOUND: usize = 10_000_000 * 8;

/// Error kinds seen, and how often.
type ErrorKinds = std::collections::BTreeMap<&'static str, usize>;

/// Loads `bytes` as each network's weights: must be an error, never a panic, and allocate no
/// more than [`ONNX_ALLOCATION_BOUND`] at once. Counts the errors by kind; returns the largest
/// allocation.
fn load_onnx(path: &Path, bytes: &[u8], what: &str, kinds: &mut ErrorKinds) -> usize {
    std::fs::write(path, bytes).unwrap();
    let device = Device::flex();
    let mut most = 0;
    for network in [Network::DenseNet121, Network::Xception] {
        let (result, largest) = largest_allocation(|| Backbone::from_onnx(network, path, &device));
        most = most.max(largest);
        assert!(
            largest <= ONNX_ALLOCATION_BOUND,
            "{what} ({network}): an allocation of {largest} bytes"
        );
        let kind = match result {
            Ok(_) => panic!("{what}: a damaged tiny file loaded as {network}"),
            Err(BackboneError::WeightsFormat { .. }) => "format",
            Err(BackboneError::WrongNetwork { .. }) => "wrong network",
            Err(BackboneError::UnexpectedTensor { .. }) => "unexpected tensor",
            Err(BackboneError::ShapeMismatch { .. }) => "shape mismatch",
            Err(BackboneError::MissingTensor { .. }) => "missing tensor",
            Err(BackboneError::NonFinite { .. }) => "non-finite",
            Err(other) => panic!("{what} ({network}): unexpected error {other}"),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    most
}

/// Thousands of damaged tiny ONNX files: bit flips everywhere, truncation at and next to every
/// protobuf field boundary, every length set to huge values, every varint (dimensions, data
/// types, counts) set to huge or negative values. Each is refused, never a panic or an abort,
/// and no single allocation exceeds [`ONNX_ALLOCATION_BOUND`] (80 MB).
#[test]
fn damaged_onnx_files_are_errors_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tiny.onnx");
    let fields = tiny_onnx();
    let mut encoder = Encoder::default();
    let bytes = encoder.encode(&fields, Edit::None, 0);
    let (boundaries, varints, lengths) = (encoder.boundaries, encoder.varints, encoder.lengths);
    let mut kinds = ErrorKinds::new();

    // Intact, it is read to the end and refused by name, by both networks.
    let intact_largest = load_onnx(&path, &bytes, "intact", &mut kinds);
    assert_eq!(kinds.get("wrong network"), Some(&2), "intact: {kinds:?}");
    // The same bytes through a protobuf library's reading: the hand encoding is valid ONNX.
    let parsed = <onnx_ir::ModelProto as onnx_ir::Message>::parse_from_bytes(&bytes).unwrap();
    assert_eq!(parsed.graph.initializer.len(), 6);

    let mut mutants = 0;
    let mut largest = 0;
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut m = bytes.clone();
            m[at] ^= 1 << bit;
            let what = format!("byte {at} ^ {:#x}", 1 << bit);
            largest = largest.max(load_onnx(&path, &m, &what, &mut kinds));
            mutants += 1;
        }
    }
    let mut cuts: Vec<usize> = boundaries
        .iter()
        .flat_map(|&b| [b.saturating_sub(1), b, b + 1])
        .filter(|&c| c < bytes.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    for &cut in &cuts {
        let what = format!("cut at {cut}");
        largest = largest.max(load_onnx(&path, &bytes[..cut], &what, &mut kinds));
        mutants += 1;
    }
    let huge = [
        u64::MAX,
        i64::MAX as u64,
        1 << 63,
        1 << 40,
        1 << 32,
        u32::MAX as u64,
        1 << 31,
        bytes.len() as u64 + 1,
    ];
    for index in 0..lengths {
        for &value in &huge {
            let m = Encoder::default().encode(&fields, Edit::Length(index, value), 0);
            let what = format!("length {index} = {value}");
            largest = largest.max(load_onnx(&path, &m, &what, &mut kinds));
            mutants += 1;
        }
    }
    for index in 0..varints {
        for &value in huge.iter().chain(&[0, (-1i64) as u64, (-7i64) as u64]) {
            let m = Encoder::default().encode(&fields, Edit::Varint(index, value), 0);
            let what = format!("varint {index} = {value}");
            largest = largest.max(load_onnx(&path, &m, &what, &mut kinds));
            mutants += 1;
        }
    }
    // Dimensions whose product overflows, or lands on the data's length after wrapping, and
    // data that is not whole floats: refused when read, not passed on.
    let wrapping = [
        (vec![1 << 32, 1 << 32], vec![]),
        (vec![1 << 63, 2], vec![]),
        (vec![1 << 62, 4, 1], floats(&[1.0])),
        (
            vec![u32::MAX as u64, u32::MAX as u64, u32::MAX as u64],
            vec![],
        ),
        (vec![1, 1], vec![0; 7]),
        (vec![1], vec![0; 5]),
    ];
    for (dims, raw) in wrapping {
        let mut fields = tiny_onnx();
        let Pb::Message(_, graph) = &mut fields[2] else {
            unreachable!()
        };
        graph.push(onnx_tensor(
            "features.conv0.weight",
            &dims,
            1,
            Pb::Bytes(9, raw.clone()),
        ));
        let m = Encoder::default().encode(&fields, Edit::None, 0);
        let mut seen = ErrorKinds::new();
        let what = format!("dims {dims:?}, {} raw bytes", raw.len());
        largest = largest.max(load_onnx(&path, &m, &what, &mut seen));
        assert_eq!(seen.get("format"), Some(&2), "dims {dims:?}: {seen:?}");
        mutants += 1;
    }
    println!(
        "{mutants} damaged ONNX files ({} bytes intact, {} field boundaries, {lengths} lengths, {varints} varints), \
         each loaded as both networks: {kinds:?}; largest allocation {largest} bytes \
         ({intact_largest} for the intact file)",
        bytes.len(),
        boundaries.len()
    );
    assert!(mutants > 1000, "only {mutants} mutants");
}

/// Offsets of the fields of the protobuf message `bytes[start..end]`: `(tag offset, field number,
/// value start, value end)`, length-delimited fields only (what a real export's layout needs).
fn length_fields(bytes: &[u8], start: usize, end: usize) -> Vec<(usize, u64, usize, usize)> {
    let varint = |at: &mut usize| {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = bytes[*at];
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        v
    };
    let mut fields = Vec::new();
    let mut at = start;
    while at < end {
        let tag_at = at;
        let key = varint(&mut at);
        match key & 7 {
            0 => {
                varint(&mut at);
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = varint(&mut at) as usize;
                fields.push((tag_at, key >> 3, at, at + len));
                at += len;
            }
            other => panic!("wire type {other} at {tag_at}"),
        }
    }
    fields
}

/// The real DenseNet-121 export (32 MB, `../shared`): cut inside its graph at the boundaries of
/// its first 30 nodes and initializers and of every 25th after them, and with dimensions
/// set to huge or overflowing values: each is refused, and no single allocation exceeds the file's
/// size (the loader reads the file once) or [`ONNX_ALLOCATION_BOUND`], whichever is larger.
#[test]
fn damaged_real_onnx_export_is_refused_never_panics() {
    let Some(shared) = shared_dir() else { return };
    let bytes = std::fs::read(shared.join("fixtures/densenet121_synthetic.onnx")).unwrap();
    let bound = ONNX_ALLOCATION_BOUND.max(bytes.len());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("damaged.onnx");
    let device = Device::flex();
    let load = |m: &[u8], what: &str| {
        std::fs::write(&path, m).unwrap();
        let (result, largest) =
            largest_allocation(|| Backbone::from_onnx(Network::DenseNet121, &path, &device));
        assert!(largest <= bound, "{what}: an allocation of {largest} bytes");
        result
    };
    assert!(load(&bytes, "intact").is_ok(), "the intact export loads");

    // ModelProto field 7 is the graph; its nodes (1) and initializers (5) follow one another.
    let &(_, _, graph_start, graph_end) = length_fields(&bytes, 0, bytes.len())
        .iter()
        .find(|f| f.1 == 7)
        .expect("a graph");
    let inner = length_fields(&bytes, graph_start, graph_end);
    let mut mutants = 0;
    for (i, &(tag_at, _, value_start, _)) in inner.iter().enumerate() {
        if i < 30 || i % 25 == 0 {
            for cut in [tag_at, value_start, value_start + 1] {
                let result = load(&bytes[..cut], &format!("cut at {cut}"));
                assert!(result.is_err(), "cut at {cut} loaded");
                mutants += 1;
            }
        }
    }
    let model = <onnx_ir::ModelProto as onnx_ir::Message>::parse_from_bytes(&bytes).unwrap();
    let huge: [&[i64]; 4] = [
        &[1 << 32, 1 << 32],
        &[i64::MAX, 2],
        &[1 << 40],
        &[-1, 64, 3, 7, 7],
    ];
    for index in [0, 1, model.graph.initializer.len() - 1] {
        for dims in huge {
            let mut m = model.clone();
            m.graph.mut_or_insert_default().initializer[index].dims = dims.to_vec();
            let encoded = onnx_ir::Message::write_to_bytes(&m).unwrap();
            let what = format!("initializer {index}: dims {dims:?}");
            assert!(load(&encoded, &what).is_err(), "{what} loaded");
            mutants += 1;
        }
    }
    println!("{mutants} damaged DenseNet-121 exports refused");
}
