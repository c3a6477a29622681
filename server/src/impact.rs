//! Impact tables of a calibration: who gains and who loses, and what users pay.
//!
//! - `impact`: services grouped by decile of size (weighted deciles of funded hours), by
//!   status, regime (HAS/NHAS), zone (the zone of most of the service's user-months) and
//!   département — weighted totals of baseline, funding and cost, the change, the
//!   weighted shares of winners and losers beyond ±5 %, the range of changes, and coverage
//!   (funding / cost) before and after;
//! - `users`: every user's out-of-pocket per billed hour before and after, with the flags
//!   the out-of-pocket guarantee reads;
//! - `out_of_pocket`: users grouped by GIR, by resource band (the brackets of art.
//!   R.232-11) and by regime — weighted mean out-of-pocket before and after and the users
//!   whose out-of-pocket rises.
//!
//! Every total is weighted by the services' design weights (a user stands for as many
//! users as their service's weight) and summed in a fixed order.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use dotation_core::out_of_pocket::OutOfPocket;
use dotation_core::tables::{Code, Microdata};
use dotation_solver::formula::Design;
use dotation_solver::guarantees::RISE_TOLERANCE;
use dotation_solver::neutrality::compensated_sum;

use crate::error::ServerError;
use crate::results::batch;

/// The groups of one dimension: `(dimension, group)` of every member.
type Keys = Vec<(&'static str, String)>;

/// Weighted deciles of `size`: `D01` … `D10`, the cumulative weight (in size order, ties by
/// index) deciding the decile.
fn deciles(size: &[f64], w: &[f64]) -> Vec<String> {
    let n = size.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| size[a].total_cmp(&size[b]).then(a.cmp(&b)));
    let total = compensated_sum(n, |i| w[i]);
    let mut out = vec![String::new(); n];
    let mut cum = 0.0;
    for &s in &order {
        let mid = cum + 0.5 * w[s];
        cum += w[s];
        let d = if total > 0.0 {
            ((10.0 * mid / total).floor() as usize).min(9)
        } else {
            0
        };
        out[s] = format!("D{:02}", d + 1);
    }
    out
}

/// The zone holding most of each service's user-months (ties: the first zone in order).
fn service_zones(m: &Microdata) -> Vec<String> {
    let n = m.services.len();
    let zones = dotation_core::tables::Zone::CODES.len();
    let mut months = vec![0.0; n * zones];
    for u in 0..m.users.len() {
        let s = m.users.service[u] as usize;
        months[s * zones + m.users.zone[u].ordinal()] += m.users.months_served[u];
    }
    (0..n)
        .map(|s| {
            let row = &months[s * zones..(s + 1) * zones];
            let best = (0..zones).fold(0, |b, z| if row[z] > row[b] { z } else { b });
            dotation_core::tables::Zone::CODES[best].to_string()
        })
        .collect()
}

fn regime(habilitated: bool) -> &'static str {
    if habilitated { "HAS" } else { "NHAS" }
}

/// The `impact` table of a calibration.
pub fn services_impact(
    m: &Microdata,
    design: &Design,
    funding: &[f64],
) -> Result<RecordBatch, ServerError> {
    let sv = &m.services;
    let n = sv.len();
    let w = &sv.design_weight;
    let hours: Vec<f64> = (0..n).map(|s| sv.hours_funded(s)).collect();
    let decile = deciles(&hours, w);
    let zone = service_zones(m);
    let keys_of = |s: usize| -> Keys {
        vec![
            ("size_decile", decile[s].clone()),
            ("status", sv.status[s].code().to_string()),
            ("regime", regime(sv.habilitated[s]).to_string()),
            ("zone", zone[s].clone()),
            (
                "departement",
                m.departements.code[sv.departement[s] as usize].clone(),
            ),
        ]
    };
    // Members of every group, in dimension order then group order.
    let mut groups: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for s in 0..n {
        for (dim, (_, g)) in keys_of(s).into_iter().enumerate() {
            groups.entry((dim, g)).or_default().push(s);
        }
    }
    let dims = ["size_decile", "status", "regime", "zone", "departement"];
    let pct = |s: usize| {
        if design.baseline[s] != 0.0 {
            (funding[s] - design.baseline[s]) / design.baseline[s]
        } else {
            0.0
        }
    };
    let mut cols: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let (mut dim_col, mut group_col, mut count) = (Vec::new(), Vec::new(), Vec::new());
    for ((dim, group), members) in &groups {
        let sum = |f: &dyn Fn(usize) -> f64| compensated_sum(members.len(), |i| f(members[i]));
        let weight = sum(&|s| w[s]);
        let baseline = sum(&|s| w[s] * design.baseline[s]);
        let fund = sum(&|s| w[s] * funding[s]);
        let cost = sum(&|s| w[s] * design.cost[s]);
        let share = |pred: &dyn Fn(usize) -> bool| {
            if weight > 0.0 {
                sum(&|s| if pred(s) { w[s] } else { 0.0 }) / weight
            } else {
                0.0
            }
        };
        let ratio = |a: f64, b: f64| if b != 0.0 { a / b } else { f64::NAN };
        let values = [
            ("weight", weight),
            ("baseline_total", baseline),
            ("funding_total", fund),
            ("cost_total", cost),
            ("delta_total", fund - baseline),
            ("delta_pct", ratio(fund - baseline, baseline)),
            ("mean_delta_pct", ratio(sum(&|s| w[s] * pct(s)), weight)),
            (
                "min_delta_pct",
                members
                    .iter()
                    .map(|&s| pct(s))
                    .fold(f64::INFINITY, f64::min),
            ),
            (
                "max_delta_pct",
                members
                    .iter()
                    .map(|&s| pct(s))
                    .fold(f64::NEG_INFINITY, f64::max),
            ),
            ("winners_5pct", share(&|s| pct(s) > 0.05)),
            ("losers_5pct", share(&|s| pct(s) < -0.05)),
            ("coverage_before", ratio(baseline, cost)),
            ("coverage_after", ratio(fund, cost)),
        ];
        for (name, v) in values {
            cols.entry(name).or_default().push(v);
        }
        dim_col.push(dims[*dim]);
        group_col.push(group.clone());
        count.push(members.len() as u64);
    }
    let order = [
        "weight",
        "baseline_total",
        "funding_total",
        "cost_total",
        "delta_total",
        "delta_pct",
        "mean_delta_pct",
        "min_delta_pct",
        "max_delta_pct",
        "winners_5pct",
        "losers_5pct",
        "coverage_before",
        "coverage_after",
    ];
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("dimension", Arc::new(StringArray::from(dim_col))),
        ("group", Arc::new(StringArray::from(group_col))),
        ("services", Arc::new(UInt64Array::from(count))),
    ];
    for name in order {
        let v = cols.remove(name).unwrap_or_default();
        columns.push((name, Arc::new(Float64Array::from(v))));
    }
    batch(columns)
}

/// The `users` table of a calibration: out-of-pocket before and after, €/h.
pub fn users(
    m: &Microdata,
    oop: &OutOfPocket,
    after: &[Option<f64>],
) -> Result<RecordBatch, ServerError> {
    let us = &m.users;
    let n = us.len();
    let change: Vec<Option<f64>> = (0..n).map(|u| Some(after[u]? - oop.before[u]?)).collect();
    batch(vec![
        (
            "user_id",
            Arc::new(StringArray::from_iter_values(us.id.iter())),
        ),
        (
            "service_id",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|u| m.services.id[oop.service(u)].as_str()),
            )),
        ),
        (
            "allowance",
            Arc::new(StringArray::from_iter_values(
                us.allowance.iter().map(|a| a.code()),
            )),
        ),
        (
            "gir",
            Arc::new(arrow::array::UInt8Array::from_iter(
                us.gir.iter().map(|&g| (g > 0).then_some(g)),
            )),
        ),
        (
            "resource_band",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|u| oop.resource_band(u).name()),
            )),
        ),
        (
            "billed_hours_month",
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|u| oop.billed_hours_month(u)),
            )),
        ),
        (
            "oop_before",
            Arc::new(Float64Array::from(oop.before.clone())),
        ),
        ("oop_after", Arc::new(Float64Array::from(after.to_vec()))),
        ("oop_change", Arc::new(Float64Array::from(change.clone()))),
        (
            "rises",
            Arc::new(BooleanArray::from(
                change
                    .iter()
                    .map(|c| c.map(|c| c > RISE_TOLERANCE))
                    .collect::<Vec<_>>(),
            )),
        ),
    ])
}

/// The `out_of_pocket` table of a calibration: users by GIR, resource band and regime.
pub fn out_of_pocket(
    m: &Microdata,
    oop: &OutOfPocket,
    after: &[Option<f64>],
) -> Result<RecordBatch, ServerError> {
    let us = &m.users;
    let sv = &m.services;
    let mut groups: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for u in 0..us.len() {
        if oop.before[u].is_none() || after[u].is_none() {
            continue;
        }
        let s = oop.service(u);
        let gir = if us.gir[u] > 0 {
            format!("GIR{}", us.gir[u])
        } else {
            "unknown".to_string()
        };
        for (dim, g) in [
            gir,
            oop.resource_band(u).name().to_string(),
            regime(sv.habilitated[s]).to_string(),
        ]
        .into_iter()
        .enumerate()
        {
            groups.entry((dim, g)).or_default().push(u);
        }
    }
    let dims = ["gir", "resource_band", "regime"];
    let before = |u: usize| oop.before[u].unwrap_or(0.0);
    let aft = |u: usize| after[u].unwrap_or(0.0);
    let wu = |u: usize| sv.design_weight[oop.service(u)];
    let (mut dim_col, mut group_col, mut count) = (Vec::new(), Vec::new(), Vec::new());
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); 7];
    for ((dim, group), members) in &groups {
        let sum = |f: &dyn Fn(usize) -> f64| compensated_sum(members.len(), |i| f(members[i]));
        let weight = sum(&|u| wu(u));
        let mean = |f: &dyn Fn(usize) -> f64| {
            if weight > 0.0 {
                sum(&|u| wu(u) * f(u)) / weight
            } else {
                f64::NAN
            }
        };
        let rises = |u: usize| aft(u) - before(u) > RISE_TOLERANCE;
        let values = [
            weight,
            mean(&before),
            mean(&aft),
            mean(&|u| aft(u) - before(u)),
            members.iter().filter(|&&u| rises(u)).count() as f64,
            mean(&|u| if rises(u) { 1.0 } else { 0.0 }),
            members
                .iter()
                .map(|&u| aft(u) - before(u))
                .fold(f64::NEG_INFINITY, f64::max),
        ];
        for (c, v) in cols.iter_mut().zip(values) {
            c.push(v);
        }
        dim_col.push(dims[*dim]);
        group_col.push(group.clone());
        count.push(members.len() as u64);
    }
    let names = [
        "weight",
        "oop_before",
        "oop_after",
        "oop_change",
        "rising",
        "rising_share",
        "max_change",
    ];
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("dimension", Arc::new(StringArray::from(dim_col))),
        ("group", Arc::new(StringArray::from(group_col))),
        ("users", Arc::new(UInt64Array::from(count))),
    ];
    for (name, v) in names.into_iter().zip(cols) {
        if name == "rising" {
            columns.push((
                name,
                Arc::new(UInt64Array::from_iter_values(v.iter().map(|&x| x as u64))),
            ));
        } else {
            columns.push((name, Arc::new(Float64Array::from(v))));
        }
    }
    batch(columns)
}
