//! Name, date-of-birth and postcode normalisation: the forms in which
//! registers and personnel systems write the same person differently.

use unicode_normalization::UnicodeNormalization;

/// Lower-case letters in space-separated tokens: diacritics folded
/// (`José` → `jose`, `Łukasz` → `lukasz`), apostrophes and full stops
/// dropped (`O'Brien` → `obrien`, `J.` → `j`), hyphens kept inside a token
/// (`Smith-Jones` → `smith-jones`), everything else a separator.
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        match c {
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            'þ' | 'Þ' => out.push_str("th"),
            '\'' | '\u{2019}' | '\u{2018}' | '.' => {}
            '-' | '\u{2010}' | '\u{2011}' | '\u{2013}' => out.push('-'),
            c if c.is_alphabetic() => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    let mut joined = String::with_capacity(out.len());
    for t in out
        .split_whitespace()
        .map(|t| t.trim_matches('-'))
        .filter(|t| !t.is_empty())
    {
        if !joined.is_empty() {
            joined.push(' ');
        }
        // Collapse runs of hyphens left by odd punctuation.
        let mut last = ' ';
        for c in t.chars() {
            if !(c == '-' && last == '-') {
                joined.push(c);
            }
            last = c;
        }
    }
    joined
}

/// Lower-case family-name particles that belong to the family name when a
/// register writes `Given particle Family`.
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "da", "di", "du", "del", "della", "le", "la", "st", "bin",
    "al", "ter", "ten",
];

/// Splits a register's full name into normalised (given, family):
/// `FAMILY, Given Middle` or `Given [Middle …] [particle …] Family`.
pub fn split_full_name(full: &str) -> (String, String) {
    if let Some((family, given)) = full.split_once(',') {
        return (normalise(given), normalise(family));
    }
    let n = normalise(full);
    let tokens: Vec<&str> = n.split(' ').filter(|t| !t.is_empty()).collect();
    if tokens.len() < 2 {
        return (String::new(), n);
    }
    let mut cut = tokens.len() - 1;
    while cut > 1 && PARTICLES.contains(&tokens[cut - 1]) {
        cut -= 1;
    }
    (tokens[..cut].join(" "), tokens[cut..].join(" "))
}

/// A name without separators: `smith-jones` and `smith jones` → `smithjones`.
pub fn compact(s: &str) -> String {
    s.chars().filter(|c| *c != ' ' && *c != '-').collect()
}

/// A postcode upper-cased without spaces (`sw1a 1aa` → `SW1A1AA`).
pub fn norm_postcode(s: &str) -> Option<String> {
    let p: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!p.is_empty()).then_some(p)
}

/// The district (outward code) of a normalised UK postcode: everything but
/// the three-character inward code (`SW1A1AA` → `SW1A`). Short codes are
/// their own district.
pub fn postcode_district(p: &str) -> &str {
    if p.len() >= 5 && p.is_ascii() {
        &p[..p.len() - 3]
    } else {
        p
    }
}

/// A date of birth, full or year-and-month only as some registers publish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dob {
    /// Year.
    pub year: i32,
    /// Month 1..=12.
    pub month: u8,
    /// Day 1..=31, absent when the source gives only year and month.
    pub day: Option<u8>,
}

impl Dob {
    /// Parses `YYYY-MM-DD` or `YYYY-MM`; `None` if it is neither or names an
    /// impossible month or day.
    pub fn parse(s: &str) -> Option<Dob> {
        let mut it = s.trim().split('-');
        let year: i32 = it.next()?.parse().ok()?;
        let month: u8 = it.next()?.parse().ok()?;
        let day: Option<u8> = match it.next() {
            Some(d) => Some(d.parse().ok()?),
            None => None,
        };
        if it.next().is_some() {
            return None;
        }
        Dob::new(year, month, day)
    }

    /// A checked date of birth.
    pub fn new(year: i32, month: u8, day: Option<u8>) -> Option<Dob> {
        let ok_day = day.is_none_or(|d| d >= 1 && d <= days_in_month(year, month));
        ((1..=12).contains(&month) && ok_day && (1000..=9999).contains(&year)).then_some(Dob {
            year,
            month,
            day,
        })
    }

    /// Whether this date lies after `(year, month, day)` (a partial date is
    /// after when its whole month is).
    pub fn is_after(&self, year: i32, month: u8, day: u8) -> bool {
        (self.year, self.month, self.day.unwrap_or(1)) > (year, month, day)
    }
}

impl std::fmt::Display for Dob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.day {
            Some(d) => write!(f, "{:04}-{:02}-{:02}", self.year, self.month, d),
            None => write!(f, "{:04}-{:02}", self.year, self.month),
        }
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Groups of given names that registers use interchangeably.
const NICKNAMES: &[&[&str]] = &[
    &["william", "bill", "will", "billy", "liam"],
    &["robert", "bob", "rob", "bobby", "robbie", "bert"],
    &["michael", "mike", "mick", "mickey"],
    &["james", "jim", "jimmy", "jamie"],
    &["david", "dave", "davy"],
    &["richard", "rick", "rich", "dick", "ricky"],
    &["thomas", "tom", "tommy"],
    &["christopher", "chris", "kit"],
    &["daniel", "dan", "danny"],
    &["matthew", "matt"],
    &["anthony", "tony"],
    &["andrew", "andy", "drew"],
    &["stephen", "steven", "steve"],
    &["jonathan", "jon", "jonny"],
    &["john", "jack", "johnny"],
    &["peter", "pete"],
    &["nicholas", "nick", "nicky"],
    &["benjamin", "ben", "benny"],
    &["samuel", "sam", "sammy"],
    &["samantha", "sam", "sammie"],
    &["joseph", "joe", "joey"],
    &["edward", "ed", "ted", "eddie", "ned"],
    &["alexander", "alex", "sandy", "xander"],
    &["alexandra", "alex", "sandra", "lexi"],
    &["timothy", "tim"],
    &["gregory", "greg"],
    &["philip", "phil", "phillip"],
    &["kenneth", "ken", "kenny"],
    &["henry", "harry", "hal", "hank"],
    &["harold", "harry", "hal"],
    &["frederick", "fred", "freddie", "freddy"],
    &["patrick", "pat", "paddy"],
    &["patricia", "pat", "trish", "patty"],
    &["mohammed", "mohammad", "muhammad", "mo"],
    &["elizabeth", "liz", "beth", "lizzie", "betty", "eliza"],
    &["margaret", "maggie", "peggy", "meg"],
    &[
        "katherine",
        "catherine",
        "kate",
        "kathy",
        "katie",
        "cathy",
        "kat",
    ],
    &["jennifer", "jen", "jenny"],
    &["rebecca", "becky", "becca"],
    &["victoria", "vicky", "tori"],
    &["charlotte", "charlie", "lottie"],
    &["charles", "charlie", "chas", "chuck"],
    &["abigail", "abby", "abbie"],
    &["susan", "sue", "susie"],
    &["deborah", "debbie", "deb"],
    &["jessica", "jess", "jessie"],
    &["emily", "em", "emmy"],
    &["eleanor", "ellie", "nell", "elle"],
    &["gerald", "gerry", "jerry"],
    &["leonard", "len", "lenny", "leo"],
    &["lawrence", "laurence", "larry", "laurie"],
    &["ronald", "ron", "ronnie"],
    &["donald", "don", "donnie"],
    &["raymond", "ray"],
    &["terence", "terry"],
    &["vincent", "vince", "vinny"],
    &["zachary", "zach", "zack"],
    &["nathan", "nathaniel", "nate", "nat"],
    &["oliver", "ollie"],
    &["joshua", "josh"],
    &["jacob", "jake"],
    &["amanda", "mandy"],
    &["christine", "christina", "chris", "tina"],
    &["natalie", "nat"],
    &["theodore", "theo", "ted"],
    &["gabriel", "gabe"],
    &["isabella", "isabel", "bella", "izzy"],
    &["caroline", "carol", "carrie"],
    &["louise", "lou", "louisa"],
    &["francis", "frank", "fran"],
    &["frances", "fran", "frankie"],
];

/// The nickname groups a normalised given name belongs to, as a bit set.
pub fn nickname_groups(first: &str) -> u128 {
    let mut mask = 0u128;
    for (i, g) in NICKNAMES.iter().enumerate() {
        if g.contains(&first) {
            mask |= 1 << i;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_folds_case_diacritics_and_punctuation() {
        assert_eq!(normalise("JOSÉ  García-López"), "jose garcia-lopez");
        assert_eq!(normalise("Seán O'Brien"), "sean obrien");
        assert_eq!(normalise("J. Smith"), "j smith");
        assert_eq!(normalise("Łukasz Øster"), "lukasz oster");
        assert_eq!(normalise("-- Smith--Jones -"), "smith-jones");
        assert_eq!(normalise("  ?? 42 "), "");
    }

    #[test]
    fn full_names_split_in_both_register_styles() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            split_full_name("SMITH-JONES, Mary Ann"),
            s("mary ann", "smith-jones")
        );
        assert_eq!(split_full_name("Mary Ann Smith"), s("mary ann", "smith"));
        assert_eq!(
            split_full_name("Ludwig van der Berg"),
            s("ludwig", "van der berg")
        );
        assert_eq!(split_full_name("Cher"), s("", "cher"));
    }

    #[test]
    fn dates_of_birth_full_partial_and_impossible() {
        let full = Dob {
            year: 1980,
            month: 2,
            day: Some(29),
        };
        assert_eq!(Dob::parse("1980-02-29"), Some(full));
        assert_eq!(Dob::parse("1981-02-29"), None);
        let partial = Dob {
            year: 1981,
            month: 7,
            day: None,
        };
        assert_eq!(Dob::parse("1981-07"), Some(partial));
        assert_eq!(partial.to_string(), "1981-07");
        assert_eq!(Dob::parse("1981-13"), None);
        assert_eq!(Dob::parse("19810701"), None);
        assert!(Dob::parse("2030-01").unwrap().is_after(2026, 11, 27));
        assert!(!full.is_after(2026, 11, 27));
    }

    #[test]
    fn postcodes_and_districts() {
        assert_eq!(norm_postcode(" sw1a 1aa"), Some("SW1A1AA".into()));
        assert_eq!(postcode_district("SW1A1AA"), "SW1A");
        assert_eq!(postcode_district("M11AE"), "M1");
        assert_eq!(norm_postcode(" - "), None);
    }

    #[test]
    fn nicknames_share_a_group() {
        assert_ne!(nickname_groups("bob") & nickname_groups("robert"), 0);
        assert_eq!(nickname_groups("bob") & nickname_groups("william"), 0);
        assert!(NICKNAMES.len() <= 128);
    }
}
