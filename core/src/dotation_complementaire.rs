//! The dotation complémentaire (3° of I of art. L.314-2-1 CASF): extra money a
//! département pays a service, under a CPOM, for actions serving the six objectives of
//! art. L.314-2-2 CASF (1° users with specific needs … 6° fighting isolation). The action
//! catalogues of two calls for applications are embedded as data: Creuse 2025 (seed 002,
//! examples of actions, valued in each CPOM) and Saône-et-Loire 2026 (seed 003, a unit
//! price per action). A service's actions × quantities give an amount per objective,
//! capped at the hours of APA and PCH it delivered in the year × the year's rate
//! (3.311 €/h for 2024, seeds 000 and 002; 3.383 €/h for 2026, indexed each year on the
//! consumer price index, seed 003 §III-C: 100,000 h → 338,300 €). Actions started from
//! 1 July are paid *prorata temporis* (seed 003 §III-C); the département's spending is
//! refinanced by the CNSA up to 3.311 € per hour delivered in 2024 (seed 000, encadré 1;
//! other years: an input).
//!
//! The rules of this module, where the texts leave a choice (each is documented where it
//! is applied):
//! - quantities are the volumes of a **full year**, as the candidature form asks
//!   (« Estimation du coût de réalisation de chacune de ces actions sur une année
//!   pleine », seed 002 annexe I); an action started on or before 30 June earns its full
//!   amount; one started from 1 July earns `amount × prorata`, where the prorata is the
//!   share of the year left, counted in days (`(days from the start to 31 December,
//!   both included) / days in the year`) or, as an option, in months (the start month
//!   counts in full: `(13 − month) / 12`). Actions paid per occurrence (a training day,
//!   a recruit's tutoring, a phone, an autonomous team) are counted as done and not
//!   prorated: the catalogue's `prorated` column says which;
//! - each call carries its own rules as data ([`CallRules`], read from its text):
//!   Saône-et-Loire 2026 sets one annual maximum per service (hours × 3.383 €/h) and
//!   prorates it per theme — « avoir initié les actions au titre de la thématique
//!   sollicitée entre le 1er janvier 2026 et le 30 juin 2026 … à compter du 1er juillet
//!   2026, le financement maximum de l'année … sera calculé au prorata temporis »: our
//!   reading is that a theme (an objective) whose first action starts from 1 July may use
//!   at most the annual maximum × the prorata of that start, and the service's themes
//!   together at most the annual maximum; Creuse 2025 sets a département envelope, not
//!   an individual cap — « l'enveloppe départementale 2024 est calculée sur la base de
//!   3.311 € par heure d'APA/PCH prestée. Il ne s'agit pas d'un droit de tirage
//!   individuel » —, against which the sum of the actions retained is checked and
//!   reported, and its text has no prorata;
//! - the département may set maxima per hour, per action or per objective (seed 003:
//!   « se réserve le droit de fixer un montant maximum de financement, en euros par
//!   heure, par action ou par objectif »), optional inputs ([`DcLimits`]);
//! - a call's conditions on actions ([`Condition`]) are checked line by line: a line that
//!   fails one is paid 0, with the reason;
//! - when the actions of a service exceed its cap, every objective is scaled by the same
//!   factor (the texts do not say how a cap is shared among objectives);
//! - the CNSA refinances, per département, the dotation paid up to `hours × 3.311 €`,
//!   with the hours APA + PCH of every service of the input (with or without actions);
//! - amounts are not rounded (the texts give no rounding rule).

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::str::FromStr;

use ahash::AHashMap;
/// A civil date (proleptic Gregorian, jiff's): action starts and vehicle dates.
pub use jiff::civil::Date;

use crate::error::CoreError;
use crate::schema::TableKind;
use crate::validate::{Bound, Ctx, Problems, Rule, ValidateOptions, check_catalogue};

/// The cap rate of the dotation complémentaire by year, € per hour of APA + PCH:
/// 3.311 (2024: seed 002 §III-C, seed 000 encadré 1) and 3.383 (2026: seed 003 §III-C).
pub const CAP_RATE_TABLE: &[(i32, f64)] = &[(2024, 3.311), (2026, 3.383)];

/// The year whose rate later years are indexed on (seed 003: « Le montant de 3,383 € est
/// indexé annuellement sur l'indice des prix à la consommation »).
pub const INDEXATION_BASE_YEAR: i32 = 2026;

/// The CNSA's refinancing limit by year, € per hour delivered: 3.311 in 2024 (seed 000,
/// encadré 1, written in 2024 with the 2024 floor: « la CNSA refinance les dépenses
/// engagées par les départements au titre de la dotation complémentaire dans une limite de
/// 3,311 euros par heure prestée »). No text gives the limit of another year nor how it is
/// indexed, so any other year needs it as an input (`cnsa_rate`): it is never carried
/// over silently.
pub const CNSA_RATE_TABLE: &[(i32, f64)] = &[(2024, 3.311)];

/// The last day of the first half-year: actions started on or before it are paid for the
/// whole year (seed 003 §III-C: « entre le 1er janvier 2026 et le 30 juin 2026 »).
pub const FULL_YEAR_LAST_START: (u32, u32) = (6, 30);

/// How a call limits the dotation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// An annual maximum per service: its hours APA + PCH × the year's cap rate.
    ServiceCap,
    /// A département envelope, `rate` × the département's hours APA + PCH, against which
    /// the sum of the actions retained is checked; no individual cap.
    Envelope {
        /// € per hour of APA + PCH (the « base théorique »).
        rate: f64,
    },
}

/// How a service's annual maximum is prorated for actions started in the second half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapProrata {
    /// Each theme (objective) from the start of its first action.
    PerTheme,
    /// The whole maximum from the earliest start of all the service's actions.
    EarliestStart,
}

/// A condition a call sets on an action line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition {
    /// A line of `code` is funded only when the service also has a line of `requires`.
    Requires {
        /// The action conditioned.
        code: &'static str,
        /// The action it needs.
        requires: &'static str,
        /// The text's sentence.
        source: &'static str,
    },
    /// A line of `code` is funded only for a vehicle leased or bought on or after `from`
    /// (the line's `acquired` date, else its start).
    AcquiredFrom {
        /// The action conditioned.
        code: &'static str,
        /// The first day allowed.
        from: Date,
        /// The text's sentence.
        source: &'static str,
    },
}

/// The rules of one call for applications, read from its text.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRules {
    /// Per-service cap or département envelope.
    pub limit: Limit,
    /// The first day whose actions are prorated (1 July); `None` when the text has no
    /// prorata.
    pub prorata_from: Option<(u32, u32)>,
    /// How a service cap is prorated.
    pub cap_prorata: CapProrata,
    /// Conditions on action lines.
    pub conditions: Vec<Condition>,
}

impl CallRules {
    /// Saône-et-Loire 2026 (seed 003 §III-B and §III-C).
    pub fn saone_et_loire_2026() -> CallRules {
        CallRules {
            limit: Limit::ServiceCap,
            prorata_from: Some((7, 1)),
            cap_prorata: CapProrata::PerTheme,
            conditions: vec![
                Condition::Requires {
                    code: "o5_qwl_diagnosis",
                    requires: "o5_qwl_manager_training",
                    source: "seed 003 §III-B objectif 5: « Attention financement attribué si engagement pris par le SAD de former les managers comme référents de la QVT »",
                },
                Condition::AcquiredFrom {
                    code: "o3_vehicle_lease",
                    from: jiff::civil::date(2026, 1, 1),
                    source: "seed 003 §III-B objectif 3: « nouveaux véhicules loués à compter du 1er janvier 2026 »",
                },
                Condition::AcquiredFrom {
                    code: "o3_vehicle_purchase",
                    from: jiff::civil::date(2026, 1, 1),
                    source: "seed 003 §III-B objectif 3: « nouveaux véhicules achetés au 1er janvier 2026 »",
                },
            ],
        }
    }

    /// The rules of a catalogue given as a file: Saône-et-Loire's limit and prorata,
    /// without its conditions (they name its codes).
    pub fn saone_et_loire_2026_shape() -> CallRules {
        CallRules {
            conditions: Vec::new(),
            ..CallRules::saone_et_loire_2026()
        }
    }

    /// Creuse 2025 (seed 002 §III-C): a département envelope at 3.311 €/h, no prorata.
    pub fn creuse_2025() -> CallRules {
        CallRules {
            limit: Limit::Envelope { rate: 3.311 },
            prorata_from: None,
            cap_prorata: CapProrata::PerTheme,
            conditions: Vec::new(),
        }
    }

    /// The share of its year an action started on `start` is paid for under these rules.
    pub fn prorata(&self, start: Date, basis: ProrataBasis) -> f64 {
        match self.prorata_from {
            None => 1.0,
            Some(from) => prorata_from(start, basis, from),
        }
    }
}

/// The maxima a département may set in the CPOM (seed 003: « un montant maximum de
/// financement, en euros par heure, par action ou par objectif »), all optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DcLimits {
    /// € per hour of APA + PCH, below the call's rate.
    pub per_hour: Option<f64>,
    /// € per action line, by action code.
    pub per_action: BTreeMap<String, f64>,
    /// € per service and objective (index 0 = 1°).
    pub per_objective: [Option<f64>; 6],
}

/// The six objectives of art. L.314-2-2 CASF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Objective {
    /// 1° users whose support has specificities (GIR 1–2, high PCH, polyhandicap…).
    SpecificNeeds = 1,
    /// 2° evenings, weekends and public holidays.
    ExtendedHours = 2,
    /// 3° covering the needs of the whole territory.
    Territory = 3,
    /// 4° support for carers (*aidants*).
    CarerSupport = 4,
    /// 5° quality of working life of the staff.
    WorkingLife = 5,
    /// 6° fighting the isolation of users.
    Isolation = 6,
}

impl Objective {
    /// The six objectives in the order of the article.
    pub const ALL: [Objective; 6] = [
        Objective::SpecificNeeds,
        Objective::ExtendedHours,
        Objective::Territory,
        Objective::CarerSupport,
        Objective::WorkingLife,
        Objective::Isolation,
    ];

    /// The objective of number `n` (1–6).
    pub fn from_number(n: u8) -> Option<Objective> {
        Objective::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The number of the objective in the article (1–6).
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Index in per-objective arrays (0–5).
    pub fn index(self) -> usize {
        self as usize - 1
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}°", self.number())
    }
}

/// One action of a catalogue.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogueEntry {
    /// Short code used in the actions table (for example `o2_sunday_holiday`).
    pub code: String,
    /// The objective it serves.
    pub objective: Objective,
    /// What the action is.
    pub action: String,
    /// The unit its quantity counts.
    pub unit: String,
    /// Price of one unit, €; `None` when the text leaves it to the CPOM.
    pub unit_price: Option<f64>,
    /// Whether an action started from 1 July is paid *prorata temporis* (a yearly flow),
    /// or counted as done (paid per occurrence).
    pub prorated: bool,
    /// Where the text says it.
    pub source: String,
}

/// The built-in catalogues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CatalogueId {
    /// Creuse, call for applications 2025 (seed 002): actions without unit prices.
    Creuse2025,
    /// Saône-et-Loire, call for applications 2026 (seed 003): a unit price per action.
    SaoneEtLoire2026,
}

impl CatalogueId {
    /// Every built-in catalogue.
    pub const ALL: [CatalogueId; 2] = [CatalogueId::Creuse2025, CatalogueId::SaoneEtLoire2026];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CatalogueId::Creuse2025 => "creuse-2025",
            CatalogueId::SaoneEtLoire2026 => "saone-et-loire-2026",
        }
    }

    /// The département code, name and year of the call.
    pub fn departement(self) -> (&'static str, &'static str, i32) {
        match self {
            CatalogueId::Creuse2025 => ("23", "Creuse", 2025),
            CatalogueId::SaoneEtLoire2026 => ("71", "Saône-et-Loire", 2026),
        }
    }

    /// The call's rules, read from its text.
    pub fn rules(self) -> CallRules {
        match self {
            CatalogueId::Creuse2025 => CallRules::creuse_2025(),
            CatalogueId::SaoneEtLoire2026 => CallRules::saone_et_loire_2026(),
        }
    }

    fn text(self) -> &'static str {
        match self {
            CatalogueId::Creuse2025 => include_str!("../data/dc_creuse_2025.csv"),
            CatalogueId::SaoneEtLoire2026 => include_str!("../data/dc_saone_et_loire_2026.csv"),
        }
    }
}

impl fmt::Display for CatalogueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CatalogueId {
    type Err = String;
    fn from_str(s: &str) -> Result<CatalogueId, String> {
        CatalogueId::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown catalogue {s:?}; the built-in catalogues are {}",
                    CatalogueId::ALL.map(CatalogueId::name).join(", ")
                )
            })
    }
}

/// An action catalogue: the actions a département finances, by code.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalogue {
    /// Its name (for messages).
    pub name: String,
    /// The year of the call for applications.
    pub year: i32,
    /// The actions, in the order of the text.
    pub entries: Vec<CatalogueEntry>,
    /// The call's rules (limit, prorata, conditions).
    pub rules: CallRules,
}

impl Catalogue {
    /// A built-in catalogue (its embedded file is checked by the tests).
    pub fn builtin(id: CatalogueId) -> Catalogue {
        let mut c = Catalogue::parse(id.name(), id.departement().2, id.text())
            .unwrap_or_else(|e| panic!("the embedded catalogue {id} is invalid: {e}"));
        c.rules = id.rules();
        c
    }

    /// Parses a catalogue from CSV text with the columns `code, objective, action, unit,
    /// unit_price, prorated, source` (fields may be double-quoted; an empty unit price
    /// means "set in the CPOM"), checked as any input table ([`TableKind::DcCatalogue`]):
    /// every problem is reported with the row and column, `name` standing for the file.
    pub fn parse(name: &str, year: i32, text: &str) -> Result<Catalogue, CoreError> {
        let mut lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(split_csv_line);
        let header = lines.next().unwrap_or_default();
        let rows: Vec<Vec<String>> = lines.collect();
        let entries = check_catalogue(name, &header, &rows, &ValidateOptions::default())
            .map_err(|report| CoreError::RuleInput(Box::new(report)))?;
        Ok(Catalogue {
            name: name.to_string(),
            year,
            entries,
            rules: CallRules::saone_et_loire_2026_shape(),
        })
    }

    /// The action of code `code`.
    pub fn get(&self, code: &str) -> Option<&CatalogueEntry> {
        self.entries.iter().find(|e| e.code == code)
    }

    /// The codes, comma-separated (for messages).
    pub fn codes(&self) -> String {
        self.entries
            .iter()
            .map(|e| e.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Splits one CSV line into fields: commas separate, double quotes protect commas, and a
/// doubled quote inside quotes is a quote.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// How the share of the year left after a start on or after 1 July is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProrataBasis {
    /// Days from the start to 31 December, both included, over the days of the year.
    #[default]
    Days,
    /// Months from the start month (counted in full) to December, over 12.
    Months,
}

impl FromStr for ProrataBasis {
    type Err = String;
    fn from_str(s: &str) -> Result<ProrataBasis, String> {
        match s {
            "days" => Ok(ProrataBasis::Days),
            "months" => Ok(ProrataBasis::Months),
            _ => Err(format!("unknown prorata basis {s:?}: days or months")),
        }
    }
}

impl fmt::Display for ProrataBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProrataBasis::Days => "days",
            ProrataBasis::Months => "months",
        })
    }
}

/// The share of its year an action started on `start` is paid for: 1 when it starts on
/// or before 30 June, else the share of the year left (see [`ProrataBasis`]).
pub fn prorata(start: Date, basis: ProrataBasis) -> f64 {
    prorata_from(start, basis, (7, 1))
}

/// [`prorata`] with the first prorated day `from` (month, day).
pub fn prorata_from(start: Date, basis: ProrataBasis, from: (u32, u32)) -> f64 {
    let (month, day) = (start.month().unsigned_abs(), start.day().unsigned_abs());
    if (u32::from(month), u32::from(day)) < from {
        return 1.0;
    }
    match basis {
        ProrataBasis::Days => {
            let n = start.days_in_year();
            f64::from(n - start.day_of_year() + 1) / f64::from(n)
        }
        ProrataBasis::Months => f64::from(13 - month) / 12.0,
    }
}

/// The cap rate of the dotation complémentaire for `year`, €/h: from
/// [`CAP_RATE_TABLE`], or for a year after 2026 `3.383 × cpi_ratio`, where `cpi_ratio` is
/// the consumer price index of the year over that of 2026 (seed 003 §III-C).
pub fn cap_rate(year: i32, cpi_ratio: Option<f64>) -> Result<f64, CoreError> {
    if let Some(&(_, r)) = CAP_RATE_TABLE.iter().find(|(y, _)| *y == year) {
        return Ok(r);
    }
    match cpi_ratio {
        Some(ratio) if year > INDEXATION_BASE_YEAR => {
            if !(ratio.is_finite() && ratio > 0.0) {
                return Err(CoreError::InvalidOption {
                    name: "cpi_ratio",
                    value: ratio.to_string(),
                    rule: "the index ratio must be a positive number".into(),
                });
            }
            let base = CAP_RATE_TABLE
                .iter()
                .find(|(y, _)| *y == INDEXATION_BASE_YEAR)
                .map(|&(_, r)| r)
                .expect("the base year is in the table");
            Ok(base * ratio)
        }
        _ if year > INDEXATION_BASE_YEAR => Err(CoreError::UnknownYear {
            what: "the dotation complémentaire's cap rate",
            year,
            hint: "it is 3.383 €/h of 2026 indexed on consumer prices: give the index ratio CPI(year) / CPI(2026) (cpi_ratio), or the rate itself (cap_rate)",
        }),
        _ => Err(CoreError::UnknownYear {
            what: "the dotation complémentaire's cap rate",
            year,
            hint: "the texts give 3.311 €/h (2024) and 3.383 €/h (2026): give the rate of this year (cap_rate)",
        }),
    }
}

/// Options of [`compute`].
#[derive(Clone, Debug, PartialEq)]
pub struct DcConfig {
    /// The year of the dotation: action starts must fall in it.
    pub year: i32,
    /// The cap rate, €/h, replacing the built-in one (for a year the texts do not give).
    pub cap_rate: Option<f64>,
    /// CPI(year) / CPI(2026), to index the 2026 rate for a later year.
    pub cpi_ratio: Option<f64>,
    /// The CNSA's refinancing limit, €/h, replacing [`CNSA_RATE_TABLE`]'s (required for a
    /// year other than 2024).
    pub cnsa_rate: Option<f64>,
    /// How the share of the year left is counted.
    pub prorata: ProrataBasis,
    /// The département's maxima, if any.
    pub limits: DcLimits,
}

impl DcConfig {
    /// The options of `year` with the built-in rates and prorata in days.
    pub fn new(year: i32) -> DcConfig {
        DcConfig {
            year,
            cap_rate: None,
            cpi_ratio: None,
            cnsa_rate: None,
            prorata: ProrataBasis::Days,
            limits: DcLimits::default(),
        }
    }
}

/// The rates a computation used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DcRates {
    /// Cap of a service, € per hour of APA + PCH.
    pub cap: f64,
    /// CNSA refinancing limit, € per hour of APA + PCH.
    pub cnsa: f64,
}

impl DcRates {
    /// The rates of `config`'s year (or those it gives) under a call's `rules`: a service
    /// cap's rate by year, or the envelope's rate of the text.
    pub fn of(config: &DcConfig, rules: &CallRules) -> Result<DcRates, CoreError> {
        let positive = |name: &'static str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(CoreError::InvalidOption {
                    name,
                    value: v.to_string(),
                    rule: "a rate must be a number ≥ 0 (€ per hour)".into(),
                })
            }
        };
        let cap = match (config.cap_rate, rules.limit) {
            (Some(r), _) => positive("cap_rate", r)?,
            (None, Limit::Envelope { rate }) => rate,
            (None, Limit::ServiceCap) => cap_rate(config.year, config.cpi_ratio)?,
        };
        let cap = match config.limits.per_hour {
            Some(r) => cap.min(positive("max_per_hour", r)?),
            None => cap,
        };
        let cnsa = match config.cnsa_rate {
            Some(r) => positive("cnsa_rate", r)?,
            None => match CNSA_RATE_TABLE.iter().find(|(y, _)| *y == config.year) {
                Some(&(_, r)) => r,
                None => {
                    return Err(CoreError::UnknownYear {
                        what: "the CNSA's refinancing limit of the dotation complémentaire",
                        year: config.year,
                        hint: "the texts give 3.311 €/h for 2024 only (seed 000) and no indexation: give the limit of this year (cnsa_rate), e.g. 3.311 to keep 2024's",
                    });
                }
            },
        };
        Ok(DcRates { cap, cnsa })
    }
}

/// One action a service runs: a line of the `actions` table.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionLine {
    /// The service.
    pub service_id: String,
    /// The catalogue code of the action.
    pub action: String,
    /// Units over a full year.
    pub quantity: f64,
    /// The day the action starts.
    pub start: Date,
    /// Price of one unit, €, for an action the catalogue leaves to the CPOM.
    pub unit_price: Option<f64>,
    /// The day a vehicle was leased or bought (vehicle actions; the start when absent).
    pub acquired: Option<Date>,
}

/// A service's activity: a line of the `hours` table.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceHours {
    /// The service.
    pub service_id: String,
    /// Its département.
    pub departement: String,
    /// APA hours delivered in the year.
    pub hours_apa: f64,
    /// PCH hours delivered in the year.
    pub hours_pch: f64,
}

/// The amount of one action line.
#[derive(Clone, Debug, PartialEq)]
pub struct LineAmount {
    /// The service.
    pub service_id: String,
    /// The action code.
    pub action: String,
    /// Its objective.
    pub objective: Objective,
    /// Units over a full year.
    pub quantity: f64,
    /// Price of one unit, €.
    pub unit_price: f64,
    /// The start day.
    pub start: Date,
    /// The share of the year paid (1 for an action started by 30 June or paid per
    /// occurrence).
    pub prorata: f64,
    /// `quantity × unit_price × prorata`, € (before the service's cap), within the
    /// département's maximum per action; 0 when the line fails a condition of the call.
    pub amount: f64,
    /// Why the line is paid 0: the condition of the call it fails.
    pub refused: Option<String>,
}

/// The dotation of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceDc {
    /// The service.
    pub service_id: String,
    /// Its département.
    pub departement: String,
    /// Hours APA + PCH.
    pub hours: f64,
    /// Number of action lines.
    pub actions: usize,
    /// `cap / (hours × cap rate)`: the share of the annual maximum the service can use
    /// after the prorata (1 without actions; `None` under a département envelope).
    pub cap_prorata: Option<f64>,
    /// What the service can receive at most, €: the annual maximum `hours × cap rate`,
    /// prorated per theme (or from the earliest start), within the département's maxima
    /// per objective; `None` under a département envelope (no individual cap).
    pub cap: Option<f64>,
    /// Amounts of the actions by objective (index 0 = 1°), €.
    pub requested: [f64; 6],
    /// Their sum, €.
    pub requested_total: f64,
    /// What is paid by objective after the cap, €.
    pub paid: [f64; 6],
    /// Their sum: `min(requested_total, cap)`, €.
    pub paid_total: f64,
    /// Whether the cap bound.
    pub capped: bool,
}

/// The dotation of one département and the CNSA's refinancing of it.
#[derive(Clone, Debug, PartialEq)]
pub struct DepartementDc {
    /// The département.
    pub departement: String,
    /// Services of the input.
    pub services: usize,
    /// Services with at least one action.
    pub services_with_actions: usize,
    /// Hours APA + PCH of all its services.
    pub hours: f64,
    /// Amounts of the actions before caps, €.
    pub requested: f64,
    /// Dotation paid, €.
    pub paid: f64,
    /// Refinancing limit `hours × CNSA rate`, €.
    pub cnsa_limit: f64,
    /// CNSA refinancing `min(paid, cnsa_limit)`, €.
    pub cnsa_refinancing: f64,
    /// What the département bears: `paid − cnsa_refinancing`, €.
    pub departement_share: f64,
    /// The département envelope `hours × rate`, € (calls with an envelope).
    pub envelope: Option<f64>,
    /// `envelope − paid`, € (negative: the actions retained exceed the envelope).
    pub envelope_left: Option<f64>,
}

/// The result of [`compute`].
#[derive(Clone, Debug, PartialEq)]
pub struct DcResult {
    /// The year.
    pub year: i32,
    /// The rates used.
    pub rates: DcRates,
    /// Every action line, in input order.
    pub lines: Vec<LineAmount>,
    /// Every service, in input order.
    pub services: Vec<ServiceDc>,
    /// Départements, by code.
    pub departements: Vec<DepartementDc>,
}

/// Computes the dotation complémentaire of each service and département from the
/// services' actions (`actions`) and activity (`services`). Every unusable value is
/// reported ([`CoreError::RuleInput`], rows from 1): an unknown action code, a negative
/// or non-finite quantity, a start outside the year, a missing or superfluous unit price,
/// a service absent from the hours table, negative hours, a duplicated service.
pub fn compute(
    catalogue: &Catalogue,
    actions: &[ActionLine],
    services: &[ServiceHours],
    config: &DcConfig,
) -> Result<DcResult, CoreError> {
    let rules = &catalogue.rules;
    let rates = DcRates::of(config, rules)?;
    let mut p = Problems::new(ValidateOptions::default().max_listed_per_rule);
    let hours_ctx = Ctx {
        file: "",
        table: TableKind::DcHours,
    };
    let actions_ctx = Ctx {
        file: "",
        table: TableKind::DcActions,
    };

    let mut index: AHashMap<&str, usize> = AHashMap::with_capacity(services.len());
    for (i, s) in services.iter().enumerate() {
        let row = i + 1;
        match index.entry(s.service_id.as_str()) {
            Entry::Occupied(first) => p.push(hours_ctx.cell(
                row,
                "service_id",
                &s.service_id,
                Rule::Duplicate {
                    first_row: *first.get() as u64 + 1,
                },
            )),
            Entry::Vacant(v) => {
                v.insert(i);
            }
        }
        for (column, v) in [("hours_apa", s.hours_apa), ("hours_pch", s.hours_pch)] {
            if let Some(rule) = Bound::NonNegative.broken_by(v) {
                p.push(hours_ctx.cell(row, column, v, rule));
            }
        }
    }

    let mut lines = Vec::with_capacity(actions.len());
    let mut owner = Vec::with_capacity(actions.len());
    let mut acquired = Vec::with_capacity(actions.len());
    for (i, a) in actions.iter().enumerate() {
        let row = i + 1;
        let service = index.get(a.service_id.as_str()).copied();
        if service.is_none() {
            p.push(actions_ctx.cell(
                row,
                "service_id",
                &a.service_id,
                Rule::UnknownReference {
                    table: TableKind::DcHours,
                    column: "service_id",
                },
            ));
        }
        let entry = catalogue.get(&a.action);
        if entry.is_none() {
            p.push(actions_ctx.cell(
                row,
                "action",
                &a.action,
                Rule::Code {
                    allowed: format!(
                        "the codes of the {} catalogue: {}",
                        catalogue.name,
                        catalogue.codes()
                    ),
                },
            ));
        }
        if let Some(rule) = Bound::NonNegative.broken_by(a.quantity) {
            p.push(actions_ctx.cell(row, "quantity", a.quantity, rule));
        }
        if i32::from(a.start.year()) != config.year {
            p.push(actions_ctx.cell(
                row,
                "start",
                a.start,
                Rule::Conditional {
                    rule: format!(
                        "the start must fall in the year of the dotation, {}",
                        config.year
                    ),
                },
            ));
        }
        let price = match (entry.and_then(|e| e.unit_price), a.unit_price) {
            (Some(p), None) => Some(p),
            (None, Some(price)) => match Bound::NonNegative.broken_by(price) {
                None => Some(price),
                Some(rule) => {
                    p.push(actions_ctx.cell(row, "unit_price", price, rule));
                    None
                }
            },
            (Some(fixed), Some(given)) => {
                p.push(actions_ctx.cell(
                    row,
                    "unit_price",
                    given,
                    Rule::Conditional {
                        rule: format!(
                            "the {} catalogue fixes this action's price at {fixed} €; leave unit_price empty",
                            catalogue.name
                        ),
                    },
                ));
                None
            }
            (None, None) => {
                if entry.is_some() {
                    p.push(actions_ctx.problem(
                        Some(row as u64),
                        Some("unit_price"),
                        None,
                        Rule::Conditional {
                            rule: format!(
                                "the {} catalogue leaves this action's price to the CPOM: give unit_price",
                                catalogue.name
                            ),
                        },
                    ));
                }
                None
            }
        };
        if let (Some(s), Some(e), Some(price)) = (service, entry, price) {
            let share = if e.prorated {
                rules.prorata(a.start, config.prorata)
            } else {
                1.0
            };
            let mut amount = a.quantity * price * share;
            if let Some(&max) = config.limits.per_action.get(&a.action) {
                amount = amount.min(max);
            }
            lines.push(LineAmount {
                service_id: a.service_id.clone(),
                action: a.action.clone(),
                objective: e.objective,
                quantity: a.quantity,
                unit_price: price,
                start: a.start,
                prorata: share,
                amount,
                refused: None,
            });
            owner.push(s);
            acquired.push(a.acquired);
        }
    }
    // The call's conditions, line by line: a line that fails one is paid 0.
    for c in &rules.conditions {
        for i in 0..lines.len() {
            let reason = match *c {
                Condition::Requires {
                    code,
                    requires,
                    source,
                } if lines[i].action == code => {
                    let has = (0..lines.len())
                        .any(|j| owner[j] == owner[i] && lines[j].action == requires);
                    (!has).then(|| {
                        format!(
                            "the service has no {requires} line, which this action needs ({source})"
                        )
                    })
                }
                Condition::AcquiredFrom { code, from, source } if lines[i].action == code => {
                    let day = acquired[i].unwrap_or(lines[i].start);
                    (day < from)
                        .then(|| format!("the vehicle dates from {day}, before {from} ({source})"))
                }
                _ => None,
            };
            if let Some(r) = reason
                && lines[i].refused.is_none()
            {
                lines[i].amount = 0.0;
                lines[i].refused = Some(r);
            }
        }
    }
    if !p.is_empty() {
        return Err(CoreError::RuleInput(Box::new(p.into_report())));
    }

    let mut out: Vec<ServiceDc> = services
        .iter()
        .map(|s| ServiceDc {
            service_id: s.service_id.clone(),
            departement: s.departement.clone(),
            hours: s.hours_apa + s.hours_pch,
            actions: 0,
            cap_prorata: None,
            cap: None,
            requested: [0.0; 6],
            requested_total: 0.0,
            paid: [0.0; 6],
            paid_total: 0.0,
            capped: false,
        })
        .collect();
    // The earliest start of each service's actions, overall and per theme (objective).
    let mut earliest: Vec<Option<Date>> = vec![None; services.len()];
    let mut theme_start: Vec<[Option<Date>; 6]> = vec![[None; 6]; services.len()];
    for (line, &s) in lines.iter().zip(&owner) {
        out[s].actions += 1;
        out[s].requested[line.objective.index()] += line.amount;
        earliest[s] = Some(earliest[s].map_or(line.start, |d| d.min(line.start)));
        let t = &mut theme_start[s][line.objective.index()];
        *t = Some(t.map_or(line.start, |d| d.min(line.start)));
    }
    let per_objective = &config.limits.per_objective;
    for (i, s) in out.iter_mut().enumerate() {
        s.requested_total = s.requested.iter().sum();
        // The département's maxima per objective bind every call.
        let mut allowed = s.requested;
        for (a, max) in allowed.iter_mut().zip(per_objective) {
            if let Some(m) = max {
                *a = a.min(*m);
            }
        }
        if rules.limit == Limit::ServiceCap {
            let annual = s.hours * rates.cap;
            let theme_share = |o: usize| {
                theme_start[i][o].map_or(0.0, |d| match rules.cap_prorata {
                    CapProrata::PerTheme => rules.prorata(d, config.prorata),
                    CapProrata::EarliestStart => 1.0,
                })
            };
            let overall = match rules.cap_prorata {
                CapProrata::PerTheme => 1.0,
                CapProrata::EarliestStart => {
                    earliest[i].map_or(1.0, |d| rules.prorata(d, config.prorata))
                }
            };
            // Each theme within its prorated maximum, then the themes together within the
            // service's maximum (prorated from the earliest start under that reading).
            for (o, a) in allowed.iter_mut().enumerate() {
                if theme_start[i][o].is_some() {
                    *a = a.min(annual * theme_share(o));
                }
            }
            let cap = annual * overall;
            let total: f64 = allowed.iter().sum();
            let scale = if total > cap && total > 0.0 {
                cap / total
            } else {
                1.0
            };
            s.paid = allowed.map(|a| a * scale);
            s.paid_total = if total > cap { cap } else { total };
            // What the service could use at most: the themes' maxima, within the cap.
            let reach: f64 = if s.actions == 0 {
                annual
            } else {
                (0..6)
                    .filter(|&o| theme_start[i][o].is_some())
                    .map(|o| {
                        let m = annual * theme_share(o);
                        per_objective[o].map_or(m, |x| m.min(x))
                    })
                    .sum::<f64>()
                    .min(cap)
            };
            s.cap = Some(reach);
            s.cap_prorata = Some(if annual > 0.0 { reach / annual } else { 1.0 });
        } else {
            s.paid = allowed;
            s.paid_total = allowed.iter().sum();
        }
        s.capped = s.paid_total < s.requested_total;
    }

    let mut by_dep: BTreeMap<&str, DepartementDc> = BTreeMap::new();
    for s in &out {
        let d = by_dep
            .entry(s.departement.as_str())
            .or_insert_with(|| DepartementDc {
                departement: s.departement.clone(),
                services: 0,
                services_with_actions: 0,
                hours: 0.0,
                requested: 0.0,
                paid: 0.0,
                cnsa_limit: 0.0,
                cnsa_refinancing: 0.0,
                departement_share: 0.0,
                envelope: None,
                envelope_left: None,
            });
        d.services += 1;
        d.services_with_actions += usize::from(s.actions > 0);
        d.hours += s.hours;
        d.requested += s.requested_total;
        d.paid += s.paid_total;
    }
    let departements = by_dep
        .into_values()
        .map(|mut d| {
            d.cnsa_limit = d.hours * rates.cnsa;
            d.cnsa_refinancing = d.paid.min(d.cnsa_limit);
            d.departement_share = d.paid - d.cnsa_refinancing;
            if let Limit::Envelope { .. } = rules.limit {
                let envelope = d.hours * rates.cap;
                d.envelope = Some(envelope);
                d.envelope_left = Some(envelope - d.paid);
            }
            d
        })
        .collect();
    Ok(DcResult {
        year: config.year,
        rates,
        lines,
        services: out,
        departements,
    })
}
