//! Seeded synthetic ENC SAD cost survey: a national frame of home-care services (SAD), the
//! survey's stratified sample, their users and visits, and the documented
//! data-generating process (DGP) of their costs, emitted as Arrow record batches.
//!
//! Main types: [`SurveyConfig`] (seed, [`Scale`], year) says what to generate;
//! [`generate`] (or [`generate_with_progress`]) streams the four [`Table`]s to a sink and
//! returns the [`Truth`]; [`survey`] keeps a survey-scale [`Survey`] in memory;
//! [`schema`] gives each table's Arrow schema; [`slot_of`] is the rule behind
//! `visits.slot`. The crate depends on no other crate of the workspace and does no IO:
//! its reference figures are embedded CSVs (`datasets/data/`, sources in its README), and
//! writing files is the caller's business (`truth.json` is the serialised [`Truth`]).
//!
//! # Output
//!
//! [`generate`] emits table by table: `departements` (one batch), `services` (one batch),
//! `users`, then `visits` (batches of about 131,072 rows). Columns are those of the data
//! contract (DATA.md), with its optional survey design columns: `services.stratum`
//! (`"<status>/<size class>"`, e.g. `"associatif/large"`) and `services.fpc` (N_h, the
//! stratum's services in the frame). Ids: `SAD-<département>-<nnn>` for services,
//! `<service_id>-U<nnnnn>` for users. The département codes are those of the reference
//! table: `"20"` is Corse (2A + 2B), `"69"` the Rhône with the Métropole de Lyon, Mayotte
//! is absent.
//!
//! | scale | services | users | visits | visit period |
//! |---|---|---|---|---|
//! | [`Scale::Survey`] (seed 2026) | 437 (design weights N_h / n_h) | ≈ 132,000 | ≈ 1.33 M | two weeks, Monday 22 June – Sunday 5 July 2026 |
//! | [`Scale::National`] | 6,314 (weight 1, a census) | ≈ 783,000 | ≈ 1.9 × 10⁸ | the whole year |
//!
//! The survey scale takes about 0.6–0.9 s in a release build on two cores, the truth's
//! Monte-Carlo included. A service is the same at both scales (same users, hours and
//! costs): its random draws come from its own stream.
//!
//! Conventions: `hours_*` count visit minutes once whatever the number of carers (a
//! second carer is a cost, not a billed hour). `plan_amount_month` is the APA plan for APA
//! users and plan hours × the département's reference tariff for the others. `gir` is
//! 1–4 for APA users, 5–6 for social-aid users, 5, 6 or null for `other` (pension funds,
//! private customers), null for PCH. `resources_month` is the household's for couples
//! (the APA rule divides it by 1.7). `slot`: night (starts 22:00–06:00) first, then Sunday
//! or French public holiday (the eleven national ones), then evening (starts 06:00–08:00
//! or 19:00–22:00), otherwise weekday.
//!
//! # The model
//!
//! Targets come from DOMAIN.md (its section is given); everything else is a modelling
//! choice of this crate, with its value in `model.rs`.
//!
//! **Frame** (§1, §7). 6,314 services (authorised on 1 January 2024), spread over the 99
//! départements in proportion to APA-at-home + PCH beneficiaries (DREES 2020). Status
//! 45 % associatif, 10 % public, 45 % privé lucratif; HAS with probability 75 / 95 / 5 %
//! by status; SAD mixte 28 / 35 / 10 % (≈ 20 %, §1); 8 / 2 / 5 % disability-specialised
//! (mostly PCH users, half the size). Users over the year per service: lognormal
//! (log-sd 1.0) with mean 185 / 155 / 72 by status, 5 to 6,000: ≈ 780,000 users, private
//! services many but small. Each service draws a main zone, a qualification mix, and its
//! case mix around its type's: allowance mix (HAS 70 / 15 / 10 / 5 % APA / PCH / social
//! aid / other, NHAS 74 / 15 / 0 / 11 %, disability 25 / 65 / 5 / 5 %) from a Dirichlet of
//! concentration 20, GIR mix from a Dirichlet of concentration 15 around the national
//! 2.4 / 17.6 / 22.0 / 58.0 % (the embedded DREES 2022 table, i.e. 2/18/22/58 %, §7),
//! share of high entourage from a Beta(2.5, 2.5). Zones: the reference table has no area,
//! so rurality is a proxy rising with the share of people aged 75+ and falling with the
//! population; Paris and the inner suburbs are urban; massif départements have 12 % or
//! 30 % mountain users. Reference tariffs (NHAS): the year's floor × (1.005 + 0.025 Z),
//! within −1.5 / +2.0 €/h of it, so some are below the floor; Saône-et-Loire 2026 is its
//! published 24.58 €/h (§3).
//!
//! **Sample** (§1). 437 services by simple random sampling within 12 strata status ×
//! size class (declared APA+PCH hours = users × 240 h, × 1.5 for disability services:
//! small < 12,000, medium < 36,000, large < 96,000, xlarge), sampling fractions
//! proportional to 0.02 / 0.05 / 0.14 / 0.40 by size class and at least 2 per stratum:
//! the sample holds ≈ 17 % of the APA+PCH hours with 7 % of the services.
//! `design_weight` = N_h / n_h. The national scale is the census (weight 1).
//!
//! **Users** (§3, §4, §7). Entourage 0–3 (15 / 35 / 35 / 15 % nationally) multiplies plan
//! hours by 1.20 / 1.05 / 0.95 / 0.80. Plans, lognormal (log-sd 0.45): APA means 58 / 51 /
//! 33 / 26.5 h/month by GIR (≈ 52 h for GIR 1–2 and 28 h for GIR 3–4, 2016 study); APA
//! amounts with means 1,250 / 940 / 650 / 360 € (2017), log-sd 0.35, correlation 0.6 with
//! the hours, capped at 1.615 / 1.306 / 0.944 / 0.630 × MTP (MTP 1,210.90 / 1,266.60 /
//! 1,288.13 € in 2024 / 2025 / 2026). PCH human aid mean 42 h/month (log-sd 0.7, at most
//! 300), social aid 14 h (at most 30), other 10 h. Half the users use their whole plan,
//! the others a uniform 35–95 % of it. Resources: lognormal, median 1,650 € (2026, scaled
//! with the MTP), log-sd 0.5 — ≈ 14 % below 0.725 × MTP and ≈ 6 % above 2.67 × MTP; 30 %
//! couples (household = 1.7 × one person). Zone: the service's main zone for 70 % of its
//! users, the département's mix otherwise. 62 % are served all year; the others a uniform
//! number of days (at least 14) at a uniform place in the year; `months_served` =
//! served days × 12 / days in the year.
//!
//! **Visits** (§4, §7). Each user has a weekly pattern that repeats on every served day:
//! visits of 30, 45, 60, 90 or 120 minutes (longer for GIR 1–2 and PCH) are added until
//! the weekly share of the used plan is reached. A visit is an evening visit with
//! probability 17 / 13 / 8 / 5 % (GIR 1 / 2 / 3 / 4; PCH 12 %, others 1 %), a night visit
//! with 4 / 1.5 / 0.4 / 0.1 % (PCH 3 %); a user has a Sunday round with probability 80 /
//! 65 / 40 / 20 % (PCH 45 %, others 2 %) if they have at least 3 visits a week. Visits
//! start at anchors two hours apart (06:00, 08:00 … 18:00, 20:00, 22:00, 02:00) plus 0, 15
//! or 30 minutes, so a user's visits never overlap. Double staffing 18 / 9 / 2.5 / 0.6 %
//! (PCH 7 %); qualification from the service's mix, tilted to C for GIR 1–2 and PCH.
//! Travel per visit: lognormal km with median 1.6 / 3.8 / 6.5 / 8.5 km (urban / periurban
//! / rural / mountain), at 15 / 28 / 38 / 30 km/h plus 3 minutes. Over the survey
//! fortnight this gives ≈ 7.8 % evening, 5.9 % Sunday, 1 % night and 4 % double-staffed
//! visits; over a year, with the holidays, Sunday-holiday visits make ≈ 9 %. Annual figures are exact:
//! each pattern visit times its occurrences (holiday or not) in the user's served days,
//! so `hours_apa` … `hours_other` are the sums of the year's visits by allowance.
//!
//! **Tariffs, dotation, staff** (§3, §4). HAS tariff = 24 + 6 × logistic((0.91 × cost per
//! hour − 27) / 2 + 0.3 Z), in 24–30 €/h; NHAS price = 25 + 7 × logistic((cost per hour −
//! 30) / 2.5 + 0.5 Z), in 25–32 €/h. Dotation complémentaire for 35 % of HAS and 15 % of
//! NHAS services: a uniform 10–100 % of the cap (APA+PCH hours × 3.311 €/h in 2024–2025,
//! 3.383 €/h in 2026). `fte_carers` = (carer-hours at home + travel hours) / (1 − ν) /
//! 1,607 with ν uniform 4–8 % (coordination, training): 20–25 % of paid hours are
//! non-intervention. `fte_support` = 0.5 + a uniform 8–15 % of `fte_carers`.
//!
//! **Cost** (the DGP). For service *s* with users *u*:
//!
//! ```text
//! D_s = Σ_u m_u κ_g(u)                                   coordination
//!     + Σ_{k,q} H_s[k,q] · w_q · (1 + μ_k)                  care
//!     + T_s · c_T + K_s · c_K                               travel time, mileage
//! cost_total_s = ε_s · (1 + φ) · D_s,   ε_s = exp(σ Z_s − σ²/2)
//! cost_g1 = ε_s K_s c_K,  cost_g3 = ε_s φ D_s,  cost_g2 = cost_total − cost_g1 − cost_g3
//! ```
//!
//! with m_u months served; g(u) the user's group, allowance × GIR band (1–2, 3–4, other)
//! × entourage (low 0–1, high 2–3), ten groups, coordination κ = 95 / 80 (APA GIR 1–2
//! low / high), 70 / 58 (APA GIR 3–4), 105 / 90 (PCH), 40 / 35 (social aid), 35 / 30
//! (other) € per user-month; H\[k,q\] annual carer-hours at home (minutes × carers / 60) by
//! slot k and qualification q, wages w = 16.60 / 17.80 / 19.40 € (A / B / C), uplifts
//! μ = 0 / 10 / 40 / 30 % (weekday / evening / Sunday-holiday / night); T annual carer
//! travel hours at c_T = 17.50 €/h; K annual carer-km at c_K = 0.40 €/km; overhead
//! φ = 0.11; σ = 0.12. Money is rounded to the cent. The cost is linear in the annual
//! drivers before ε, so a calibration can recover it. Results: ≈ 30.5 €/h on average
//! (§7: 30–32 €/h in 2024–25) with an interquartile range of about ±9 % around the
//! median (2016 study: 21.14–25.79 around 23.55); staff 85 %, structure 10 %, other 5 %
//! (2016 study).
//!
//! **Truth.** [`Truth`] holds the configuration, the year's legal figures, every DGP
//! parameter with its unit and the formula in words, the frame totals, the strata
//! (N_h, n_h, weight) and the generated services' totals, and for each of the ten groups
//! the implied true cost per user-month — E\[(1 + φ) D_u\] / E\[m_u\] over the group's users
//! (ε has mean 1) — with its drivers per user-month (hours, carer-hours by slot, travel,
//! km, visits). It is a Monte-Carlo of 20,000 users per group over a frame built from the
//! fixed seed [`IMPLIED_COST_SEED`], so it depends on the year only, not on the survey's
//! seed. A forfait calibration (cost per user-month by allowance × GIR band × entourage)
//! is checked against it; at the survey scale its estimates carry the sampling error of
//! 437 services, the census recovers it closely.
//!
//! # Determinism
//!
//! ChaCha8 streams: the frame uses stream 0 of the seed, the sample stream 1, service *i*
//! stream 2³² + *i*. Services are simulated in parallel blocks of 32 and emitted in frame
//! order, and sums are taken in that order, so the output is bit-for-bit identical for a
//! configuration whatever the number of rayon threads. Users and visits are re-simulated
//! block by block from those streams (at the national scale nothing but one block is
//! kept), which bounds memory.

mod batches;
mod calendar;
mod error;
mod frame;
mod model;
mod reference;
mod sim;
mod truth;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use arrow::array::RecordBatch;
use rayon::prelude::*;

pub use crate::batches::schema;
pub use crate::calendar::slot_of;
pub use crate::error::{GenerateError, ParseScaleError};
pub use crate::frame::Stratum;
pub use crate::model::{DgpParameters, Slot};
pub use crate::reference::LegalYear;
pub use crate::truth::{
    BySlot, DGP_FORMULA, DgpTruth, FrameTotals, GENERATOR_VERSION, GroupTruth, IMPLIED_COST_DRAWS,
    IMPLIED_COST_SEED, ImpliedCostMethod, Parameter, SampleTotals, Truth,
};

use crate::batches::{Coalescer, departements_batch, services_batch, users_batch, visits_batches};
use crate::calendar::{YearCalendar, iso_date};
use crate::frame::{Design, Frame, build_frame, census_design, survey_design};
use crate::model::{Allowance, Status};
use crate::sim::{Env, ServiceRow, ServiceSim, simulate_service};

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 2026;

/// Services simulated together (in parallel) before their batches are emitted in order.
const BLOCK: usize = 32;

/// How much to generate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Scale {
    /// The ENC sample: 437 services with design weights, visits over two weeks in
    /// June–July.
    #[default]
    Survey,
    /// The census of the 6,314 services (weight 1), visits over the whole year.
    National,
}

impl Scale {
    /// `"survey"` or `"national"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Survey => "survey",
            Scale::National => "national",
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scale {
    type Err = ParseScaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "survey" => Ok(Scale::Survey),
            "national" => Ok(Scale::National),
            _ => Err(ParseScaleError {
                value: s.to_owned(),
            }),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SurveyConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// Sample or census.
    pub scale: Scale,
    /// The year of the activity, tariffs and legal figures (2024–2026).
    pub year: i32,
    /// Whether to generate the visits table (census data from départements have none:
    /// without it the national frame — services and users — takes seconds).
    pub visits: bool,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            scale: Scale::Survey,
            year: 2026,
            visits: true,
        }
    }
}

/// The four tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per département.
    Departements,
    /// One row per generated service.
    Services,
    /// One row per user of a generated service.
    Users,
    /// One row per visit in the visit period.
    Visits,
}

impl Table {
    /// The tables in emission order.
    pub const ALL: [Table; 4] = [
        Table::Departements,
        Table::Services,
        Table::Users,
        Table::Visits,
    ];

    /// The table's name (and file stem): `departements`, `services`, `users`, `visits`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Departements => "departements",
            Table::Services => "services",
            Table::Users => "users",
            Table::Visits => "visits",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A whole survey in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    /// The `departements` table.
    pub departements: RecordBatch,
    /// The `services` table.
    pub services: RecordBatch,
    /// The `users` table, in batches.
    pub users: Vec<RecordBatch>,
    /// The `visits` table, in batches.
    pub visits: Vec<RecordBatch>,
    /// What the data were generated from.
    pub truth: Truth,
}

/// Generates the survey scale in memory, or the national frame without its visits (the
/// national scale with visits is refused: they do not fit in memory; stream them with
/// [`generate`]).
pub fn survey(config: &SurveyConfig) -> Result<Survey, GenerateError> {
    if config.scale != Scale::Survey && config.visits {
        return Err(GenerateError::InMemoryNational);
    }
    let mut tables: [Vec<RecordBatch>; 4] = Default::default();
    let truth = generate(config, &mut |table, batch| {
        tables[table as usize].push(batch);
        Ok(())
    })?;
    let [departements, services, users, visits] = tables;
    let single = |table: Table, batches: Vec<RecordBatch>| {
        arrow::compute::concat_batches(&schema(table), &batches).map_err(|source| {
            GenerateError::Arrow {
                table: table.name(),
                source,
            }
        })
    };
    Ok(Survey {
        departements: single(Table::Departements, departements)?,
        services: single(Table::Services, services)?,
        users,
        visits,
        truth,
    })
}

/// Streams every table's batches to `sink`, table by table: `departements` (one batch),
/// `services` (one batch), then `users`, then `visits` (batches of about 131,072 rows).
/// Returns the [`Truth`].
///
/// Memory stays bounded at the national scale: services are simulated in blocks of 32 (in
/// parallel with rayon, emitted in frame order), and users and visits are re-simulated
/// block by block from each service's own random stream rather than kept. The output is
/// bit-for-bit the same whatever the number of threads.
pub fn generate(
    config: &SurveyConfig,
    sink: &mut dyn FnMut(Table, RecordBatch) -> Result<(), GenerateError>,
) -> Result<Truth, GenerateError> {
    generate_with_progress(config, sink, &mut |_, _| {})
}

/// [`generate`], calling `progress(done, total)` after each block of services in each of
/// the three passes (services, users, visits).
pub fn generate_with_progress(
    config: &SurveyConfig,
    sink: &mut dyn FnMut(Table, RecordBatch) -> Result<(), GenerateError>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Truth, GenerateError> {
    let legal = LegalYear::of(config.year)?;
    let records = reference::departements()?;
    let gir_mix = reference::apa_gir_mix()?;
    let calendar = YearCalendar::new(config.year);
    let dgp = DgpParameters::standard();
    let frame = build_frame(config.seed, &legal, records.clone(), &gir_mix);
    let design = match config.scale {
        Scale::Survey => survey_design(&frame, config.seed),
        Scale::National => census_design(&frame),
    };
    let env = Env {
        frame: &frame,
        calendar: &calendar,
        legal: &legal,
        dgp: &dgp,
        seed: config.seed,
    };
    let (from, to) = match config.scale {
        Scale::Survey => calendar.survey_window(),
        Scale::National => (0, calendar.days),
    };
    let keep = config.scale == Scale::Survey;
    let passes: &[Table] = if config.visits {
        &[Table::Users, Table::Visits]
    } else {
        &[Table::Users]
    };
    let total = (1 + passes.len() as u64) * design.selected.len() as u64;
    let mut done = 0_u64;
    let simulate = |block: &[frame::Selected]| -> Vec<ServiceSim> {
        block
            .par_iter()
            .map(|s| simulate_service(&env, *s))
            .collect()
    };

    // Pass 1: the services table.
    let mut cache: Vec<ServiceSim> = Vec::new();
    let mut rows: Vec<ServiceRow> = Vec::with_capacity(design.selected.len());
    for block in design.selected.chunks(BLOCK) {
        let sims = simulate(block);
        rows.extend(sims.iter().map(|s| s.row.clone()));
        if keep {
            cache.extend(sims);
        }
        done += block.len() as u64;
        progress(done, total);
    }
    sink(
        Table::Departements,
        departements_batch(&frame, config.year)?,
    )?;
    sink(
        Table::Services,
        services_batch(&frame, &design.strata, &rows)?,
    )?;

    // Pass 2: users; pass 3: visits.
    let mut users = 0_u64;
    let mut visits = 0_u64;
    for &table in passes {
        let mut out = Coalescer::new(table);
        for (b, block) in design.selected.chunks(BLOCK).enumerate() {
            let fresh;
            let sims: &[ServiceSim] = if keep {
                &cache[b * BLOCK..b * BLOCK + block.len()]
            } else {
                fresh = simulate(block);
                &fresh
            };
            let batches: Vec<Vec<RecordBatch>> = sims
                .par_iter()
                .map(|s| {
                    let id = frame.services[s.row.selected.index].id.as_str();
                    match table {
                        Table::Users => users_batch(id, &s.users).map(|b| vec![b]),
                        _ => visits_batches(&calendar, id, &s.users, from, to),
                    }
                })
                .collect::<Result<_, _>>()?;
            for batch in batches.into_iter().flatten() {
                match table {
                    Table::Users => users += batch.num_rows() as u64,
                    _ => visits += batch.num_rows() as u64,
                }
                out.push(batch, sink)?;
            }
            done += block.len() as u64;
            progress(done, total);
        }
        out.flush(sink)?;
    }

    let (groups, implied_cost_method) =
        truth::implied_costs(&legal, &calendar, &dgp, gir_mix, records);
    Ok(Truth {
        generator: env!("CARGO_PKG_NAME").to_owned(),
        version: GENERATOR_VERSION.to_owned(),
        seed: config.seed,
        scale: config.scale.as_str().to_owned(),
        year: config.year,
        visits_from: iso_date(calendar.jan1 + i64::from(from)),
        visits_to: iso_date(calendar.jan1 + i64::from(to) - 1),
        legal: legal.clone(),
        dgp: truth::dgp_truth(&dgp),
        groups,
        implied_cost_method,
        frame: frame_totals(&frame),
        strata: design.strata.clone(),
        sample: sample_totals(&design, &rows, users, visits),
    })
}

fn frame_totals(frame: &Frame) -> FrameTotals {
    let s = &frame.services;
    FrameTotals {
        departements: frame.depts.len(),
        services: s.len(),
        services_by_status: Status::ALL
            .iter()
            .map(|st| {
                (
                    st.as_str().to_owned(),
                    s.iter().filter(|x| x.status == *st).count(),
                )
            })
            .collect(),
        habilitated: s.iter().filter(|x| x.habilitated).count(),
        mixed: s.iter().filter(|x| x.mixed).count(),
        disability_specialised: s.iter().filter(|x| x.disability).count(),
        users: s.iter().map(|x| u64::from(x.users)).sum(),
        declared_hours_apa_pch: s.iter().map(|x| x.declared_hours).sum(),
    }
}

fn sample_totals(design: &Design, rows: &[ServiceRow], users: u64, visits: u64) -> SampleTotals {
    let mut hours = [0.0; 4];
    let mut weighted = [0.0; 4];
    let (mut weighted_users, mut cost, mut weighted_cost, mut annual_visits) = (0.0, 0.0, 0.0, 0.0);
    for r in rows {
        let w = r.selected.weight;
        for k in 0..4 {
            hours[k] += r.hours[k];
            weighted[k] += w * r.hours[k];
        }
        weighted_users += w * r.users as f64;
        cost += r.cost_total;
        weighted_cost += w * r.cost_total;
        annual_visits += r.annual_visits;
    }
    let named = |v: [f64; 4]| {
        Allowance::ALL
            .iter()
            .map(|a| (a.as_str().to_owned(), v[a.index()]))
            .collect()
    };
    SampleTotals {
        services: design.selected.len(),
        users,
        visits,
        annual_visits,
        hours: named(hours),
        weighted_hours: named(weighted),
        weighted_users,
        cost_total: cost,
        weighted_cost_total: weighted_cost,
        weighted_cost_per_hour: weighted_cost / weighted.iter().sum::<f64>(),
        share_of_apa_pch_hours: (hours[0] + hours[1]) / (weighted[0] + weighted[1]),
    }
}
