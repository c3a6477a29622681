//! Validation of the four input tables against the data contract, and their conversion to
//! typed columns ([`Microdata`]).
//!
//! Validation never stops at the first problem: it collects *all* of them — types, missing
//! values, ranges, codes, duplicates, references between tables, consistency rules — each
//! naming the file, table, row, column, value and the rule broken. Rows are numbered from
//! 1 over the whole table, in file order (row 1 is the first data row; for a CSV file it
//! is on line 2). So that a systematic problem over ten million visits stays readable,
//! at most [`ValidateOptions::max_listed_per_rule`] problems are listed per
//! (table, column, rule); the report counts the others.
//!
//! Visits are validated in parallel over fixed blocks of rows whose results are joined in
//! row order, so the report and the data are identical whatever the number of threads.

use std::collections::HashMap;

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};
use arrow::util::display::FormatOptions;
use rayon::prelude::*;

mod design;
mod visits;

pub use visits::{CheckedVisits, PreparedVisits, VisitCheck};

use crate::aggregate::Drivers;
use crate::legal;
use crate::schema::{Column, ColumnType, TableKind};
use crate::simd;
use crate::tables::{Allowance, Code, Departements, Microdata, Services, Status, Users, Zone};

/// Rows per validation block (visits are validated block by block, in parallel).
pub const BLOCK_ROWS: usize = 1 << 16;

/// One input table as read from its file: where it came from, and its record batches.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// The file (or upload) the batches came from, as it should appear in messages.
    pub file: String,
    /// The table's rows, in file order.
    pub batches: Vec<RecordBatch>,
}

impl Source {
    /// A source from its file name and batches.
    pub fn new(file: impl Into<String>, batches: Vec<RecordBatch>) -> Source {
        Source {
            file: file.into(),
            batches,
        }
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// The four tables of a dataset, before validation.
#[derive(Clone, Debug, Default)]
pub struct RawDataset {
    /// `departements`.
    pub departements: Source,
    /// `services`.
    pub services: Source,
    /// `users`.
    pub users: Source,
    /// `visits`, when the dataset has them (census data from départements do not).
    pub visits: Option<Source>,
}

impl RawDataset {
    /// The source of one table (`None`: a dataset without visits).
    pub fn get(&self, table: TableKind) -> Option<&Source> {
        match table {
            TableKind::Departements => Some(&self.departements),
            TableKind::Services => Some(&self.services),
            TableKind::Users => Some(&self.users),
            TableKind::Visits => self.visits.as_ref(),
        }
    }

    /// The source of one table, to fill it (an empty visits table is created if there is
    /// none).
    pub fn get_mut(&mut self, table: TableKind) -> &mut Source {
        match table {
            TableKind::Departements => &mut self.departements,
            TableKind::Services => &mut self.services,
            TableKind::Users => &mut self.users,
            TableKind::Visits => self.visits.get_or_insert_with(Source::default),
        }
    }
}

/// Options of [`validate`].
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// Problems listed per (table, column, rule); the others are only counted.
    pub max_listed_per_rule: usize,
    /// The MTP of the dataset's year when the built-in table does not hold it (it is
    /// needed to check APA plans against their ceilings).
    pub mtp_override: Option<f64>,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            max_listed_per_rule: 20,
            mtp_override: None,
        }
    }
}

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
    /// A value required by another column is absent, or one that must be absent is set.
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
        }
    }
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The file (or upload) holding the table.
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
        write!(f, "{}: table {}", self.file, self.table)?;
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
struct Problems {
    cap: usize,
    list: Vec<Problem>,
    counts: HashMap<(TableKind, String, &'static str), u64>,
    order: Vec<(TableKind, String, &'static str)>,
}

impl Problems {
    fn new(cap: usize) -> Problems {
        Problems {
            cap,
            list: Vec::new(),
            counts: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn push(&mut self, p: Problem) {
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
    fn merge(&mut self, other: Problems) {
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

    fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    fn into_report(self) -> Report {
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
struct Ctx<'a> {
    file: &'a str,
    table: TableKind,
}

impl Ctx<'_> {
    fn problem(
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

/// A block of rows of one table, its contract columns cast to their canonical types.
struct Block {
    /// Row number (from 1) of the block's first row.
    row1: u64,
    len: usize,
    columns: HashMap<&'static str, ArrayRef>,
}

impl Block {
    fn f64(&self, name: &str) -> &arrow::array::PrimitiveArray<Float64Type> {
        self.columns[name].as_primitive::<Float64Type>()
    }
    fn i32(&self, name: &str) -> &arrow::array::PrimitiveArray<Int32Type> {
        self.columns[name].as_primitive::<Int32Type>()
    }
    fn i64(&self, name: &str) -> &arrow::array::PrimitiveArray<Int64Type> {
        self.columns[name].as_primitive::<Int64Type>()
    }
    fn text(&self, name: &str) -> &arrow::array::StringArray {
        self.columns[name].as_string::<i32>()
    }
    fn bool(&self, name: &str) -> &arrow::array::BooleanArray {
        self.columns[name].as_boolean()
    }
    /// Whether the block has the (optional) column.
    fn has(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }
}

/// Whether a file's column type converts to the contract type without loss of meaning.
fn accepts(ty: ColumnType, found: &DataType) -> bool {
    let target = ty.data_type();
    let found_base = match found {
        DataType::Dictionary(_, v) => v.as_ref(),
        other => other,
    };
    let numeric_int = found_base.is_integer();
    let text = matches!(
        found_base,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let family = match ty {
        ColumnType::Int32 | ColumnType::Int64 => numeric_int || text,
        ColumnType::Float64 => found_base.is_numeric() || text,
        ColumnType::Bool => matches!(found_base, DataType::Boolean) || text,
        ColumnType::Text => text || numeric_int,
        ColumnType::Timestamp => {
            matches!(
                found_base,
                DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
            ) || text
        }
    };
    family && can_cast_types(found, &target)
}

fn type_name(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "text",
        ColumnType::Int32 => "a 32-bit integer",
        ColumnType::Int64 => "a 64-bit integer",
        ColumnType::Float64 => "a number",
        ColumnType::Bool => "a boolean (true/false)",
        ColumnType::Timestamp => "a timestamp (YYYY-MM-DDTHH:MM:SS)",
    }
}

fn display_value(array: &dyn Array, i: usize) -> String {
    let opts = FormatOptions::default().with_null("null");
    arrow::util::display::ArrayFormatter::try_new(array, &opts)
        .map(|f| f.value(i).to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// The problem of a contract column absent from a batch's schema, or of a type that does
/// not convert to the contract's; `None` when the column is usable.
fn column_problem(ctx: &Ctx<'_>, schema: &arrow::datatypes::Schema, c: &Column) -> Option<Problem> {
    match schema.field_with_name(c.name) {
        Err(_) => Some(ctx.problem(None, Some(c.name), None, Rule::MissingColumn)),
        Ok(field) if !accepts(c.ty, field.data_type()) => Some(ctx.problem(
            None,
            Some(c.name),
            None,
            Rule::ColumnType {
                expected: type_name(c.ty).to_string(),
                found: field.data_type().to_string(),
            },
        )),
        Ok(_) => None,
    }
}

/// Splits a table into blocks of at most [`BLOCK_ROWS`] rows, checks that the contract
/// columns exist and have a usable type, casts them, and reports values that could not be
/// read, missing required values and non-finite numbers. Returns `None` when a column is
/// missing or unusable: row rules are then not checked for this table.
fn blocks(source: &Source, table: TableKind, problems: &mut Problems) -> Option<Vec<Block>> {
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    if source.num_rows() == 0 {
        if matches!(table, TableKind::Departements | TableKind::Services) {
            problems.push(ctx.problem(None, None, None, Rule::EmptyTable));
        }
        if source.batches.is_empty() {
            return Some(Vec::new());
        }
    }
    // Column presence and types, per batch (files of one table may differ in schema).
    let mut usable = true;
    let mut reported: Vec<&str> = Vec::new();
    for batch in &source.batches {
        let schema = batch.schema();
        for c in table.columns() {
            if reported.contains(&c.name) || (c.optional && schema.field_with_name(c.name).is_err())
            {
                continue;
            }
            if let Some(p) = column_problem(&ctx, &schema, c) {
                problems.push(p);
                reported.push(c.name);
                usable = false;
            }
        }
    }
    if !usable {
        return None;
    }
    let mut slices = Vec::new();
    let mut row1 = 1u64;
    for batch in &source.batches {
        let mut off = 0;
        while off < batch.num_rows() {
            let len = BLOCK_ROWS.min(batch.num_rows() - off);
            slices.push((row1, batch.slice(off, len)));
            row1 += len as u64;
            off += len;
        }
    }
    let results: Vec<(Option<Block>, Problems)> = slices
        .into_par_iter()
        .map(|(row1, batch)| {
            let mut p = Problems::new(problems.cap);
            let b = cast_block(&ctx, row1, &batch, &mut p);
            (b, p)
        })
        .collect();
    let mut out = Vec::with_capacity(results.len());
    for (b, p) in results {
        problems.merge(p);
        match b {
            Some(b) => out.push(b),
            None => usable = false,
        }
    }
    usable.then_some(out)
}

fn cast_block(ctx: &Ctx<'_>, row1: u64, batch: &RecordBatch, p: &mut Problems) -> Option<Block> {
    let mut columns = HashMap::new();
    for c in ctx.table.columns() {
        let Some(raw) = batch.column_by_name(c.name) else {
            if c.optional {
                continue;
            }
            return None;
        };
        columns.insert(c.name, cast_column(ctx, row1, c, raw, p)?);
    }
    Some(Block {
        row1,
        len: batch.num_rows(),
        columns,
    })
}

/// Casts one column to its contract type, reporting values that could not be read,
/// missing required values and non-finite numbers (rows numbered from `row1`). `None`
/// when the whole column cannot be cast.
fn cast_column(
    ctx: &Ctx<'_>,
    row1: u64,
    c: &Column,
    raw: &ArrayRef,
    p: &mut Problems,
) -> Option<ArrayRef> {
    let options = CastOptions {
        safe: true,
        ..Default::default()
    };
    let target = c.ty.data_type();
    let cast = if raw.data_type() == &target {
        Arc::clone(raw)
    } else {
        let from = match raw.data_type() {
            DataType::Timestamp(_, Some(_)) => {
                // Zoned timestamps are read as the UTC instant they denote.
                cast_with_options(
                    raw,
                    &DataType::Timestamp(TimeUnit::Microsecond, None),
                    &options,
                )
            }
            _ => cast_with_options(raw, &target, &options),
        };
        match from {
            Ok(a) => a,
            Err(e) => {
                p.push(ctx.problem(
                    None,
                    Some(c.name),
                    None,
                    Rule::ColumnType {
                        expected: type_name(c.ty).to_string(),
                        found: format!("{} ({e})", raw.data_type()),
                    },
                ));
                return None;
            }
        }
    };
    if raw.logical_null_count() > 0 || cast.logical_null_count() > 0 {
        for i in 0..raw.len() {
            let row = Some(row1 + i as u64);
            if raw.is_null(i) {
                if !c.nullable {
                    p.push(ctx.problem(row, Some(c.name), None, Rule::Null));
                }
            } else if cast.is_null(i) {
                p.push(ctx.problem(
                    row,
                    Some(c.name),
                    Some(display_value(raw.as_ref(), i)),
                    Rule::ValueType {
                        expected: type_name(c.ty).to_string(),
                    },
                ));
            }
        }
    }
    if c.ty == ColumnType::Float64 {
        let a = cast.as_primitive::<Float64Type>();
        if a.null_count() > 0 || !simd::all_finite(a.values()) {
            for (i, v) in a.iter().enumerate() {
                if let Some(v) = v
                    && !v.is_finite()
                {
                    p.push(ctx.problem(
                        Some(row1 + i as u64),
                        Some(c.name),
                        Some(v.to_string()),
                        Rule::NotFinite,
                    ));
                }
            }
        }
    }
    Some(cast)
}

/// A numeric range rule.
#[derive(Clone, Copy)]
enum Bound {
    NonNegative,
    Positive,
    Between(f64, f64),
}

impl Bound {
    fn holds(self, v: f64) -> bool {
        match self {
            Bound::NonNegative => v >= 0.0,
            Bound::Positive => v > 0.0,
            Bound::Between(lo, hi) => v >= lo && v <= hi,
        }
    }
    /// The closed interval of finite values that satisfy the bound (`> 0` is `≥` the
    /// smallest positive double).
    fn interval(self) -> (f64, f64) {
        match self {
            Bound::NonNegative => (0.0, f64::MAX),
            Bound::Positive => (f64::from_bits(1), f64::MAX),
            Bound::Between(lo, hi) => (lo, hi),
        }
    }
    fn words(self) -> String {
        match self {
            Bound::NonNegative => "≥ 0".into(),
            Bound::Positive => "> 0".into(),
            Bound::Between(lo, hi) => format!("between {lo} and {hi}"),
        }
    }
}

/// Checks a range on a float column; nulls and non-finite values are reported elsewhere.
fn check_f64(ctx: &Ctx<'_>, b: &Block, name: &str, bound: Bound, p: &mut Problems) {
    check_range(ctx, b.row1, name, b.f64(name), bound, p);
}

/// Checks a range on a float array whose first row is `row1`; nulls and non-finite
/// values are reported elsewhere. The common case — every value in range — is one
/// vectorised pass.
fn check_range(
    ctx: &Ctx<'_>,
    row1: u64,
    name: &str,
    a: &arrow::array::PrimitiveArray<Float64Type>,
    bound: Bound,
    p: &mut Problems,
) {
    let (lo, hi) = bound.interval();
    if a.null_count() == 0 && simd::all_in_range(a.values(), lo, hi) {
        return;
    }
    for (i, v) in a.iter().enumerate() {
        if let Some(v) = v
            && v.is_finite()
            && !bound.holds(v)
        {
            p.push(ctx.problem(
                Some(row1 + i as u64),
                Some(name),
                Some(v.to_string()),
                Rule::Range {
                    allowed: bound.words(),
                },
            ));
        }
    }
}

/// Checks a range on an integer column.
fn check_int(ctx: &Ctx<'_>, b: &Block, name: &str, lo: i64, hi: i64, p: &mut Problems) {
    let values: Vec<Option<i64>> = match b.columns[name].data_type() {
        DataType::Int64 => b.i64(name).iter().collect(),
        _ => b.i32(name).iter().map(|v| v.map(i64::from)).collect(),
    };
    for (i, v) in values.into_iter().enumerate() {
        if let Some(v) = v
            && (v < lo || v > hi)
        {
            p.push(ctx.problem(
                Some(b.row1 + i as u64),
                Some(name),
                Some(v.to_string()),
                Rule::Range {
                    allowed: if hi == i64::MAX {
                        format!("≥ {lo}")
                    } else {
                        format!("between {lo} and {hi}")
                    },
                },
            ));
        }
    }
}

/// Parses a code column into its enumeration; unknown codes are reported.
fn parse_codes<T: Code>(ctx: &Ctx<'_>, b: &Block, name: &str, p: &mut Problems) -> Vec<T> {
    let a = b.text(name);
    let mut out = Vec::with_capacity(b.len);
    for i in 0..b.len {
        if a.is_null(i) {
            out.push(T::ALL[0]);
            continue;
        }
        let s = a.value(i);
        match T::parse(s) {
            Some(v) => out.push(v),
            None => {
                out.push(T::ALL[0]);
                p.push(ctx.problem(
                    Some(b.row1 + i as u64),
                    Some(name),
                    Some(s.to_string()),
                    Rule::Code {
                        allowed: T::CODES.join(", "),
                    },
                ));
            }
        }
    }
    out
}

fn f64_values(b: &Block, name: &str) -> Vec<f64> {
    let a = b.f64(name);
    if a.null_count() == 0 {
        a.values().to_vec()
    } else {
        a.iter().map(|v| v.unwrap_or(0.0)).collect()
    }
}

fn opt_f64_values(b: &Block, name: &str) -> Vec<Option<f64>> {
    b.f64(name).iter().collect()
}

fn bool_values(b: &Block, name: &str) -> Vec<bool> {
    b.bool(name).iter().map(|v| v.unwrap_or(false)).collect()
}

fn text_values(b: &Block, name: &str) -> Vec<String> {
    b.text(name)
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}

/// Key → row index of a table. aHash: lookups of millions of short string keys are the
/// bulk of validating visits; the map is never iterated, so its order does not matter.
/// Keys of a table → their row, the keys' bytes copied once into one buffer (a national
/// users table is 800,000 keys: one allocation, not one per key, to build and to free).
#[derive(Debug)]
struct KeyIndex {
    bytes: Vec<u8>,
    /// Where each key starts in `bytes`, and where the last one ends.
    offsets: Vec<usize>,
    /// Rows of the first occurrence of each key, found by the hash of the key.
    table: hashbrown::HashTable<u32>,
    hasher: ahash::RandomState,
}

impl KeyIndex {
    fn key(&self, row: u32) -> &[u8] {
        let r = row as usize;
        &self.bytes[self.offsets[r]..self.offsets[r + 1]]
    }

    /// The row of `key`, if the table has it.
    fn get(&self, key: &str) -> Option<&u32> {
        let hash = self.hasher.hash_one(key.as_bytes());
        self.table
            .find(hash, |&row| self.key(row) == key.as_bytes())
    }
}

/// Records duplicate keys (the first occurrence wins) and returns the key → index map.
fn unique_index(ctx: &Ctx<'_>, column: &str, keys: &[String], p: &mut Problems) -> KeyIndex {
    let mut index = KeyIndex {
        bytes: Vec::with_capacity(keys.iter().map(String::len).sum()),
        offsets: Vec::with_capacity(keys.len() + 1),
        table: hashbrown::HashTable::with_capacity(keys.len()),
        // Fixed seeds: nothing depends on the table's order, but runs stay alike.
        hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
    };
    index.offsets.push(0);
    for k in keys {
        index.bytes.extend_from_slice(k.as_bytes());
        index.offsets.push(index.bytes.len());
    }
    for (i, k) in keys.iter().enumerate() {
        let hash = index.hasher.hash_one(k.as_bytes());
        let (bytes, offsets) = (&index.bytes, &index.offsets);
        let key_of = |row: u32| &bytes[offsets[row as usize]..offsets[row as usize + 1]];
        match index.table.entry(
            hash,
            |&row| key_of(row) == k.as_bytes(),
            |&row| index.hasher.hash_one(key_of(row)),
        ) {
            hashbrown::hash_table::Entry::Occupied(first) => p.push(ctx.problem(
                Some(i as u64 + 1),
                Some(column),
                Some(k.clone()),
                Rule::Duplicate {
                    first_row: u64::from(*first.get()) + 1,
                },
            )),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(i as u32);
            }
        }
    }
    index
}

fn is_departement_code(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        2 => {
            (b[0].is_ascii_digit() && b[1].is_ascii_digit() && s != "00" && s <= "95")
                || s == "2A"
                || s == "2B"
        }
        3 => (s.starts_with("97") && (b'1'..=b'6').contains(&b[2])) || s == "69D" || s == "69M",
        _ => false,
    }
}

/// A dataset that passed validation: its tables as typed columns and its cost drivers
/// (the visits folded while they were checked).
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Départements, services and users.
    pub micro: Microdata,
    /// Visit drivers (when the dataset has visits) and user cells.
    pub drivers: Drivers,
}

/// Validates a dataset held in memory, the visits streamed batch by batch through the
/// same [`VisitCheck`] as a file. Returns the typed tables and drivers, or the report of
/// every problem.
pub fn validate(raw: &RawDataset, options: &ValidateOptions) -> Result<Dataset, Report> {
    let frame = check_frame(&raw.departements, &raw.services, &raw.users, options);
    let visits = raw.visits.as_ref().map(|source| {
        let mut check = frame.check_visits(source.file.clone());
        for batch in &source.batches {
            check.push(batch);
        }
        check.finish()
    });
    frame.finish(visits)
}

/// The first stage of validation: départements, services and users checked and typed,
/// their keys indexed, ready to check the visits against.
#[derive(Debug)]
pub struct Frame {
    /// Unique in the process: resolutions cached per thread are tied to one frame's keys.
    id: u64,
    year: Option<i32>,
    departements: Option<Departements>,
    services: Option<Services>,
    users: Option<Users>,
    service_index: Option<KeyIndex>,
    user_index: Option<KeyIndex>,
    problems: Problems,
    cap: usize,
}

/// Checks the three small tables (the first stage of [`validate`]).
pub fn check_frame(
    departements_source: &Source,
    services_source: &Source,
    users_source: &Source,
    options: &ValidateOptions,
) -> Frame {
    let cap = options.max_listed_per_rule.max(1);
    let mut p = Problems::new(cap);
    let (departements, year, dept_index) = departements(departements_source, &mut p);
    let (services, service_index) = services(services_source, dept_index.as_ref(), &mut p);
    let mtp = year.and_then(|y| options.mtp_override.or_else(|| legal::mtp(y)));
    let (users, user_index) = users(users_source, service_index.as_ref(), year.zip(mtp), &mut p);
    static NEXT_FRAME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    Frame {
        id: NEXT_FRAME.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        year,
        departements,
        services,
        users,
        service_index,
        user_index,
        problems: p,
        cap,
    }
}

impl Frame {
    /// Whether the three tables are valid.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
            && self.year.is_some()
            && self.departements.is_some()
            && self.services.is_some()
            && self.users.is_some()
    }

    fn services_len(&self) -> usize {
        self.services.as_ref().map_or(0, Services::len)
    }

    fn users_len(&self) -> usize {
        self.users.as_ref().map_or(0, Users::len)
    }

    /// Starts the streamed check of a visits table read from `file`, folding the visit
    /// drivers as it goes (for [`Frame::finish`]).
    pub fn check_visits(&self, file: impl Into<String>) -> VisitCheck<'_> {
        VisitCheck::new(self, file.into(), true)
    }

    /// Starts the streamed check of a visits table without folding the drivers: every
    /// rule, for [`Frame::report`] (an upload checks its data, no job runs on it yet).
    pub fn check_visits_only(&self, file: impl Into<String>) -> VisitCheck<'_> {
        VisitCheck::new(self, file.into(), false)
    }

    /// The problems of the four tables, without building the dataset (`Ok` when there is
    /// none). Takes visits checked by either [`Frame::check_visits`] or
    /// [`Frame::check_visits_only`].
    /// The frame is kept: the same frame may check other visits.
    pub fn report(&self, visits: Option<CheckedVisits>) -> Result<(), Report> {
        let visit_problems = visits.as_ref().is_some_and(|v| !v.problems.is_empty());
        if self.is_valid() && !visit_problems {
            return Ok(());
        }
        let mut problems = self.problems.clone();
        if let Some(v) = visits {
            problems.merge(v.problems);
        }
        // Every path that leaves a table or the year out has recorded a problem.
        Err(problems.into_report())
    }

    /// The typed dataset, with the drivers of the checked visits (`None`: the dataset has
    /// no visits table), or the report of every problem of the four tables.
    pub fn finish(mut self, visits: Option<CheckedVisits>) -> Result<Dataset, Report> {
        let sums = match visits {
            Some(v) => {
                self.problems.merge(v.problems);
                Some(v.sums)
            }
            None => None,
        };
        if !self.problems.is_empty() {
            return Err(self.problems.into_report());
        }
        match (
            self.departements,
            self.year,
            self.services,
            self.users,
            sums,
        ) {
            (Some(departements), Some(year), Some(services), Some(users), sums)
                if !matches!(sums, Some(None)) =>
            {
                let micro = Microdata {
                    year,
                    departements,
                    services,
                    users,
                };
                let drivers = Drivers::new(&micro, sums.flatten());
                Ok(Dataset { micro, drivers })
            }
            // Every path that yields `None` has recorded a problem.
            _ => Err(self.problems.into_report()),
        }
    }
}

type DeptResult = (Option<Departements>, Option<i32>, Option<KeyIndex>);

fn departements(source: &Source, p: &mut Problems) -> DeptResult {
    let table = TableKind::Departements;
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    let Some(blocks) = blocks(source, table, p) else {
        return (None, None, None);
    };
    let mut d = Departements::default();
    let mut years: Vec<i32> = Vec::new();
    for b in &blocks {
        let codes = b.text("departement");
        for i in 0..b.len {
            if !codes.is_null(i) && !is_departement_code(codes.value(i)) {
                p.push(
                    ctx.problem(
                        Some(b.row1 + i as u64),
                        Some("departement"),
                        Some(codes.value(i).to_string()),
                        Rule::Code {
                            allowed:
                                "\"01\"…\"95\", \"2A\", \"2B\", \"971\"…\"976\", \"69D\", \"69M\""
                                    .into(),
                        },
                    ),
                );
            }
        }
        check_int(&ctx, b, "year", 2000, 2100, p);
        check_f64(&ctx, b, "tarif_reference", Bound::Positive, p);
        for c in ["pop_60_plus", "pop_75_plus", "apa_domicile", "pch"] {
            check_int(&ctx, b, c, 0, i64::MAX, p);
        }
        d.code.extend(text_values(b, "departement"));
        d.name.extend(text_values(b, "name"));
        years.extend(b.i32("year").iter().map(|v| v.unwrap_or(0)));
        d.tarif_reference.extend(f64_values(b, "tarif_reference"));
        for (dst, c) in [
            (&mut d.pop_60_plus, "pop_60_plus"),
            (&mut d.pop_75_plus, "pop_75_plus"),
            (&mut d.apa_domicile, "apa_domicile"),
            (&mut d.pch, "pch"),
        ] {
            dst.extend(b.i64(c).iter().map(|v| v.unwrap_or(0)));
        }
    }
    let year = years.first().copied();
    if let Some(first) = year {
        for (i, &y) in years.iter().enumerate() {
            if y != first {
                p.push(ctx.problem(
                    Some(i as u64 + 1),
                    Some("year"),
                    Some(y.to_string()),
                    Rule::SeveralYears { first },
                ));
            }
        }
    }
    let index = unique_index(&ctx, "departement", &d.code, p);
    (Some(d), year, Some(index))
}

fn services(
    source: &Source,
    dept_index: Option<&KeyIndex>,
    p: &mut Problems,
) -> (Option<Services>, Option<KeyIndex>) {
    let table = TableKind::Services;
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    let Some(blocks) = blocks(source, table, p) else {
        return (None, None);
    };
    let mut s = Services::default();
    let mut strata: Vec<Option<String>> = Vec::new();
    let mut fpc: Vec<Option<f64>> = Vec::new();
    for b in &blocks {
        check_f64(&ctx, b, "design_weight", Bound::Positive, p);
        if b.has("fpc") {
            check_f64(&ctx, b, "fpc", Bound::Positive, p);
        }
        design::collect(b, &mut strata, &mut fpc);
        for c in [
            "hours_apa",
            "hours_pch",
            "hours_social_aid",
            "hours_other",
            "dotation_complementaire",
            "cost_g1",
            "cost_g2",
            "cost_g3",
            "cost_total",
            "fte_carers",
            "fte_support",
        ] {
            check_f64(&ctx, b, c, Bound::NonNegative, p);
        }
        check_f64(&ctx, b, "tariff_hourly", Bound::Positive, p);
        check_f64(&ctx, b, "price_billed", Bound::Positive, p);
        let ids = text_values(b, "service_id");
        let depts = b.text("departement");
        for i in 0..b.len {
            let row = Some(b.row1 + i as u64);
            if depts.is_null(i) {
                s.departement.push(0);
                continue;
            }
            match dept_index.map(|m| m.get(depts.value(i))) {
                Some(Some(&d)) => s.departement.push(d),
                Some(None) => {
                    s.departement.push(0);
                    p.push(ctx.problem(
                        row,
                        Some("departement"),
                        Some(depts.value(i).to_string()),
                        Rule::UnknownReference {
                            table: TableKind::Departements,
                            column: "departement",
                        },
                    ));
                }
                None => s.departement.push(0),
            }
        }
        s.status.extend(parse_codes::<Status>(&ctx, b, "status", p));
        let has = bool_values(b, "habilitated");
        let tariff = opt_f64_values(b, "tariff_hourly");
        let price = opt_f64_values(b, "price_billed");
        let (g1, g2, g3, total) = (
            f64_values(b, "cost_g1"),
            f64_values(b, "cost_g2"),
            f64_values(b, "cost_g3"),
            f64_values(b, "cost_total"),
        );
        for i in 0..b.len {
            let row = Some(b.row1 + i as u64);
            if b.bool("habilitated").is_null(i) {
                continue;
            }
            let rule = if has[i] && tariff[i].is_none() {
                Some((
                    "tariff_hourly",
                    None,
                    "an HAS service (habilitated = true) must have its tariff_hourly",
                ))
            } else if has[i] && price[i].is_some() {
                Some((
                    "price_billed",
                    price[i],
                    "an HAS service (habilitated = true) bills no price of its own: price_billed must be null",
                ))
            } else if !has[i] && price[i].is_none() {
                Some((
                    "price_billed",
                    None,
                    "an NHAS service (habilitated = false) must have its price_billed",
                ))
            } else if !has[i] && tariff[i].is_some() {
                Some((
                    "tariff_hourly",
                    tariff[i],
                    "an NHAS service (habilitated = false) has no tariff: tariff_hourly must be null (the département's tarif_reference applies)",
                ))
            } else {
                None
            };
            if let Some((column, value, rule)) = rule {
                p.push(ctx.problem(
                    row,
                    Some(column),
                    value.map(|v| v.to_string()),
                    Rule::Conditional { rule: rule.into() },
                ));
            }
            let sum = g1[i] + g2[i] + g3[i];
            if (sum - total[i]).abs() > (1e-6 * total[i].abs()).max(1.0) {
                p.push(ctx.problem(
                    row,
                    Some("cost_total"),
                    Some(total[i].to_string()),
                    Rule::CostGroups { sum },
                ));
            }
        }
        s.id.extend(ids);
        s.habilitated.extend(has);
        s.mixed.extend(bool_values(b, "mixed"));
        s.design_weight.extend(f64_values(b, "design_weight"));
        s.hours_apa.extend(f64_values(b, "hours_apa"));
        s.hours_pch.extend(f64_values(b, "hours_pch"));
        s.hours_social_aid.extend(f64_values(b, "hours_social_aid"));
        s.hours_other.extend(f64_values(b, "hours_other"));
        s.tariff_hourly.extend(tariff);
        s.price_billed.extend(price);
        s.dotation_complementaire
            .extend(f64_values(b, "dotation_complementaire"));
        s.cost_g1.extend(g1);
        s.cost_g2.extend(g2);
        s.cost_g3.extend(g3);
        s.cost_total.extend(total);
        s.fte_carers.extend(f64_values(b, "fte_carers"));
        s.fte_support.extend(f64_values(b, "fte_support"));
    }
    s.design = design::survey_design(&ctx, &strata, &fpc, p);
    let index = unique_index(&ctx, "service_id", &s.id, p);
    (Some(s), Some(index))
}

fn users(
    source: &Source,
    service_index: Option<&KeyIndex>,
    year_mtp: Option<(i32, f64)>,
    p: &mut Problems,
) -> (Option<Users>, Option<KeyIndex>) {
    let table = TableKind::Users;
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    let Some(blocks) = blocks(source, table, p) else {
        return (None, None);
    };
    let mut u = Users::default();
    for b in &blocks {
        check_int(&ctx, b, "gir", 1, 6, p);
        check_int(&ctx, b, "entourage", 0, 3, p);
        check_f64(&ctx, b, "plan_hours_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "plan_amount_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "pch_hours_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "resources_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "months_served", Bound::Between(0.0, 12.0), p);
        let services = b.text("service_id");
        for i in 0..b.len {
            let sid = if services.is_null(i) {
                None
            } else {
                service_index.map(|m| (m.get(services.value(i)), services.value(i)))
            };
            match sid {
                Some((Some(&s), _)) => u.service.push(s),
                Some((None, v)) => {
                    u.service.push(0);
                    p.push(ctx.problem(
                        Some(b.row1 + i as u64),
                        Some("service_id"),
                        Some(v.to_string()),
                        Rule::UnknownReference {
                            table: TableKind::Services,
                            column: "service_id",
                        },
                    ));
                }
                None => u.service.push(0),
            }
        }
        let allowance = parse_codes::<Allowance>(&ctx, b, "allowance", p);
        let gir = b.i32("gir");
        let plan = f64_values(b, "plan_amount_month");
        let pch = opt_f64_values(b, "pch_hours_month");
        for i in 0..b.len {
            let row = Some(b.row1 + i as u64);
            let g = gir.is_valid(i).then(|| gir.value(i));
            if b.text("allowance").is_null(i) {
                continue;
            }
            match allowance[i] {
                Allowance::Apa => match g {
                    Some(g @ 1..=4) => {
                        if let Some((year, mtp)) = year_mtp
                            && let Some(ceiling) = legal::apa_ceiling(g, mtp)
                            && plan[i] > ceiling + 0.005
                        {
                            p.push(ctx.problem(
                                row,
                                Some("plan_amount_month"),
                                Some(plan[i].to_string()),
                                Rule::PlanAboveCeiling {
                                    ceiling,
                                    gir: g,
                                    year,
                                },
                            ));
                        }
                    }
                    other => p.push(ctx.problem(
                        row,
                        Some("gir"),
                        Some(other.map_or("null".into(), |g| g.to_string())),
                        Rule::Conditional {
                            rule: "an APA user must have a GIR between 1 and 4".into(),
                        },
                    )),
                },
                Allowance::Pch if pch[i].is_none() => p.push(ctx.problem(
                    row,
                    Some("pch_hours_month"),
                    None,
                    Rule::Conditional {
                        rule: "a PCH user must have pch_hours_month".into(),
                    },
                )),
                _ => {}
            }
        }
        u.id.extend(text_values(b, "user_id"));
        u.allowance.extend(allowance);
        u.gir.extend(
            gir.iter()
                .map(|g| g.filter(|g| (1..=6).contains(g)).unwrap_or(0) as u8),
        );
        u.plan_hours_month.extend(f64_values(b, "plan_hours_month"));
        u.plan_amount_month.extend(plan);
        u.pch_hours_month.extend(pch);
        u.resources_month.extend(f64_values(b, "resources_month"));
        u.couple.extend(bool_values(b, "couple"));
        u.entourage.extend(
            b.i32("entourage")
                .iter()
                .map(|e| e.unwrap_or(0).clamp(0, 3) as u8),
        );
        u.zone.extend(parse_codes::<Zone>(&ctx, b, "zone", p));
        u.months_served.extend(f64_values(b, "months_served"));
    }
    let index = unique_index(&ctx, "user_id", &u.id, p);
    (Some(u), Some(index))
}
