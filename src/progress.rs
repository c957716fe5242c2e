//! Progress bars on standard error, one per stage: the observer that the `wscxr` program and the
//! examples show while they fit and score (feature `cli-progress`).

use indicatif::{ProgressBar, ProgressStyle};

use crate::observer::{Observer, Stage};

/// A progress bar per stage, or nothing when quiet. Stages are named `prefix` + stage (e.g.
/// `K=4 seed=0 extracting features`), so that a sweep shows which run is working.
pub struct ProgressBars {
    quiet: bool,
    prefix: String,
    bar: Option<(String, ProgressBar)>,
}

impl ProgressBars {
    /// Bars, unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            prefix: String::new(),
            bar: None,
        }
    }

    /// Names the following stages `prefix` + stage.
    pub fn set_prefix(&mut self, prefix: impl Into<String>) {
        self.prefix = prefix.into();
    }

    /// Reports `done` of `total` in the stage named `name`; a new name ends the current bar and
    /// starts another.
    pub fn update(&mut self, name: &str, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        if !matches!(&self.bar, Some((current, _)) if current == name) {
            self.finish();
            tracing::info!(stage = %name, total, "stage started");
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {elapsed}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(name.to_string());
            self.bar = Some((name.to_string(), bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    /// Ends the current bar, leaving it drawn.
    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Observer for ProgressBars {
    fn progress(&mut self, stage: Stage, done: usize, total: usize) {
        let name = format!("{}{stage}", self.prefix);
        self.update(&name, done, total);
    }
}
