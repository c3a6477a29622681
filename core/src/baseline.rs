//! Today's hourly funding: the baseline every formula must stay neutral against.
//!
//! For service `s`: `F0_s = (H_apa + H_pch) · rate_s + H_social_aid · tariff_s + DC_s`,
//! where `tariff_s` is the service's own tariff (HAS) or its département's reference
//! tariff (NHAS) and `rate_s = max(tariff_s, floor)` (DOMAIN.md §3). The floor is a
//! minimum for APA and PCH hours only — seed 000: « une recette minimale pour chaque heure
//! d'intervention auprès des bénéficiaires de l'APA et la PCH »; social-aid hours are paid
//! at the tariff. Users pay their legal APA participation (art. R.232-11):
//! a share `P/A` of every hour billed, `P` the participation on the accepted plan `A`; NHAS
//! users also pay the extra-legal difference `price_billed − rate` when positive.
//!
//! A service's annual participation is its APA hours × rate × the hours-weighted mean of its
//! APA users' participation rates, each user weighted by the hours the visits show (or, for
//! a service without APA visits, by plan hours × months served). Public cost is funding
//! minus that participation. Totals per département and for the nation are weighted by the
//! services' design weights, summed in service order.

use crate::aggregate::{Drivers, VisitDriver};
use crate::error::CoreError;
use crate::legal::{self, YearRules};
use crate::tables::{Allowance, Microdata};

/// Options of the baseline.
#[derive(Clone, Debug, Default)]
pub struct BaselineOptions {
    /// The MTP of the year when the built-in table does not hold it.
    pub mtp: Option<f64>,
    /// Use this floor tariff instead of the year's (a scenario; `None` for the law's).
    pub floor: Option<f64>,
}

/// Baseline of every service, column by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceBaseline {
    /// APA + PCH + social-aid hours, h/year.
    pub hours_funded: Vec<f64>,
    /// €/h applied to APA and PCH hours: max(tariff, floor).
    pub rate: Vec<f64>,
    /// €/h applied to social-aid hours: the tariff, without the floor.
    pub rate_social_aid: Vec<f64>,
    /// (APA + PCH hours) × rate + social-aid hours × rate_social_aid + dotation
    /// complémentaire, €/year.
    pub funding: Vec<f64>,
    /// Users' legal participation, €/year.
    pub user_participation: Vec<f64>,
    /// funding − user_participation, €/year.
    pub public_cost: Vec<f64>,
}

/// Baseline of every user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserBaseline {
    /// Legal APA participation on the accepted plan, €/month (0 for other allowances).
    pub participation_month: Vec<f64>,
    /// Out-of-pocket per billed hour, €/h: legal participation plus the NHAS extra-legal
    /// part; `None` for `other` users, whose hours no public funder pays.
    pub oop_per_hour: Vec<Option<f64>>,
}

/// Weighted totals of a group of services.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Σ weights: the services the group stands for.
    pub services: f64,
    /// Σ w · hours_funded.
    pub hours_funded: f64,
    /// Σ w · funding.
    pub funding: f64,
    /// Σ w · user participation.
    pub user_participation: f64,
    /// Σ w · public cost.
    pub public_cost: f64,
    /// Σ w · cost_total.
    pub cost_total: f64,
}

impl Totals {
    fn add(&mut self, w: f64, hours: f64, funding: f64, participation: f64, cost: f64) {
        self.services += w;
        self.hours_funded += w * hours;
        self.funding += w * funding;
        self.user_participation += w * participation;
        self.public_cost += w * (funding - participation);
        self.cost_total += w * cost;
    }

    /// Funding per hour funded.
    pub fn funding_per_hour(&self) -> f64 {
        if self.hours_funded > 0.0 {
            self.funding / self.hours_funded
        } else {
            0.0
        }
    }
}

/// Today's hourly funding of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// The legal parameters used.
    pub rules: YearRules,
    /// Per service.
    pub services: ServiceBaseline,
    /// Per user.
    pub users: UserBaseline,
    /// Weighted totals per département, in the order of the `departements` table.
    pub departements: Vec<Totals>,
    /// Weighted national totals.
    pub national: Totals,
    /// Services with APA hours but no APA user in `users`: their participation is unknown
    /// and counted as zero.
    pub services_without_apa_users: usize,
}

/// The tariff of service `s`: its own (HAS) or its département's reference tariff (NHAS).
/// Social-aid hours are paid at it.
pub fn service_tariff(m: &Microdata, s: usize) -> f64 {
    let sv = &m.services;
    if sv.habilitated[s] {
        sv.tariff_hourly[s].unwrap_or(0.0)
    } else {
        m.departements.tarif_reference[sv.departement[s] as usize]
    }
}

/// The rate applied to service `s`'s APA and PCH hours: its tariff raised to the floor.
pub fn service_rate(m: &Microdata, s: usize, floor: f64) -> f64 {
    service_tariff(m, s).max(floor)
}

impl ServiceBaseline {
    /// Service `s`'s hourly funding of one allowance's hours, €/year (0 for `other`, which
    /// no public funder pays; the dotation complémentaire is not an allowance's).
    pub fn funding_of(&self, m: &Microdata, s: usize, a: Allowance) -> f64 {
        let sv = &m.services;
        match a {
            Allowance::Apa => sv.hours_apa[s] * self.rate[s],
            Allowance::Pch => sv.hours_pch[s] * self.rate[s],
            Allowance::SocialAid => sv.hours_social_aid[s] * self.rate_social_aid[s],
            Allowance::Other => 0.0,
        }
    }
}

/// Computes the baseline of validated microdata.
pub fn baseline(
    m: &Microdata,
    drivers: &Drivers,
    options: &BaselineOptions,
) -> Result<Baseline, CoreError> {
    let mut rules = YearRules::for_year(m.year, options.mtp)?;
    if let Some(f) = options.floor {
        rules.floor = f;
    }
    let needs_mtp = m.users.allowance.contains(&Allowance::Apa);
    let mtp = if needs_mtp { rules.mtp()? } else { 0.0 };
    let sv = &m.services;
    let us = &m.users;
    let n = sv.len();

    let tariff: Vec<f64> = (0..n).map(|s| service_tariff(m, s)).collect();
    let rate: Vec<f64> = tariff.iter().map(|t| t.max(rules.floor)).collect();
    let extra_legal = |s: usize, v: f64| match sv.price_billed[s] {
        Some(p) if !sv.habilitated[s] => (p - v).max(0.0),
        _ => 0.0,
    };

    // Users: participation on the plan, and its rate P/A.
    let mut users = UserBaseline {
        participation_month: Vec::with_capacity(us.len()),
        oop_per_hour: Vec::with_capacity(us.len()),
    };
    let mut part_rate = vec![0.0; us.len()];
    for u in 0..us.len() {
        let s = us.service[u] as usize;
        let (p, oop) = match us.allowance[u] {
            Allowance::Apa => {
                let r = legal::counted_resources(us.resources_month[u], us.couple[u]);
                let plan = us.plan_amount_month[u];
                let p = legal::apa_participation(plan, r, mtp);
                part_rate[u] = legal::apa_participation_rate(plan, r, mtp);
                (p, Some(part_rate[u] * rate[s] + extra_legal(s, rate[s])))
            }
            Allowance::Pch => (0.0, Some(extra_legal(s, rate[s]))),
            Allowance::SocialAid => (0.0, Some(extra_legal(s, tariff[s]))),
            Allowance::Other => (0.0, None),
        };
        users.participation_month.push(p);
        users.oop_per_hour.push(oop);
    }

    // Hours-weighted mean participation rate of each service's APA users.
    let mut visit_h = vec![0.0; n];
    let mut visit_hr = vec![0.0; n];
    let mut plan_h = vec![0.0; n];
    let mut plan_hr = vec![0.0; n];
    let mut has_apa_user = vec![false; n];
    for u in 0..us.len() {
        if us.allowance[u] != Allowance::Apa {
            continue;
        }
        let s = us.service[u] as usize;
        has_apa_user[s] = true;
        let h = drivers.user(u)[VisitDriver::Hours as usize];
        visit_h[s] += h;
        visit_hr[s] += h * part_rate[u];
        let ph = us.plan_hours_month[u] * us.months_served[u];
        plan_h[s] += ph;
        plan_hr[s] += ph * part_rate[u];
    }
    let mut services = ServiceBaseline::default();
    let mut departements = vec![Totals::default(); m.departements.len()];
    let mut national = Totals::default();
    let mut services_without_apa_users = 0;
    for s in 0..n {
        let hours = sv.hours_funded(s);
        let funding = (sv.hours_apa[s] + sv.hours_pch[s]) * rate[s]
            + sv.hours_social_aid[s] * tariff[s]
            + sv.dotation_complementaire[s];
        let mean_rate = if visit_h[s] > 0.0 {
            visit_hr[s] / visit_h[s]
        } else if plan_h[s] > 0.0 {
            plan_hr[s] / plan_h[s]
        } else {
            0.0
        };
        if sv.hours_apa[s] > 0.0 && !has_apa_user[s] {
            services_without_apa_users += 1;
        }
        let participation = sv.hours_apa[s] * rate[s] * mean_rate;
        services.hours_funded.push(hours);
        services.rate.push(rate[s]);
        services.rate_social_aid.push(tariff[s]);
        services.funding.push(funding);
        services.user_participation.push(participation);
        services.public_cost.push(funding - participation);
        let w = sv.design_weight[s];
        let cost = sv.cost_total[s];
        departements[sv.departement[s] as usize].add(w, hours, funding, participation, cost);
        national.add(w, hours, funding, participation, cost);
    }
    Ok(Baseline {
        rules,
        services,
        users,
        departements,
        national,
        services_without_apa_users,
    })
}
