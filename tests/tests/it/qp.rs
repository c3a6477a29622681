//! Least squares under neutrality and guarantees (`qp::solve_constrained`) against the
//! reference vector `tests/reference/calibration/qp_guarantees.json` (`make_vectors.py`;
//! conventions in its README). 40 services, a socle and user-months by GIR band, one national
//! neutrality equality and funding bounds `x_s θ ≥ L_s` written `−x_s θ ≤ −L_s`: transition
//! (90 % of the baseline) for every service, cover (the cost) for four. Two transition rows
//! and one cover row bind; the active set comes from scipy's SLSQP, and θ and the multipliers
//! from the equality-constrained problem solved in rational arithmetic, its KKT conditions
//! (every bound holds, binding multipliers positive) verified exactly. Checked: θ and the
//! multipliers at 1e-8 relative, the same binding rows, an exact polish, neutrality to 1e-9.
//! A second set of bounds, every service at 120 % of its baseline with the total unchanged,
//! is infeasible (an exact Farkas certificate in the file): the solver must refuse it and
//! name the guarantees that cannot all hold.

use dotation_solver::SolverError;
use dotation_solver::qp::{Inequalities, solve_constrained};
use dotation_solver::wls::{Equalities, Moments};
use serde_json::Value;

use crate::{close, floats, reference_vector};

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_str().expect("a string"))
        .collect()
}

/// The guarantee families of the file, as the solver names them.
fn family(name: &str) -> &'static str {
    match name {
        "transition" => "transition",
        "has_cover" => "has_cover",
        "floor" => "floor",
        other => panic!("unknown guarantee family {other}"),
    }
}

struct Problem {
    moments: Moments,
    eq: Equalities,
    ineq: Inequalities,
}

/// The survey's moments, the neutrality equality and the bounds of one case of the file.
fn problem(v: &Value, case: &str) -> Problem {
    let inputs = &v["inputs"];
    let k = inputs["X"][0].as_array().expect("rows").len();
    let moments = Moments::from_rows(
        &floats(&inputs["X"]),
        &floats(&inputs["y"]),
        &floats(&inputs["w"]),
        k,
    );
    let eq = Equalities {
        a: floats(&inputs["A"]),
        b: floats(&inputs["b"]),
    };
    let c = &inputs["cases"][case];
    let (g, h, scale) = (floats(&c["G"]), floats(&c["h"]), floats(&c["scale"]));
    let (label, fam) = (strings(&c["label"]), strings(&c["family"]));
    assert_eq!(g.len(), h.len() * k, "{case}: G is p × k");
    let mut ineq = Inequalities::default();
    for i in 0..h.len() {
        ineq.push(
            &g[i * k..(i + 1) * k],
            h[i],
            label[i].to_string(),
            family(fam[i]),
            scale[i],
        );
    }
    Problem { moments, eq, ineq }
}

fn check(what: &str, got: &[f64], expected: &[f64], rel: f64) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(close(*g, *e, rel), "{what}[{i}]: {g} vs {e}");
    }
}

#[test]
fn binding_guarantees_give_the_exact_active_set_solution() {
    let v = reference_vector("qp_guarantees");
    let e = &v["expected"]["binding"];
    assert_eq!(e["infeasible"].as_bool(), Some(false));
    let p = problem(&v, "binding");
    let c = solve_constrained(&p.moments, &p.eq, &p.ineq).expect("a feasible problem");
    assert!(c.polished, "the exact polish should succeed: {c:?}");
    check("theta", &c.estimate.theta, &floats(&e["theta"]), 1e-8);
    let mut active = c.active.clone();
    active.sort_unstable();
    let expected: Vec<usize> = e["active_rows_0_based"]
        .as_array()
        .expect("indices")
        .iter()
        .map(|i| i.as_u64().expect("an index") as usize)
        .collect();
    assert_eq!(active, expected, "binding rows");
    // Multipliers of the equality, then of the binding rows in increasing order.
    check("lambda", &c.estimate.lambda, &floats(&e["lambda"]), 1e-8);
    for (r, b) in c.estimate.constraint_residual.iter().zip(&p.eq.b) {
        assert!((r / b).abs() <= 1e-9, "neutrality residual {r} of {b}");
    }
    for i in 0..p.ineq.len() {
        let slack = p.ineq.slack(i, &c.estimate.theta);
        assert!(
            slack >= -1e-9 * p.ineq.h[i].abs(),
            "{}: slack {slack}",
            p.ineq.label[i]
        );
    }
}

#[test]
fn guarantees_that_cannot_hold_with_neutrality_are_named() {
    let v = reference_vector("qp_guarantees");
    assert_eq!(
        v["expected"]["conflicting"]["infeasible"].as_bool(),
        Some(true)
    );
    let p = problem(&v, "conflicting");
    let err = solve_constrained(&p.moments, &p.eq, &p.ineq).expect_err("an infeasible problem");
    let SolverError::Infeasible {
        conflicts,
        total_relative,
        ..
    } = &err
    else {
        panic!("expected the guarantees to be reported infeasible, got: {err}")
    };
    assert!(!conflicts.is_empty(), "{err}");
    // The least total relative violation, against the peer's linear program.
    let expected = v["expected"]["conflicting"]["least_violation_sum_relative"]
        .as_f64()
        .expect("the peer's least violation");
    assert!(
        close(*total_relative, expected, 1e-7),
        "least violation {total_relative} vs {expected}"
    );
    for conflict in conflicts {
        assert!(
            p.ineq.label.contains(&conflict.constraint),
            "{}",
            conflict.constraint
        );
        assert_eq!(conflict.family, "floor");
        assert!(conflict.gap > 0.0, "{conflict:?}");
    }
    assert!(err.to_string().contains("cannot all hold"), "{err}");
}
