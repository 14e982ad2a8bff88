//! The identity vault at rest: sealed files that hold no identity in plain
//! text, read back in memory; a missing or wrong key named, not a panic; a
//! moved file refused; vault files of older stores (plain Parquet) read and
//! sealed; the key kept outside the store through `PROBITY_VAULT_KEY_FILE`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use probity_core::Table;
use probity_store::cols::strs;
use probity_store::vault::{self, KEY_FILE_ENV, MAGIC};
use probity_store::{BatchEntry, Error, Manifest, Store, TableOutput};

/// Staff with identities long enough that finding them in ciphertext by
/// chance is out of the question: (real id, given name, family name).
const STAFF: &[(&str, &str, &str)] = &[
    ("PERSON-000017", "Adaeze", "Okafor-Whitlock"),
    ("PERSON-000018", "Bartholomew", "Marshfield"),
    ("PERSON-000019", "Clementine", "Abernethy"),
];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The people vault of `STAFF` as a Parquet file.
fn people_vault_parquet() -> Vec<u8> {
    let schema = Table::People.def().vault_schema().unwrap();
    let col = |f: fn(&(&str, &str, &str)) -> String| -> ArrayRef {
        Arc::new(StringArray::from(STAFF.iter().map(f).collect::<Vec<_>>()))
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            col(|s| s.0.to_string()),
            col(|s| format!("pseudo-{}", s.0)),
            col(|s| s.1.to_string()),
            col(|s| s.2.to_string()),
            Arc::new(Date32Array::from(vec![Some(7000), None, Some(8000)])),
            Arc::new(StringArray::from(vec![Some("SW9 8AB"), None, None])),
        ],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.into_inner().unwrap()
}

fn entry(id: &str, vault_files: Vec<String>) -> BatchEntry {
    let mut tables = BTreeMap::new();
    tables.insert(
        "people".to_string(),
        TableOutput {
            rows_read: STAFF.len() as u64,
            rows_stored: STAFF.len() as u64,
            vault_files,
            ..Default::default()
        },
    );
    BatchEntry {
        id: id.to_string(),
        committed_at: "2026-11-27T16:00:00Z".into(),
        source: "test".into(),
        sources: vec![],
        tables,
    }
}

/// Commits a batch holding the people vault; returns its store-relative path.
fn commit_people_vault(store: &mut Store) -> probity_store::Result<String> {
    let batch = store.begin_batch()?;
    let rel = match batch.write_vault(Table::People, people_vault_parquet()) {
        Ok(rel) => rel,
        Err(e) => {
            store.abort(batch)?;
            return Err(e);
        }
    };
    let id = batch.id().to_string();
    store.commit(batch, entry(&id, vec![rel.clone()]))?;
    Ok(rel)
}

/// Real ids and names in the vault, read through the store.
fn read_vault(store: &Store) -> probity_store::Result<Vec<(String, String)>> {
    let ctx = datafusion::prelude::SessionContext::new();
    store.register_vault(&ctx)?;
    let batches = rt().block_on(async {
        ctx.sql("SELECT person_id, family_name FROM vault_people ORDER BY person_id")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let mut out = vec![];
    for b in &batches {
        let (p, f) = (strs(b, "person_id"), strs(b, "family_name"));
        for i in 0..b.num_rows() {
            out.push((p.value(i).to_string(), f.value(i).to_string()));
        }
    }
    Ok(out)
}

fn expected() -> Vec<(String, String)> {
    STAFF
        .iter()
        .map(|s| (s.0.to_string(), s.2.to_string()))
        .collect()
}

/// Every identity of `STAFF` that occurs in `bytes`.
fn identities_in(bytes: &[u8]) -> Vec<&'static str> {
    STAFF
        .iter()
        .flat_map(|s| [s.0, s.1, s.2])
        .filter(|needle| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn vault_files_are_sealed_on_disk_and_read_back_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::init(&tmp.path().join("store")).unwrap();
    let rel = commit_people_vault(&mut store).unwrap();
    assert!(rel.ends_with("/vault/people.parquet.enc"), "{rel}");
    let bytes = std::fs::read(store.path(&rel)).unwrap();
    assert!(bytes.starts_with(MAGIC), "not sealed");
    assert!(!bytes.windows(4).any(|w| w == b"PAR1"), "Parquet in clear");
    assert_eq!(identities_in(&bytes), Vec::<&str>::new());
    // No plaintext copy anywhere in the store: no file outside the vault
    // holds a name or id, and the staging area is empty.
    for f in files_under(store.root()) {
        let found = identities_in(&std::fs::read(&f).unwrap());
        assert!(found.is_empty(), "{} holds {found:?}", f.display());
    }
    assert_eq!(
        std::fs::read_dir(store.root().join("staging"))
            .unwrap()
            .count(),
        0
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [store.path(&rel), store.root().join("keys/vault.key")] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
    assert_eq!(read_vault(&store).unwrap(), expected());
    // The vault key is not the pseudonymisation key.
    let vault_key = std::fs::read_to_string(store.root().join("keys/vault.key")).unwrap();
    assert_eq!(vault_key.trim().len(), 64);
    assert_ne!(vault_key.trim(), store.pseudonym_key().to_hex());
    drop(store);
    // Read again by a new process's view of the store.
    assert_eq!(
        read_vault(&Store::open(&tmp.path().join("store")).unwrap()).unwrap(),
        expected()
    );
}

#[test]
fn a_missing_vault_key_is_explained_and_the_analytical_store_still_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let mut store = Store::init(&root).unwrap();
    commit_people_vault(&mut store).unwrap();
    drop(store);
    let key_file = root.join("keys/vault.key");
    let backup = tmp.path().join("vault.key.backup");
    std::fs::rename(&key_file, &backup).unwrap();

    let mut store = Store::open_for_write(&root).unwrap();
    // Pseudonymised analysis needs no vault key.
    let ctx = store.session_context().unwrap();
    let n = rt().block_on(async {
        ctx.sql("SELECT count(*) FROM people")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
            .len()
    });
    assert_eq!(n, 1);
    let err = read_vault(&store).unwrap_err();
    match &err {
        Error::VaultKeyMissing { key } => assert_eq!(key, &key_file),
        other => panic!("expected VaultKeyMissing, got {other:?}"),
    }
    let msg = err.to_string();
    for part in [
        key_file.display().to_string().as_str(),
        "identities (real ids, names, dates of birth) cannot be read",
        "pseudonymised analysis still works",
        "Restore the key file from the store's backup",
        "PROBITY_VAULT_KEY_FILE",
    ] {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    // No new key is made while sealed files need the lost one.
    assert!(matches!(
        commit_people_vault(&mut store),
        Err(Error::VaultKeyMissing { .. })
    ));
    assert!(!key_file.exists());
    assert_eq!(store.manifest().batches.len(), 1);
    // Restored from backup: identities read again.
    std::fs::rename(&backup, &key_file).unwrap();
    assert_eq!(read_vault(&store).unwrap(), expected());
}

#[test]
fn another_key_is_named_as_not_matching_this_vault() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let mut store = Store::init(&root).unwrap();
    let rel = commit_people_vault(&mut store).unwrap();
    let key_file = root.join("keys/vault.key");
    let ours = std::fs::read(&key_file).unwrap();
    std::fs::write(&key_file, vault::VaultKey::generate().unwrap().to_hex()).unwrap();
    let err = read_vault(&store).unwrap_err();
    match &err {
        Error::VaultKeyMismatch { key, file } => {
            assert_eq!(key, &key_file);
            assert_eq!(file, &store.path(&rel));
        }
        other => panic!("expected VaultKeyMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("does not match this store's vault") && msg.contains("from backup"),
        "{msg}"
    );
    // New identities are not sealed under a second key.
    assert!(matches!(
        commit_people_vault(&mut store),
        Err(Error::VaultKeyMismatch { .. })
    ));
    std::fs::write(&key_file, ours).unwrap();
    assert_eq!(read_vault(&store).unwrap(), expected());
}

#[test]
fn a_vault_file_moved_elsewhere_or_replaced_by_plain_parquet_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::init(&tmp.path().join("store")).unwrap();
    let first = commit_people_vault(&mut store).unwrap();
    let second = commit_people_vault(&mut store).unwrap();
    assert_eq!(read_vault(&store).unwrap().len(), 2 * STAFF.len());
    // Batch 1's vault file copied over batch 2's: same key, wrong place.
    std::fs::copy(store.path(&first), store.path(&second)).unwrap();
    match read_vault(&store).unwrap_err() {
        Error::Corrupt { path, reason } => {
            assert_eq!(path, store.path(&second));
            assert!(reason.contains("fails authentication"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Nor may a sealed file be replaced by plain Parquet (a downgrade).
    std::fs::write(store.path(&second), people_vault_parquet()).unwrap();
    match read_vault(&store).unwrap_err() {
        Error::Corrupt { reason, .. } => assert!(reason.contains("replaced"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn plain_vault_files_of_older_stores_are_read_and_then_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    drop(Store::init(&root).unwrap());
    // The store as an older probity left it: no vault key, a plain Parquet
    // vault file.
    std::fs::remove_file(root.join("keys/vault.key")).unwrap();
    let old_rel = "batches/b000001/vault/people.parquet";
    std::fs::create_dir_all(root.join("batches/b000001/vault")).unwrap();
    std::fs::write(root.join(old_rel), people_vault_parquet()).unwrap();
    let mut m = Manifest::load(&root.join("manifest.json")).unwrap();
    m.batches.push(entry("b000001", vec![old_rel.to_string()]));
    m.store(&root.join("manifest.json")).unwrap();

    let mut store = Store::open_for_write(&root).unwrap();
    assert_eq!(read_vault(&store).unwrap(), expected(), "no key needed");
    // New identities are sealed under a key made for the purpose.
    let new_rel = commit_people_vault(&mut store).unwrap();
    assert!(
        std::fs::read(store.path(&new_rel))
            .unwrap()
            .starts_with(MAGIC)
    );
    assert!(root.join("keys/vault.key").exists());
    assert_eq!(read_vault(&store).unwrap().len(), 2 * STAFF.len());
    // Sealing the old file: replaced, the plain one deleted.
    assert_eq!(store.seal_plain_vault().unwrap(), 1);
    assert!(!root.join(old_rel).exists());
    let sealed = store.manifest().vault_files("people")[0].to_string();
    assert_eq!(sealed, format!("{old_rel}.enc"));
    assert_eq!(
        identities_in(&std::fs::read(store.path(&sealed)).unwrap()),
        Vec::<&str>::new()
    );
    assert_eq!(
        read_vault(&Store::open(&root).unwrap()).unwrap().len(),
        2 * STAFF.len()
    );
    assert_eq!(store.seal_plain_vault().unwrap(), 0);
    // Both the key's creation and the sealing are on the audit log.
    let actions: Vec<String> =
        probity_audit::read(&store.audit_dir(), &probity_audit::Filter::default())
            .unwrap()
            .map(|e| e.unwrap().action)
            .collect();
    for a in ["vault.key.create", "vault.seal"] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
}

/// Environment variables are process-wide, so this test runs its body in a
/// child process of the test binary with `PROBITY_VAULT_KEY_FILE` set; the
/// other tests in this process never see it.
#[test]
fn a_vault_key_kept_outside_the_store_is_used_and_the_store_holds_none() {
    const CHILD: &str = "PROBITY_TEST_VAULT_OUTSIDE_STORE";
    if let Some(root) = std::env::var_os(CHILD) {
        let root = PathBuf::from(root);
        let mut store = Store::init(&root).unwrap();
        let outside = PathBuf::from(std::env::var_os(KEY_FILE_ENV).unwrap());
        assert_eq!(store.vault_key_file(), outside);
        commit_people_vault(&mut store).unwrap();
        assert_eq!(read_vault(&store).unwrap(), expected());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let secrets = tmp.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let outside = secrets.join("force-vault.key");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_vault_key_kept_outside_the_store_is_used_and_the_store_holds_none",
            "--test-threads=1",
        ])
        .env(CHILD, &root)
        .env(KEY_FILE_ENV, &outside)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The key is outside, private, and no file of the store holds it.
    let key = std::fs::read_to_string(&outside).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(!root.join("keys/vault.key").exists());
    for f in files_under(&root) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(64).any(|w| w == key.trim().as_bytes()),
            "{} holds the vault key",
            f.display()
        );
    }
    // Without the variable, this process looks for the key in the store.
    let store = Store::open(&root).unwrap();
    match read_vault(&store).unwrap_err() {
        Error::VaultKeyMissing { key } => assert_eq!(key, root.join("keys/vault.key")),
        other => panic!("expected VaultKeyMissing, got {other:?}"),
    }
}
