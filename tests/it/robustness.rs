//! Image decoding on damaged files: thousands of deterministic mutations of a PNG and a JPEG each
//! end in `Ok` or `Err`, never a panic. PNG chunks are re-checksummed after each edit, so the
//! mutation reaches the decoder rather than stopping at the CRC check (and most then decode:
//! the png crate does not verify zlib's Adler-32, so damaged image data gives a damaged image).
//! Memory is bounded by the `image` crate's default decoding limit (512 MiB), which a header
//! declaring a huge image hits.

use std::path::{Path, PathBuf};

use image::{ImageBuffer, Rgb};
use wscxr::backbone::{BackboneError, Normalization, load_image};

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
        Err(BackboneError::Image { path: p, .. } | BackboneError::Io { path: p, .. }) => {
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
                errors += usize::from(!decode(dir, &m, &format!("byte {at} ^ {bit:#x}")));
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
