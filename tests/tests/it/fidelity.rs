//! Fidelity to the texts on the hand example (`Fixture::hand_example`), through the
//! solver's job API: the floor on APA and PCH hours only, the baseline a narrowed formula
//! must match, PCH outside the formula unless asked, APA ceilings at the model's hourly
//! value, activity in hours, the participation options in law, and budget changes. The
//! expected values are computed in exact fractions by `tests/reference/fidelity_example.py`
//! from the sentences of the texts it quotes.

use dotation_core::Dataset;
use dotation_core::baseline::{BaselineOptions, baseline};
use dotation_core::out_of_pocket::{OutOfPocket, Participation};
use dotation_core::schema::TableKind;
use dotation_core::validate::{ValidateOptions, validate};
use dotation_solver::job::{CalibrationJob, JobContext, JobResult, run};
use dotation_solver::neutrality::compensated_sum;
use dotation_solver::spec::{BudgetChange, JobSpec};
use dotation_tests::fixtures::Fixture;

use crate::close;
use crate::formulas::survey_dataset;

fn hand() -> Dataset {
    validate(&Fixture::hand_example().raw(), &ValidateOptions::default()).expect("valid")
}

/// One parameter fixed by national neutrality alone: `F_s = θ × funded hours`.
const ONE_RATE: &str = "[formula]\nkind = \"globale\"\ndrivers = [\"hours_funded\"]\n";

fn calibrate(data: &Dataset, text: &str) -> CalibrationJob {
    let spec = JobSpec::parse(text).expect("a valid spec");
    match run(&spec, data, None, &JobContext::detached())
        .expect("runs")
        .result
    {
        JobResult::Calibration(c) => *c,
        _ => panic!("a calibration"),
    }
}

fn weighted(data: &Dataset, v: &[f64]) -> f64 {
    let w = &data.micro.services.design_weight;
    compensated_sum(v.len(), |s| w[s] * v[s])
}

#[test]
fn the_floor_raises_apa_and_pch_hours_only() {
    // S2 (HAS, 23.00 €/h below the 25.00 floor): 4,000 APA h × 25 + 1,000 social-aid h ×
    // 23 = 123,000 € (seed 000: « une recette minimale pour chaque heure d'intervention
    // auprès des bénéficiaires de l'APA et la PCH »).
    let d = hand();
    let b = baseline(&d.micro, &d.drivers, &BaselineOptions::default()).expect("2026");
    assert_eq!(b.services.rate, vec![27.50, 25.00, 25.00]);
    assert_eq!(b.services.rate_social_aid, vec![27.50, 23.00, 24.00]);
    assert_eq!(b.services.funding, vec![348_750.0, 123_000.0, 176_000.0]);
    assert_eq!(b.departements[1].funding, 369_000.0);
    assert_eq!(b.national.funding, 1_330_500.0);
}

#[test]
fn a_narrowed_formula_matches_the_baseline_of_the_allowances_it_funds() {
    // Default funded: APA and social aid. Formula baselines 293,750 / 123,000 / 151,000
    // (with the dotation complémentaire); PCH carried by the hour: 55,000 / 0 / 25,000.
    let d = hand();
    let c = calibrate(&d, ONE_RATE);
    assert_eq!(c.design.baseline, vec![293_750.0, 123_000.0, 151_000.0]);
    assert_eq!(c.design.carried, vec![55_000.0, 0.0, 25_000.0]);
    assert_eq!(c.design.hours, vec![10_500.0, 5_000.0, 6_000.0]);
    // θ = 1,183,000 / 45,000 = 1183/45 €/h.
    assert!(close(c.calibration.estimate[0], 1183.0 / 45.0, 1e-12));
    assert!(close(
        weighted(&d, &c.calibration.funding),
        1_183_000.0,
        1e-12
    ));
    for (s, f) in [828_100.0 / 3.0, 1_183_000.0 / 9.0, 473_200.0 / 3.0]
        .iter()
        .enumerate()
    {
        assert!(close(c.calibration.funding[s], *f, 1e-12), "S{}", s + 1);
    }
    // Each service's total: the formula's part plus its PCH hours; the nation's is the
    // whole baseline, 1,330,500 €.
    let n = &c.summary.national;
    assert!(close(n.baseline_total, 1_330_500.0, 1e-12));
    assert!(close(n.funding_total, 1_330_500.0, 1e-12));
    assert!(c.summary.neutrality_residual <= 1e-12);
    // U2 (PCH, S1) stays paid by the hour: its out-of-pocket does not move.
    let oop = &c.users;
    assert_eq!(oop.oop_before[1], oop.oop_after[1]);
    let law = &c.law;
    assert_eq!(law.budget.baseline_funded, 1_183_000.0);
    assert_eq!(law.budget.carried, 147_500.0);
}

#[test]
fn pch_in_a_formula_is_refused_unless_asked_then_flagged() {
    let text = format!("{ONE_RATE}funded = [\"APA\", \"PCH\", \"social_aid\"]\n");
    let e = JobSpec::parse(&text).expect_err("refused").to_string();
    assert!(e.contains("formula.funded"), "{e}");
    assert!(e.contains("La forfaitisation de la PCH"), "{e}");
    let d = hand();
    let c = calibrate(&d, &format!("{text}allow_pch = true\n"));
    assert!(c.law.pch_by_formula);
    assert!(c.law.pch_note.as_deref().unwrap_or("").contains("PCH"));
    // Every hour funded by the formula: nothing carried, the whole baseline matched.
    assert_eq!(c.design.carried, vec![0.0; 3]);
    assert!(close(
        weighted(&d, &c.calibration.funding),
        1_330_500.0,
        1e-12
    ));
    // The default keeps PCH by the hour, unflagged.
    let c = calibrate(&d, ONE_RATE);
    assert!(!c.law.pch_by_formula);
    assert_eq!(c.law.pch_note, None);
}

#[test]
fn activity_in_hours_is_reported() {
    let c = calibrate(&hand(), ONE_RATE);
    let h = &c.law.activity_hours;
    assert_eq!(
        (h.apa, h.pch, h.social_aid, h.other),
        (41_000.0, 5_500.0, 4_000.0, 600.0)
    );
    assert_eq!(
        (h.funded_by_formula, h.paid_by_the_hour),
        (45_000.0, 5_500.0)
    );
}

#[test]
fn plans_valued_at_the_models_hourly_value_are_checked_against_the_gir_ceilings() {
    // Strict neutrality: θ = 26.29 €/h, every plan within its ceiling.
    let d = hand();
    let c = calibrate(&d, ONE_RATE);
    assert_eq!(c.law.plans_over_ceiling.users, 3);
    assert_eq!(c.law.plans_over_ceiling.over, 0);
    // +40 %: θ = 36.80 €/h; U4 (GIR 3, 35 h) is valued 1,288.16 € over 0.944 MTP =
    // 1,215.99 €; U1 (GIR 2, 40 h: 1,472.18 € ≤ 1,682.30 €) and U3 (GIR 4, 20 h:
    // 736.09 € ≤ 811.52 €) are within theirs.
    let c = calibrate(
        &d,
        &format!("{ONE_RATE}[neutrality]\nbudget_change = {{ percent = 40.0 }}\n"),
    );
    let p = &c.law.plans_over_ceiling;
    assert_eq!(p.over, 1);
    assert_eq!(p.worst[0].user_id, "U4");
    assert!(close(
        p.worst[0].plan_valued,
        1_288.155_555_555_555_6,
        1e-12
    ));
    assert!(
        close(p.worst[0].ceiling, 1_215.99, 1e-12),
        "{}",
        p.worst[0].ceiling
    );
    // U4's service S3 has weight 1.5 of the 2 + 3 + 1.5 the checked users stand for.
    assert!(close(p.over_share, 1.5 / 6.5, 1e-12));
}

#[test]
fn a_budget_change_moves_the_target_and_the_residual_is_measured_against_it() {
    let d = hand();
    for (p, target) in [
        (-5.0, 1_123_850.0),
        (-2.0, 1_159_340.0),
        (3.0, 1_218_490.0),
        (5.0, 1_242_150.0),
    ] {
        let c = calibrate(
            &d,
            &format!("{ONE_RATE}[neutrality]\nbudget_change = {{ percent = {p} }}\n"),
        );
        assert!(
            close(weighted(&d, &c.calibration.funding), target, 1e-12),
            "{p}"
        );
        assert!(close(c.law.budget.target, target, 1e-12));
        assert!(c.summary.neutrality_residual <= 1e-12, "{p}");
    }
    // +10,000 €: factor 1193/1183, target 1,193,000 €.
    let c = calibrate(
        &d,
        &format!("{ONE_RATE}[neutrality]\nbudget_change = {{ euros = 10000.0 }}\n"),
    );
    assert!(close(c.law.budget.factor, 1193.0 / 1183.0, 1e-12));
    assert!(close(
        weighted(&d, &c.calibration.funding),
        1_193_000.0,
        1e-12
    ));
    // The shared function of sweeps.
    assert!(close(
        BudgetChange::percent(5.0).target(1_183_000.0),
        1_242_150.0,
        1e-15
    ));
    assert!(close(
        BudgetChange::euros(10_000.0).target(1_183_000.0),
        1_193_000.0,
        1e-15
    ));
}

#[test]
fn budget_changes_hold_on_the_survey_for_every_scope() {
    let data = survey_dataset();
    for scope in ["national", "departement"] {
        for p in [-5.0, -2.5, 0.0, 2.5, 5.0] {
            let text = format!(
                "[neutrality]\nscope = \"{scope}\"\nbudget_change = {{ percent = {p} }}\n{}",
                if scope == "departement" {
                    "[calibration]\nmethod = \"point_values\"\n"
                } else {
                    ""
                }
            );
            let c = calibrate(&data, &text);
            let base = weighted(&data, &c.design.baseline);
            let funded = weighted(&data, &c.calibration.funding);
            let want = base * (1.0 + p / 100.0);
            assert!(close(funded, want, 1e-9), "{scope} {p}: {funded} vs {want}");
            assert!(c.summary.neutrality_residual <= 1e-9, "{scope} {p}");
        }
    }
}

#[test]
fn budget_change_specs_that_cannot_run_name_the_key() {
    for (text, key) in [
        (
            "[neutrality]\nbudget_change = {}\n",
            "neutrality.budget_change",
        ),
        (
            "[neutrality]\nbudget_change = { percent = -100.0 }\n",
            "neutrality.budget_change.percent",
        ),
        (
            "[neutrality]\nscope = \"none\"\nbudget_change = { percent = 1.0 }\n",
            "neutrality.budget_change",
        ),
    ] {
        let e = JobSpec::parse(text).expect_err(text).to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
}

#[test]
fn resources_only_applies_to_gir_1_to_3_and_to_gir_4_when_asked() {
    // U3 (GIR 4, S2 in Aisne) with resources of 2,000 €/month on a 500 € plan: 7.1 gives
    // P(A)/A × 25.00 = 8.969226935567292 €/h; 7.3 0.9 x × 26.10 = 9.995487996120081 €/h.
    let mut f = Fixture::hand_example();
    f.set(TableKind::Users, 3, "resources_month", "2000");
    let d = validate(&f.raw(), &ValidateOptions::default()).expect("valid");
    let b = baseline(&d.micro, &d.drivers, &BaselineOptions::default()).expect("2026");
    let mut oop = OutOfPocket::new(&d.micro, &d.drivers, &b).expect("2026");
    let u3 = |oop: &OutOfPocket| {
        oop.per_hour(2, Participation::ResourcesOnly, 25.0)
            .expect("APA")
    };
    assert!(close(u3(&oop), 8.969_226_935_567_292, 1e-12));
    oop.set_resources_only_gir4(true);
    assert!(close(u3(&oop), 9.995_487_996_120_081, 1e-12));
    // Every report says what the option is in law.
    assert!(
        Participation::ResourcesOnly
            .legal_note()
            .contains("ne déroge pas")
    );
    assert!(
        Participation::AcceptedPlan
            .legal_note()
            .contains("D.232-11-1")
    );
    let c = calibrate(
        &d,
        &format!(
            "{ONE_RATE}[guarantees]\nparticipation = \"resources_only\"\nresources_only_gir4 = true\n"
        ),
    );
    assert!(c.law.participation_note.contains("ne déroge pas"));
    assert!(c.law.resources_only_gir4);
    let e = JobSpec::parse("[guarantees]\nresources_only_gir4 = true\n")
        .expect_err("7.3 only")
        .to_string();
    assert!(e.contains("guarantees.resources_only_gir4"), "{e}");
}
