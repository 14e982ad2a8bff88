//! A deterministic linker from external reference records (a company-officer
//! register, a membership roll) to staff: normalised names and date of
//! birth, with the common variants registers introduce (initials, nicknames,
//! one-letter typos, given and family name transposed). Issue 3/6 replaces it
//! by probabilistic linkage with estimated match weights; until then it errs
//! on the side of not linking: a record that fits two staff members equally
//! links to neither, and a weak name match needs the postcode to agree.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

/// Lower-case ASCII letters and single spaces: diacritics folded, hyphens and
/// apostrophes removed or spaced, everything else dropped.
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for c in s.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_alphabetic() {
            for l in c.to_lowercase() {
                out.push(l);
            }
            space = false;
        } else if c == '\'' || c == '’' || c == '.' {
            continue;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Splits a register's full name into (given, family): `FAMILY, Given` or
/// `Given [Middle …] Family`. Both parts normalised.
pub fn split_full_name(full: &str) -> (String, String) {
    if let Some((family, given)) = full.split_once(',') {
        return (normalise(given), normalise(family));
    }
    let n = normalise(full);
    match n.rsplit_once(' ') {
        Some((given, family)) => (given.to_string(), family.to_string()),
        None => (String::new(), n),
    }
}

fn first_token(s: &str) -> &str {
    s.split(' ').next().unwrap_or("")
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

/// Whether two normalised given names are the same name in another form.
pub fn nickname_equivalent(a: &str, b: &str) -> bool {
    a == b || NICKNAMES.iter().any(|g| g.contains(&a) && g.contains(&b))
}

/// A staff member as the linker sees them (from the identity vault).
#[derive(Debug, Clone)]
pub struct Staff {
    /// Stored person key (pseudonym).
    pub key: String,
    /// Normalised given name(s).
    pub given: String,
    /// Normalised family name.
    pub family: String,
    /// Date of birth (y, m, d).
    pub dob: Option<(i32, u32, u32)>,
    /// Postcode, upper-case without spaces.
    pub postcode: Option<String>,
}

/// A reference record as the linker sees it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// record_id.
    pub id: String,
    /// Normalised given name(s).
    pub given: String,
    /// Normalised family name.
    pub family: String,
    /// (y, m, optional d).
    pub dob: Option<(i32, u32, Option<u32>)>,
    /// Postcode, upper-case without spaces.
    pub postcode: Option<String>,
}

/// How well a record's name fits a staff member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameFit {
    /// Given initial only, family equal or near.
    Initial,
    /// One-letter typo, nickname or transposition.
    Variant,
    /// Both names equal after normalisation.
    Exact,
}

/// A record linked to a staff member.
#[derive(Debug, Clone)]
pub struct Link {
    /// The record.
    pub record: String,
    /// Stored person key.
    pub person: String,
    /// Name fit.
    pub name: NameFit,
    /// Whether the full date of birth agreed (else year and month only).
    pub full_dob: bool,
    /// Whether the postcode agreed.
    pub postcode: bool,
    /// 0..1 confidence, for the finding's score.
    pub strength: f64,
    /// Plain words: "exact name and date of birth", …
    pub how: String,
}

/// Parses `YYYY-MM-DD` or `YYYY-MM`.
pub fn parse_partial_dob(s: &str) -> Option<(i32, u32, Option<u32>)> {
    let mut it = s.trim().split('-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = match it.next() {
        Some(d) => Some(d.parse().ok()?),
        None => None,
    };
    Some((y, m, d))
}

/// Normalises a postcode for comparison.
pub fn norm_postcode(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn name_fit(s: &Staff, r: &Listed) -> Option<NameFit> {
    let sg = first_token(&s.given);
    let rg = first_token(&r.given);
    // A one-letter typo: one edit, or two adjacent letters swapped.
    let near = |a: &str, b: &str| {
        a.len() > 3
            && (strsim::damerau_levenshtein(a, b) <= 1 || strsim::jaro_winkler(a, b) >= 0.93)
    };
    let family_exact = s.family == r.family;
    let family_near = family_exact || near(&s.family, &r.family);
    if family_exact && sg == rg && !sg.is_empty() {
        return Some(NameFit::Exact);
    }
    // Given and family written the other way round.
    if !sg.is_empty() && r.family == sg && (rg == s.family || first_token(&r.given) == s.family) {
        return Some(NameFit::Variant);
    }
    if !family_near || sg.is_empty() || rg.is_empty() {
        return None;
    }
    if (family_exact && nickname_equivalent(sg, rg)) || (sg == rg && !family_exact) {
        return Some(NameFit::Variant);
    }
    if rg.len() == 1 && sg.starts_with(rg) && family_exact {
        return Some(NameFit::Initial);
    }
    None
}

/// Links records to staff. Candidates share the year and month of birth;
/// the name must fit; a record with a day of birth must agree on it; an
/// initial-only name needs the full date of birth or the postcode to agree. A record that fits several
/// staff members equally well is left unlinked (returned as ambiguous).
pub fn link(staff: &[Staff], records: &[Listed]) -> (Vec<Link>, Vec<String>) {
    let mut block: HashMap<(i32, u32), Vec<usize>> = HashMap::new();
    for (i, s) in staff.iter().enumerate() {
        if let Some((y, m, _)) = s.dob {
            block.entry((y, m)).or_default().push(i);
        }
    }
    let mut links = vec![];
    let mut ambiguous = vec![];
    for r in records {
        let Some((y, m, d)) = r.dob else { continue };
        let Some(cands) = block.get(&(y, m)) else {
            continue;
        };
        let mut best: Vec<(f64, Link)> = vec![];
        for &i in cands {
            let s = &staff[i];
            if let (Some(d), Some((_, _, sd))) = (d, s.dob)
                && d != sd
            {
                continue;
            }
            let Some(fit) = name_fit(s, r) else { continue };
            let postcode = matches!((&s.postcode, &r.postcode), (Some(a), Some(b)) if a == b);
            let full_dob = d.is_some();
            // An initial with only a year and month of birth is too weak
            // without the address agreeing.
            if fit == NameFit::Initial && !postcode && !full_dob {
                continue;
            }
            let strength = match fit {
                NameFit::Exact => 0.8,
                NameFit::Variant => 0.65,
                NameFit::Initial => 0.5,
            } + if full_dob { 0.1 } else { 0.0 }
                + if postcode { 0.1 } else { 0.0 };
            let how = format!(
                "{} name, {} date of birth{}",
                match fit {
                    NameFit::Exact => "exact",
                    NameFit::Variant => "variant",
                    NameFit::Initial => "initial and family",
                },
                if full_dob {
                    "full"
                } else {
                    "year and month of"
                },
                if postcode { ", same postcode" } else { "" }
            );
            best.push((
                strength,
                Link {
                    record: r.id.clone(),
                    person: s.key.clone(),
                    name: fit,
                    full_dob,
                    postcode,
                    strength,
                    how,
                },
            ));
        }
        best.sort_by(|a, b| b.0.total_cmp(&a.0));
        match best.len() {
            0 => {}
            1 => links.push(best.remove(0).1),
            _ if best[0].0 > best[1].0 + 1e-9 => links.push(best.remove(0).1),
            _ => ambiguous.push(r.id.clone()),
        }
    }
    (links, ambiguous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(key: &str, given: &str, family: &str, dob: (i32, u32, u32), pc: &str) -> Staff {
        Staff {
            key: key.into(),
            given: normalise(given),
            family: normalise(family),
            dob: Some(dob),
            postcode: Some(norm_postcode(pc)),
        }
    }

    fn rec(id: &str, full: &str, dob: &str, pc: &str) -> Listed {
        let (given, family) = split_full_name(full);
        Listed {
            id: id.into(),
            given,
            family,
            dob: parse_partial_dob(dob),
            postcode: (!pc.is_empty()).then(|| norm_postcode(pc)),
        }
    }

    #[test]
    fn names_are_normalised_and_split() {
        assert_eq!(normalise("  Zoë  O'Brien-Smith "), "zoe obrien smith");
        assert_eq!(
            split_full_name("O'BRIEN, Zoë"),
            ("zoe".into(), "obrien".into())
        );
        assert_eq!(
            split_full_name("Mary Jane Watson"),
            ("mary jane".into(), "watson".into())
        );
    }

    #[test]
    fn variants_link_and_namesakes_do_not() {
        let people = vec![
            staff("p-1", "William", "Hartley", (1980, 3, 14), "LS1 4AB"),
            staff("p-2", "Sarah", "Okafor", (1975, 11, 2), "M14 5TT"),
        ];
        let recs = vec![
            rec("R1", "HARTLEY, Bill", "1980-03-14", ""),
            rec("R2", "Okafor Sarah", "1975-11", ""),
            rec("R3", "William Hartley", "1987-03-14", "LS1 4AB"), // namesake
            rec("R4", "W. Hartley", "1980-03", "LS14AB"),
            rec("R5", "W. Hartley", "1980-03", "BD7 1AA"), // initial, other address
            rec("R6", "William Hratley", "1980-03-14", ""),
            rec("R7", "HARTLEY, W.", "1980-03-14", ""), // initial, full date of birth
            rec("R8", "HARTLEY, W.", "1980-03-15", ""), // another day of birth
        ];
        let (links, amb) = link(&people, &recs);
        let got: Vec<(&str, &str)> = links
            .iter()
            .map(|l| (l.record.as_str(), l.person.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("R1", "p-1"),
                ("R2", "p-2"),
                ("R4", "p-1"),
                ("R6", "p-1"),
                ("R7", "p-1")
            ]
        );
        assert!(amb.is_empty());
    }

    #[test]
    fn a_record_fitting_two_people_equally_links_to_neither() {
        let people = vec![
            staff("p-1", "John", "Smith", (1980, 3, 14), "LS1 4AB"),
            staff("p-2", "John", "Smith", (1980, 3, 20), "LS1 4AB"),
        ];
        let (links, amb) = link(&people, &[rec("R1", "John Smith", "1980-03", "")]);
        assert!(links.is_empty());
        assert_eq!(amb, vec!["R1".to_string()]);
    }
}
