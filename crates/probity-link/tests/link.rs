//! Record linkage end to end on a generated population: staff, their
//! register entries written with the variants registers introduce, public
//! namesakes and strangers; and the bad input a register brings.

use probity_link::linker::KEEP;
use probity_link::{
    Decision, Dob, Entity, Model, Problems, Scorer, Settings, Today, Training, decide, distinct,
    record_entity, staff_entity,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const GIVEN: &[&str] = &[
    "Robert",
    "William",
    "James",
    "Katherine",
    "Elizabeth",
    "Thomas",
    "Sarah",
    "Mohammed",
    "Priya",
    "Oliver",
    "Amelia",
    "Daniel",
    "Chloe",
    "Liam",
    "Niamh",
    "Patrick",
    "Zofia",
    "Ewan",
    "Grace",
    "Samuel",
    "Hannah",
    "Connor",
    "Aisha",
    "Jack",
    "Megan",
    "Ryan",
    "Lucy",
    "Adam",
];
const FAMILY: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Khan",
    "Nowak",
    "O'Brien",
    "Smith-Jones",
    "Hughes",
    "Edwards",
    "Turner",
    "Phillips",
    "Murphy",
    "Campbell",
    "Kowalski",
    "García",
    "Müller",
];
const NICK: &[(&str, &str)] = &[
    ("Robert", "Bob"),
    ("William", "Bill"),
    ("James", "Jim"),
    ("Katherine", "Kate"),
    ("Elizabeth", "Liz"),
    ("Thomas", "Tom"),
    ("Samuel", "Sam"),
    ("Daniel", "Dan"),
];

const TODAY: Today = Today {
    year: 2026,
    month: 11,
    day: 27,
};

struct Person {
    given: &'static str,
    family: &'static str,
    dob: (i32, u8, u8),
    postcode: String,
}

fn postcode(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}{} {}{}{}",
        ["LS", "M", "SW", "BD", "E", "N"][rng.random_range(0..6)],
        rng.random_range(1..20),
        rng.random_range(1..10),
        (b'A' + rng.random_range(0..26u8)) as char,
        (b'A' + rng.random_range(0..26u8)) as char
    )
}

fn person(rng: &mut ChaCha8Rng) -> Person {
    Person {
        given: GIVEN[rng.random_range(0..GIVEN.len())],
        family: FAMILY[rng.random_range(0..FAMILY.len())],
        dob: (
            rng.random_range(1960..2004),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
        ),
        postcode: postcode(rng),
    }
}

/// How a register writes a staff member: one variant at a time.
fn variant(rng: &mut ChaCha8Rng, p: &Person) -> (String, String, String) {
    let (y, m, d) = p.dob;
    let full_dob = format!("{y:04}-{m:02}-{d:02}");
    let name = match rng.random_range(0..6) {
        0 => format!("{}, {}", p.family.to_uppercase(), p.given),
        1 => NICK
            .iter()
            .find(|(g, _)| *g == p.given)
            .map_or(format!("{} {}", p.given, p.family), |(_, n)| {
                format!("{n} {}", p.family)
            }),
        2 => format!("{}. {}", &p.given[..1], p.family),
        3 => {
            let mut f: Vec<char> = p.family.chars().collect();
            if f.len() > 4 {
                f.swap(2, 3);
            }
            format!("{} {}", p.given, f.into_iter().collect::<String>())
        }
        4 => format!("{} {}", p.family, p.given),
        _ => format!("{} {}", p.given, p.family),
    };
    let dob = if rng.random_bool(0.3) {
        format!("{y:04}-{m:02}")
    } else {
        full_dob
    };
    let pc = if rng.random_bool(0.8) {
        p.postcode.clone()
    } else {
        String::new()
    };
    (name, dob, pc)
}

struct World {
    staff: Vec<Entity>,
    records: Vec<Entity>,
    truth: Vec<Option<usize>>,
}

fn world(seed: u64, n_staff: usize, n_public: usize) -> World {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let people: Vec<Person> = (0..n_staff).map(|_| person(&mut rng)).collect();
    let mut problems = Problems::default();
    let staff = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (y, m, d) = p.dob;
            staff_entity(
                &format!("P{i}"),
                p.given,
                p.family,
                Dob::new(y, m, Some(d)),
                Some(&p.postcode),
                TODAY,
                &mut problems,
            )
        })
        .collect();
    let (mut records, mut truth) = (vec![], vec![]);
    let entry = |name: &str, dob: &str, pc: &str, problems: &mut Problems| {
        record_entity("r", name, Some(dob), Some(pc), TODAY, problems)
    };
    for (i, p) in people.iter().enumerate() {
        if i % 10 == 0 {
            let (name, dob, pc) = variant(&mut rng, p);
            records.push(entry(&name, &dob, &pc, &mut problems));
            truth.push(Some(i));
        }
        if i % 25 == 3 {
            // A namesake: same name, born another year, living elsewhere.
            let name = format!("{} {}", p.given, p.family);
            let dob = format!("{:04}-{:02}-{:02}", p.dob.0 - 6, p.dob.1, p.dob.2);
            let pc = postcode(&mut rng);
            records.push(entry(&name, &dob, &pc, &mut problems));
            truth.push(None);
        }
    }
    for _ in 0..n_public {
        let p = person(&mut rng);
        let (name, dob, pc) = variant(&mut rng, &p);
        records.push(entry(&name, &dob, &pc, &mut problems));
        truth.push(None);
    }
    assert_eq!(problems, Problems::default(), "generated input is clean");
    World {
        staff,
        records,
        truth,
    }
}

fn link(w: &World, model: &Model, s: &Settings) -> Vec<(Decision, Option<usize>)> {
    let (unique, of) = distinct(w.records.clone());
    let mut scorer = Scorer::new(&w.staff, model, s);
    scorer.limit(&unique, |i| i.to_string(), s.max_pairs_per_block);
    let (cands, _) = scorer.score(&unique, 0.001);
    of.iter()
        .map(|u| {
            let c = &cands[*u as usize];
            assert!(c.len() <= KEEP);
            let (d, _) = decide(c, s);
            (d, c.first().map(|c| c.staff as usize))
        })
        .collect()
}

#[test]
fn links_variants_and_leaves_namesakes_and_strangers() {
    let w = world(1, 6000, 20_000);
    // Six staff share every name here (6,000 people from 952 name pairs),
    // far denser than a force: the auto-link threshold is set stricter than
    // the default, as a deployment with such names would set it.
    let s = Settings {
        link_at: 0.98,
        ..Settings::default()
    };
    let (unique, _) = distinct(w.records.clone());
    let model = Model::train(&w.staff, &unique, &Training::default());
    // Training found matches in both sessions and estimated every comparison.
    assert!(model.sessions.iter().all(|x| x.converged && x.pairs > 0));
    assert!(
        model
            .comparisons
            .iter()
            .all(|c| c.m_source.starts_with("EM"))
    );
    let exact = &model.comparisons[0].levels[0];
    assert!(
        exact.m > 0.5 && exact.u < 0.05,
        "given-name exact: {exact:?}"
    );
    let out = link(&w, &model, &s);
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let mut missed = std::collections::BTreeMap::new();
    for ((d, best), truth) in out.iter().zip(&w.truth) {
        if truth.is_some() && *d != Decision::Link {
            *missed.entry(format!("{d:?}")).or_insert(0) += 1;
        }
        match (d, truth) {
            (Decision::Link, Some(t)) if *best == Some(*t) => tp += 1,
            (Decision::Link, _) => {
                fp += 1;
                if truth.is_some() {
                    fn_ += 1;
                }
            }
            (_, Some(_)) => fn_ += 1,
            _ => {}
        }
    }
    let precision = tp as f64 / (tp + fp) as f64;
    let recall = tp as f64 / (tp + fn_) as f64;
    assert!(precision >= 0.99, "precision {precision} (tp {tp} fp {fp})");
    // Staff share names here far more than in life (6,000 people from 952
    // name pairs), so some entries fit two staff members: those go to review,
    // never to a link and never silently to nobody.
    assert!(
        recall >= 0.9,
        "recall {recall} (tp {tp} missed {fn_}: {missed:?})"
    );
    assert_eq!(
        missed.keys().collect::<Vec<_>>(),
        vec!["Review"],
        "{missed:?}"
    );
    // The model round-trips through its saved form (to the last bit or so).
    let json = serde_json::to_string(&model).unwrap();
    let back: Model = serde_json::from_str(&json).unwrap();
    for (a, b) in back.pattern_weights().iter().zip(model.pattern_weights()) {
        assert!((a - b).abs() < 1e-9);
    }
    assert_eq!(back.sessions, model.sessions);
}

#[test]
fn training_is_deterministic() {
    let w = world(2, 1500, 3000);
    let (unique, _) = distinct(w.records.clone());
    let a = Model::train(&w.staff, &unique, &Training::default());
    let b = Model::train(&w.staff, &unique, &Training::default());
    assert_eq!(a, b);
}

#[test]
fn a_record_two_staff_members_fit_goes_to_review_not_to_either() {
    let w = world(3, 2000, 4000);
    let (unique, _) = distinct(w.records.clone());
    let model = Model::train(&w.staff, &unique, &Training::default());
    let mut problems = Problems::default();
    let twin = |id: &str, p: &mut Problems| {
        staff_entity(
            id,
            "Zebedee",
            "Quartermaine",
            Dob::new(1980, 5, Some(5)),
            Some("LS6 2AB"),
            TODAY,
            p,
        )
    };
    let mut staff = w.staff.clone();
    staff.push(twin("T1", &mut problems));
    staff.push(twin("T2", &mut problems));
    let r = record_entity(
        "R1",
        "QUARTERMAINE, Zebedee",
        Some("1980-05-05"),
        Some("LS6 2AB"),
        TODAY,
        &mut problems,
    );
    let s = Settings::default();
    let scorer = Scorer::new(&staff, &model, &s);
    let (c, _) = scorer.score(std::slice::from_ref(&r), 0.001);
    assert_eq!(c[0].len(), 2);
    assert_eq!(decide(&c[0], &s).0, Decision::Review);
}

#[test]
fn bad_input_is_counted_and_never_crashes() {
    let mut p = Problems::default();
    let e = record_entity("R1", "  ?? --  ", Some("1980-01-01"), None, TODAY, &mut p);
    assert!(!e.has_name());
    let e = record_entity("R2", "Ann Lee", Some("2031-02-03"), None, TODAY, &mut p);
    assert_eq!(e.dob, None, "a future date of birth is ignored");
    let e = record_entity("R3", "Ann Lee", Some("31/02/1980"), None, TODAY, &mut p);
    assert_eq!(e.dob, None);
    let e = record_entity(
        "R4",
        "ÅSA LINDSTRÖM-ÖBERG",
        Some("1980-02"),
        Some(" ls6 2ab "),
        TODAY,
        &mut p,
    );
    assert_eq!(
        (e.first.as_str(), e.family.as_str()),
        ("asa", "lindstrom-oberg")
    );
    assert_eq!(e.postcode.as_deref(), Some("LS62AB"));
    assert_eq!(p.unusable_name.count, 1);
    assert_eq!(p.unusable_name.examples, vec!["R1"]);
    assert_eq!(p.future_dob.examples, vec!["R2"]);
    assert_eq!(p.unreadable_dob.examples, vec!["R3"]);
    let lines = p.lines("reference records");
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains("R1") && lines[0].contains("fix the name"));
    // A record with no usable name is compared with nobody.
    let w = world(4, 500, 500);
    let (unique, _) = distinct(w.records.clone());
    let model = Model::train(&w.staff, &unique, &Training::default());
    let scorer = Scorer::new(&w.staff, &model, &Settings::default());
    let blank = record_entity("R5", "", None, None, TODAY, &mut p);
    let (c, pairs) = scorer.score(&[blank], 0.0);
    assert!(c[0].is_empty());
    assert_eq!(pairs, 0);
}

#[test]
fn a_million_identical_names_are_compared_once_and_oversized_blocks_reported() {
    let w = world(5, 3000, 3000);
    let (unique, _) = distinct(w.records.clone());
    let model = Model::train(&w.staff, &unique, &Training::default());
    let mut p = Problems::default();
    let one = record_entity("X", "SMITH, Robert", None, None, TODAY, &mut p);
    let (unique, of) = distinct(vec![one; 1_000_000]);
    assert_eq!(unique.len(), 1);
    assert_eq!(of.len(), 1_000_000);
    // The same name at 200,000 different addresses: the name block is too
    // big for the pair limit and is skipped with a report, not attempted.
    let many: Vec<Entity> = (0..200_000)
        .map(|i| {
            let pc = format!("ZZ{i}");
            record_entity("X", "SMITH, Robert", None, Some(&pc), TODAY, &mut p)
        })
        .collect();
    let (unique, _) = distinct(many);
    let s = Settings {
        max_pairs_per_block: 100_000,
        ..Settings::default()
    };
    let mut scorer = Scorer::new(&w.staff, &model, &s);
    let over = scorer.limit(&unique, |i| format!("R{i}"), s.max_pairs_per_block);
    assert!(
        over.iter()
            .any(|b| b.rule == "family_sound_given_initial" && b.records >= 100_000),
        "{over:?}"
    );
    let (c, pairs) = scorer.score(&unique, 0.001);
    assert_eq!(c.len(), unique.len());
    assert!(pairs < 5_000_000, "pairs {pairs}");
}
