//! Point values: the hospital-tariff variant of calibration. National *relative* weights
//! `θ` come first (an unconstrained fit); then each département gets one point value `π_d`
//! such that its budget is unchanged: `Σ_{s∈d} w_s F_s(π_d) = Σ_{s∈d} w_s F0_s`.
//!
//! The funding of a service need not be linear in `π` (a floor or a cap makes it
//! piecewise linear), only non-decreasing, so `π_d` is found as the root of a monotone
//! function with argmin's Brent solver, to 1e-12 relative, after bracketing it.

use argmin::core::{CostFunction, Error, Executor, State};
use argmin::solver::brent::BrentRoot;

use crate::error::SolverError;

/// The gap between a département's budget at point value `π` and its target.
struct Gap<'a, B: Fn(f64) -> f64> {
    budget: &'a B,
    target: f64,
}

impl<B: Fn(f64) -> f64> CostFunction for Gap<'_, B> {
    type Param = f64;
    type Output = f64;

    fn cost(&self, pi: &f64) -> Result<f64, Error> {
        Ok((self.budget)(*pi) - self.target)
    }
}

/// A point value and how well it restores the budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointValue {
    /// The point value.
    pub value: f64,
    /// `|budget(π) − target| / target` as achieved.
    pub residual: f64,
    /// Brent iterations.
    pub iterations: u64,
}

/// Solves `budget(π) = target` for a non-decreasing `budget` with `budget(0) ≤ target`.
/// `scope` names the département in errors.
pub fn point_value(
    scope: &str,
    budget: impl Fn(f64) -> f64,
    target: f64,
) -> Result<PointValue, SolverError> {
    let at_zero = budget(0.0);
    if at_zero > target {
        return Err(SolverError::NeutralityImpossible {
            scope: scope.to_string(),
            reason: format!(
                "its funding is {at_zero:.2} € even at a zero point value, above its budget of {target:.2} € (lower the floors of the formula)"
            ),
        });
    }
    if at_zero == target {
        return Ok(PointValue {
            value: 0.0,
            residual: 0.0,
            iterations: 0,
        });
    }
    // Bracket the root by doubling.
    let mut hi = 1.0f64;
    let mut doublings = 0;
    while budget(hi) < target {
        hi *= 2.0;
        doublings += 1;
        if doublings > 1_100 || !hi.is_finite() {
            return Err(SolverError::NeutralityImpossible {
                scope: scope.to_string(),
                reason: format!(
                    "no point value reaches its budget of {target:.2} € (its funding does not grow with the point value: does it have any activity?)"
                ),
            });
        }
    }
    let gap = Gap {
        budget: &budget,
        target,
    };
    let solver = BrentRoot::new(0.0, hi, 1e-13);
    let result = Executor::new(gap, solver)
        .configure(|s| s.param(hi / 2.0).max_iters(200))
        .run()
        .map_err(|_| SolverError::Numerical("Brent's method failed on a point value"))?;
    let state = result.state();
    let value = *state.get_best_param().unwrap_or(&hi);
    let residual = ((budget(value) - target) / target).abs();
    Ok(PointValue {
        value,
        residual,
        iterations: state.get_iter(),
    })
}
