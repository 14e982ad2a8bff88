//! Verifying the whole chain and classifying the first break.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use jiff::Timestamp;

use crate::anchor::{Anchored, Anchors};
use crate::entry::{Hex, ZERO_HEX, check_line, hex_str};
use crate::error::{Error, Result};
use crate::head::{Anchor, Head, HeadFile, parse_head_record};
use crate::{HEAD_FILE, LOG_FILE};

/// How many lines after the first failure `verify` reads to tell an
/// insertion, a deletion and a reordering apart.
pub const LOOKAHEAD: usize = 1000;

/// What kind of tampering a break looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TamperKind {
    /// An entry's content was changed after it was written (whether or not
    /// its hash was recomputed).
    Edited,
    /// One or more entries were removed from the middle of the log.
    Deleted,
    /// A line that is not part of the chain was inserted: a fabricated
    /// entry or a copy of an existing one.
    Inserted,
    /// Entries are all present but out of order.
    Reordered,
    /// Entries were removed from the end of the log.
    Truncated,
    /// The chain and the head file are consistent, but an anchor kept
    /// outside the log disagrees: the entry it names is gone (the log was
    /// truncated) or hashes differently (the log was rewritten from some
    /// entry on and every later hash recomputed), after it was anchored.
    RewrittenAfterAnchoring,
}

impl fmt::Display for TamperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TamperKind::Edited => "an entry was edited",
            TamperKind::Deleted => "entries were deleted",
            TamperKind::Inserted => "a line was inserted",
            TamperKind::Reordered => "entries were reordered",
            TamperKind::Truncated => "the log was truncated",
            TamperKind::RewrittenAfterAnchoring => "rewritten after anchoring",
        })
    }
}

/// The first place where the log cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// The line (from 1) of the first entry that cannot be trusted; for
    /// [`TamperKind::Inserted`] the inserted line; for
    /// [`TamperKind::Truncated`] one past the last line.
    pub line: u64,
    /// The first entry that cannot be trusted; for
    /// [`TamperKind::Deleted`] and [`TamperKind::Truncated`] the first
    /// missing entry; for [`TamperKind::Inserted`] the entry the inserted
    /// line precedes; for [`TamperKind::Reordered`] the first entry out of
    /// place; for [`TamperKind::RewrittenAfterAnchoring`] the first entry
    /// after the last anchor that still agrees (the first missing entry
    /// when the log was truncated).
    pub seq: u64,
    /// The classification.
    pub kind: TamperKind,
    /// What was found, in plain English.
    pub detail: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (line {}, entry {}): {}",
            self.kind, self.line, self.seq, self.detail
        )
    }
}

/// An anchor the log disagrees with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorBreak {
    /// The anchor, and where it was kept.
    pub anchored: Anchored,
    /// The hash the log holds for the anchored entry; `None` if the log no
    /// longer holds it.
    pub found: Option<String>,
    /// What was found, in plain English.
    pub detail: String,
}

impl fmt::Display for AnchorBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// The result of [`verify`] and [`verify_with_anchors`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries that passed the line and chain checks, counting from the
    /// start, before a break in the chain (all of them when the chain is
    /// unbroken; a break found afterwards, against the head file or an
    /// anchor, does not reduce it).
    pub entries: u64,
    /// The last of those entries: the chain head of an intact log.
    pub head: Option<Head>,
    /// The size of an incomplete final line (an interrupted append, which
    /// the next append discards and records), if any.
    pub torn_tail_bytes: Option<u64>,
    /// The first break, if any.
    pub broken: Option<Break>,
    /// Observations that are not tampering: a head file that lags the log
    /// after a crash, a missing or unreadable head file, anchors that could
    /// not be written.
    pub notes: Vec<String>,
    /// Anchors compared with the log (agreeing or not).
    pub anchors_checked: u64,
    /// Anchors not compared: they name entries at or after a break in the
    /// chain, which cannot be trusted anyway.
    pub anchors_unchecked: u64,
    /// Every anchor the log disagrees with, in the order given.
    pub anchor_breaks: Vec<AnchorBreak>,
    /// Anchor sources (or parts of them) that could not be read (from
    /// [`Anchors::problems`]).
    pub anchor_problems: Vec<String>,
}

impl VerifyReport {
    /// Whether the log verified: no break was found, and every anchor
    /// source could be read (an anchor that cannot be read cannot show a
    /// rewrite, so the result is inconclusive, not intact). A torn tail
    /// alone leaves a log intact.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none() && self.anchor_problems.is_empty()
    }
}

/// How many disagreeing anchors `Display` lists.
const SHOWN_ANCHOR_BREAKS: usize = 5;

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.broken {
            None if self.anchor_problems.is_empty() => {
                write!(f, "intact: {} entries", self.entries)?
            }
            None => write!(
                f,
                "UNVERIFIED: the chain and head file are consistent ({} entries), but not every anchor could be read",
                self.entries
            )?,
            Some(b) => write!(
                f,
                "BROKEN: {b}; {} entries pass the chain checks",
                self.entries
            )?,
        }
        if let Some(h) = &self.head {
            write!(f, "; head {h}")?;
        }
        if self.anchors_checked + self.anchors_unchecked > 0 {
            write!(f, "; checked against {} anchors", self.anchors_checked)?;
            if self.anchors_unchecked > 0 {
                write!(
                    f,
                    " ({} more name entries after the break and were not checked)",
                    self.anchors_unchecked
                )?;
            }
        }
        for b in self.anchor_breaks.iter().take(SHOWN_ANCHOR_BREAKS) {
            write!(f, "; ANCHOR DISAGREES: {b}")?;
        }
        if self.anchor_breaks.len() > SHOWN_ANCHOR_BREAKS {
            write!(
                f,
                "; and {} more anchors disagree",
                self.anchor_breaks.len() - SHOWN_ANCHOR_BREAKS
            )?;
        }
        for p in &self.anchor_problems {
            write!(f, "; ANCHORS UNREADABLE: {p}")?;
        }
        if let Some(n) = self.torn_tail_bytes {
            write!(
                f,
                "; the log ends with {n} bytes of an interrupted append, discarded at the next append"
            )?;
        }
        for note in &self.notes {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

/// A line that passed its own checks.
#[derive(Clone, Copy)]
struct Link {
    seq: u64,
    prev: Hex,
    hash: Hex,
    at: Timestamp,
    /// An `audit.anchor_failed` entry.
    anchor_failed: bool,
}

impl Link {
    fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: hex_str(&self.hash).to_owned(),
            at: self.at,
        }
    }
}

fn link(line: &[u8]) -> std::result::Result<Link, String> {
    check_line(line).map(|c| Link {
        seq: c.raw.seq,
        prev: c.prev,
        hash: c.hash,
        at: c.at,
        anchor_failed: c.raw.action == "audit.anchor_failed",
    })
}

/// Verifies the whole log in `dir` against its head file and, if given,
/// one anchor kept elsewhere: [`verify_with_anchors`] with that anchor.
pub fn verify(dir: &Path, anchor: Option<&Anchor>) -> Result<VerifyReport> {
    let anchors = match anchor {
        Some(a) => Anchors::given(a.clone()),
        None => Anchors::new(),
    };
    verify_with_anchors(dir, &anchors)
}

/// Verifies the whole log in `dir`, streaming it once: every line's hash
/// over its exact bytes, its JSON, and the chain (seq counting up from 1,
/// each `prev` the previous `hash`). Then every anchor, then the `head`
/// file.
///
/// Reports the first entry that cannot be trusted and classifies the
/// break (see [`TamperKind`]), reading up to [`LOOKAHEAD`] lines past the
/// first failure to do so. The classification is a best explanation of
/// the evidence, not proof of what an attacker did.
///
/// Each anchor (seq, hash) must name an entry the log still holds, with
/// that hash; otherwise the log was rewritten after the anchor was taken
/// ([`TamperKind::RewrittenAfterAnchoring`]), which neither the chain nor
/// the head file can show when both were rewritten together. Every such
/// anchor is listed in [`VerifyReport::anchor_breaks`]; a break in the
/// chain itself comes first if it is at an earlier entry. Anchors naming
/// entries at or after a break in the chain are not checked. The problems
/// of `anchors` (sources that could not be read) are carried into the
/// report and make it inconclusive ([`VerifyReport::is_intact`]).
///
/// Read `anchors` before calling this: the log only grows, so anchors read
/// first name entries it must hold, even while other processes append.
/// Safe to run while other processes append (the head file is read before
/// the log); an append in progress may show as a torn tail. An error only
/// if the directory or a file of the log cannot be read.
pub fn verify_with_anchors(dir: &Path, anchors: &Anchors) -> Result<VerifyReport> {
    std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    let head_path = dir.join(HEAD_FILE);
    let head_file = match std::fs::read(&head_path) {
        Ok(b) => parse_head_record(&b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HeadFile::Empty,
        Err(e) => return Err(Error::io(head_path, e)),
    };
    let log_path = dir.join(LOG_FILE);
    let io = |e| Error::io(&log_path, e);
    let file = match File::open(&log_path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let head_seq = match head_file {
        HeadFile::Valid { seq, .. } => seq,
        _ => 0,
    };
    let anchored: HashSet<u64> = anchors.anchors.iter().map(|a| a.anchor.seq).collect();

    let mut lines = 0u64;
    let mut last: Option<Link> = None;
    let mut before_last: Option<Link> = None;
    let mut torn = None;
    // (line, hash) of the entry the head file names.
    let mut head_seen: Option<(u64, Hex)> = None;
    // The hashes of the anchored entries, by seq.
    let mut seen: HashMap<u64, Hex> = HashMap::new();
    // `audit.anchor_failed` entries: how many, and the last one's seq.
    let mut failed = (0u64, 0u64);
    let mut notes = Vec::new();

    if let Some(file) = file {
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                torn = Some(n as u64);
                break;
            }
            line.pop();
            lines += 1;
            let expected = last.map_or(1, |l| l.seq + 1);
            let prev = last.map_or(ZERO_HEX, |l| l.hash);
            let cur = link(&line);
            match cur {
                Ok(c) if c.seq == expected && c.prev == prev => {
                    if c.seq == head_seq {
                        head_seen = Some((lines, c.hash));
                    }
                    if anchored.contains(&c.seq) {
                        seen.insert(c.seq, c.hash);
                    }
                    if c.anchor_failed {
                        failed = (failed.0 + 1, c.seq);
                    }
                    before_last = last;
                    last = Some(c);
                }
                cur => {
                    let ahead = read_ahead(&mut reader, &mut line).map_err(io)?;
                    let brk = classify(lines, expected, last, before_last, cur, &ahead);
                    // The last entry before the break.
                    let trusted = if brk.line + 1 == lines {
                        before_last
                    } else {
                        last
                    };
                    // Only anchors of entries before the break can be
                    // compared; one that disagrees there comes first.
                    let entries = brk.line - 1;
                    let checked = check_anchors(anchors, &seen, Some(brk.seq), 0, 0, "");
                    let broken = match checked.first {
                        Some(a) if a.seq < brk.seq => a,
                        _ => brk,
                    };
                    notes.extend(failed_note(failed));
                    return Ok(VerifyReport {
                        entries,
                        head: trusted.map(|l| l.head()),
                        torn_tail_bytes: None,
                        broken: Some(broken),
                        notes,
                        anchors_checked: checked.checked,
                        anchors_unchecked: checked.unchecked,
                        anchor_breaks: checked.breaks,
                        anchor_problems: anchors.problems.clone(),
                    });
                }
            }
        }
    }

    let last_seq = last.map_or(0, |l| l.seq);
    let torn_note = match torn {
        Some(n) => format!(" (after it, {n} bytes of an incomplete entry)"),
        None => String::new(),
    };
    let checked = check_anchors(anchors, &seen, None, last_seq, lines, &torn_note);
    let mut broken = checked.first;
    match head_file {
        _ if broken.is_some() => {}
        HeadFile::Valid { seq, hash, .. } => {
            if seq > last_seq {
                broken = Some(Break {
                    line: lines + 1,
                    seq: last_seq + 1,
                    kind: TamperKind::Truncated,
                    detail: format!(
                        "the head file records entry {seq} (hash {}) as written, but the log ends at entry {last_seq}{torn_note}: entries {} to {seq} were removed from the end",
                        hex_str(&hash),
                        last_seq + 1
                    ),
                });
            } else if let Some((line, seen)) = head_seen
                && seen != hash
            {
                broken = Some(Break {
                    line,
                    seq,
                    kind: TamperKind::Edited,
                    detail: format!(
                        "the head file records hash {} for entry {seq} but the log's entry {seq} hashes to {}: entry {seq} or an earlier one was rewritten and the chain recomputed",
                        hex_str(&hash),
                        hex_str(&seen)
                    ),
                });
            } else if seq < last_seq {
                notes.push(format!(
                    "the head file records entry {seq}, behind the log's last entry {last_seq}: an append was interrupted after writing its entries and before updating the head file; the next append updates it"
                ));
            }
        }
        HeadFile::Empty if last_seq > 0 => notes.push(format!(
            "the head file {} is missing or empty, so truncation of the log cannot be detected from it (use an anchor); the next append rewrites it",
            head_path.display()
        )),
        HeadFile::Empty => {}
        HeadFile::Garbled(why) => notes.push(format!(
            "the head file {} cannot be read ({why}), so truncation of the log cannot be detected from it (use an anchor); the next append rewrites it",
            head_path.display()
        )),
    }
    notes.extend(failed_note(failed));
    Ok(VerifyReport {
        entries: lines,
        head: last.map(|l| l.head()),
        torn_tail_bytes: torn,
        broken,
        notes,
        anchors_checked: checked.checked,
        anchors_unchecked: checked.unchecked,
        anchor_breaks: checked.breaks,
        anchor_problems: anchors.problems.clone(),
    })
}

/// The note on `audit.anchor_failed` entries, if the log holds any.
fn failed_note((count, last): (u64, u64)) -> Option<String> {
    (count > 0).then(|| {
        format!(
            "{count} anchor write(s) failed (`audit.anchor_failed` entries, the last at entry {last}): the anchors of those batches are missing where they failed; each later batch anchored there covers the entries before it"
        )
    })
}

/// The anchors compared with the log.
struct AnchorCheck {
    checked: u64,
    unchecked: u64,
    breaks: Vec<AnchorBreak>,
    /// The break to report for the earliest disagreeing anchor.
    first: Option<Break>,
}

/// Compares every anchor with the log. `seen` holds the hashes of the
/// anchored entries the verified chain holds (entry `n` on line `n`);
/// anchors naming entry `limit` or later are not compared (they are past a
/// break in the chain); otherwise the chain ends at entry `last_seq`, on
/// line `lines`.
fn check_anchors(
    anchors: &Anchors,
    seen: &HashMap<u64, Hex>,
    limit: Option<u64>,
    last_seq: u64,
    lines: u64,
    torn_note: &str,
) -> AnchorCheck {
    let mut out = AnchorCheck {
        checked: 0,
        unchecked: 0,
        breaks: Vec::new(),
        first: None,
    };
    // The anchored entries the log still agrees with.
    let mut agreeing = Vec::new();
    for a in &anchors.anchors {
        let seq = a.anchor.seq;
        if limit.is_some_and(|l| seq >= l) {
            out.unchecked += 1;
            continue;
        }
        out.checked += 1;
        match seen.get(&seq) {
            Some(h) if hex_str(h) == a.anchor.hash => agreeing.push(seq),
            Some(h) => out.breaks.push(AnchorBreak {
                anchored: a.clone(),
                found: Some(hex_str(h).to_owned()),
                detail: format!("{a}, but the log's entry {seq} hashes to {}", hex_str(h)),
            }),
            None => out.breaks.push(AnchorBreak {
                anchored: a.clone(),
                found: None,
                detail: format!("{a}, but the log ends at entry {last_seq}{torn_note}"),
            }),
        }
    }
    let Some(first) = out.breaks.iter().min_by_key(|b| b.anchored.anchor.seq) else {
        return out;
    };
    let seq = first.anchored.anchor.seq;
    out.first = Some(match &first.found {
        Some(found) => {
            // Every entry up to an agreeing anchor is as anchored (each
            // hash covers all before it), so the rewrite starts after the
            // last agreeing anchor below this one.
            let from = agreeing.iter().copied().filter(|&s| s < seq).max();
            let start = from.map_or(1, |k| k + 1);
            let bound = match from {
                Some(k) if k + 1 == seq => format!(
                    "; the log still agrees with the anchor of entry {k}, so entry {seq} is the first rewritten"
                ),
                Some(k) => format!(
                    "; the log still agrees with the anchor of entry {k}, so the rewrite begins between entries {start} and {seq}"
                ),
                None => format!(
                    "; no anchor of an earlier entry agrees, so the rewrite may begin anywhere from entry 1 to entry {seq}"
                ),
            };
            Break {
                line: start,
                seq: start,
                kind: TamperKind::RewrittenAfterAnchoring,
                detail: format!(
                    "{}, but the log's entry {seq} hashes to {found}: the log was rewritten after it was anchored (an entry changed, removed or inserted, and every later hash recomputed, the head file with them){bound}",
                    first.anchored
                ),
            }
        }
        None => Break {
            line: lines + 1,
            seq: last_seq + 1,
            kind: TamperKind::RewrittenAfterAnchoring,
            detail: format!(
                "{}, but the log ends at entry {last_seq}{torn_note}: entries {} to {seq} at least were removed after they were anchored",
                first.anchored,
                last_seq + 1
            ),
        },
    });
    out
}

/// Up to [`LOOKAHEAD`] complete lines after the first failure, each
/// checked on its own.
fn read_ahead(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Vec<std::result::Result<Link, String>>> {
    let mut ahead = Vec::new();
    while ahead.len() < LOOKAHEAD {
        line.clear();
        if reader.read_until(b'\n', line)? == 0 || line.last() != Some(&b'\n') {
            break;
        }
        line.pop();
        ahead.push(link(line));
    }
    Ok(ahead)
}

/// Classifies the first failure, at line `l` where entry `e` was expected.
/// `last` is the entry verified on line `l - 1` and `before_last` the one
/// on line `l - 2`.
fn classify(
    l: u64,
    e: u64,
    last: Option<Link>,
    before_last: Option<Link>,
    cur: std::result::Result<Link, String>,
    ahead: &[std::result::Result<Link, String>],
) -> Break {
    let p = last.map_or(ZERO_HEX, |x| x.hash);
    let next = ahead.first().and_then(|x| x.as_ref().ok());
    let next_resumes = next.is_some_and(|n| n.seq == e && n.prev == p);
    let brk = |line, seq, kind, detail| Break {
        line,
        seq,
        kind,
        detail,
    };
    let cur = match cur {
        Err(reason) => {
            return if next_resumes {
                brk(
                    l,
                    e,
                    TamperKind::Inserted,
                    format!(
                        "line {l} is not a valid entry ({reason}), and the next line holds entry {e}, correctly chained: a fabricated line was inserted before entry {e}"
                    ),
                )
            } else {
                brk(
                    l,
                    e,
                    TamperKind::Edited,
                    format!(
                        "entry {e} (line {l}) fails its integrity check: {reason}; its content was changed after it was written"
                    ),
                )
            };
        }
        Ok(c) => c,
    };
    if cur.seq == e {
        // Valid on its own but not chained to its predecessor: the
        // predecessor was rewritten and rehashed after this entry was
        // written (or this entry's prev was altered and it was rehashed).
        return match last {
            Some(_) => brk(
                l - 1,
                e - 1,
                TamperKind::Edited,
                format!(
                    "entry {e} (line {l}) does not chain to entry {} (line {}): its prev is {} but entry {} hashes to {}; entry {} was rewritten and its hash recomputed after entry {e} was written (or entry {e}'s prev was altered)",
                    e - 1,
                    l - 1,
                    hex_str(&cur.prev),
                    e - 1,
                    hex_str(&p),
                    e - 1
                ),
            ),
            None => brk(
                l,
                e,
                TamperKind::Edited,
                format!(
                    "entry 1 (line 1) has prev {} instead of 64 zeros: it was rewritten",
                    hex_str(&cur.prev)
                ),
            ),
        };
    }
    if cur.seq > e {
        let found = ahead
            .iter()
            .position(|x| x.as_ref().is_ok_and(|x| x.seq == e));
        return match found {
            Some(i) => brk(
                l,
                e,
                TamperKind::Reordered,
                format!(
                    "line {l} holds entry {} where entry {e} was expected, and entry {e} is at line {}: the entries were reordered",
                    cur.seq,
                    l + 1 + i as u64
                ),
            ),
            None => {
                let missing = if cur.seq - 1 == e {
                    format!("entry {e} is missing")
                } else {
                    format!("entries {e} to {} are missing", cur.seq - 1)
                };
                brk(
                    l,
                    e,
                    TamperKind::Deleted,
                    format!(
                        "line {l} holds entry {} where entry {e} was expected: {missing} (deleted)",
                        cur.seq
                    ),
                )
            }
        };
    }
    // cur.seq < e: a second line claiming an earlier seq.
    if next_resumes {
        return brk(
            l,
            e,
            TamperKind::Inserted,
            format!(
                "line {l} holds a line claiming to be entry {} (a copy or a forgery) where entry {e} was expected, and the next line holds entry {e}, correctly chained: it was inserted before entry {e}",
                cur.seq
            ),
        );
    }
    if let Some(prev_entry) = last
        && cur.seq == e - 1
        && cur.prev == prev_entry.prev
        && cur.prev == before_last.map_or(ZERO_HEX, |b| b.hash)
    {
        // Lines l-1 and l both claim to be entry e-1 and both chain to
        // entry e-2: one of them was forged and rehashed.
        let continues_from_cur = next.is_some_and(|n| n.seq == e && n.prev == cur.hash);
        if continues_from_cur || next.is_none() {
            let which = if continues_from_cur {
                format!(
                    "the chain continues from line {l}, so line {} is the forgery",
                    l - 1
                )
            } else {
                "nothing follows to tell which is genuine".to_owned()
            };
            return brk(
                l - 1,
                e - 1,
                TamperKind::Inserted,
                format!(
                    "lines {} and {l} both claim to be entry {} and both chain to its predecessor: a forged entry with a recomputed hash was inserted; {which}",
                    l - 1,
                    e - 1,
                ),
            );
        }
    }
    brk(
        l,
        e,
        TamperKind::Reordered,
        format!(
            "line {l} holds entry {} where entry {e} was expected: the entries were reordered",
            cur.seq
        ),
    )
}
