//! The formula catalogue and budget-neutral calibration on the embedded synthetic survey:
//! the forfait recovers the costs of the known data-generating process within its
//! intervals; every formula holds neutrality to 1e-9, nationally and per département,
//! with the residual measured here from the funding it returns; every spec error says
//! what to change; the same spec gives the same bits on 1 or 2 threads.

use std::sync::OnceLock;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use dotation_core::Dataset;
use dotation_core::baseline::{Baseline, BaselineOptions, baseline};
use dotation_core::tables::Microdata;
use dotation_core::validate::ValidateOptions;
use dotation_datasets::{SurveyConfig, Truth};
use dotation_server::data::{LoadedData, embedded};
use dotation_server::jobs::{JobContext, JobOutput, run_spec};
use dotation_solver::calibrate::{Calibration, Geography, calibrate};
use dotation_solver::formula::{Design, DesignInput, build, regression_weights};
use dotation_solver::spec::JobSpec;
use dotation_solver::{CalibrationError, SolverError, SpecError};

pub(crate) struct Survey {
    pub(crate) data: LoadedData,
    pub(crate) micro: Microdata,
    pub(crate) drivers: std::sync::Arc<dotation_core::aggregate::Drivers>,
    pub(crate) baseline: Baseline,
    truth: Truth,
}

pub(crate) fn survey() -> &'static Survey {
    static SURVEY: OnceLock<Survey> = OnceLock::new();
    SURVEY.get_or_init(|| {
        let config = SurveyConfig::default();
        let data = embedded(&config).expect("generates");
        let Dataset { micro, drivers, .. } = data
            .validate(&ValidateOptions::default(), &|_| {})
            .expect("valid");
        let baseline = baseline(&micro, &drivers, &BaselineOptions::default()).expect("2026");
        let truth = dotation_datasets::survey(&config).expect("generates").truth;
        Survey {
            data,
            micro,
            drivers,
            baseline,
            truth,
        }
    })
}

/// The embedded survey as a validated dataset (for the solver's job API).
pub(crate) fn survey_dataset() -> Dataset {
    let s = survey();
    Dataset {
        micro: s.micro.clone(),
        drivers: s.drivers.clone(),
        margins: None,
    }
}

/// Parses a spec and calibrates it through the solver's API.
fn calibrate_spec(text: &str) -> Result<(Design, Calibration), CalibrationError> {
    let spec = JobSpec::parse(text)?;
    let s = survey();
    let input = DesignInput {
        micro: &s.micro,
        drivers: &s.drivers,
        baseline: &s.baseline,
    };
    let design = build(&input, &spec.formula)?;
    let rw = regression_weights(&input, &spec.formula, spec.calibration.variance.as_ref())?;
    let geo = Geography {
        weights: &s.micro.services.design_weight,
        regression_weights: &rw,
        departement: &s.micro.services.departement,
        codes: &s.micro.departements.code,
        design: Some(&s.micro.services.design),
    };
    let options = dotation_solver::job::calibration_options(&spec);
    let cal = calibrate(&design, &geo, &options, &|| false)?;
    Ok((design, cal))
}

fn error_of(text: &str) -> String {
    match calibrate_spec(text) {
        Ok(_) => panic!("the spec should fail:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Largest relative gap between weighted funding and baseline, computed here.
fn gap(design: &Design, funding: &[f64], by_departement: bool) -> f64 {
    let m = &survey().micro;
    let nd = if by_departement {
        m.departements.len()
    } else {
        1
    };
    let mut f = vec![0.0; nd];
    let mut b = vec![0.0; nd];
    for s in 0..design.n {
        let d = if by_departement {
            m.services.departement[s] as usize
        } else {
            0
        };
        let w = m.services.design_weight[s];
        f[d] += w * funding[s];
        b[d] += w * design.baseline[s];
    }
    f.iter()
        .zip(&b)
        .filter(|(_, b)| **b != 0.0)
        .map(|(f, b)| ((f - b) / b).abs())
        .fold(0.0, f64::max)
}

const FORMULAS: [(&str, &str); 7] = [
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

#[test]
fn every_formula_holds_neutrality_nationally_and_per_departement() {
    for (label, formula) in FORMULAS {
        for (scope, method, by_dep) in [
            ("national", "kkt", false),
            ("national", "point_values", false),
            ("departement", "point_values", true),
        ] {
            let text = format!(
                "[formula]\n{formula}\n[neutrality]\nscope = \"{scope}\"\n[calibration]\nmethod = \"{method}\""
            );
            let (design, cal) =
                calibrate_spec(&text).unwrap_or_else(|e| panic!("{label}, {scope}, {method}: {e}"));
            let g = gap(&design, &cal.funding, by_dep);
            assert!(g <= 1e-9, "{label}, {scope}, {method}: gap {g:e}");
            assert!(
                cal.neutrality_residual <= 1e-9,
                "{label}, {scope}, {method}: reported {:e}",
                cal.neutrality_residual
            );
            // The reported residual is the one measured.
            assert!(
                (cal.neutrality_residual - g).abs() <= 1e-12,
                "{label}: reported {:e}, measured {g:e}",
                cal.neutrality_residual
            );
        }
    }
}

#[test]
fn robust_and_median_losses_hold_neutrality_too() {
    for loss in ["huber", "median"] {
        let text = format!(
            "[formula]\ngroups = [\"allowance\", \"gir_band\"]\n[calibration]\nloss = \"{loss}\"\nbootstrap = 20"
        );
        let (design, cal) = calibrate_spec(&text).unwrap_or_else(|e| panic!("{loss}: {e}"));
        let g = gap(&design, &cal.funding, false);
        assert!(g <= 1e-9, "{loss}: gap {g:e}");
        assert!(cal.info.converged, "{loss} did not converge");
        assert!(
            cal.std_error.iter().all(|s| s.is_some_and(|s| s > 0.0)),
            "{loss}: standard errors {:?}",
            cal.std_error
        );
    }
}

#[test]
fn floors_and_caps_bind_and_neutrality_holds() {
    let text = "[formula]\nfloor_per_hour = 24.0\ncap_per_hour = 34.0\n[calibration]\nmethod = \"point_values\"\n[neutrality]\nscope = \"departement\"";
    let (design, cal) = calibrate_spec(text).expect("runs");
    assert!(gap(&design, &cal.funding, true) <= 1e-9);
    let mut at_floor = 0;
    for s in 0..design.n {
        if design.hours[s] == 0.0 {
            // A service without funded hours (PCH only: paid by the hour) gets nothing.
            assert_eq!(cal.funding[s], 0.0);
            continue;
        }
        let per_hour = cal.funding[s] / design.hours[s];
        assert!(
            (24.0 - 1e-9..=34.0 + 1e-9).contains(&per_hour),
            "{per_hour}"
        );
        if (per_hour - 24.0).abs() < 1e-9 {
            at_floor += 1;
        }
    }
    assert!(at_floor > 0, "the floor should bind somewhere");
}

/// The forfait by allowance × GIR band × entourage, paying every user against the whole
/// cost, is the data-generating process's grouping: its per-user-month estimates must
/// cover the DGP's implied costs (truth.json).
#[test]
fn forfait_recovers_the_costs_of_the_data_generating_process() {
    let text = "[formula]\nfunded = [\"APA\", \"PCH\", \"social_aid\", \"other\"]\nallow_pch = true\n[neutrality]\nscope = \"none\"";
    let (design, cal) = calibrate_spec(text).expect("runs");
    let truth = &survey().truth;
    let mut covered = 0;
    let mut z_max = 0.0f64;
    for g in &truth.groups {
        // truth "APA/1-2/low", "PCH/other/high"; groups "APA/1-2/low", "PCH/-/high".
        let name = format!("forfait[{}]", g.group.replace("/other/", "/-/"));
        let j = design
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no parameter {name} in {:?}", design.names));
        let est = cal.estimate[j];
        let se = cal.std_error[j].expect("a standard error");
        let (lo, hi) = (cal.ci_low[j].expect("ci"), cal.ci_high[j].expect("ci"));
        let truth = g.implied_cost_per_user_month;
        let z = (est - truth) / (se * se + g.implied_cost_std_error.powi(2)).sqrt();
        z_max = z_max.max(z.abs());
        if (lo..=hi).contains(&truth) {
            covered += 1;
        }
        eprintln!("{name}: estimate {est:.1} ± {se:.1}, truth {truth:.1}, z = {z:.2}");
    }
    // 95 % intervals: with 10 groups, at least 8 must cover, and none may be far off.
    assert!(covered >= 8, "{covered} of 10 intervals cover the truth");
    assert!(z_max < 3.5, "largest |z| {z_max}");
}

#[test]
fn spec_errors_say_what_to_change() {
    // Unknown formula: the parser names the value and the known ones.
    let e = error_of("[formula]\nkind = \"flat\"");
    assert!(e.contains("unknown variant `flat`"), "{e}");
    assert!(
        e.contains("forfait") && e.contains("populationnelle"),
        "{e}"
    );
    // Unknown key.
    let e = error_of("[formula]\nkind = \"forfait\"\ngroup = [\"gir_band\"]");
    assert!(
        e.contains("unknown field `group`") && e.contains("groups"),
        "{e}"
    );
    // Group on a missing attribute.
    let e = error_of("[formula]\ngroups = [\"allowance\", \"income\"]");
    assert!(
        e.contains("formula.groups")
            && e.contains("unknown user attribute \"income\"")
            && e.contains("gir_band"),
        "{e}"
    );
    // Empty group: a full crossing where APA users have no '-' GIR band.
    let e = error_of("[formula]\ngroups = [\"allowance\", \"gir_band\"]\ncrossing = \"full\"");
    assert!(
        e.contains("group APA/-")
            && e.contains("has no funded user-months")
            && e.contains("crossing = \"observed\""),
        "{e}"
    );
    // Empty band.
    let e = error_of(
        "[formula]\nfunded = [\"PCH\"]\nallow_pch = true\ngroups = [\"pch_band\"]\nbands = { pch_hours = [30, 70, 90, 500] }",
    );
    assert!(
        e.contains("band \"90-500\"") || e.contains("band \"500+\""),
        "{e}"
    );
    // A design that cannot identify a parameter: funded hours are the sum of the three.
    let e = error_of(
        "[formula]\nkind = \"globale\"\ndrivers = [\"hours_apa\", \"hours_pch\", \"hours_social_aid\", \"hours_funded\"]",
    );
    assert!(
        e.contains("cannot identify")
            && e.contains("globale[hours_funded]")
            && e.contains("globale[hours_apa]"),
        "{e}"
    );
    // Neutrality impossible: one budget per département with a handful of parameters.
    let e = error_of("[neutrality]\nscope = \"departement\"");
    assert!(
        e.contains("budget neutrality is impossible") && e.contains("method = \"point_values\""),
        "{e}"
    );
    // Inconsistent options.
    let e = error_of("[formula]\nkind = \"forfait\"\ndrivers = [\"users\"]");
    assert!(
        e.contains("formula.drivers") && e.contains("globale"),
        "{e}"
    );
    let e = error_of("[formula]\nfloor_per_hour = 20.0");
    assert!(e.contains("method = \"point_values\""), "{e}");
    let e = error_of("[formula]\nkind = \"mixte\"");
    assert!(e.contains("hourly_rate"), "{e}");
    let e = error_of("[formula]\nkind = \"globale\"\ndrivers = [\"beds\"]");
    assert!(
        e.contains("unknown service driver \"beds\"") && e.contains("travel_km"),
        "{e}"
    );
    assert!(matches!(
        JobSpec::parse("{\"formula\": {\"kind\": 3}}"),
        Err(SpecError::Syntax { format: "JSON", .. })
    ));
}

#[test]
fn not_identified_and_impossible_are_typed() {
    assert!(matches!(
        calibrate_spec("[formula]\nkind = \"globale\"\ndrivers = [\"users\", \"users\"]")
            .map(|_| ()),
        Err(CalibrationError::NotIdentified { .. })
    ));
    assert!(matches!(
        calibrate_spec("[neutrality]\nscope = \"departement\"").map(|_| ()),
        Err(CalibrationError::Solver(
            SolverError::NeutralityImpossible { .. }
        ))
    ));
}

pub(crate) fn job(text: &str) -> JobOutput {
    let spec = JobSpec::parse(text).expect("a valid spec");
    run_spec(&spec, &survey().data, &JobContext::detached()).expect("the job runs")
}

pub(crate) fn table<'a>(out: &'a JobOutput, name: &str) -> &'a RecordBatch {
    &out.tables
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no table {name}"))
        .1
}

#[test]
fn a_job_gives_the_contract_tables_and_the_same_bits_on_any_thread_count() {
    let text = "[formula]\ngroups = [\"allowance\", \"gir_band\", \"entourage\"]\n[calibration]\nloss = \"median\"\nbootstrap = 16";
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool")
        .install(|| job(text));
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a pool")
        .install(|| job(text));
    for ((n1, t1), (n2, t2)) in one.tables.iter().zip(&two.tables) {
        assert_eq!(n1, n2);
        assert_eq!(t1, t2, "table {n1} differs between 1 and 2 threads");
    }
    let p = table(&one, "parameters");
    for c in ["parameter", "estimate", "std_error", "ci_low", "ci_high"] {
        assert!(p.schema().column_with_name(c).is_some(), "parameters.{c}");
    }
    let s = table(&one, "services");
    for c in [
        "service_id",
        "departement",
        "habilitated",
        "baseline",
        "funding",
        "cost",
        "delta",
        "delta_pct",
        "coverage",
    ] {
        assert!(s.schema().column_with_name(c).is_some(), "services.{c}");
    }
    let d = table(&one, "departements");
    for c in [
        "departement",
        "baseline_total",
        "funding_total",
        "point_value",
        "residual",
    ] {
        assert!(d.schema().column_with_name(c).is_some(), "departements.{c}");
    }
    // delta = funding − baseline, row by row.
    let col = |name: &str| {
        s.column_by_name(name)
            .expect("a column")
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (f, b, delta) = (col("funding"), col("baseline"), col("delta"));
    for i in 0..s.num_rows() {
        assert_eq!(delta.value(i), f.value(i) - b.value(i));
    }
    let sum = &one.summary;
    for k in [
        "neutrality_scope",
        "neutrality_residual",
        "r2",
        "rmse",
        "mape",
        "within_10pct",
        "winners_5pct",
        "losers_5pct",
        "spec_hash",
        "data_hash",
        "version",
    ] {
        assert!(!sum[k].is_null(), "summary.{k}");
    }
    assert!(sum["neutrality_residual"].as_f64().expect("a number") <= 1e-9);
    assert_eq!(sum["spec_hash"], two.summary["spec_hash"]);
    assert!(
        d.column_by_name("point_value")
            .expect("a column")
            .null_count()
            == d.num_rows()
    );
}

/// A job run through the solver's API on a validated dataset gives the typed results the
/// server's tables and `summary.json` are made from, and `summary.json` reads back as the
/// typed summary.
#[test]
fn the_library_job_is_the_servers_and_its_summary_reads_back() {
    use dotation_solver::job::{self, JobResult, JobSummary, Summary};
    let s = survey();
    let dataset = survey_dataset();
    for text in [
        "kind = \"baseline\"",
        "[guarantees]\nconstrain = [\"nhas_price\"]\norder = [\"forfait[APA/1-2/low] >= forfait[APA/1-2/high]\"]",
    ] {
        let spec = JobSpec::parse(text).expect("a valid spec");
        let served = run_spec(&spec, &s.data, &JobContext::detached()).expect("the job runs");
        let direct = job::run(&spec, &dataset, None, &JobContext::detached())
            .expect("the job runs")
            .result;
        match (&served.result, &direct) {
            (JobResult::Baseline(a), JobResult::Baseline(b)) => {
                assert_eq!(a.baseline, b.baseline);
            }
            (JobResult::Calibration(a), JobResult::Calibration(b)) => {
                assert_eq!(a.calibration, b.calibration);
                assert_eq!(a.impact, b.impact);
                assert_eq!(a.users, b.users);
                assert_eq!(a.out_of_pocket, b.out_of_pocket);
                assert_eq!(a.guarantees, b.guarantees);
                let funding = table(&served, "services")
                    .column_by_name("funding")
                    .expect("a funding column")
                    .as_primitive::<Float64Type>()
                    .values()
                    .to_vec();
                // The services' whole funding: the formula's and the hours carried.
                let whole: Vec<f64> = (0..b.design.n)
                    .map(|i| b.calibration.funding[i] + b.design.carried[i])
                    .collect();
                assert_eq!(funding, whole);
            }
            _ => panic!("the same kind of job"),
        }
        let summary: Summary =
            serde_json::from_value(served.summary.clone()).expect("summary.json is a Summary");
        assert_eq!(summary.job, direct.summary());
        assert_eq!(summary.provenance.data, s.data.description);
        assert_eq!(
            serde_json::to_value(&summary).expect("JSON"),
            served.summary,
            "summary.json round-trips through the typed summary"
        );
        if let JobSummary::Calibrate(c) = &summary.job {
            assert_eq!(c.constraints.asked, ["nhas_price"]);
            assert_eq!(c.constraints.order.len(), 1);
        }
    }
}
