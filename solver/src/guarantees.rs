//! The legal guarantees of a formula (DOMAIN.md §4, encadré 2 of seed 000), as bounds on
//! each service's funding `F_s(θ) = a_s + x_s θ` — linear inequalities of the parameters
//! ([`constraints`]) — and as a report on any funding ([`report`]):
//!
//! - `out_of_pocket` (décret 2024-754): no user's out-of-pocket per billed hour rises.
//!   Each user's out-of-pocket stays within today's from some hourly value of the service
//!   on ([`OutOfPocket::admissible`]); the largest over the service's users bounds its
//!   funding: `F_s ≥ F0 · lo / v0`;
//! - `nhas_price`: an NHAS service's funding does not fall (`F_s ≥ F0_s`): a service paid
//!   less per hour would have to raise the price it bills;
//! - `has_cover`: an HAS service's funding covers its cost (`F_s ≥ C_s`, the cost the
//!   formula is calibrated against);
//! - `transition`: no service loses more than ℓ of its whole baseline (`F_s + K_s ≥
//!   (1 − ℓ)(F0_s + K_s)`, `K_s` the hours the formula leaves paid by the hour).
//!
//! `F0_s` is the baseline of the allowances the formula funds, what it replaces.
//!
//! Bounds are moved inwards by a relative 1e-12 so that a solution on a bound satisfies it
//! after rounding.

use dotation_core::out_of_pocket::{Admissible, OutOfPocket, Participation};
use dotation_core::tables::Microdata;
use serde::{Deserialize, Serialize};

use crate::error::SpecError;
use crate::formula::Design;
use crate::neutrality::compensated_sum;
use crate::qp::Inequalities;
use crate::spec::{Guarantee, GuaranteesSpec, Order};

/// Inward margin of every bound, relative.
const MARGIN: f64 = 1e-12;

/// An out-of-pocket rises when it exceeds today's by more than this, €/h.
pub const RISE_TOLERANCE: f64 = 1e-9;

/// What the guarantees read.
#[derive(Clone, Copy, Debug)]
pub struct GuaranteeInput<'a> {
    /// Validated microdata.
    pub micro: &'a Microdata,
    /// The formula's design (cost, baseline, offset, rows).
    pub design: &'a Design,
    /// The users' out-of-pocket terms.
    pub oop: &'a OutOfPocket,
}

/// The lowest ratio `F_s / F0_s` of each service that keeps every user's out-of-pocket
/// (each user's lowest hourly value over today's rate of their hours), and the users the
/// option alone makes pay more.
fn service_value_bounds(
    input: &GuaranteeInput<'_>,
    participation: Participation,
) -> (Vec<f64>, Vec<(usize, f64)>) {
    let mut lowest = vec![0.0f64; input.design.n];
    let mut never = Vec::new();
    for u in 0..input.oop.len() {
        match input.oop.admissible(u, participation) {
            None => {}
            Some(Admissible::Never { lowest }) => never.push((u, lowest)),
            Some(Admissible::From(lo)) => {
                let v0 = input.oop.user_rate(u);
                if lo > 0.0 && v0 > 0.0 {
                    let b = &mut lowest[input.oop.service(u)];
                    *b = b.max(lo / v0);
                }
            }
        }
    }
    (lowest, never)
}

/// A lower bound on one service's funding required by a guarantee: `F_s ≥ min`.
#[derive(Clone, Debug, PartialEq)]
pub struct FundingBound {
    /// The service (index).
    pub service: usize,
    /// The guarantee.
    pub guarantee: Guarantee,
    /// The funding it requires, €/year.
    pub min: f64,
    /// What the bound is, in words (`cost`, `baseline`…).
    pub what: &'static str,
}

/// The guarantees asked as constraints, as lower bounds on services' funding, in
/// guarantee order then service order. Fails when the participation option alone raises
/// some user's out-of-pocket whatever the funding (no parameter can then satisfy
/// `out_of_pocket`).
pub fn bounds(
    input: &GuaranteeInput<'_>,
    spec: &GuaranteesSpec,
) -> Result<Vec<FundingBound>, SpecError> {
    let d = input.design;
    let sv = &input.micro.services;
    let mut out = Vec::new();
    if spec.constrains(Guarantee::OutOfPocket) {
        let (lowest, never) = service_value_bounds(input, spec.participation);
        if !never.is_empty() {
            let us = &input.micro.users;
            let examples: Vec<String> = never
                .iter()
                .take(5)
                .map(|&(u, lowest)| {
                    format!(
                        "user {} (service {}): from {:.4} to at least {lowest:.4} €/h",
                        us.id[u],
                        sv.id[input.oop.service(u)],
                        input.oop.before[u].unwrap_or(0.0)
                    )
                })
                .collect();
            return Err(SpecError::Data {
                key: "guarantees.participation".into(),
                message: format!(
                    "under participation = \"{}\", {} user(s) pay more per hour whatever their service's funding ({}): out_of_pocket cannot be a constraint; use participation = \"unchanged\" or remove out_of_pocket from guarantees.constrain (it is still reported)",
                    spec.participation.name(),
                    never.len(),
                    examples.join("; ")
                ),
            });
        }
        for (s, &lo) in lowest.iter().enumerate() {
            let f0 = d.baseline[s];
            if f0 > 0.0 && lo > 0.0 {
                out.push(FundingBound {
                    service: s,
                    guarantee: Guarantee::OutOfPocket,
                    min: f0 * lo,
                    what: "what keeps its users' out-of-pocket",
                });
            }
        }
    }
    for (g, what) in [
        (Guarantee::NhasPrice, "baseline"),
        (Guarantee::HasCover, "cost"),
        (Guarantee::Transition, "(1 − ℓ) × baseline"),
    ] {
        if spec.constrains(g) {
            for s in 0..d.n {
                if let Some(min) = required(input, spec, g, s) {
                    out.push(FundingBound {
                        service: s,
                        guarantee: g,
                        min,
                        what,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The funding service `s` needs under a service-level guarantee (`None`: it does not
/// concern the service): its baseline for an NHAS service (`nhas_price`), its cost for an
/// HAS service (`has_cover`), `(1 − ℓ)` × its baseline (`transition`).
fn required(
    input: &GuaranteeInput<'_>,
    spec: &GuaranteesSpec,
    g: Guarantee,
    s: usize,
) -> Option<f64> {
    let d = input.design;
    let habilitated = input.micro.services.habilitated[s];
    let baseline = d.baseline[s];
    match g {
        Guarantee::NhasPrice => (!habilitated && baseline > 0.0).then_some(baseline),
        Guarantee::HasCover => (habilitated && d.cost[s] > 0.0).then_some(d.cost[s]),
        // The loss is the whole service's: the hours the formula does not fund are paid as
        // today, so `F + K ≥ (1 − ℓ)(F0 + K)` is `F ≥ F0 − ℓ (F0 + K)`.
        Guarantee::Transition => {
            (baseline > 0.0).then_some(baseline - spec.transition_limit * (baseline + d.carried[s]))
        }
        Guarantee::OutOfPocket => None,
    }
}

/// Funding bounds as inequalities `G θ ≤ h` over the design's parameters:
/// `F_s ≥ min  ⇔  −x_s θ ≤ a_s − min`, the bound moved inwards by 1e-12 relative.
pub fn inequalities(input: &GuaranteeInput<'_>, bounds: &[FundingBound]) -> Inequalities {
    let d = input.design;
    let sv = &input.micro.services;
    let mut ineq = Inequalities::default();
    for b in bounds {
        let s = b.service;
        let min = b.min * (1.0 + MARGIN.copysign(b.min));
        let row: Vec<f64> = d.row(s).iter().map(|v| -v).collect();
        let unreached = if row.iter().all(|&v| v == 0.0) {
            " (the formula reaches none of its drivers: its funding is fixed)"
        } else {
            ""
        };
        ineq.push(
            &row,
            d.offset[s] - min,
            format!(
                "{}[{}]: funding ≥ {} {:.2} €{unreached}",
                b.guarantee.name(),
                sv.id[s],
                b.what,
                b.min
            ),
            b.guarantee.name(),
            d.baseline[s],
        );
    }
    ineq
}

/// The guarantees asked as constraints, as inequalities over the design's parameters
/// ([`bounds`], then [`inequalities`]).
pub fn constraints(
    input: &GuaranteeInput<'_>,
    spec: &GuaranteesSpec,
) -> Result<Inequalities, SpecError> {
    let mut ineq = inequalities(input, &bounds(input, spec)?);
    order_rows(input.design, spec, &mut ineq)?;
    Ok(ineq)
}

/// The orders between parameters (`guarantees.order`) as rows `θ_lesser − θ_greater ≤ 0`,
/// each measured against the larger of the two parameters' unit scales (1).
pub fn order_rows(
    design: &Design,
    spec: &GuaranteesSpec,
    ineq: &mut Inequalities,
) -> Result<(), SpecError> {
    let index = |name: &str| {
        design
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| SpecError::Unknown {
                key: "guarantees.order".into(),
                what: "parameter",
                name: name.to_string(),
                known: design.names.clone(),
            })
    };
    for text in &spec.order {
        let o = Order::parse(text).ok_or_else(|| SpecError::Inconsistent {
            key: "guarantees.order".into(),
            message: format!("\"{text}\" is not an order: write \"A >= B\""),
        })?;
        let (g, l) = (index(&o.greater)?, index(&o.lesser)?);
        let mut row = vec![0.0; design.k];
        row[l] = 1.0;
        row[g] = -1.0;
        ineq.push(
            &row,
            0.0,
            format!("order[{} >= {}]", o.greater, o.lesser),
            "order",
            1.0,
        );
    }
    Ok(())
}

/// How a funding fares against one service-level guarantee.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCheck {
    /// Whether the guarantee was a constraint of the fit.
    pub constrained: bool,
    /// Sampled services it concerns (HAS for cover, NHAS for the price, all for transition).
    pub services: usize,
    /// Sampled services violating it.
    pub violations: usize,
    /// Weighted share of the services concerned violating it.
    pub violations_share: f64,
    /// Weighted total shortfall, €/year.
    pub shortfall: f64,
    /// Sampled services violating it under hourly funding (the baseline).
    pub violations_before: usize,
    /// Identifiers of the violating services, the largest shortfall first (at most 20).
    pub worst: Vec<String>,
}

/// How a funding fares against the out-of-pocket guarantee.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OopCheck {
    /// Whether it was a constraint of the fit.
    pub constrained: bool,
    /// The participation option.
    pub participation: String,
    /// Users with an out-of-pocket (those a public funder pays).
    pub users: usize,
    /// Users whose out-of-pocket per hour rises (by more than [`RISE_TOLERANCE`]).
    pub rising: usize,
    /// Weighted share of users whose out-of-pocket rises.
    pub rising_share: f64,
    /// Users whose out-of-pocket falls.
    pub falling: usize,
    /// The largest rise, €/h.
    pub max_rise: f64,
    /// Weighted mean out-of-pocket before, €/h.
    pub mean_before: f64,
    /// Weighted mean out-of-pocket after, €/h.
    pub mean_after: f64,
    /// The largest rises (at most 20).
    pub worst: Vec<Rise>,
}

/// One user whose out-of-pocket rises.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rise {
    /// The user.
    pub user_id: String,
    /// Their service.
    pub service_id: String,
    /// Out-of-pocket under hourly funding, €/h.
    pub before: f64,
    /// Under the model, €/h.
    pub after: f64,
}

/// All guarantees checked on one funding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Users' out-of-pocket under the spec's participation option.
    pub out_of_pocket: OopCheck,
    /// Users' out-of-pocket under each participation option, with the same funding.
    pub out_of_pocket_by_option: Vec<OopCheck>,
    /// NHAS services whose funding falls.
    pub nhas_price: ServiceCheck,
    /// HAS services funded below cost.
    pub has_cover: ServiceCheck,
    /// Services losing more than ℓ.
    pub transition: ServiceCheck,
    /// ℓ.
    pub transition_limit: f64,
}

/// The services a check concerns, the required funding of each, and the baseline.
fn service_check(
    input: &GuaranteeInput<'_>,
    funding: &[f64],
    constrained: bool,
    required: impl Fn(usize) -> Option<f64>,
) -> ServiceCheck {
    let d = input.design;
    let sv = &input.micro.services;
    let w = &sv.design_weight;
    let concerned: Vec<usize> = (0..d.n).filter(|&s| required(s).is_some()).collect();
    let short = |s: usize, f: f64| required(s).map_or(0.0, |r| (r - f).max(0.0));
    let violates = |s: usize, f: f64| required(s).is_some_and(|r| short_of(r, f));
    let mut bad: Vec<usize> = concerned
        .iter()
        .copied()
        .filter(|&s| violates(s, funding[s]))
        .collect();
    let total_w = compensated_sum(concerned.len(), |i| w[concerned[i]]);
    let bad_w = compensated_sum(bad.len(), |i| w[bad[i]]);
    let shortfall = compensated_sum(bad.len(), |i| w[bad[i]] * short(bad[i], funding[bad[i]]));
    let violations_before = concerned
        .iter()
        .filter(|&&s| violates(s, d.baseline[s]))
        .count();
    bad.sort_by(|&a, &b| {
        short(b, funding[b])
            .total_cmp(&short(a, funding[a]))
            .then(a.cmp(&b))
    });
    ServiceCheck {
        constrained,
        services: concerned.len(),
        violations: bad.len(),
        violations_share: if total_w > 0.0 { bad_w / total_w } else { 0.0 },
        shortfall,
        violations_before,
        worst: bad.iter().take(20).map(|&s| sv.id[s].clone()).collect(),
    }
}

/// How users' out-of-pocket fares under `option` when the model pays `funding`.
fn oop_check(
    input: &GuaranteeInput<'_>,
    option: Participation,
    constrained: bool,
    after: &[Option<f64>],
) -> OopCheck {
    let m = input.micro;
    let sv = &m.services;
    let oop = input.oop;
    let users: Vec<usize> = (0..oop.len())
        .filter(|&u| oop.before[u].is_some() && after[u].is_some())
        .collect();
    let rise = |u: usize| after[u].unwrap_or(0.0) - oop.before[u].unwrap_or(0.0);
    let wu = |u: usize| sv.design_weight[oop.service(u)];
    let mut rising: Vec<usize> = users
        .iter()
        .copied()
        .filter(|&u| rise(u) > RISE_TOLERANCE)
        .collect();
    let total_w = compensated_sum(users.len(), |i| wu(users[i]));
    let mean = |f: &dyn Fn(usize) -> f64| {
        if total_w > 0.0 {
            compensated_sum(users.len(), |i| wu(users[i]) * f(users[i])) / total_w
        } else {
            0.0
        }
    };
    rising.sort_by(|&a, &b| rise(b).total_cmp(&rise(a)).then(a.cmp(&b)));
    OopCheck {
        constrained,
        participation: option.name().to_string(),
        users: users.len(),
        rising: rising.len(),
        rising_share: if total_w > 0.0 {
            compensated_sum(rising.len(), |i| wu(rising[i])) / total_w
        } else {
            0.0
        },
        falling: users.iter().filter(|&&u| rise(u) < -RISE_TOLERANCE).count(),
        max_rise: rising.first().map_or(0.0, |&u| rise(u)),
        mean_before: mean(&|u| oop.before[u].unwrap_or(0.0)),
        mean_after: mean(&|u| after[u].unwrap_or(0.0)),
        worst: rising
            .iter()
            .take(20)
            .map(|&u| Rise {
                user_id: m.users.id[u].clone(),
                service_id: sv.id[oop.service(u)].clone(),
                before: oop.before[u].unwrap_or(0.0),
                after: after[u].unwrap_or(0.0),
            })
            .collect(),
    }
}

/// Checks `funding` against every guarantee, the users' out-of-pocket under the spec's
/// participation option and, for comparison, under each option; `after` is every user's
/// out-of-pocket under each option ([`OutOfPocket::after_by_option`]).
pub fn report(
    input: &GuaranteeInput<'_>,
    spec: &GuaranteesSpec,
    funding: &[f64],
    after: &[Vec<Option<f64>>; 3],
) -> Report {
    let constrained = spec.constrains(Guarantee::OutOfPocket);
    let by_option: Vec<OopCheck> = Participation::ALL
        .iter()
        .map(|&o| {
            oop_check(
                input,
                o,
                constrained && o == spec.participation,
                &after[o.ordinal()],
            )
        })
        .collect();
    let out_of_pocket = by_option
        .iter()
        .find(|c| c.participation == spec.participation.name())
        .cloned()
        .unwrap_or_default();
    let check = |g: Guarantee| {
        service_check(input, funding, spec.constrains(g), |s| {
            required(input, spec, g, s)
        })
    };
    Report {
        out_of_pocket,
        out_of_pocket_by_option: by_option,
        nhas_price: check(Guarantee::NhasPrice),
        has_cover: check(Guarantee::HasCover),
        transition: check(Guarantee::Transition),
        transition_limit: spec.transition_limit,
    }
}

/// The users whose out-of-pocket rises, counted from each service's ratio `F_s / F0_s`
/// alone: built once per participation option, it answers for any funding in
/// O(services · log users) — what a sweep over thousands of scenarios needs. A user's
/// out-of-pocket `c + max(price − v, 0)` rises (beyond [`RISE_TOLERANCE`]) exactly when
/// the service's hourly value `v = v0 · F_s / F0_s` falls below `lo − tolerance`
/// ([`OutOfPocket::admissible`]), so each user is a threshold on the service's ratio.
#[derive(Clone, Debug)]
pub struct RisingUsers {
    /// Per service, the thresholds of its users' ratios, ascending.
    thresholds: Vec<Vec<f64>>,
    /// Per service, the design weight of each of its users (the service's).
    weight: Vec<f64>,
    /// Users whose out-of-pocket rises whatever the funding.
    always: usize,
    /// Their total weight.
    always_weight: f64,
    /// Total weight of the users with an out-of-pocket.
    total_weight: f64,
}

impl RisingUsers {
    /// The thresholds of every user under `participation`.
    pub fn new(input: &GuaranteeInput<'_>, participation: Participation) -> RisingUsers {
        let oop = input.oop;
        let d = input.design;
        let w = &input.micro.services.design_weight;
        let mut thresholds = vec![Vec::new(); d.n];
        let (mut always, mut always_weight, mut total_weight) = (0, 0.0, 0.0);
        for u in 0..oop.len() {
            let Some(a) = oop.admissible(u, participation) else {
                continue;
            };
            let s = oop.service(u);
            total_weight += w[s];
            let lo = match a {
                Admissible::Never { .. } => {
                    always += 1;
                    always_weight += w[s];
                    continue;
                }
                Admissible::From(lo) => lo - RISE_TOLERANCE,
            };
            if lo <= 0.0 {
                continue;
            }
            // The hourly value moves with the funding only for funded users of a service
            // with a baseline; otherwise it stays today's rate.
            let v0 = oop.user_rate(u);
            if d.baseline[s] > 0.0 && oop.funded(u) && v0 > 0.0 {
                thresholds[s].push(lo / v0);
            } else if v0 < lo {
                always += 1;
                always_weight += w[s];
            }
        }
        for t in &mut thresholds {
            t.sort_by(f64::total_cmp);
        }
        RisingUsers {
            thresholds,
            weight: w.clone(),
            always,
            always_weight,
            total_weight,
        }
    }

    /// Users whose out-of-pocket rises under `funding` (the formula's part, against the
    /// design's baseline `baseline`), and their weighted share.
    pub fn count(&self, funding: &[f64], baseline: &[f64]) -> (usize, f64) {
        let (mut n, mut wsum) = (self.always, self.always_weight);
        for (s, t) in self.thresholds.iter().enumerate() {
            let Some(&highest) = t.last() else {
                continue;
            };
            let ratio = funding[s] / baseline[s];
            if ratio >= highest {
                continue;
            }
            // Thresholds above the ratio: those users' value falls below their bound.
            let k = t.len() - t.partition_point(|&x| x <= ratio);
            n += k;
            wsum += k as f64 * self.weight[s];
        }
        let share = if self.total_weight > 0.0 {
            wsum / self.total_weight
        } else {
            0.0
        };
        (n, share)
    }
}

/// Each service's requirement under the service-level guarantees, for counting the
/// violations of many fundings (a sweep): the NHAS price and the HAS cover (fixed), and
/// the transition's `F0 − ℓ (F0 + K)` as `base − ℓ · slope` for any ℓ.
#[derive(Clone, Debug)]
pub struct ServiceRequirements {
    nhas: Vec<Option<f64>>,
    has: Vec<Option<f64>>,
    transition: Vec<Option<(f64, f64)>>,
}

/// A funding violates a requirement beyond rounding: the shortfall exceeds 1e-9 of it.
fn short_of(required: f64, funding: f64) -> bool {
    required - funding > 1e-9 * required.abs().max(1.0)
}

impl ServiceRequirements {
    /// Every service's requirements.
    pub fn new(input: &GuaranteeInput<'_>) -> ServiceRequirements {
        let at = |limit: f64| GuaranteesSpec {
            transition_limit: limit,
            ..GuaranteesSpec::default()
        };
        let (none, all) = (at(0.0), at(1.0));
        let n = input.design.n;
        ServiceRequirements {
            nhas: (0..n)
                .map(|s| required(input, &none, Guarantee::NhasPrice, s))
                .collect(),
            has: (0..n)
                .map(|s| required(input, &none, Guarantee::HasCover, s))
                .collect(),
            transition: (0..n)
                .map(|s| {
                    let base = required(input, &none, Guarantee::Transition, s)?;
                    let lowest = required(input, &all, Guarantee::Transition, s)?;
                    Some((base, base - lowest))
                })
                .collect(),
        }
    }

    /// Service `s`'s violations under funding `f` and transition limit `limit`, as
    /// `[nhas_price, has_cover, transition]` (0 or 1 each).
    #[inline]
    pub fn violated(&self, s: usize, f: f64, limit: f64) -> [usize; 3] {
        [
            usize::from(self.nhas[s].is_some_and(|r| short_of(r, f))),
            usize::from(self.has[s].is_some_and(|r| short_of(r, f))),
            usize::from(
                self.transition[s].is_some_and(|(base, slope)| short_of(base - limit * slope, f)),
            ),
        ]
    }
}
