//! The page of `wscxr serve` in a real browser: headless Chromium (Debian's `chromium`, driven
//! through `chromedriver`, both installed by `.ci/run`) opens `/`, picks a bundled X-ray, and
//! shows the score the API gives for the same file, with its decision.

mod common;

use std::time::Duration;

use common::server::Server;
use common::webdriver::Browser;
use common::{checkout, opt_out, small_calibrated_detector};

/// Lets a developer without Chromium run the rest of the suite; CI never honours it.
const SKIP_BROWSER: &str = "WSCXR_SKIP_BROWSER";

/// A browser, or `None` after recording the skip when the runner opted out; a failure otherwise.
fn browser_or_skip() -> Option<Browser> {
    match Browser::start() {
        Ok(browser) => Some(browser),
        Err(error) => {
            opt_out::cannot_run(
                &format!(
                    "no headless browser ({error}); install Debian's chromium and \
                     chromium-driver (.ci/run does)"
                ),
                SKIP_BROWSER,
            );
            None
        }
    }
}

#[test]
fn the_page_shows_the_score_the_api_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = small_calibrated_detector(dir.path());
    let server = Server::start(&file, &[], None);
    let Some(browser) = browser_or_skip() else {
        return;
    };
    for image in [
        "assets/quickstart/test/anomaly/person1571_bacteria_4110.png",
        "assets/quickstart/test-dicom/anomaly/person115_virus_219.dcm",
    ] {
        let path = checkout().join(image).canonicalize().unwrap();
        let api = server
            .post(
                "/v1/score",
                &std::fs::read(&path).unwrap(),
                "application/octet-stream",
                None,
            )
            .json();
        let expected = api["score"].as_f64().unwrap();

        browser.goto(&server.url("/")).unwrap();
        let input = browser.find("#file").unwrap();
        browser.send_keys(&input, path.to_str().unwrap()).unwrap();
        let score = browser
            .wait_for("#score", Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{image}: {e}"));
        let shown = browser.attribute(&score, "data-score").unwrap().unwrap();
        assert_eq!(
            shown.parse::<f64>().unwrap(),
            expected,
            "{image}: page {shown}"
        );
        let text = browser.text(&score).unwrap();
        assert_eq!(text, format!("{expected:.3}"), "{image}");
        let decision = browser.find("#decision").unwrap();
        let word = if api["abnormal"].as_bool().unwrap() {
            "abnormal"
        } else {
            "normal"
        };
        let decision = browser.text(&decision).unwrap();
        assert!(
            decision
                .split_whitespace()
                .any(|w| w.eq_ignore_ascii_case(word)),
            "{image}: the page says {decision:?}, the API {word}"
        );
        let heatmap = browser.find("#heatmap").unwrap();
        let src = browser
            .attribute(&heatmap, "src")
            .unwrap()
            .unwrap_or_default();
        assert!(
            src.starts_with("data:image/png;base64,"),
            "{image}: {src:.40}"
        );
    }
    // The README's picture: `WSCXR_PAGE_SCREENSHOT=docs/serve-page.png` writes it.
    if let Some(out) = std::env::var_os("WSCXR_PAGE_SCREENSHOT") {
        std::fs::write(out, browser.screenshot_png().unwrap()).unwrap();
    }
}
