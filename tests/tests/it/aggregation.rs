//! Visit aggregation: hand-computed drivers of the hand example, the streamed fold against
//! its plain sequential definition, and bit-identical results whatever the number of
//! threads or the record-batch boundaries (proptest).

use dotation_core::Dataset;
use dotation_core::aggregate::{
    D, VisitAggregator, VisitDriver, VisitSums, user_cells, visit_sums_reference,
};
use dotation_core::tables::{Allowance, Code, Qualification, Slot, Visits, Zone};
use dotation_core::validate::{RawDataset, Source, ValidateOptions, validate};
use dotation_tests::fixtures::Fixture;
use proptest::prelude::*;

#[test]
fn hand_example_drivers() {
    let Dataset {
        micro: m,
        drivers: d,
        ..
    } = validate(&Fixture::hand_example().raw(), &ValidateOptions::default()).expect("valid");
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

/// Visits of `users` users, user `u` belonging to service `u % services`.
fn visits_strategy(max_len: usize, users: u32, services: u32) -> impl Strategy<Value = Visits> {
    prop::collection::vec(
        (
            0..users,
            1.0f64..240.0,
            0.0f64..60.0,
            0.0f64..40.0,
            0usize..4,
            1u8..=2,
            0usize..3,
        ),
        0..max_len,
    )
    .prop_map(move |rows| {
        let mut v = Visits::default();
        for (i, (u, dur, tmin, km, slot, carers, q)) in rows.into_iter().enumerate() {
            v.user.push(u);
            v.service.push(u % services);
            v.start.push(i as i64 * 1_000_000);
            v.duration_min.push(dur);
            v.travel_min.push(tmin);
            v.travel_km.push(km);
            v.slot.push(Slot::ALL[slot]);
            v.carers.push(carers);
            v.qualification.push(Qualification::ALL[q]);
        }
        v
    })
}

/// Rows `r` of `v`.
fn slice(v: &Visits, r: std::ops::Range<usize>) -> Visits {
    Visits {
        user: v.user[r.clone()].to_vec(),
        service: v.service[r.clone()].to_vec(),
        start: v.start[r.clone()].to_vec(),
        duration_min: v.duration_min[r.clone()].to_vec(),
        travel_min: v.travel_min[r.clone()].to_vec(),
        travel_km: v.travel_km[r.clone()].to_vec(),
        slot: v.slot[r.clone()].to_vec(),
        carers: v.carers[r.clone()].to_vec(),
        qualification: v.qualification[r].to_vec(),
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}

/// Folds `v` cut at `cuts` through an aggregator.
fn aggregate(v: &Visits, cuts: &[usize], services: usize, users: usize) -> VisitSums {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(v.len())).collect();
    cuts.push(0);
    cuts.push(v.len());
    cuts.sort_unstable();
    let mut agg = VisitAggregator::new(services, users);
    for w in cuts.windows(2) {
        agg.push(slice(v, w[0]..w[1]));
    }
    agg.finish()
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The streamed fold equals its sequential definition bit for bit, whatever the
    /// pieces the visits arrive in (lengths 0, 1, odd, across chunk boundaries) and the
    /// number of threads; few groups (services) and many (users) alike.
    #[test]
    fn aggregator_matches_reference_whatever_the_pieces(
        v in visits_strategy(150_000, 30_000, 40),
        cuts in prop::collection::vec(0usize..150_000, 0..7),
    ) {
        let reference = visit_sums_reference(&v, 40, 30_000);
        let one = pool(1).install(|| aggregate(&v, &cuts, 40, 30_000));
        let two = pool(2).install(|| aggregate(&v, &cuts, 40, 30_000));
        prop_assert_eq!(one.service.len(), 40 * D);
        prop_assert!(same_bits(&one.service, &reference.service));
        prop_assert!(same_bits(&one.user, &reference.user));
        prop_assert!(same_bits(&two.service, &reference.service));
        prop_assert!(same_bits(&two.user, &reference.user));
        prop_assert_eq!(
            (one.visits, one.first_start, one.last_start),
            (reference.visits, reference.first_start, reference.last_start)
        );
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
        let whole = raw.visits.as_ref().expect("visits").batches[0].clone();
        let mut cuts = cuts;
        cuts.push(0);
        cuts.push(whole.num_rows());
        cuts.sort_unstable();
        let batches: Vec<_> = cuts.windows(2).map(|w| whole.slice(w[0], w[1] - w[0])).collect();
        let mut split = raw.clone();
        split.visits = Some(Source::new("visits.csv", batches));
        let a = pool(1).install(|| validate(&raw, &ValidateOptions::default()).expect("valid").drivers);
        let b = pool(2).install(|| validate(&split, &ValidateOptions::default()).expect("valid").drivers);
        prop_assert!(same_bits(&a.service_visits, &b.service_visits));
        prop_assert!(same_bits(&a.user_visits, &b.user_visits));
        prop_assert_eq!(&a.users_with_visits, &b.users_with_visits);
        prop_assert_eq!(a.weeks.to_bits(), b.weeks.to_bits());
    }
}
