//! Visit aggregation at survey scale (1.2 M visits) and at ten million visits: the fused
//! driver kernel alone, and validation (key resolution, type and rule checks) that
//! precedes it. Inputs are built once, outside the timed loops.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dotation_benches::{Size, dataset};
use dotation_core::aggregate::Drivers;
use dotation_core::validate::{ValidateOptions, validate};

fn aggregate(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregate");
    group.sample_size(10);
    for (name, size) in [("survey", Size::SURVEY), ("10M", Size::TEN_MILLION)] {
        let raw = dataset(size, 42);
        let m = validate(&raw, &ValidateOptions::default()).expect("valid bench data");
        group.throughput(Throughput::Elements(size.visits as u64));
        group.bench_with_input(BenchmarkId::new("drivers", name), &m, |b, m| {
            b.iter(|| Drivers::compute(m))
        });
        group.bench_with_input(BenchmarkId::new("validate", name), &raw, |b, raw| {
            b.iter(|| validate(raw, &ValidateOptions::default()).expect("valid"))
        });
    }
    group.finish();
}

criterion_group!(benches, aggregate);
criterion_main!(benches);
