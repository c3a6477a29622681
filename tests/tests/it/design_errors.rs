//! Design-based standard errors against R's `survey` package
//! (`tests/reference/design/design_reference.R`): linearisation and stratified-jackknife
//! errors of the weighted least-squares fit, without neutrality and with the national
//! neutrality equality, on a small stratified example and on the embedded survey's
//! design, matched at 1e-8 relative. The bootstrap: same seed, same bits on 1 and 2
//! threads, and standard errors within Monte-Carlo reach of the jackknife's.

use std::collections::HashMap;
use std::path::PathBuf;

use dotation_core::tables::SurveyDesign;
use dotation_solver::calibrate::{Calibration, Geography, Options, calibrate};
use dotation_solver::formula::Design;
use dotation_solver::qp::Inequalities;
use dotation_solver::spec::{Cluster, JobSpec, Loss, Method, Scope, StdErrors};

use crate::close;
use crate::formulas::survey;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reference/design")
}

/// An example of `tests/reference/design/`: its design, weights, départements and strata.
pub(crate) struct Example {
    pub(crate) design: Design,
    pub(crate) weights: Vec<f64>,
    pub(crate) departement: Vec<u32>,
    pub(crate) codes: Vec<String>,
    pub(crate) survey: SurveyDesign,
}

fn fields(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim_matches('"').to_string())
        .collect()
}

pub(crate) fn example(name: &str) -> Example {
    let text = std::fs::read_to_string(dir().join(format!("{name}.csv"))).expect("an example");
    let mut lines = text.lines();
    let header = fields(lines.next().expect("a header"));
    let col = |c: &str| header.iter().position(|h| h == c).expect("a column");
    let xs: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].starts_with('x'))
        .collect();
    let k = xs.len();
    let mut ex = Example {
        design: Design {
            names: xs.iter().map(|&i| header[i].clone()).collect(),
            units: vec!["€".into(); k],
            n: 0,
            k,
            x: Vec::new(),
            offset: Vec::new(),
            cost: Vec::new(),
            baseline: Vec::new(),
            carried: Vec::new(),
            target: Vec::new(),
            hours: Vec::new(),
            groups: Vec::new(),
        },
        weights: Vec::new(),
        departement: Vec::new(),
        codes: Vec::new(),
        survey: SurveyDesign::default(),
    };
    let mut population = Vec::new();
    let number = |f: &str| f.parse::<f64>().expect("a number");
    for line in lines {
        let f = fields(line);
        let d = &mut ex.design;
        d.n += 1;
        d.x.extend(xs.iter().map(|&i| number(&f[i])));
        d.offset.push(0.0);
        d.cost.push(number(&f[col("y")]));
        d.baseline.push(number(&f[col("b")]));
        d.carried.push(0.0);
        d.target.push(number(&f[col("b")]));
        d.hours.push(1.0);
        ex.weights.push(number(&f[col("weight")]));
        let code = &f[col("departement")];
        let dep = ex.codes.iter().position(|c| c == code).unwrap_or_else(|| {
            ex.codes.push(code.clone());
            ex.codes.len() - 1
        });
        ex.departement.push(dep as u32);
        let stratum = &f[col("stratum")];
        let h = ex
            .survey
            .strata
            .iter()
            .position(|s| s == stratum)
            .unwrap_or_else(|| {
                ex.survey.strata.push(stratum.clone());
                population.push(number(&f[col("fpc")]));
                ex.survey.strata.len() - 1
            });
        ex.survey.stratum.push(h as u32);
    }
    ex.survey.population = Some(population);
    ex
}

/// `name → values` of an example's R reference.
fn reference(name: &str) -> HashMap<String, Vec<f64>> {
    let text =
        std::fs::read_to_string(dir().join(format!("{name}_reference.csv"))).expect("a reference");
    let mut out: HashMap<String, Vec<f64>> = HashMap::new();
    for line in text.lines().skip(1) {
        let f = fields(line);
        out.entry(f[0].clone())
            .or_default()
            .push(f[2].parse().expect("a number"));
    }
    out
}

pub(crate) fn options(scope: Scope, std_errors: StdErrors) -> Options {
    Options {
        scope,
        method: Method::Kkt,
        loss: Loss::Wls,
        huber_t: 1.345,
        std_errors,
        cluster: Cluster::Service,
        confidence: 0.95,
        bootstrap: 1000,
        seed: 2026,
        mse: false,
        with_errors: true,
        floor_per_hour: None,
        cap_per_hour: None,
        constraints: Inequalities::default(),
    }
}

pub(crate) fn fit(ex: &Example, o: &Options) -> Calibration {
    let geo = Geography {
        weights: &ex.weights,
        regression_weights: &ex.weights,
        departement: &ex.departement,
        codes: &ex.codes,
        design: Some(&ex.survey),
    };
    calibrate(&ex.design, &geo, o, &|| false).expect("calibrates")
}

fn assert_matches(name: &str) {
    let ex = example(name);
    let r = reference(name);
    for (scope, tag) in [(Scope::None, "free"), (Scope::National, "nat")] {
        for (errors, se_tag) in [(StdErrors::Design, "lin"), (StdErrors::Jackknife, "jk")] {
            let c = fit(&ex, &options(scope, errors));
            let theta = &r[&format!("theta_{tag}")];
            let se = &r[&format!("se_{se_tag}_{tag}")];
            for j in 0..ex.design.k {
                assert!(
                    close(c.estimate[j], theta[j], 1e-9),
                    "{name} {tag}: θ{j} {} against R's {}",
                    c.estimate[j],
                    theta[j]
                );
                let mine = c.std_error[j].expect("a standard error");
                assert!(
                    close(mine, se[j], 1e-8),
                    "{name} {tag} {se_tag}: se{j} {mine} against R's {}",
                    se[j]
                );
            }
        }
    }
}

#[test]
fn linearisation_and_jackknife_match_r_survey_on_a_small_stratified_example() {
    assert_matches("small");
}

#[test]
fn linearisation_and_jackknife_match_r_survey_on_the_embedded_survey() {
    assert_matches("survey");
}

/// Writes `tests/reference/design/survey.csv`, the design of the embedded survey's
/// default formula, for the R script (run by hand when the survey's definition changes,
/// then the script).
#[test]
#[ignore = "writes the R script's input"]
fn export_survey_design() {
    let s = survey();
    let spec = JobSpec::default();
    let input = dotation_solver::formula::DesignInput {
        micro: &s.micro,
        drivers: &s.drivers,
        baseline: &s.baseline,
    };
    let d = dotation_solver::formula::build(&input, &spec.formula).expect("a design");
    let sv = &s.micro.services;
    let mut out = String::from("service,stratum,fpc,weight,departement,y,b");
    for j in 0..d.k {
        out.push_str(&format!(",x{}", j + 1));
    }
    out.push('\n');
    let pop = sv.design.population.as_ref().expect("the survey has fpc");
    for i in 0..d.n {
        let h = sv.design.stratum[i] as usize;
        out.push_str(&format!(
            "{},{},{},{},{},{},{}",
            sv.id[i],
            sv.design.strata[h],
            pop[h],
            sv.design_weight[i],
            s.micro.departements.code[sv.departement[i] as usize],
            d.cost[i] - d.offset[i],
            d.target[i] - d.offset[i]
        ));
        for v in d.row(i) {
            out.push_str(&format!(",{v}"));
        }
        out.push('\n');
    }
    std::fs::write(dir().join("survey.csv"), out).expect("written");
}

#[test]
fn the_bootstrap_gives_the_same_bits_on_one_and_two_threads_and_errors_near_the_jackknife() {
    let ex = example("small");
    let o = options(Scope::National, StdErrors::Bootstrap);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool")
            .install(|| fit(&ex, &o))
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one, two, "same seed, same bits");
    let jk = fit(&ex, &options(Scope::National, StdErrors::Jackknife));
    for j in 0..ex.design.k {
        let (b, j_se) = (one.std_error[j].expect("se"), jk.std_error[j].expect("se"));
        // B = 1,000: the bootstrap's standard error is within about 2·√(1/2B) ≈ 5 % of
        // its own limit; both estimate the same variance from 15 services, so allow
        // the estimators' own difference on so small a sample.
        assert!(
            (b / j_se - 1.0).abs() < 0.35,
            "θ{j}: bootstrap {b} against jackknife {j_se}"
        );
        let (lo, hi) = (one.ci_low[j].expect("low"), one.ci_high[j].expect("high"));
        assert!(
            lo < one.estimate[j] && one.estimate[j] < hi,
            "percentile interval"
        );
    }
}

/// Point values' stratified-jackknife errors against the jackknife's definition, computed
/// here by brute force: every replicate a full calibration with its weights (service `r`
/// deleted, the rest of its stratum scaled by `n_h/(n_h − 1)`), the variance
/// `Σ_r (1 − f_h)(n_h − 1)/n_h (π_r − π)²` around the full-sample point value (`mse`).
/// One national point value, then one per département; and the linearisation's within
/// reach of the jackknife's.
#[test]
fn point_values_have_the_jackknifes_standard_errors() {
    let s = survey();
    let spec = JobSpec::default();
    let input = dotation_solver::formula::DesignInput {
        micro: &s.micro,
        drivers: &s.drivers,
        baseline: &s.baseline,
    };
    let d = dotation_solver::formula::build(&input, &spec.formula).expect("a design");
    let sv = &s.micro.services;
    let sd = &sv.design;
    let sizes = sd.sample_sizes();
    let keep = sd.fpc_factors();
    let fit_with = |w: &[f64], o: &Options| {
        let geo = Geography {
            weights: w,
            regression_weights: w,
            departement: &sv.departement,
            codes: &s.micro.departements.code,
            design: Some(sd),
        };
        calibrate(&d, &geo, o, &|| false).expect("calibrates")
    };
    for scope in [Scope::National, Scope::Departement] {
        let mut o = options(scope, StdErrors::Jackknife);
        o.method = Method::PointValues;
        o.mse = true;
        let full = fit_with(&sv.design_weight, &o);
        let mut plain = o.clone();
        plain.with_errors = false;
        let deps = s.micro.departements.code.len();
        let mut var = vec![0.0; deps];
        for r in 0..d.n {
            let h = sd.stratum[r] as usize;
            let nh = sizes[h] as f64;
            if sizes[h] < 2 {
                continue;
            }
            let w: Vec<f64> = (0..d.n)
                .map(|i| {
                    if i == r {
                        0.0
                    } else if sd.stratum[i] as usize == h {
                        sv.design_weight[i] * nh / (nh - 1.0)
                    } else {
                        sv.design_weight[i]
                    }
                })
                .collect();
            let rep = fit_with(&w, &plain);
            let c = keep[h] * (nh - 1.0) / nh;
            for (dep, v) in var.iter_mut().enumerate() {
                if let (Some(a), Some(b)) = (rep.point_values[dep], full.point_values[dep]) {
                    *v += c * (a - b) * (a - b);
                }
            }
        }
        let mut checked = 0;
        for dep in 0..deps {
            let Some(se) = full.point_value_std_error[dep] else {
                continue;
            };
            checked += 1;
            let want = var[dep].sqrt();
            assert!(close(se, want, 1e-8), "{scope:?} {dep}: {se} vs {want}");
            let (lo, hi) = (
                full.point_value_ci_low[dep].expect("low"),
                full.point_value_ci_high[dep].expect("high"),
            );
            let pv = full.point_values[dep].expect("a point value");
            assert!(lo < pv && pv < hi);
        }
        assert!(
            checked >= if scope == Scope::National { deps } else { 50 },
            "{checked}"
        );
        // The linearisation estimates the same variance.
        let mut lin = o.clone();
        lin.std_errors = StdErrors::Design;
        let l = fit_with(&sv.design_weight, &lin);
        let (a, b) = (
            l.point_value_std_error[0].expect("se"),
            full.point_value_std_error[0].expect("se"),
        );
        assert!(
            (a / b - 1.0).abs() < 0.25,
            "{scope:?}: linearisation {a} vs jackknife {b}"
        );
    }
}
