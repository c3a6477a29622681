//! Budget neutrality: a formula must cost what hourly funding costs, nationally or in every
//! département. This module measures how far a funding vector is from that: the residual
//! `|Σ w·funding − Σ w·baseline| / Σ w·baseline` per scope, and the largest over scopes —
//! the figure every calibration reports. Sums are compensated (Neumaier), so the residual
//! measured is the formula's, not the summation's.

/// Where budgets must be unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeutralityScope {
    /// One national budget.
    National,
    /// One budget per département.
    Departement,
}

/// A running compensated sum (Neumaier's variant of Kahan's): several can be fed in one
/// pass over the data, each giving the bits [`compensated_sum`] gives on its terms.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compensated {
    sum: f64,
    c: f64,
}

impl Compensated {
    /// Adds a term.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.c += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    /// The sum.
    pub fn value(self) -> f64 {
        self.sum + self.c
    }
}

/// Compensated sum of `Σ f(i)` for `i` in `0..n` (Neumaier's variant of Kahan's).
pub fn compensated_sum(n: usize, f: impl Fn(usize) -> f64) -> f64 {
    let mut s = Compensated::default();
    for i in 0..n {
        s.add(f(i));
    }
    s.value()
}

/// The relative gap of a funding total `f` from its target `b`: `|f − b| / |b|` (0 when
/// both are 0, infinite when only the target is).
pub fn relative_gap(f: f64, b: f64) -> f64 {
    if b != 0.0 {
        ((f - b) / b).abs()
    } else if f == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// The neutrality residuals of `funding` against `baseline`.
#[derive(Clone, Debug, PartialEq)]
pub struct Residuals {
    /// Relative residual of each scope (one entry for the national scope).
    pub per_scope: Vec<f64>,
    /// The largest relative residual.
    pub max: f64,
}

/// Relative residuals per scope. `scope_of[s]` is service `s`'s département index (ignored
/// for the national scope); `n_scopes` the number of départements. A scope with a zero
/// baseline has residual 0 if its funding is zero too, infinity otherwise.
pub fn residuals(
    scope: NeutralityScope,
    funding: &[f64],
    baseline: &[f64],
    weights: &[f64],
    scope_of: &[u32],
    n_scopes: usize,
) -> Residuals {
    assert_eq!(funding.len(), baseline.len());
    assert_eq!(funding.len(), weights.len());
    let relative = relative_gap;
    let per_scope = match scope {
        NeutralityScope::National => {
            let f = compensated_sum(funding.len(), |i| weights[i] * funding[i]);
            let b = compensated_sum(funding.len(), |i| weights[i] * baseline[i]);
            vec![relative(f, b)]
        }
        NeutralityScope::Departement => {
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_scopes];
            for (i, &d) in scope_of.iter().enumerate() {
                members[d as usize].push(i);
            }
            members
                .iter()
                .map(|m| {
                    let f = compensated_sum(m.len(), |j| weights[m[j]] * funding[m[j]]);
                    let b = compensated_sum(m.len(), |j| weights[m[j]] * baseline[m[j]]);
                    relative(f, b)
                })
                .collect()
        }
    };
    let max = per_scope.iter().copied().fold(0.0, f64::max);
    Residuals { per_scope, max }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_recovers_what_naive_summation_loses() {
        // 1 + 1e-16 × 10 + (−1): naive summation gives 0, the exact sum is 1e-15.
        let xs = [
            1.0, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16, -1.0,
        ];
        let naive: f64 = xs.iter().sum();
        assert_eq!(naive, 0.0);
        let s = compensated_sum(xs.len(), |i| xs[i]);
        assert!((s - 1e-15).abs() < 1e-30, "{s}");
    }

    #[test]
    fn residuals_by_hand() {
        // Two départements: d0 = services 0, 2; d1 = service 1. Weights 2, 3, 1.
        let funding = [110.0, 200.0, 90.0];
        let baseline = [100.0, 200.0, 100.0];
        let weights = [2.0, 3.0, 1.0];
        let scope_of = [0, 1, 0];
        // National: (220 + 600 + 90) vs (200 + 600 + 100): 910 / 900 − 1 = 1/90.
        let n = residuals(
            NeutralityScope::National,
            &funding,
            &baseline,
            &weights,
            &scope_of,
            2,
        );
        assert!((n.max - 1.0 / 90.0).abs() < 1e-15);
        // d0: 310 vs 300 → 1/30; d1: 0.
        let d = residuals(
            NeutralityScope::Departement,
            &funding,
            &baseline,
            &weights,
            &scope_of,
            2,
        );
        assert!((d.per_scope[0] - 1.0 / 30.0).abs() < 1e-15);
        assert_eq!(d.per_scope[1], 0.0);
        assert_eq!(d.max, d.per_scope[0]);
    }
}
