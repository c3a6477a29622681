//! The legal rules outside the hourly baseline: the dotation complémentaire (catalogues of
//! seeds 002 and 003, cap, prorata, CNSA refinancing), the CNSA's Avenant 43 aid (seed
//! 004) and the forfait global négocié's mechanics (seed 001 §6), through the core API and
//! the command line. Expected values are typed from the texts or computed by hand:
//! `tests/reference/rules_example.py` (exact fractions).

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use clap::Parser;
use dotation_core::CoreError;
use dotation_core::avenant43::{self, Avenant43Config, Binding, DepartementInput};
use dotation_core::dotation_complementaire::{
    self as dc, ActionLine, Catalogue, CatalogueId, Date, DcConfig, Objective, ProrataBasis,
    ServiceHours,
};
use dotation_core::forfait_global::{self as fgn, Band, BandFlag, FgnConfig, FgnService};
use dotation_server::cli::{Cli, run};

use crate::close;

fn date(s: &str) -> Date {
    s.parse().expect("a valid date")
}

fn action(service: &str, code: &str, quantity: f64, start: &str) -> ActionLine {
    ActionLine {
        service_id: service.into(),
        action: code.into(),
        quantity,
        start: date(start),
        unit_price: None,
        acquired: None,
    }
}

/// The options of `year` with the CNSA's 2024 limit (3.311 €/h), which a year other than
/// 2024 needs as an input.
fn config(year: i32) -> DcConfig {
    DcConfig {
        cnsa_rate: Some(3.311),
        ..DcConfig::new(year)
    }
}

fn hours(service: &str, dep: &str, apa: f64, pch: f64) -> ServiceHours {
    ServiceHours {
        service_id: service.into(),
        departement: dep.into(),
        hours_apa: apa,
        hours_pch: pch,
    }
}

fn saone_et_loire() -> Catalogue {
    Catalogue::builtin(CatalogueId::SaoneEtLoire2026)
}

// ---------------------------------------------------------------- dotation complémentaire

/// Runs the Saône-et-Loire catalogue in 2026 (prorata in days) on one service with ample
/// hours, and checks each line's amount.
fn check_line_amounts(actions: &[ActionLine], expected: &[f64]) {
    let services = [hours("S", "71", 1e7, 0.0)];
    let r =
        dc::compute(&saone_et_loire(), actions, &services, &config(2026)).expect("valid actions");
    let got: Vec<f64> = r.lines.iter().map(|l| l.amount).collect();
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(close(*g, *e, 1e-12), "line {}: {g} != {e}", i + 1);
    }
}

#[test]
fn every_saone_et_loire_unit_price_is_the_text_s() {
    // (code, objective, price) as printed in seed 003 §III-B.
    let text: &[(&str, u8, f64)] = &[
        ("o1_coordination", 1, 18.0),    // 18€ / heure et par aide à domicile
        ("o1_training", 1, 1_255.0),     // 1 255 € / journée de formation et par groupe
        ("o1_doublon", 1, 18.0),         // 18 € / heure … en doublon
        ("o2_sunday_holiday", 2, 8.0),   // 8 € / heure
        ("o2_on_call_sunday", 2, 104.0), // 104 € / salarié / jour d'astreinte
        ("o2_on_call_weekday", 2, 86.0), // 86 € / salarié / jour d'astreinte
        ("o3_vehicle_lease", 3, 366.0),  // 366 € /mois et par véhicule
        ("o3_vehicle_purchase", 3, 3_556.0), // 3 556 € /an et par véhicule
        ("o3_isolated_communes", 3, 0.55), // 0,55 €/heure
        ("o5_autonomous_team", 5, 10_460.0), // 10 460 €/équipe autonome
        ("o5_practice_analysis_supervisor", 5, 167.0), // 167€/ heure d'intervention d'un prestataire
        ("o5_practice_analysis_carer", 5, 18.0),       // 18 €/heure/aide à domicile participant
        ("o5_practice_analysis_admin", 5, 24.0), // 24 €/heure/personnel administratif participant
        ("o5_qwl_diagnosis", 5, 10_460.0),       // 10 460 € / an
        ("o5_qwl_manager_training", 5, 1_255.0), // 1 255 € / journée de formation et par groupe
        ("o5_tutoring", 5, 498.0),               // 498 € / salarié recruté
        ("o5_smartphone", 5, 209.0),             // 209 €/ téléphone
        ("o6_isolation_training", 6, 1_255.0),   // 1 255 € / journée de formation et par groupe
    ];
    let c = saone_et_loire();
    for &(code, objective, price) in text {
        let e = c.get(code).unwrap_or_else(|| panic!("{code} is missing"));
        assert_eq!(e.unit_price, Some(price), "{code}");
        assert_eq!(e.objective.number(), objective, "{code}");
    }
    // The « Actions innovantes » (amount « - ») of objectives 1, 2, 3, 5, 6 are priced in
    // the CPOM; objective 4 is not retained in 2026 (« 5 des 6 objectifs »).
    for o in [1, 2, 3, 5, 6] {
        let e = c
            .get(&format!("o{o}_innovative"))
            .expect("innovative action");
        assert_eq!(e.unit_price, None);
    }
    assert_eq!(c.entries.len(), text.len() + 5);
    assert!(
        c.entries
            .iter()
            .all(|e| e.objective != Objective::CarerSupport)
    );
    // Through the computation: one unit of each, started on 1 January, earns its price.
    let actions: Vec<ActionLine> = text
        .iter()
        .map(|(code, _, _)| action("S", code, 1.0, "2026-01-01"))
        .collect();
    let prices: Vec<f64> = text.iter().map(|t| t.2).collect();
    check_line_amounts(&actions, &prices);
}

#[test]
fn the_creuse_catalogue_lists_the_text_s_examples_without_prices() {
    let c = Catalogue::builtin(CatalogueId::Creuse2025);
    assert_eq!(c.year, 2025);
    assert!(c.entries.iter().all(|e| e.unit_price.is_none()));
    for o in Objective::ALL {
        assert!(
            c.entries.iter().any(|e| e.objective == o),
            "objective {o} has no action"
        );
    }
    for code in [
        "o2_sunday_holiday",
        "o2_night",
        "o3_vehicle_fleet",
        "o5_needs_study",
    ] {
        assert!(c.get(code).is_some(), "{code}");
    }
}

#[test]
fn the_data_documentation_lists_every_catalogue_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/data.md"))
        .expect("docs/data.md");
    for id in CatalogueId::ALL {
        for e in Catalogue::builtin(id).entries {
            let listed = doc.contains(&format!("`{}`", e.code))
                || (e.code.ends_with("_other") && doc.contains("`oN_other`"));
            assert!(listed, "{id}: {} is not in docs/data.md", e.code);
        }
    }
}

#[test]
fn quantities_times_prices_with_prorata_from_1_july() {
    check_line_amounts(
        &[
            // 30 June: the whole year (« entre le 1er janvier 2026 et le 30 juin 2026 »).
            action("S", "o2_sunday_holiday", 1_000.0, "2026-06-30"),
            // 1 July: 184 of 365 days left.
            action("S", "o2_sunday_holiday", 1_000.0, "2026-07-01"),
            // 1 October: 92 of 365 days left; 2 vehicles × 3,556 € × 92/365.
            action("S", "o3_vehicle_purchase", 2.0, "2026-10-01"),
            // Paid per occurrence: 3 phones bought in October are 3 × 209 €.
            action("S", "o5_smartphone", 3.0, "2026-10-01"),
            // A quantity of 0 is allowed and earns nothing.
            action("S", "o1_training", 0.0, "2026-03-01"),
        ],
        &[
            8_000.0,
            8_000.0 * 184.0 / 365.0,
            1_792.613_698_630_137,
            627.0,
            0.0,
        ],
    );
}

#[test]
fn prorata_of_an_action_starting_on_1_october() {
    // Days: 31 (October) + 30 + 31 = 92 days left, over 365 (2026) or 366 (2024).
    let p = dc::prorata(date("2026-10-01"), ProrataBasis::Days);
    assert!(close(p, 92.0 / 365.0, 1e-15), "{p}");
    let p = dc::prorata(date("2024-10-01"), ProrataBasis::Days);
    assert!(close(p, 92.0 / 366.0, 1e-15), "{p}");
    // Months: October, November, December = 3/12.
    assert_eq!(dc::prorata(date("2026-10-01"), ProrataBasis::Months), 0.25);
    assert_eq!(dc::prorata(date("2026-06-30"), ProrataBasis::Months), 1.0);
    assert_eq!(
        dc::prorata(date("2026-12-31"), ProrataBasis::Days),
        1.0 / 365.0
    );
    // The same action, and the service's cap, under both bases: 2 vehicles bought.
    for (basis, amount, cap) in [
        (
            ProrataBasis::Days,
            1_792.613_698_630_137,
            8_527.013_698_630_137,
        ),
        (ProrataBasis::Months, 1_778.0, 10_000.0 * 3.383 / 4.0),
    ] {
        let config = DcConfig {
            prorata: basis,
            ..config(2026)
        };
        let r = dc::compute(
            &saone_et_loire(),
            &[action("S", "o3_vehicle_purchase", 2.0, "2026-10-01")],
            &[hours("S", "71", 10_000.0, 0.0)],
            &config,
        )
        .expect("valid");
        assert!(close(r.lines[0].amount, amount, 1e-12), "{basis}");
        assert!(
            close(r.services[0].cap.expect("a cap"), cap, 1e-12),
            "{basis}"
        );
        assert!(!r.services[0].capped);
    }
}

/// One service's cap and payment per objective.
fn check_cap(
    service_hours: (f64, f64),
    actions: &[ActionLine],
    expected_cap: f64,
    expected_paid: [f64; 6],
) {
    let r = dc::compute(
        &saone_et_loire(),
        actions,
        &[hours("S", "71", service_hours.0, service_hours.1)],
        &config(2026),
    )
    .expect("valid");
    let s = &r.services[0];
    let cap = s.cap.expect("a cap");
    assert!(close(cap, expected_cap, 1e-12), "cap {cap}");
    for o in 0..6 {
        assert!(
            close(s.paid[o], expected_paid[o], 1e-12) || s.paid[o] == expected_paid[o],
            "objective {}: {} != {}",
            o + 1,
            s.paid[o],
            expected_paid[o]
        );
    }
    let total: f64 = expected_paid.iter().sum();
    assert!(close(s.paid_total, total, 1e-12), "{}", s.paid_total);
}

#[test]
fn the_cap_is_hours_apa_plus_pch_times_the_year_s_rate() {
    // Seed 003: « un service réalisant 100 000 heures d'APA/PCH annuel peut se projeter
    // sur un montant cible de 338 300 € »; 50,000 Sunday hours ask 400,000 €.
    check_cap(
        (60_000.0, 40_000.0),
        &[action("S", "o2_sunday_holiday", 50_000.0, "2026-01-05")],
        338_300.0,
        [0.0, 338_300.0, 0.0, 0.0, 0.0, 0.0],
    );
    // Under the cap, everything is paid.
    check_cap(
        (100_000.0, 0.0),
        &[action("S", "o2_sunday_holiday", 10_000.0, "2026-01-05")],
        338_300.0,
        [0.0, 80_000.0, 0.0, 0.0, 0.0, 0.0],
    );
    // Over the cap of 1,000 h × 3.383 = 3,383 €, both objectives are scaled alike:
    // 1,800 € (objective 1) and 2,090 € (objective 5) × 3,383 / 3,890.
    check_cap(
        (600.0, 400.0),
        &[
            action("S", "o1_coordination", 100.0, "2026-02-01"),
            action("S", "o5_smartphone", 10.0, "2026-02-01"),
        ],
        3_383.0,
        [
            1_565.398_457_583_547_5,
            0.0,
            0.0,
            0.0,
            1_817.601_542_416_452_5,
            0.0,
        ],
    );
}

#[test]
fn cap_rates_by_year_and_indexation() {
    assert_eq!(dc::cap_rate(2024, None).expect("2024"), 3.311);
    assert_eq!(dc::cap_rate(2026, None).expect("2026"), 3.383);
    // 2027: 3.383 € indexed on consumer prices, with a hypothetical index ratio of 1.02.
    let r = dc::cap_rate(2027, Some(1.02)).expect("indexed");
    assert!(close(r, 3.450_66, 1e-12), "{r}");
    // 2025 is in no text: the error says how to give it.
    let e = dc::cap_rate(2025, None).expect_err("unknown");
    assert!(e.to_string().contains("cap_rate"), "{e}");
    let e = dc::cap_rate(2027, None).expect_err("no index");
    assert!(e.to_string().contains("cpi_ratio"), "{e}");
    // 2024 with the 2026 catalogue's prices, a leap year: 1 October leaves 92/366.
    let config = DcConfig::new(2024);
    let r = dc::compute(
        &saone_et_loire(),
        &[action("S", "o2_sunday_holiday", 366.0, "2024-10-01")],
        &[hours("S", "71", 1_000.0, 0.0)],
        &config,
    )
    .expect("valid");
    assert!(close(r.lines[0].amount, 8.0 * 92.0, 1e-12));
    assert!(close(
        r.services[0].cap.expect("a cap"),
        3_311.0 * 92.0 / 366.0,
        1e-12
    ));
}

#[test]
fn departement_totals_and_the_cnsa_refinancing() {
    let services = [
        hours("A", "71", 100_000.0, 0.0),
        hours("B", "71", 30_000.0, 20_000.0),
        hours("C", "58", 10_000.0, 0.0),
    ];
    let actions = [
        action("A", "o2_sunday_holiday", 50_000.0, "2026-01-01"),
        action("C", "o2_sunday_holiday", 10_000.0, "2026-01-01"),
    ];
    // Seed 000 gives the CNSA's limit for 2024 only: 2026 needs it as an input.
    let e = dc::compute(&saone_et_loire(), &actions, &services, &DcConfig::new(2026))
        .expect_err("no 2026 limit in the texts");
    assert!(e.to_string().contains("cnsa_rate"), "{e}");
    assert_eq!(
        dc::DcRates::of(&DcConfig::new(2024), &dc::CallRules::saone_et_loire_2026())
            .expect("2024")
            .cnsa,
        3.311
    );
    let r = dc::compute(&saone_et_loire(), &actions, &services, &config(2026)).expect("valid");
    assert_eq!(r.rates.cnsa, 3.311);
    // Départements by code: 58, then 71.
    let d58 = &r.departements[0];
    let d71 = &r.departements[1];
    assert_eq!(
        (d58.departement.as_str(), d71.departement.as_str()),
        ("58", "71")
    );
    // 71: A is capped at 338,300 €; B has no action but its 50,000 h count for the CNSA
    // limit: 150,000 h × 3.311 = 496,650 € ≥ 338,300 €, all refinanced.
    assert_eq!((d71.services, d71.services_with_actions), (2, 1));
    assert!(close(d71.paid, 338_300.0, 1e-12));
    assert!(close(d71.cnsa_limit, 496_650.0, 1e-12));
    assert!(close(d71.cnsa_refinancing, 338_300.0, 1e-12));
    assert_eq!(d71.departement_share, 0.0);
    // 58: C's 80,000 € are capped at 10,000 × 3.383 = 33,830 €; the CNSA refinances
    // 10,000 × 3.311 = 33,110 €, the département bears 720 €.
    assert!(close(d58.requested, 80_000.0, 1e-12));
    assert!(close(d58.paid, 33_830.0, 1e-12));
    assert!(close(d58.cnsa_refinancing, 33_110.0, 1e-12));
    assert!(close(d58.departement_share, 720.0, 1e-9));
}

#[test]
fn creuse_2025_is_a_departement_envelope_without_individual_cap() {
    // Seed 002 §III-C: « l'enveloppe départementale 2024 est calculée sur la base de
    // 3.311 € par heure d'APA/PCH prestée. Il ne s'agit pas d'un droit de tirage
    // individuel »: 3.311 × 4,000 h = 13,244 €; the actions retained (1,000 € started in
    // September, not prorated: the text has no prorata, and 20,000 € for a service of
    // 1,000 h) are paid whole, 7,756 € over the envelope (tests/reference/rules_example.py).
    let creuse = Catalogue::builtin(CatalogueId::Creuse2025);
    let r = dc::compute(
        &creuse,
        &[
            ActionLine {
                unit_price: Some(2.5),
                ..action("S1", "o2_night", 400.0, "2025-09-01")
            },
            ActionLine {
                unit_price: Some(20_000.0),
                ..action("S2", "o5_needs_study", 1.0, "2025-02-01")
            },
        ],
        &[
            hours("S1", "23", 2_000.0, 1_000.0),
            hours("S2", "23", 1_000.0, 0.0),
        ],
        &config(2025),
    )
    .expect("valid");
    assert_eq!(r.lines[0].prorata, 1.0);
    assert_eq!((r.services[0].cap, r.services[1].cap), (None, None));
    assert_eq!(r.services[1].paid_total, 20_000.0);
    assert!(!r.services[1].capped);
    let d = &r.departements[0];
    assert_eq!(d.paid, 21_000.0);
    assert!(close(d.envelope.expect("an envelope"), 13_244.0, 1e-12));
    assert!(close(d.envelope_left.expect("left"), -7_756.0, 1e-9));
    // Saône-et-Loire's call has service caps, not an envelope.
    assert_eq!(saone_et_loire().rules.limit, dc::Limit::ServiceCap);
}

#[test]
fn saone_et_loire_prorates_the_maximum_per_theme() {
    // Seed 003 §III-C: « avoir initié les actions au titre de la thématique sollicitée
    // entre le 1er janvier 2026 et le 30 juin 2026 … à compter du 1er juillet 2026, le
    // financement maximum de l'année … sera calculé au prorata temporis ». 10,000 h →
    // 33,830 € a year. Theme 2 from 5 January: 3,000 Sunday hours × 8 = 24,000 €. Theme 3
    // from 1 October: 0.55 € × 100,000 h × 92/365 = 13,863.01 € asked, at most 33,830 ×
    // 92/365 = 8,527.01 €. Paid 32,527.01 € — one cap prorated from the earliest start
    // would have scaled 37,863.01 € down to 33,830 €.
    let r = dc::compute(
        &saone_et_loire(),
        &[
            action("S", "o2_sunday_holiday", 3_000.0, "2026-01-05"),
            action("S", "o3_isolated_communes", 100_000.0, "2026-10-01"),
        ],
        &[hours("S", "71", 10_000.0, 0.0)],
        &config(2026),
    )
    .expect("valid");
    let s = &r.services[0];
    assert!(close(s.requested[2], 13_863.013_698_630_137, 1e-12));
    assert_eq!(s.paid[1], 24_000.0);
    assert!(close(s.paid[2], 8_527.013_698_630_137, 1e-12));
    assert!(close(s.paid_total, 32_527.013_698_630_137, 1e-12));
    assert!(close(s.cap.expect("a cap"), 33_830.0, 1e-12));
    assert!(s.capped);
}

#[test]
fn the_departement_s_maxima_per_hour_action_and_objective() {
    // Seed 003: « se réserve le droit de fixer un montant maximum de financement, en euros
    // par heure, par action ou par objectif ». 2 €/h → 20,000 € a year; objective 2 at
    // most 15,000 €; an isolated-communes line at most 4,000 € (below its theme's
    // 20,000 × 92/365): 19,000 € paid.
    let mut c = config(2026);
    c.limits.per_hour = Some(2.0);
    c.limits.per_objective[1] = Some(15_000.0);
    c.limits
        .per_action
        .insert("o3_isolated_communes".into(), 4_000.0);
    let r = dc::compute(
        &saone_et_loire(),
        &[
            action("S", "o2_sunday_holiday", 3_000.0, "2026-01-05"),
            action("S", "o3_isolated_communes", 100_000.0, "2026-10-01"),
        ],
        &[hours("S", "71", 10_000.0, 0.0)],
        &c,
    )
    .expect("valid");
    assert_eq!(r.rates.cap, 2.0);
    assert_eq!(r.lines[1].amount, 4_000.0);
    let s = &r.services[0];
    assert_eq!(
        (s.paid[1], s.paid[2], s.paid_total),
        (15_000.0, 4_000.0, 19_000.0)
    );
}

#[test]
fn a_line_failing_a_condition_of_the_call_gets_zero_with_the_reason() {
    // Seed 003 objectif 5: the QVT diagnosis is funded « si engagement pris par le SAD de
    // former les managers comme référents de la QVT »; objectif 3: vehicles « loués à
    // compter du 1er janvier 2026 ».
    let lines = [
        action("A", "o5_qwl_diagnosis", 1.0, "2026-01-05"),
        action("B", "o5_qwl_diagnosis", 1.0, "2026-01-05"),
        action("B", "o5_qwl_manager_training", 2.0, "2026-01-05"),
        ActionLine {
            acquired: Some(date("2025-12-15")),
            ..action("B", "o3_vehicle_lease", 12.0, "2026-01-05")
        },
        ActionLine {
            acquired: Some(date("2026-01-02")),
            ..action("B", "o3_vehicle_lease", 12.0, "2026-01-05")
        },
    ];
    let r = dc::compute(
        &saone_et_loire(),
        &lines,
        &[hours("A", "71", 1e6, 0.0), hours("B", "71", 1e6, 0.0)],
        &config(2026),
    )
    .expect("valid");
    let amounts: Vec<f64> = r.lines.iter().map(|l| l.amount).collect();
    assert_eq!(amounts, vec![0.0, 10_460.0, 2_510.0, 0.0, 12.0 * 366.0]);
    let why = |i: usize| r.lines[i].refused.clone().unwrap_or_default();
    assert!(why(0).contains("o5_qwl_manager_training"), "{}", why(0));
    assert!(why(3).contains("2025-12-15"), "{}", why(3));
    assert_eq!(r.lines[1].refused, None);
    assert_eq!(r.lines[4].refused, None);
}

/// Bad actions: the message names the table, row, column and value of each problem.
fn check_rejected(catalogue: CatalogueId, year: i32, bad: ActionLine, expected: &[&str]) {
    let services = [hours("S", "71", 1_000.0, 0.0)];
    let actions = [action("S", "o2_sunday_holiday", 10.0, "2026-01-01"), bad];
    let mut config = config(year);
    config.cap_rate = Some(3.311);
    let e = dc::compute(&Catalogue::builtin(catalogue), &actions, &services, &config)
        .expect_err("invalid");
    assert!(matches!(e, CoreError::RuleInput(_)), "{e:?}");
    let msg = e.to_string();
    for part in expected {
        assert!(msg.contains(part), "{msg}\n lacks {part}");
    }
}

#[test]
fn bad_actions_name_their_row_column_and_value() {
    use CatalogueId::SaoneEtLoire2026 as SL;
    check_rejected(
        SL,
        2026,
        action("S", "o4_respite", 1.0, "2026-01-01"),
        &[
            "table actions, row 2, column action, value \"o4_respite\"",
            "the value must be one of the codes of the saone-et-loire-2026 catalogue",
        ],
    );
    check_rejected(
        SL,
        2026,
        action("S", "o2_sunday_holiday", -5.0, "2026-01-01"),
        &["row 2, column quantity, value \"-5\": the value must be ≥ 0"],
    );
    check_rejected(
        SL,
        2026,
        action("S", "o2_sunday_holiday", 5.0, "2025-12-31"),
        &[
            "row 2, column start, value \"2025-12-31\": the start must fall in the year of the dotation, 2026",
        ],
    );
    check_rejected(
        SL,
        2026,
        action("X", "o2_sunday_holiday", 5.0, "2026-01-01"),
        &["row 2, column service_id, value \"X\": no row of hours has this service_id"],
    );
    check_rejected(
        SL,
        2026,
        ActionLine {
            unit_price: Some(9.0),
            ..action("S", "o2_sunday_holiday", 5.0, "2026-01-01")
        },
        &[
            "row 2, column unit_price, value \"9\": the saone-et-loire-2026 catalogue fixes this action's price at 8 €",
        ],
    );
    check_rejected(
        SL,
        2026,
        action("S", "o5_innovative", 1.0, "2026-01-01"),
        &[
            "row 2, column unit_price: the saone-et-loire-2026 catalogue leaves this action's price to the CPOM",
        ],
    );
    // Creuse values every action in the CPOM; the CNSA's 2025 limit is given by the caller.
    let r = dc::compute(
        &Catalogue::builtin(CatalogueId::Creuse2025),
        &[ActionLine {
            unit_price: Some(2.5),
            ..action("S", "o2_night", 400.0, "2025-03-01")
        }],
        &[hours("S", "23", 2_000.0, 0.0)],
        &config(2025),
    )
    .expect("valid");
    assert_eq!(r.services[0].paid[1], 1_000.0);
    let e = dc::compute(
        &Catalogue::builtin(CatalogueId::Creuse2025),
        &[],
        &[hours("S", "23", 2_000.0, 0.0)],
        &DcConfig::new(2025),
    )
    .expect_err("2025 has no CNSA limit in the texts");
    assert!(
        matches!(e, CoreError::UnknownYear { year: 2025, .. }),
        "{e}"
    );
}

#[test]
fn a_malformed_catalogue_names_its_rows() {
    let text = "code,objective,action,unit,unit_price,prorated,source\n\
                a,7,\"x, y\",hour,1,true,s\n\
                b,2,x,hour,-1,maybe,s\n\
                a,2,x,hour,,true,s\n";
    let e = Catalogue::parse("test", 2026, text).expect_err("invalid");
    let msg = e.to_string();
    for part in [
        "test: table catalogue, row 1, column objective, value \"7\"",
        "row 2, column unit_price, value \"-1\"",
        "row 2, column prorated, value \"maybe\"",
        "row 3, column code, value \"a\": the key must be unique; it is already on row 1",
    ] {
        assert!(msg.contains(part), "{msg}\n lacks {part}");
    }
    // Quoted fields keep their commas.
    let ok = "code,objective,action,unit,unit_price,prorated,source\nz,6,\"a, b\",unit,2.5,false,\"say \"\"x\"\"\"\n";
    let c = Catalogue::parse("ok", 2026, ok).expect("valid");
    assert_eq!(c.entries[0].action, "a, b");
    assert_eq!(c.entries[0].source, "say \"x\"");
    assert_eq!(c.entries[0].unit_price, Some(2.5));
}

#[test]
fn dates_are_checked_days() {
    assert_eq!(date("2024-02-29").day_of_year(), 60);
    assert!("2026-02-29".parse::<Date>().is_err());
    assert!("2026-13-01".parse::<Date>().is_err());
    assert!("1/10/2026".parse::<Date>().is_err());
    assert_eq!(date("2026-12-31").day_of_year(), 365);
}

// ------------------------------------------------------------------------- Avenant 43

fn dep(code: &str, year: i32, hours: f64, forecast: f64, actual: Option<f64>) -> DepartementInput {
    // The hours split over the three allowances: all count.
    DepartementInput {
        departement: code.into(),
        hours_year: year,
        hours_apa: 0.6 * hours,
        hours_pch: 0.3 * hours,
        hours_aide_menagere: hours - 0.6 * hours - 0.3 * hours,
        cost_forecast: forecast,
        cost_actual: actual,
    }
}

/// (aid_forecast, binding, advance, aid_final, balance) per département.
type Aid = (f64, Binding, f64, f64, f64);

fn check_aid(input: &[DepartementInput], config: Avenant43Config, expected: &[Aid]) {
    let r = avenant43::compute(input, &config).expect("valid");
    for (d, e) in r.departements.iter().zip(expected) {
        let name = &d.departement;
        assert!(
            close(d.aid_forecast, e.0, 1e-12),
            "{name}: {}",
            d.aid_forecast
        );
        assert_eq!(d.binding_forecast, e.1, "{name}");
        assert!(close(d.advance, e.2, 1e-12), "{name}: {}", d.advance);
        assert!(close(d.aid_final.expect("actual"), e.3, 1e-12), "{name}");
        assert!(
            close(d.balance.expect("actual"), e.4, 1e-9),
            "{name}: {:?}",
            d.balance
        );
    }
}

#[test]
fn avenant43_activity_and_cost_caps_advance_and_balance() {
    // 2022: 200 M€, 50 % of costs, hours of 2019. Hours 5.2 M, 2.9 M, 1.9 M of 10 M:
    // activity caps 104, 58 and 38 M€.
    // A: 50 % × 250 M€ = 125 > 104 → 104 M€ (activity); advance 83.2; actual 260 M€ →
    //    final 104, balance +20.8.
    // B: 50 % × 90 M€ = 45 < 58 → 45 M€ (cost); advance 36; actual 80 M€ → 40, +4.
    // C: 50 % × 80 M€ = 40 > 38 → 38 M€ (activity); advance 30.4; actual 60 M€ → 30
    //    (now the cost cap), balance −0.4 M€: recovered.
    let input = [
        dep("A", 2019, 5_200_000.0, 250e6, Some(260e6)),
        dep("B", 2019, 2_900_000.0, 90e6, Some(80e6)),
        dep("C", 2019, 1_900_000.0, 80e6, Some(60e6)),
    ];
    check_aid(
        &input,
        Avenant43Config::new(2022),
        &[
            (104e6, Binding::Activity, 83.2e6, 104e6, 20.8e6),
            (45e6, Binding::Cost, 36e6, 40e6, 4e6),
            (38e6, Binding::Activity, 30.4e6, 30e6, -0.4e6),
        ],
    );
    let r = avenant43::compute(&input, &Avenant43Config::new(2022)).expect("valid");
    assert!(close(r.aid_forecast, 187e6, 1e-12));
    assert!(
        close(r.unused_forecast, 13e6, 1e-9),
        "{}",
        r.unused_forecast
    );
    assert_eq!(r.departements[2].binding_final, Some(Binding::Cost));
    // 2021: 150 M€ and 70 %: A 0.52 × 150 = 78 < 175 → 78; B 43.5 < 63 → 43.5;
    // C 28.5 < 56 → 28.5 (all activity caps).
    check_aid(
        &input,
        Avenant43Config::new(2021),
        &[
            (78e6, Binding::Activity, 62.4e6, 78e6, 15.6e6),
            (43.5e6, Binding::Activity, 34.8e6, 43.5e6, 8.7e6),
            (28.5e6, Binding::Activity, 22.8e6, 28.5e6, 5.7e6),
        ],
    );
    // With the nation's 20 M hours, the activity caps halve: 52, 29, 19 M€.
    check_aid(
        &input,
        Avenant43Config {
            national_hours: Some(20e6),
            ..Avenant43Config::new(2022)
        },
        &[
            (52e6, Binding::Activity, 41.6e6, 52e6, 10.4e6),
            (29e6, Binding::Activity, 23.2e6, 29e6, 5.8e6),
            (19e6, Binding::Activity, 15.2e6, 19e6, 3.8e6),
        ],
    );
}

#[test]
fn avenant43_hours_year_envelopes_and_rejections() {
    assert_eq!(avenant43::hours_year(2021).expect("2021"), 2019);
    assert_eq!(avenant43::hours_year(2023).expect("2023"), 2019);
    assert_eq!(avenant43::hours_year(2024).expect("2024"), 2022);
    assert_eq!(avenant43::envelope(2021).expect("2021"), 150e6);
    assert_eq!(avenant43::envelope(2025).expect("2025"), 200e6);
    assert_eq!(avenant43::cost_rate(2021).expect("2021"), 0.70);
    assert_eq!(avenant43::cost_rate(2022).expect("2022"), 0.50);
    assert!(avenant43::envelope(2020).is_err());
    // Hours of the wrong year, negative cost, a département twice.
    let input = [
        dep("A", 2019, 1e6, 1e6, None),
        dep("B", 2023, 1e6, -1.0, None),
        dep("A", 2022, 1e6, 1e6, None),
    ];
    let e = avenant43::compute(&input, &Avenant43Config::new(2024)).expect_err("invalid");
    let msg = e.to_string();
    for part in [
        "table departements, row 1, column hours_year, value \"2019\": the aid of 2024 is shared by the hours of 2022",
        "row 2, column hours_year, value \"2023\"",
        "row 2, column cost_forecast, value \"-1\"",
        "row 3, column departement, value \"A\": the key must be unique; it is already on row 1",
    ] {
        assert!(msg.contains(part), "{msg}\n lacks {part}");
    }
    // Without actual costs there is no final aid nor balance.
    let r = avenant43::compute(
        &[dep("A", 2022, 1e6, 1e6, None)],
        &Avenant43Config::new(2024),
    )
    .expect("valid");
    assert_eq!(r.departements[0].balance, None);
    assert!(close(r.departements[0].advance, 0.8 * 0.5 * 1e6, 1e-12));
}

// ---------------------------------------------------------- forfait global négocié

#[test]
fn fgn_schedule_twelve_instalments_and_the_withheld_tenth() {
    // (annual, met, set) → (instalment, withheld, released, frozen, paid)
    let cases: &[(f64, u32, u32, [f64; 5])] = &[
        (
            1_200_000.0,
            3,
            4,
            [90_000.0, 120_000.0, 90_000.0, 30_000.0, 1_170_000.0],
        ),
        (
            1_200_000.0,
            4,
            4,
            [90_000.0, 120_000.0, 120_000.0, 0.0, 1_200_000.0],
        ),
        (
            1_200_000.0,
            0,
            4,
            [90_000.0, 120_000.0, 0.0, 120_000.0, 1_080_000.0],
        ),
        (
            987_654.32,
            2,
            5,
            [
                74_074.074,
                98_765.432,
                39_506.172_8,
                59_259.259_2,
                928_395.060_8,
            ],
        ),
    ];
    for &(annual, met, set, e) in cases {
        let s = fgn::schedule(annual, met, set);
        for m in s.monthly {
            assert!(close(m, e[0], 1e-12), "{annual}: instalment {m}");
            assert!(close(m, 0.075 * annual, 1e-12));
        }
        let got = [s.withheld, s.released, s.frozen, s.paid];
        for (g, x) in got.iter().zip(&e[1..]) {
            assert!(
                close(*g, *x, 1e-12) || *g == *x,
                "{annual}, {met}/{set}: {got:?}"
            );
        }
        let twelve: f64 = s.monthly.iter().sum();
        assert!(close(twelve + s.withheld, annual, 1e-12));
    }
}

fn fgn_service(
    id: &str,
    fte: f64,
    non_presence: f64,
    structure: [f64; 3],
    gross: f64,
) -> FgnService {
    FgnService {
        service_id: id.into(),
        forfait_annual: 1_000_000.0,
        objectives_set: 4,
        objectives_met: 2,
        fte_carers: fte,
        non_presence_hours: non_presence,
        cost_g1: structure[0],
        cost_g3: structure[1],
        cost_staff_non_carer: structure[2],
        cost_staff_tisf: 0.0,
        gross_expenses: gross,
    }
}

#[test]
fn fgn_structure_costs_count_tisf_pay() {
    // Seed 001 §5: structure costs are « G1 + G3 + dépenses de personnels autres qu'aides à
    // domicile, auxiliaires de vies sociale et aides médico-psychologique »: TISF pay is
    // in. (50,000 + 80,000 + 120,000 + 60,000) / 1,000,000 = 31/100
    // (tests/reference/rules_example.py).
    let mut s = fgn_service(
        "S",
        10.0,
        3_214.0,
        [50_000.0, 80_000.0, 120_000.0],
        1_000_000.0,
    );
    s.cost_staff_tisf = 60_000.0;
    let config = FgnConfig {
        non_presence: None,
        structure: Some("25:30".parse::<Band>().expect("band")),
    };
    let r = fgn::compute(&[s], &config).expect("valid");
    assert_eq!(r[0].structure_costs, 310_000.0);
    assert!(close(r[0].structure_share, 0.31, 1e-15));
    assert_eq!(r[0].structure_flag, Some(BandFlag::Above));
}

fn check_bands(
    service: FgnService,
    config: FgnConfig,
    shares: (f64, f64),
    flags: (Option<BandFlag>, Option<BandFlag>),
) {
    let r = fgn::compute(&[service], &config).expect("valid");
    assert!(
        close(r[0].non_presence_share, shares.0, 1e-12),
        "{}",
        r[0].non_presence_share
    );
    assert!(
        close(r[0].structure_share, shares.1, 1e-12),
        "{}",
        r[0].structure_share
    );
    assert_eq!((r[0].non_presence_flag, r[0].structure_flag), flags);
}

#[test]
fn fgn_cpom_bands_of_non_presence_time_and_structure_costs() {
    let bands = |np: &str, st: &str| FgnConfig {
        non_presence: Some(np.parse::<Band>().expect("band")),
        structure: Some(st.parse::<Band>().expect("band")),
    };
    // 10 FTE × 1,607 h = 16,070 h; 3,214 h out of presence = 20 %. Structure 50,000 +
    // 80,000 + 120,000 = 250,000 € of 1,000,000 € = 25 %.
    let s = || {
        fgn_service(
            "S",
            10.0,
            3_214.0,
            [50_000.0, 80_000.0, 120_000.0],
            1_000_000.0,
        )
    };
    use BandFlag::{Above, Below, Within};
    check_bands(
        s(),
        bands("15:25", "10:20"),
        (0.2, 0.25),
        (Some(Within), Some(Above)),
    );
    check_bands(
        s(),
        bands("22:30", "25:35"),
        (0.2, 0.25),
        (Some(Below), Some(Within)),
    );
    check_bands(
        s(),
        bands("10:18", "10:25"),
        (0.2, 0.25),
        (Some(Above), Some(Within)),
    );
    // 4,500 h of 16,070 = 28.0 %: above a 15–25 % band.
    check_bands(
        fgn_service("S", 10.0, 4_500.0, [0.0, 0.0, 0.0], 1.0),
        bands("15:25", "0:10"),
        (4_500.0 / 16_070.0, 0.0),
        (Some(Above), Some(Within)),
    );
    // Without bands, shares only.
    check_bands(s(), FgnConfig::default(), (0.2, 0.25), (None, None));
    assert!("30:20".parse::<Band>().is_err());
    assert!("20".parse::<Band>().is_err());
    assert!("-1:20".parse::<Band>().is_err());
}

#[test]
fn fgn_rejections_name_row_column_and_value() {
    let mut bad = fgn_service("T", 0.0, 100.0, [1.0, 1.0, 1.0], 2.0);
    bad.objectives_met = 5;
    let good = fgn_service("S", 1.0, 100.0, [1.0, 1.0, 1.0], 10.0);
    let e = fgn::compute(&[good, bad], &FgnConfig::default()).expect_err("invalid");
    let msg = e.to_string();
    for part in [
        "table services, row 2, column objectives_met, value \"5\": no more objectives can be met than set (4)",
        "row 2, column fte_carers, value \"0\"",
        "row 2, column gross_expenses, value \"2\": gross expenses must include the structure costs",
    ] {
        assert!(msg.contains(part), "{msg}\n lacks {part}");
    }
}

// ------------------------------------------------------------------------ command line

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["dotation", "--quiet"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).expect("valid arguments")
}

/// The same command with its terminal summary (printed into the test's captured output).
fn loud(args: &[&str]) -> Cli {
    let mut all = vec!["dotation"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).expect("valid arguments")
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_str().expect("utf-8").to_string()
}

#[test]
fn cli_dc_writes_results_and_rejects_bad_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = tempfile::tempdir().expect("tmp");
    let hours = write(
        dir.path(),
        "hours.csv",
        "service_id,departement,hours_apa,hours_pch\nA,71,60000,40000\nB,71,10000,0\n",
    );
    let actions = write(
        dir.path(),
        "actions.csv",
        "service_id,action,quantity,start,unit_price\n\
         A,o2_sunday_holiday,50000,2026-01-05,\n\
         B,o3_vehicle_purchase,2,2026-10-01,\n\
         B,o5_innovative,1,2026-02-01,500\n",
    );
    let o = out.path().to_str().expect("utf-8");
    run(&loud(&[
        "dc",
        "--actions",
        &actions,
        "--hours",
        &hours,
        "--catalogue",
        "saone-et-loire-2026",
        "--cnsa-rate",
        "3.311",
        "--out",
        o,
    ]))
    .expect("runs");
    let paid = crate::parquet_f64(&out.path().join("services.parquet"), "paid_total");
    assert_eq!(paid[0], Some(338_300.0));
    let b = paid[1].expect("B");
    assert!(close(b, 1_792.613_698_630_137 + 500.0, 1e-12), "{b}");
    let amounts = crate::parquet_f64(&out.path().join("actions.parquet"), "amount");
    assert_eq!(amounts.len(), 3);
    assert!(out.path().join("departements.parquet").is_file());
    assert!(out.path().join("summary.json").is_file());

    // A bad row: exit code 1, the message names file, row, column and value.
    let bad = write(
        dir.path(),
        "bad.csv",
        "service_id,action,quantity,start\nA,o2_sunday_holiday,-3,2026-01-05\nA,o2_sunday_holiday,3,2026-02-30\n",
    );
    let out2 = tempfile::tempdir().expect("tmp");
    let e = run(&cli(&[
        "dc",
        "--actions",
        &bad,
        "--hours",
        &hours,
        "--catalogue",
        "saone-et-loire-2026",
        "--out",
        out2.path().to_str().expect("utf-8"),
    ]))
    .expect_err("bad input");
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains("bad.csv: table actions, row 2, column start, value \"2026-02-30\": the value must be a date (YYYY-MM-DD)"),
        "{msg}"
    );
    assert_eq!(std::fs::read_dir(out2.path()).expect("dir").count(), 0);
    let e = run(&cli(&[
        "dc",
        "--actions",
        &write(
            dir.path(),
            "neg.csv",
            "service_id,action,quantity,start\nA,o2_sunday_holiday,-3,2026-01-05\n",
        ),
        "--hours",
        &hours,
        "--catalogue",
        "saone-et-loire-2026",
        "--cnsa-rate",
        "3.311",
        "--out",
        out2.path().to_str().expect("utf-8"),
    ]))
    .expect_err("bad input");
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .contains("neg.csv: table actions, row 1, column quantity, value \"-3\""),
        "{e}"
    );
    // An unknown year's rate is an option problem: exit code 2.
    let e = run(&cli(&[
        "dc",
        "--actions",
        &actions,
        "--hours",
        &hours,
        "--catalogue",
        "saone-et-loire-2026",
        "--year",
        "2025",
        "--out",
        out2.path().to_str().expect("utf-8"),
    ]))
    .expect_err("no 2025 rate");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn cli_avenant43_writes_aids_and_rejects_bad_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = tempfile::tempdir().expect("tmp");
    let input = write(
        dir.path(),
        "deps.csv",
        "departement,hours_year,hours_apa,hours_pch,hours_aide_menagere,cost_forecast,cost_actual\n\
         A,2019,4000000,1000000,200000,250000000,260000000\n\
         B,2019,2000000,800000,100000,90000000,80000000\n\
         C,2019,1500000,400000,0,80000000,\n",
    );
    let o = out.path().to_str().expect("utf-8");
    run(&loud(&[
        "avenant43",
        "--input",
        &input,
        "--year",
        "2022",
        "--out",
        o,
    ]))
    .expect("runs");
    let p = out.path().join("departements.parquet");
    assert_eq!(
        crate::parquet_f64(&p, "aid_forecast"),
        vec![Some(104e6), Some(45e6), Some(38e6)]
    );
    let balance = crate::parquet_f64(&p, "balance");
    assert!(close(balance[0].expect("A"), 20.8e6, 1e-12));
    assert!(close(balance[1].expect("B"), 4e6, 1e-12));
    assert_eq!(balance[2], None);

    // Each bad file is refused with exit code 1, naming file, table, row, column and value.
    let header = "departement,hours_year,hours_apa,hours_pch,hours_aide_menagere";
    for (file, text, expected) in [
        (
            "bad.csv",
            format!("{header},cost_forecast\nA,2019,x,1,1,1\n"),
            "bad.csv: table departements, row 1, column hours_apa, value \"x\": the value must be a number",
        ),
        (
            "no_cost.csv",
            format!("{header}\nA,2019,1,1,1\n"),
            "no_cost.csv: table departements, column cost_forecast: the column is required",
        ),
        (
            "year.csv",
            format!("{header},cost_forecast\nA,2021,1,1,1,1\n"),
            "year.csv: table departements, row 1, column hours_year, value \"2021\"",
        ),
    ] {
        let input = write(dir.path(), file, &text);
        let e = run(&cli(&[
            "avenant43",
            "--input",
            &input,
            "--year",
            "2022",
            "--out",
            o,
        ]))
        .expect_err(file);
        assert_eq!(e.exit_code(), 1, "{file}");
        assert!(e.to_string().contains(expected), "{e}");
    }
}

#[test]
fn cli_fgn_writes_schedule_and_flags_and_rejects_bad_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = tempfile::tempdir().expect("tmp");
    let header = "service_id,forfait_annual,objectives_set,objectives_met,fte_carers,non_presence_hours,cost_g1,cost_g3,cost_staff_non_carer,gross_expenses\n";
    let input = write(
        dir.path(),
        "fgn.csv",
        &format!("{header}S,1200000,4,3,10,3214,50000,80000,120000,1000000\n"),
    );
    let o = out.path().to_str().expect("utf-8");
    run(&loud(&[
        "fgn",
        "--input",
        &input,
        "--non-presence-band",
        "15:25",
        "--structure-band",
        "10:20",
        "--out",
        o,
    ]))
    .expect("runs");
    let schedule = crate::parquet_f64(&out.path().join("schedule.parquet"), "amount");
    let mut expected = vec![Some(90_000.0); 12];
    expected.push(Some(90_000.0));
    assert_eq!(schedule, expected);
    let services = out.path().join("services.parquet");
    assert_eq!(
        crate::parquet_f64(&services, "frozen"),
        vec![Some(30_000.0)]
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    assert_eq!(summary["non_presence_flags"]["within"], 1);
    assert_eq!(summary["structure_flags"]["above"], 1);

    let bad = write(
        dir.path(),
        "bad.csv",
        &format!("{header}S,1200000,4,2.5,10,3214,50000,80000,120000,1000000\n"),
    );
    let e = run(&cli(&["fgn", "--input", &bad, "--out", o])).expect_err("bad input");
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .contains("bad.csv: table services, row 1, column objectives_met, value \"2.5\""),
        "{e}"
    );
    // A malformed band is refused by the argument parser.
    let parsed = Cli::try_parse_from([
        "dotation",
        "fgn",
        "--input",
        &input,
        "--structure-band",
        "20:10",
        "--out",
        o,
    ]);
    assert!(parsed.is_err());
}

fn write_parquet(dir: &std::path::Path, name: &str, columns: Vec<(&str, ArrayRef)>) -> String {
    let batch = RecordBatch::try_from_iter(columns).expect("a batch");
    let p = dir.join(name);
    let file = std::fs::File::create(&p).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    p.to_str().expect("utf-8").to_string()
}

fn f64_column(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

fn text_column(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

#[test]
fn cli_reads_typed_columns_whole_float_counts_and_dates() {
    // The same service as `cli_fgn_writes_schedule_and_flags_and_rejects_bad_rows`, from
    // Parquet: the objectives stored as floats (4.0, 3.0) are counts.
    let dir = tempfile::tempdir().expect("tmp");
    let out = tempfile::tempdir().expect("tmp");
    let o = out.path().to_str().expect("utf-8");
    let fgn = |met: f64| {
        let mut columns = vec![
            ("service_id", text_column(&["S"])),
            ("forfait_annual", f64_column(&[1_200_000.0])),
            ("objectives_set", f64_column(&[4.0])),
            ("objectives_met", f64_column(&[met])),
            ("fte_carers", f64_column(&[10.0])),
            ("non_presence_hours", f64_column(&[3_214.0])),
        ];
        for (c, v) in [
            ("cost_g1", 50_000.0),
            ("cost_g3", 80_000.0),
            ("cost_staff_non_carer", 120_000.0),
            ("gross_expenses", 1_000_000.0),
        ] {
            columns.push((c, f64_column(&[v])));
        }
        columns
    };
    let input = write_parquet(dir.path(), "fgn.parquet", fgn(3.0));
    run(&cli(&["fgn", "--input", &input, "--out", o])).expect("runs");
    let frozen = crate::parquet_f64(&out.path().join("services.parquet"), "frozen");
    assert_eq!(frozen, vec![Some(30_000.0)]);
    // 2.5 objectives are not a count: refused, not truncated to 2.
    let bad = write_parquet(dir.path(), "half.parquet", fgn(2.5));
    let e = run(&cli(&["fgn", "--input", &bad, "--out", o])).expect_err("not a count");
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string().contains(
            "half.parquet: table services, row 1, column objectives_met, value \"2.5\": the value must be a whole number ≥ 0"
        ),
        "{e}"
    );

    // Actions with Date32 starts and integer quantities, as `cli_dc_writes_results…`.
    let day = |s: &str| dotation_core::schema::days_of_date(date(s));
    let hours = write_parquet(
        dir.path(),
        "hours.parquet",
        vec![
            ("service_id", text_column(&["B"])),
            ("departement", text_column(&["71"])),
            ("hours_apa", f64_column(&[10_000.0])),
            ("hours_pch", f64_column(&[0.0])),
        ],
    );
    let actions = |start: &str| {
        vec![
            ("service_id", text_column(&["B"])),
            ("action", text_column(&["o3_vehicle_purchase"])),
            ("quantity", Arc::new(Int64Array::from(vec![2])) as ArrayRef),
            (
                "start",
                Arc::new(Date32Array::from(vec![day(start)])) as ArrayRef,
            ),
        ]
    };
    let dc = |actions: &str| {
        cli(&[
            "dc",
            "--actions",
            actions,
            "--hours",
            &hours,
            "--catalogue",
            "saone-et-loire-2026",
            "--cnsa-rate",
            "3.311",
            "--out",
            o,
        ])
    };
    let good = write_parquet(dir.path(), "actions.parquet", actions("2026-10-01"));
    run(&dc(&good)).expect("runs");
    let paid = crate::parquet_f64(&out.path().join("services.parquet"), "paid_total");
    assert!(close(paid[0].expect("B"), 1_792.613_698_630_137, 1e-12));
    let late = write_parquet(dir.path(), "late.parquet", actions("2025-12-31"));
    let e = run(&dc(&late)).expect_err("outside the year");
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string().contains(
            "late.parquet: table actions, row 1, column start, value \"2025-12-31\": the start must fall in the year of the dotation, 2026"
        ),
        "{e}"
    );
}

#[test]
fn cli_reads_a_csv_header_with_quoted_names() {
    // A quoted column name holding a comma is one column (an extra one, ignored).
    let dir = tempfile::tempdir().expect("tmp");
    let out = tempfile::tempdir().expect("tmp");
    let hours = write(
        dir.path(),
        "hours.csv",
        "service_id,\"note, free text\",departement,hours_apa,hours_pch\n\
         A,\"big, urban\",71,60000,40000\n",
    );
    let actions = write(
        dir.path(),
        "actions.csv",
        "\"service_id\",action,quantity,start\nA,o2_sunday_holiday,50000,2026-01-05\n",
    );
    run(&cli(&[
        "dc",
        "--actions",
        &actions,
        "--hours",
        &hours,
        "--catalogue",
        "saone-et-loire-2026",
        "--cnsa-rate",
        "3.311",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]))
    .expect("runs");
    let paid = crate::parquet_f64(&out.path().join("services.parquet"), "paid_total");
    assert_eq!(paid, vec![Some(338_300.0)]);
}

#[test]
fn rule_tables_are_checked_against_their_contract() {
    use dotation_core::validate::{Source, ValidateOptions, check_dc};
    let batch =
        |columns: Vec<(&str, ArrayRef)>| RecordBatch::try_from_iter(columns).expect("a batch");
    let hours = Source::new(
        "hours",
        vec![batch(vec![
            ("service_id", text_column(&["A", "B"])),
            ("departement", text_column(&["71", "71"])),
            ("hours_apa", text_column(&["10", "1e3"])),
            ("hours_pch", text_column(&["0", "NaN"])),
        ])],
    );
    // Dates are YYYY-MM-DD and exist; the problems of both tables are reported together.
    let actions = |columns: Vec<(&str, ArrayRef)>| {
        let mut all = vec![
            ("service_id", text_column(&["A", "A", "A", "A"])),
            ("action", text_column(&["o1_training"; 4])),
        ];
        all.extend(columns);
        Source::new("actions", vec![batch(all)])
    };
    let starts = text_column(&["2026-01-05", "2026-1-5", "20260105", "2026-02-29"]);
    let dated = actions(vec![
        ("quantity", text_column(&["1", "1", "1", "1"])),
        ("start", starts.clone()),
    ]);
    let e = check_dc(&dated, &hours, &ValidateOptions::default()).expect_err("invalid");
    let msg = e.to_string();
    for part in [
        "actions: table actions, row 2, column start, value \"2026-1-5\": the value must be a date (YYYY-MM-DD)",
        "row 3, column start, value \"20260105\"",
        "row 4, column start, value \"2026-02-29\"",
        "hours: table hours, row 2, column hours_pch, value \"NaN\": the value must be a finite number",
    ] {
        assert!(msg.contains(part), "{msg}\n lacks {part}");
    }
    assert!(!msg.contains("row 1, column start"), "{msg}");
    // A missing column stops the table's row checks, not the other table's.
    let e = check_dc(
        &actions(vec![("start", starts)]),
        &hours,
        &ValidateOptions::default(),
    )
    .expect_err("no quantity");
    let msg = e.to_string();
    assert!(
        msg.contains("actions: table actions, column quantity: the column is required"),
        "{msg}"
    );
    assert!(msg.contains("column hours_pch, value \"NaN\""), "{msg}");
    assert!(!msg.contains("column start"), "{msg}");
    let empty = Source::new("none", Vec::new());
    let e = check_dc(&empty, &hours, &ValidateOptions::default()).expect_err("no actions");
    assert!(
        e.to_string()
            .contains("none: table actions: the table must have at least one row"),
        "{e}"
    );
}

#[test]
fn the_data_documentation_lists_every_rule_table_column() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/data.md"))
        .expect("docs/data.md");
    let section = &doc[doc
        .find("## Inputs of the rules commands")
        .expect("the section")..];
    for t in dotation_core::schema::TableKind::RULES {
        for c in t.columns() {
            assert!(
                section.contains(&format!("`{}`", c.name)),
                "{t}.{} is not documented",
                c.name
            );
        }
    }
}
