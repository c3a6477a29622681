//! What validation reports: the rules of the contract ([`Rule`]), one problem naming its
//! file, table, row, column and value ([`Problem`]), every problem of an input
//! ([`Report`]), and the capped collection they are gathered in while checking
//! ([`Problems`]: the first problems of each (table, column, rule) listed, all counted,
//! blocks merged in row order).

use std::collections::HashMap;
use std::fmt;

use crate::schema::TableKind;

/// A rule of the data contract.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Rule {
    /// The table has no rows.
    EmptyTable,
    /// A contract column is absent.
    MissingColumn,
    /// The column's type cannot be converted to the contract's.
    ColumnType {
        /// The contract's type.
        expected: String,
        /// The file's type.
        found: String,
    },
    /// A value cannot be read as the contract's type.
    ValueType {
        /// The contract's type.
        expected: String,
    },
    /// A required value is missing.
    Null,
    /// A number is NaN or infinite.
    NotFinite,
    /// A number is outside its range.
    Range {
        /// The allowed range, in words (for example "≥ 0" or "1–4").
        allowed: String,
    },
    /// A code is not one of the allowed ones.
    Code {
        /// The allowed codes.
        allowed: String,
    },
    /// A key appears twice.
    Duplicate {
        /// The first row holding the key.
        first_row: u64,
    },
    /// A reference to another table does not resolve.
    UnknownReference {
        /// The table referred to.
        table: TableKind,
        /// Its key column.
        column: &'static str,
    },
    /// A visit's user belongs to another service.
    UserOfOtherService {
        /// The user's service in `users`.
        user_service: String,
    },
    /// A rule relating the value to other columns, another table or the options asked: a
    /// value required by another column is absent, one that must be absent is set, a date
    /// outside the year computed…
    Conditional {
        /// The rule in words.
        rule: String,
    },
    /// The cost groups do not add up to the total.
    CostGroups {
        /// cost_g1 + cost_g2 + cost_g3.
        sum: f64,
    },
    /// An APA plan exceeds the legal ceiling of its GIR.
    PlanAboveCeiling {
        /// The ceiling, €/month.
        ceiling: f64,
        /// The GIR.
        gir: i32,
        /// The year.
        year: i32,
    },
    /// The dataset mixes years.
    SeveralYears {
        /// The year of the first row.
        first: i32,
    },
    /// A line of a text table does not have one field per column.
    Fields {
        /// The columns of the header.
        expected: usize,
        /// The fields of the line.
        found: usize,
    },
}

impl Rule {
    /// A stable short name of the rule, for counting and for tests.
    pub fn id(&self) -> &'static str {
        match self {
            Rule::EmptyTable => "empty_table",
            Rule::MissingColumn => "missing_column",
            Rule::ColumnType { .. } => "column_type",
            Rule::ValueType { .. } => "value_type",
            Rule::Null => "null",
            Rule::NotFinite => "not_finite",
            Rule::Range { .. } => "range",
            Rule::Code { .. } => "code",
            Rule::Duplicate { .. } => "duplicate",
            Rule::UnknownReference { .. } => "unknown_reference",
            Rule::UserOfOtherService { .. } => "user_of_other_service",
            Rule::Conditional { .. } => "conditional",
            Rule::CostGroups { .. } => "cost_groups",
            Rule::PlanAboveCeiling { .. } => "plan_above_ceiling",
            Rule::SeveralYears { .. } => "several_years",
            Rule::Fields { .. } => "fields",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::EmptyTable => write!(f, "the table must have at least one row"),
            Rule::MissingColumn => write!(f, "the column is required by the data contract"),
            Rule::ColumnType { expected, found } => {
                write!(f, "the column must be {expected}, found {found}")
            }
            Rule::ValueType { expected } => write!(f, "the value must be {expected}"),
            Rule::Null => write!(f, "a value is required"),
            Rule::NotFinite => write!(f, "the value must be a finite number"),
            Rule::Range { allowed } => write!(f, "the value must be {allowed}"),
            Rule::Code { allowed } => write!(f, "the value must be one of {allowed}"),
            Rule::Duplicate { first_row } => {
                write!(
                    f,
                    "the key must be unique; it is already on row {first_row}"
                )
            }
            Rule::UnknownReference { table, column } => {
                write!(f, "no row of {table} has this {column}")
            }
            Rule::UserOfOtherService { user_service } => write!(
                f,
                "the visit's user belongs to service {user_service} in users; a visit must be made by the user's service"
            ),
            Rule::Conditional { rule } => f.write_str(rule),
            Rule::CostGroups { sum } => write!(
                f,
                "cost_total must equal cost_g1 + cost_g2 + cost_g3 = {sum:.2} (to 1 € or 1e-6 relative)"
            ),
            Rule::PlanAboveCeiling { ceiling, gir, year } => write!(
                f,
                "an APA plan may not exceed the GIR {gir} ceiling of {year}, {ceiling:.2} €/month (art. R.232-10 CASF)"
            ),
            Rule::SeveralYears { first } => write!(
                f,
                "every row must have the same year; the first row has {first}"
            ),
            Rule::Fields { expected, found } => write!(
                f,
                "the line must have {expected} fields, found {found} (a field holding a comma is double-quoted)"
            ),
        }
    }
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The file (or upload) holding the table; empty for a table given in memory.
    pub file: String,
    /// The table.
    pub table: TableKind,
    /// The row, from 1 (`None` for a problem of the whole table or column).
    pub row: Option<u64>,
    /// The column (`None` for a problem of the whole table).
    pub column: Option<String>,
    /// The offending value, as text.
    pub value: Option<String>,
    /// The rule broken.
    pub rule: Rule,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}: ", self.file)?;
        }
        write!(f, "table {}", self.table)?;
        if let Some(r) = self.row {
            write!(f, ", row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        if let Some(v) = &self.value {
            write!(f, ", value {v:?}")?;
        }
        write!(f, ": {}", self.rule)
    }
}

/// Every problem found, the first ones of each kind listed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Problems listed, in table order then row order.
    pub problems: Vec<Problem>,
    /// Problems of each (table, column, rule), listed or not.
    pub counts: Vec<((TableKind, String, &'static str), u64)>,
}

impl Report {
    /// Total number of problems, listed or not.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// Whether the input is valid.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        writeln!(
            f,
            "{total} problem{} in the input data:",
            if total == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        let listed = self.problems.len() as u64;
        if total > listed {
            writeln!(f, "  ({} more not listed; counts by rule:)", total - listed)?;
            for ((t, c, r), n) in &self.counts {
                writeln!(f, "    {t}.{c} {r}: {n}")?;
            }
        }
        Ok(())
    }
}

/// Problems found so far, capped per (table, column, rule).
#[derive(Clone, Debug)]
pub(crate) struct Problems {
    pub(crate) cap: usize,
    list: Vec<Problem>,
    counts: HashMap<(TableKind, String, &'static str), u64>,
    order: Vec<(TableKind, String, &'static str)>,
}

impl Problems {
    pub(crate) fn new(cap: usize) -> Problems {
        Problems {
            cap,
            list: Vec::new(),
            counts: HashMap::new(),
            order: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, p: Problem) {
        let key = (p.table, p.column.clone().unwrap_or_default(), p.rule.id());
        let n = self.counts.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            0
        });
        *n += 1;
        if *n <= self.cap as u64 {
            self.list.push(p);
        }
    }

    /// Appends the problems of a later block, keeping the per-rule caps.
    pub(crate) fn merge(&mut self, other: Problems) {
        let mut listed_of_other: HashMap<_, u64> = HashMap::new();
        for p in other.list {
            let key = (p.table, p.column.clone().unwrap_or_default(), p.rule.id());
            *listed_of_other.entry(key).or_insert(0) += 1;
            self.push(p);
        }
        // Problems the block counted but did not list are counted here too.
        for key in other.order {
            let total = other.counts[&key];
            let listed = listed_of_other.get(&key).copied().unwrap_or(0);
            let extra = total - listed;
            if extra > 0 {
                let n = self.counts.entry(key.clone()).or_insert_with(|| {
                    self.order.push(key);
                    0
                });
                *n += extra;
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub(crate) fn into_report(self) -> Report {
        let counts = self
            .order
            .into_iter()
            .map(|k| {
                let n = self.counts[&k];
                (k, n)
            })
            .collect();
        Report {
            problems: self.list,
            counts,
        }
    }
}

/// Where problems of one table are reported.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) table: TableKind,
}

impl Ctx<'_> {
    /// The problem of one cell: its row (from 1), column and value.
    pub(crate) fn cell(
        &self,
        row: usize,
        column: &str,
        value: impl ToString,
        rule: Rule,
    ) -> Problem {
        self.problem(
            Some(row as u64),
            Some(column),
            Some(value.to_string()),
            rule,
        )
    }

    pub(crate) fn problem(
        &self,
        row: Option<u64>,
        column: Option<&str>,
        value: Option<String>,
        rule: Rule,
    ) -> Problem {
        Problem {
            file: self.file.to_string(),
            table: self.table,
            row,
            column: column.map(str::to_string),
            value,
            rule,
        }
    }
}
