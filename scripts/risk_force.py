#!/usr/bin/env python3
"""A synthetic force with complaint histories and planted risk trajectories,
for benchmarking `probity score` (people, units, sites, complaints in
contract CSV). Deterministic for a seed.

    python3 scripts/risk_force.py --people 46000 --out /tmp/riskforce

Everyone receives complaints at a rate set by their role (patrol work draws
more complaints than desk work: an innocent look-alike of risk). A planted
2% are on an escalating trajectory: from a random start year their complaint
rate climbs and a growing share of their complaints is sustained. Writes
truth.csv (person_id, trajectory_start) alongside.
"""
import argparse
import csv
import datetime as dt
import os
import random

p = argparse.ArgumentParser()
p.add_argument("--people", type=int, default=46000)
p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, default=7)
p.add_argument("--first-year", type=int, default=2004)
p.add_argument("--last-year", type=int, default=2016)
a = p.parse_args()
rng = random.Random(a.seed)
os.makedirs(a.out, exist_ok=True)

RANKS = [("PC", 0.72), ("SGT", 0.14), ("INSP", 0.06), ("DC", 0.08)]
UNITS = [f"U{i:02d}" for i in range(60)]
BUSY = set(UNITS[:15])  # response units: more public contact, more complaints
CATS = ["INCIVILITY: RUDENESS", "USE OF FORCE: ARREST", "SEARCH: PREMISES",
        "DUTY: NEGLECT", "DISCRIMINATORY BEHAVIOUR", "OFF DUTY: CONDUCT"]

def day(y0, y1):
    start = dt.date(y0, 1, 1).toordinal()
    end = dt.date(y1, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(start, end))

with open(os.path.join(a.out, "sites.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["site_id", "name", "lat", "lon", "radius_m"])
    w.writerow(["hq", "Headquarters", "51.5", "-0.1", "500"])
with open(os.path.join(a.out, "units.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["unit_id", "name", "site_id"])
    for u in UNITS:
        w.writerow([u, f"Unit {u}", "hq"])

people, truth, complaints = [], [], []
n = 0
for i in range(a.people):
    pid = f"P{i:06d}"
    rank = rng.choices([r for r, _ in RANKS], [w for _, w in RANKS])[0]
    unit = rng.choice(UNITS)
    start = day(1985, a.last_year - 1)
    end = None
    if rng.random() < 0.15:
        end = day(max(start.year + 1, a.first_year), a.last_year)
        if end <= start:
            end = None
    people.append([pid, f"G{i}", f"F{i}", rank, unit, start.isoformat(),
                   end.isoformat() if end else "", "shift"])
    base = 0.25 * (2.0 if unit in BUSY else 1.0) * (0.5 if rank in ("INSP", "DC") else 1.0)
    planted = rng.random() < 0.02
    t0 = rng.randint(a.first_year + 2, a.last_year - 2) if planted else None
    if planted:
        truth.append([pid, f"{t0}-01-01"])
    for year in range(a.first_year, a.last_year + 1):
        if year < start.year or (end and year > end.year):
            continue
        rate, p_sus = base, 0.08
        if planted and year >= t0:
            k = year - t0 + 1
            rate, p_sus = base * (1.0 + 1.2 * k), min(0.6, 0.15 + 0.12 * k)
        count = sum(1 for _ in range(12) if rng.random() < rate / 12)
        for _ in range(count):
            rec = day(year, year)
            if rec < start or (end and rec > end):
                continue
            n += 1
            r = rng.random()
            outcome = "sustained" if r < p_sus else ("withdrawn" if r < p_sus + 0.1 else "not_sustained")
            closed = rec + dt.timedelta(days=rng.randint(30, 540))
            complaints.append([f"C{n:07d}", pid, rec.isoformat(), rng.choice(CATS),
                               outcome, closed.isoformat()])

# Equality monitoring from a stream of its own (the rest of the output is
# unchanged by it), independent of the planted trajectories: a fair model
# shows no disparity by sex or ethnicity here beyond noise.
eq_rng = random.Random(a.seed + 1)
equality = [[p[0], "female" if eq_rng.random() < 0.35 else "male",
             eq_rng.choices(["white", "asian", "mixed", "black", "other", ""],
                            [92, 3, 2, 1.5, 1, 0.5])[0]] for p in people]

for name, header, rows in [
    ("people", ["person_id", "given_name", "family_name", "rank", "unit_id",
                "start_date", "end_date", "work_pattern"], people),
    ("complaints", ["complaint_id", "person_id", "received_on", "category",
                    "outcome", "closed_on"], complaints),
    ("equality_monitoring", ["person_id", "sex", "ethnicity"], equality),
    ("truth_trajectories", ["person_id", "trajectory_start"], truth),
]:
    path = os.path.join(a.out, f"{name}.csv")
    if name == "truth_trajectories":
        path = os.path.join(a.out, "_truth_trajectories.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
print(f"{len(people)} people, {len(complaints)} complaints, {len(truth)} planted trajectories in {a.out}")
