//! `undeclared_interest`: an entry on an external register (company officer,
//! membership roll) linked to a staff member who has no matching declaration
//! in force.

use std::collections::{BTreeMap, HashMap};

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::short_day;
use crate::finding::Evidence;
use crate::run::{dates, opt_str, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "undeclared_register_entry",
    version: 1,
    scenario: Scenario::UndeclaredInterest,
    title: "Register entry with no declaration",
    purpose: "Uses the record linkage of `probity resolve` (Fellegi-Sunter match weights over \
              name, date of birth and postcode, allowing for initials, nicknames, typos and \
              transposed names) and reports a register entry auto-linked to a staff member who \
              has no declaration naming that organisation in force while the entry is. Possible \
              matches in the clerical-review band, and records two staff members fit, are never \
              findings.",
    needs: &[Table::People, Table::ReferenceRecords],
    uses: &[Table::Declarations],
    identities: true,
    baseline: false,
    params: &[Param::num(
        "min_probability",
        0.8,
        "match probability below which an auto-linked register entry is not reported \
         (the auto-link threshold itself is resolve.link_at)",
    )],
    detect: |r| Box::pin(detect(r)),
};

/// An organisation name reduced for comparison: lower case, no punctuation,
/// no legal-form suffix or leading "the".
pub fn norm_org(s: &str) -> String {
    let n = probity_link::text::normalise(s);
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

/// An undeclared register entry linked to a person.
struct Entry<'a> {
    record: &'a str,
    r: &'a Record,
    probability: f64,
    how: String,
    from: i32,
    to: i32,
}

/// The comparison levels of a link in words: "given name nickname, family
/// name exact, date of birth exact".
fn how(p: probity_link::Pattern) -> String {
    p.levels()
        .iter()
        .zip(probity_link::compare::COMPARISONS)
        .filter(|(l, _)| **l > 0)
        .map(|(l, c)| format!("{} {}", c.name, c.levels[*l as usize]))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let min_probability = run.params().num("min_probability");
    let period = run.period();
    let store = probity_store::Store::open(run.store_root())?;
    let current = crate::resolve::compute(&store, false, crate::resolve::today()).await?;
    let batches = run
        .sql(
            "SELECT record_id, list_name, organisation, role, valid_from, valid_to \
             FROM reference_records",
        )
        .await?;
    let mut records: HashMap<String, Record> = HashMap::new();
    for b in &batches {
        let (id, list, org, role) = (
            strs(b, "record_id"),
            strs(b, "list_name"),
            strs(b, "organisation"),
            strs(b, "role"),
        );
        let (vf, vt) = (dates(b, "valid_from"), dates(b, "valid_to"));
        for i in 0..b.num_rows() {
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
    // Undeclared entries, grouped per person and organisation (a register
    // that lists the same appointment twice makes one finding, not two).
    let mut groups: BTreeMap<(String, String), Vec<Entry>> = BTreeMap::new();
    for l in &current.links {
        let Some(c) = l.linked() else { continue };
        let probability = probity_link::probability(c.weight);
        if probability < min_probability {
            continue;
        }
        let Some(r) = records.get(&l.record) else {
            continue;
        };
        // The entry as it overlaps the analysis period.
        let from = r.from.unwrap_or(period.start).max(period.start);
        let to = r.to.unwrap_or(period.end).min(period.end);
        if from > to {
            continue;
        }
        let org = norm_org(&r.organisation);
        let covered = declared.get(&c.person).is_some_and(|ds| {
            ds.iter().any(|(d_org, d_from, d_to)| {
                *d_org == org && *d_from <= to && d_to.is_none_or(|t| t >= from)
            })
        });
        if !covered {
            groups
                .entry((c.person.clone(), org))
                .or_default()
                .push(Entry {
                    record: l.record.as_str(),
                    r,
                    probability,
                    how: how(c.pattern),
                    from,
                    to,
                });
        }
    }
    let mut out = vec![];
    for ((person, _), entries) in groups {
        let Entry {
            r,
            probability,
            how,
            ..
        } = &entries[0];
        let from = entries.iter().map(|e| e.from).min().expect("non-empty");
        let to = entries.iter().map(|e| e.to).max().expect("non-empty");
        let best = entries.iter().map(|e| e.probability).fold(0.0, f64::max);
        let summary = format!(
            "Listed on {} as {} of {} from {} (match probability {:.3}: {}){}, with no \
             declaration naming that organisation in force between {} and {}.",
            r.list,
            r.role.as_deref().unwrap_or("an entry"),
            r.organisation,
            r.from.map_or("an unknown date".to_string(), short_day),
            probability,
            how,
            if entries.len() > 1 {
                format!(" in {} entries", entries.len())
            } else {
                String::new()
            },
            short_day(from),
            short_day(to)
        );
        out.push(
            Finding::new(
                Scenario::UndeclaredInterest,
                DETECTOR.id,
                &person,
                (from, to),
                best,
                summary,
            )
            .fact("match_probability", best)
            .fact("register_entries", entries.len() as f64)
            .fact("declarations_matching", 0.0)
            .with_evidence(
                entries
                    .iter()
                    .map(|e| Evidence::new(Table::ReferenceRecords, e.record)),
            ),
        );
    }
    Ok(out)
}
