//! Appends N realistic entries to an audit log, then verifies it.
//!
//! ```text
//! cargo run -p probity-audit --release --example audit_bench -- \
//!     --dir /tmp/audit-bench --entries 10000000 --mode batch=10000
//! ```
//!
//! `--mode fsync` appends one entry per call (one write and two fsyncs
//! each: the log, then the head file); `--mode batch[=K]` appends K
//! entries per call (default 10,000) with one write and two fsyncs per
//! batch. The directory should be new or empty: entries are added to any
//! log already there. `--verify-only` verifies an existing log and appends
//! nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use probity_audit::{AuditLog, Record, verify};

const ACTORS: [&str; 6] = [
    "PC-4821",
    "DS-1107",
    "PS-2290",
    "auditor-3",
    "analyst-12",
    "probity",
];
const ACTIONS: [&str; 8] = [
    "finding.view",
    "finding.view",
    "finding.view",
    "reveal",
    "reveal.refused",
    "finding.close",
    "export",
    "search",
];
const REASONS: [&str; 4] = [
    "voids after shift end, review case 22/041",
    "repeat PNC checks without a linked incident",
    "supervisor request: vetting renewal 2026-11",
    "complaint reference CO/2026/00731, stage 2",
];

/// SplitMix64: a small, fast, good-enough generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn record(rng: &mut Rng) -> Record {
    let action = rng.pick(&ACTIONS);
    let r = Record::new(
        rng.pick(&ACTORS),
        action,
        format!("F-{:08}", rng.next() % 100_000_000),
    )
    .person(format!("P-{:016x}", rng.next()))
    .details(serde_json::json!({
        "score": (rng.next() % 10_000) as f64 / 10_000.0,
        "rank": rng.next() % 500,
        "rows": rng.next() % 100_000,
    }));
    if action.starts_with("reveal") {
        r.reason(rng.pick(&REASONS))
    } else {
        r
    }
}

enum Mode {
    Fsync,
    Batch(usize),
}

struct Args {
    dir: PathBuf,
    entries: u64,
    mode: Mode,
    verify_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut entries = None;
    let mut mode = Mode::Batch(10_000);
    let mut verify_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--entries" => {
                entries = Some(
                    value()?
                        .replace('_', "")
                        .parse()
                        .map_err(|e| format!("--entries: {e}"))?,
                )
            }
            "--mode" => {
                mode = match value()?.as_str() {
                    "fsync" => Mode::Fsync,
                    "batch" => Mode::Batch(10_000),
                    m => match m.strip_prefix("batch=").map(|k| k.replace('_', "").parse()) {
                        Some(Ok(k)) if k > 0 => Mode::Batch(k),
                        _ => return Err(format!("--mode {m}: expected fsync, batch or batch=K")),
                    },
                }
            }
            "--verify-only" => verify_only = true,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(Args {
        dir: dir.ok_or("--dir is required")?,
        entries: if verify_only {
            0
        } else {
            entries.ok_or("--entries is required")?
        },
        mode,
        verify_only,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "audit_bench: {e}\nusage: audit_bench --dir D (--entries N [--mode fsync|batch[=K]] | --verify-only)"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("audit_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> probity_audit::Result<bool> {
    let mut log = AuditLog::open(&args.dir)?;
    let mut rng = Rng(0x5EED);
    let start = Instant::now();
    match args.mode {
        _ if args.verify_only => {}
        Mode::Fsync => {
            for _ in 0..args.entries {
                log.append(record(&mut rng))?;
            }
        }
        Mode::Batch(k) => {
            let mut left = args.entries;
            while left > 0 {
                let n = left.min(k as u64);
                log.append_batch((0..n).map(|_| record(&mut rng)))?;
                left -= n;
            }
        }
    }
    let append_s = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(args.dir.join(probity_audit::LOG_FILE))
        .map_err(|e| probity_audit::Error::Io {
            path: args.dir.join(probity_audit::LOG_FILE),
            source: e,
        })?
        .len();
    let start = Instant::now();
    let report = verify(&args.dir, None)?;
    let verify_s = start.elapsed().as_secs_f64();
    let mode = match args.mode {
        Mode::Fsync => "fsync".to_owned(),
        Mode::Batch(k) => format!("batch={k}"),
    };
    println!("mode            {mode}");
    println!("entries         {}", args.entries);
    println!("log entries     {}", report.entries);
    println!(
        "bytes           {bytes} ({:.1} MB, {:.0} B/entry)",
        bytes as f64 / 1e6,
        bytes as f64 / report.entries.max(1) as f64
    );
    println!("append seconds  {append_s:.3}");
    println!(
        "entries/s       {:.0}",
        args.entries as f64 / append_s.max(1e-9)
    );
    println!("verify seconds  {verify_s:.3}");
    println!(
        "verify MB/s     {:.1}",
        bytes as f64 / 1e6 / verify_s.max(1e-9)
    );
    println!("verify          {report}");
    Ok(report.is_intact())
}
