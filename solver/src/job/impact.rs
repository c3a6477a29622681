//! Impact of a calibration: who gains and who loses, and what users pay — typed tables of
//! columns, one row per group or per user.
//!
//! - [`ServicesImpact`]: services grouped by decile of size (weighted deciles of funded
//!   hours), by status, regime (HAS/NHAS), zone (the zone of most of the service's
//!   user-months) and département — weighted totals of baseline, funding and cost, the
//!   change, the weighted shares of winners and losers beyond ±5 %, the range of changes,
//!   and coverage (funding / cost) before and after;
//! - [`UsersImpact`]: every user's out-of-pocket per billed hour before and after, with the
//!   flags the out-of-pocket guarantee reads;
//! - [`OutOfPocketGroups`]: users grouped by GIR, by resource band (the brackets of art.
//!   R.232-11) and by regime — weighted mean out-of-pocket before and after and the users
//!   whose out-of-pocket rises.
//!
//! Every total is weighted by the services' design weights (a user stands for as many
//! users as their service's weight) and summed in a fixed order.

use std::collections::BTreeMap;

use dotation_core::out_of_pocket::{OutOfPocket, ResourceBand};
use dotation_core::tables::{Code, Microdata, Zone};

use crate::formula::Design;
use crate::guarantees::RISE_TOLERANCE;
use crate::neutrality::compensated_sum;

/// Services' gains and losses by group: one row per (dimension, group), in dimension
/// order (`size_decile`, `status`, `regime`, `zone`, `departement`), then group order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServicesImpact {
    /// The grouping.
    pub dimension: Vec<&'static str>,
    /// The group (`D01`…`D10`, a status code, `HAS`/`NHAS`, a zone, a département code).
    pub group: Vec<String>,
    /// Sampled services in the group.
    pub services: Vec<u64>,
    /// Σ design weights: the services represented.
    pub weight: Vec<f64>,
    /// Weighted baseline funding, €/year.
    pub baseline_total: Vec<f64>,
    /// Weighted calibrated funding, €/year.
    pub funding_total: Vec<f64>,
    /// Weighted cost, €/year.
    pub cost_total: Vec<f64>,
    /// `funding_total − baseline_total`.
    pub delta_total: Vec<f64>,
    /// `delta_total / baseline_total` (NaN without baseline).
    pub delta_pct: Vec<f64>,
    /// Weighted mean of the services' relative changes.
    pub mean_delta_pct: Vec<f64>,
    /// The smallest relative change.
    pub min_delta_pct: Vec<f64>,
    /// The largest relative change.
    pub max_delta_pct: Vec<f64>,
    /// Weighted share of services gaining more than 5 %.
    pub winners_5pct: Vec<f64>,
    /// Weighted share of services losing more than 5 %.
    pub losers_5pct: Vec<f64>,
    /// `baseline_total / cost_total`.
    pub coverage_before: Vec<f64>,
    /// `funding_total / cost_total`.
    pub coverage_after: Vec<f64>,
}

/// Every user's out-of-pocket per billed hour, €/h, before and after: under the spec's
/// participation option (`oop_after`) and under each option (`oop_after_by_option`, in the
/// order of `Participation::ALL`). `None` where a user pays nothing to a public funder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsersImpact {
    /// The user's service (index).
    pub service: Vec<usize>,
    /// The resource band.
    pub resource_band: Vec<ResourceBand>,
    /// Hours billed per month.
    pub billed_hours_month: Vec<f64>,
    /// Out-of-pocket under hourly funding.
    pub oop_before: Vec<Option<f64>>,
    /// Out-of-pocket under the calibrated funding and the spec's option.
    pub oop_after: Vec<Option<f64>>,
    /// `oop_after − oop_before`.
    pub oop_change: Vec<Option<f64>>,
    /// Whether the out-of-pocket rises (by more than [`RISE_TOLERANCE`]).
    pub rises: Vec<Option<bool>>,
    /// Out-of-pocket after, under each participation option.
    pub oop_after_by_option: [Vec<Option<f64>>; 3],
}

/// Users' out-of-pocket by group: one row per (dimension, group), in dimension order
/// (`gir`, `resource_band`, `regime`), then group order; users with an out-of-pocket before
/// and after only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutOfPocketGroups {
    /// The grouping.
    pub dimension: Vec<&'static str>,
    /// The group (`GIR1`…`GIR6` or `unknown`, a band's name, `HAS`/`NHAS`).
    pub group: Vec<String>,
    /// Sampled users in the group.
    pub users: Vec<u64>,
    /// Σ weights: the users represented.
    pub weight: Vec<f64>,
    /// Weighted mean out-of-pocket before, €/h.
    pub oop_before: Vec<f64>,
    /// Weighted mean out-of-pocket after, €/h.
    pub oop_after: Vec<f64>,
    /// Weighted mean change, €/h.
    pub oop_change: Vec<f64>,
    /// Sampled users whose out-of-pocket rises.
    pub rising: Vec<u64>,
    /// Weighted share of users whose out-of-pocket rises.
    pub rising_share: Vec<f64>,
    /// The largest change, €/h.
    pub max_change: Vec<f64>,
}

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

    /// The rows' dimensions, groups and member counts.
    fn keys(&self) -> (Vec<&'static str>, Vec<String>, Vec<u64>) {
        let dims = self.members.keys().map(|(d, _)| self.dims[*d]).collect();
        let groups = self.members.keys().map(|(_, g)| g.clone()).collect();
        let counts = self.members.values().map(|m| m.len() as u64).collect();
        (dims, groups, counts)
    }

    /// A statistic of each row's members.
    fn column<T>(&self, f: impl Fn(&[usize]) -> T) -> Vec<T> {
        self.members.values().map(|m| f(m)).collect()
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
    let zones = Zone::CODES.len();
    let mut months = vec![0.0; n * zones];
    for u in 0..m.users.len() {
        let s = m.users.service[u] as usize;
        months[s * zones + m.users.zone[u].ordinal()] += m.users.months_served[u];
    }
    (0..n)
        .map(|s| {
            let row = &months[s * zones..(s + 1) * zones];
            let best = (0..zones).fold(0, |b, z| if row[z] > row[b] { z } else { b });
            Zone::CODES[best].to_string()
        })
        .collect()
}

fn regime(habilitated: bool) -> &'static str {
    if habilitated { "HAS" } else { "NHAS" }
}

/// Services' gains and losses when the formula pays `funding`.
pub fn services_impact(m: &Microdata, design: &Design, funding: &[f64]) -> ServicesImpact {
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
    // Whole services: the formula's funding and the hours it leaves paid by the hour,
    // against the whole baseline.
    let before = |s: usize| design.baseline_total(s);
    let after = |s: usize| funding[s] + design.carried[s];
    let pct = |s: usize| {
        if before(s) != 0.0 {
            (after(s) - before(s)) / before(s)
        } else {
            0.0
        }
    };
    let sum = |g: &[usize], f: &dyn Fn(usize) -> f64| compensated_sum(g.len(), |i| f(g[i]));
    let weight = |g: &[usize]| sum(g, &|s| w[s]);
    let baseline = |g: &[usize]| sum(g, &|s| w[s] * before(s));
    let fund = |g: &[usize]| sum(g, &|s| w[s] * after(s));
    let cost = |g: &[usize]| sum(g, &|s| w[s] * design.cost[s]);
    let share = |g: &[usize], pred: &dyn Fn(usize) -> bool| {
        ratio(sum(g, &|s| if pred(s) { w[s] } else { 0.0 }), weight(g))
    };
    let (dimension, group, services) = groups.keys();
    ServicesImpact {
        dimension,
        group,
        services,
        weight: groups.column(weight),
        baseline_total: groups.column(baseline),
        funding_total: groups.column(fund),
        cost_total: groups.column(cost),
        delta_total: groups.column(|g| fund(g) - baseline(g)),
        delta_pct: groups.column(|g| ratio(fund(g) - baseline(g), baseline(g))),
        mean_delta_pct: groups.column(|g| ratio(sum(g, &|s| w[s] * pct(s)), weight(g))),
        min_delta_pct: groups.column(|g| g.iter().map(|&s| pct(s)).fold(f64::INFINITY, f64::min)),
        max_delta_pct: groups
            .column(|g| g.iter().map(|&s| pct(s)).fold(f64::NEG_INFINITY, f64::max)),
        winners_5pct: groups.column(|g| share(g, &|s| pct(s) > 0.05)),
        losers_5pct: groups.column(|g| share(g, &|s| pct(s) < -0.05)),
        // Coverage compares the formula's part with the cost it is calibrated on.
        coverage_before: groups.column(|g| ratio(sum(g, &|s| w[s] * design.baseline[s]), cost(g))),
        coverage_after: groups.column(|g| ratio(sum(g, &|s| w[s] * funding[s]), cost(g))),
    }
}

/// Every user's out-of-pocket before and after: `after` under each option, in the order
/// of `Participation::ALL`, `after[chosen]` under the spec's.
pub fn users(oop: &OutOfPocket, after: [Vec<Option<f64>>; 3], chosen: usize) -> UsersImpact {
    let n = oop.len();
    let oop_after = after[chosen].clone();
    let oop_change: Vec<Option<f64>> = (0..n)
        .map(|u| Some(oop_after[u]? - oop.before[u]?))
        .collect();
    UsersImpact {
        service: (0..n).map(|u| oop.service(u)).collect(),
        resource_band: (0..n).map(|u| oop.resource_band(u)).collect(),
        billed_hours_month: (0..n).map(|u| oop.billed_hours_month(u)).collect(),
        oop_before: oop.before.clone(),
        oop_after,
        rises: oop_change
            .iter()
            .map(|c| c.map(|c| c > RISE_TOLERANCE))
            .collect(),
        oop_change,
        oop_after_by_option: after,
    }
}

/// Users' out-of-pocket by GIR, resource band and regime, `after` under the spec's option.
pub fn out_of_pocket(m: &Microdata, oop: &OutOfPocket, after: &[Option<f64>]) -> OutOfPocketGroups {
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
    let (dimension, group, users) = groups.keys();
    OutOfPocketGroups {
        dimension,
        group,
        users,
        weight: groups.column(weight),
        oop_before: groups.column(|g| mean(g, &before)),
        oop_after: groups.column(|g| mean(g, &aft)),
        oop_change: groups.column(|g| mean(g, &change)),
        rising: groups.column(|g| g.iter().filter(|&&u| rises(u)).count() as u64),
        rising_share: groups.column(|g| mean(g, &|u| if rises(u) { 1.0 } else { 0.0 })),
        max_change: groups.column(|g| {
            g.iter()
                .map(|&u| change(u))
                .fold(f64::NEG_INFINITY, f64::max)
        }),
    }
}
