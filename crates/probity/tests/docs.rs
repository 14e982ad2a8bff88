//! The docs cannot drift from the binary: every `probity …` command line in
//! README.md and mappings/README.md (fenced or inline) names subcommands and
//! flags that exist; the counts the README quotes for the Chicago records
//! are what the command it quotes prints; the README's "first hour" section
//! is the newcomer script `tests/first-hour.sh`, which runs in CI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

fn probity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_probity"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A subcommand path's help: its subcommands and its flags (long and
/// short), read from `probity PATH --help` (cached).
fn help(path: &[String]) -> (BTreeSet<String>, BTreeSet<String>) {
    type Help = (BTreeSet<String>, BTreeSet<String>);
    static CACHE: Mutex<BTreeMap<Vec<String>, Help>> = Mutex::new(BTreeMap::new());
    if let Some(h) = CACHE.lock().unwrap().get(path) {
        return h.clone();
    }
    let out = probity().args(path).arg("--help").output().unwrap();
    assert!(out.status.success(), "probity {path:?} --help failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut subs = BTreeSet::new();
    let mut flags = BTreeSet::new();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line;
            continue;
        }
        let t = line.trim_start();
        if section == "Commands:" && line.starts_with("  ") && !line.starts_with("   ") {
            if let Some(name) = t.split_whitespace().next() {
                subs.insert(name.to_string());
            }
        } else if section == "Options:" && t.starts_with('-') {
            let spec = t.split("  ").next().unwrap_or("");
            for tok in spec.split([' ', ',']) {
                let name = tok.split(['=', '[', '<']).next().unwrap_or("");
                if name.starts_with('-') && name.len() > 1 {
                    flags.insert(name.to_string());
                }
            }
        }
    }
    let h = (subs, flags);
    CACHE.lock().unwrap().insert(path.to_vec(), h.clone());
    h
}

/// Splits a synopsis at top-level separators (` | ` between alternatives,
/// ` ; ` between commands), leaving `[a | b]` and `(a | b)` whole.
fn split_top(line: &str) -> Vec<(char, String)> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut cur = String::new();
    let mut sep = ' ';
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => depth -= 1,
            _ => {}
        }
        if depth == 0
            && (c == '|' || c == ';')
            && i > 0
            && chars[i - 1] == ' '
            && chars.get(i + 1) == Some(&' ')
        {
            out.push((sep, cur.trim().to_string()));
            sep = c;
            cur.clear();
        } else {
            cur.push(c);
        }
        i += 1;
    }
    out.push((sep, cur.trim().to_string()));
    out
}

/// Checks one command line; returns what is wrong with it.
fn check_line(line: &str) -> Vec<String> {
    // A trailing shell comment is prose.
    let line = match line.find(" # ").or_else(|| line.find("  #")) {
        Some(i) => &line[..i],
        None => line,
    };
    let mut problems = vec![];
    let mut last_path: Vec<String> = vec![];
    for (sep, piece) in split_top(line) {
        let mut words: Vec<String> = piece.split_whitespace().map(str::to_string).collect();
        if words.first().map(String::as_str) == Some("probity") {
            words.remove(0);
            last_path.clear();
        } else if sep == '|' && !last_path.is_empty() {
            // An alternative to the previous subcommand: its sibling.
            last_path.pop();
        } else {
            problems.push(format!("{piece:?}: not a probity command"));
            continue;
        }
        let mut path = last_path.clone();
        let mut rest = words.into_iter().peekable();
        while let Some(w) = rest.peek() {
            if help(&path).0.contains(w) {
                path.push(rest.next().unwrap());
            } else {
                break;
            }
        }
        let (subs, flags) = help(&path);
        let rest: Vec<String> = rest.collect();
        if !subs.is_empty()
            && rest
                .first()
                // A lower-case word where a subcommand goes; upper case is
                // a placeholder for an argument (`probity fairness STORE`).
                .is_some_and(|w| {
                    w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
                })
        {
            problems.push(format!(
                "`probity {} {}`: no such subcommand (there are: {})",
                path.join(" "),
                rest[0],
                subs.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        for w in &rest {
            let w = w.trim_start_matches(['[', '(']);
            if !w.starts_with('-') || w == "-" || w == "--" {
                continue;
            }
            let name: String = w
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if name.len() > 1 && !flags.contains(&name) {
                problems.push(format!("`probity {}` has no flag {name}", path.join(" ")));
            }
        }
        last_path = path;
    }
    problems
}

/// Every `probity …` command line of a Markdown file: lines of fenced
/// blocks (except TOML and other non-shell blocks) and inline code spans.
fn command_lines(md: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    let mut fence: Option<String> = None;
    for (i, line) in md.lines().enumerate() {
        let t = line.trim_start();
        if let Some(lang) = t.strip_prefix("```") {
            fence = match fence {
                None => Some(lang.trim().to_string()),
                Some(_) => None,
            };
            continue;
        }
        if let Some(lang) = &fence
            && ["", "sh", "bash", "console"].contains(&lang.as_str())
        {
            let cmd = t.trim_start_matches("$ ");
            if cmd.starts_with("probity ") {
                out.push((i + 1, cmd.to_string()));
            }
        }
    }
    // Inline spans may wrap across lines.
    let mut in_fence = false;
    let mut prose = String::new();
    let mut line_of = vec![];
    for (i, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            for _ in 0..=line.len() {
                line_of.push(i + 1);
            }
            prose.push_str(line);
            prose.push(' ');
        }
    }
    let parts: Vec<&str> = prose.split('`').collect();
    let mut offset = 0;
    for (k, p) in parts.iter().enumerate() {
        if k % 2 == 1 && p.starts_with("probity ") {
            let cmd = p.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push((line_of.get(offset).copied().unwrap_or(0), cmd));
        }
        offset += p.len() + 1;
    }
    out
}

#[test]
fn every_command_line_in_the_docs_names_real_subcommands_and_flags() {
    let mut problems = vec![];
    let mut checked = 0;
    for doc in [
        "README.md",
        "mappings/README.md",
        "ARCHITECTURE.md",
        "SECURITY.md",
    ] {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        for (line, cmd) in command_lines(&text) {
            checked += 1;
            for p in check_line(&cmd) {
                problems.push(format!("{doc}:{line}: {cmd}\n    {p}"));
            }
        }
    }
    assert!(checked > 40, "only {checked} command lines found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_catches_a_flag_or_subcommand_that_does_not_exist() {
    assert!(check_line("probity ingest DIR --store S --source DIR").len() == 1);
    assert!(check_line("probity governance template | chek FILE").len() == 1);
    assert!(check_line("probity ingest DIR --store S [--mapping M.toml]").is_empty());
    assert!(check_line("probity governance template | check FILE | status STORE").is_empty());
    assert!(
        check_line("probity user disable ID --store S --as A ; probity user list S").is_empty()
    );
}

fn shared_data() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("PROBITY_SHARED_DATA") {
        return Some(PathBuf::from(d));
    }
    let d = repo().join("../shared/data");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipped: no shared data; set PROBITY_SHARED_DATA to ../shared/data");
        None
    }
}

/// The number right after `word` in `text` (commas allowed).
fn number_after(text: &str, word: &str) -> u64 {
    let i = text
        .find(word)
        .unwrap_or_else(|| panic!("{word:?} not found"));
    let digits: String = text[i + word.len()..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {word:?}"))
}

#[test]
fn the_chicago_counts_in_the_readme_are_what_its_command_prints() {
    let Some(data) = shared_data() else { return };
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let prose = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let quoted = "`probity ingest ../shared/data/chicago --store STORE --mapping mappings/chicago-cpdp.toml`";
    let at = prose
        .find(quoted)
        .expect("the README quotes the Chicago ingest command");
    let claim = &prose[at + quoted.len()..];
    let (stored, quarantined) = (
        number_after(claim, "stores"),
        number_after(claim, "quarantines"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let init = probity().arg("init").arg(&store).output().unwrap();
    assert!(init.status.success());
    // The command as quoted, with the shared data where it lives here.
    let cmd = quoted
        .trim_matches('`')
        .replace("STORE", store.to_str().unwrap());
    let args: Vec<String> = cmd
        .split_whitespace()
        .skip(1)
        .map(|a| a.replace("../shared/data", data.to_str().expect("a UTF-8 path")))
        .collect();
    let out = probity().args(&args).current_dir(repo()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total = stdout
        .lines()
        .find(|l| l.starts_with("total "))
        .expect("a total line");
    let cols: Vec<u64> = total
        .split_whitespace()
        .skip(1)
        .take(3)
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(
        (cols[1], cols[2]),
        (stored, quarantined),
        "README says stores {stored} / quarantines {quarantined}; the command prints:\n{stdout}"
    );
}
