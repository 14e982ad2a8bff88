//! `probity`: the command-line interface. Thin: parses arguments, calls the
//! library crates, prints results and errors with their causes.

mod progress;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

/// Probity: integrity analytics for organisations that police themselves,
/// with safeguards enforced in code.
#[derive(Debug, Parser)]
#[command(name = "probity", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new store: layout, manifest, pseudonymisation key, probity.toml.
    Init {
        /// Directory for the store (must not exist or be empty).
        store: PathBuf,
    },
    /// Generate a synthetic police force in contract form, with ground truth.
    Synth {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Number of staff.
        #[arg(long, default_value_t = 2000)]
        people: usize,
        /// Number of days.
        #[arg(long, default_value_t = 120)]
        days: u32,
        /// First day (YYYY-MM-DD).
        #[arg(long, default_value = "2026-01-05")]
        start: String,
        /// Random seed; the same seed gives the same force.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Table file format.
        #[arg(long, value_enum, default_value_t = SynthFormat::Csv)]
        format: SynthFormat,
    },
    /// Ingest a directory of contract tables into a store, as one atomic batch.
    Ingest {
        /// Directory holding <table>.csv or <table>.parquet files.
        data_dir: PathBuf,
        /// The store (created by `probity init`).
        #[arg(long)]
        store: PathBuf,
    },
    /// Run DataFusion SQL over the store; every contract table is registered by name.
    Sql {
        /// The store.
        store: PathBuf,
        /// The query, e.g. "SELECT kind, count(*) FROM shifts GROUP BY kind".
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SynthFormat {
    Csv,
    Parquet,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SqlFormat {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`probity sql … | head`) is not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { store } => {
            probity_store::Store::init(&store)
                .with_context(|| format!("cannot create a store at {}", store.display()))?;
            println!("created store {}", store.display());
            println!("  configuration: {}", store.join("probity.toml").display());
            println!(
                "  pseudonymisation key: {} (mode 0600; back it up, keep it secret)",
                store.join("keys/pseudonym.key").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth {
            out,
            people,
            days,
            start,
            seed,
            format,
        } => {
            let cfg = probity_synth::SynthConfig {
                out: out.clone(),
                people,
                days,
                start,
                seed,
                format: match format {
                    SynthFormat::Csv => probity_synth::Format::Csv,
                    SynthFormat::Parquet => probity_synth::Format::Parquet,
                },
            };
            let bar = progress::people_bar(people as u64);
            let report = probity_synth::run(&cfg, &|done, _| bar.set_position(done as u64))
                .with_context(|| format!("cannot generate into {}", out.display()))?;
            bar.finish_and_clear();
            print_synth(&out, &report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { data_dir, store } => {
            let mut s = probity_store::Store::open_for_write(&store)
                .with_context(|| format!("cannot open store {}", store.display()))?;
            let bars = progress::IngestBars::new();
            let report = probity_ingest::ingest(&mut s, &data_dir, &bars);
            bars.finish();
            let report = report.with_context(|| {
                format!(
                    "ingest of {} failed; the store is unchanged",
                    data_dir.display()
                )
            })?;
            print_ingest(&store, &report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql {
            store,
            query,
            format,
        } => {
            let s = probity_store::Store::open(&store)
                .with_context(|| format!("cannot open store {}", store.display()))?;
            sql(&s, &query, format)
        }
    }
}

fn print_synth(out: &Path, r: &probity_synth::SynthReport) {
    let secs = r.elapsed.as_secs_f64();
    println!(
        "synthesised {} rows in {:.1}s ({:.0} rows/s, {:.1} MB) into {}",
        r.total_rows(),
        secs,
        r.total_rows() as f64 / secs.max(1e-9),
        r.bytes as f64 / 1e6,
        out.display()
    );
    for (t, n) in &r.rows {
        println!("  {t:<20} {n:>10}");
    }
    println!(
        "  ground truth: {} scenario rows (truth.csv), {} confounders (confounders.csv)",
        r.truth_rows, r.confounder_rows
    );
}

fn print_ingest(store: &Path, r: &probity_ingest::IngestReport) {
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for (f, b) in &r.already_ingested {
        println!("skipped {f}: the same content was already ingested in batch {b}");
    }
    let Some(batch) = &r.batch_id else {
        println!("nothing new to ingest; the store is unchanged");
        return;
    };
    println!(
        "{:<20} {:>10} {:>10} {:>11} {:>10} {:>8}",
        "table", "read", "stored", "quarantined", "minimised", "time"
    );
    for t in &r.tables {
        println!(
            "{:<20} {:>10} {:>10} {:>11} {:>10} {:>7.2}s",
            t.table.name(),
            t.rows_read,
            t.rows_stored,
            t.rows_quarantined,
            t.rows_minimised,
            t.elapsed.as_secs_f64()
        );
    }
    let (read, stored, q, m) = r.tables.iter().fold((0, 0, 0, 0), |a, t| {
        (
            a.0 + t.rows_read,
            a.1 + t.rows_stored,
            a.2 + t.rows_quarantined,
            a.3 + t.rows_minimised,
        )
    });
    let secs = r.elapsed.as_secs_f64();
    println!(
        "{:<20} {read:>10} {stored:>10} {q:>11} {m:>10} {secs:>7.2}s",
        "total"
    );
    println!(
        "committed batch {batch}: {:.0} rows/s",
        read as f64 / secs.max(1e-9)
    );
    for t in &r.tables {
        for n in &t.notes {
            eprintln!("warning: {n}");
        }
        if t.rows_quarantined > 0 {
            let reasons: Vec<String> = t.reasons.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            println!(
                "quarantined {} {} rows ({}): {}",
                t.rows_quarantined,
                t.table.name(),
                reasons.join(", "),
                store
                    .join("quarantine")
                    .join(batch)
                    .join(format!("{}.csv", t.table.name()))
                    .display()
            );
            for e in &t.examples {
                println!("  {e}");
            }
        }
    }
}

fn sql(store: &probity_store::Store, query: &str, format: SqlFormat) -> Result<ExitCode> {
    let ctx = store.session_context()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the query runtime")?;
    let batches = runtime.block_on(async {
        let df = ctx.sql(query).await?;
        df.collect().await
    });
    let batches = match batches {
        Ok(b) => b,
        Err(e) => bail!("query failed: {e}"),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        SqlFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(out, "{text}")?;
        }
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in &batches {
                w.write(b)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
