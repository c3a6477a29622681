//! The CNSA's aid to départements for the Avenant 43 salary agreement of the home-care
//! branch (art. 47 LFSS 2021, décret 2021-1155 of 6 September 2021; CNSA vade-mecum of
//! September 2021, seed 004). A national envelope — 150 M€ in 2021, 200 M€ a year from
//! 2022 — is shared among départements; each département's aid is the smaller of
//!
//! - its **activity cap**: its share of the national prestataire activity hours of APA,
//!   PCH and aide-ménagère (art. L.232-1, L.245-1, L.231-1 CASF) × the envelope, with the
//!   hours of 2019 for the aid of 2021 to 2023 and those of year N−2 from 2024 (décret
//!   art. 1);
//! - its **cost cap**: 70 % (2021) or 50 % (from 2022) of the cost it bears (décret
//!   art. 1: « dans la limite de 50 % des coûts. Pour l'année 2021, cette limite est
//!   portée à 70 % »).
//!
//! The aid is computed first from the forecast cost (« sur la base de 50 % (70 % pour
//! 2021) de la dépense prévisionnelle du CD écrêté au plafond »); the CNSA pays an
//! **advance of 80 %** of it by 15 May (décret art. 2); the final aid is computed the same
//! way from the actual cost stated by 30 April N+1 and notified by 31 May N+1, and the
//! **balance** is the final aid minus the advance — negative, it is recovered
//! (« versement du solde ou récupération de trop perçu »).
//!
//! The texts do not redistribute the envelope a département leaves unused (the
//! activity cap is « enveloppe limitative »): the unused part is reported, not shared.
//! They give no rounding rule: amounts are not rounded.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::error::CoreError;
use crate::schema::TableKind;
use crate::validate::{Bound, Ctx, Problems, Rule, ValidateOptions};

/// The national envelope of 2021, € (art. 47 II B LFSS 2021).
pub const ENVELOPE_2021: f64 = 150_000_000.0;
/// The national envelope from 2022, € a year (art. 47 I LFSS 2021).
pub const ENVELOPE_FROM_2022: f64 = 200_000_000.0;
/// The share of its cost a département may receive in 2021.
pub const COST_RATE_2021: f64 = 0.70;
/// The share of its cost a département may receive from 2022.
pub const COST_RATE_FROM_2022: f64 = 0.50;
/// The share of the forecast aid paid as an advance (décret 2021-1155 art. 2).
pub const ADVANCE_SHARE: f64 = 0.80;
/// The first year of the aid (art. 47 II A: in force from 1 April 2021).
pub const FIRST_YEAR: i32 = 2021;

/// The envelope of `year`, €.
pub fn envelope(year: i32) -> Result<f64, CoreError> {
    check_year(year)?;
    Ok(if year == FIRST_YEAR {
        ENVELOPE_2021
    } else {
        ENVELOPE_FROM_2022
    })
}

/// The share of the département's cost the aid may cover in `year`.
pub fn cost_rate(year: i32) -> Result<f64, CoreError> {
    check_year(year)?;
    Ok(if year == FIRST_YEAR {
        COST_RATE_2021
    } else {
        COST_RATE_FROM_2022
    })
}

/// The year whose activity hours share the envelope of `year`: 2019 for 2021–2023, N−2
/// after (décret 2021-1155 art. 1).
pub fn hours_year(year: i32) -> Result<i32, CoreError> {
    check_year(year)?;
    Ok(if year <= 2023 { 2019 } else { year - 2 })
}

fn check_year(year: i32) -> Result<(), CoreError> {
    if year < FIRST_YEAR {
        return Err(CoreError::UnknownYear {
            what: "the CNSA's Avenant 43 aid",
            year,
            hint: "the aid exists from 2021 (art. 47 LFSS 2021)",
        });
    }
    Ok(())
}

/// Options of [`compute`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Avenant43Config {
    /// The year of the aid.
    pub year: i32,
    /// The national activity hours sharing the envelope; `None`: the input's total (the
    /// input then holds every département).
    pub national_hours: Option<f64>,
    /// The envelope, €, replacing the law's (to study a scenario).
    pub envelope: Option<f64>,
}

impl Avenant43Config {
    /// The law's options for `year`, the input holding every département.
    pub fn new(year: i32) -> Avenant43Config {
        Avenant43Config {
            year,
            national_hours: None,
            envelope: None,
        }
    }
}

/// One département's activity and costs: a line of the input table.
#[derive(Clone, Debug, PartialEq)]
pub struct DepartementInput {
    /// The département.
    pub departement: String,
    /// The year of the hours (must be [`hours_year`] of the aid's year).
    pub hours_year: i32,
    /// Prestataire APA hours of that year.
    pub hours_apa: f64,
    /// Prestataire PCH hours of that year.
    pub hours_pch: f64,
    /// Prestataire aide-ménagère hours (social aid, art. L.231-1) of that year.
    pub hours_aide_menagere: f64,
    /// The forecast cost the département bears, €.
    pub cost_forecast: f64,
    /// The actual cost, €, once stated (`None` before).
    pub cost_actual: Option<f64>,
}

/// Which cap sets an aid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// The share of the envelope (activity).
    Activity,
    /// The share of the cost.
    Cost,
}

impl Binding {
    /// `activity` or `cost`.
    pub fn name(self) -> &'static str {
        match self {
            Binding::Activity => "activity",
            Binding::Cost => "cost",
        }
    }
}

/// The aid of one département.
#[derive(Clone, Debug, PartialEq)]
pub struct DepartementAid {
    /// The département.
    pub departement: String,
    /// Its activity hours APA + PCH + aide-ménagère.
    pub hours: f64,
    /// `hours / national hours`.
    pub activity_share: f64,
    /// `activity_share × envelope`, €.
    pub activity_cap: f64,
    /// `cost rate × cost_forecast`, €.
    pub cost_cap_forecast: f64,
    /// `min(activity_cap, cost_cap_forecast)`, €.
    pub aid_forecast: f64,
    /// The cap that set the forecast aid (the activity cap on a tie).
    pub binding_forecast: Binding,
    /// `80 % × aid_forecast`, €.
    pub advance: f64,
    /// `cost rate × cost_actual`, € (once the actual cost is known).
    pub cost_cap_actual: Option<f64>,
    /// `min(activity_cap, cost_cap_actual)`, €.
    pub aid_final: Option<f64>,
    /// The cap that set the final aid.
    pub binding_final: Option<Binding>,
    /// `aid_final − advance`, €: paid if positive, recovered if negative.
    pub balance: Option<f64>,
}

/// The result of [`compute`].
#[derive(Clone, Debug, PartialEq)]
pub struct Avenant43Result {
    /// The year of the aid.
    pub year: i32,
    /// The year of the activity hours.
    pub hours_year: i32,
    /// The envelope, €.
    pub envelope: f64,
    /// The share of cost the aid may cover.
    pub cost_rate: f64,
    /// The hours the envelope is shared by.
    pub national_hours: f64,
    /// Each département, in input order.
    pub departements: Vec<DepartementAid>,
    /// Sum of the forecast aids, €.
    pub aid_forecast: f64,
    /// Sum of the advances, €.
    pub advance: f64,
    /// Sum of the final aids of the départements whose actual cost is known, €.
    pub aid_final: f64,
    /// `envelope − Σ forecast aid`, €: not redistributed by the texts.
    pub unused_forecast: f64,
}

fn aid(activity_cap: f64, cost_cap: f64) -> (f64, Binding) {
    if activity_cap <= cost_cap {
        (activity_cap, Binding::Activity)
    } else {
        (cost_cap, Binding::Cost)
    }
}

/// Computes each département's aid, advance and balance. Every unusable value is
/// reported ([`CoreError::RuleInput`], rows from 1): hours of another year than the
/// decree's, negative hours or costs, a duplicated département; national hours below the
/// input's total or no hours at all are invalid options.
pub fn compute(
    input: &[DepartementInput],
    config: &Avenant43Config,
) -> Result<Avenant43Result, CoreError> {
    let year = config.year;
    let envelope = match config.envelope {
        Some(e) if e.is_finite() && e >= 0.0 => e,
        Some(e) => {
            return Err(CoreError::InvalidOption {
                name: "envelope",
                value: e.to_string(),
                rule: "the envelope must be a number ≥ 0 (€)".into(),
            });
        }
        None => envelope(year)?,
    };
    let rate = cost_rate(year)?;
    let reference = hours_year(year)?;

    let mut p = Problems::new(ValidateOptions::default().max_listed_per_rule);
    let ctx = Ctx {
        file: "",
        table: TableKind::Avenant43Departements,
    };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, d) in input.iter().enumerate() {
        let row = i + 1;
        match seen.entry(d.departement.as_str()) {
            Entry::Occupied(first) => p.push(ctx.cell(
                row,
                "departement",
                &d.departement,
                Rule::Duplicate {
                    first_row: *first.get() as u64,
                },
            )),
            Entry::Vacant(v) => {
                v.insert(row);
            }
        }
        if d.hours_year != reference {
            p.push(ctx.cell(
                row,
                "hours_year",
                d.hours_year,
                Rule::Conditional {
                    rule: format!(
                        "the aid of {year} is shared by the hours of {reference} (décret 2021-1155 art. 1: 2019 for 2021–2023, N−2 after)"
                    ),
                },
            ));
        }
        let numbers = [
            ("hours_apa", Some(d.hours_apa)),
            ("hours_pch", Some(d.hours_pch)),
            ("hours_aide_menagere", Some(d.hours_aide_menagere)),
            ("cost_forecast", Some(d.cost_forecast)),
            ("cost_actual", d.cost_actual),
        ];
        for (column, v) in numbers {
            if let Some(v) = v
                && let Some(rule) = Bound::NonNegative.broken_by(v)
            {
                p.push(ctx.cell(row, column, v, rule));
            }
        }
    }
    if !p.is_empty() {
        return Err(CoreError::RuleInput(Box::new(p.into_report())));
    }

    let hours: Vec<f64> = input
        .iter()
        .map(|d| d.hours_apa + d.hours_pch + d.hours_aide_menagere)
        .collect();
    let total: f64 = hours.iter().sum();
    let national = match config.national_hours {
        Some(n) if n.is_finite() && n >= total && n > 0.0 => n,
        Some(n) => {
            return Err(CoreError::InvalidOption {
                name: "national_hours",
                value: n.to_string(),
                rule: format!(
                    "the national hours must be positive and at least the input's total, {total}"
                ),
            });
        }
        None if total > 0.0 => total,
        None => {
            return Err(CoreError::InvalidOption {
                name: "national_hours",
                value: "the input's total, 0".into(),
                rule: "the envelope is shared by activity hours: some must be positive".into(),
            });
        }
    };

    let departements: Vec<DepartementAid> = input
        .iter()
        .zip(&hours)
        .map(|(d, &h)| {
            let activity_share = h / national;
            let activity_cap = activity_share * envelope;
            let cost_cap_forecast = rate * d.cost_forecast;
            let (aid_forecast, binding_forecast) = aid(activity_cap, cost_cap_forecast);
            let advance = ADVANCE_SHARE * aid_forecast;
            let cost_cap_actual = d.cost_actual.map(|c| rate * c);
            let fin = cost_cap_actual.map(|c| aid(activity_cap, c));
            DepartementAid {
                departement: d.departement.clone(),
                hours: h,
                activity_share,
                activity_cap,
                cost_cap_forecast,
                aid_forecast,
                binding_forecast,
                advance,
                cost_cap_actual,
                aid_final: fin.map(|(a, _)| a),
                binding_final: fin.map(|(_, b)| b),
                balance: fin.map(|(a, _)| a - advance),
            }
        })
        .collect();
    let aid_forecast: f64 = departements.iter().map(|d| d.aid_forecast).sum();
    Ok(Avenant43Result {
        year,
        hours_year: reference,
        envelope,
        cost_rate: rate,
        national_hours: national,
        advance: departements.iter().map(|d| d.advance).sum(),
        aid_final: departements.iter().filter_map(|d| d.aid_final).sum(),
        unused_forecast: envelope - aid_forecast,
        aid_forecast,
        departements,
    })
}
