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

/// A statistic of a group's members.
type Stat<'a> = &'a dyn Fn(&[usize]) -> f64;

/// Members of groups along several dimensions: `(dimension index, group) → members`,
/// iterated in dimension order, then group order.
struct Groups {
    dims: &'static [&'static str],
    members: BTreeMap<(usize, String), Vec<usize>>,
}

impl Groups {
    /// Groups `0..n` by `keys(i)`, one key per dimension (`None`: left out).
    fn new(
        dims: &'static [&'static str],
        n: usize,
        keys: impl Fn(usize) -> Option<Vec<String>>,
    ) -> Groups {
        let mut members: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
        for i in 0..n {
            for (dim, g) in keys(i).into_iter().flatten().enumerate() {
                members.entry((dim, g)).or_default().push(i);
            }
        }
        Groups { dims, members }
    }

    /// The table: `dimension`, `group`, `count_name` (members), then one column per
    /// statistic of the members (`u64` for the names in `counts`).
    fn table(
        &self,
        count_name: &str,
        stats: &[(&str, Stat<'_>)],
        counts: &[&str],
    ) -> Result<RecordBatch, ServerError> {
        let rows = self.members.len();
        let mut dim_col = Vec::with_capacity(rows);
        let mut group_col = Vec::with_capacity(rows);
        let mut count = Vec::with_capacity(rows);
        let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(rows); stats.len()];
        for ((dim, group), members) in &self.members {
            dim_col.push(self.dims[*dim]);
            group_col.push(group.as_str());
            count.push(members.len() as u64);
            for (v, (_, f)) in values.iter_mut().zip(stats) {
                v.push(f(members));
            }
        }
        let mut columns: Vec<(&str, ArrayRef)> = vec![
            ("dimension", Arc::new(StringArray::from(dim_col))),
            ("group", Arc::new(StringArray::from(group_col))),
            (count_name, Arc::new(UInt64Array::from(count))),
        ];
        for ((name, _), v) in stats.iter().zip(values) {
            let array: ArrayRef = if counts.contains(name) {
                Arc::new(UInt64Array::from_iter_values(v.iter().map(|&x| x as u64)))
            } else {
                Arc::new(Float64Array::from(v))
            };
            columns.push((name, array));
        }
        batch(columns)
    }
}

/// `a / b`, NaN when `b` is 0.
fn ratio(a: f64, b: f64) -> f64 {
    if b != 0.0 { a / b } else { f64::NAN }
}

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
    let groups = Groups::new(
        &["size_decile", "status", "regime", "zone", "departement"],
        n,
        |s| {
            Some(vec![
                decile[s].clone(),
                sv.status[s].code().to_string(),
                regime(sv.habilitated[s]).to_string(),
                zone[s].clone(),
                m.departements.code[sv.departement[s] as usize].clone(),
            ])
        },
    );
    let pct = |s: usize| {
        if design.baseline[s] != 0.0 {
            (funding[s] - design.baseline[s]) / design.baseline[s]
        } else {
            0.0
        }
    };
    let sum = |g: &[usize], f: &dyn Fn(usize) -> f64| compensated_sum(g.len(), |i| f(g[i]));
    let weight = |g: &[usize]| sum(g, &|s| w[s]);
    let baseline = |g: &[usize]| sum(g, &|s| w[s] * design.baseline[s]);
    let fund = |g: &[usize]| sum(g, &|s| w[s] * funding[s]);
    let cost = |g: &[usize]| sum(g, &|s| w[s] * design.cost[s]);
    let share = |g: &[usize], pred: &dyn Fn(usize) -> bool| {
        ratio(sum(g, &|s| if pred(s) { w[s] } else { 0.0 }), weight(g))
    };
    groups.table(
        "services",
        &[
            ("weight", &weight),
            ("baseline_total", &baseline),
            ("funding_total", &fund),
            ("cost_total", &cost),
            ("delta_total", &|g| fund(g) - baseline(g)),
            ("delta_pct", &|g| ratio(fund(g) - baseline(g), baseline(g))),
            ("mean_delta_pct", &|g| {
                ratio(sum(g, &|s| w[s] * pct(s)), weight(g))
            }),
            ("min_delta_pct", &|g| {
                g.iter().map(|&s| pct(s)).fold(f64::INFINITY, f64::min)
            }),
            ("max_delta_pct", &|g| {
                g.iter().map(|&s| pct(s)).fold(f64::NEG_INFINITY, f64::max)
            }),
            ("winners_5pct", &|g| share(g, &|s| pct(s) > 0.05)),
            ("losers_5pct", &|g| share(g, &|s| pct(s) < -0.05)),
            ("coverage_before", &|g| ratio(baseline(g), cost(g))),
            ("coverage_after", &|g| ratio(fund(g), cost(g))),
        ],
        &[],
    )
}

/// The `users` table of a calibration: out-of-pocket before and after, €/h, under the
/// spec's participation option (`oop_after`, `after[chosen]`) and under each option
/// (`after`, in the order of `Participation::ALL`).
pub fn users(
    m: &Microdata,
    oop: &OutOfPocket,
    after: &[Vec<Option<f64>>; 3],
    chosen: usize,
) -> Result<RecordBatch, ServerError> {
    let us = &m.users;
    let n = us.len();
    let chosen_after = &after[chosen];
    let change: Vec<Option<f64>> = (0..n)
        .map(|u| Some(chosen_after[u]? - oop.before[u]?))
        .collect();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
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
        (
            "oop_after",
            Arc::new(Float64Array::from(chosen_after.clone())),
        ),
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
    ];
    const BY_OPTION: [&str; 3] = [
        "oop_after_unchanged",
        "oop_after_accepted_plan",
        "oop_after_resources_only",
    ];
    for (name, values) in BY_OPTION.into_iter().zip(after) {
        columns.push((name, Arc::new(Float64Array::from(values.clone()))));
    }
    batch(columns)
}

/// The `out_of_pocket` table of a calibration: users by GIR, resource band and regime.
pub fn out_of_pocket(
    m: &Microdata,
    oop: &OutOfPocket,
    after: &[Option<f64>],
) -> Result<RecordBatch, ServerError> {
    let us = &m.users;
    let sv = &m.services;
    let groups = Groups::new(&["gir", "resource_band", "regime"], us.len(), |u| {
        oop.before[u]?;
        after[u]?;
        let gir = if us.gir[u] > 0 {
            format!("GIR{}", us.gir[u])
        } else {
            "unknown".to_string()
        };
        Some(vec![
            gir,
            oop.resource_band(u).name().to_string(),
            regime(sv.habilitated[oop.service(u)]).to_string(),
        ])
    });
    let before = |u: usize| oop.before[u].unwrap_or(0.0);
    let aft = |u: usize| after[u].unwrap_or(0.0);
    let change = |u: usize| aft(u) - before(u);
    let rises = |u: usize| change(u) > RISE_TOLERANCE;
    let wu = |u: usize| sv.design_weight[oop.service(u)];
    let sum = |g: &[usize], f: &dyn Fn(usize) -> f64| compensated_sum(g.len(), |i| f(g[i]));
    let weight = |g: &[usize]| sum(g, &wu);
    let mean = |g: &[usize], f: &dyn Fn(usize) -> f64| ratio(sum(g, &|u| wu(u) * f(u)), weight(g));
    groups.table(
        "users",
        &[
            ("weight", &weight),
            ("oop_before", &|g| mean(g, &before)),
            ("oop_after", &|g| mean(g, &aft)),
            ("oop_change", &|g| mean(g, &change)),
            ("rising", &|g| {
                g.iter().filter(|&&u| rises(u)).count() as f64
            }),
            ("rising_share", &|g| {
                mean(g, &|u| if rises(u) { 1.0 } else { 0.0 })
            }),
            ("max_change", &|g| {
                g.iter()
                    .map(|&u| change(u))
                    .fold(f64::NEG_INFINITY, f64::max)
            }),
        ],
        &["rising"],
    )
}
