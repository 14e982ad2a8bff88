//! Group commit for the audit entries of views.
//!
//! Every page or API answer that shows a person's records is on the audit
//! log before it is sent. One fsync per view would put a disk flush in
//! front of every page; instead handlers hand their entry to one appender
//! thread, which takes everything queued since its last write and appends
//! it as one batch (one write, one fsync: [`AuditLog::append_batch`]).
//! Each handler waits for its own entry to be durable, then answers. No
//! entry is dropped: a full queue makes handlers wait, and an entry that
//! cannot be written fails its view (the page is not shown).
//!
//! A handler that knows what it will show before it has rendered it
//! submits the entry first ([`Appender::submit`]) and waits for it just
//! before answering ([`Pending::durable`]), so the disk flush overlaps the
//! rendering. Should rendering then fail, the view is on the log without
//! having been shown: the log may say more was seen than was, never less.
//!
//! Other audited actions (sign-in, decisions, reveals) append directly;
//! the log's lock orders them with the batches.

use std::path::PathBuf;

use probity_audit::{AuditLog, Entry, Record};
use tokio::sync::{mpsc, oneshot};

use crate::{Error, Result};

/// Entries waiting at most; beyond it, handlers wait to queue theirs.
const QUEUE: usize = 8192;
/// Entries in one batch at most (one write of about a megabyte).
const BATCH: usize = 1024;

type Reply = oneshot::Sender<std::result::Result<Entry, String>>;

/// The audit appender of one server (its thread ends when this is dropped).
#[derive(Debug)]
pub struct Appender {
    tx: mpsc::Sender<(Record, Reply)>,
}

impl Appender {
    /// Starts the appender thread for the audit log of the store at
    /// `store` (opened as [`probity_store::Store::audit`] opens it, so the
    /// store's anchoring applies to these entries too).
    pub fn start(store: PathBuf) -> Result<Appender> {
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("probity-audit".into())
            .spawn(move || run(store, rx))
            .map_err(|e| Error::Start(format!("cannot start the audit appender: {e}")))?;
        Ok(Appender { tx })
    }

    /// Appends `rec` and returns its entry once it is durable.
    pub async fn append(&self, rec: Record) -> Result<Entry> {
        self.submit(rec).await?.durable().await
    }

    /// Queues `rec` for the next batch; await [`Pending::durable`] before
    /// showing what it records.
    pub async fn submit(&self, rec: Record) -> Result<Pending> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((rec, reply))
            .await
            .map_err(|_| Error::Journal("the audit appender has stopped".into()))?;
        Ok(Pending(answer))
    }
}

/// An entry on its way to the log.
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<std::result::Result<Entry, String>>);

impl Pending {
    /// Waits until the entry is durable.
    pub async fn durable(self) -> Result<Entry> {
        self.0
            .await
            .map_err(|_| Error::Journal("the audit appender has stopped".into()))?
            .map_err(Error::Journal)
    }
}

fn run(store: PathBuf, mut rx: mpsc::Receiver<(Record, Reply)>) {
    let mut log: Option<AuditLog> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (records, replies): (Vec<Record>, Vec<Reply>) = jobs.into_iter().unzip();
        match write(&store, &mut log, records.clone()) {
            Ok(entries) => {
                for (reply, entry) in replies.into_iter().zip(entries) {
                    // A handler that went away (client disconnected) no
                    // longer waits; its entry is written all the same.
                    let _ = reply.send(Ok(entry));
                }
            }
            // One bad record must not fail the others' views: write each
            // on its own, so only the one that cannot be written fails.
            Err(_) => {
                for (rec, reply) in records.into_iter().zip(replies) {
                    let one = write(&store, &mut log, vec![rec]).map(|mut v| v.remove(0));
                    let _ = reply.send(one);
                }
            }
        }
    }
}

fn write(
    store: &std::path::Path,
    log: &mut Option<AuditLog>,
    records: Vec<Record>,
) -> std::result::Result<Vec<Entry>, String> {
    let handle = match log {
        Some(l) => l,
        None => {
            let opened = probity_store::Store::open(store).and_then(|s| s.audit());
            log.insert(opened.map_err(|e| e.to_string())?)
        }
    };
    let r = handle.append_batch(records).map_err(|e| e.to_string());
    if r.is_err() {
        // Reopen next time (the log may have been repaired meanwhile).
        *log = None;
    }
    r
}
