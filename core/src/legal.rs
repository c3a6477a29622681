//! The legal parameters of hourly funding and of the APA: the MTP (majoration pour tierce
//! personne) used for each year, the national floor tariff, the APA plan ceilings by GIR
//! (art. R.232-10 CASF) and the beneficiary's legal participation (art. R.232-11 CASF).
//!
//! Figures and their sources are in `DOMAIN.md` §3 of the shared documentation: floor
//! tariffs 22.00 (2022), 23.00 (2023), 23.50 (2024), 24.58 (2025), 25.00 (2026) €/h, and
//! from 2024 the indexation `23.50 × MTP(N) / 1,210.90`, where MTP(N) is the MTP in force
//! on 1 April N−1, the one used for year N.

use crate::error::CoreError;

/// The MTP used for each year, €/month (the MTP in force on 1 April of the year before).
pub const MTP_TABLE: &[(i32, f64)] = &[(2024, 1_210.90), (2025, 1_266.60), (2026, 1_288.13)];

/// National floor tariffs fixed by the texts, €/h.
pub const FLOOR_TABLE: &[(i32, f64)] = &[
    (2022, 22.00),
    (2023, 23.00),
    (2024, 23.50),
    (2025, 24.58),
    (2026, 25.00),
];

/// Floor of 2024 and the MTP it was set on: the base of the indexation rule.
const FLOOR_BASE: f64 = 23.50;
const FLOOR_BASE_MTP: f64 = 1_210.90;

/// Legal parameters of one year. Built from the built-in tables, with an optional MTP
/// supplied by the user for years the tables do not hold yet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YearRules {
    /// The calendar year.
    pub year: i32,
    /// The MTP used for the year, €/month (`None` before 2024: not needed there).
    pub mtp: Option<f64>,
    /// The national floor tariff, €/h.
    pub floor: f64,
}

impl YearRules {
    /// The rules of `year`, with `mtp_override` for a year after the built-in table.
    pub fn for_year(year: i32, mtp_override: Option<f64>) -> Result<YearRules, CoreError> {
        let mtp = mtp_override.or_else(|| mtp(year));
        let floor = match FLOOR_TABLE.iter().find(|(y, _)| *y == year) {
            Some(&(_, f)) => f,
            None if year > 2026 => {
                let m = mtp.ok_or(CoreError::UnknownYear {
                    what: "the MTP (needed for the floor tariff's indexation)",
                    year,
                    hint: "give the MTP of 1 April of the year before in the job options (mtp)",
                })?;
                indexed_floor(m)
            }
            None => {
                return Err(CoreError::UnknownYear {
                    what: "the national floor tariff",
                    year,
                    hint: "the floor exists from 2022; use a year from 2022 on",
                });
            }
        };
        Ok(YearRules { year, mtp, floor })
    }

    /// The MTP, or an error saying how to supply it.
    pub fn mtp(&self) -> Result<f64, CoreError> {
        self.mtp.ok_or(CoreError::UnknownYear {
            what: "the MTP (needed for APA ceilings and participation)",
            year: self.year,
            hint: "use a year from 2024 on, or give the MTP in the job options (mtp)",
        })
    }
}

/// The MTP used for `year`, if the built-in table holds it.
pub fn mtp(year: i32) -> Option<f64> {
    MTP_TABLE.iter().find(|(y, _)| *y == year).map(|&(_, m)| m)
}

/// The floor tariff of the indexation rule, rounded to the cent:
/// `23.50 × MTP / 1,210.90`.
pub fn indexed_floor(mtp: f64) -> f64 {
    round_cents(FLOOR_BASE * mtp / FLOOR_BASE_MTP)
}

/// Rounds a euro amount to the cent, halves away from zero.
pub fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Monthly APA plan ceiling of a GIR, as a multiple of the MTP (art. R.232-10).
pub fn apa_ceiling_factor(gir: i32) -> Option<f64> {
    match gir {
        1 => Some(1.615),
        2 => Some(1.306),
        3 => Some(0.944),
        4 => Some(0.630),
        _ => None,
    }
}

/// Monthly APA plan ceiling of a GIR, €/month, rounded to the cent.
pub fn apa_ceiling(gir: i32, mtp: f64) -> Option<f64> {
    apa_ceiling_factor(gir).map(|f| round_cents(f * mtp))
}

/// The resource brackets of art. R.232-11.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceBracket {
    /// Resources up to 0.725 MTP: no participation.
    Exempt,
    /// Between 0.725 and 2.67 MTP: a participation rising with resources.
    Progressive,
    /// Above 2.67 MTP: 90 % of the plan.
    Full,
}

/// Resources that count for the participation: a couple's are divided by 1.7.
pub fn counted_resources(resources_month: f64, couple: bool) -> f64 {
    if couple {
        resources_month / 1.7
    } else {
        resources_month
    }
}

/// The bracket of counted resources `r`.
pub fn resource_bracket(r: f64, mtp: f64) -> ResourceBracket {
    if r <= 0.725 * mtp {
        ResourceBracket::Exempt
    } else if r <= 2.67 * mtp {
        ResourceBracket::Progressive
    } else {
        ResourceBracket::Full
    }
}

/// The beneficiary's legal monthly participation `P` for an accepted plan `plan` (€/month)
/// and counted monthly resources `r` (already divided by 1.7 for a couple), art. R.232-11:
/// the plan splits into tranches A1 (up to 0.317 MTP), A2 (0.317 to 0.498 MTP) and A3
/// (above); with `x = (r − 0.725 MTP) / (1.945 MTP)`,
/// `P = 0.9 x [A1 + A2 (0.4 + 0.6 x) + A3 (0.2 + 0.8 x)]` between the two thresholds,
/// 0 below, 90 % of the plan above.
pub fn apa_participation(plan: f64, r: f64, mtp: f64) -> f64 {
    let plan = plan.max(0.0);
    match resource_bracket(r, mtp) {
        ResourceBracket::Exempt => 0.0,
        ResourceBracket::Full => 0.9 * plan,
        ResourceBracket::Progressive => {
            let t1 = 0.317 * mtp;
            let t2 = 0.498 * mtp;
            let a1 = plan.min(t1);
            let a2 = (plan.min(t2) - t1).max(0.0);
            let a3 = (plan - t2).max(0.0);
            let x = (r - 0.725 * mtp) / (1.945 * mtp);
            0.9 * x * (a1 + a2 * (0.4 + 0.6 * x) + a3 * (0.2 + 0.8 * x))
        }
    }
}

/// The participation rate of resources alone: 0 up to 0.725 MTP, `0.9 x` between the two
/// thresholds (the rate of the plan's first tranche), 90 % above 2.67 MTP.
pub fn apa_resources_rate(r: f64, mtp: f64) -> f64 {
    match resource_bracket(r, mtp) {
        ResourceBracket::Exempt => 0.0,
        ResourceBracket::Full => 0.9,
        ResourceBracket::Progressive => 0.9 * (r - 0.725 * mtp) / (1.945 * mtp),
    }
}

/// The share of each billed hour the beneficiary pays, `P / A` (0 for an empty plan).
pub fn apa_participation_rate(plan: f64, r: f64, mtp: f64) -> f64 {
    if plan > 0.0 {
        apa_participation(plan, r, mtp) / plan
    } else {
        0.0
    }
}
