//! The chain head: the last entry's seq and hash, the `head` file, and
//! anchors.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

use crate::entry::{Hex, Micros, hex_str, parse_at, parse_hex};
use crate::error::{Error, Result};

/// Size of the `head` file's single record.
pub(crate) const HEAD_RECORD_LEN: usize = 128;

/// The last entry of a log: what to copy somewhere the log's writers
/// cannot reach (a ticket, an email, a signed report) to anchor it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The entry's seq: the number of entries in the log.
    pub seq: u64,
    /// The entry's hash, 64 lowercase hex digits.
    pub hash: String,
    /// The entry's time.
    pub at: Timestamp,
}

impl Head {
    /// Parses an anchor, `SEQ:HASH`, as printed by this type's `Display`.
    pub fn parse_anchor(s: &str) -> Result<Anchor> {
        s.parse()
    }

    /// This head as an anchor (without the time).
    pub fn anchor(&self) -> Anchor {
        Anchor {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// `SEQ:HASH`, the form to copy elsewhere and give back to `verify`.
impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// An externally kept record of an entry's seq and hash: `verify` checks
/// that the log still holds that entry, unchanged. Anchoring is what
/// detects an attacker who truncated the log and rewrote its `head` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The entry's seq.
    pub seq: u64,
    /// The entry's hash, 64 lowercase hex digits.
    pub hash: String,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl FromStr for Anchor {
    type Err = Error;

    fn from_str(input: &str) -> Result<Anchor> {
        let bad = |reason: &str| Error::InvalidAnchor {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (seq, hash) = input
            .trim()
            .split_once(':')
            .ok_or_else(|| bad("no colon"))?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| bad("the part before the colon is not a sequence number"))?;
        if seq == 0 {
            return Err(bad("entries count from 1"));
        }
        let hash = hash.to_ascii_lowercase();
        if parse_hex(hash.as_bytes()).is_none() {
            return Err(bad("the part after the colon is not 64 hex digits"));
        }
        Ok(Anchor { seq, hash })
    }
}

impl From<&Head> for Anchor {
    fn from(h: &Head) -> Anchor {
        h.anchor()
    }
}

/// The `head` file's record: `{seq:020} {hash} {at}`, padded with spaces
/// to 127 bytes, then a newline.
pub(crate) fn encode_head_record(seq: u64, hash: &Hex, at: Timestamp) -> [u8; HEAD_RECORD_LEN] {
    let text = format!("{seq:020} {} {}", hex_str(hash), Micros(at));
    let mut rec = [b' '; HEAD_RECORD_LEN];
    rec[..text.len()].copy_from_slice(text.as_bytes());
    rec[HEAD_RECORD_LEN - 1] = b'\n';
    rec
}

/// What the `head` file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeadFile {
    /// Missing or empty: nothing appended yet (or it was deleted).
    Empty,
    /// A well-formed record.
    Valid { seq: u64, hash: Hex, at: Timestamp },
    /// Anything else.
    Garbled(String),
}

pub(crate) fn parse_head_record(bytes: &[u8]) -> HeadFile {
    if bytes.is_empty() {
        return HeadFile::Empty;
    }
    let garbled = |why: &str| HeadFile::Garbled(why.to_owned());
    if bytes.len() != HEAD_RECORD_LEN || bytes[HEAD_RECORD_LEN - 1] != b'\n' {
        return garbled("it is not a 128-byte record ending in a newline");
    }
    let Ok(text) = std::str::from_utf8(&bytes[..HEAD_RECORD_LEN - 1]) else {
        return garbled("it is not text");
    };
    let mut parts = text.trim_end_matches(' ').split(' ');
    let (Some(seq), Some(hash), Some(at), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return garbled("it does not have three fields");
    };
    let seq = match seq.parse::<u64>() {
        Ok(s) if seq.len() == 20 && s > 0 => s,
        _ => return garbled("its seq is not 20 digits"),
    };
    let Some(hash) = parse_hex(hash.as_bytes()) else {
        return garbled("its hash is not 64 lowercase hex digits");
    };
    let Some(at) = parse_at(at) else {
        return garbled("its time is not RFC 3339 with microseconds");
    };
    HeadFile::Valid { seq, hash, at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_record_round_trips() {
        let at = Timestamp::from_microsecond(1_795_881_600_000_001).unwrap();
        let hash = [b'a'; 64];
        let rec = encode_head_record(42, &hash, at);
        assert_eq!(rec.len(), 128);
        assert!(rec.starts_with(b"00000000000000000042 aaaa"));
        assert_eq!(
            parse_head_record(&rec),
            HeadFile::Valid { seq: 42, hash, at }
        );
        assert_eq!(parse_head_record(b""), HeadFile::Empty);
        assert!(matches!(
            parse_head_record(&rec[..100]),
            HeadFile::Garbled(_)
        ));
    }

    #[test]
    fn anchors_parse() {
        let h = format!("17:{}", "AB".repeat(32));
        let a = Head::parse_anchor(&h).unwrap();
        assert_eq!(a.seq, 17);
        assert_eq!(a.hash, "ab".repeat(32));
        assert_eq!(a.to_string(), h.to_lowercase());
        for bad in [
            "",
            "17",
            "x:ab",
            "0:aa",
            "17:abc",
            &format!("17:{}", "g".repeat(64)),
        ] {
            assert!(Head::parse_anchor(bad).is_err(), "{bad}");
        }
        let msg = Head::parse_anchor("17").unwrap_err().to_string();
        assert!(msg.contains("SEQ:HASH"), "{msg}");
    }
}
