//! The identity graph: which person held a badge card, IT account or device
//! at each instant. Cards and devices are re-issued (a person gets a new
//! one; an old one goes to someone else), so an event on a card belongs to
//! whoever held that card on that day. Two people holding one card at once
//! is a conflict: reported, never resolved by guessing.

use std::collections::BTreeMap;

use serde::Serialize;

/// What kind of identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A badge card (`badge_cards`).
    Card,
    /// An IT account (`accounts`; no validity period in the contract).
    Account,
    /// A device (`devices`).
    Device,
}

impl Kind {
    /// Table and noun.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Card => "badge card",
            Kind::Account => "account",
            Kind::Device => "device",
        }
    }
}

/// One holding: an identifier held by a person over days `from..=to`
/// (days since 1970-01-01; open ends are `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holding {
    /// Kind.
    pub kind: Kind,
    /// Identifier.
    pub id: String,
    /// Person (stored key).
    pub person: String,
    /// First day held.
    pub from: Option<i32>,
    /// Last day held.
    pub to: Option<i32>,
}

impl Holding {
    fn span(&self) -> (i32, i32) {
        (self.from.unwrap_or(i32::MIN), self.to.unwrap_or(i32::MAX))
    }
}

/// Who held an identifier on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder<'a> {
    /// Exactly one person.
    Person(&'a str),
    /// Nobody (outside every holding, or unknown identifier).
    Nobody,
    /// Several people at once: a conflict.
    Conflict(Vec<&'a str>),
}

/// Two people holding one identifier over overlapping days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Kind.
    pub kind: Kind,
    /// Identifier.
    pub id: String,
    /// The two people.
    pub people: (String, String),
    /// First day of the overlap (None: unbounded).
    pub from: Option<i32>,
    /// Last day of the overlap.
    pub to: Option<i32>,
}

/// Counts for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GraphStats {
    /// Identifiers per kind.
    pub identifiers: BTreeMap<String, u64>,
    /// People who held more than one identifier of a kind (re-issues).
    pub reissued: BTreeMap<String, u64>,
    /// Identifiers held by more than one person over time (handed on).
    pub handed_on: BTreeMap<String, u64>,
}

/// The graph.
#[derive(Debug, Default)]
pub struct IdentityGraph {
    by_id: BTreeMap<(Kind, String), Vec<Holding>>,
}

impl IdentityGraph {
    /// Builds the graph.
    pub fn new(holdings: impl IntoIterator<Item = Holding>) -> IdentityGraph {
        let mut by_id: BTreeMap<(Kind, String), Vec<Holding>> = BTreeMap::new();
        for h in holdings {
            by_id.entry((h.kind, h.id.clone())).or_default().push(h);
        }
        for v in by_id.values_mut() {
            v.sort_by_key(|h| (h.span(), h.person.clone()));
        }
        IdentityGraph { by_id }
    }

    /// Who held `id` on `day`.
    pub fn holder(&self, kind: Kind, id: &str, day: i32) -> Holder<'_> {
        let Some(v) = self.by_id.get(&(kind, id.to_string())) else {
            return Holder::Nobody;
        };
        let mut people: Vec<&str> = v
            .iter()
            .filter(|h| {
                let (a, b) = h.span();
                a <= day && day <= b
            })
            .map(|h| h.person.as_str())
            .collect();
        people.sort_unstable();
        people.dedup();
        match people.len() {
            0 => Holder::Nobody,
            1 => Holder::Person(people[0]),
            _ => Holder::Conflict(people),
        }
    }

    /// Every pair of holdings of one identifier by different people whose
    /// days overlap.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = vec![];
        for ((kind, id), v) in &self.by_id {
            for (i, a) in v.iter().enumerate() {
                for b in &v[i + 1..] {
                    if a.person == b.person {
                        continue;
                    }
                    let (a0, a1) = a.span();
                    let (b0, b1) = b.span();
                    let (from, to) = (a0.max(b0), a1.min(b1));
                    if from <= to {
                        let mut people = [a.person.clone(), b.person.clone()];
                        people.sort();
                        let [p, q] = people;
                        out.push(Conflict {
                            kind: *kind,
                            id: id.clone(),
                            people: (p, q),
                            from: (from != i32::MIN).then_some(from),
                            to: (to != i32::MAX).then_some(to),
                        });
                    }
                }
            }
        }
        out
    }

    /// Counts of identifiers, re-issues and hand-ons per kind.
    pub fn stats(&self) -> GraphStats {
        let mut s = GraphStats::default();
        let mut per_person: BTreeMap<(Kind, &str), std::collections::BTreeSet<&str>> =
            BTreeMap::new();
        for ((kind, id), v) in &self.by_id {
            let noun = kind.noun().to_string();
            *s.identifiers.entry(noun.clone()).or_default() += 1;
            let mut people: Vec<&str> = v.iter().map(|h| h.person.as_str()).collect();
            people.sort_unstable();
            people.dedup();
            if people.len() > 1 {
                *s.handed_on.entry(noun).or_default() += 1;
            }
            for h in v {
                per_person
                    .entry((*kind, h.person.as_str()))
                    .or_default()
                    .insert(id.as_str());
            }
        }
        for ((kind, _), ids) in per_person {
            if ids.len() > 1 {
                *s.reissued.entry(kind.noun().to_string()).or_default() += 1;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(kind: Kind, id: &str, person: &str, from: Option<i32>, to: Option<i32>) -> Holding {
        Holding {
            kind,
            id: id.into(),
            person: person.into(),
            from,
            to,
        }
    }

    #[test]
    fn a_reissued_card_resolves_to_its_holder_on_each_day() {
        let g = IdentityGraph::new([
            // Alice's first card, then a new one; her old card goes to Bob.
            h(Kind::Card, "C1", "alice", Some(0), Some(9)),
            h(Kind::Card, "C2", "alice", Some(10), None),
            h(Kind::Card, "C1", "bob", Some(20), None),
        ]);
        assert_eq!(g.holder(Kind::Card, "C1", 5), Holder::Person("alice"));
        assert_eq!(g.holder(Kind::Card, "C1", 15), Holder::Nobody);
        assert_eq!(g.holder(Kind::Card, "C1", 25), Holder::Person("bob"));
        assert_eq!(g.holder(Kind::Card, "C2", 25), Holder::Person("alice"));
        assert_eq!(g.holder(Kind::Card, "C9", 25), Holder::Nobody);
        assert!(g.conflicts().is_empty());
        let s = g.stats();
        assert_eq!(s.identifiers["badge card"], 2);
        assert_eq!(s.reissued["badge card"], 1);
        assert_eq!(s.handed_on["badge card"], 1);
    }

    #[test]
    fn one_card_two_people_at_once_is_a_conflict_not_a_guess() {
        let g = IdentityGraph::new([
            h(Kind::Device, "D1", "carol", Some(0), Some(30)),
            h(Kind::Device, "D1", "dave", Some(25), None),
            h(Kind::Account, "A1", "erin", None, None),
            h(Kind::Account, "A1", "erin", None, None),
        ]);
        assert_eq!(g.holder(Kind::Device, "D1", 10), Holder::Person("carol"));
        assert_eq!(
            g.holder(Kind::Device, "D1", 27),
            Holder::Conflict(vec!["carol", "dave"])
        );
        assert_eq!(g.holder(Kind::Device, "D1", 31), Holder::Person("dave"));
        assert_eq!(
            g.conflicts(),
            vec![Conflict {
                kind: Kind::Device,
                id: "D1".into(),
                people: ("carol".into(), "dave".into()),
                from: Some(25),
                to: Some(30),
            }]
        );
        // The same person listed twice is not a conflict.
        assert_eq!(g.holder(Kind::Account, "A1", 0), Holder::Person("erin"));
    }
}
