//! The shared machinery of every table's check — the dataset's, the margins and the rules'
//! tables alike: a table split into blocks of rows whose contract columns are present, of
//! a usable type and cast to the contract's ([`blocks`], [`cast_column`]: unreadable
//! values, missing required values and non-finite numbers reported on the way), then the
//! checks the tables' modules apply to columns — ranges, codes — and the typed values they
//! take out of a block.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, RecordBatch, UInt32Array};
use arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit, UInt32Type};
use arrow::util::display::FormatOptions;
use jiff::civil::Date;
use rayon::prelude::*;

use super::problems::{Ctx, Problem, Problems, Rule};
use super::{BLOCK_ROWS, Source};
use crate::schema::{Column, ColumnType, TableKind, date_of_days, days_of_date};
use crate::simd;
use crate::tables::Code;

/// A block of rows of one table, its contract columns cast to their canonical types.
pub(super) struct Block {
    /// Row number (from 1) of the block's first row.
    pub(super) row1: u64,
    pub(super) len: usize,
    pub(super) columns: HashMap<&'static str, ArrayRef>,
}

impl Block {
    pub(super) fn f64(&self, name: &str) -> &arrow::array::PrimitiveArray<Float64Type> {
        self.columns[name].as_primitive::<Float64Type>()
    }
    pub(super) fn i32(&self, name: &str) -> &arrow::array::PrimitiveArray<Int32Type> {
        self.columns[name].as_primitive::<Int32Type>()
    }
    pub(super) fn i64(&self, name: &str) -> &arrow::array::PrimitiveArray<Int64Type> {
        self.columns[name].as_primitive::<Int64Type>()
    }
    pub(super) fn text(&self, name: &str) -> &arrow::array::StringArray {
        self.columns[name].as_string::<i32>()
    }
    pub(super) fn bool(&self, name: &str) -> &arrow::array::BooleanArray {
        self.columns[name].as_boolean()
    }
    pub(super) fn count(&self, name: &str) -> &arrow::array::PrimitiveArray<UInt32Type> {
        self.columns[name].as_primitive::<UInt32Type>()
    }
    pub(super) fn date(&self, name: &str) -> &Date32Array {
        self.columns[name].as_primitive()
    }
    /// Whether the block has the (optional) column.
    pub(super) fn has(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }
}

/// Whether a file's column type converts to the contract type without loss of meaning.
pub(super) fn accepts(ty: ColumnType, found: &DataType) -> bool {
    let target = ty.data_type();
    let found_base = match found {
        DataType::Dictionary(_, v) => v.as_ref(),
        other => other,
    };
    let numeric_int = found_base.is_integer();
    let text = is_text(found_base);
    let family = match ty {
        ColumnType::Int32 | ColumnType::Int64 => numeric_int || text,
        ColumnType::Float64 | ColumnType::Count => found_base.is_numeric() || text,
        ColumnType::Bool => matches!(found_base, DataType::Boolean) || text,
        ColumnType::Text => text || numeric_int,
        ColumnType::Timestamp => {
            matches!(
                found_base,
                DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
            ) || text
        }
        ColumnType::Date => {
            matches!(
                found_base,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
            ) || text
        }
    };
    family && can_cast_types(found, &target)
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

pub(super) fn type_name(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "text",
        ColumnType::Int32 => "a 32-bit integer",
        ColumnType::Int64 => "a 64-bit integer",
        ColumnType::Float64 => "a number",
        ColumnType::Bool => "a boolean (true/false)",
        ColumnType::Timestamp => "a timestamp (YYYY-MM-DDTHH:MM:SS)",
        ColumnType::Date => "a date (YYYY-MM-DD)",
        ColumnType::Count => "a whole number ≥ 0",
    }
}

pub(super) fn display_value(array: &dyn Array, i: usize) -> String {
    let opts = FormatOptions::default().with_null("null");
    arrow::util::display::ArrayFormatter::try_new(array, &opts)
        .map(|f| f.value(i).to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// The problem of a contract column absent from a batch's schema, or of a type that does
/// not convert to the contract's; `None` when the column is usable.
pub(super) fn column_problem(
    ctx: &Ctx<'_>,
    schema: &arrow::datatypes::Schema,
    c: &Column,
) -> Option<Problem> {
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
pub(super) fn blocks(
    source: &Source,
    table: TableKind,
    problems: &mut Problems,
) -> Option<Vec<Block>> {
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

pub(super) fn cast_block(
    ctx: &Ctx<'_>,
    row1: u64,
    batch: &RecordBatch,
    p: &mut Problems,
) -> Option<Block> {
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
pub(super) fn cast_column(
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
    let base = match raw.data_type() {
        DataType::Dictionary(_, v) => v.as_ref(),
        other => other,
    };
    let cast = if raw.data_type() == &target {
        Arc::clone(raw)
    } else {
        let from = match (c.ty, raw.data_type()) {
            (ColumnType::Timestamp, DataType::Timestamp(_, Some(_))) => {
                // Zoned timestamps are read as the UTC instant they denote.
                cast_with_options(
                    raw,
                    &DataType::Timestamp(TimeUnit::Microsecond, None),
                    &options,
                )
            }
            (ColumnType::Date, _) if is_text(base) => text_dates(raw, &options),
            (ColumnType::Count, _) if !base.is_integer() => whole_counts(raw, &options),
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
    let cast = if c.ty == ColumnType::Date {
        within_calendar(cast)
    } else {
        cast
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

/// Dates written `YYYY-MM-DD` as Date32, an unreadable text or a day that does not exist
/// null (Arrow's own cast also takes other layouts, which the contract does not).
fn text_dates(
    raw: &ArrayRef,
    options: &CastOptions<'_>,
) -> Result<ArrayRef, arrow::error::ArrowError> {
    let text = cast_with_options(raw, &DataType::Utf8, options)?;
    let days: Date32Array = text
        .as_string::<i32>()
        .iter()
        .map(|v| v.and_then(parse_date).map(days_of_date))
        .collect();
    Ok(Arc::new(days))
}

/// Date32 days outside the calendar's years (±9999) as nulls: a value that cannot be a
/// date.
fn within_calendar(days: ArrayRef) -> ArrayRef {
    let a: &Date32Array = days.as_primitive();
    if a.iter().flatten().all(|d| date_of_days(d).is_some()) {
        return days;
    }
    let kept: Date32Array = a
        .iter()
        .map(|d| d.filter(|&d| date_of_days(d).is_some()))
        .collect();
    Arc::new(kept)
}

/// Parses `YYYY-MM-DD`, a day that exists (the calendar is jiff's).
fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let layout = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !layout {
        return None;
    }
    Date::new(
        s[..4].parse().ok()?,
        s[5..7].parse().ok()?,
        s[8..].parse().ok()?,
    )
    .ok()
}

/// Counts from a float or text column: a value with a fractional part, negative or beyond
/// 32 bits is null (Arrow's cast would truncate `2.5` to 2).
fn whole_counts(
    raw: &ArrayRef,
    options: &CastOptions<'_>,
) -> Result<ArrayRef, arrow::error::ArrowError> {
    let numbers = cast_with_options(raw, &DataType::Float64, options)?;
    let counts: UInt32Array = numbers
        .as_primitive::<Float64Type>()
        .iter()
        .map(|v| {
            v.filter(|x| x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(x))
                .map(|x| x as u32)
        })
        .collect();
    Ok(Arc::new(counts))
}

/// A numeric range rule.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bound {
    NonNegative,
    Positive,
    Between(f64, f64),
}

impl Bound {
    /// The rule a number breaks: not finite, or out of the bound; `None` when it holds
    /// (for the rows a rule is given in memory, checked one by one).
    pub(crate) fn broken_by(self, v: f64) -> Option<Rule> {
        if !v.is_finite() {
            Some(Rule::NotFinite)
        } else if !self.holds(v) {
            Some(Rule::Range {
                allowed: self.words(),
            })
        } else {
            None
        }
    }
    pub(super) fn holds(self, v: f64) -> bool {
        match self {
            Bound::NonNegative => v >= 0.0,
            Bound::Positive => v > 0.0,
            Bound::Between(lo, hi) => v >= lo && v <= hi,
        }
    }
    /// The closed interval of finite values that satisfy the bound (`> 0` is `≥` the
    /// smallest positive double).
    pub(super) fn interval(self) -> (f64, f64) {
        match self {
            Bound::NonNegative => (0.0, f64::MAX),
            Bound::Positive => (f64::from_bits(1), f64::MAX),
            Bound::Between(lo, hi) => (lo, hi),
        }
    }
    pub(super) fn words(self) -> String {
        match self {
            Bound::NonNegative => "≥ 0".into(),
            Bound::Positive => "> 0".into(),
            Bound::Between(lo, hi) => format!("between {lo} and {hi}"),
        }
    }
}

/// Checks a range on a float column; nulls and non-finite values are reported elsewhere.
pub(super) fn check_f64(ctx: &Ctx<'_>, b: &Block, name: &str, bound: Bound, p: &mut Problems) {
    check_range(ctx, b.row1, name, b.f64(name), bound, p);
}

/// Checks a range on a float array whose first row is `row1`; nulls and non-finite
/// values are reported elsewhere. The common case — every value in range — is one
/// vectorised pass.
pub(super) fn check_range(
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
pub(super) fn check_int(ctx: &Ctx<'_>, b: &Block, name: &str, lo: i64, hi: i64, p: &mut Problems) {
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
pub(super) fn parse_codes<T: Code>(
    ctx: &Ctx<'_>,
    b: &Block,
    name: &str,
    p: &mut Problems,
) -> Vec<T> {
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

pub(super) fn f64_values(b: &Block, name: &str) -> Vec<f64> {
    let a = b.f64(name);
    if a.null_count() == 0 {
        a.values().to_vec()
    } else {
        a.iter().map(|v| v.unwrap_or(0.0)).collect()
    }
}

pub(super) fn opt_f64_values(b: &Block, name: &str) -> Vec<Option<f64>> {
    b.f64(name).iter().collect()
}

pub(super) fn bool_values(b: &Block, name: &str) -> Vec<bool> {
    b.bool(name).iter().map(|v| v.unwrap_or(false)).collect()
}

/// The values of a column a file may leave out (`None` where absent or null).
pub(super) fn opt_f64_values_or_absent(b: &Block, name: &str) -> Vec<Option<f64>> {
    if b.has(name) {
        opt_f64_values(b, name)
    } else {
        vec![None; b.len]
    }
}

pub(super) fn count_values(b: &Block, name: &str) -> Vec<u32> {
    b.count(name).iter().map(|v| v.unwrap_or(0)).collect()
}

/// The dates of a column (`None` where null or, for a column a file may leave out,
/// absent).
pub(super) fn date_values(b: &Block, name: &str) -> Vec<Option<Date>> {
    if !b.has(name) {
        return vec![None; b.len];
    }
    b.date(name)
        .iter()
        .map(|v| v.and_then(date_of_days))
        .collect()
}

pub(super) fn text_values(b: &Block, name: &str) -> Vec<String> {
    b.text(name)
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}
