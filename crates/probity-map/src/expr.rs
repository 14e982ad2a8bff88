//! The value expressions of a mapping: a term, then filters joined by `|`.
//!
//! ```text
//! expr    := term ('|' filter)*
//! term    := column | source '.' column | 'literal' | func '(' expr (',' expr)* ')'
//! func    := concat | first
//! filter  := name [ '(' arg (',' arg)* ')' ]
//! column  := identifier | `quoted identifier`
//! ```
//!
//! An empty value is null. Filters pass null through unchanged, except the
//! ones that exist to handle it (`default`, `is_empty`, `eq`, `not`, and
//! `map` when its value map has an entry for the empty string). A filter that
//! cannot convert a value rejects the row with a reason; it never guesses.

use std::collections::BTreeMap;
use std::fmt;

/// One filter of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Leading and trailing white space removed.
    Trim,
    /// Upper case.
    Upper,
    /// Lower case.
    Lower,
    /// A whole number, also when written as a decimal (`130469.0`);
    /// rejects fractions and text.
    Int,
    /// A finite decimal number; rejects text.
    Number,
    /// A date in one of the given `strftime` formats (default `%Y-%m-%d`),
    /// written as `YYYY-MM-DD`; rejects anything else.
    Date(Vec<String>),
    /// The value looked up in a value map of the mapping; rejects a value
    /// the map does not list.
    Map(String),
    /// The given value when null.
    Default(String),
    /// Null when the value is one of the given ones.
    NullIf(Vec<String>),
    /// Every occurrence of the first text replaced by the second.
    Replace(String, String),
    /// The n-th (0-based) part when split at the separator; null if absent.
    Split(String, usize),
    /// Text put in front of a non-null value.
    Prefix(String),
    /// Text put after a non-null value.
    Suffix(String),
    /// `true` when the value equals one of the given ones, else null.
    Eq(Vec<String>),
    /// `true` when the value is null, else null.
    IsEmpty,
    /// `true` when the value is null, else null (negation of a condition).
    Not,
}

/// The first part of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A column of the row's source.
    Column(String),
    /// A column of a joined source.
    Lookup {
        /// The joined source.
        source: String,
        /// Its column.
        column: String,
    },
    /// A literal text.
    Literal(String),
    /// The arguments' values joined together; null if any is null.
    Concat(Vec<Expr>),
    /// The first non-null argument.
    First(Vec<Expr>),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Where the value comes from.
    pub term: Term,
    /// What is done to it, in order.
    pub filters: Vec<Filter>,
}

/// Why an expression could not be parsed: the position (0-based character)
/// and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Character offset in the expression.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.at + 1, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Pipe,
    Open,
    Close,
    Comma,
    Dot,
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '|' => out.push((start, Tok::Pipe)),
            '(' => out.push((start, Tok::Open)),
            ')' => out.push((start, Tok::Close)),
            ',' => out.push((start, Tok::Comma)),
            '.' => out.push((start, Tok::Dot)),
            '\'' | '`' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(ParseError {
                                at: start,
                                message: format!("unclosed {quote}: close it with {quote}"),
                            });
                        }
                        Some(&ch) if ch == quote => {
                            if chars.get(i + 1) == Some(&quote) {
                                text.push(quote);
                                i += 2;
                            } else {
                                break;
                            }
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((
                    start,
                    if quote == '\'' {
                        Tok::Str(text)
                    } else {
                        Tok::Ident(text)
                    },
                ));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut text = String::new();
                text.push(c);
                while let Some(&d) = chars.get(i + 1) {
                    if d.is_ascii_digit() {
                        text.push(d);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push((start, Tok::Num(text)));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut text = String::new();
                text.push(c);
                while let Some(&d) = chars.get(i + 1) {
                    if d.is_alphanumeric() || d == '_' {
                        text.push(d);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push((start, Tok::Ident(text)));
            }
            other => {
                return Err(ParseError {
                    at: start,
                    message: format!(
                        "unexpected {other:?}; quote literal text as 'text' and column names \
                         with spaces or symbols as `name`"
                    ),
                });
            }
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(a, _)| *a)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            at: self.at(),
            message: message.into(),
        })
    }
    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!("expected {what}"))
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let term = self.term()?;
        let mut filters = Vec::new();
        while self.peek() == Some(&Tok::Pipe) {
            self.pos += 1;
            filters.push(self.filter()?);
        }
        Ok(Expr { term, filters })
    }

    fn term(&mut self) -> Result<Term, ParseError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Term::Literal(s)),
            Some(Tok::Num(n)) => Ok(Term::Literal(n)),
            Some(Tok::Ident(name)) => {
                if self.peek() == Some(&Tok::Open) {
                    self.pos += 1;
                    let mut args = vec![self.expr()?];
                    while self.peek() == Some(&Tok::Comma) {
                        self.pos += 1;
                        args.push(self.expr()?);
                    }
                    self.expect(Tok::Close, "`)` closing the argument list")?;
                    match name.as_str() {
                        "concat" => Ok(Term::Concat(args)),
                        "first" => Ok(Term::First(args)),
                        other => Err(ParseError {
                            at: 0,
                            message: format!(
                                "unknown function {other}(); the functions are concat(…) and \
                                 first(…) — a column named like this must be quoted as `{other}`"
                            ),
                        }),
                    }
                } else if self.peek() == Some(&Tok::Dot) {
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Ident(column)) => Ok(Term::Lookup {
                            source: name,
                            column,
                        }),
                        _ => {
                            self.pos -= 1;
                            self.err("expected a column name after `source.`")
                        }
                    }
                } else {
                    Ok(Term::Column(name))
                }
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                self.err("expected a column name, 'literal text' or concat(…)/first(…)")
            }
        }
    }

    fn args(&mut self) -> Result<Vec<String>, ParseError> {
        let mut out = Vec::new();
        if self.peek() != Some(&Tok::Open) {
            return Ok(out);
        }
        self.pos += 1;
        loop {
            match self.next() {
                Some(Tok::Str(s) | Tok::Num(s) | Tok::Ident(s)) => out.push(s),
                _ => {
                    self.pos -= 1;
                    return self.err("expected an argument ('text' or a number)");
                }
            }
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::Close) => return Ok(out),
                _ => {
                    self.pos -= 1;
                    return self.err("expected `,` or `)`");
                }
            }
        }
    }

    fn filter(&mut self) -> Result<Filter, ParseError> {
        let at = self.at();
        let Some(Tok::Ident(name)) = self.next() else {
            self.pos -= 1;
            return self.err("expected a filter name after `|`");
        };
        let args = self.args()?;
        let bad = |message: String| Err(ParseError { at, message });
        let n = args.len();
        let want = |k: usize, usage: &str| -> Result<(), ParseError> {
            if n == k {
                Ok(())
            } else {
                Err(ParseError {
                    at,
                    message: format!("{name} takes {k} argument(s): {usage}"),
                })
            }
        };
        Ok(match name.as_str() {
            "trim" => {
                want(0, "trim")?;
                Filter::Trim
            }
            "upper" => {
                want(0, "upper")?;
                Filter::Upper
            }
            "lower" => {
                want(0, "lower")?;
                Filter::Lower
            }
            "int" => {
                want(0, "int")?;
                Filter::Int
            }
            "number" => {
                want(0, "number")?;
                Filter::Number
            }
            "is_empty" => {
                want(0, "is_empty")?;
                Filter::IsEmpty
            }
            "not" => {
                want(0, "not")?;
                Filter::Not
            }
            "date" => Filter::Date(if args.is_empty() {
                vec!["%Y-%m-%d".into()]
            } else {
                args
            }),
            "map" => {
                want(1, "map('value map name')")?;
                Filter::Map(args.into_iter().next().unwrap_or_default())
            }
            "default" => {
                want(1, "default('value')")?;
                Filter::Default(args.into_iter().next().unwrap_or_default())
            }
            "null_if" if n >= 1 => Filter::NullIf(args),
            "eq" if n >= 1 => Filter::Eq(args),
            "null_if" | "eq" => return bad(format!("{name} takes one or more values")),
            "replace" => {
                want(2, "replace('from', 'to')")?;
                let mut a = args.into_iter();
                Filter::Replace(a.next().unwrap_or_default(), a.next().unwrap_or_default())
            }
            "split" => {
                want(2, "split('separator', index)")?;
                let idx = args[1].parse::<usize>().map_err(|_| ParseError {
                    at,
                    message: "split's second argument is a 0-based index, e.g. split(':', 0)"
                        .into(),
                })?;
                Filter::Split(args[0].clone(), idx)
            }
            "prefix" => {
                want(1, "prefix('text')")?;
                Filter::Prefix(args[0].clone())
            }
            "suffix" => {
                want(1, "suffix('text')")?;
                Filter::Suffix(args[0].clone())
            }
            other => {
                return bad(format!(
                    "unknown filter {other:?}; the filters are trim, upper, lower, int, number, \
                     date, map, default, null_if, replace, split, prefix, suffix, eq, is_empty, not"
                ));
            }
        })
    }
}

/// Parses one expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: src.chars().count(),
    };
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        return p.err("unexpected text after the expression (filters are joined with `|`)");
    }
    Ok(e)
}

impl Expr {
    /// Every column this expression reads: `(None, column)` for the row's
    /// own source, `(Some(source), column)` for a joined one.
    pub fn columns(&self) -> Vec<(Option<String>, String)> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }
    fn collect(&self, out: &mut Vec<(Option<String>, String)>) {
        match &self.term {
            Term::Column(c) => out.push((None, c.clone())),
            Term::Lookup { source, column } => out.push((Some(source.clone()), column.clone())),
            Term::Literal(_) => {}
            Term::Concat(a) | Term::First(a) => a.iter().for_each(|e| e.collect(out)),
        }
    }
    /// Every value map this expression uses.
    pub fn maps(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_maps(&mut out);
        out
    }
    fn collect_maps(&self, out: &mut Vec<String>) {
        for f in &self.filters {
            if let Filter::Map(m) = f {
                out.push(m.clone());
            }
        }
        if let Term::Concat(a) | Term::First(a) = &self.term {
            a.iter().for_each(|e| e.collect_maps(out));
        }
    }
}

/// What an expression reads its columns from.
pub trait Row {
    /// The value of a column (empty = null); `source` is `None` for the
    /// row's own source.
    fn get(&self, source: Option<&str>, column: &str) -> &str;
}

/// Why a value was rejected: the value and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The value the filter could not convert.
    pub value: String,
    /// A short, groupable reason (no values in it).
    pub reason: String,
}

/// Value maps by name.
pub type ValueMaps = BTreeMap<String, BTreeMap<String, String>>;

/// Evaluates an expression on a row.
pub fn eval(e: &Expr, row: &dyn Row, maps: &ValueMaps) -> Result<String, Reject> {
    let mut v = match &e.term {
        Term::Column(c) => row.get(None, c).to_owned(),
        Term::Lookup { source, column } => row.get(Some(source), column).to_owned(),
        Term::Literal(s) => s.clone(),
        Term::Concat(args) => {
            let mut s = String::new();
            let mut null = false;
            for a in args {
                let part = eval(a, row, maps)?;
                null |= part.is_empty();
                s.push_str(&part);
            }
            if null { String::new() } else { s }
        }
        Term::First(args) => {
            let mut s = String::new();
            for a in args {
                s = eval(a, row, maps)?;
                if !s.is_empty() {
                    break;
                }
            }
            s
        }
    };
    for f in &e.filters {
        v = apply(f, v, maps)?;
    }
    Ok(v)
}

fn apply(f: &Filter, v: String, maps: &ValueMaps) -> Result<String, Reject> {
    let yes = || "true".to_owned();
    match f {
        Filter::Default(d) if v.is_empty() => return Ok(d.clone()),
        Filter::IsEmpty | Filter::Not => {
            return Ok(if v.is_empty() { yes() } else { String::new() });
        }
        Filter::Eq(vals) => {
            return Ok(if vals.contains(&v) {
                yes()
            } else {
                String::new()
            });
        }
        Filter::Map(name) => {
            let map = maps
                .get(name)
                .expect("value maps are checked when the mapping loads");
            return match map.get(&v) {
                Some(out) => Ok(out.clone()),
                None if v.is_empty() => Ok(v),
                None => Err(Reject {
                    value: v,
                    reason: format!("not in value map {name:?}"),
                }),
            };
        }
        _ => {}
    }
    if v.is_empty() {
        return Ok(v);
    }
    Ok(match f {
        Filter::Trim => v.trim().to_owned(),
        Filter::Upper => v.to_uppercase(),
        Filter::Lower => v.to_lowercase(),
        Filter::Int => int(&v).ok_or_else(|| Reject {
            value: v.clone(),
            reason: "not a whole number".into(),
        })?,
        Filter::Number => match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => v.trim().to_owned(),
            _ => {
                return Err(Reject {
                    value: v,
                    reason: "not a number".into(),
                });
            }
        },
        Filter::Date(formats) => {
            let t = v.trim();
            formats
                .iter()
                .find_map(|f| {
                    jiff::fmt::strtime::parse(f, t)
                        .ok()
                        .and_then(|tm| tm.to_date().ok())
                })
                .map(|d| d.to_string())
                .ok_or_else(|| Reject {
                    value: v.clone(),
                    reason: format!("not a date in format {}", formats.join(" or ")),
                })?
        }
        Filter::NullIf(vals) => {
            if vals.contains(&v) {
                String::new()
            } else {
                v
            }
        }
        Filter::Replace(a, b) => {
            if a.is_empty() {
                v
            } else {
                v.replace(a.as_str(), b)
            }
        }
        Filter::Split(sep, i) => v.split(sep.as_str()).nth(*i).unwrap_or("").to_owned(),
        Filter::Prefix(p) => format!("{p}{v}"),
        Filter::Suffix(s) => format!("{v}{s}"),
        Filter::Default(_) | Filter::IsEmpty | Filter::Not | Filter::Eq(_) | Filter::Map(_) => v,
    })
}

/// `12`, `12.0`, `12.000`, `-3` → the integer's text; anything else → None.
fn int(v: &str) -> Option<String> {
    let t = v.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    Some(if whole.starts_with('-') && digits != "0" {
        format!("-{digits}")
    } else {
        digits.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(Vec<(&'static str, &'static str)>);
    impl Row for R {
        fn get(&self, source: Option<&str>, column: &str) -> &str {
            let key = match source {
                Some(s) => format!("{s}.{column}"),
                None => column.to_owned(),
            };
            self.0
                .iter()
                .find(|(k, _)| *k == key)
                .map_or("", |(_, v)| v)
        }
    }

    fn maps() -> ValueMaps {
        let mut m = ValueMaps::new();
        m.insert(
            "finding".into(),
            [
                ("SU", "sustained"),
                ("NS", "not_sustained"),
                ("", "ongoing"),
            ]
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect(),
        );
        m.insert(
            "strict".into(),
            [("A", "a")]
                .into_iter()
                .map(|(a, b)| (a.into(), b.into()))
                .collect(),
        );
        m
    }

    fn run(src: &str, row: &R) -> Result<String, Reject> {
        eval(&parse(src).unwrap(), row, &maps())
    }

    #[test]
    fn pipelines_convert_real_world_values() {
        let row = R(vec![
            ("UID", "130469.0"),
            ("cr", "C170981"),
            ("when", "03/29/2026"),
            ("f", "SU"),
            ("blank", ""),
            ("cat", "EXCESSIVE FORCE:  ARRESTEE"),
            ("complaints.date", "2006-10-02"),
            ("my col", " x "),
        ]);
        assert_eq!(run("UID | int", &row).unwrap(), "130469");
        assert_eq!(
            run("concat(cr, '/', UID | int)", &row).unwrap(),
            "C170981/130469"
        );
        assert_eq!(run("when | date('%m/%d/%Y')", &row).unwrap(), "2026-03-29");
        assert_eq!(run("f | map('finding')", &row).unwrap(), "sustained");
        assert_eq!(run("blank | map('finding')", &row).unwrap(), "ongoing");
        assert_eq!(run("blank | map('strict')", &row).unwrap(), "");
        assert_eq!(run("blank | default('unknown')", &row).unwrap(), "unknown");
        assert_eq!(run("first(blank, cr)", &row).unwrap(), "C170981");
        assert_eq!(run("concat(cr, blank)", &row).unwrap(), "");
        assert_eq!(
            run("cat | split(':', 0) | lower", &row).unwrap(),
            "excessive force"
        );
        assert_eq!(run("complaints.date", &row).unwrap(), "2006-10-02");
        assert_eq!(run("`my col` | trim | upper", &row).unwrap(), "X");
        assert_eq!(run("f | eq('SU', 'NS')", &row).unwrap(), "true");
        assert_eq!(run("f | eq('NS')", &row).unwrap(), "");
        assert_eq!(run("blank | is_empty", &row).unwrap(), "true");
        assert_eq!(
            run("f | null_if('SU') | default('none')", &row).unwrap(),
            "none"
        );
        assert_eq!(run("'it''s'", &row).unwrap(), "it's");
        assert_eq!(
            run("blank | int | date", &row).unwrap(),
            "",
            "null passes through"
        );
    }

    #[test]
    fn conversions_reject_instead_of_guessing() {
        let row = R(vec![("x", "12.5"), ("d", "2026-02-30"), ("f", "ZZ")]);
        assert_eq!(
            run("x | int", &row).unwrap_err().reason,
            "not a whole number"
        );
        assert_eq!(run("d | date", &row).unwrap_err().value, "2026-02-30");
        let r = run("f | map('finding')", &row).unwrap_err();
        assert_eq!(
            (r.value.as_str(), r.reason.as_str()),
            ("ZZ", "not in value map \"finding\"")
        );
        assert_eq!(int("-0.0").as_deref(), Some("0"));
        assert_eq!(int("007").as_deref(), Some("7"));
        assert_eq!(int("1e3"), None);
        assert_eq!(int("."), None);
    }

    #[test]
    fn parse_errors_say_where_and_what_to_do() {
        let e = parse("UID | int(3)").unwrap_err();
        assert!(e.message.contains("int takes 0"), "{e}");
        let e = parse("UID | frobnicate").unwrap_err();
        assert_eq!(e.at, 6);
        assert!(e.message.contains("unknown filter"), "{e}");
        let e = parse("'open").unwrap_err();
        assert!(e.message.contains("unclosed"), "{e}");
        let e = parse("a b").unwrap_err();
        assert!(e.message.contains("after the expression"), "{e}");
        let e = parse("upper(a)").unwrap_err();
        assert!(e.message.contains("`upper`"), "{e}");
        assert!(parse("date#").is_err());
        assert_eq!(
            parse("concat(a, s.b | int)").unwrap().columns(),
            vec![(None, "a".into()), (Some("s".into()), "b".into())]
        );
    }
}
