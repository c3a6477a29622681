//! Visits validated and aggregated: at survey scale (1.2 M visits) and at ten million
//! visits, in memory (every contract rule, key resolution, the fold into drivers) and
//! streamed from a Parquet file (decoding included, the product's path); and the vector
//! kernels of validation on each instruction set the CPU offers, to show what the AVX2
//! path buys over the baseline build. Inputs are built once, outside the timed loops.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dotation_benches::{Size, dataset};
use dotation_core::schema::TableKind;
use dotation_core::simd::{self, Isa};
use dotation_core::validate::{ValidateOptions, validate};
use dotation_server::data::load;
use dotation_server::io::Output;

fn aggregate(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregate");
    group.sample_size(10);
    for (name, size) in [("survey", Size::SURVEY), ("10M", Size::TEN_MILLION)] {
        let raw = dataset(size, 42);
        group.throughput(Throughput::Elements(size.visits as u64));
        group.bench_with_input(
            BenchmarkId::new("validate_in_memory", name),
            &raw,
            |b, raw| b.iter(|| validate(raw, &ValidateOptions::default()).expect("valid")),
        );
        let dir = std::env::temp_dir().join(format!("dotation-bench-aggregate-{name}"));
        let mut out = Output::new(&dir).expect("a folder");
        for t in TableKind::ALL {
            let src = raw.get(t).expect("every table");
            let mut w = out
                .parquet_writer(&format!("{}.parquet", t.name()), src.batches[0].schema())
                .expect("writer");
            for batch in &src.batches {
                w.write(batch).expect("write");
            }
            w.close().expect("close");
        }
        out.commit().expect("commit");
        drop(raw);
        let data = load(Some(&dir)).expect("a dataset folder");
        group.bench_with_input(
            BenchmarkId::new("validate_streamed", name),
            &data,
            |b, data| {
                b.iter(|| {
                    data.validate(&ValidateOptions::default(), &|_| {})
                        .expect("valid")
                })
            },
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("simd");
    const N: usize = 1 << 22;
    let values: Vec<f64> = (0..N).map(|i| (i % 1000) as f64 * 0.7).collect();
    let starts: Vec<i64> = (0..N as i64).map(|i| (i * 7919) % 1_000_003).collect();
    let owner: Vec<u32> = (0..800_000u32).map(|u| u / 127).collect();
    let users: Vec<u32> = (0..N as u32).map(|i| (i / 25) % 800_000).collect();
    let services: Vec<u32> = users.iter().map(|&u| owner[u as usize]).collect();
    let table: Vec<u32> = (0..5_000u32).collect();
    let keys: Vec<u32> = (0..N as u32).map(|i| (i / 25) % 5_000).collect();
    group.throughput(Throughput::Elements(N as u64));
    for isa in Isa::available() {
        let id = format!("{isa:?}");
        group.bench_function(BenchmarkId::new("all_in_range", &id), |b| {
            b.iter(|| simd::all_in_range_with(isa, &values, 0.0, 1440.0))
        });
        group.bench_function(BenchmarkId::new("min_max", &id), |b| {
            b.iter(|| simd::min_max_with(isa, &starts))
        });
        group.bench_function(BenchmarkId::new("all_owned", &id), |b| {
            b.iter(|| simd::all_owned_with(isa, &owner, &users, &services))
        });
        let mut out = Vec::new();
        group.bench_function(BenchmarkId::new("gather_below", &id), |b| {
            b.iter(|| simd::gather_below_with(isa, &table, &keys, u32::MAX - 1, &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, aggregate, kernels);
criterion_main!(benches);
