//! Features a count of recent complaints cannot see, computed in Rust over
//! the complaint history held once in memory: who complained (the public or
//! the force itself), how often complaints of that kind and source were
//! sustained before the cut-off, recency and trajectory, the co-accusal
//! network (complaints that name several people share a `complaint_ref`):
//! the histories of one's co-accused, repeated partners, new partners, and
//! membership of a "crew" (a group linked by repeated joint complaints), and
//! the complaint rate of one's unit.
//!
//! Like the SQL features, everything here is known at the row's cut-off: a
//! complaint counts if it was received before the cut-off, its outcome only
//! if it was closed before it, and the rates that weight complaints are
//! learnt from complaints closed before it. `tests/score.rs` plants
//! complaints, co-accusals and outcomes after a cut-off and checks that no
//! feature moves.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use jiff::civil::Date;

use crate::features::{Feature, FeatureTable, text};
use crate::{Error, Result};

/// Years of co-accusal history the network features look back.
pub const NETWORK_MONTHS: i64 = 60;
/// Joint complaints that make two people repeated partners (and a crew edge).
pub const REPEAT: u32 = 2;
/// Months over which a complaint's weight falls to 1/e.
pub const RECENCY_MONTHS: f64 = 12.0;
/// Pseudo-count of the prior in a sustain rate (a kind of complaint seen
/// only a few times is pulled towards the overall rate).
const PRIOR_WEIGHT: f64 = 20.0;

const SUSTAINED: u8 = 1;
const NOT_SUSTAINED: u8 = 2;
const WITHDRAWN: u8 = 3;

/// One complaint against one person.
#[derive(Debug, Clone, Copy)]
struct Row {
    person: u32,
    /// The complaint it belongs to (`complaint_ref`), if the store says.
    case: Option<u32>,
    received: i32,
    closed: Option<i32>,
    /// 0 unknown or ongoing, else one of the constants above.
    outcome: u8,
    /// Index of the category group.
    group: u32,
    /// 0 not recorded, 1 civilian, 2 internal.
    source: u8,
}

/// The complaint history, by person.
#[derive(Debug, Default)]
pub struct Complaints {
    index: HashMap<String, u32>,
    /// Rows sorted by person, then day received.
    rows: Vec<Row>,
    /// `rows[start[p]..start[p + 1]]` are person p's.
    start: Vec<usize>,
    groups: usize,
    /// Whether any complaint has a `complaint_ref` / a `complainant`.
    has_refs: bool,
    has_source: bool,
    /// The first day a complaint was received (observed service starts
    /// there at the earliest).
    first_day: i32,
}

fn day(d: Date) -> i32 {
    probity_core::time::date_to_days(d)
}

fn months_before(d: Date, m: i64) -> Result<i32> {
    Ok(day(crate::eval::add_months(d, -m)?))
}

impl Complaints {
    /// Reads the `complaints` table. A store without the contract v1.2
    /// columns (`complaint_ref`, `complainant`) reads as if they were empty.
    pub async fn load(ctx: &SessionContext) -> Result<Complaints> {
        let has = |c: &str, s: &datafusion::common::DFSchema| s.has_column_with_unqualified_name(c);
        let schema = ctx.table("complaints").await?.schema().clone();
        let col = |c: &str| {
            if has(c, &schema) {
                format!("CAST({c} AS VARCHAR)")
            } else {
                "CAST(NULL AS VARCHAR)".to_owned()
            }
        };
        let sql = format!(
            "SELECT person_id, CAST(CAST(received_on AS INT) AS BIGINT) AS r, \
             CAST(CAST(closed_on AS INT) AS BIGINT) AS c, outcome, \
             {group} AS g, {cref} AS cref, {who} AS who FROM complaints cm",
            group = crate::features::CATEGORY_GROUP,
            cref = col("complaint_ref"),
            who = col("complainant"),
        );
        let batches = ctx.sql(&sql).await?.collect().await?;
        let mut out = Complaints::default();
        let mut cases: HashMap<String, u32> = HashMap::new();
        let mut groups: HashMap<String, u32> = HashMap::new();
        let mut rows = Vec::new();
        for b in &batches {
            let person = text(b.column(0))?;
            let r = b.column(1).as_primitive::<Int64Type>();
            let c = b.column(2).as_primitive::<Int64Type>();
            let outcome = text(b.column(3))?;
            let g = text(b.column(4))?;
            let cref = text(b.column(5))?;
            let who = text(b.column(6))?;
            for i in 0..b.num_rows() {
                let n = out.index.len() as u32;
                let p = *out.index.entry(person.value(i).to_owned()).or_insert(n);
                let case = if cref.is_null(i) || cref.value(i).trim().is_empty() {
                    None
                } else {
                    let n = cases.len() as u32;
                    Some(*cases.entry(cref.value(i).trim().to_owned()).or_insert(n))
                };
                let n = groups.len() as u32;
                let group = *groups.entry(g.value(i).to_owned()).or_insert(n);
                let to_day = |v: i64| {
                    i32::try_from(v).map_err(|_| Error::Internal(format!("day {v} out of range")))
                };
                rows.push(Row {
                    person: p,
                    case,
                    received: to_day(r.value(i))?,
                    closed: if c.is_null(i) {
                        None
                    } else {
                        Some(to_day(c.value(i))?)
                    },
                    outcome: match (outcome.is_null(i), outcome.value(i)) {
                        (false, "sustained") => SUSTAINED,
                        (false, "not_sustained") => NOT_SUSTAINED,
                        (false, "withdrawn") => WITHDRAWN,
                        _ => 0,
                    },
                    group,
                    source: match (who.is_null(i), who.value(i)) {
                        (false, "civilian") => 1,
                        (false, "internal") => 2,
                        _ => 0,
                    },
                });
            }
        }
        // Category groups numbered in the order of their names, not of the
        // scan (which follows the pseudonyms): a person's complaints of one
        // day then come in the same order under any key, and so do the
        // sums over them, to the last bit.
        let mut names: Vec<(&String, &u32)> = groups.iter().collect();
        names.sort();
        let mut renumber = vec![0u32; names.len()];
        for (k, (_, g)) in names.iter().enumerate() {
            renumber[**g as usize] = k as u32;
        }
        for r in &mut rows {
            r.group = renumber[r.group as usize];
        }
        // Ties (same person and day) in a stable order.
        rows.sort_by_key(|r| (r.person, r.received, r.closed, r.outcome, r.group, r.source));
        out.start = Vec::with_capacity(out.index.len() + 1);
        let mut k = 0;
        for p in 0..=out.index.len() as u32 {
            while k < rows.len() && rows[k].person < p {
                k += 1;
            }
            out.start.push(k);
        }
        out.groups = groups.len();
        out.has_refs = rows.iter().any(|r| r.case.is_some());
        out.has_source = rows.iter().any(|r| r.source != 0);
        out.first_day = rows.iter().map(|r| r.received).min().unwrap_or(0);
        out.rows = rows;
        Ok(out)
    }

    fn of(&self, p: u32) -> &[Row] {
        &self.rows[self.start[p as usize]..self.start[p as usize + 1]]
    }

    /// The features this history gives, in the order [`Complaints::append`]
    /// adds them.
    pub fn features(&self) -> Vec<Feature> {
        let f = |n: &str, w: &str| Feature {
            name: n.to_owned(),
            words: w.to_owned(),
        };
        let mut out = Vec::new();
        if self.has_source {
            out.push(f(
                "internal_24m",
                "complaints made from inside the force (a colleague or supervisor) in the last 24 months",
            ));
            out.push(f(
                "internal_per_year",
                "complaints made from inside the force per year of service (as far back as the records go)",
            ));
        }
        out.extend([
            f(
                "expected_sustained_24m",
                "complaints of the last 24 months, each weighted by how often complaints of its kind and source were sustained before then",
            ),
            f(
                "expected_sustained_per_year",
                "complaints weighted by how often their kind and source were sustained, per year of service",
            ),
            f(
                "recency_weighted",
                "complaints weighted by recency (a complaint a year old counts 0.37, two years 0.14)",
            ),
            f(
                "recency_weighted_expected",
                "complaints weighted by recency and by how often their kind and source were sustained",
            ),
            f(
                "trend_12m",
                "complaints of the last 12 months minus those of the 12 months before (rising or falling)",
            ),
        ]);
        if self.has_refs {
            out.extend([
                f(
                    "co_accused_5y",
                    "colleagues named with them on complaints in the last 5 years",
                ),
                f(
                    "repeat_partners_5y",
                    "colleagues named with them on two or more complaints in the last 5 years",
                ),
                f(
                    "joint_share_5y",
                    "share of their complaints of the last 5 years that also named colleagues",
                ),
                f(
                    "co_accused_complaints_24m",
                    "complaints of the last 24 months against the colleagues named with them (last 5 years)",
                ),
                f(
                    "co_accused_max_24m",
                    "most complaints of the last 24 months against any one colleague named with them",
                ),
                f(
                    "co_accused_sustained",
                    "colleagues named with them (last 5 years) with a sustained complaint on record",
                ),
                f(
                    "new_partners_12m",
                    "colleagues first named with them in the last 12 months (new partners)",
                ),
                f(
                    "crew_size",
                    "people in the group linked to them by repeated joint complaints (a crew), themselves included",
                ),
                f(
                    "crew_complaints_24m",
                    "complaints of the last 24 months against the other members of their crew",
                ),
            ]);
        }
        out.push(f(
            "unit_complaints_24m",
            "average complaints of the last 24 months of their colleagues in the same unit",
        ));
        out
    }

    /// Appends [`Complaints::features`] to every row of `t`.
    pub fn append(&self, t: &mut FeatureTable) -> Result<()> {
        let added = self.features();
        let width = t.features.len();
        let extra = added.len();
        let tenure = t
            .features
            .iter()
            .position(|f| f.name == "tenure_years")
            .ok_or_else(|| Error::Internal("tenure_years missing".into()))?;
        let c24 = t
            .features
            .iter()
            .position(|f| f.name == "complaints_24m")
            .ok_or_else(|| Error::Internal("complaints_24m missing".into()))?;
        let mut new = vec![0.0; t.len() * extra];
        // Rows by cut-off (the table is ordered by cut-off, but do not rely
        // on it).
        let mut by_cut: HashMap<Date, Vec<usize>> = HashMap::new();
        for i in 0..t.len() {
            by_cut.entry(t.cut[i]).or_default().push(i);
        }
        let mut cuts: Vec<Date> = by_cut.keys().copied().collect();
        cuts.sort();
        for cut in cuts {
            let rows = &by_cut[&cut];
            let at = AtCut::new(self, cut)?;
            // Unit context: leave-one-out mean of 24-month complaints.
            let mut units: HashMap<&str, (f64, usize)> = HashMap::new();
            for &i in rows {
                let e = units.entry(t.unit[i].as_str()).or_default();
                e.0 += t.row(i)[c24];
                e.1 += 1;
            }
            for &i in rows {
                let own = t.row(i)[c24];
                let (sum, n) = units[t.unit[i].as_str()];
                let unit = if n > 1 {
                    (sum - own) / (n - 1) as f64
                } else {
                    0.0
                };
                let years = {
                    let service = t.row(i)[tenure] * 365.25;
                    let records = f64::from(day(cut) - self.first_day);
                    service.min(records).max(183.0) / 365.25
                };
                let v = at.person(self, t.person[i].as_str(), years, unit);
                debug_assert_eq!(v.len(), extra);
                new[i * extra..(i + 1) * extra].copy_from_slice(&v);
            }
        }
        let mut values = Vec::with_capacity(t.len() * (width + extra));
        for i in 0..t.len() {
            values.extend_from_slice(t.row(i));
            values.extend_from_slice(&new[i * extra..(i + 1) * extra]);
        }
        t.values = values;
        t.features.extend(added);
        Ok(())
    }
}

/// What is known at one cut-off, for everyone.
struct AtCut {
    cut: i32,
    m12: i32,
    m24: i32,
    since: i32,
    /// Sustain rate of complaints closed before the cut-off, by (category
    /// group, source).
    rate: Vec<f64>,
    /// Complaints of the last 24 months, by person index.
    c24: Vec<u32>,
    /// Whether the person has a sustained complaint closed before the cut-off.
    sustained: Vec<bool>,
    /// Co-accusal partners in the network window: (partner, joint
    /// complaints, first joint day), by person index.
    partners: HashMap<u32, Vec<(u32, u32, i32)>>,
    /// Complaints (with a reference) in the window, and those naming others.
    joint: HashMap<u32, (u32, u32)>,
    /// Crew (component of the repeated-partner graph) of each member, and
    /// each crew's size and 24-month complaints.
    crew: HashMap<u32, u32>,
    crews: HashMap<u32, (u32, u32)>,
}

impl AtCut {
    fn new(h: &Complaints, cut: Date) -> Result<AtCut> {
        let c = day(cut);
        let m12 = months_before(cut, 12)?;
        let m24 = months_before(cut, 24)?;
        let since = months_before(cut, NETWORK_MONTHS)?;
        let n = h.index.len();
        // Sustain rates learnt from what was decided before the cut-off.
        let width = 3;
        let mut decided = vec![(0.0f64, 0.0f64); h.groups.max(1) * width];
        let (mut all_s, mut all_n) = (0.0, 0.0);
        let mut c24 = vec![0u32; n];
        let mut sustained = vec![false; n];
        for r in &h.rows {
            if r.received >= c {
                continue;
            }
            if r.received >= m24 {
                c24[r.person as usize] += 1;
            }
            if r.outcome != 0 && r.closed.is_some_and(|d| d < c) {
                let e = &mut decided[r.group as usize * width + r.source as usize];
                e.1 += 1.0;
                all_n += 1.0;
                if r.outcome == SUSTAINED {
                    e.0 += 1.0;
                    all_s += 1.0;
                    sustained[r.person as usize] = true;
                }
            }
        }
        let prior = if all_n > 0.0 { all_s / all_n } else { 0.0 };
        let rate = decided
            .iter()
            .map(|(s, k)| (s + PRIOR_WEIGHT * prior) / (k + PRIOR_WEIGHT))
            .collect();
        // The co-accusal network of the window: who was named together.
        let mut named: Vec<(u32, u32, i32)> = h
            .rows
            .iter()
            .filter(|r| r.received >= since && r.received < c)
            .filter_map(|r| r.case.map(|k| (k, r.person, r.received)))
            .collect();
        named.sort_unstable();
        named.dedup_by_key(|x| (x.0, x.1));
        let mut pairs: Vec<(u32, u32, i32)> = Vec::new();
        let mut joint: HashMap<u32, (u32, u32)> = HashMap::new();
        for case in named.chunk_by(|a, b| a.0 == b.0) {
            for &(_, p, d) in case {
                let e = joint.entry(p).or_default();
                e.0 += 1;
                if case.len() > 1 {
                    e.1 += 1;
                }
                for &(_, q, _) in case {
                    if p != q {
                        pairs.push((p, q, d));
                    }
                }
            }
        }
        pairs.sort_unstable();
        let mut partners: HashMap<u32, Vec<(u32, u32, i32)>> = HashMap::new();
        for pq in pairs.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let first = pq.iter().map(|x| x.2).min().expect("non-empty chunk");
            partners
                .entry(pq[0].0)
                .or_default()
                .push((pq[0].1, pq.len() as u32, first));
        }
        // Crews: connected components of the repeated-partner graph.
        let mut parent: HashMap<u32, u32> = HashMap::new();
        fn find(parent: &mut HashMap<u32, u32>, x: u32) -> u32 {
            let mut r = x;
            while let Some(&p) = parent.get(&r) {
                if p == r {
                    break;
                }
                r = p;
            }
            let mut y = x;
            while y != r {
                let next = parent[&y];
                parent.insert(y, r);
                y = next;
            }
            r
        }
        let mut keys: Vec<&u32> = partners.keys().collect();
        keys.sort_unstable();
        for &p in keys {
            for &(q, k, _) in &partners[&p] {
                if k >= REPEAT {
                    parent.entry(p).or_insert(p);
                    parent.entry(q).or_insert(q);
                    let (a, b) = (find(&mut parent, p), find(&mut parent, q));
                    if a != b {
                        parent.insert(a.max(b), a.min(b));
                    }
                }
            }
        }
        let members: Vec<u32> = parent.keys().copied().collect();
        let mut crew = HashMap::new();
        let mut crews: HashMap<u32, (u32, u32)> = HashMap::new();
        for m in members {
            let root = find(&mut parent, m);
            crew.insert(m, root);
            let e = crews.entry(root).or_default();
            e.0 += 1;
            e.1 += c24[m as usize];
        }
        Ok(AtCut {
            cut: c,
            m12,
            m24,
            since,
            rate,
            c24,
            sustained,
            partners,
            joint,
            crew,
            crews,
        })
    }

    /// The features of one person at this cut-off.
    fn person(&self, h: &Complaints, person: &str, years: f64, unit: f64) -> Vec<f64> {
        let p = h.index.get(person).copied();
        let rows = p.map_or(&[][..], |p| h.of(p));
        let (mut internal24, mut internal_all) = (0.0, 0.0);
        let (mut exp24, mut exp_all, mut rw, mut rw_exp) = (0.0, 0.0, 0.0, 0.0);
        let (mut c12, mut c24) = (0.0, 0.0);
        for r in rows.iter().take_while(|r| r.received < self.cut) {
            let p = self.rate[r.group as usize * 3 + r.source as usize];
            let age_months = f64::from(self.cut - r.received) / 30.4375;
            let w = (-age_months / RECENCY_MONTHS).exp();
            exp_all += p;
            rw += w;
            rw_exp += w * p;
            if r.source == 2 {
                internal_all += 1.0;
            }
            if r.received >= self.m24 {
                c24 += 1.0;
                exp24 += p;
                if r.source == 2 {
                    internal24 += 1.0;
                }
            }
            if r.received >= self.m12 {
                c12 += 1.0;
            }
        }
        let mut out = Vec::with_capacity(17);
        if h.has_source {
            out.push(internal24);
            out.push(internal_all / years);
        }
        out.extend([exp24, exp_all / years, rw, rw_exp, c12 - (c24 - c12)]);
        if h.has_refs {
            let none = Vec::new();
            let partners = p.and_then(|p| self.partners.get(&p)).unwrap_or(&none);
            let (with_ref, naming_others) = p
                .and_then(|p| self.joint.get(&p))
                .copied()
                .unwrap_or((0, 0));
            let co = partners.len() as f64;
            let repeat = partners.iter().filter(|x| x.1 >= REPEAT).count() as f64;
            let share = if with_ref > 0 {
                f64::from(naming_others) / f64::from(with_ref)
            } else {
                0.0
            };
            let co_c24: u32 = partners.iter().map(|x| self.c24[x.0 as usize]).sum();
            let co_max = partners
                .iter()
                .map(|x| self.c24[x.0 as usize])
                .max()
                .unwrap_or(0);
            let co_sus = partners
                .iter()
                .filter(|x| self.sustained[x.0 as usize])
                .count() as f64;
            let new = partners.iter().filter(|x| x.2 >= self.m12).count() as f64;
            debug_assert!(partners.iter().all(|x| x.2 >= self.since));
            let (size, crew_c24) = p
                .and_then(|p| self.crew.get(&p).map(|root| (p, root)))
                .map_or((1.0, 0.0), |(p, root)| {
                    let (n, c) = self.crews[root];
                    (f64::from(n), f64::from(c - self.c24[p as usize]))
                });
            out.extend([
                co,
                repeat,
                share,
                f64::from(co_c24),
                f64::from(co_max),
                co_sus,
                new,
                size,
                crew_c24,
            ]);
        }
        out.push(unit);
        out
    }
}
