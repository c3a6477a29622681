//! The law's limits on a model, checked in every calibration's report (seed 000, annexe 2;
//! seed 001 §7), beside the guarantees:
//!
//! - **PCH**: « La forfaitisation de la PCH n'est pas prévue par le code de l'action sociale
//!   et des familles »: a spec whose formula funds PCH hours is refused unless it says
//!   `formula.allow_pch = true`, and then flagged here;
//! - **APA ceilings** (art. R.232-10 CASF): a user's monthly plan valued at the model's
//!   hourly value — the service's formula funding over its funded hours — may exceed the
//!   GIR's ceiling, which a plan valued at today's rate never does; such users are counted
//!   and listed;
//! - **activity in hours**: the CNSA's concours are computed from hours delivered and the
//!   experiment does not change them (« l'expérimentation ne modifie pas les modalités de
//!   calcul des différents concours versés par la CNSA »), so every model reports the
//!   hours by allowance, funded by the formula or still by the hour;
//! - **participation**: what the chosen option of seed 001 §7 is in law
//!   ([`Participation::legal_note`]);
//! - **budget**: the baseline the formula replaces, the target it was calibrated to (the
//!   baseline changed by `neutrality.budget_change`, the départements being free to add
//!   money) and the hours carried by the hour.

use dotation_core::legal;
use dotation_core::out_of_pocket::Participation;
use dotation_core::tables::{Allowance, Code, Microdata};
use serde::{Deserialize, Serialize};

use crate::formula::Design;
use crate::neutrality::compensated_sum;
use crate::spec::{BudgetChange, JobSpec};

/// How many users over their ceiling are listed.
const LISTED: usize = 20;

/// The law's limits checked on one calibration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LawReport {
    /// Whether the formula funds PCH hours (asked with `formula.allow_pch`).
    pub pch_by_formula: bool,
    /// Why that departs from the CASF, when it does.
    pub pch_note: Option<String>,
    /// The participation option (seed 001 §7).
    pub participation: String,
    /// What that option is in law.
    pub participation_note: String,
    /// Whether 7.3 extends to GIR 4 users.
    pub resources_only_gir4: bool,
    /// Activity in hours (weighted, h/year), as the CNSA's concours need it.
    pub activity_hours: ActivityHours,
    /// APA users whose plan, valued at the model's hourly value, exceeds their ceiling.
    pub plans_over_ceiling: CeilingCheck,
    /// The budget the formula was calibrated to.
    pub budget: Budget,
}

/// Weighted hours delivered in the year, by allowance and by how they are paid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityHours {
    /// APA hours.
    pub apa: f64,
    /// PCH hours.
    pub pch: f64,
    /// Social-aid hours.
    pub social_aid: f64,
    /// Other hours (no public funder).
    pub other: f64,
    /// Hours of the allowances the formula funds.
    pub funded_by_formula: f64,
    /// APA, PCH and social-aid hours still paid by the hour.
    pub paid_by_the_hour: f64,
}

/// APA users whose plan valued at the model's hourly value exceeds the GIR's ceiling.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CeilingCheck {
    /// APA users checked (those the formula funds, with a GIR 1–4).
    pub users: usize,
    /// Users over their ceiling.
    pub over: usize,
    /// Weighted share of the users checked.
    pub over_share: f64,
    /// The furthest over (at most 20).
    pub worst: Vec<PlanOverCeiling>,
}

/// One user whose valued plan exceeds the ceiling.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanOverCeiling {
    /// The user.
    pub user_id: String,
    /// Their service.
    pub service_id: String,
    /// GIR.
    pub gir: u8,
    /// Plan hours a month.
    pub plan_hours_month: f64,
    /// The model's hourly value of the service, €/h.
    pub hourly_value: f64,
    /// The plan valued at it, €/month.
    pub plan_valued: f64,
    /// The GIR's ceiling, €/month (art. R.232-10).
    pub ceiling: f64,
}

/// The budget a formula was calibrated to (weighted national totals, €/year).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Today's funding of the funded allowances (and the dotation complémentaire).
    pub baseline_funded: f64,
    /// Today's funding of the hours the formula does not fund, carried unchanged.
    pub carried: f64,
    /// The change asked (`neutrality.budget_change`), if any.
    pub change: Option<BudgetChange>,
    /// `target / baseline_funded`.
    pub factor: f64,
    /// The target of the formula's funding.
    pub target: f64,
}

/// Checks the law's limits on the formula's `funding` of `design` under `spec`; `mtp` is
/// the year's (0 when the data have no APA user).
pub fn report(
    spec: &JobSpec,
    m: &Microdata,
    design: &Design,
    funding: &[f64],
    funded: [bool; 4],
    mtp: f64,
) -> LawReport {
    let sv = &m.services;
    let us = &m.users;
    let w = &sv.design_weight;
    let n = sv.len();
    let sum = |f: &dyn Fn(usize) -> f64| compensated_sum(n, |s| w[s] * f(s));
    let hours = |a: Allowance, s: usize| match a {
        Allowance::Apa => sv.hours_apa[s],
        Allowance::Pch => sv.hours_pch[s],
        Allowance::SocialAid => sv.hours_social_aid[s],
        Allowance::Other => sv.hours_other[s],
    };
    let by = |a: Allowance| sum(&|s| hours(a, s));
    let funded_hours = |s: usize| -> f64 {
        [
            Allowance::Apa,
            Allowance::Pch,
            Allowance::SocialAid,
            Allowance::Other,
        ]
        .iter()
        .filter(|a| funded[a.ordinal()])
        .map(|&a| hours(a, s))
        .sum()
    };
    let by_the_hour = |s: usize| -> f64 {
        [Allowance::Apa, Allowance::Pch, Allowance::SocialAid]
            .iter()
            .filter(|a| !funded[a.ordinal()])
            .map(|&a| hours(a, s))
            .sum()
    };
    let activity_hours = ActivityHours {
        apa: by(Allowance::Apa),
        pch: by(Allowance::Pch),
        social_aid: by(Allowance::SocialAid),
        other: by(Allowance::Other),
        funded_by_formula: sum(&funded_hours),
        paid_by_the_hour: sum(&by_the_hour),
    };

    // The model's hourly value of each service: its formula funding over its funded hours.
    let value: Vec<Option<f64>> = (0..n)
        .map(|s| (design.hours[s] > 0.0).then(|| funding[s] / design.hours[s]))
        .collect();
    let mut checked = Vec::new();
    let mut checked_over = Vec::new();
    let mut over = Vec::new();
    if funded[Allowance::Apa.ordinal()] && mtp > 0.0 {
        for u in 0..us.len() {
            if us.allowance[u] != Allowance::Apa {
                continue;
            }
            let s = us.service[u] as usize;
            let (Some(v), Some(ceiling)) = (value[s], legal::apa_ceiling(us.gir[u] as i32, mtp))
            else {
                continue;
            };
            checked.push(u);
            let plan_valued = us.plan_hours_month[u] * v;
            let is_over = plan_valued > ceiling * (1.0 + 1e-12);
            checked_over.push(is_over);
            if is_over {
                over.push(PlanOverCeiling {
                    user_id: us.id[u].clone(),
                    service_id: sv.id[s].clone(),
                    gir: us.gir[u],
                    plan_hours_month: us.plan_hours_month[u],
                    hourly_value: v,
                    plan_valued,
                    ceiling,
                });
            }
        }
    }
    let wu = |u: usize| w[us.service[u] as usize];
    let total_w = compensated_sum(checked.len(), |i| wu(checked[i]));
    let over_w = compensated_sum(checked.len(), |i| {
        if checked_over[i] { wu(checked[i]) } else { 0.0 }
    });
    over.sort_by(|a, b| {
        (b.plan_valued - b.ceiling)
            .total_cmp(&(a.plan_valued - a.ceiling))
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    let over_count = over.len();
    over.truncate(LISTED);

    let baseline_funded = sum(&|s| design.baseline[s]);
    let target = sum(&|s| design.target[s]);
    let pch_by_formula = funded[Allowance::Pch.ordinal()];
    let participation = spec.guarantees.participation;
    LawReport {
        pch_by_formula,
        pch_note: pch_by_formula.then(|| {
            "the formula funds PCH hours (formula.allow_pch): « La forfaitisation de la PCH n'est pas prévue par le code de l'action sociale et des familles » (seed 000, annexe 2)".to_string()
        }),
        participation: participation.name().to_string(),
        participation_note: participation.legal_note().to_string(),
        resources_only_gir4: spec.guarantees.resources_only_gir4
            && participation == Participation::ResourcesOnly,
        activity_hours,
        plans_over_ceiling: CeilingCheck {
            users: checked.len(),
            over: over_count,
            over_share: if total_w > 0.0 { over_w / total_w } else { 0.0 },
            worst: over,
        },
        budget: Budget {
            baseline_funded,
            carried: sum(&|s| design.carried[s]),
            change: spec.neutrality.budget_change,
            factor: if baseline_funded != 0.0 {
                target / baseline_funded
            } else {
                1.0
            },
            target,
        },
    }
}
