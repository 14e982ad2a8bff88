//! Opening the log, reading its tail, appending.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::anchor::{AnchorFailure, AnchorSink};
use crate::entry::{Entry, Hex, Record, ZERO_HEX, check_line, hex_str};
use crate::error::{Error, Location, Result};
use crate::failpoint::{failpoint, failpoint_armed};
use crate::head::{HEAD_RECORD_LEN, Head, HeadFile, encode_head_record, parse_head_record};
use crate::{HEAD_FILE, LOCK_FILE, LOG_FILE};

/// The last complete line of the log, checked on its own.
#[derive(Debug)]
pub(crate) enum LastLine {
    /// The log holds no complete line.
    None,
    /// A valid entry.
    Good {
        seq: u64,
        hash: Hex,
        at: jiff::Timestamp,
    },
    /// A line that fails its own checks.
    Bad { offset: u64, reason: String },
}

/// The end of the log, found by reading backwards.
#[derive(Debug)]
pub(crate) struct Tail {
    /// File length.
    pub len: u64,
    /// Length up to and including the last newline; bytes after it are a
    /// torn write.
    pub complete_len: u64,
    /// The last complete line.
    pub last: LastLine,
}

impl Tail {
    pub(crate) fn torn_bytes(&self) -> Option<u64> {
        (self.len > self.complete_len).then_some(self.len - self.complete_len)
    }

    fn head(&self) -> Option<Head> {
        match self.last {
            LastLine::Good { seq, hash, at } => Some(Head {
                seq,
                hash: hex_str(&hash).to_owned(),
                at,
            }),
            _ => None,
        }
    }
}

/// Reads the last complete line of `file` and checks it, reading backwards
/// from the end in growing chunks: the cost depends on the length of the
/// last line and any torn tail, not on the size of the log.
pub(crate) fn read_tail(mut file: &File, path: &Path) -> Result<Tail> {
    let io = |e| Error::io(path, e);
    let len = file.metadata().map_err(io)?.len();
    let mut window = len.min(4096);
    let mut buf = Vec::new();
    loop {
        let start = len - window;
        buf.resize(window as usize, 0);
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        file.read_exact(&mut buf).map_err(io)?;
        let grow = start > 0;
        let found = match buf.iter().rposition(|&b| b == b'\n') {
            None if !grow => Some((0, LastLine::None)),
            None => None,
            Some(end) => {
                let complete_len = start + end as u64 + 1;
                match buf[..end].iter().rposition(|&b| b == b'\n') {
                    Some(nl) => Some((
                        complete_len,
                        check_last(&buf[nl + 1..end], start + nl as u64 + 1),
                    )),
                    None if !grow => Some((complete_len, check_last(&buf[..end], 0))),
                    None => None,
                }
            }
        };
        if let Some((complete_len, last)) = found {
            return Ok(Tail {
                len,
                complete_len,
                last,
            });
        }
        window = (window * 2).min(len);
    }
}

fn check_last(line: &[u8], offset: u64) -> LastLine {
    match check_line(line) {
        Ok(c) => LastLine::Good {
            seq: c.raw.seq,
            hash: c.hash,
            at: c.at,
        },
        Err(reason) => LastLine::Bad { offset, reason },
    }
}

/// The last complete entry of the log in `dir`, found cheaply by reading
/// the log backwards from its end; `None` if the log is empty or absent.
/// This is the value to anchor elsewhere (print it with `{}`: `SEQ:HASH`).
///
/// An error if the last complete line fails its own check.
pub fn head(dir: &Path) -> Result<Option<Head>> {
    let path = dir.join(LOG_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let tail = read_tail(&file, &path)?;
    if let LastLine::Bad { offset, reason } = tail.last {
        return Err(Error::Corrupt {
            path,
            location: Location::LastLine { offset },
            reason,
        });
    }
    Ok(tail.head())
}

/// An audit log open for appending.
///
/// Any number of handles, in any number of processes, may append to the
/// same log: each append holds an exclusive lock on the `lock` file and
/// re-reads the tail under it.
///
/// A handle may carry [`AnchorSink`]s: after every append batch each is
/// given the new head, so that a later rewrite of the log and its head file
/// together is still detected (see [`crate::verify_with_anchors`]).
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    log_path: PathBuf,
    head_path: PathBuf,
    lock_path: PathBuf,
    log: File,
    head: File,
    lock: File,
    last: Option<Head>,
    torn: Option<u64>,
    sinks: Vec<Arc<dyn AnchorSink>>,
    anchor_failures: Vec<AnchorFailure>,
}

/// Holds the lock; releases it when dropped (closing the file would too).
struct Locked<'a>(&'a File);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn open_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

impl AuditLog {
    /// Opens the log in `dir`, creating the directory (mode 0700 on Unix)
    /// and its files if absent.
    ///
    /// Reads only the end of the log (its last complete line), whatever
    /// its size. A damaged tail does not make this fail: the next append
    /// does (see [`AuditLog::append`]).
    pub fn open(dir: &Path) -> Result<AuditLog> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(|e| Error::io(dir, e))?;
        let log_path = dir.join(LOG_FILE);
        let head_path = dir.join(HEAD_FILE);
        let lock_path = dir.join(LOCK_FILE);
        let created = !log_path.exists();
        let log = open_options()
            .read(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, e))?;
        let head = open_options()
            .read(true)
            .write(true)
            .truncate(false)
            .open(&head_path)
            .map_err(|e| Error::io(&head_path, e))?;
        let lock = open_options()
            .read(true)
            .write(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        if created {
            // Make the new files' directory entries durable.
            #[cfg(unix)]
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(dir, e))?;
        }
        let tail = read_tail(&log, &log_path)?;
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            log_path,
            head_path,
            lock_path,
            log,
            head,
            lock,
            last: tail.head(),
            torn: tail.torn_bytes(),
            sinks: Vec::new(),
            anchor_failures: Vec::new(),
        })
    }

    /// Adds a place the head is anchored in after every append batch.
    pub fn add_anchor_sink(&mut self, sink: Arc<dyn AnchorSink>) {
        self.sinks.push(sink);
    }

    /// This handle with `sink` added (see [`AuditLog::add_anchor_sink`]).
    pub fn with_anchor_sink(mut self, sink: Arc<dyn AnchorSink>) -> AuditLog {
        self.add_anchor_sink(sink);
        self
    }

    /// The anchor sinks of this handle.
    pub fn anchor_sinks(&self) -> &[Arc<dyn AnchorSink>] {
        &self.sinks
    }

    /// The anchors this handle's appends failed to write, oldest first
    /// (each is also on the log as an `audit.anchor_failed` entry).
    pub fn anchor_failures(&self) -> &[AnchorFailure] {
        &self.anchor_failures
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last entry as of opening or this handle's last append (another
    /// process may have appended since); `None` if the log was empty or its
    /// last line was damaged.
    pub fn last(&self) -> Option<&Head> {
        self.last.as_ref()
    }

    /// The size of the torn (incomplete) final line found when opening, if
    /// any; it is discarded, and recorded, by the next append.
    pub fn torn_tail_bytes(&self) -> Option<u64> {
        self.torn
    }

    /// Appends one entry and returns it once it is durable (written and
    /// fsynced). Report the audited action as done only after this returns.
    ///
    /// Under the lock, the tail is re-read. If it ends with a torn write (an
    /// append interrupted by a crash), the torn bytes are truncated away and
    /// an `audit.recovered` entry recording their size and BLAKE3 precedes
    /// this one. If the last complete line is damaged, or the `head` file
    /// records an entry the log no longer holds (truncation) or a different
    /// hash for the last entry, the append is refused with
    /// [`Error::AppendRefused`]: an action that cannot be audited must not
    /// proceed.
    ///
    /// Then, still under the lock, the new head is given to every anchor
    /// sink. A sink that fails does not fail the append (the entry is
    /// durable and the action audited): the failure is recorded on the log
    /// as an `audit.anchor_failed` entry (actor `probity`, details naming
    /// the sink, the entry and the error; itself not anchored: the next
    /// batch's anchor covers it), warned about on standard error, and kept
    /// in [`AuditLog::anchor_failures`].
    pub fn append(&mut self, rec: Record) -> Result<Entry> {
        let mut entries = self.append_batch([rec])?;
        Ok(entries.pop().expect("one record gives one entry"))
    }

    /// Appends several entries with one write and one fsync (for bulk
    /// events). Returns the entries of `recs`, in order (an `audit.recovered`
    /// entry that precedes them is not included). The whole batch is
    /// encoded in memory first: keep batches to thousands, not millions.
    ///
    /// Every record is validated before anything is written; an invalid one
    /// fails the whole batch. A crash part-way through may leave a prefix of
    /// the batch in the log (each entry complete and chained) and a torn
    /// line, recovered by the next append.
    pub fn append_batch(&mut self, recs: impl IntoIterator<Item = Record>) -> Result<Vec<Entry>> {
        let mut recs: Vec<Record> = recs.into_iter().collect();
        for rec in &mut recs {
            rec.validate()?;
        }
        if recs.is_empty() {
            return Ok(Vec::new());
        }
        self.lock
            .lock()
            .map_err(|e| Error::io(&self.lock_path, e))?;
        let locked = Locked(&self.lock);
        let tail = read_tail(&self.log, &self.log_path)?;
        let (mut seq, mut prev) = match tail.last {
            LastLine::None => (0, ZERO_HEX),
            LastLine::Good { seq, hash, .. } => (seq, hash),
            LastLine::Bad { offset, reason } => {
                return Err(Error::AppendRefused {
                    path: self.log_path.clone(),
                    reason: format!("{} {reason}", Location::LastLine { offset }),
                });
            }
        };
        self.check_head_file(seq, &prev)?;
        let os = crate::os::os_stamp();
        let os = Some(os.as_str());
        let mut buf = Vec::with_capacity(recs.len() * 400 + 400);
        if let Some(torn) = tail.torn_bytes() {
            let digest = self.discard_torn(tail.complete_len, torn)?;
            let rec = Record::new("probity", "audit.recovered", "")
                .reason("an append was interrupted (crash or power loss) and left an incomplete line at the end of the log; the incomplete line was discarded")
                .details(serde_json::json!({
                    "discarded_bytes": torn,
                    "discarded_blake3": digest,
                }));
            seq += 1;
            prev = Entry::encode(rec, seq, &prev, os, &mut buf).1;
        }
        let mut out = Vec::with_capacity(recs.len());
        for rec in recs {
            seq += 1;
            let (entry, hash) = Entry::encode(rec, seq, &prev, os, &mut buf);
            prev = hash;
            out.push(entry);
        }
        self.write_lines(&buf)?;
        failpoint("audit.after-append");
        let mut last = out.last().expect("a non-empty batch").head();
        self.write_head(seq, &prev, last.at)?;
        self.torn = None;
        let failures = self.anchor(&last);
        if !failures.is_empty() {
            match self.record_anchor_failures(seq, prev, os, &failures) {
                Ok(note) => last = note,
                Err(e) => eprintln!(
                    "probity: warning: the failure to anchor audit entry {seq} could not be recorded on the log either: {e}"
                ),
            }
            self.anchor_failures.extend(failures);
        }
        drop(locked);
        self.last = Some(last);
        Ok(out)
    }

    /// Gives `head` to every sink; returns the failures.
    fn anchor(&self, head: &Head) -> Vec<AnchorFailure> {
        self.sinks
            .iter()
            .filter_map(|sink| {
                sink.anchor(head).err().map(|error| AnchorFailure {
                    sink: sink.describe(),
                    seq: head.seq,
                    error,
                })
            })
            .collect()
    }

    /// Appends an `audit.anchor_failed` entry per failure after entry
    /// `seq` (hash `prev`), under the lock already held, and warns on
    /// standard error. Returns the new head.
    fn record_anchor_failures(
        &self,
        mut seq: u64,
        mut prev: Hex,
        os: Option<&str>,
        failures: &[AnchorFailure],
    ) -> Result<Head> {
        let anchored = seq;
        let anchored_hash = hex_str(&prev).to_owned();
        let mut buf = Vec::with_capacity(failures.len() * 600);
        let mut last = None;
        for f in failures {
            seq += 1;
            let rec = Record::new("probity", "audit.anchor_failed", "")
                .reason("the log's head could not be copied to an anchor outside the log; until a later batch is anchored there, a rewrite of these entries cannot be detected against it")
                .details(serde_json::json!({
                    "sink": f.sink,
                    "seq": f.seq,
                    "hash": anchored_hash,
                    "error": f.error,
                }));
            let (entry, hash) = Entry::encode(rec, seq, &prev, os, &mut buf);
            eprintln!(
                "probity: warning: audit entry {anchored} could not be anchored in {}: {}; recorded as audit entry {seq}",
                f.sink, f.error
            );
            prev = hash;
            last = Some(entry.head());
        }
        self.write_lines(&buf)?;
        let last = last.expect("at least one failure");
        self.write_head(seq, &prev, last.at)?;
        Ok(last)
    }

    /// Refuses to extend a log that the head file shows was truncated or
    /// rewritten. A head file that lags (a crash after the log was written
    /// and before the head file was) is normal.
    fn check_head_file(&self, seq: u64, hash: &Hex) -> Result<()> {
        let mut bytes = Vec::with_capacity(HEAD_RECORD_LEN);
        let mut f = &self.head;
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.read_to_end(&mut bytes))
            .map_err(|e| Error::io(&self.head_path, e))?;
        // A missing or unreadable record is overwritten by this append: an
        // attacker able to garble it could as well write a plausible one, so
        // refusing would protect nothing (`verify` reports it).
        if let HeadFile::Valid {
            seq: h, hash: hh, ..
        } = parse_head_record(&bytes)
        {
            if h > seq {
                return Err(Error::AppendRefused {
                    path: self.log_path.clone(),
                    reason: format!(
                        "the head file {} records entry {h} (hash {}) but the log's last complete entry is {seq}: the log was truncated",
                        self.head_path.display(),
                        hex_str(&hh)
                    ),
                });
            }
            if h == seq && hh != *hash {
                return Err(Error::AppendRefused {
                    path: self.log_path.clone(),
                    reason: format!(
                        "the head file {} records hash {} for entry {h} but the log's entry {h} hashes to {}: the entry was rewritten",
                        self.head_path.display(),
                        hex_str(&hh),
                        hex_str(hash)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Truncates the torn tail away, durably; returns its BLAKE3.
    fn discard_torn(&self, complete_len: u64, torn: u64) -> Result<String> {
        let io = |e| Error::io(&self.log_path, e);
        let mut hasher = blake3::Hasher::new();
        let mut f = &self.log;
        f.seek(SeekFrom::Start(complete_len)).map_err(io)?;
        let copied = std::io::copy(&mut f.take(torn), &mut hasher).map_err(io)?;
        if copied != torn {
            return Err(Error::io(
                &self.log_path,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the log shrank while the lock was held",
                ),
            ));
        }
        self.log.set_len(complete_len).map_err(io)?;
        self.log.sync_data().map_err(io)?;
        Ok(hasher.finalize().to_hex().to_string())
    }

    /// Writes whole lines at the end of the log and fsyncs them.
    fn write_lines(&self, buf: &[u8]) -> Result<()> {
        let io = |e| Error::io(&self.log_path, e);
        let mut f = &self.log;
        if failpoint_armed("audit.mid-append") {
            let (first, rest) = buf.split_at(buf.len() / 2);
            f.write_all(first).map_err(io)?;
            self.log.sync_data().map_err(io)?;
            failpoint("audit.mid-append");
            f.write_all(rest).map_err(io)?;
        } else {
            f.write_all(buf).map_err(io)?;
        }
        self.log.sync_data().map_err(io)
    }

    /// Overwrites the head file's record in place and fsyncs it.
    fn write_head(&self, seq: u64, hash: &Hex, at: jiff::Timestamp) -> Result<()> {
        let io = |e| Error::io(&self.head_path, e);
        let rec = encode_head_record(seq, hash, at);
        let mut f = &self.head;
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        f.write_all(&rec).map_err(io)?;
        if self.head.metadata().map_err(io)?.len() > HEAD_RECORD_LEN as u64 {
            self.head.set_len(HEAD_RECORD_LEN as u64).map_err(io)?;
        }
        self.head.sync_data().map_err(io)
    }
}
