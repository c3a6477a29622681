//! Writes the national calibration bench data as Parquet and times dotation's calibration
//! on it, for `benches/peer/calibrate.py`, which times statsmodels on the same data in the
//! same run and checks that both give the same parameters.
//!
//! Usage: `calibrate_peer DIR REPEATS` — writes `DIR/users.parquet`,
//! `DIR/services.parquet`, `DIR/design.parquet`, `DIR/parameters.parquet` (the fit without
//! neutrality, what statsmodels computes), `DIR/bounds.parquet` (the guarantees of
//! [`GUARANTEES`] as lower bounds on services' funding: `service_id`, `funding_min`) and
//! `DIR/parameters_guaranteed.parquet` (the fit under neutrality and those bounds, what a
//! QP solver computes), and prints one JSON object of median seconds.

use std::time::Instant;

use dotation_benches::{
    BENCH_SPEC, GUARANTEES, NATIONAL_CALIBRATION, dataset, design, fit, fit_constrained,
    guarantee_constraints, median, prepare,
};
use dotation_core::schema::TableKind;
use dotation_server::io::Output;
use dotation_server::results;
use dotation_solver::qp::solve_constrained;
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
    println!(
        "{}",
        serde_json::json!({
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
