//! The prepared form of a person's identifying fields and the comparison
//! levels between two of them: the gamma pattern of Fellegi–Sunter.

use std::sync::LazyLock;

use rphonetic::DoubleMetaphone;

use crate::text::{self, Dob};

static METAPHONE: LazyLock<DoubleMetaphone> = LazyLock::new(DoubleMetaphone::default);

/// A person's identifying fields, normalised once and compared many times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entity {
    /// Normalised given names (all of them).
    pub given: String,
    /// The first given name (the one registers keep).
    pub first: String,
    /// Normalised family name.
    pub family: String,
    /// Family name without spaces or hyphens.
    pub family_compact: String,
    /// Double Metaphone codes of the family name (primary, alternate).
    pub family_codes: (String, String),
    /// Nickname groups of the first given name.
    pub nick: u128,
    /// Date of birth.
    pub dob: Option<Dob>,
    /// Postcode, normalised.
    pub postcode: Option<String>,
}

impl Entity {
    /// Prepares an entity from normalised given and family names (see
    /// [`text::normalise`] and [`text::split_full_name`]).
    pub fn new(given: &str, family: &str, dob: Option<Dob>, postcode: Option<String>) -> Entity {
        let first = given.split(' ').next().unwrap_or("").to_string();
        let family_compact = text::compact(family);
        let family_codes = if family_compact.is_empty() {
            (String::new(), String::new())
        } else {
            let r = METAPHONE.double_metaphone(&family_compact);
            (r.primary(), r.alternate())
        };
        Entity {
            nick: text::nickname_groups(&first),
            given: given.to_string(),
            first,
            family: family.to_string(),
            family_compact,
            family_codes,
            dob,
            postcode,
        }
    }

    /// Whether there is any name to compare.
    pub fn has_name(&self) -> bool {
        !self.first.is_empty() || !self.family_compact.is_empty()
    }

    /// The first letter of the first given name.
    pub fn initial(&self) -> Option<char> {
        self.first.chars().next()
    }

    /// The same person with given and family names exchanged, as a register
    /// that transposes them would write them.
    pub fn transposed(&self) -> Entity {
        Entity::new(&self.family, &self.given, self.dob, self.postcode.clone())
    }
}

/// A comparison: one field's levels, most to least similar after `null`.
#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    /// Field name as shown in explanations.
    pub name: &'static str,
    /// Level labels; index 0 is always "null" (a side is missing: no weight).
    pub levels: &'static [&'static str],
}

/// Given-name comparison.
pub const GIVEN: Comparison = Comparison {
    name: "given name",
    levels: &[
        "missing",
        "exact",
        "nickname",
        "Jaro-Winkler >= 0.92",
        "initial agrees",
        "Jaro-Winkler >= 0.80",
        "different",
    ],
};
/// Family-name comparison.
pub const FAMILY: Comparison = Comparison {
    name: "family name",
    levels: &[
        "missing",
        "exact",
        "Jaro-Winkler >= 0.92",
        "sounds alike (Double Metaphone)",
        "one part of a double-barrelled name",
        "Jaro-Winkler >= 0.80",
        "different",
    ],
};
/// Date-of-birth comparison.
pub const DOB: Comparison = Comparison {
    name: "date of birth",
    levels: &[
        "missing",
        "exact",
        "year and month agree (day not given)",
        "day differs by one digit, or day and month swapped",
        "year or month differs by one digit",
        "different",
    ],
};
/// Postcode comparison.
pub const POSTCODE: Comparison = Comparison {
    name: "postcode",
    levels: &["missing", "exact", "same district", "different"],
};

/// All comparisons, in pattern order.
pub const COMPARISONS: [Comparison; 4] = [GIVEN, FAMILY, DOB, POSTCODE];

/// Number of distinct gamma patterns.
pub const PATTERNS: usize = 7 * 7 * 6 * 4;

/// Levels of the four comparisons packed in one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern(pub u16);

impl Pattern {
    /// Packs levels (given, family, dob, postcode).
    pub fn new(levels: [u8; 4]) -> Pattern {
        let [g, f, d, p] = levels.map(u16::from);
        Pattern(((g * 7 + f) * 6 + d) * 4 + p)
    }

    /// The four levels.
    pub fn levels(self) -> [u8; 4] {
        let v = self.0;
        [
            (v / 168) as u8,
            (v / 24 % 7) as u8,
            (v / 4 % 6) as u8,
            (v % 4) as u8,
        ]
    }
}

/// The outcome of comparing a record with a staff member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compared {
    /// Levels.
    pub pattern: Pattern,
    /// Whether the record's given and family names were read the other way
    /// round because that fits far better.
    pub transposed: bool,
}

/// Compares a record with a staff member.
pub fn compare(r: &Entity, s: &Entity) -> Compared {
    let mut g = given_level(r, s);
    let mut f = family_level(r, s);
    let mut transposed = false;
    // Both names weak: the register may have written them the other way round.
    if g >= 5
        && f >= 5
        && r.family
            .chars()
            .next()
            .is_some_and(|c| s.first.starts_with(c))
        && r.first
            .chars()
            .next()
            .is_some_and(|c| s.family.starts_with(c))
    {
        let (tg, tf) = transposed_levels(r, s);
        if tg <= 3 && tf <= 3 {
            (g, f, transposed) = (tg, tf, true);
        }
    }
    let d = dob_level(r.dob, s.dob);
    let p = postcode_level(r.postcode.as_deref(), s.postcode.as_deref());
    Compared {
        pattern: Pattern::new([g, f, d, p]),
        transposed,
    }
}

fn given_level(r: &Entity, s: &Entity) -> u8 {
    given_names(&r.first, r.nick, &s.first, s.nick)
}

fn given_names(a: &str, a_nick: u128, b: &str, b_nick: u128) -> u8 {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    if a == b {
        return 1;
    }
    if a_nick & b_nick != 0 {
        return 2;
    }
    let single = |s: &str| s.chars().nth(1).is_none();
    if single(a) || single(b) {
        return if a.chars().next() == b.chars().next() {
            4
        } else {
            6
        };
    }
    let jw = jaro_winkler(a, b);
    if jw >= 0.92 {
        3
    } else if jw >= 0.80 {
        5
    } else {
        6
    }
}

fn family_level(r: &Entity, s: &Entity) -> u8 {
    let (a, b) = (&r.family_compact, &s.family_compact);
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    if a == b {
        return 1;
    }
    let jw = jaro_winkler(a, b);
    if jw >= 0.92 {
        return 2;
    }
    fn codes(e: &Entity) -> impl Iterator<Item = &String> {
        [&e.family_codes.0, &e.family_codes.1]
            .into_iter()
            .filter(|c| !c.is_empty())
    }
    if codes(r).any(|x| codes(s).any(|y| x == y)) {
        return 3;
    }
    if shares_part(&r.family, &s.family) {
        return 4;
    }
    if jw >= 0.80 { 5 } else { 6 }
}

/// Whether two family names share a part of two letters or more, where at
/// least one is double-barrelled (`smith-jones` and `jones`).
fn shares_part(a: &str, b: &str) -> bool {
    let split = |s: &str| s.contains([' ', '-']);
    if !split(a) && !split(b) {
        return false;
    }
    fn parts(s: &str) -> impl Iterator<Item = &str> {
        s.split([' ', '-']).filter(|p| p.len() >= 2)
    }
    parts(a).any(|x| parts(b).any(|y| x == y))
}

fn transposed_levels(r: &Entity, s: &Entity) -> (u8, u8) {
    let as_given = r.family.split(' ').next().unwrap_or("");
    let g = given_names(as_given, text::nickname_groups(as_given), &s.first, s.nick);
    let as_family = text::compact(&r.first);
    let f = if as_family == s.family_compact {
        1
    } else if jaro_winkler(&as_family, &s.family_compact) >= 0.92 {
        2
    } else {
        6
    };
    (g, f)
}

fn dob_level(a: Option<Dob>, b: Option<Dob>) -> u8 {
    let (Some(a), Some(b)) = (a, b) else {
        return 0;
    };
    let ym = |d: Dob| d.year as u32 * 100 + u32::from(d.month);
    match (a.day, b.day) {
        (Some(x), Some(y)) if a.year == b.year && a.month == b.month && x == y => 1,
        // The same month: a slip in the day.
        (Some(x), Some(y))
            if a.year == b.year
                && a.month == b.month
                && one_digit_apart(u32::from(x), u32::from(y)) =>
        {
            3
        }
        (Some(_), Some(_)) if a.year == b.year && a.month == b.month => 5,
        (Some(x), Some(y)) if a.year == b.year && a.month == y && b.month == x => 3,
        (Some(x), Some(y)) if x == y && one_digit_apart(ym(a), ym(b)) => 4,
        (Some(_), Some(_)) => 5,
        _ if a.year == b.year && a.month == b.month => 2,
        // A partial date on one side: a slip in the year, the month agreeing.
        // A month that differs is not a slip here: with no day to agree,
        // any two months 01-09 are "one digit apart", and a stranger born
        // the same year with the same name is far likelier than a mistyped
        // month (registers that give only month and year hold many).
        _ if a.month == b.month && one_digit_apart(a.year as u32, b.year as u32) => 4,
        _ => 5,
    }
}

/// Whether two numbers of the same digit count differ in exactly one
/// decimal digit.
fn one_digit_apart(mut a: u32, mut b: u32) -> bool {
    let mut differ = 0;
    while a > 0 || b > 0 {
        if a % 10 != b % 10 {
            differ += 1;
        }
        a /= 10;
        b /= 10;
    }
    differ == 1
}

fn postcode_level(a: Option<&str>, b: Option<&str>) -> u8 {
    let (Some(a), Some(b)) = (a, b) else {
        return 0;
    };
    if a == b {
        1
    } else if text::postcode_district(a) == text::postcode_district(b) {
        2
    } else {
        3
    }
}

/// Jaro-Winkler similarity: a stack-only version for ASCII names up to 64
/// bytes (nearly all names once normalised), `strsim`'s for the rest.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || x.len() > 64 || y.len() > 64 {
        return strsim::jaro_winkler(a, b);
    }
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let window = (x.len().max(y.len()) / 2).saturating_sub(1);
    let (mut mx, mut my) = ([false; 64], [false; 64]);
    let mut matches = 0usize;
    for (i, c) in x.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(y.len());
        for j in lo..hi {
            if !my[j] && y[j] == *c {
                mx[i] = true;
                my[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let (mut t, mut k) = (0usize, 0usize);
    for i in 0..x.len() {
        if mx[i] {
            while !my[k] {
                k += 1;
            }
            if x[i] != y[k] {
                t += 1;
            }
            k += 1;
        }
    }
    let m = matches as f64;
    let jaro = (m / x.len() as f64 + m / y.len() as f64 + (m - (t / 2) as f64) / m) / 3.0;
    let prefix = x.iter().zip(y).take(4).take_while(|(p, q)| p == q).count();
    jaro + 0.1 * prefix as f64 * (1.0 - jaro)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{norm_postcode, normalise, split_full_name};

    fn staff(given: &str, family: &str, dob: &str, pc: &str) -> Entity {
        Entity::new(
            &normalise(given),
            &normalise(family),
            Dob::parse(dob),
            norm_postcode(pc),
        )
    }

    fn record(full: &str, dob: &str, pc: &str) -> Entity {
        let (g, f) = split_full_name(full);
        Entity::new(&g, &f, Dob::parse(dob), norm_postcode(pc))
    }

    fn levels(r: &Entity, s: &Entity) -> ([u8; 4], bool) {
        let c = compare(r, s);
        (c.pattern.levels(), c.transposed)
    }

    #[test]
    fn pattern_packs_and_unpacks_every_level() {
        let mut seen = std::collections::HashSet::new();
        for g in 0..7 {
            for f in 0..7 {
                for d in 0..6 {
                    for p in 0..4 {
                        let pat = Pattern::new([g, f, d, p]);
                        assert_eq!(pat.levels(), [g, f, d, p]);
                        assert!((pat.0 as usize) < PATTERNS);
                        seen.insert(pat);
                    }
                }
            }
        }
        assert_eq!(seen.len(), PATTERNS);
    }

    #[test]
    fn register_variants_land_on_the_right_levels() {
        let s = staff("Robert James", "Smith-Jones", "1980-04-12", "LS6 2AB");
        // Exact, in the company-register style with capitals.
        let r = record("SMITH-JONES, Robert", "1980-04-12", "ls62ab");
        assert_eq!(levels(&r, &s), ([1, 1, 1, 1], false));
        // Nickname, one part of the double-barrelled name, partial DOB, same district.
        let r = record("Bob Jones", "1980-04", "LS6 9ZZ");
        assert_eq!(levels(&r, &s), ([2, 4, 2, 2], false));
        // Initial, letters swapped (a typo), day and month swapped, no postcode.
        let r = record("R. Smith-Jnoes", "1980-12-04", "");
        assert_eq!(levels(&r, &s), ([4, 2, 3, 0], false));
        // Transposed names.
        let s2 = staff("Thomas", "Walker", "1975-01-30", "M1 1AE");
        let r = record("WALKER THOMAS, ", "1975-01-30", "M1 1AE");
        let (l, t) = levels(&r, &s2);
        assert_eq!((l[0], t), (0, false), "no given name: no transposition");
        let r = record("Walker Thomas", "1975-01-30", "M1 1AE");
        assert_eq!(levels(&r, &s2), ([1, 1, 1, 1], true));
        // Sounds alike, one digit of the year wrong.
        let s3 = staff("Katherine", "Philips", "1969-03-02", "");
        let r = record("Catherine Fillips", "1968-03-02", "");
        let ([g, f, d, p], _) = levels(&r, &s3);
        assert_eq!((g, d, p), (2, 4, 0));
        assert!(f == 3 || f == 2, "family level {f}");
        // A namesake born elsewhere and another year.
        let r = record("Robert Smith-Jones", "1971-09-02", "BD1 1AA");
        assert_eq!(levels(&r, &s), ([1, 1, 5, 3], false));
        // A slip in one digit of the day.
        let r = record("Robert Smith-Jones", "1980-04-13", "");
        assert_eq!(levels(&r, &s).0[2], 3);
        // Month and year only: a slip in the year with the month agreeing
        // is a slip; another month of the same year is another person.
        let r = record("ROGERS, Robert", "1981-04", "");
        assert_eq!(levels(&r, &s).0[2], 4);
        let r = record("ROGERS, Robert", "1980-01", "");
        assert_eq!(levels(&r, &s).0[2], 5);
        // With the day given and agreeing, a month slip stays a slip.
        let r = record("Robert Smith-Jones", "1980-01-12", "");
        assert_eq!(levels(&r, &s).0[2], 4);
    }

    #[test]
    fn fast_jaro_winkler_agrees_with_strsim() {
        let names = [
            "smith",
            "smyth",
            "smtih",
            "jones",
            "johnson",
            "jonson",
            "o",
            "",
            "mcdonald",
            "macdonald",
            "walker",
            "wlaker",
            "katherine",
            "catherine",
            "kate",
            "ab",
            "ba",
            "garcia-lopez",
            "garcialopez",
            "jose",
            "lindstrom-oberg",
            "dixon",
            "dicksonx",
        ];
        for a in names {
            for b in names {
                let (f, s) = (jaro_winkler(a, b), strsim::jaro_winkler(a, b));
                assert!((f - s).abs() < 1e-12, "{a} {b}: {f} vs {s}");
            }
        }
        assert_eq!(
            jaro_winkler("zoë", "zoe"),
            strsim::jaro_winkler("zoë", "zoe")
        );
    }

    #[test]
    fn accents_and_case_do_not_matter() {
        let s = staff("José", "García-López", "1990-01-01", "");
        let r = record("JOSE GARCIA-LOPEZ", "1990-01-01", "");
        assert_eq!(levels(&r, &s).0, [1, 1, 1, 0]);
    }
}
