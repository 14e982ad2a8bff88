//! Records, entries, and the exact bytes of a log line.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A hash as 64 lowercase hex digits.
pub(crate) type Hex = [u8; 64];

/// The `prev` of entry 1.
pub(crate) const ZERO_HEX: Hex = [b'0'; 64];

/// `,"hash":"`: what separates the hashed body from the hash.
const HASH_KEY: &[u8] = b",\"hash\":\"";

/// Length of `,"hash":"<64 hex>"}`, the part of a line (newline excluded)
/// after the hashed body.
pub(crate) const SUFFIX_LEN: usize = HASH_KEY.len() + 64 + 2;

/// What a caller asks to be recorded. The log adds `seq`, `at` (unless
/// given), `prev` and `hash`.
///
/// ```
/// use probity_audit::Record;
/// let rec = Record::new("PC-4821", "reveal", "F-00017")
///     .person("P-3f9a0c2e71b4d856")
///     .reason("pattern of voids after shift end, case 22/41")
///     .details(serde_json::json!({"score": 0.93}));
/// assert_eq!(rec.action, "reveal");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Who acted: a user name, or `probity` for the system itself.
    pub actor: String,
    /// What was done, dotted: `reveal`, `reveal.refused`, `ingest.begin`.
    /// Letters, digits, `_` and `-`, in non-empty parts separated by `.`.
    pub action: String,
    /// What it was done to: a finding id, a batch id; may be empty.
    pub object: String,
    /// The person concerned, as a pseudonym; never a real name.
    pub person: Option<String>,
    /// Why, in the actor's words.
    pub reason: Option<String>,
    /// Anything else, as a JSON object (`null` is recorded as `{}`).
    pub details: Value,
    /// When; `None` means now. Kept to the microsecond.
    pub at: Option<Timestamp>,
}

impl Record {
    /// A record with no person, no reason, empty details, stamped when it
    /// is appended.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        object: impl Into<String>,
    ) -> Self {
        Record {
            actor: actor.into(),
            action: action.into(),
            object: object.into(),
            person: None,
            reason: None,
            details: Value::Object(serde_json::Map::new()),
            at: None,
        }
    }

    /// Sets the person's pseudonym.
    pub fn person(mut self, person: impl Into<String>) -> Self {
        self.person = Some(person.into());
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the details (a JSON object).
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Sets the time instead of the time of appending (for tests and
    /// imports).
    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = Some(at);
        self
    }

    /// Checks the record and normalises it: `null` details become `{}`,
    /// `at` is truncated to the microsecond.
    pub(crate) fn validate(&mut self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidRecord { reason });
        if self.actor.is_empty() {
            return bad("the actor is empty".into());
        }
        if !valid_action(&self.action) {
            return bad(format!(
                "the action {:?} is not dotted words (letters, digits, `_`, `-`, separated by single dots, like `reveal.refused`)",
                self.action
            ));
        }
        match self.details {
            Value::Object(_) => {}
            Value::Null => self.details = Value::Object(serde_json::Map::new()),
            _ => {
                return bad(format!(
                    "details must be a JSON object, not {}",
                    self.details
                ));
            }
        }
        if let Some(at) = self.at {
            self.at = Some(micros(at)?);
        }
        Ok(())
    }
}

fn valid_action(action: &str) -> bool {
    !action.is_empty()
        && action.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// The current time, truncated to the microsecond.
pub(crate) fn now() -> Timestamp {
    let now = Timestamp::now();
    // The current time is always in range.
    Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now)
}

/// `at` truncated to the microsecond (the precision recorded).
pub(crate) fn micros(at: Timestamp) -> Result<Timestamp> {
    Timestamp::from_microsecond(at.as_microsecond()).map_err(|e| Error::InvalidRecord {
        reason: format!("time {at} is out of range: {e}"),
    })
}

/// One line of the log.
///
/// Serialises (with `serde_json`) to exactly the stored line, without its
/// newline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When, RFC 3339 in UTC with microseconds:
    /// `2026-11-27T16:00:00.123456Z`.
    #[serde(with = "at_format")]
    pub at: Timestamp,
    /// Who acted.
    pub actor: String,
    /// The operating-system account of the process that appended the
    /// entry, from its real uid (never `$USER`): `alice(1000)`, or
    /// `uid:1000` when the uid has no name in `/etc/passwd`. Absent from
    /// entries written before it was recorded (they still verify: the hash
    /// covers the stored bytes, whatever fields they hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// What was done, dotted.
    pub action: String,
    /// What it was done to; may be empty.
    pub object: String,
    /// The person concerned, as a pseudonym.
    pub person: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Anything else: a JSON object, `{}` when none.
    pub details: Value,
    /// `hash` of the previous entry; 64 zeros for entry 1.
    pub prev: String,
    /// BLAKE3, in lowercase hex, of the line's bytes before `,"hash":"`.
    pub hash: String,
}

/// The hashed part of a line: every field but `hash`, in order.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    #[serde(with = "at_format")]
    at: Timestamp,
    actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    os: Option<&'a str>,
    action: &'a str,
    object: &'a str,
    person: Option<&'a str>,
    reason: Option<&'a str>,
    details: &'a Value,
    prev: &'a str,
}

impl Entry {
    /// Builds entry `seq` from a validated record, chained to `prev`,
    /// stamped with the operating-system account `os`, and appends its line
    /// (with newline) to `out`.
    /// Returns the entry and its hash. `rec.at` of `None` means now.
    pub(crate) fn encode(
        rec: Record,
        seq: u64,
        prev: &Hex,
        os: Option<&str>,
        out: &mut Vec<u8>,
    ) -> (Entry, Hex) {
        let at = match rec.at {
            Some(at) => at,
            None => now(),
        };
        let mut entry = Entry {
            seq,
            at,
            actor: rec.actor,
            os: os.map(str::to_owned),
            action: rec.action,
            object: rec.object,
            person: rec.person,
            reason: rec.reason,
            details: rec.details,
            prev: hex_str(prev).to_owned(),
            hash: String::new(),
        };
        let start = out.len();
        let body = Body {
            seq,
            at: entry.at,
            actor: &entry.actor,
            os: entry.os.as_deref(),
            action: &entry.action,
            object: &entry.object,
            person: entry.person.as_deref(),
            reason: entry.reason.as_deref(),
            details: &entry.details,
            prev: &entry.prev,
        };
        // Serialising plain strings and a `Value` into a Vec cannot fail.
        serde_json::to_writer(&mut *out, &body).expect("serialising an audit entry");
        debug_assert_eq!(out.last(), Some(&b'}'));
        out.pop();
        let hash = blake3::hash(&out[start..]).to_hex();
        out.extend_from_slice(HASH_KEY);
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(b"\"}\n");
        entry.hash = hash.as_str().to_owned();
        let mut hex = [0u8; 64];
        hex.copy_from_slice(hash.as_bytes());
        (entry, hex)
    }

    /// The entry as a chain head.
    pub fn head(&self) -> crate::Head {
        crate::Head {
            seq: self.seq,
            hash: self.hash.clone(),
            at: self.at,
        }
    }
}

/// A `Hex` as `&str`.
pub(crate) fn hex_str(h: &Hex) -> &str {
    // Only ever filled with ASCII hex digits.
    std::str::from_utf8(h).expect("hex digits are ASCII")
}

/// Whether `s` is 64 lowercase hex digits; if so, as a `Hex`.
pub(crate) fn parse_hex(s: &[u8]) -> Option<Hex> {
    if s.len() == 64 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        let mut h = [0u8; 64];
        h.copy_from_slice(s);
        Some(h)
    } else {
        None
    }
}

/// Whether lowercase hex `hex` encodes `bytes`.
fn hex_matches(hex: &Hex, bytes: &[u8; 32]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hex.chunks_exact(2)
        .zip(bytes)
        .all(|(h, b)| h[0] == DIGITS[(b >> 4) as usize] && h[1] == DIGITS[(b & 15) as usize])
}

/// Formats a timestamp as recorded: RFC 3339, UTC, six fractional digits.
pub(crate) struct Micros(pub Timestamp);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}", self.0)
    }
}

/// Parses a timestamp in exactly the recorded form.
pub(crate) fn parse_at(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 27 || b[19] != b'.' || b[26] != b'Z' {
        return None;
    }
    s.parse().ok()
}

mod at_format {
    use super::{Micros, parse_at};
    use jiff::Timestamp;
    use serde::{Deserializer, Serializer, de::Error as _};
    use std::borrow::Cow;

    pub fn serialize<S: Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Micros(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s: Cow<'de, str> = super::borrow_str(d)?;
        parse_at(&s).ok_or_else(|| {
            D::Error::custom(format!(
                "`at` {s:?} is not an RFC 3339 UTC time with microseconds"
            ))
        })
    }
}

/// Deserialises a string, borrowing it when it has no escapes.
fn borrow_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    d.deserialize_str(V)
}

fn borrow_opt_str<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            borrow_str(d).map(Some)
        }
    }
    d.deserialize_option(V)
}

/// A line parsed for checking and filtering: strings borrowed from the line
/// where they have no escapes; `details` checked for syntax only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntry<'a> {
    pub seq: u64,
    #[serde(borrow, deserialize_with = "borrow_str")]
    pub at: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "borrow_str")]
    pub actor: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "borrow_opt_str")]
    #[allow(dead_code)]
    pub os: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "borrow_str")]
    pub action: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "borrow_str")]
    pub object: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "borrow_opt_str")]
    pub person: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "borrow_opt_str")]
    #[allow(dead_code)]
    pub reason: Option<Cow<'a, str>>,
    #[allow(dead_code)]
    pub details: serde::de::IgnoredAny,
    #[serde(borrow, deserialize_with = "borrow_str")]
    pub prev: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "borrow_str")]
    pub hash: Cow<'a, str>,
}

/// A line that passed its own checks.
#[derive(Debug)]
pub(crate) struct Checked<'a> {
    pub raw: RawEntry<'a>,
    pub at: Timestamp,
    pub prev: Hex,
    pub hash: Hex,
}

/// Checks one line (newline removed) on its own: the suffix shape, the
/// hash of the body bytes, the JSON, the field formats. Not the chain.
pub(crate) fn check_line(line: &[u8]) -> std::result::Result<Checked<'_>, String> {
    if line.len() < SUFFIX_LEN + 2 {
        return Err(format!(
            "the line is {} bytes long, too short to be an entry",
            line.len()
        ));
    }
    let split = line.len() - SUFFIX_LEN;
    let (body, suffix) = line.split_at(split);
    let stored = if suffix.starts_with(HASH_KEY) && suffix.ends_with(b"\"}") {
        parse_hex(&suffix[HASH_KEY.len()..HASH_KEY.len() + 64])
    } else {
        None
    };
    let Some(stored) = stored else {
        return Err("the line does not end with `,\"hash\":\"<64 lowercase hex>\"}`".into());
    };
    let actual = blake3::hash(body);
    if !hex_matches(&stored, actual.as_bytes()) {
        return Err(format!(
            "its stored hash {} is not the BLAKE3 hash of its bytes ({})",
            hex_str(&stored),
            actual.to_hex().as_str()
        ));
    }
    let raw: RawEntry<'_> = serde_json::from_slice(line)
        .map_err(|e| format!("its hash is right but it is not a valid entry: {e}"))?;
    if raw.seq == 0 {
        return Err("its seq is 0 (entries count from 1)".into());
    }
    let Some(prev) = parse_hex(raw.prev.as_bytes()) else {
        return Err("its prev is not 64 lowercase hex digits".into());
    };
    if raw.hash.as_bytes() != stored {
        return Err("its hash field does not match the line's suffix".into());
    }
    let Some(at) = parse_at(&raw.at) else {
        return Err(format!(
            "its time {:?} is not RFC 3339 UTC with microseconds",
            raw.at
        ));
    };
    Ok(Checked {
        raw,
        at,
        prev,
        hash: stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts() -> Timestamp {
        Timestamp::from_microsecond(1_795_881_600_123_456).unwrap()
    }

    #[test]
    fn line_format_is_body_then_hash_of_body() {
        let mut rec = Record::new("PC-1", "reveal", "F-1")
            .person("P-00ff")
            .at(ts())
            .details(serde_json::json!({"b": 2, "a": "x\ny"}));
        rec.validate().unwrap();
        let mut out = Vec::new();
        let (e, hex) = Entry::encode(rec, 1, &ZERO_HEX, Some("alice(1000)"), &mut out);
        assert_eq!(hex_str(&hex), e.hash);
        let line = std::str::from_utf8(&out).unwrap();
        assert!(line.ends_with("\"}\n"));
        assert_eq!(line.matches('\n').count(), 1, "escaped newline only");
        assert!(line.starts_with(
            "{\"seq\":1,\"at\":\"2026-11-28T16:00:00.123456Z\",\"actor\":\"PC-1\",\"os\":\"alice(1000)\",\"action\":\"reveal\",\"object\":\"F-1\",\"person\":\"P-00ff\",\"reason\":null,\"details\":{\"a\":\"x\\ny\",\"b\":2},\"prev\":\"0000"
        ));
        let body_end = line.len() - 1 - SUFFIX_LEN;
        assert_eq!(
            blake3::hash(&out[..body_end]).to_hex().as_str(),
            e.hash.as_str()
        );
        // The Entry serialises to the stored line.
        assert_eq!(serde_json::to_string(&e).unwrap(), line.trim_end());
        let back: Entry = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(back, e);
        let c = check_line(&out[..out.len() - 1]).unwrap();
        assert_eq!(c.raw.seq, 1);
        assert_eq!(c.at, ts());
        // One changed byte in the body breaks the hash.
        let mut bad = out[..out.len() - 1].to_vec();
        bad[30] ^= 1;
        assert!(
            check_line(&bad)
                .unwrap_err()
                .contains("not the BLAKE3 hash")
        );
        // A changed suffix shape is refused.
        let mut bad = out[..out.len() - 1].to_vec();
        let n = bad.len();
        bad[n - 1] = b' ';
        assert!(check_line(&bad).unwrap_err().contains("does not end with"));
    }

    #[test]
    fn the_os_field_is_hashed_and_optional() {
        let rec = || {
            let mut r = Record::new("os:alice", "sql", "").at(ts());
            r.validate().unwrap();
            r
        };
        // Without an os (as written before it was recorded): no field, and
        // the line still checks and reads back.
        let mut old = Vec::new();
        let (e, _) = Entry::encode(rec(), 1, &ZERO_HEX, None, &mut old);
        let line = std::str::from_utf8(&old).unwrap().trim_end();
        assert!(!line.contains("\"os\""), "{line}");
        assert!(check_line(line.as_bytes()).is_ok());
        assert_eq!(serde_json::from_str::<Entry>(line).unwrap(), e);
        assert_eq!(e.os, None);
        // With one: between actor and action, and under the hash.
        let mut new = Vec::new();
        let (e, _) = Entry::encode(rec(), 1, &ZERO_HEX, Some("alice(1000)"), &mut new);
        let line = std::str::from_utf8(&new).unwrap().trim_end();
        assert!(
            line.contains("\"actor\":\"os:alice\",\"os\":\"alice(1000)\",\"action\":\"sql\""),
            "{line}"
        );
        assert_eq!(serde_json::to_string(&e).unwrap(), line);
        let c = check_line(line.as_bytes()).unwrap();
        assert_eq!(c.raw.os.as_deref(), Some("alice(1000)"));
        let forged = line.replace("alice(1000)", "bob(1001)!");
        assert!(
            check_line(forged.as_bytes())
                .unwrap_err()
                .contains("not the BLAKE3 hash")
        );
    }

    #[test]
    fn validation() {
        let ok = |a: &str| Record::new("x", a, "").validate().is_ok();
        assert!(ok("reveal") && ok("reveal.refused") && ok("ingest.begin") && ok("a_b-c.d"));
        assert!(!ok("") && !ok(".reveal") && !ok("reveal.") && !ok("a..b") && !ok("a b"));
        assert!(Record::new("", "x", "").validate().is_err());
        let mut r = Record::new("x", "y", "").details(Value::Null);
        r.validate().unwrap();
        assert_eq!(r.details, serde_json::json!({}));
        assert!(
            Record::new("x", "y", "")
                .details(serde_json::json!([1]))
                .validate()
                .is_err()
        );
        let mut r = Record::new("x", "y", "")
            .at(Timestamp::from_nanosecond(1_795_881_600_123_456_789).unwrap());
        r.validate().unwrap();
        assert_eq!(r.at.unwrap().as_microsecond(), 1_795_881_600_123_456);
    }
}
