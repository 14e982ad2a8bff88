//! Anchors: the log's head copied outside the log's files after every
//! append batch, and read back by [`crate::verify_with_anchors`].
//!
//! Whoever can write the log's files can rewrite the log and its `head`
//! file together; only a copy of the head they cannot rewrite shows it. An
//! [`AnchorSink`] is such a place: [`AuditLog`](crate::AuditLog) hands it
//! the new head after every append batch, and verification reads every
//! anchor back and checks that the log still holds each anchored entry with
//! the anchored hash. [`AnchorFile`] is the sink this crate provides (an
//! append-only file kept by another account); the review database's sink
//! lives in probity-review, which has the database driver.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::entry::{Micros, parse_at};
use crate::head::{Anchor, Head};

/// A place outside the log's files where the log's head is copied after
/// every append batch, and from where the copies are read back to verify
/// the log.
///
/// Implement it for storage the log's writers cannot rewrite (an
/// append-only file owned by another account, a database table the service
/// may only insert into). Both methods are called synchronously, from
/// whatever thread appends or verifies, possibly inside an async runtime:
/// an implementation that needs async I/O runs it on its own thread.
pub trait AnchorSink: Send + Sync + fmt::Debug {
    /// What and where, for messages and `audit.anchor_failed` entries:
    /// `the anchor file /srv/anchors/probity`, `the review database
    /// sqlite://…`. Never a password.
    fn describe(&self) -> String;

    /// Records `head`: the log's last entry, after an append batch.
    ///
    /// Called by [`AuditLog::append_batch`](crate::AuditLog::append_batch)
    /// once the batch and the head file are durable, with the log's lock
    /// still held (so anchors are recorded in log order). Return only once
    /// the anchor is durable. An error never loses the batch: the log
    /// records it as an `audit.anchor_failed` entry and warns on standard
    /// error.
    fn anchor(&self, head: &Head) -> Result<(), String>;

    /// Adds every anchor this sink holds to `into`, and anything that
    /// could not be read to its problems.
    fn read_anchors(&self, into: &mut Anchors);
}

/// An anchor as read back from where it was kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchored {
    /// The anchored entry's seq and hash.
    pub anchor: Anchor,
    /// The anchored entry's time, if the source records it.
    pub at: Option<Timestamp>,
    /// Where it was kept, as [`AnchorSink::describe`] says: `the anchor
    /// file /srv/anchors/probity`, `the review database …`.
    pub source: String,
    /// The line of the source it was read from, for files.
    pub line: Option<u64>,
}

impl Anchored {
    /// An anchor given by hand (`probity audit verify --anchor SEQ:HASH`).
    pub fn given(anchor: Anchor) -> Anchored {
        Anchored {
            anchor,
            at: None,
            source: "the anchor given".to_owned(),
            line: None,
        }
    }
}

/// `the anchor file /x (line 4) anchored entry 20 (hash …, written at …)`.
impl fmt::Display for Anchored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        write!(
            f,
            " anchored entry {} (hash {}",
            self.anchor.seq, self.anchor.hash
        )?;
        if let Some(at) = self.at {
            write!(f, ", written at {}", Micros(at))?;
        }
        f.write_str(")")
    }
}

/// Anchors gathered for verification, and the sources (or parts of them)
/// that could not be read.
///
/// Read the anchors *before* verifying: the log only grows, so every
/// anchor read first names an entry the log must still hold, even while
/// other processes append.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anchors {
    /// Every anchor read.
    pub anchors: Vec<Anchored>,
    /// What could not be read: a missing or unreadable anchor file, a line
    /// that is not an anchor, a database that could not be queried. Any
    /// problem makes the verification inconclusive: an anchor that cannot
    /// be read cannot show a rewrite.
    pub problems: Vec<String>,
}

impl Anchors {
    /// No anchors.
    pub fn new() -> Anchors {
        Anchors::default()
    }

    /// Only `anchor`, given by hand.
    pub fn given(anchor: Anchor) -> Anchors {
        Anchors {
            anchors: vec![Anchored::given(anchor)],
            problems: Vec::new(),
        }
    }

    /// Adds one anchor.
    pub fn push(&mut self, anchored: Anchored) {
        self.anchors.push(anchored);
    }

    /// Adds the anchors `sink` holds (and what it could not read).
    pub fn read_from(&mut self, sink: &dyn AnchorSink) {
        sink.read_anchors(self);
    }

    /// Records a source that could not be read.
    pub fn problem(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }
}

/// A record that an anchor could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorFailure {
    /// The sink, as it describes itself.
    pub sink: String,
    /// The entry that was to be anchored.
    pub seq: u64,
    /// What went wrong.
    pub error: String,
}

/// An append-only anchor file: one line `SEQ HASH AT` per append batch
/// (`AT` the anchored entry's time, as the log records it), written with
/// `O_APPEND` and fsynced.
///
/// The file must exist: it is never created, so a missing file (a wrong
/// path, a deleted file) fails every anchor loudly instead of starting an
/// empty file silently. Create it owned by an account other than the one
/// that runs Probity, on a file system the Probity account cannot write
/// otherwise, and let the Probity account only append: plain permission
/// bits cannot say "append only" (write permission also allows truncating
/// and overwriting), so on Linux set the append-only attribute (`chattr +a
/// FILE`, which only root can clear), or make it a named pipe read by a
/// logger running as another account (appends to a pipe or other
/// non-regular file are written but not fsynced, and cannot be read back
/// here: verify against the logger's copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorFile {
    path: PathBuf,
}

impl AnchorFile {
    /// The anchor file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> AnchorFile {
        AnchorFile { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line recording `head`, with its newline: `SEQ HASH AT`.
    pub fn line(head: &Head) -> String {
        format!("{} {} {}\n", head.seq, head.hash, Micros(head.at))
    }

    /// Parses a line (without its newline) written by [`AnchorFile::line`].
    pub fn parse_line(line: &str) -> Result<(Anchor, Timestamp), String> {
        let mut parts = line.split(' ');
        let (Some(seq), Some(hash), Some(at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("it is not three fields `SEQ HASH AT` separated by single spaces".into());
        };
        let anchor: Anchor = format!("{seq}:{hash}")
            .parse()
            .map_err(|e: crate::Error| e.to_string())?;
        if anchor.hash != hash {
            return Err("its hash is not lowercase".into());
        }
        let at = parse_at(at).ok_or("its time is not RFC 3339 UTC with microseconds")?;
        Ok((anchor, at))
    }
}

impl AnchorSink for AnchorFile {
    fn describe(&self) -> String {
        format!("the anchor file {}", self.path.display())
    }

    fn anchor(&self, head: &Head) -> Result<(), String> {
        let mut f = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "cannot open it: {e}; it is never created by Probity: create it, owned by another account and append-only for this one (see `[audit] anchor_file` in probity.toml)"
                ),
                _ => format!("cannot open it for appending: {e}"),
            })?;
        // One write of one short line: appends from other writers cannot
        // split it.
        f.write_all(Self::line(head).as_bytes())
            .map_err(|e| format!("cannot append to it: {e}"))?;
        let regular = f.metadata().map(|m| m.is_file()).unwrap_or(true);
        if regular {
            f.sync_data()
                .map_err(|e| format!("cannot sync it to disk: {e}"))?;
        }
        Ok(())
    }

    fn read_anchors(&self, into: &mut Anchors) {
        let source = self.describe();
        let file = match std::fs::metadata(&self.path) {
            Ok(m) if !m.is_file() => {
                into.problem(format!(
                    "{source} is not a regular file (a pipe or device), so its anchors cannot be read back here; verify against the copy its reader keeps"
                ));
                return;
            }
            Ok(_) => std::fs::File::open(&self.path),
            Err(e) => Err(e),
        };
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                into.problem(format!(
                    "{source} cannot be read ({e}), so the log cannot be checked against its anchors"
                ));
                return;
            }
        };
        let mut reader = BufReader::new(file);
        let mut buf = Vec::with_capacity(128);
        let mut n = 0u64;
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    into.problem(format!(
                        "{source} cannot be read after line {n} ({e}), so the log cannot be checked against its later anchors"
                    ));
                    return;
                }
            }
            n += 1;
            let complete = buf.last() == Some(&b'\n');
            if complete {
                buf.pop();
            }
            let parsed = std::str::from_utf8(&buf)
                .map_err(|_| "it is not text".to_owned())
                .and_then(Self::parse_line);
            match parsed {
                Ok((anchor, at)) => into.push(Anchored {
                    anchor,
                    at: Some(at),
                    source: source.clone(),
                    line: Some(n),
                }),
                Err(why) => into.problem(format!(
                    "{source}, line {n}, is not an anchor: {why}{}",
                    if complete {
                        ""
                    } else {
                        " (an incomplete last line: an interrupted write?)"
                    }
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64) -> Head {
        Head {
            seq,
            hash: format!("{seq:064x}"),
            at: Timestamp::from_microsecond(1_795_881_600_000_001).unwrap(),
        }
    }

    #[test]
    fn lines_round_trip() {
        let line = AnchorFile::line(&head(42));
        assert_eq!(
            line,
            format!("42 {:064x} 2026-11-28T16:00:00.000001Z\n", 42)
        );
        let (a, at) = AnchorFile::parse_line(line.trim_end()).unwrap();
        assert_eq!(a, head(42).anchor());
        assert_eq!(at, head(42).at);
        for bad in [
            "",
            "42",
            &format!("42 {:064x}", 42),
            &format!("42 {:064X} 2026-11-28T16:00:00.000001Z", 0xab),
            &format!("0 {:064x} 2026-11-28T16:00:00.000001Z", 1),
            &format!("42 {:064x} 2026-11-28T16:00:00Z", 42),
            &format!("42  {:064x} 2026-11-28T16:00:00.000001Z", 42),
        ] {
            assert!(AnchorFile::parse_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_file_is_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = AnchorFile::new(tmp.path().join("anchors"));
        let err = sink.anchor(&head(1)).unwrap_err();
        assert!(err.contains("never created"), "{err}");
        assert!(!sink.path().exists());
        let mut read = Anchors::new();
        read.read_from(&sink);
        assert!(read.anchors.is_empty());
        assert!(read.problems[0].contains("cannot be read"), "{read:?}");
    }
}
