//! The safeguard commands: reveal, triage, audit, governance, users,
//! retention, notice and subject reports. Each checks the acting user's
//! role against the store's users and is recorded on the audit log by the
//! library before anything is shown or written.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use probity_policy::Action;
use probity_store::Store;

use crate::auth::Who;
use crate::{
    AuditCommand, GovernanceCommand, ReportCommand, RetentionCommand, UserCommand, runtime,
};

fn open(store: &Path) -> Result<Store> {
    crate::open_store(store)
}

pub fn reveal(store: &Path, who: &Who, finding: &str, reason: Option<&str>) -> Result<ExitCode> {
    let s = open(store)?;
    let who = who.need(&s, "reveal")?;
    let r = runtime()?.block_on(probity_govern::reveal(&s, finding, reason, &who))?;
    println!("finding   {}", r.finding_id);
    println!("detector  {}", r.detector);
    println!("summary   {}", r.summary);
    println!("pseudonym {}", r.pseudonym);
    println!("person    {} — {}", r.person_id, r.name);
    if let Some(rank) = &r.rank {
        println!("rank      {rank}");
    }
    match (&r.unit_name, &r.unit_id) {
        (Some(name), Some(u)) => println!("unit      {name} ({u})"),
        (None, Some(u)) => println!("unit      {u}"),
        _ => {}
    }
    println!("recorded  audit entry {} (reveal by {who})", r.audit_seq);
    Ok(ExitCode::SUCCESS)
}

fn parse_time(
    s: &str,
    end_of_day: bool,
    rules: &probity_core::time::TimeRules,
) -> Result<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    // A date and time without a zone is the store's local time (said, so
    // nobody wonders which clock it meant); never silently cut to a date.
    if s.len() > 10
        && let Ok(dt) = s.parse::<jiff::civil::DateTime>()
    {
        let t = rules.zone().to_timestamp(dt)?;
        eprintln!(
            "note: {s} has no zone: read as {} local time, {t}",
            rules.zone_name()
        );
        return Ok(t);
    }
    let d: jiff::civil::Date = s.parse().with_context(|| {
        format!(
            "{s:?} is neither RFC 3339, a local date and time (YYYY-MM-DDTHH:MM:SS) nor YYYY-MM-DD"
        )
    })?;
    // A date names the whole UTC day: --until YYYY-MM-DD is the start of
    // the next day, which the filter excludes.
    let d = if end_of_day { d.tomorrow()? } else { d };
    Ok(jiff::tz::TimeZone::UTC.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))?)
}

pub fn audit(cmd: AuditCommand, who: &Who) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { store, anchor } => {
            let s = open(&store)?;
            let anchor = anchor
                .as_deref()
                .map(probity_audit::Head::parse_anchor)
                .transpose()
                .context("--anchor must be SEQ:HASH as `probity audit head` prints it")?;
            let r = s.verify_audit(anchor.as_ref())?;
            for n in &r.notes {
                println!("note: {n}");
            }
            for b in &r.anchor_breaks {
                println!("ANCHOR DISAGREES: {b}");
            }
            for p in &r.anchor_problems {
                println!("ANCHORS UNREADABLE: {p}");
            }
            if let Some(b) = &r.broken {
                println!(
                    "BROKEN at line {} (entry {}): {} — {}",
                    b.line, b.seq, b.kind, b.detail
                );
                println!(
                    "entries before it verify; nothing from entry {} on can be trusted",
                    b.seq
                );
                return Ok(ExitCode::from(1));
            }
            if !r.anchor_problems.is_empty() {
                println!(
                    "the chain and head file are consistent, but not every anchor could be read: the log is not verified"
                );
                return Ok(ExitCode::from(1));
            }
            let problems = probity_govern::check_files_against_log(&s)?;
            if !problems.is_empty() {
                for p in &problems {
                    println!("MISMATCH: {p}");
                }
                println!("the chain is intact, but the files that grant access do not match it");
                return Ok(ExitCode::from(1));
            }
            if let Some(t) = r.torn_tail_bytes {
                println!(
                    "note: the last {t} bytes are an interrupted append (a crash), discarded and recorded at the next append"
                );
            }
            match &r.head {
                Some(h) => println!(
                    "intact: {} entries; head {h}; {} anchors outside the log agree",
                    r.entries, r.anchors_checked
                ),
                None => println!("intact: the log is empty"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Head { store } => {
            let s = open(&store)?;
            match probity_audit::head(&s.audit_dir())? {
                Some(h) => println!("{h}"),
                None => println!("(empty)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Show {
            store,
            by,
            action,
            person,
            since,
            until,
            json,
        } => {
            let s = open(&store)?;
            let who = who.need(&s, "audit show")?;
            let who = who.as_str();
            probity_govern::authorise(&s, who, Action::ReadAudit, None, false, "audit.show", "")?;
            let person = match &person {
                Some(p) => Some(runtime()?.block_on(probity_govern::find_person(&s, p))?.0),
                None => None,
            };
            let filter = probity_audit::Filter {
                actor: by,
                action,
                person,
                object: None,
                since: since
                    .as_deref()
                    .map(|t| parse_time(t, false, &s.time_rules()))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|t| parse_time(t, true, &s.time_rules()))
                    .transpose()?,
            };
            s.audit()?.append(
                probity_audit::Record::new(who, "audit.show", "").details(serde_json::json!({
                    "actor": filter.actor, "action": filter.action, "person": filter.person,
                    "since": filter.since.map(|t| t.to_string()), "until": filter.until.map(|t| t.to_string()),
                })),
            )?;
            let mut out = std::io::stdout().lock();
            use std::io::Write;
            for e in probity_audit::read(&s.audit_dir(), &filter)? {
                let e = e?;
                if json {
                    writeln!(out, "{}", serde_json::to_string(&e)?)?;
                } else {
                    writeln!(
                        out,
                        "{:>6} {} {:<14} {:<20} {:<18} {}{}",
                        e.seq,
                        e.at,
                        e.actor,
                        e.action,
                        e.object,
                        e.person
                            .as_deref()
                            .map(|p| format!("person={p} "))
                            .unwrap_or_default(),
                        e.reason
                            .as_deref()
                            .map(|r| format!("reason={r:?}"))
                            .unwrap_or_default()
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn governance(cmd: GovernanceCommand, who: &Who) -> Result<ExitCode> {
    match cmd {
        GovernanceCommand::Template => {
            print!("{}", probity_govern::governance_template(today()));
            Ok(ExitCode::SUCCESS)
        }
        GovernanceCommand::Init { file } => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .with_context(|| {
                    format!(
                        "cannot create {} (it is not overwritten; choose another name or remove it)",
                        file.display()
                    )
                })?;
            use std::io::Write as _;
            f.write_all(probity_govern::governance_template(today()).as_bytes())
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!(
                "wrote {f}: valid as it stands, approving nothing. Uncomment the purposes and \
                 approvals you want, fill in every TODO, then\n  probity governance check {f}\n  \
                 probity governance apply {f} --store STORE --as ADMIN",
                f = file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        GovernanceCommand::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let g = probity_govern::check_governance(&text, &file, None)?;
            println!(
                "{}: valid; {} approval{}, {} purpose{}",
                file.display(),
                g.detectors.len(),
                if g.detectors.len() == 1 { "" } else { "s" },
                g.purposes.len(),
                if g.purposes.len() == 1 { "" } else { "s" },
            );
            Ok(ExitCode::SUCCESS)
        }
        GovernanceCommand::Apply { file, store } => {
            let s = open(&store)?;
            let who = who.need(&s, "governance apply")?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let (hash, change) = probity_govern::apply_governance(&s, &who, &text, &file)?;
            for line in change.lines() {
                println!("{line}");
            }
            println!(
                "governance applied (blake3 {}…; recorded on the audit log). \
                 `probity governance status {}` shows what runs now.",
                &hash[..12],
                store.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        GovernanceCommand::Status { store } => {
            let s = open(&store)?;
            let g = s.governance()?;
            // The same answer `analyze` acts on: the plan decides (probity.toml,
            // tables present, governance, the identity vault).
            let plan = probity_detect::Plan::new(&s)
                .with_context(|| format!("cannot plan the analysis of {}", store.display()))?;
            let runs: std::collections::BTreeSet<&str> = plan.selected().map(|d| d.id).collect();
            let why: std::collections::BTreeMap<&str, &str> =
                plan.not_selected().map(|(d, w)| (d.id, w)).collect();
            for d in probity_detect::detectors::ALL {
                if runs.contains(d.id) {
                    let a = &g.detectors[d.id];
                    println!(
                        "runs     {:<28} purpose {} until {}",
                        d.id,
                        a.purpose,
                        a.review_date()
                    );
                } else {
                    println!(
                        "skipped  {:<28} {}",
                        d.id,
                        why.get(d.id).copied().unwrap_or("not selected")
                    );
                }
            }
            for id in probity_detect::governance::SCORING {
                match probity_govern::scoring_decision(&s, id)? {
                    Ok(p) => println!(
                        "approved {:<28} purpose {} until {} (risk scoring: `probity score`)",
                        id,
                        p.purpose,
                        g.detectors[*id].review_date()
                    ),
                    Err(r) => println!("refused  {id:<28} {r} (risk scoring: `probity score`)"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn user(cmd: UserCommand, who: &Who) -> Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            id,
            store,
            role,
            person,
        } => {
            let s = open(&store)?;
            let who = who.need(&s, "user add")?;
            let Some(r) = probity_policy::Role::from_id(&role) else {
                bail!(
                    "--role {role}: use one of analyst, reviewer, auditor, admin, subject, staff_rep"
                );
            };
            let person = match &person {
                Some(p) => {
                    let (pseudonym, given_as) =
                        runtime()?.block_on(probity_govern::find_person(&s, p))?;
                    println!("person {p} (a {given_as}) is {pseudonym} in this store");
                    Some(pseudonym)
                }
                None => None,
            };
            probity_govern::user_add_person(&s, &who, &id, r, person)?;
            println!(
                "added {id} ({role}); they sign in once an admin sets a password with \
                 `probity user reset {id} --store {}` (or binds an OS account with `probity user bind`)",
                store.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Disable { id, store } => {
            let s = open(&store)?;
            let who = who.need(&s, "user disable")?;
            probity_govern::user_disable(&s, &who, &id)?;
            println!("disabled {id}");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Reset {
            id,
            store,
            new_password_stdin,
        } => crate::web::user_reset(&store, who, &id, new_password_stdin),
        UserCommand::Bind {
            id,
            store,
            uid,
            unbind,
        } => {
            let s = open(&store)?;
            let who = who.need(&s, "user bind")?;
            let uid = match (uid, unbind) {
                (Some(u), false) => Some(u),
                (None, true) => None,
                _ => bail!(
                    "give --uid UID (the operating-system account, as `id -u` prints it) or --unbind"
                ),
            };
            probity_govern::auth::user_bind(&s, &who, &id, uid)?;
            match uid {
                Some(u) => println!(
                    "bound {id} to operating-system uid {u}: commands run by that account act as {id} without a password"
                ),
                None => println!("{id} is no longer bound to an operating-system account"),
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List { store } => {
            let s = open(&store)?;
            for u in s.users()?.users {
                println!(
                    "{:<16} {:<10} {}{}{}{}",
                    u.id,
                    u.role.id(),
                    if u.disabled { "disabled " } else { "" },
                    if u.password_hash.is_some() {
                        "password "
                    } else {
                        ""
                    },
                    u.os_uid.map(|n| format!("uid {n} ")).unwrap_or_default(),
                    u.person.map(|p| format!("person {p}")).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn retention(cmd: RetentionCommand, who: &Who) -> Result<ExitCode> {
    let RetentionCommand::Apply { store, today } = cmd;
    let mut s = crate::open_store_for_write(&store)?;
    let who = who.need(&s, "retention apply")?;
    let who = who.as_str();
    let today = match today {
        Some(t) => t
            .parse()
            .with_context(|| format!("--today {t}: write YYYY-MM-DD"))?,
        None => probity_detect::governance_today(&s),
    };
    let r = runtime()?.block_on(probity_govern::retention::apply(&mut s, who, today))?;
    println!("retention applied as of {}", r.today);
    println!(
        "  location pings reduced to per-shift facts and deleted: {} ({} facts)",
        r.locations_minimised, r.location_facts
    );
    for (t, x) in &r.tables {
        println!(
            "  {t:<18} rows before {} deleted: {} ({} files rewritten, {} removed)",
            x.cutoff, x.rows_deleted, x.files_rewritten, x.files_deleted
        );
    }
    println!("  quarantine files deleted: {}", r.quarantine_files_deleted);
    if r.stray_files_deleted > 0 {
        println!(
            "  files left by an interrupted earlier run deleted: {}",
            r.stray_files_deleted
        );
    }
    for (st, n) in &r.findings_purged {
        println!("  findings purged ({st}): {n}");
    }
    if !r.deleted_anything() {
        println!("  nothing was due");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn notice(store: &Path, out: &Path) -> Result<ExitCode> {
    let s = open(store)?;
    let g = s.governance()?;
    let today = probity_detect::governance_today(&s);
    let runs = probity_govern::notice::running(&s)?;
    let html = probity_govern::notice::render(&g, today, &runs);
    std::fs::write(out, html).with_context(|| format!("cannot write {}", out.display()))?;
    let (active, inactive) = probity_govern::notice::active_checks(&g, today, &runs);
    println!(
        "notice written to {} ({} active checks, {} not running)",
        out.display(),
        active.len(),
        inactive
    );
    Ok(ExitCode::SUCCESS)
}

pub fn report(cmd: ReportCommand, who: &Who) -> Result<ExitCode> {
    let ReportCommand::Subject {
        person_id,
        store,
        out,
        reason,
    } = cmd;
    let s = open(&store)?;
    let who = who.need(&s, "report subject")?;
    let w = runtime()?.block_on(probity_govern::subject::report(
        &s,
        &person_id,
        &who,
        reason.as_deref(),
        &out,
    ))?;
    let n = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    println!(
        "subject access report: {} and {} ({}, {}, {}, {})",
        w.html.display(),
        w.json.display(),
        n(w.report.held.len(), "data category", "data categories"),
        n(w.report.runs.len(), "run", "runs"),
        n(w.report.findings.len(), "finding", "findings"),
        n(w.report.accesses.len(), "access", "accesses")
    );
    Ok(ExitCode::SUCCESS)
}

/// Demo users and a governance file approving every detector for a year;
/// each applied through the audited paths.
pub fn demo_setup(s: &Store) -> Result<()> {
    let today = probity_detect::governance_today(s);
    let text =
        probity_govern::governance_approving_all("Probity demo (synthetic data)", today, 365);
    probity_govern::apply_governance(s, "admin", &text, Path::new("demo governance"))?;
    for (id, role) in [
        ("ana", probity_policy::Role::Analyst),
        ("rev", probity_policy::Role::Reviewer),
        ("aud", probity_policy::Role::Auditor),
    ] {
        probity_govern::user_add(s, "admin", id, role, None)?;
    }
    Ok(())
}

/// The demo's closing safeguards: notice, a refused reveal, the chain.
pub fn demo_tail(s: &Store, dir: &Path) -> Result<()> {
    println!();
    println!("safeguards:");
    let notice = dir.join("notice.html");
    let g = s.governance()?;
    let today = probity_detect::governance_today(s);
    let runs = probity_govern::notice::running(s)?;
    std::fs::write(&notice, probity_govern::notice::render(&g, today, &runs))?;
    println!("  staff notice:   {}", notice.display());
    let reg = probity_govern::Register::load(s)?;
    if let Some(id) = reg.items.keys().next() {
        let refused = runtime()?.block_on(probity_govern::reveal(
            s,
            id,
            Some("curious about this one"),
            "ana",
        ));
        if let Err(e) = refused {
            println!("  analyst 'ana' asking to reveal finding {id}: {e}");
        }
    }
    let v = s.verify_audit(None)?;
    match (&v.broken, &v.head) {
        (None, Some(h)) => println!(
            "  audit log:      {} entries, chain intact; head {h}",
            v.entries
        ),
        (Some(b), _) => println!("  audit log:      BROKEN at entry {}: {}", b.seq, b.kind),
        _ => {}
    }
    println!(
        "  try:            probity reveal FINDING_ID --store {} --reason \"...\" --as rev",
        s.root().display()
    );
    Ok(())
}

/// Today's date in Europe/London (the default store zone; a template's
/// dates are only a starting point to edit).
fn today() -> jiff::civil::Date {
    probity_core::TimeRules::new("Europe/London")
        .map(|r| r.local_date(jiff::Timestamp::now().as_microsecond()))
        .unwrap_or_else(|_| {
            jiff::tz::TimeZone::UTC
                .to_datetime(jiff::Timestamp::now())
                .date()
        })
}
