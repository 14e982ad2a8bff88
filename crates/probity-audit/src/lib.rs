//! A tamper-evident, append-only audit log: every reveal of an identity,
//! every refusal, every ingest is recorded before it is reported done.
//!
//! # Format
//!
//! A log is a directory (for a store, `STORE/audit/`) holding:
//!
//! - `audit.jsonl`: one entry per line, JSON, in this field order:
//!
//!   ```text
//!   {"seq":7,"at":"2026-11-27T16:00:00.123456Z","actor":"PC-4821","os":"alice(1000)",
//!    "action":"reveal","object":"F-00017","person":"P-3f9a0c2e71b4d856","reason":"…",
//!    "details":{},"prev":"<64 hex>","hash":"<64 hex>"}
//!   ```
//!
//!   (on one line). `seq` counts from 1 without gaps; `at` is RFC 3339 UTC
//!   with microseconds; `os` is the operating-system account of the process
//!   that appended the entry, from its real uid, never from `$USER`
//!   ([`os_account`]; absent from entries written before it was recorded);
//!   `person` and `reason` may be `null`; `details` is an object. `prev` is the previous entry's `hash` (64 zeros for entry 1).
//!   `hash` is the BLAKE3 (lowercase hex) of the line's exact bytes up to,
//!   not including, `,"hash":"`: the line is the serialised body with its
//!   closing brace replaced by `,"hash":"<hex>"}`. Verification hashes the
//!   stored bytes, never a re-serialisation. JSON escaping keeps each entry
//!   on one line.
//! - `head`: the last appended entry's seq, hash and time as one 128-byte
//!   record (`{seq:020} {hash} {at}`, space-padded, newline-terminated),
//!   overwritten in place and fsynced after each append.
//! - `lock`: appends hold an exclusive lock on it, so appends from several
//!   processes never interleave; each re-reads the tail under the lock.
//!
//! # Guarantees, and their limits
//!
//! The chain is an **unkeyed** hash chain. It detects, and [`verify()`] names
//! the first entry affected by and classifies ([`TamperKind`]):
//!
//! - an edit of an entry, whether or not its hash was recomputed (a
//!   recomputed hash no longer matches the next entry's `prev`);
//! - a deletion, insertion or reordering of entries;
//! - a truncation of the end of the log, by comparing it with the `head`
//!   file.
//!
//! Anyone who can write the files can also rewrite the log from some entry
//! onwards, recomputing every later hash, and rewrite `head` to match: no
//! unkeyed chain can detect that on its own. It is detected only against a
//! head kept somewhere the writer cannot reach. An [`AuditLog`] hands its
//! new head to every [`AnchorSink`] it carries after every append batch
//! (an [`AnchorFile`]: an append-only file kept by another account; the
//! review database's table, in probity-review), and
//! [`verify_with_anchors`] checks that the log still holds every anchored
//! entry with the anchored hash ([`TamperKind::RewrittenAfterAnchoring`]
//! if not). A head printed by [`head()`] (`SEQ:HASH`) into a ticket or a
//! signed report is an anchor too. The log records what happened; it does
//! not stop a privileged attacker from lying about it afterwards, only
//! makes the lie detectable given an anchor the attacker could not rewrite
//! (anchors the attacker can also write, such as a database file inside
//! the store, only raise the bar).
//!
//! # Durability
//!
//! [`AuditLog::append`] returns once the entry is written and fsynced, then
//! updates `head`. A crash mid-write leaves an incomplete final line (a
//! torn tail): not tampering, reported by [`verify()`], and discarded by the
//! next append, which first records an `audit.recovered` entry with the
//! discarded bytes' size and BLAKE3. A crash between the log write and the
//! head update leaves `head` one append behind, which is harmless. Appends
//! fail closed: if the last complete line is damaged, or `head` shows the
//! log was truncated or its last entry rewritten, [`AuditLog::append`]
//! refuses, since an action that cannot be audited must not proceed.
//!
//! Opening and [`head()`] read only the end of the log; [`verify()`] and
//! [`read()`] stream it.
//!
//! # Anchors
//!
//! After the head file, still under the lock, every [`AnchorSink`] of the
//! handle receives the new head, once per append batch, in log order. An
//! anchor is written only for entries already durable, so it never names
//! an entry a crash could take back. A sink that fails does not undo the
//! append: the entries are durable and the action was audited. The failure
//! is appended as an `audit.anchor_failed` entry (naming the sink, the
//! entry and the error), warned about on standard error, and kept in
//! [`AuditLog::anchor_failures`]; [`verify()`] notes such entries. The next
//! batch anchored in that sink covers the entries before it, since each
//! hash covers all earlier entries.
//!
//! To verify, read every anchor first ([`Anchors::read_from`] each sink),
//! then call [`verify_with_anchors`]. An anchor whose entry is gone, or
//! hashes differently, is a [`TamperKind::RewrittenAfterAnchoring`] break;
//! an anchor source that cannot be read leaves the result inconclusive.
//!
//! What anchors cannot do: an attacker who can also rewrite or delete an
//! anchor store defeats that store (a review database file inside the
//! store only makes a consistent rewrite one step longer); the entries
//! after a sink's last anchor (a failed anchor write, or anchors deleted)
//! are covered only by the other sinks; an attacker who runs as the
//! service's own account can append false entries through the normal path,
//! and they are anchored like any other (though stamped with that account
//! in `os`); an attacker able only to append to an anchor store can add
//! anchors that raise false alarms, not hide a rewrite, since the genuine
//! anchors stay.

mod anchor;
mod entry;
mod error;
mod failpoint;
mod head;
mod log;
mod os;
mod read;
mod verify;

pub use anchor::{AnchorFailure, AnchorFile, AnchorSink, Anchored, Anchors};
pub use entry::{Entry, Record};
pub use error::{Error, Location, Result};
pub use failpoint::{FAILPOINT_ENV, failpoint, failpoint_armed};
pub use head::{Anchor, Head};
pub use log::{AuditLog, head};
pub use os::os_account;
pub use read::{Entries, Filter, read};
pub use verify::{
    AnchorBreak, Break, LOOKAHEAD, TamperKind, VerifyReport, verify, verify_with_anchors,
};

/// The log file's name in the log's directory.
pub const LOG_FILE: &str = "audit.jsonl";
/// The head file's name in the log's directory.
pub const HEAD_FILE: &str = "head";
/// The lock file's name in the log's directory.
pub const LOCK_FILE: &str = "lock";
