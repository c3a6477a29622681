//! The job spec: what a modeller asks for, as TOML (or JSON) — the data, the year, the
//! baseline's options, the formula, the loss, the neutrality scope and the outputs.
//!
//! Parsing is strict: an unknown key, a wrong type or an unknown value is refused with the
//! parser's message (line, column, the keys or values expected). After parsing,
//! [`JobSpec::check`] refuses options that do not fit together (a `drivers` list on a
//! forfait, floors without point values…), each message saying what to change. The
//! documentation of every key, with a complete example per formula, is `docs/spec.md`.

pub use dotation_core::out_of_pocket::Participation;
use serde::{Deserialize, Serialize};

use crate::error::SpecError;

/// A whole job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// What the job computes.
    #[serde(default)]
    pub kind: JobKind,
    /// The dataset the job runs on, by name (the Flight server's datasets); `None` or
    /// `"embedded"` for the embedded synthetic survey. The command line's `--data` wins.
    #[serde(default)]
    pub data: Option<String>,
    /// The year the data must be of (checked when given).
    #[serde(default)]
    pub year: Option<i32>,
    /// Options of today's hourly funding, the baseline of neutrality.
    #[serde(default)]
    pub baseline: BaselineSpec,
    /// The formula to calibrate.
    #[serde(default)]
    pub formula: FormulaSpec,
    /// How the parameters are estimated.
    #[serde(default)]
    pub calibration: CalibrationSpec,
    /// Where budgets must be unchanged.
    #[serde(default)]
    pub neutrality: NeutralitySpec,
    /// The legal guarantees: reported always, constraints of the fit when asked.
    #[serde(default)]
    pub guarantees: GuaranteesSpec,
    /// Extra outputs.
    #[serde(default)]
    pub outputs: OutputsSpec,
    /// Out-of-sample error by k-fold cross-validation (a comparison always has one, 10
    /// folds by default; a calibration when the table is given).
    #[serde(default)]
    pub cross_validation: Option<CrossValidationSpec>,
    /// The formulas a comparison calibrates (`kind = "compare"`), each the spec's own
    /// settings with the sections it gives replaced.
    #[serde(default)]
    pub candidates: Vec<CandidateSpec>,
    /// The scenarios a sweep calibrates (`kind = "sweep"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
    /// Survey weights calibrated to the dataset's `margins` before the job (`kind =
    /// "weights"` computes only them; any other kind then runs on them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<WeightsSpec>,
    /// A finished calibration applied to this dataset (`kind = "apply"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplySpec>,
}

/// How survey weights are calibrated to the dataset's margins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsSpec {
    /// `linear`, `truncated`, `raking` or `logit`.
    pub method: crate::weights::Method,
    /// Bounds `[L, U]` of the g-weights (weight / design weight), `0 ≤ L < 1 < U`:
    /// required by `truncated` and `logit`, optional for `raking`, none for `linear`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<[f64; 2]>,
    /// Newton iterations at most.
    #[serde(default = "default_weight_iterations")]
    pub max_iterations: usize,
    /// Every margin reproduced to this relative error.
    #[serde(default = "default_weight_tolerance")]
    pub tolerance: f64,
}

fn default_weight_iterations() -> usize {
    100
}

fn default_weight_tolerance() -> f64 {
    1e-12
}

impl WeightsSpec {
    /// The solver's settings.
    pub fn settings(&self) -> crate::weights::Settings {
        crate::weights::Settings {
            method: self.method,
            bounds: self.bounds.map(|[l, u]| (l, u)),
            max_iterations: self.max_iterations,
            tolerance: self.tolerance,
        }
    }
}

/// How a finished calibration is applied to another dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplySpec {
    /// The calibration applied: on the Flight server, the id of a finished calibration job
    /// of the same user (the command line's `--calibration DIR` gives a result folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Neutrality on the target: `point_value` (one point value per neutrality scope of the
    /// calibration scales the formula's funding so that each budget holds) or `none` (the
    /// parameters as calibrated, the residual reported).
    #[serde(default)]
    pub neutrality: ApplyNeutrality,
}

/// Neutrality of an applied calibration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyNeutrality {
    /// One point value per scope restores the budget on the target.
    #[default]
    PointValue,
    /// The parameters as calibrated; the residual is reported.
    None,
}

/// The most scenarios one sweep may hold.
pub const MAX_SCENARIOS: usize = 100_000;

/// The scenarios of a sweep: every combination of the `grid`'s values, then the listed
/// `scenarios`; each the spec's own calibration with the settings it gives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Values of each swept setting; the scenarios are their combinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<SweepGrid>,
    /// Scenarios given one by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<Scenario>,
}

/// The values a grid sweeps, setting by setting (an empty list: the spec's own value).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepGrid {
    /// Budget changes in % of the baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budget_change_percent: Vec<f64>,
    /// Budget changes in €.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budget_change_euros: Vec<f64>,
    /// Transition limits ℓ (shares).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transition_limit: Vec<f64>,
    /// The baseline's floor tariff, €/h (a what-if on today's funding).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floor: Vec<f64>,
    /// Participation options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participation: Vec<Participation>,
    /// The fixed hourly rate of a mixte formula, €/h.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mixte_rate: Vec<f64>,
    /// Neutrality scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<Scope>,
    /// Sets of funded allowances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub funded: Vec<Vec<String>>,
}

/// One scenario of a sweep: the settings it changes (absent: the spec's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name in the results (default: its settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The budget change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_change: Option<BudgetChange>,
    /// The transition limit ℓ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_limit: Option<f64>,
    /// The baseline's floor tariff, €/h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
    /// The participation option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participation: Option<Participation>,
    /// A mixte formula's fixed hourly rate, €/h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixte_rate: Option<f64>,
    /// The neutrality scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The funded allowances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funded: Option<Vec<String>>,
}

impl Scenario {
    /// Its name: the one given, else its settings, e.g. `budget +2 %, ℓ 0.1`.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let mut parts = Vec::new();
        if let Some(b) = &self.budget_change {
            if let Some(p) = b.percent {
                parts.push(format!("budget {p:+} %"));
            }
            if let Some(e) = b.euros {
                parts.push(format!("budget {e:+} €"));
            }
        }
        if let Some(l) = self.transition_limit {
            parts.push(format!("transition_limit {l}"));
        }
        if let Some(f) = self.floor {
            parts.push(format!("floor {f} €/h"));
        }
        if let Some(p) = self.participation {
            parts.push(format!("participation {}", p.name()));
        }
        if let Some(r) = self.mixte_rate {
            parts.push(format!("mixte_rate {r} €/h"));
        }
        if let Some(s) = self.scope {
            parts.push(format!("scope {}", s.name()));
        }
        if let Some(f) = &self.funded {
            parts.push(format!("funded {}", f.join("+")));
        }
        if parts.is_empty() {
            "the spec".into()
        } else {
            parts.join(", ")
        }
    }

    /// The calibration spec of this scenario: `base` with its settings.
    pub fn apply(&self, base: &JobSpec) -> JobSpec {
        let mut spec = base.clone();
        spec.kind = JobKind::Calibrate;
        spec.sweep = None;
        if let Some(b) = self.budget_change {
            spec.neutrality.budget_change = Some(b);
        }
        if let Some(l) = self.transition_limit {
            spec.guarantees.transition_limit = l;
        }
        if let Some(f) = self.floor {
            spec.baseline.floor = Some(f);
        }
        if let Some(p) = self.participation {
            spec.guarantees.participation = p;
        }
        if let Some(r) = self.mixte_rate {
            spec.formula.hourly_rate = Some(HourlyRate::Fixed(r));
        }
        if let Some(s) = self.scope {
            spec.neutrality.scope = s;
        }
        if let Some(f) = &self.funded {
            spec.formula.funded = f.clone();
        }
        spec
    }
}

impl SweepSpec {
    /// Every scenario: the grid's combinations (the last setting varying fastest), then
    /// the list. Fails beyond [`MAX_SCENARIOS`].
    pub fn scenarios(&self) -> Result<Vec<Scenario>, SpecError> {
        let mut out = Vec::new();
        if let Some(g) = &self.grid {
            let count = |n: usize| n.max(1);
            let total = [
                g.budget_change_percent.len(),
                g.budget_change_euros.len(),
                g.transition_limit.len(),
                g.floor.len(),
                g.participation.len(),
                g.mixte_rate.len(),
                g.scope.len(),
                g.funded.len(),
            ]
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(count(n)))
            .unwrap_or(usize::MAX);
            if total.saturating_add(self.scenarios.len()) > MAX_SCENARIOS {
                return Err(SpecError::Inconsistent {
                    key: "sweep.grid".into(),
                    message: format!(
                        "the grid makes {total} scenarios; a sweep holds at most {MAX_SCENARIOS}: sweep fewer values or split the sweep"
                    ),
                });
            }
            fn values<T: Clone>(v: &[T]) -> Vec<Option<T>> {
                if v.is_empty() {
                    vec![None]
                } else {
                    v.iter().cloned().map(Some).collect()
                }
            }
            for percent in values(&g.budget_change_percent) {
                for euros in values(&g.budget_change_euros) {
                    for transition_limit in values(&g.transition_limit) {
                        for floor in values(&g.floor) {
                            for participation in values(&g.participation) {
                                for mixte_rate in values(&g.mixte_rate) {
                                    for scope in values(&g.scope) {
                                        for funded in values(&g.funded) {
                                            let budget_change = (percent.is_some()
                                                || euros.is_some())
                                            .then_some(BudgetChange { percent, euros });
                                            out.push(Scenario {
                                                name: None,
                                                budget_change,
                                                transition_limit,
                                                floor,
                                                participation,
                                                mixte_rate,
                                                scope,
                                                funded,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if self.scenarios.len() > MAX_SCENARIOS {
            return Err(SpecError::Inconsistent {
                key: "sweep.scenarios".into(),
                message: format!(
                    "{} scenarios; a sweep holds at most {MAX_SCENARIOS}",
                    self.scenarios.len()
                ),
            });
        }
        out.extend(self.scenarios.iter().cloned());
        Ok(out)
    }
}

/// k-fold cross-validation by service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossValidationSpec {
    /// Folds (default 10).
    #[serde(default = "folds")]
    pub folds: usize,
    /// Seed of the folds.
    #[serde(default = "seed")]
    pub seed: u64,
}

fn folds() -> usize {
    10
}

impl Default for CrossValidationSpec {
    fn default() -> Self {
        CrossValidationSpec {
            folds: folds(),
            seed: seed(),
        }
    }
}

/// One formula of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateSpec {
    /// Its name in the results.
    pub name: String,
    /// The formula (default: the spec's).
    #[serde(default)]
    pub formula: Option<FormulaSpec>,
    /// Estimation options (default: the spec's).
    #[serde(default)]
    pub calibration: Option<CalibrationSpec>,
    /// Neutrality (default: the spec's).
    #[serde(default)]
    pub neutrality: Option<NeutralitySpec>,
    /// Guarantees (default: the spec's).
    #[serde(default)]
    pub guarantees: Option<GuaranteesSpec>,
}

/// What a job computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Calibrate a formula (the default).
    #[default]
    Calibrate,
    /// Today's hourly funding only.
    Baseline,
    /// Several formulas calibrated on the same data, side by side (`candidates`).
    Compare,
    /// One formula calibrated under many policy settings (`sweep`).
    Sweep,
    /// Survey weights calibrated to known totals (`weights`, the dataset's margins).
    Weights,
    /// A finished calibration's parameters applied to this dataset (`apply`).
    Apply,
}

/// Options of the baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineSpec {
    /// MTP of the year (€/month) when dotation's table does not hold it.
    #[serde(default)]
    pub mtp: Option<f64>,
    /// A national floor tariff (€/h) replacing the year's.
    #[serde(default)]
    pub floor: Option<f64>,
}

/// The formulas of the catalogue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormulaKind {
    /// An amount per user-month (or user-week) by user group.
    #[default]
    Forfait,
    /// A structural base (per carer FTE, per user…) plus a forfait.
    SocleVariable,
    /// User-years weighted by AGGIR points, times a point value.
    Point,
    /// A yearly amount from structural drivers.
    Globale,
    /// A département envelope from population drivers, shared among its services.
    Populationnelle,
    /// A reduced hourly tariff on every funded hour plus a flat part.
    Mixte,
}

impl FormulaKind {
    /// The name used in specs.
    pub fn name(self) -> &'static str {
        match self {
            FormulaKind::Forfait => "forfait",
            FormulaKind::SocleVariable => "socle_variable",
            FormulaKind::Point => "point",
            FormulaKind::Globale => "globale",
            FormulaKind::Populationnelle => "populationnelle",
            FormulaKind::Mixte => "mixte",
        }
    }

    fn uses_groups(self) -> bool {
        matches!(self, FormulaKind::Forfait | FormulaKind::SocleVariable)
    }
}

/// Whether HAS and NHAS services share parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regimes {
    /// One set of parameters for all services.
    #[default]
    Shared,
    /// One set for HAS services, one for NHAS services.
    Separate,
}

/// The unit of a forfait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// € per user-month served.
    #[default]
    UserMonth,
    /// € per user-week served (52/12 weeks a month).
    UserWeek,
}

/// Which crossings of the attributes' levels are groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossing {
    /// The crossings that occur among the funded users.
    #[default]
    Observed,
    /// Every crossing of the levels; each must have users.
    Full,
}

/// How a département envelope is shared among its services.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// By funded hours.
    #[default]
    Hours,
    /// By funded users.
    Users,
}

/// The hourly part of a mixed formula.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HourlyRate {
    /// A fixed reduced tariff, €/h.
    Fixed(f64),
    /// `"estimate"`: the tariff is a parameter.
    Estimated(String),
}

/// Bands of user attributes, when the defaults do not suit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsSpec {
    /// GIR bands of APA users (default `[[1, 2], [3, 4]]`).
    #[serde(default)]
    pub gir: Option<Vec<Vec<u8>>>,
    /// Entourage bands (default `[[0, 1], [2, 3]]`, named `low` and `high`).
    #[serde(default)]
    pub entourage: Option<Vec<Vec<u8>>>,
    /// Lower bounds of PCH hours bands after the first (default `[30, 70, 90]`).
    #[serde(default)]
    pub pch_hours: Option<Vec<f64>>,
}

/// Points of the `point` formula.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsSpec {
    /// AGGIR points of GIR 1 to 6 (default 1000, 840, 660, 420, 250, 70).
    #[serde(default = "aggir_points")]
    pub gir: [f64; 6],
    /// Points of funded users without a GIR (default 420, those of GIR 4).
    #[serde(default = "no_gir_points")]
    pub no_gir: f64,
    /// Multipliers by entourage level 0 to 3 (default 1 each).
    #[serde(default = "unit_modulation")]
    pub entourage: [f64; 4],
}

fn aggir_points() -> [f64; 6] {
    [1000.0, 840.0, 660.0, 420.0, 250.0, 70.0]
}
fn no_gir_points() -> f64 {
    420.0
}
fn unit_modulation() -> [f64; 4] {
    [1.0; 4]
}

impl Default for PointsSpec {
    fn default() -> Self {
        PointsSpec {
            gir: aggir_points(),
            no_gir: no_gir_points(),
            entourage: unit_modulation(),
        }
    }
}

/// The formula.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormulaSpec {
    /// Which formula.
    #[serde(default)]
    pub kind: FormulaKind,
    /// HAS and NHAS parameters shared or separate.
    #[serde(default)]
    pub regimes: Regimes,
    /// Allowances whose users the formula pays (default APA and social aid; PCH needs
    /// `allow_pch`). The cost calibrated against is the services' cost times their share
    /// of hours of these allowances, and neutrality compares the formula with these
    /// allowances' baseline; the others' hours stay paid by the hour.
    #[serde(default = "funded_default")]
    pub funded: Vec<String>,
    /// Forfait unit.
    #[serde(default)]
    pub unit: Unit,
    /// Attributes whose crossing makes the forfait's user groups.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Observed or full crossings.
    #[serde(default)]
    pub crossing: Crossing,
    /// Custom bands.
    #[serde(default)]
    pub bands: BandsSpec,
    /// The socle's driver (`socle_variable`; default `fte_carers`).
    #[serde(default)]
    pub socle: Option<String>,
    /// Service drivers (`globale`) or population drivers (`populationnelle`).
    #[serde(default)]
    pub drivers: Option<Vec<String>>,
    /// How a population envelope is shared (`populationnelle`).
    #[serde(default)]
    pub share: Option<Share>,
    /// Points (`point`).
    #[serde(default)]
    pub points: Option<PointsSpec>,
    /// The hourly part (`mixte`): a tariff in €/h or `"estimate"`.
    #[serde(default)]
    pub hourly_rate: Option<HourlyRate>,
    /// The flat part of a `mixte` formula (default `forfait`).
    #[serde(default)]
    pub flat: Option<FormulaKind>,
    /// Funding of a service at least this many € per funded hour (needs point values).
    #[serde(default)]
    pub floor_per_hour: Option<f64>,
    /// Funding of a service at most this many € per funded hour (needs point values).
    #[serde(default)]
    pub cap_per_hour: Option<f64>,
    /// Lets the formula fund PCH hours, which the CASF does not provide for (seed 000:
    /// « La forfaitisation de la PCH n'est pas prévue par le code de l'action sociale et
    /// des familles »): refused unless set, then flagged in every report.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_pch: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// APA and social aid: PCH hours stay paid by the hour unless `allow_pch` (seed 000).
fn funded_default() -> Vec<String> {
    vec!["APA".into(), "social_aid".into()]
}

/// The default groups: allowance × GIR band × entourage.
pub fn default_groups() -> Vec<String> {
    vec!["allowance".into(), "gir_band".into(), "entourage".into()]
}

impl Default for FormulaSpec {
    fn default() -> Self {
        FormulaSpec {
            kind: FormulaKind::Forfait,
            regimes: Regimes::Shared,
            funded: funded_default(),
            unit: Unit::UserMonth,
            groups: None,
            crossing: Crossing::Observed,
            bands: BandsSpec::default(),
            socle: None,
            drivers: None,
            share: None,
            points: None,
            hourly_rate: None,
            flat: None,
            floor_per_hour: None,
            cap_per_hour: None,
            allow_pch: false,
        }
    }
}

impl FormulaSpec {
    /// The kind whose columns make the flat part (the formula itself unless mixed).
    pub fn flat_kind(&self) -> FormulaKind {
        match self.kind {
            FormulaKind::Mixte => self.flat.unwrap_or(FormulaKind::Forfait),
            k => k,
        }
    }
}

/// The loss of the fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Weighted least squares.
    #[default]
    Wls,
    /// Huber's robust loss, by iteratively reweighted least squares.
    Huber,
    /// Least absolute deviations (the median).
    Median,
}

/// How neutrality is imposed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Exact linear equalities in the fit (the KKT system).
    #[default]
    Kkt,
    /// Unconstrained relative weights, then one point value per scope (Brent).
    PointValues,
}

/// Standard errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StdErrors {
    /// Heteroskedasticity-robust.
    Hc0,
    /// HC0 × n/(n − p).
    Hc1,
    /// Clustered, no small-sample factor.
    Cr0,
    /// Clustered with statsmodels' small-sample factor (the default).
    #[default]
    Cr1,
    /// Design-based, by linearisation with the survey's strata and fpc (R `survey`'s
    /// `svyglm`); for the neutrality-constrained fit, the linearisation of its KKT system.
    Design,
    /// Design-based, by the stratified jackknife (JKn: one service deleted within its
    /// stratum).
    Jackknife,
    /// Design-based, by Preston's rescaled bootstrap by stratum (`calibration.bootstrap`
    /// replicates, `calibration.seed`); percentile intervals.
    Bootstrap,
}

impl StdErrors {
    /// The name used in specs and results.
    pub fn name(self) -> &'static str {
        match self {
            StdErrors::Hc0 => "hc0",
            StdErrors::Hc1 => "hc1",
            StdErrors::Cr0 => "cr0",
            StdErrors::Cr1 => "cr1",
            StdErrors::Design => "design",
            StdErrors::Jackknife => "jackknife",
            StdErrors::Bootstrap => "bootstrap",
        }
    }

    /// Whether the errors follow the survey design (strata, fpc) rather than a model.
    pub fn is_design_based(self) -> bool {
        matches!(
            self,
            StdErrors::Design | StdErrors::Jackknife | StdErrors::Bootstrap
        )
    }
}

/// Clusters of the clustered standard errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cluster {
    /// Each service (the unit the survey samples).
    #[default]
    Service,
    /// Each département.
    Departement,
}

/// A variance model: the regression weight of a service is its survey weight divided by
/// `driver^power`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarianceSpec {
    /// A service driver (see `docs/spec.md`).
    pub driver: String,
    /// Exponent (default 1).
    #[serde(default = "one")]
    pub power: f64,
}

fn one() -> f64 {
    1.0
}

/// Estimation options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSpec {
    /// The loss.
    #[serde(default)]
    pub loss: Loss,
    /// Huber's tuning constant, in scales (default 1.345).
    #[serde(default = "huber_t")]
    pub huber_t: f64,
    /// Exact equalities or point values.
    #[serde(default)]
    pub method: Method,
    /// Optional variance model.
    #[serde(default)]
    pub variance: Option<VarianceSpec>,
    /// Standard errors.
    #[serde(default)]
    pub std_errors: StdErrors,
    /// Clusters (for `cr0`, `cr1`).
    #[serde(default)]
    pub cluster: Cluster,
    /// Level of the intervals (default 0.95).
    #[serde(default = "confidence")]
    pub confidence: f64,
    /// Bootstrap replicates (the median loss's model-based bootstrap by service, and
    /// `std_errors = "bootstrap"`).
    #[serde(default = "bootstrap")]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[serde(default = "seed")]
    pub seed: u64,
    /// Replicate variances centred on the full-sample estimate instead of the replicates'
    /// mean (R's `options(survey.replicates.mse = TRUE)`).
    #[serde(default)]
    pub mse: bool,
}

fn huber_t() -> f64 {
    1.345
}
fn confidence() -> f64 {
    0.95
}
fn bootstrap() -> usize {
    200
}
fn seed() -> u64 {
    2026
}

impl Default for CalibrationSpec {
    fn default() -> Self {
        CalibrationSpec {
            loss: Loss::Wls,
            huber_t: huber_t(),
            method: Method::Kkt,
            variance: None,
            std_errors: StdErrors::Cr1,
            cluster: Cluster::Service,
            confidence: confidence(),
            bootstrap: bootstrap(),
            seed: seed(),
            mse: false,
        }
    }
}

/// Where budgets must be unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One national budget (the default).
    #[default]
    National,
    /// One budget per département.
    Departement,
    /// No neutrality: the fit to costs alone.
    None,
}

impl Scope {
    /// The name used in specs and results.
    pub fn name(self) -> &'static str {
        match self {
            Scope::National => "national",
            Scope::Departement => "departement",
            Scope::None => "none",
        }
    }
}

/// Neutrality options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeutralitySpec {
    /// The scope.
    #[serde(default)]
    pub scope: Scope,
    /// Money the départements add (or withdraw): the target is the baseline changed by
    /// it. Absent: strict neutrality, the default and not a law (seed 000: « les conseils
    /// départementaux ont toutefois toute liberté pour déployer des financements
    /// additionnels »).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_change: Option<BudgetChange>,
}

/// A change of the budget a formula must match:
/// `target = baseline × (1 + percent / 100) + euros`, the euros spread over every service
/// in proportion to its baseline, so that
/// every scope (the nation, each département) changes by the same factor
/// ([`BudgetChange::factor`]). One mechanism for a calibration's spec and for sweeps
/// over budgets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetChange {
    /// Change in percent of the baseline (5.0 = +5 %, −5.0 = −5 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Change in euros a year, on the national (weighted) baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub euros: Option<f64>,
}

impl BudgetChange {
    /// A change in percent.
    pub fn percent(percent: f64) -> BudgetChange {
        BudgetChange {
            percent: Some(percent),
            euros: None,
        }
    }

    /// A change in euros.
    pub fn euros(euros: f64) -> BudgetChange {
        BudgetChange {
            percent: None,
            euros: Some(euros),
        }
    }

    /// The factor every baseline is multiplied by: `1 + percent / 100 + euros /
    /// baseline_total`, `baseline_total` the national weighted baseline the formula
    /// replaces (1 when it is zero and no percent is given).
    pub fn factor(&self, baseline_total: f64) -> f64 {
        let pct = self.percent.unwrap_or(0.0) / 100.0;
        let eur = match self.euros {
            Some(e) if baseline_total != 0.0 => e / baseline_total,
            _ => 0.0,
        };
        1.0 + pct + eur
    }

    /// The national target: `baseline_total × factor`.
    pub fn target(&self, baseline_total: f64) -> f64 {
        baseline_total * self.factor(baseline_total)
    }

    /// Refuses a change that is not a number or would leave no budget.
    fn check(&self) -> Result<(), SpecError> {
        let bad = |key: &str, message: String| {
            Err(SpecError::Inconsistent {
                key: key.to_string(),
                message,
            })
        };
        if self.percent.is_none() && self.euros.is_none() {
            return bad(
                "neutrality.budget_change",
                "give percent (e.g. 5.0 for +5 %) or euros (e.g. -1.5e6), or remove the table for strict neutrality".into(),
            );
        }
        if let Some(p) = self.percent
            && !(p.is_finite() && p > -100.0)
        {
            return bad(
                "neutrality.budget_change.percent",
                format!("{p} is not a change above −100 %: give a percentage, e.g. 5.0 for +5 %"),
            );
        }
        if let Some(e) = self.euros
            && !e.is_finite()
        {
            return bad(
                "neutrality.budget_change.euros",
                format!("{e} is not an amount of euros"),
            );
        }
        Ok(())
    }
}

/// A guarantee every formula is checked against (DOMAIN.md §4, encadré 2 of seed 000).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// No user's out-of-pocket per billed hour rises (décret 2024-754).
    OutOfPocket,
    /// An NHAS service's funding does not fall, so the price it bills need not rise.
    NhasPrice,
    /// An HAS service's funding covers its cost.
    HasCover,
    /// No service loses more than `transition_limit` of its baseline.
    Transition,
}

impl Guarantee {
    /// The name used in specs and results.
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::OutOfPocket => "out_of_pocket",
            Guarantee::NhasPrice => "nhas_price",
            Guarantee::HasCover => "has_cover",
            Guarantee::Transition => "transition",
        }
    }
}

/// The guarantees: how users participate under the model, the transition limit, and
/// which guarantees are constraints of the calibration (all are reported).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuaranteesSpec {
    /// How APA users participate under the model (seed 001 §7).
    #[serde(default)]
    pub participation: Participation,
    /// Applies `resources_only` (7.3) to GIR 4 users too (seed 001: « pour les GIR 1,2 et
    /// 3, voire GIR 4 »); GIR 4 users otherwise keep art. R.232-11.
    #[serde(default, skip_serializing_if = "is_false")]
    pub resources_only_gir4: bool,
    /// ℓ: the largest loss versus baseline a service may have, as a share (0.10 = 10 %).
    #[serde(default = "default_transition_limit")]
    pub transition_limit: f64,
    /// The guarantees the calibration must satisfy (as inequality constraints).
    #[serde(default)]
    pub constrain: Vec<Guarantee>,
    /// Orders between parameters the calibration must respect, each `"A >= B"` (or
    /// `"A <= B"`) with parameter names as in parameters.parquet, e.g.
    /// `"forfait[APA/1-2/low] >= forfait[APA/3-4/low]"` (DOMAIN.md §4: monotone parameters).
    #[serde(default)]
    pub order: Vec<String>,
}

/// One order between two parameters: `greater ≥ lesser`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// The parameter that must not be below the other.
    pub greater: String,
    /// The other.
    pub lesser: String,
}

impl Order {
    /// Parses `"A >= B"` or `"A <= B"`.
    pub fn parse(text: &str) -> Option<Order> {
        let (a, b, flip) = if let Some((a, b)) = text.split_once(">=") {
            (a, b, false)
        } else {
            let (a, b) = text.split_once("<=")?;
            (a, b, true)
        };
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() || b.is_empty() || a == b || b.contains(">=") || b.contains("<=") {
            return None;
        }
        let (greater, lesser) = if flip { (b, a) } else { (a, b) };
        Some(Order {
            greater: greater.to_string(),
            lesser: lesser.to_string(),
        })
    }
}

fn default_transition_limit() -> f64 {
    0.10
}

impl Default for GuaranteesSpec {
    fn default() -> Self {
        GuaranteesSpec {
            participation: Participation::default(),
            resources_only_gir4: false,
            transition_limit: default_transition_limit(),
            constrain: Vec::new(),
            order: Vec::new(),
        }
    }
}

impl GuaranteesSpec {
    /// Whether `g` is a constraint of the fit.
    pub fn constrains(&self, g: Guarantee) -> bool {
        self.constrain.contains(&g)
    }
}

/// Extra outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsSpec {
    /// Also write the design (`design.parquet`: one row per service, one column per
    /// parameter, with the cost, baseline and weights).
    #[serde(default)]
    pub design: bool,
}

impl JobSpec {
    /// Parses a spec: JSON when the text starts with `{`, TOML otherwise.
    pub fn parse(text: &str) -> Result<JobSpec, SpecError> {
        let spec: JobSpec = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| SpecError::Syntax {
                format: "JSON",
                message: e.to_string(),
            })?
        } else {
            toml::from_str(text).map_err(|e| SpecError::Syntax {
                format: "TOML",
                message: e.to_string(),
            })?
        };
        spec.check()?;
        Ok(spec)
    }

    /// The spec as canonical JSON (what its hash is computed on).
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a spec serialises")
    }

    /// The calibration spec of every candidate of a comparison, by name: the spec's own
    /// settings with the candidate's sections.
    pub fn candidate_specs(&self) -> Vec<(String, JobSpec)> {
        self.candidates
            .iter()
            .map(|c| {
                let mut spec = self.clone();
                spec.kind = JobKind::Calibrate;
                spec.candidates = Vec::new();
                if let Some(f) = &c.formula {
                    spec.formula = f.clone();
                }
                if let Some(x) = &c.calibration {
                    spec.calibration = x.clone();
                }
                if let Some(x) = &c.neutrality {
                    spec.neutrality = *x;
                }
                if let Some(x) = &c.guarantees {
                    spec.guarantees = x.clone();
                }
                (c.name.clone(), spec)
            })
            .collect()
    }

    /// Refuses options that do not fit together.
    pub fn check(&self) -> Result<(), SpecError> {
        if let Some(w) = &self.weights {
            check_weights(w)?;
        }
        if let Some(cv) = &self.cross_validation
            && cv.folds < 2
        {
            return Err(SpecError::Inconsistent {
                key: "cross_validation.folds".into(),
                message: format!(
                    "{} fold(s): cross-validation needs at least 2 (10 by default)",
                    cv.folds
                ),
            });
        }
        match self.kind {
            JobKind::Compare => {
                if self.candidates.is_empty() {
                    return Err(SpecError::Empty {
                        key: "candidates".into(),
                        message: "a comparison needs [[candidates]], each with a name and the sections it changes (formula, calibration, neutrality, guarantees)".into(),
                    });
                }
                let mut names: Vec<&str> =
                    self.candidates.iter().map(|c| c.name.as_str()).collect();
                names.sort_unstable();
                if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                    return Err(SpecError::Inconsistent {
                        key: "candidates.name".into(),
                        message: format!(
                            "\"{}\" names two candidates; give each its own name",
                            w[0]
                        ),
                    });
                }
                for (i, (name, spec)) in self.candidate_specs().into_iter().enumerate() {
                    spec.check()
                        .map_err(|e| e.within(&format!("candidates[{i}] ({name})")))?;
                }
                return Ok(());
            }
            JobKind::Sweep => {
                let Some(sweep) = &self.sweep else {
                    return Err(SpecError::Empty {
                        key: "sweep".into(),
                        message: "a sweep needs a [sweep] table: a grid (e.g. grid = { budget_change_percent = [-5, 0, 5] }) or [[sweep.scenarios]]".into(),
                    });
                };
                let scenarios = sweep.scenarios()?;
                if scenarios.is_empty() {
                    return Err(SpecError::Empty {
                        key: "sweep".into(),
                        message: "the sweep has no scenario: give sweep.grid values or [[sweep.scenarios]]".into(),
                    });
                }
                if !self.candidates.is_empty() {
                    return Err(SpecError::Inconsistent {
                        key: "candidates".into(),
                        message:
                            "only a comparison has candidates: remove [[candidates]] from the sweep"
                                .into(),
                    });
                }
                // Every distinct setting checked once (a grid repeats them).
                let mut seen = std::collections::BTreeSet::new();
                for (i, s) in scenarios.iter().enumerate() {
                    let spec = s.apply(self);
                    if seen.insert(spec.canonical_json()) {
                        spec.check().map_err(|e| {
                            e.within(&format!("sweep scenario {i} ({})", s.label()))
                        })?;
                    }
                }
                return Ok(());
            }
            JobKind::Weights => {
                let Some(w) = &self.weights else {
                    return Err(SpecError::Empty {
                        key: "weights".into(),
                        message: "a weights job needs a [weights] table: method = \"linear\", \"truncated\", \"raking\" or \"logit\" (bounds = [L, U] for truncated and logit)".into(),
                    });
                };
                return check_weights(w);
            }
            JobKind::Apply if self.apply.is_none() => {
                return Err(SpecError::Empty {
                    key: "apply".into(),
                    message: "an apply job needs an [apply] table with the source calibration (source = \"JOB_ID\" on the server; --calibration DIR on the command line)".into(),
                });
            }
            _ if self.apply.is_some() && self.kind != JobKind::Apply => {
                return Err(SpecError::Inconsistent {
                    key: "apply".into(),
                    message:
                        "only an apply job has an [apply] table: set kind = \"apply\" or remove it"
                            .into(),
                });
            }
            _ if self.sweep.is_some() => {
                return Err(SpecError::Inconsistent {
                    key: "sweep".into(),
                    message: "only a sweep has a [sweep] table: set kind = \"sweep\" or remove it"
                        .into(),
                });
            }
            _ if !self.candidates.is_empty() => {
                return Err(SpecError::Inconsistent {
                    key: "candidates".into(),
                    message: "only a comparison has candidates: set kind = \"compare\" or remove [[candidates]]".into(),
                });
            }
            _ => {}
        }
        let f = &self.formula;
        let flat = f.flat_kind();
        let bad = |key: &str, message: String| {
            Err(SpecError::Inconsistent {
                key: key.to_string(),
                message,
            })
        };
        if f.kind != FormulaKind::Mixte {
            if f.flat.is_some() {
                return bad(
                    "formula.flat",
                    format!(
                        "only a mixte formula has a flat part; remove it or set formula.kind = \"mixte\" (kind is \"{}\")",
                        f.kind.name()
                    ),
                );
            }
            if f.hourly_rate.is_some() {
                return bad(
                    "formula.hourly_rate",
                    format!(
                        "only a mixte formula has an hourly part; remove it or set formula.kind = \"mixte\" (kind is \"{}\")",
                        f.kind.name()
                    ),
                );
            }
        } else {
            if flat == FormulaKind::Mixte {
                return bad(
                    "formula.flat",
                    "the flat part of a mixte formula is one of forfait, socle_variable, point, globale, populationnelle".into(),
                );
            }
            match &f.hourly_rate {
                None => {
                    return bad(
                        "formula.hourly_rate",
                        "a mixte formula needs hourly_rate: a reduced tariff in €/h (e.g. 12.0) or \"estimate\"".into(),
                    );
                }
                Some(HourlyRate::Estimated(s)) if s != "estimate" => {
                    return bad(
                        "formula.hourly_rate",
                        format!("\"{s}\" is neither a tariff in €/h nor \"estimate\""),
                    );
                }
                Some(HourlyRate::Fixed(r)) if !(r.is_finite() && *r >= 0.0) => {
                    return bad(
                        "formula.hourly_rate",
                        format!("{r} is not a tariff: give a non-negative number of €/h"),
                    );
                }
                _ => {}
            }
        }
        if f.groups.is_some() && !flat.uses_groups() {
            return bad(
                "formula.groups",
                format!(
                    "user groups belong to forfait and socle_variable formulas, not to {}; remove the key",
                    flat.name()
                ),
            );
        }
        if f.socle.is_some() && flat != FormulaKind::SocleVariable {
            return bad(
                "formula.socle",
                format!(
                    "only a socle_variable formula has a socle, not {}; remove the key",
                    flat.name()
                ),
            );
        }
        if f.drivers.is_some()
            && !matches!(flat, FormulaKind::Globale | FormulaKind::Populationnelle)
        {
            return bad(
                "formula.drivers",
                format!(
                    "drivers belong to globale and populationnelle formulas, not to {}; remove the key or change formula.kind",
                    flat.name()
                ),
            );
        }
        if matches!(flat, FormulaKind::Globale | FormulaKind::Populationnelle)
            && f.drivers.as_ref().is_none_or(Vec::is_empty)
        {
            return bad(
                "formula.drivers",
                format!(
                    "a {} formula needs a non-empty list of drivers (see docs/spec.md for the names)",
                    flat.name()
                ),
            );
        }
        if f.share.is_some() && flat != FormulaKind::Populationnelle {
            return bad(
                "formula.share",
                format!(
                    "only a populationnelle formula shares an envelope, not {}; remove the key",
                    flat.name()
                ),
            );
        }
        if f.points.is_some() && flat != FormulaKind::Point {
            return bad(
                "formula.points",
                format!(
                    "only a point formula has points, not {}; remove the key",
                    flat.name()
                ),
            );
        }
        if f.funded.is_empty() {
            return bad(
                "formula.funded",
                "name at least one allowance the formula pays: APA, PCH, social_aid, other".into(),
            );
        }
        if f.funded.iter().any(|a| a == "PCH") && !f.allow_pch {
            return bad(
                "formula.funded",
                "the formula funds PCH hours, and « La forfaitisation de la PCH n'est pas prévue par le code de l'action sociale et des familles » (seed 000): remove \"PCH\" (its hours then stay paid by the hour) or set formula.allow_pch = true to study it anyway (it is flagged in the report)".into(),
            );
        }
        if let Some(change) = &self.neutrality.budget_change {
            change.check()?;
            if self.neutrality.scope == Scope::None {
                return bad(
                    "neutrality.budget_change",
                    "a budget change moves the neutrality target, and neutrality.scope = \"none\" has none: set a scope or remove the change".into(),
                );
            }
        }
        if self.guarantees.resources_only_gir4
            && self.guarantees.participation != Participation::ResourcesOnly
        {
            return bad(
                "guarantees.resources_only_gir4",
                "only participation = \"resources_only\" (7.3) can extend to GIR 4: remove the key or change the option".into(),
            );
        }
        let c = &self.calibration;
        if f.floor_per_hour.is_some() || f.cap_per_hour.is_some() {
            if c.method != Method::PointValues {
                return bad(
                    "formula.floor_per_hour",
                    "floors and caps make funding non-linear in the parameters: set calibration.method = \"point_values\" (relative weights, then point values solved by Brent)".into(),
                );
            }
            if let (Some(lo), Some(hi)) = (f.floor_per_hour, f.cap_per_hour)
                && lo > hi
            {
                return bad(
                    "formula.cap_per_hour",
                    format!("the cap ({hi} €/h) is below the floor ({lo} €/h)"),
                );
            }
        }
        if !(c.confidence > 0.0 && c.confidence < 1.0) {
            return bad(
                "calibration.confidence",
                format!(
                    "{} is not a level: give a number between 0 and 1, e.g. 0.95",
                    c.confidence
                ),
            );
        }
        if !(c.huber_t.is_finite() && c.huber_t > 0.0) {
            return bad(
                "calibration.huber_t",
                format!(
                    "{} must be a positive number of scales, e.g. 1.345",
                    c.huber_t
                ),
            );
        }
        if c.loss == Loss::Median && c.bootstrap < 2 {
            return bad(
                "calibration.bootstrap",
                "the median loss's standard errors come from a bootstrap by service: give at least 2 replicates (200 by default)".into(),
            );
        }
        if self.weights.is_some()
            && matches!(c.std_errors, StdErrors::Jackknife | StdErrors::Bootstrap)
        {
            return bad(
                "calibration.std_errors",
                format!(
                    "{} errors under calibrated weights would need each replicate's weights calibrated again; use std_errors = \"design\" (the linearisation accounts for the calibration) or remove [weights]",
                    c.std_errors.name()
                ),
            );
        }
        if c.std_errors == StdErrors::Design && c.loss == Loss::Median {
            return bad(
                "calibration.std_errors",
                "the median has no linearisation: use std_errors = \"jackknife\" or \"bootstrap\" for design-based errors".into(),
            );
        }
        if c.std_errors.is_design_based() && c.cluster != Cluster::Service {
            return bad(
                "calibration.cluster",
                format!(
                    "the survey draws services: {} standard errors take the service as the sampled unit, within its stratum; remove calibration.cluster",
                    c.std_errors.name()
                ),
            );
        }
        if c.std_errors == StdErrors::Bootstrap && c.bootstrap < 2 {
            return bad(
                "calibration.bootstrap",
                "a bootstrap needs at least 2 replicates (200 by default)".into(),
            );
        }
        if c.method == Method::PointValues && self.neutrality.scope == Scope::None {
            return bad(
                "calibration.method",
                "point values restore budgets: with neutrality.scope = \"none\" there is none to restore; use method = \"kkt\" or a scope".into(),
            );
        }
        if let Some(v) = &c.variance
            && !v.power.is_finite()
        {
            return bad(
                "calibration.variance.power",
                format!("{} is not a number", v.power),
            );
        }
        let g = &self.guarantees;
        if !(g.transition_limit.is_finite() && (0.0..1.0).contains(&g.transition_limit)) {
            return bad(
                "guarantees.transition_limit",
                format!(
                    "{} is not a share of the baseline: give a number in [0, 1), e.g. 0.10 for 10 %",
                    g.transition_limit
                ),
            );
        }
        let mut seen = g.constrain.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return bad(
                "guarantees.constrain",
                format!("\"{}\" is listed twice", w[0].name()),
            );
        }
        if let Some(bad_order) = g.order.iter().find(|o| Order::parse(o).is_none()) {
            return bad(
                "guarantees.order",
                format!(
                    "\"{bad_order}\" is not an order: write \"A >= B\" (or \"A <= B\") with two different parameter names"
                ),
            );
        }
        if (!g.constrain.is_empty() || !g.order.is_empty()) && c.method == Method::PointValues {
            return bad(
                "guarantees.constrain",
                "guarantees are linear constraints of the parameters: with point values funding is not linear in them; set calibration.method = \"kkt\" or leave constrain empty".into(),
            );
        }
        if self.kind == JobKind::Baseline && self.guarantees != GuaranteesSpec::default() {
            return bad(
                "kind",
                "a baseline job has no guarantees to check: remove the [guarantees] table or set kind = \"calibrate\"".into(),
            );
        }
        if self.kind == JobKind::Baseline && self.formula != FormulaSpec::default() {
            return bad(
                "kind",
                "a baseline job has no formula: remove the [formula] table or set kind = \"calibrate\"".into(),
            );
        }
        Ok(())
    }
}

/// The weights' method, bounds and stopping rule fit together.
fn check_weights(w: &WeightsSpec) -> Result<(), SpecError> {
    w.settings().check().map_err(|e| SpecError::Inconsistent {
        key: match e {
            crate::weights::WeightsError::Settings(ref m) if m.contains("tolerance") => {
                "weights.tolerance".into()
            }
            _ => "weights.bounds".into(),
        },
        message: match e {
            crate::weights::WeightsError::Settings(m) => m,
            other => other.to_string(),
        },
    })
}
