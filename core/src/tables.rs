//! The validated microdata, column by column: typed, with string keys resolved to dense
//! indices so that every computation downstream works on flat slices. Built only by
//! [`crate::validate::validate`], so holding a [`Microdata`] means the contract holds.

/// Legal status of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Non-profit association.
    Associatif,
    /// Public service (CCAS, CIAS…).
    Public,
    /// For-profit company.
    PriveLucratif,
}

/// Funder of a user's hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Allowance {
    /// Allocation personnalisée d'autonomie (elderly, GIR 1–4).
    Apa,
    /// Prestation de compensation du handicap (disabled).
    Pch,
    /// Départemental social aid (aide ménagère).
    SocialAid,
    /// Anything else (pension funds, private clients).
    Other,
}

/// Where a user lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    /// Urban.
    Urban,
    /// Peri-urban.
    Periurban,
    /// Rural.
    Rural,
    /// Mountain (≥ 700 m).
    Mountain,
}

/// Time slot of a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Weekday daytime.
    Weekday,
    /// Evening or early morning (6–8 h, 19–22 h).
    Evening,
    /// Sunday or public holiday.
    SundayHoliday,
    /// Night.
    Night,
}

/// Carer category of the Avenant 43 classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Qualification {
    /// Category A.
    A,
    /// Category B.
    B,
    /// Category C.
    C,
}

/// Text codes of an enumeration, as written in files.
pub trait Code: Sized + Copy + 'static {
    /// Every value, in a fixed order (its index is the value's ordinal).
    const ALL: &'static [Self];
    /// The values' codes, in the same order as `ALL`.
    const CODES: &'static [&'static str];
    /// The code of this value.
    fn code(self) -> &'static str {
        Self::CODES[self.ordinal()]
    }
    /// Position in `ALL`.
    fn ordinal(self) -> usize;
    /// Parses a code.
    fn parse(s: &str) -> Option<Self> {
        Self::CODES
            .iter()
            .position(|c| *c == s)
            .map(|i| Self::ALL[i])
    }
}

macro_rules! code_enum {
    ($t:ty, [$($v:expr => $c:literal),+ $(,)?]) => {
        impl Code for $t {
            const ALL: &'static [Self] = &[$($v),+];
            const CODES: &'static [&'static str] = &[$($c),+];
            fn ordinal(self) -> usize {
                self as usize
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

code_enum!(Status, [Status::Associatif => "associatif", Status::Public => "public", Status::PriveLucratif => "prive_lucratif"]);
code_enum!(Allowance, [Allowance::Apa => "APA", Allowance::Pch => "PCH", Allowance::SocialAid => "social_aid", Allowance::Other => "other"]);
code_enum!(Zone, [Zone::Urban => "urban", Zone::Periurban => "periurban", Zone::Rural => "rural", Zone::Mountain => "mountain"]);
code_enum!(Slot, [Slot::Weekday => "weekday", Slot::Evening => "evening", Slot::SundayHoliday => "sunday_holiday", Slot::Night => "night"]);
code_enum!(Qualification, [Qualification::A => "A", Qualification::B => "B", Qualification::C => "C"]);

/// The `departements` table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Departements {
    /// Département codes.
    pub code: Vec<String>,
    /// Names.
    pub name: Vec<String>,
    /// Reference tariff for NHAS hours, €/h.
    pub tarif_reference: Vec<f64>,
    /// Population aged 60+.
    pub pop_60_plus: Vec<i64>,
    /// Population aged 75+.
    pub pop_75_plus: Vec<i64>,
    /// APA beneficiaries at home.
    pub apa_domicile: Vec<i64>,
    /// PCH beneficiaries.
    pub pch: Vec<i64>,
}

impl Departements {
    /// Number of départements.
    pub fn len(&self) -> usize {
        self.code.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }
}

/// The `services` table; `departement` holds indices into [`Departements`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Services {
    /// Service identifiers.
    pub id: Vec<String>,
    /// Index of the service's département.
    pub departement: Vec<u32>,
    /// Legal status.
    pub status: Vec<Status>,
    /// HAS (true) or NHAS (false).
    pub habilitated: Vec<bool>,
    /// SAD mixte.
    pub mixed: Vec<bool>,
    /// Survey design weight.
    pub design_weight: Vec<f64>,
    /// APA hours in the year.
    pub hours_apa: Vec<f64>,
    /// PCH hours in the year.
    pub hours_pch: Vec<f64>,
    /// Social-aid hours in the year.
    pub hours_social_aid: Vec<f64>,
    /// Other hours in the year.
    pub hours_other: Vec<f64>,
    /// HAS tariff, €/h (`None` for NHAS).
    pub tariff_hourly: Vec<Option<f64>>,
    /// NHAS price billed, €/h (`None` for HAS).
    pub price_billed: Vec<Option<f64>>,
    /// Dotation complémentaire received, €/year.
    pub dotation_complementaire: Vec<f64>,
    /// Cost group 1, €/year.
    pub cost_g1: Vec<f64>,
    /// Cost group 2 (staff), €/year.
    pub cost_g2: Vec<f64>,
    /// Cost group 3 (structure), €/year.
    pub cost_g3: Vec<f64>,
    /// Total cost, €/year.
    pub cost_total: Vec<f64>,
    /// Carers, FTE.
    pub fte_carers: Vec<f64>,
    /// Support staff, FTE.
    pub fte_support: Vec<f64>,
    /// The survey design the services were drawn by.
    pub design: SurveyDesign,
}

/// A stratified one-stage design of services (`services.stratum`, `services.fpc`): what
/// design-based variances need beside the weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SurveyDesign {
    /// Stratum index of every service.
    pub stratum: Vec<u32>,
    /// Stratum names, by index, in order of first appearance (one stratum, `"all"`, when
    /// the table has no `stratum` column).
    pub strata: Vec<String>,
    /// Population size of every stratum, by index (`None`: no finite-population
    /// correction, the services taken as drawn with replacement).
    pub population: Option<Vec<f64>>,
    /// The calibration of the weights to known totals, when the weights are calibrated
    /// (`services.design_weight` then holds the calibrated weights).
    pub calibration: Option<std::sync::Arc<CalibratedWeights>>,
}

/// Survey weights calibrated to known totals: what the variance of an estimator needs to
/// account for the calibration (the design weights, the g-weights and the auxiliary
/// variables the totals are of).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CalibratedWeights {
    /// The design weights before calibration, by service.
    pub design_weight: Vec<f64>,
    /// g = calibrated weight / design weight, by service.
    pub g: Vec<f64>,
    /// The auxiliary variables, services × `margins`, row-major.
    pub auxiliary: Vec<f64>,
    /// Number of auxiliary variables.
    pub margins: usize,
}

impl SurveyDesign {
    /// Number of strata.
    pub fn len(&self) -> usize {
        self.strata.len()
    }
    /// Whether there is no stratum (no service).
    pub fn is_empty(&self) -> bool {
        self.strata.is_empty()
    }
    /// Sampled services of every stratum, by index.
    pub fn sample_sizes(&self) -> Vec<usize> {
        let mut n = vec![0; self.strata.len()];
        for &h in &self.stratum {
            n[h as usize] += 1;
        }
        n
    }
    /// `1 − n_h / N_h` of every stratum (1 without finite-population correction).
    pub fn fpc_factors(&self) -> Vec<f64> {
        let n = self.sample_sizes();
        match &self.population {
            Some(pop) => pop
                .iter()
                .zip(&n)
                .map(|(&big, &small)| 1.0 - small as f64 / big)
                .collect(),
            None => vec![1.0; n.len()],
        }
    }
}

impl Services {
    /// Number of services.
    pub fn len(&self) -> usize {
        self.id.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
    /// Hours funded by hourly funding today: APA + PCH + social aid.
    pub fn hours_funded(&self, s: usize) -> f64 {
        self.hours_apa[s] + self.hours_pch[s] + self.hours_social_aid[s]
    }
}

/// The `users` table; `service` holds indices into [`Services`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Users {
    /// User identifiers.
    pub id: Vec<String>,
    /// Index of the user's service.
    pub service: Vec<u32>,
    /// Funder of the user's hours.
    pub allowance: Vec<Allowance>,
    /// GIR 1–6, 0 when unknown.
    pub gir: Vec<u8>,
    /// Plan hours per month.
    pub plan_hours_month: Vec<f64>,
    /// APA plan amount, €/month.
    pub plan_amount_month: Vec<f64>,
    /// PCH human-aid hours per month.
    pub pch_hours_month: Vec<Option<f64>>,
    /// Monthly resources, €.
    pub resources_month: Vec<f64>,
    /// Resources are a couple's.
    pub couple: Vec<bool>,
    /// Entourage 0–3.
    pub entourage: Vec<u8>,
    /// Zone.
    pub zone: Vec<Zone>,
    /// Months served in the year.
    pub months_served: Vec<f64>,
}

impl Users {
    /// Number of users.
    pub fn len(&self) -> usize {
        self.id.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
}

/// Visits resolved to indices (`user` and `service` index [`Users`] and [`Services`]): a
/// batch on its way to the aggregation, never the whole table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Visits {
    /// Index of the user visited.
    pub user: Vec<u32>,
    /// Index of the service.
    pub service: Vec<u32>,
    /// Start, µs since 1970-01-01 00:00 local time.
    pub start: Vec<i64>,
    /// Minutes at the user's home.
    pub duration_min: Vec<f64>,
    /// Travel minutes.
    pub travel_min: Vec<f64>,
    /// Travel km.
    pub travel_km: Vec<f64>,
    /// Slot.
    pub slot: Vec<Slot>,
    /// Carers present (1 or 2).
    pub carers: Vec<u8>,
    /// Carer category.
    pub qualification: Vec<Qualification>,
}

impl Visits {
    /// Number of visits.
    pub fn len(&self) -> usize {
        self.user.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }
}

/// A validated dataset's tables, for one year. The visits are not kept: they are folded
/// into drivers as they are read ([`crate::aggregate`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Microdata {
    /// The year of the figures and tariffs.
    pub year: i32,
    /// Départements.
    pub departements: Departements,
    /// Services.
    pub services: Services,
    /// Users (shared: a dataset reweighted for a job shares them with its source).
    pub users: std::sync::Arc<Users>,
}
