"""The reference-record linkage task run through Splink (DuckDB backend), to
compare with Probity's own Fellegi-Sunter linker (crates/probity-link) on the
same synthetic data: F1 against the generator's truth, and wall time.

    pip install splink duckdb            # Splink 5
    python3 bench/splink_peer.py --data DIR [--threads 2] [--family-rule family_initial]

DIR is a directory written by the synthetic generator: people and
reference_records as .csv or .parquet, plus reference_links (record_id,
person_id: the true links; a record not listed is not staff).

Both tables are normalised the same way in DuckDB SQL (first given name and
family name lower-cased, diacritics folded; full or year-month date of birth;
postcode without spaces), a link_only model is trained (lambda from a
deterministic rule, u by random sampling, m by EM on two blockings) and scored
on the pairs of five blocking rules: dob; year-month + family initial; family
(--family-rule family_initial adds the given initial, nearer to ours and much
cheaper at scale); postcode; given and family exchanged.
A record is linked to its best candidate when that candidate's odds over one
plus the odds of the best two reach --link-at (default 0.8), the same rule as
`probity resolve` (a record is one person at most); otherwise a best >= 0.2
goes to the review band. Splink logging goes to stderr; one JSON object with
the scores and timings (total, training, prediction+decision) goes to stdout.
"""

import argparse
import json
import os
import sys
import time

import duckdb
import splink
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI

REVIEW_AT = 0.2
FAMILY_RULES = {"family": ("family",), "family_initial": ("family", "substr(given, 1, 1)")}

# Names as the linker normalises them: lower case, diacritics folded, '.' and
# apostrophes dropped, hyphens kept inside tokens, anything else a separator.
FOLD = [("ø", "o"), ("ł", "l"), ("đ", "d"), ("ð", "d"), ("æ", "ae"), ("œ", "oe"),
        ("ß", "ss"), ("þ", "th"), ("\u2010", "-"), ("\u2011", "-"), ("\u2013", "-")]
_folded = "lower(s)"
for a, b in FOLD:
    _folded = f"replace({_folded}, '{a}', '{b}')"
MACROS = f"""
CREATE MACRO norm(s) AS trim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    regexp_replace(strip_accents({_folded}), '[.''\u2019\u2018]', '', 'g'),
    '[^a-z-]+', ' ', 'g'), '-{{2,}}', '-', 'g'), '(^| )-+|-+( |$)', ' ', 'g'), ' +', ' ', 'g'));
CREATE MACRO pc(s) AS nullif(upper(regexp_replace(coalesce(s, ''), '[^A-Za-z0-9]', '', 'g')), '');
CREATE MACRO district(p) AS CASE WHEN length(p) >= 5 THEN left(p, length(p) - 3) ELSE p END;
CREATE MACRO dob_full(d) AS CASE WHEN regexp_matches(d, '^\\d{{4}}-\\d{{2}}-\\d{{2}}$') THEN d END;
CREATE MACRO dob_ym(d) AS CASE WHEN regexp_matches(d, '^\\d{{4}}-\\d{{2}}') THEN left(d, 7) END;
"""

PEOPLE = """
CREATE TABLE people_prep AS
SELECT person_id AS unique_id,
       nullif(split_part(norm(given_name), ' ', 1), '') AS given,
       nullif(norm(family_name), '') AS family,
       dob_full(dob) AS dob, dob_ym(dob) AS dob_ym,
       pc(home_postcode) AS postcode, district(pc(home_postcode)) AS pc_district
FROM (SELECT *, CAST(date_of_birth AS VARCHAR) AS dob FROM {src})
"""

# "FAMILY, Given Middle" or "Given [Middle] Family".
RECORDS = """
CREATE TABLE records_prep AS
WITH s AS (
  SELECT record_id, CAST(date_of_birth AS VARCHAR) AS dob, postcode,
         contains(full_name, ',') AS comma,
         string_split(norm(full_name), ' ') AS toks,
         norm(split_part(full_name, ',', 1)) AS fam_c,
         norm(split_part(full_name, ',', 2)) AS giv_c
  FROM {src})
SELECT record_id AS unique_id,
       nullif(CASE WHEN comma THEN split_part(giv_c, ' ', 1)
                   WHEN len(toks) >= 2 THEN toks[1] END, '') AS given,
       nullif(CASE WHEN comma THEN fam_c ELSE toks[-1] END, '') AS family,
       dob_full(dob) AS dob, dob_ym(dob) AS dob_ym,
       pc(postcode) AS postcode, district(pc(postcode)) AS pc_district
FROM s
"""


def table(data, name):
    """A read_csv/read_parquet expression for DATA/name.{parquet,csv}."""
    for ext, fn in (("parquet", "read_parquet('{}')"), ("csv", "read_csv('{}', all_varchar=true)")):
        path = os.path.join(data, f"{name}.{ext}")
        if os.path.exists(path):
            return fn.format(path.replace("'", "''"))
    sys.exit(f"no {name}.csv or {name}.parquet in {data}")


def settings(family_rule):
    jw = lambda t: cll.And(cll.JaroWinklerLevel("given", t), cll.JaroWinklerLevel("family", t))
    # ForenameSurnameComparison's levels (no term frequencies), JW [0.92, 0.80],
    # plus a level for an initial in place of the given name.
    names = cl.CustomComparison(output_column_name="name", comparison_levels=[
        cll.And(cll.NullLevel("given"), cll.NullLevel("family")),
        cll.And(cll.ExactMatchLevel("given"), cll.ExactMatchLevel("family")),
        cll.ColumnsReversedLevel("given", "family", symmetrical=True),
        jw(0.92),
        cll.CustomLevel(
            "(length(given_l) = 1 OR length(given_r) = 1) AND left(given_l, 1) = left(given_r, 1)"
            " AND jaro_winkler_similarity(family_l, family_r) >= 0.92",
            label_for_charts="Initial agrees, family JW >= 0.92"),
        jw(0.80),
        cll.ExactMatchLevel("family"),
        cll.ExactMatchLevel("given"),
        cll.ElseLevel(),
    ])
    dob = cl.CustomComparison(output_column_name="dob", comparison_levels=[
        cll.NullLevel("dob_ym"),
        cll.ExactMatchLevel("dob"),
        cll.CustomLevel("(dob_l IS NULL OR dob_r IS NULL) AND dob_ym_l = dob_ym_r",
                        label_for_charts="Year and month agree (day not given)"),
        cll.CustomLevel(
            "(dob_l IS NOT NULL AND dob_r IS NOT NULL AND (damerau_levenshtein(dob_l, dob_r) <= 1"
            " OR (left(dob_l, 4) = left(dob_r, 4) AND substr(dob_l, 6, 2) = substr(dob_r, 9, 2)"
            " AND substr(dob_l, 9, 2) = substr(dob_r, 6, 2))))"
            " OR ((dob_l IS NULL OR dob_r IS NULL) AND damerau_levenshtein(dob_ym_l, dob_ym_r) <= 1)",
            label_for_charts="One digit differs or day/month swapped"),
        cll.ElseLevel(),
    ])
    postcode = cl.CustomComparison(output_column_name="postcode", comparison_levels=[
        cll.NullLevel("postcode"),
        cll.ExactMatchLevel("postcode"),
        cll.ExactMatchLevel("pc_district").configure(label_for_charts="Same district"),
        cll.ElseLevel(),
    ])
    return SettingsCreator(
        link_type="link_only",
        comparisons=[names, dob, postcode],
        blocking_rules_to_generate_predictions=[
            block_on("dob"),
            block_on("dob_ym", "substr(family, 1, 1)"),
            # DuckDB has no Double Metaphone: exact family name instead (ours:
            # sounds-alike family and same given initial).
            block_on(*family_rule),
            block_on("postcode"),
            # Records with given and family exchanged (ours tries both ways).
            "l.given = r.family AND l.family = r.given",
        ],
        retain_intermediate_calculation_columns=False,
    )


DECIDE = """
WITH p AS (
  SELECT CASE WHEN source_dataset_l = 'records' THEN unique_id_l ELSE unique_id_r END AS record_id,
         CASE WHEN source_dataset_l = 'records' THEN unique_id_r ELSE unique_id_l END AS person_id,
         match_probability AS prob
  FROM {pred}),
r AS (SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY prob DESC, person_id) AS rk FROM p),
b AS (
  SELECT record_id, max(CASE WHEN rk = 1 THEN person_id END) AS person_id,
         max(CASE WHEN rk = 1 THEN prob END) AS best,
         coalesce(max(CASE WHEN rk = 2 THEN prob END), 0) AS second
  FROM r WHERE rk <= 2 GROUP BY record_id)
SELECT record_id, person_id,
       CASE WHEN (least(best, 1 - 1e-12) / (1 - least(best, 1 - 1e-12)))
                 / (1 + least(best, 1 - 1e-12) / (1 - least(best, 1 - 1e-12))
                      + least(second, 1 - 1e-12) / (1 - least(second, 1 - 1e-12))) >= {link_at}
            THEN 'link'
            WHEN best >= {review_at} THEN 'review' ELSE 'none' END AS decision,
       best >= {link_at} AS best_at_link
FROM b
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="generator output directory")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--link-at", type=float, default=0.8, help="auto-link probability (default 0.8)")
    ap.add_argument("--family-rule", choices=list(FAMILY_RULES), default="family",
                    help="name blocking rule: exact family (default) or family + given initial")
    args = ap.parse_args()

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    db_api = DuckDBAPI(connection=con)
    con.execute(MACROS)
    con.execute(PEOPLE.format(src=table(args.data, "people")))
    con.execute(RECORDS.format(src=table(args.data, "reference_records")))
    people = db_api.register("people_prep", dataset_display_name="people")
    records = db_api.register("records_prep", dataset_display_name="records")

    t1 = time.perf_counter()
    linker = Linker([people, records], settings(FAMILY_RULES[args.family_rule]))
    tr = linker.training
    tr.estimate_probability_two_random_records_match(
        [block_on("given", "family", "dob")], recall=0.7)
    tr.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    tr.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    tr.estimate_parameters_using_expectation_maximisation(
        block_on("family", "substr(given, 1, 1)"))
    # Random sampling never meets a transposed-name pair among non-matches, so
    # that level's u is untrained and Splink would fall back to a generic
    # default (~1e-3, which sinks transposed records). Take the u of "exact on
    # both names" instead: a coincidental transposition is no likelier.
    model = linker.misc.save_model_to_json()
    levels = model["comparisons"][0]["comparison_levels"]
    for lv in levels:
        if not lv.get("is_null_level") and lv.get("u_probability") is None:
            lv["u_probability"] = levels[1]["u_probability"]
    linker = Linker([people, records], model)

    t2 = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=0.01)
    pairs = con.execute(f"SELECT count(*) FROM {pred.physical_name}").fetchone()[0]
    con.execute(f"CREATE TABLE decisions AS {DECIDE.format(pred=pred.physical_name, link_at=args.link_at, review_at=REVIEW_AT)}")
    t3 = time.perf_counter()

    con.execute(f"CREATE TABLE truth AS SELECT record_id, person_id FROM "
                f"{table(args.data, 'reference_links')}")
    (n_records,) = con.execute("SELECT count(*) FROM records_prep").fetchone()
    (n_staff,) = con.execute("SELECT count(*) FROM people_prep").fetchone()
    (n_truth,) = con.execute("SELECT count(DISTINCT record_id) FROM truth").fetchone()
    tp, fp, review, ambiguous = con.execute("""
        SELECT count(*) FILTER (WHERE d.decision = 'link' AND t.person_id IS NOT NULL),
               count(*) FILTER (WHERE d.decision = 'link' AND t.person_id IS NULL),
               count(*) FILTER (WHERE d.decision = 'review'),
               count(*) FILTER (WHERE d.decision = 'review' AND d.best_at_link)
        FROM decisions d
        LEFT JOIN truth t ON t.record_id = d.record_id AND t.person_id = d.person_id
    """).fetchone()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_truth if n_truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(json.dumps({
        "records": n_records, "staff": n_staff, "truth_links": n_truth,
        "pairs_predicted": pairs,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "true_links": tp, "false_links": fp, "missed": n_truth - tp,
        "review_band": review, "review_ambiguous": ambiguous,
        "seconds_total": round(t3 - t0, 3), "seconds_prepare": round(t1 - t0, 3),
        "seconds_train": round(t2 - t1, 3), "seconds_predict": round(t3 - t2, 3),
        "threads": args.threads, "family_rule": args.family_rule, "splink_version": splink.__version__,
    }))


if __name__ == "__main__":
    main()
