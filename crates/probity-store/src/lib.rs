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
//!   keys/vault.key         the identity vault's key (mode 0600), unless kept
//!                          outside the store (PROBITY_VAULT_KEY_FILE)
//!   batches/<id>/data/<table>/[month=YYYY-MM/]part[-N].parquet
//!   batches/<id>/vault/<table>.parquet.enc identities (real ids, names, dates
//!                          of birth), sealed with the vault key
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
//!
//! # The identity vault and its key
//!
//! Identities are encrypted at rest ([`vault`]: XChaCha20-Poly1305, a random
//! nonce per file, each file bound to its path in the store) under a 256-bit
//! key kept apart from the pseudonymisation key. `probity init` creates it
//! at `STORE/keys/vault.key` (mode 0600). To keep it outside the store, set
//! the environment variable **`PROBITY_VAULT_KEY_FILE`** to the key file's
//! path for every probity command (`init` creates the key there, or uses the
//! key already there); the store then holds no copy. Back the key file up
//! apart from the store: without it identities cannot be read (reveals,
//! record linkage, subject reports), while pseudonymised analysis, which
//! never opens the vault, still works. Only [`Store::register_vault`] reads
//! the vault, decrypting in memory; nothing decrypted is written to disk.
//! Vault files of stores written before encryption (plain Parquet) are still
//! read; [`Store::seal_plain_vault`] encrypts them.
#![deny(missing_docs)]

pub mod cols;
pub mod config;
pub mod fsio;
pub mod keys;
pub mod manifest;
pub mod vault;

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

/// What to do about a path that is not a store: the store next to it whose
/// name is closest (a typo), or how to create one.
fn not_a_store_hint(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let parent = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => Path::new("."),
    };
    let close = name.as_deref().and_then(|name| {
        fs::read_dir(parent)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(MANIFEST).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .map(|other| (strsim::levenshtein(name, &other), other))
            .filter(|(d, other)| *d <= 2.max(other.len() / 4))
            .min()
            .map(|(_, other)| other)
    });
    match close {
        Some(other) => format!("did you mean {}?", path.with_file_name(other).display()),
        None if path.exists() => format!(
            "if it should be one, create it with `probity init {}` (a new folder, or an empty one)",
            path.display()
        ),
        None => format!("create one with `probity init {}`", path.display()),
    }
}

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
    #[error("{} is not a Probity store ({}); {}", .0.display(), if .0.exists() { "no manifest.json in it" } else { "no such folder" }, not_a_store_hint(.0))]
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
    /// The identity vault's key file is not where it is expected.
    #[error(
        "the identity vault's key is missing: expected at {key} (STORE/keys/vault.key, or the file PROBITY_VAULT_KEY_FILE names). Without it identities (real ids, names, dates of birth) cannot be read, so reveals, record linkage (`probity resolve` and detectors that use identities) and subject reports cannot run, and no identities can be ingested; pseudonymised analysis still works. Restore the key file from the store's backup to {key} (mode 0600), or set PROBITY_VAULT_KEY_FILE to where it is kept"
    )]
    VaultKeyMissing {
        /// Where the key was expected.
        key: PathBuf,
    },
    /// The vault key does not open this store's vault.
    #[error(
        "the identity vault's key at {key} does not match this store's vault ({file} was sealed with another key): identities cannot be read with it. Restore this store's own vault key from backup to {key}, or set PROBITY_VAULT_KEY_FILE to it; pseudonymised analysis still works"
    )]
    VaultKeyMismatch {
        /// The key file used.
        key: PathBuf,
        /// A vault file it does not open.
        file: PathBuf,
    },
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
        private_umask();
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
        // The store is its owner's alone: an existing (empty) folder may
        // have been created open to other accounts.
        restrict_dir(root)?;
        // The key, and quarantined rows (kept exactly as read, identities
        // included), are for the store's owner only.
        restrict_dir(&root.join("keys"))?;
        restrict_dir(&root.join("quarantine"))?;
        let mut secret = [0u8; 32];
        getrandom(&mut secret).map_err(|e| Error::io(&root.join(KEY_FILE), e))?;
        let key = PseudonymKey::from_bytes(secret);
        fsio::create_private(&root.join(KEY_FILE), key.to_hex().as_bytes())?;
        // The identity vault's key, apart from the pseudonymisation key (and
        // from the store when PROBITY_VAULT_KEY_FILE names another place).
        vault::init_key(&vault::key_file(root))?;
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
                // The account that created the store is the first admin.
                os_uid: Some(real_uid()),
            }],
        };
        fsio::write_atomic(&root.join(USERS), users.to_json().as_bytes())?;
        // The configuration just written is the default one.
        let mut log = open_audit(root, &Config::default())?;
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
        private_umask();
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
        private_umask();
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

    /// Opens the audit log for appending, with the store's anchor sinks
    /// ([`Store::anchor_sinks`]): the head after every append batch is
    /// anchored outside the store's audit files.
    pub fn audit(&self) -> Result<probity_audit::AuditLog> {
        open_audit(&self.root, &self.config)
    }

    /// Where the audit log's head is anchored after every append batch:
    /// the review database (`[audit] anchor_database`, by default the
    /// store's own `review.sqlite`), once the process has installed its
    /// sink ([`install_anchor_database`]), and the anchor file (`[audit]
    /// anchor_file`), if configured.
    pub fn anchor_sinks(&self) -> Vec<Arc<dyn probity_audit::AnchorSink>> {
        anchor_sinks(&self.root, &self.config)
    }

    /// Verifies the audit log: its chain and head file, every anchor kept
    /// in the store's anchor sinks, and `given` (`--anchor SEQ:HASH`).
    ///
    /// The anchors are read first, then the log: the log only grows, so an
    /// append running meanwhile cannot look like a truncation. A sink that
    /// cannot be read leaves the report inconclusive (not intact), naming
    /// it in [`probity_audit::VerifyReport::anchor_problems`].
    pub fn verify_audit(
        &self,
        given: Option<&probity_audit::Anchor>,
    ) -> Result<probity_audit::VerifyReport> {
        let mut anchors = match given {
            Some(a) => probity_audit::Anchors::given(a.clone()),
            None => probity_audit::Anchors::new(),
        };
        for sink in self.anchor_sinks() {
            anchors.read_from(sink.as_ref());
        }
        Ok(probity_audit::verify_with_anchors(
            &self.audit_dir(),
            &anchors,
        )?)
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
        let vault = VaultSink {
            root: self.root.clone(),
            key_file: self.vault_key_file(),
            existing: self.manifest_vault_files(),
            actor: self.actor.clone(),
            config: self.config.clone(),
            key: std::sync::Mutex::new(None),
        };
        Ok(StagedBatch { id, dir, vault })
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
        let scratch = batch.dir.join(SCRATCH);
        if scratch.exists() {
            fs::remove_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
        }
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
        self.session_of(|table| self.manifest.data_files(table))
    }

    /// A DataFusion session over what one committed batch added: each
    /// table registered from that batch's files only (empty if it added
    /// none). `None` if the store has no batch `id`.
    pub fn batch_session(&self, id: &str) -> Result<Option<SessionContext>> {
        let Some(batch) = self.manifest.batches.iter().find(|b| b.id == id) else {
            return Ok(None);
        };
        self.session_of(|table| {
            batch
                .tables
                .get(table)
                .map(|t| t.data_files.iter().map(String::as_str).collect())
                .unwrap_or_default()
        })
        .map(Some)
    }

    fn session_of<'a>(&'a self, files: impl Fn(&str) -> Vec<&'a str>) -> Result<SessionContext> {
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
        // A join whose build side is small (a detector's candidate windows,
        // a few weeks of roster edits) is built once and probed by every
        // partition of the large side as it streams, rather than both sides
        // being hash-repartitioned first (DataFusion's defaults, 1 MB or 128k
        // rows, send a quarter's roster edits through a repartition of every
        // shift of the quarter).
        let opt = &mut config.options_mut().optimizer;
        opt.hash_join_single_partition_threshold = 16 << 20;
        opt.hash_join_single_partition_threshold_rows = 1 << 20;
        let ctx = SessionContext::new_with_config(config);
        for table in Table::ALL {
            let files = files(table.name());
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
            // An `EmptyTable` (not an empty in-memory table) so that plans
            // over it can be sent to a cluster.
            let empty = datafusion::datasource::empty::EmptyTable::new(schema);
            ctx.register_table(name, Arc::new(empty))?;
            return Ok(());
        }
        // Text is read as string views: a dictionary-encoded column then
        // points into its dictionary page instead of copying every value
        // into a new buffer (11% of a year's overtime analysis at Met size).
        let schema = as_string_views(&schema);
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
    /// code with a need for identities (record linkage, an authorised reveal,
    /// a subject report) calls this; the analytical session never sees the
    /// vault.
    ///
    /// The vault files are decrypted in memory and registered as in-memory
    /// tables (the vault is small: one row per person or record); nothing
    /// decrypted touches the disk. Fails with [`Error::VaultKeyMissing`] or
    /// [`Error::VaultKeyMismatch`] when the vault key cannot open them.
    pub fn register_vault(&self, ctx: &SessionContext) -> Result<()> {
        let mut keys = vault::KeySlot::new(self.vault_key_file());
        for table in Table::ALL {
            let Some(schema) = table.def().vault_schema() else {
                continue;
            };
            let mut batches = vec![];
            for rel in self.manifest.vault_files(table.name()) {
                batches.extend(vault::read_batches(
                    &mut keys,
                    &self.path(rel),
                    rel,
                    &schema,
                )?);
            }
            let name = format!("vault_{}", table.name());
            ctx.register_table(&name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
        }
        Ok(())
    }

    /// Where this store's vault key is read from: the file
    /// `PROBITY_VAULT_KEY_FILE` names, or `STORE/keys/vault.key`.
    pub fn vault_key_file(&self) -> PathBuf {
        vault::key_file(&self.root)
    }

    /// Encrypts the vault files a store written before vault encryption
    /// holds as plain Parquet: each is sealed at a new path
    /// (`….parquet.enc`), one manifest write swaps them in, and the plain
    /// files are deleted after it (as [`Store::retire`] does). Creates the
    /// vault key if the store has none and no sealed file. Returns how many
    /// files were sealed. Requires [`Store::open_for_write`].
    pub fn seal_plain_vault(&mut self) -> Result<usize> {
        assert!(
            self.lock.is_some(),
            "seal_plain_vault needs open_for_write (a bug)"
        );
        let mut plain = vec![];
        for b in &self.manifest.batches {
            for out in b.tables.values() {
                for rel in &out.vault_files {
                    if vault::kind_of_file(&self.path(rel))? == vault::Kind::Plain {
                        plain.push(rel.clone());
                    }
                }
            }
        }
        if plain.is_empty() {
            return Ok(0);
        }
        let key = self.vault_key_for_write()?;
        let mut renamed = vec![];
        for rel in &plain {
            let new_rel = format!(
                "{}{}",
                rel.strip_suffix(".parquet").unwrap_or(rel),
                vault::SEALED_SUFFIX
            );
            let abs = self.path(rel);
            let bytes = fs::read(&abs).map_err(|e| Error::io(&abs, e))?;
            let new_abs = self.path(&new_rel);
            // A copy left by an interrupted run is not in the manifest:
            // replace it.
            let _ = fs::remove_file(&new_abs);
            fsio::create_private(&new_abs, &vault::seal(&key, &new_rel, bytes)?)?;
            fsio::fsync_dir(new_abs.parent().unwrap_or(&self.root))?;
            renamed.push((rel.clone(), new_rel));
        }
        let mut next = self.manifest.clone();
        for b in &mut next.batches {
            for out in b.tables.values_mut() {
                for f in &mut out.vault_files {
                    if let Some((_, new)) = renamed.iter().find(|(old, _)| old == f) {
                        *f = new.clone();
                    }
                }
            }
        }
        next.store(&self.root.join(MANIFEST))?;
        self.manifest = next;
        self.audit()?.append(
            probity_audit::Record::new(&self.actor, "vault.seal", "").details(serde_json::json!({
                "files": renamed.iter().map(|(_, n)| n).collect::<Vec<_>>(),
                "key_id": key.id_hex(),
            })),
        )?;
        self.sweep_unreferenced()?;
        Ok(renamed.len())
    }

    /// The vault key to seal new vault files with: the key file's key,
    /// checked against the vault files already sealed; a new key if there
    /// is none and no vault file is sealed yet (a store from before vault
    /// encryption, or whose vault is empty), recorded on the audit log.
    fn vault_key_for_write(&self) -> Result<vault::VaultKey> {
        vault_key_for_write(
            &self.root,
            &self.vault_key_file(),
            &self.manifest_vault_files(),
            &self.actor,
            &|| self.audit(),
        )
    }

    fn manifest_vault_files(&self) -> Vec<String> {
        self.manifest
            .batches
            .iter()
            .flat_map(|b| b.tables.values())
            .flat_map(|t| t.vault_files.iter().cloned())
            .collect()
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
    vault: VaultSink,
}

/// What a batch needs to seal its vault files: the key, read (or, for a
/// store without one, created) when the first vault file is written, so
/// that a batch without identities needs no vault key.
#[derive(Debug)]
struct VaultSink {
    root: PathBuf,
    key_file: PathBuf,
    existing: Vec<String>,
    actor: String,
    /// For the audit log's anchor sinks.
    config: Config,
    key: std::sync::Mutex<Option<vault::VaultKey>>,
}

impl VaultSink {
    fn key(&self) -> Result<vault::VaultKey> {
        // Tables are written in parallel: the lock also keeps two of them
        // from creating a key at once.
        let mut slot = self.key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let k = vault_key_for_write(
            &self.root,
            &self.key_file,
            &self.existing,
            &self.actor,
            &|| open_audit(&self.root, &self.config),
        )?;
        *slot = Some(k.clone());
        Ok(k)
    }
}

/// See [`Store::vault_key_for_write`].
fn vault_key_for_write(
    root: &Path,
    key_file: &Path,
    existing: &[String],
    actor: &str,
    audit: &dyn Fn() -> Result<probity_audit::AuditLog>,
) -> Result<vault::VaultKey> {
    let mut sealed = vec![];
    for rel in existing {
        let abs = root.join(rel);
        if let vault::Kind::Sealed(id) = vault::kind_of_file(&abs)? {
            sealed.push((abs, id));
        }
    }
    match vault::load_key(key_file) {
        Ok(key) => {
            // Never seal new identities under a second key.
            match sealed.into_iter().find(|(_, id)| *id != key.id()) {
                Some((file, _)) => Err(Error::VaultKeyMismatch {
                    key: key_file.to_path_buf(),
                    file,
                }),
                None => Ok(key),
            }
        }
        // A lost key is not replaced while a sealed file needs it.
        Err(Error::VaultKeyMissing { .. }) if sealed.is_empty() => {
            let key = vault::create_key(key_file)?;
            audit()?.append(
                probity_audit::Record::new(actor, "vault.key.create", "").details(
                    serde_json::json!({
                        "key_file": key_file.display().to_string(),
                        "key_id": key.id_hex(),
                        "note": "the store had no vault key and no sealed vault file (created before vault encryption)",
                    }),
                ),
            )?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// A staged batch's directory of temporary files.
const SCRATCH: &str = "scratch";

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
        self.data_file_part(table, month, 0)
    }

    /// Like [`StagedBatch::data_file`], for the `part`-th of several files
    /// of the same table and month written side by side (`part.parquet`,
    /// `part-1.parquet`, …).
    pub fn data_file_part(
        &self,
        table: Table,
        month: Option<&str>,
        part: usize,
    ) -> Result<(PathBuf, String)> {
        let file = match part {
            0 => "part.parquet".to_string(),
            n => format!("part-{n}.parquet"),
        };
        let sub = match month {
            Some(m) => format!("data/{}/month={m}/{file}", table.name()),
            None => format!("data/{}/{file}", table.name()),
        };
        self.place(sub.clone(), format!("batches/{}/{sub}", self.id))
    }

    /// Seals a table's identity-vault part (a whole Parquet file, built in
    /// memory) with the vault key and writes it (mode 0600); returns its
    /// store-relative path once committed. The plaintext never reaches the
    /// disk. Fails with [`Error::VaultKeyMissing`] when the store's vault
    /// has sealed files and the key is lost, and [`Error::VaultKeyMismatch`]
    /// when the key file holds another key than theirs.
    pub fn write_vault(&self, table: Table, parquet: Vec<u8>) -> Result<String> {
        let sub = format!("vault/{}{}", table.name(), vault::SEALED_SUFFIX);
        let (abs, rel) = self.place(sub.clone(), format!("batches/{}/{sub}", self.id))?;
        restrict_dir(&self.dir.join("vault"))?;
        let key = self.vault.key()?;
        fsio::create_private(&abs, &vault::seal(&key, &rel, parquet)?)?;
        Ok(rel)
    }

    /// A directory for a job's temporary files (sorted runs of keys), on
    /// the store's disk; removed, with whatever is left in it, before the
    /// batch is committed.
    pub fn scratch_dir(&self) -> Result<PathBuf> {
        let dir = self.dir.join(SCRATCH);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir)
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

/// Sets the process's umask to 077, so every file and folder it creates
/// (store files, reports, exports, temporary files) is its owner's alone
/// (0600/0700). Called whenever a store is created or opened; front ends
/// call it first thing too.
pub fn private_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// The process's real uid (who is running it; never `$USER`).
pub fn real_uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Files and folders under `root` (and `root` itself) that other accounts
/// may read, write or enter (any group or other permission bit), with their
/// mode: a store copied or created with a loose umask.
pub fn loose_modes(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![];
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            let Ok(meta) = fs::symlink_metadata(&p) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                out.push((p.clone(), mode));
            }
            if meta.is_dir()
                && let Ok(rd) = fs::read_dir(&p)
            {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
        out.sort();
    }
    out
}

/// BLAKE3 (hex) of `users.json` as [`Store::save_users`] writes `users`: the
/// hash user changes record on the audit log, and `audit verify` checks the
/// file against.
pub fn users_blake3(users: &probity_policy::Users) -> String {
    blake3::hash(users.to_json().as_bytes())
        .to_hex()
        .to_string()
}

/// The operating-system account running this process, as an audit actor
/// (`os:<name>`), for actions taken without `--as`: the account of the
/// real uid ([`probity_audit::os_account`]), never `$USER`, which the
/// caller can set to anything.
pub fn os_actor() -> String {
    format!("os:{}", probity_audit::os_account())
}

/// Makes the review-database anchor sink of a store from its root and
/// `[audit] anchor_database` (`None`: the store's own review database).
/// `probity_review::anchor_sink` is one.
pub type AnchorDatabase = fn(&Path, Option<&str>) -> Arc<dyn probity_audit::AnchorSink>;

static ANCHOR_DATABASE: std::sync::OnceLock<AnchorDatabase> = std::sync::OnceLock::new();

/// Installs the review-database anchor sink for this process: from then on
/// every audit append batch of every store opened here is anchored in its
/// review database, and [`Store::verify_audit`] reads those anchors back.
///
/// The store does not depend on the database driver (that would bring
/// sqlx to every crate above it), so every program that appends to an
/// audit log — the CLI, the web server — calls this first thing, with
/// `probity_review::anchor_sink`. Later calls are ignored. Without it no
/// store is anchored in a review database (only in its anchor file), except
/// that a store whose `[audit] anchor_database` is set records every anchor
/// there as failed and verifies as inconclusive: configured anchoring is
/// never skipped silently.
pub fn install_anchor_database(open: AnchorDatabase) {
    let _ = ANCHOR_DATABASE.set(open);
}

/// The anchor sinks of the store at `root` under `config`.
fn anchor_sinks(root: &Path, config: &Config) -> Vec<Arc<dyn probity_audit::AnchorSink>> {
    let mut sinks: Vec<Arc<dyn probity_audit::AnchorSink>> = Vec::new();
    let url = config.audit.anchor_database.as_deref();
    match (ANCHOR_DATABASE.get(), url) {
        (Some(open), _) => sinks.push(open(root, url)),
        (None, Some(url)) => sinks.push(Arc::new(NoAnchorDatabase {
            shown: config::redact_url(url),
        })),
        (None, None) => {}
    }
    if let Some(path) = &config.audit.anchor_file {
        sinks.push(Arc::new(probity_audit::AnchorFile::new(path)));
    }
    sinks
}

/// Opens the audit log of the store at `root` with its anchor sinks. Every
/// append to a store's log goes through here ([`Store::audit`]).
fn open_audit(root: &Path, config: &Config) -> Result<probity_audit::AuditLog> {
    let mut log = probity_audit::AuditLog::open(&root.join(AUDIT_DIR))?;
    for sink in anchor_sinks(root, config) {
        log.add_anchor_sink(sink);
    }
    Ok(log)
}

/// Why a configured review database cannot be reached.
const NO_ANCHOR_DRIVER: &str = "this program has no review-database driver installed (probity_store::install_anchor_database was not called; a bug)";

/// A configured review database this process cannot reach, because no
/// sink was installed ([`install_anchor_database`]).
#[derive(Debug)]
struct NoAnchorDatabase {
    shown: String,
}

impl probity_audit::AnchorSink for NoAnchorDatabase {
    fn describe(&self) -> String {
        format!("the review database {}", self.shown)
    }

    fn anchor(&self, _head: &probity_audit::Head) -> std::result::Result<(), String> {
        Err(NO_ANCHOR_DRIVER.to_owned())
    }

    fn read_anchors(&self, into: &mut probity_audit::Anchors) {
        into.problem(format!(
            "{} cannot be read: {}",
            self.describe(),
            NO_ANCHOR_DRIVER
        ));
    }
}

/// `schema` with every `Utf8` field read as `Utf8View`.
fn as_string_views(schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Fills `buf` from the operating system's random source.
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod audit_anchor_tests {
    use super::*;
    use probity_audit::{Record, TamperKind};

    fn store_with_audit_config(tmp: &Path, audit: &str) -> Store {
        let root = tmp.join("store");
        drop(Store::init(&root).unwrap());
        fsio::write_atomic(&root.join(CONFIG), format!("[audit]\n{audit}").as_bytes()).unwrap();
        Store::open(&root).unwrap()
    }

    #[test]
    fn every_append_is_anchored_in_the_anchor_file_and_verified_against_it() {
        let tmp = tempfile::tempdir().unwrap();
        let anchors = tmp.path().join("anchors");
        File::create(&anchors).unwrap();
        let store = store_with_audit_config(
            tmp.path(),
            &format!("anchor_file = {:?}\n", anchors.display().to_string()),
        );
        assert_eq!(store.anchor_sinks().len(), 1);
        let dir = store.audit_dir();
        let mut head_after_3 = vec![];
        for i in 2..=4 {
            let e = store
                .audit()
                .unwrap()
                .append(Record::new("PC-1", "reveal", format!("F-{i}")))
                .unwrap();
            assert_eq!(e.seq, i);
            if i == 3 {
                head_after_3 = fs::read(dir.join(probity_audit::HEAD_FILE)).unwrap();
            }
        }
        // Entries 2 to 4 anchored (entry 1, the store's creation, came
        // before the anchor file was configured).
        let text = fs::read_to_string(&anchors).unwrap();
        let seqs: Vec<&str> = text.lines().map(|l| &l[..1]).collect();
        assert_eq!(seqs, ["2", "3", "4"]);
        let r = store.verify_audit(None).unwrap();
        assert!(r.is_intact() && r.anchors_checked == 3, "{r}");
        // Entry 4 removed, the head file put back as it was after entry 3.
        let log = dir.join(probity_audit::LOG_FILE);
        let kept: String = fs::read_to_string(&log)
            .unwrap()
            .lines()
            .take(3)
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&log, kept).unwrap();
        fs::write(dir.join(probity_audit::HEAD_FILE), head_after_3).unwrap();
        assert!(probity_audit::verify(&dir, None).unwrap().is_intact());
        let r = store.verify_audit(None).unwrap();
        let b = r.broken.as_ref().expect("broken");
        assert_eq!(
            (b.kind, b.seq),
            (TamperKind::RewrittenAfterAnchoring, 4),
            "{b}"
        );
    }

    #[test]
    fn a_configured_database_without_a_driver_fails_loudly() {
        // No process-wide sink is installed in this test binary.
        let tmp = tempfile::tempdir().unwrap();
        let store = store_with_audit_config(
            tmp.path(),
            "anchor_database = \"postgres://probity@127.0.0.1:1/anchors\"\n",
        );
        let mut log = store.audit().unwrap();
        let e = log.append(Record::new("PC-1", "reveal", "F-1")).unwrap();
        assert_eq!(e.seq, 2);
        assert_eq!(log.anchor_failures().len(), 1);
        assert!(
            log.anchor_failures()[0]
                .error
                .contains("install_anchor_database")
        );
        let r = store.verify_audit(None).unwrap();
        assert!(r.broken.is_none() && !r.is_intact(), "{r}");
        assert!(
            r.anchor_problems[0]
                .contains("the review database postgres://probity@127.0.0.1:1/anchors")
        );
    }

    #[test]
    fn the_os_actor_is_the_real_account() {
        assert_eq!(os_actor(), format!("os:{}", probity_audit::os_account()));
    }
}
