//! Bench inputs built outside the timed loops: a seeded synthetic dataset of any size, with
//! string keys like real files (services, users, visits sorted by service then user, as
//! télégestion exports are), usable both in memory and written as Parquet for peers.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use dotation_core::schema::TableKind;
use dotation_core::validate::{RawDataset, Source};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sizes of a bench dataset.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Services.
    pub services: usize,
    /// Users (spread evenly over services).
    pub users: usize,
    /// Visits (spread evenly over users).
    pub visits: usize,
}

impl Size {
    /// The ENC SAD survey: 437 services, about 100k users and 1.2M visits over two weeks.
    pub const SURVEY: Size = Size {
        services: 437,
        users: 100_000,
        visits: 1_200_000,
    };
    /// Ten million visits over the national frame's 6,300 services and 800k users.
    pub const TEN_MILLION: Size = Size {
        services: 6_300,
        users: 800_000,
        visits: 10_000_000,
    };
}

const BATCH: usize = 1 << 16;

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), a.null_count() > 0))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("consistent columns")
}

/// A seeded dataset of the given size (year 2026, one département, HAS services).
pub fn dataset(size: Size, seed: u64) -> RawDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dept = batch(vec![
        (
            "departement",
            Arc::new(StringArray::from(vec!["01"])) as ArrayRef,
        ),
        ("name", Arc::new(StringArray::from(vec!["Ain"]))),
        ("year", Arc::new(Int32Array::from(vec![2026]))),
        ("tarif_reference", Arc::new(Float64Array::from(vec![24.0]))),
        ("pop_60_plus", Arc::new(Int64Array::from(vec![158_736]))),
        ("pop_75_plus", Arc::new(Int64Array::from(vec![54_283]))),
        ("apa_domicile", Arc::new(Int64Array::from(vec![5_556]))),
        ("pch", Arc::new(Int64Array::from(vec![3_828]))),
    ]);
    let n = size.services;
    let sid: Vec<String> = (0..n).map(|s| format!("S{s:05}")).collect();
    let f = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let hours: Vec<f64> = (0..n)
        .map(|_| rng.random_range(5_000.0..200_000.0))
        .collect();
    let cost: Vec<f64> = hours.iter().map(|h| h * 30.0).collect();
    let services = batch(vec![
        (
            "service_id",
            Arc::new(StringArray::from(sid.clone())) as ArrayRef,
        ),
        ("departement", Arc::new(StringArray::from(vec!["01"; n]))),
        ("status", Arc::new(StringArray::from(vec!["associatif"; n]))),
        ("habilitated", Arc::new(BooleanArray::from(vec![true; n]))),
        ("mixed", Arc::new(BooleanArray::from(vec![false; n]))),
        ("design_weight", f(vec![1.0; n])),
        ("hours_apa", f(hours.clone())),
        ("hours_pch", f(vec![0.0; n])),
        ("hours_social_aid", f(vec![0.0; n])),
        ("hours_other", f(vec![0.0; n])),
        ("tariff_hourly", f(vec![26.0; n])),
        ("price_billed", Arc::new(Float64Array::from(vec![None; n]))),
        ("dotation_complementaire", f(vec![0.0; n])),
        ("cost_g1", f(cost.iter().map(|c| c * 0.05).collect())),
        ("cost_g2", f(cost.iter().map(|c| c * 0.85).collect())),
        ("cost_g3", f(cost.iter().map(|c| c * 0.10).collect())),
        (
            "cost_total",
            f(cost
                .iter()
                .map(|c| c * 0.05 + c * 0.85 + c * 0.10)
                .collect()),
        ),
        ("fte_carers", f(hours.iter().map(|h| h / 1_607.0).collect())),
        ("fte_support", f(vec![1.0; n])),
    ]);
    let m = size.users;
    let uid: Vec<String> = (0..m).map(|u| format!("U{u:07}")).collect();
    let user_service: Vec<usize> = (0..m).map(|u| u * n / m).collect();
    let gir: Vec<i32> = (0..m).map(|_| rng.random_range(1..=4)).collect();
    let users = batch(vec![
        (
            "user_id",
            Arc::new(StringArray::from(uid.clone())) as ArrayRef,
        ),
        (
            "service_id",
            Arc::new(StringArray::from_iter_values(
                user_service.iter().map(|&s| sid[s].as_str()),
            )),
        ),
        ("allowance", Arc::new(StringArray::from(vec!["APA"; m]))),
        ("gir", Arc::new(Int32Array::from(gir))),
        (
            "plan_hours_month",
            f((0..m).map(|_| rng.random_range(5.0..60.0)).collect()),
        ),
        (
            "plan_amount_month",
            f((0..m).map(|_| rng.random_range(100.0..800.0)).collect()),
        ),
        (
            "pch_hours_month",
            Arc::new(Float64Array::from(vec![None; m])),
        ),
        (
            "resources_month",
            f((0..m).map(|_| rng.random_range(700.0..4_000.0)).collect()),
        ),
        ("couple", Arc::new(BooleanArray::from(vec![false; m]))),
        (
            "entourage",
            Arc::new(Int32Array::from(
                (0..m).map(|u| (u % 4) as i32).collect::<Vec<_>>(),
            )),
        ),
        (
            "zone",
            Arc::new(StringArray::from_iter_values(
                (0..m).map(|u| ["urban", "periurban", "rural", "mountain"][u % 4]),
            )),
        ),
        ("months_served", f(vec![12.0; m])),
    ]);
    // Visits: sorted by service then user, two weeks from Monday 15 June 2026.
    let t0 = 1_781_481_600_000_000i64; // 2026-06-15T00:00:00
    let slots = ["weekday", "evening", "sunday_holiday", "night"];
    let quals = ["A", "B", "C"];
    let mut visits = Vec::new();
    let mut done = 0;
    while done < size.visits {
        let len = BATCH.min(size.visits - done);
        let users_of = |i: usize| (done + i) * m / size.visits;
        let u: Vec<usize> = (0..len).map(users_of).collect();
        visits.push(batch(vec![
            (
                "user_id",
                Arc::new(StringArray::from_iter_values(
                    u.iter().map(|&u| uid[u].as_str()),
                )) as ArrayRef,
            ),
            (
                "service_id",
                Arc::new(StringArray::from_iter_values(
                    u.iter().map(|&u| sid[user_service[u]].as_str()),
                )),
            ),
            (
                "start",
                Arc::new(TimestampMicrosecondArray::from(
                    (0..len)
                        .map(|_| t0 + rng.random_range(0..14 * 86_400i64) * 1_000_000)
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "duration_min",
                f((0..len).map(|_| rng.random_range(15.0..180.0)).collect()),
            ),
            (
                "travel_min",
                f((0..len).map(|_| rng.random_range(0.0..40.0)).collect()),
            ),
            (
                "travel_km",
                f((0..len).map(|_| rng.random_range(0.0..30.0)).collect()),
            ),
            (
                "slot",
                Arc::new(StringArray::from_iter_values(
                    (0..len).map(|_| slots[rng.random_range(0..4)]),
                )),
            ),
            (
                "carers",
                Arc::new(Int32Array::from(
                    (0..len)
                        .map(|_| if rng.random_bool(0.05) { 2 } else { 1 })
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "qualification",
                Arc::new(StringArray::from_iter_values(
                    (0..len).map(|_| quals[rng.random_range(0..3)]),
                )),
            ),
        ]));
        done += len;
    }
    debug_assert_eq!(
        visits[0]
            .schema()
            .field_with_name("start")
            .map(|f| f.data_type().clone())
            .ok(),
        Some(DataType::Timestamp(TimeUnit::Microsecond, None))
    );
    let mut raw = RawDataset::default();
    for (t, b) in [
        (TableKind::Departements, vec![dept]),
        (TableKind::Services, vec![services]),
        (TableKind::Users, vec![users]),
        (TableKind::Visits, visits),
    ] {
        *raw.get_mut(t) = Source::new(format!("bench/{}", t.name()), b);
    }
    raw
}

/// The national frame for calibration benches: 6,300 services, 800,000 users (visits only
/// feed the drivers: 1.6 M of them).
pub const NATIONAL_CALIBRATION: Size = Size {
    services: 6_300,
    users: 800_000,
    visits: 1_600_000,
};

/// The spec timed by the calibration benches: a forfait on 32 groups (GIR × entourage
/// level × rurality), national neutrality, weighted least squares, clustered errors.
pub const BENCH_SPEC: &str =
    "[formula]\nfunded = [\"APA\"]\ngroups = [\"gir\", \"entourage_level\", \"rurality\"]\n";

/// The guarantees timed by the constrained benches: no user's out-of-pocket rises and no
/// service loses more than half its baseline, as constraints of the fit.
pub const GUARANTEES: &str =
    "[guarantees]\nconstrain = [\"out_of_pocket\", \"transition\"]\ntransition_limit = 0.5\n";

/// The guaranteed spec of the survey-scale benches: the default forfait (allowance × GIR
/// band × entourage) under the out-of-pocket guarantee.
pub const SURVEY_GUARANTEES: &str = "[guarantees]\nconstrain = [\"out_of_pocket\"]\n";

/// Validated microdata with its drivers and baseline: what every calibration starts from.
#[derive(Debug)]
pub struct Prepared {
    /// The microdata.
    pub micro: dotation_core::tables::Microdata,
    /// Its drivers.
    pub drivers: std::sync::Arc<dotation_core::aggregate::Drivers>,
    /// Today's funding.
    pub baseline: dotation_core::baseline::Baseline,
}

/// Validates, aggregates and computes the baseline of a raw dataset.
pub fn prepare(raw: &RawDataset) -> Prepared {
    use dotation_core::validate::{ValidateOptions, validate};
    let dotation_core::Dataset { micro, drivers, .. } =
        validate(raw, &ValidateOptions::default()).expect("valid bench data");
    let baseline = dotation_core::baseline::baseline(
        &micro,
        &drivers,
        &dotation_core::baseline::BaselineOptions::default(),
    )
    .expect("a known year");
    Prepared {
        micro,
        drivers,
        baseline,
    }
}

/// Builds the design of a spec on prepared data.
pub fn design(
    p: &Prepared,
    spec: &dotation_solver::spec::JobSpec,
) -> dotation_solver::formula::Design {
    let input = dotation_solver::formula::DesignInput {
        micro: &p.micro,
        drivers: &p.drivers,
        baseline: &p.baseline,
    };
    dotation_solver::formula::build(&input, &spec.formula).expect("a valid design")
}

/// Calibrates a design on prepared data.
pub fn fit(
    p: &Prepared,
    spec: &dotation_solver::spec::JobSpec,
    design: &dotation_solver::formula::Design,
) -> dotation_solver::calibrate::Calibration {
    fit_constrained(p, spec, design, &Default::default())
}

/// The guarantees of a spec as lower bounds on services' funding and as inequalities of a
/// design's parameters (the users' out-of-pocket terms gathered first).
pub fn guarantee_constraints(
    p: &Prepared,
    spec: &dotation_solver::spec::JobSpec,
    design: &dotation_solver::formula::Design,
) -> (
    Vec<dotation_solver::guarantees::FundingBound>,
    dotation_solver::qp::Inequalities,
) {
    let oop = dotation_core::out_of_pocket::OutOfPocket::new(&p.micro, &p.drivers, &p.baseline)
        .expect("a known year");
    let input = dotation_solver::guarantees::GuaranteeInput {
        micro: &p.micro,
        design,
        oop: &oop,
    };
    let bounds = dotation_solver::guarantees::bounds(&input, &spec.guarantees).expect("guarantees");
    let ineq = dotation_solver::guarantees::inequalities(&input, &bounds);
    (bounds, ineq)
}

/// Calibrates a design under given guarantee constraints.
pub fn fit_constrained(
    p: &Prepared,
    spec: &dotation_solver::spec::JobSpec,
    design: &dotation_solver::formula::Design,
    constraints: &dotation_solver::qp::Inequalities,
) -> dotation_solver::calibrate::Calibration {
    let geo = dotation_solver::calibrate::Geography {
        weights: &p.micro.services.design_weight,
        regression_weights: &p.micro.services.design_weight,
        departement: &p.micro.services.departement,
        codes: &p.micro.departements.code,
        design: Some(&p.micro.services.design),
    };
    let mut options = dotation_solver::job::calibration_options(spec);
    options.constraints = constraints.clone();
    dotation_solver::calibrate::calibrate(design, &geo, &options, &|| false).expect("calibrates")
}

/// Median of timings (the upper middle for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Every formula kind of the catalogue (the cross-validation bench): `(label, [formula])`.
pub const CATALOGUE: [(&str, &str); 7] = [
    ("forfait", "kind = \"forfait\""),
    (
        "forfait, separate regimes, weeks",
        "kind = \"forfait\"\nregimes = \"separate\"\nunit = \"user_week\"\ngroups = [\"gir_band\", \"weekend_evening\"]",
    ),
    (
        "socle_variable",
        "kind = \"socle_variable\"\nsocle = \"fte_carers\"\ngroups = [\"allowance\", \"gir_band\"]",
    ),
    (
        "point",
        "kind = \"point\"\npoints = { entourage = [1.1, 1.05, 1.0, 0.95] }",
    ),
    (
        "globale",
        "kind = \"globale\"\ndrivers = [\"hours_weekday\", \"hours_evening\", \"hours_sunday_holiday\", \"travel_km\", \"users\", \"fte_carers\"]",
    ),
    (
        "populationnelle",
        "kind = \"populationnelle\"\ndrivers = [\"pop_75_plus\", \"apa_domicile\", \"pch\"]\nshare = \"hours\"",
    ),
    (
        "mixte",
        "kind = \"mixte\"\nhourly_rate = 12.0\nflat = \"forfait\"\ngroups = [\"allowance\", \"gir_band\"]",
    ),
];

/// The sweep bench's grid: 101 budget changes (−5 % … +5 %) × 99 transition limits
/// (0.01 … 0.99) = 9,999 scenarios.
pub fn sweep_grid() -> String {
    let budgets: Vec<String> = (0..=100)
        .map(|i| format!("{}", -5.0 + 0.1 * i as f64))
        .collect();
    let limits: Vec<String> = (1..100).map(|i| format!("{}", 0.01 * i as f64)).collect();
    format!(
        "[sweep]\ngrid = {{ budget_change_percent = [{}], transition_limit = [{}] }}\n",
        budgets.join(", "),
        limits.join(", ")
    )
}
