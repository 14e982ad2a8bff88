//! `probity`: the command-line interface. Thin: parses arguments, calls the
//! library crates, prints results and errors with their causes.

mod auth;
mod fairness;
mod progress;
mod safeguards;
mod score;
mod web;

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
    /// The Probity user you act as. You prove it with their password
    /// (typed at the prompt without echo, or `--password-stdin`) or by
    /// running as the operating-system account bound to them (`probity user
    /// bind`); a refusal is recorded on the audit log. Without it, actions
    /// are recorded under your operating-system account (from the real uid)
    /// and gated actions are refused.
    #[arg(long = "as", value_name = "USER", global = true)]
    actor: Option<String>,
    /// Read the `--as` user's password from the first line of standard
    /// input (for scripts) instead of asking at the terminal.
    #[arg(long, global = true)]
    password_stdin: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new store: layout, manifest, pseudonymisation key, probity.toml.
    Init {
        /// Directory for the store (must not exist or be empty).
        store: PathBuf,
        /// The first admin user (manages users and governance).
        #[arg(long, default_value = "admin")]
        admin: String,
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
        /// Reference-list records of members of the public (default: 35% of
        /// the staff count); e.g. 1000000 for the linkage benchmark.
        #[arg(long)]
        public_records: Option<usize>,
        /// The force's conventions: 0 is the house set; any other number
        /// draws another set of its own (pay codes, timestamp form, field
        /// names, placeholders, organisation spellings, and misconduct shaped
        /// differently: confined to weeks, extensions of shifts, pay codes
        /// alone, two years of complaints), with new look-alikes for each.
        #[arg(long, default_value_t = 0)]
        conventions: u32,
    },
    /// Ingest a directory of contract tables into a store, as one atomic batch.
    Ingest {
        /// Directory holding <table>.csv or <table>.parquet files (with
        /// --mapping: the mapping's source files).
        #[arg(required_unless_present = "retry_quarantine")]
        data_dir: Option<PathBuf>,
        /// The store (created by `probity init`).
        #[arg(long)]
        store: PathBuf,
        /// A mapping file (see mappings/README.md): map DATA_DIR's source
        /// files to contract tables first, then ingest those.
        #[arg(long, value_name = "MAPPING.toml")]
        mapping: Option<PathBuf>,
        /// Ignore .csv/.parquet files that name no contract table (a folder
        /// holding other exports too); without it they are an error, with
        /// the table the name most likely meant.
        #[arg(long)]
        allow_extra_files: bool,
        /// Ingest again the rows batch BATCH quarantined (e.g. rows whose
        /// parent table has been ingested since): those that now pass are
        /// stored, the rest quarantined again with their original line.
        #[arg(long, value_name = "BATCH", conflicts_with_all = ["data_dir", "mapping", "allow_extra_files"])]
        retry_quarantine: Option<String>,
    },
    /// Risk scores: early warning from person-period features.
    Score {
        #[command(subcommand)]
        command: score::ScoreCommand,
    },
    /// The fairness audit of every detector and model: flag rate,
    /// precision, false-positive and false-negative rate per rank, unit,
    /// working hours, sex and ethnicity (where recorded), as ratios to the
    /// reference group; written by every `analyze`, `score run` and `score
    /// eval`. `probity fairness STORE` shows the latest; `probity fairness
    /// sign-off` releases a detector withheld under `[fairness]
    /// block_flagged`.
    #[command(args_conflicts_with_subcommands = true)]
    Fairness {
        #[command(subcommand)]
        command: Option<FairnessCommand>,
        /// The store.
        store: Option<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Map source files of another layout to contract tables with a
    /// declarative mapping file, reporting every row's fate.
    Map {
        /// The mapping file (TOML; see mappings/README.md).
        mapping: PathBuf,
        /// Directory holding the mapping's source files.
        #[arg(long)]
        source: PathBuf,
        /// Output directory for <table>.csv and _mapping/ (report, rejected rows).
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a read-only DataFusion SQL query over the store's pseudonymised
    /// tables (an analyst or reviewer, `--as`); no DDL, DML, COPY or SET; the
    /// identity vault and equality monitoring are not reachable; every query
    /// is on the audit log with its row count.
    Sql {
        /// The store.
        store: PathBuf,
        /// The query, e.g. "SELECT kind, count(*) FROM shifts GROUP BY kind".
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
    },
    /// Run every enabled detector over a store and write findings; audits
    /// each detector's fairness.
    Analyze {
        /// The store.
        store: PathBuf,
        /// Directory for findings.jsonl, findings.parquet and run.json.
        #[arg(long)]
        out: PathBuf,
        /// Write real person ids instead of pseudonyms: a reviewer only
        /// (`--as`), with `--reason`; recorded on the audit log.
        #[arg(long)]
        reveal: bool,
        /// Why identities are needed (with --reveal).
        #[arg(long)]
        reason: Option<String>,
        /// Also run the baseline rules (written to baseline-findings.jsonl).
        #[arg(long)]
        baselines: bool,
        /// Run only these detectors (repeatable); `probity detectors` lists them.
        #[arg(long = "only", value_name = "DETECTOR")]
        only: Vec<String>,
        /// Ground truth (synthetic data: truth.csv) for the fairness audit's
        /// precision and error rates; without it, review outcomes are used.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Run the detectors' queries on an Apache Ballista cluster (its
        /// scheduler; see `probity cluster`) instead of in this process.
        /// Findings, purpose binding and the audit are the same.
        #[arg(long, value_name = "df://HOST:PORT")]
        cluster: Option<String>,
        /// Analyse what one batch added (its id, or `latest`): the days its
        /// rows fall on, each detector reading its own context before them
        /// (`probity detectors` shows how many days), and only detectors
        /// that read a table the batch holds. The daily run after a daily
        /// ingest; findings that touch those days are reported.
        #[arg(long, value_name = "BATCH", conflicts_with = "period")]
        batch: Option<String>,
        /// Analyse the local days FROM to TO (YYYY-MM-DD..YYYY-MM-DD), each
        /// detector reading its own context before them.
        #[arg(long, value_name = "FROM..TO")]
        period: Option<String>,
    },
    /// Link reference records (registers, rolls) to staff: Fellegi-Sunter
    /// match weights with EM-estimated parameters; stores links, the model and
    /// the clerical-review band in the store; incremental unless --full.
    Resolve {
        /// The store.
        store: PathBuf,
        /// Explain a record: a per-field waterfall against its best candidates.
        #[arg(long, value_name = "RECORD_ID")]
        explain: Option<String>,
        /// Show staff members' real ids and values in explanations: a
        /// reviewer only (`--as`), with `--reason`; audited.
        #[arg(long)]
        reveal: bool,
        /// Why identities are needed (with --reveal).
        #[arg(long)]
        reason: Option<String>,
        /// Re-estimate the model and re-link every record.
        #[arg(long)]
        full: bool,
        /// Known true links (record_id, person_id) to measure precision and
        /// recall at the auto-link threshold.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show who a finding is about: a reviewer only, with a reason; the
    /// reveal (or its refusal) is recorded on the audit log first.
    Reveal {
        /// The finding id (from findings.jsonl).
        finding_id: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// Why you need the identity (at least 10 characters; audited).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take a review step on a finding (audited): close it with no further
    /// action or advice, or propose/approve/reject a referral (four-eyes),
    /// or propose/issue a prevention notice (after the subject's response window).
    Triage {
        /// The finding id.
        finding_id: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// The workflow step: dismiss, advise, propose_referral,
        /// approve_referral, reject_referral, propose_notice, issue_notice.
        #[arg(long, conflicts_with = "outcome")]
        step: Option<String>,
        /// Shorthand for the closing steps: no_further_action or advice.
        #[arg(long)]
        outcome: Option<String>,
        /// For no further action: false_positive, explained,
        /// insufficient_evidence or already_known.
        #[arg(long)]
        dismissal: Option<String>,
        /// Why (at least 10 characters).
        #[arg(long)]
        reason: Option<String>,
        /// Review database (default: SQLite in the store).
        #[arg(long)]
        database: Option<String>,
    },
    /// Serve the web UI and JSON API (review queue, findings, workflow).
    Serve {
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// Review database URL, e.g. postgres://USER@127.0.0.1:5432/DB
        /// (default: SQLite in the store).
        #[arg(long)]
        database: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Minutes without a request before a session ends.
        #[arg(long, default_value_t = 30)]
        idle_minutes: u64,
        /// Behind a TLS-terminating proxy: Secure cookies, HSTS, and a
        /// non-loopback --bind is allowed (with at least one --host).
        #[arg(long)]
        behind_tls_proxy: bool,
        /// A host name people reach Probity by, e.g. probity.force.example
        /// (repeatable; NAME:PORT to require a port). Requests naming any
        /// other host get 421, against DNS rebinding. On loopback,
        /// localhost, 127.0.0.1 and [::1] with the bound port always work.
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// The address of a reverse proxy whose X-Forwarded-For header is
        /// believed for sign-in rate limits and the audit log (repeatable);
        /// from any other peer the header is ignored.
        #[arg(long = "trusted-proxy", value_name = "IP")]
        trusted_proxies: Vec<std::net::IpAddr>,
    },
    /// The tamper-evident audit log: verify the chain, show entries, print the head.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The governance file: apply a new one (admin), print a template, check one.
    Governance {
        #[command(subcommand)]
        command: GovernanceCommand,
    },
    /// Users and roles (admin).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Merge each table's small per-batch files (one per month per daily
    /// batch) into one per month, atomically (admin; audited). Rows and
    /// every query's answer are unchanged.
    Compact {
        /// The store.
        store: PathBuf,
        /// Merge a table's month only when it has at least this many files.
        #[arg(long, default_value_t = 2)]
        min_files: usize,
    },
    /// Retention: delete what governance says is due (admin).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Render the staff-facing transparency notice from the governance file.
    Notice {
        /// The store.
        store: PathBuf,
        /// Output HTML file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Reports about people.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Precision, recall and F1 of findings against ground truth, per scenario.
    Eval {
        /// findings.jsonl.
        #[arg(long)]
        findings: PathBuf,
        /// truth.csv (person_id, scenario, period_start, period_end).
        #[arg(long)]
        truth: PathBuf,
        /// confounders.csv: also count findings on planted look-alikes.
        #[arg(long)]
        confounders: Option<PathBuf>,
        /// The store the findings came from: its key turns the truth's real
        /// ids into pseudonyms, so pseudonymised findings can be evaluated
        /// without revealing anyone.
        #[arg(long)]
        store: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The main job end to end: synthesise a force, ingest, analyse,
    /// evaluate against the planted truth.
    Demo {
        /// Working directory (re-created if it holds an earlier demo).
        #[arg(long, default_value = "probity-demo")]
        dir: PathBuf,
        /// Number of staff.
        #[arg(long, default_value_t = 2000)]
        people: usize,
        /// Number of days.
        #[arg(long, default_value_t = 120)]
        days: u32,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The force's conventions (see `probity synth --conventions`).
        #[arg(long, default_value_t = 0)]
        conventions: u32,
        /// Finish without serving the web UI.
        #[arg(long)]
        no_serve: bool,
        /// Where the web UI listens at the end.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
    },
    /// An Apache Ballista cluster for `probity analyze --cluster`: one
    /// scheduler, any number of executors. Ports listen on loopback unless
    /// --trust-network says the network is private to the cluster (Ballista
    /// has no authentication).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// List the detectors with their purpose, tables and parameters; with
    /// --store, the values in force there (probity.toml) and what each
    /// detector learns from that store's own data (pay codes, placeholders).
    Detectors {
        /// A store: show its parameter values and learned vocabulary.
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

/// `probity cluster …`.
#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Run a scheduler: it plans each query into stages and hands their
    /// tasks to the executors. Runs until stopped.
    Scheduler {
        /// Where its gRPC port listens (clients and executors connect here).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Allow an address beyond loopback: only on a network private to
        /// the cluster, since anyone who reaches the port can read what the
        /// executors can read.
        #[arg(long)]
        trust_network: bool,
        /// What Ballista logs on standard error.
        #[arg(long, value_enum, default_value_t = log_level::Level::Warn, value_name = "LEVEL")]
        log: log_level::Level,
    },
    /// Run an executor: it runs tasks and serves their shuffle output to
    /// the others. It reads the store's files at the paths in the plans, so
    /// the store must be at the same path on every executor (the same
    /// machine or a shared file system). Runs until stopped.
    Executor {
        /// The scheduler, df://HOST:PORT.
        #[arg(long, value_name = "df://HOST:PORT")]
        scheduler: String,
        /// Where its Arrow Flight (shuffle) port listens.
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// Its gRPC (task) port; the bind port + 1 if not given.
        #[arg(long)]
        grpc_port: Option<u16>,
        /// The host the scheduler and other executors reach it at; the bind
        /// address if not given.
        #[arg(long)]
        advertise: Option<String>,
        /// Tasks run at once; the number of cores if not given.
        #[arg(long)]
        cores: Option<usize>,
        /// Where the executor makes its own directory for shuffle files (a
        /// new one at every start, private to this user); the system's
        /// temporary directory if not given.
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Allow addresses beyond loopback (see `scheduler --trust-network`).
        #[arg(long)]
        trust_network: bool,
        /// What Ballista logs on standard error.
        #[arg(long, value_enum, default_value_t = log_level::Level::Warn, value_name = "LEVEL")]
        log: log_level::Level,
    },
}

/// `probity fairness …`.
#[derive(Debug, Subcommand)]
enum FairnessCommand {
    /// Accept the significant disparities of a detector's (or model's)
    /// latest audit, with a reason: a reviewer only (`--as`); audited.
    /// Releases what `[fairness] block_flagged` withheld, from the next run
    /// on, for exactly these disparities.
    SignOff {
        /// The detector id, `risk_model` or `anomaly`.
        subject: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// Why the disparity is acceptable (e.g. what explains it).
        #[arg(long)]
        reason: Option<String>,
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

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; name the first broken entry.
    Verify {
        /// The store.
        store: PathBuf,
        /// An externally kept head (`SEQ:HASH`, from `probity audit head`)
        /// the log must still contain.
        #[arg(long)]
        anchor: Option<String>,
    },
    /// Show entries (auditor), filtered.
    Show {
        /// The store.
        store: PathBuf,
        /// Only this actor.
        #[arg(long = "actor", id = "filter_actor")]
        by: Option<String>,
        /// Only this action (or a prefix ending in '.', e.g. `reveal.`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries about this person (staff id; matched by pseudonym).
        #[arg(long)]
        person: Option<String>,
        /// From this time (RFC 3339, or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Until this time, exclusive (RFC 3339), or to the end of a day (YYYY-MM-DD, UTC).
        #[arg(long)]
        until: Option<String>,
        /// One JSON entry per line.
        #[arg(long)]
        json: bool,
    },
    /// Print the chain head (`SEQ:HASH`) to anchor elsewhere.
    Head {
        /// The store.
        store: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum GovernanceCommand {
    /// Validate a governance file and make it the one in force (admin; audited).
    Apply {
        /// The new governance.toml.
        file: PathBuf,
        /// The store.
        #[arg(long)]
        store: PathBuf,
    },
    /// Validate a governance file without applying it: every problem at
    /// once, in file order, each with its line, field and fix.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Write a governance file to fill in: valid as written (approving
    /// nothing), with every purpose and detector approval as a commented
    /// block to uncomment, dated today and a year from today.
    Init {
        /// The file to write (refused if it exists).
        #[arg(default_value = "governance.toml")]
        file: PathBuf,
    },
    /// Print the template `governance init` writes.
    Template,
    /// Which detectors would run today, and why the others would not.
    Status {
        /// The store.
        store: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user.
    Add {
        /// Login name.
        id: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// analyst, reviewer, auditor, admin, subject or staff_rep.
        #[arg(long)]
        role: String,
        /// For a subject: their staff id.
        #[arg(long)]
        person: Option<String>,
    },
    /// Disable a user (users are never deleted: the audit log names them).
    Disable {
        /// Login name.
        id: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
    },
    /// List users and roles.
    List {
        /// The store.
        store: PathBuf,
    },
    /// Set a user's web password (ends their sessions). Without
    /// --password-stdin a random one is generated and printed once.
    Reset {
        /// Login name.
        id: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// Read the new password from standard input (the line after the
        /// admin's own, when the admin proves who they are with
        /// `--password-stdin` too).
        #[arg(long)]
        new_password_stdin: bool,
    },
    /// Bind a user to an operating-system account (admin; audited):
    /// commands run by that account (its real uid) act as the user without
    /// a password. One account binds to one user.
    Bind {
        /// Login name.
        id: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// The account's uid (`id -u NAME` prints it).
        #[arg(long)]
        uid: Option<u32>,
        /// Remove the binding instead.
        #[arg(long)]
        unbind: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// Reduce old location pings to facts and delete what is due; safe to repeat.
    Apply {
        /// The store.
        store: PathBuf,
        /// Apply as of this day (YYYY-MM-DD; default today).
        #[arg(long)]
        today: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// A subject access report (HTML and JSON): the person themselves, or a
    /// reviewer with a reason.
    Subject {
        /// The person's staff id.
        person_id: String,
        /// The store.
        #[arg(long)]
        store: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Why (required unless you are the subject).
        #[arg(long)]
        reason: Option<String>,
    },
}

fn main() -> ExitCode {
    // `println!` panics when the reader of our output has gone
    // (`probity fairness STORE | head`): that is the reader's choice, not a
    // crash, so end quietly like other command-line tools. Every other panic
    // goes to the default hook.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`probity sql … | head`) is not an error.
            // Arrow's CSV and JSON writers report it only as text.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.to_string().ends_with("Broken pipe (os error 32)")
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            // A wrapper that only passes its cause on says the same words:
            // print each distinct text once.
            let mut said = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if said.contains(&text) {
                    continue;
                }
                eprintln!("  caused by: {text}");
                said.push('\n');
                said.push_str(&text);
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    // Everything this process creates is its owner's alone (0600/0700).
    probity_store::private_umask();
    // Every audit append of this process anchors the new head in the review
    // database too (`[audit] anchor_database`), outside the log's own files.
    probity_store::install_anchor_database(probity_review::anchor_sink);
    let who = auth::Who::new(cli.actor.clone(), cli.password_stdin);
    match cli.command {
        Command::Init { store, admin } => {
            let loose = if store.is_dir() {
                probity_store::loose_modes(&store)
                    .into_iter()
                    .find(|(p, _)| p == &store)
            } else {
                None
            };
            probity_store::Store::init_with_admin(&store, &admin)
                .with_context(|| format!("cannot create a store at {}", store.display()))?;
            println!("created store {}", store.display());
            if let Some((_, mode)) = loose {
                println!(
                    "note: {} was open to other local users (mode {mode:o}); it is now 0700, \
                     and every file Probity writes in it is 0600",
                    store.display()
                );
            }
            println!(
                "  governance: {} (approves nothing yet: `probity governance init governance.toml` writes one to fill in, \
                 `probity governance apply FILE --store STORE --as {admin}` puts it in force)",
                store.join("governance.toml").display()
            );
            println!(
                "  first admin user: {admin} (bound to this operating-system account, uid {}; \
                 `probity user reset {admin}` gives them a password too)",
                probity_store::real_uid()
            );
            println!("  configuration: {}", store.join("probity.toml").display());
            println!(
                "  pseudonymisation key: {} (mode 0600; back it up, keep it secret)",
                store.join("keys/pseudonym.key").display()
            );
            println!(
                "  identity vault key: {} (mode 0600; back it up apart from the store: without it \
                 identities cannot be read; set {} to keep it outside the store)",
                probity_store::vault::key_file(&store).display(),
                probity_store::vault::KEY_FILE_ENV
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
            public_records,
            conventions,
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
                public_records,
                conventions,
            };
            let bar = progress::people_bar(people as u64);
            let report = probity_synth::run(&cfg, &|done, _| bar.set_position(done as u64))
                .with_context(|| format!("cannot generate into {}", out.display()))?;
            bar.finish_and_clear();
            print_synth(&out, &report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Score { command } => {
            score::run(command, &who)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fairness {
            command,
            store,
            json,
        } => {
            match (command, store) {
                (
                    Some(FairnessCommand::SignOff {
                        subject,
                        store,
                        reason,
                    }),
                    _,
                ) => fairness::sign_off(&store, &who, &subject, reason.as_deref())?,
                (None, Some(store)) => fairness::show(&store, json, &who)?,
                (None, None) => bail!("give a store: probity fairness STORE"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Map {
            mapping,
            source,
            out,
        } => {
            let m = probity_map::Mapping::load(&mapping)?;
            let report = run_mapping(&m, &source, &out)?;
            print_map(&out, &report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest {
            data_dir,
            store,
            mapping,
            allow_extra_files,
            retry_quarantine,
        } => {
            let mut s = open_store_for_write(&store)?;
            if let Some(a) = who.user(&s)? {
                s.set_actor(&a);
            }
            if let Some(batch) = retry_quarantine {
                let bars = progress::IngestBars::new();
                let report = probity_ingest::retry_quarantine(&mut s, &batch, &bars);
                bars.finish();
                let report = report.with_context(|| {
                    format!(
                        "retrying the quarantine of batch {batch} failed; the store is unchanged"
                    )
                })?;
                print_ingest(&s, &store, &report);
                return Ok(ExitCode::SUCCESS);
            }
            let data_dir = data_dir.expect("clap requires DATA_DIR without --retry-quarantine");
            // With a mapping, the mapped tables go to a private directory
            // inside the store (they hold names, which live only in the
            // identity vault once ingested) and are removed afterwards.
            let mapped = match &mapping {
                None => None,
                Some(file) => {
                    let m = probity_map::Mapping::load(file)?;
                    let dir = MappedDir(store.join(format!(".mapped-{}", std::process::id())));
                    let report = run_mapping(&m, &data_dir, &dir.0)?;
                    print_map(&dir.0, &report);
                    Some(dir)
                }
            };
            let data_dir = mapped.as_ref().map_or(data_dir, |d| d.0.clone());
            let bars = progress::IngestBars::new();
            let report = probity_ingest::ingest_with(&mut s, &data_dir, &bars, allow_extra_files);
            bars.finish();
            let report = report.with_context(|| {
                format!(
                    "ingest of {} failed; the store is unchanged",
                    data_dir.display()
                )
            })?;
            print_ingest(&s, &store, &report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql {
            store,
            query,
            format,
        } => {
            let s = open_store(&store)?;
            let user = who.need(&s, "sql")?;
            let batches = runtime()?.block_on(probity_govern::sql::query(&s, &user, &query))?;
            sql(&batches, format)
        }
        Command::Analyze {
            store,
            out,
            reveal,
            reason,
            baselines,
            only,
            truth,
            cluster,
            batch,
            period,
        } => {
            let s = open_store(&store)?;
            let limit = match (batch, period) {
                (Some(b), _) => Some(probity_govern::analysis::Scope::Batch(b)),
                (None, Some(p)) => Some(probity_govern::analysis::Scope::period(&p)?),
                (None, None) => None,
            };
            let show_reveal_warning = reveal;
            let engine = match cluster {
                Some(address) => {
                    let c = runtime()?.block_on(probity_cluster::Cluster::connect(&address))?;
                    Some(std::sync::Arc::new(c) as std::sync::Arc<dyn probity_detect::Engine>)
                }
                None => None,
            };
            let req = probity_govern::analysis::Request {
                actor: who.user(&s)?,
                out,
                reveal,
                reason,
                baselines,
                only,
                truth,
                engine,
                limit,
            };
            let probity_govern::analysis::Analysis {
                report,
                audits,
                withheld,
                audit_seq: seq,
                merged,
                outputs,
            } = run_analysis(&s, &req)
                .with_context(|| format!("analysis of {} failed", store.display()))?;
            print_analysis(&report, &req.only);
            fairness::print_summary(&audits, &withheld);
            for (d, open) in &withheld {
                eprintln!(
                    "withheld: the findings of {d} ({} disparit{} not signed off); a reviewer \
                     releases them with `probity fairness sign-off {d} --store {} --reason …`",
                    open.len(),
                    if open.len() == 1 { "y" } else { "ies" },
                    store.display()
                );
            }
            println!(
                "register: {} new, {} seen again, {} purged earlier and not re-added (audit entry {seq})",
                merged.new, merged.seen_again, merged.already_purged
            );
            println!("findings: {}", outputs.jsonl.display());
            println!("          {}", outputs.parquet.display());
            if let Some(b) = &outputs.baseline {
                println!("baseline: {}", b.display());
            }
            println!("run:      {}", outputs.run.display());
            if show_reveal_warning {
                eprintln!(
                    "warning: these findings carry real person ids (--reveal); handle them as \
                     identified personal data"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve {
            store,
            explain,
            reveal,
            reason,
            full,
            truth,
            json,
        } => resolve(
            &store,
            &who,
            explain.as_deref(),
            reveal.then_some(reason.as_deref()),
            full,
            truth.as_deref(),
            json,
        ),
        Command::Reveal {
            finding_id,
            store,
            reason,
        } => safeguards::reveal(&store, &who, &finding_id, reason.as_deref()),
        Command::Triage {
            finding_id,
            store,
            step,
            outcome,
            dismissal,
            reason,
            database,
        } => web::triage(
            &store,
            database.as_deref(),
            &who,
            &finding_id,
            step.as_deref(),
            outcome.as_deref(),
            dismissal.as_deref(),
            reason.as_deref(),
        ),
        Command::Serve {
            store,
            database,
            bind,
            idle_minutes,
            behind_tls_proxy,
            hosts,
            trusted_proxies,
        } => web::serve(
            &store,
            database,
            bind,
            idle_minutes,
            probity_web::Front {
                behind_tls: behind_tls_proxy,
                hosts,
                trusted_proxies,
            },
        ),
        Command::Audit { command } => safeguards::audit(command, &who),
        Command::Governance { command } => safeguards::governance(command, &who),
        Command::User { command } => safeguards::user(command, &who),
        Command::Retention { command } => safeguards::retention(command, &who),
        Command::Cluster { command } => cluster(command),
        Command::Compact { store, min_files } => {
            let mut s = open_store_for_write(&store)?;
            let user = who.need(&s, "compact")?;
            let r = probity_govern::compact::compact(&mut s, &user, min_files)?;
            for (t, (before, after, _)) in r.tables.iter().filter(|(_, (b, a, _))| b != a) {
                println!("  {t:<20} {before:>6} files → {after}");
            }
            for g in &r.skipped {
                println!("  left alone (its files' schemas differ): {g}");
            }
            let (before, after) = r.files();
            println!(
                "compacted: {before} data files → {after} (audit entry {}); rows and query answers unchanged",
                r.audit_seq
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Notice { store, out } => safeguards::notice(&store, &out),
        Command::Report { command } => safeguards::report(command, &who),
        Command::Eval {
            findings,
            truth,
            confounders,
            store,
            json,
        } => {
            let e = evaluate(&findings, &truth, confounders.as_deref(), store.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                print!("{}", e.table());
                for (p, k, f) in &e.confounder_hits {
                    println!("look-alike flagged: {p} ({k}) in finding {f}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            dir,
            people,
            days,
            seed,
            conventions,
            no_serve,
            bind,
        } => demo(
            &dir,
            (people, days, seed, conventions),
            (!no_serve).then_some(bind),
        ),
        Command::Detectors { store } => detectors(store.as_deref(), &who),
    }
}

/// `probity detectors [--store S]`.
fn detectors(store: Option<&Path>, who: &auth::Who) -> Result<ExitCode> {
    let s = store.map(open_store).transpose()?;
    let (values, learned) = match &s {
        Some(s) => {
            let actor = who.user(s)?;
            let plan = probity_detect::Plan::with_overrides(
                s,
                &probity_detect::detectors::ALL
                    .iter()
                    .filter(|d| d.baseline)
                    .map(|d| d.id)
                    .collect::<Vec<_>>(),
            )
            .with_context(|| format!("cannot plan the analysis of {}", s.root().display()))?;
            let learned = runtime()?.block_on(plan.learn())?;
            // Reading the store (even its vocabulary) is an access: on the log.
            s.audit()?.append(
                probity_audit::Record::new(
                    actor.unwrap_or_else(probity_store::os_actor),
                    "detectors.learn",
                    "",
                )
                .details(serde_json::json!({ "detectors": learned.keys().collect::<Vec<_>>() })),
            )?;
            // What runs today: the plan `analyze` and `governance status`
            // act on (the one above also enables baselines, to show their
            // parameters).
            let today = probity_detect::Plan::new(s)
                .with_context(|| format!("cannot plan the analysis of {}", s.root().display()))?;
            let mut why: std::collections::BTreeMap<&str, String> = today
                .not_selected()
                .map(|(d, w)| (d.id, format!("does not run: {w}")))
                .collect();
            for d in today.selected() {
                why.insert(d.id, "runs (`probity analyze`)".into());
            }
            (Some((plan.parameters(), why)), learned)
        }
        None => (None, Default::default()),
    };
    for d in probity_detect::detectors::ALL {
        println!(
            "{} (v{}) — {}{}",
            d.id,
            d.version,
            d.title,
            if d.baseline {
                " [baseline, off by default]"
            } else {
                ""
            }
        );
        println!("  scenario: {}", d.scenario);
        println!("  purpose:  {}", d.purpose);
        let names =
            |t: &[probity_core::Table]| t.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
        println!("  needs:    {}", names(d.needs));
        if !d.uses.is_empty() {
            println!("  uses:     {}", names(d.uses));
        }
        if let Ok((_, p)) = probity_detect::Params::resolve(d, None) {
            println!(
                "  context:  {} days before a limited period (`analyze --batch` or `--period`)",
                (d.context_days)(&p)
            );
        }
        let in_force = values.as_ref().and_then(|(v, _)| v.get(d.id));
        if let Some(w) = values.as_ref().and_then(|(_, w)| w.get(d.id)) {
            println!("  on this store: {w}");
        }
        for p in d.params {
            let default = match p.default {
                probity_detect::params::Default::Num(n) => format!("{n}"),
                probity_detect::params::Default::List(l) => format!("{l:?}"),
            };
            let value = in_force
                .and_then(|v| v.get(p.name))
                .map(|v| v.to_string())
                .filter(|v| *v != default)
                .map(|v| format!(" (in force here: {v})"))
                .unwrap_or_default();
            println!(
                "  [detectors.{}] {} = {default}{value} — {}",
                d.id, p.name, p.doc
            );
        }
        if let Some(n) = learned.get(d.id) {
            for line in &n.notes {
                println!("  learned:  {line}");
            }
            for (topic, v) in &n.learned {
                println!(
                    "  learned {topic}: {}",
                    serde_json::to_string(v).unwrap_or_default()
                );
            }
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens a store for reading, its `probity.toml` checked in full (the
/// detector sections against the registry): a mistake there is reported by
/// whatever command loads the file.
pub(crate) fn open_store(path: &Path) -> Result<probity_store::Store> {
    let s = probity_store::Store::open(path)
        .with_context(|| format!("cannot open store {}", path.display()))?;
    probity_detect::check_config(s.config())
        .with_context(|| format!("{}", path.join("probity.toml").display()))?;
    Ok(s)
}

/// Like [`open_store`], holding the store's write lock.
pub(crate) fn open_store_for_write(path: &Path) -> Result<probity_store::Store> {
    let s = probity_store::Store::open_for_write(path)
        .with_context(|| format!("cannot open store {}", path.display()))?;
    probity_detect::check_config(s.config())
        .with_context(|| format!("{}", path.join("probity.toml").display()))?;
    Ok(s)
}

/// Log levels of `probity cluster … --log`.
mod log_level {
    /// How much Ballista says.
    #[derive(Debug, Clone, Copy, clap::ValueEnum)]
    pub enum Level {
        /// Errors only.
        Error,
        /// Errors and warnings.
        Warn,
        /// Also what it does (jobs, stages, executors joining).
        Info,
        /// Everything.
        Debug,
    }

    impl Level {
        pub fn filter(self) -> probity_cluster::LevelFilter {
            match self {
                Level::Error => probity_cluster::LevelFilter::Error,
                Level::Warn => probity_cluster::LevelFilter::Warn,
                Level::Info => probity_cluster::LevelFilter::Info,
                Level::Debug => probity_cluster::LevelFilter::Debug,
            }
        }
    }
}

/// `probity cluster …`: a scheduler or an executor, until stopped.
fn cluster(command: ClusterCommand) -> Result<ExitCode> {
    let network = |trust: bool| {
        if trust {
            probity_cluster::Network::Trusted
        } else {
            probity_cluster::Network::LoopbackOnly
        }
    };
    // Ballista plans recurse deeply: the stack size its own binaries use.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
        .context("cannot start the cluster runtime")?;
    match command {
        ClusterCommand::Scheduler {
            bind,
            trust_network,
            log,
        } => {
            probity_cluster::log_to_stderr(log.filter());
            let opts = probity_cluster::SchedulerOptions {
                bind,
                network: network(trust_network),
            };
            opts.check()?;
            println!("Ballista scheduler on {bind}: `probity analyze … --cluster df://{bind}`");
            rt.block_on(probity_cluster::run_scheduler(&opts))?;
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            grpc_port,
            advertise,
            cores,
            work_dir,
            trust_network,
            log,
        } => {
            probity_cluster::log_to_stderr(log.filter());
            let grpc_port = match grpc_port {
                Some(p) => p,
                None => bind.port().checked_add(1).context(
                    "--bind has the highest port, so the gRPC port cannot be the next one; give --grpc-port",
                )?,
            };
            let opts = probity_cluster::ExecutorOptions {
                scheduler,
                bind,
                grpc_port,
                advertise,
                cores: cores
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                work_base: work_dir.unwrap_or_else(std::env::temp_dir),
                network: network(trust_network),
            };
            let executor = opts.prepare()?;
            println!(
                "Ballista executor on {bind} (gRPC {grpc_port}), {} tasks at once, shuffle files in {}",
                opts.cores,
                executor.work_dir().display()
            );
            rt.block_on(executor.run())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the query runtime")
}

/// The library's analysis pipeline, with a progress bar over its detectors.
fn run_analysis(
    s: &probity_store::Store,
    req: &probity_govern::analysis::Request,
) -> Result<probity_govern::analysis::Analysis> {
    let bar = progress::DetectorBar::new(probity_detect::detectors::ALL.len() as u64);
    let run = runtime()?.block_on(probity_govern::analysis::run(s, req, &bar));
    bar.finish();
    Ok(run?)
}

fn print_analysis(r: &probity_detect::AnalysisReport, only: &[String]) {
    use probity_core::time::days_to_date;
    println!(
        "analysed {} to {} in {:.2}s{}",
        days_to_date(r.period.start),
        days_to_date(r.period.end),
        r.elapsed.as_secs_f64(),
        if r.engine == "local" {
            String::new()
        } else {
            format!(" on {}", r.engine)
        }
    );
    if let Some(l) = &r.limit {
        println!(
            "judged {} to {}{}; findings that touch those days",
            days_to_date(l.period.start),
            days_to_date(l.period.end),
            match &l.batch {
                Some((id, _)) => format!(" (the days batch {id} touched)"),
                None => String::new(),
            }
        );
    }
    // With --only, the detectors not asked for are one line, not one each.
    let mut not_asked = 0;
    for o in &r.outcomes {
        if let Some(why) = &o.skipped {
            if only.is_empty() || only.iter().any(|id| id == o.detector) {
                println!("skipped {}: {why}", o.detector);
            } else {
                not_asked += 1;
            }
        }
    }
    if not_asked > 0 {
        println!(
            "({not_asked} other detector{} not run: --only)",
            if not_asked == 1 { "" } else { "s" }
        );
    }
    println!(
        "{:<22} {:<28} {:>8} {:>9} {:>8}",
        "scenario", "detector", "persons", "findings", "time"
    );
    for o in r.outcomes.iter().filter(|o| o.skipped.is_none()) {
        println!(
            "{:<22} {:<28} {:>8} {:>9} {:>7.2}s{}",
            o.scenario.id(),
            o.detector,
            o.persons,
            o.findings,
            o.elapsed.as_secs_f64(),
            if o.baseline { "  (baseline)" } else { "" }
        );
    }
    let persons: std::collections::BTreeSet<&str> =
        r.findings.iter().map(|f| f.person.as_str()).collect();
    println!(
        "{:<22} {:<28} {:>8} {:>9} {:>7.2}s",
        "total",
        "",
        persons.len(),
        r.findings.len(),
        r.elapsed.as_secs_f64()
    );
    for o in &r.outcomes {
        for line in &o.notes.notes {
            println!("note ({}): {line}", o.detector);
        }
    }
}

fn evaluate(
    findings: &Path,
    truth: &Path,
    confounders: Option<&Path>,
    store: Option<&Path>,
) -> Result<probity_detect::eval::Evaluation> {
    let f = probity_detect::finding::read_jsonl(findings)?;
    let mut t = probity_detect::eval::read_truth(truth)?;
    let mut c = match confounders {
        Some(p) => probity_detect::eval::read_confounders(p)?,
        None => vec![],
    };
    if let Some(store) = store {
        let s = open_store(store)?;
        let key = s.pseudonym_key();
        probity_detect::eval::pseudonymise(key, t.iter_mut().map(|r| &mut r.person_id));
        probity_detect::eval::pseudonymise(key, c.iter_mut().map(|r| &mut r.person_id));
    } else if f.iter().any(|x| x.person_id.starts_with("p-"))
        && !t.iter().any(|r| r.person_id.starts_with("p-"))
    {
        // Findings carry the store's pseudonyms and the truth real ids:
        // every comparison would miss, and the scores would all be 0.
        bail!(
            "{} holds pseudonymised findings (p-…) and {} real staff ids: give the store they came \
             from with --store STORE, so the truth is pseudonymised with its key",
            findings.display(),
            truth.display()
        );
    }
    Ok(probity_detect::eval::evaluate(&f, &t, &c))
}

/// Records a linkage run on the audit log (it reads the identity vault).
fn audit_resolve(store: &probity_store::Store, c: &probity_resolve::Current) -> Result<()> {
    store.audit()?.append(
        probity_audit::Record::new(store.actor(), "resolve", "").details(serde_json::json!({
            "mode": c.report.mode,
            "records": c.report.records,
            "decisions": c.report.decisions,
        })),
    )?;
    Ok(())
}

fn resolve(
    store_dir: &Path,
    who: &auth::Who,
    explain: Option<&str>,
    reveal: Option<Option<&str>>,
    full: bool,
    truth: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    use probity_resolve as resolve;
    let rt = runtime()?;
    let today = resolve::today();
    if reveal.is_some() && explain.is_none() {
        bail!("--reveal shows identities in an explanation: use it with --explain RECORD_ID");
    }
    if let Some(record) = explain {
        let store = open_store(store_dir)?;
        let user = match reveal {
            Some(_) => who.need(&store, "resolve --explain --reveal")?,
            None => who.user(&store)?.unwrap_or_else(probity_store::os_actor),
        };
        let x = rt.block_on(probity_govern::explain_link(&store, &user, record, reveal))?;
        println!("record {}", x.record);
        println!(
            "decision: {}{}",
            x.decision.as_str(),
            x.reason.map(|r| format!(" ({r})")).unwrap_or_default()
        );
        if x.pairs.is_empty() {
            println!("no staff member shares a blocking key with this record: nobody was compared");
        }
        for (key, real, e) in &x.pairs {
            println!();
            println!(
                "against staff {key}{}: match probability {:.6}",
                real.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(),
                e.probability
            );
            print!("{e}");
        }
        if reveal.is_some() {
            eprintln!(
                "warning: staff identities shown (--reveal; recorded on the audit log for each person shown)"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = open_store_for_write(store_dir)?;
    if let Some(a) = who.user(&store)? {
        probity_govern::authorise(
            &store,
            &a,
            probity_policy::Action::RunLinkage,
            None,
            false,
            "resolve",
            "",
        )?;
        store.set_actor(&a);
    }
    let started = std::time::Instant::now();
    let mut current = rt.block_on(resolve::compute(&store, full, today))?;
    current.save(store.root())?;
    audit_resolve(&store, &current)?;
    rt.block_on(current.add_identity_graph(&store))?;
    let elapsed = started.elapsed();
    let eval = truth
        .map(|t| resolve::evaluate_links(&store, &current.links, t))
        .transpose()?;
    let r = &current.report;
    if json {
        let v = serde_json::json!({ "report": r, "evaluation": eval, "seconds": elapsed.as_secs_f64() });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} resolve{} in {:.1}s: {} reference records, {} staff",
        r.mode,
        r.full_because
            .as_ref()
            .map(|b| format!(" ({b})"))
            .unwrap_or_default(),
        elapsed.as_secs_f64(),
        r.records,
        r.staff
    );
    println!(
        "  compared {} records ({} distinct) and {} new or changed staff: {} candidate pairs",
        r.records_compared, r.distinct_compared, r.staff_new, r.pairs
    );
    println!(
        "  time: {}",
        r.phases
            .iter()
            .map(|(k, v)| format!("{k} {v:.1}s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let n = |d: &str| r.decisions.get(d).copied().unwrap_or(0);
    println!(
        "  auto-linked {} (probability >= {}), clerical review {} (>= {}), not linked {}",
        n("link"),
        r.link_at,
        n("review"),
        r.review_at,
        n("none")
    );
    for line in r.record_problems.lines("reference records") {
        println!("  warning: {line}");
    }
    for line in r.staff_problems.lines("staff") {
        println!("  warning: {line}");
    }
    if r.duplicates > 0 {
        println!(
            "  warning: {} reference records repeat another record of the same list \
             (organisation, name, date of birth, postcode), e.g. {}; each is linked, and a \
             finding groups them",
            r.duplicates,
            r.duplicate_examples.join(", ")
        );
    }
    for b in r.oversized.iter().take(5) {
        println!(
            "  warning: blocking rule {} put {} records with {} staff under one key (e.g. \
             record {}); too many pairs, so that key was not compared under this rule (the \
             other rules still apply)",
            b.rule, b.records, b.staff, b.example
        );
    }
    let ids = &r.identity.identifiers;
    println!(
        "  identity graph: {} badge cards, {} devices, {} accounts; re-issued to {} people \
         (cards) and {} (devices); {} cards handed on",
        ids.get("badge card").copied().unwrap_or(0),
        ids.get("device").copied().unwrap_or(0),
        ids.get("account").copied().unwrap_or(0),
        r.identity.reissued.get("badge card").copied().unwrap_or(0),
        r.identity.reissued.get("device").copied().unwrap_or(0),
        r.identity.handed_on.get("badge card").copied().unwrap_or(0),
    );
    for c in r.conflicts.iter().take(20) {
        let day = |d: Option<i32>| {
            d.map_or("open".to_string(), |d| {
                probity_core::time::days_to_date(d).to_string()
            })
        };
        println!(
            "  conflict: {} {} held by {} and {} at once from {} to {}; events on it are \
             counted for both holders until the source is corrected; check findings that rely on it",
            c.kind.noun(),
            c.id,
            c.people.0,
            c.people.1,
            day(c.from),
            day(c.to)
        );
    }
    if r.conflicts.len() > 20 {
        println!(
            "  … {} more conflicts (--json lists all)",
            r.conflicts.len() - 20
        );
    }
    if let Some(e) = eval {
        println!(
            "  against truth: precision {:.4} recall {:.4} F1 {:.4} (true links {}, false links \
             {}, missed {}, true non-links {}); review band {} records, {} of them true",
            e.precision,
            e.recall,
            e.f1,
            e.true_links,
            e.false_links,
            e.missed_links,
            e.true_non_links,
            e.review,
            e.review_true
        );
    }
    println!(
        "  stored in {}; explain a record with `probity resolve {} --explain RECORD_ID`",
        resolve::links_dir(store.root()).display(),
        store_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn demo(
    dir: &Path,
    (people, days, seed, conventions): (usize, u32, u64, u32),
    serve: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let marker = dir.join(".probity-demo");
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !marker.exists() {
            bail!(
                "{} exists and is not an earlier demo; choose another --dir or remove it",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the earlier demo in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&marker, b"probity demo working directory\n")?;
    let data = dir.join("data");
    let store_dir = dir.join("store");
    let out = dir.join("findings");

    println!(
        "1/5 synthesising {people} staff × {days} days (seed {seed}) into {}",
        data.display()
    );
    let cfg = probity_synth::SynthConfig {
        out: data.clone(),
        people,
        days,
        start: "2026-01-05".into(),
        seed,
        format: probity_synth::Format::Csv,
        public_records: None,
        conventions,
    };
    let bar = progress::people_bar(people as u64);
    let rep = probity_synth::run(&cfg, &|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    println!(
        "    {} rows in {:.1}s; {} planted cases, {} innocent look-alikes; {}",
        rep.total_rows(),
        rep.elapsed.as_secs_f64(),
        rep.truth_rows,
        rep.confounder_rows,
        rep.conventions
    );

    println!("2/5 ingesting into {}", store_dir.display());
    let mut s = probity_store::Store::init(&store_dir)?;
    safeguards::demo_setup(&s)?;
    let bars = progress::IngestBars::quiet();
    let ing = probity_ingest::ingest(&mut s, &data, &bars);
    bars.finish();
    let ing = ing?;
    let (read, quarantined, minimised) = ing.tables.iter().fold((0, 0, 0), |a, t| {
        (
            a.0 + t.rows_read,
            a.1 + t.rows_quarantined,
            a.2 + t.rows_minimised,
        )
    });
    println!(
        "    {read} rows in {:.1}s; {quarantined} quarantined; {minimised} off-duty locations dropped",
        ing.elapsed.as_secs_f64()
    );

    println!("3/5 linking reference records to staff (probity resolve)");
    drop(s);
    {
        let store = open_store_for_write(&store_dir)?;
        let rt = runtime()?;
        let today = probity_resolve::today();
        let current = rt.block_on(probity_resolve::compute(&store, true, today))?;
        current.save(store.root())?;
        audit_resolve(&store, &current)?;
        let e = probity_resolve::evaluate_links(
            &store,
            &current.links,
            &data.join("reference_links.csv"),
        )?;
        let n = |d: &str| current.report.decisions.get(d).copied().unwrap_or(0);
        println!(
            "    {} records: {} auto-linked, {} for clerical review, {} not linked; against the \
             generator's true links precision {:.3} recall {:.3}",
            current.report.records,
            n("link"),
            n("review"),
            n("none"),
            e.precision,
            e.recall
        );
    }

    println!("4/5 analysing as analyst 'ana' (findings carry pseudonyms; the run is audited)");
    let s = open_store(&store_dir)?;
    let truth = data.join("truth.csv");
    let req = probity_govern::analysis::Request {
        actor: Some("ana".into()),
        out: out.clone(),
        baselines: true,
        truth: Some(truth.clone()),
        ..Default::default()
    };
    let probity_govern::analysis::Analysis {
        report,
        audits,
        withheld,
        outputs,
        ..
    } = run_analysis(&s, &req)?;
    print_analysis(&report, &[]);
    fairness::print_summary(&audits, &withheld);

    println!("5/5 evaluating against the planted truth (truth pseudonymised with the store key)");
    let conf = data.join("confounders.csv");
    let e = evaluate(&outputs.jsonl, &truth, Some(&conf), Some(&store_dir))?;
    print!("{}", e.table());
    if let Some(b) = &outputs.baseline {
        let eb = evaluate(b, &truth, Some(&conf), Some(&store_dir))?;
        if let (Some(m), Some(mb)) = (
            e.scenarios.get("complaint_pattern"),
            eb.scenarios.get("complaint_pattern"),
        ) {
            println!(
                "complaint_pattern: peer-relative detector precision {:.3} recall {:.3} ({} findings, {} on look-alikes) vs the 3-in-12-months threshold rule precision {:.3} recall {:.3} ({} findings, {} on look-alikes)",
                m.precision,
                m.recall,
                m.findings,
                m.confounders_flagged,
                mb.precision,
                mb.recall,
                mb.findings,
                mb.confounders_flagged
            );
        }
    }
    println!();
    println!("outputs:");
    println!("  data (contract CSV, truth.csv):   {}", data.display());
    println!(
        "  store:                            {}",
        store_dir.display()
    );
    println!(
        "  findings:                         {}",
        outputs.jsonl.display()
    );
    println!(
        "                                    {}",
        outputs.parquet.display()
    );
    println!(
        "  run description:                  {}",
        outputs.run.display()
    );
    safeguards::demo_tail(&s, dir)?;
    let logins = web::demo_users(&s, dir)?;
    web::print_logins(&logins, dir);
    println!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    match serve {
        Some(bind) => web::demo_serve(&s, bind),
        None => {
            println!(
                "serve the web UI with: probity serve --store {}",
                s.root().display()
            );
            Ok(ExitCode::SUCCESS)
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
    println!("  {}", r.conventions);
}

/// A mapped directory that is removed when ingest is done with it.
struct MappedDir(PathBuf);

impl Drop for MappedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_mapping(m: &probity_map::Mapping, source: &Path, out: &Path) -> Result<probity_map::Report> {
    if out.exists() {
        std::fs::create_dir_all(out)?;
    } else {
        std::fs::create_dir_all(out)
            .with_context(|| format!("cannot create output directory {}", out.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let bar = progress::spinner("mapping");
    let report = probity_map::run(m, source, out, &mut |t| {
        bar.set_message(format!("mapping {t}"))
    });
    bar.finish_and_clear();
    report.with_context(|| {
        format!(
            "mapping {} of {} failed",
            m.path.display(),
            source.display()
        )
    })
}

fn print_map(out: &Path, r: &probity_map::Report) {
    println!("mapping {} (blake3 {})", r.mapping, &r.mapping_hash[..16]);
    println!(
        "{:<20} {:<34} {:>9} {:>9} {:>8} {:>9} {:>7}",
        "table", "source", "read", "written", "skipped", "rejected", "merged"
    );
    for t in &r.tables {
        println!(
            "{:<20} {:<34} {:>9} {:>9} {:>8} {:>9} {:>7}",
            t.table,
            t.source,
            t.read,
            t.written,
            t.skipped.values().sum::<u64>(),
            t.rejected.values().sum::<u64>(),
            t.merged
        );
    }
    for t in &r.tables {
        for (why, n) in &t.skipped {
            println!("skipped {n} {} rows: {why}", t.table);
        }
        for (why, n) in &t.rejected {
            println!("rejected {n} {} rows: {why}", t.table);
        }
        if let Some(f) = &t.rejected_file {
            println!("  rejected rows: {}", out.join(f).display());
        }
    }
}

fn print_ingest(s: &probity_store::Store, store: &Path, r: &probity_ingest::IngestReport) {
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    let quarantined_in = |b: &str| -> u64 {
        s.manifest()
            .batches
            .iter()
            .filter(|e| e.id == b)
            .flat_map(|e| e.tables.values())
            .filter(|t| t.quarantine_file.is_some())
            .map(|t| t.rows_quarantined)
            .sum()
    };
    for (f, b) in &r.already_ingested {
        let q = quarantined_in(b);
        if q > 0 {
            println!(
                "skipped {f}: the same content was already ingested in batch {b}, which quarantined \
                 {q} row{}; to store those whose reason has gone, run\n  \
                 probity ingest --retry-quarantine {b} --store {}",
                if q == 1 { "" } else { "s" },
                store.display()
            );
        } else {
            println!("skipped {f}: the same content was already ingested in batch {b}");
        }
    }
    let Some(batch) = &r.batch_id else {
        println!("nothing new to ingest; the store is unchanged");
        return;
    };
    for q in &r.superseded_quarantine {
        println!("retried and deleted {q} (what is still refused is in this batch's quarantine)");
    }
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
    let mut parent_missing = false;
    for t in &r.tables {
        for n in &t.notes {
            eprintln!("warning: {n}");
        }
        if t.rows_quarantined > 0 {
            let reasons: Vec<String> = t.reasons.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            parent_missing |= t.reasons.keys().any(|k| k.ends_with("unknown reference"));
            println!(
                "quarantined {} {} row{} ({}): {}",
                t.rows_quarantined,
                t.table.name(),
                if t.rows_quarantined == 1 { "" } else { "s" },
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
    // What to do next.
    println!("next:");
    if q > 0 {
        println!(
            "  {q} row{} quarantined: fix the source (each quarantine file gives file, line, field \
             and reason) and ingest the corrected files, or, once what they refer to is ingested{}, run\n    \
             probity ingest --retry-quarantine {batch} --store {}",
            if q == 1 { " was" } else { "s were" },
            if parent_missing {
                " (some refer to people, units or records not yet in the store)"
            } else {
                ""
            },
            store.display()
        );
    }
    println!(
        "  probity resolve {s}   (link register entries to staff), then\n  \
         probity analyze {s} --out DIR   (the approved detectors; `probity governance status {s}` says which)",
        s = store.display()
    );
}

fn sql(batches: &[arrow::record_batch::RecordBatch], format: SqlFormat) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        SqlFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{text}")?;
        }
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
