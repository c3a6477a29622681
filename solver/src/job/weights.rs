//! The weights job: the services' survey weights calibrated to the dataset's margins
//! ([`crate::weights`]), alone (`kind = "weights"`) or before another job (`[weights]`
//! in any spec), with what a modeller checks — every margin's target, achieved total and
//! residual, the distribution of the g-weights.

use dotation_core::Dataset;
use dotation_core::margins::Margins;
use dotation_core::tables::CalibratedWeights;
use serde::{Deserialize, Serialize};

use crate::error::{JobError, SpecError};
use crate::spec::{JobSpec, WeightsSpec};
use crate::weights::{Problem, WeightCalibration, calibrate_weights, g_quantiles};

/// Calibrated weights and the margins they reproduce.
#[derive(Clone, Debug)]
pub struct WeightsJob {
    /// The weights.
    pub calibration: WeightCalibration,
    /// The margins, in the table's order.
    pub margins: Margins,
    /// The auxiliary variables, services × margins, row-major.
    pub auxiliary: Vec<f64>,
    /// The summary.
    pub summary: WeightsSummary,
}

/// The probabilities of [`GQuantiles`].
pub const G_PROBABILITIES: [f64; 9] = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];

/// Quantiles of the g-weights (weight / design weight).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GQuantiles {
    /// Smallest.
    pub min: f64,
    /// 1 %.
    pub p01: f64,
    /// 5 %.
    pub p05: f64,
    /// 25 %.
    pub p25: f64,
    /// Median.
    pub median: f64,
    /// 75 %.
    pub p75: f64,
    /// 95 %.
    pub p95: f64,
    /// 99 %.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// `summary.json` of calibrated weights (the `weights` command, or the `weights` key of
/// another job's summary when its spec has `[weights]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsSummary {
    /// `linear`, `truncated`, `raking` or `logit`.
    pub method: String,
    /// The bounds of g, when the method has them.
    pub bounds: Option<[f64; 2]>,
    /// Newton iterations.
    pub iterations: usize,
    /// Whether every margin was reproduced to the tolerance (a calibration that is not
    /// fails instead).
    pub converged: bool,
    /// The tolerance asked.
    pub tolerance: f64,
    /// The largest |achieved − target| / |target| over the margins.
    pub largest_residual: f64,
    /// Services weighted.
    pub services: usize,
    /// Rows of the margins table.
    pub margins: usize,
    /// Σ design weights.
    pub design_weight_total: f64,
    /// Σ calibrated weights.
    pub weight_total: f64,
    /// Quantiles of g.
    pub g: GQuantiles,
    /// Services whose g is at the lower bound (within 1e-9).
    pub at_lower_bound: usize,
    /// Services whose g is at the upper bound (within 1e-9).
    pub at_upper_bound: usize,
    /// Services with a negative weight (the linear method only).
    pub negative: usize,
    /// The largest |relative difference| between a margin's design-weighted estimate and
    /// its target: how far the design weights were.
    pub largest_design_gap: f64,
    /// The spec run (for `kind = "weights"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<JobSpec>,
}

impl WeightsSummary {
    fn new(c: &WeightCalibration, margins: &Margins) -> WeightsSummary {
        let q = g_quantiles(&c.g, &G_PROBABILITIES);
        let (lo, hi) = match c.settings.bounds {
            Some((l, u)) => (Some(l), Some(u)),
            None => (None, None),
        };
        let near = |g: f64, b: Option<f64>| b.is_some_and(|b| (g - b).abs() <= 1e-9 * b.max(1.0));
        let largest_design_gap = c
            .design_estimates
            .iter()
            .zip(&c.totals)
            .map(|(e, t)| {
                if *t != 0.0 {
                    ((e - t) / t).abs()
                } else {
                    e.abs()
                }
            })
            .fold(0.0f64, f64::max);
        WeightsSummary {
            method: c.settings.method.name().to_string(),
            bounds: c.settings.bounds.map(|(l, u)| [l, u]),
            iterations: c.iterations,
            converged: true,
            tolerance: c.settings.tolerance,
            largest_residual: c.largest_residual(),
            services: c.g.len(),
            margins: margins.len(),
            design_weight_total: c.design.iter().sum(),
            weight_total: c.weights.iter().sum(),
            g: GQuantiles {
                min: q[0],
                p01: q[1],
                p05: q[2],
                p25: q[3],
                median: q[4],
                p75: q[5],
                p95: q[6],
                p99: q[7],
                max: q[8],
            },
            at_lower_bound: c.g.iter().filter(|&&g| near(g, lo)).count(),
            at_upper_bound: c.g.iter().filter(|&&g| near(g, hi)).count(),
            negative: c.weights.iter().filter(|&&w| w < 0.0).count(),
            largest_design_gap,
            spec: None,
        }
    }
}

/// The dataset's weights calibrated to its margins as `spec` asks.
pub fn calibrate_dataset(spec: &WeightsSpec, data: &Dataset) -> Result<WeightsJob, JobError> {
    let Some(margins) = &data.margins else {
        return Err(SpecError::Data {
            key: "weights".into(),
            message: "the dataset has no margins table: give one (margins.parquet or .csv in the data folder, or --margins FILE; on the server, upload it as the dataset's \"margins\" table)".into(),
        }
        .into());
    };
    let x = margins.auxiliary(&data.micro);
    let totals = margins.totals();
    let labels: Vec<String> = margins.rows.iter().map(|r| r.label()).collect();
    let problem = Problem {
        x: &x,
        design: &data.micro.services.design_weight,
        totals: &totals,
        labels: &labels,
    };
    let calibration = calibrate_weights(&problem, &spec.settings())?;
    let summary = WeightsSummary::new(&calibration, margins);
    Ok(WeightsJob {
        calibration,
        margins: margins.clone(),
        auxiliary: x,
        summary,
    })
}

impl WeightsJob {
    /// The calibration as the survey design holds it (for the variance of what is
    /// estimated with these weights).
    pub fn calibrated(&self) -> CalibratedWeights {
        CalibratedWeights {
            design_weight: self.calibration.design.clone(),
            g: self.calibration.g.clone(),
            auxiliary: self.auxiliary.clone(),
            margins: self.margins.len(),
        }
    }
}

/// The weights job (`kind = "weights"`).
pub fn run_weights(spec: &JobSpec, data: &Dataset) -> Result<WeightsJob, JobError> {
    let Some(w) = &spec.weights else {
        return Err(SpecError::Empty {
            key: "weights".into(),
            message: "a weights job needs a [weights] table".into(),
        }
        .into());
    };
    let mut job = calibrate_dataset(w, data)?;
    job.summary.spec = Some(spec.clone());
    Ok(job)
}
