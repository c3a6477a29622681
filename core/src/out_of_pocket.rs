//! The users' out-of-pocket per billed hour under hourly funding and under a calibrated
//! model, for each participation option of the forfait global négocié (seed 001 §7), and
//! the range of funding in which a user's out-of-pocket does not rise (décret 2024-754).
//!
//! Today (the baseline, [`crate::baseline`]) an APA user pays the share `P(A)/A` of every
//! hour billed at the service's rate `v0`, `P` the participation of art. R.232-11 on the
//! accepted plan `A`; an NHAS user also pays the extra-legal difference `price − v0`.
//!
//! Under a model paying service `s` the amount `F_s` instead of `F0_s`, the public money
//! behind each of its hours is worth `v1 = v0 · F_s / F0_s` (a model that changes nothing
//! leaves every user where they are). The NHAS price billed is the service's own and is
//! held, so an NHAS user pays `max(price − v1, 0)` on top of the participation. The
//! participation depends on the option, never on the service's funding — seed 001 §1:
//! the participation "ne varie plus en fonction des différents prix de revient horaires":
//!
//! - [`Participation::Unchanged`] (7.1, art. R.232-11 as in force): today's share
//!   `P(A)/A` of the plan valued at today's rate, the valuation the département keeps;
//! - [`Participation::AcceptedPlan`] (7.2): `P(A)` a month on the accepted plan, whatever
//!   the hours used, spread over the hours billed a month (the visits observed, or the
//!   plan's hours for a user without visits): users who use less than their plan pay more
//!   per hour;
//! - [`Participation::ResourcesOnly`] (7.3): a rate set by resources alone, `0.9 x` (the
//!   rate of the plan's first tranche; 0 when exempt, 90 % above 2.67 MTP), on the
//!   département's hourly value `max(tarif_reference, floor)`, the same for every service
//!   of the département.
//!
//! These readings of seed 001 are the project's modelling choices; `docs/guarantees.md`
//! states them with their consequences. As a function of the hourly value `v`, a user's
//! out-of-pocket is a constant plus `max(price − v, 0)`: the values of `v` where it does
//! not exceed today's are a half-line ([`OutOfPocket::admissible`]), or none when the
//! option alone makes the user pay more.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Drivers, VisitDriver};
use crate::baseline::Baseline;
use crate::error::CoreError;
use crate::legal::{self, ResourceBracket};
use crate::tables::{Allowance, Microdata};

/// Weeks in a month (52 weeks over 12 months).
const WEEKS_PER_MONTH: f64 = 52.0 / 12.0;

/// How APA users participate under the model (seed 001 §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Participation {
    /// 7.1: art. R.232-11 unchanged, on the plan valued at the model's hourly value.
    #[default]
    Unchanged,
    /// 7.2: on the accepted plan, a fixed amount a month.
    AcceptedPlan,
    /// 7.3: a rate from resources alone, on the département's hourly value.
    ResourcesOnly,
}

impl Participation {
    /// Every option, in the order of seed 001 §7.
    pub const ALL: [Participation; 3] = [
        Participation::Unchanged,
        Participation::AcceptedPlan,
        Participation::ResourcesOnly,
    ];

    /// Position in [`Participation::ALL`].
    pub fn ordinal(self) -> usize {
        self as usize
    }

    /// The name used in specs and results.
    pub fn name(self) -> &'static str {
        match self {
            Participation::Unchanged => "unchanged",
            Participation::AcceptedPlan => "accepted_plan",
            Participation::ResourcesOnly => "resources_only",
        }
    }
}

/// Bands of counted resources for the impact tables: the brackets of art. R.232-11, the
/// progressive one cut where `x = (r − 0.725 MTP) / (1.945 MTP)` reaches ½.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceBand {
    /// Up to 0.725 MTP: no participation.
    Exempt,
    /// `x` below ½.
    ProgressiveLow,
    /// `x` from ½.
    ProgressiveHigh,
    /// Above 2.67 MTP.
    Full,
    /// Not an APA user.
    NotApa,
}

impl ResourceBand {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            ResourceBand::Exempt => "exempt",
            ResourceBand::ProgressiveLow => "progressive_low",
            ResourceBand::ProgressiveHigh => "progressive_high",
            ResourceBand::Full => "full",
            ResourceBand::NotApa => "not_apa",
        }
    }
}

/// The values of the hourly value `v` where a user's out-of-pocket does not exceed today's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admissible {
    /// From `v ≥ lowest_value` on (0 when any value will do).
    From(f64),
    /// At no value: the option alone raises the out-of-pocket, to at least `lowest` €/h.
    Never {
        /// The lowest out-of-pocket the option allows, €/h.
        lowest: f64,
    },
}

/// What decides an APA user's participation.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Apa {
    /// Accepted plan, €/month.
    plan: f64,
    /// Counted resources, €/month.
    resources: f64,
}

/// Everything the out-of-pocket of every user depends on, gathered once.
#[derive(Clone, Debug)]
pub struct OutOfPocket {
    mtp: f64,
    /// Per user: the service's index.
    service: Vec<u32>,
    /// Per user: the APA terms (`None` for other allowances).
    apa: Vec<Option<Apa>>,
    /// Per user: hours billed a month.
    billed_hours_month: Vec<f64>,
    /// Per service: today's rate `v0`, €/h.
    rate: Vec<f64>,
    /// Per service: the price an NHAS service bills, €/h.
    price: Vec<Option<f64>>,
    /// Per service: its département's hourly value, €/h.
    reference_rate: Vec<f64>,
    /// Per user: today's out-of-pocket, €/h (`None` for users no public funder pays).
    pub before: Vec<Option<f64>>,
}

impl OutOfPocket {
    /// Gathers the terms of every user.
    pub fn new(m: &Microdata, drivers: &Drivers, b: &Baseline) -> Result<OutOfPocket, CoreError> {
        let us = &m.users;
        let sv = &m.services;
        let mtp = if us.allowance.contains(&Allowance::Apa) {
            b.rules.mtp()?
        } else {
            0.0
        };
        let apa = (0..us.len())
            .map(|u| {
                (us.allowance[u] == Allowance::Apa).then(|| Apa {
                    plan: us.plan_amount_month[u].max(0.0),
                    resources: legal::counted_resources(us.resources_month[u], us.couple[u]),
                })
            })
            .collect();
        let billed_hours_month = (0..us.len())
            .map(|u| {
                let h = drivers.user(u)[VisitDriver::Hours as usize];
                if h > 0.0 && drivers.weeks > 0.0 {
                    h / drivers.weeks * WEEKS_PER_MONTH
                } else {
                    us.plan_hours_month[u]
                }
            })
            .collect();
        let price = (0..sv.len())
            .map(|s| {
                if sv.habilitated[s] {
                    None
                } else {
                    sv.price_billed[s]
                }
            })
            .collect();
        let reference_rate = (0..sv.len())
            .map(|s| m.departements.tarif_reference[sv.departement[s] as usize].max(b.rules.floor))
            .collect();
        Ok(OutOfPocket {
            mtp,
            service: us.service.clone(),
            apa,
            billed_hours_month,
            rate: b.services.rate.clone(),
            price,
            reference_rate,
            before: b.users.oop_per_hour.clone(),
        })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.before.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.before.is_empty()
    }

    /// Index of user `u`'s service.
    pub fn service(&self, u: usize) -> usize {
        self.service[u] as usize
    }

    /// Today's rate of service `s`, €/h: the hourly value `v0` under hourly funding.
    pub fn rate(&self, s: usize) -> f64 {
        self.rate[s]
    }

    /// Hours billed a month to user `u`.
    pub fn billed_hours_month(&self, u: usize) -> f64 {
        self.billed_hours_month[u]
    }

    /// The hourly value of a service's hours under a model: `v0 · funding / baseline`.
    pub fn hourly_value(&self, s: usize, baseline: f64, funding: f64) -> f64 {
        if baseline > 0.0 {
            self.rate[s] * (funding / baseline)
        } else {
            self.rate[s]
        }
    }

    /// The participation part of user `u`'s out-of-pocket under `option`, €/h. It does
    /// not depend on the model's funding of the service.
    fn participation(&self, u: usize, option: Participation) -> f64 {
        let Some(a) = self.apa[u] else { return 0.0 };
        match option {
            Participation::Unchanged => {
                legal::apa_participation_rate(a.plan, a.resources, self.mtp)
                    * self.rate[self.service(u)]
            }
            Participation::AcceptedPlan => {
                let h = self.billed_hours_month[u];
                if h > 0.0 {
                    legal::apa_participation(a.plan, a.resources, self.mtp) / h
                } else {
                    0.0
                }
            }
            Participation::ResourcesOnly => {
                legal::apa_resources_rate(a.resources, self.mtp)
                    * self.reference_rate[self.service(u)]
            }
        }
    }

    fn extra_legal(&self, s: usize, v: f64) -> f64 {
        self.price[s].map_or(0.0, |p| (p - v).max(0.0))
    }

    /// User `u`'s out-of-pocket, €/h, when the service's hours are worth `v`; `None` for a
    /// user no public funder pays.
    pub fn per_hour(&self, u: usize, option: Participation, v: f64) -> Option<f64> {
        self.before[u]?;
        Some(self.participation(u, option) + self.extra_legal(self.service(u), v))
    }

    /// Every user's out-of-pocket under each option of [`Participation::ALL`], in that
    /// order, with the same funding.
    pub fn after_by_option(&self, funding: &[f64], baseline: &[f64]) -> [Vec<Option<f64>>; 3] {
        Participation::ALL.map(|o| self.after(o, funding, baseline))
    }

    /// Every user's out-of-pocket under a model paying `funding` where the baseline paid
    /// `baseline` (both per service).
    pub fn after(
        &self,
        option: Participation,
        funding: &[f64],
        baseline: &[f64],
    ) -> Vec<Option<f64>> {
        (0..self.len())
            .map(|u| {
                let s = self.service(u);
                self.per_hour(u, option, self.hourly_value(s, baseline[s], funding[s]))
            })
            .collect()
    }

    /// User `u`'s band of counted resources.
    pub fn resource_band(&self, u: usize) -> ResourceBand {
        let Some(a) = self.apa[u] else {
            return ResourceBand::NotApa;
        };
        match legal::resource_bracket(a.resources, self.mtp) {
            ResourceBracket::Exempt => ResourceBand::Exempt,
            ResourceBracket::Full => ResourceBand::Full,
            ResourceBracket::Progressive => {
                if a.resources - 0.725 * self.mtp < 0.5 * 1.945 * self.mtp {
                    ResourceBand::ProgressiveLow
                } else {
                    ResourceBand::ProgressiveHigh
                }
            }
        }
    }

    /// The hourly values where user `u`'s out-of-pocket does not exceed today's; `None`
    /// for a user no public funder pays. The participation `c` does not depend on the
    /// service's funding, so `c + max(price − v, 0) ≤ today's` holds from
    /// `v = price − (today's − c)` on, or nowhere when `c` alone exceeds today's.
    pub fn admissible(&self, u: usize, option: Participation) -> Option<Admissible> {
        let target = self.before[u]?;
        let c = self.participation(u, option);
        if c > target {
            return Some(Admissible::Never { lowest: c });
        }
        let lo = self.price[self.service(u)].map_or(0.0, |p| (p - (target - c)).max(0.0));
        Some(Admissible::From(lo))
    }
}
