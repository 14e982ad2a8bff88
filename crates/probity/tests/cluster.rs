//! The detectors' plans on an Apache Ballista cluster on loopback: one
//! scheduler and two executors started as a user would (`probity cluster
//! …`), the same finding ids as a local run of the demo force, and purpose
//! binding holding on the cluster.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn probity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_probity"))
}

fn ok(out: std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{text}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `n` distinct free ports: every listener is held until all are chosen.
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn wait_for_port(port: u16, who: &mut Child, log: &Path) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = who.try_wait().unwrap() {
            panic!(
                "exited with {status} before listening on {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(t.elapsed() < Duration::from_secs(60), "nothing on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and two executors on loopback, stopped when dropped.
struct LoopbackCluster {
    children: Vec<Child>,
    url: String,
    work_dirs: Vec<PathBuf>,
}

impl LoopbackCluster {
    fn start(dir: &Path) -> LoopbackCluster {
        let spawn = |args: &[&str], log: &Path| {
            let file = std::fs::File::create(log).unwrap();
            probity()
                .args(args)
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut cluster = LoopbackCluster {
            children: vec![],
            url: String::new(),
            work_dirs: vec![],
        };
        let ports = free_ports(5);
        let sp = ports[0];
        let log = dir.join("scheduler.log");
        let bind = format!("127.0.0.1:{sp}");
        cluster
            .children
            .push(spawn(&["cluster", "scheduler", "--bind", &bind], &log));
        wait_for_port(sp, cluster.children.last_mut().unwrap(), &log);
        cluster.url = format!("df://127.0.0.1:{sp}");
        for i in 0..2 {
            let (fp, gp) = (ports[1 + 2 * i], ports[2 + 2 * i]);
            let work = dir.join(format!("executor-{i}"));
            let log = dir.join(format!("executor-{i}.log"));
            let bind = format!("127.0.0.1:{fp}");
            let (gp_s, work_s) = (gp.to_string(), work.to_str().unwrap().to_string());
            cluster.children.push(spawn(
                &[
                    "cluster",
                    "executor",
                    "--scheduler",
                    &cluster.url,
                    "--bind",
                    &bind,
                    "--grpc-port",
                    &gp_s,
                    "--cores",
                    "2",
                    "--work-dir",
                    &work_s,
                ],
                &log,
            ));
            wait_for_port(gp, cluster.children.last_mut().unwrap(), &log);
            wait_for_port(fp, cluster.children.last_mut().unwrap(), &log);
            cluster.work_dirs.push(work);
        }
        cluster
    }
}

impl Drop for LoopbackCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `probity demo` (no web UI) in `dir`; returns its users' passwords.
fn demo(dir: &Path, people: &str, days: &str) -> serde_json::Value {
    ok(probity()
        .args([
            "demo",
            "--dir",
            dir.to_str().unwrap(),
            "--people",
            people,
            "--days",
            days,
            "--no-serve",
        ])
        .output()
        .unwrap());
    serde_json::from_str(&std::fs::read_to_string(dir.join("demo-logins.json")).unwrap()).unwrap()
}

/// `probity ARGS --as USER --password-stdin` with the demo's password;
/// its standard output. A run that has not finished within ten minutes is
/// stopped and fails the test with the cluster's logs (a task lost on an
/// executor leaves Ballista's client waiting).
fn as_user(args: &[&str], user: &str, logins: &serde_json::Value, logs: &Path) -> String {
    use std::io::Write;
    let password = logins
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["user"] == user)
        .unwrap()["password"]
        .as_str()
        .unwrap()
        .to_string();
    let (out, err) = (logs.join("cmd.out"), logs.join("cmd.err"));
    let mut child = probity()
        .args(args)
        .args(["--as", user, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            let _ = child.wait();
            let mut text = String::new();
            for f in ["scheduler.log", "executor-0.log", "executor-1.log"] {
                text += &format!(
                    "== {f}\n{}\n",
                    std::fs::read_to_string(logs.join(f)).unwrap_or_default()
                );
            }
            panic!("probity {args:?} did not finish in 10 minutes\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        status.success(),
        "probity {args:?}: {status}\nstdout:\n{text}\nstderr:\n{}",
        std::fs::read_to_string(&err).unwrap()
    );
    text
}

fn finding_ids(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut ids: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["finding_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_loopback_cluster_of_two_executors_finds_what_a_local_run_finds_on_the_demo_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    // The demo force as `probity demo` makes it (2,000 staff, 120 days).
    let logins = demo(&dir, "2000", "120");
    let cluster = LoopbackCluster::start(tmp.path());
    let out = tmp.path().join("on-cluster");
    let store = dir.join("store");
    let text = as_user(
        &[
            "analyze",
            store.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--baselines",
            "--truth",
            dir.join("data/truth.csv").to_str().unwrap(),
            "--cluster",
            &cluster.url,
        ],
        "ana",
        &logins,
        tmp.path(),
    );
    assert!(
        text.contains(&format!("on ballista {}", cluster.url)),
        "{text}"
    );

    let local = finding_ids(&dir.join("findings/findings.jsonl"));
    let remote = finding_ids(&out.join("findings.jsonl"));
    assert!(local.len() > 100, "the demo finds {} findings", local.len());
    assert_eq!(
        remote, local,
        "findings differ between the cluster and the local run"
    );
    let local = finding_ids(&dir.join("findings/baseline-findings.jsonl"));
    let remote = finding_ids(&out.join("baseline-findings.jsonl"));
    assert!(!local.is_empty());
    assert_eq!(remote, local, "baseline findings differ");

    // Limited to a period (the daily run): each detector's tables are views
    // of its window, which travel to the executors the same way.
    let limited = |cluster_url: Option<&str>, out: &Path| {
        let mut args = vec![
            "analyze",
            store.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--period",
            "2026-04-05..2026-05-04",
        ];
        if let Some(u) = cluster_url {
            args.extend(["--cluster", u]);
        }
        as_user(&args, "ana", &logins, tmp.path());
        finding_ids(&out.join("findings.jsonl"))
    };
    let here = limited(None, &tmp.path().join("limited-local"));
    let there = limited(Some(&cluster.url), &tmp.path().join("limited-cluster"));
    assert!(here.len() > 20, "{} findings in the period", here.len());
    assert!(here.len() < finding_ids(&dir.join("findings/findings.jsonl")).len());
    assert_eq!(there, here, "a limited run differs on the cluster");

    // Where the queries ran is in run.json and on the audit log.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["engine"], format!("ballista {}", cluster.url));
    let audit = as_user(
        &[
            "audit",
            "show",
            store.to_str().unwrap(),
            "--action",
            "analyze",
            "--json",
        ],
        "aud",
        &logins,
        tmp.path(),
    );
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["details"]["engine"],
        format!("ballista {}", cluster.url),
        "{last}"
    );
    // Both executors ran tasks: each wrote shuffle files, in a private
    // directory of its own under the one it was given.
    for w in &cluster.work_dirs {
        let own: Vec<PathBuf> = std::fs::read_dir(w)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(own.len(), 1, "{own:?}");
        let name = own[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("probity-executor-"), "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&own[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{name} is open to others: {mode:o}");
        }
        let jobs = std::fs::read_dir(&own[0]).unwrap().count();
        assert!(jobs > 0, "{} ran no task", w.display());
    }
}

#[test]
fn a_detectors_plan_on_the_cluster_cannot_read_an_undeclared_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    // 120 days from January: summer time from the end of March.
    demo(&dir, "300", "120");
    let cluster = LoopbackCluster::start(tmp.path());
    let store = probity_store::Store::open(&dir.join("store")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = probity_cluster::Cluster::connect(&cluster.url)
            .await
            .unwrap();
        let mut plan = probity_detect::Plan::new(&store).unwrap();
        plan.on_engine(std::sync::Arc::new(engine));
        let id = "lookup_without_purpose";
        let d = probity_detect::detectors::by_id(id).unwrap();
        let declared: Vec<&str> = d.declared().iter().map(|t| t.name()).collect();
        let ctx = plan.session_for(id).await.unwrap().unwrap();
        let count = |sql: String| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(&sql).await?.collect().await?;
                let col = batches[0].column(0);
                Ok::<i64, datafusion::error::DataFusionError>(
                    arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(col)
                        .value(0),
                )
            }
        };

        // A declared table is read on the cluster, with every row.
        let local = store.session_context().unwrap();
        probity_detect::register_functions(&local, &store.time_rules());
        for t in &declared {
            let q = format!("SELECT count(*) FROM {t}");
            let want = local.sql(&q).await.unwrap().collect().await.unwrap();
            let want = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(
                want[0].column(0),
            )
            .value(0);
            assert_eq!(count(q).await.unwrap(), want, "{t}");
        }
        // Dates are computed in the store's zone on the executors: look-ups
        // in the hour after local midnight in summer fall on another UTC day.
        let q = "SELECT count(*) FROM system_queries WHERE local_date(at) <> CAST(at AS DATE)";
        let want = local.sql(q).await.unwrap().collect().await.unwrap();
        let want =
            arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(want[0].column(0))
                .value(0);
        assert!(
            want > 0,
            "no look-up between local midnight and 01:00 in summer"
        );
        assert_eq!(count(q.to_string()).await.unwrap(), want);

        // An undeclared one does not exist for it, by name or by file path.
        for t in ["shifts", "badge_events", "overtime_claims", "complaints"] {
            assert!(!declared.contains(&t));
            let e = count(format!("SELECT count(*) FROM {t}"))
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("not found"), "{t}: {e}");
            let file = store.manifest().data_files(t)[0].to_string();
            let path = store.path(&file);
            let e = count(format!("SELECT count(*) FROM '{}'", path.display()))
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("not found"), "{t} by path: {e}");
        }
        // And the session's catalogue holds only what it declares.
        let schema = ctx.catalog("datafusion").unwrap().schema("public").unwrap();
        let mut names = schema.table_names();
        names.sort();
        let mut want: Vec<String> = declared.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
    });
}
