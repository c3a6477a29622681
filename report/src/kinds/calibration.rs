//! The report of a calibration: the headline (formula, data, version, neutrality
//! residual, R², national totals, winners and losers, guarantees), the parameters with
//! their intervals, funding against cost per service, the distribution of the change
//! against the baseline, winners and losers by size decile, status, regime and zone,
//! départements sorted by change, users' out-of-pocket before and after by GIR and
//! resource band, every guarantee, and the spec.
//!
//! It reads the tables `parameters`, `services`, `impact`, `out_of_pocket` and
//! `departements` ([`TABLES`]).

use dotation_solver::job::{CalibrationSummary, Provenance};

use super::{funding_against_cost, group_label, provenance, spec_section};
use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Block, Fact, Page, Section, TableBlock};
use crate::plot::{self, Bar, Bars, Estimate, Figure, Marker, Scale, colour};
use crate::tables::Tables;

/// The result tables this report reads.
pub const TABLES: &[&str] = &[
    "parameters",
    "services",
    "impact",
    "out_of_pocket",
    "departements",
];

/// The winners-and-losers panels: the impact table's dimension and its title.
const IMPACT_PANELS: [(&str, &str, &str); 4] = [
    (
        "size_decile",
        "Par décile de taille (heures financées)",
        "By size decile (hours funded)",
    ),
    ("status", "Par statut", "By status"),
    (
        "regime",
        "Par régime (HAS / NHAS)",
        "By regime (HAS / NHAS)",
    ),
    ("zone", "Par zone", "By zone"),
];

/// The out-of-pocket panels: the table's dimension and its title.
const OOP_PANELS: [(&str, &str, &str); 2] = [
    ("gir", "Par GIR", "By GIR"),
    (
        "resource_band",
        "Par tranche de ressources",
        "By resource band",
    ),
];

/// The page of a calibration.
pub fn page(
    s: &CalibrationSummary,
    p: &Provenance,
    tables: &Tables,
    lang: Lang,
) -> Result<Page, ReportError> {
    let l = |fr: &str, en: &str| lang.pick(fr, en).to_string();
    let mut page = Page {
        lang,
        title: format!("{} — {}", l("Calibration", "Calibration"), s.formula),
        subtitle: format!(
            "{} {} · {} {} · {} {} ({}) · {} · {} {}",
            l("formule", "formula"),
            s.formula,
            l("perte", "loss"),
            s.loss,
            l("neutralité", "neutrality"),
            s.neutrality_scope,
            s.method,
            p.data,
            l("dotation", "dotation"),
            p.version
        ),
        headline: headline(s, p, lang),
        alerts: alerts(s, lang),
        sections: Vec::new(),
        provenance: provenance(p, lang),
    };
    page.sections.push(parameters(tables, lang)?);
    page.sections.push(Section {
        id: "funding-cost-section",
        title: l("Financement et coût par service", "Funding and cost per service"),
        intro: l(
            "Chaque point est un service de l'échantillon : son financement calibré contre le coût sur lequel la formule est calibrée. Au-dessus de la diagonale, le service est financé au-delà de son coût.",
            "Each point is a sampled service: its calibrated funding against the cost the formula is calibrated on. Above the diagonal, the service is funded beyond its cost.",
        ),
        blocks: vec![Block::Figures(vec![funding_against_cost(
            &tables.get("services")?,
            "funding",
            "cost",
            lang.pick("Financement calibré contre coût", "Calibrated funding against cost"),
            lang.pick("financement calibré (€/an, échelle log)", "calibrated funding (€/year, log scale)"),
            lang,
        )?])],
    });
    page.sections.push(change(s, tables, lang)?);
    page.sections.push(winners_losers(tables, lang)?);
    page.sections.push(departements(tables, lang)?);
    page.sections.push(out_of_pocket(s, tables, lang)?);
    page.sections.push(guarantees(s, lang));
    page.sections.push(spec_section(&s.spec, lang));
    Ok(page)
}

fn headline(s: &CalibrationSummary, p: &Provenance, lang: Lang) -> Vec<Fact> {
    let l = |fr, en| lang.pick(fr, en);
    let n = &s.national;
    let g = &s.guarantees;
    let checks = [
        g.out_of_pocket.rising == 0,
        g.nhas_price.violations == 0,
        g.has_cover.violations == 0,
        g.transition.violations == 0,
    ];
    let held = checks.iter().filter(|&&c| c).count();
    vec![
        Fact::new(l("Formule", "Formula"), s.formula.clone(), "formula").note(format!(
            "{} {}, {} {}",
            s.parameters,
            l("paramètres", "parameters"),
            l("perte", "loss"),
            s.loss
        )),
        Fact::new(l("Données", "Data"), p.data.clone(), "data").note(format!(
            "{} {}, {} {}, {}",
            lang.number(s.services as f64, 0),
            l("services", "services"),
            lang.number(s.users as f64, 0),
            l("usagers", "users"),
            s.year
        )),
        Fact::new(l("Version", "Version"), p.version.clone(), "version"),
        Fact::new(
            l("Résidu de neutralité", "Neutrality residual"),
            lang.scientific(s.neutrality_residual, 2),
            "neutrality_residual",
        )
        .note(format!(
            "{} {}",
            l("écart relatif, périmètre", "relative gap, scope"),
            s.neutrality_scope
        )),
        Fact::new(l("R² pondéré", "Weighted R²"), lang.number(s.r2, 4), "r2").note(format!(
            "RMSE {}, MAPE {}",
            lang.money(s.rmse, 0),
            lang.percent(s.mape, 1)
        )),
        Fact::new(
            l(
                "Financement actuel (national)",
                "Baseline funding (national)",
            ),
            lang.money(n.baseline_total, 0),
            "national.baseline_total",
        ),
        Fact::new(
            l(
                "Financement calibré (national)",
                "Calibrated funding (national)",
            ),
            lang.money(n.funding_total, 0),
            "national.funding_total",
        ),
        Fact::new(
            l("Coût (national)", "Cost (national)"),
            lang.money(n.cost_total, 0),
            "national.cost_total",
        ),
        Fact::new(
            l("Gagnants au-delà de +5 %", "Winners beyond +5 %"),
            lang.percent(s.winners_5pct, 1),
            "winners_5pct",
        )
        .note(format!(
            "{} {}",
            s.winners_5pct_services,
            l("services de l'échantillon", "sampled services")
        )),
        Fact::new(
            l("Perdants au-delà de −5 %", "Losers beyond −5 %"),
            lang.percent(s.losers_5pct, 1),
            "losers_5pct",
        )
        .note(format!(
            "{} {}",
            s.losers_5pct_services,
            l("services de l'échantillon", "sampled services")
        )),
        Fact::new(
            l("Garanties tenues", "Guarantees holding"),
            format!("{held} / {}", checks.len()),
            "",
        )
        .note(if s.constraints.asked.is_empty() {
            l("aucune imposée au calage", "none imposed on the fit").to_string()
        } else {
            format!(
                "{} {}",
                l("imposées :", "imposed:"),
                s.constraints.asked.join(", ")
            )
        }),
    ]
}

fn alerts(s: &CalibrationSummary, lang: Lang) -> Vec<String> {
    let mut out = Vec::new();
    if !s.converged {
        out.push(
            lang.pick(
                "L'ajustement itératif n'a pas convergé : les paramètres sont ceux de la dernière itération.",
                "The iterative fit did not converge: the parameters are those of its last iteration.",
            )
            .to_string(),
        );
    }
    let g = &s.guarantees;
    let broken: Vec<String> = [
        (
            "out_of_pocket",
            g.out_of_pocket.rising,
            g.out_of_pocket.users,
        ),
        ("nhas_price", g.nhas_price.violations, g.nhas_price.services),
        ("has_cover", g.has_cover.violations, g.has_cover.services),
        ("transition", g.transition.violations, g.transition.services),
    ]
    .into_iter()
    .filter(|(_, v, _)| *v > 0)
    .map(|(name, v, of)| format!("{name} ({v} / {of})"))
    .collect();
    if !broken.is_empty() {
        out.push(format!(
            "{} {}",
            lang.pick("Garanties non tenues :", "Guarantees not holding:"),
            broken.join(", ")
        ));
    }
    out
}

fn parameters(tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let t = tables.get("parameters")?;
    let names = t.strings("parameter")?;
    let units = t.strings("unit")?;
    let est = t.f64s("estimate")?;
    let se = t.opt_f64s("std_error")?;
    let lo = t.opt_f64s("ci_low")?;
    let hi = t.opt_f64s("ci_high")?;
    // One plot per unit: estimates in € and in €/h on one axis would mislead.
    let mut unit_order: Vec<&String> = Vec::new();
    for u in &units {
        if !unit_order.contains(&u) {
            unit_order.push(u);
        }
    }
    let mut figures = Vec::new();
    for (k, unit) in unit_order.iter().enumerate() {
        let rows: Vec<Estimate> = (0..names.len())
            .filter(|&i| &&units[i] == unit)
            .map(|i| Estimate {
                name: names[i].clone(),
                value: est[i],
                interval: lo[i].zip(hi[i]),
            })
            .collect();
        let title = if unit_order.len() > 1 {
            format!("{} ({unit})", lang.pick("Paramètres", "Parameters"))
        } else {
            lang.pick(
                "Paramètres et intervalles de confiance",
                "Parameters and confidence intervals",
            )
            .to_string()
        };
        figures.push(plot::dot_whisker(
            &format!("parameters-{}", k + 1),
            &title,
            &format!("{} ({unit})", lang.pick("estimation", "estimate")),
            &rows,
            lang,
        )?);
    }
    let cell = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| lang.number(v, 2));
    let table = TableBlock {
        caption: lang.pick("Paramètres", "Parameters").to_string(),
        header: [
            lang.pick("paramètre", "parameter"),
            lang.pick("unité", "unit"),
            lang.pick("estimation", "estimate"),
            lang.pick("écart-type", "std. error"),
            lang.pick("borne basse", "lower bound"),
            lang.pick("borne haute", "upper bound"),
        ]
        .map(str::to_string)
        .to_vec(),
        numeric: vec![false, false, true, true, true, true],
        rows: (0..names.len())
            .map(|i| {
                vec![
                    names[i].clone(),
                    units[i].clone(),
                    lang.number(est[i], 2),
                    cell(se[i]),
                    cell(lo[i]),
                    cell(hi[i]),
                ]
            })
            .collect(),
        folded: false,
    };
    Ok(Section {
        id: "parameters",
        title: lang.pick("Paramètres", "Parameters").to_string(),
        intro: lang
            .pick(
                "Les paramètres calibrés, avec leur intervalle de confiance quand la méthode en donne un.",
                "The calibrated parameters, with their confidence interval where the method gives one.",
            )
            .to_string(),
        blocks: vec![Block::Figures(figures), Block::Table(table)],
    })
}

fn change(s: &CalibrationSummary, tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let t = tables.get("services")?;
    // `delta_pct` is in percent; services without baseline have none.
    let pct: Vec<f64> = t.f64s("delta_pct")?;
    let undefined = pct.iter().filter(|v| !v.is_finite()).count();
    let limit = s.guarantees.transition_limit;
    let mut markers = vec![
        Marker {
            x: -5.0,
            label: lang.signed_percent(-0.05, 0),
        },
        Marker {
            x: 5.0,
            label: lang.signed_percent(0.05, 0),
        },
    ];
    if limit.is_finite() && limit > 0.0 && (limit - 0.05).abs() > 1e-12 {
        markers.push(Marker {
            x: -100.0 * limit,
            label: format!(
                "{} {}",
                lang.pick("limite", "limit"),
                lang.signed_percent(-limit, 0)
            ),
        });
    }
    let mut fig = plot::histogram(
        "change",
        lang.pick(
            "Variation du financement par service",
            "Change in funding per service",
        ),
        lang.pick(
            "variation par rapport au financement actuel (%)",
            "change against the baseline (%)",
        ),
        lang.pick("services de l'échantillon", "sampled services"),
        &pct,
        &markers,
        lang,
    )?;
    fig.caption = format!(
        "{} {} ({}).{}",
        lang.pick(
            "Services par classe de variation ; traits pointillés : ±5 % et la limite de transition",
            "Services by class of change; dashed lines: ±5 % and the transition limit"
        ),
        lang.signed_percent(-limit, 0),
        lang.pick("garantie « transition »", "the “transition” guarantee"),
        if undefined > 0 {
            format!(
                " {undefined} {}",
                lang.pick("service(s) sans financement actuel ne sont pas comptés.", "service(s) without baseline are not counted.")
            )
        } else {
            String::new()
        }
    );
    Ok(Section {
        id: "change",
        title: lang
            .pick("Distribution des variations", "Distribution of the changes")
            .to_string(),
        intro: format!(
            "{} {} {} {} {}",
            lang.pick(
                "Part pondérée des services gagnant plus de 5 % :",
                "Weighted share of services gaining more than 5 %:"
            ),
            lang.percent(s.winners_5pct, 1),
            lang.pick("; perdant plus de 5 % :", "; losing more than 5 %:"),
            lang.percent(s.losers_5pct, 1),
            "."
        ),
        blocks: vec![Block::Figures(vec![fig])],
    })
}

/// Rows of the impact table for one dimension: `(row indices)`.
fn rows_of(dimension: &[String], which: &str) -> Vec<usize> {
    (0..dimension.len())
        .filter(|&i| dimension[i] == which)
        .collect()
}

fn winners_losers(tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let t = tables.get("impact")?;
    let dim = t.strings("dimension")?;
    let group = t.strings("group")?;
    let services = t.f64s("services")?;
    let winners = t.f64s("winners_5pct")?;
    let losers = t.f64s("losers_5pct")?;
    let delta = t.f64s("delta_pct")?;
    let cov_before = t.f64s("coverage_before")?;
    let cov_after = t.f64s("coverage_after")?;
    let mut figures = Vec::new();
    let mut rows = Vec::new();
    for (d, fr, en) in IMPACT_PANELS {
        let idx = rows_of(&dim, d);
        let labels: Vec<String> = idx.iter().map(|&i| group_label(lang, &group[i])).collect();
        let mut bars = Vec::new();
        for (k, &i) in idx.iter().enumerate() {
            bars.push(Bar {
                group: k,
                slot: (-0.35, 0.35),
                value: winners[i],
                colour: colour::GREEN,
            });
            bars.push(Bar {
                group: k,
                slot: (-0.35, 0.35),
                value: -losers[i],
                colour: colour::VERMILLION,
            });
            rows.push(vec![
                lang.pick(fr, en).to_string(),
                labels[k].clone(),
                lang.number(services[i], 0),
                lang.signed_percent(delta[i], 1),
                lang.percent(winners[i], 1),
                lang.percent(losers[i], 1),
                lang.percent(cov_before[i], 1),
                lang.percent(cov_after[i], 1),
            ]);
        }
        let alt = idx
            .iter()
            .zip(&labels)
            .map(|(&i, g)| {
                format!(
                    "{g}: {} {}, {} {}",
                    lang.percent(winners[i], 1),
                    lang.pick("gagnants", "winners"),
                    lang.percent(losers[i], 1),
                    lang.pick("perdants", "losers")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        figures.push(plot::bars(
            &Bars {
                id: &format!("winners-losers-{}", d.replace('_', "-")),
                title: lang.pick(fr, en),
                x_desc: lang.pick("groupe", "group"),
                y_desc: lang.pick(
                    "part pondérée des services (%)",
                    "weighted share of services (%)",
                ),
                labels,
                bars,
                scale: Scale::Share,
                legend: vec![
                    (
                        colour::GREEN,
                        lang.pick("gagnants (> +5 %)", "winners (> +5 %)")
                            .to_string(),
                    ),
                    (
                        colour::VERMILLION,
                        lang.pick("perdants (< −5 %)", "losers (< −5 %)")
                            .to_string(),
                    ),
                ],
                alt,
                caption: String::new(),
            },
            lang,
        )?);
    }
    Ok(Section {
        id: "winners-losers",
        title: lang.pick("Gagnants et perdants", "Winners and losers").to_string(),
        intro: lang
            .pick(
                "Part pondérée (poids de sondage) des services de chaque groupe qui gagnent plus de 5 % (vers le haut) ou perdent plus de 5 % (vers le bas).",
                "Weighted share (design weights) of each group's services gaining more than 5 % (upwards) or losing more than 5 % (downwards).",
            )
            .to_string(),
        blocks: vec![
            Block::Figures(figures),
            Block::Table(TableBlock {
                caption: lang.pick("Les chiffres des graphiques", "The plots' figures").to_string(),
                header: [
                    lang.pick("regroupement", "grouping"),
                    lang.pick("groupe", "group"),
                    lang.pick("services", "services"),
                    lang.pick("variation", "change"),
                    lang.pick("gagnants", "winners"),
                    lang.pick("perdants", "losers"),
                    lang.pick("couverture avant", "coverage before"),
                    lang.pick("couverture après", "coverage after"),
                ]
                .map(str::to_string)
                .to_vec(),
                numeric: vec![false, false, true, true, true, true, true, true],
                rows,
                folded: true,
            }),
        ],
    })
}

fn departements(tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let t = tables.get("impact")?;
    let dim = t.strings("dimension")?;
    let group = t.strings("group")?;
    let services = t.f64s("services")?;
    let delta = t.f64s("delta_pct")?;
    let baseline = t.f64s("baseline_total")?;
    let funding = t.f64s("funding_total")?;
    // Names, when the départements table has them.
    let names: Vec<(String, String)> = match tables.get("departements") {
        Ok(d) => d
            .strings("departement")?
            .into_iter()
            .zip(d.strings("name")?)
            .collect(),
        Err(_) => Vec::new(),
    };
    let name = |code: &str| {
        names
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let mut idx = rows_of(&dim, "departement");
    idx.sort_by(|&a, &b| delta[a].total_cmp(&delta[b]).then(group[a].cmp(&group[b])));
    let labels: Vec<String> = idx.iter().map(|&i| group[i].clone()).collect();
    let bars: Vec<Bar> = idx
        .iter()
        .enumerate()
        .map(|(k, &i)| Bar {
            group: k,
            slot: (-0.4, 0.4),
            value: if delta[i].is_finite() { delta[i] } else { 0.0 },
            colour: if delta[i] < 0.0 {
                colour::VERMILLION
            } else {
                colour::GREEN
            },
        })
        .collect();
    let gainers = idx.iter().filter(|&&i| delta[i] > 0.0).count();
    let alt = format!(
        "{} {} ; {} {} {} {}, {} {} {}.",
        idx.len(),
        lang.pick("départements", "départements"),
        gainers,
        lang.pick("gagnent", "gain"),
        lang.pick("; le plus bas", "; the lowest"),
        idx.first().map_or(String::new(), |&i| format!(
            "{} {}",
            group[i],
            lang.signed_percent(delta[i], 1)
        )),
        lang.pick("le plus haut", "the highest"),
        idx.last().map_or(String::new(), |&i| format!(
            "{} {}",
            group[i],
            lang.signed_percent(delta[i], 1)
        )),
        ""
    );
    let fig = plot::bars(
        &Bars {
            id: "departements",
            title: lang.pick("Variation du financement par département", "Change in funding by département"),
            x_desc: lang.pick("département (du plus perdant au plus gagnant)", "département (from the largest loss to the largest gain)"),
            y_desc: lang.pick("variation du financement pondéré (%)", "change in weighted funding (%)"),
            labels,
            bars,
            scale: Scale::Share,
            legend: vec![
                (colour::GREEN, lang.pick("gain", "gain").to_string()),
                (colour::VERMILLION, lang.pick("perte", "loss").to_string()),
            ],
            alt,
            caption: lang
                .pick(
                    "Totaux pondérés des services de l'échantillon de chaque département ; un département sans service échantillonné n'a pas de barre.",
                    "Weighted totals of each département's sampled services; a département without sampled services has no bar.",
                )
                .to_string(),
        },
        lang,
    )?;
    let rows = idx
        .iter()
        .map(|&i| {
            vec![
                group[i].clone(),
                name(&group[i]),
                lang.number(services[i], 0),
                lang.money(baseline[i], 0),
                lang.money(funding[i], 0),
                lang.signed_percent(delta[i], 1),
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
                    .pick(
                        "Les départements, du plus perdant au plus gagnant",
                        "The départements, from the largest loss to the largest gain",
                    )
                    .to_string(),
                header: [
                    lang.pick("code", "code"),
                    lang.pick("nom", "name"),
                    lang.pick("services", "services"),
                    lang.pick("financement actuel", "baseline funding"),
                    lang.pick("financement calibré", "calibrated funding"),
                    lang.pick("variation", "change"),
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

fn out_of_pocket(
    s: &CalibrationSummary,
    tables: &Tables,
    lang: Lang,
) -> Result<Section, ReportError> {
    let t = tables.get("out_of_pocket")?;
    let dim = t.strings("dimension")?;
    let group = t.strings("group")?;
    let users = t.f64s("users")?;
    let before = t.f64s("oop_before")?;
    let after = t.f64s("oop_after")?;
    let rising = t.f64s("rising_share")?;
    let max_change = t.f64s("max_change")?;
    let mut figures: Vec<Figure> = Vec::new();
    let mut rows = Vec::new();
    for (d, fr, en) in OOP_PANELS {
        let idx = rows_of(&dim, d);
        let labels: Vec<String> = idx.iter().map(|&i| group_label(lang, &group[i])).collect();
        let mut bars = Vec::new();
        for (k, &i) in idx.iter().enumerate() {
            bars.push(Bar {
                group: k,
                slot: (-0.4, 0.0),
                value: before[i],
                colour: colour::GREY,
            });
            bars.push(Bar {
                group: k,
                slot: (0.0, 0.4),
                value: after[i],
                colour: colour::BLUE,
            });
            rows.push(vec![
                lang.pick(fr, en).to_string(),
                labels[k].clone(),
                lang.number(users[i], 0),
                lang.with_unit(before[i], 2, "€/h"),
                lang.with_unit(after[i], 2, "€/h"),
                lang.percent(rising[i], 1),
                lang.with_unit(max_change[i], 2, "€/h"),
            ]);
        }
        let alt = idx
            .iter()
            .zip(&labels)
            .map(|(&i, g)| {
                format!(
                    "{g}: {} → {}",
                    lang.with_unit(before[i], 2, "€/h"),
                    lang.with_unit(after[i], 2, "€/h")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        figures.push(plot::bars(
            &Bars {
                id: &format!("out-of-pocket-{}", d.replace('_', "-")),
                title: lang.pick(fr, en),
                x_desc: lang.pick("groupe d'usagers", "group of users"),
                y_desc: lang.pick(
                    "reste à charge moyen (€/h facturée)",
                    "mean out-of-pocket (€/billed hour)",
                ),
                labels,
                bars,
                scale: Scale::EurosPerHour,
                legend: vec![
                    (colour::GREY, lang.pick("avant", "before").to_string()),
                    (colour::BLUE, lang.pick("après", "after").to_string()),
                ],
                alt,
                caption: String::new(),
            },
            lang,
        )?);
    }
    let o = &s.guarantees.out_of_pocket;
    Ok(Section {
        id: "out-of-pocket",
        title: lang.pick("Reste à charge des usagers", "Users' out-of-pocket").to_string(),
        intro: format!(
            "{} « {} ». {} {} {} {} {} {}.",
            lang.pick(
                "Reste à charge moyen pondéré par heure facturée, avant (tarif horaire actuel) et après (financement calibré), sous l'option de participation",
                "Weighted mean out-of-pocket per billed hour, before (today's hourly tariff) and after (the calibrated funding), under the participation option"
            ),
            o.participation,
            lang.number(o.rising as f64, 0),
            lang.pick("usagers sur", "users of"),
            lang.number(o.users as f64, 0),
            lang.pick("voient leur reste à charge augmenter ; la plus forte hausse est de", "see their out-of-pocket rise; the largest rise is"),
            lang.with_unit(o.max_rise, 2, "€/h"),
            ""
        ),
        blocks: vec![
            Block::Figures(figures),
            Block::Table(TableBlock {
                caption: lang.pick("Les chiffres des graphiques", "The plots' figures").to_string(),
                header: [
                    lang.pick("regroupement", "grouping"),
                    lang.pick("groupe", "group"),
                    lang.pick("usagers", "users"),
                    lang.pick("avant", "before"),
                    lang.pick("après", "after"),
                    lang.pick("en hausse", "rising"),
                    lang.pick("plus forte variation", "largest change"),
                ]
                .map(str::to_string)
                .to_vec(),
                numeric: vec![false, false, true, true, true, true, true],
                rows,
                folded: true,
            }),
        ],
    })
}

fn guarantees(s: &CalibrationSummary, lang: Lang) -> Section {
    let g = &s.guarantees;
    let yes_no = |b: bool| {
        lang.pick(if b { "oui" } else { "non" }, if b { "yes" } else { "no" })
            .to_string()
    };
    let mut rows = vec![vec![
        format!(
            "out_of_pocket — {}",
            lang.pick("aucun reste à charge ne monte", "no out-of-pocket rises")
        ),
        yes_no(g.out_of_pocket.constrained),
        lang.number(g.out_of_pocket.users as f64, 0),
        lang.number(g.out_of_pocket.rising as f64, 0),
        "—".to_string(),
        lang.with_unit(g.out_of_pocket.max_rise, 2, "€/h"),
    ]];
    for (name, fr, en, c) in [
        (
            "nhas_price",
            "les NHAS ne sont pas moins payés",
            "NHAS services are not paid less",
            &g.nhas_price,
        ),
        (
            "has_cover",
            "le coût des HAS est couvert",
            "HAS services' costs are covered",
            &g.has_cover,
        ),
        (
            "transition",
            "aucun service ne perd plus que la limite",
            "no service loses more than the limit",
            &g.transition,
        ),
    ] {
        rows.push(vec![
            format!("{name} — {}", lang.pick(fr, en)),
            yes_no(c.constrained),
            lang.number(c.services as f64, 0),
            lang.number(c.violations as f64, 0),
            lang.number(c.violations_before as f64, 0),
            lang.money(c.shortfall, 0),
        ]);
    }
    let mut blocks = vec![Block::Table(TableBlock {
        caption: format!(
            "{} {} ; {} « {} »",
            lang.pick("Limite de transition", "Transition limit"),
            lang.percent(g.transition_limit, 0),
            lang.pick("participation", "participation"),
            g.out_of_pocket.participation
        ),
        header: [
            lang.pick("garantie", "guarantee"),
            lang.pick("imposée au calage", "imposed on the fit"),
            lang.pick("concernés", "concerned"),
            lang.pick("non tenue (après)", "broken (after)"),
            lang.pick("non tenue (aujourd'hui)", "broken (today)"),
            lang.pick("écart (pondéré)", "shortfall (weighted)"),
        ]
        .map(str::to_string)
        .to_vec(),
        numeric: vec![false, false, true, true, true, true],
        rows,
        folded: false,
    })];
    let c = &s.constraints;
    if c.rows > 0 {
        blocks.push(Block::Note(format!(
            "{} {} {} {}{}",
            lang.number(c.binding as f64, 0),
            lang.pick("contraintes saturées sur", "constraints binding of"),
            lang.number(c.rows as f64, 0),
            lang.pick("à la solution", "at the solution"),
            if c.binding_first.is_empty() {
                String::new()
            } else {
                format!(" : {}", c.binding_first.join(", "))
            }
        )));
    }
    for o in &c.order {
        if !o.holds {
            blocks.push(Block::Alert(format!(
                "{} {} ≥ {}",
                lang.pick("Ordre non tenu :", "Order not holding:"),
                o.greater,
                o.lesser
            )));
        }
    }
    Section {
        id: "guarantees",
        title: lang.pick("Garanties", "Guarantees").to_string(),
        intro: lang
            .pick(
                "Chaque garantie est vérifiée sur le financement calibré, qu'elle ait été imposée au calage ou non. Quand celles qui sont imposées ne peuvent pas tenir ensemble, le travail échoue et son rapport nomme les contraintes en conflit.",
                "Every guarantee is checked on the calibrated funding, whether it was imposed on the fit or not. When those imposed cannot hold together, the job fails and its report names the conflicting constraints.",
            )
            .to_string(),
        blocks,
    }
}
