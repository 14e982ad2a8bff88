//! `probity serve`, `probity triage`, `probity user reset` and the demo's
//! web part: the binary edge of probity-web and probity-review.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use probity_policy::Role;
use probity_review::{Dismissal, ReviewDb, Step};
use probity_store::Store;

use crate::runtime;

fn open(store: &Path) -> Result<Store> {
    crate::open_store(store)
}

/// `probity serve`. `front` is how the server is reached: TLS proxy, host
/// names, trusted proxies (a `bool` is the TLS flag alone).
pub fn serve(
    store: &Path,
    database: Option<String>,
    bind: SocketAddr,
    idle_minutes: u64,
    front: impl Into<probity_web::Front>,
) -> Result<ExitCode> {
    if idle_minutes == 0 || idle_minutes > 24 * 60 {
        bail!("--idle-minutes {idle_minutes}: use 1 to 1440");
    }
    let mut cfg = probity_web::Config::new(store).front(front);
    cfg.database = database;
    cfg.bind = bind;
    cfg.idle_timeout = Duration::from_secs(idle_minutes * 60);
    runtime()?
        .block_on(probity_web::serve(cfg, |addr| {
            println!(
                "probity: serving {} on http://{addr}/ (Ctrl-C stops)",
                store.display()
            );
        }))
        .with_context(|| format!("cannot serve store {}", store.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// `probity triage`: one workflow step, through the same safeguarded path
/// as the web UI.
#[allow(clippy::too_many_arguments)]
pub fn triage(
    store: &Path,
    database: Option<&str>,
    who: &crate::auth::Who,
    finding: &str,
    step: Option<&str>,
    outcome: Option<&str>,
    dismissal: Option<&str>,
    reason: Option<&str>,
) -> Result<ExitCode> {
    let s = open(store)?;
    let who = who.need(&s, "triage")?;
    let who = who.as_str();
    let step = match (step, outcome) {
        (Some(st), _) => Step::from_id(st).with_context(|| {
            format!(
                "--step {st}: use one of {}",
                Step::ALL
                    .iter()
                    .map(|s| s.id())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
        (None, Some("no_further_action")) => Step::Dismiss,
        (None, Some("advice")) => Step::Advise,
        (None, Some(o @ ("referral" | "prevention_notice"))) => bail!(
            "--outcome {o}: a {o} is not decided in one step. Use --step propose_referral (a second reviewer then runs --step approve_referral) or --step propose_notice (the member of staff is told and may respond; then --step issue_notice)"
        ),
        (None, Some(o)) => bail!("--outcome {o}: use no_further_action or advice, or --step"),
        (None, None) => bail!("say what to do: --step STEP or --outcome no_further_action|advice"),
    };
    let dismissal = match dismissal {
        Some(d) => Some(Dismissal::from_id(d).with_context(|| {
            format!("--dismissal {d}: use false_positive, explained, insufficient_evidence or already_known")
        })?),
        None => None,
    };
    let url = database
        .map(str::to_string)
        .unwrap_or_else(|| ReviewDb::store_url(s.root()));
    let moved = runtime()?.block_on(async {
        let db = ReviewDb::open(&url).await?;
        let units = probity_web::data::person_units(&s)
            .await
            .unwrap_or_default();
        probity_web::data::sync_register(&s, &db, &units).await?;
        let r = probity_web::workflow::decide(
            &s,
            &db,
            who,
            finding,
            step,
            reason.unwrap_or_default(),
            dismissal,
            probity_review::now_micros(),
        )
        .await;
        db.close().await;
        r
    })?;
    println!(
        "finding {finding}: {} → {} (recorded on the audit log)",
        moved.from.id(),
        moved.to.id()
    );
    Ok(ExitCode::SUCCESS)
}

/// `probity user reset`.
pub fn user_reset(store: &Path, who: &crate::auth::Who, id: &str, stdin: bool) -> Result<ExitCode> {
    let s = open(store)?;
    let who = who.need(&s, "user reset")?;
    let who = who.as_str();
    let (password, generated) = if stdin {
        (crate::auth::stdin_line()?, false)
    } else {
        (probity_govern::generate_password()?, true)
    };
    probity_govern::user_reset(&s, who, id, &password)?;
    // End the user's sessions in the store's review database.
    runtime()?.block_on(async {
        if let Ok(db) = ReviewDb::open(&ReviewDb::store_url(s.root())).await {
            let _ = db.sessions_end_user(id).await;
            db.close().await;
        }
    });
    if generated {
        println!("password for {id}: {password}");
        println!("(shown once; give it to them in person. Sessions they had are ended.)");
    } else {
        println!("password for {id} set; sessions they had are ended");
    }
    Ok(ExitCode::SUCCESS)
}

/// A demo sign-in.
pub struct Login {
    /// User.
    pub user: String,
    /// Role.
    pub role: Role,
    /// Password.
    pub password: String,
}

/// The demo's web users: a second reviewer (four-eyes), a member of staff
/// with findings about them, and a staff representative; everyone gets a
/// random password, printed at the end and written to
/// `DIR/demo-logins.json` (readable by the owner only).
pub fn demo_users(s: &Store, dir: &Path) -> Result<Vec<Login>> {
    let register = probity_govern::Register::load(s)?;
    let top = register
        .items
        .values()
        // The queue's first row: highest score, then lowest id.
        .max_by(|a, b| {
            a.finding
                .score
                .total_cmp(&b.finding.score)
                .then_with(|| b.finding.finding_id.cmp(&a.finding.finding_id))
        })
        .map(|r| r.finding.person_id.clone());
    // The member of staff the top finding is about: found by pseudonymising
    // the synthetic staff list (the demo knows its own data).
    let mut subject_id = None;
    if let Some(p) = &top {
        let people =
            std::fs::read_to_string(dir.join("data").join("people.csv")).unwrap_or_default();
        for line in people.lines().skip(1) {
            let id = line.split(',').next().unwrap_or_default();
            if !id.is_empty() && &s.person_pseudonym(id) == p {
                subject_id = Some(id.to_string());
                break;
            }
        }
    }
    probity_govern::user_add(s, "admin", "rev2", Role::Reviewer, None)?;
    probity_govern::user_add(s, "admin", "fed", Role::StaffRep, None)?;
    let mut users = vec![
        ("admin", Role::Admin),
        ("ana", Role::Analyst),
        ("rev", Role::Reviewer),
        ("rev2", Role::Reviewer),
        ("aud", Role::Auditor),
        ("fed", Role::StaffRep),
    ];
    if let Some(id) = &subject_id {
        probity_govern::user_add(s, "admin", "pat", Role::Subject, Some(id))?;
        users.push(("pat", Role::Subject));
    }
    let mut out = vec![];
    for (u, role) in users {
        let password = probity_govern::generate_password()?;
        probity_govern::user_reset(s, "admin", u, &password)?;
        out.push(Login {
            user: u.to_string(),
            role,
            password,
        });
    }
    let json: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::json!({"user": l.user, "role": l.role.id(), "password": l.password}))
        .collect();
    let path = dir.join("demo-logins.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(out)
}

/// Prints the demo's sign-ins.
pub fn print_logins(logins: &[Login], dir: &Path) {
    println!();
    println!(
        "web UI users (random passwords for this demo, also in {}):",
        dir.join("demo-logins.json").display()
    );
    for l in logins {
        println!("  {:<6} {:<10} {}", l.user, l.role.id(), l.password);
    }
    println!(
        "  ana triages; rev proposes a referral and rev2 approves it (four-eyes); pat is the member of staff the queue's first finding is about; fed is a staff representative pat can give consent to; aud reads the audit log."
    );
}

/// Serves the demo store's UI until Ctrl-C.
pub fn demo_serve(s: &Store, bind: SocketAddr) -> Result<ExitCode> {
    serve(s.root(), None, bind, 30, false)
}
