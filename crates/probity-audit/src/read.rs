//! Reading entries, filtered, as a stream.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::LOG_FILE;
use crate::entry::{Entry, RawEntry, check_line};
use crate::error::{Error, Location, Result};

/// Which entries [`read`] yields. Every condition set must hold; the
/// default yields all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The actor, exactly.
    pub actor: Option<String>,
    /// The action, exactly or as a dotted prefix: `reveal` matches
    /// `reveal` and `reveal.refused` (not `revealed`); `ingest.` matches
    /// `ingest.begin` and `ingest.commit` (not `ingest`).
    pub action: Option<String>,
    /// The person's pseudonym, exactly.
    pub person: Option<String>,
    /// The object, exactly.
    pub object: Option<String>,
    /// Entries at or after this time.
    pub since: Option<Timestamp>,
    /// Entries before this time.
    pub until: Option<Timestamp>,
}

impl Filter {
    /// Whether `entry` passes the filter.
    pub fn matches(&self, entry: &Entry) -> bool {
        self.test(
            &entry.actor,
            &entry.action,
            entry.person.as_deref(),
            &entry.object,
            entry.at,
        )
    }

    fn matches_raw(&self, raw: &RawEntry<'_>, at: Timestamp) -> bool {
        self.test(
            &raw.actor,
            &raw.action,
            raw.person.as_deref(),
            &raw.object,
            at,
        )
    }

    fn test(
        &self,
        actor: &str,
        action: &str,
        person: Option<&str>,
        object: &str,
        at: Timestamp,
    ) -> bool {
        self.actor.as_deref().is_none_or(|a| a == actor)
            && self
                .action
                .as_deref()
                .is_none_or(|a| action_matches(a, action))
            && self.person.as_deref().is_none_or(|p| Some(p) == person)
            && self.object.as_deref().is_none_or(|o| o == object)
            && self.since.is_none_or(|s| at >= s)
            && self.until.is_none_or(|u| at < u)
    }
}

fn action_matches(filter: &str, action: &str) -> bool {
    if filter.ends_with('.') {
        return action.starts_with(filter);
    }
    action == filter
        || (action.len() > filter.len()
            && action.starts_with(filter)
            && action.as_bytes()[filter.len()] == b'.')
}

/// Streams the entries of the log in `dir` that pass `filter`, in log
/// order, reading one line at a time (for logs of millions of entries).
///
/// Each line's own hash is checked: a damaged line yields an
/// [`Error::Corrupt`] item naming it, and reading continues after it. The
/// chain itself is not checked here: that is [`crate::verify()`]'s job. An
/// incomplete final line (an interrupted append) is skipped. An absent log
/// file yields nothing; an absent directory is an error.
pub fn read(dir: &Path, filter: &Filter) -> Result<Entries> {
    std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(LOG_FILE);
    let reader = match File::open(&path) {
        Ok(f) => Some(BufReader::with_capacity(1 << 20, f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(path, e)),
    };
    Ok(Entries {
        path,
        reader,
        buf: Vec::with_capacity(4096),
        line: 0,
        filter: filter.clone(),
    })
}

/// The entries [`read`] yields.
#[derive(Debug)]
pub struct Entries {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    buf: Vec<u8>,
    line: u64,
    filter: Filter,
}

impl Iterator for Entries {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            let reader = self.reader.as_mut()?;
            self.buf.clear();
            match reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.reader = None;
                    return None;
                }
                Ok(_) if self.buf.last() != Some(&b'\n') => {
                    // A torn final line.
                    self.reader = None;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.reader = None;
                    return Some(Err(Error::io(&self.path, e)));
                }
            }
            self.buf.pop();
            self.line += 1;
            let corrupt = |reason| Error::Corrupt {
                path: self.path.clone(),
                location: Location::Line(self.line),
                reason,
            };
            match check_line(&self.buf) {
                Err(reason) => return Some(Err(corrupt(reason))),
                Ok(c) if self.filter.matches_raw(&c.raw, c.at) => {
                    return Some(
                        serde_json::from_slice::<Entry>(&self.buf)
                            .map_err(|e| corrupt(format!("not a valid entry: {e}"))),
                    );
                }
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::action_matches;

    #[test]
    fn action_prefixes() {
        assert!(action_matches("reveal", "reveal"));
        assert!(action_matches("reveal", "reveal.refused"));
        assert!(!action_matches("reveal", "revealed"));
        assert!(!action_matches("reveal.refused", "reveal"));
        assert!(action_matches("ingest.", "ingest.begin"));
        assert!(!action_matches("ingest.", "ingest"));
    }
}
