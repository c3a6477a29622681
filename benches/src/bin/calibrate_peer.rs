//! Writes the national calibration bench data as Parquet and times dotation's calibration
//! on it, for `benches/peer/calibrate.py`, which times statsmodels on the same data in the
//! same run and checks that both give the same parameters.
//!
//! Usage: `calibrate_peer DIR REPEATS` — writes `DIR/users.parquet`,
//! `DIR/services.parquet`, `DIR/design.parquet`, `DIR/parameters.parquet` (the fit without
//! neutrality, what statsmodels computes), `DIR/bounds.parquet` (the guarantees of
//! [`GUARANTEES`] as lower bounds on services' funding: `service_id`, `funding_min`) and
//! `DIR/parameters_guaranteed.parquet` (the fit under neutrality and those bounds, what a
//! QP solver computes), `DIR/parameters_bootstrap.parquet` (the unconstrained fit with
//! Preston's bootstrap standard errors, B = 1,000, the national services as one
//! unstratified sample), and prints one JSON object of median seconds — the fits, the
//! bootstrap, a sweep of 9,999 scenarios on the national frame, and the 10-fold
//! cross-validation of every formula kind of the catalogue on the embedded survey.

use std::time::Instant;

use dotation_benches::{
    BENCH_SPEC, CATALOGUE, GUARANTEES, NATIONAL_CALIBRATION, dataset, design, fit, fit_constrained,
    guarantee_constraints, median, prepare, sweep_grid,
};
use dotation_core::Dataset;
use dotation_core::schema::TableKind;
use dotation_server::io::Output;
use dotation_server::results;
use dotation_solver::calibrate::{Geography, calibrate};
use dotation_solver::crossval::cross_validate;
use dotation_solver::job::{self, JobContext, JobResult, calibration_options};
use dotation_solver::qp::solve_constrained;
use dotation_solver::spec::StdErrors;
use dotation_solver::spec::{JobSpec, Scope};
use dotation_solver::wls::{Equalities, Moments};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    let repeats: usize = args.get(2).map_or(7, |s| s.parse().expect("REPEATS"));
    let raw = dataset(NATIONAL_CALIBRATION, 42);
    let p = prepare(&raw);
    let spec = JobSpec::parse(BENCH_SPEC).expect("a valid spec");
    let mut free = spec.clone();
    free.neutrality.scope = Scope::None;
    let d = design(&p, &spec);
    let unconstrained = fit(&p, &free, &d);
    let guaranteed_spec =
        JobSpec::parse(&format!("{BENCH_SPEC}{GUARANTEES}")).expect("a valid spec");
    let (bounds, ineq) = guarantee_constraints(&p, &guaranteed_spec, &d);
    let guaranteed = fit_constrained(&p, &guaranteed_spec, &d, &ineq);

    // Preston's bootstrap, B = 1,000, on the unconstrained fit: the replicate blocks
    // (per-service moments) and the 1,000 refits as one matrix product.
    let mut boot_spec = free.clone();
    boot_spec.calibration.std_errors = StdErrors::Bootstrap;
    boot_spec.calibration.bootstrap = 1000;
    let unstratified = Geography {
        weights: &p.micro.services.design_weight,
        regression_weights: &p.micro.services.design_weight,
        departement: &p.micro.services.departement,
        codes: &p.micro.departements.code,
        design: None,
    };
    let boot_options = calibration_options(&boot_spec);
    let mut boot_t = vec![];
    let mut boot = None;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let b = calibrate(&d, &unstratified, &boot_options, &|| false).expect("bootstraps");
        boot_t.push(t0.elapsed().as_secs_f64());
        boot = Some(b);
    }
    let boot = boot.expect("a bootstrap");

    let mut out = Output::new(&dir).expect("output folder");
    let users = &raw.get(TableKind::Users).expect("users").batches;
    let mut w = out
        .parquet_writer("users.parquet", users[0].schema())
        .expect("writer");
    for b in users {
        w.write(b).expect("write");
    }
    w.close().expect("close");
    let services = results::batch(vec![
        (
            "service_id",
            std::sync::Arc::new(arrow::array::StringArray::from(p.micro.services.id.clone())),
        ),
        (
            "weight",
            std::sync::Arc::new(arrow::array::Float64Array::from(
                p.micro.services.design_weight.clone(),
            )),
        ),
        (
            "cost",
            std::sync::Arc::new(arrow::array::Float64Array::from(d.cost.clone())),
        ),
    ])
    .expect("a batch");
    out.parquet("services.parquet", &services).expect("write");
    out.parquet(
        "design.parquet",
        &results::design(&p.micro, &d, &p.micro.services.design_weight).expect("a batch"),
    )
    .expect("write");
    out.parquet(
        "parameters.parquet",
        &results::parameters(&unconstrained).expect("a batch"),
    )
    .expect("write");
    let row_service: Vec<&str> = bounds
        .iter()
        .map(|b| p.micro.services.id[b.service].as_str())
        .collect();
    let funding_min: Vec<f64> = bounds.iter().map(|b| b.min).collect();
    out.parquet(
        "bounds.parquet",
        &results::batch(vec![
            (
                "service_id",
                std::sync::Arc::new(arrow::array::StringArray::from(row_service)),
            ),
            (
                "funding_min",
                std::sync::Arc::new(arrow::array::Float64Array::from(funding_min)),
            ),
        ])
        .expect("a batch"),
    )
    .expect("write");
    out.parquet(
        "parameters_guaranteed.parquet",
        &results::parameters(&guaranteed).expect("a batch"),
    )
    .expect("write");
    out.parquet(
        "parameters_bootstrap.parquet",
        &results::parameters(&boot).expect("a batch"),
    )
    .expect("write");
    out.commit().expect("commit");
    drop(raw);

    let (mut build, mut neutral, mut free_fit, mut total) = (vec![], vec![], vec![], vec![]);
    let (mut bounds_t, mut guaranteed_t, mut qp_t) = (vec![], vec![], vec![]);
    // The program alone, as quadprog gets it: moments from the design, national
    // neutrality, the bounds; parameters only.
    let yn: Vec<f64> = d.cost.iter().zip(&d.offset).map(|(c, a)| c - a).collect();
    let w = &p.micro.services.design_weight;
    let national = Equalities {
        a: (0..d.k)
            .map(|j| (0..d.n).map(|s| w[s] * d.x[s * d.k + j]).sum())
            .collect(),
        b: vec![(0..d.n).map(|s| w[s] * (d.baseline[s] - d.offset[s])).sum()],
    };
    for _ in 0..repeats {
        let t0 = Instant::now();
        let d = design(&p, &spec);
        let t1 = Instant::now();
        let c = fit(&p, &spec, &d);
        let t2 = Instant::now();
        let u = fit(&p, &free, &d);
        let t3 = Instant::now();
        let (_, b) = guarantee_constraints(&p, &guaranteed_spec, &d);
        let t4 = Instant::now();
        let g = fit_constrained(&p, &guaranteed_spec, &d, &b);
        let t5 = Instant::now();
        std::hint::black_box((&c, &u, &g));
        let q = solve_constrained(&Moments::from_rows(&d.x, &yn, w, d.k), &national, &ineq)
            .expect("solves");
        let t6 = Instant::now();
        std::hint::black_box(&q);
        qp_t.push((t6 - t5).as_secs_f64());
        bounds_t.push((t4 - t3).as_secs_f64());
        guaranteed_t.push((t5 - t4).as_secs_f64());
        build.push((t1 - t0).as_secs_f64());
        neutral.push((t2 - t1).as_secs_f64());
        free_fit.push((t3 - t2).as_secs_f64());
        total.push((t2 - t0).as_secs_f64());
    }
    // A sweep of 9,999 scenarios on the national frame (the whole job: baseline, design,
    // two fits, every scenario's row).
    let data = Dataset {
        micro: p.micro.clone(),
        drivers: p.drivers.clone(),
        margins: None,
    };
    let sweep_spec = JobSpec::parse(&format!("kind = \"sweep\"\n{BENCH_SPEC}{}", sweep_grid()))
        .expect("a valid sweep");
    let mut sweep_t = vec![];
    let mut scenarios = 0;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let r = job::run(&sweep_spec, &data, None, &JobContext::detached()).expect("sweeps");
        sweep_t.push(t0.elapsed().as_secs_f64());
        if let JobResult::Sweep(s) = r.result {
            scenarios = s.summary.rows.len();
        }
    }
    drop(data);
    // 10-fold cross-validation of every formula kind on the embedded survey.
    let survey = survey_dataset();
    let survey_baseline = dotation_core::baseline::baseline(
        &survey.micro,
        &survey.drivers,
        &dotation_core::baseline::BaselineOptions::default(),
    )
    .expect("a known year");
    let sm = &survey.micro;
    let kinds: Vec<_> = CATALOGUE
        .iter()
        .map(|(label, f)| {
            let spec = JobSpec::parse(&format!("[formula]\n{f}\n")).expect("a valid spec");
            let (design, rw) = job::design_of(&spec, &survey, &survey_baseline).expect("a design");
            (*label, spec, design, rw)
        })
        .collect();
    let mut cv_t = vec![];
    for _ in 0..repeats {
        let t0 = Instant::now();
        for (_, spec, design, rw) in &kinds {
            let geo = Geography {
                weights: &sm.services.design_weight,
                regression_weights: rw,
                departement: &sm.services.departement,
                codes: &sm.departements.code,
                design: Some(&sm.services.design),
            };
            let cv = cross_validate(
                design,
                &geo,
                &sm.services.design.stratum,
                &calibration_options(spec),
                10,
                1,
                &|| false,
            )
            .expect("cross-validates");
            std::hint::black_box(cv);
        }
        cv_t.push(t0.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "bootstrap_1000": median(boot_t),
            "sweep": median(sweep_t),
            "sweep_scenarios": scenarios,
            "cv_every_kind": median(cv_t),
            "cv_kinds": kinds.len(),
            "survey_services": sm.services.len(),
            "services": p.micro.services.len(),
            "users": p.micro.users.len(),
            "parameters": d.k,
            "threads": rayon::current_num_threads(),
            "design": median(build),
            "fit_neutral": median(neutral),
            "fit_unconstrained": median(free_fit),
            "total": median(total),
            "bounds": median(bounds_t),
            "fit_guaranteed": median(guaranteed_t),
            "qp_parameters": median(qp_t),
            "bound_rows": ineq.len(),
            "binding": guaranteed.info.binding.len(),
            "polished": guaranteed.info.polished,
        })
    );
}

/// The embedded survey, validated.
fn survey_dataset() -> Dataset {
    let survey = dotation_server::data::embedded(&dotation_datasets::SurveyConfig::default())
        .expect("generates");
    let raw = match survey.tables {
        dotation_server::io::Tables::Memory(raw) => raw,
        dotation_server::io::Tables::Files(_) => unreachable!("generated in memory"),
    };
    dotation_core::validate::validate(&raw, &dotation_core::validate::ValidateOptions::default())
        .expect("a valid survey")
}
