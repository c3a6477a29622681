//! The legal rules: floor tariff by year, APA ceilings and the beneficiary's participation
//! (art. R.232-10 and R.232-11 CASF). Expected values: `tests/reference/hand_example.py`
//! (exact rational arithmetic of the texts' formulas).

use dotation_core::legal::{
    ResourceBracket, YearRules, apa_ceiling, apa_participation, counted_resources, mtp,
    resource_bracket,
};

use crate::close;

fn check_participation(year: i32, resources: f64, couple: bool, plan: f64, expected: f64) {
    let m = mtp(year).expect("a year of the MTP table");
    let p = apa_participation(plan, counted_resources(resources, couple), m);
    assert!(
        close(p, expected, 1e-10) || (expected == 0.0 && p == 0.0),
        "{year}, R = {resources}, couple = {couple}, plan = {plan}: {p} != {expected}"
    );
}

#[test]
fn participation_across_brackets_tranches_and_years() {
    // (year, monthly resources, couple, plan amount, P) — three brackets (800 exempt, 1500
    // and 2600 progressive, 5000 full) × three plans (300 in tranche 1, 500 reaching
    // tranche 2, 1200 reaching tranche 3) × the MTP of 2024, 2025 and 2026.
    let cases: &[(i32, f64, bool, f64, f64)] = &[
        (2024, 800.0, false, 300.0, 0.0),
        (2024, 800.0, false, 500.0, 0.0),
        (2024, 800.0, false, 1200.0, 0.0),
        (2024, 1500.0, false, 300.0, 71.31720845),
        (2024, 1500.0, false, 500.0, 106.671550632),
        (2024, 1500.0, false, 1200.0, 178.720969171),
        (2024, 2600.0, false, 300.0, 197.421121896),
        (2024, 2600.0, false, 500.0, 316.707859755),
        (2024, 2600.0, false, 1200.0, 681.94025607),
        (2024, 5000.0, false, 300.0, 270.0),
        (2024, 5000.0, false, 500.0, 450.0),
        (2024, 5000.0, false, 1200.0, 1080.0),
        (2025, 800.0, false, 300.0, 0.0),
        (2025, 1500.0, false, 300.0, 63.7551008976),
        (2025, 1500.0, false, 500.0, 96.6656698749),
        (2025, 1500.0, false, 1200.0, 158.765384215),
        (2025, 2600.0, false, 300.0, 184.313468805),
        (2025, 2600.0, false, 500.0, 295.667368528),
        (2025, 2600.0, false, 1200.0, 621.64401752),
        (2025, 5000.0, false, 1200.0, 1080.0),
        (2026, 800.0, false, 1200.0, 0.0),
        (2026, 1500.0, false, 300.0, 61.0073315861),
        (2026, 1500.0, false, 500.0, 93.0217869712),
        (2026, 1500.0, false, 1200.0, 151.677796242),
        (2026, 2600.0, false, 300.0, 179.550668665),
        (2026, 2600.0, false, 500.0, 288.224258752),
        (2026, 2600.0, false, 1200.0, 600.571237787),
        (2026, 5000.0, false, 500.0, 450.0),
        // A couple: 3,000 € of household resources count as 3,000 / 1.7.
        (2026, 3000.0, true, 900.0, 199.441943671),
    ];
    for &(year, r, couple, plan, expected) in cases {
        check_participation(year, r, couple, plan, expected);
    }
}

#[test]
fn bracket_thresholds_are_inclusive_as_in_the_text() {
    let m = 1_288.13;
    // R ≤ 0.725 MTP is exempt, R ≤ 2.67 MTP is progressive.
    assert_eq!(resource_bracket(0.725 * m, m), ResourceBracket::Exempt);
    assert_eq!(
        resource_bracket(0.725 * m + 0.01, m),
        ResourceBracket::Progressive
    );
    assert_eq!(resource_bracket(2.67 * m, m), ResourceBracket::Progressive);
    assert_eq!(resource_bracket(2.67 * m + 0.01, m), ResourceBracket::Full);
    // At the top of the progressive bracket x = 1 and P = 0.9 A, continuous with the next.
    let p = apa_participation(1_000.0, 2.67 * m, m);
    assert!(close(p, 900.0, 1e-12), "{p}");
}

#[test]
fn floor_tariff_by_year() {
    for (year, floor) in [
        (2022, 22.00),
        (2023, 23.00),
        (2024, 23.50),
        (2025, 24.58),
        (2026, 25.00),
    ] {
        assert_eq!(
            YearRules::for_year(year, None).expect("known year").floor,
            floor
        );
    }
    // After 2026: 23.50 × MTP / 1,210.90 — with a hypothetical MTP of 1,320.00 €:
    // 23.50 × 1320 / 1210.90 = 25.6173... → 25.62 €/h.
    let r = YearRules::for_year(2027, Some(1_320.00)).expect("MTP given");
    assert_eq!(r.floor, 25.62);
    // The indexation rule reproduces the published 2025 and 2026 floors.
    assert_eq!(dotation_core::legal::indexed_floor(1_266.60), 24.58);
    assert_eq!(dotation_core::legal::indexed_floor(1_288.13), 25.00);
    // Unknown years say what to do.
    let e = YearRules::for_year(2027, None).expect_err("no MTP for 2027");
    assert!(e.to_string().contains("mtp"), "{e}");
    assert!(YearRules::for_year(2021, None).is_err());
}

#[test]
fn apa_ceilings_of_2025_match_the_published_amounts() {
    let m = mtp(2025).expect("2025");
    let published = [(1, 2_045.56), (2, 1_654.18), (3, 1_195.67), (4, 797.96)];
    for (gir, amount) in published {
        assert_eq!(apa_ceiling(gir, m), Some(amount), "GIR {gir}");
    }
    assert_eq!(apa_ceiling(5, m), None);
}
