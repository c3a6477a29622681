//! Survey weights calibrated to known totals by raking, in the process (no process start,
//! no file): the cost of `calibrate_dataset` — the auxiliary variables from the services
//! and one pass over their users, the feasibility check, the Newton iterations — on the
//! same two cases as `benches/peer/weights_bench.sh`.
//!
//! - national: the national frame without visits (6,314 services, ~783k users), generated
//!   in memory and validated once; design weights 1 × exp(N(0, 0.3²)) per service
//!   (ChaCha8, seed 1: the distribution of the peer script's perturbation, not its
//!   draws), rescaled to sum to the number of services; margins the TRUE frame's totals
//!   (weight 1) of `departement*habilitated` (every crossing that has a service),
//!   `status`, `hours_apa`, `hours_pch`, `users:gir=1…4` and `users` (208 rows);
//! - survey: the embedded survey (437 services) with its design weights and
//!   `tests/reference/weights/margins.csv` (13 rows).
//!
//! Raking, no bounds, at most 100 iterations, tolerance 1e-12 (the CLI's defaults).
//! `weights/auxiliary/…` times the auxiliary variables alone (part of the calibration).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray};
use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use dotation_core::Dataset;
use dotation_core::margins::Category;
use dotation_core::schema::TableKind;
use dotation_core::validate::{Source, ValidateOptions, check_margins, validate};
use dotation_datasets::{Scale, SurveyConfig};
use dotation_server::io::Tables;
use dotation_solver::job::calibrate_dataset;
use dotation_solver::spec::WeightsSpec;
use dotation_solver::weights::Method;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Spread of the log-perturbation of the national frame's design weights.
const SIGMA: f64 = 0.3;

/// A dataset generated in memory and validated.
fn generated(scale: Scale) -> Dataset {
    let config = SurveyConfig {
        scale,
        visits: false,
        ..Default::default()
    };
    let raw = match dotation_server::data::embedded(&config)
        .expect("generates")
        .tables
    {
        Tables::Memory(raw) => raw,
        Tables::Files(_) => unreachable!("generated in memory"),
    };
    validate(&raw, &ValidateOptions::default()).expect("valid generated data")
}

/// A row of the margins table: margin, variable, level, total.
type Row = (String, String, Option<String>, f64);

/// The margins table's batch.
fn margins_batch(rows: &[Row]) -> RecordBatch {
    let text = |f: fn(&Row) -> Option<&str>| Arc::new(rows.iter().map(f).collect::<StringArray>());
    RecordBatch::try_new(
        TableKind::Margins.schema(),
        vec![
            text(|r| Some(r.0.as_str())),
            text(|r| Some(r.1.as_str())),
            text(|r| r.2.as_deref()),
            Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()),
        ],
    )
    .expect("the margins schema")
}

/// The national frame with perturbed design weights, raked to its true totals.
fn national() -> Dataset {
    let mut data = generated(Scale::National);
    let m = &data.micro;
    let n = m.services.len();
    let cells: BTreeSet<String> = (0..n)
        .map(|s| {
            format!(
                "{}*{}",
                Category::Departement.level_of(m, s),
                Category::Habilitated.level_of(m, s)
            )
        })
        .collect();
    let statuses: BTreeSet<&str> = (0..n).map(|s| Category::Status.level_of(m, s)).collect();
    let mut rows: Vec<Row> = cells
        .into_iter()
        .map(|c| {
            (
                "departement_habilitated".into(),
                "departement*habilitated".into(),
                Some(c),
                0.0,
            )
        })
        .collect();
    rows.extend(
        statuses
            .into_iter()
            .map(|s| ("status".into(), "status".into(), Some(s.to_string()), 0.0)),
    );
    for v in ["hours_apa", "hours_pch"] {
        rows.push((v.into(), v.into(), None, 0.0));
    }
    for k in 1..=4 {
        rows.push(("users_gir".into(), format!("users:gir={k}"), None, 0.0));
    }
    rows.push(("users".into(), "users".into(), None, 0.0));
    // The totals: Σ x over the frame (every weight 1), before the perturbation.
    assert!(m.services.design_weight.iter().all(|&w| w == 1.0));
    let source = Source::new("margins", vec![margins_batch(&rows)]);
    let mut margins =
        check_margins(&source, m, &ValidateOptions::default()).expect("valid margins");
    let x = margins.auxiliary(m);
    let p = margins.len();
    for (j, row) in margins.rows.iter_mut().enumerate() {
        row.total = (0..n).map(|s| x[s * p + j]).sum();
    }
    data.margins = Some(margins);

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut w: Vec<f64> = (0..n)
        .map(|_| {
            // Box–Muller: one standard normal from two uniforms in (0, 1].
            let u1: f64 = 1.0 - rng.random_range(0.0..1.0);
            let u2: f64 = rng.random_range(0.0..1.0);
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (SIGMA * z).exp()
        })
        .collect();
    let scale = n as f64 / w.iter().sum::<f64>();
    w.iter_mut().for_each(|v| *v *= scale);
    data.micro.services.design_weight = w;
    data
}

/// The embedded survey with the reference margins (the frame's totals).
fn survey() -> Dataset {
    let mut data = generated(Scale::Survey);
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/weights/margins.csv");
    let source = dotation_server::io::read_table_as(
        &path,
        dotation_server::io::Format::Csv,
        &path.display().to_string(),
    )
    .expect("readable margins");
    data.margins =
        Some(check_margins(&source, &data.micro, &ValidateOptions::default()).expect("valid"));
    data
}

fn weights(c: &mut Criterion) {
    let spec = WeightsSpec {
        method: Method::Raking,
        bounds: None,
        max_iterations: 100,
        tolerance: 1e-12,
    };
    let mut group = c.benchmark_group("weights");
    group.sample_size(10);
    // Flat: the same number of calls in each sample (the national case takes ~0.2 s).
    group.sampling_mode(SamplingMode::Flat);
    for (name, data) in [("national", national()), ("survey", survey())] {
        let job = calibrate_dataset(&spec, &data).expect("calibrates");
        eprintln!(
            "weights/{name}: {} services, {} margins, {} iterations, largest residual {:.1e}",
            job.summary.services,
            job.summary.margins,
            job.summary.iterations,
            job.summary.largest_residual
        );
        group.bench_with_input(BenchmarkId::new("raking", name), &data, |b, d| {
            b.iter(|| calibrate_dataset(&spec, d).expect("calibrates"))
        });
        let margins = data.margins.as_ref().expect("margins");
        group.bench_with_input(BenchmarkId::new("auxiliary", name), &data, |b, d| {
            b.iter(|| margins.auxiliary(&d.micro))
        });
    }
    group.finish();
}

criterion_group!(benches, weights);
criterion_main!(benches);
