//! The operating-system account running the process, from its real uid.
//!
//! Never from environment variables: `$USER` and `$LOGNAME` are whatever
//! the caller set, so an insider could name anyone. The real uid is set by
//! the kernel at login and cannot be chosen by an unprivileged process.

use std::sync::Mutex;

/// The file the account name is looked up in.
const PASSWD: &str = "/etc/passwd";

/// The real uid and what it was looked up as, cached: the lookup reads
/// `/etc/passwd`, and every append stamps an entry.
static CACHE: Mutex<Option<(u32, Option<String>)>> = Mutex::new(None);

/// The process's real uid; `None` where there is no such thing.
fn real_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(rustix::process::getuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The real uid and its account name (from `/etc/passwd`, if listed there).
fn lookup() -> Option<(u32, Option<String>)> {
    let uid = real_uid()?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match &*cache {
        // The real uid of a process can change (setuid); look up again then.
        Some((cached, name)) if *cached == uid => Some((uid, name.clone())),
        _ => {
            let name = std::fs::read_to_string(PASSWD)
                .ok()
                .and_then(|text| passwd_name(&text, uid));
            *cache = Some((uid, name.clone()));
            Some((uid, name))
        }
    }
}

/// The name of `uid` in `/etc/passwd` text (`name:password:uid:…` lines);
/// the first line listing it wins, as for `getpwuid`.
pub(crate) fn passwd_name(text: &str, uid: u32) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            let id: u32 = fields.next()?.trim().parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_owned())
        })
}

/// The operating-system account running this process: its name in
/// `/etc/passwd` looked up by the real uid (`alice`), or `uid:<n>` when
/// the uid is not listed there (a directory-service account, a container).
/// Environment variables are never consulted.
///
/// Front ends record `os:<this>` as the actor of actions taken without a
/// Probity user; the log itself stamps every entry's `os` field with this
/// name and the uid.
pub fn os_account() -> String {
    match lookup() {
        Some((_, Some(name))) => name,
        Some((uid, None)) => format!("uid:{uid}"),
        None => "uid:unknown".to_owned(),
    }
}

/// What the log records in every entry's `os` field: the account name and
/// the real uid, `alice(1000)`, or `uid:<n>` when the uid has no name in
/// `/etc/passwd`.
pub(crate) fn os_stamp() -> String {
    match lookup() {
        Some((uid, Some(name))) => format!("{name}({uid})"),
        Some((uid, None)) => format!("uid:{uid}"),
        None => "uid:unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_passwd_lines() {
        let text = "# a comment\nroot:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\nbroken line\n";
        assert_eq!(passwd_name(text, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(text, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(text, 1001), None);
        assert_eq!(passwd_name("", 0), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_stamp_names_the_real_uid() {
        let uid = rustix::process::getuid().as_raw();
        let stamp = os_stamp();
        assert!(
            stamp.ends_with(&format!("({uid})")) || stamp == format!("uid:{uid}"),
            "{stamp}"
        );
        assert!(stamp.starts_with(&os_account()) || stamp == os_account());
    }
}
