//! Progress display: bars on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use probity_core::Table;
use probity_ingest::{Progress, TableReport};

/// Without a terminal, work taking at least this long gets a line on
/// standard error as it finishes.
const SLOW: std::time::Duration = std::time::Duration::from_secs(10);

fn is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar counting people for `synth` (hidden when not on a terminal).
pub fn people_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if is_tty() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} synthesising {pos}/{len} people [{bar:30}] {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// A spinner with a message for work without a known size (hidden when not
/// on a terminal).
pub fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        None,
        if is_tty() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// One bar per table being ingested, or one line per finished table.
pub struct IngestBars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<Table, ProgressBar>>,
    quiet: bool,
}

impl IngestBars {
    pub fn new() -> Self {
        IngestBars {
            multi: is_tty().then(MultiProgress::new),
            bars: Mutex::new(HashMap::new()),
            quiet: false,
        }
    }

    pub fn finish(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

impl Progress for IngestBars {
    fn table_started(&self, table: Table, file: &str, bytes: u64) {
        if let Some(m) = &self.multi {
            let bar = m.add(ProgressBar::new(bytes));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>22} [{bar:30}] {bytes}/{total_bytes} {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(file.to_string());
            self.bars.lock().expect("not poisoned").insert(table, bar);
        }
    }

    fn table_progress(&self, table: Table, done: u64) {
        if let Some(bar) = self.bars.lock().expect("not poisoned").get(&table) {
            bar.set_position(done);
        }
    }

    fn table_finished(&self, report: &TableReport) {
        if let Some(bar) = self
            .bars
            .lock()
            .expect("not poisoned")
            .remove(&report.table)
        {
            bar.finish_and_clear();
        }
        // Without a terminal, a line only for a table slow enough that a
        // log should show the batch is alive: the summary table on
        // standard output already gives every table's counts.
        if self.multi.is_none() && !self.quiet && report.elapsed >= SLOW {
            eprintln!(
                "ingested {} ({} rows) in {:.0}s",
                report.file,
                report.rows_read,
                report.elapsed.as_secs_f64()
            );
        }
    }
}

impl IngestBars {
    /// No per-table lines (the demo prints its own summary).
    pub fn quiet() -> Self {
        IngestBars {
            multi: None,
            bars: Mutex::new(HashMap::new()),
            quiet: true,
        }
    }
}

/// A bar over the detectors of an analysis, or one line per detector.
pub struct DetectorBar {
    bar: Option<ProgressBar>,
}

impl DetectorBar {
    pub fn new(total: u64) -> Self {
        let bar = is_tty().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{spinner} {pos}/{len} detectors [{bar:30}] {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        DetectorBar { bar }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl probity_detect::Progress for DetectorBar {
    fn start(&self, d: &probity_detect::Detector, _index: usize, total: usize) {
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.set_message(d.id);
        }
    }

    fn done(&self, o: &probity_detect::DetectorOutcome) {
        if o.skipped.is_some() {
            return;
        }
        match &self.bar {
            Some(b) => b.inc(1),
            // The summary table says the rest.
            None if o.elapsed >= SLOW => {
                eprintln!("ran {} in {:.0}s", o.detector, o.elapsed.as_secs_f64())
            }
            None => {}
        }
    }
}
