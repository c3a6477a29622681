//! Jobs: a job spec on a validated dataset → typed results and a [`Summary`]. This is the
//! one definition of what a job computes; the server only reads and validates the data
//! before, and turns the typed results into Arrow tables and `summary.json` after, for the
//! command line and Flight alike.
//!
//! A job goes: baseline → (calibrate: the formula's design, once → the guarantees'
//! constraints → the fit → users' out-of-pocket under the new funding → the guarantees'
//! report → the impact tables). Each job kind is one function ([`run_baseline`],
//! [`run_calibrate`]), dispatched from [`JobKind`] by [`run`].
//!
//! Progress and cancellation travel in a [`JobContext`]: the progress callback receives the
//! share of the whole job done — validation, the caller's part, is the first half, so the
//! stages here report 0.5 to 0.95 — and the cancel flag is checked between stages and
//! between bootstrap replicates.

mod apply;
mod compare;
pub mod impact;
pub mod law;
mod summary;
mod sweep;
mod weights;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dotation_core::Dataset;
use dotation_core::baseline::{Baseline, BaselineOptions, baseline};
use dotation_core::out_of_pocket::OutOfPocket;
use dotation_core::tables::{Allowance, Microdata};

pub use apply::{
    AppliedCalibration, ApplyJob, ApplySummary, ScopeValue, SourceParameter, run_apply,
};
pub use compare::{CandidateOutcome, CandidateRow, CompareJob, CompareSummary};
pub use impact::{OutOfPocketGroups, ServicesImpact, UsersImpact};
pub use law::LawReport;
pub use summary::{
    BaselineSummary, BaselineTotals, CalibratedTotals, CalibrationSummary, ConstraintsSummary,
    JobSummary, OrderCheck, Provenance, Summary,
};
pub use sweep::{ScenarioRow, SweepJob, SweepSummary};
pub use weights::{
    G_PROBABILITIES, GQuantiles, WeightsJob, WeightsSummary, calibrate_dataset, run_weights,
};

use crate::calibrate::{Calibration, Geography, Options, calibrate};
use crate::crossval::cross_validate;
use crate::error::{JobError, SpecError};
use crate::formula::{
    Design, DesignInput, ServiceDrivers, build_from, funded_mask, regression_weights_from,
};
use crate::guarantees::{self, GuaranteeInput, Report};
use crate::neutrality::compensated_sum;
use crate::spec::{JobKind, JobSpec};

/// How a running job reports progress and learns it was cancelled.
#[derive(Clone)]
pub struct JobContext {
    /// Called with the share of the whole job done, 0 to 1.
    pub progress: Arc<dyn Fn(f64) + Send + Sync>,
    /// Set to stop the job.
    pub cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("cancel", &self.cancel.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// A context that reports nowhere and is never cancelled.
    pub fn detached() -> JobContext {
        JobContext {
            progress: Arc::new(|_| {}),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the job was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The context of a part of this job running from share `from` to `to` of it: the
    /// part's own stages (0.5 to 1, as a whole job's) are mapped into that range.
    pub fn part(&self, from: f64, to: f64) -> JobContext {
        let progress = Arc::clone(&self.progress);
        JobContext {
            progress: Arc::new(move |p: f64| {
                progress(from + (p - 0.5).max(0.0) / 0.5 * (to - from));
            }),
            cancel: Arc::clone(&self.cancel),
        }
    }

    /// Ends a stage: fails with [`JobError::Cancelled`] when the job was asked to stop,
    /// else reports `done` (the share of the whole job).
    pub fn step(&self, done: f64) -> Result<(), JobError> {
        if self.cancelled() {
            return Err(JobError::Cancelled);
        }
        (self.progress)(done);
        Ok(())
    }
}

/// The typed result of a job, by kind (boxed: the results are large and moved around).
#[derive(Clone, Debug)]
pub enum JobResult {
    /// Today's hourly funding.
    Baseline(Box<BaselineJob>),
    /// A calibrated formula.
    Calibration(Box<CalibrationJob>),
    /// Several formulas side by side.
    Compare(Box<CompareJob>),
    /// One formula under many policy settings.
    Sweep(Box<SweepJob>),
    /// Survey weights calibrated to margins.
    Weights(Box<WeightsJob>),
    /// A calibration applied to other data.
    Apply(Box<ApplyJob>),
}

/// What a job returns: its typed result, and, when its spec calibrated the survey weights
/// first (`[weights]`), those weights and the dataset reweighted with them (the one the
/// result was computed on).
#[derive(Clone, Debug)]
pub struct JobOutcome {
    /// The result.
    pub result: JobResult,
    /// The weights calibrated before the job.
    pub weights: Option<Box<WeightsJob>>,
    /// The dataset with those weights.
    pub reweighted: Option<Dataset>,
}

impl JobOutcome {
    /// The dataset the result was computed on: `data`, or its reweighted copy.
    pub fn data<'a>(&'a self, data: &'a Dataset) -> &'a Dataset {
        self.reweighted.as_ref().unwrap_or(data)
    }
}

impl JobResult {
    /// The job's summary (without provenance: the caller knows where the data came from).
    pub fn summary(&self) -> JobSummary {
        match self {
            JobResult::Baseline(b) => JobSummary::Baseline(b.summary.clone()),
            JobResult::Calibration(c) => JobSummary::Calibrate(Box::new(c.summary.clone())),
            JobResult::Compare(c) => JobSummary::Compare(Box::new(c.summary.clone())),
            JobResult::Sweep(s) => JobSummary::Sweep(Box::new(s.summary.clone())),
            JobResult::Weights(w) => JobSummary::Weights(Box::new(w.summary.clone())),
            JobResult::Apply(a) => JobSummary::Apply(Box::new(a.summary.clone())),
        }
    }
}

/// What a baseline job computes.
#[derive(Clone, Debug)]
pub struct BaselineJob {
    /// Today's hourly funding of every service and user, and its totals.
    pub baseline: Baseline,
    /// The summary.
    pub summary: BaselineSummary,
}

/// What a calibration job computes.
#[derive(Clone, Debug)]
pub struct CalibrationJob {
    /// Today's hourly funding, the budget kept.
    pub baseline: Baseline,
    /// The formula's design (one row per service).
    pub design: Design,
    /// The regression weight of every service (the design weights unless a variance model
    /// is given).
    pub regression_weights: Vec<f64>,
    /// The fit: parameters, funding, point values, residuals, metrics.
    pub calibration: Calibration,
    /// Every guarantee checked on the calibrated funding.
    pub guarantees: Report,
    /// The law's limits on the model (PCH, APA ceilings, hours, participation, budget).
    pub law: LawReport,
    /// Services' gains and losses by group.
    pub impact: ServicesImpact,
    /// Every user's out-of-pocket per billed hour, before and after.
    pub users: UsersImpact,
    /// Users' out-of-pocket by group.
    pub out_of_pocket: OutOfPocketGroups,
    /// The summary.
    pub summary: CalibrationSummary,
}

/// The options of a calibration, from the spec (without constraints: those come from the
/// guarantees and the design, [`guarantees::constraints`]).
pub fn calibration_options(spec: &JobSpec) -> Options {
    let c = &spec.calibration;
    Options {
        scope: spec.neutrality.scope,
        method: c.method,
        loss: c.loss,
        huber_t: c.huber_t,
        std_errors: c.std_errors,
        cluster: c.cluster,
        confidence: c.confidence,
        bootstrap: c.bootstrap,
        seed: c.seed,
        mse: c.mse,
        with_errors: true,
        floor_per_hour: spec.formula.floor_per_hour,
        cap_per_hour: spec.formula.cap_per_hour,
        constraints: Default::default(),
    }
}

/// Checks the spec's `year`, when given, against the data's; `data` names the data in the
/// message.
pub fn check_year(spec: &JobSpec, micro: &Microdata, data: &str) -> Result<(), SpecError> {
    match spec.year {
        Some(year) if year != micro.year => Err(SpecError::Data {
            key: "year".into(),
            message: format!(
                "the spec asks for {year} but the data ({data}) are of {}: change year or the data",
                micro.year
            ),
        }),
        _ => Ok(()),
    }
}

/// Runs the job the spec asks for on a validated dataset.
pub fn run(
    spec: &JobSpec,
    data: &Dataset,
    source: Option<&AppliedCalibration>,
    ctx: &JobContext,
) -> Result<JobOutcome, JobError> {
    if spec.kind == JobKind::Weights {
        return Ok(JobOutcome {
            result: JobResult::Weights(Box::new(run_weights(spec, data)?)),
            weights: None,
            reweighted: None,
        });
    }
    let (weights, reweighted) = match &spec.weights {
        Some(w) => {
            let job = calibrate_dataset(w, data)?;
            let reweighted = data.with_weights(job.calibrated());
            (Some(Box::new(job)), Some(reweighted))
        }
        None => (None, None),
    };
    let on = reweighted.as_ref().unwrap_or(data);
    let result = match spec.kind {
        JobKind::Baseline => JobResult::Baseline(Box::new(run_baseline(spec, on, ctx)?)),
        JobKind::Calibrate => JobResult::Calibration(Box::new(run_calibrate(spec, on, ctx)?)),
        JobKind::Compare => JobResult::Compare(Box::new(compare::run_compare(spec, on, ctx)?)),
        JobKind::Sweep => JobResult::Sweep(Box::new(sweep::run_sweep(spec, on, ctx)?)),
        JobKind::Apply => {
            let Some(source) = source else {
                return Err(SpecError::Empty {
                    key: "apply.source".into(),
                    message: "an apply job needs the calibration it applies: --calibration DIR on the command line, source = \"JOB_ID\" on the server".into(),
                }
                .into());
            };
            JobResult::Apply(Box::new(run_apply(spec, source, on, ctx)?))
        }
        JobKind::Weights => unreachable!("returned above"),
    };
    Ok(JobOutcome {
        result,
        weights,
        reweighted,
    })
}

/// What every job computes first: today's hourly funding.
fn prepare_baseline(
    spec: &JobSpec,
    data: &Dataset,
    ctx: &JobContext,
) -> Result<Baseline, JobError> {
    ctx.step(0.5)?;
    let options = BaselineOptions {
        mtp: spec.baseline.mtp,
        floor: spec.baseline.floor,
    };
    let b = baseline(&data.micro, &data.drivers, &options)?;
    ctx.step(0.6)?;
    Ok(b)
}

/// A baseline job: today's hourly funding.
pub fn run_baseline(
    spec: &JobSpec,
    data: &Dataset,
    ctx: &JobContext,
) -> Result<BaselineJob, JobError> {
    let baseline = prepare_baseline(spec, data, ctx)?;
    let summary = BaselineSummary::new(&data.micro, &data.drivers, &baseline);
    Ok(BaselineJob { baseline, summary })
}

/// The design of the spec's formula on the data (one row per service, its neutrality
/// target moved by the spec's budget change) and the services'
/// regression weights.
pub fn design_of(
    spec: &JobSpec,
    data: &Dataset,
    baseline: &Baseline,
) -> Result<(Design, Vec<f64>), JobError> {
    let input = DesignInput {
        micro: &data.micro,
        drivers: &data.drivers,
        baseline,
    };
    let drivers = ServiceDrivers::compute(&input, &spec.formula)?;
    let mut design = build_from(&input, &spec.formula, &drivers)?;
    if let Some(change) = &spec.neutrality.budget_change {
        let w = &data.micro.services.design_weight;
        let total = compensated_sum(design.n, |s| w[s] * design.baseline[s]);
        design.set_target_factor(change.factor(total));
    }
    let regression_weights =
        regression_weights_from(&input, &drivers, spec.calibration.variance.as_ref())?;
    Ok((design, regression_weights))
}

/// A calibration job: the formula fitted under budget neutrality and the guarantees, then
/// checked against every guarantee, with its impact on services and users.
pub fn run_calibrate(
    spec: &JobSpec,
    data: &Dataset,
    ctx: &JobContext,
) -> Result<CalibrationJob, JobError> {
    let baseline = prepare_baseline(spec, data, ctx)?;
    let m = &data.micro;
    let (design, regression_weights) = design_of(spec, data, &baseline)?;
    let funded = funded_mask(&spec.formula)?;
    ctx.step(0.7)?;
    let geo = Geography {
        weights: &m.services.design_weight,
        regression_weights: &regression_weights,
        departement: &m.services.departement,
        codes: &m.departements.code,
        design: Some(&m.services.design),
    };
    let mut oop = OutOfPocket::new(m, &data.drivers, &baseline)?;
    oop.restrict_to(funded);
    oop.set_resources_only_gir4(spec.guarantees.resources_only_gir4);
    let gi = GuaranteeInput {
        micro: m,
        design: &design,
        oop: &oop,
    };
    let mut options = calibration_options(spec);
    // A guarantee that cannot be posed is a calibration failure, named by its key.
    options.constraints = guarantees::constraints(&gi, &spec.guarantees)
        .map_err(|e| JobError::Calibration(e.into()))?;
    let rows = options.constraints.len();
    let cancelled = || ctx.cancelled();
    let calibration = calibrate(&design, &geo, &options, &cancelled).map_err(|e| {
        if cancelled() {
            JobError::Cancelled
        } else {
            JobError::Calibration(e)
        }
    })?;
    ctx.step(0.9)?;
    let mut job = finish(
        spec,
        data,
        Fitted {
            baseline,
            design,
            regression_weights,
            calibration,
            rows,
        },
        &oop,
        ctx,
    )?;
    if let Some(cv) = &spec.cross_validation {
        let geo = Geography {
            weights: &m.services.design_weight,
            regression_weights: &job.regression_weights,
            departement: &m.services.departement,
            codes: &m.departements.code,
            design: Some(&m.services.design),
        };
        let folds = cross_validate(
            &job.design,
            &geo,
            &m.services.design.stratum,
            &options,
            cv.folds,
            cv.seed,
            &cancelled,
        )
        .map_err(|e| {
            if cancelled() {
                JobError::Cancelled
            } else {
                JobError::Calibration(e)
            }
        })?;
        job.summary.cross_validation = Some(folds);
    }
    Ok(job)
}

/// A calibration's fit, before its checks and impact.
struct Fitted {
    baseline: Baseline,
    design: Design,
    regression_weights: Vec<f64>,
    calibration: Calibration,
    /// Guarantee constraint rows of the fit.
    rows: usize,
}

/// What follows a fit (a calibration's, or parameters applied to other data): users'
/// out-of-pocket under the new funding, every guarantee, the law's limits, the impact
/// tables and the summary.
fn finish(
    spec: &JobSpec,
    data: &Dataset,
    fitted: Fitted,
    oop: &OutOfPocket,
    ctx: &JobContext,
) -> Result<CalibrationJob, JobError> {
    let Fitted {
        baseline,
        design,
        regression_weights,
        calibration,
        rows,
    } = fitted;
    let m = &data.micro;
    let funded = funded_mask(&spec.formula)?;
    let gi = GuaranteeInput {
        micro: m,
        design: &design,
        oop,
    };
    let after = oop.after_by_option(&calibration.funding, &design.baseline);
    let chosen = spec.guarantees.participation.ordinal();
    let report = guarantees::report(&gi, &spec.guarantees, &calibration.funding, &after);
    let mtp = if m.users.allowance.contains(&Allowance::Apa) {
        baseline.rules.mtp()?
    } else {
        0.0
    };
    let law = law::report(spec, m, &design, &calibration.funding, funded, mtp);
    ctx.step(0.95)?;
    let impact = impact::services_impact(m, &design, &calibration.funding);
    let out_of_pocket = impact::out_of_pocket(m, oop, &after[chosen]);
    let users = impact::users(oop, after, chosen);
    let summary = CalibrationSummary::new(
        spec,
        m,
        &baseline,
        &design,
        &calibration,
        &report,
        &law,
        rows,
    );
    Ok(CalibrationJob {
        baseline,
        design,
        regression_weights,
        calibration,
        guarantees: report,
        law,
        impact,
        users,
        out_of_pocket,
        summary,
    })
}
