//! The command line's side of authentication: asking for the proof. The
//! checking (and the audit of refusals) is `probity_govern::auth`'s.
//!
//! `--as USER` is proved by, in order: the password on the first line of
//! standard input (`--password-stdin`, for scripts); the operating-system
//! account bound to USER (the real uid, `probity user bind`); or a password
//! typed at the terminal without echo. With none of these the command is
//! refused (and the refusal audited).

use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};
use probity_govern::auth::{Proof, authenticate, bound_to_this_account};
use probity_store::Store;

/// Who the command acts as.
pub struct Who {
    user: Option<String>,
    password_stdin: bool,
    proven: RefCell<Option<String>>,
}

impl Who {
    /// From the global flags.
    pub fn new(user: Option<String>, password_stdin: bool) -> Who {
        Who {
            user,
            password_stdin,
            proven: RefCell::new(None),
        }
    }

    /// The `--as` user once proved against `store`'s users, or `None`
    /// without `--as` (the action is then the operating-system account's).
    pub fn user(&self, store: &Store) -> Result<Option<String>> {
        let Some(user) = &self.user else {
            return Ok(None);
        };
        if let Some(p) = self.proven.borrow().as_ref() {
            return Ok(Some(p.clone()));
        }
        let proof = self.proof(store, user)?;
        let actor = authenticate(store, user, proof)?;
        *self.proven.borrow_mut() = Some(actor.id().to_string());
        Ok(Some(actor.id().to_string()))
    }

    /// The `--as` user, proved; `what` needs one.
    pub fn need(&self, store: &Store, what: &str) -> Result<String> {
        if self.user.is_none() {
            return Err(probity_govern::auth::refuse_anonymous(store, what)?.into());
        }
        Ok(self.user(store)?.expect("--as was given"))
    }

    fn proof(&self, store: &Store, user: &str) -> Result<Proof> {
        if self.password_stdin {
            return Ok(Proof::Password(stdin_line().context(
                "--password-stdin: cannot read the password from standard input",
            )?));
        }
        if bound_to_this_account(store, user)? {
            return Ok(Proof::OsAccount);
        }
        if std::io::stdin().is_terminal() {
            return Ok(Proof::Password(prompt(&format!("password for {user}: "))?));
        }
        Ok(Proof::None)
    }
}

/// The next line of standard input, without its line ending.
pub fn stdin_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a line from the terminal with echo off (restored afterwards,
/// whatever happens).
fn prompt(text: &str) -> Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let mut err = std::io::stderr();
    write!(err, "{text}")?;
    err.flush()?;
    let saved = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("cannot turn off echo")?;
    let line = stdin_line();
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    writeln!(err)?;
    line
}
