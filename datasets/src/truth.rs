//! `Truth`: what a calibration run should recover, written by the caller as `truth.json`
//! next to the data. It holds the configuration, the legal figures of the year, every
//! parameter of the cost data-generating process with its unit, the implied true cost per
//! user-month of each user group (a Monte-Carlo over a separate, fixed seed), the frame
//! totals, the strata and the sample's totals.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calendar::YearCalendar;
use crate::frame::{Frame, Stratum, build_frame, stream_rng};
use crate::model::{DgpParameters, Slot, UserGroup};
use crate::reference::{DeptRecord, LegalYear};
use crate::sim::{Env, direct_cost, draw_profile_in_group, draw_user, group_probability};

/// Version of the generator: changes whenever the same configuration would produce
/// different data.
pub const GENERATOR_VERSION: &str = "1.0.0";
/// Seed of the Monte-Carlo behind the implied costs, independent of the survey's seed so
/// that the truth of a year is the same for every sample.
pub const IMPLIED_COST_SEED: u64 = 0x5AD0_2026_C057;
/// Simulated users per group in that Monte-Carlo.
pub const IMPLIED_COST_DRAWS: usize = 20_000;
const CHUNK: usize = 1_000;

/// The cost formula in words (also in the crate documentation).
pub const DGP_FORMULA: &str = "cost_total_s = e_s * (1 + phi) * D_s, \
D_s = sum_u m_u * kappa_g(u) \
+ sum_{slot k, qualification q} H_s[k,q] * wage_q * (1 + uplift_k) \
+ T_s * travel_cost_per_hour + K_s * cost_per_km, \
e_s = exp(sigma * Z_s - sigma^2 / 2), Z_s ~ N(0, 1); \
cost_g1 = e_s * K_s * cost_per_km, cost_g3 = e_s * phi * D_s, \
cost_g2 = cost_total - cost_g1 - cost_g3 (all rounded to the cent)";

const DGP_DESCRIPTION: &str = "Each service's annual cost is linear in its annual drivers \
before a multiplicative service random effect. The drivers are exact sums over its users' \
served days: m_u months served by user u, whose group g(u) is allowance x GIR band \
(1-2, 3-4, other) x entourage (low 0-1, high 2-3) and carries a coordination cost kappa per \
user-month; H[k,q] carer-hours at users' homes (visit minutes x carers / 60) by slot k \
(weekday, evening, sunday_holiday, night) and carer qualification q (A, B, C), each costing \
the qualification's wage times one plus the slot's uplift; T carer travel hours \
(travel minutes x carers / 60) and K carer-km (km x carers). Structure overhead phi is a \
share of that direct cost. The random effect e_s has mean 1 and log-scale standard \
deviation sigma. Cost groups: G1 (current operating) is the mileage cost, G3 (structure) \
the overhead, G2 (staff) the rest. Hours delivered (hours_apa, ...) count visit minutes \
once whatever the number of carers.";

/// One named parameter with its unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    /// Name, e.g. `wage_per_carer_hour.A`.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Unit, e.g. `EUR/carer-hour`.
    pub unit: String,
    /// What it is.
    pub description: String,
}

/// The data-generating process of `services.cost_total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DgpTruth {
    /// Prose description.
    pub description: String,
    /// The formula.
    pub formula: String,
    /// The parameters as one list with units.
    pub parameters: Vec<Parameter>,
    /// The same parameters as a structure.
    pub values: DgpParameters,
}

/// A value by slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BySlot {
    /// Weekday slot.
    pub weekday: f64,
    /// Evening slot.
    pub evening: f64,
    /// Sunday or public holiday.
    pub sunday_holiday: f64,
    /// Night.
    pub night: f64,
}

impl BySlot {
    fn from_array(a: [f64; 4]) -> Self {
        Self {
            weekday: a[Slot::Weekday.index()],
            evening: a[Slot::Evening.index()],
            sunday_holiday: a[Slot::SundayHoliday.index()],
            night: a[Slot::Night.index()],
        }
    }
}

/// The truth of one user group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupTruth {
    /// `"<allowance>/<gir band>/<entourage>"`, e.g. `"APA/1-2/low"`.
    pub group: String,
    /// `APA`, `PCH`, `social_aid` or `other`.
    pub allowance: String,
    /// `1-2`, `3-4` or `other`.
    pub gir_band: String,
    /// `low` (entourage 0–1) or `high` (2–3).
    pub entourage: String,
    /// The DGP's coordination cost, € per user-month.
    pub coordination_per_user_month: f64,
    /// Expected all-in cost per user-month served (direct cost × (1 + overhead); the
    /// random effect has mean 1): E\[cost\] / E\[months\] over the group's users, €.
    pub implied_cost_per_user_month: f64,
    /// Monte-Carlo standard error of the above, €.
    pub implied_cost_std_error: f64,
    /// The same cost per hour delivered, €/h.
    pub implied_cost_per_hour: f64,
    /// Hours delivered per user-month.
    pub hours_per_user_month: f64,
    /// Carer-hours at home per user-month, by slot.
    pub carer_hours_per_user_month: BySlot,
    /// Carer travel hours per user-month.
    pub travel_hours_per_user_month: f64,
    /// Carer-km per user-month.
    pub km_per_user_month: f64,
    /// Visits per user-month.
    pub visits_per_user_month: f64,
    /// Simulated users.
    pub draws: usize,
}

/// How the implied costs were computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpliedCostMethod {
    /// Seed of the Monte-Carlo (not the survey's).
    pub seed: u64,
    /// Users simulated per group.
    pub draws_per_group: usize,
    /// The method in words.
    pub description: String,
}

/// Totals of the national frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameTotals {
    /// Départemental units.
    pub departements: usize,
    /// Services (6,314).
    pub services: usize,
    /// Services by status.
    pub services_by_status: BTreeMap<String, usize>,
    /// HAS services.
    pub habilitated: usize,
    /// SAD mixtes.
    pub mixed: usize,
    /// Disability-specialised services.
    pub disability_specialised: usize,
    /// Users over the year (each service generates exactly its frame count).
    pub users: u64,
    /// The register's APA+PCH hours (the stratification size measure).
    pub declared_hours_apa_pch: f64,
}

/// Totals of the generated services (the sample, or the census at national scale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleTotals {
    /// Services generated.
    pub services: usize,
    /// Users generated.
    pub users: u64,
    /// Visit rows generated (the visit period only).
    pub visits: u64,
    /// Annual visits of the generated users (whole year).
    pub annual_visits: f64,
    /// Hours delivered by allowance (APA, PCH, social_aid, other).
    pub hours: BTreeMap<String, f64>,
    /// The same weighted by the design weights (estimates of national totals).
    pub weighted_hours: BTreeMap<String, f64>,
    /// Σ w × users: estimate of national users.
    pub weighted_users: f64,
    /// Σ cost_total.
    pub cost_total: f64,
    /// Σ w × cost_total.
    pub weighted_cost_total: f64,
    /// Σ w × cost_total / Σ w × hours (all funders), €/h.
    pub weighted_cost_per_hour: f64,
    /// Share of the estimated national APA+PCH hours held by the generated services.
    pub share_of_apa_pch_hours: f64,
}

/// Everything a calibration should be checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// `dotation-datasets`.
    pub generator: String,
    /// [`GENERATOR_VERSION`].
    pub version: String,
    /// The survey seed.
    pub seed: u64,
    /// `survey` or `national`.
    pub scale: String,
    /// The year.
    pub year: i32,
    /// First day of the visits table, `YYYY-MM-DD`.
    pub visits_from: String,
    /// Last day of the visits table.
    pub visits_to: String,
    /// The year's legal figures.
    pub legal: LegalYear,
    /// The cost data-generating process.
    pub dgp: DgpTruth,
    /// Per user group: the implied true cost per user-month and its drivers.
    pub groups: Vec<GroupTruth>,
    /// How `groups` was computed.
    pub implied_cost_method: ImpliedCostMethod,
    /// The national frame.
    pub frame: FrameTotals,
    /// The sampling design's strata (N_h, n_h).
    pub strata: Vec<Stratum>,
    /// The generated services' totals.
    pub sample: SampleTotals,
}

fn p(name: impl Into<String>, value: f64, unit: &str, description: &str) -> Parameter {
    Parameter {
        name: name.into(),
        value,
        unit: unit.to_owned(),
        description: description.to_owned(),
    }
}

/// The DGP section of the truth.
pub(crate) fn dgp_truth(dgp: &DgpParameters) -> DgpTruth {
    let mut parameters = Vec::new();
    for (q, name) in ["A", "B", "C"].iter().enumerate() {
        parameters.push(p(
            format!("wage_per_carer_hour.{name}"),
            dgp.wage_per_carer_hour[q],
            "EUR/carer-hour",
            "employer cost of a carer-hour at a user's home, by qualification",
        ));
    }
    for slot in Slot::ALL {
        parameters.push(p(
            format!("slot_uplift.{}", slot.as_str()),
            dgp.slot_uplift[slot.index()],
            "share",
            "uplift of the carer-hour cost in this slot",
        ));
    }
    parameters.push(p(
        "travel_cost_per_hour",
        dgp.travel_cost_per_hour,
        "EUR/carer-hour",
        "cost of a carer-hour of travel",
    ));
    parameters.push(p(
        "cost_per_km",
        dgp.cost_per_km,
        "EUR/carer-km",
        "mileage cost (cost group G1)",
    ));
    for (g, group) in UserGroup::ALL.iter().enumerate() {
        parameters.push(p(
            format!("coordination_per_user_month.{}", group.key()),
            dgp.coordination_per_user_month[g],
            "EUR/user-month",
            "coordination cost per month served",
        ));
    }
    parameters.push(p(
        "overhead_share",
        dgp.overhead_share,
        "share of direct cost",
        "structure overhead (cost group G3)",
    ));
    parameters.push(p(
        "random_effect_sigma",
        dgp.random_effect_sigma,
        "log-scale standard deviation",
        "service random effect, lognormal with mean 1",
    ));
    DgpTruth {
        description: DGP_DESCRIPTION.to_owned(),
        formula: DGP_FORMULA.to_owned(),
        parameters,
        values: dgp.clone(),
    }
}

/// Running sums of one Monte-Carlo chunk.
#[derive(Debug, Clone, Default)]
struct Sums {
    n: usize,
    cost: f64,
    months: f64,
    cost2: f64,
    months2: f64,
    cost_months: f64,
    hours: f64,
    carer_hours: [f64; 4],
    travel_hours: f64,
    km: f64,
    visits: f64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.n += other.n;
        self.cost += other.cost;
        self.months += other.months;
        self.cost2 += other.cost2;
        self.months2 += other.months2;
        self.cost_months += other.cost_months;
        self.hours += other.hours;
        for (mine, theirs) in self.carer_hours.iter_mut().zip(&other.carer_hours) {
            *mine += theirs;
        }
        self.travel_hours += other.travel_hours;
        self.km += other.km;
        self.visits += other.visits;
    }
}

/// Implied true cost per user-month of each group, by Monte-Carlo: users of the group are
/// drawn in services of a frame built from [`IMPLIED_COST_SEED`], a service being chosen
/// with probability proportional to its expected number of users of the group; each
/// user's direct cost under the DGP, times (1 + overhead), is summed and
/// divided by the months served.
pub(crate) fn implied_costs(
    legal: &LegalYear,
    calendar: &YearCalendar,
    dgp: &DgpParameters,
    gir_mix: [f64; 4],
    records: Vec<DeptRecord>,
) -> (Vec<GroupTruth>, ImpliedCostMethod) {
    let frame: Frame = build_frame(IMPLIED_COST_SEED, legal, records, &gir_mix);
    let env = Env {
        frame: &frame,
        calendar,
        legal,
        dgp,
        seed: IMPLIED_COST_SEED,
    };
    // Cumulative selection weights by group: users × probability of the group.
    let cumulative: Vec<Vec<f64>> = UserGroup::ALL
        .iter()
        .map(|&group| {
            let mut acc = 0.0;
            frame
                .services
                .iter()
                .map(|s| {
                    acc += f64::from(s.users) * group_probability(s, group);
                    acc
                })
                .collect()
        })
        .collect();
    let chunks = IMPLIED_COST_DRAWS.div_ceil(CHUNK);
    let jobs: Vec<(usize, usize)> = (0..UserGroup::ALL.len())
        .flat_map(|g| (0..chunks).map(move |c| (g, c)))
        .collect();
    let sums: Vec<Sums> = jobs
        .par_iter()
        .map(|&(g, c)| {
            let group = UserGroup::ALL[g];
            let mut rng = stream_rng(IMPLIED_COST_SEED, (g * chunks + c) as u64);
            let weights = &cumulative[g];
            let total = weights.last().copied().unwrap_or(0.0);
            let draws = CHUNK.min(IMPLIED_COST_DRAWS - c * CHUNK);
            let mut s = Sums::default();
            for _ in 0..draws {
                let u = crate::frame::uniform(&mut rng, (0.0, total));
                let i = weights.partition_point(|w| *w <= u).min(weights.len() - 1);
                let service = &frame.services[i];
                let profile = draw_profile_in_group(&mut rng, service, group);
                let user = draw_user(&mut rng, &env, service, profile);
                let (direct, _) = direct_cost(&user, dgp);
                let cost = direct * (1.0 + dgp.overhead_share);
                let m = user.months_served;
                s.n += 1;
                s.cost += cost;
                s.months += m;
                s.cost2 += cost * cost;
                s.months2 += m * m;
                s.cost_months += cost * m;
                s.hours += user.annual.hours;
                let by_slot = user.annual.carer_hours_by_slot();
                for (sum, h) in s.carer_hours.iter_mut().zip(by_slot) {
                    *sum += h;
                }
                s.travel_hours += user.annual.travel_hours;
                s.km += user.annual.km;
                s.visits += user.annual.visits;
            }
            s
        })
        .collect();
    let groups = UserGroup::ALL
        .iter()
        .enumerate()
        .map(|(g, group)| {
            let mut s = Sums::default();
            for part in &sums[g * chunks..(g + 1) * chunks] {
                s.add(part);
            }
            let n = s.n as f64;
            let ratio = s.cost / s.months;
            let residual2 = s.cost2 - 2.0 * ratio * s.cost_months + ratio * ratio * s.months2;
            let mean_months = s.months / n;
            let se = (residual2.max(0.0) / (n * (n - 1.0))).sqrt() / mean_months;
            GroupTruth {
                group: group.key(),
                allowance: group.allowance.as_str().to_owned(),
                gir_band: group.gir_band.as_str().to_owned(),
                entourage: group.entourage_str().to_owned(),
                coordination_per_user_month: dgp.coordination_per_user_month[g],
                implied_cost_per_user_month: ratio,
                implied_cost_std_error: se,
                implied_cost_per_hour: s.cost / s.hours,
                hours_per_user_month: s.hours / s.months,
                carer_hours_per_user_month: BySlot::from_array(s.carer_hours.map(|h| h / s.months)),
                travel_hours_per_user_month: s.travel_hours / s.months,
                km_per_user_month: s.km / s.months,
                visits_per_user_month: s.visits / s.months,
                draws: s.n,
            }
        })
        .collect();
    let method = ImpliedCostMethod {
        seed: IMPLIED_COST_SEED,
        draws_per_group: IMPLIED_COST_DRAWS,
        description: format!(
            "Monte-Carlo: a frame is built with seed {IMPLIED_COST_SEED}; for each group, \
             {IMPLIED_COST_DRAWS} users are drawn (ChaCha8 stream group x {chunks} + chunk, \
             {CHUNK} users a chunk) in services chosen with probability proportional to \
             users x the service's probability of the group, the GIR and entourage being \
             drawn within the group's bands from the service's mixes; the implied \
             cost is sum(direct cost x (1 + overhead_share)) / sum(months served), with a \
             ratio-estimator standard error. The service random effect has mean 1 and \
             does not enter."
        ),
    };
    (groups, method)
}
