//! Progress bars for long work, one per stage.

use indicatif::{ProgressBar, ProgressStyle};
use wscxr::{Observer, Stage};

/// Shows a bar per stage on standard error, or nothing when quiet.
pub struct Bars {
    quiet: bool,
    prefix: String,
    bar: Option<(String, ProgressBar)>,
}

impl Bars {
    /// Bars, unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            prefix: String::new(),
            bar: None,
        }
    }

    /// Names the following stages `prefix` + stage, e.g. `K=4 seed=0 `.
    pub fn set_prefix(&mut self, prefix: impl Into<String>) {
        self.prefix = prefix.into();
    }

    /// Ends the current bar.
    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Observer for Bars {
    fn progress(&mut self, stage: Stage, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        let name = format!("{}{stage}", self.prefix);
        if !matches!(&self.bar, Some((current, _)) if *current == name) {
            self.finish();
            tracing::info!(stage = %name, total, "stage started");
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {elapsed}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(name.clone());
            self.bar = Some((name, bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_position(done as u64);
        }
    }
}
