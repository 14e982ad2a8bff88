//! Organisation names: the same organisation written differently, and
//! different organisations whose names look alike.
//!
//! A declaration of "Lewisham Allotments" and a register entry for
//! "LEWISHAM ALLOTMENT SOCIETY" name one organisation; so do "Croydon RFC"
//! and "Croydon Rugby Football Club", "Smith & Jones Ltd" and "Smith and
//! Jones Limited". "Vanguard Cleaning" and "Vanguard Security Ltd" do not.
//! Names are reduced to their distinctive words — case, accents and
//! punctuation folded, `&` read as "and", legal forms (Ltd, Limited, PLC,
//! LLP, …), generic words (society, club, association, group, services, …)
//! and the role and filler words declarations carry ("director of",
//! "member", "secondary employment", "shares in") set
//! aside, plurals stemmed — and compared word by word: equal, a typo of
//! each other (Jaro-Winkler ≥ 0.92 on words of five letters or more), an
//! abbreviation (a prefix of four letters or more), or an acronym of the
//! other name's words. Each word weighs by how rare it is among the names
//! being compared (inverse document frequency), so a shared "Thames" or
//! "Riverside" counts for less than a shared "Lionheart" when many
//! organisations are called Thames something.
//!
//! The similarity is a weighted Jaccard index: the weight of the matched
//! words over the weight of all words of both names, a typo or an
//! abbreviation counting half matched and half different (names alike only
//! by near spellings go to a person). [`Verdict`] reads it against two
//! thresholds: the same organisation, unsure (a clerical reviewer decides;
//! never grounds for a finding), or different. Names that share a single
//! distinctive word but name different kinds of body ("Vanguard Society",
//! "Vanguard Holdings Ltd") are never more than unsure.
//!
//! ```
//! use probity_link::org::{OrgName, Weights, compare, Verdict};
//! let a = OrgName::new("Lewisham Allotments");
//! let b = OrgName::new("LEWISHAM ALLOTMENT SOCIETY");
//! let c = compare(&a, &b, &Weights::uniform());
//! assert_eq!(c.verdict(0.8, 0.5), Verdict::Same);
//! let d = OrgName::new("Vanguard Security Ltd");
//! let e = compare(&OrgName::new("Vanguard Cleaning"), &d, &Weights::uniform());
//! assert_eq!(e.verdict(0.8, 0.5), Verdict::Different);
//! ```

use std::collections::{BTreeSet, HashMap};

use unicode_normalization::UnicodeNormalization;

/// Legal forms: never part of what distinguishes an organisation.
const LEGAL: &[&str] = &[
    "ltd",
    "limited",
    "plc",
    "llp",
    "llc",
    "lp",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "cic",
    "cio",
    "gmbh",
    "uk",
    "gb",
];

/// Words that name a kind of body or a role rather than the body itself.
const GENERIC: &[&str] = &[
    "the",
    "of",
    "and",
    "a",
    "an",
    "for",
    "in",
    "at",
    "on",
    "to",
    "society",
    "soc",
    "club",
    "association",
    "assoc",
    "assn",
    "group",
    "grp",
    "holding",
    "holdings",
    "service",
    "services",
    "solution",
    "solutions",
    "enterprise",
    "enterprises",
    "venture",
    "ventures",
    "partnership",
    "partners",
    "associates",
    "trust",
    "foundation",
    "organisation",
    "organization",
    "international",
    "intl",
    "global",
    // Role words a declaration carries around the organisation's name.
    "director",
    "directorship",
    "non",
    "executive",
    "member",
    "membership",
    "committee",
    "treasurer",
    "secretary",
    "trustee",
    "volunteer",
    "shareholder",
    "shareholding",
    "shares",
    "owner",
    "partner",
    "chair",
    "chairman",
    "chairperson",
    "officer",
    // Filler a declaration form gathers around the name ("Secondary
    // employment: self-employed, part time work for ...").
    "secondary",
    "employment",
    "employed",
    "employee",
    "self",
    "business",
    "interest",
    "interests",
    "work",
    "working",
    "job",
    "jobs",
    "part",
    "time",
    "paid",
    "unpaid",
    "role",
    "position",
    "investment",
    "investments",
    "volunteering",
];

/// Generic words that say what kind of body a name is: two names alike but
/// for their kind ("Vanguard Society", "Vanguard Holdings") may be two
/// bodies. Written in the form [`kind_word`] folds them to.
const BODY_KINDS: &[&str] = &[
    "society",
    "club",
    "association",
    "group",
    "holding",
    "service",
    "solution",
    "enterprise",
    "venture",
    "partnership",
    "associate",
    "trust",
    "foundation",
    "organization",
];

/// The kind of body a word names, folded ("soc" and "societies" →
/// "society"), if it names one.
fn kind_word(w: &str) -> Option<&'static str> {
    let folded = match w {
        "soc" => "society".to_string(),
        "assoc" | "assn" => "association".to_string(),
        "grp" => "group".to_string(),
        "partners" => "partnership".to_string(),
        other => stem(other),
    };
    BODY_KINDS.iter().find(|k| **k == folded).copied()
}

/// Spellings of one word.
const SYNONYMS: &[(&str, &str)] = &[
    ("saint", "st"),
    ("mount", "mt"),
    ("centre", "center"),
    ("organisation", "organization"),
    ("brothers", "bros"),
];

fn is_legal(w: &str) -> bool {
    LEGAL.contains(&w)
}

fn is_generic(w: &str) -> bool {
    GENERIC.contains(&w)
}

/// Lower case, accents folded, `&` and `+` as "and", apostrophes dropped,
/// every other non-alphanumeric a separator.
fn words(s: &str) -> Vec<String> {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        match c {
            '&' | '+' => out.push_str(" and "),
            '\'' | '\u{2019}' | '\u{2018}' | '.' => {}
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    out.split_whitespace()
        .map(|w| {
            SYNONYMS
                .iter()
                .find(|(a, _)| *a == w)
                .map_or(w, |(_, b)| *b)
                .to_string()
        })
        .collect()
}

/// A light stem: plural and possessive endings off (`allotments` →
/// `allotment`, `societies` → `society`), nothing else.
fn stem(w: &str) -> String {
    let n = w.chars().count();
    if n > 4 && w.ends_with("ies") {
        format!("{}y", &w[..w.len() - 3])
    } else if n > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        w[..w.len() - 1].to_string()
    } else {
        w.to_string()
    }
}

/// An organisation name prepared for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName {
    /// As written.
    pub raw: String,
    /// Every normalised word, in order (for acronyms).
    all: Vec<String>,
    /// The distinctive words, stemmed, in order, without repeats.
    pub tokens: Vec<String>,
    /// Each token as first written (for explanations).
    shown: Vec<String>,
    /// The kinds of body the name's generic words name ("club", "holding").
    kinds: BTreeSet<&'static str>,
}

impl OrgName {
    /// Prepares a name.
    pub fn new(raw: &str) -> OrgName {
        let all = words(raw);
        let distinct = |keep: &dyn Fn(&str) -> bool| {
            let (mut tokens, mut shown): (Vec<String>, Vec<String>) = (vec![], vec![]);
            for w in all.iter().filter(|w| keep(w)) {
                let s = stem(w);
                if !tokens.contains(&s) {
                    tokens.push(s);
                    shown.push(w.clone());
                }
            }
            (tokens, shown)
        };
        let (mut tokens, mut shown) = distinct(&|w| !is_legal(w) && !is_generic(w));
        if tokens.is_empty() {
            // A name made only of generic words ("The Society") is its words.
            (tokens, shown) = distinct(&|w| !is_legal(w));
        }
        let kinds = all.iter().filter_map(|w| kind_word(w)).collect();
        OrgName {
            raw: raw.to_string(),
            all,
            tokens,
            shown,
            kinds,
        }
    }

    /// The distinctive words joined: a key under which spellings that differ
    /// only in case, punctuation, legal form or generic words coincide.
    pub fn key(&self) -> String {
        self.tokens.join(" ")
    }

    /// Whether `acronym` (three to six letters) spells the initials of
    /// consecutive words of this name (generic words included: "RFC" =
    /// Rugby Football Club); returns the distinctive tokens among them.
    fn acronym_of(&self, acronym: &str) -> Option<Vec<String>> {
        let n = acronym.chars().count();
        if !(3..=6).contains(&n) || !acronym.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let words: Vec<&String> = self
            .all
            .iter()
            .filter(|w| !is_legal(w) && !matches!(w.as_str(), "the" | "of" | "and"))
            .collect();
        for start in 0..words.len() {
            if start + n > words.len() {
                break;
            }
            let run = &words[start..start + n];
            if run
                .iter()
                .zip(acronym.chars())
                .all(|(w, c)| w.starts_with(c))
            {
                let toks = run
                    .iter()
                    .map(|w| stem(w))
                    .filter(|s| self.tokens.contains(s))
                    .collect();
                return Some(toks);
            }
        }
        None
    }
}

/// How much each word weighs: rare words more than common ones.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    df: HashMap<String, u32>,
    names: u32,
}

impl Weights {
    /// Every word weighs 1.
    pub fn uniform() -> Weights {
        Weights::default()
    }

    /// Inverse document frequency over a set of names (each distinct name
    /// counted once, so a register listing one club a thousand times does
    /// not make the club's name common).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a OrgName>) -> Weights {
        let mut df: HashMap<String, u32> = HashMap::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut count = 0;
        for n in names {
            if !seen.insert(n.key()) {
                continue;
            }
            count += 1;
            for t in &n.tokens {
                *df.entry(t.clone()).or_default() += 1;
            }
        }
        Weights { df, names: count }
    }

    /// The weight of a word: 1 + ln(names / names containing it); words not
    /// seen before weigh most.
    pub fn of(&self, token: &str) -> f64 {
        if self.names == 0 {
            return 1.0;
        }
        let df = self.df.get(token).copied().unwrap_or(0).max(1);
        1.0 + (f64::from(self.names) / f64::from(df)).ln()
    }
}

/// How two words were matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordMatch {
    /// The same word (after folding and stemming).
    Equal,
    /// A typo: Jaro-Winkler similarity at least 0.92.
    Typo,
    /// One abbreviates the other (a prefix of four letters or more).
    Abbreviation,
    /// An acronym of the other name's words.
    Acronym,
}

/// Two names compared.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgComparison {
    /// Weighted Jaccard index of the distinctive words, 0..1.
    pub similarity: f64,
    /// Words of both matched, with how (`a` word, `b` word, kind).
    pub matched: Vec<(String, String, WordMatch)>,
    /// Distinctive words only the first name has.
    pub only_a: Vec<String>,
    /// Distinctive words only the second name has.
    pub only_b: Vec<String>,
    /// Whether every distinctive word of one name is matched in the other
    /// (one name is the other with words added: "Riverside" and "Riverside
    /// Data Ltd").
    pub contained: bool,
    /// Whether the names agree on a single distinctive word while naming
    /// different kinds of body ("Vanguard Society", "Vanguard Holdings
    /// Ltd"): never the same organisation without a person deciding.
    pub kinds_differ: bool,
}

/// What a comparison means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The same organisation.
    Same,
    /// Close but not clearly the same: for a clerical reviewer.
    Unsure,
    /// Different organisations.
    Different,
}

impl OrgComparison {
    /// Same at `same_at` or above unless the kinds of body differ; unsure
    /// from `unsure_at`, or whenever one name lies wholly inside the other
    /// (a declaration of "Riverside" may or may not mean "Riverside Data
    /// Ltd": a person decides); else different.
    pub fn verdict(&self, same_at: f64, unsure_at: f64) -> Verdict {
        if self.similarity >= same_at && !self.kinds_differ {
            Verdict::Same
        } else if self.similarity >= unsure_at || self.contained || self.kinds_differ {
            Verdict::Unsure
        } else {
            Verdict::Different
        }
    }

    /// The comparison in words: "similarity 0.62 (shared: riverside; only in
    /// the first: boxing; only in the second: data)".
    pub fn describe(&self, first: &str, second: &str) -> String {
        let mut parts = vec![];
        if !self.matched.is_empty() {
            let shared: Vec<String> = self
                .matched
                .iter()
                .map(|(a, b, k)| match k {
                    WordMatch::Equal => a.clone(),
                    WordMatch::Typo => format!("{a}~{b} (typo)"),
                    WordMatch::Abbreviation => format!("{a}~{b} (abbreviation)"),
                    WordMatch::Acronym => format!("{a}={b} (acronym)"),
                })
                .collect();
            parts.push(format!("shared: {}", shared.join(", ")));
        }
        if !self.only_a.is_empty() {
            parts.push(format!("only in {first}: {}", self.only_a.join(", ")));
        }
        if !self.only_b.is_empty() {
            parts.push(format!("only in {second}: {}", self.only_b.join(", ")));
        }
        format!("similarity {:.2} ({})", self.similarity, parts.join("; "))
    }
}

fn word_match(a: &str, b: &str) -> Option<WordMatch> {
    if a == b {
        return Some(WordMatch::Equal);
    }
    let (na, nb) = (a.chars().count(), b.chars().count());
    if na >= 5 && nb >= 5 && crate::compare::jaro_winkler(a, b) >= 0.92 {
        return Some(WordMatch::Typo);
    }
    let (short, long, ns) = if na <= nb { (a, b, na) } else { (b, a, nb) };
    if ns >= 4 && long.starts_with(short) {
        return Some(WordMatch::Abbreviation);
    }
    None
}

/// Which tokens of each name are matched so far, and to what.
struct Alignment<'a> {
    a: &'a OrgName,
    b: &'a OrgName,
    used_a: Vec<bool>,
    used_b: Vec<bool>,
    matched: Vec<(String, String, WordMatch)>,
    weight: f64,
    /// The unmatched half of typo and abbreviation matches.
    fuzz: f64,
}

impl Alignment<'_> {
    /// Acronyms among the unmatched words of `x` (the first name when
    /// `first`) standing for words of the other name.
    fn acronyms(&mut self, first: bool, w: &Weights) {
        let (x, y) = if first {
            (self.a, self.b)
        } else {
            (self.b, self.a)
        };
        for i in 0..x.tokens.len() {
            let used_x = if first { &self.used_a } else { &self.used_b };
            if used_x[i] {
                continue;
            }
            let Some(words) = y.acronym_of(&x.tokens[i]) else {
                continue;
            };
            let used_y = if first { &self.used_b } else { &self.used_a };
            let free: Vec<usize> = words
                .iter()
                .filter_map(|wd| y.tokens.iter().position(|yt| yt == wd))
                .filter(|j| !used_y[*j])
                .collect();
            // The acronym and the words it stands for count once, at the
            // heavier of the two sides.
            let wy: f64 = free.iter().map(|j| w.of(&y.tokens[*j])).sum();
            self.weight += w.of(&x.tokens[i]).max(wy);
            let expansion = if free.is_empty() {
                "(generic words)".to_string()
            } else {
                free.iter()
                    .map(|j| y.shown[*j].as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let (used_x, used_y) = if first {
                (&mut self.used_a, &mut self.used_b)
            } else {
                (&mut self.used_b, &mut self.used_a)
            };
            used_x[i] = true;
            for j in &free {
                used_y[*j] = true;
            }
            let acronym = x.shown[i].clone();
            self.matched.push(if first {
                (acronym, expansion, WordMatch::Acronym)
            } else {
                (expansion, acronym, WordMatch::Acronym)
            });
        }
    }
}

/// Compares two names.
pub fn compare(a: &OrgName, b: &OrgName, w: &Weights) -> OrgComparison {
    let mut al = Alignment {
        a,
        b,
        used_a: vec![false; a.tokens.len()],
        used_b: vec![false; b.tokens.len()],
        matched: vec![],
        weight: 0.0,
        fuzz: 0.0,
    };
    // Exact matches first, then typos and abbreviations.
    for exact_only in [true, false] {
        for (i, ta) in a.tokens.iter().enumerate() {
            if al.used_a[i] {
                continue;
            }
            for (j, tb) in b.tokens.iter().enumerate() {
                if al.used_b[j] {
                    continue;
                }
                let Some(k) = word_match(ta, tb) else {
                    continue;
                };
                if exact_only && k != WordMatch::Equal {
                    continue;
                }
                al.used_a[i] = true;
                al.used_b[j] = true;
                // A typo or an abbreviation is half a match: the other half
                // counts as a difference, so names alike only by near
                // spellings go to a person rather than being taken as one.
                let pair = (w.of(ta) + w.of(tb)) / 2.0;
                if k == WordMatch::Equal {
                    al.weight += pair;
                } else {
                    al.weight += pair / 2.0;
                    al.fuzz += pair / 2.0;
                }
                al.matched.push((a.shown[i].clone(), b.shown[j].clone(), k));
                break;
            }
        }
    }
    al.acronyms(true, w);
    al.acronyms(false, w);
    let rest = |n: &OrgName, used: &[bool]| -> (Vec<String>, f64) {
        let mut shown = vec![];
        let mut wt = 0.0;
        for (i, u) in used.iter().enumerate() {
            if !u {
                shown.push(n.shown[i].clone());
                wt += w.of(&n.tokens[i]);
            }
        }
        (shown, wt)
    };
    let (only_a, wa) = rest(a, &al.used_a);
    let (only_b, wb) = rest(b, &al.used_b);
    let total = al.weight + al.fuzz + wa + wb;
    let contained = !al.matched.is_empty() && (only_a.is_empty() || only_b.is_empty());
    let kinds_differ = al.matched.len() == 1
        && !a.kinds.is_empty()
        && !b.kinds.is_empty()
        && a.kinds.is_disjoint(&b.kinds);
    OrgComparison {
        similarity: if total > 0.0 { al.weight / total } else { 0.0 },
        matched: al.matched,
        only_a,
        only_b,
        contained,
        kinds_differ,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(a: &str, b: &str) -> f64 {
        compare(&OrgName::new(a), &OrgName::new(b), &Weights::uniform()).similarity
    }

    #[test]
    fn spellings_of_one_organisation_are_the_same() {
        for (a, b) in [
            ("X Allotment", "X Allotment Society"),
            ("Lewisham Allotments", "LEWISHAM ALLOTMENT SOCIETY"),
            (
                "Smith & Jones Surveyors Ltd",
                "Smith and Jones Surveyors Limited",
            ),
            ("Acme Widgets (UK) Ltd", "ACME WIDGETS LIMITED"),
            ("Croydon RFC", "Croydon Rugby Football Club"),
            ("St John Ambulance (volunteer)", "Saint John Ambulance"),
            (
                "Director, Vanguard Cleaning Group",
                "Vanguard Cleaning Group Ltd",
            ),
            ("The Greenwich Yacht Club", "Greenwich Yacht Club"),
            ("Café Rouge Holdings plc", "Cafe Rouge"),
            ("Riverside Boxing Club", "riverside boxing club."),
            ("Southwark Amateur Boxing Club", "Southwark ABC"),
        ] {
            let s = sim(a, b);
            assert!(s >= 0.8, "{a} vs {b}: {s}");
            assert!((sim(b, a) - s).abs() < 1e-9, "symmetric: {a} vs {b}");
        }
    }

    #[test]
    fn different_organisations_are_different() {
        for (a, b) in [
            ("Vanguard Cleaning", "Vanguard Security Ltd"),
            (
                "Metropolitan Police Athletic Association",
                "Metropolitan Motorcycle Club",
            ),
            ("Police Rugby Union", "Croydon Rugby Football Club"),
            ("Thames Rowing Club", "Thames Events Ltd"),
            ("Self-employed personal trainer", "Metro Fitness Ltd"),
        ] {
            let s = sim(a, b);
            assert!(s < 0.5, "{a} vs {b}: {s}");
        }
    }

    #[test]
    fn declaration_filler_is_not_part_of_the_name() {
        for (a, b) in [
            (
                "Secondary employment - self employed, Vanguard Cleaning",
                "Vanguard Cleaning Ltd",
            ),
            (
                "Business interest: shares in Acme Widgets",
                "ACME WIDGETS LIMITED",
            ),
            ("Part time work at Albion Fitness", "Albion Fitness Ltd"),
        ] {
            let s = sim(a, b);
            assert!(s >= 0.8, "{a} vs {b}: {s}");
        }
    }

    #[test]
    fn near_spellings_and_different_kinds_of_body_are_for_review() {
        let u = Weights::uniform();
        for (a, b) in [
            // Only a typo or an abbreviation in common beyond one word.
            ("Lewisham Alotment", "Lewisham Allotment Society"),
            ("Vang Security", "Vanguard Security"),
            // One word in common, named as different kinds of body.
            ("Vanguard Society", "Vanguard Holdings Ltd"),
            ("Member, Vanguard Club", "Vanguard Trust"),
        ] {
            let c = compare(&OrgName::new(a), &OrgName::new(b), &u);
            assert_eq!(c.verdict(0.8, 0.5), Verdict::Unsure, "{a} vs {b}: {c:?}");
        }
        // More agreement outweighs one typo.
        let c = compare(
            &OrgName::new("Lewisham Alotment Growers"),
            &OrgName::new("Lewisham Allotment Growers Society"),
            &u,
        );
        assert_eq!(c.verdict(0.8, 0.5), Verdict::Same, "{c:?}");
    }

    #[test]
    fn a_name_inside_a_longer_one_is_for_review() {
        let c = compare(
            &OrgName::new("Riverside"),
            &OrgName::new("Riverside Data Ltd"),
            &Weights::uniform(),
        );
        assert_eq!(c.verdict(0.8, 0.5), Verdict::Unsure);
        assert_eq!(c.only_b, vec!["data"]);
        let text = c.describe("the declaration", "the register");
        assert!(text.contains("shared: riverside"), "{text}");
        assert!(text.contains("only in the register: data"), "{text}");
    }

    #[test]
    fn rare_words_weigh_more_than_common_ones() {
        // Many organisations are called Thames something: sharing "thames"
        // says little, sharing "lionheart" much.
        let names: Vec<OrgName> = [
            "Thames Holdings Ltd",
            "Thames Rowing Club",
            "Thames Events Ltd",
            "Thames Data Services LLP",
            "Thames Valley Security",
            "Lionheart Security Ltd",
            "Albion Fitness Ltd",
        ]
        .iter()
        .map(|n| OrgName::new(n))
        .collect();
        let w = Weights::from_names(&names);
        assert!(w.of("thame") < w.of("lionheart"), "tokens are stems");
        let thames = compare(
            &OrgName::new("Thames Security"),
            &OrgName::new("Thames Valley Security"),
            &w,
        );
        let lion = compare(
            &OrgName::new("Lionheart Security"),
            &OrgName::new("Lionheart Valley Security"),
            &w,
        );
        assert!(thames.similarity < lion.similarity);
    }

    #[test]
    fn keys_coincide_for_spellings_that_differ_only_in_form() {
        assert_eq!(
            OrgName::new("The Acme Co. Ltd").key(),
            OrgName::new("ACME Limited").key()
        );
        assert_eq!(OrgName::new("The Society").key(), "the society");
    }
}
