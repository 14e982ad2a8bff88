//! Mappings end to end: every source row accounted for, rejected rows traced
//! to their line, and the real Chicago release mapped without loss.

use std::io::Write;
use std::path::{Path, PathBuf};

use probity_map::{Mapping, REPORT_DIR, run};

fn write_gz(path: &Path, text: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut out = vec![r.headers().unwrap().iter().map(String::from).collect()];
    for rec in r.records() {
        out.push(rec.unwrap().iter().map(String::from).collect());
    }
    out
}

const MAPPING: &str = r#"
[mapping]
name = "hr"
[sources.staff]
file = "staff.csv.gz"
delimiter = ";"
[sources.posts]
file = "posts.csv"
key = "PostNo"
[values.pattern]
S = "shift"
O = "office"
[tables.sites]
rows = [{ site_id = "hq", name = "HQ", lat = "51.5", lon = "-0.1", radius_m = "200" }]
[tables.units]
from = "posts"
distinct = true
columns = { unit_id = "Unit", name = "concat('Unit ', Unit)", site_id = "'hq'" }
[tables.people]
from = "staff"
[[tables.people.join]]
source = "posts"
on = "PostNo | trim"
[[tables.people.skip]]
when = "Status | eq('TEST')"
reason = "test accounts"
[tables.people.columns]
person_id = "EmpNo | int"
given_name = "Forename | trim"
family_name = "Surname | trim | upper"
rank = "posts.Rank"
unit_id = "posts.Unit"
start_date = "Start | date('%d/%m/%Y')"
work_pattern = "Pattern | map('pattern')"
"#;

#[test]
fn every_source_row_is_written_skipped_rejected_or_merged() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write_gz(
        &src.join("staff.csv.gz"),
        "EmpNo;Forename;Surname;PostNo;Start;Pattern;Status\n\
         101.0;Ann ;Lee;P1;01/02/2020;S;\n\
         102;Bob;Roe;P2;31/02/2020;S;\n\
         103;Cy;Kaye;P9;01/03/2020;O;\n\
         104;Di;Fox;P1;01/04/2020;X;\n\
         105;Test;User;P1;01/04/2020;S;TEST\n\
         106;\"Ed, Jr\";\"Multi\nLine\";P2;05/05/2021;O;\n",
    );
    std::fs::write(
        src.join("posts.csv"),
        "PostNo,Unit,Rank\nP1,U1,PC\nP2,U1,PC\nP3,U2,SGT\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let m = Mapping::parse(MAPPING, Path::new("hr.toml")).unwrap();
    let mut seen = Vec::new();
    let report = run(&m, &src, &out, &mut |t| seen.push(t.to_owned())).unwrap();

    let t = |name: &str| report.tables.iter().find(|t| t.table == name).unwrap();
    for table in &report.tables {
        assert!(table.balances(), "{table:?}");
    }
    let people = t("people");
    assert_eq!((people.read, people.written), (6, 2));
    assert_eq!(people.skipped["test accounts"], 1);
    assert_eq!(
        people.rejected["start_date: not a date in format %d/%m/%Y"],
        1
    );
    assert_eq!(
        people.rejected["join posts: no row of posts has this key"],
        1
    );
    assert_eq!(
        people.rejected["work_pattern: not in value map \"pattern\""],
        1
    );
    let units = t("units");
    assert_eq!((units.read, units.written, units.merged), (3, 2, 1));
    assert_eq!((t("sites").read, t("sites").written), (1, 1));

    // Output: contract columns in contract order, the source line of each row.
    let rows = read_csv(&out.join("people.csv"));
    assert_eq!(
        rows[0],
        [
            "person_id",
            "given_name",
            "family_name",
            "rank",
            "unit_id",
            "start_date",
            "work_pattern",
            "_source"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "101",
            "Ann",
            "LEE",
            "PC",
            "U1",
            "2020-02-01",
            "shift",
            "staff.csv.gz:2"
        ]
    );
    // A quoted field with a line break: the record is cited by its first line.
    assert_eq!(rows[2][2], "MULTI\nLINE");
    assert_eq!(rows[2][7], "staff.csv.gz:7");

    // Rejected rows name file, line, column, value and reason.
    let rej = read_csv(&out.join(REPORT_DIR).join("rejected-people.csv"));
    assert_eq!(rej[0], ["file", "line", "column", "value", "reason"]);
    assert_eq!(
        rej[1],
        [
            "staff.csv.gz",
            "3",
            "start_date",
            "31/02/2020",
            "not a date in format %d/%m/%Y"
        ]
    );
    assert_eq!(rej[2][1..4], ["4", "join posts", "P9"]);
    assert_eq!(rej[3][1..4], ["5", "work_pattern", "X"]);

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(REPORT_DIR).join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["tables"][2]["table"], "people");
    assert_eq!(json["tables"][2]["skipped"]["test accounts"], 1);
    assert_eq!(
        seen,
        ["loading posts for lookups", "sites", "units", "people"]
    );

    // Same input, same mapping: byte-identical output (re-ingest is a no-op).
    let out2 = dir.path().join("out2");
    run(&m, &src, &out2, &mut |_| {}).unwrap();
    assert_eq!(
        std::fs::read(out.join("people.csv")).unwrap(),
        std::fs::read(out2.join("people.csv")).unwrap()
    );
}

#[test]
fn source_problems_name_the_file_and_the_columns_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write_gz(&src.join("staff.csv.gz"), "EmpNo;Forename\n1;A\n");
    std::fs::write(
        src.join("posts.csv"),
        "PostNo,Unit,Rank\nP1,U1,PC\nP1,U2,PC\n",
    )
    .unwrap();
    let m = Mapping::parse(MAPPING, Path::new("hr.toml")).unwrap();
    let e = run(&m, src, &src.join("out"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("posts.csv") && e.contains("repeat a key"), "{e}");

    std::fs::write(src.join("posts.csv"), "PostNo,Unit,Rank\nP1,U1,PC\n").unwrap();
    let e = run(&m, src, &src.join("out"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("staff.csv.gz") && e.contains("\"Surname\"") && e.contains("EmpNo, Forename"),
        "{e}"
    );

    std::fs::remove_file(src.join("posts.csv")).unwrap();
    let e = run(&m, src, &src.join("out"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("posts.csv"), "{e}");
}

/// The shared data directory (`../shared/data` next to the repository, or
/// `PROBITY_SHARED_DATA`). `.ci/run` sets the variable and fails if the data
/// is missing, so CI always runs the real-data tests.
fn shared_data() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("PROBITY_SHARED_DATA") {
        return Some(PathBuf::from(d));
    }
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipped: no shared data; set PROBITY_SHARED_DATA to ../shared/data");
        None
    }
}

fn gz_records(path: &Path) -> u64 {
    let f = std::fs::File::open(path).unwrap();
    let mut r = csv::Reader::from_reader(flate2::read::MultiGzDecoder::new(f));
    let mut n = 0;
    let mut rec = csv::ByteRecord::new();
    while r.read_byte_record(&mut rec).unwrap() {
        n += 1;
    }
    n
}

#[test]
fn the_chicago_release_maps_without_losing_a_row() {
    let Some(data) = shared_data() else { return };
    let src = data.join("chicago");
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/chicago-cpdp.toml");
    let m = Mapping::load(&mapping).unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = run(&m, &src, out.path(), &mut |_| {}).unwrap();
    let t = |name: &str| report.tables.iter().find(|t| t.table == name).unwrap();
    let profiles = gz_records(&src.join("final-profiles.csv.gz"));
    let accused = gz_records(&src.join("complaints-accused.csv.gz"));
    assert_eq!(
        (profiles, accused),
        (33_693, 244_436),
        "the release's row counts"
    );
    for table in &report.tables {
        assert!(table.balances(), "{table:?}");
        assert!(table.rejected.is_empty(), "{table:?}");
        assert!(table.skipped.is_empty(), "{table:?}");
    }
    assert_eq!(
        (t("people").read, t("people").written),
        (profiles, profiles)
    );
    assert_eq!(
        (t("complaints").read, t("complaints").written),
        (accused, accused)
    );
    assert_eq!(t("units").written + t("units").merged, profiles);

    // Outcomes: every final finding in the file lands where the value map says.
    let rows = read_csv(&out.path().join("complaints.csv"));
    let count = |v: &str| rows[1..].iter().filter(|r| r[4] == v).count();
    assert_eq!(count("sustained"), 21_427);
    assert_eq!(count("not_sustained"), 113_388 + 52_379 + 17_064);
    assert_eq!(count("withdrawn"), 32_741);
    assert_eq!(count(""), 7_378 + 47 + 12);
    assert!(
        rows[1..].iter().all(|r| r[2].len() == 10),
        "every complaint has a received date"
    );

    // Equality monitoring: one row per officer, the release's codes in
    // lower case, empty cells unknown (46 without gender, 212 without race).
    assert_eq!(t("equality_monitoring").written, profiles);
    let eq = read_csv(&out.path().join("equality_monitoring.csv"));
    let col = |name: &str| eq[0].iter().position(|c| c == name).unwrap();
    let (sex, eth) = (col("sex"), col("ethnicity"));
    let n = |c: usize, v: &str| eq[1..].iter().filter(|r| r[c] == v).count();
    assert_eq!(
        (n(sex, "male"), n(sex, "female"), n(sex, "")),
        (27_868, 5_779, 46)
    );
    assert_eq!(
        (
            n(eth, "white"),
            n(eth, "black"),
            n(eth, "hispanic"),
            n(eth, "")
        ),
        (20_667, 7_630, 4_579, 212)
    );
}
