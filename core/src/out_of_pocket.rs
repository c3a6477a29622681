//! The users' out-of-pocket per billed hour under hourly funding and under a calibrated
//! model, for each participation option of the forfait global négocié (seed 001 §7), and
//! the range of funding in which a user's out-of-pocket does not rise (décret 2024-754).
//!
//! Today (the baseline, [`crate::baseline`]) an APA user pays the share `P(A)/A` of every
//! hour billed at the service's rate `v0`, `P` the participation of art. R.232-11 on the
//! accepted plan `A`; an NHAS user also pays the extra-legal difference `price − v0`.
//!
//! Under a model paying service `s` the amount `F_s` instead of `F0_s` for the allowances
//! it funds, the public money behind each of their hours is worth `v1 = v0 · F_s / F0_s`
//! (a model that changes nothing leaves every user where they are); `v0` is the rate of
//! the user's hours today (APA and PCH: the rate raised to the floor; social aid: the
//! tariff). Users of the allowances the model does not fund stay paid by the hour, and
//! their out-of-pocket does not move ([`OutOfPocket::restrict_to`]). The NHAS price billed is the service's own and is
//! held, so an NHAS user pays `max(price − v1, 0)` on top of the participation. The
//! participation depends on the option, never on the service's funding — seed 001 §1:
//! the participation "ne varie plus en fonction des différents prix de revient horaires":
//!
//! - [`Participation::Unchanged`] (7.1, art. R.232-11 as in force): today's share
//!   `P(A)/A` of every hour at today's rate `v0`, the valuation the département keeps
//!   (not the model's hourly value);
//! - [`Participation::AcceptedPlan`] (7.2): `P(A)` a month on the accepted plan, whatever
//!   the hours used, spread over the hours billed a month (the visits observed, or the
//!   plan's hours for a user without visits): users who use less than their plan pay more
//!   per hour;
//! - [`Participation::ResourcesOnly`] (7.3, « pour les GIR 1,2 et 3, voire GIR 4 »): a
//!   rate set by resources alone, `0.9 x` (the rate of the plan's first tranche; 0 when
//!   exempt, 90 % above 2.67 MTP), on the département's hourly value
//!   `max(tarif_reference, floor)`, the same for every service of the département — for
//!   users of GIR 1–3, and of GIR 4 only when asked ([`OutOfPocket::set_resources_only_gir4`]);
//!   other users keep 7.1. 7.3 departs from the CASF participation, which the 2025–2026
//!   experiment does not allow (seed 000: « ne déroge pas au cadre posé par le CASF
//!   concernant la participation financière »).
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
use crate::tables::{Allowance, Code, Microdata};

/// Weeks in a month (52 weeks over 12 months).
const WEEKS_PER_MONTH: f64 = 52.0 / 12.0;

/// How APA users participate under the model (seed 001 §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Participation {
    /// 7.1: art. R.232-11 unchanged: today's share of every hour at today's rate.
    #[default]
    Unchanged,
    /// 7.2: on the accepted plan, a fixed amount a month (the rule of art. D.232-11-1 for
    /// a forfait global).
    AcceptedPlan,
    /// 7.3: a rate from resources alone, on the département's hourly value (GIR 1–3, and
    /// GIR 4 when asked); a departure from the CASF.
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

    /// What the option is in law, for every report: 7.1 is art. R.232-11, 7.2 the
    /// accepted-plan rule of art. D.232-11-1, 7.3 a departure from the CASF that the
    /// 2025–2026 experiment does not allow.
    pub fn legal_note(self) -> &'static str {
        match self {
            Participation::Unchanged => {
                "7.1 (seed 001): the participation of art. R.232-11 CASF, as in force"
            }
            Participation::AcceptedPlan => {
                "7.2 (seed 001): the participation on the accepted plan, the rule of art. D.232-11-1 CASF for an APA paid by a forfait global"
            }
            Participation::ResourcesOnly => {
                "7.3 (seed 001): a participation from resources alone departs from the CASF participation (art. R.232-11), which the 2025-2026 experiment does not allow (seed 000: « L'expérimentation ne déroge pas au cadre posé par le CASF concernant la participation financière des bénéficiaires de l'APA et la PCH »)"
            }
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
    /// Per user: the GIR (0 when unknown).
    gir: Vec<u8>,
    /// Per user: whether the model funds the user's allowance (all, until
    /// [`OutOfPocket::restrict_to`]).
    funded: Vec<bool>,
    /// Per user: the allowance.
    allowance: Vec<Allowance>,
    /// Whether 7.3 applies to GIR 4 users too (« voire GIR 4 »).
    resources_only_gir4: bool,
    /// Per user: today's rate of the user's hours `v0`, €/h.
    user_rate: Vec<f64>,
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
        let user_rate = (0..us.len())
            .map(|u| {
                let s = us.service[u] as usize;
                match us.allowance[u] {
                    Allowance::SocialAid => b.services.rate_social_aid[s],
                    _ => b.services.rate[s],
                }
            })
            .collect();
        Ok(OutOfPocket {
            mtp,
            service: us.service.clone(),
            apa,
            gir: us.gir.clone(),
            funded: vec![true; us.len()],
            allowance: us.allowance.clone(),
            resources_only_gir4: false,
            user_rate,
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

    /// Today's rate of service `s`'s APA and PCH hours, €/h.
    pub fn rate(&self, s: usize) -> f64 {
        self.rate[s]
    }

    /// Today's rate of user `u`'s hours, €/h: the hourly value `v0` under hourly funding
    /// (the APA and PCH rate, or the tariff for social aid).
    pub fn user_rate(&self, u: usize) -> f64 {
        self.user_rate[u]
    }

    /// Whether the model funds user `u`'s allowance.
    pub fn funded(&self, u: usize) -> bool {
        self.funded[u]
    }

    /// Limits the model to the allowances marked in `funded` (indexed by
    /// `Allowance::ordinal`): the other users stay paid by the hour and keep today's
    /// out-of-pocket under every option.
    pub fn restrict_to(&mut self, funded: [bool; 4]) {
        for (f, a) in self.funded.iter_mut().zip(&self.allowance) {
            *f = funded[a.ordinal()];
        }
    }

    /// Applies 7.3 to GIR 4 users too (seed 001: « pour les GIR 1,2 et 3, voire GIR 4 »).
    pub fn set_resources_only_gir4(&mut self, on: bool) {
        self.resources_only_gir4 = on;
    }

    /// Hours billed a month to user `u`.
    pub fn billed_hours_month(&self, u: usize) -> f64 {
        self.billed_hours_month[u]
    }

    /// The hourly value of user `u`'s hours under a model paying the service `funding`
    /// where the baseline paid `baseline` for the funded allowances: `v0 · funding /
    /// baseline`, or `v0` for a user whose allowance the model does not fund.
    pub fn hourly_value(&self, u: usize, baseline: f64, funding: f64) -> f64 {
        let v0 = self.user_rate[u];
        if baseline > 0.0 && self.funded[u] {
            v0 * (funding / baseline)
        } else {
            v0
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
                if self.gir[u] == 4 && !self.resources_only_gir4 {
                    return self.participation(u, Participation::Unchanged);
                }
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
        let before = self.before[u]?;
        if !self.funded[u] {
            // Paid by the hour as today: the model changes nothing for this user.
            return Some(before);
        }
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
                self.per_hour(u, option, self.hourly_value(u, baseline[s], funding[s]))
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
        if !self.funded[u] {
            return Some(Admissible::From(0.0));
        }
        let c = self.participation(u, option);
        if c > target {
            return Some(Admissible::Never { lowest: c });
        }
        let lo = self.price[self.service(u)].map_or(0.0, |p| (p - (target - c)).max(0.0));
        Some(Admissible::From(lo))
    }
}
