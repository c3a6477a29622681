//! Writes the national calibration bench data as Parquet and times dotation's calibration
//! on it, for `benches/peer/calibrate.py`, which times statsmodels on the same data in the
//! same run and checks that both give the same parameters.
//!
//! Usage: `calibrate_peer DIR REPEATS` — writes `DIR/users.parquet`,
//! `DIR/services.parquet`, `DIR/design.parquet`, `DIR/parameters.parquet` (the fit without
//! neutrality, what statsmodels computes) and prints one JSON object of median seconds.

use std::time::Instant;

use dotation_benches::{BENCH_SPEC, NATIONAL_CALIBRATION, dataset, design, fit, prepare};
use dotation_core::schema::TableKind;
use dotation_server::io::Output;
use dotation_server::results;
use dotation_solver::spec::{JobSpec, Scope};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

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

    let mut out = Output::new(&dir).expect("output folder");
    let users = &raw.get(TableKind::Users).batches;
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
    out.commit().expect("commit");
    drop(raw);

    let (mut build, mut neutral, mut free_fit, mut total) = (vec![], vec![], vec![], vec![]);
    for _ in 0..repeats {
        let t0 = Instant::now();
        let d = design(&p, &spec);
        let t1 = Instant::now();
        let c = fit(&p, &spec, &d);
        let t2 = Instant::now();
        let u = fit(&p, &free, &d);
        let t3 = Instant::now();
        std::hint::black_box((&c, &u));
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
        })
    );
}
