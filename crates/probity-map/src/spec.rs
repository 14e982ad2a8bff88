//! The mapping file: TOML, checked against the data contract when it loads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use probity_core::Table;
use serde::Deserialize;
use toml::Spanned;

use crate::expr::{self, Expr, ValueMaps};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    mapping: RawMeta,
    #[serde(default)]
    sources: BTreeMap<String, Spanned<RawSource>>,
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    tables: BTreeMap<Spanned<String>, Spanned<RawTable>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    file: String,
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    rows: Vec<BTreeMap<String, String>>,
    #[serde(default)]
    join: Vec<RawJoin>,
    #[serde(default)]
    skip: Vec<RawSkip>,
    #[serde(default)]
    distinct: bool,
    #[serde(default)]
    columns: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJoin {
    source: String,
    on: Spanned<String>,
    #[serde(default = "yes")]
    required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSkip {
    when: Spanned<String>,
    reason: String,
}

/// A source file of a mapping.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name in the mapping.
    pub name: String,
    /// The file, relative to the source directory; `.gz` is decompressed.
    pub file: String,
    /// The field delimiter (default `,`).
    pub delimiter: u8,
    /// The column that identifies a row, when other tables join to it.
    pub key: Option<String>,
}

/// A lookup of another source by its key.
#[derive(Debug, Clone)]
pub struct Join {
    /// The source looked up.
    pub source: String,
    /// The key value, computed from the row.
    pub on: Expr,
    /// Whether a row without a match is rejected (else the joined columns
    /// are null).
    pub required: bool,
}

/// A rule that leaves rows out on purpose, counted under its reason.
#[derive(Debug, Clone)]
pub struct Skip {
    /// The row is skipped when this is not null.
    pub when: Expr,
    /// Why, in the report.
    pub reason: String,
}

/// One column of a target table and the expression that fills it.
#[derive(Debug, Clone)]
pub struct Column {
    /// The contract column.
    pub name: String,
    /// Its expression, as written.
    pub text: String,
    /// Its expression.
    pub expr: Expr,
    /// The line of the mapping file it is on.
    pub line: usize,
}

/// How a target table is filled.
#[derive(Debug, Clone)]
pub enum Fill {
    /// One row per row of a source.
    From {
        /// The source.
        source: String,
        /// Lookups of other sources.
        joins: Vec<Join>,
        /// Rows left out on purpose.
        skips: Vec<Skip>,
        /// Identical output rows written once (for tables derived from
        /// another table's values, such as units from people).
        distinct: bool,
        /// The columns.
        columns: Vec<Column>,
    },
    /// Rows written in the mapping itself.
    Rows(Vec<BTreeMap<String, String>>),
}

/// One target table.
#[derive(Debug, Clone)]
pub struct Target {
    /// The contract table.
    pub table: Table,
    /// How it is filled.
    pub fill: Fill,
}

/// A loaded, checked mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// What it maps.
    pub description: String,
    /// BLAKE3 of the file, recorded with what it produced.
    pub hash: String,
    /// Sources by name.
    pub sources: BTreeMap<String, Source>,
    /// Value maps by name.
    pub values: ValueMaps,
    /// Target tables in the contract's dependency order.
    pub targets: Vec<Target>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Mapping::parse(&text, path)
    }

    /// Checks a mapping given as text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Mapping> {
        let file = path.display().to_string();
        let err = |line: usize, message: String| Error::Mapping {
            file: file.clone(),
            line,
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            err(line, e.message().to_owned())
        })?;

        let mut sources = BTreeMap::new();
        for (name, spanned) in &raw.sources {
            let line = line_of(text, spanned.span().start);
            let s = spanned.get_ref();
            let delimiter = match s.delimiter.as_deref() {
                None => b',',
                Some(d) if d.len() == 1 => d.as_bytes()[0],
                Some("\\t" | "tab") => b'\t',
                Some(d) => {
                    return Err(err(
                        line,
                        format!(
                            "source {name}: delimiter {d:?} must be one character (or \"tab\")"
                        ),
                    ));
                }
            };
            if s.file.contains("..") || Path::new(&s.file).is_absolute() {
                return Err(err(
                    line,
                    format!(
                        "source {name}: file {:?} must be a path inside the source directory",
                        s.file
                    ),
                ));
            }
            sources.insert(
                name.clone(),
                Source {
                    name: name.clone(),
                    file: s.file.clone(),
                    delimiter,
                    key: s.key.clone(),
                },
            );
        }

        let mut targets = Vec::new();
        for (tname, spanned) in &raw.tables {
            let tline = line_of(text, tname.span().start);
            let Some(table) = Table::from_name(tname.get_ref()) else {
                return Err(err(
                    tline,
                    format!(
                        "[tables.{}] is not a table of the data contract; the tables are {}",
                        tname.get_ref(),
                        Table::ALL
                            .iter()
                            .map(|t| t.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let def = table.def();
            let t = spanned.get_ref();
            let tn = table.name();
            let parse_expr = |s: &Spanned<String>, what: &str| -> Result<Expr> {
                expr::parse(s.get_ref()).map_err(|e| {
                    err(
                        line_of(text, s.span().start),
                        format!("[tables.{tn}] {what} = {:?}: {e}", s.get_ref()),
                    )
                })
            };
            let check_columns = |names: &mut dyn Iterator<Item = &String>| -> Result<()> {
                let given: Vec<&String> = names.collect();
                for c in &given {
                    if def.column(c).is_none() {
                        return Err(err(
                            tline,
                            format!(
                                "[tables.{tn}] has no column {c:?}; its columns are {}",
                                def.columns
                                    .iter()
                                    .map(|c| c.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
                for c in def.columns.iter().filter(|c| c.required) {
                    if !given.iter().any(|g| g.as_str() == c.name) {
                        return Err(err(
                            tline,
                            format!(
                                "[tables.{tn}] must give the required column {:?} (the contract \
                                 requires it; use a literal such as '…' if the source lacks it)",
                                c.name
                            ),
                        ));
                    }
                }
                Ok(())
            };
            let fill = match (&t.from, t.rows.is_empty()) {
                (Some(_), false) | (None, true) => {
                    return Err(err(
                        tline,
                        format!(
                            "[tables.{tn}] needs exactly one of `from = \"source\"` or `rows = [...]`"
                        ),
                    ));
                }
                (None, false) => {
                    for r in &t.rows {
                        check_columns(&mut r.keys())?;
                    }
                    Fill::Rows(t.rows.clone())
                }
                (Some(from), true) => {
                    if !sources.contains_key(from) {
                        return Err(err(
                            tline,
                            format!(
                                "[tables.{tn}] from = {from:?}: no [sources.{from}] in this mapping"
                            ),
                        ));
                    }
                    check_columns(&mut t.columns.keys())?;
                    let mut joins = Vec::new();
                    for j in &t.join {
                        match sources.get(&j.source) {
                            None => {
                                return Err(err(
                                    line_of(text, j.on.span().start),
                                    format!("[tables.{tn}] join: no [sources.{}]", j.source),
                                ));
                            }
                            Some(s) if s.key.is_none() => {
                                return Err(err(
                                    line_of(text, j.on.span().start),
                                    format!(
                                        "[tables.{tn}] joins source {0} but [sources.{0}] has no \
                                         `key = \"column\"` to look rows up by",
                                        j.source
                                    ),
                                ));
                            }
                            Some(_) => {}
                        }
                        joins.push(Join {
                            source: j.source.clone(),
                            on: parse_expr(&j.on, "join on")?,
                            required: j.required,
                        });
                    }
                    let skips = t
                        .skip
                        .iter()
                        .map(|s| {
                            Ok(Skip {
                                when: parse_expr(&s.when, "skip when")?,
                                reason: s.reason.clone(),
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let mut columns = Vec::new();
                    // Contract order, so output files read like the contract.
                    for c in def.columns {
                        if let Some(s) = t.columns.get(c.name) {
                            columns.push(Column {
                                name: c.name.to_owned(),
                                text: s.get_ref().clone(),
                                expr: parse_expr(s, c.name)?,
                                line: line_of(text, s.span().start),
                            });
                        }
                    }
                    // Every source and value map an expression names must exist.
                    let exprs = columns
                        .iter()
                        .map(|c| (&c.expr, c.line))
                        .chain(joins.iter().map(|j| (&j.on, tline)))
                        .chain(skips.iter().map(|s| (&s.when, tline)));
                    for (e, line) in exprs {
                        for (src, col) in e.columns() {
                            if let Some(src) = src
                                && !joins.iter().any(|j| j.source == src)
                            {
                                return Err(err(
                                    line,
                                    format!(
                                        "[tables.{tn}] reads {src}.{col} but does not join \
                                         {src}: add [[tables.{tn}.join]] source = \"{src}\""
                                    ),
                                ));
                            }
                        }
                        for m in e.maps() {
                            if !raw.values.contains_key(&m) {
                                return Err(err(
                                    line,
                                    format!(
                                        "[tables.{tn}] uses map('{m}') but there is no [values.{m}]"
                                    ),
                                ));
                            }
                        }
                    }
                    Fill::From {
                        source: from.clone(),
                        joins,
                        skips,
                        distinct: t.distinct,
                        columns,
                    }
                }
            };
            targets.push(Target { table, fill });
        }
        if targets.is_empty() {
            return Err(err(
                1,
                "the mapping fills no table: add a [tables.<table>] section".into(),
            ));
        }
        targets.sort_by_key(|t| Table::ALL.iter().position(|x| *x == t.table));
        Ok(Mapping {
            path: path.to_owned(),
            name: raw.mapping.name,
            description: raw.mapping.description,
            hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
            sources,
            values: raw.values,
            targets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Mapping> {
        Mapping::parse(text, Path::new("m.toml"))
    }

    const OK: &str = r#"
[mapping]
name = "t"
[sources.p]
file = "p.csv"
key = "id"
[values.wp]
S = "shift"
[tables.sites]
rows = [{ site_id = "s", name = "S", lat = "0", lon = "0", radius_m = "1" }]
[tables.units]
from = "p"
distinct = true
columns = { unit_id = "unit", name = "concat('Unit ', unit)", site_id = "'s'" }
[tables.people]
from = "p"
[tables.people.columns]
person_id = "id | int"
given_name = "first"
family_name = "last"
rank = "rank | default('unknown')"
unit_id = "unit"
start_date = "start | date"
work_pattern = "pattern | map('wp')"
"#;

    #[test]
    fn a_good_mapping_loads_in_contract_order() {
        let m = load(OK).unwrap();
        let order: Vec<_> = m.targets.iter().map(|t| t.table.name()).collect();
        assert_eq!(order, ["sites", "units", "people"]);
        let Fill::From { columns, .. } = &m.targets[2].fill else {
            panic!()
        };
        assert_eq!(columns[0].name, "person_id");
        assert_eq!(columns[0].line, 18);
    }

    #[test]
    fn mistakes_name_the_line_and_the_fix() {
        let cases = [
            (
                OK.replace("family_name = \"last\"\n", ""),
                "required column \"family_name\"",
                15,
            ),
            (
                OK.replace("given_name", "givn_name"),
                "no column \"givn_name\"",
                15,
            ),
            (
                OK.replace("tables.people", "tables.persons"),
                "not a table of the data contract",
                15,
            ),
            (OK.replace("map('wp')", "map('wpx')"), "no [values.wpx]", 24),
            (
                OK.replace("\"id | int\"", "\"id | itn\""),
                "unknown filter",
                18,
            ),
            (
                OK.replace("\"first\"", "\"q.first\""),
                "does not join q",
                19,
            ),
            (
                OK.replace(
                    "from = \"p\"\n[tables.people.columns]",
                    "from = \"x\"\n[tables.people.columns]",
                ),
                "no [sources.x]",
                15,
            ),
            (
                OK.replace("file = \"p.csv\"", "file = \"../p.csv\""),
                "inside the source directory",
                4,
            ),
            (
                OK.replace("key = \"id\"", "kee = \"id\""),
                "unknown field",
                6,
            ),
        ];
        for (text, want, line) in cases {
            let e = load(&text).unwrap_err();
            let Error::Mapping {
                line: l, message, ..
            } = &e
            else {
                panic!("{e}")
            };
            assert!(message.contains(want), "{want}: {e}");
            assert_eq!(*l, line, "{want}: {e}");
        }
    }
}
