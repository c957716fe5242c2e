//! Opting out of tests that need what a machine lacks (`../shared`, a wgpu device, a browser):
//! never under CI, and recorded in `$WSCXR_SKIP_LOG` so that `.ci/run` counts skips, not passes.
//! Shared with the program's tests (`crates/wscxr-cli/tests/common`), which include this file.

use std::path::PathBuf;

/// Environment variable that lets a developer run the suite without `../shared`.
pub const SKIP_SHARED: &str = "WSCXR_SKIP_SHARED";
/// Environment variable that lets a developer run the suite without a wgpu device.
pub const SKIP_WGPU: &str = "WSCXR_SKIP_WGPU";
/// Environment variable naming a file to which every skipped test appends one line, so that
/// `.ci/run` can count skips without depending on libtest's output capture.
pub const SKIP_LOG: &str = "WSCXR_SKIP_LOG";

/// Whether this is a CI run, which never honours an opt-out: CI must not pass by skipping.
pub fn under_ci() -> bool {
    is_ci(std::env::var("CI").ok().as_deref())
}

fn is_ci(ci: Option<&str>) -> bool {
    ci.is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether the person running the tests opted out with `var=1` (ignored under CI).
fn opted_out(var: &str) -> bool {
    opt_out_honoured(
        std::env::var("CI").ok().as_deref(),
        std::env::var(var).ok().as_deref(),
    )
}

/// Whether an opt-out set to `opt_out` is honoured where `CI` is `ci`.
pub fn opt_out_honoured(ci: Option<&str>, opt_out: Option<&str>) -> bool {
    !is_ci(ci) && opt_out == Some("1")
}

/// A test that cannot run for want of `what`: a failure, unless the runner opted out through
/// `opt_out`, in which case it prints a `SKIPPED:` line, records itself in `$WSCXR_SKIP_LOG`, and
/// the caller returns early.
#[track_caller]
pub fn cannot_run(what: &str, opt_out: &str) {
    if !opted_out(opt_out) {
        let ci = if under_ci() {
            " (CI never honours the opt-out)"
        } else {
            ""
        };
        panic!("{what}; set {opt_out}=1 to skip the tests that need it{ci}");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    eprintln!("SKIPPED: {test}: {what} ({opt_out}=1)");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        use std::io::Write;
        // One short line per write with O_APPEND: concurrent tests do not interleave.
        let line = format!("{test}\t{opt_out}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!(
                "cannot record the skip in {}: {e}",
                PathBuf::from(log).display()
            );
        }
    }
}
