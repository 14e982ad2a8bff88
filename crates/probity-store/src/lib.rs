//! Probity's analytical store: Parquet files per table (event tables
//! partitioned by month), an identity vault kept apart from them, and a
//! manifest that commits each ingest batch atomically.
//!
//! ```text
//! STORE/
//!   manifest.json          what is committed (the only source of truth)
//!   probity.toml           configuration
//!   governance.toml        what may run, on which data, for how long (probity-policy)
//!   governance.applied     BLAKE3 of the governance file last applied (audited)
//!   users.json             users and roles
//!   audit/                 the hash-chained audit log (probity-audit)
//!   keys/pseudonym.key     the pseudonymisation key (mode 0600)
//!   batches/<id>/data/<table>/[month=YYYY-MM/]part.parquet
//!   batches/<id>/vault/<table>.parquet     identities (names, dates of birth)
//!   batches/<id>/index/<table>.keys        sorted primary-key hashes
//!   quarantine/<id>/<table>.csv            rows refused, with line and reason
//!   staging/<id>/…                         a batch being written (not committed)
//! ```
//!
//! A batch is written under `staging/`, fsynced, then committed by replacing
//! the manifest atomically; only then is it moved to `batches/`. Opening a
//! store for writing finishes or discards whatever a crash left in `staging/`,
//! so a crash at any point leaves the store as it was before the batch, or
//! with the batch fully committed.
//!
//! Queries go through [`Store::session_context`], a DataFusion
//! `SessionContext` with every contract table registered under its name,
//! reading exactly the files the manifest names.
#![deny(missing_docs)]

pub mod cols;
pub mod config;
pub mod fsio;
pub mod keys;
pub mod manifest;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use probity_core::{PseudonymKey, Table, TimeRules};

pub use config::{Config, DetectorSection, ParamValue};
pub use manifest::{BatchEntry, Manifest, SourceFile, TableOutput};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory is not a Probity store.
    #[error("{0} is not a Probity store (no manifest.json); create one with `probity init {0}`")]
    NotAStore(PathBuf),
    /// `init` on a directory that is not empty.
    #[error("{0} already exists and is not empty; choose a new directory for the store")]
    NotEmpty(PathBuf),
    /// A store file is damaged.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A mistake in `probity.toml`.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        reason: String,
    },
    /// Another process holds the write lock.
    #[error("{0} is being written by another probity process; wait for it to finish")]
    Locked(PathBuf),
    /// The governance file is missing or wrong.
    #[error(transparent)]
    Policy(#[from] probity_policy::PolicyError),
    /// The governance file differs from the one last applied.
    #[error(
        "{0} was changed without `probity governance apply`; apply the new file with `probity governance apply FILE --as ADMIN` so that it is validated and recorded on the audit log"
    )]
    GovernanceModified(PathBuf),
    /// The audit log refused an entry or is damaged.
    #[error(transparent)]
    Audit(#[from] probity_audit::Error),
    /// A DataFusion error while registering tables.
    #[error("query engine: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The store crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

const MANIFEST: &str = "manifest.json";
const CONFIG: &str = "probity.toml";
const KEY_FILE: &str = "keys/pseudonym.key";
const GOVERNANCE: &str = "governance.toml";
const GOVERNANCE_APPLIED: &str = "governance.applied";
const USERS: &str = "users.json";
const AUDIT_DIR: &str = "audit";

/// An open store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    config: Config,
    manifest: Manifest,
    key: PseudonymKey,
    lock: Option<File>,
    actor: String,
}

impl Store {
    /// Creates a new store at `root` with one admin user named `admin`; see
    /// [`Store::init_with_admin`].
    pub fn init(root: &Path) -> Result<Store> {
        Store::init_with_admin(root, "admin")
    }

    /// Creates a new store at `root`: layout, empty manifest, a random
    /// pseudonymisation key (mode 0600), the default `probity.toml`, a
    /// governance file approving nothing yet, a user list holding one admin,
    /// and an audit log whose first entry records the creation.
    pub fn init_with_admin(root: &Path, admin: &str) -> Result<Store> {
        if !probity_policy::access::valid_user_id(admin) {
            return Err(Error::Config {
                path: root.join(USERS),
                reason: format!(
                    "{admin:?} is not a valid user id (1-64 of a-z 0-9 . _ -, starting with a letter or digit)"
                ),
            });
        }
        if root.exists() {
            let mut entries = fs::read_dir(root).map_err(|e| Error::io(root, e))?;
            if entries.next().is_some() {
                return Err(Error::NotEmpty(root.to_path_buf()));
            }
        }
        for dir in ["", "keys", "batches", "quarantine", "staging"] {
            let d = root.join(dir);
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        // The key, and quarantined rows (kept exactly as read, identities
        // included), are for the store's owner only.
        restrict_dir(&root.join("keys"))?;
        restrict_dir(&root.join("quarantine"))?;
        let mut secret = [0u8; 32];
        getrandom(&mut secret).map_err(|e| Error::io(&root.join(KEY_FILE), e))?;
        let key = PseudonymKey::from_bytes(secret);
        fsio::create_private(&root.join(KEY_FILE), key.to_hex().as_bytes())?;
        fsio::write_atomic(&root.join(CONFIG), config::DEFAULT_CONFIG.as_bytes())?;
        let gov = probity_policy::TEMPLATE_HEAD.as_bytes();
        fsio::write_atomic(&root.join(GOVERNANCE), gov)?;
        fsio::write_atomic(
            &root.join(GOVERNANCE_APPLIED),
            blake3::hash(gov).to_hex().as_bytes(),
        )?;
        let now = jiff::Timestamp::now().to_string();
        let users = probity_policy::Users {
            users: vec![probity_policy::User {
                id: admin.to_string(),
                role: probity_policy::Role::Admin,
                person: None,
                disabled: false,
                added_at: now,
                added_by: "probity init".into(),
                password_hash: None,
                password_set_at: None,
                sso_subject: None,
            }],
        };
        fsio::write_atomic(&root.join(USERS), users.to_json().as_bytes())?;
        let mut log = probity_audit::AuditLog::open(&root.join(AUDIT_DIR))?;
        log.append(
            probity_audit::Record::new(os_actor(), "store.init", "").details(serde_json::json!({
                "admin": admin,
                "governance_blake3": blake3::hash(gov).to_hex().as_str(),
                "users_blake3": users_blake3(&users),
            })),
        )?;
        let manifest = Manifest {
            format_version: manifest::FORMAT_VERSION,
            batches: vec![],
            location_facts: vec![],
        };
        // The manifest is written last: a store exists once it does.
        manifest.store(&root.join(MANIFEST))?;
        fsio::fsync_dir(root)?;
        Store::open_for_write(root)
    }

    /// Opens a store for reading. If no writer is active, first finishes or
    /// discards whatever an interrupted batch left behind.
    pub fn open(root: &Path) -> Result<Store> {
        match Store::open_for_write(root) {
            Ok(mut s) => {
                s.lock = None;
                Ok(s)
            }
            Err(Error::Locked(_)) => Store::open_unlocked(root),
            Err(e) => Err(e),
        }
    }

    /// Opens a store for writing: takes the store's write lock (released when
    /// the process ends, however it ends) and recovers from any interrupted
    /// batch.
    pub fn open_for_write(root: &Path) -> Result<Store> {
        if !root.join(MANIFEST).is_file() {
            return Err(Error::NotAStore(root.to_path_buf()));
        }
        let lock_path = root.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(root.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let mut store = Store::open_unlocked(root)?;
        store.lock = Some(lock);
        store.recover()?;
        Ok(store)
    }

    fn open_unlocked(root: &Path) -> Result<Store> {
        if !root.join(MANIFEST).is_file() {
            return Err(Error::NotAStore(root.to_path_buf()));
        }
        let manifest = Manifest::load(&root.join(MANIFEST))?;
        let config = Config::load(&root.join(CONFIG))?;
        let key_path = root.join(KEY_FILE);
        let key_text = fs::read_to_string(&key_path).map_err(|e| Error::io(&key_path, e))?;
        let key = PseudonymKey::from_hex(&key_text).ok_or_else(|| Error::Corrupt {
            path: key_path.clone(),
            reason: "pseudonymisation key is not 64 hex digits".into(),
        })?;
        Ok(Store {
            root: root.to_path_buf(),
            config,
            manifest,
            key,
            lock: None,
            actor: os_actor(),
        })
    }

    /// Sets who the store's own audit entries (ingest batches) name as the
    /// actor; by default the operating-system user.
    pub fn set_actor(&mut self, actor: &str) {
        self.actor = actor.to_string();
    }

    /// The actor of the store's own audit entries.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Finishes committed batches whose files were not yet moved out of
    /// `staging/`, and deletes uncommitted ones; either way the audit log is
    /// brought in line (`ingest.commit` marked recovered, or
    /// `ingest.abandoned`).
    fn recover(&mut self) -> Result<()> {
        let _ = fs::remove_file(self.root.join("manifest.tmp"));
        let staging = self.root.join("staging");
        fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        for entry in fs::read_dir(&staging).map_err(|e| Error::io(&staging, e))? {
            let entry = entry.map_err(|e| Error::io(&staging, e))?;
            let id = entry.file_name().to_string_lossy().into_owned();
            if self.manifest.batches.iter().any(|b| b.id == id) {
                if self.audit_dir().exists() && !self.audited_commit(&id)? {
                    self.audit()?.append(
                        probity_audit::Record::new("probity", "ingest.commit", &id).details(
                            serde_json::json!({
                                "recovered": true,
                                "note": "the batch was committed before an interruption; recorded on recovery",
                            }),
                        ),
                    )?;
                }
                self.publish(&id)?;
            } else {
                let p = entry.path();
                fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                if self.audit_dir().exists() {
                    self.audit()?.append(
                        probity_audit::Record::new("probity", "ingest.abandoned", &id).details(
                            serde_json::json!({
                                "note": "an interrupted batch was never committed; its files were discarded and the store is as it was",
                            }),
                        ),
                    )?;
                }
            }
        }
        fsio::fsync_dir(&staging)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The time rules of the dataset.
    pub fn time_rules(&self) -> TimeRules {
        TimeRules::new(&self.config.dataset.time_zone).expect("validated when loaded")
    }

    /// The committed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The pseudonymisation key.
    pub fn pseudonym_key(&self) -> &PseudonymKey {
        &self.key
    }

    /// The pseudonym of a person id in this store.
    pub fn person_pseudonym(&self, person_id: &str) -> String {
        self.key
            .pseudonym(probity_core::IdDomain::Person, person_id)
    }

    /// The governance file's path.
    pub fn governance_path(&self) -> PathBuf {
        self.root.join(GOVERNANCE)
    }

    /// The governance file's text and BLAKE3, refused if it is not the file
    /// last applied with `probity governance apply`.
    pub fn governance_text(&self) -> Result<(String, String)> {
        let path = self.governance_path();
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
        let applied_path = self.root.join(GOVERNANCE_APPLIED);
        let applied = fs::read_to_string(&applied_path).map_err(|e| Error::io(&applied_path, e))?;
        if applied.trim() != hash {
            return Err(Error::GovernanceModified(path));
        }
        Ok((text, hash))
    }

    /// The governance policy in force (validated; refused if edited
    /// outside `probity governance apply`).
    pub fn governance(&self) -> Result<probity_policy::Governance> {
        let (text, _) = self.governance_text()?;
        Ok(probity_policy::Governance::parse(
            &text,
            &self.governance_path(),
        )?)
    }

    /// Installs a new governance file (already validated by the caller,
    /// who also records it on the audit log): write it, then the hash that
    /// marks it applied. Returns the hash.
    pub fn install_governance(&self, text: &str) -> Result<String> {
        probity_policy::Governance::parse(text, &self.governance_path())?;
        let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
        fsio::write_atomic(&self.governance_path(), text.as_bytes())?;
        fsio::write_atomic(&self.root.join(GOVERNANCE_APPLIED), hash.as_bytes())?;
        Ok(hash)
    }

    /// The users and their roles.
    pub fn users(&self) -> Result<probity_policy::Users> {
        let path = self.root.join(USERS);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        probity_policy::Users::parse(&text).map_err(|reason| Error::Corrupt { path, reason })
    }

    /// Replaces the user list atomically.
    pub fn save_users(&self, users: &probity_policy::Users) -> Result<()> {
        fsio::write_atomic(&self.root.join(USERS), users.to_json().as_bytes())
    }

    /// The audit log's directory.
    pub fn audit_dir(&self) -> PathBuf {
        self.root.join(AUDIT_DIR)
    }

    /// Opens the audit log for appending.
    pub fn audit(&self) -> Result<probity_audit::AuditLog> {
        Ok(probity_audit::AuditLog::open(&self.audit_dir())?)
    }

    /// Starts a new batch in `staging/`. Requires the write lock.
    pub fn begin_batch(&self) -> Result<StagedBatch> {
        assert!(
            self.lock.is_some(),
            "begin_batch needs open_for_write (a bug)"
        );
        let id = self.manifest.next_batch_id();
        let dir = self.root.join("staging").join(&id);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(StagedBatch { id, dir })
    }

    /// Discards a staged batch (the store stays as it was).
    pub fn abort(&self, batch: StagedBatch) -> Result<()> {
        fs::remove_dir_all(&batch.dir).map_err(|e| Error::io(&batch.dir, e))
    }

    /// Commits a staged batch: makes its files durable, then replaces the
    /// manifest atomically (the commit point), then moves the files into
    /// place.
    ///
    /// The audit log records the intent (`ingest.begin`, with sources and
    /// row counts) durably before the commit point and the commit
    /// (`ingest.commit`) after it; recovery reconciles the log with the
    /// manifest if a crash falls between them.
    pub fn commit(&mut self, batch: StagedBatch, entry: BatchEntry) -> Result<()> {
        assert_eq!(batch.id, entry.id, "batch entry for another batch (a bug)");
        fsio::fsync_tree(&batch.dir)?;
        let mut log = self.audit()?;
        let tables: serde_json::Map<String, serde_json::Value> = entry
            .tables
            .iter()
            .map(|(t, o)| {
                (
                    t.clone(),
                    serde_json::json!({
                        "read": o.rows_read,
                        "stored": o.rows_stored,
                        "quarantined": o.rows_quarantined,
                        "minimised": o.rows_minimised,
                    }),
                )
            })
            .collect();
        let sources: Vec<serde_json::Value> = entry
            .sources
            .iter()
            .map(|f| serde_json::json!({"file": f.name, "blake3": f.blake3, "bytes": f.bytes}))
            .collect();
        log.append(
            probity_audit::Record::new(&self.actor, "ingest.begin", &entry.id).details(
                serde_json::json!({"source": entry.source, "files": sources, "tables": tables}),
            ),
        )?;
        fsio::failpoint("before-commit");
        let mut next = self.manifest.clone();
        next.batches.push(entry);
        next.store(&self.root.join(MANIFEST))?;
        self.manifest = next;
        fsio::failpoint("after-commit");
        log.append(probity_audit::Record::new(
            &self.actor,
            "ingest.commit",
            &batch.id,
        ))?;
        self.publish(&batch.id)
    }

    /// Whether the audit log records the commit of batch `id`.
    fn audited_commit(&self, id: &str) -> Result<bool> {
        let filter = probity_audit::Filter {
            action: Some("ingest.commit".into()),
            object: Some(id.to_string()),
            ..Default::default()
        };
        match probity_audit::read(&self.audit_dir(), &filter)?.next() {
            Some(e) => e.map(|_| true).map_err(Error::from),
            None => Ok(false),
        }
    }

    /// Moves a committed batch from `staging/` to its final place. Safe to
    /// repeat after a crash part-way through.
    fn publish(&self, id: &str) -> Result<()> {
        let staged = self.root.join("staging").join(id);
        let staged_q = staged.join("quarantine");
        if staged_q.exists() {
            let qroot = self.root.join("quarantine");
            fs::create_dir_all(&qroot).map_err(|e| Error::io(&qroot, e))?;
            let dest = qroot.join(id);
            fs::rename(&staged_q, &dest).map_err(|e| Error::io(&dest, e))?;
            fsio::fsync_dir(&qroot)?;
            fsio::failpoint("mid-publish");
        }
        let broot = self.root.join("batches");
        fs::create_dir_all(&broot).map_err(|e| Error::io(&broot, e))?;
        let dest = broot.join(id);
        if staged.exists() {
            fs::rename(&staged, &dest).map_err(|e| Error::io(&dest, e))?;
        }
        fsio::fsync_dir(&broot)?;
        fsio::fsync_dir(&self.root.join("staging"))
    }

    /// Absolute path of a store-relative path from the manifest.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A DataFusion session with every contract table registered under its
    /// name. Tables never ingested are registered empty, with their schema.
    pub fn session_context(&self) -> Result<SessionContext> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let ctx = SessionContext::new_with_config(config);
        for table in Table::ALL {
            let files = self.manifest.data_files(table.name());
            self.register_files(&ctx, table.name(), table.def().stored_schema(), &files)?;
        }
        let facts: Vec<&str> = self
            .manifest
            .location_facts
            .iter()
            .map(String::as_str)
            .collect();
        self.register_files(&ctx, LOCATION_FACTS, location_facts_schema(), &facts)?;
        Ok(ctx)
    }

    /// Commits a retention or minimisation change atomically: data files
    /// replaced by filtered copies (already written and fsynced at their
    /// final paths) or dropped, derived location facts added, quarantine
    /// files dropped. The manifest is the commit point; the old files are
    /// deleted after it, and [`Store::sweep_unreferenced`] deletes any a
    /// crash left behind.
    pub fn retire(&mut self, r: &Retirement) -> Result<()> {
        assert!(self.lock.is_some(), "retire needs open_for_write (a bug)");
        let mut next = self.manifest.clone();
        for b in &mut next.batches {
            for out in b.tables.values_mut() {
                let mut files = vec![];
                for f in &out.data_files {
                    match r.replace.iter().find(|x| &x.old == f) {
                        Some(x) => {
                            out.rows_retired += x.rows_removed;
                            files.extend(x.new.clone());
                        }
                        None => files.push(f.clone()),
                    }
                }
                out.data_files = files;
                if out
                    .quarantine_file
                    .as_ref()
                    .is_some_and(|q| r.drop_quarantine.contains(q))
                {
                    out.quarantine_file = None;
                }
            }
        }
        next.location_facts.extend(r.location_facts.iter().cloned());
        fsio::failpoint("retention.before-commit");
        next.store(&self.root.join(MANIFEST))?;
        self.manifest = next;
        fsio::failpoint("retention.after-commit");
        self.sweep_unreferenced()?;
        Ok(())
    }

    /// Deletes data and quarantine files under the store that the manifest
    /// no longer names (left by a retention run interrupted after its
    /// commit). Returns how many were deleted.
    pub fn sweep_unreferenced(&self) -> Result<usize> {
        let mut keep: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        for b in &self.manifest.batches {
            for out in b.tables.values() {
                for f in out
                    .data_files
                    .iter()
                    .chain(&out.vault_files)
                    .chain(out.quarantine_file.iter())
                    .chain(out.key_index.iter())
                {
                    keep.insert(self.root.join(f));
                }
            }
        }
        for f in &self.manifest.location_facts {
            keep.insert(self.root.join(f));
        }
        let mut deleted = 0;
        for dir in ["batches", "quarantine", "derived"] {
            let d = self.root.join(dir);
            if d.exists() {
                deleted += sweep(&d, &keep)?;
            }
        }
        Ok(deleted)
    }

    /// Registers Parquet files of the store as one table with a fixed
    /// schema, or an empty table with that schema when there are none.
    fn register_files(
        &self,
        ctx: &SessionContext,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        files: &[&str],
    ) -> Result<()> {
        if files.is_empty() {
            let empty = MemTable::try_new(schema, vec![vec![]])?;
            ctx.register_table(name, Arc::new(empty))?;
            return Ok(());
        }
        let urls = files
            .iter()
            .map(|f| ListingTableUrl::parse(self.path(f).to_string_lossy()))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
        Ok(())
    }

    /// Registers the identity vault of every table that has one as
    /// `vault_<table>` (real key, `stored_key`, identifying columns). Only
    /// code with a need for identities (record linkage, an authorised reveal)
    /// calls this; the analytical session never sees the vault.
    pub fn register_vault(&self, ctx: &SessionContext) -> Result<()> {
        for table in Table::ALL {
            let Some(schema) = table.def().vault_schema() else {
                continue;
            };
            let name = format!("vault_{}", table.name());
            let files = self.manifest.vault_files(table.name());
            self.register_files(ctx, &name, schema, &files)?;
        }
        Ok(())
    }
}

/// The derived table of per-shift location facts.
pub const LOCATION_FACTS: &str = "location_facts";

/// Schema of `location_facts`: per shift, how many of the holder's device
/// pings fell within it (with the grace) and how many of those were on a
/// site. Written by minimisation when raw pings are deleted.
pub fn location_facts_schema() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("shift_id", DataType::Utf8, false),
        Field::new("person_id", DataType::Utf8, false),
        Field::new("start", ts.clone(), false),
        Field::new("end", ts, false),
        Field::new("pings", DataType::Int64, false),
        Field::new("on_site_pings", DataType::Int64, false),
    ]))
}

/// One data file a retention run replaces.
#[derive(Debug, Clone)]
pub struct Replacement {
    /// The file now in the manifest (store-relative).
    pub old: String,
    /// Its filtered copy, or `None` when no row is kept.
    pub new: Option<String>,
    /// Rows removed.
    pub rows_removed: u64,
}

/// A retention or minimisation change, committed by [`Store::retire`].
#[derive(Debug, Clone, Default)]
pub struct Retirement {
    /// Data files replaced or dropped.
    pub replace: Vec<Replacement>,
    /// New location-fact files (store-relative).
    pub location_facts: Vec<String>,
    /// Quarantine files dropped (store-relative).
    pub drop_quarantine: Vec<String>,
}

fn sweep(dir: &Path, keep: &std::collections::HashSet<PathBuf>) -> Result<usize> {
    let mut deleted = 0;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let p = entry.path();
        let ty = entry.file_type().map_err(|e| Error::io(&p, e))?;
        if ty.is_dir() {
            deleted += sweep(&p, keep)?;
            if fs::read_dir(&p)
                .map_err(|e| Error::io(&p, e))?
                .next()
                .is_none()
            {
                fs::remove_dir(&p).map_err(|e| Error::io(&p, e))?;
            }
        } else if !keep.contains(&p) {
            fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            deleted += 1;
        }
    }
    fsio::fsync_dir(dir)?;
    Ok(deleted)
}

/// A batch being written in `staging/<id>/`.
#[derive(Debug)]
pub struct StagedBatch {
    id: String,
    dir: PathBuf,
}

impl StagedBatch {
    /// The batch id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn place(&self, staged_rel: String, final_rel: String) -> Result<(PathBuf, String)> {
        let abs = self.dir.join(&staged_rel);
        if let Some(parent) = abs.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        Ok((abs, final_rel))
    }

    /// Where to write a table's analytical Parquet part (`month` as
    /// `YYYY-MM` for partitioned tables): the staging path, and the
    /// store-relative path it will have once committed.
    pub fn data_file(&self, table: Table, month: Option<&str>) -> Result<(PathBuf, String)> {
        let sub = match month {
            Some(m) => format!("data/{}/month={m}/part.parquet", table.name()),
            None => format!("data/{}/part.parquet", table.name()),
        };
        self.place(sub.clone(), format!("batches/{}/{sub}", self.id))
    }

    /// Where to write a table's identity-vault part.
    pub fn vault_file(&self, table: Table) -> Result<(PathBuf, String)> {
        let sub = format!("vault/{}.parquet", table.name());
        let out = self.place(sub.clone(), format!("batches/{}/{sub}", self.id))?;
        restrict_dir(&self.dir.join("vault"))?;
        Ok(out)
    }

    /// Where to write a table's primary-key index.
    pub fn key_index_file(&self, table: Table) -> Result<(PathBuf, String)> {
        let sub = format!("index/{}.keys", table.name());
        self.place(sub.clone(), format!("batches/{}/{sub}", self.id))
    }

    /// Where to write a table's quarantined rows.
    pub fn quarantine_file(&self, table: Table) -> Result<(PathBuf, String)> {
        let name = format!("{}.csv", table.name());
        self.place(
            format!("quarantine/{name}"),
            format!("quarantine/{}/{name}", self.id),
        )
    }
}

fn restrict_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// BLAKE3 (hex) of `users.json` as [`Store::save_users`] writes `users`: the
/// hash user changes record on the audit log, and `audit verify` checks the
/// file against.
pub fn users_blake3(users: &probity_policy::Users) -> String {
    blake3::hash(users.to_json().as_bytes())
        .to_hex()
        .to_string()
}

/// The operating-system user running this process, as an audit actor
/// (`os:<name>`), for actions taken without `--as`.
pub fn os_actor() -> String {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("os:{name}")
}

/// Fills `buf` from the operating system's random source.
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    File::open("/dev/urandom")?.read_exact(buf)
}
