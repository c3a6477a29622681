//! The legal guarantees and the impact tables: users' out-of-pocket before and after for
//! hand-computed HAS and NHAS users under each participation option of seed 001 §7
//! (`tests/reference/oop_example.py`, exact fractions); on the whole synthetic survey, the
//! out-of-pocket constraint leaves no user paying more per hour — re-measured here from
//! the funding the job returns — with neutrality to 1e-9; guarantees that conflict are
//! named with how far each is from holding; the impact tables add up to the services'.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt64Type};
use dotation_core::Dataset;
use dotation_core::baseline::{BaselineOptions, baseline};
use dotation_core::out_of_pocket::{Admissible, OutOfPocket, Participation};
use dotation_core::tables::{Allowance, Code};
use dotation_core::validate::{ValidateOptions, validate};
use dotation_solver::spec::JobSpec;
use dotation_solver::{CalibrationError, SolverError, SpecError};
use dotation_tests::fixtures::Fixture;

use crate::close;
use crate::formulas::{job, survey, table};

fn f64s(t: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = t
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<Float64Type>();
    (0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i)))
        .collect()
}

fn values(t: &RecordBatch, name: &str) -> Vec<f64> {
    f64s(t, name)
        .into_iter()
        .map(|v| v.expect("not null"))
        .collect()
}

fn strings(t: &RecordBatch, name: &str) -> Vec<String> {
    let c = t
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_string::<i32>();
    (0..c.len()).map(|i| c.value(i).to_string()).collect()
}

#[test]
fn hand_example_out_of_pocket_before_and_after_for_each_participation_option() {
    let Dataset {
        micro: m,
        drivers: d,
        ..
    } = validate(&Fixture::hand_example().raw(), &ValidateOptions::default()).expect("valid");
    let b = baseline(&m, &d, &BaselineOptions::default()).expect("2026");
    let oop = OutOfPocket::new(&m, &d, &b).expect("2026");
    // Hours billed a month: the visits over 11/7 weeks, × 52/12.
    assert!(close(oop.billed_hours_month(0), 5.515151515151516, 1e-13));
    assert!(close(oop.billed_hours_month(3), 3.446969696969697, 1e-13));
    // Services S1 (HAS, rate 27.50) and S3 (NHAS, rate 25, price 29), funding × 0.95 and
    // × 1.1 of the baseline.
    let (s1, s3) = (0, 2);
    let v = |u: usize, ratio: f64| oop.hourly_value(u, 100.0, 100.0 * ratio);
    let expected = [
        // (user, service, ratio, option, after) from oop_example.py.
        (0, s1, 0.95, Participation::Unchanged, 3.7452688619209558),
        (0, s1, 0.95, Participation::AcceptedPlan, 24.694080408270036),
        (0, s1, 0.95, Participation::ResourcesOnly, 5.083944298840808),
        (0, s1, 1.1, Participation::Unchanged, 3.7452688619209558),
        (3, s3, 0.95, Participation::Unchanged, 18.281660905368824),
        (3, s3, 0.95, Participation::AcceptedPlan, 141.35209367541242),
        (
            3,
            s3,
            0.95,
            Participation::ResourcesOnly,
            20.212555722103843,
        ),
        (3, s3, 1.1, Participation::Unchanged, 14.531660905368822),
        (3, s3, 1.1, Participation::AcceptedPlan, 137.60209367541242),
        (3, s3, 1.1, Participation::ResourcesOnly, 16.462555722103843),
    ];
    for (u, s, ratio, option, after) in expected {
        assert_eq!(oop.service(u), s);
        let got = oop.per_hour(u, option, v(u, ratio)).expect("a funded user");
        assert!(
            close(got, after, 1e-12),
            "user {u}, × {ratio}, {option:?}: {got} vs {after}"
        );
    }
    // Unchanged funding leaves every user where they are under option 7.1.
    for u in 0..5 {
        assert_eq!(
            oop.per_hour(u, Participation::Unchanged, v(u, 1.0)),
            oop.before[u],
            "user {u}"
        );
    }
    // PCH at an HAS service, and an exempt APA user: nothing to pay, whatever the option.
    for option in [
        Participation::Unchanged,
        Participation::AcceptedPlan,
        Participation::ResourcesOnly,
    ] {
        assert_eq!(oop.per_hour(1, option, 10.0), Some(0.0));
        assert_eq!(oop.per_hour(2, option, 10.0), Some(0.0));
        assert_eq!(oop.per_hour(4, option, 10.0), None, "other funders");
    }
    // Where the out-of-pocket does not rise.
    assert_eq!(
        oop.admissible(0, Participation::Unchanged),
        Some(Admissible::From(0.0))
    );
    match oop.admissible(0, Participation::AcceptedPlan) {
        Some(Admissible::Never { lowest }) => assert!(close(lowest, 24.694080408270036, 1e-12)),
        other => panic!("{other:?}"),
    }
    match oop.admissible(0, Participation::ResourcesOnly) {
        Some(Admissible::Never { lowest }) => assert!(close(lowest, 5.083944298840808, 1e-12)),
        other => panic!("{other:?}"),
    }
    match oop.admissible(3, Participation::Unchanged) {
        Some(Admissible::From(lo)) => assert!(close(lo, 25.0, 1e-12)),
        other => panic!("{other:?}"),
    }
    match oop.admissible(3, Participation::ResourcesOnly) {
        Some(Admissible::From(lo)) => assert!(close(lo, 26.93089481673502, 1e-12)),
        other => panic!("{other:?}"),
    }
    match oop.admissible(3, Participation::AcceptedPlan) {
        Some(Admissible::Never { lowest }) => assert!(close(lowest, 136.10209367541242, 1e-12)),
        other => panic!("{other:?}"),
    }
}

/// Every user's out-of-pocket after a job of the default allowances (APA and social aid),
/// recomputed here from the services' funding: a PCH user's is today's (paid by the
/// hour); others pay today's participation part (today's out-of-pocket less today's
/// extra-legal part) plus `max(price − v0 × formula funding / formula baseline, 0)` for
/// an NHAS service, `v0` the rate of their hours (the tariff for social aid).
fn oop_after_recomputed(services: &RecordBatch) -> Vec<Option<f64>> {
    let s = survey();
    let sv = &s.micro.services;
    let id = strings(services, "service_id");
    let funding = values(services, "formula_funding");
    let base = values(services, "formula_baseline");
    assert_eq!(id, sv.id, "services in data order");
    (0..s.micro.users.len())
        .map(|u| {
            let before = s.baseline.users.oop_per_hour[u]?;
            let k = s.micro.users.service[u] as usize;
            let rate = match s.micro.users.allowance[u] {
                Allowance::Pch => return Some(before),
                Allowance::SocialAid => s.baseline.services.rate_social_aid[k],
                _ => s.baseline.services.rate[k],
            };
            let price = (!sv.habilitated[k]).then_some(sv.price_billed[k]).flatten();
            let extra = |v: f64| price.map_or(0.0, |p| (p - v).max(0.0));
            let v1 = rate * funding[k] / base[k];
            Some(before - extra(rate) + extra(v1))
        })
        .collect()
}

fn neutrality_gap(services: &RecordBatch) -> f64 {
    let w = &survey().micro.services.design_weight;
    let f: f64 = values(services, "funding")
        .iter()
        .zip(w)
        .map(|(f, w)| f * w)
        .sum();
    let b: f64 = values(services, "baseline")
        .iter()
        .zip(w)
        .map(|(f, w)| f * w)
        .sum();
    ((f - b) / b).abs()
}

fn rising(after: &[Option<f64>]) -> usize {
    let before = &survey().baseline.users.oop_per_hour;
    after
        .iter()
        .zip(before)
        .filter(|(a, b)| matches!((a, b), (Some(a), Some(b)) if *a > b + 1e-9))
        .count()
}

#[test]
fn with_the_out_of_pocket_constraint_no_user_pays_more_and_neutrality_holds() {
    // Without the constraint, some NHAS users pay more: the constraint has work to do.
    let free = job("[formula]\nkind = \"forfait\"");
    let free_after = oop_after_recomputed(table(&free, "services"));
    assert!(rising(&free_after) > 1000, "{}", rising(&free_after));
    assert_eq!(
        free.summary["guarantees"]["out_of_pocket"]["rising"].as_u64(),
        Some(rising(&free_after) as u64)
    );

    for loss in ["wls", "huber", "median"] {
        let out = job(&format!(
            "[calibration]\nloss = \"{loss}\"\nbootstrap = 8\n[guarantees]\nconstrain = [\"out_of_pocket\"]"
        ));
        let services = table(&out, "services");
        let after = oop_after_recomputed(services);
        assert_eq!(rising(&after), 0, "{loss}: users paying more");
        let gap = neutrality_gap(services);
        assert!(gap <= 1e-9, "{loss}: neutrality gap {gap:e}");
        // The job's users table says the same, user by user.
        let users = table(&out, "users");
        let reported = f64s(users, "oop_after");
        for (u, (r, a)) in reported.iter().zip(&after).enumerate() {
            match (r, a) {
                (Some(r), Some(a)) => {
                    assert!((r - a).abs() <= 1e-9, "{loss}: user {u}: {r} vs {a}")
                }
                (None, None) => {}
                other => panic!("{loss}: user {u}: {other:?}"),
            }
        }
        let g = &out.summary["guarantees"]["out_of_pocket"];
        assert_eq!(g["rising"].as_u64(), Some(0), "{loss}");
        assert_eq!(g["constrained"].as_bool(), Some(true));
        assert!(out.summary["constraints"]["binding"].as_u64().unwrap_or(0) > 0);
    }
}

#[test]
fn guarantees_that_conflict_are_named_with_how_far_each_is_from_holding() {
    let err =
        calibrate_with_guarantees("[guarantees]\nconstrain = [\"out_of_pocket\", \"has_cover\"]")
            .expect_err("HAS costs exceed what neutrality leaves them");
    let CalibrationError::Solver(SolverError::Infeasible {
        violated,
        total_relative,
        families,
        binding,
        conflicts,
    }) = &err
    else {
        panic!("{err}")
    };
    assert!(*violated > 0);
    // The total covers every violated constraint, the named ones among them.
    let named: f64 = conflicts.iter().map(|c| c.relative).sum();
    assert!(
        *total_relative >= named * (1.0 - 1e-12),
        "{total_relative} < {named}"
    );
    assert!(
        families.iter().any(|(f, _)| f == "has_cover"),
        "{families:?}"
    );
    assert!(binding.contains(&"has_cover".to_string()), "{binding:?}");
    assert!(
        binding.contains(&"out_of_pocket".to_string()),
        "{binding:?}"
    );
    // Worst first, each with a positive gap in € and relative to its baseline.
    for w in conflicts.windows(2) {
        assert!(w[0].relative >= w[1].relative);
    }
    assert!(conflicts.iter().all(|c| c.gap > 0.0 && c.relative > 0.0));
    let message = err.to_string();
    assert!(message.contains("cannot all hold"), "{message}");
    assert!(message.contains("has_cover[SAD-"), "{message}");
    assert!(message.contains("guarantees.constrain"), "{message}");
    // Each guarantee alone is reported, and transition with a loose limit holds.
    let out = job("[guarantees]\nconstrain = [\"transition\"]\ntransition_limit = 0.5");
    let services = table(&out, "services");
    let (f, b) = (values(services, "funding"), values(services, "baseline"));
    assert!(f.iter().zip(&b).all(|(f, b)| *f >= 0.5 * b * (1.0 - 1e-12)));
    assert!(neutrality_gap(services) <= 1e-9);
    assert_eq!(
        out.summary["guarantees"]["transition"]["violations"].as_u64(),
        Some(0)
    );
}

/// Calibrates through the job path (guarantees included) and returns the solver's error.
fn calibrate_with_guarantees(text: &str) -> Result<(), CalibrationError> {
    let spec = JobSpec::parse(text).map_err(CalibrationError::Spec)?;
    match dotation_server::jobs::run_spec(
        &spec,
        &survey().data,
        &dotation_server::jobs::JobContext::detached(),
    ) {
        Ok(_) => Ok(()),
        Err(dotation_server::ServerError::Calibration(e)) => Err(e),
        Err(e) => panic!("not a calibration error: {e}"),
    }
}

#[test]
fn nhas_price_and_out_of_pocket_together_hold_and_are_polished() {
    let out = job("[guarantees]\nconstrain = [\"nhas_price\", \"out_of_pocket\"]");
    let services = table(&out, "services");
    let sv = &survey().micro.services;
    let (f, b) = (values(services, "funding"), values(services, "baseline"));
    for s in 0..sv.len() {
        if !sv.habilitated[s] {
            assert!(f[s] >= b[s], "{}: {} < {}", sv.id[s], f[s], b[s]);
        }
    }
    assert_eq!(out.summary["constraints"]["polished"].as_bool(), Some(true));
    assert!(neutrality_gap(services) <= 1e-9);
}

#[test]
fn a_participation_option_that_alone_raises_out_of_pocket_cannot_be_a_constraint() {
    let err = calibrate_with_guarantees(
        "[guarantees]\nparticipation = \"accepted_plan\"\nconstrain = [\"out_of_pocket\"]",
    )
    .expect_err("7.2 charges the whole accepted plan");
    let CalibrationError::Spec(SpecError::Data { key, message }) = &err else {
        panic!("{err}")
    };
    assert_eq!(key, "guarantees.participation");
    assert!(
        message.contains("whatever their service's funding"),
        "{message}"
    );
    // Reported without the constraint: users who use less than their plan pay more.
    let out = job("[guarantees]\nparticipation = \"accepted_plan\"");
    let g = &out.summary["guarantees"]["out_of_pocket"];
    assert_eq!(g["participation"].as_str(), Some("accepted_plan"));
    let rising = g["rising"].as_u64().unwrap_or(0);
    assert!(rising > 0);
    // Every option is reported on the same funding, and the users table has each.
    let by_option = out.summary["guarantees"]["out_of_pocket_by_option"]
        .as_array()
        .expect("three options");
    let names: Vec<&str> = by_option
        .iter()
        .map(|o| o["participation"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["unchanged", "accepted_plan", "resources_only"]);
    assert_eq!(by_option[1]["rising"].as_u64(), Some(rising));
    let users = table(&out, "users");
    let chosen = f64s(users, "oop_after");
    assert_eq!(chosen, f64s(users, "oop_after_accepted_plan"));
    let rises = |column: &str| {
        f64s(users, column)
            .iter()
            .zip(&survey().baseline.users.oop_per_hour)
            .filter(|(a, b)| matches!((a, b), (Some(a), Some(b)) if *a > b + 1e-9))
            .count() as u64
    };
    for (i, column) in [
        "oop_after_unchanged",
        "oop_after_accepted_plan",
        "oop_after_resources_only",
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            by_option[i]["rising"].as_u64(),
            Some(rises(column)),
            "{column}"
        );
    }
}

#[test]
fn guarantee_options_that_do_not_fit_are_refused_naming_the_key() {
    for (text, key) in [
        (
            "[calibration]\nmethod = \"point_values\"\n[guarantees]\nconstrain = [\"has_cover\"]",
            "guarantees.constrain",
        ),
        (
            "[guarantees]\nconstrain = [\"transition\", \"transition\"]",
            "guarantees.constrain",
        ),
        (
            "[guarantees]\ntransition_limit = 1.0",
            "guarantees.transition_limit",
        ),
        (
            "kind = \"baseline\"\n[guarantees]\nconstrain = [\"has_cover\"]",
            "kind",
        ),
    ] {
        match JobSpec::parse(text) {
            Err(SpecError::Inconsistent { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(JobSpec::parse("[guarantees]\nconstrain = [\"cover\"]").is_err());
    assert!(JobSpec::parse("[guarantees]\nparticipation = \"plan\"").is_err());
}

#[test]
fn impact_tables_add_up_to_the_services() {
    let out = job("[formula]\nkind = \"forfait\"");
    let services = table(&out, "services");
    let impact = table(&out, "impact");
    let sv = &survey().micro.services;
    let w = &sv.design_weight;
    let funding = values(services, "funding");
    let base = values(services, "baseline");
    let carried = values(services, "carried");
    let total = |v: &[f64]| v.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
    let dims = strings(impact, "dimension");
    let groups = strings(impact, "group");
    let count = impact
        .column_by_name("services")
        .expect("services")
        .as_primitive::<UInt64Type>();
    let iw = values(impact, "weight");
    let ifund = values(impact, "funding_total");
    let ibase = values(impact, "baseline_total");
    let icost = values(impact, "cost_total");
    let cov_after = values(impact, "coverage_after");
    let cov_before = values(impact, "coverage_before");
    for dim in ["size_decile", "status", "regime", "zone", "departement"] {
        let rows: Vec<usize> = (0..dims.len()).filter(|&i| dims[i] == dim).collect();
        assert!(!rows.is_empty(), "{dim}");
        let n: u64 = rows.iter().map(|&i| count.value(i)).sum();
        assert_eq!(n as usize, sv.len(), "{dim}: every service once");
        let sum = |v: &[f64]| rows.iter().map(|&i| v[i]).sum::<f64>();
        assert!(close(sum(&iw), w.iter().sum(), 1e-12), "{dim}");
        assert!(close(sum(&ifund), total(&funding), 1e-12), "{dim}");
        assert!(close(sum(&ibase), total(&base), 1e-12), "{dim}");
        // Coverage is the formula's part (the hours carried by the hour left out) over the
        // cost it is calibrated on.
        let covered = |c: &[f64]| rows.iter().map(|&i| c[i] * icost[i]).sum::<f64>();
        let part = |v: &[f64]| {
            v.iter()
                .zip(&carried)
                .map(|(a, c)| a - c)
                .collect::<Vec<_>>()
        };
        assert!(
            close(covered(&cov_after), total(&part(&funding)), 1e-12),
            "{dim}"
        );
        assert!(
            close(covered(&cov_before), total(&part(&base)), 1e-12),
            "{dim}"
        );
    }
    // Status groups, recomputed here from the services table.
    let mut by_status: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for s in 0..sv.len() {
        let e = by_status.entry(sv.status[s].code()).or_default();
        e.0 += w[s] * funding[s];
        e.1 += w[s] * (funding[s] - base[s]) / base[s];
    }
    let mean_pct = values(impact, "mean_delta_pct");
    for i in (0..dims.len()).filter(|&i| dims[i] == "status") {
        let (f, pct) = by_status[groups[i].as_str()];
        assert!(close(ifund[i], f, 1e-12), "{}", groups[i]);
        assert!(close(mean_pct[i], pct / iw[i], 1e-9), "{}", groups[i]);
    }
    // Size deciles: ten of them, each about a tenth of the weight.
    let deciles: Vec<usize> = (0..dims.len())
        .filter(|&i| dims[i] == "size_decile")
        .collect();
    assert_eq!(deciles.len(), 10);
    let wmax = w.iter().copied().fold(0.0, f64::max);
    let wsum: f64 = w.iter().sum();
    for &i in &deciles {
        assert!(
            (iw[i] - 0.1 * wsum).abs() <= wmax,
            "{}: {}",
            groups[i],
            iw[i]
        );
    }
    // Users by GIR: weighted means recomputed from the users table.
    let users = table(&out, "users");
    let before = f64s(users, "oop_before");
    let after = f64s(users, "oop_after");
    let us = &survey().micro.users;
    let oop = table(&out, "out_of_pocket");
    let (odims, ogroups) = (strings(oop, "dimension"), strings(oop, "group"));
    let (ob, oa) = (values(oop, "oop_before"), values(oop, "oop_after"));
    for i in (0..odims.len()).filter(|&i| odims[i] == "gir") {
        let (mut sw, mut sb, mut sa) = (0.0, 0.0, 0.0);
        for u in 0..us.len() {
            let g = if us.gir[u] > 0 {
                format!("GIR{}", us.gir[u])
            } else {
                "unknown".into()
            };
            if g != ogroups[i] {
                continue;
            }
            if let (Some(b), Some(a)) = (before[u], after[u]) {
                let wu = w[us.service[u] as usize];
                sw += wu;
                sb += wu * b;
                sa += wu * a;
            }
        }
        assert!(close(ob[i], sb / sw, 1e-9), "{}", ogroups[i]);
        assert!(close(oa[i], sa / sw, 1e-9), "{}", ogroups[i]);
    }
}

#[test]
fn orders_between_parameters_hold_and_are_reported() {
    // Unconstrained, the forfait pays a social-aid user with little help less than one
    // with strong help: ordering them binds.
    let (low, high) = ("forfait[social_aid/-/low]", "forfait[social_aid/-/high]");
    let free = job("");
    let params = table(&free, "parameters");
    let names = strings(params, "parameter");
    let est = values(params, "estimate");
    let at = |n: &str| names.iter().position(|x| x == n).expect("a parameter");
    assert!(
        est[at(low)] < est[at(high)],
        "{} vs {}",
        est[at(low)],
        est[at(high)]
    );

    let out = job(&format!("[guarantees]\norder = [\"{low} >= {high}\"]"));
    let est = values(table(&out, "parameters"), "estimate");
    let (a, b) = (est[at(low)], est[at(high)]);
    assert!(a >= b - 1e-9 * a.abs(), "{a} < {b}");
    assert!(close(a, b, 1e-9), "the order binds: {a} vs {b}");
    assert!(neutrality_gap(table(&out, "services")) <= 1e-9);
    let order = &out.summary["constraints"]["order"][0];
    assert_eq!(order["holds"].as_bool(), Some(true));
    assert_eq!(order["greater"].as_str(), Some(low));

    // The same with "<=", and names the formula does not have.
    let flipped = job(&format!("[guarantees]\norder = [\"{high} <= {low}\"]"));
    assert_eq!(
        values(table(&flipped, "parameters"), "estimate"),
        values(table(&out, "parameters"), "estimate")
    );
    match calibrate_with_guarantees("[guarantees]\norder = [\"forfait[x] >= forfait[y]\"]") {
        Err(CalibrationError::Spec(SpecError::Unknown {
            key, name, known, ..
        })) => {
            assert_eq!(key, "guarantees.order");
            assert_eq!(name, "forfait[x]");
            assert!(known.contains(&low.to_string()));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        JobSpec::parse("[guarantees]\norder = [\"forfait[x] > forfait[y]\"]"),
        Err(SpecError::Inconsistent { key, .. }) if key == "guarantees.order"
    ));
}
