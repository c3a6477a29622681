//! The report of a baseline (today's hourly funding): the headline (year, floor tariff,
//! MTP, the data, national totals and coverage), funding against cost per service, the
//! distribution of coverage, départements sorted by coverage, and users' out-of-pocket
//! per billed hour by GIR.
//!
//! It reads the tables `services`, `departements` and `users` ([`TABLES`]).

use std::collections::BTreeMap;

use dotation_solver::job::{BaselineSummary, Provenance};

use super::{funding_against_cost, provenance};
use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Block, Fact, Page, Section, TableBlock};
use crate::plot::{self, Bar, Bars, Marker, Scale, colour};
use crate::tables::Tables;

/// The result tables this report reads.
pub const TABLES: &[&str] = &["services", "departements", "users"];

/// The page of a baseline.
pub fn page(
    s: &BaselineSummary,
    p: &Provenance,
    tables: &Tables,
    lang: Lang,
) -> Result<Page, ReportError> {
    let l = |fr: &str, en: &str| lang.pick(fr, en).to_string();
    let services = tables.get("services")?;
    let mut page = Page {
        lang,
        title: format!(
            "{} {}",
            l("Financement horaire actuel,", "Today's hourly funding,"),
            s.year
        ),
        subtitle: format!("{} · dotation {}", p.data, p.version),
        headline: headline(s, p, lang),
        alerts: Vec::new(),
        sections: Vec::new(),
        provenance: provenance(p, lang),
    };
    if s.services_without_apa_users > 0 {
        page.alerts.push(format!(
            "{} {}",
            s.services_without_apa_users,
            lang.pick(
                "service(s) ont des heures APA sans usager APA : leur participation est comptée nulle.",
                "service(s) have APA hours but no APA user: their participation is counted as zero."
            )
        ));
    }
    page.sections.push(Section {
        id: "funding-cost-section",
        title: l("Financement et coût par service", "Funding and cost per service"),
        intro: l(
            "Chaque point est un service de l'échantillon : son financement horaire actuel (heures financées × tarif) contre son coût. Au-dessus de la diagonale, le service est financé au-delà de son coût.",
            "Each point is a sampled service: its hourly funding today (hours funded × rate) against its cost. Above the diagonal, the service is funded beyond its cost.",
        ),
        blocks: vec![Block::Figures(vec![funding_against_cost(
            &services,
            "baseline_funding",
            "cost_total",
            lang.pick("Financement actuel contre coût", "Baseline funding against cost"),
            lang.pick("financement actuel (€/an, échelle log)", "baseline funding (€/year, log scale)"),
            lang,
        )?])],
    });
    // Coverage: funding over cost − 1, in percent.
    let f = services.f64s("baseline_funding")?;
    let c = services.f64s("cost_total")?;
    let gap: Vec<f64> = f
        .iter()
        .zip(&c)
        .map(|(f, c)| {
            if *c > 0.0 {
                100.0 * (f / c - 1.0)
            } else {
                f64::NAN
            }
        })
        .collect();
    let mut hist = plot::histogram(
        "coverage",
        lang.pick(
            "Écart entre financement et coût",
            "Gap between funding and cost",
        ),
        lang.pick("financement ÷ coût − 1 (%)", "funding ÷ cost − 1 (%)"),
        lang.pick("services de l'échantillon", "sampled services"),
        &gap,
        &[Marker {
            x: 0.0,
            label: lang.pick("coût couvert", "cost covered").to_string(),
        }],
        lang,
    )?;
    hist.caption = lang
        .pick(
            "À droite du trait, le financement dépasse le coût ; à gauche, il ne le couvre pas.",
            "Right of the line, funding exceeds cost; left of it, funding falls short.",
        )
        .to_string();
    page.sections.push(Section {
        id: "coverage-section",
        title: l("Couverture des coûts", "Cost coverage"),
        intro: String::new(),
        blocks: vec![Block::Figures(vec![hist])],
    });
    page.sections.push(departements(tables, lang)?);
    page.sections.push(out_of_pocket(tables, lang)?);
    Ok(page)
}

fn headline(s: &BaselineSummary, p: &Provenance, lang: Lang) -> Vec<Fact> {
    let l = |fr, en| lang.pick(fr, en);
    let t = &s.national;
    let coverage = if t.cost_total > 0.0 {
        t.baseline_funding / t.cost_total
    } else {
        f64::NAN
    };
    vec![
        Fact::new(l("Données", "Data"), p.data.clone(), "data").note(format!(
            "{} {}, {} {}, {} {}",
            lang.number(s.services as f64, 0),
            l("services", "services"),
            lang.number(s.users as f64, 0),
            l("usagers", "users"),
            s.visits
                .map_or_else(|| "—".into(), |v| lang.number(v as f64, 0)),
            l("interventions", "visits"),
        )),
        Fact::new(l("Version", "Version"), p.version.clone(), "version"),
        Fact::new(
            l("Tarif plancher", "Floor tariff"),
            lang.with_unit(s.floor, 2, "€/h"),
            "floor",
        )
        .note(format!("{} {}", l("année", "year"), s.year)),
        Fact::new(
            l("MTP", "MTP"),
            s.mtp
                .map_or_else(|| "—".into(), |m| lang.with_unit(m, 2, "€/mois")),
            "mtp",
        ),
        Fact::new(
            l("Services représentés", "Services represented"),
            lang.number(t.services, 0),
            "national.services",
        ),
        Fact::new(
            l("Heures financées", "Hours funded"),
            lang.with_unit(t.hours_funded, 0, "h"),
            "national.hours_funded",
        ),
        Fact::new(
            l(
                "Financement actuel (national)",
                "Baseline funding (national)",
            ),
            lang.money(t.baseline_funding, 0),
            "national.baseline_funding",
        ),
        Fact::new(
            l("Participation des usagers", "Users' participation"),
            lang.money(t.user_participation, 0),
            "national.user_participation",
        ),
        Fact::new(
            l("Coût public", "Public cost"),
            lang.money(t.public_cost, 0),
            "national.public_cost",
        ),
        Fact::new(
            l("Coût des services", "Services' cost"),
            lang.money(t.cost_total, 0),
            "national.cost_total",
        ),
        Fact::new(
            l(
                "Couverture (financement ÷ coût)",
                "Coverage (funding ÷ cost)",
            ),
            lang.percent(coverage, 1),
            "",
        ),
    ]
}

fn departements(tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let t = tables.get("departements")?;
    let code = t.strings("departement")?;
    let name = t.strings("name")?;
    let services = t.f64s("services")?;
    let funding = t.f64s("baseline_funding")?;
    let cost = t.f64s("cost_total")?;
    let mut idx: Vec<usize> = (0..code.len())
        .filter(|&i| services[i] > 0.0 && cost[i] > 0.0)
        .collect();
    let coverage = |i: usize| funding[i] / cost[i] - 1.0;
    idx.sort_by(|&a, &b| {
        coverage(a)
            .total_cmp(&coverage(b))
            .then(code[a].cmp(&code[b]))
    });
    let bars = idx
        .iter()
        .enumerate()
        .map(|(k, &i)| Bar {
            group: k,
            slot: (-0.4, 0.4),
            value: coverage(i),
            colour: if coverage(i) < 0.0 {
                colour::VERMILLION
            } else {
                colour::GREEN
            },
        })
        .collect();
    let fig = plot::bars(
        &Bars {
            id: "departements",
            title: lang.pick(
                "Écart entre financement et coût par département",
                "Gap between funding and cost by département",
            ),
            x_desc: lang.pick(
                "département (du moins au mieux couvert)",
                "département (from the least to the best covered)",
            ),
            y_desc: lang.pick("financement ÷ coût − 1 (%)", "funding ÷ cost − 1 (%)"),
            labels: idx.iter().map(|&i| code[i].clone()).collect(),
            bars,
            scale: Scale::Share,
            legend: vec![
                (
                    colour::GREEN,
                    lang.pick("coût couvert", "cost covered").to_string(),
                ),
                (
                    colour::VERMILLION,
                    lang.pick("coût non couvert", "cost not covered")
                        .to_string(),
                ),
            ],
            alt: format!(
                "{} {}, {} {}",
                idx.len(),
                lang.pick("départements", "départements"),
                idx.iter().filter(|&&i| coverage(i) >= 0.0).count(),
                lang.pick("dont le coût est couvert", "whose cost is covered")
            ),
            caption: lang
                .pick(
                    "Totaux pondérés des services de l'échantillon de chaque département.",
                    "Weighted totals of each département's sampled services.",
                )
                .to_string(),
        },
        lang,
    )?;
    let rows = idx
        .iter()
        .map(|&i| {
            vec![
                code[i].clone(),
                name[i].clone(),
                lang.number(services[i], 0),
                lang.money(funding[i], 0),
                lang.money(cost[i], 0),
                lang.signed_percent(coverage(i), 1),
            ]
        })
        .collect();
    Ok(Section {
        id: "departements-section",
        title: lang.pick("Départements", "Départements").to_string(),
        intro: String::new(),
        blocks: vec![
            Block::Figures(vec![fig]),
            Block::Table(TableBlock {
                caption: lang
                    .pick("Les départements", "The départements")
                    .to_string(),
                header: [
                    lang.pick("code", "code"),
                    lang.pick("nom", "name"),
                    lang.pick("services", "services"),
                    lang.pick("financement", "funding"),
                    lang.pick("coût", "cost"),
                    lang.pick("écart", "gap"),
                ]
                .map(str::to_string)
                .to_vec(),
                numeric: vec![false, false, true, true, true, true],
                rows,
                folded: true,
            }),
        ],
    })
}

fn out_of_pocket(tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let users = tables.get("users")?;
    let services = tables.get("services")?;
    let weight_of: BTreeMap<String, f64> = services
        .strings("service_id")?
        .into_iter()
        .zip(services.f64s("weight")?)
        .collect();
    let gir = users.opt_f64s("gir")?;
    let oop = users.f64s("oop_per_hour")?;
    let service = users.strings("service_id")?;
    // Weighted mean out-of-pocket per GIR, users with an out-of-pocket only.
    let mut sums: BTreeMap<u8, (f64, f64, usize)> = BTreeMap::new();
    for u in 0..oop.len() {
        if !oop[u].is_finite() {
            continue;
        }
        let g = gir[u].map_or(0, |g| g as u8);
        let w = weight_of.get(&service[u]).copied().unwrap_or(1.0);
        let e = sums.entry(g).or_default();
        e.0 += w * oop[u];
        e.1 += w;
        e.2 += 1;
    }
    let groups: Vec<(String, f64, usize)> = sums
        .iter()
        .map(|(&g, &(s, w, n))| {
            let label = if g == 0 {
                super::group_label(lang, "unknown")
            } else {
                format!("GIR{g}")
            };
            (label, if w > 0.0 { s / w } else { f64::NAN }, n)
        })
        .collect();
    let fig = plot::bars(
        &Bars {
            id: "out-of-pocket-gir",
            title: lang.pick("Reste à charge par GIR", "Out-of-pocket by GIR"),
            x_desc: lang.pick("GIR", "GIR"),
            y_desc: lang.pick("reste à charge moyen (€/h facturée)", "mean out-of-pocket (€/billed hour)"),
            labels: groups.iter().map(|g| g.0.clone()).collect(),
            bars: (0..groups.len())
                .map(|k| Bar { group: k, slot: (-0.35, 0.35), value: groups[k].1, colour: colour::BLUE })
                .collect(),
            scale: Scale::EurosPerHour,
            legend: Vec::new(),
            alt: groups
                .iter()
                .map(|(g, v, _)| format!("{g}: {}", lang.with_unit(*v, 2, "€/h")))
                .collect::<Vec<_>>()
                .join("; "),
            caption: lang
                .pick(
                    "Moyenne pondérée (poids de sondage du service) des usagers qui ont un reste à charge.",
                    "Weighted mean (the service's design weight) over users with an out-of-pocket.",
                )
                .to_string(),
        },
        lang,
    )?;
    Ok(Section {
        id: "out-of-pocket",
        title: lang
            .pick("Reste à charge des usagers", "Users' out-of-pocket")
            .to_string(),
        intro: String::new(),
        blocks: vec![
            Block::Figures(vec![fig]),
            Block::Table(TableBlock {
                caption: lang
                    .pick("Les chiffres du graphique", "The plot's figures")
                    .to_string(),
                header: [
                    lang.pick("GIR", "GIR"),
                    lang.pick("usagers", "users"),
                    lang.pick("reste à charge moyen", "mean out-of-pocket"),
                ]
                .map(str::to_string)
                .to_vec(),
                numeric: vec![false, true, true],
                rows: groups
                    .iter()
                    .map(|(g, v, n)| {
                        vec![
                            g.clone(),
                            lang.number(*n as f64, 0),
                            lang.with_unit(*v, 2, "€/h"),
                        ]
                    })
                    .collect(),
                folded: true,
            }),
        ],
    })
}
