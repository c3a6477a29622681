//! One calibration at survey scale (the embedded synthetic survey: 437 services, 132k
//! users) and at national scale (6,300 services, 800,000 users): building the formula's
//! design from the users (the one pass over the microdata) and the fit under national
//! neutrality with clustered standard errors; then the guarantees as bounds on the
//! services' funding, and the fit under them (a quadratic program). Nationally the bench
//! spec with [`GUARANTEES`] (every user's out-of-pocket, a 50 % transition limit); on the
//! survey, whose sample has services the APA-only bench formula does not reach (so those
//! guarantees cannot hold there), the default forfait with [`SURVEY_GUARANTEES`]. Inputs
//! are validated and aggregated once, outside the timed loops.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dotation_benches::{
    BENCH_SPEC, GUARANTEES, NATIONAL_CALIBRATION, SURVEY_GUARANTEES, dataset, design, fit,
    fit_constrained, guarantee_constraints, prepare,
};
use dotation_solver::spec::JobSpec;

fn calibrate(c: &mut Criterion) {
    let mut group = c.benchmark_group("calibrate");
    group.sample_size(20);
    let spec = JobSpec::parse(BENCH_SPEC).expect("a valid spec");
    let national_guaranteed =
        JobSpec::parse(&format!("{BENCH_SPEC}{GUARANTEES}")).expect("a valid spec");
    let survey_guaranteed = JobSpec::parse(SURVEY_GUARANTEES).expect("a valid spec");
    let survey = dotation_server::data::embedded(&dotation_datasets::SurveyConfig::default())
        .expect("generates");
    for (name, raw) in [
        (
            "survey",
            match survey.tables {
                dotation_server::io::Tables::Memory(raw) => raw,
                dotation_server::io::Tables::Files(_) => unreachable!("generated in memory"),
            },
        ),
        ("national", dataset(NATIONAL_CALIBRATION, 42)),
    ] {
        let p = prepare(&raw);
        drop(raw);
        group.throughput(Throughput::Elements(p.micro.users.len() as u64));
        group.bench_with_input(BenchmarkId::new("design+fit", name), &p, |b, p| {
            b.iter(|| fit(p, &spec, &design(p, &spec)))
        });
        let d = design(&p, &spec);
        group.bench_with_input(BenchmarkId::new("fit", name), &p, |b, p| {
            b.iter(|| fit(p, &spec, &d))
        });
        let guaranteed = if name == "survey" {
            &survey_guaranteed
        } else {
            &national_guaranteed
        };
        let d = design(&p, guaranteed);
        group.bench_with_input(BenchmarkId::new("guarantee bounds", name), &p, |b, p| {
            b.iter(|| guarantee_constraints(p, guaranteed, &d))
        });
        let (_, ineq) = guarantee_constraints(&p, guaranteed, &d);
        group.bench_with_input(
            BenchmarkId::new("fit under guarantees", name),
            &p,
            |b, p| b.iter(|| fit_constrained(p, guaranteed, &d, &ineq)),
        );
    }
    group.finish();
}

criterion_group!(benches, calibrate);
criterion_main!(benches);
