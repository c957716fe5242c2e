//! `wscxr serve` end to end: the real program on a loopback port answers what `wscxr score`
//! writes, refuses hostile input with the right status and keeps answering, and finishes the
//! requests in flight when told to stop.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::server::Server;
use common::{checkout, small_calibrated_detector, small_detector, wscxr};
use wscxr::list_images;

/// The CSV that `wscxr score` writes, as (file name, score).
fn cli_scores(detector: &Path, inputs: &Path, out: &Path) -> Vec<(String, f32)> {
    std::fs::create_dir_all(out).unwrap();
    let csv = out.join("scores.csv");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let run = wscxr(&[
        "score",
        "--quiet",
        "--detector",
        &path(detector),
        "--csv",
        &path(&csv),
        "--maps",
        &path(&out.join("maps")),
        "--heatmaps",
        &path(&out.join("heatmaps")),
        &path(inputs),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let name = Path::new(&r[0])
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            (name, r[1].parse().unwrap())
        })
        .collect()
}

fn heatmap_file(dir: &Path, stem: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_stem()
                .is_some_and(|s| s.to_string_lossy().ends_with(&format!("_{stem}")))
        })
        .unwrap_or_else(|| panic!("no heatmap of {stem} in {}", dir.display()))
}

/// What `wscxr score` prints when it refuses `image` (it must refuse it).
fn cli_refusal(detector: &Path, image: &Path) -> String {
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let cli = wscxr(&[
        "score",
        "--quiet",
        "--detector",
        &path(detector),
        &path(image),
    ]);
    assert!(
        !cli.status.success(),
        "wscxr score accepted {}",
        image.display()
    );
    String::from_utf8_lossy(&cli.stderr).to_string()
}

#[test]
fn scores_maps_and_heatmaps_over_http_are_the_programs() {
    let dir = tempfile::tempdir().unwrap();
    let (detector, file) = small_calibrated_detector(dir.path());
    let server = Server::start(&file, &[], None);
    let description = server.get("/v1/detector", None).json();
    assert_eq!(description["image_size"], 128);
    assert_eq!(description["grid"], serde_json::json!([4, 4]));
    let threshold = detector.calibration().unwrap().threshold;
    assert_eq!(
        description["calibration"]["threshold"].as_f64().unwrap() as f32,
        threshold
    );
    // The bundled X-rays are square: two cropped wide catch a map's height and width swapped.
    let wide = dir.path().join("wide");
    std::fs::create_dir(&wide).unwrap();
    let bundled = checkout().join("assets/quickstart/test/anomaly");
    for image in &list_images(&bundled).unwrap()[..2] {
        let cropped = image::open(image).unwrap().crop_imm(0, 20, 224, 150);
        cropped.save(wide.join(image.file_name().unwrap())).unwrap();
    }
    let dicom = checkout().join("assets/quickstart/test-dicom/anomaly");
    for (set, inputs, count, kind) in [
        ("png", bundled, 6, "png"),
        ("dicom", dicom, 6, "dicom"),
        ("wide", wide, 2, "png"),
    ] {
        let out = dir.path().join(format!("out-{set}"));
        let expected = cli_scores(&file, &inputs, &out);
        assert_eq!(expected.len(), count);
        for image in list_images(&inputs).unwrap() {
            let name = image.file_name().unwrap().to_string_lossy().to_string();
            let stem = image.file_stem().unwrap().to_string_lossy().to_string();
            let cli = expected.iter().find(|(n, _)| *n == name).unwrap().1;
            let bytes = std::fs::read(&image).unwrap();
            let with_map = |map: &str| {
                let path = format!("/v1/score?map={map}");
                server.post(&path, &bytes, "application/octet-stream", None)
            };
            let scored = with_map("npy");
            assert_eq!(scored.status, 200, "{name}: {}", scored.body);
            let json = scored.json();
            let score = json["score"].as_f64().unwrap() as f32;
            assert!(
                (score - cli).abs() <= 1e-6,
                "{name}: HTTP {score}, CLI {cli}"
            );
            assert_eq!(
                json["abnormal"].as_bool().unwrap(),
                score >= threshold,
                "{name}"
            );
            assert_eq!(json["threshold"].as_f64().unwrap() as f32, threshold);
            assert_eq!(
                json["identity"]["weights_sha256"],
                detector.weights_sha256()
            );
            assert_eq!(
                json["identity"]["file_sha256"],
                wscxr::file_sha256(&file).unwrap()
            );
            assert_eq!(json["image"]["kind"], kind, "{name}");
            assert_eq!(json["request_id"].as_str(), scored.request_id.as_deref());
            // The map is the one `--maps` wrote, byte for byte.
            let npy = std::fs::read(out.join("maps").join(format!("{stem}.npy"))).unwrap();
            assert!(scored.map_bytes() == npy, "{name}: the .npy maps differ");
            assert_eq!(scored.json()["map"]["format"], "npy", "{name}");
            // The heatmap has the pixels `--heatmaps` drew.
            let drawn = with_map("png");
            assert_eq!(drawn.status, 200, "{}", drawn.body);
            assert_eq!(drawn.json()["map"]["format"], "png", "{name}");
            let png = image::load_from_memory(&drawn.map_bytes())
                .unwrap()
                .to_rgb8();
            let cli_png = image::open(heatmap_file(&out.join("heatmaps"), &stem))
                .unwrap()
                .to_rgb8();
            assert_eq!(png.dimensions(), cli_png.dimensions(), "{name}");
            assert!(png == cli_png, "{name}: the heatmaps differ");
        }
    }
    let metrics = server.get("/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains(r#"wscxr_http_requests_total{route="/v1/score",status="200"} 28"#),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("wscxr_images_scored_total"),
        "{}",
        metrics.body
    );
    // No patient data in the log: neither file names nor anything from the images.
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains("person"), "{log}");
    assert!(log.contains("answered"), "{log}");
    assert!(server.terminate().success());
}

/// Writes `request` on a fresh connection and returns it, for clients that misbehave.
fn raw(server: &Server, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.write_all(request).unwrap();
    stream
}

/// What the server sends before it closes `stream` (bounded by `seconds`); `None` if it kept
/// the connection open that long.
fn read_until_closed(stream: &mut TcpStream, seconds: u64) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(seconds)))
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&received).into_owned());
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn hostile_requests_are_refused_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let (detector, file) = small_detector(dir.path());
    let token = "a-token-of-at-least-16-bytes";
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let server = Server::start(
        &file,
        &[
            "--token-file",
            token_file.to_str().unwrap(),
            "--max-body-mib",
            "1",
            "--client-timeout-s",
            "2",
            "--max-connections",
            "6",
            "--max-in-flight",
            "1",
        ],
        Some(token),
    );
    let image = checkout().join("assets/quickstart/test/anomaly/person115_virus_219.png");
    let png = std::fs::read(&image).unwrap();
    let expected = detector.score([image.clone()]).unwrap()[0].score;
    let healthy = |after: &str| {
        let scored = server.post("/v1/score", &png, "image/png", Some(token));
        assert_eq!(scored.status, 200, "after {after}: {}", scored.body);
        let score = scored.json()["score"].as_f64().unwrap() as f32;
        assert!(
            (score - expected).abs() <= 1e-6,
            "after {after}: {score} vs {expected}"
        );
        assert_eq!(server.get("/healthz", None).status, 200, "after {after}");
    };
    healthy("start");

    // Tokens: none or a wrong one is 401 everywhere but /healthz and the page.
    for path in ["/v1/detector", "/metrics", "/readyz"] {
        assert_eq!(server.get(path, None).status, 401, "{path}");
        assert_eq!(
            server
                .get(path, Some("a-token-of-at-least-16-bytez"))
                .status,
            401
        );
        assert_eq!(server.get(path, Some(token)).status, 200, "{path}");
    }
    assert_eq!(
        server.post("/v1/score", &png, "image/png", None).status,
        401
    );
    assert_eq!(server.get("/", None).status, 200);
    healthy("wrong tokens");

    // A truncated PNG: 422, with the message `wscxr score` gives for the same bytes.
    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
    let refused = server.post("/v1/score", &png[..png.len() / 2], "image/png", Some(token));
    assert_eq!(refused.status, 422, "{}", refused.body);
    let message = refused.json()["error"].as_str().unwrap().to_string();
    let cli_message = cli_refusal(&file, &truncated);
    let reason = |m: &str, name: &str| m.split(name).nth(1).map(|r| r.trim().to_string());
    assert_eq!(
        reason(&message, "the request body"),
        reason(&cli_message, truncated.to_str().unwrap()),
        "HTTP: {message}\nCLI: {cli_message}"
    );
    healthy("a truncated PNG");

    // Not an image: 415. Bytes sent as DICOM that are not (a data set shifted by one byte, as
    // pydicom's no_meta.dcm is): 422 saying why, as the CLI says for such a .dcm file.
    let text = server.post(
        "/v1/score",
        b"GIF89a, or anything else",
        "image/gif",
        Some(token),
    );
    assert_eq!(text.status, 415, "{}", text.body);
    let mut shifted = vec![b' '];
    shifted.extend(
        std::fs::read(checkout().join("tests/fixtures/dicom/pipeline/no_meta_implicit_le.dcm"))
            .unwrap(),
    );
    let not_dicom = server.post("/v1/score", &shifted, "application/dicom", Some(token));
    assert_eq!(not_dicom.status, 422, "{}", not_dicom.body);
    let message = not_dicom.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("not readable DICOM"), "{message}");
    let shifted_file = dir.path().join("no_meta.dcm");
    std::fs::write(&shifted_file, &shifted).unwrap();
    let cli_message = cli_refusal(&file, &shifted_file);
    assert_eq!(
        reason(&message, "the request body"),
        reason(&cli_message, shifted_file.to_str().unwrap()),
        "HTTP: {message}\nCLI: {cli_message}"
    );
    assert!(!cli_message.contains("extension"), "{cli_message}");
    healthy("bytes that are no image");

    // Over the 1 MiB limit: refused from the declared length before any byte of the body (a
    // client that asks `Expect: 100-continue`, as curl does for large bodies, sends none), and
    // from the bytes when chunked.
    let mut declared = raw(
        &server,
        format!(
            "POST /v1/score HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             content-length: {}\r\nexpect: 100-continue\r\n\r\n",
            (1 << 20) + 1
        )
        .as_bytes(),
    );
    let answer = read_until_closed(&mut declared, 10).expect("the server answers and closes");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("larger than the limit of 1048576 bytes"),
        "{answer}"
    );
    let mut chunked = raw(
        &server,
        format!(
            "POST /v1/score HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             transfer-encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    );
    for _ in 0..17 {
        // 17 chunks of 64 KiB: past the limit with the last. The server may close before.
        if chunked
            .write_all(format!("{:x}\r\n", 64 << 10).as_bytes())
            .is_err()
            || chunked.write_all(&vec![7u8; 64 << 10]).is_err()
            || chunked.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let answer = read_until_closed(&mut chunked, 10).expect("the server answers and closes");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    healthy("bodies over the limit");

    // A lying Content-Length (more declared than sent) holds the one admission slot while it
    // stalls: another request meanwhile is 503 with Retry-After; the liar gets 408 after 2 s.
    let mut liar = raw(
        &server,
        format!(
            "POST /v1/score HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             content-length: 100000\r\n\r\n"
        )
        .as_bytes(),
    );
    liar.write_all(&png[..1000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let busy = server.post("/v1/score", &png, "image/png", Some(token));
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.retry_after.as_deref(), Some("1"));
    let clock = Instant::now();
    let answer = read_until_closed(&mut liar, 10).expect("the stalled body is timed out");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(clock.elapsed() < Duration::from_secs(10));
    healthy("a lying Content-Length");

    // A client that stalls in its headers is disconnected.
    let mut stalled = raw(&server, b"POST /v1/score HTTP/1.1\r\nhost: x\r\n");
    assert!(
        read_until_closed(&mut stalled, 15).is_some(),
        "a client stalled in its headers kept its connection"
    );
    healthy("a stalled client");

    // A burst past the connection limit (6): the extra connections get 503 and are closed.
    let mut burst: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused = burst
        .iter_mut()
        .filter_map(|s| read_until_closed(s, 1))
        .filter(|answer| answer.starts_with("HTTP/1.1 503"))
        .count();
    assert!(
        refused >= 6,
        "{refused} of 12 connections refused at a limit of 6"
    );
    drop(burst);
    std::thread::sleep(Duration::from_millis(300));
    healthy("a burst of connections");

    let metrics = server.get("/metrics", Some(token)).body;
    assert!(
        metrics.contains("wscxr_refused_connections_total"),
        "{metrics}"
    );
    assert!(server.terminate().success());
}

#[test]
fn stopping_finishes_the_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (detector, file) = small_detector(dir.path());
    let server = Server::start(&file, &[], None);
    let images = list_images(checkout().join("assets/quickstart/test/anomaly")).unwrap();
    let expected = detector.score(&images).unwrap();
    // Each request sends its headers and half its body, so that it is surely in flight (the
    // server counts it) when SIGTERM arrives; the rest of each body follows the signal.
    let bodies: Vec<Vec<u8>> = images.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut streams: Vec<TcpStream> = bodies
        .iter()
        .map(|body| {
            let mut stream = raw(
                &server,
                format!(
                    "POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            stream.write_all(&body[..body.len() / 2]).unwrap();
            stream
        })
        .collect();
    let clock = Instant::now();
    loop {
        let metrics = server.get("/metrics", None).body;
        // The /metrics request itself is in flight too.
        if metrics.contains(&format!(
            "wscxr_http_requests_in_flight {}",
            images.len() + 1
        )) {
            break;
        }
        assert!(clock.elapsed() < Duration::from_secs(30), "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = server.pid();
    let stopping = std::thread::spawn(move || server.terminate());
    std::thread::sleep(Duration::from_millis(300));
    for ((stream, body), expected) in streams.iter_mut().zip(&bodies).zip(&expected) {
        stream.write_all(&body[body.len() / 2..]).unwrap();
        let answer = read_until_closed(stream, 60).expect("an answer before the exit");
        assert!(answer.starts_with("HTTP/1.1 200"), "pid {pid}: {answer}");
        let json: serde_json::Value =
            serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let score = json["score"].as_f64().unwrap() as f32;
        assert!((score - expected.score).abs() <= 1e-6);
    }
    let status = stopping.join().unwrap();
    assert!(status.success(), "{status:?}");
}
