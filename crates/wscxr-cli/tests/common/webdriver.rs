//! A minimal blocking WebDriver client, so that the end-to-end tests can drive the page that
//! `wscxr serve` answers at `/` in a real headless Chromium: no browser-automation crate, only
//! `ureq`, `serde_json` and the W3C WebDriver protocol spoken to `chromedriver`.
//!
//! Every HTTP call has a timeout and every wait is bounded, so that a wedged browser fails the
//! test with a message instead of hanging it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key under which W3C WebDriver answers an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The longest any one WebDriver call may take; starting Chromium on a small machine is the
/// slowest of them.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long chromedriver gets to answer `GET /status` as ready.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the waits look again.
const POLL: Duration = Duration::from_millis(100);

/// The largest answer read (a screenshot of a tall page is a few MiB of base64).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// Chromium's flags: headless as root in a container. Without the background-networking flags
/// Chromium's own connections (updates, sync, QUIC probes) make its page loads fail here.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// A headless Chromium session behind its own chromedriver on a loopback port. Dropping it
/// ends the session, stops chromedriver and removes the browser profile, so tests leave no
/// processes or files behind even when they fail.
pub struct Browser {
    agent: ureq::Agent,
    /// `http://127.0.0.1:<port>` of this browser's chromedriver.
    base: String,
    /// Empty until the session exists, so that `Drop` can clean up after a failed start.
    session: String,
    driver: Child,
    /// Holds the fresh Chromium profile and chromedriver's log.
    scratch: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Fails with a message (not a
    /// panic) when chromedriver is missing, so a test can decide to skip.
    pub fn start() -> Result<Browser, String> {
        let driver_path = find_chromedriver()?;
        let port = free_port()?;
        let scratch = scratch_dir()?;
        let profile = scratch.join("profile");
        std::fs::create_dir_all(&profile).map_err(|e| {
            format!(
                "cannot create the browser profile {}: {e}",
                profile.display()
            )
        })?;
        let log_path = scratch.join("chromedriver.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn();
        let driver = match driver {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(format!("cannot start {}: {e}", driver_path.display()));
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(CALL_TIMEOUT))
            .http_status_as_error(false)
            // Loopback only: a proxy from the environment must not see these calls.
            .proxy(None)
            .build()
            .into();
        // From here on `Drop` stops chromedriver and removes the scratch directory.
        let mut browser = Browser {
            agent,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            driver,
            scratch,
        };
        browser.wait_until_ready()?;
        browser.session = browser.new_session(&profile)?;
        Ok(browser)
    }

    /// Opens `url` and returns once the page has loaded (the W3C "normal" load strategy).
    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.session_command("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
            .map_err(|e| format!("goto {url}: {e}"))
    }

    /// The element that `css` selects first, as a WebDriver element id.
    pub fn find(&self, css: &str) -> Result<String, String> {
        let value = self
            .session_command(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .map_err(|e| format!("find `{css}`: {e}"))?;
        value
            .get(ELEMENT_KEY)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("find `{css}`: the answer has no element reference: {value}"))
    }

    /// Waits until `css` selects a visible element with non-empty text: the page fills its
    /// results in after an asynchronous request, so they cannot be read right after an action.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<String, String> {
        self.wait_until(css, timeout, |text| !text.is_empty())
            .map(|(element, _)| element)
    }

    /// Waits until `css` selects an element whose rendered text satisfies `accept`; answers
    /// the element and that text. Errors while looking (not there yet, replaced meanwhile)
    /// count as "not yet" until `timeout`.
    pub fn wait_until(
        &self,
        css: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> Result<(String, String), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.find(css).and_then(|e| Ok((self.text(&e)?, e))) {
                Ok((text, element)) if accept(&text) => return Ok((element, text)),
                Ok((text, _)) => format!("its text was {text:?}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "waited {timeout:?} for `{css}` in vain; last: {last}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Types `text` into `element`; for `<input type="file">`, `text` is the absolute path of
    /// the file to choose, which is how WebDriver uploads without a file dialog.
    pub fn send_keys(&self, element: &str, text: &str) -> Result<(), String> {
        self.session_command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .map(drop)
        .map_err(|e| format!("send keys to element {element}: {e}"))
    }

    /// The element's rendered text (empty for hidden elements).
    pub fn text(&self, element: &str) -> Result<String, String> {
        let value = self
            .session_command("GET", &format!("/element/{element}/text"), None)
            .map_err(|e| format!("text of element {element}: {e}"))?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("text of element {element}: not a string: {value}"))
    }

    /// The element's attribute `name`, `None` when it has none. Reads the attribute as
    /// written (e.g. `data-score`), not a property the browser derives.
    pub fn attribute(&self, element: &str, name: &str) -> Result<Option<String>, String> {
        let value = self
            .session_command("GET", &format!("/element/{element}/attribute/{name}"), None)
            .map_err(|e| format!("attribute {name} of element {element}: {e}"))?;
        match value {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(format!(
                "attribute {name} of element {element}: not a string: {other}"
            )),
        }
    }

    /// A PNG of the viewport, for looking at the page after a test.
    pub fn screenshot_png(&self) -> Result<Vec<u8>, String> {
        let value = self
            .session_command("GET", "/screenshot", None)
            .map_err(|e| format!("screenshot: {e}"))?;
        let encoded = value
            .as_str()
            .ok_or_else(|| format!("screenshot: the answer is not a string: {value}"))?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("screenshot: the answer is not base64: {e}"))
    }

    /// Resizes the window, e.g. to a phone's 390x844, to see the page's narrow layout.
    pub fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        self.session_command(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .map(drop)
        .map_err(|e| format!("set the window size to {width}x{height}: {e}"))
    }

    /// Polls `GET /status` until chromedriver says it is ready, or it exits, or time is up.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                return Err(format!(
                    "chromedriver exited at start ({status}); its log: {}",
                    self.driver_log()
                ));
            }
            let last = match self.command("GET", "/status", None) {
                Ok(value) if value.get("ready").and_then(Value::as_bool) == Some(true) => {
                    return Ok(());
                }
                Ok(value) => format!("not ready: {value}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver at {} was not ready within {DRIVER_START_TIMEOUT:?} ({last}); \
                     its log: {}",
                    self.base,
                    self.driver_log()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Creates the session: Chromium with the container flags and a fresh profile, so that
    /// nothing from an earlier run (cache, storage) changes what the page does.
    fn new_session(&self, profile: &Path) -> Result<String, String> {
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut options = json!({ "args": args });
        let chromium = Path::new("/usr/bin/chromium");
        if chromium.is_file() {
            options["binary"] = json!(chromium);
        }
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": options,
                    "pageLoadStrategy": "normal",
                }
            }
        });
        let value = self
            .command("POST", "/session", Some(capabilities))
            .map_err(|e| {
                format!(
                    "new session: {e}; chromedriver's log: {}",
                    self.driver_log()
                )
            })?;
        value
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("new session: the answer has no sessionId: {value}"))
    }

    /// A command on this session (`path` is relative to `/session/<id>`).
    fn session_command(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// One WebDriver call: answers the W3C `value`, or the driver's error and message.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let answer = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            ("POST", body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json; charset=utf-8")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
            (other, _) => return Err(format!("unsupported method {other}")),
        };
        let mut answer = answer.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = answer.status();
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| format!("{method} {path}: reading the answer: {e}"))?;
        let mut json: Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{method} {path}: HTTP {status}, not JSON ({e}): {}",
                excerpt(&text)
            )
        })?;
        let value = json
            .get_mut("value")
            .map(Value::take)
            .unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        let message = value.get("message").and_then(Value::as_str).unwrap_or("");
        Err(format!(
            "{method} {path}: HTTP {status}, {error}: {}",
            excerpt(message)
        ))
    }

    /// The end of chromedriver's log, for start-up errors.
    fn driver_log(&self) -> String {
        match std::fs::read_to_string(self.scratch.join("chromedriver.log")) {
            Ok(log) if log.trim().is_empty() => "(empty)".to_string(),
            Ok(log) => {
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            }
            Err(e) => format!("(unreadable: {e})"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Quits Chromium; a failure here must not hide the test's own failure.
            let _ = self.command("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// `/usr/bin/chromedriver` (Debian's package), else the first `chromedriver` on `PATH`.
fn find_chromedriver() -> Result<PathBuf, String> {
    let debian = PathBuf::from("/usr/bin/chromedriver");
    if debian.is_file() {
        return Ok(debian);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "chromedriver is not installed (not /usr/bin/chromedriver, not on PATH)".to_string()
        })
}

/// A loopback port that was free a moment ago (the listener is dropped before chromedriver
/// binds it; a race with another process is possible but unlikely).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the bound port: {e}"))
}

/// A new directory of this browser's own under the system temp dir.
fn scratch_dir() -> Result<PathBuf, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "wscxr-webdriver-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// At most 500 characters of `text`, for error messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(500) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
