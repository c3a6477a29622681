//! The embedded synthetic survey seen through the core: it satisfies the data contract, and
//! its weighted marginals match the public figures it is shaped on (DOMAIN.md §7).

use dotation_core::Dataset;
use dotation_core::aggregate::{VisitDriver, slot_column};
use dotation_core::baseline::{BaselineOptions, baseline};
use dotation_core::tables::{Allowance, Slot};
use dotation_core::validate::ValidateOptions;
use dotation_server::data::embedded;

#[test]
fn embedded_survey_is_valid_and_shaped_on_the_public_figures() {
    let data = embedded(&dotation_datasets::SurveyConfig::default()).expect("generates");
    let Dataset {
        micro: m,
        drivers: d,
        ..
    } = data
        .validate(&ValidateOptions::default(), &|_| {})
        .unwrap_or_else(|r| panic!("the embedded survey breaks the contract:\n{r}"));
    // ENC SAD: 437 services sampled from about 6,300.
    assert!(
        (400..=470).contains(&m.services.len()),
        "{}",
        m.services.len()
    );
    let w = &m.services.design_weight;
    let frame: f64 = w.iter().sum();
    assert!((5_800.0..=6_800.0).contains(&frame), "frame {frame}");

    // APA users at home by GIR, weighted: 2 / 18 / 22 / 58 % (end 2023).
    let mut gir = [0.0; 4];
    for u in 0..m.users.len() {
        if m.users.allowance[u] == Allowance::Apa {
            gir[m.users.gir[u] as usize - 1] += w[m.users.service[u] as usize];
        }
    }
    let total: f64 = gir.iter().sum();
    for (g, target) in gir.iter().zip([0.02, 0.18, 0.22, 0.58]) {
        assert!(
            (g / total - target).abs() < 0.03,
            "GIR share {} vs {target}",
            g / total
        );
    }

    let b = baseline(&m, &d, &BaselineOptions::default()).expect("2026");
    // About 190 M APA + PCH hours a year nationally (uncertain figure: ± 25 %).
    let apa_pch: f64 = (0..m.services.len())
        .map(|s| w[s] * (m.services.hours_apa[s] + m.services.hours_pch[s]))
        .sum();
    assert!(
        (140e6..=240e6).contains(&apa_pch),
        "APA+PCH hours {apa_pch}"
    );
    // Cost per hour about 30–32 €/h in 2024–25.
    let cost_per_hour = b.national.cost_total
        / (0..m.services.len())
            .map(|s| w[s] * (m.services.hours_funded(s) + m.services.hours_other[s]))
            .sum::<f64>();
    assert!(
        (27.0..=34.0).contains(&cost_per_hour),
        "cost per hour {cost_per_hour}"
    );
    // Hourly funding pays at least the floor on every funded hour.
    assert!(b.services.rate.iter().all(|&r| r >= 25.0));
    // Two weeks of visits; a few % on evenings and Sundays.
    assert!((1.5..=2.5).contains(&d.weeks), "weeks {}", d.weeks);
    let hours: f64 = (0..m.services.len())
        .map(|s| d.service(s)[VisitDriver::Hours as usize])
        .sum();
    let sunday: f64 = (0..m.services.len())
        .map(|s| d.service(s)[slot_column(Slot::SundayHoliday)])
        .sum();
    assert!(
        (0.02..=0.12).contains(&(sunday / hours)),
        "sunday share {}",
        sunday / hours
    );
}

#[test]
fn the_generator_emits_exactly_the_contract_types() {
    use dotation_core::schema::TableKind;
    use dotation_datasets::Table;
    for (t, k) in Table::ALL.into_iter().zip(TableKind::ALL) {
        assert_eq!(t.name(), k.name());
        let emitted = dotation_datasets::schema(t);
        for c in k.columns() {
            let f = emitted
                .field_with_name(c.name)
                .unwrap_or_else(|_| panic!("{t}.{} is not generated", c.name));
            assert_eq!(f.data_type(), &c.ty.data_type(), "{t}.{}", c.name);
            assert!(c.nullable || !f.is_nullable(), "{t}.{} may be null", c.name);
        }
    }
}
