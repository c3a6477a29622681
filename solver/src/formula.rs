//! The formula catalogue: each formula is a design — one row per service, one column per
//! parameter — built once from the validated microdata and its drivers, so that every fit,
//! refit and replicate works on a few hundred (or thousand) rows instead of the users and
//! visits. Funding is `F_s(θ) = a_s + Σ_k θ_k x_{s,k}` (`a_s` the fixed part of a mixed
//! formula); point values scale the `Σ θ x` part.
//!
//! - `forfait`: `x_{s,g}` = user-months (or user-weeks) of service `s`'s funded users in
//!   group `g`, a group being a crossing of user attributes ([`ATTRIBUTES`]);
//! - `socle_variable`: a socle column (a service driver, carer FTE by default) + forfait;
//! - `point`: AGGIR points × entourage multiplier × months / 12 of the funded users;
//! - `globale`: service drivers ([`SERVICE_DRIVERS`]);
//! - `populationnelle`: the département's population drivers times the service's share of
//!   its département's (weighted) funded hours or users;
//! - `mixte`: funded hours (at an estimated or fixed reduced tariff) + one of the above.
//!
//! With separate regimes every column is split in an HAS and an NHAS column (a column
//! only one regime's services have stays in that regime alone). The cost a
//! formula is calibrated against is the service's total cost times its share of hours of
//! the funded allowances (all of it when every allowance is funded).

use std::collections::BTreeMap;

use dotation_core::aggregate::{Drivers, VisitDriver, slot_column};
use dotation_core::baseline::Baseline;
use dotation_core::tables::{Allowance, Code, Microdata, Slot, Zone};

use crate::error::SpecError;
use crate::spec::{Crossing, FormulaKind, FormulaSpec, HourlyRate, Regimes, Share, Unit};

/// User attributes that groups can cross, with what their levels are.
pub const ATTRIBUTES: [(&str, &str); 9] = [
    ("allowance", "APA, PCH, social_aid, other (the funded ones)"),
    (
        "gir_band",
        "GIR band of APA users (bands.gir, default 1-2, 3-4); '-' for other allowances",
    ),
    ("gir", "GIR 1 to 6; 'none' when unknown"),
    (
        "entourage",
        "low (0-1) or high (2-3), or the bands of bands.entourage",
    ),
    ("entourage_level", "0, 1, 2, 3"),
    ("zone", "urban, periurban, rural, mountain"),
    (
        "rurality",
        "urban (urban, periurban) or rural (rural, mountain)",
    ),
    (
        "pch_band",
        "PCH human-aid hours a month: none, <30, 30-70, 70-90, 90+ (bands.pch_hours)",
    ),
    (
        "weekend_evening",
        "yes when the user's visits include evening, Sunday/holiday or night hours",
    ),
];

/// Service drivers, with their units: the columns of `globale`, the socle of
/// `socle_variable`, and variance models. Annual quantities of the funded allowances.
pub const SERVICE_DRIVERS: [(&str, &str); 26] = [
    ("services", "service"),
    ("users", "user"),
    ("user_months", "user-month"),
    ("user_years", "user-year"),
    ("hours_funded", "h"),
    ("hours_apa", "h"),
    ("hours_pch", "h"),
    ("hours_social_aid", "h"),
    ("hours_other", "h"),
    ("hours_total", "h"),
    ("hours_weekday", "h"),
    ("hours_evening", "h"),
    ("hours_sunday_holiday", "h"),
    ("hours_night", "h"),
    ("carer_hours", "carer-hour"),
    ("double_staffed_hours", "h"),
    ("travel_hours", "carer travel hour"),
    ("travel_km", "km"),
    ("visits", "visit"),
    ("fte_carers", "FTE"),
    ("fte_support", "FTE"),
    ("fte_total", "FTE"),
    ("rural_user_months", "user-month"),
    ("rural_share", "share of user-months"),
    ("points", "point-year"),
    ("cost_total", "€ of cost"),
];

/// Population drivers of a département, for `populationnelle`.
pub const POPULATION_DRIVERS: [&str; 4] = ["pop_60_plus", "pop_75_plus", "apa_domicile", "pch"];

/// A formula's design on the services of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// Parameter names, e.g. `forfait[APA/1-2/low]`, `HAS:hourly_rate`.
    pub names: Vec<String>,
    /// Parameter units, e.g. `€/user-month`.
    pub units: Vec<String>,
    /// Services.
    pub n: usize,
    /// Parameters.
    pub k: usize,
    /// `n × k`, row-major.
    pub x: Vec<f64>,
    /// The fixed part of funding, €/year (a mixed formula's fixed hourly tariff).
    pub offset: Vec<f64>,
    /// The cost calibrated against, €/year.
    pub cost: Vec<f64>,
    /// Today's funding of the funded allowances' hours (and the dotation complémentaire),
    /// €/year: what the formula replaces, so what neutrality compares it with.
    pub baseline: Vec<f64>,
    /// Today's funding of the hours the formula does not fund, €/year: they stay paid by
    /// the hour, carried unchanged into the service's total.
    pub carried: Vec<f64>,
    /// The neutrality target of each service, €/year: `baseline` times the budget change's
    /// factor (`baseline` itself under strict neutrality).
    pub target: Vec<f64>,
    /// Funded hours (of the funded allowances), h/year.
    pub hours: Vec<f64>,
    /// The forfait's groups, with their users and user-months (empty for other formulas).
    pub groups: Vec<Group>,
}

/// A user group of a forfait.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// `level/level/…` in the order of the spec's attributes.
    pub name: String,
    /// Funded users in the group (sample count).
    pub users: u64,
    /// Their user-months (sample sum).
    pub user_months: f64,
}

impl Design {
    /// Row `s` of the design.
    pub fn row(&self, s: usize) -> &[f64] {
        &self.x[s * self.k..(s + 1) * self.k]
    }

    /// Service `s`'s whole baseline: the funded allowances' and the hours carried.
    pub fn baseline_total(&self, s: usize) -> f64 {
        self.baseline[s] + self.carried[s]
    }

    /// Scales every service's neutrality target by `factor` (a budget change,
    /// [`crate::spec::BudgetChange::factor`]).
    pub fn set_target_factor(&mut self, factor: f64) {
        self.target = self.baseline.iter().map(|b| b * factor).collect();
    }

    /// `a_s + Σ θ x_s` for every service.
    pub fn funding(&self, theta: &[f64]) -> Vec<f64> {
        (0..self.n)
            .map(|s| self.offset[s] + dot(self.row(s), theta))
            .collect()
    }
}

/// `Σ a_i b_i`, in index order.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// What a design is built from.
#[derive(Clone, Copy, Debug)]
pub struct DesignInput<'a> {
    /// Validated microdata.
    pub micro: &'a Microdata,
    /// Its drivers.
    pub drivers: &'a Drivers,
    /// Today's funding.
    pub baseline: &'a Baseline,
}

/// Funded allowances of the spec, checked, indexed by `Allowance::ordinal`.
pub fn funded_mask(f: &FormulaSpec) -> Result<[bool; 4], SpecError> {
    let mut mask = [false; 4];
    for name in &f.funded {
        let a = Allowance::parse(name).ok_or_else(|| SpecError::Unknown {
            key: "formula.funded".into(),
            what: "allowance",
            name: name.clone(),
            known: Allowance::CODES.iter().map(|c| c.to_string()).collect(),
        })?;
        mask[a.ordinal()] = true;
    }
    Ok(mask)
}

/// The service drivers computed from visits: a dataset without visits cannot give them.
pub const VISIT_SERVICE_DRIVERS: [&str; 9] = [
    "hours_weekday",
    "hours_evening",
    "hours_sunday_holiday",
    "hours_night",
    "carer_hours",
    "double_staffed_hours",
    "travel_hours",
    "travel_km",
    "visits",
];

/// The error of a spec that needs visits on data without them.
fn no_visits(key: &str, driver: &str) -> SpecError {
    SpecError::Data {
        key: key.into(),
        message: format!(
            "{driver} is computed from visits, and the dataset has no visits table: add the visits, or choose a driver that does not need them (every service driver but {})",
            VISIT_SERVICE_DRIVERS.join(", ")
        ),
    }
}

/// Per-service drivers of the funded activity, by name.
#[derive(Clone, Debug)]
pub struct ServiceDrivers {
    values: BTreeMap<&'static str, Vec<f64>>,
    has_visits: bool,
}

impl ServiceDrivers {
    /// Computes every driver of [`SERVICE_DRIVERS`] for the funded allowances.
    pub fn compute(input: &DesignInput<'_>, f: &FormulaSpec) -> Result<Self, SpecError> {
        let m = input.micro;
        let d = input.drivers;
        let funded = funded_mask(f)?;
        let points = f.points.clone().unwrap_or_default();
        let sv = &m.services;
        let us = &m.users;
        let n = sv.len();
        let mut users = vec![0.0; n];
        let mut months = vec![0.0; n];
        let mut rural_months = vec![0.0; n];
        let mut point_years = vec![0.0; n];
        let mut visit = vec![0.0; n * dotation_core::aggregate::D];
        for u in 0..us.len() {
            if !funded[us.allowance[u].ordinal()] {
                continue;
            }
            let s = us.service[u] as usize;
            users[s] += 1.0;
            months[s] += us.months_served[u];
            if matches!(us.zone[u], Zone::Rural | Zone::Mountain) {
                rural_months[s] += us.months_served[u];
            }
            point_years[s] +=
                user_points(&points, us.gir[u], us.entourage[u]) * us.months_served[u] / 12.0;
            for (acc, x) in visit[s * dotation_core::aggregate::D..]
                .iter_mut()
                .zip(d.user(u))
            {
                *acc += x;
            }
        }
        let hours_by = |a: Allowance, s: usize| match a {
            Allowance::Apa => sv.hours_apa[s],
            Allowance::Pch => sv.hours_pch[s],
            Allowance::SocialAid => sv.hours_social_aid[s],
            Allowance::Other => sv.hours_other[s],
        };
        let hours_funded: Vec<f64> = (0..n)
            .map(|s| {
                Allowance::ALL
                    .iter()
                    .filter(|a| funded[a.ordinal()])
                    .map(|&a| hours_by(a, s))
                    .sum()
            })
            .collect();
        // Visits cover a few weeks: their drivers are scaled to the year's funded hours.
        let scale: Vec<f64> = (0..n)
            .map(|s| {
                let vh = visit[s * dotation_core::aggregate::D + VisitDriver::Hours as usize];
                if vh > 0.0 { hours_funded[s] / vh } else { 0.0 }
            })
            .collect();
        let annual = |col: usize| -> Vec<f64> {
            (0..n)
                .map(|s| visit[s * dotation_core::aggregate::D + col] * scale[s])
                .collect()
        };
        let mut values: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        values.insert("services", vec![1.0; n]);
        values.insert("users", users);
        values.insert("user_years", months.iter().map(|x| x / 12.0).collect());
        values.insert(
            "rural_share",
            (0..n)
                .map(|s| {
                    if months[s] > 0.0 {
                        rural_months[s] / months[s]
                    } else {
                        0.0
                    }
                })
                .collect(),
        );
        values.insert("user_months", months);
        values.insert("rural_user_months", rural_months);
        values.insert("points", point_years);
        values.insert("hours_funded", hours_funded);
        values.insert("hours_apa", sv.hours_apa.clone());
        values.insert("hours_pch", sv.hours_pch.clone());
        values.insert("hours_social_aid", sv.hours_social_aid.clone());
        values.insert("hours_other", sv.hours_other.clone());
        values.insert(
            "hours_total",
            (0..n)
                .map(|s| Allowance::ALL.iter().map(|&a| hours_by(a, s)).sum())
                .collect(),
        );
        for (name, slot) in [
            ("hours_weekday", Slot::Weekday),
            ("hours_evening", Slot::Evening),
            ("hours_sunday_holiday", Slot::SundayHoliday),
            ("hours_night", Slot::Night),
        ] {
            values.insert(name, annual(slot_column(slot)));
        }
        values.insert("carer_hours", annual(VisitDriver::CarerHours as usize));
        values.insert(
            "double_staffed_hours",
            annual(VisitDriver::DoubleStaffedHours as usize),
        );
        values.insert(
            "travel_hours",
            annual(VisitDriver::TravelMin as usize)
                .into_iter()
                .map(|x| x / 60.0)
                .collect(),
        );
        values.insert("travel_km", annual(VisitDriver::TravelKm as usize));
        values.insert("visits", annual(VisitDriver::Visits as usize));
        values.insert("fte_carers", sv.fte_carers.clone());
        values.insert("fte_support", sv.fte_support.clone());
        values.insert(
            "fte_total",
            (0..n)
                .map(|s| sv.fte_carers[s] + sv.fte_support[s])
                .collect(),
        );
        values.insert("cost_total", sv.cost_total.clone());
        Ok(ServiceDrivers {
            values,
            has_visits: d.has_visits(),
        })
    }

    /// A driver's values, or the error naming the key and the known drivers.
    pub fn get(&self, key: &str, name: &str) -> Result<&[f64], SpecError> {
        if !self.has_visits && VISIT_SERVICE_DRIVERS.contains(&name) {
            return Err(no_visits(key, name));
        }
        self.values
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| SpecError::Unknown {
                key: key.into(),
                what: "service driver",
                name: name.into(),
                known: SERVICE_DRIVERS.iter().map(|(n, _)| n.to_string()).collect(),
            })
    }
}

/// Unit of a service driver.
fn driver_unit(name: &str) -> &'static str {
    SERVICE_DRIVERS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("unit", |(_, u)| u)
}

/// Points of one user-year under a point spec.
fn user_points(p: &crate::spec::PointsSpec, gir: u8, entourage: u8) -> f64 {
    let base = if (1..=6).contains(&gir) {
        p.gir[usize::from(gir) - 1]
    } else {
        p.no_gir
    };
    base * p.entourage[usize::from(entourage.min(3))]
}

/// The levels of one attribute, and how a user maps to them.
struct AttributeLevels {
    name: String,
    levels: Vec<String>,
    /// Whether the spec defined the levels (then each must have users).
    custom: bool,
}

fn band_name(band: &[u8]) -> String {
    match band {
        [] => String::new(),
        [one] => one.to_string(),
        [first, .., last] if band.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("{first}-{last}")
        }
        _ => band.iter().map(u8::to_string).collect::<Vec<_>>().join("+"),
    }
}

/// Checks bands: each value of `0..=max` (or `lo..=max`) in at most one band, every one
/// of `must_cover` in one.
fn check_bands(key: &str, bands: &[Vec<u8>], must_cover: &[u8]) -> Result<(), SpecError> {
    let mut seen = BTreeMap::new();
    for (i, b) in bands.iter().enumerate() {
        if b.is_empty() {
            return Err(SpecError::Inconsistent {
                key: key.into(),
                message: format!("band {} is empty: give at least one value", i + 1),
            });
        }
        for v in b {
            if let Some(j) = seen.insert(*v, i) {
                return Err(SpecError::Inconsistent {
                    key: key.into(),
                    message: format!(
                        "{v} is in band {} and band {}: put each value in one band",
                        j + 1,
                        i + 1
                    ),
                });
            }
        }
    }
    for v in must_cover {
        if !seen.contains_key(v) {
            return Err(SpecError::Inconsistent {
                key: key.into(),
                message: format!("{v} is in no band: every value of {must_cover:?} needs one"),
            });
        }
    }
    Ok(())
}

/// The attributes, as the code knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attr {
    Allowance,
    GirBand,
    Gir,
    Entourage,
    EntourageLevel,
    Zone,
    Rurality,
    PchBand,
    WeekendEvening,
}

impl Attr {
    fn of(name: &str) -> Option<Attr> {
        Some(match name {
            "allowance" => Attr::Allowance,
            "gir_band" => Attr::GirBand,
            "gir" => Attr::Gir,
            "entourage" => Attr::Entourage,
            "entourage_level" => Attr::EntourageLevel,
            "zone" => Attr::Zone,
            "rurality" => Attr::Rurality,
            "pch_band" => Attr::PchBand,
            "weekend_evening" => Attr::WeekendEvening,
            _ => return None,
        })
    }
}

/// Maps users to the levels of the spec's attributes.
struct Grouper<'a> {
    micro: &'a Microdata,
    drivers: &'a Drivers,
    attributes: Vec<AttributeLevels>,
    kinds: Vec<Attr>,
    /// Level of each allowance (by ordinal) for the `allowance` attribute.
    allowance_level: [usize; 4],
    gir_bands: Vec<Vec<u8>>,
    entourage_bands: Vec<Vec<u8>>,
    pch_thresholds: Vec<f64>,
}

impl<'a> Grouper<'a> {
    fn new(input: &DesignInput<'a>, f: &FormulaSpec, names: &[String]) -> Result<Self, SpecError> {
        let b = &f.bands;
        let gir_bands = b
            .gir
            .clone()
            .unwrap_or_else(|| vec![vec![1, 2], vec![3, 4]]);
        check_bands("formula.bands.gir", &gir_bands, &[1, 2, 3, 4])?;
        let entourage_bands = b
            .entourage
            .clone()
            .unwrap_or_else(|| vec![vec![0, 1], vec![2, 3]]);
        check_bands("formula.bands.entourage", &entourage_bands, &[0, 1, 2, 3])?;
        let pch_thresholds = b
            .pch_hours
            .clone()
            .unwrap_or_else(|| vec![30.0, 70.0, 90.0]);
        if pch_thresholds.is_empty()
            || pch_thresholds[0] <= 0.0
            || pch_thresholds.windows(2).any(|w| w[1] <= w[0])
        {
            return Err(SpecError::Inconsistent {
                key: "formula.bands.pch_hours".into(),
                message: format!(
                    "{pch_thresholds:?}: give increasing positive lower bounds of the bands after the first, e.g. [30, 70, 90]"
                ),
            });
        }
        let mut attributes = Vec::new();
        let mut kinds = Vec::new();
        let funded = funded_mask(f)?;
        for name in names {
            if matches!(Attr::of(name), Some(Attr::WeekendEvening)) && !input.drivers.has_visits() {
                return Err(no_visits("formula.groups", name));
            }
            let Some(kind) = Attr::of(name) else {
                return Err(SpecError::Unknown {
                    key: "formula.groups".into(),
                    what: "user attribute",
                    name: name.clone(),
                    known: ATTRIBUTES.iter().map(|(n, _)| n.to_string()).collect(),
                });
            };
            if kinds.contains(&kind) {
                return Err(SpecError::Inconsistent {
                    key: "formula.groups".into(),
                    message: format!("\"{name}\" is named twice"),
                });
            }
            let (levels, custom): (Vec<String>, bool) = match kind {
                Attr::Allowance => (
                    Allowance::ALL
                        .iter()
                        .filter(|a| funded[a.ordinal()])
                        .map(|a| a.code().to_string())
                        .collect(),
                    false,
                ),
                Attr::GirBand => {
                    let mut l: Vec<String> = gir_bands.iter().map(|b| band_name(b)).collect();
                    if funded[1..].iter().any(|&x| x) {
                        l.push("-".into());
                    }
                    (l, b.gir.is_some())
                }
                Attr::Gir => (
                    (1..=6)
                        .map(|g: u8| g.to_string())
                        .chain(["none".to_string()])
                        .collect(),
                    false,
                ),
                Attr::Entourage => (
                    if b.entourage.is_some() {
                        entourage_bands.iter().map(|b| band_name(b)).collect()
                    } else {
                        vec!["low".into(), "high".into()]
                    },
                    b.entourage.is_some(),
                ),
                Attr::EntourageLevel => ((0..=3).map(|e: u8| e.to_string()).collect(), false),
                Attr::Zone => (Zone::CODES.iter().map(|c| c.to_string()).collect(), false),
                Attr::Rurality => (vec!["urban".into(), "rural".into()], false),
                Attr::PchBand => {
                    let mut l = vec!["none".to_string(), format!("<{}", pch_thresholds[0])];
                    for w in pch_thresholds.windows(2) {
                        l.push(format!("{}-{}", w[0], w[1]));
                    }
                    l.push(format!("{}+", pch_thresholds[pch_thresholds.len() - 1]));
                    (l, b.pch_hours.is_some())
                }
                Attr::WeekendEvening => (vec!["no".into(), "yes".into()], false),
            };
            attributes.push(AttributeLevels {
                name: name.clone(),
                levels,
                custom,
            });
            kinds.push(kind);
        }
        let mut allowance_level = [usize::MAX; 4];
        for (l, a) in Allowance::ALL
            .iter()
            .filter(|a| funded[a.ordinal()])
            .enumerate()
        {
            allowance_level[a.ordinal()] = l;
        }
        Ok(Grouper {
            allowance_level,
            micro: input.micro,
            drivers: input.drivers,
            attributes,
            kinds,
            gir_bands,
            entourage_bands,
            pch_thresholds,
        })
    }

    /// The level of user `u` for attribute `a`.
    fn level(&self, a: usize, u: usize) -> Result<usize, SpecError> {
        let us = &self.micro.users;
        let attr = &self.attributes[a];
        let gir = us.gir[u];
        Ok(match self.kinds[a] {
            Attr::Allowance => self.allowance_level[us.allowance[u].ordinal()],
            Attr::GirBand => {
                if us.allowance[u] != Allowance::Apa {
                    attr.levels.len() - 1
                } else if let Some(i) = self.gir_bands.iter().position(|b| b.contains(&gir)) {
                    i
                } else {
                    return Err(SpecError::Data {
                        key: "formula.bands.gir".into(),
                        message: format!(
                            "APA user {} (users row {}) has GIR {gir}, which is in no band",
                            us.id[u],
                            u + 1
                        ),
                    });
                }
            }
            Attr::Gir => {
                if (1..=6).contains(&gir) {
                    usize::from(gir) - 1
                } else {
                    6
                }
            }
            Attr::Entourage => self
                .entourage_bands
                .iter()
                .position(|b| b.contains(&us.entourage[u]))
                .expect("bands cover 0-3"),
            Attr::EntourageLevel => usize::from(us.entourage[u].min(3)),
            Attr::Zone => us.zone[u].ordinal(),
            Attr::Rurality => usize::from(matches!(us.zone[u], Zone::Rural | Zone::Mountain)),
            Attr::PchBand => match us.pch_hours_month[u] {
                None => 0,
                Some(h) if h <= 0.0 => 0,
                Some(h) => 1 + self.pch_thresholds.iter().filter(|&&t| h >= t).count(),
            },
            Attr::WeekendEvening => {
                let v = self.drivers.user(u);
                let odd = v[slot_column(Slot::Evening)]
                    + v[slot_column(Slot::SundayHoliday)]
                    + v[slot_column(Slot::Night)];
                usize::from(odd > 0.0)
            }
        })
    }

    /// The levels of a mixed-radix key (the first attribute varies slowest).
    fn levels_of(&self, mut key: usize) -> Vec<usize> {
        let mut levels = vec![0; self.attributes.len()];
        for a in (0..self.attributes.len()).rev() {
            let l = self.attributes[a].levels.len();
            levels[a] = key % l;
            key /= l;
        }
        levels
    }

    fn key_name(&self, key: usize) -> String {
        self.levels_of(key)
            .iter()
            .enumerate()
            .map(|(a, &l)| self.attributes[a].levels[l].as_str())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The mixed-radix key of user `u`'s group.
    fn key(&self, u: usize) -> Result<usize, SpecError> {
        let mut key = 0;
        for a in 0..self.attributes.len() {
            key = key * self.attributes[a].levels.len() + self.level(a, u)?;
        }
        Ok(key)
    }

    /// Number of possible keys.
    fn keys(&self) -> usize {
        self.attributes.iter().map(|a| a.levels.len()).product()
    }
}

/// Forfait columns: one per group, user-months (or weeks) per service. Returns the
/// groups and the `n × groups` values.
fn forfait_columns(
    input: &DesignInput<'_>,
    f: &FormulaSpec,
) -> Result<(Vec<Group>, Vec<f64>), SpecError> {
    let names = f.groups.clone().unwrap_or_else(crate::spec::default_groups);
    if names.is_empty() {
        return Err(SpecError::Inconsistent {
            key: "formula.groups".into(),
            message: "name at least one attribute (an empty list makes one group: use groups = [\"allowance\"] or a globale formula on user_months)".into(),
        });
    }
    let grouper = Grouper::new(input, f, &names)?;
    let funded = funded_mask(f)?;
    let m = input.micro;
    let us = &m.users;
    let n = m.services.len();
    let factor = match f.unit {
        Unit::UserMonth => 1.0,
        Unit::UserWeek => 52.0 / 12.0,
    };
    // Group key of every funded user, in user order; users and user-months per key.
    let n_keys = grouper.keys();
    let mut user_key = vec![usize::MAX; us.len()];
    let mut count = vec![0u64; n_keys];
    let mut months = vec![0.0f64; n_keys];
    for u in 0..us.len() {
        if !funded[us.allowance[u].ordinal()] {
            continue;
        }
        let key = grouper.key(u)?;
        user_key[u] = key;
        count[key] += 1;
        months[key] += us.months_served[u];
    }
    // Custom levels must all have users.
    for (a, attr) in grouper.attributes.iter().enumerate() {
        if !attr.custom {
            continue;
        }
        for (l, level) in attr.levels.iter().enumerate() {
            if level == "-" || level == "none" {
                continue;
            }
            let m: f64 = (0..n_keys)
                .filter(|&k| grouper.levels_of(k)[a] == l)
                .map(|k| months[k])
                .sum();
            if m <= 0.0 {
                return Err(SpecError::Empty {
                    key: format!("formula.bands ({})", attr.name),
                    message: format!(
                        "band \"{level}\" of attribute {} has no funded user-months in the data: merge it with a neighbouring band",
                        attr.name
                    ),
                });
            }
        }
    }
    let keys: Vec<usize> = match f.crossing {
        Crossing::Observed => (0..n_keys).filter(|&k| months[k] > 0.0).collect(),
        Crossing::Full => {
            if let Some(k) = (0..n_keys).find(|&k| months[k] <= 0.0) {
                return Err(SpecError::Empty {
                    key: "formula.groups".into(),
                    message: format!(
                        "group {} ({}) has no funded user-months in the data: set crossing = \"observed\" to keep only the groups that occur, or merge levels (fewer attributes, wider bands)",
                        grouper.key_name(k),
                        names.join(" × ")
                    ),
                });
            }
            (0..n_keys).collect()
        }
    };
    if keys.is_empty() {
        return Err(SpecError::Empty {
            key: "formula.funded".into(),
            message: "no funded user has months served in the data: check formula.funded".into(),
        });
    }
    let mut column = vec![usize::MAX; n_keys];
    for (j, &k) in keys.iter().enumerate() {
        column[k] = j;
    }
    let g = keys.len();
    let mut x = vec![0.0; n * g];
    for u in 0..us.len() {
        let key = user_key[u];
        if key != usize::MAX && column[key] != usize::MAX {
            let s = us.service[u] as usize;
            x[s * g + column[key]] += us.months_served[u] * factor;
        }
    }
    let groups = keys
        .iter()
        .map(|&k| Group {
            name: grouper.key_name(k),
            users: count[k],
            user_months: months[k],
        })
        .collect();
    Ok((groups, x))
}

/// Columns under construction: names, units, and values column by column.
#[derive(Default)]
struct Columns {
    names: Vec<String>,
    units: Vec<String>,
    values: Vec<Vec<f64>>,
}

impl Columns {
    fn push(&mut self, name: String, unit: String, values: Vec<f64>) {
        self.names.push(name);
        self.units.push(unit);
        self.values.push(values);
    }
}

/// Builds the design of a formula.
pub fn build(input: &DesignInput<'_>, f: &FormulaSpec) -> Result<Design, SpecError> {
    build_from(input, f, &ServiceDrivers::compute(input, f)?)
}

/// Builds the design of a formula from its service drivers, computed once per job
/// ([`ServiceDrivers::compute`]).
pub fn build_from(
    input: &DesignInput<'_>,
    f: &FormulaSpec,
    sd: &ServiceDrivers,
) -> Result<Design, SpecError> {
    let m = input.micro;
    let n = m.services.len();
    let hours = sd.get("formula", "hours_funded")?.to_vec();
    let hours_total = sd.get("formula", "hours_total")?;
    let mut cols = Columns::default();
    let mut offset = vec![0.0; n];
    let mut groups = Vec::new();
    if f.kind == FormulaKind::Mixte {
        match &f.hourly_rate {
            Some(HourlyRate::Fixed(rate)) => {
                for s in 0..n {
                    offset[s] = rate * hours[s];
                }
            }
            _ => cols.push("hourly_rate".into(), "€/h".into(), hours.clone()),
        }
    }
    let forfait_unit = match f.unit {
        Unit::UserMonth => "€/user-month",
        Unit::UserWeek => "€/user-week",
    };
    match f.flat_kind() {
        FormulaKind::Forfait | FormulaKind::SocleVariable => {
            if f.flat_kind() == FormulaKind::SocleVariable {
                let socle = f.socle.as_deref().unwrap_or("fte_carers");
                let v = sd.get("formula.socle", socle)?.to_vec();
                cols.push(
                    format!("socle[{socle}]"),
                    format!("€/{}/year", driver_unit(socle)),
                    v,
                );
            }
            let (gs, x) = forfait_columns(input, f)?;
            let g = gs.len();
            for (j, group) in gs.iter().enumerate() {
                cols.push(
                    format!("forfait[{}]", group.name),
                    forfait_unit.into(),
                    (0..n).map(|s| x[s * g + j]).collect(),
                );
            }
            groups = gs;
        }
        FormulaKind::Point => {
            cols.push(
                "point_value".into(),
                "€/point/year".into(),
                sd.get("formula.points", "points")?.to_vec(),
            );
        }
        FormulaKind::Globale => {
            for name in f.drivers.as_deref().unwrap_or_default() {
                let v = sd.get("formula.drivers", name)?.to_vec();
                cols.push(
                    format!("globale[{name}]"),
                    format!("€/{}", driver_unit(name)),
                    v,
                );
            }
        }
        FormulaKind::Populationnelle => {
            let share_by = match f.share.unwrap_or_default() {
                Share::Hours => hours.clone(),
                Share::Users => sd.get("formula.share", "users")?.to_vec(),
            };
            let dep = &m.departements;
            let w = &m.services.design_weight;
            let mut total = vec![0.0; dep.len()];
            for s in 0..n {
                total[m.services.departement[s] as usize] += w[s] * share_by[s];
            }
            for name in f.drivers.as_deref().unwrap_or_default() {
                let pop: &[i64] = match name.as_str() {
                    "pop_60_plus" => &dep.pop_60_plus,
                    "pop_75_plus" => &dep.pop_75_plus,
                    "apa_domicile" => &dep.apa_domicile,
                    "pch" => &dep.pch,
                    _ => {
                        return Err(SpecError::Unknown {
                            key: "formula.drivers".into(),
                            what: "population driver",
                            name: name.clone(),
                            known: POPULATION_DRIVERS.iter().map(|s| s.to_string()).collect(),
                        });
                    }
                };
                let v = (0..n)
                    .map(|s| {
                        let d = m.services.departement[s] as usize;
                        if total[d] > 0.0 {
                            share_by[s] / total[d] * pop[d] as f64
                        } else {
                            0.0
                        }
                    })
                    .collect();
                cols.push(format!("population[{name}]"), "€/person/year".into(), v);
            }
        }
        FormulaKind::Mixte => unreachable!("checked: the flat part is not mixte"),
    }
    // Separate regimes: every column split into HAS and NHAS columns.
    if f.regimes == Regimes::Separate {
        let mut split = Columns::default();
        for (regime, has) in [("HAS", true), ("NHAS", false)] {
            for j in 0..cols.names.len() {
                let values: Vec<f64> = (0..n)
                    .map(|s| {
                        if m.services.habilitated[s] == has {
                            cols.values[j][s]
                        } else {
                            0.0
                        }
                    })
                    .collect();
                // A column the other regime alone has (social-aid users are in habilitated
                // services only) has nothing to fund in this one.
                let absent_here = values.iter().all(|&v| v == 0.0);
                if absent_here && cols.values[j].iter().any(|&v| v != 0.0) {
                    continue;
                }
                split.push(
                    format!("{regime}:{}", cols.names[j]),
                    cols.units[j].clone(),
                    values,
                );
            }
        }
        cols = split;
    }
    let k = cols.names.len();
    let mut x = vec![0.0; n * k];
    for (j, col) in cols.values.iter().enumerate() {
        for s in 0..n {
            x[s * k + j] = col[s];
        }
    }
    // The formula replaces the hourly funding of the allowances it funds (and the dotation
    // complémentaire); the other allowances' hours stay paid by the hour.
    let funded = funded_mask(f)?;
    let b = &input.baseline.services;
    let (mut baseline, mut carried) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for s in 0..n {
        let (mut kept, mut replaced) = (0.0, m.services.dotation_complementaire[s]);
        for &a in Allowance::ALL {
            let v = b.funding_of(m, s, a);
            if funded[a.ordinal()] {
                replaced += v;
            } else {
                kept += v;
            }
        }
        baseline.push(replaced);
        carried.push(kept);
    }
    let cost = (0..n)
        .map(|s| {
            if hours_total[s] > 0.0 {
                m.services.cost_total[s] * (hours[s] / hours_total[s]).min(1.0)
            } else {
                0.0
            }
        })
        .collect();
    Ok(Design {
        names: cols.names,
        units: cols.units,
        n,
        k,
        x,
        offset,
        cost,
        target: baseline.clone(),
        baseline,
        carried,
        hours,
        groups,
    })
}

/// Regression weights: survey weights divided by `driver^power` (the variance model).
pub fn regression_weights(
    input: &DesignInput<'_>,
    f: &FormulaSpec,
    variance: Option<&crate::spec::VarianceSpec>,
) -> Result<Vec<f64>, SpecError> {
    match variance {
        None => Ok(input.micro.services.design_weight.clone()),
        Some(_) => regression_weights_from(input, &ServiceDrivers::compute(input, f)?, variance),
    }
}

/// Regression weights from the service drivers computed once per job.
pub fn regression_weights_from(
    input: &DesignInput<'_>,
    sd: &ServiceDrivers,
    variance: Option<&crate::spec::VarianceSpec>,
) -> Result<Vec<f64>, SpecError> {
    let w = &input.micro.services.design_weight;
    let Some(v) = variance else {
        return Ok(w.clone());
    };
    let values = sd.get("calibration.variance.driver", &v.driver)?;
    w.iter()
        .zip(values)
        .enumerate()
        .map(|(s, (&w, &x))| {
            if x > 0.0 {
                Ok(w / x.powf(v.power))
            } else {
                Err(SpecError::Data {
                    key: "calibration.variance.driver".into(),
                    message: format!(
                        "service {} (services row {}) has {} = {x}: a variance model needs a positive driver for every service; choose another driver",
                        input.micro.services.id[s],
                        s + 1,
                        v.driver
                    ),
                })
            }
        })
        .collect()
}
