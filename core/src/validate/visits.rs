//! The `visits` table, streamed: each record batch is checked against the contract and the
//! validated frame (services and users), its keys resolved to indices, and folded into
//! the visit drivers ([`VisitAggregator`]) — nothing of the size of the visits is kept.
//!
//! A batch goes through two steps so that a reader can decode and check several batches
//! at once while the fold stays in row order: [`VisitCheck::prepare`] (read-only, any
//! number in parallel: casts, rules, key resolution, in blocks of [`BLOCK_ROWS`] on the
//! rayon pool) and [`VisitCheck::absorb`] (in row order: problems merged under the
//! per-rule caps, visits handed to the aggregator). Rows are numbered over the whole
//! table, whatever the batches.
//!
//! String keys are resolved once per distinct value when the column is dictionary-encoded
//! (as Parquet files store them, read with a dictionary type): a batch of a million visits
//! of a few thousand users costs a few thousand hash lookups, then one gather.

use std::cell::RefCell;

use arrow::array::ArrayData;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, TimestampMicrosecondType};
use rayon::prelude::*;

use super::columns::{Bound, cast_column, check_range, column_problem, display_value};
use super::keys::KeyIndex;
use super::problems::{Ctx, Problem, Problems, Rule};
use super::{BLOCK_ROWS, Frame};
use crate::aggregate::{VisitAggregator, VisitSums};
use crate::schema::TableKind;
use crate::simd;
use crate::tables::{Code, Qualification, Slot, Visits};

/// A resolved key or code that is null.
const NULL: u32 = u32::MAX;
/// A resolved key or code that is unknown.
const UNKNOWN: u32 = u32::MAX - 1;

/// One batch of visits, checked and resolved, waiting to be absorbed in row order.
#[derive(Debug)]
pub struct PreparedVisits {
    row1: u64,
    rows: usize,
    /// Problems of whole columns (missing, unusable type): reported once per table.
    column_problems: Vec<Problem>,
    problems: Problems,
    /// The batch's blocks, resolved; `None` when a column is missing or unusable.
    visits: Option<Vec<Visits>>,
}

impl PreparedVisits {
    /// Rows of the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// The visits problems and drivers, once every batch is absorbed.
#[derive(Debug)]
pub struct CheckedVisits {
    pub(super) problems: Problems,
    pub(super) sums: Option<VisitSums>,
    /// Rows seen.
    pub rows: u64,
}

/// The streamed check of a visits table against a validated frame.
#[derive(Debug)]
pub struct VisitCheck<'a> {
    frame: &'a Frame,
    file: String,
    next_row: u64,
    problems: Problems,
    reported_columns: Vec<String>,
    /// Present while the frame and every batch so far are valid.
    aggregator: Option<VisitAggregator>,
}

impl<'a> VisitCheck<'a> {
    pub(super) fn new(frame: &'a Frame, file: String, sums: bool) -> VisitCheck<'a> {
        let aggregator = (sums && frame.is_valid())
            .then(|| VisitAggregator::new(frame.services_len(), frame.users_len()));
        VisitCheck {
            frame,
            file,
            problems: Problems::new(frame.cap),
            next_row: 1,
            reported_columns: Vec::new(),
            aggregator,
        }
    }

    /// The row number the next batch starts at (rows count from 1).
    pub fn next_row(&self) -> u64 {
        self.next_row
    }

    /// Whether problems were found so far (in the visits or the frame).
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty() || !self.frame.is_valid()
    }

    /// Checks and resolves a batch whose first row is row `row1` of the table. Read-only:
    /// batches may be prepared in parallel, then absorbed in row order.
    pub fn prepare(&self, batch: &RecordBatch, row1: u64) -> PreparedVisits {
        let ctx = Ctx {
            file: &self.file,
            table: TableKind::Visits,
        };
        let rows = batch.num_rows();
        let schema = batch.schema();
        let column_problems: Vec<Problem> = TableKind::Visits
            .columns()
            .iter()
            .filter_map(|c| column_problem(&ctx, &schema, c))
            .collect();
        let cap = self.frame.cap;
        if !column_problems.is_empty() {
            return PreparedVisits {
                row1,
                rows,
                column_problems,
                problems: Problems::new(cap),
                visits: None,
            };
        }
        let starts: Vec<usize> = (0..rows).step_by(BLOCK_ROWS).collect();
        let parts: Vec<(Option<Visits>, Problems)> = starts
            .par_iter()
            .map(|&off| {
                let len = BLOCK_ROWS.min(rows - off);
                let mut p = Problems::new(cap);
                let v = check_block(
                    &ctx,
                    self.frame,
                    &batch.slice(off, len),
                    row1 + off as u64,
                    &mut p,
                );
                (v, p)
            })
            .collect();
        let mut problems = Problems::new(cap);
        let mut visits = Some(Vec::with_capacity(parts.len()));
        for (v, p) in parts {
            problems.merge(p);
            match (v, visits.as_mut()) {
                (Some(v), Some(all)) => all.push(v),
                _ => visits = None,
            }
        }
        PreparedVisits {
            row1,
            rows,
            column_problems,
            problems,
            visits,
        }
    }

    /// Takes a prepared batch: batches must come in row order, each starting where the
    /// previous one ended.
    pub fn absorb(&mut self, prepared: PreparedVisits) {
        assert_eq!(
            prepared.row1, self.next_row,
            "visits batches are absorbed in row order"
        );
        self.next_row += prepared.rows as u64;
        for p in prepared.column_problems {
            let column = p.column.clone().unwrap_or_default();
            if !self.reported_columns.contains(&column) {
                self.reported_columns.push(column);
                self.problems.push(p);
            }
        }
        self.problems.merge(prepared.problems);
        match prepared.visits {
            Some(blocks) if self.problems.is_empty() => {
                if let Some(agg) = self.aggregator.as_mut() {
                    for v in blocks {
                        agg.push(v);
                    }
                }
            }
            _ => self.aggregator = None,
        }
    }

    /// Checks and folds the next batch (prepare and absorb in one).
    pub fn push(&mut self, batch: &RecordBatch) {
        let prepared = self.prepare(batch, self.next_row);
        self.absorb(prepared);
    }

    /// The problems and, when everything was valid, the visit drivers.
    pub fn finish(self) -> CheckedVisits {
        CheckedVisits {
            sums: self.aggregator.map(VisitAggregator::finish),
            problems: self.problems,
            rows: self.next_row - 1,
        }
    }
}

/// Which key column a resolution is for (the cache keeps one dictionary per column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyColumn {
    User,
    Service,
    Slot,
    Qualification,
}

/// The last dictionary resolved for one column on this thread, and its resolution.
struct Resolved {
    /// The frame whose keys the codes index ([`Frame::id`]).
    frame: u64,
    column: KeyColumn,
    /// The dictionary's values, held so that its buffers (compared by address) cannot be
    /// freed and reused while the entry lives.
    values: ArrayData,
    codes: Vec<u32>,
}

thread_local! {
    /// A Parquet row group's batches share one dictionary per column: resolving it once
    /// per row group rather than per batch saves most of the hash lookups. One entry per
    /// column, per thread; a hit needs the very same buffers.
    static RESOLVED: RefCell<Vec<Resolved>> = const { RefCell::new(Vec::new()) };
}

/// The codes of a dictionary's values: `lookup` of each, [`NULL`] for nulls.
fn resolve_values(values: &ArrayRef, lookup: &dyn Fn(&str) -> u32) -> Vec<u32> {
    let utf8 = if values.data_type() == &DataType::Utf8 {
        Some(values.clone())
    } else {
        cast(values, &DataType::Utf8).ok()
    };
    match utf8 {
        Some(v) => {
            let v = v.as_string::<i32>();
            // A user's visits come in runs (a télégestion export is by user, or by
            // service): a value equal to the previous row's is not looked up again.
            let mut out = Vec::with_capacity(v.len());
            let mut previous: Option<(&str, u32)> = None;
            for i in 0..v.len() {
                if v.is_null(i) {
                    out.push(NULL);
                    continue;
                }
                let value = v.value(i);
                let code = match previous {
                    Some((p, code)) if p == value => code,
                    _ => {
                        let code = lookup(value);
                        previous = Some((value, code));
                        code
                    }
                };
                out.push(code);
            }
            out
        }
        None => vec![UNKNOWN; values.len()],
    }
}

/// The codes of a dictionary's values, from this thread's cache when the same dictionary
/// was resolved last for this column.
fn dictionary_codes(
    frame: u64,
    column: KeyColumn,
    values: &ArrayRef,
    lookup: &dyn Fn(&str) -> u32,
) -> Vec<u32> {
    let data = values.to_data();
    RESOLVED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache
            .iter()
            .find(|r| r.frame == frame && r.column == column && r.values.ptr_eq(&data))
        {
            return hit.codes.clone();
        }
        let codes = resolve_values(values, lookup);
        cache.retain(|r| r.column != column);
        cache.push(Resolved {
            frame,
            column,
            values: data,
            codes: codes.clone(),
        });
        codes
    })
}

/// Resolves a text column to `u32` codes: `lookup` of each value, [`NULL`] for nulls.
/// A dictionary-encoded column is resolved once per dictionary value (and once per
/// dictionary on a thread, see [`RESOLVED`]), then its keys are gathered.
fn resolve_text(
    frame: u64,
    column: KeyColumn,
    array: &ArrayRef,
    lookup: &dyn Fn(&str) -> u32,
) -> Vec<u32> {
    let mut out = Vec::new();
    if let Some(dict) = array.as_any_dictionary_opt() {
        let table = dictionary_codes(frame, column, dict.values(), lookup);
        if table.is_empty() {
            out = vec![NULL; array.len()];
        } else if let Some(d) = array.as_dictionary_opt::<Int32Type>()
            && d.keys().null_count() == 0
            && d.keys()
                .values()
                .iter()
                .all(|&k| k >= 0 && (k as usize) < table.len())
        {
            let keys = d.keys().values();
            // Non-negative i32 keys within the table are valid u32 indices.
            let keys: Vec<u32> = keys.iter().map(|&k| k as u32).collect();
            simd::gather_below(&table, &keys, UNKNOWN, &mut out);
        } else {
            // Other key types, or null slots (which may hold any key): clamped, then the
            // nulls are overwritten below.
            let last = table.len() as u32 - 1;
            let keys: Vec<u32> = dict
                .normalized_keys()
                .into_iter()
                .map(|k| (k as u32).min(last))
                .collect();
            simd::gather_below(&table, &keys, UNKNOWN, &mut out);
        }
    } else {
        out = resolve_values(array, lookup);
    }
    if let Some(nulls) = array.logical_nulls() {
        for (o, valid) in out.iter_mut().zip(nulls.iter()) {
            if !valid {
                *o = NULL;
            }
        }
    }
    out
}

fn key_lookup(index: Option<&KeyIndex>) -> impl Fn(&str) -> u32 + '_ {
    move |s| match index {
        Some(m) => m.get(s).copied().unwrap_or(UNKNOWN),
        // Without the referenced table, references cannot be checked: any value passes.
        None => 0,
    }
}

fn code_lookup<T: Code>(s: &str) -> u32 {
    T::parse(s).map_or(UNKNOWN, |c| c.ordinal() as u32)
}

/// Reports the nulls and unknown values of a resolved column.
fn report_resolved(
    ctx: &Ctx<'_>,
    row1: u64,
    name: &str,
    raw: &ArrayRef,
    resolved: &[u32],
    unknown: impl Fn() -> Rule,
    p: &mut Problems,
) {
    if resolved.iter().all(|&r| r < UNKNOWN) {
        return;
    }
    for (i, &r) in resolved.iter().enumerate() {
        let row = Some(row1 + i as u64);
        if r == NULL {
            p.push(ctx.problem(row, Some(name), None, Rule::Null));
        } else if r == UNKNOWN {
            p.push(ctx.problem(
                row,
                Some(name),
                Some(display_value(raw.as_ref(), i)),
                unknown(),
            ));
        }
    }
}

/// Checks one block of visits and resolves it; `None` when a column is unusable.
fn check_block(
    ctx: &Ctx<'_>,
    frame: &Frame,
    batch: &RecordBatch,
    row1: u64,
    p: &mut Problems,
) -> Option<Visits> {
    let column = |name: &str| batch.column_by_name(name).expect("checked by prepare");
    let contract = |name: &str| TableKind::Visits.column(name).expect("a visits column");
    let numeric =
        |name: &str, p: &mut Problems| cast_column(ctx, row1, contract(name), column(name), p);
    let start = numeric("start", p)?;
    let duration = numeric("duration_min", p)?;
    let travel_min = numeric("travel_min", p)?;
    let travel_km = numeric("travel_km", p)?;
    let carers = numeric("carers", p)?;

    let duration = duration.as_primitive::<Float64Type>();
    let (travel_min, travel_km) = (
        travel_min.as_primitive::<Float64Type>(),
        travel_km.as_primitive::<Float64Type>(),
    );
    check_range(
        ctx,
        row1,
        "duration_min",
        duration,
        Bound::Between(0.0, 1440.0),
        p,
    );
    if duration.null_count() > 0
        || !simd::all_in_range(duration.values(), f64::from_bits(1), 1440.0)
    {
        for (i, v) in duration.iter().enumerate() {
            if v == Some(0.0) {
                p.push(ctx.problem(
                    Some(row1 + i as u64),
                    Some("duration_min"),
                    Some("0".into()),
                    Rule::Range {
                        allowed: "> 0 and ≤ 1440".into(),
                    },
                ));
            }
        }
    }
    check_range(ctx, row1, "travel_min", travel_min, Bound::NonNegative, p);
    check_range(ctx, row1, "travel_km", travel_km, Bound::NonNegative, p);
    let carers = carers.as_primitive::<Int32Type>();
    if carers.null_count() > 0 || !carers.values().iter().all(|&c| (1..=2).contains(&c)) {
        for (i, c) in carers.iter().enumerate() {
            if let Some(c) = c
                && !(1..=2).contains(&c)
            {
                p.push(ctx.problem(
                    Some(row1 + i as u64),
                    Some("carers"),
                    Some(c.to_string()),
                    Rule::Range {
                        allowed: "between 1 and 2".into(),
                    },
                ));
            }
        }
    }

    let slot = resolve_text(
        frame.id,
        KeyColumn::Slot,
        column("slot"),
        &code_lookup::<Slot>,
    );
    report_resolved(
        ctx,
        row1,
        "slot",
        column("slot"),
        &slot,
        || Rule::Code {
            allowed: Slot::CODES.join(", "),
        },
        p,
    );
    let qualification = resolve_text(
        frame.id,
        KeyColumn::Qualification,
        column("qualification"),
        &code_lookup::<Qualification>,
    );
    report_resolved(
        ctx,
        row1,
        "qualification",
        column("qualification"),
        &qualification,
        || Rule::Code {
            allowed: Qualification::CODES.join(", "),
        },
        p,
    );
    let user = resolve_text(
        frame.id,
        KeyColumn::User,
        column("user_id"),
        &key_lookup(frame.user_index.as_ref()),
    );
    report_resolved(
        ctx,
        row1,
        "user_id",
        column("user_id"),
        &user,
        || Rule::UnknownReference {
            table: TableKind::Users,
            column: "user_id",
        },
        p,
    );
    let service = resolve_text(
        frame.id,
        KeyColumn::Service,
        column("service_id"),
        &key_lookup(frame.service_index.as_ref()),
    );
    report_resolved(
        ctx,
        row1,
        "service_id",
        column("service_id"),
        &service,
        || Rule::UnknownReference {
            table: TableKind::Services,
            column: "service_id",
        },
        p,
    );

    // The visit's user must belong to the visit's service.
    if let (Some(users), Some(services)) = (frame.users.as_ref(), frame.services.as_ref()) {
        let resolved = |r: u32| r < UNKNOWN;
        let clean = user.iter().all(|&u| resolved(u)) && service.iter().all(|&s| resolved(s));
        if !(clean && simd::all_owned(&users.service, &user, &service)) {
            let ids = column("service_id");
            for i in 0..user.len() {
                let (u, s) = (user[i], service[i]);
                if resolved(u) && resolved(s) && users.service[u as usize] != s {
                    p.push(ctx.problem(
                        Some(row1 + i as u64),
                        Some("service_id"),
                        Some(display_value(ids.as_ref(), i)),
                        Rule::UserOfOtherService {
                            user_service: services.id[users.service[u as usize] as usize].clone(),
                        },
                    ));
                }
            }
        }
    }

    let start = start.as_primitive::<TimestampMicrosecondType>();
    // Rows with problems get placeholders: they are never aggregated.
    let code = |c: u32| if c < UNKNOWN { c as usize } else { 0 };
    Some(Visits {
        user: user.iter().map(|&u| code(u) as u32).collect(),
        service: service.iter().map(|&s| code(s) as u32).collect(),
        start: start.values().to_vec(),
        duration_min: duration.values().to_vec(),
        travel_min: travel_min.values().to_vec(),
        travel_km: travel_km.values().to_vec(),
        slot: slot.iter().map(|&c| Slot::ALL[code(c)]).collect(),
        carers: carers
            .values()
            .iter()
            .map(|&c| c.clamp(1, 2) as u8)
            .collect(),
        qualification: qualification
            .iter()
            .map(|&c| Qualification::ALL[code(c)])
            .collect(),
    })
}
