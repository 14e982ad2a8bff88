//! `undeclared_interest`: an entry on an external register (company officer,
//! membership roll) linked to a staff member who has no matching declaration
//! in force.

use std::collections::HashMap;

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::short_day;
use crate::finding::Evidence;
use crate::link::{self, Listed, Staff};
use crate::run::{dates, opt_str, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "undeclared_register_entry",
    version: 1,
    scenario: Scenario::UndeclaredInterest,
    title: "Register entry with no declaration",
    purpose: "Links external registers (company officers, membership rolls) to staff by \
              name and date of birth, allowing for initials, nicknames, typos and transposed \
              names, and reports an entry only when the person has no declaration naming that \
              organisation in force while the entry is. Namesakes with another date of birth \
              are not linked; a record that fits two staff members equally links to neither.",
    needs: &[Table::People, Table::ReferenceRecords],
    uses: &[Table::Declarations],
    identities: true,
    baseline: false,
    params: &[Param::num(
        "min_strength",
        0.6,
        "link strength (0..1) below which a register entry is not attributed",
    )],
    detect: |r| Box::pin(detect(r)),
};

/// An organisation name reduced for comparison: lower case, no punctuation,
/// no legal-form suffix or leading "the".
pub fn norm_org(s: &str) -> String {
    let n = link::normalise(s);
    let words: Vec<&str> = n
        .split(' ')
        .filter(|w| {
            !matches!(
                *w,
                "ltd" | "limited" | "plc" | "llp" | "inc" | "co" | "company" | "the"
            )
        })
        .collect();
    words.join(" ")
}

struct Record {
    list: String,
    organisation: String,
    role: Option<String>,
    from: Option<i32>,
    to: Option<i32>,
}

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let min_strength = run.params().num("min_strength");
    let period = run.period();
    let batches = run
        .sql_with_identities(
            "SELECT stored_key, given_name, family_name, date_of_birth, home_postcode \
             FROM vault_people",
        )
        .await?;
    let mut staff = vec![];
    for b in &batches {
        let (k, g, f, pc) = (
            strs(b, "stored_key"),
            strs(b, "given_name"),
            strs(b, "family_name"),
            strs(b, "home_postcode"),
        );
        let dob = dates(b, "date_of_birth");
        for i in 0..b.num_rows() {
            let dob = (!arrow::array::Array::is_null(&dob, i)).then(|| {
                let d = probity_core::time::days_to_date(dob.value(i));
                (i32::from(d.year()), d.month() as u32, d.day() as u32)
            });
            staff.push(Staff {
                key: k.value(i).to_string(),
                given: link::normalise(g.value(i)),
                family: link::normalise(f.value(i)),
                dob,
                postcode: opt_str(&pc, i).map(link::norm_postcode),
            });
        }
    }
    let batches = run
        .sql_with_identities(
            "SELECT r.record_id, r.list_name, r.organisation, r.role, r.valid_from, r.valid_to, \
                    v.full_name, v.date_of_birth, v.postcode
             FROM reference_records r JOIN vault_reference_records v ON v.stored_key = r.record_id",
        )
        .await?;
    let mut listed = vec![];
    let mut records: HashMap<String, Record> = HashMap::new();
    for b in &batches {
        let (id, list, org, role, name, dob, pc) = (
            strs(b, "record_id"),
            strs(b, "list_name"),
            strs(b, "organisation"),
            strs(b, "role"),
            strs(b, "full_name"),
            strs(b, "date_of_birth"),
            strs(b, "postcode"),
        );
        let (vf, vt) = (dates(b, "valid_from"), dates(b, "valid_to"));
        for i in 0..b.num_rows() {
            let (given, family) = link::split_full_name(name.value(i));
            listed.push(Listed {
                id: id.value(i).to_string(),
                given,
                family,
                dob: opt_str(&dob, i).and_then(link::parse_partial_dob),
                postcode: opt_str(&pc, i).map(link::norm_postcode),
            });
            records.insert(
                id.value(i).to_string(),
                Record {
                    list: list.value(i).to_string(),
                    organisation: org.value(i).to_string(),
                    role: opt_str(&role, i).map(str::to_string),
                    from: (!arrow::array::Array::is_null(&vf, i)).then(|| vf.value(i)),
                    to: (!arrow::array::Array::is_null(&vt, i)).then(|| vt.value(i)),
                },
            );
        }
    }
    let (links, _ambiguous) = link::link(&staff, &listed);
    // Declarations by person: (normalised counterparty, from, to).
    let batches = run
        .sql("SELECT person_id, counterparty, declared_on, valid_to FROM declarations")
        .await?;
    let mut declared: HashMap<String, Vec<(String, i32, Option<i32>)>> = HashMap::new();
    for b in &batches {
        let (p, c) = (strs(b, "person_id"), strs(b, "counterparty"));
        let (d, t) = (dates(b, "declared_on"), dates(b, "valid_to"));
        for i in 0..b.num_rows() {
            declared.entry(p.value(i).to_string()).or_default().push((
                norm_org(c.value(i)),
                d.value(i),
                (!arrow::array::Array::is_null(&t, i)).then(|| t.value(i)),
            ));
        }
    }
    let mut out = vec![];
    for l in links {
        if l.strength < min_strength {
            continue;
        }
        let r = &records[&l.record];
        // The entry as it overlaps the analysis period.
        let from = r.from.unwrap_or(period.start).max(period.start);
        let to = r.to.unwrap_or(period.end).min(period.end);
        if from > to {
            continue;
        }
        let org = norm_org(&r.organisation);
        let covered = declared.get(&l.person).is_some_and(|ds| {
            ds.iter().any(|(c, d_from, d_to)| {
                *c == org && *d_from <= to && d_to.is_none_or(|t| t >= from)
            })
        });
        if covered {
            continue;
        }
        let summary = format!(
            "Listed on {} as {} of {} from {} ({} match: {}), with no declaration naming that \
             organisation in force between {} and {}.",
            r.list,
            r.role.as_deref().unwrap_or("an entry"),
            r.organisation,
            r.from.map_or("an unknown date".to_string(), short_day),
            if l.strength >= 0.9 {
                "strong"
            } else {
                "probable"
            },
            l.how,
            short_day(from),
            short_day(to)
        );
        out.push(
            Finding::new(
                Scenario::UndeclaredInterest,
                DETECTOR.id,
                &l.person,
                (from, to),
                l.strength,
                summary,
            )
            .fact("link_strength", l.strength)
            .fact("declarations_matching", 0.0)
            .with_evidence([Evidence::new(Table::ReferenceRecords, l.record.as_str())]),
        );
    }
    Ok(out)
}
