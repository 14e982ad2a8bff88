//! The canonical tables of the data contract (`shared/spec/data-contract.md`),
//! defined once.
//!
//! Every other crate derives what it needs from [`TableDef`]: the Arrow
//! schema of the stored table, which columns are required, which values an
//! enum column accepts, which columns are foreign keys, which identifiers are
//! pseudonymised at ingest and which columns are identifying and so live in
//! the identity vault instead of the analytical store.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The logical type of a contract column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// Free text (ids, names, codes).
    Str,
    /// One value of a closed list.
    Enum(&'static [&'static str]),
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A date of birth that may be partial: `YYYY-MM-DD` or `YYYY-MM`.
    PartialDate,
    /// An instant: RFC 3339 with offset, or naive local time in the dataset zone.
    Timestamp,
    /// A number.
    Float,
}

impl ColType {
    /// The Arrow type a column of this logical type is stored as.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColType::Str | ColType::Enum(_) | ColType::PartialDate => DataType::Utf8,
            ColType::Date => DataType::Date32,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColType::Float => DataType::Float64,
        }
    }

    /// A short human description, used in error messages.
    pub fn describe(self) -> String {
        match self {
            ColType::Str => "text".into(),
            ColType::Enum(values) => format!("one of {}", values.join("|")),
            ColType::Date => "a date YYYY-MM-DD".into(),
            ColType::PartialDate => "a date YYYY-MM-DD or YYYY-MM".into(),
            ColType::Timestamp => {
                "a timestamp (RFC 3339 with offset, or local time YYYY-MM-DDTHH:MM:SS)".into()
            }
            ColType::Float => "a number".into(),
        }
    }
}

/// The kind of identifier a column holds, and so the pseudonym domain it is
/// hashed in. Two columns with the same domain join after pseudonymisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdDomain {
    /// A member of staff (`people.person_id`).
    Person,
    /// A badge card.
    Card,
    /// An IT account (often a user name, so identifying).
    Account,
    /// A work device.
    Device,
    /// A subject of police records (a member of the public, or staff's own record).
    Subject,
}

impl IdDomain {
    /// The prefix of pseudonyms in this domain (`p-…`, `a-…`).
    pub fn prefix(self) -> &'static str {
        match self {
            IdDomain::Person => "p",
            IdDomain::Card => "c",
            IdDomain::Account => "a",
            IdDomain::Device => "d",
            IdDomain::Subject => "s",
        }
    }
}

/// Where a column's values go at ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Stored as read (after typing).
    Plain,
    /// Replaced by its keyed pseudonym in the given domain.
    Pseudonymise(IdDomain),
    /// Identifying: kept only in the identity vault, never in the analytical store.
    Vault,
}

/// One column of a contract table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    /// Column name as in the contract.
    pub name: &'static str,
    /// Logical type.
    pub ty: ColType,
    /// `false` for the contract's `?` columns (empty cell = null).
    pub required: bool,
    /// The table whose primary key this column references, if any.
    pub references: Option<Table>,
    /// What ingest does with the value.
    pub handling: Handling,
}

const fn col(name: &'static str, ty: ColType) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        required: true,
        references: None,
        handling: Handling::Plain,
    }
}

impl ColumnDef {
    const fn optional(mut self) -> Self {
        self.required = false;
        self
    }
    const fn fk(mut self, table: Table) -> Self {
        self.references = Some(table);
        self
    }
    const fn pseudo(mut self, domain: IdDomain) -> Self {
        self.handling = Handling::Pseudonymise(domain);
        self
    }
    const fn vault(mut self) -> Self {
        self.handling = Handling::Vault;
        self
    }
}

/// A pair of columns where the second must not be earlier than the first.
#[derive(Debug, Clone, Copy)]
pub struct Ordered {
    /// The start column.
    pub start: &'static str,
    /// The end column (must be > start for timestamps, >= start for dates).
    pub end: &'static str,
}

/// The closed list of shift kinds.
pub const SHIFT_KINDS: &[&str] = &[
    "duty",
    "overtime",
    "rest_day_working",
    "on_call",
    "training",
    "court",
];
/// The closed list of work patterns.
pub const WORK_PATTERNS: &[&str] = &["shift", "office", "hybrid"];
/// The closed list of absence kinds.
pub const ABSENCE_KINDS: &[&str] = &[
    "sickness",
    "annual_leave",
    "rest_day",
    "training",
    "parental",
    "other",
];
/// Badge directions.
pub const DIRECTIONS: &[&str] = &["in", "out"];
/// Device session networks.
pub const NETWORKS: &[&str] = &["office", "vpn", "mobile"];
/// Roles of a subject in a case.
pub const SUBJECT_ROLES: &[&str] = &["victim", "witness", "suspect", "other"];
/// Kinds of known relation.
pub const RELATIONS: &[&str] = &["self", "family", "partner", "ex_partner", "associate"];
/// Kinds of declaration.
pub const DECLARATION_KINDS: &[&str] = &[
    "business_interest",
    "secondary_employment",
    "membership",
    "association",
    "gift_hospitality",
];
/// Values of `roster_edits.field` whose `old_value`/`new_value` are person
/// ids (a swap, a change of editor or approver): ingest pseudonymises those
/// values like every other person id.
pub const PERSON_VALUED_EDIT_FIELDS: &[&str] =
    &["person_id", "edited_by", "approved_by", "line_manager_id"];
/// Complaint outcomes.
pub const OUTCOMES: &[&str] = &["sustained", "not_sustained", "ongoing", "withdrawn"];
/// Who made a complaint (contract v1.2): a member of the public, or the
/// organisation itself (a supervisor or colleague).
pub const COMPLAINANTS: &[&str] = &["civilian", "internal"];

macro_rules! tables {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A table of the data contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Table { $(#[doc = concat!("`", $name, "`")] $variant),* }

        impl Table {
            /// Every table, in ingest order: a table comes after every table it references.
            pub const ALL: &'static [Table] = &[$(Table::$variant),*];

            /// The contract name (also the file stem: `shifts.csv`).
            pub fn name(self) -> &'static str {
                match self { $(Table::$variant => $name),* }
            }
        }
    };
}

tables! {
    Sites => "sites",
    Units => "units",
    People => "people",
    BadgeCards => "badge_cards",
    Accounts => "accounts",
    Devices => "devices",
    Shifts => "shifts",
    RosterEdits => "roster_edits",
    OvertimeClaims => "overtime_claims",
    Absences => "absences",
    BadgeEvents => "badge_events",
    DeviceSessions => "device_sessions",
    DeviceLocations => "device_locations",
    SystemQueries => "system_queries",
    CaseAssignments => "case_assignments",
    CaseSubjects => "case_subjects",
    KnownRelations => "known_relations",
    Declarations => "declarations",
    ReferenceRecords => "reference_records",
    Complaints => "complaints",
    EqualityMonitoring => "equality_monitoring",
}

use ColType::{Date, Enum, Float, PartialDate, Str, Timestamp};
use IdDomain::{Account, Card, Device, Person, Subject};

/// The provenance column a mapping writes on every row (`file:line` of the
/// source row it came from). Not part of any table: ingest keeps it out of
/// the store without a warning, and quarantine files show it with the row.
pub const SOURCE_COLUMN: &str = "_source";

static SITES: &[ColumnDef] = &[
    col("site_id", Str),
    col("name", Str),
    col("lat", Float),
    col("lon", Float),
    col("radius_m", Float),
];
static UNITS: &[ColumnDef] = &[
    col("unit_id", Str),
    col("name", Str),
    col("site_id", Str).fk(Table::Sites),
];
static PEOPLE: &[ColumnDef] = &[
    col("person_id", Str).pseudo(Person),
    col("given_name", Str).vault(),
    col("family_name", Str).vault(),
    col("date_of_birth", Date).optional().vault(),
    col("home_postcode", Str).optional().vault(),
    col("rank", Str),
    col("role", Str).optional(),
    col("unit_id", Str).fk(Table::Units),
    col("line_manager_id", Str)
        .optional()
        .fk(Table::People)
        .pseudo(Person),
    col("start_date", Date),
    col("end_date", Date).optional(),
    col("work_pattern", Enum(WORK_PATTERNS)),
    col("office_days_target", Float).optional(),
    col("contracted_hours_per_week", Float).optional(),
];
static BADGE_CARDS: &[ColumnDef] = &[
    col("card_id", Str).pseudo(Card),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("valid_from", Date),
    col("valid_to", Date).optional(),
];
static ACCOUNTS: &[ColumnDef] = &[
    col("account_id", Str).pseudo(Account),
    col("person_id", Str).fk(Table::People).pseudo(Person),
];
static DEVICES: &[ColumnDef] = &[
    col("device_id", Str).pseudo(Device),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("issued_from", Date),
    col("issued_to", Date).optional(),
];
static SHIFTS: &[ColumnDef] = &[
    col("shift_id", Str),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("unit_id", Str).fk(Table::Units),
    col("start", Timestamp),
    col("end", Timestamp),
    col("kind", Enum(SHIFT_KINDS)),
    col("pay_code", Str).optional(),
];
static ROSTER_EDITS: &[ColumnDef] = &[
    col("edit_id", Str),
    col("shift_id", Str).fk(Table::Shifts),
    col("edited_by", Str).fk(Table::People).pseudo(Person),
    col("edited_at", Timestamp),
    col("field", Str),
    col("old_value", Str).optional(),
    col("new_value", Str).optional(),
];
static OVERTIME_CLAIMS: &[ColumnDef] = &[
    col("claim_id", Str),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("shift_id", Str).optional().fk(Table::Shifts),
    col("claimed_start", Timestamp),
    col("claimed_end", Timestamp),
    col("hours", Float),
    col("reason", Str).optional(),
    col("incident_ref", Str).optional(),
    col("approved_by", Str)
        .optional()
        .fk(Table::People)
        .pseudo(Person),
];
static ABSENCES: &[ColumnDef] = &[
    col("absence_id", Str),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("kind", Enum(ABSENCE_KINDS)),
    col("start_date", Date),
    col("end_date", Date),
];
static BADGE_EVENTS: &[ColumnDef] = &[
    col("event_id", Str),
    col("card_id", Str).fk(Table::BadgeCards).pseudo(Card),
    col("site_id", Str).fk(Table::Sites),
    col("door", Str).optional(),
    col("at", Timestamp),
    col("direction", Enum(DIRECTIONS)),
];
static DEVICE_SESSIONS: &[ColumnDef] = &[
    col("session_id", Str),
    col("device_id", Str).fk(Table::Devices).pseudo(Device),
    col("account_id", Str).fk(Table::Accounts).pseudo(Account),
    col("start", Timestamp),
    col("end", Timestamp),
    col("network", Enum(NETWORKS)),
];
static DEVICE_LOCATIONS: &[ColumnDef] = &[
    col("device_id", Str).fk(Table::Devices).pseudo(Device),
    col("at", Timestamp),
    col("lat", Float),
    col("lon", Float),
    col("accuracy_m", Float).optional(),
];
static SYSTEM_QUERIES: &[ColumnDef] = &[
    col("query_id", Str),
    col("account_id", Str).fk(Table::Accounts).pseudo(Account),
    col("system", Str),
    col("at", Timestamp),
    col("subject_ref", Str).pseudo(Subject),
    col("reason_code", Str).optional(),
    col("case_ref", Str).optional(),
];
static CASE_ASSIGNMENTS: &[ColumnDef] = &[
    col("case_ref", Str),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("role", Str).optional(),
    col("assigned_from", Date),
    col("assigned_to", Date).optional(),
];
static CASE_SUBJECTS: &[ColumnDef] = &[
    col("case_ref", Str),
    col("subject_ref", Str).pseudo(Subject),
    col("subject_role", Enum(SUBJECT_ROLES)),
];
static KNOWN_RELATIONS: &[ColumnDef] = &[
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("subject_ref", Str).pseudo(Subject),
    col("relation", Enum(RELATIONS)),
];
static DECLARATIONS: &[ColumnDef] = &[
    col("declaration_id", Str),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("kind", Enum(DECLARATION_KINDS)),
    col("counterparty", Str),
    col("declared_on", Date),
    col("valid_to", Date).optional(),
];
static REFERENCE_RECORDS: &[ColumnDef] = &[
    col("record_id", Str),
    col("list_name", Str),
    col("full_name", Str).vault(),
    col("date_of_birth", PartialDate).optional().vault(),
    col("postcode", Str).optional().vault(),
    col("organisation", Str),
    col("role", Str).optional(),
    col("valid_from", Date).optional(),
    col("valid_to", Date).optional(),
];
static COMPLAINTS: &[ColumnDef] = &[
    col("complaint_id", Str),
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("received_on", Date),
    col("category", Str),
    col("outcome", Enum(OUTCOMES)).optional(),
    col("closed_on", Date).optional(),
    // Contract v1.2: the complaint's own reference when one complaint names
    // several people (each gets a row with its own complaint_id and the same
    // complaint_ref: the co-accusal network), and who complained.
    col("complaint_ref", Str).optional(),
    col("complainant", Enum(COMPLAINANTS)).optional(),
];

/// Sex and ethnicity as recorded for equality monitoring (optional table,
/// added in contract v1.1). Its own data category; read only by the
/// fairness audit, never by a detector or a risk-model feature.
static EQUALITY_MONITORING: &[ColumnDef] = &[
    col("person_id", Str).fk(Table::People).pseudo(Person),
    col("sex", Str).optional(),
    col("ethnicity", Str).optional(),
];

/// Everything the project knows about one contract table.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    /// Which table.
    pub table: Table,
    /// Its columns, in contract order.
    pub columns: &'static [ColumnDef],
    /// The primary-key column, if the table has one.
    pub primary_key: Option<&'static str>,
    /// The column whose month partitions the stored table (event tables only).
    pub partition_by: Option<&'static str>,
    /// Column pairs that must be in order (end not before start).
    pub ordered: &'static [Ordered],
}

impl TableDef {
    /// For tables of holdings (a badge card or device held by one person over
    /// a period, then perhaps by another): the column that starts a holding.
    /// Their key repeats across holdings; the key with this column is unique.
    pub fn holding_start(&self) -> Option<&'static str> {
        match self.table {
            Table::BadgeCards => Some("valid_from"),
            Table::Devices => Some("issued_from"),
            _ => None,
        }
    }
}

impl Table {
    /// The definition of this table.
    pub fn def(self) -> TableDef {
        let (columns, primary_key, partition_by, ordered): (
            &'static [ColumnDef],
            Option<&'static str>,
            Option<&'static str>,
            &'static [Ordered],
        ) = match self {
            Table::Sites => (SITES, Some("site_id"), None, &[]),
            Table::Units => (UNITS, Some("unit_id"), None, &[]),
            Table::People => (
                PEOPLE,
                Some("person_id"),
                None,
                &[Ordered {
                    start: "start_date",
                    end: "end_date",
                }],
            ),
            Table::BadgeCards => (
                BADGE_CARDS,
                Some("card_id"),
                None,
                &[Ordered {
                    start: "valid_from",
                    end: "valid_to",
                }],
            ),
            Table::Accounts => (ACCOUNTS, Some("account_id"), None, &[]),
            Table::Devices => (
                DEVICES,
                Some("device_id"),
                None,
                &[Ordered {
                    start: "issued_from",
                    end: "issued_to",
                }],
            ),
            Table::Shifts => (
                SHIFTS,
                Some("shift_id"),
                Some("start"),
                &[Ordered {
                    start: "start",
                    end: "end",
                }],
            ),
            Table::RosterEdits => (ROSTER_EDITS, Some("edit_id"), Some("edited_at"), &[]),
            Table::OvertimeClaims => (
                OVERTIME_CLAIMS,
                Some("claim_id"),
                Some("claimed_start"),
                &[Ordered {
                    start: "claimed_start",
                    end: "claimed_end",
                }],
            ),
            Table::Absences => (
                ABSENCES,
                Some("absence_id"),
                Some("start_date"),
                &[Ordered {
                    start: "start_date",
                    end: "end_date",
                }],
            ),
            Table::BadgeEvents => (BADGE_EVENTS, Some("event_id"), Some("at"), &[]),
            Table::DeviceSessions => (
                DEVICE_SESSIONS,
                Some("session_id"),
                Some("start"),
                &[Ordered {
                    start: "start",
                    end: "end",
                }],
            ),
            Table::DeviceLocations => (DEVICE_LOCATIONS, None, Some("at"), &[]),
            Table::SystemQueries => (SYSTEM_QUERIES, Some("query_id"), Some("at"), &[]),
            Table::CaseAssignments => (
                CASE_ASSIGNMENTS,
                None,
                None,
                &[Ordered {
                    start: "assigned_from",
                    end: "assigned_to",
                }],
            ),
            Table::CaseSubjects => (CASE_SUBJECTS, None, None, &[]),
            Table::KnownRelations => (KNOWN_RELATIONS, None, None, &[]),
            Table::Declarations => (
                DECLARATIONS,
                Some("declaration_id"),
                None,
                &[Ordered {
                    start: "declared_on",
                    end: "valid_to",
                }],
            ),
            Table::ReferenceRecords => (
                REFERENCE_RECORDS,
                Some("record_id"),
                None,
                &[Ordered {
                    start: "valid_from",
                    end: "valid_to",
                }],
            ),
            Table::Complaints => (
                COMPLAINTS,
                Some("complaint_id"),
                Some("received_on"),
                &[Ordered {
                    start: "received_on",
                    end: "closed_on",
                }],
            ),
            Table::EqualityMonitoring => (EQUALITY_MONITORING, Some("person_id"), None, &[]),
        };
        TableDef {
            table: self,
            columns,
            primary_key,
            partition_by,
            ordered,
        }
    }

    /// Looks a table up by its contract name.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl TableDef {
    /// The column definition with this name.
    pub fn column(&self, name: &str) -> Option<&'static ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether any column of this table goes to the identity vault.
    pub fn has_vault_columns(&self) -> bool {
        self.columns.iter().any(|c| c.handling == Handling::Vault)
    }

    /// The columns stored in the analytical store (everything but vault columns).
    pub fn stored_columns(&self) -> impl Iterator<Item = &'static ColumnDef> + use<> {
        self.columns
            .iter()
            .filter(|c| c.handling != Handling::Vault)
    }

    /// The Arrow schema of the table in the analytical store.
    pub fn stored_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.stored_columns()
                .map(|c| Field::new(c.name, c.ty.arrow_type(), !c.required))
                .collect::<Vec<_>>(),
        ))
    }

    /// The key column that joins the vault to the analytical table: the
    /// primary key (pseudonymised in the store, real in the vault).
    pub fn vault_key(&self) -> Option<&'static str> {
        if self.has_vault_columns() {
            self.primary_key
        } else {
            None
        }
    }

    /// The Arrow schema of this table's identity-vault part: the real key, its
    /// stored form (pseudonym or the same id), and every vault column.
    pub fn vault_schema(&self) -> Option<SchemaRef> {
        let key = self.vault_key()?;
        let mut fields = vec![
            Field::new(key, DataType::Utf8, false),
            Field::new("stored_key", DataType::Utf8, false),
        ];
        fields.extend(
            self.columns
                .iter()
                .filter(|c| c.handling == Handling::Vault)
                .map(|c| Field::new(c.name, c.ty.arrow_type(), !c.required)),
        );
        Some(Arc::new(Schema::new(fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_comes_after_the_tables_it_references() {
        for (i, t) in Table::ALL.iter().enumerate() {
            for c in t.def().columns {
                if let Some(r) = c.references {
                    let j = Table::ALL.iter().position(|x| *x == r).unwrap();
                    assert!(
                        j < i || r == *t,
                        "{}.{} references {} which is ingested later",
                        t.name(),
                        c.name,
                        r.name()
                    );
                }
            }
        }
    }

    #[test]
    fn referenced_tables_have_primary_keys_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for t in Table::ALL {
            assert!(names.insert(t.name()), "duplicate table {}", t.name());
            let d = t.def();
            let mut cols = std::collections::HashSet::new();
            for c in d.columns {
                assert!(
                    cols.insert(c.name),
                    "duplicate column {}.{}",
                    t.name(),
                    c.name
                );
                if let Some(r) = c.references {
                    assert!(r.def().primary_key.is_some(), "{} has no key", r.name());
                }
            }
            for o in d.ordered {
                assert!(d.column(o.start).is_some() && d.column(o.end).is_some());
            }
            if let Some(p) = d.partition_by {
                assert!(matches!(
                    d.column(p).unwrap().ty,
                    ColType::Date | ColType::Timestamp
                ));
            }
        }
        assert_eq!(Table::ALL.len(), 21);
    }

    #[test]
    fn identifying_columns_never_reach_the_stored_schema() {
        let people = Table::People.def().stored_schema();
        for name in [
            "given_name",
            "family_name",
            "date_of_birth",
            "home_postcode",
        ] {
            assert!(people.field_with_name(name).is_err(), "{name} stored");
        }
        let refs = Table::ReferenceRecords.def().stored_schema();
        assert!(refs.field_with_name("full_name").is_err());
        let vault = Table::People.def().vault_schema().unwrap();
        assert!(vault.field_with_name("given_name").is_ok());
        assert!(Table::Shifts.def().vault_schema().is_none());
    }
}
