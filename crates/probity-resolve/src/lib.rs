//! Who is who in the store: record linkage of reference lists (company
//! registers, membership rolls) to staff, and the identity graph of badge
//! cards, devices and accounts.
//!
//! `probity resolve` links the store's reference records to staff with the
//! Fellegi–Sunter linker of `probity-link`, keeps the results in `links/`
//! inside the store (the trained model, every candidate pair above a floor
//! with its weight, the decision per record) and brings them up to date
//! incrementally: new records are compared with all staff, new or changed
//! staff with the records already linked; nothing else is redone.
//!
//! Detectors never call this crate and never open the store: an analysis
//! run ([`compute_in`] through `probity_detect::Plan`) brings the links up to
//! date once and hands them to the detectors that declare they use them.
//!
//! ```no_run
//! # async fn demo(store: &probity_store::Store) -> Result<(), probity_resolve::Error> {
//! let current = probity_resolve::compute(store, false, probity_resolve::today()).await?;
//! current.save(store.root())?;
//! for l in current.links.iter().filter(|l| l.linked().is_some()) {
//!     println!("{} -> {}", l.record, l.candidates[0].person);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use probity_link::block::OversizedBlock;
use probity_link::identity::{Conflict, GraphStats, Holding, IdentityGraph, Kind};
use probity_link::{
    Candidate, Decision, Entity, Explanation, Model, Pattern, Problems, Scorer, Settings, Today,
    Training,
};
use probity_store::Store;
use serde::{Deserialize, Serialize};

use probity_store::cols::{dates, opt_str, strs};

/// Errors of record linkage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query over the store failed.
    #[error("record linkage query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] probity_store::Error),
    /// Linkage could not run (settings, stored links, unknown record).
    #[error("{reason}")]
    Resolve {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored or truth file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Candidates below this probability are not kept.
pub const FLOOR: f64 = 0.001;

/// Today's date (UTC), for rejecting dates of birth in the future.
pub fn today() -> Today {
    let secs = jiff::Timestamp::now().as_second();
    let d = probity_core::time::days_to_date(secs.div_euclid(86_400) as i32);
    Today {
        year: i32::from(d.year()),
        month: d.month() as u8,
        day: d.day() as u8,
    }
}

/// The links directory inside a store.
pub fn links_dir(store_root: &Path) -> PathBuf {
    store_root.join("links")
}

/// The linkage settings in force: `[resolve]` of probity.toml, checked
/// when the store was opened.
pub fn settings(store: &Store) -> Settings {
    store.config().resolve.clone()
}

/// A candidate as stored: the staff member's stored key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCandidate {
    /// Stored person key (pseudonym).
    pub person: String,
    /// Match weight.
    pub weight: f64,
    /// Levels.
    pub pattern: Pattern,
    /// Names read transposed.
    pub transposed: bool,
}

/// One record's links.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLinks {
    /// record_id.
    pub record: String,
    /// Best first.
    pub candidates: Vec<StoredCandidate>,
    /// Decision.
    pub decision: Decision,
    /// Why review, when it is.
    pub reason: Option<String>,
}

impl RecordLinks {
    /// The linked person (decision `link`).
    pub fn linked(&self) -> Option<&StoredCandidate> {
        (self.decision == Decision::Link)
            .then(|| self.candidates.first())
            .flatten()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    model: Model,
    settings: Settings,
}

/// How a resolve went.
#[derive(Debug, Clone, Serialize)]
pub struct ResolveReport {
    /// "full", "incremental" or "up to date".
    pub mode: String,
    /// Why full, when it was.
    pub full_because: Option<String>,
    /// Reference records in the store.
    pub records: u64,
    /// Records compared in this run.
    pub records_compared: u64,
    /// Distinct name/DOB/postcode signatures among them.
    pub distinct_compared: u64,
    /// Staff.
    pub staff: u64,
    /// Staff new or changed since the last run (compared with old records).
    pub staff_new: u64,
    /// Candidate pairs scored.
    pub pairs: u64,
    /// Records that duplicate another (same list, organisation, name, DOB,
    /// postcode).
    pub duplicates: u64,
    /// Example duplicate record ids.
    pub duplicate_examples: Vec<String>,
    /// Record input problems.
    pub record_problems: Problems,
    /// Staff input problems.
    pub staff_problems: Problems,
    /// Blocks not compared because too large.
    pub oversized: Vec<OversizedBlock>,
    /// Records per decision.
    pub decisions: BTreeMap<String, u64>,
    /// Identity graph counts.
    pub identity: GraphStats,
    /// Identity conflicts.
    pub conflicts: Vec<Conflict>,
    /// Model summary (m/u per level).
    pub model: Model,
    /// Thresholds used.
    pub link_at: f64,
    /// Review threshold.
    pub review_at: f64,
    /// Seconds per phase (read, train, score, identity graph).
    pub phases: BTreeMap<String, f64>,
}

/// Staff and records as read from the vault.
struct Inputs {
    staff_keys: Vec<String>,
    staff_sigs: Vec<String>,
    staff: Vec<Entity>,
    rec_ids: Vec<String>,
    records: Vec<Entity>,
    duplicates: u64,
    duplicate_examples: Vec<String>,
    record_problems: Problems,
    staff_problems: Problems,
}

async fn sql(ctx: &SessionContext, s: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(s).await?.collect().await?)
}

/// A session over the store with the vault registered.
pub fn vault_session(store: &Store) -> Result<SessionContext> {
    let ctx = store.session_context()?;
    store.register_vault(&ctx)?;
    Ok(ctx)
}

async fn load_inputs(ctx: &SessionContext, today: Today) -> Result<Inputs> {
    let mut staff_problems = Problems::default();
    let (mut staff_keys, mut staff_sigs, mut staff) = (vec![], vec![], vec![]);
    for b in &sql(
        ctx,
        "SELECT stored_key, given_name, family_name, date_of_birth, home_postcode \
         FROM vault_people ORDER BY stored_key",
    )
    .await?
    {
        let (k, g, f, pc) = (
            strs(b, "stored_key"),
            strs(b, "given_name"),
            strs(b, "family_name"),
            strs(b, "home_postcode"),
        );
        let dob = dates(b, "date_of_birth");
        for i in 0..b.num_rows() {
            let d = (!dob.is_null(i)).then(|| {
                let d = probity_core::time::days_to_date(dob.value(i));
                probity_link::Dob::new(i32::from(d.year()), d.month() as u8, Some(d.day() as u8))
            });
            let key = k.value(i);
            let e = probity_link::staff_entity(
                key,
                g.value(i),
                f.value(i),
                d.flatten(),
                opt_str(&pc, i),
                today,
                &mut staff_problems,
            );
            staff_sigs.push(blake3::hash(format!("{e:?}").as_bytes()).to_hex()[..16].to_string());
            staff_keys.push(key.to_string());
            staff.push(e);
        }
    }
    let mut record_problems = Problems::default();
    let (mut rec_ids, mut records) = (vec![], vec![]);
    let mut seen: HashSet<blake3::Hash> = HashSet::new();
    let (mut duplicates, mut duplicate_examples) = (0u64, vec![]);
    for b in &sql(
        ctx,
        "SELECT r.record_id, r.list_name, r.organisation, v.full_name, v.date_of_birth, v.postcode \
         FROM reference_records r JOIN vault_reference_records v ON v.stored_key = r.record_id \
         ORDER BY r.record_id",
    )
    .await?
    {
        let (id, list, org, name, dob, pc) = (
            strs(b, "record_id"),
            strs(b, "list_name"),
            strs(b, "organisation"),
            strs(b, "full_name"),
            strs(b, "date_of_birth"),
            strs(b, "postcode"),
        );
        for i in 0..b.num_rows() {
            let rid = id.value(i);
            let e = probity_link::record_entity(
                rid,
                name.value(i),
                opt_str(&dob, i),
                opt_str(&pc, i),
                today,
                &mut record_problems,
            );
            let sig = blake3::hash(
                format!(
                    "{}\u{1f}{}\u{1f}{e:?}",
                    list.value(i),
                    probity_link::org::OrgName::new(org.value(i)).key()
                )
                .as_bytes(),
            );
            if !seen.insert(sig) {
                duplicates += 1;
                if duplicate_examples.len() < 5 {
                    duplicate_examples.push(rid.to_string());
                }
            }
            rec_ids.push(rid.to_string());
            records.push(e);
        }
    }
    Ok(Inputs {
        staff_keys,
        staff_sigs,
        staff,
        rec_ids,
        records,
        duplicates,
        duplicate_examples,
        record_problems,
        staff_problems,
    })
}

/// What is stored in `links/`.
struct Stored {
    saved: Saved,
    people: HashMap<String, String>,
    links: HashMap<String, Vec<StoredCandidate>>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn load_stored(dir: &Path) -> Result<Option<Stored>> {
    let model_path = dir.join("model.json");
    if !model_path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&model_path).map_err(|e| io(&model_path, e))?;
    let saved: Saved = serde_json::from_str(&text).map_err(|e| Error::Format {
        path: model_path.clone(),
        line: e.line(),
        reason: format!("{e}; delete links/ and run `probity resolve --full`"),
    })?;
    let people_path = dir.join("people.tsv");
    let text = std::fs::read_to_string(&people_path).map_err(|e| io(&people_path, e))?;
    let people = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect();
    let mut links: HashMap<String, Vec<StoredCandidate>> = HashMap::new();
    for b in read_parquet(&dir.join("candidates.parquet"))? {
        let (rid, person) = (strs(&b, "record_id"), strs(&b, "person_key"));
        let weight = b
            .column_by_name("weight")
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned())
            .expect("weight column");
        let pattern = b
            .column_by_name("pattern")
            .and_then(|c| c.as_any().downcast_ref::<Int32Array>().cloned())
            .expect("pattern column");
        let transposed = b
            .column_by_name("transposed")
            .and_then(|c| c.as_any().downcast_ref::<BooleanArray>().cloned())
            .expect("transposed column");
        for i in 0..b.num_rows() {
            let entry = links.entry(rid.value(i).to_string()).or_default();
            if let Some(p) = opt_str(&person, i) {
                entry.push(StoredCandidate {
                    person: p.to_string(),
                    weight: weight.value(i),
                    pattern: Pattern(pattern.value(i) as u16),
                    transposed: transposed.value(i),
                });
            }
        }
    }
    Ok(Some(Stored {
        saved,
        people,
        links,
    }))
}

fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(65536).build())
        .map_err(|e| Error::Resolve {
            reason: format!("{}: {e}; run `probity resolve --full`", path.display()),
        })?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Resolve {
            reason: format!("{}: {e}; run `probity resolve --full`", path.display()),
        })
}

/// The links as of now: stored results brought up to date in memory.
pub struct Current {
    /// Per record.
    pub links: Vec<RecordLinks>,
    /// Report.
    pub report: ResolveReport,
    saved: Saved,
    inputs: Inputs,
}

/// Computes links: from scratch when `full` or nothing is stored (or the
/// blocking rules changed), otherwise incrementally.
pub async fn compute(store: &Store, full: bool, today: Today) -> Result<Current> {
    let ctx = vault_session(store)?;
    compute_in(
        &ctx,
        &settings(store),
        &links_dir(store.root()),
        full,
        today,
    )
    .await
}

/// Like [`compute`], over a session that already holds the store's tables
/// and its identity vault (`vault_people`, `vault_reference_records`), with
/// the settings and the `links/` directory given: what an analysis run uses,
/// so that the detectors it serves never open the store.
pub async fn compute_in(
    ctx: &SessionContext,
    settings: &Settings,
    links_dir: &Path,
    full: bool,
    today: Today,
) -> Result<Current> {
    let settings = settings.clone();
    let mut phases = BTreeMap::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &str, phases: &mut BTreeMap<String, f64>| {
        phases.insert(name.to_string(), clock.elapsed().as_secs_f64());
        clock = std::time::Instant::now();
    };
    let mut inputs = load_inputs(ctx, today).await?;
    lap("read", &mut phases);
    let stored = load_stored(links_dir)?;
    let full_because = if full {
        Some("asked for (--full)".to_string())
    } else {
        match &stored {
            None => Some("no earlier links in the store".to_string()),
            Some(s) if s.saved.model.version != probity_link::model::MODEL_VERSION => {
                Some("the stored model is from another linker version".to_string())
            }
            Some(s) if s.saved.settings.blocking != settings.blocking => {
                Some("the blocking rules changed since the last run".to_string())
            }
            _ => None,
        }
    };
    let mut pairs = 0u64;
    let mut oversized = vec![];
    let (model, mut by_record, records_compared, distinct_compared, staff_new, mode);
    match (full_because.is_some(), stored) {
        (false, Some(stored)) => {
            model = stored.saved.model;
            let mut old = stored.links;
            // Staff who are new or whose identifying fields changed.
            let current: HashMap<&str, &str> = inputs
                .staff_keys
                .iter()
                .map(String::as_str)
                .zip(inputs.staff_sigs.iter().map(String::as_str))
                .collect();
            let fresh: Vec<usize> = (0..inputs.staff.len())
                .filter(|i| {
                    stored
                        .people
                        .get(&inputs.staff_keys[*i])
                        .map(String::as_str)
                        != Some(inputs.staff_sigs[*i].as_str())
                })
                .collect();
            let stale: HashSet<&str> = stored
                .people
                .iter()
                .filter(|(k, s)| current.get(k.as_str()) != Some(&s.as_str()))
                .map(|(k, _)| k.as_str())
                .collect();
            for v in old.values_mut() {
                v.retain(|c| !stale.contains(c.person.as_str()));
            }
            staff_new = fresh.len() as u64;
            // New records against all staff.
            let new_idx: Vec<usize> = (0..inputs.rec_ids.len())
                .filter(|i| !old.contains_key(&inputs.rec_ids[*i]))
                .collect();
            let (n_pairs, n_distinct, mut over, scored) = score(
                &inputs,
                &Distinct::of(&inputs, &new_idx),
                &(0..inputs.staff.len()).collect::<Vec<_>>(),
                &model,
                &settings,
            );
            pairs += n_pairs;
            oversized.append(&mut over);
            by_record = HashMap::new();
            for (i, c) in scored {
                by_record.insert(inputs.rec_ids[i].clone(), c);
            }
            // Old records against new staff.
            let old_idx: Vec<usize> = (0..inputs.rec_ids.len())
                .filter(|i| old.contains_key(&inputs.rec_ids[*i]))
                .collect();
            let mut old_distinct = 0;
            if !fresh.is_empty() && !old_idx.is_empty() {
                let old_records = Distinct::of(&inputs, &old_idx);
                let (n_pairs, n_distinct, mut over, scored) =
                    score(&inputs, &old_records, &fresh, &model, &settings);
                pairs += n_pairs;
                old_distinct = n_distinct;
                oversized.append(&mut over);
                for (i, c) in scored {
                    old.get_mut(&inputs.rec_ids[i])
                        .expect("old record")
                        .extend(c);
                }
            }
            for i in &old_idx {
                let id = &inputs.rec_ids[*i];
                by_record.insert(id.clone(), old.remove(id).unwrap_or_default());
            }
            records_compared = new_idx.len() as u64
                + if fresh.is_empty() {
                    0
                } else {
                    old_idx.len() as u64
                };
            distinct_compared = (n_distinct + old_distinct) as u64;
            mode = if records_compared == 0 {
                "up to date"
            } else {
                "incremental"
            };
        }
        (_, _) => {
            let all: Vec<usize> = (0..inputs.rec_ids.len()).collect();
            let records = Distinct::of(&inputs, &all);
            model = Model::train(
                &inputs.staff,
                &records.entities,
                &Training {
                    u_pairs: settings.u_pairs,
                    em_records: settings.em_records,
                    ..Training::default()
                },
            );
            lap("train", &mut phases);
            let staff_all: Vec<usize> = (0..inputs.staff.len()).collect();
            let (n_pairs, n_distinct, over, scored) =
                score(&inputs, &records, &staff_all, &model, &settings);
            pairs = n_pairs;
            oversized = over;
            by_record = scored
                .into_iter()
                .map(|(i, c)| (inputs.rec_ids[i].clone(), c))
                .collect();
            records_compared = all.len() as u64;
            distinct_compared = n_distinct as u64;
            staff_new = inputs.staff.len() as u64;
            mode = "full";
        }
    }
    lap("score", &mut phases);
    let mut links = Vec::with_capacity(inputs.rec_ids.len());
    let mut decisions: BTreeMap<String, u64> = BTreeMap::new();
    for id in &inputs.rec_ids {
        let mut cands = by_record.remove(id).unwrap_or_default();
        cands.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.person.cmp(&b.person)));
        cands.dedup_by(|a, b| a.person == b.person);
        cands.truncate(probity_link::linker::KEEP);
        let as_cands: Vec<Candidate> = cands
            .iter()
            .map(|c| Candidate {
                staff: 0,
                weight: c.weight,
                pattern: c.pattern,
                transposed: c.transposed,
            })
            .collect();
        let (decision, reason) = probity_link::decide(&as_cands, &settings);
        *decisions.entry(decision.as_str().to_string()).or_default() += 1;
        links.push(RecordLinks {
            record: id.clone(),
            candidates: cands,
            decision,
            reason: reason.map(str::to_string),
        });
    }
    lap("decide", &mut phases);
    let report = ResolveReport {
        mode: mode.to_string(),
        full_because,
        records: inputs.rec_ids.len() as u64,
        records_compared,
        distinct_compared,
        staff: inputs.staff.len() as u64,
        staff_new,
        pairs,
        duplicates: inputs.duplicates,
        duplicate_examples: std::mem::take(&mut inputs.duplicate_examples),
        record_problems: std::mem::take(&mut inputs.record_problems),
        staff_problems: std::mem::take(&mut inputs.staff_problems),
        oversized,
        decisions,
        identity: GraphStats::default(),
        conflicts: vec![],
        model: model.clone(),
        link_at: settings.link_at,
        review_at: settings.review_at,
        phases,
    };
    Ok(Current {
        links,
        report,
        saved: Saved { model, settings },
        inputs,
    })
}

type Scored = (
    u64,
    usize,
    Vec<OversizedBlock>,
    Vec<(usize, Vec<StoredCandidate>)>,
);

/// Records (indices into the inputs) reduced to distinct comparison
/// signatures: identical name, date of birth and postcode compared once.
struct Distinct<'a> {
    rec: &'a [usize],
    entities: Vec<Entity>,
    of: Vec<u32>,
}

impl<'a> Distinct<'a> {
    fn of(inputs: &Inputs, rec: &'a [usize]) -> Distinct<'a> {
        let (entities, of) =
            probity_link::distinct(rec.iter().map(|i| inputs.records[*i].clone()).collect());
        Distinct { rec, entities, of }
    }
}

/// Scores distinct records against the staff `staff` (indices into inputs).
fn score(inputs: &Inputs, d: &Distinct, staff: &[usize], model: &Model, s: &Settings) -> Scored {
    let rec = d.rec;
    if rec.is_empty() || staff.is_empty() {
        return (0, 0, vec![], rec.iter().map(|i| (*i, vec![])).collect());
    }
    // All staff in order (every run but "new staff only"): no copy.
    let staff_e: std::borrow::Cow<[Entity]> = if staff.len() == inputs.staff.len() {
        std::borrow::Cow::Borrowed(&inputs.staff)
    } else {
        std::borrow::Cow::Owned(staff.iter().map(|i| inputs.staff[*i].clone()).collect())
    };
    let (distinct, of) = (&d.entities, &d.of);
    // An example record id per distinct signature, for oversized blocks.
    let mut example = vec![usize::MAX; distinct.len()];
    for (k, d) in of.iter().enumerate() {
        if example[*d as usize] == usize::MAX {
            example[*d as usize] = rec[k];
        }
    }
    let mut scorer = Scorer::new(&staff_e, model, s);
    let over = scorer.limit(
        distinct,
        |d| inputs.rec_ids[example[d]].clone(),
        s.max_pairs_per_block,
    );
    let (cands, pairs) = scorer.score(distinct, FLOOR);
    let per: Vec<Vec<StoredCandidate>> = cands
        .into_iter()
        .map(|v| {
            v.into_iter()
                .map(|c| StoredCandidate {
                    person: inputs.staff_keys[staff[c.staff as usize]].clone(),
                    weight: c.weight,
                    pattern: c.pattern,
                    transposed: c.transposed,
                })
                .collect()
        })
        .collect();
    let n = distinct.len();
    // Pairs are counted once per distinct signature.
    (
        pairs,
        n,
        over,
        rec.iter()
            .zip(of)
            .map(|(i, d)| (*i, per[*d as usize].clone()))
            .collect(),
    )
}

impl Current {
    /// Adds the identity graph of the store (cards, devices, accounts held
    /// over time, and conflicts) to the report.
    pub async fn add_identity_graph(&mut self, store: &Store) -> Result<()> {
        let started = std::time::Instant::now();
        let graph = identity_graph(store).await?;
        self.report.identity = graph.stats();
        self.report.conflicts = graph.conflicts();
        self.report
            .phases
            .insert("identity graph".into(), started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Writes `links/`: model.json, people.tsv, candidates.parquet (all
    /// replaced atomically, file by file).
    pub fn save(&self, store_root: &Path) -> Result<()> {
        let dir = links_dir(store_root);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, dir.join(name)).map_err(|e| io(&dir.join(name), e))
        };
        #[derive(Default)]
        struct Columns {
            record: Vec<String>,
            person: Vec<Option<String>>,
            rank: Vec<i32>,
            weight: Vec<Option<f64>>,
            probability: Vec<Option<f64>>,
            decision: Vec<String>,
            reason: Vec<Option<String>>,
            pattern: Vec<Option<i32>>,
            levels: Vec<Option<String>>,
            transposed: Vec<Option<bool>>,
        }
        let mut cols = Columns::default();
        for l in &self.links {
            let mut push = |rank: i32, c: Option<&StoredCandidate>| {
                cols.record.push(l.record.clone());
                cols.person.push(c.map(|c| c.person.clone()));
                cols.rank.push(rank);
                cols.weight.push(c.map(|c| c.weight));
                cols.probability
                    .push(c.map(|c| probity_link::probability(c.weight)));
                cols.decision.push(l.decision.as_str().to_string());
                cols.reason.push(l.reason.clone());
                cols.pattern.push(c.map(|c| i32::from(c.pattern.0)));
                cols.levels.push(c.map(|c| levels_text(c.pattern)));
                cols.transposed.push(c.map(|c| c.transposed));
            };
            if l.candidates.is_empty() {
                push(0, None);
            }
            for (k, c) in l.candidates.iter().enumerate() {
                push(k as i32 + 1, Some(c));
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("record_id", DataType::Utf8, false),
            Field::new("person_key", DataType::Utf8, true),
            Field::new("rank", DataType::Int32, false),
            Field::new("weight", DataType::Float64, true),
            Field::new("probability", DataType::Float64, true),
            Field::new("decision", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, true),
            Field::new("pattern", DataType::Int32, true),
            Field::new("levels", DataType::Utf8, true),
            Field::new("transposed", DataType::Boolean, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(cols.record)),
                Arc::new(StringArray::from(cols.person)),
                Arc::new(Int32Array::from(cols.rank)),
                Arc::new(Float64Array::from(cols.weight)),
                Arc::new(Float64Array::from(cols.probability)),
                Arc::new(StringArray::from(cols.decision)),
                Arc::new(StringArray::from(cols.reason)),
                Arc::new(Int32Array::from(cols.pattern)),
                Arc::new(StringArray::from(cols.levels)),
                Arc::new(BooleanArray::from(cols.transposed)),
            ],
        )
        .expect("columns match the schema");
        let mut buf = vec![];
        {
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None)
                .expect("in-memory writer");
            w.write(&batch).expect("in-memory write");
            w.close().expect("in-memory close");
        }
        write("candidates.parquet", &buf)?;
        let people: String = self
            .inputs
            .staff_keys
            .iter()
            .zip(&self.inputs.staff_sigs)
            .map(|(k, s)| format!("{k}\t{s}\n"))
            .collect();
        write("people.tsv", people.as_bytes())?;
        let json = serde_json::to_string_pretty(&self.saved).expect("model serialises");
        write("model.json", json.as_bytes())
    }
}

/// `given=nickname; family=exact; …`.
pub fn levels_text(p: Pattern) -> String {
    p.levels()
        .iter()
        .zip(probity_link::compare::COMPARISONS)
        .map(|(l, c)| format!("{}: {}", c.name, c.levels[*l as usize]))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The identity graph of the store: badge cards, devices and accounts.
pub async fn identity_graph(store: &Store) -> Result<IdentityGraph> {
    let ctx = store.session_context()?;
    let mut holdings = vec![];
    for (kind, query) in [
        (
            Kind::Card,
            "SELECT card_id AS id, person_id, valid_from AS f, valid_to AS t FROM badge_cards",
        ),
        (
            Kind::Device,
            "SELECT device_id AS id, person_id, issued_from AS f, issued_to AS t FROM devices",
        ),
        (
            Kind::Account,
            "SELECT account_id AS id, person_id, CAST(NULL AS DATE) AS f, CAST(NULL AS DATE) AS t FROM accounts",
        ),
    ] {
        for b in &sql(&ctx, query).await? {
            let (id, p) = (strs(b, "id"), strs(b, "person_id"));
            let (f, t) = (dates(b, "f"), dates(b, "t"));
            for i in 0..b.num_rows() {
                holdings.push(Holding {
                    kind,
                    id: id.value(i).to_string(),
                    person: p.value(i).to_string(),
                    from: (!f.is_null(i)).then(|| f.value(i)),
                    to: (!t.is_null(i)).then(|| t.value(i)),
                });
            }
        }
    }
    Ok(IdentityGraph::new(holdings))
}

/// A record's explanation against its best candidates (up to three, the
/// blocked staff members with the highest weights, whatever the decision).
pub struct RecordExplanation {
    /// The record as read.
    pub record: String,
    /// Decision and reason.
    pub decision: Decision,
    /// Why review.
    pub reason: Option<String>,
    /// (stored person key, revealed id if asked, explanation).
    pub pairs: Vec<(String, Option<String>, Explanation)>,
}

/// Explains a record. `reveal` maps stored keys to real ids and shows the
/// staff member's values.
pub async fn explain(
    store: &Store,
    record_id: &str,
    reveal: bool,
    today: Today,
) -> Result<RecordExplanation> {
    let current = compute(store, false, today).await?;
    let Some(links) = current.links.iter().find(|l| l.record == record_id) else {
        return Err(Error::Resolve {
            reason: format!(
                "no reference record has record_id {record_id:?}; ids look like {}",
                current
                    .links
                    .first()
                    .map_or("(the store holds no reference records)".to_string(), |l| l
                        .record
                        .clone())
            ),
        });
    };
    let inputs = &current.inputs;
    let ri = inputs
        .rec_ids
        .iter()
        .position(|r| r == record_id)
        .expect("record present");
    let r = &inputs.records[ri];
    // Blocked candidates with no floor, so a "none" can be explained too.
    let model = &current.saved.model;
    let scorer = Scorer::new(&inputs.staff, model, &current.saved.settings);
    let (cands, _) = scorer.score(std::slice::from_ref(r), 0.0);
    let real = if reveal {
        reveal_map(store).await?
    } else {
        BTreeMap::new()
    };
    let pairs = cands[0]
        .iter()
        .map(|c| {
            let s = &inputs.staff[c.staff as usize];
            let key = inputs.staff_keys[c.staff as usize].clone();
            let cmp = probity_link::compare(r, s);
            (
                key.clone(),
                real.get(&key).cloned(),
                probity_link::explain(model, r, s, cmp, reveal),
            )
        })
        .collect();
    Ok(RecordExplanation {
        record: format!(
            "{} (given {:?}, family {:?}, date of birth {}, postcode {})",
            record_id,
            r.given,
            r.family,
            r.dob.map_or("missing".to_string(), |d| d.to_string()),
            r.postcode.as_deref().unwrap_or("missing")
        ),
        decision: links.decision,
        reason: links.reason.clone(),
        pairs,
    })
}

/// Linkage quality against known true links (`reference_links.csv`:
/// record_id, person_id with real ids; pseudonymised with the store key).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LinkEvaluation {
    /// Auto-links to the right person.
    pub true_links: u64,
    /// Auto-links to a wrong person or to someone for a record of nobody on staff.
    pub false_links: u64,
    /// True links not auto-linked (in review or unlinked).
    pub missed_links: u64,
    /// Records neither linked nor truly staff.
    pub true_non_links: u64,
    /// Records sent to review.
    pub review: u64,
    /// Of which truly staff (and the right person is the best candidate).
    pub review_true: u64,
    /// Precision at the auto-link threshold.
    pub precision: f64,
    /// Recall at the auto-link threshold.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// Evaluates links against a truth file.
pub fn evaluate_links(
    store: &Store,
    links: &[RecordLinks],
    truth: &Path,
) -> Result<LinkEvaluation> {
    let format = |line: usize, reason: String| Error::Format {
        path: truth.to_path_buf(),
        line,
        reason,
    };
    let mut r = csv::Reader::from_path(truth).map_err(|e| format(1, e.to_string()))?;
    let headers = r.headers().map_err(|e| format(1, e.to_string()))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            format(
                1,
                format!("missing column {name}; the header must hold record_id, person_id"),
            )
        })
    };
    let (rc, pc) = (col("record_id")?, col("person_id")?);
    let mut truth_map: HashMap<String, String> = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| format(i + 2, e.to_string()))?;
        let p = store
            .pseudonym_key()
            .pseudonym(probity_core::IdDomain::Person, &rec[pc]);
        truth_map.insert(rec[rc].to_string(), p);
    }
    let mut e = LinkEvaluation::default();
    for l in links {
        let truly = truth_map.get(&l.record);
        match (l.decision, truly) {
            (Decision::Link, Some(p)) if l.candidates[0].person == *p => e.true_links += 1,
            (Decision::Link, Some(_)) => {
                e.false_links += 1;
                e.missed_links += 1;
            }
            (Decision::Link, None) => e.false_links += 1,
            (d, t) => {
                if d == Decision::Review {
                    e.review += 1;
                    if t.is_some_and(|p| l.candidates.first().is_some_and(|c| c.person == *p)) {
                        e.review_true += 1;
                    }
                }
                match t {
                    Some(_) => e.missed_links += 1,
                    None => e.true_non_links += 1,
                }
            }
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    e.precision = ratio(e.true_links, e.true_links + e.false_links);
    e.recall = ratio(e.true_links, e.true_links + e.missed_links);
    e.f1 = if e.precision + e.recall == 0.0 {
        0.0
    } else {
        2.0 * e.precision * e.recall / (e.precision + e.recall)
    };
    Ok(e)
}

/// The map from stored pseudonym to real person id, read from the identity
/// vault. Only an authorised, audited reveal uses it.
pub async fn reveal_map(store: &Store) -> Result<BTreeMap<String, String>> {
    let ctx = SessionContext::new();
    store.register_vault(&ctx)?;
    let mut map = BTreeMap::new();
    for b in &sql(&ctx, "SELECT stored_key, person_id FROM vault_people").await? {
        let (k, p) = (strs(b, "stored_key"), strs(b, "person_id"));
        for i in 0..b.num_rows() {
            map.insert(k.value(i).to_string(), p.value(i).to_string());
        }
    }
    Ok(map)
}
