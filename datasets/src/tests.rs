//! Tests of what callers see: the exact schemas, determinism across runs and thread
//! counts, the marginals against the public targets of DOMAIN.md, value ranges,
//! referential integrity, slot/start agreement (checked against a hand-written 2026
//! calendar), annual hours equal to the year's visits, the national census stream, and the
//! truth's consistency with the data. Expected values are the stated targets, not values
//! read back from the generator.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};

use super::*;

fn default_survey() -> &'static Survey {
    static SURVEY: OnceLock<Survey> = OnceLock::new();
    SURVEY.get_or_init(|| survey(&SurveyConfig::default()).expect("the default survey"))
}

fn f64s(b: &RecordBatch, name: &str) -> Vec<f64> {
    let a = b
        .column_by_name(name)
        .expect(name)
        .as_primitive::<Float64Type>();
    assert_eq!(a.null_count(), 0, "{name} has nulls");
    a.values().to_vec()
}

fn opt_f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    b.column_by_name(name)
        .expect(name)
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

fn i32s(b: &RecordBatch, name: &str) -> Vec<Option<i32>> {
    b.column_by_name(name)
        .expect(name)
        .as_primitive::<Int32Type>()
        .iter()
        .collect()
}

fn strs<'a>(b: &'a RecordBatch, name: &str) -> Vec<&'a str> {
    let a = b.column_by_name(name).expect(name).as_string::<i32>();
    assert_eq!(a.null_count(), 0, "{name} has nulls");
    a.iter().map(|v| v.unwrap_or_default()).collect()
}

fn bools(b: &RecordBatch, name: &str) -> Vec<bool> {
    let a = b.column_by_name(name).expect(name).as_boolean();
    assert_eq!(a.null_count(), 0, "{name} has nulls");
    a.iter().map(|v| v.unwrap_or_default()).collect()
}

fn assert_near(what: &str, value: f64, target: f64, tolerance: f64) {
    assert!(
        (value - target).abs() <= tolerance,
        "{what}: {value} is not within {tolerance} of {target}"
    );
}

// ---------------------------------------------------------------------------------------
// Schemas

#[test]
fn schemas_are_the_contract() {
    use DataType::{Boolean as B, Float64 as F, Int32 as I, Int64 as L, Utf8 as S};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    type Fields = Vec<(&'static str, DataType, bool)>;
    let expected: [(Table, Fields); 4] = [
        (
            Table::Departements,
            vec![
                ("departement", S, false),
                ("name", S, false),
                ("year", I, false),
                ("tarif_reference", F, false),
                ("pop_60_plus", L, false),
                ("pop_75_plus", L, false),
                ("apa_domicile", L, false),
                ("pch", L, false),
            ],
        ),
        (
            Table::Services,
            vec![
                ("service_id", S, false),
                ("departement", S, false),
                ("status", S, false),
                ("habilitated", B, false),
                ("mixed", B, false),
                ("design_weight", F, false),
                ("hours_apa", F, false),
                ("hours_pch", F, false),
                ("hours_social_aid", F, false),
                ("hours_other", F, false),
                ("tariff_hourly", F, true),
                ("price_billed", F, true),
                ("dotation_complementaire", F, false),
                ("cost_g1", F, false),
                ("cost_g2", F, false),
                ("cost_g3", F, false),
                ("cost_total", F, false),
                ("fte_carers", F, false),
                ("fte_support", F, false),
                ("stratum", S, false),
                ("fpc", F, false),
            ],
        ),
        (
            Table::Users,
            vec![
                ("user_id", S, false),
                ("service_id", S, false),
                ("allowance", S, false),
                ("gir", I, true),
                ("plan_hours_month", F, false),
                ("plan_amount_month", F, false),
                ("pch_hours_month", F, true),
                ("resources_month", F, false),
                ("couple", B, false),
                ("entourage", I, false),
                ("zone", S, false),
                ("months_served", F, false),
            ],
        ),
        (
            Table::Visits,
            vec![
                ("user_id", S, false),
                ("service_id", S, false),
                ("start", ts, false),
                ("duration_min", F, false),
                ("travel_min", F, false),
                ("travel_km", F, false),
                ("slot", S, false),
                ("carers", I, false),
                ("qualification", S, false),
            ],
        ),
    ];
    let s = default_survey();
    for (table, fields) in expected {
        let schema = schema(table);
        let got: Vec<(&str, DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(got, fields, "{table}");
        let batches: Vec<&RecordBatch> = match table {
            Table::Departements => vec![&s.departements],
            Table::Services => vec![&s.services],
            Table::Users => s.users.iter().collect(),
            Table::Visits => s.visits.iter().collect(),
        };
        assert!(!batches.is_empty());
        for b in batches {
            assert_eq!(b.schema(), schema, "{table}");
            for (column, field) in b.columns().iter().zip(schema.fields()) {
                if !field.is_nullable() {
                    assert_eq!(column.null_count(), 0, "{table}.{}", field.name());
                }
            }
        }
    }
}

#[test]
fn names_and_parsing() {
    assert_eq!(
        Table::ALL.map(Table::name),
        ["departements", "services", "users", "visits"]
    );
    assert_eq!("survey".parse::<Scale>(), Ok(Scale::Survey));
    assert_eq!("National".parse::<Scale>(), Ok(Scale::National));
    assert!("regional".parse::<Scale>().is_err());
    assert_eq!(Scale::National.to_string(), "national");
    let c = SurveyConfig::default();
    assert_eq!((c.seed, c.scale, c.year), (2026, Scale::Survey, 2026));
    assert_eq!(DEFAULT_SEED, 2026);
    let national = SurveyConfig {
        scale: Scale::National,
        ..c
    };
    assert!(matches!(
        survey(&national),
        Err(GenerateError::InMemoryNational)
    ));
    let old = SurveyConfig { year: 2019, ..c };
    assert!(matches!(
        survey(&old),
        Err(GenerateError::UnsupportedYear { year: 2019, .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Determinism

#[test]
fn same_config_same_bits_whatever_the_thread_count() {
    let config = SurveyConfig::default();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool");
    let sequential = one_thread.install(|| survey(&config)).expect("survey");
    assert_eq!(&sequential, default_survey());
    let again = survey(&config).expect("survey");
    assert_eq!(&again, default_survey());
    // Another seed gives another sample.
    let other = survey(&SurveyConfig { seed: 7, ..config }).expect("survey");
    assert_ne!(other.services, default_survey().services);
}

#[test]
fn progress_reaches_the_total() {
    let mut calls = Vec::new();
    generate_with_progress(
        &SurveyConfig::default(),
        &mut |_, _| Ok(()),
        &mut |done, total| calls.push((done, total)),
    )
    .expect("generate");
    let (last, total) = *calls.last().expect("progress was reported");
    assert_eq!(last, total);
    assert_eq!(total, 3 * 437);
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0));
}

// ---------------------------------------------------------------------------------------
// Marginals against the targets

#[test]
fn frame_and_sample_sizes() {
    let t = &default_survey().truth;
    // 6,314 SAD authorised in 2024; 437 retained (DOMAIN.md §1).
    assert_eq!(t.frame.services, 6_314);
    assert_eq!(t.sample.services, 437);
    assert_eq!(default_survey().services.num_rows(), 437);
    assert_eq!(t.frame.departements, 99);
    // ≈ 800,000 users nationally.
    assert_near("frame users", t.frame.users as f64, 800_000.0, 80_000.0);
    assert_near(
        "estimated users",
        t.sample.weighted_users,
        800_000.0,
        120_000.0,
    );
    // ≈ 190 M APA+PCH hours a year, within 15 %.
    let h = &t.sample.weighted_hours;
    assert_near("APA+PCH hours", h["APA"] + h["PCH"], 190e6, 0.15 * 190e6);
    // The sample holds ≈ 17 % of APA+PCH hours with 7 % of the services.
    assert_near(
        "share of hours",
        t.sample.share_of_apa_pch_hours,
        0.17,
        0.03,
    );
    // Strata: N_h sum to the frame, n_h to the sample, weights N_h / n_h.
    let n: usize = t.strata.iter().map(|s| s.sample_services).sum();
    let big_n: usize = t.strata.iter().map(|s| s.frame_services).sum();
    assert_eq!((n, big_n), (437, 6_314));
    for s in t.strata.iter().filter(|s| s.sample_services > 0) {
        assert_near(
            &s.stratum,
            s.design_weight,
            s.frame_services as f64 / s.sample_services as f64,
            1e-12,
        );
    }
    // Large services are oversampled.
    let weight = |size: &str| {
        t.strata
            .iter()
            .find(|s| s.stratum == format!("associatif/{size}"))
            .map(|s| s.design_weight)
            .unwrap_or_default()
    };
    assert!(weight("small") > 4.0 * weight("xlarge"));
}

#[test]
fn frame_composition() {
    let f = &default_survey().truth.frame;
    let share = |k: usize| k as f64 / f.services as f64;
    assert_near(
        "associatif",
        share(f.services_by_status["associatif"]),
        0.45,
        0.04,
    );
    assert_near("public", share(f.services_by_status["public"]), 0.10, 0.03);
    assert_near(
        "privé",
        share(f.services_by_status["prive_lucratif"]),
        0.45,
        0.04,
    );
    // ≈ 20 % mixed (DOMAIN.md §1).
    assert_near("mixed", share(f.mixed), 0.20, 0.04);
    // Habilitation: HAS mostly associatif and public.
    let s = &default_survey().services;
    let status = strs(s, "status");
    let has = bools(s, "habilitated");
    let has_private = (0..s.num_rows())
        .filter(|&i| status[i] == "prive_lucratif")
        .map(|i| f64::from(u8::from(has[i])))
        .sum::<f64>()
        / status.iter().filter(|x| **x == "prive_lucratif").count() as f64;
    assert!(has_private < 0.15, "{has_private}");
}

#[test]
fn users_marginals() {
    let s = default_survey();
    let mut gir = [0_usize; 4];
    let mut allowance: HashMap<String, usize> = HashMap::new();
    let mut entourage = [0_usize; 4];
    let (mut users, mut full_year, mut couples) = (0_usize, 0_usize, 0_usize);
    let mut below = 0_usize;
    let mut above = 0_usize;
    let mtp = 1_288.13;
    for b in &s.users {
        let a = strs(b, "allowance");
        let g = i32s(b, "gir");
        let e = i32s(b, "entourage");
        let m = f64s(b, "months_served");
        let r = f64s(b, "resources_month");
        let c = bools(b, "couple");
        for i in 0..b.num_rows() {
            users += 1;
            *allowance.entry(a[i].to_owned()).or_default() += 1;
            if a[i] == "APA" {
                let k = g[i].expect("APA users have a GIR");
                gir[usize::try_from(k - 1).expect("GIR ≥ 1")] += 1;
            }
            entourage[usize::try_from(e[i].unwrap_or(-1)).expect("entourage ≥ 0")] += 1;
            full_year += usize::from(m[i] == 12.0);
            couples += usize::from(c[i]);
            let person = if c[i] { r[i] / 1.7 } else { r[i] };
            below += usize::from(person <= 0.725 * mtp);
            above += usize::from(person > 2.67 * mtp);
        }
    }
    let apa: usize = gir.iter().sum();
    // GIR 1/2/3/4 = 2/18/22/58 % (DOMAIN.md §7).
    for (k, target) in [0.02, 0.18, 0.22, 0.58].into_iter().enumerate() {
        assert_near(
            &format!("GIR{}", k + 1),
            gir[k] as f64 / apa as f64,
            target,
            0.02,
        );
    }
    let share = |k: &str| allowance.get(k).copied().unwrap_or_default() as f64 / users as f64;
    assert!(share("APA") > 0.5, "APA is the majority");
    assert_near("PCH", share("PCH"), 0.175, 0.035);
    assert!(share("social_aid") > 0.01 && share("other") > 0.01);
    for (k, target) in [0.15, 0.35, 0.35, 0.15].into_iter().enumerate() {
        assert_near(
            &format!("entourage {k}"),
            entourage[k] as f64 / users as f64,
            target,
            0.03,
        );
    }
    // Most users are served the whole year; some are couples; resources spread over the
    // three APA participation brackets.
    assert!(full_year as f64 / users as f64 > 0.5);
    assert_near("couples", couples as f64 / users as f64, 0.3, 0.03);
    assert!(below as f64 / users as f64 > 0.05);
    assert!(above as f64 / users as f64 > 0.02);
    assert!(((below + above) as f64 / users as f64) < 0.4);
}

#[test]
fn plans_by_gir() {
    let s = default_survey();
    let mut hours = [(0.0, 0_usize); 4];
    let mut amount = [0.0; 4];
    for b in &s.users {
        let a = strs(b, "allowance");
        let g = i32s(b, "gir");
        let h = f64s(b, "plan_hours_month");
        let p = f64s(b, "plan_amount_month");
        for i in 0..b.num_rows() {
            if a[i] == "APA" {
                let k = usize::try_from(g[i].unwrap_or(4) - 1).unwrap_or(3);
                hours[k].0 += h[i];
                hours[k].1 += 1;
                amount[k] += p[i];
            }
        }
    }
    let mean_h = |ks: &[usize]| {
        ks.iter().map(|&k| hours[k].0).sum::<f64>()
            / ks.iter().map(|&k| hours[k].1).sum::<usize>() as f64
    };
    // ≈ 52 h/month for GIR 1–2 and 28 h/month for GIR 3–4 (2016 study).
    assert_near("plan hours GIR 1-2", mean_h(&[0, 1]), 52.0, 5.0);
    assert_near("plan hours GIR 3-4", mean_h(&[2, 3]), 28.0, 3.0);
    // Plan amounts ≈ 1,250 / 940 / 650 / 360 € (2017).
    for (k, target) in [1_250.0, 940.0, 650.0, 360.0].into_iter().enumerate() {
        let mean = amount[k] / hours[k].1 as f64;
        assert_near(
            &format!("plan amount GIR{}", k + 1),
            mean,
            target,
            0.1 * target,
        );
    }
}

#[test]
fn costs_and_staff() {
    let s = &default_survey().services;
    let w = f64s(s, "design_weight");
    let total = f64s(s, "cost_total");
    let g = ["cost_g1", "cost_g2", "cost_g3"].map(|c| f64s(s, c));
    let hours: Vec<f64> = (0..s.num_rows())
        .map(|i| {
            ["hours_apa", "hours_pch", "hours_social_aid", "hours_other"]
                .iter()
                .map(|c| f64s(s, c)[i])
                .sum()
        })
        .collect();
    let wc: f64 = (0..s.num_rows()).map(|i| w[i] * total[i]).sum();
    let wh: f64 = (0..s.num_rows()).map(|i| w[i] * hours[i]).sum();
    // Cost per hour 2024–25 ≈ 30–32 €/h (DOMAIN.md §7).
    let per_hour = wc / wh;
    assert!((28.0..=33.0).contains(&per_hour), "{per_hour}");
    // Spread like the 2016 study: interquartile range ≈ ±10 % of the median.
    let mut ratio: Vec<f64> = (0..s.num_rows()).map(|i| total[i] / hours[i]).collect();
    ratio.sort_by(f64::total_cmp);
    let q = |p: f64| ratio[((ratio.len() - 1) as f64 * p).round() as usize];
    let spread = (q(0.75) - q(0.25)) / q(0.5);
    assert!((0.10..=0.30).contains(&spread), "IQR / median = {spread}");
    assert!((28.0..=33.0).contains(&q(0.5)), "median {}", q(0.5));
    // 85 % staff, 10 % structure, 5 % other (2016 study).
    let t: f64 = total.iter().sum();
    for (k, target) in [0.05, 0.85, 0.10].into_iter().enumerate() {
        let share = g[k].iter().sum::<f64>() / t;
        assert_near(&format!("G{} share", k + 1), share, target, 0.02);
    }
    for i in 0..s.num_rows() {
        assert_near("G1+G2+G3", g[0][i] + g[1][i] + g[2][i], total[i], 1e-6);
        assert!(g.iter().all(|x| x[i] > 0.0));
    }
    // FTE: paid hours / 1,607 with 20–25 % non-intervention time, so ≈ 1,200–1,300
    // delivered hours a carer FTE.
    let fte = f64s(s, "fte_carers");
    let per_fte = hours.iter().sum::<f64>() / fte.iter().sum::<f64>();
    assert!((1_100.0..=1_350.0).contains(&per_fte), "{per_fte}");
    let support = f64s(s, "fte_support");
    assert!(support.iter().zip(&fte).all(|(s, c)| *s > 0.0 && s < c));
}

#[test]
fn tariffs_and_dotation() {
    let s = &default_survey().services;
    let has = bools(s, "habilitated");
    let tariff = opt_f64s(s, "tariff_hourly");
    let price = opt_f64s(s, "price_billed");
    let dc = f64s(s, "dotation_complementaire");
    let apa = f64s(s, "hours_apa");
    let pch = f64s(s, "hours_pch");
    let social = f64s(s, "hours_social_aid");
    let mut with_dc = 0;
    for i in 0..s.num_rows() {
        if has[i] {
            let t = tariff[i].expect("HAS services have a tariff");
            assert!((24.0..=30.0).contains(&t), "{t}");
            assert!(price[i].is_none());
        } else {
            let p = price[i].expect("NHAS services have a price");
            assert!((25.0..=32.0).contains(&p), "{p}");
            assert!(tariff[i].is_none());
            // No social-aid hours without habilitation.
            assert_eq!(social[i], 0.0);
        }
        // Cap: APA+PCH hours × 3.383 €/h (2026).
        assert!(dc[i] >= 0.0 && dc[i] <= (apa[i] + pch[i]) * 3.383);
        with_dc += usize::from(dc[i] > 0.0);
    }
    assert!(with_dc > 20 && with_dc < s.num_rows() / 2);
    let d = &default_survey().departements;
    let tarif = f64s(d, "tarif_reference");
    assert!(tarif.iter().all(|t| (23.0..=27.0).contains(t)));
    // Some below the 2026 floor of 25 €/h, some above.
    assert!(tarif.iter().any(|t| *t < 25.0) && tarif.iter().any(|t| *t > 25.0));
    let codes = strs(d, "departement");
    let sl = codes
        .iter()
        .position(|c| *c == "71")
        .expect("Saône-et-Loire");
    assert_eq!(tarif[sl], 24.58);
    assert!(i32s(d, "year").iter().all(|y| *y == Some(2026)));
    let pop60 = d
        .column_by_name("pop_60_plus")
        .expect("pop_60_plus")
        .as_primitive::<Int64Type>();
    // Population 60+ ≈ 18.7 M (DOMAIN.md §7; the table is 2020).
    assert_near(
        "population 60+",
        pop60.values().iter().sum::<i64>() as f64,
        18.0e6,
        1.0e6,
    );
}

#[test]
fn user_value_ranges() {
    let s = default_survey();
    let mtp = 1_288.13;
    let ceilings = [1.615, 1.306, 0.944, 0.630].map(|k| k * mtp + 0.01);
    let zones: HashSet<&str> = ["urban", "periurban", "rural", "mountain"].into();
    let mut seen_zones = HashSet::new();
    for b in &s.users {
        let a = strs(b, "allowance");
        let g = i32s(b, "gir");
        let ph = f64s(b, "plan_hours_month");
        let pa = f64s(b, "plan_amount_month");
        let pch = opt_f64s(b, "pch_hours_month");
        let e = i32s(b, "entourage");
        let z = strs(b, "zone");
        let m = f64s(b, "months_served");
        let r = f64s(b, "resources_month");
        for i in 0..b.num_rows() {
            match a[i] {
                "APA" => {
                    let k = g[i].expect("GIR");
                    assert!((1..=4).contains(&k));
                    assert!(pa[i] <= ceilings[usize::try_from(k - 1).unwrap_or(0)]);
                    assert!(pch[i].is_none());
                }
                "PCH" => {
                    assert!(pch[i].is_some_and(|h| h > 0.0));
                    assert!(g[i].is_none());
                }
                "social_aid" | "other" => {
                    assert!(g[i].is_none_or(|k| (5..=6).contains(&k)));
                    assert!(pch[i].is_none());
                }
                other => panic!("allowance {other}"),
            }
            assert!(ph[i] > 0.0 && pa[i] > 0.0 && r[i] > 0.0);
            assert!(e[i].is_some_and(|x| (0..=3).contains(&x)));
            assert!(zones.contains(z[i]));
            seen_zones.insert(z[i]);
            assert!(m[i] > 0.0 && m[i] <= 12.0);
        }
    }
    assert_eq!(seen_zones, zones);
}

#[test]
fn visit_marginals() {
    let s = default_survey();
    let (mut n, mut double) = (0_usize, 0_usize);
    let mut slots: HashMap<String, usize> = HashMap::new();
    let mut quals: HashMap<String, usize> = HashMap::new();
    let mut km_by_zone: HashMap<&str, (f64, usize)> = HashMap::new();
    let mut zone_of: HashMap<&str, &str> = HashMap::new();
    for b in &s.users {
        for (u, z) in strs(b, "user_id").into_iter().zip(strs(b, "zone")) {
            zone_of.insert(u, z);
        }
    }
    for b in &s.visits {
        let d = f64s(b, "duration_min");
        let tm = f64s(b, "travel_min");
        let km = f64s(b, "travel_km");
        let slot = strs(b, "slot");
        let c = i32s(b, "carers");
        let q = strs(b, "qualification");
        let u = strs(b, "user_id");
        for i in 0..b.num_rows() {
            n += 1;
            assert!((30.0..=120.0).contains(&d[i]));
            assert!(tm[i] > 0.0 && km[i] > 0.0);
            let carers = c[i].expect("carers");
            assert!(carers == 1 || carers == 2);
            double += usize::from(carers == 2);
            *slots.entry(slot[i].to_owned()).or_default() += 1;
            *quals.entry(q[i].to_owned()).or_default() += 1;
            let e = km_by_zone.entry(zone_of[u[i]]).or_default();
            e.0 += km[i];
            e.1 += 1;
        }
    }
    // Survey scale: ≈ 1–1.5 M visits over the two weeks.
    assert!((1_000_000..=1_600_000).contains(&n), "{n} visits");
    let share = |k: &str| slots.get(k).copied().unwrap_or_default() as f64 / n as f64;
    assert_near("evening", share("evening"), 0.08, 0.015);
    assert_near("sunday_holiday", share("sunday_holiday"), 0.06, 0.015);
    assert_near("night", share("night"), 0.01, 0.005);
    let d = double as f64 / n as f64;
    assert!((0.01..=0.08).contains(&d), "double-staffed {d}");
    assert_eq!(quals.len(), 3);
    assert!(quals.values().all(|k| *k as f64 > 0.1 * n as f64));
    let mean_km = |z: &str| km_by_zone[z].0 / km_by_zone[z].1 as f64;
    assert!(mean_km("urban") < mean_km("periurban"));
    assert!(mean_km("periurban") < mean_km("rural"));
    assert!(mean_km("rural") < mean_km("mountain"));
}

// ---------------------------------------------------------------------------------------
// Integrity

#[test]
fn referential_integrity() {
    let s = default_survey();
    let depts: HashSet<&str> = strs(&s.departements, "departement").into_iter().collect();
    assert_eq!(depts.len(), s.departements.num_rows());
    let service_ids = strs(&s.services, "service_id");
    let services: HashSet<&str> = service_ids.iter().copied().collect();
    assert_eq!(services.len(), service_ids.len(), "service ids are unique");
    for d in strs(&s.services, "departement") {
        assert!(depts.contains(d), "{d}");
    }
    let mut user_service: HashMap<&str, &str> = HashMap::new();
    for b in &s.users {
        for (u, sv) in strs(b, "user_id").into_iter().zip(strs(b, "service_id")) {
            assert!(services.contains(sv), "{sv}");
            assert!(user_service.insert(u, sv).is_none(), "user id {u} repeated");
        }
    }
    let mut visited = HashSet::new();
    for b in &s.visits {
        for (u, sv) in strs(b, "user_id").into_iter().zip(strs(b, "service_id")) {
            assert_eq!(user_service.get(u), Some(&sv), "visit of {u} in {sv}");
            visited.insert(u);
        }
    }
    // Users served during the two weeks have visits; the others were served at another
    // time of the year.
    assert!(visited.len() as f64 > 0.7 * user_service.len() as f64);
    // Every service has users.
    let with_users: HashSet<&str> = user_service.values().copied().collect();
    assert_eq!(with_users.len(), services.len());
}

/// Days since 1970-01-01 of 1 January 2026 (56 years, 14 of them leap).
const JAN1_2026: i64 = 56 * 365 + 14;
/// 2026 public holidays (day of the year, 0-based): 1 Jan, Easter Monday 6 Apr, 1 May,
/// 8 May, Ascension 14 May, Whit Monday 25 May, 14 Jul, 15 Aug, 1 Nov, 11 Nov, 25 Dec.
fn holidays_2026() -> HashSet<i64> {
    let month_start = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    [
        (1, 1),
        (4, 6),
        (5, 1),
        (5, 8),
        (5, 14),
        (5, 25),
        (7, 14),
        (8, 15),
        (11, 1),
        (11, 11),
        (12, 25),
    ]
    .iter()
    .map(|&(m, d)| month_start[m - 1] + d - 1)
    .collect()
}

#[test]
fn slot_agrees_with_start() {
    let s = default_survey();
    let holidays = holidays_2026();
    let micros_per_day = 86_400_000_000_i64;
    // The survey fortnight: Monday 22 June (day 172) to Sunday 5 July 2026 (day 185).
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for b in &s.visits {
        let start = b
            .column_by_name("start")
            .expect("start")
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let slot = strs(b, "slot");
        for (i, t) in start.values().iter().enumerate() {
            let day = t.div_euclid(micros_per_day) - JAN1_2026;
            let minute = t.rem_euclid(micros_per_day) / 60_000_000;
            first = first.min(day);
            last = last.max(day);
            // 1 January 2026 is a Thursday: Monday = 0.
            let weekday = (day + 3).rem_euclid(7);
            let expected = if !(360..1_320).contains(&minute) {
                "night"
            } else if weekday == 6 || holidays.contains(&day) {
                "sunday_holiday"
            } else if !(480..1_140).contains(&minute) {
                "evening"
            } else {
                "weekday"
            };
            assert_eq!(slot[i], expected, "start {t}");
            assert_eq!(slot_of(*t).as_str(), expected);
        }
    }
    assert_eq!((first, last), (172, 185));
}

#[test]
fn weekly_patterns_repeat_in_the_fortnight() {
    // A user served every day of the fortnight gets the same week twice.
    let s = default_survey();
    let mut full: HashSet<&str> = HashSet::new();
    for b in &s.users {
        for (u, m) in strs(b, "user_id").into_iter().zip(f64s(b, "months_served")) {
            if m == 12.0 {
                full.insert(u);
            }
        }
    }
    let mut minutes: HashMap<&str, [f64; 2]> = HashMap::new();
    let week_two = (JAN1_2026 + 179) * 86_400_000_000;
    for b in &s.visits {
        let start = b
            .column_by_name("start")
            .expect("start")
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let d = f64s(b, "duration_min");
        for (i, u) in strs(b, "user_id").into_iter().enumerate() {
            if full.contains(u) {
                minutes.entry(u).or_default()[usize::from(start.value(i) >= week_two)] += d[i];
            }
        }
    }
    assert!(minutes.len() as f64 > 0.9 * full.len() as f64);
    for (u, [a, b]) in minutes {
        assert_eq!(a, b, "{u}");
    }
}

#[test]
fn annual_hours_are_the_years_visits() {
    // Simulate a few services of the census and list every visit of their year.
    let config = SurveyConfig::default();
    let legal = LegalYear::of(config.year).expect("legal figures");
    let gir_mix = reference::apa_gir_mix().expect("GIR mix");
    let calendar = YearCalendar::new(config.year);
    let dgp = DgpParameters::standard();
    let frame = build_frame(
        config.seed,
        &legal,
        reference::departements().expect("departements"),
        &gir_mix,
    );
    let design = census_design(&frame);
    let env = Env {
        frame: &frame,
        calendar: &calendar,
        legal: &legal,
        dgp: &dgp,
        seed: config.seed,
    };
    for &pick in &[0_usize, 1, 2, 1_000, 3_333, 6_313] {
        let sim = simulate_service(&env, design.selected[pick]);
        let id = &frame.services[pick].id;
        let batches = visits_batches(&calendar, id, &sim.users, 0, calendar.days).expect("visits");
        let mut hours = [0.0; 4];
        let mut rows = 0.0;
        for b in &batches {
            let d = f64s(b, "duration_min");
            for (i, u) in strs(b, "user_id").into_iter().enumerate() {
                let k: usize = u[u.len() - 5..].parse().expect("user number");
                hours[sim.users[k - 1].profile.allowance.index()] += d[i] / 60.0;
                rows += 1.0;
            }
        }
        for (got, expected) in hours.iter().zip(&sim.row.hours) {
            assert_near("annual hours", *got, *expected, 1e-6);
        }
        assert_eq!(rows, sim.row.annual_visits);
        // The same service at survey and national scale is the same service.
        assert_eq!(sim.row.users, frame.services[pick].users as usize);
    }
}

#[test]
fn national_scale_streams_the_census() {
    #[derive(Debug, thiserror::Error)]
    #[error("enough")]
    struct Enough;
    let config = SurveyConfig {
        scale: Scale::National,
        ..SurveyConfig::default()
    };
    let run = || {
        let mut order = Vec::new();
        let mut services = None;
        let result = generate(&config, &mut |table, batch| {
            order.push(table);
            if table == Table::Services {
                services = Some(batch);
            }
            if table == Table::Users {
                // Stop before the year of visits: the sink's error ends generation.
                return Err(GenerateError::sink(Enough));
            }
            Ok(())
        });
        assert!(matches!(result, Err(GenerateError::Sink(_))));
        assert_eq!(order, [Table::Departements, Table::Services, Table::Users]);
        services.expect("the services batch")
    };
    let services = run();
    assert_eq!(services.num_rows(), 6_314);
    assert!(f64s(&services, "design_weight").iter().all(|w| *w == 1.0));
    // The census's own APA+PCH hours: ≈ 190 M.
    let hours: f64 = f64s(&services, "hours_apa").iter().sum::<f64>()
        + f64s(&services, "hours_pch").iter().sum::<f64>();
    assert_near("national APA+PCH hours", hours, 190e6, 0.15 * 190e6);
    // The survey's services are the census's, with the same figures.
    let row: HashMap<&str, usize> = strs(&services, "service_id")
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let national_cost = f64s(&services, "cost_total");
    let sample = &default_survey().services;
    for (id, cost) in strs(sample, "service_id")
        .into_iter()
        .zip(f64s(sample, "cost_total"))
    {
        assert_eq!(national_cost[row[id]], cost, "{id}");
    }
    // Whatever the thread count.
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool");
    assert_eq!(one_thread.install(run), services);
}

// ---------------------------------------------------------------------------------------
// Truth

/// JSON equality, numbers to 1e-12 relative (text decimal round trips may move the last
/// bit).
fn assert_same_json(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                "{path}: {x} != {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_same_json(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (k, v) in x {
                assert_same_json(v, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

#[test]
fn truth_is_complete_and_consistent() {
    let s = default_survey();
    let t = &s.truth;
    assert_eq!((t.seed, t.year, t.scale.as_str()), (2026, 2026, "survey"));
    assert_eq!(t.version, GENERATOR_VERSION);
    assert_eq!(
        (t.visits_from.as_str(), t.visits_to.as_str()),
        ("2026-06-22", "2026-07-05")
    );
    assert_eq!(t.legal.mtp, 1_288.13);
    assert_eq!(t.legal.floor_tariff, 25.0);
    assert!(!t.dgp.description.is_empty() && !t.dgp.formula.is_empty());
    assert!(t.dgp.parameters.iter().all(|p| !p.unit.is_empty()));
    let json = serde_json::to_string(t).expect("serialise");
    let back: Truth = serde_json::from_str(&json).expect("deserialise");
    let value = |t: &Truth| serde_json::to_value(t).expect("a JSON value");
    assert_same_json(&value(&back), &value(t), "truth");

    // Ten groups; heavier groups cost more per user-month.
    assert_eq!(t.groups.len(), 10);
    let cost = |key: &str| {
        t.groups
            .iter()
            .find(|g| g.group == key)
            .map(|g| g.implied_cost_per_user_month)
            .unwrap_or_else(|| panic!("group {key}"))
    };
    for ent in ["low", "high"] {
        assert!(cost(&format!("APA/1-2/{ent}")) > cost(&format!("APA/3-4/{ent}")));
        assert!(cost(&format!("APA/3-4/{ent}")) > cost(&format!("social_aid/other/{ent}")));
    }
    for band in ["APA/1-2", "APA/3-4", "PCH/other"] {
        assert!(cost(&format!("{band}/low")) > cost(&format!("{band}/high")));
    }
    for g in &t.groups {
        assert!(g.implied_cost_std_error < 0.01 * g.implied_cost_per_user_month);
        assert!(
            (25.0..=35.0).contains(&g.implied_cost_per_hour),
            "{}",
            g.group
        );
    }

    // The implied costs predict the weighted total cost: Σ w C ≈ Σ w Σ_u m_u θ_g(u).
    let theta: HashMap<&str, f64> = t
        .groups
        .iter()
        .map(|g| (g.group.as_str(), g.implied_cost_per_user_month))
        .collect();
    let mut predicted: HashMap<&str, f64> = HashMap::new();
    for b in &s.users {
        let a = strs(b, "allowance");
        let gir = i32s(b, "gir");
        let e = i32s(b, "entourage");
        let m = f64s(b, "months_served");
        for (i, sv) in strs(b, "service_id").into_iter().enumerate() {
            let band = match (a[i], gir[i]) {
                ("APA", Some(1 | 2)) => "1-2",
                ("APA", _) => "3-4",
                _ => "other",
            };
            let ent = if e[i].unwrap_or(0) >= 2 {
                "high"
            } else {
                "low"
            };
            let key = format!("{}/{band}/{ent}", a[i]);
            *predicted.entry(sv).or_default() += m[i] * theta[key.as_str()];
        }
    }
    let w = f64s(&s.services, "design_weight");
    let c = f64s(&s.services, "cost_total");
    let (mut actual, mut model) = (0.0, 0.0);
    for (i, sv) in strs(&s.services, "service_id").into_iter().enumerate() {
        actual += w[i] * c[i];
        model += w[i] * predicted[sv];
    }
    assert_near("Σ w C / Σ w Σ m θ", actual / model, 1.0, 0.03);
}
