//! A program run where the weights are not at hand: from a folder that is not a checkout, with
//! an empty weights store, the default configuration downloads the bundled Xception record from
//! the mirror `$WSCXR_WEIGHTS_URL` (a loopback server started here), verifies it, and fits.
#![cfg(feature = "download")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::checkout;

/// Serves `body` for every GET on a loopback port until the test ends; counts the requests.
fn serve(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(&body));
        }
    });
    (base, requests)
}

/// `wscxr fit` on 8 bundled normal X-rays and 2 abnormal ones at 128 px, run in `cwd` with the
/// weights store `store` and the mirror `mirror`.
fn fit(cwd: &Path, store: &Path, mirror: &str) -> std::process::Output {
    let assets = checkout().join("assets/quickstart/train");
    let normal = cwd.join("normal");
    let abnormal = cwd.join("abnormal");
    for (from, to, n) in [("normal", &normal, 8), ("anomaly", &abnormal, 2)] {
        std::fs::create_dir_all(to).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(assets.join(from))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in &files[..n] {
            std::fs::copy(file, to.join(file.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(cwd.join("config.toml"), "image_size = 128\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wscxr"));
    command
        .current_dir(cwd)
        .args(["fit", "--normal", "normal", "--abnormal", "abnormal"])
        .args([
            "--out",
            "d.wscxr",
            "--config",
            "config.toml",
            "--epochs",
            "1",
        ])
        .args(["--quiet"])
        .env("WSCXR_WEIGHTS_DIR", store)
        .env("WSCXR_WEIGHTS_URL", mirror);
    // A proxy from the environment must not carry loopback requests away.
    for proxy in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env_remove(proxy);
    }
    command.output().expect("the wscxr binary runs")
}

#[test]
fn a_fresh_folder_fits_after_fetching_the_weights_once() {
    let bundled = std::fs::read(checkout().join(wscxr::BUNDLED_XCEPTION)).unwrap();
    let (mirror, requests) = serve(bundled);
    let project = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    assert!(!project.path().join("assets").exists());

    let run = fit(project.path(), store.path(), &mirror);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(project.path().join("d.wscxr").is_file());
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let stored: Vec<_> = std::fs::read_dir(store.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        stored,
        vec![format!("{}.bpk", wscxr::BUNDLED_XCEPTION_SHA256)]
    );

    // The store holds them now: a second fit downloads nothing.
    let again = fit(project.path(), store.path(), &mirror);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1, "downloaded twice");
}

#[test]
fn a_mirror_serving_other_bytes_is_refused_and_nothing_is_stored() {
    let mut bundled = std::fs::read(checkout().join(wscxr::BUNDLED_XCEPTION)).unwrap();
    let middle = bundled.len() / 2;
    bundled[middle] ^= 0xff;
    let (mirror, requests) = serve(bundled);
    let project = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();

    let run = fit(project.path(), store.path(), &mirror);
    assert!(!run.status.success());
    let error = String::from_utf8_lossy(&run.stderr);
    assert!(
        error.contains(&mirror) && error.contains(wscxr::BUNDLED_XCEPTION_SHA256),
        "{error}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert_eq!(std::fs::read_dir(store.path()).unwrap().count(), 0);
    assert!(!project.path().join("d.wscxr").exists());
}
