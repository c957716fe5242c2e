//! Fetching model weights over HTTP(S) (feature `download`), for [`WeightsStore::fetch`](crate::WeightsStore::fetch).
//!
//! Weights are large, come from servers we do not control and are loaded
//! straight into the model, so a file that is cut short, swapped or half
//! written must never end up where the loader looks. Everything here is built
//! around one rule: the final path either holds exactly the bytes whose size
//! and SHA-256 we were told to expect, or it is not touched at all.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Why a download was refused; each message names the URL (and path where a
/// file was involved) and says what was expected against what came, so that a
/// user can tell a bad network from a bad mirror from a full disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The expected hash given to us is not a SHA-256 at all; caught before any
    /// network traffic because no download could ever match it.
    #[error("the expected SHA-256 {value:?} is not 64 hexadecimal digits")]
    InvalidSha256 {
        /// The value that was passed as the expected hash.
        value: String,
    },
    /// The destination has no file name or no usable folder, so there is
    /// nowhere to put a temporary file beside it.
    #[error("cannot download to {}: it does not name a file inside a folder", path.display())]
    InvalidDestination {
        /// The destination that was passed.
        path: PathBuf,
    },
    /// The request could not be made or the connection failed part way.
    #[error("could not fetch {url}: {reason}")]
    Request {
        /// URL that was being fetched.
        url: String,
        /// What went wrong, in the HTTP client's words.
        reason: String,
    },
    /// The whole transfer took longer than the time allowed.
    #[error("fetching {url} took longer than the {timeout:?} allowed")]
    Timeout {
        /// URL that was being fetched.
        url: String,
        /// The time that was allowed for the whole transfer.
        timeout: Duration,
    },
    /// The server answered with something other than success.
    #[error("fetching {url} failed: the server answered HTTP status {status}, expected 200")]
    Status {
        /// URL that was being fetched.
        url: String,
        /// HTTP status code the server answered with.
        status: u16,
    },
    /// The server announced a size (Content-Length) other than the one
    /// expected, so the body was not read at all.
    #[error("{url} is announced as {announced} bytes, but {expected} bytes were expected")]
    LengthMismatch {
        /// URL that was being fetched.
        url: String,
        /// Size in bytes that was expected.
        expected: u64,
        /// Size in bytes from the server's Content-Length header.
        announced: u64,
    },
    /// The server sent more bytes than expected; reading stopped right there.
    #[error("{url} sent more than the {expected} bytes expected (at least {got_at_least})")]
    TooLarge {
        /// URL that was being fetched.
        url: String,
        /// Size in bytes that was expected.
        expected: u64,
        /// Bytes received before reading stopped.
        got_at_least: u64,
    },
    /// The body ended before the expected number of bytes arrived.
    #[error("{url} ended early: got {got} bytes of the {expected} expected")]
    Truncated {
        /// URL that was being fetched.
        url: String,
        /// Size in bytes that was expected.
        expected: u64,
        /// Bytes received before the body ended.
        got: u64,
    },
    /// The bytes arrived in full but are not the expected ones.
    #[error("{url} has SHA-256 {got}, but {expected} was expected")]
    Hash {
        /// URL that was being fetched.
        url: String,
        /// Lower-case hex SHA-256 that was expected.
        expected: String,
        /// Lower-case hex SHA-256 of the bytes received.
        got: String,
    },
    /// Writing, syncing or renaming a file failed.
    #[error("{} failed for {}: {reason}", action, path.display())]
    Io {
        /// File or folder the operation was on.
        path: PathBuf,
        /// What was being done, e.g. "creating the temporary file".
        action: &'static str,
        /// The operating system's error.
        reason: io::Error,
    },
}

/// Downloads `url` into `destination` and keeps it only if it is exactly
/// `size` bytes with SHA-256 `sha256` (hex, either case).
///
/// The body is streamed to a temporary file beside `destination` (never more
/// than `size + 1` bytes are read, so a hostile server cannot fill the disk)
/// and hashed on the way; only after both checks pass is the file synced and
/// renamed into place, so a crash or a bad download never leaves a partial
/// file under the final name. On any error the temporary file is removed.
/// `timeout` bounds the whole transfer, from connecting to the last byte, so a
/// stalled server cannot hang the caller.
///
/// An existing file at `destination` is replaced only by a verified download.
pub fn download(
    url: &str,
    sha256: &str,
    size: u64,
    destination: &Path,
    timeout: Duration,
) -> Result<(), DownloadError> {
    download_with(url, sha256, size, destination, timeout, true)
}

/// The body of [`download`]; `proxy_from_env` exists so that tests against a
/// loopback server are not routed through a proxy set in the environment.
fn download_with(
    url: &str,
    sha256: &str,
    size: u64,
    destination: &Path,
    timeout: Duration,
    proxy_from_env: bool,
) -> Result<(), DownloadError> {
    let expected_hash = sha256.to_ascii_lowercase();
    if expected_hash.len() != 64 || !expected_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DownloadError::InvalidSha256 {
            value: sha256.to_owned(),
        });
    }
    let (folder, file_name) = split_destination(destination)?;

    let request_error = |error: ureq::Error| match error {
        ureq::Error::Timeout(_) => DownloadError::Timeout {
            url: url.to_owned(),
            timeout,
        },
        other => DownloadError::Request {
            url: url.to_owned(),
            reason: other.to_string(),
        },
    };

    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        // Statuses are turned into our own error, which names the URL.
        .http_status_as_error(false);
    if !proxy_from_env {
        config = config.proxy(None);
    }
    let agent = ureq::Agent::new_with_config(config.build());

    let response = agent.get(url).call().map_err(request_error)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(DownloadError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let body = response.into_body();
    if let Some(announced) = body.content_length()
        && announced != size
    {
        return Err(DownloadError::LengthMismatch {
            url: url.to_owned(),
            expected: size,
            announced,
        });
    }

    let mut temp = TempFile::create(folder, file_name)?;
    let mut reader = body.into_reader().take(size.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                // ureq reports a body shorter than its Content-Length this way.
                return Err(DownloadError::Truncated {
                    url: url.to_owned(),
                    expected: size,
                    got,
                });
            }
            // Body read errors come back as io::Error wrapping a ureq::Error
            // (a timeout among them); converting back recovers it.
            Err(e) => return Err(request_error(ureq::Error::from(e))),
        };
        got += n as u64;
        if got > size {
            return Err(DownloadError::TooLarge {
                url: url.to_owned(),
                expected: size,
                got_at_least: got,
            });
        }
        hasher.update(&buffer[..n]);
        temp.write_all(&buffer[..n])?;
    }
    if got < size {
        return Err(DownloadError::Truncated {
            url: url.to_owned(),
            expected: size,
            got,
        });
    }
    let got_hash = to_hex(&hasher.finalize());
    if got_hash != expected_hash {
        return Err(DownloadError::Hash {
            url: url.to_owned(),
            expected: expected_hash,
            got: got_hash,
        });
    }
    temp.persist(destination, folder)
}

/// Splits `destination` into the folder that will hold the temporary file and
/// the file name, so the rename stays within one file system.
fn split_destination(destination: &Path) -> Result<(&Path, &str), DownloadError> {
    let invalid = || DownloadError::InvalidDestination {
        path: destination.to_owned(),
    };
    let file_name = destination
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(invalid)?;
    let folder = match destination.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => return Err(invalid()),
    };
    Ok((folder, file_name))
}

/// Lower-case hex, the form hashes are pinned in.
fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A file that deletes itself unless persisted, so that every early return
/// (including a panic) leaves the destination folder as it was.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

/// Tells apart temporary files made by one process in the same nanosecond.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    /// Creates a fresh file next to the destination. `create_new` with a name
    /// that mixes process id, a counter and the clock means two downloads (in
    /// one process or several) never write into the same temporary file, and
    /// an existing file is never opened and overwritten.
    fn create(folder: &Path, file_name: &str) -> Result<Self, DownloadError> {
        let pid = std::process::id();
        let mut last_error = None;
        for _ in 0..16 {
            let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let path = folder.join(format!(".{file_name}.{pid}-{count}-{nanos}.part"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file: Some(file),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(reason) => {
                    return Err(DownloadError::Io {
                        path,
                        action: "creating the temporary file",
                        reason,
                    });
                }
            }
        }
        Err(DownloadError::Io {
            path: folder.to_owned(),
            action: "finding an unused temporary file name",
            reason: last_error.unwrap_or_else(|| io::Error::other("no attempt made")),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DownloadError> {
        let file = self
            .file
            .as_mut()
            .expect("temporary file is open until persisted");
        file.write_all(bytes).map_err(|reason| DownloadError::Io {
            path: self.path.clone(),
            action: "writing the temporary file",
            reason,
        })
    }

    /// Syncs the bytes, renames the file over `destination` and syncs the
    /// folder, so that after a power cut the final name holds either the old
    /// content or the complete new file, never a partial one.
    fn persist(mut self, destination: &Path, folder: &Path) -> Result<(), DownloadError> {
        let file = self
            .file
            .take()
            .expect("temporary file is open until persisted");
        file.sync_all().map_err(|reason| DownloadError::Io {
            path: self.path.clone(),
            action: "syncing the temporary file",
            reason,
        })?;
        drop(file);
        fs::rename(&self.path, destination).map_err(|reason| DownloadError::Io {
            path: destination.to_owned(),
            action: "renaming the temporary file into place",
            reason,
        })?;
        // The temporary name is gone now; nothing is left for Drop to remove.
        self.path = PathBuf::new();
        sync_folder(folder).inspect_err(|_| {
            // A file whose rename may not survive a crash is not kept either.
            let _ = fs::remove_file(destination);
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes a rename in `folder` durable; a no-op where folders cannot be opened
/// for syncing (Windows), since there the rename itself is what the OS offers.
fn sync_folder(folder: &Path) -> Result<(), DownloadError> {
    #[cfg(unix)]
    {
        File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(|reason| DownloadError::Io {
                path: folder.to_owned(),
                action: "syncing the folder",
                reason,
            })
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::thread::{self, JoinHandle};
    use std::time::Instant;

    /// How long any test server lives at most, so a broken test fails instead of hanging.
    const SERVER_LIFETIME: Duration = Duration::from_secs(15);
    const TIMEOUT: Duration = Duration::from_secs(10);

    /// One step of a canned response.
    #[derive(Clone)]
    enum Step {
        Write(Vec<u8>),
        Sleep(Duration),
    }

    /// A loopback HTTP server that answers every request with the same steps,
    /// counts requests, and stops on `finish` or after `SERVER_LIFETIME`.
    struct Server {
        url: String,
        requests: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        handle: JoinHandle<()>,
    }

    impl Server {
        fn start(steps: Vec<Step>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let url = format!("http://{}/weights.bin", listener.local_addr().unwrap());
            let requests = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (r, s) = (requests.clone(), stop.clone());
            let handle = thread::spawn(move || {
                let deadline = Instant::now() + SERVER_LIFETIME;
                while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &steps, &r),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(10));
                        }
                        Err(e) => panic!("accept failed: {e}"),
                    }
                }
            });
            Self {
                url,
                requests,
                stop,
                handle,
            }
        }

        /// Stops the server and returns how many requests it saw.
        fn finish(self) -> usize {
            self.stop.store(true, Ordering::SeqCst);
            self.handle.join().unwrap();
            self.requests.load(Ordering::SeqCst)
        }
    }

    fn serve(mut stream: TcpStream, steps: &[Step], requests: &AtomicUsize) {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        requests.fetch_add(1, Ordering::SeqCst);
        for step in steps {
            match step {
                // The client may hang up early on purpose; that is not a server failure.
                Step::Write(bytes) => {
                    if stream.write_all(bytes).is_err() {
                        return;
                    }
                }
                Step::Sleep(d) => thread::sleep(*d),
            }
        }
        let _ = stream.flush();
        let _ = stream.shutdown(Shutdown::Write);
    }

    fn head(extra: &str) -> Step {
        Step::Write(format!("HTTP/1.1 200 OK\r\n{extra}\r\n").into_bytes())
    }

    fn body(bytes: &[u8]) -> Step {
        Step::Write(bytes.to_vec())
    }

    fn sha(bytes: &[u8]) -> String {
        to_hex(&Sha256::digest(bytes))
    }

    fn payload() -> Vec<u8> {
        (0..100_000u32).map(|i| (i % 251) as u8).collect()
    }

    /// Folder entries, to show that nothing (final or temporary) was left behind.
    fn entries(folder: &Path) -> Vec<String> {
        fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn fetch(
        server: &Server,
        sha256: &str,
        size: u64,
        dest: &Path,
        timeout: Duration,
    ) -> Result<(), DownloadError> {
        download_with(&server.url, sha256, size, dest, timeout, false)
    }

    #[test]
    fn success_writes_exact_bytes_with_one_request() {
        let data = payload();
        let server = Server::start(vec![
            head(&format!("Content-Length: {}\r\n", data.len())),
            body(&data),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        fetch(
            &server,
            &sha(&data).to_uppercase(),
            data.len() as u64,
            &dest,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(server.finish(), 1);
        assert_eq!(fs::read(&dest).unwrap(), data);
        assert_eq!(entries(dir.path()), vec!["weights.bin".to_string()]);
    }

    #[test]
    fn success_replaces_existing_file_and_accepts_close_delimited_body() {
        let data = payload();
        let server = Server::start(vec![head("Connection: close\r\n"), body(&data)]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        fs::write(&dest, b"old").unwrap();
        fetch(&server, &sha(&data), data.len() as u64, &dest, TIMEOUT).unwrap();
        server.finish();
        assert_eq!(fs::read(&dest).unwrap(), data);
        assert_eq!(entries(dir.path()).len(), 1);
    }

    #[test]
    fn truncated_body_is_refused() {
        let data = payload();
        let server = Server::start(vec![
            head(&format!("Content-Length: {}\r\n", data.len())),
            body(&data[..40_000]),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, &sha(&data), data.len() as u64, &dest, TIMEOUT).unwrap_err();
        server.finish();
        match &err {
            DownloadError::Truncated { expected, got, .. } => {
                assert_eq!(*expected, 100_000);
                assert!(*got <= 40_000, "got {got}");
            }
            other => panic!("expected Truncated, got {other:?}"),
        }
        assert!(err.to_string().contains("ended early"), "{err}");
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn truncated_close_delimited_body_is_refused() {
        let data = payload();
        let server = Server::start(vec![head("Connection: close\r\n"), body(&data[..40_000])]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, &sha(&data), data.len() as u64, &dest, TIMEOUT).unwrap_err();
        server.finish();
        assert!(
            matches!(
                err,
                DownloadError::Truncated {
                    expected: 100_000,
                    got: 40_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn wrong_hash_is_refused() {
        let data = payload();
        let mut other = data.clone();
        other[500] ^= 1;
        let server = Server::start(vec![
            head(&format!("Content-Length: {}\r\n", other.len())),
            body(&other),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, &sha(&data), data.len() as u64, &dest, TIMEOUT).unwrap_err();
        let server_url = server.url.clone();
        server.finish();
        match &err {
            DownloadError::Hash { expected, got, url } => {
                assert_eq!(*expected, sha(&data));
                assert_eq!(*got, sha(&other));
                assert_eq!(*url, server_url);
            }
            other => panic!("expected Hash, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&sha(&data)) && message.contains(&sha(&other)),
            "{message}"
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn stalled_server_times_out() {
        let data = payload();
        let server = Server::start(vec![
            head(&format!("Content-Length: {}\r\n", data.len())),
            body(&data[..1000]),
            Step::Sleep(Duration::from_secs(3)),
            body(&data[1000..]),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        // Without the timeout the transfer would finish after the server's 3 s pause, and succeed.
        let err = fetch(
            &server,
            &sha(&data),
            data.len() as u64,
            &dest,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, DownloadError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("took longer than"), "{err}");
        assert!(entries(dir.path()).is_empty());
        server.finish();
    }

    #[test]
    fn oversized_close_delimited_body_is_refused() {
        let data = payload();
        let server = Server::start(vec![head("Connection: close\r\n"), body(&data)]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, &sha(&data[..1000]), 1000, &dest, TIMEOUT).unwrap_err();
        server.finish();
        match err {
            DownloadError::TooLarge {
                expected,
                got_at_least,
                ..
            } => {
                assert_eq!(expected, 1000);
                // Never more than size + 1 bytes are read.
                assert_eq!(got_at_least, 1001);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn oversized_chunked_body_is_refused() {
        let data = payload();
        let mut chunked = format!("{:x}\r\n", data.len()).into_bytes();
        chunked.extend_from_slice(&data);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        let server = Server::start(vec![head("Transfer-Encoding: chunked\r\n"), body(&chunked)]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, &sha(&data[..1000]), 1000, &dest, TIMEOUT).unwrap_err();
        server.finish();
        assert!(
            matches!(
                err,
                DownloadError::TooLarge {
                    expected: 1000,
                    got_at_least: 1001,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn wrong_content_length_is_refused_before_the_body() {
        let data = payload();
        let server = Server::start(vec![
            head(&format!("Content-Length: {}\r\n", data.len())),
            body(&data),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, &sha(&data), 1000, &dest, TIMEOUT).unwrap_err();
        server.finish();
        assert!(
            matches!(
                err,
                DownloadError::LengthMismatch {
                    expected: 1000,
                    announced: 100_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn not_found_is_a_status_error() {
        let server = Server::start(vec![Step::Write(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".to_vec(),
        )]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, &sha(b"x"), 1, &dest, TIMEOUT).unwrap_err();
        let url = server.url.clone();
        server.finish();
        assert!(
            matches!(err, DownloadError::Status { status: 404, .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("404") && message.contains(&url),
            "{message}"
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn bad_expected_hash_is_refused_without_a_request() {
        let server = Server::start(vec![]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let err = fetch(&server, "not-a-hash", 1, &dest, TIMEOUT).unwrap_err();
        assert_eq!(server.finish(), 0);
        assert!(
            matches!(err, DownloadError::InvalidSha256 { .. }),
            "{err:?}"
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn refused_connection_is_a_request_error() {
        // Bind and drop to get a port that is very likely closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("weights.bin");
        let url = format!("http://127.0.0.1:{port}/w.bin");
        let err = download_with(&url, &sha(b"x"), 1, &dest, TIMEOUT, false).unwrap_err();
        assert!(matches!(err, DownloadError::Request { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
        assert!(entries(dir.path()).is_empty());
    }
}
