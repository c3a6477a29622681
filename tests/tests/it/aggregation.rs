//! Visit aggregation: hand-computed drivers of the hand example, the parallel kernels
//! against their plain sequential definition, and bit-identical results whatever the
//! number of threads or the record-batch boundaries (proptest).

use dotation_core::aggregate::{
    D, Drivers, VisitDriver, user_cells, visit_sums, visit_sums_reference,
};
use dotation_core::tables::{Allowance, Code, Qualification, Slot, Visits, Zone};
use dotation_core::validate::{RawDataset, Source, ValidateOptions, validate};
use dotation_tests::fixtures::Fixture;
use proptest::prelude::*;

#[test]
fn hand_example_drivers() {
    let m = validate(&Fixture::hand_example().raw(), &ValidateOptions::default()).expect("valid");
    let d = Drivers::compute(&m);
    // S1: U1's 60 min weekday (1 carer, A, 10 min, 5 km) and 60 min evening (2 carers, B,
    // 12 min, 6 km), U2's 90 min Sunday (C, 20 min, 15 km).
    let s1 = d.service(0);
    let expected = [
        3.0, // visits
        3.5, // hours
        1.0, 1.0, 1.5, 0.0, // weekday, evening, sunday_holiday, night
        4.5, // carer-hours: 1 + 2 × 1 + 1.5
        1.0, // double-staffed hours
        1.0, 1.0, 1.5, // A, B, C
        42.0, 26.0, // travel min, km
    ];
    assert_eq!(s1, expected);
    assert_eq!(d.users_with_visits, vec![2, 1, 2]);
    // Visits from 15 to 25 June: 11 days.
    assert_eq!(d.weeks, 11.0 / 7.0);
    let r = d.ratios(0);
    assert_eq!(r.km_per_hour, 26.0 / 3.5);
    assert_eq!(r.double_staffed_share, 1.0 / 3.5);
    assert_eq!(r.visits_per_user_week, 3.0 / (2.0 * 11.0 / 7.0));
    // U4: 45 + 30 minutes, one of them at night.
    let u4 = d.user(3);
    assert_eq!(u4[VisitDriver::Hours as usize], 1.25);
    assert_eq!(u4[VisitDriver::HoursWeekday as usize + 3], 0.5);

    // User-months: U4 served 6 months in S3, periurban, entourage 0, GIR 3.
    let cells = user_cells(&m);
    let c = cells
        .iter()
        .find(|c| c.service == 2 && c.allowance == Allowance::Apa)
        .expect("a cell of U4");
    assert_eq!(
        (c.gir, c.entourage, c.zone, c.users, c.user_months),
        (3, 0, Zone::Periurban, 1, 6.0)
    );
    assert_eq!(cells.iter().map(|c| c.user_months).sum::<f64>(), 54.0);
}

fn visits_strategy(max_len: usize, groups: u32) -> impl Strategy<Value = (Visits, Vec<u32>)> {
    prop::collection::vec(
        (
            0..groups,
            1.0f64..240.0,
            0.0f64..60.0,
            0.0f64..40.0,
            0usize..4,
            1u8..=2,
            0usize..3,
        ),
        0..max_len,
    )
    .prop_map(|rows| {
        let mut v = Visits::default();
        let mut key = Vec::new();
        for (i, (g, dur, tmin, km, slot, carers, q)) in rows.into_iter().enumerate() {
            key.push(g);
            v.user.push(g);
            v.service.push(g);
            v.start.push(i as i64 * 1_000_000);
            v.duration_min.push(dur);
            v.travel_min.push(tmin);
            v.travel_km.push(km);
            v.slot.push(Slot::ALL[slot]);
            v.carers.push(carers);
            v.qualification.push(Qualification::ALL[q]);
        }
        (v, key)
    })
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}

fn assert_close_to_reference(got: &[f64], reference: &[f64]) {
    for (g, r) in got.iter().zip(reference) {
        assert!((g - r).abs() <= 1e-9 * r.abs().max(1.0), "{g} vs {r}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Few groups (the dense strategy), lengths 0, 1, odd, across chunk boundaries.
    #[test]
    fn dense_kernel_matches_reference_and_threads(
        (v, key) in visits_strategy(150_000, 50)
    ) {
        let reference = visit_sums_reference(&v, &key, 50);
        let one = pool(1).install(|| visit_sums(&v, &key, 50));
        let two = pool(2).install(|| visit_sums(&v, &key, 50));
        prop_assert_eq!(one.len(), 50 * D);
        assert_close_to_reference(&one, &reference);
        prop_assert!(one.iter().zip(&two).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// Many groups (the counting-sort strategy): summed in row order, so equal to the
    /// sequential definition bit for bit.
    #[test]
    fn sorted_kernel_matches_reference_exactly(
        (v, key) in visits_strategy(3_000, 40_000)
    ) {
        let reference = visit_sums_reference(&v, &key, 40_000);
        let one = pool(1).install(|| visit_sums(&v, &key, 40_000));
        let two = pool(2).install(|| visit_sums(&v, &key, 40_000));
        prop_assert!(one.iter().zip(&reference).all(|(a, b)| a.to_bits() == b.to_bits()));
        prop_assert!(one.iter().zip(&two).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

/// The hand example's visits repeated many times, as one batch.
fn big_fixture(copies: usize) -> RawDataset {
    let mut f = Fixture::hand_example();
    let base = f.visits.rows.clone();
    for _ in 0..copies {
        f.visits.rows.extend(base.iter().cloned());
    }
    f.raw()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Validation + aggregation give the same bits however the visits are split into
    /// record batches, on 1 or 2 threads.
    #[test]
    fn drivers_unchanged_under_rebatching(cuts in prop::collection::vec(0usize..140_007, 0..6)) {
        let raw = big_fixture(20_000);
        let whole = raw.visits.batches[0].clone();
        let mut cuts = cuts;
        cuts.push(0);
        cuts.push(whole.num_rows());
        cuts.sort_unstable();
        let batches: Vec<_> = cuts.windows(2).map(|w| whole.slice(w[0], w[1] - w[0])).collect();
        let mut split = raw.clone();
        split.visits = Source::new("visits.csv", batches);
        let a = pool(1).install(|| {
            Drivers::compute(&validate(&raw, &ValidateOptions::default()).expect("valid"))
        });
        let b = pool(2).install(|| {
            Drivers::compute(&validate(&split, &ValidateOptions::default()).expect("valid"))
        });
        prop_assert!(a.service_visits.iter().zip(&b.service_visits).all(|(x, y)| x.to_bits() == y.to_bits()));
        prop_assert!(a.user_visits.iter().zip(&b.user_visits).all(|(x, y)| x.to_bits() == y.to_bits()));
        prop_assert_eq!(a.users_with_visits, b.users_with_visits);
        prop_assert_eq!(a.weeks.to_bits(), b.weeks.to_bits());
    }
}
