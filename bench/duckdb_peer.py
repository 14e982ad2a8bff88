"""The logic of three Probity detectors as plain SQL run by DuckDB over the
same Parquet files of a Probity store, for the Probity/DuckDB ratio in
BENCHMARKS.md.

    pip install duckdb
    python3 bench/duckdb_peer.py STORE [--repeat 3] [--only DETECTOR]

Prints, per detector, the median wall time of the query (in-process, after
the files are registered as views) and the number of persons it flags, so the
result can be checked against `probity analyze STORE --only DETECTOR`.
"""

import argparse
import glob
import os
import statistics
import time

import duckdb

TABLES = [
    "people", "shifts", "overtime_claims", "absences", "badge_cards", "badge_events",
    "accounts", "devices", "device_sessions", "device_locations", "system_queries",
    "case_assignments", "case_subjects", "known_relations", "sites",
]

GHOST = """
WITH ot AS (
  SELECT s.shift_id, s.person_id,
         s.start - INTERVAL 30 MINUTE AS ws, s."end" + INTERVAL 30 MINUTE AS we
  FROM shifts s WHERE s.kind IN ('overtime', 'rest_day_working')),
present AS (
  SELECT ot.shift_id FROM ot
  JOIN badge_cards c ON c.person_id = ot.person_id
  JOIN badge_events e ON e.card_id = c.card_id AND e.at BETWEEN ot.ws AND ot.we
  UNION
  SELECT ot.shift_id FROM ot
  JOIN devices d ON d.person_id = ot.person_id
  JOIN device_sessions s ON s.device_id = d.device_id AND s.start <= ot.we AND s."end" >= ot.ws
  UNION
  SELECT ot.shift_id FROM ot
  JOIN accounts a ON a.person_id = ot.person_id
  JOIN system_queries q ON q.account_id = a.account_id AND q.at BETWEEN ot.ws AND ot.we
  UNION
  SELECT ot.shift_id FROM ot
  JOIN devices d ON d.person_id = ot.person_id
  JOIN device_locations l ON l.device_id = d.device_id AND l.at BETWEEN ot.ws AND ot.we
  CROSS JOIN sites st
  WHERE sqrt(power((l.lat - st.lat) * 110540.0, 2)
           + power((l.lon - st.lon) * 111320.0 * cos(radians(st.lat)), 2))
        <= st.radius_m + coalesce(l.accuracy_m, 0))
SELECT person_id, count(*) AS n FROM ot
WHERE shift_id NOT IN (SELECT shift_id FROM present)
GROUP BY person_id
"""

MISUSE = """
WITH q AS (
  SELECT q.query_id, a.person_id, q.subject_ref, q.reason_code, q.case_ref
  FROM system_queries q JOIN accounts a ON a.account_id = q.account_id),
hits AS (
  SELECT q.person_id, kr.relation
  FROM q LEFT JOIN known_relations kr
    ON kr.person_id = q.person_id AND kr.subject_ref = q.subject_ref
  WHERE coalesce(trim(q.case_ref), '') = ''
    AND (coalesce(trim(q.reason_code), '') = '' OR kr.relation IS NOT NULL)),
volume AS (SELECT person_id, count(*) AS total FROM q GROUP BY person_id)
SELECT h.person_id, count(*) FILTER (WHERE relation IS NULL) AS free,
       count(*) FILTER (WHERE relation IS NOT NULL) AS rel, any_value(v.total) AS total
FROM hits h JOIN volume v USING (person_id)
GROUP BY h.person_id
HAVING count(*) FILTER (WHERE relation IS NULL) >= 3
    OR count(*) FILTER (WHERE relation IS NOT NULL) >= 2
"""

POST_CASE = """
WITH ended AS (
  SELECT ca.person_id, ca.case_ref, cs.subject_ref, ca.assigned_to
  FROM case_assignments ca JOIN case_subjects cs ON cs.case_ref = ca.case_ref
  WHERE cs.subject_role IN ('victim', 'witness') AND ca.assigned_to IS NOT NULL),
held AS (
  SELECT ca.person_id, cs.subject_ref, ca.assigned_from, ca.assigned_to
  FROM case_assignments ca JOIN case_subjects cs ON cs.case_ref = ca.case_ref),
q AS (
  SELECT q.query_id, a.person_id, q.at, q.subject_ref
  FROM system_queries q JOIN accounts a ON a.account_id = q.account_id),
hits AS (
  SELECT q.query_id, q.person_id, CAST(timezone('Europe/London', q.at) AS DATE) AS day,
         ended.case_ref, ended.subject_ref
  FROM q JOIN ended ON ended.person_id = q.person_id AND ended.subject_ref = q.subject_ref
  WHERE CAST(timezone('Europe/London', q.at) AS DATE) > ended.assigned_to + INTERVAL 2 DAY),
kept AS (
  SELECT DISTINCT h.* FROM hits h LEFT JOIN held
    ON held.person_id = h.person_id AND held.subject_ref = h.subject_ref
   AND h.day >= held.assigned_from
   AND (held.assigned_to IS NULL OR h.day <= held.assigned_to + INTERVAL 2 DAY)
  WHERE held.person_id IS NULL)
SELECT person_id, case_ref, count(*) AS n FROM kept GROUP BY person_id, case_ref HAVING count(*) >= 2
"""

QUERIES = [
    ("overtime_without_presence", GHOST),
    ("lookup_without_purpose", MISUSE),
    ("post_case_lookup", POST_CASE),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", help="run just this detector's query")
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET TimeZone = 'UTC'")
    for t in TABLES:
        files = sorted(glob.glob(os.path.join(args.store, "batches", "*", "data", t, "**", "*.parquet"),
                                 recursive=True))
        if not files:
            continue
        lst = ", ".join(f"'{f}'" for f in files)
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet([{lst}], hive_partitioning = false)")
    print(f"duckdb {duckdb.__version__}, {args.threads} threads")
    for name, sql in QUERIES:
        if args.only and name != args.only:
            continue
        times = []
        rows = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rows = con.execute(sql).fetchall()
            times.append(time.perf_counter() - t0)
        persons = len({r[0] for r in rows})
        print(f"{name:<28} median {statistics.median(times):8.3f}s  "
              f"(runs: {', '.join(f'{t:.3f}' for t in times)})  persons {persons}")


if __name__ == "__main__":
    main()
