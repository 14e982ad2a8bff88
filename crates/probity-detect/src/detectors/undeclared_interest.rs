//! `undeclared_interest`: an entry on an external register (company officer,
//! membership roll) linked to a staff member who has no matching declaration
//! in force.

use std::collections::{BTreeMap, HashMap};

use probity_core::Scenario;
use probity_core::schema::Table;

use probity_link::org::{self, OrgName, Verdict, Weights};

use super::common::{plural, short_day};
use crate::finding::Evidence;
use crate::run::{dates, opt_str, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "undeclared_register_entry",
    version: 2,
    scenario: Scenario::UndeclaredInterest,
    title: "Register entry with no declaration",
    purpose: "Uses the record linkage of `probity resolve` (Fellegi-Sunter match weights over \
              name, date of birth and postcode, allowing for initials, nicknames, typos and \
              transposed names) and reports a register entry auto-linked to a staff member who \
              has no declaration naming that organisation in force while the entry is. \
              Organisations are matched as forces write them: case, punctuation, legal forms \
              (Ltd, Limited), '&' and 'and', generic words (society, club, group), acronyms \
              and typos do not make a declared interest undeclared, and a declaration that \
              is close but not clearly the same goes to clerical review, never to a finding. \
              Possible person matches in the clerical-review band, links below a stricter \
              match probability, and records two staff members fit, are never findings \
              either.",
    needs: &[Table::People, Table::ReferenceRecords],
    uses: &[Table::Declarations],
    identities: true,
    baseline: false,
    params: &[
        Param::num(
            "min_probability",
            0.95,
            "match probability a link needs to ground a finding (odds of 19 to 1 that the \
             entry is this person); entries auto-linked below it (from resolve.link_at) go \
             to clerical review to confirm who they are",
        ),
        Param::num(
            "same_organisation_at",
            0.8,
            "organisation-name similarity at or above which a declaration names the \
             register's organisation",
        ),
        Param::num(
            "review_organisation_at",
            0.5,
            "similarity from which (below same_organisation_at) the pair goes to clerical \
             review instead of a finding",
        ),
    ],
    detect: |r| Box::pin(detect(r)),
    learn: None,
    // Registers and declarations are read whole.
    context_days: |_| 0,
};

struct Record {
    list: String,
    organisation: String,
    name: OrgName,
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
    /// The closest declaration in force, with its similarity in words.
    closest: Option<(f64, String)>,
}

/// A person's declaration.
struct Declared {
    id: String,
    name: OrgName,
    from: i32,
    to: Option<i32>,
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
    let p = run.params();
    let min_probability = p.num("min_probability");
    let (same_at, review_at) = (
        p.num("same_organisation_at"),
        p.num("review_organisation_at"),
    );
    let period = run.period();
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
                    name: OrgName::new(org.value(i)),
                    role: opt_str(&role, i).map(str::to_string),
                    from: (!arrow::array::Array::is_null(&vf, i)).then(|| vf.value(i)),
                    to: (!arrow::array::Array::is_null(&vt, i)).then(|| vt.value(i)),
                },
            );
        }
    }
    let batches = run
        .sql(
            "SELECT declaration_id, person_id, counterparty, declared_on, valid_to \
             FROM declarations",
        )
        .await?;
    let mut declared: HashMap<String, Vec<Declared>> = HashMap::new();
    for b in &batches {
        let (id, p, c) = (
            strs(b, "declaration_id"),
            strs(b, "person_id"),
            strs(b, "counterparty"),
        );
        let (d, t) = (dates(b, "declared_on"), dates(b, "valid_to"));
        for i in 0..b.num_rows() {
            declared
                .entry(p.value(i).to_string())
                .or_default()
                .push(Declared {
                    id: id.value(i).to_string(),
                    name: OrgName::new(c.value(i)),
                    from: d.value(i),
                    to: (!arrow::array::Array::is_null(&t, i)).then(|| t.value(i)),
                });
        }
    }
    // Word weights from every organisation named on either side: a word
    // many organisations share ("Thames", "Security") tells them apart less.
    let weights = Weights::from_names(
        records
            .values()
            .map(|r| &r.name)
            .chain(declared.values().flatten().map(|d| &d.name)),
    );
    // Undeclared entries, grouped per person and organisation (a register
    // that lists the same appointment twice makes one finding, not two).
    let mut groups: BTreeMap<(String, String), Vec<Entry>> = BTreeMap::new();
    let (mut reviewed, mut weak) = (0, 0);
    for l in run.links() {
        let Some(c) = l.linked() else { continue };
        let probability = probity_link::probability(c.weight);
        let Some(r) = records.get(&l.record) else {
            continue;
        };
        if probability < min_probability {
            // Linked, but not surely enough to accuse anyone: a person
            // confirms the identity first.
            weak += 1;
            run.review(serde_json::json!({
                "person": c.person,
                "record_id": l.record,
                "match_probability": (probability * 1000.0).round() / 1000.0,
                "why": format!(
                    "linked to staff with match probability {probability:.3}, below the \
                     {min_probability} a finding needs: confirm who the entry is before \
                     comparing declarations"
                ),
            }));
            continue;
        }
        // The entry as it overlaps the analysis period.
        let from = r.from.unwrap_or(period.start).max(period.start);
        let to = r.to.unwrap_or(period.end).min(period.end);
        if from > to {
            continue;
        }
        // The person's declarations in force while the entry is, closest first.
        let mut compared: Vec<(f64, Verdict, &Declared, String)> = declared
            .get(&c.person)
            .map(|ds| {
                ds.iter()
                    .filter(|d| d.from <= to && d.to.is_none_or(|t| t >= from))
                    .map(|d| {
                        let cmp = org::compare(&d.name, &r.name, &weights);
                        let words = format!(
                            "declaration {:?} against the register's {:?}: {}",
                            d.name.raw,
                            r.organisation,
                            cmp.describe("the declaration", "the register")
                        );
                        (cmp.similarity, cmp.verdict(same_at, review_at), d, words)
                    })
                    .collect()
            })
            .unwrap_or_default();
        compared.sort_by(|a, b| b.0.total_cmp(&a.0));
        match compared.first() {
            Some((_, Verdict::Same, ..)) => continue,
            Some((sim, Verdict::Unsure, d, words)) => {
                // Close but not clearly the same organisation: a person
                // decides, never a finding.
                reviewed += 1;
                run.review(serde_json::json!({
                    "person": c.person,
                    "record_id": l.record,
                    "declaration_id": d.id,
                    "similarity": (sim * 1000.0).round() / 1000.0,
                    "why": words,
                }));
                continue;
            }
            _ => {}
        }
        let closest = compared
            .first()
            .map(|(sim, _, _, words)| (*sim, words.clone()));
        groups
            .entry((c.person.clone(), r.name.key()))
            .or_default()
            .push(Entry {
                record: l.record.as_str(),
                r,
                probability,
                how: how(c.pattern),
                from,
                to,
                closest,
            });
    }
    if weak > 0 {
        run.note(format!(
            "{weak} register entries linked to staff with a match probability below \
             {min_probability} sent to clerical review to confirm the identity, never as findings"
        ));
    }
    if reviewed > 0 {
        run.note(format!(
            "{reviewed} linked register entries sent to clerical review: a declaration in force \
             names a similar but not clearly the same organisation (similarity {review_at} to \
             {same_at}); they are listed under clerical_review, never as findings"
        ));
    }
    let mut out = vec![];
    for ((person, _), entries) in groups {
        // The surest entry leads: its link, its dates and its closest
        // declaration are what the summary cites.
        let lead = entries
            .iter()
            .max_by(|a, b| a.probability.total_cmp(&b.probability))
            .expect("non-empty");
        let Entry {
            r,
            probability,
            how,
            closest,
            ..
        } = lead;
        let best = *probability;
        let from = entries.iter().map(|e| e.from).min().expect("non-empty");
        let to = entries.iter().map(|e| e.to).max().expect("non-empty");
        let searched = declared.get(&person).map_or(0, |ds| {
            ds.iter()
                .filter(|d| d.from <= lead.to && d.to.is_none_or(|t| t >= lead.from))
                .count()
        });
        let summary = format!(
            "Listed on {} as {} of {} from {} (match probability {:.3}: {}){}, with no \
             declaration naming that organisation in force between {} and {} ({}).",
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
            short_day(to),
            match closest {
                None if searched == 0 => "no declarations in force".to_string(),
                None => format!("{searched} declarations in force, none comparable"),
                Some((_, words)) => format!(
                    "{} in force; the closest, {words}",
                    plural(searched, "declaration", "declarations")
                ),
            }
        );
        let mut f = Finding::new(
            Scenario::UndeclaredInterest,
            DETECTOR.id,
            &person,
            (from, to),
            best,
            summary,
        )
        .fact("match_probability", best)
        .fact("register_entries", entries.len() as f64)
        .fact("declarations_in_force", searched as f64)
        .fact("declarations_matching", 0.0)
        .fact(
            "closest_declaration_similarity",
            closest
                .as_ref()
                .map_or(0.0, |(s, _)| (s * 1000.0).round() / 1000.0),
        );
        if let Some((_, words)) = closest {
            f = f.fact_text("closest_declaration", words.clone());
        }
        out.push(
            f.with_evidence(
                entries
                    .iter()
                    .map(|e| Evidence::new(Table::ReferenceRecords, e.record)),
            ),
        );
    }
    Ok(out)
}
