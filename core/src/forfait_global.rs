//! The payment mechanics and the CPOM bands of the *forfait global négocié* (annexe 2 of
//! the 2012 experiment's specifications, seed 001 §6).
//!
//! - **Schedule** (§6.1): « Il fait l'objet de versements mensuels pour 90 % de son
//!   montant annuel. Les 10 % restants, gelés en début d'exercice budgétaire, seront
//!   libérés en totalité ou en partie dès l'issue du (des) dialogue(s) de gestion en
//!   fonction de la réalisation des objectifs » — twelve instalments of 7.5 % of the
//!   annual forfait, then, after the management dialogue (§6.4: at the latest early in
//!   the next year), the withheld 10 % × the share of the CPOM's objectives met; the rest
//!   stays frozen. The share of objectives met is counted as objectives met / objectives
//!   set (the text says « en fonction de la réalisation des objectifs » without a
//!   weighting; counting them equally is our rule).
//! - **Bands** (§6.2): the carers' time out of users' presence (travel, coordination,
//!   meetings, training, tutoring, staff representation…) « compris dans une fourchette
//!   de x % et y % des 1 607 heures de la durée légale de travail », appreciated globally:
//!   `non-presence hours / (1,607 × carer FTE)`; and structure costs « (G1 + G3 +
//!   dépenses de personnels autres qu'aides à domicile, auxiliaires de vie sociale et
//!   aides médico-psychologiques) compris entre x % et y % des dépenses brutes totales ».
//!   Only aides à domicile, AVS and AMP are left out of structure costs (§4.3: « les
//!   dépenses des personnels autres que les intervenant à domicile (aides à domicile,
//!   auxiliaires de vie sociale et aides médico-psychologiques) »): the TISF, carers for
//!   the non-presence time (§6.2 names them), are counted in structure costs
//!   (`cost_staff_tisf`). The text leaves x and y to each CPOM: the caller gives them, and each share is
//!   flagged below, within (bounds included: « compris entre ») or above its band.
//!
//! Amounts are not rounded (the text gives no rule).

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;
use crate::schema::TableKind;
use crate::validate::{Bound, Ctx, Problems, Rule, ValidateOptions};

/// Hours of the legal working year of one FTE (« les 1 607 heures de la durée légale de
/// travail »).
pub const LEGAL_HOURS_PER_FTE: f64 = 1_607.0;
/// Share of the annual forfait paid in monthly instalments.
pub const MONTHLY_SHARE: f64 = 0.90;
/// Share withheld until the management dialogue.
pub const WITHHELD_SHARE: f64 = 0.10;
/// Number of monthly instalments.
pub const INSTALMENTS: usize = 12;

/// The payments of one year's forfait.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The annual forfait, €.
    pub annual: f64,
    /// The twelve monthly instalments, each `90 % × annual / 12`, €.
    pub monthly: [f64; INSTALMENTS],
    /// `10 % × annual`, €.
    pub withheld: f64,
    /// The share of objectives met, 0–1.
    pub objectives_share: f64,
    /// `withheld × objectives_share`, paid after the management dialogue, €.
    pub released: f64,
    /// `withheld − released`, €.
    pub frozen: f64,
    /// Everything paid for the year: instalments + released, €.
    pub paid: f64,
}

/// The schedule of an annual forfait `annual` when `met` of `set` objectives are met
/// (`set > 0`, `met ≤ set`).
pub fn schedule(annual: f64, met: u32, set: u32) -> Schedule {
    debug_assert!(set > 0 && met <= set);
    let instalment = MONTHLY_SHARE * annual / INSTALMENTS as f64;
    let withheld = WITHHELD_SHARE * annual;
    let objectives_share = f64::from(met) / f64::from(set);
    let released = withheld * objectives_share;
    Schedule {
        annual,
        monthly: [instalment; INSTALMENTS],
        withheld,
        objectives_share,
        released,
        frozen: withheld - released,
        paid: MONTHLY_SHARE * annual + released,
    }
}

/// A CPOM band `[low, high]` of a share (0.15 is 15 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Band {
    /// Lowest share allowed.
    pub low: f64,
    /// Highest share allowed.
    pub high: f64,
}

impl Band {
    /// A band, if `0 ≤ low ≤ high ≤ 1`.
    pub fn new(low: f64, high: f64) -> Option<Band> {
        (0.0 <= low && low <= high && high <= 1.0).then_some(Band { low, high })
    }

    /// Where `share` lies.
    pub fn flag(self, share: f64) -> BandFlag {
        if share < self.low {
            BandFlag::Below
        } else if share > self.high {
            BandFlag::Above
        } else {
            BandFlag::Within
        }
    }
}

impl FromStr for Band {
    type Err = String;
    /// Parses `LOW:HIGH` in percent, as the text writes them (`15:25` is 15 % to 25 %).
    fn from_str(s: &str) -> Result<Band, String> {
        let bad = || format!("{s:?}: a band is LOW:HIGH in percent, 0 ≤ LOW ≤ HIGH ≤ 100");
        let (l, h) = s.split_once(':').ok_or_else(bad)?;
        let l: f64 = l.trim().parse().map_err(|_| bad())?;
        let h: f64 = h.trim().parse().map_err(|_| bad())?;
        Band::new(l / 100.0, h / 100.0).ok_or_else(bad)
    }
}

/// Where a share lies against its band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandFlag {
    /// Under the band's low end.
    Below,
    /// Within the band, ends included.
    Within,
    /// Over the band's high end.
    Above,
}

impl BandFlag {
    /// `below`, `within` or `above`.
    pub fn name(self) -> &'static str {
        match self {
            BandFlag::Below => "below",
            BandFlag::Within => "within",
            BandFlag::Above => "above",
        }
    }
}

impl fmt::Display for BandFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options of [`compute`]: the CPOM's bands (`None`: shares computed, not flagged).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FgnConfig {
    /// Band of non-presence time, share of 1,607 h per carer FTE.
    pub non_presence: Option<Band>,
    /// Band of structure costs, share of gross expenses.
    pub structure: Option<Band>,
}

/// One service under a forfait global négocié: a line of the input table.
#[derive(Clone, Debug, PartialEq)]
pub struct FgnService {
    /// The service.
    pub service_id: String,
    /// The annual forfait, €.
    pub forfait_annual: f64,
    /// Objectives set by the CPOM (> 0).
    pub objectives_set: u32,
    /// Objectives met at the management dialogue (≤ set).
    pub objectives_met: u32,
    /// Carers (aides à domicile, AVS, AMP, TISF), full-time equivalents.
    pub fte_carers: f64,
    /// The carers' paid hours out of users' presence in the year.
    pub non_presence_hours: f64,
    /// Group 1 expenses (current operating), €.
    pub cost_g1: f64,
    /// Group 3 expenses (structure), €.
    pub cost_g3: f64,
    /// Staff expenses other than carers (management, administration, coordination), €.
    pub cost_staff_non_carer: f64,
    /// Staff expenses of the TISF (techniciens de l'intervention sociale et familiale), €:
    /// carers, but not among the aides à domicile, AVS and AMP that seed 001 leaves out of
    /// structure costs.
    pub cost_staff_tisf: f64,
    /// Gross total expenses, €.
    pub gross_expenses: f64,
}

impl FgnService {
    /// Structure costs as seed 001 counts them: G1 + G3 + every staff expense but the
    /// aides à domicile', AVS' and AMP's (non-carer staff and TISF).
    pub fn structure_costs(&self) -> f64 {
        self.cost_g1 + self.cost_g3 + self.cost_staff_non_carer + self.cost_staff_tisf
    }
}

/// The result for one service.
#[derive(Clone, Debug, PartialEq)]
pub struct FgnResult {
    /// The service.
    pub service_id: String,
    /// Its payments.
    pub schedule: Schedule,
    /// `non_presence_hours / (1,607 × fte_carers)`.
    pub non_presence_share: f64,
    /// Against the non-presence band, if given.
    pub non_presence_flag: Option<BandFlag>,
    /// `G1 + G3 + non-carer staff + TISF staff`, €.
    pub structure_costs: f64,
    /// `structure_costs / gross_expenses`.
    pub structure_share: f64,
    /// Against the structure band, if given.
    pub structure_flag: Option<BandFlag>,
}

/// Computes each service's schedule, shares and flags. Every unusable value is reported
/// ([`CoreError::RuleInput`], rows from 1): a negative or non-finite amount, no objective
/// set, more objectives met than set, no carer FTE, gross expenses of zero or below the
/// structure costs, a duplicated service.
pub fn compute(services: &[FgnService], config: &FgnConfig) -> Result<Vec<FgnResult>, CoreError> {
    let mut p = Problems::new(ValidateOptions::default().max_listed_per_rule);
    let ctx = Ctx {
        file: "",
        table: TableKind::FgnServices,
    };
    let mut seen = std::collections::HashMap::new();
    for (i, s) in services.iter().enumerate() {
        let row = i + 1;
        if let Some(&first) = seen.get(s.service_id.as_str()) {
            p.push(ctx.cell(
                row,
                "service_id",
                &s.service_id,
                Rule::Duplicate { first_row: first },
            ));
        } else {
            seen.insert(s.service_id.as_str(), row as u64);
        }
        let mut number = |column: &str, v: f64, bound: Bound, why: &str| {
            if let Some(rule) = bound.broken_by(v) {
                let rule = match rule {
                    Rule::Range { allowed } if !why.is_empty() => Rule::Range {
                        allowed: format!("{allowed} ({why})"),
                    },
                    rule => rule,
                };
                p.push(ctx.cell(row, column, v, rule));
            }
        };
        for (column, v) in [
            ("forfait_annual", s.forfait_annual),
            ("non_presence_hours", s.non_presence_hours),
            ("cost_g1", s.cost_g1),
            ("cost_g3", s.cost_g3),
            ("cost_staff_non_carer", s.cost_staff_non_carer),
            ("cost_staff_tisf", s.cost_staff_tisf),
        ] {
            number(column, v, Bound::NonNegative, "");
        }
        number(
            "fte_carers",
            s.fte_carers,
            Bound::Positive,
            "non-presence time is a share of 1,607 h per carer FTE",
        );
        number("gross_expenses", s.gross_expenses, Bound::Positive, "");
        if s.objectives_set == 0 {
            p.push(ctx.cell(
                row,
                "objectives_set",
                0,
                Rule::Range {
                    allowed: "≥ 1 (the withheld 10 % is released in proportion to the objectives met)".into(),
                },
            ));
        }
        if s.objectives_met > s.objectives_set {
            p.push(ctx.cell(
                row,
                "objectives_met",
                s.objectives_met,
                Rule::Conditional {
                    rule: format!(
                        "no more objectives can be met than set ({})",
                        s.objectives_set
                    ),
                },
            ));
        }
        let structure = s.structure_costs();
        if s.gross_expenses.is_finite() && s.gross_expenses > 0.0 && structure > s.gross_expenses {
            p.push(ctx.cell(
                row,
                "gross_expenses",
                s.gross_expenses,
                Rule::Conditional {
                    rule: format!(
                        "gross expenses must include the structure costs G1 + G3 + non-carer staff + TISF staff = {structure}"
                    ),
                },
            ));
        }
    }
    if !p.is_empty() {
        return Err(CoreError::RuleInput(Box::new(p.into_report())));
    }
    Ok(services
        .iter()
        .map(|s| {
            let non_presence_share = s.non_presence_hours / (LEGAL_HOURS_PER_FTE * s.fte_carers);
            let structure_costs = s.structure_costs();
            let structure_share = structure_costs / s.gross_expenses;
            FgnResult {
                service_id: s.service_id.clone(),
                schedule: schedule(s.forfait_annual, s.objectives_met, s.objectives_set),
                non_presence_share,
                non_presence_flag: config.non_presence.map(|b| b.flag(non_presence_share)),
                structure_costs,
                structure_share,
                structure_flag: config.structure.map(|b| b.flag(structure_share)),
            }
        })
        .collect())
}
