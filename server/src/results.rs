//! Result tables as Arrow record batches, the same for the CLI (written as Parquet) and for
//! Flight (streamed): the baseline's `services`, `departements` and `users`, and the cost
//! drivers (`drivers`, `user_cells`). Column names follow the data contract (DATA.md).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::datatypes::{Field, Schema};
use dotation_core::aggregate::{D, Drivers, PCH_BANDS, VISIT_DRIVERS};
use dotation_core::baseline::Baseline;
use dotation_core::tables::{Code, Microdata};

use crate::error::ServerError;

/// Builds a batch from named columns (all nullable flags taken from the arrays).
pub fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, ServerError> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), a.null_count() > 0))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn f64s(v: impl IntoIterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(v))
}

fn strs<'a>(v: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

/// `services` of `dotation baseline`.
pub fn baseline_services(m: &Microdata, b: &Baseline) -> Result<RecordBatch, ServerError> {
    let s = &m.services;
    let dept = |i: usize| m.departements.code[s.departement[i] as usize].as_str();
    batch(vec![
        ("service_id", strs(s.id.iter().map(String::as_str))),
        ("departement", strs((0..s.len()).map(dept))),
        (
            "habilitated",
            Arc::new(BooleanArray::from(s.habilitated.clone())),
        ),
        ("weight", f64s(s.design_weight.iter().copied())),
        (
            "hours_funded",
            f64s(b.services.hours_funded.iter().copied()),
        ),
        ("rate", f64s(b.services.rate.iter().copied())),
        ("baseline_funding", f64s(b.services.funding.iter().copied())),
        (
            "user_participation",
            f64s(b.services.user_participation.iter().copied()),
        ),
        ("public_cost", f64s(b.services.public_cost.iter().copied())),
        ("cost_total", f64s(s.cost_total.iter().copied())),
    ])
}

/// `departements` of `dotation baseline`: weighted totals.
pub fn baseline_departements(m: &Microdata, b: &Baseline) -> Result<RecordBatch, ServerError> {
    let t = &b.departements;
    batch(vec![
        (
            "departement",
            strs(m.departements.code.iter().map(String::as_str)),
        ),
        ("name", strs(m.departements.name.iter().map(String::as_str))),
        ("services", f64s(t.iter().map(|x| x.services))),
        ("hours_funded", f64s(t.iter().map(|x| x.hours_funded))),
        ("baseline_funding", f64s(t.iter().map(|x| x.funding))),
        (
            "user_participation",
            f64s(t.iter().map(|x| x.user_participation)),
        ),
        ("public_cost", f64s(t.iter().map(|x| x.public_cost))),
        ("cost_total", f64s(t.iter().map(|x| x.cost_total))),
    ])
}

/// `users` of `dotation baseline`.
pub fn baseline_users(m: &Microdata, b: &Baseline) -> Result<RecordBatch, ServerError> {
    let u = &m.users;
    batch(vec![
        ("user_id", strs(u.id.iter().map(String::as_str))),
        (
            "service_id",
            strs(
                u.service
                    .iter()
                    .map(|&s| m.services.id[s as usize].as_str()),
            ),
        ),
        ("allowance", strs(u.allowance.iter().map(|a| a.code()))),
        (
            "gir",
            Arc::new(Int32Array::from_iter(
                u.gir.iter().map(|&g| (g > 0).then_some(i32::from(g))),
            )),
        ),
        (
            "participation_month",
            f64s(b.users.participation_month.iter().copied()),
        ),
        (
            "oop_per_hour",
            Arc::new(Float64Array::from(b.users.oop_per_hour.clone())),
        ),
    ])
}

/// `drivers`: the visit drivers of every service, and their ratios.
pub fn service_drivers(m: &Microdata, d: &Drivers) -> Result<RecordBatch, ServerError> {
    let n = m.services.len();
    let mut cols: Vec<(&str, ArrayRef)> =
        vec![("service_id", strs(m.services.id.iter().map(String::as_str)))];
    for (j, name) in VISIT_DRIVERS.iter().enumerate() {
        cols.push((name, f64s((0..n).map(|s| d.service_visits[s * D + j]))));
    }
    cols.push((
        "users_with_visits",
        Arc::new(UInt32Array::from(d.users_with_visits.clone())),
    ));
    let ratios: Vec<_> = (0..n).map(|s| d.ratios(s)).collect();
    cols.push((
        "travel_min_per_hour",
        f64s(ratios.iter().map(|r| r.travel_min_per_hour)),
    ));
    cols.push(("km_per_hour", f64s(ratios.iter().map(|r| r.km_per_hour))));
    cols.push((
        "visits_per_user_week",
        f64s(ratios.iter().map(|r| r.visits_per_user_week)),
    ));
    cols.push((
        "double_staffed_share",
        f64s(ratios.iter().map(|r| r.double_staffed_share)),
    ));
    batch(cols)
}

/// `user_cells`: user-months per service and crossing of user attributes.
pub fn user_cells(m: &Microdata, d: &Drivers) -> Result<RecordBatch, ServerError> {
    let c = &d.user_cells;
    batch(vec![
        (
            "service_id",
            strs(c.iter().map(|x| m.services.id[x.service as usize].as_str())),
        ),
        ("allowance", strs(c.iter().map(|x| x.allowance.code()))),
        (
            "gir",
            Arc::new(Int32Array::from_iter(
                c.iter().map(|x| (x.gir > 0).then_some(i32::from(x.gir))),
            )),
        ),
        (
            "entourage",
            Arc::new(Int32Array::from_iter_values(
                c.iter().map(|x| i32::from(x.entourage)),
            )),
        ),
        ("zone", strs(c.iter().map(|x| x.zone.code()))),
        (
            "pch_band",
            strs(c.iter().map(|x| PCH_BANDS[x.pch_band as usize])),
        ),
        (
            "users",
            Arc::new(UInt32Array::from_iter_values(c.iter().map(|x| x.users))),
        ),
        ("user_months", f64s(c.iter().map(|x| x.user_months))),
    ])
}
