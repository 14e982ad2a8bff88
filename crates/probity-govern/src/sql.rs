//! Ad-hoc SQL over a store, read-only and accountable.
//!
//! - Only a user who may read findings runs it (a refusal is audited).
//! - Only queries: DataFusion's `SQLOptions` refuse DDL (`CREATE`, `DROP`,
//!   `CREATE EXTERNAL TABLE`), DML (`INSERT`, `COPY … TO`) and statements
//!   (`SET`, transactions), so a query can neither write files nor change
//!   the session.
//! - The tables are the analytical session's: pseudonymised data only. The
//!   identity vault is never registered, and `equality_monitoring` (read only
//!   by the fairness audit) is taken out of the session.
//! - Every query is on the audit log with its text and row count, or its
//!   error, before any result is returned.

use arrow::record_batch::RecordBatch;
use datafusion::execution::context::SQLOptions;
use probity_audit::Record;
use probity_policy::Action;
use probity_store::Store;
use serde_json::json;

use crate::{Error, Result, authorise};

/// Tables the ad-hoc session does not have, besides the vault (which it
/// never registers).
pub const UNREACHABLE: &[&str] = &["equality_monitoring"];

/// Runs `query` for `user`; see the module documentation for the rules.
pub async fn query(store: &Store, user: &str, query: &str) -> Result<Vec<RecordBatch>> {
    authorise(store, user, Action::ReadFindings, None, false, "sql", "")?;
    let ctx = store.session_context()?;
    for t in UNREACHABLE {
        ctx.deregister_table(*t)
            .map_err(|e| Error::query("the ad-hoc session", e))?;
    }
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let result = async {
        let df = ctx.sql_with_options(query, options).await?;
        df.collect().await
    }
    .await;
    match result {
        Ok(batches) => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            store.audit()?.append(
                Record::new(user, "sql", "").details(json!({"query": query, "rows": rows})),
            )?;
            Ok(batches)
        }
        Err(e) => {
            store.audit()?.append(
                Record::new(user, "sql.failed", "")
                    .details(json!({"query": query, "error": e.to_string()})),
            )?;
            Err(Error::query("sql", e))
        }
    }
}
