//! Constrained weighted least squares against reference vectors from numpy, statsmodels
//! and scipy (`tests/reference/calibration/make_vectors.py`; conventions in its README),
//! compared at 1e-8 relative.

use dotation_solver::SolverError;
use dotation_solver::calibrate::{metrics, normal_intervals, normal_quantile};
use dotation_solver::qp::Inequalities;
use dotation_solver::wls::{CovarianceKind, Equalities, Moments, covariance, residuals, solve};
use serde_json::Value;

use crate::{close, floats, reference_vector};

fn check(what: &str, got: &[f64], expected: &[f64], rel: f64) {
    assert_eq!(got.len(), expected.len(), "{what}");
    let scale = expected.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= rel * e.abs().max(1e-3 * scale),
            "{what}[{i}]: {g} vs {e}"
        );
    }
}

struct Data {
    x: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    k: usize,
}

fn data(v: &Value) -> Data {
    let inputs = &v["inputs"];
    let k = inputs["X"][0].as_array().expect("rows").len();
    Data {
        x: floats(&inputs["X"]),
        y: floats(&inputs["y"]),
        w: floats(&inputs["w"]),
        k,
    }
}

#[test]
fn wls_parameters_and_heteroskedasticity_robust_errors() {
    let v = reference_vector("wls_small");
    let d = data(&v);
    let e = &v["expected"];
    let fit = solve(
        &Moments::from_rows(&d.x, &d.y, &d.w, d.k),
        &Equalities::default(),
    )
    .expect("identified");
    check("params", &fit.theta, &floats(&e["params"]), 1e-8);
    let r = residuals(&d.x, &d.y, &fit.theta);
    check("resid", &r, &floats(&e["resid"]), 1e-8);
    let hc0 = covariance(&d.x, &d.w, &r, &fit.bread, d.k, 0, CovarianceKind::Hc0);
    check("cov_HC0", &hc0, &floats(&e["cov_HC0"]), 1e-8);
    let hc1 = covariance(&d.x, &d.w, &r, &fit.bread, d.k, 0, CovarianceKind::Hc1);
    check("cov_HC1", &hc1, &floats(&e["cov_HC1"]), 1e-8);

    // The 95 % intervals the calibration reports (normal quantile, statsmodels'
    // use_t=False), from each covariance.
    assert!(close(
        normal_quantile(0.975),
        e["quantile_normal_0975"].as_f64().expect("q"),
        1e-14
    ));
    for (name, cov) in [("HC0", &hc0), ("HC1", &hc1)] {
        let se: Vec<Option<f64>> = (0..d.k).map(|j| Some(cov[j * d.k + j].sqrt())).collect();
        let (low, high) = normal_intervals(&fit.theta, &se, 0.95);
        let expected = floats(&e[format!("conf_int_95_{name}").as_str()]);
        let got: Vec<f64> = (0..d.k)
            .flat_map(|j| [low[j].expect("se"), high[j].expect("se")])
            .collect();
        check(&format!("conf_int_95_{name}"), &got, &expected, 1e-8);
    }

    // R² as the calibration's metrics measure it: the weighted, centred R² of the cost
    // (y) by the funding (the fitted values).
    let fitted: Vec<f64> = d.y.iter().zip(&r).map(|(y, r)| y - r).collect();
    check("fittedvalues", &fitted, &floats(&e["fittedvalues"]), 1e-8);
    let m = metrics(&d.y, &fitted, &d.y, &vec![0.0; d.y.len()], &d.w);
    let r2 = e["rsquared_centered"].as_f64().expect("R²");
    assert!(close(m.r2, r2, 1e-8), "R² {} vs statsmodels {r2}", m.r2);
    assert!(close(m.r2, e["rsquared"].as_f64().expect("R²"), 1e-8));
}

#[test]
fn wls_cluster_robust_errors() {
    let v = reference_vector("wls_clustered");
    let d = data(&v);
    let e = &v["expected"];
    let cluster: Vec<u32> = floats(&v["inputs"]["cluster"])
        .iter()
        .map(|&c| c as u32)
        .collect();
    let fit = solve(
        &Moments::from_rows(&d.x, &d.y, &d.w, d.k),
        &Equalities::default(),
    )
    .expect("identified");
    check("params", &fit.theta, &floats(&e["params"]), 1e-8);
    let r = residuals(&d.x, &d.y, &fit.theta);
    let cr0 = covariance(
        &d.x,
        &d.w,
        &r,
        &fit.bread,
        d.k,
        0,
        CovarianceKind::Cr0(&cluster),
    );
    check("cov_CR0", &cr0, &floats(&e["cov_CR0"]), 1e-8);
    let cr1 = covariance(
        &d.x,
        &d.w,
        &r,
        &fit.bread,
        d.k,
        0,
        CovarianceKind::Cr1(&cluster),
    );
    check("cov_CR1", &cr1, &floats(&e["cov_CR1"]), 1e-8);
    for (name, cov) in [("CR0", &cr0), ("CR1", &cr1)] {
        let se: Vec<Option<f64>> = (0..d.k).map(|j| Some(cov[j * d.k + j].sqrt())).collect();
        let (low, high) = normal_intervals(&fit.theta, &se, 0.95);
        let got: Vec<f64> = (0..d.k)
            .flat_map(|j| [low[j].expect("se"), high[j].expect("se")])
            .collect();
        let expected = floats(&e[format!("conf_int_95_{name}").as_str()]);
        check(&format!("conf_int_95_{name}"), &got, &expected, 1e-8);
    }
}

fn check_kkt(name: &str) {
    let v = reference_vector(name);
    let d = data(&v);
    let e = &v["expected"];
    let eq = Equalities {
        a: floats(&v["inputs"]["C"]),
        b: floats(&v["inputs"]["d"]),
    };
    let fit = solve(&Moments::from_rows(&d.x, &d.y, &d.w, d.k), &eq).expect("identified");
    check("beta", &fit.theta, &floats(&e["beta"]), 1e-8);
    check("lambda", &fit.lambda, &floats(&e["lambda"]), 1e-8);
    // Neutrality holds to 1e-9 relative in every scope.
    for (res, b) in fit.constraint_residual.iter().zip(&eq.b) {
        assert!((res / b).abs() <= 1e-9, "residual {res} of {b}");
    }
}

#[test]
fn kkt_national_neutrality() {
    check_kkt("kkt_national");
}

#[test]
fn kkt_one_neutrality_per_departement() {
    check_kkt("kkt_departements");
}

#[test]
fn an_unidentified_parameter_is_named() {
    // Column 2 is twice column 1: parameters 1 and 2 cannot be told apart.
    let x = [1.0, 2.0, 4.0, 1.0, 3.0, 6.0, 1.0, 5.0, 10.0, 1.0, 7.0, 14.0];
    let y = [10.0, 14.0, 21.0, 30.0];
    let w = [1.0; 4];
    let err = solve(&Moments::from_rows(&x, &y, &w, 3), &Equalities::default())
        .expect_err("collinear columns");
    match &err {
        SolverError::NotIdentified { parameters, .. } => assert_eq!(parameters, &vec![1, 2]),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("[1, 2]"), "{err}");
}

#[test]
fn point_values_restore_every_departement_budget() {
    use dotation_solver::point_value::point_value;
    let v = reference_vector("point_values");
    let d = data(&v);
    let e = &v["expected"];
    let fit = solve(
        &Moments::from_rows(&d.x, &d.y, &d.w, d.k),
        &Equalities::default(),
    )
    .expect("identified");
    check("theta", &fit.theta, &floats(&e["theta"]), 1e-8);
    let dept: Vec<&str> = v["inputs"]["departement"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("a code"))
        .collect();
    let f0 = floats(&v["inputs"]["F0"]);
    let relative: Vec<f64> = (0..d.y.len())
        .map(|i| (0..d.k).map(|j| d.x[i * d.k + j] * fit.theta[j]).sum())
        .collect();
    for code in v["inputs"]["departements"].as_array().expect("codes") {
        let code = code.as_str().expect("a code");
        let rows: Vec<usize> = (0..d.y.len()).filter(|&i| dept[i] == code).collect();
        let target: f64 = rows.iter().map(|&i| d.w[i] * f0[i]).sum();
        let budget = |pi: f64| rows.iter().map(|&i| d.w[i] * pi * relative[i]).sum::<f64>();
        let p = point_value(code, budget, target).expect("a point value");
        let expected = e["point_value"][code].as_f64().expect("a number");
        check(code, &[p.value], &[expected], 1e-8);
        assert!(p.residual <= 1e-12, "{code}: residual {}", p.residual);
    }
}

#[test]
fn a_floor_above_the_budget_makes_neutrality_impossible_and_says_where() {
    use dotation_solver::point_value::point_value;
    // Funding = max(π × 100, 500) on a budget of 400: even π = 0 pays 500.
    let err = point_value("2A", |pi| (pi * 100.0).max(500.0), 400.0).expect_err("impossible");
    let text = err.to_string();
    assert!(
        text.contains("impossible in 2A") && text.contains("500.00"),
        "{text}"
    );
    // With the floor below the budget, the piecewise-linear budget has its root at π = 5.
    let p = point_value("2A", |pi| (pi * 100.0).max(300.0), 500.0).expect("a root");
    assert!((p.value - 5.0).abs() < 1e-11, "{}", p.value);
}

#[test]
fn huber_iterated_to_its_fixed_point() {
    use dotation_solver::robust::{HuberConfig, huber};
    let v = reference_vector("huber");
    let inputs = &v["inputs"];
    let k = inputs["X"][0].as_array().expect("rows").len();
    let x = floats(&inputs["X"]);
    let y = floats(&inputs["y"]);
    let w = vec![1.0; y.len()];
    let config = HuberConfig {
        t: inputs["t"].as_f64().expect("t"),
        ..HuberConfig::default()
    };
    let fit = huber(
        &x,
        &y,
        &w,
        k,
        &Equalities::default(),
        &Inequalities::default(),
        &config,
    )
    .expect("identified");
    assert!(fit.converged);
    let e = &v["expected"]["fixed_point"];
    check("params", &fit.estimate.theta, &floats(&e["params"]), 1e-8);
    check(
        "scale",
        &[fit.scale],
        &[e["scale"].as_f64().expect("scale")],
        1e-8,
    );
    check(
        "weights",
        &fit.robustness_weights,
        &floats(&e["weights"]),
        1e-8,
    );
}

#[test]
fn median_regression_reaches_the_exact_vertex() {
    use dotation_solver::robust::median_fit;
    let v = reference_vector("median");
    let inputs = &v["inputs"];
    let k = inputs["X"][0].as_array().expect("rows").len();
    let x = floats(&inputs["X"]);
    let y = floats(&inputs["y"]);
    let ones = vec![1.0; y.len()];
    let e = &v["expected"];
    let fit = median_fit(
        &x,
        &y,
        &ones,
        k,
        &Equalities::default(),
        &Inequalities::default(),
    )
    .expect("solves");
    assert!(fit.vertex, "the exact vertex should be found");
    check("params", &fit.theta, &floats(&e["params"]), 1e-8);
    check(
        "objective",
        &[fit.objective],
        &[e["objective"].as_f64().expect("objective")],
        1e-8,
    );
    let w = floats(&inputs["w"]);
    let fit = median_fit(
        &x,
        &y,
        &w,
        k,
        &Equalities::default(),
        &Inequalities::default(),
    )
    .expect("solves");
    check(
        "weighted params",
        &fit.theta,
        &floats(&e["weighted"]["params"]),
        1e-8,
    );
}

#[test]
fn median_regression_under_a_neutrality_equality() {
    // Constrained LAD has no library reference here: check the equality holds exactly and
    // that no feasible direction lowers the objective (the optimality of a vertex, probed
    // along the null space of the constraint).
    use dotation_solver::robust::median_fit;
    let v = reference_vector("median");
    let inputs = &v["inputs"];
    let k = inputs["X"][0].as_array().expect("rows").len();
    let x = floats(&inputs["X"]);
    let y = floats(&inputs["y"]);
    let w = floats(&inputs["w"]);
    let n = y.len();
    let a: Vec<f64> = (0..k)
        .map(|j| (0..n).map(|i| w[i] * x[i * k + j]).sum())
        .collect();
    let target: f64 = (0..n).map(|i| w[i] * y[i]).sum::<f64>() * 0.9;
    let eq = Equalities {
        a: a.clone(),
        b: vec![target],
    };
    let fit = median_fit(&x, &y, &w, k, &eq, &Inequalities::default()).expect("solves");
    let lhs: f64 = (0..k).map(|j| a[j] * fit.theta[j]).sum();
    assert!(
        (lhs - target).abs() <= 1e-10 * target.abs(),
        "{lhs} vs {target}"
    );
    let objective = |t: &[f64]| -> f64 {
        (0..n)
            .map(|i| w[i] * (y[i] - (0..k).map(|j| x[i * k + j] * t[j]).sum::<f64>()).abs())
            .sum()
    };
    let base = objective(&fit.theta);
    for p in 0..k {
        for q in 0..k {
            if p == q || a[q] == 0.0 {
                continue;
            }
            // Move θ_p by h and θ_q to keep the equality.
            for h in [1e-3, -1e-3] {
                let mut t = fit.theta.clone();
                t[p] += h * fit.theta[p].abs().max(1.0);
                t[q] -= a[p] * h * fit.theta[p].abs().max(1.0) / a[q];
                assert!(
                    objective(&t) >= base * (1.0 - 1e-12),
                    "direction {p},{q},{h}"
                );
            }
        }
    }
}
