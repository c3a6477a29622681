//! Scenario sweeps on the embedded survey: budget changes kept to 1e-9, every row equal to
//! the calibration job of its settings (refitted from two budget fits or calibrated), an
//! infeasible scenario a row, the same bits on one and two threads, and the report.

use dotation_server::jobs::{JobContext, run_spec};
use dotation_solver::job::{CalibrationJob, JobResult, ScenarioRow, SweepJob};
use dotation_solver::spec::{JobSpec, Scenario};

use crate::close;
use crate::formulas::survey;

fn sweep(text: &str) -> SweepJob {
    let spec = JobSpec::parse(&format!("kind = \"sweep\"\n{text}")).expect("a spec");
    match run_spec(&spec, &survey().data, &JobContext::detached())
        .expect("runs")
        .result
    {
        JobResult::Sweep(s) => *s,
        _ => panic!("a sweep"),
    }
}

/// The calibration job of one scenario's settings, run on its own.
fn alone(base: &str, scenario: &Scenario) -> CalibrationJob {
    let spec = JobSpec::parse(base).expect("a spec");
    match run_spec(
        &scenario.apply(&spec),
        &survey().data,
        &JobContext::detached(),
    )
    .expect("runs")
    .result
    {
        JobResult::Calibration(c) => *c,
        _ => panic!("a calibration"),
    }
}

/// A sweep's row against the calibration job of the same settings.
fn same_as_alone(row: &ScenarioRow, params: &[f64], job: &CalibrationJob) {
    let c = &job.calibration;
    assert_eq!(params.len(), c.estimate.len(), "{}", row.name);
    for (a, b) in params.iter().zip(&c.estimate) {
        assert!(close(*a, *b, 1e-9), "{}: {a} vs {b}", row.name);
    }
    let s = &job.summary;
    assert!(
        close(
            row.funding_total.expect("funded"),
            s.national.funding_total,
            1e-9
        ),
        "{}",
        row.name
    );
    assert!(
        close(row.winners_5pct.expect("w"), s.winners_5pct, 1e-12),
        "{}",
        row.name
    );
    assert!(
        close(row.losers_5pct.expect("l"), s.losers_5pct, 1e-12),
        "{}",
        row.name
    );
    assert!(close(row.r2.expect("r2"), s.r2, 1e-9), "{}", row.name);
    let g = &job.guarantees;
    assert_eq!(
        row.out_of_pocket_rising,
        Some(g.out_of_pocket.rising),
        "{}",
        row.name
    );
    assert!(
        close(
            row.out_of_pocket_rising_share.expect("share"),
            g.out_of_pocket.rising_share,
            1e-12
        ),
        "{}",
        row.name
    );
    assert_eq!(
        row.nhas_price_violations,
        Some(g.nhas_price.violations),
        "{}",
        row.name
    );
    assert_eq!(
        row.has_cover_violations,
        Some(g.has_cover.violations),
        "{}",
        row.name
    );
    assert_eq!(
        row.transition_violations,
        Some(g.transition.violations),
        "{}",
        row.name
    );
}

fn params_of(job: &SweepJob, i: usize) -> Vec<f64> {
    job.parameters
        .iter()
        .filter(|p| p.0 == i)
        .map(|p| p.2)
        .collect()
}

#[test]
fn a_budget_sweep_keeps_every_scenarios_total_at_the_changed_baseline() {
    let job = sweep("[sweep]\ngrid = { budget_change_percent = [-5, -2.5, 0, 2.5, 5] }\n");
    assert_eq!(job.summary.rows.len(), 5);
    let baseline = job.summary.rows[0].formula_baseline_total;
    for (row, p) in job.summary.rows.iter().zip([-5.0, -2.5, 0.0, 2.5, 5.0]) {
        assert!(row.feasible && row.refit, "{}", row.name);
        assert_eq!(row.budget_change_percent, Some(p));
        let total = row.formula_funding_total.expect("funded");
        let want = baseline * (1.0 + p / 100.0);
        assert!(
            ((total - want) / want).abs() <= 1e-9,
            "{p}: {total} vs {want}"
        );
        assert!(row.neutrality_residual.expect("residual") <= 1e-9);
        assert!(close(row.target_total, want, 1e-12));
    }
    // More money, fewer losers.
    for w in job.summary.rows.windows(2) {
        assert!(w[0].losers_5pct >= w[1].losers_5pct);
    }
}

#[test]
fn every_scenario_is_the_calibration_of_its_settings() {
    let text = "[sweep]\ngrid = { budget_change_percent = [-5, 3], transition_limit = [0.05, 0.2], participation = [\"unchanged\", \"accepted_plan\"] }\n\
        [[sweep.scenarios]]\nname = \"floor 26 €/h, 1 % more\"\nfloor = 26.0\nbudget_change = { percent = 1.0 }\n\
        [[sweep.scenarios]]\nname = \"APA only\"\nfunded = [\"APA\"]\n";
    let job = sweep(text);
    assert_eq!(job.summary.rows.len(), 10);
    assert_eq!(job.summary.designs, 3);
    let spec = JobSpec::parse(&format!("kind = \"sweep\"\n{text}")).expect("a spec");
    let scenarios = spec
        .sweep
        .as_ref()
        .expect("a sweep")
        .scenarios()
        .expect("scenarios");
    for (i, row) in job.summary.rows.iter().enumerate() {
        assert!(row.feasible && row.refit, "{}", row.name);
        same_as_alone(row, &params_of(&job, i), &alone("", &scenarios[i]));
    }
}

#[test]
fn constrained_scenarios_are_calibrated_and_an_infeasible_one_is_a_row() {
    let base = "[guarantees]\nconstrain = [\"transition\"]\n";
    let job = sweep(&format!(
        "{base}[sweep]\ngrid = {{ transition_limit = [0.0, 0.2, 0.3, 0.5], budget_change_percent = [-30, 0, 10] }}\n"
    ));
    assert_eq!(job.summary.rows.len(), 12);
    let spec = JobSpec::parse(&format!(
        "kind = \"sweep\"\n{base}[sweep]\ngrid = {{ transition_limit = [0.0, 0.2, 0.3, 0.5], budget_change_percent = [-30, 0, 10] }}\n"
    ))
    .expect("a spec");
    let scenarios = spec
        .sweep
        .as_ref()
        .expect("a sweep")
        .scenarios()
        .expect("scenarios");
    // ℓ = 0 with 30 % less money: no service may lose, yet the budget falls.
    let bad = &job.summary.rows[0];
    assert_eq!(
        (bad.transition_limit, bad.budget_change_percent),
        (0.0, Some(-30.0))
    );
    assert!(!bad.feasible);
    assert!(
        bad.conflict
            .as_deref()
            .is_some_and(|c| c.contains("transition")),
        "{:?}",
        bad.conflict
    );
    assert!(params_of(&job, 0).is_empty());
    for (i, row) in job.summary.rows.iter().enumerate().skip(1) {
        if !row.feasible {
            continue;
        }
        assert!(!row.refit, "{}: a constrained fit is calibrated", row.name);
        assert_eq!(row.transition_violations, Some(0), "{}", row.name);
        same_as_alone(row, &params_of(&job, i), &alone(base, &scenarios[i]));
    }
    assert_eq!(job.summary.rows.iter().filter(|r| r.feasible).count(), 6);
}

#[test]
fn a_sweep_has_the_same_bits_on_one_and_two_threads() {
    let text = "[sweep]\ngrid = { budget_change_percent = [-4, 0, 4], transition_limit = [0.1] }\n\
        [[sweep.scenarios]]\nbudget_change = { euros = 1000000.0 }\n";
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool")
            .install(|| sweep(text))
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.summary.rows, two.summary.rows);
    assert_eq!(one.parameters, two.parameters);
    assert_eq!(one.summary.rows[3].budget_change_euros, Some(1_000_000.0));
}

#[test]
fn a_sweep_spec_is_checked() {
    for (text, want) in [
        ("", "a sweep needs a [sweep] table"),
        ("[sweep]\n", "the sweep has no scenario"),
        (
            "[sweep]\ngrid = { transition_limit = [0.1] }\n[calibration]\nmethod = \"kkt\"\n[formula]\nfloor_per_hour = 20.0\n",
            "point_values",
        ),
    ] {
        let spec = JobSpec::parse(&format!("kind = \"sweep\"\n{text}"));
        let e = spec
            .and_then(|s| s.check().map(|_| s))
            .expect_err(text)
            .to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
    let e = JobSpec::parse("[sweep]\ngrid = { transition_limit = [0.1] }\n")
        .and_then(|s| s.check().map(|_| s))
        .expect_err("a sweep table without kind")
        .to_string();
    assert!(e.contains("kind = \"sweep\""), "{e}");
}
