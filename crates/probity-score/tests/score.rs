//! Scoring: metrics against hand-computed values, features that cannot see
//! past their cut-off, and explanations that add up to the score.

use datafusion::prelude::SessionContext;
use jiff::civil::{Date, date};
use probity_score::eval::{add_months, train_for};
use probity_score::metrics::{at_count, at_fraction, auc, average_precision, rule_at_count};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn metrics_match_hand_computed_values() {
    // Scores with a tie at the budget's edge: 0.9 (pos), 0.8 (neg),
    // 0.5 ×4 (one pos), 0.1 (pos), 0.0 (neg).
    let s = [0.9, 0.8, 0.5, 0.5, 0.5, 0.5, 0.1, 0.0];
    let y = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    // Top 3: both of the first two, then 1 of the 4 tied (expected 1/4 pos).
    let a = at_count(&s, &y, 3.0);
    assert!(close(a.true_positives, 1.25), "{a:?}");
    assert!(close(a.precision, 1.25 / 3.0) && close(a.recall, 1.25 / 3.0));
    let a = at_fraction(&s, &y, 0.25); // 2 people
    assert!(close(a.true_positives, 1.0) && close(a.precision, 0.5));
    // AUC by hand: 3 positives × 5 negatives = 15 pairs.
    // pos 0.9 beats all 5; pos 0.5 beats 0.0 and ties three 0.5s (1 + 1.5);
    // pos 0.1 beats 0.0 (1). (5 + 2.5 + 1) / 15.
    assert!(close(auc(&s, &y), 8.5 / 15.0));
    // Average precision by thresholds: {0.9}: P=1, +1/3; {0.8}: +0;
    // {0.5 ×4}: P=2/6, +1/3; {0.1}: P=3/7, +1/3.
    let ap = (1.0 + 2.0 / 6.0 + 3.0 / 7.0) / 3.0;
    assert!(close(average_precision(&s, &y), ap));
    // The rule flags who qualifies, at most the budget, at random among them.
    let q = [true, true, false, true, false, false, false, false];
    let r = rule_at_count(&q, &y, 2.0);
    assert!(close(r.flagged, 2.0) && close(r.true_positives, 2.0 / 3.0));
    let r = rule_at_count(&q, &y, 5.0);
    assert!(close(r.flagged, 3.0) && close(r.true_positives, 1.0));
    assert!(close(r.recall, 1.0 / 3.0));
}

#[derive(Clone, Copy, PartialEq)]
enum Plant {
    /// Nothing planted.
    None,
    /// Group A: a complaint open at the test cut-off is later sustained
    /// (decided after it), and a sustained complaint arrives after it.
    Future,
    /// Group A: the open complaint is sustained and decided before the cut-off.
    DecidedBefore,
}

const TEST: Date = date(2010, 1, 1);

/// 300 officers with a deterministic complaint history 2000–2009, everyone
/// with a complaint received 20 days before the test cut-off and still open
/// at it. Group A is every officer whose id ends in `a`. Officers `p{n}a`
/// and `p{n}b` are named together on every complaint of their history (a
/// co-accusal network known before the cut-off); every other complaint of
/// the history is internal.
async fn force(plant: Plant) -> SessionContext {
    force_named(plant, |pair, side| format!("p{pair}{side}")).await
}

/// [`force`] with the officers' ids chosen by `id(pair, side)` (another
/// store key gives other pseudonyms, in another order).
async fn force_named(plant: Plant, id: impl Fn(i16, &str) -> String) -> SessionContext {
    let ctx = SessionContext::new();
    for ddl in [
        "CREATE TABLE people (person_id VARCHAR NOT NULL, rank VARCHAR NOT NULL, \
         unit_id VARCHAR NOT NULL, start_date DATE NOT NULL, end_date DATE)",
        "CREATE TABLE complaints (complaint_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, \
         received_on DATE NOT NULL, category VARCHAR NOT NULL, outcome VARCHAR, closed_on DATE, \
         complaint_ref VARCHAR, complainant VARCHAR)",
    ] {
        ctx.sql(ddl).await.unwrap().collect().await.unwrap();
    }
    let days = |d: Date, n: i64| d.checked_add(jiff::Span::new().days(n)).unwrap();
    let mut people = Vec::new();
    let mut complaints = Vec::new();
    let mut n = 0;
    let mut add = |p: &str,
                   rec: Date,
                   cat: &str,
                   outcome: Option<&str>,
                   closed: Option<Date>,
                   case: &str,
                   who: &str| {
        n += 1;
        let o = outcome.map_or("NULL".into(), |o| format!("'{o}'"));
        let c = closed.map_or("NULL".into(), |c| format!("DATE '{c}'"));
        complaints.push(format!(
            "('c{n}', '{p}', DATE '{rec}', '{cat}', {o}, {c}, '{case}', '{who}')"
        ));
    };
    for pair in 0..150i16 {
        for side in ["a", "b"] {
            let p = id(pair, side);
            let unit = if pair % 2 == 0 { "U1" } else { "U2" };
            people.push(format!("('{p}', 'PC', '{unit}', DATE '2000-01-01', NULL)"));
            for k in 0..(pair % 7) {
                let rec = date(2000 + (k * 3 + pair) % 10, 1 + (k % 12) as i8, 10);
                let outcome = if (pair + k) % 3 == 0 {
                    "sustained"
                } else {
                    "not_sustained"
                };
                add(
                    &p,
                    rec,
                    "RUDENESS: VERBAL",
                    Some(outcome),
                    Some(days(rec, 40)),
                    &format!("h{pair}-{k}"),
                    if k % 2 == 1 { "internal" } else { "civilian" },
                );
            }
            let open = days(TEST, -20);
            let group_a = side == "a";
            let open_ref = format!("open{pair}");
            match plant {
                Plant::Future if group_a => {
                    add(
                        &p,
                        open,
                        "NEGLECT: DUTY",
                        Some("sustained"),
                        Some(days(TEST, 60)),
                        &open_ref,
                        "civilian",
                    );
                    // After the cut-off: a sustained internal complaint
                    // naming them with officers of other pairs (new
                    // partners, a crew, co-accused with sustained findings).
                    let after = days(TEST, 90);
                    for q in [pair, (pair + 1) % 150, (pair + 2) % 150] {
                        add(
                            &id(q, "a"),
                            after,
                            "FORCE: ARREST",
                            Some("sustained"),
                            Some(days(after, 30)),
                            &format!("after{pair}"),
                            "internal",
                        );
                    }
                }
                Plant::DecidedBefore if group_a => {
                    add(
                        &p,
                        open,
                        "NEGLECT: DUTY",
                        Some("sustained"),
                        Some(days(TEST, -5)),
                        &open_ref,
                        "civilian",
                    );
                }
                _ => add(&p, open, "NEGLECT: DUTY", None, None, &open_ref, "civilian"),
            }
        }
    }
    for (table, rows) in [("people", people), ("complaints", complaints)] {
        for chunk in rows.chunks(500) {
            let sql = format!("INSERT INTO {table} VALUES {}", chunk.join(", "));
            ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        }
    }
    ctx
}

/// The linear model trained for the test cut-off on the cut-offs whose
/// 24-month window closed by then, with outcomes as decided by then.
async fn linear_at_test(
    ctx: &SessionContext,
    t: &probity_score::features::FeatureTable,
) -> probity_score::model::RiskModel {
    let known = probity_score::labels::sustained_within(ctx, t, 24, Some(TEST))
        .await
        .unwrap();
    let train: Vec<usize> = (0..t.len())
        .filter(|&i| add_months(t.cut[i], 24).unwrap() <= TEST)
        .collect();
    let y: Vec<f64> = train.iter().map(|&i| known[i]).collect();
    probity_score::model::RiskModel::train_linear(t, &train, &y, 24).unwrap()
}

fn cuts() -> Vec<Date> {
    (2002..=2010).map(|y| date(y, 1, 1)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_only_signal_is_invisible_to_features_and_model() {
    let cats = ["RUDENESS".to_owned(), "NEGLECT".to_owned()];
    let (base, base_model, rows) =
        train_for(&force(Plant::None).await, &cuts(), TEST, 24, &cats, 0.5)
            .await
            .unwrap();
    let planted_ctx = force(Plant::Future).await;
    let (planted, model, planted_rows) = train_for(&planted_ctx, &cuts(), TEST, 24, &cats, 0.5)
        .await
        .unwrap();
    // The signal is real: in the planted force every officer of group A has
    // the outcome after the test cut-off, and nobody else does.
    let truth = probity_score::labels::sustained_within(&planted_ctx, &planted, 24, None)
        .await
        .unwrap();
    for &i in &planted_rows {
        let a = planted.person[i].ends_with('a');
        let base_case = (0..base.len()).any(|j| base.person[j] == planted.person[i]);
        assert!(base_case);
        if a {
            assert_eq!(truth[i], 1.0, "{}", planted.person[i]);
        }
    }
    // The features under test include every context and network feature.
    for f in [
        "internal_24m",
        "internal_per_year",
        "expected_sustained_24m",
        "expected_sustained_per_year",
        "recency_weighted",
        "recency_weighted_expected",
        "trend_12m",
        "co_accused_5y",
        "repeat_partners_5y",
        "joint_share_5y",
        "co_accused_complaints_24m",
        "co_accused_max_24m",
        "co_accused_sustained",
        "new_partners_12m",
        "crew_size",
        "crew_complaints_24m",
        "unit_complaints_24m",
    ] {
        let j = base.features.iter().position(|x| x.name == f);
        let j = j.unwrap_or_else(|| panic!("feature {f} missing"));
        // ... and they are not all zero (the history gives them something).
        assert!(
            (0..base.len()).any(|i| base.row(i)[j] != 0.0),
            "feature {f} is zero everywhere"
        );
    }
    // Yet every feature of every officer at every cut-off is unchanged ...
    assert_eq!(base.person, planted.person);
    assert_eq!(base.cut, planted.cut);
    assert_eq!(
        base.values, planted.values,
        "features changed by the future"
    );
    // ... and so is every score of the model trained at the test cut-off.
    assert_eq!(rows, planted_rows);
    let s0 = base_model.score(&base, &rows).unwrap();
    let s1 = model.score(&planted, &planted_rows).unwrap();
    assert_eq!(s0, s1, "scores changed by the future");
    // So is every score of the linear model (the default learner), whose
    // penalty is chosen on the training cut-offs.
    let l0 = linear_at_test(&force(Plant::None).await, &base).await;
    let l1 = linear_at_test(&planted_ctx, &planted).await;
    assert_eq!(
        l0.score(&base, &rows).unwrap(),
        l1.score(&planted, &planted_rows).unwrap(),
        "linear scores changed by the future"
    );

    // The same outcome decided before the cut-off is knowledge, not the
    // future: the features see it (group A's sustained count goes up).
    let (known, _, known_rows) = train_for(
        &force(Plant::DecidedBefore).await,
        &cuts(),
        TEST,
        24,
        &cats,
        0.5,
    )
    .await
    .unwrap();
    let j = known
        .features
        .iter()
        .position(|f| f.name == "sustained_24m")
        .unwrap();
    for &i in &known_rows {
        let d = known.row(i)[j] - base.row(i)[j];
        assert_eq!(
            d,
            if known.person[i].ends_with('a') {
                1.0
            } else {
                0.0
            }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_add_up_to_the_score_and_counts_match_the_data() {
    let ctx = force(Plant::None).await;
    let (t, model, test_rows) = train_for(&ctx, &cuts(), TEST, 24, &[], 0.5).await.unwrap();
    let scores = model.score(&t, &test_rows).unwrap();
    let contribs = model.contributions(&t, &test_rows).unwrap();
    for (s, c) in scores.iter().zip(&contribs) {
        assert_eq!(
            c.len(),
            t.features.len() + 1,
            "one per feature and the baseline"
        );
        let sum: f64 = c.iter().sum();
        assert!((sum - s).abs() < 1e-6, "contributions {sum} vs score {s}");
    }
    // By hand, p3a at 2010-01-01: background k = 0, 1, 2 received 2003-01-10
    // (sustained: (3 + 0) % 3 == 0), 2006-02-10, 2009-03-10; plus the open
    // complaint of 2009-12-12.
    let i = (0..t.len())
        .find(|&i| t.person[i] == "p3a" && t.cut[i] == TEST)
        .unwrap();
    let col = |name: &str| t.row(i)[t.features.iter().position(|f| f.name == name).unwrap()];
    assert_eq!(col("complaints_12m"), 2.0);
    assert_eq!(col("complaints_1m"), 1.0);
    // Per year of observed service: the first complaint on record is
    // 2000-01-10, after p3a's appointment (2000-01-01), so 3,644 days.
    let observed = 3644.0 / 365.25;
    assert!((col("complaints_per_year") - 4.0 / observed).abs() < 1e-9);
    assert!((col("sustained_per_year") - 1.0 / observed).abs() < 1e-9);
    assert_eq!(col("open_24m"), 1.0);
    assert!(col("tenure_years") > 9.99 && col("tenure_years") < 10.01);
    // Peers: every PC of unit U2 (odd pairs) at the cut-off.
    assert_eq!(col("peer_group_size"), 150.0);
    assert_eq!(add_months(date(2010, 1, 31), 1).unwrap(), date(2010, 2, 28));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoring_run_explains_every_score_in_words() {
    let ctx = force(Plant::None).await;
    let cfg = probity_score::run::RunConfig {
        as_of: TEST,
        train_from: date(2002, 1, 1),
        step_months: 12,
        horizon_months: 24,
        settle_months: 12,
        outcomes_to: None,
        categories: 2,
        model_budget: 0.5,
        top: 3,
        history_months: 0,
        rank_feature: false,
        ensemble: 3,
        learner: probity_score::model::Learner::Linear,
    };
    let r = probity_score::run::run(&ctx, &cfg, None).await.unwrap();
    assert_eq!(r.scores.len(), 300, "everyone active at the date");
    // Every sustained complaint of this force was decided 40 days after it
    // arrived: 2 months of settling (40 / 30.44, rounded up).
    assert_eq!(
        probity_score::labels::settle_months(&ctx, TEST, 0.9)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        probity_score::labels::settle_months(&ctx, date(1999, 1, 1), 0.9)
            .await
            .unwrap(),
        0,
        "nothing decided yet"
    );
    assert_eq!(
        r.training_cuts,
        (2002..=2007).map(|y| date(y, 1, 1)).collect::<Vec<_>>()
    );
    for w in r.scores.windows(2) {
        assert!(w[0].log_odds >= w[1].log_odds, "highest first");
    }
    let top = &r.scores[0];
    assert!(top.top.len() <= 3 && !top.top.is_empty());
    for w in top.top.windows(2) {
        assert!(
            w[0].contribution.abs() >= w[1].contribution.abs(),
            "largest first"
        );
    }
    // Everyone tied with the top score shares its band.
    let tied = r
        .scores
        .iter()
        .filter(|x| x.log_odds == top.log_odds)
        .count();
    let band = format!("In the top {:.1}%", (tied as f64 / 300.0 * 100.0).max(0.1));
    assert!(top.summary.starts_with(&band), "{band}: {}", top.summary);
    assert!(top.summary.contains(&top.top[0].words), "{}", top.summary);

    // The saved model, loaded again, scores a trajectory without training:
    // the same scores at the date, and one more month for everyone.
    let saved = probity_score::model::RiskModel::from_json(&r.model.to_json().unwrap()).unwrap();
    let cfg = probity_score::run::RunConfig {
        history_months: 1,
        ..cfg
    };
    let again = probity_score::run::run(&ctx, &cfg, Some(saved))
        .await
        .unwrap();
    assert!(again.training_cuts.is_empty());
    assert_eq!(again.timings.training, 0.0);
    // In memory: the date scored; every person-date is explained on demand.
    assert_eq!(again.scores.len(), 300);
    assert_eq!(again.scored.len(), 600);
    let all = again.scored.all().unwrap();
    let latest: Vec<f64> = all[..300].iter().map(|s| s.log_odds).collect();
    let first: Vec<f64> = r.scores.iter().map(|s| s.log_odds).collect();
    assert_eq!(latest, first);
    assert!(all[300..].iter().all(|s| s.as_of == "2009-12-01"));
    // A range explained alone reads the same as in the whole: percentiles
    // are among everyone of the date, not the range.
    let part = again.scored.explain(290..310).unwrap();
    for (a, b) in part.iter().zip(&all[290..310]) {
        assert_eq!(
            (&a.person_id, a.percentile, &a.summary),
            (&b.person_id, b.percentile, &b.summary)
        );
    }
    // Written a chunk at a time, in the same order.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scores.parquet");
    assert_eq!(again.scored.write_parquet(&path).unwrap(), 600);
    let file = std::fs::File::open(&path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut people = vec![];
    for b in reader {
        let b = b.unwrap();
        use arrow::array::AsArray;
        let col = b.column_by_name("person_id").unwrap().as_string::<i32>();
        people.extend(col.iter().map(|p| p.unwrap().to_string()));
    }
    let expected: Vec<String> = all.iter().map(|s| s.person_id.clone()).collect();
    assert_eq!(people, expected);
}

#[test]
fn fairness_rates_and_ratios_match_a_hand_computed_table() {
    use probity_score::fairness::{Case, audit, top_groups};
    let c = |flagged, outcome| Case { flagged, outcome };
    let cases = [
        c(true, Some(true)),
        c(true, Some(false)),
        c(false, Some(true)),
        c(false, Some(false)),
        c(true, Some(false)),
        c(false, Some(false)),
        c(false, None),
    ];
    let groups: Vec<String> = ["A", "A", "A", "A", "B", "B", "C"]
        .map(String::from)
        .to_vec();
    let a = audit("rank", &groups, &cases);
    assert_eq!(a.reference, "A", "the largest group");
    let g: Vec<_> = a.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(g, ["A", "B", "C"]);
    let (ga, gb, gc) = (&a.groups[0], &a.groups[1], &a.groups[2]);
    // A: 4 people, 2 flagged; 1 of 2 flags right; 1 of 2 without the
    // outcome flagged; 1 of 2 with it missed.
    assert_eq!((ga.people, ga.flagged), (4, 2));
    assert_eq!(
        (
            ga.flag_rate,
            ga.precision,
            ga.false_positive_rate,
            ga.false_negative_rate
        ),
        (0.5, Some(0.5), Some(0.5), Some(0.5))
    );
    assert!(ga.disparities.is_empty());
    // B: the same flag rate, but its one flag is wrong: precision ratio 0.
    assert_eq!(
        (
            gb.flag_rate,
            gb.precision,
            gb.false_positive_rate,
            gb.false_negative_rate
        ),
        (0.5, Some(0.0), Some(0.5), None)
    );
    assert_eq!(gb.ratios, [Some(1.0), Some(0.0), Some(1.0), None]);
    assert_eq!(gb.disparities, ["precision"]);
    // C: never flagged, outcome unknown: only the flag rate says anything.
    assert_eq!(gc.ratios, [Some(0.0), None, None, None]);
    assert_eq!(gc.disparities, ["flag rate"]);
    assert!(ga.small_group && gb.small_group && gc.small_group);

    let v: Vec<String> = ["x", "y", "x", "z", "x", "y"].map(String::from).to_vec();
    assert_eq!(top_groups(&v, 2), ["x", "y", "x", "other", "x", "y"]);

    // Significance. 15 of 160 men flagged, 0 of 140 women: z by hand with
    // the pooled rate p = 15/300: (0 - 0.09375) / sqrt(p(1-p)(1/140 + 1/160))
    // = -3.72; 7 women expected flagged, so the approximation holds.
    use probity_score::fairness::{approximation_holds, two_proportion_z};
    let z = two_proportion_z((0, 140), (15, 160));
    let by_hand = -0.09375 / (0.05f64 * 0.95 * (1.0 / 140.0 + 1.0 / 160.0)).sqrt();
    assert!((z - by_hand).abs() < 1e-9 && z < -3.7, "{z}");
    let mut groups = Vec::new();
    let mut cases = Vec::new();
    for i in 0..300 {
        groups.push(if i < 140 { "female" } else { "male" }.to_owned());
        cases.push(c((140..155).contains(&i), None));
    }
    let a = audit("sex", &groups, &cases);
    let f = a.groups.iter().find(|g| g.group == "female").unwrap();
    assert_eq!(
        (a.reference.as_str(), f.significant.clone()),
        ("male", vec!["flag rate".to_owned()])
    );
    // 3 flagged of 60 against 20 of 2,000: a ratio of 5, |z| = 2.9, but
    // 0.67 expected: not significant, still reported as a disparity.
    assert!(two_proportion_z((3, 60), (20, 2000)).abs() > 1.96);
    assert!(!approximation_holds((3, 60), (20, 2000)));
    let mut groups = Vec::new();
    let mut cases = Vec::new();
    for i in 0..2060 {
        groups.push(if i < 60 { "small" } else { "large" }.to_owned());
        cases.push(c(i < 3 || (60..80).contains(&i), None));
    }
    let a = audit("unit", &groups, &cases);
    let g = a.groups.iter().find(|g| g.group == "small").unwrap();
    assert_eq!(g.disparities, ["flag rate"]);
    assert!(g.significant.is_empty());

    // p-values: z = 1.96 is p = 0.05. Holm over one audit's tests:
    // [0.001, 0.02, 0.03] clear 0.05/3, 0.05/2 and 0.05/1 in turn, so all
    // stay significant; in [0.02, 0.03, 0.04] the smallest already misses
    // 0.05/3, so none does.
    use probity_score::fairness::{holm, two_sided_p};
    assert!((two_sided_p(1.96) - 0.05).abs() < 1e-4);
    assert!((two_sided_p(-3.0) - 0.0027).abs() < 1e-4);
    let mk = |ps: [Option<f64>; 4]| {
        let mut g = a.groups[0].clone();
        g.disparities = vec!["flag rate".into(), "precision".into()];
        g.significant = g.disparities.clone();
        g.p_values = ps;
        g
    };
    let mut attrs = vec![a.clone(), a.clone()];
    attrs[0].groups = vec![mk([Some(0.001), Some(0.03), None, None])];
    attrs[1].groups = vec![mk([Some(0.02), None, None, None])];
    holm(&mut attrs);
    // Sorted: 0.001 ≤ 0.05/3 kept; 0.02 ≤ 0.05/2 kept; 0.03 ≤ 0.05/1 kept.
    assert_eq!(attrs[0].groups[0].significant, ["flag rate", "precision"]);
    let mut attrs2 = vec![a.clone()];
    attrs2[0].groups = vec![mk([Some(0.02), Some(0.03), None, None])];
    let mut third = a.clone();
    third.groups = vec![mk([Some(0.04), None, None, None])];
    attrs2.push(third);
    holm(&mut attrs2);
    // 0.02 > 0.05/3: nothing survives.
    assert!(attrs2.iter().all(|x| x.groups[0].significant.is_empty()));
}

/// A small store in memory with every table the extra features read.
async fn activity() -> SessionContext {
    let ctx = SessionContext::new();
    for sql in [
        "CREATE TABLE people (person_id VARCHAR NOT NULL, rank VARCHAR NOT NULL, \
         unit_id VARCHAR NOT NULL, start_date DATE NOT NULL, end_date DATE, \
         contracted_hours_per_week DOUBLE)",
        "CREATE TABLE complaints (complaint_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, \
         received_on DATE NOT NULL, category VARCHAR NOT NULL, outcome VARCHAR, closed_on DATE)",
        "CREATE TABLE overtime_claims (claim_id VARCHAR, person_id VARCHAR, \
         claimed_start TIMESTAMP, claimed_end TIMESTAMP, hours DOUBLE)",
        "CREATE TABLE absences (absence_id VARCHAR, person_id VARCHAR, kind VARCHAR, \
         start_date DATE, end_date DATE)",
        "CREATE TABLE shifts (shift_id VARCHAR, person_id VARCHAR, unit_id VARCHAR, \
         start TIMESTAMP, \"end\" TIMESTAMP, kind VARCHAR)",
        "CREATE TABLE roster_edits (edit_id VARCHAR, shift_id VARCHAR, edited_by VARCHAR, \
         edited_at TIMESTAMP, field VARCHAR)",
        "CREATE TABLE accounts (account_id VARCHAR, person_id VARCHAR)",
        "CREATE TABLE system_queries (query_id VARCHAR, account_id VARCHAR, system VARCHAR, \
         at TIMESTAMP, subject_ref VARCHAR, case_ref VARCHAR)",
        "INSERT INTO people VALUES ('p1', 'PC', 'U1', DATE '2000-01-01', NULL, 40.0), \
         ('p2', 'PC', 'U1', DATE '2000-01-01', NULL, 20.0), \
         ('p3', 'SGT', 'U1', DATE '2000-01-01', NULL, NULL)",
        "INSERT INTO complaints VALUES ('c1', 'p1', DATE '2009-06-01', 'X', NULL, NULL)",
        // p1: 5 h in the 3 months before 2010-01-01, 8 h earlier in the
        // year, 7 h the year before (outside), 100 h after the cut-off.
        "INSERT INTO overtime_claims VALUES \
         ('o1', 'p1', TIMESTAMP '2009-11-15 18:00:00', TIMESTAMP '2009-11-15 23:00:00', 5.0), \
         ('o2', 'p1', TIMESTAMP '2009-05-01 18:00:00', TIMESTAMP '2009-05-02 02:00:00', 8.0), \
         ('o3', 'p1', TIMESTAMP '2008-05-01 18:00:00', TIMESTAMP '2008-05-02 01:00:00', 7.0), \
         ('o4', 'p1', TIMESTAMP '2010-01-02 08:00:00', TIMESTAMP '2010-01-06 12:00:00', 100.0)",
        // p1: a spell of 3 days, one running over the cut-off (2 days known
        // then), one begun after it, annual leave (not sickness).
        "INSERT INTO absences VALUES \
         ('a1', 'p1', 'sickness', DATE '2009-03-01', DATE '2009-03-03'), \
         ('a2', 'p1', 'sickness', DATE '2009-12-30', DATE '2010-01-20'), \
         ('a3', 'p1', 'sickness', DATE '2010-02-01', DATE '2010-02-05'), \
         ('a4', 'p1', 'annual_leave', DATE '2009-08-01', DATE '2009-08-14')",
        "INSERT INTO shifts VALUES \
         ('s1', 'p1', 'U1', TIMESTAMP '2009-10-01 07:00:00', TIMESTAMP '2009-10-01 15:00:00', 'duty'), \
         ('s2', 'p1', 'U2', TIMESTAMP '2009-04-01 07:00:00', TIMESTAMP '2009-04-01 15:00:00', 'duty'), \
         ('s3', 'p1', 'U3', TIMESTAMP '2010-03-01 07:00:00', TIMESTAMP '2010-03-01 15:00:00', 'duty'), \
         ('s4', 'p2', 'U1', TIMESTAMP '2009-10-01 07:00:00', TIMESTAMP '2009-10-01 15:00:00', 'duty')",
        // p1 edits own shift s1 twice before and once after the cut-off;
        // p2 edits p1's shift (not a self-edit).
        "INSERT INTO roster_edits VALUES \
         ('e1', 's1', 'p1', TIMESTAMP '2009-11-01 09:00:00', 'end'), \
         ('e2', 's1', 'p1', TIMESTAMP '2009-06-01 09:00:00', 'end'), \
         ('e3', 's1', 'p1', TIMESTAMP '2010-02-01 09:00:00', 'end'), \
         ('e4', 's1', 'p2', TIMESTAMP '2009-11-02 09:00:00', 'end')",
        "INSERT INTO accounts VALUES ('ac1', 'p1'), ('ac2', 'p2')",
        "INSERT INTO system_queries VALUES \
         ('q1', 'ac1', 'PNC', TIMESTAMP '2009-12-01 10:00:00', 'S1', NULL), \
         ('q2', 'ac1', 'PNC', TIMESTAMP '2009-07-01 10:00:00', 'S2', NULL), \
         ('q3', 'ac1', 'PNC', TIMESTAMP '2009-07-02 10:00:00', 'S3', 'CASE1'), \
         ('q4', 'ac1', 'PNC', TIMESTAMP '2010-01-03 10:00:00', 'S4', NULL), \
         ('q5', 'ac2', 'PNC', TIMESTAMP '2009-07-01 10:00:00', 'S5', NULL)",
    ] {
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
    }
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_features_count_only_what_was_known_at_the_cut_off() {
    let ctx = activity().await;
    let t = probity_score::features::compute(&ctx, &[TEST], &[], &["SGT".to_owned()])
        .await
        .unwrap();
    let row = |p: &str| t.person.iter().position(|x| x == p).unwrap();
    let v = |p: &str, f: &str| t.column(f).unwrap()[row(p)];
    assert_eq!(v("p1", "overtime_hours_3m"), 5.0);
    assert_eq!(v("p1", "overtime_hours_12m"), 13.0);
    assert_eq!(v("p1", "overtime_claims_12m"), 2.0);
    assert_eq!(v("p1", "sickness_spells_12m"), 2.0);
    assert_eq!(
        v("p1", "sickness_days_12m"),
        3.0 + 2.0,
        "a running spell counts to the cut-off"
    );
    assert_eq!(v("p1", "roster_self_edits_3m"), 1.0);
    assert_eq!(v("p1", "roster_self_edits_12m"), 2.0);
    assert_eq!(
        v("p2", "roster_self_edits_12m"),
        0.0,
        "editing a colleague's shift"
    );
    assert_eq!(v("p1", "lookups_12m"), 3.0);
    assert_eq!(v("p1", "lookups_no_case_12m"), 2.0);
    assert_eq!(v("p1", "lookups_no_case_3m"), 1.0);
    assert_eq!(v("p1", "units_12m"), 2.0);
    assert_eq!(v("p3", "overtime_hours_12m"), 0.0, "nobody's rows are zero");
    assert_eq!((v("p3", "rank0"), v("p1", "rank0")), (1.0, 0.0));
    // Peer deviation of overtime among the PCs of U1 (p1 13 h, p2 0 h).
    assert!(v("p1", "peer_z_overtime_hours_12m") > 0.0);
    assert!(t.features.iter().all(|f| !f.words.is_empty()));

    // Equality monitoring is never a feature: adding it changes nothing.
    for sql in [
        "CREATE TABLE equality_monitoring (person_id VARCHAR, sex VARCHAR, ethnicity VARCHAR)",
        "INSERT INTO equality_monitoring VALUES ('p1', 'female', 'black'), \
         ('p2', 'male', 'white'), ('p3', NULL, NULL)",
    ] {
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
    }
    let again = probity_score::features::compute(&ctx, &[TEST], &[], &["SGT".to_owned()])
        .await
        .unwrap();
    assert_eq!(again.features, t.features);
    assert_eq!(again.values, t.values);

    // The fairness groups: hours from contracted hours, sex and ethnicity
    // from equality monitoring, "not recorded" where empty.
    let g = probity_score::groups::Groups::load(&ctx).await.unwrap();
    assert_eq!(g.attributes, ["rank", "unit", "hours", "sex", "ethnicity"]);
    let cases = [
        probity_score::fairness::Case {
            flagged: true,
            outcome: None,
        },
        probity_score::fairness::Case {
            flagged: false,
            outcome: None,
        },
        probity_score::fairness::Case {
            flagged: false,
            outcome: None,
        },
    ];
    let a = g.audit(&["p1", "p2", "p3"], &cases);
    let groups = |k: usize| {
        let mut v: Vec<(String, usize)> = a[k]
            .groups
            .iter()
            .map(|g| (g.group.clone(), g.flagged))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        groups(2),
        [
            ("full-time".into(), 1),
            ("hours not recorded".into(), 0),
            ("part-time".into(), 0)
        ]
    );
    assert_eq!(
        groups(3),
        [
            ("female".into(), 1),
            ("male".into(), 0),
            ("not recorded".into(), 0)
        ]
    );
}

#[test]
fn the_isolation_forest_isolates_a_planted_outlier_and_names_its_feature() {
    use probity_score::anomaly::{IsolationForest, average_path};
    use probity_score::features::{Feature, FeatureTable};
    // 500 ordinary people with two features in a narrow band, one with an
    // extreme value of the second.
    let mut t = FeatureTable {
        features: vec![
            Feature {
                name: "a".into(),
                words: "a".into(),
            },
            Feature {
                name: "b".into(),
                words: "b".into(),
            },
        ],
        ..FeatureTable::default()
    };
    for i in 0..501 {
        t.person.push(format!("p{i}"));
        t.cut.push(TEST);
        t.rank.push("PC".into());
        t.unit.push("U1".into());
        let x = (i % 10) as f64;
        let y = if i == 500 {
            60.0
        } else {
            ((i * 7) % 13) as f64
        };
        t.values.extend([x, y]);
    }
    let rows: Vec<usize> = (0..501).collect();
    let f = IsolationForest::fit(&t, &rows, 100, 256, 7).unwrap();
    let s = f.score(&t, &rows).unwrap();
    assert!(s.iter().all(|v| *v > 0.0 && *v <= 1.0));
    let best = (0..501).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
    assert_eq!(best, 500, "the outlier is the most unusual");
    assert!(s[500] > 0.6, "{}", s[500]);
    let ordinary = s[..500].iter().sum::<f64>() / 500.0;
    assert!(ordinary < 0.55, "{ordinary}");
    // Same data and seed, same forest.
    let again = IsolationForest::fit(&t, &rows, 100, 256, 7).unwrap();
    assert_eq!(again.score(&t, &rows).unwrap(), s);
    // The explanation: setting b to its median removes most of the anomaly.
    let e = f.explain(&t, &[500]).unwrap();
    assert!(e[0][1] > 0.1 && e[0][1] > e[0][0].abs(), "{:?}", e[0]);
    // c(n) as in the paper: c(2) = 1, c(256) ≈ 10.24.
    assert_eq!(average_path(2.0), 1.0);
    assert!((average_path(256.0) - 10.244).abs() < 0.01);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_read_from_the_data() {
    use probity_score::history::{self, Outcomes};
    let ctx = force(Plant::None).await;
    let h = history::load(&ctx).await.unwrap();
    // The open complaints of 2009-12-12 are the last data; the background
    // history starts 2000-01-10 (1,188 complaints: the 12th is still then).
    assert_eq!(
        h.last_data,
        Some((date(2009, 12, 12), "complaints.received_on".to_owned()))
    );
    assert_eq!(
        h.outcomes,
        Some(Outcomes {
            complaints: 1188,
            earliest: date(2000, 1, 10),
            from: date(2000, 1, 10),
            to: date(2009, 12, 12),
        })
    );
    assert_eq!(history::default_train_from(&h).unwrap(), date(2000, 2, 1));
    // Chosen with the settling time of all the sustained complaints (2
    // months), the cut-offs leave 24 + 2 months before 2009-12-12, and the
    // first has two training cut-offs (2000-10-01, 2001-10-01) before it.
    let d = history::eval_defaults(&ctx, &h, 24, 12, None)
        .await
        .unwrap();
    assert_eq!(d.settle_months, 2);
    assert_eq!(
        d.tests,
        (2004..=2007).map(|y| date(y, 10, 1)).collect::<Vec<_>>()
    );
    assert_eq!(d.train_from, date(2000, 10, 1));

    // A store without complaints or events has nothing to default from.
    let empty = SessionContext::new();
    let h = history::load(&empty).await.unwrap();
    assert_eq!(h.last_data, None);
    assert_eq!(h.outcomes, None);
    let e = history::default_as_of(&h, date(2026, 1, 1)).unwrap_err();
    assert!(e.to_string().contains("pass --as-of"), "{e}");
    let e = history::eval_cuts(&h, 24, 12, 0).unwrap_err();
    assert!(e.to_string().contains("holds no complaints"), "{e}");
}

#[test]
fn defaults_and_warnings_follow_the_store_history() {
    use probity_score::history::{self, History, MIN_TRAINING_POSITIVES, Outcomes};
    let h = |from: Date, to: Date, last: Date| History {
        last_data: Some((last, "complaints.closed_on".to_owned())),
        outcomes: Some(Outcomes {
            complaints: 1000,
            earliest: from,
            from,
            to,
        }),
    };
    let ten_years = h(date(2010, 1, 15), date(2019, 12, 20), date(2019, 12, 28));

    // A run is as of the last date of data, not today; today if the data
    // runs into the future.
    let (d, why) = history::default_as_of(&ten_years, date(2026, 12, 6)).unwrap();
    assert_eq!(d, date(2019, 12, 28));
    assert_eq!(
        why,
        "as of 2019-12-28, the last date of data in the store (pass --as-of to choose)"
    );
    let (d, why) = history::default_as_of(&ten_years, date(2019, 6, 1)).unwrap();
    assert_eq!(d, date(2019, 6, 1));
    assert!(why.contains("after today"), "{why}");
    // A given date after the data is warned about; up to the day after the
    // last date it sees all of it.
    assert_eq!(history::as_of_warning(&ten_years, date(2019, 12, 29)), None);
    assert_eq!(history::as_of_warning(&ten_years, date(2018, 1, 1)), None);
    let w = history::as_of_warning(&ten_years, date(2020, 3, 1)).unwrap();
    assert!(
        w.starts_with(
            "--as-of 2020-03-01 is 64 days after the last date of data in the store (2019-12-28"
        ),
        "{w}"
    );

    // Few positive outcomes: a warning with the count and the minimum.
    assert_eq!(MIN_TRAINING_POSITIVES, 30);
    assert_eq!(history::positives_warning((5000, 30)), None);
    let w = history::positives_warning((1200, 7)).unwrap();
    assert!(
        w.contains(
            "only 7 positive outcomes (1200 training rows; the minimum for a usable model is 30)"
        ) && w.contains("unreliable"),
        "{w}"
    );
    assert!(
        history::positives_warning((10, 1))
            .unwrap()
            .contains("only 1 positive outcome (")
    );

    // Training starts on the first of the month after the history starts.
    assert_eq!(
        history::default_train_from(&ten_years).unwrap(),
        date(2010, 2, 1)
    );
    assert_eq!(
        history::grid_start(date(2017, 9, 1), date(2010, 2, 1), 12).unwrap(),
        date(2010, 9, 1)
    );
    assert_eq!(
        history::grid_start(date(2009, 9, 1), date(2010, 2, 1), 12).unwrap(),
        date(2009, 9, 1),
        "before the history: itself"
    );

    // Test cut-offs: the last leaves 24 + 3 months before the last complaint
    // (2019-12-20 − 27 months → 2017-09-01); the first has two training
    // cut-offs (2010-09-01, 2011-09-01) whose windows and settling closed by
    // it. Ten years allow four.
    let d = history::eval_cuts(&ten_years, 24, 12, 3).unwrap();
    assert_eq!(
        d.tests,
        (2014..=2017).map(|y| date(y, 9, 1)).collect::<Vec<_>>()
    );
    assert_eq!(d.train_from, date(2010, 9, 1));
    assert_eq!(
        d.why,
        "test cut-offs 2014-09-01, 2015-09-01, 2016-09-01, 2017-09-01: picked from the \
             store's complaint history (2010-01-15 to 2019-12-20) as the latest 4, all the \
             history allows, 12 months apart, that leave 24 months for outcomes and 3 months \
             to decide them before the last complaint, and have at least 2 training cut-offs \
             (from 2010-09-01) before them; --test-from and --test-to choose"
    );
    // A long history: the latest five.
    let long = h(date(1990, 3, 1), date(2019, 12, 20), date(2019, 12, 28));
    let d = history::eval_cuts(&long, 24, 12, 3).unwrap();
    assert_eq!(
        d.tests,
        (2013..=2017).map(|y| date(y, 9, 1)).collect::<Vec<_>>()
    );
    assert_eq!(d.train_from, date(1990, 9, 1));
    // Half-yearly cut-offs, shorter windows.
    let d = history::eval_cuts(&ten_years, 12, 6, 0).unwrap();
    assert_eq!(d.tests.last(), Some(&date(2018, 12, 1)));
    assert_eq!(d.tests.len(), 5);
    // Too short: an error naming the history and the fix.
    let short = h(date(2016, 1, 1), date(2019, 12, 20), date(2019, 12, 28));
    let e = history::eval_cuts(&short, 24, 12, 3)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("too short for any test cut-off")
            && e.contains("from 2016-01-01 to 2019-12-20 (48 months)")
            && e.contains("at least 66 months")
            && e.contains("--horizon"),
        "{e}"
    );

    // Given test cut-offs whose outcome window runs past the last complaint.
    assert_eq!(
        history::late_tests(
            &ten_years,
            &[date(2017, 1, 1), date(2018, 1, 1), date(2019, 1, 1)],
            24
        ),
        vec![date(2018, 1, 1), date(2019, 1, 1)]
    );
}

#[test]
fn scores_are_written_as_parquet_with_their_contributions_in_order() {
    use arrow::array::{Array, AsArray};
    use probity_score::run::{Contribution, Score};
    let scores: Vec<Score> = (0..70_000)
        .map(|i| Score {
            person_id: format!("p-{i:06}"),
            as_of: "2026-03-01".into(),
            probability: 1.0 / (1.0 + i as f64),
            log_odds: -(i as f64),
            percentile: 1.0 - i as f64 / 70_000.0,
            baseline: -3.0,
            top: (0..(i % 3))
                .map(|k| Contribution {
                    feature: format!("f{k}"),
                    words: format!("feature {k}"),
                    value: k as f64,
                    contribution: 0.5 - k as f64,
                })
                .collect(),
            summary: format!("person {i}"),
            method: "risk_model",
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scores.parquet");
    assert_eq!(
        probity_score::output::write_scores(&path, &scores).unwrap(),
        70_000
    );
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&path).unwrap(),
    )
    .unwrap();
    assert_eq!(
        reader.metadata().num_row_groups(),
        2,
        "a row group at a time"
    );
    let mut i = 0usize;
    for b in reader.build().unwrap() {
        let b = b.unwrap();
        let person = b.column_by_name("person_id").unwrap().as_string::<i32>();
        let top = b.column_by_name("top").unwrap().as_list::<i32>();
        let as_of = b
            .column_by_name("as_of")
            .unwrap()
            .as_primitive::<arrow::datatypes::Date32Type>();
        for r in 0..b.num_rows() {
            assert_eq!(person.value(r), scores[i].person_id);
            assert_eq!(as_of.value_as_date(r).unwrap().to_string(), "2026-03-01");
            let items = top.value(r);
            let items = items.as_struct();
            assert_eq!(items.len(), scores[i].top.len());
            for (k, c) in scores[i].top.iter().enumerate() {
                assert_eq!(items.column(0).as_string::<i32>().value(k), c.feature);
                assert_eq!(
                    items
                        .column(3)
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .value(k),
                    c.contribution
                );
            }
            i += 1;
        }
    }
    assert_eq!(i, scores.len());
}

/// A hand-built co-accusal network at the cut-off 2010-01-01 (complaint
/// references in brackets; the network looks back 5 years, to 2005):
/// A and B together on [R1] 2008-03 and [R2] 2009-02 (repeated partners: a
/// crew of two), B and C on [R3] 2009-06, C and D on [R4] 2009-08 (made by
/// a colleague: internal) and [R5] 2009-09 (a second crew), A and E on [R6]
/// 2003-01 (too old), E alone on [R8] 2009-05, A and F on [R7] 2010-03
/// (after the cut-off). B's part in R1 was sustained and closed 2008-06, E's
/// complaint sustained and closed 2009-07. F works in another unit.
async fn network() -> SessionContext {
    let ctx = SessionContext::new();
    for ddl in [
        "CREATE TABLE people (person_id VARCHAR NOT NULL, rank VARCHAR NOT NULL, \
         unit_id VARCHAR NOT NULL, start_date DATE NOT NULL, end_date DATE)",
        "CREATE TABLE complaints (complaint_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, \
         received_on DATE NOT NULL, category VARCHAR NOT NULL, outcome VARCHAR, closed_on DATE, \
         complaint_ref VARCHAR, complainant VARCHAR)",
        "INSERT INTO people VALUES ('A', 'PC', 'U1', DATE '2000-01-01', NULL), \
         ('B', 'PC', 'U1', DATE '2000-01-01', NULL), ('C', 'PC', 'U1', DATE '2000-01-01', NULL), \
         ('D', 'PC', 'U1', DATE '2000-01-01', NULL), ('E', 'PC', 'U1', DATE '2000-01-01', NULL), \
         ('F', 'PC', 'U2', DATE '2000-01-01', NULL)",
        "INSERT INTO complaints VALUES \
         ('1A', 'A', DATE '2008-03-01', 'FORCE', 'not_sustained', DATE '2008-06-01', 'R1', 'civilian'), \
         ('1B', 'B', DATE '2008-03-01', 'FORCE', 'sustained', DATE '2008-06-01', 'R1', 'civilian'), \
         ('2A', 'A', DATE '2009-02-01', 'FORCE', NULL, NULL, 'R2', 'civilian'), \
         ('2B', 'B', DATE '2009-02-01', 'FORCE', NULL, NULL, 'R2', 'civilian'), \
         ('3B', 'B', DATE '2009-06-01', 'SEARCH', NULL, NULL, 'R3', 'civilian'), \
         ('3C', 'C', DATE '2009-06-01', 'SEARCH', NULL, NULL, 'R3', 'civilian'), \
         ('4C', 'C', DATE '2009-08-01', 'NEGLECT', NULL, NULL, 'R4', 'internal'), \
         ('4D', 'D', DATE '2009-08-01', 'NEGLECT', NULL, NULL, 'R4', 'internal'), \
         ('5C', 'C', DATE '2009-09-01', 'SEARCH', NULL, NULL, 'R5', 'civilian'), \
         ('5D', 'D', DATE '2009-09-01', 'SEARCH', NULL, NULL, 'R5', 'civilian'), \
         ('6A', 'A', DATE '2003-01-01', 'FORCE', 'not_sustained', DATE '2003-05-01', 'R6', 'civilian'), \
         ('6E', 'E', DATE '2003-01-01', 'FORCE', 'not_sustained', DATE '2003-05-01', 'R6', 'civilian'), \
         ('8E', 'E', DATE '2009-05-01', 'FORCE', 'sustained', DATE '2009-07-01', 'R8', 'civilian'), \
         ('7A', 'A', DATE '2010-03-01', 'FORCE', 'sustained', DATE '2010-05-01', 'R7', 'internal'), \
         ('7F', 'F', DATE '2010-03-01', 'FORCE', 'sustained', DATE '2010-05-01', 'R7', 'internal')",
    ] {
        ctx.sql(ddl).await.unwrap().collect().await.unwrap();
    }
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn co_accusal_features_match_a_hand_built_network() {
    let ctx = network().await;
    let t = probity_score::features::compute(&ctx, &[date(2010, 1, 1)], &[], &[])
        .await
        .unwrap();
    let get = |p: &str, f: &str| {
        let i = (0..t.len()).find(|&i| t.person[i] == p).unwrap();
        let j = t.features.iter().position(|x| x.name == f).unwrap();
        t.row(i)[j]
    };
    // (person, co-accused, repeated partners, share of joint complaints,
    //  their complaints of 24 months, the most of one, with a sustained
    //  complaint, new partners of 12 months, crew size, crew's complaints)
    let want: [(&str, [f64; 9]); 6] = [
        ("A", [1.0, 1.0, 1.0, 3.0, 3.0, 1.0, 0.0, 2.0, 3.0]),
        ("B", [2.0, 1.0, 1.0, 5.0, 3.0, 0.0, 1.0, 2.0, 2.0]),
        ("C", [2.0, 1.0, 1.0, 5.0, 3.0, 1.0, 2.0, 2.0, 2.0]),
        ("D", [1.0, 1.0, 1.0, 3.0, 3.0, 0.0, 1.0, 2.0, 3.0]),
        ("E", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        ("F", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
    ];
    let names = [
        "co_accused_5y",
        "repeat_partners_5y",
        "joint_share_5y",
        "co_accused_complaints_24m",
        "co_accused_max_24m",
        "co_accused_sustained",
        "new_partners_12m",
        "crew_size",
        "crew_complaints_24m",
    ];
    for (p, values) in want {
        for (f, v) in names.iter().zip(values) {
            assert_eq!(get(p, f), v, "{p}: {f}");
        }
    }
    // Who complained: C and D each have one internal complaint in 24 months.
    for (p, v) in [("A", 0.0), ("C", 1.0), ("D", 1.0), ("F", 0.0)] {
        assert_eq!(get(p, "internal_24m"), v, "{p}: internal_24m");
    }
    // Unit context: the others of unit U1 had 2 (A), 3 (B), 3 (C), 2 (D)
    // and 1 (E) complaints in 24 months; F is alone in U2.
    assert!(close(get("A", "unit_complaints_24m"), 9.0 / 4.0));
    assert!(close(get("E", "unit_complaints_24m"), 10.0 / 4.0));
    assert_eq!(get("F", "unit_complaints_24m"), 0.0);
    // Trajectory: B had 2 complaints in the last 12 months (R2, R3) and 1
    // in the 12 months before (R1).
    assert_eq!(get("B", "trend_12m"), 2.0 - 1.0);
    // Expected sustained: the rates are learnt from the complaints decided
    // before the cut-off (R1, R6, R8: 2 of 5 sustained, all FORCE and
    // civilian, pulled towards the overall 2/5 by the prior) — every one
    // of A's 2 complaints of 24 months weighs 0.4.
    assert!(close(get("A", "expected_sustained_24m"), 0.8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_store_key_trains_the_same_model() {
    // Another key gives every officer another pseudonym, in another order.
    let renamed = |pair: i16, side: &str| format!("k{:03}{side}", (pair * 37 + 1) % 150);
    let cats = ["RUDENESS".to_owned(), "NEGLECT".to_owned()];
    let (t0, m0, rows0) = train_for(&force(Plant::None).await, &cuts(), TEST, 24, &cats, 0.5)
        .await
        .unwrap();
    let (t1, m1, rows1) = train_for(
        &force_named(Plant::None, renamed).await,
        &cuts(),
        TEST,
        24,
        &cats,
        0.5,
    )
    .await
    .unwrap();
    let s0 = m0.score(&t0, &rows0).unwrap();
    let s1 = m1.score(&t1, &rows1).unwrap();
    let by_officer = |t: &probity_score::features::FeatureTable,
                      rows: &[usize],
                      s: &[f64],
                      name: &dyn Fn(&str) -> String| {
        let mut v: Vec<(String, f64)> = rows
            .iter()
            .zip(s)
            .map(|(&i, &x)| (name(&t.person[i]), x))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    // Back from the renamed ids to the first ones.
    let back = |id: &str| {
        let k: i16 = id[1..4].parse().unwrap();
        let pair = (0..150i16).find(|p| (p * 37 + 1) % 150 == k).unwrap();
        format!("p{pair}{}", &id[4..])
    };
    let a = by_officer(&t0, &rows0, &s0, &|s: &str| s.to_owned());
    let b = by_officer(&t1, &rows1, &s1, &back);
    assert_eq!(a.len(), 300);
    // The rows reach the model in another order ...
    assert_ne!(back(&t1.person[rows1[0]]), t0.person[rows0[0]]);
    // ... yet every officer gets the same score.
    assert_eq!(a, b, "the model moved with the store key");
    // The linear model (the default learner) too, to the last bit.
    let l0 = linear_at_test(&force(Plant::None).await, &t0).await;
    let l1 = linear_at_test(&force_named(Plant::None, renamed).await, &t1).await;
    let a = by_officer(&t0, &rows0, &l0.score(&t0, &rows0).unwrap(), &|s: &str| {
        s.to_owned()
    });
    let b = by_officer(&t1, &rows1, &l1.score(&t1, &rows1).unwrap(), &back);
    assert_eq!(a, b, "the linear model moved with the store key");
    // So does the anomaly score: its trees sample rows in an order of
    // their content.
    let forest = |t: &probity_score::features::FeatureTable, rows: &[usize]| {
        probity_score::anomaly::IsolationForest::fit(t, rows, 50, 64, 7)
            .unwrap()
            .score(t, rows)
            .unwrap()
    };
    let a = by_officer(&t0, &rows0, &forest(&t0, &rows0), &|s: &str| s.to_owned());
    let b = by_officer(&t1, &rows1, &forest(&t1, &rows1), &back);
    assert_eq!(a, b, "the anomaly score moved with the store key");
}
