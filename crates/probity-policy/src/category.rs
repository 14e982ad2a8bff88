//! Data categories: the unit in which governance enables data for a
//! purpose. Every contract table belongs to exactly one category; names,
//! dates of birth and postcodes (the identity vault) are a category of their
//! own.

use probity_core::Table;

macro_rules! categories {
    ($($variant:ident => $id:literal, $title:literal, $what:literal, [$($table:ident),*];)*) => {
        /// A category of personal data held by Probity.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Category { $(#[doc = $title] $variant),* }

        impl Category {
            /// Every category.
            pub const ALL: &'static [Category] = &[$(Category::$variant),*];

            /// The id used in governance.toml.
            pub fn id(self) -> &'static str {
                match self { $(Category::$variant => $id),* }
            }

            /// A short title for people.
            pub fn title(self) -> &'static str {
                match self { $(Category::$variant => $title),* }
            }

            /// What the category holds, in plain English.
            pub fn description(self) -> &'static str {
                match self { $(Category::$variant => $what),* }
            }

            /// The contract tables in this category.
            pub fn tables(self) -> &'static [Table] {
                match self { $(Category::$variant => &[$(Table::$table),*]),* }
            }
        }
    };
}

categories! {
    StaffRecords => "staff_records", "Staff records",
        "your rank, role, unit, line manager, working pattern and dates of service; units and sites",
        [People, Units, Sites];
    Identity => "identity", "Identity details",
        "your name, date of birth and home postcode (kept apart from everything else, used only to match external registers and to reveal an identity with a recorded reason)",
        [];
    Rosters => "rosters", "Duty rosters",
        "your rostered shifts and every edit made to the roster, with who made it",
        [Shifts, RosterEdits];
    Overtime => "overtime", "Overtime claims",
        "overtime you claimed: times, hours, reason, approver",
        [OvertimeClaims];
    SicknessAndLeave => "sickness_and_leave", "Sickness and leave",
        "dates of sickness absence, annual leave, rest days, training and other absences (dates and kind only, never medical details)",
        [Absences];
    BuildingAccess => "building_access", "Building access",
        "your access cards and the times they were used at doors",
        [BadgeCards, BadgeEvents];
    DeviceUse => "device_use", "Work accounts and devices",
        "your work accounts and devices, and when and over which network you logged in",
        [Accounts, Devices, DeviceSessions];
    DeviceLocations => "device_locations", "Work-device locations",
        "locations reported by your work device while you were on duty (locations off duty are discarded on arrival and never stored; after a set number of days only 'on site yes/no' per shift is kept)",
        [DeviceLocations];
    SystemQueries => "system_queries", "Police-system look-ups",
        "look-ups you made in police record systems: when, which system, which record, the reason and case given",
        [SystemQueries];
    CaseRecords => "case_records", "Case assignments",
        "the cases you were assigned to, and the people recorded on those cases as victim, witness or suspect",
        [CaseAssignments, CaseSubjects];
    KnownRelations => "known_relations", "Declared relationships",
        "relationships you or the force recorded between you and people in police records (family, partner, associate)",
        [KnownRelations];
    Declarations => "declarations", "Declarations of interests",
        "business interests, secondary employment, memberships, associations, gifts and hospitality you declared",
        [Declarations];
    ReferenceLists => "reference_lists", "External registers",
        "entries of external lists (company-officer registers, membership rolls) that may be about you",
        [ReferenceRecords];
    Complaints => "complaints", "Complaints",
        "complaints made about you: date, category, outcome",
        [Complaints];
    EqualityMonitoring => "equality_monitoring", "Equality monitoring",
        "your sex and ethnicity as recorded for equality monitoring, used only to check whether Probity's detectors and risk scores treat groups of staff differently; never used to flag, score or rank anyone",
        [EqualityMonitoring];
}

impl Category {
    /// The category of a contract table.
    pub fn of_table(table: Table) -> Category {
        *Category::ALL
            .iter()
            .find(|c| c.tables().contains(&table))
            .expect("every table has a category (tested)")
    }

    /// Looks a category up by its id.
    pub fn from_id(id: &str) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| c.id() == id)
    }

    /// The categories a reader of these tables (and, with `identities`, the
    /// identity vault) touches, sorted and distinct.
    pub fn read_by(tables: &[Table], identities: bool) -> Vec<Category> {
        let mut out: Vec<Category> = tables.iter().map(|t| Category::of_table(*t)).collect();
        if identities {
            out.push(Category::Identity);
        }
        out.sort();
        out.dedup();
        out
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_in_exactly_one_category() {
        for t in Table::ALL {
            let n = Category::ALL
                .iter()
                .filter(|c| c.tables().contains(t))
                .count();
            assert_eq!(n, 1, "{}", t.name());
        }
        let mut ids: Vec<_> = Category::ALL.iter().map(|c| c.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Category::ALL.len());
    }

    #[test]
    fn readers_touch_the_categories_of_their_tables() {
        let c = Category::read_by(&[Table::Absences, Table::Shifts, Table::RosterEdits], true);
        assert_eq!(
            c,
            vec![
                Category::Identity,
                Category::Rosters,
                Category::SicknessAndLeave
            ]
        );
    }
}
