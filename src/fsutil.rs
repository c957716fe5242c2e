//! Files written so that no reader sees half of one, and files and bytes named by their SHA-256:
//! the bottom floor that the cache, the weights store and the detector file format share.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::WscxrError;

/// SHA-256 of a regular file's bytes, as lower-case hex. The file is hashed in chunks, never held
/// whole; a device, pipe or folder (`/dev/zero` would never end) is an error.
pub fn file_sha256(path: &Path) -> Result<String, WscxrError> {
    let data_error = |reason: String| WscxrError::Data {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(|e| data_error(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| data_error(e.to_string()))?;
    if !metadata.is_file() {
        return Err(data_error("not a regular file".into()));
    }
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| data_error(e.to_string()))?;
    Ok(hex(&hasher.finalize()))
}

/// SHA-256 of bytes in memory, as lower-case hex (what [`file_sha256`] gives for a file).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to a new temporary file in `path`'s folder (flushed to disk with `sync`) and
/// renames it to `path`: readers see the old contents or the new, never a part. The temporary
/// name is random and created exclusively (`O_EXCL`), so a file or symlink planted under a
/// guessable name is never written through; with `sync` the folder is flushed after the rename,
/// so that the new name itself survives a power cut.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    use std::hash::{BuildHasher, RandomState};
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let (temp, mut file) = (0..16)
        .find_map(|attempt| {
            // std's RandomState is seeded from the operating system's random source.
            let random = RandomState::new().hash_one((std::process::id(), attempt));
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".{random:016x}.tmp"));
            let temp: PathBuf = path.with_file_name(temp_name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
            {
                Ok(file) => Some(Ok((temp, file))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| {
            Err(std::io::Error::other(
                "no free temporary name after 16 random tries",
            ))
        })?;
    let result = (|| {
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&temp, path)?;
        #[cfg(unix)]
        if sync {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
