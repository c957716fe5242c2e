//! A bounded loopback load on `wscxr serve`, beside `wscxr score` on the same files.
//!
//! ```sh
//! cargo bench -p wscxr-cli --bench serve_load -- --detector quickstart-out/detector.wscxr \
//!     --requests 2000 --clients 1,4,16 DIR_OR_FILES...
//! ```
//! Starts the program on a free port of 127.0.0.1, sends `--requests` requests from each number
//! of concurrent clients (the files in turn, each client on one keep-alive connection), and
//! prints requests/s, p50 and p99 latency, and the server's resident memory after the first 100
//! requests and at the end; then times `wscxr score` on the same files. Every loop is bounded by
//! its request count and by `--max-seconds` of wall time.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Options {
    detector: PathBuf,
    requests: usize,
    clients: Vec<usize>,
    max_seconds: u64,
    inputs: Vec<PathBuf>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        detector: "quickstart-out/detector.wscxr".into(),
        requests: 2000,
        clients: vec![1, 4, 16],
        max_seconds: 900,
        inputs: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--detector" => options.detector = value().into(),
            "--requests" => options.requests = value().parse().expect("--requests N"),
            "--clients" => {
                options.clients = value()
                    .split(',')
                    .map(|c| c.parse().expect("--clients 1,4,16"))
                    .collect()
            }
            "--max-seconds" => options.max_seconds = value().parse().expect("--max-seconds S"),
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            _ => options.inputs.push(arg.into()),
        }
    }
    assert!(!options.inputs.is_empty(), "name image files or folders");
    options
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let options = options();
    let mut files = Vec::new();
    for input in &options.inputs {
        if input.is_dir() {
            files.extend(wscxr::list_images(input).expect("a folder of images"));
        } else {
            files.push(input.clone());
        }
    }
    let bodies: Arc<Vec<Vec<u8>>> =
        Arc::new(files.iter().map(|f| std::fs::read(f).unwrap()).collect());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "{} files, {} cores, {cpu}",
        files.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_wscxr"))
        .args(["serve", "--listen", "127.0.0.1:0", "--detector"])
        .arg(&options.detector)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("wscxr serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("wscxr serve prints its address")
            .unwrap();
        if let Some(addr) = line.split("listening on http://").nth(1) {
            break addr.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let agent = |timeout: u64| -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(timeout)))
            .build()
            .into()
    };
    let clock = Instant::now();
    while agent(5)
        .get(format!("http://{addr}/readyz"))
        .call()
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(clock.elapsed() < Duration::from_secs(120), "not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id();
    println!(
        "| clients | requests | requests/s | p50 ms | p99 ms | RSS after 100 (MiB) | RSS after all (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &clients in &options.clients {
        let next = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(options.max_seconds);
        let rss_100 = Arc::new(std::sync::Mutex::new(f64::NAN));
        let clock = Instant::now();
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                let (next, bodies, addr, rss_100) =
                    (next.clone(), bodies.clone(), addr.clone(), rss_100.clone());
                let requests = options.requests;
                let agent = agent(120);
                std::thread::spawn(move || {
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests || Instant::now() > deadline {
                            break;
                        }
                        if i == 100 {
                            *rss_100.lock().unwrap() = rss_mib(pid);
                        }
                        let body = &bodies[i % bodies.len()];
                        let sent = Instant::now();
                        let status = agent
                            .post(format!("http://{addr}/v1/score"))
                            .send(&body[..])
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        assert_eq!(status, 200, "request {i}");
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies: Vec<f64> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        let seconds = clock.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        println!(
            "| {clients} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} |",
            latencies.len(),
            latencies.len() as f64 / seconds,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            *rss_100.lock().unwrap(),
            rss_mib(pid),
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    // The batch job on the same files, as many times as fills --requests images.
    let mut inputs: Vec<PathBuf> = Vec::new();
    while inputs.len() < options.requests {
        inputs.extend(files.iter().cloned());
    }
    inputs.truncate(options.requests);
    let clock = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_wscxr"))
        .args(["score", "--quiet", "--csv", "/dev/null", "--detector"])
        .arg(&options.detector)
        .args(&inputs)
        .status()
        .expect("wscxr score runs");
    assert!(run.success());
    let seconds = clock.elapsed().as_secs_f64();
    println!(
        "wscxr score: {} images in {seconds:.1} s = {:.2} images/s",
        inputs.len(),
        inputs.len() as f64 / seconds
    );
}
