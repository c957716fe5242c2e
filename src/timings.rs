//! Where a fit's or a scoring run's time goes: an observer that adds up the parts and prints
//! them as a table (`wscxr fit --timings`, `wscxr score --timings`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::ops::ControlFlow;
use std::time::Instant;

use wscxr_detector::{Discriminator, EpochReport};

use crate::observer::{Observer, Part, Stage};

/// Adds up the seconds of each [`Part`] and passes everything on to `inner` (progress bars,
/// say). The wall clock starts when it is made.
pub struct Timings<'a> {
    inner: &'a mut dyn Observer,
    parts: BTreeMap<Part, f64>,
    started: Instant,
}

impl<'a> Timings<'a> {
    /// Timings that pass everything on to `inner`.
    pub fn new(inner: &'a mut dyn Observer) -> Self {
        Self {
            inner,
            parts: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    /// Seconds spent in `part` so far.
    pub fn seconds(&self, part: Part) -> f64 {
        self.parts.get(&part).copied().unwrap_or(0.0)
    }

    /// Wall-clock seconds since it was made.
    pub fn wall(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The table: each part's seconds and its share of the wall time, the rest as "other"
    /// (loading weights and the detector, reading folders), and the overlapped parts' CPU
    /// seconds below.
    pub fn table(&self) -> String {
        let wall = self.wall();
        let mut out = String::new();
        let _ = writeln!(out, "{:<42} {:>9} {:>8}", "part", "seconds", "share");
        let mut accounted = 0.0;
        for (part, seconds) in self.parts.iter().filter(|(p, _)| !p.overlapped()) {
            accounted += seconds;
            let share = 100.0 * seconds / wall;
            let _ = writeln!(out, "{:<42} {seconds:>9.2} {share:>7.1}%", part.label());
        }
        let other = (wall - accounted).max(0.0);
        let _ = writeln!(
            out,
            "{:<42} {other:>9.2} {:>7.1}%",
            "other",
            100.0 * other / wall
        );
        let _ = writeln!(out, "{:<42} {wall:>9.2} {:>7.1}%", "wall", 100.0);
        for (part, seconds) in self.parts.iter().filter(|(p, _)| p.overlapped()) {
            let label = format!("{} (CPU s, overlapped)", part.label());
            let _ = writeln!(out, "{label:<42} {seconds:>9.2}");
        }
        out
    }
}

impl Observer for Timings<'_> {
    fn progress(&mut self, stage: Stage, done: usize, total: usize) {
        self.inner.progress(stage, done, total);
    }

    fn epoch(&mut self, report: EpochReport, discriminator: &Discriminator) -> ControlFlow<()> {
        self.inner.epoch(report, discriminator)
    }

    fn timed(&mut self, part: Part, seconds: f64) {
        *self.parts.entry(part).or_insert(0.0) += seconds;
        self.inner.timed(part, seconds);
    }

    fn interrupted(&mut self) -> bool {
        self.inner.interrupted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_and_pass_on() {
        #[derive(Default)]
        struct Count(f64);
        impl Observer for Count {
            fn timed(&mut self, _: Part, seconds: f64) {
                self.0 += seconds;
            }
        }
        let mut inner = Count::default();
        let mut timings = Timings::new(&mut inner);
        timings.timed(Part::Forward, 1.5);
        timings.timed(Part::Forward, 0.5);
        timings.timed(Part::Decode, 3.0);
        assert_eq!(timings.seconds(Part::Forward), 2.0);
        assert_eq!(timings.seconds(Part::Mining), 0.0);
        let table = timings.table();
        assert!(table.contains("forward"), "{table}");
        assert!(table.contains("decode (CPU s, overlapped)"), "{table}");
        assert_eq!(inner.0, 5.0);
    }
}
