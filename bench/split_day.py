"""Splits a synthetic force's contract CSV files into the history and one
day's batch, for the daily-batch benchmark in BENCHMARKS.md:

    pip install duckdb
    python3 bench/split_day.py DATA_DIR --day YYYY-MM-DD --history H_DIR --daily D_DIR

Rows of the dated tables whose partition column (the contract's: a shift's
start, a swipe's time, …) falls on DAY, by its local date as written, go to
D_DIR; every other row, and every undated table, to H_DIR. Cells are copied
as text, so both halves ingest exactly as the whole would.
"""

import argparse
import os

import duckdb

# The contract's partition column of each dated table.
DATED = {
    "shifts": "start",
    "roster_edits": "edited_at",
    "overtime_claims": "claimed_start",
    "absences": "start_date",
    "badge_events": "at",
    "device_sessions": "start",
    "device_locations": "at",
    "system_queries": "at",
    "complaints": "received_on",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--day", required=True)
    ap.add_argument("--history", required=True)
    ap.add_argument("--daily", required=True)
    args = ap.parse_args()
    os.makedirs(args.history, exist_ok=True)
    os.makedirs(args.daily, exist_ok=True)
    con = duckdb.connect()
    for name in sorted(os.listdir(args.data)):
        src = os.path.join(args.data, name)
        table, ext = os.path.splitext(name)
        if ext != ".csv":
            continue
        read = f"read_csv('{src}', all_varchar = true, header = true, quote = '\"', escape = '\"')"
        if table not in DATED:
            os.link(src, os.path.join(args.history, name))
            continue
        col = DATED[table]
        day = f"substr(\"{col}\", 1, 10) = '{args.day}'"
        for where, dest in ((f"NOT ({day}) OR \"{col}\" IS NULL", args.history), (day, args.daily)):
            out = os.path.join(dest, name)
            con.execute(f"COPY (SELECT * FROM {read} WHERE {where}) TO '{out}' (HEADER, DELIMITER ',')")
        n = con.execute(f"SELECT count(*) FROM {read} WHERE {day}").fetchone()[0]
        print(f"{table}: {n} rows on {args.day}")


if __name__ == "__main__":
    main()
