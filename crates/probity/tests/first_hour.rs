//! The newcomer's script, `tests/first-hour.sh`: init → governance from the
//! template → users → ingest → resolve → analyze → reveal → triage → report,
//! with only documented commands; and README.md's "First hour" section
//! walks through exactly its commands.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script() -> String {
    std::fs::read_to_string(repo().join("tests/first-hour.sh")).unwrap()
}

/// The script's commands: its non-comment lines, continuation lines joined.
fn commands(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t == "set -euo pipefail" {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head.trim_end());
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        out.push(std::mem::take(&mut cur));
    }
    out
}

#[test]
fn the_readme_first_hour_section_is_the_script() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("\n## First hour")
        .expect("README.md has a \"First hour\" section");
    let end = readme[start + 1..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 1 + e);
    let section = &readme[start..end];
    let in_readme = commands(
        &section
            .split("```")
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, b)| b.trim_start_matches("sh").to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let in_script = commands(&script());
    assert!(in_script.len() > 15, "{in_script:#?}");
    assert_eq!(
        in_readme, in_script,
        "README's First hour section and tests/first-hour.sh differ"
    );
}

#[test]
fn a_newcomer_gets_from_an_empty_folder_to_a_triaged_finding_and_a_subject_report() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_probity")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(repo().join("tests/first-hour.sh"))
        .current_dir(tmp.path())
        .env("PATH", path)
        .env_remove("PROBITY_VAULT_KEY_FILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n--- stderr\n{stderr}");
    for said in [
        "wrote governance.toml: valid as it stands",
        "governance.toml: valid;",
        "approved  overtime_without_presence (purpose ghost_overtime",
        "governance applied",
        "committed batch",
        "next:",
        "runs     overtime_without_presence",
        "register:",
        "subject access report:",
    ] {
        assert!(
            stdout.contains(said),
            "{said:?} missing:\n{stdout}\n{stderr}"
        );
    }
    assert!(tmp.path().join("report").is_dir());
    let findings = std::fs::read_to_string(tmp.path().join("findings/findings.jsonl")).unwrap();
    assert!(findings.lines().count() > 3, "{findings}");
}
