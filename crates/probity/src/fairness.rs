//! Printing the fairness audit (`probity fairness`, and the summary after
//! `analyze` and `score`). The audit itself, the blocking under
//! `[fairness] block_flagged` and sign-offs are `probity_govern::fairness`'s.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use probity_score::fairness::{Disparity, Latest, SubjectAudit};

/// One line per audited subject, then its significant disparities.
pub fn print_summary(audits: &[SubjectAudit], withheld: &BTreeMap<String, Vec<Disparity>>) {
    let flagged: Vec<&SubjectAudit> = audits.iter().filter(|a| !a.flagged().is_empty()).collect();
    println!(
        "fairness: {} audited, {} with a significant disparity (`probity fairness STORE` shows the tables)",
        audits.len(),
        flagged.len()
    );
    for a in flagged {
        let words = a.describe();
        println!(
            "  {}{}: {}{}",
            a.subject,
            if withheld.contains_key(&a.subject) {
                " (WITHHELD until signed off)"
            } else {
                ""
            },
            words.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
            if words.len() > 3 {
                format!("; and {} more", words.len() - 3)
            } else {
                String::new()
            }
        );
    }
}

/// `probity fairness STORE`: the latest audit of every detector and model.
pub fn show(store_dir: &Path, json: bool, who: &crate::auth::Who) -> Result<()> {
    let s = crate::open_store(store_dir)?;
    if let Some(a) = who.user(&s)? {
        probity_govern::authorise(
            &s,
            &a,
            probity_policy::Action::ReadQuality,
            None,
            false,
            "fairness",
            "",
        )?;
    }
    let latest = Latest::load(s.root())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&latest)?);
        return Ok(());
    }
    if latest.subjects.is_empty() {
        println!(
            "no fairness audit yet: `probity analyze` audits every detector it runs, \
             `probity score run` and `probity score eval` the risk model"
        );
        return Ok(());
    }
    let blocking = s.governance()?.fairness.block_flagged;
    println!(
        "ratios to the reference group; outside {}–{} is a disparity, significant (!) when the \
         group has at least {} people, |z| ≥ 1.96 with 5 expected either way, and it survives \
         Holm's correction; * small group. [fairness] block_flagged = {}",
        probity_score::fairness::BAND.0,
        probity_score::fairness::BAND.1,
        probity_score::fairness::SMALL_GROUP,
        blocking
    );
    let signed = probity_govern::fairness::sign_offs(&s)?;
    for a in latest.subjects.values() {
        let open = probity_govern::fairness::open_disparities(a, &signed).len();
        println!();
        println!(
            "{} v{} — {} at {}: {} people, {} flagged; outcomes: {}; {} significant disparit{} ({} signed off)",
            a.subject,
            a.version,
            a.run,
            a.at,
            a.population,
            a.flagged_people,
            a.outcomes,
            a.flagged().len(),
            if a.flagged().len() == 1 { "y" } else { "ies" },
            a.flagged().len() - open
        );
        print_attributes(&a.attributes);
    }
    Ok(())
}

/// The per-group table of each attribute.
pub fn print_attributes(attrs: &[probity_score::fairness::AttributeAudit]) {
    let f = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{v:.3}"));
    for a in attrs {
        println!("  by {} (reference: {})", a.attribute, a.reference);
        println!(
            "    {:<34} {:>7} {:>7} {:>15} {:>15} {:>15} {:>15}  disparities",
            "group", "people", "flagged", "flag rate (×)", "precision (×)", "FPR (×)", "FNR (×)"
        );
        for g in &a.groups {
            let name = format!("{}{}", g.group, if g.small_group { " *" } else { "" });
            let cell = |v: Option<f64>, r: Option<f64>| {
                format!("{} ({})", f(v), r.map_or("—".into(), |x| format!("{x:.2}")))
            };
            let marks: Vec<String> = g
                .disparities
                .iter()
                .map(|d| {
                    if g.significant.contains(d) {
                        format!("{d} !")
                    } else {
                        d.clone()
                    }
                })
                .collect();
            println!(
                "    {:<34} {:>7} {:>7} {:>15} {:>15} {:>15} {:>15}  {}",
                name,
                g.people,
                g.flagged,
                cell(Some(g.flag_rate), g.ratios[0]),
                cell(g.precision, g.ratios[1]),
                cell(g.false_positive_rate, g.ratios[2]),
                cell(g.false_negative_rate, g.ratios[3]),
                marks.join(", ")
            );
        }
    }
}

/// `probity fairness sign-off SUBJECT`: a reviewer accepts the subject's
/// current significant disparities, with a reason; audited. Releases a
/// subject withheld under `[fairness] block_flagged` from its next run on,
/// for exactly these disparities (a new one blocks again).
pub fn sign_off(
    store_dir: &Path,
    who: &crate::auth::Who,
    subject: &str,
    reason: Option<&str>,
) -> Result<()> {
    let s = crate::open_store(store_dir)?;
    let user = who.need(&s, "fairness sign-off")?;
    let done = probity_govern::fairness::sign_off(&s, &user, subject, reason)?;
    let a = &done.audit;
    println!(
        "signed off {} disparit{} of {subject} v{} (audit of {}):",
        done.disparities,
        if done.disparities == 1 { "y" } else { "ies" },
        a.version,
        a.at
    );
    for d in a.describe() {
        println!("  {d}");
    }
    Ok(())
}
