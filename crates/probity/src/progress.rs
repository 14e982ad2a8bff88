//! Progress display: bars on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use probity_core::Table;
use probity_ingest::{Progress, TableReport};

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

/// One bar per table being ingested, or one line per finished table.
pub struct IngestBars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<Table, ProgressBar>>,
}

impl IngestBars {
    pub fn new() -> Self {
        IngestBars {
            multi: is_tty().then(MultiProgress::new),
            bars: Mutex::new(HashMap::new()),
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
        if self.multi.is_none() {
            eprintln!(
                "ingested {}: {} read, {} stored, {} quarantined, {} minimised in {:.2}s",
                report.file,
                report.rows_read,
                report.rows_stored,
                report.rows_quarantined,
                report.rows_minimised,
                report.elapsed.as_secs_f64()
            );
        }
    }
}
