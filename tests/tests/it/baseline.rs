//! Today's hourly funding on the three-service hand example
//! (`dotation_tests::fixtures::Fixture::hand_example`). Expected values are worked out in
//! the comments and, for the participation, by `tests/reference/hand_example.py`.

use dotation_core::Dataset;
use dotation_core::baseline::{BaselineOptions, baseline};
use dotation_core::validate::{ValidateOptions, validate};
use dotation_tests::fixtures::Fixture;

use crate::close;

#[test]
fn hand_example_services_departements_and_nation() {
    let Dataset {
        micro: m,
        drivers: d,
        ..
    } = validate(&Fixture::hand_example().raw(), &ValidateOptions::default())
        .expect("the hand example is valid");
    let b = baseline(&m, &d, &BaselineOptions::default()).expect("2026 is known");
    assert_eq!(b.rules.floor, 25.00);

    // S1, HAS at 27.50 €/h (above the floor): 10,000 + 2,000 + 500 h funded (other hours
    // are not), 12,500 × 27.50 + 5,000 of dotation complémentaire = 348,750 €.
    // S2, HAS at 23.00 €/h: its 4,000 APA hours raised to the 25.00 floor, its 1,000
    // social-aid hours at the tariff (the floor is for APA and PCH hours only, seed 000):
    // 100,000 + 23,000 = 123,000 €.
    // S3, NHAS in Ain whose reference tariff 24.00 is below the floor: 7,000 h × 25.00 +
    // 1,000 = 176,000 €.
    assert_eq!(b.services.rate, vec![27.50, 25.00, 25.00]);
    assert_eq!(b.services.hours_funded, vec![12_500.0, 5_000.0, 7_000.0]);
    assert_eq!(b.services.funding, vec![348_750.0, 123_000.0, 176_000.0]);

    // Participation: S1's only APA user (U1) pays P/A = 136.19159497894384 / 1000 of each
    // hour; S1's 10,000 APA hours at 27.50 → 37,452.688619209555 €. S2's APA user is
    // exempt. S3's APA user pays 469.1397925932776 / 900 → 6,000 h × 25 × that rate.
    let expected_part = [37_452.688619209555, 0.0, 78_189.96543221294];
    for (s, e) in expected_part.iter().enumerate() {
        assert!(
            close(b.services.user_participation[s], *e, 1e-12),
            "S{}",
            s + 1
        );
        assert!(close(
            b.services.public_cost[s],
            b.services.funding[s] - e,
            1e-12
        ));
    }

    // Départements, weighted (S1 × 2, S2 × 3, S3 × 1.5): Ain = 697,500 + 264,000;
    // Aisne = 369,000.
    assert_eq!(b.departements[0].funding, 961_500.0);
    assert_eq!(b.departements[1].funding, 369_000.0);
    assert_eq!(b.departements[0].services, 3.5);
    // Nation: 1,330,500 € for 2 × 12,500 + 3 × 5,000 + 1.5 × 7,000 = 50,500 h.
    assert_eq!(b.national.funding, 1_330_500.0);
    assert_eq!(b.national.hours_funded, 50_500.0);
    assert!(close(
        b.national.user_participation,
        192_190.32538673852,
        1e-12
    ));
    assert_eq!(
        b.national.cost_total,
        2.0 * 400_000.0 + 3.0 * 140_000.0 + 1.5 * 200_000.0
    );
}

#[test]
fn hand_example_users_participation_and_out_of_pocket() {
    let Dataset {
        micro: m,
        drivers: d,
        ..
    } = validate(&Fixture::hand_example().raw(), &ValidateOptions::default()).expect("valid");
    let b = baseline(&m, &d, &BaselineOptions::default()).expect("2026");
    let u = &b.users;
    // U1 (APA, S1 HAS at 27.50): 136.19159497894384 €/month; per hour P/A × 27.50.
    assert!(close(u.participation_month[0], 136.19159497894384, 1e-12));
    assert!(close(
        u.oop_per_hour[0].expect("APA"),
        3.7452688619209558,
        1e-12
    ));
    // U2 (PCH at an HAS service): no participation, no extra-legal part.
    assert_eq!(u.oop_per_hour[1], Some(0.0));
    // U3 (APA, exempt).
    assert_eq!(u.participation_month[2], 0.0);
    assert_eq!(u.oop_per_hour[2], Some(0.0));
    // U4 (APA at the NHAS S3 billing 29.00 against a 25.00 rate): P/A × 25 + 4.00.
    assert!(close(u.participation_month[3], 469.1397925932776, 1e-12));
    assert!(close(
        u.oop_per_hour[3].expect("APA"),
        17.031660905368824,
        1e-12
    ));
    // U5 (other funder): outside public funding.
    assert_eq!(u.oop_per_hour[4], None);
}

#[test]
fn a_floor_scenario_changes_the_rate_of_services_below_it() {
    let Dataset {
        micro: m,
        drivers: d,
        ..
    } = validate(&Fixture::hand_example().raw(), &ValidateOptions::default()).expect("valid");
    let options = BaselineOptions {
        floor: Some(28.0),
        ..BaselineOptions::default()
    };
    let b = baseline(&m, &d, &options).expect("2026");
    assert_eq!(b.services.rate, vec![28.0, 28.0, 28.0]);
    // S2: 4,000 APA hours at 28 + 1,000 social-aid hours at its 23.00 tariff.
    assert_eq!(b.services.funding[1], 135_000.0);
}
