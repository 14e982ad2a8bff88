//! Subject access reports (like reveals) read the identity from the sealed
//! vault: with the key they name the person; without it they fail with the
//! store's typed error, before anything is recorded or written.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use probity_core::Table;
use probity_policy::Role;
use probity_store::{BatchEntry, Store, TableOutput};

const PERSON: &str = "PERSON-000042";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A store whose vault holds one person (no analytical rows are needed).
fn store_with_one_identity(root: &std::path::Path) -> Store {
    let mut store = Store::init(root).unwrap();
    let schema = Table::People.def().vault_schema().unwrap();
    let text = |s: &str| -> ArrayRef { Arc::new(StringArray::from(vec![s.to_string()])) };
    let rows = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(PERSON),
            text(&store.person_pseudonym(PERSON)),
            text("Adaeze"),
            text("Okafor-Whitlock"),
            Arc::new(Date32Array::from(vec![Some(7000)])),
            text("SW9 8AB"),
        ],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
    w.write(&rows).unwrap();
    let batch = store.begin_batch().unwrap();
    let rel = batch
        .write_vault(Table::People, w.into_inner().unwrap())
        .unwrap();
    let mut tables = BTreeMap::new();
    tables.insert(
        "people".to_string(),
        TableOutput {
            rows_read: 1,
            rows_stored: 1,
            vault_files: vec![rel],
            ..Default::default()
        },
    );
    let entry = BatchEntry {
        id: batch.id().to_string(),
        committed_at: "2026-11-27T16:00:00Z".into(),
        source: "test".into(),
        sources: vec![],
        tables,
    };
    store.commit(batch, entry).unwrap();
    store
}

fn reports_audited(store: &Store) -> usize {
    let filter = probity_audit::Filter {
        action: Some("report.subject".into()),
        ..Default::default()
    };
    probity_audit::read(&store.audit_dir(), &filter)
        .unwrap()
        .count()
}

#[test]
fn a_subject_report_needs_the_vault_key_and_says_how_to_restore_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = store_with_one_identity(&root);
    probity_govern::user_add(&store, "admin", "rev", Role::Reviewer, None).unwrap();
    let reason = Some("subject access request 42 received by post");
    let out = tmp.path().join("report");
    let w = rt()
        .block_on(probity_govern::subject::report(
            &store, PERSON, "rev", reason, &out,
        ))
        .unwrap();
    assert_eq!(w.report.person_id, PERSON);
    assert_eq!(w.report.name, "Adaeze Okafor-Whitlock");
    assert_eq!(reports_audited(&store), 1);

    let key_file = root.join("keys/vault.key");
    std::fs::remove_file(&key_file).unwrap();
    let again = tmp.path().join("report-2");
    let err = rt()
        .block_on(probity_govern::subject::report(
            &store, PERSON, "rev", reason, &again,
        ))
        .unwrap_err();
    let msg = err.to_string();
    match err {
        probity_govern::Error::Store(probity_store::Error::VaultKeyMissing { key }) => {
            assert_eq!(key, key_file)
        }
        other => panic!("expected VaultKeyMissing, got {other:?}"),
    }
    for part in [
        "subject reports cannot run",
        "pseudonymised analysis still works",
        "Restore the key file from the store's backup",
    ] {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    // Nothing recorded as done, nothing written.
    assert_eq!(reports_audited(&store), 1);
    assert!(!again.exists());
}
