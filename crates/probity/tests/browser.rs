//! The web UI in a real (headless) browser: the demo's store served by
//! `probity serve`, driven through the review workflow by
//! `tests/browser/flow.mjs` (Playwright with the system Chromium).
//!
//! Needs `/usr/bin/chromium` and `tests/browser/node_modules`; without
//! them the test is skipped, unless `PROBITY_REQUIRE_BROWSER=1` makes the
//! missing prerequisites a failure (as in CI).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// What is missing to run the browser test, if anything.
fn missing_prerequisites(root: &Path) -> Vec<String> {
    let mut missing = vec![];
    if !Path::new(CHROMIUM).is_file() {
        missing.push(format!("{CHROMIUM} (install: apt-get install -y chromium)"));
    }
    let pw = root.join("tests/browser/node_modules/playwright-core");
    if !pw.is_dir() {
        missing.push(format!(
            "{} (install: cd tests/browser && npm ci)",
            pw.display()
        ));
    }
    if Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        missing.push("node on PATH (Node.js 20 or later)".into());
    }
    missing
}

/// Kills and reaps the server when the test ends, however it ends.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (there is a small window before the
/// server binds it; good enough for a test).
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The status line of `GET /login`, if the server answers.
fn get_login(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .next()
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .map(str::to_string)
}

/// Waits until the server answers `GET /login` with 200, failing early if
/// it exits.
fn wait_ready(server: &mut Server, addr: SocketAddr, limit: Duration) {
    let start = Instant::now();
    loop {
        if let Some(line) = get_login(addr) {
            assert!(
                line.starts_with("HTTP/1.1 200"),
                "GET /login answered {line:?}"
            );
            return;
        }
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            panic!("probity serve exited before answering: {status}");
        }
        assert!(
            start.elapsed() < limit,
            "probity serve did not answer GET /login on {addr} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn browser_review_workflow() {
    let root = workspace();
    let missing = missing_prerequisites(&root);
    if !missing.is_empty() {
        let msg = format!(
            "browser test prerequisites missing:\n  {}\nInstall them with:\n  apt-get install -y chromium\n  cd tests/browser && npm ci",
            missing.join("\n  ")
        );
        if std::env::var("PROBITY_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("{msg}\n(PROBITY_REQUIRE_BROWSER=1 makes this a failure)");
        }
        eprintln!("skipping browser_review_workflow: {msg}");
        return;
    }

    let bin = env!("CARGO_BIN_EXE_probity");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let out = Command::new(bin)
        .args(["demo", "--dir"])
        .arg(&dir)
        .args([
            "--people",
            "300",
            "--days",
            "40",
            "--seed",
            "4",
            "--no-serve",
        ])
        .output()
        .expect("run probity demo");
    assert!(
        out.status.success(),
        "probity demo failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let logins = dir.join("demo-logins.json");
    let store = dir.join("store");
    assert!(logins.is_file(), "the demo wrote no {}", logins.display());

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let child = Command::new(bin)
        .arg("serve")
        .arg("--store")
        .arg(&store)
        .arg("--bind")
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start probity serve");
    let mut server = Server { child };
    wait_ready(&mut server, addr, Duration::from_secs(60));

    let artifacts = root.join("target/browser-artifacts");
    let out = Command::new("node")
        .arg("tests/browser/flow.mjs")
        .current_dir(&root)
        .env("BASE_URL", format!("http://{addr}"))
        .env("LOGINS", &logins)
        .env("ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .output()
        .expect("run node tests/browser/flow.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser flow failed ({}); screenshots in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status,
        artifacts.display()
    );
    println!("{stdout}");
    drop(server);
}
