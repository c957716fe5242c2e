//! `wscxr serve` as the tests run it: the real program on a free loopback port, stopped by
//! SIGTERM, and an HTTP client that sees every status.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// A running `wscxr serve`.
pub struct Server {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// What it logged on standard error so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// One HTTP answer.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
    pub request_id: Option<String>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `map` field's bytes.
    pub fn map_bytes(&self) -> Vec<u8> {
        let json = self.json();
        let encoded = json["map"]["base64"]
            .as_str()
            .unwrap_or_else(|| panic!("no map in {}", self.body));
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap()
    }
}

impl Server {
    /// Starts `wscxr serve --detector FILE --listen 127.0.0.1:0 EXTRA...` and waits (60 s at
    /// most) until it listens and `/readyz` answers 200 (with `token` when one is needed).
    pub fn start(detector: &Path, extra: &[&str], token: Option<&str>) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wscxr"))
            .args(["serve", "--listen", "127.0.0.1:0", "--detector"])
            .arg(detector)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wscxr serve starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, address) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = found.send(addr.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match address.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("wscxr serve did not listen: {:?}", log.lock().unwrap());
            }
        };
        let server = Self {
            child: Some(child),
            addr,
            log,
        };
        let clock = Instant::now();
        loop {
            let ready = server.get("/readyz", token);
            if ready.status == 200 {
                break;
            }
            assert_eq!(ready.status, 503, "{}", ready.body);
            assert!(
                clock.elapsed() < Duration::from_secs(120),
                "not ready after 120 s: {:?}",
                server.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path`.
    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = agent().get(self.url(path));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        answer(request.call())
    }

    /// POST `body` to `path`.
    pub fn post(&self, path: &str, body: &[u8], content_type: &str, token: Option<&str>) -> Answer {
        let mut request = agent()
            .post(self.url(path))
            .header("content-type", content_type);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        answer(request.send(body))
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let clock = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if clock.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("wscxr serve did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.unwrap_or_else(|e| panic!("HTTP request failed: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (retry_after, request_id) = (header("retry-after"), header("x-request-id"));
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        body,
        retry_after,
        request_id,
    }
}
