//! The report of a sweep: how losers, the guarantees' violations and the coverage of
//! cost move with the swept setting — one line per combination of the other settings —
//! and every scenario's row.
//!
//! It reads no result table: the sweep's summary holds every row shown.

use dotation_solver::job::{Provenance, ScenarioRow, SweepSummary};

use super::{provenance, spec_section};
use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Block, Fact, Page, Section, TableBlock};
use crate::plot::{self, Line, Lines, Scale, colour};

/// The result tables this report reads.
pub const TABLES: &[&str] = &[];

/// Scenarios listed in the report's table (all are in the `scenarios` table).
const MAX_LISTED: usize = 500;

/// Lines drawn per plot (the first combinations of the other settings).
const MAX_LINES: usize = 6;

const PALETTE: [plotters::style::RGBColor; MAX_LINES] = [
    colour::BLUE,
    colour::VERMILLION,
    colour::GREEN,
    colour::ORANGE,
    colour::GREY,
    colour::INK,
];

/// A numeric setting a sweep can move: its key, its axis label, its value in a row.
type Setting = (
    &'static str,
    (&'static str, &'static str),
    fn(&ScenarioRow) -> Option<f64>,
);

const SETTINGS: [Setting; 5] = [
    (
        "budget_change_percent",
        ("variation du budget (%)", "budget change (%)"),
        |r| r.budget_change_percent,
    ),
    (
        "budget_change_euros",
        ("variation du budget (€)", "budget change (€)"),
        |r| r.budget_change_euros,
    ),
    (
        "transition_limit",
        (
            "limite de transition ℓ (part)",
            "transition limit ℓ (share)",
        ),
        |r| Some(r.transition_limit),
    ),
    (
        "floor",
        ("tarif plancher (€/h)", "floor tariff (€/h)"),
        |r| r.floor,
    ),
    (
        "mixte_rate",
        ("tarif horaire du mixte (€/h)", "mixte hourly rate (€/h)"),
        |r| r.mixte_rate,
    ),
];

/// The page of a sweep.
pub fn page(s: &SweepSummary, p: &Provenance, lang: Lang) -> Result<Page, ReportError> {
    let l = |fr: &str, en: &str| lang.pick(fr, en).to_string();
    let headline = vec![
        Fact::new(
            l("Scénarios", "Scenarios").as_str(),
            s.scenarios.to_string(),
            "scenarios",
        )
        .note(format!(
            "{} {}",
            s.feasible,
            lang.pick("calculés", "computed")
        )),
        Fact::new(
            lang.pick("Formule", "Formula"),
            s.spec.formula.kind.name().to_string(),
            "",
        ),
        Fact::new(lang.pick("Données", "Data"), p.data.clone(), "data").note(format!(
            "{} {}",
            lang.number(s.services as f64, 0),
            lang.pick("services", "services")
        )),
        Fact::new(
            lang.pick("Version", "Version"),
            p.version.clone(),
            "version",
        ),
        Fact::new(
            lang.pick(
                "Plus grand résidu de neutralité",
                "Largest neutrality residual",
            ),
            s.max_neutrality_residual.map_or_else(
                || crate::lang::UNDEFINED.to_string(),
                |r| lang.scientific(r, 2),
            ),
            "max_neutrality_residual",
        ),
    ];
    let alerts = s
        .rows
        .iter()
        .filter(|r| !r.feasible)
        .take(10)
        .map(|r| format!("{} : {}", r.name, r.conflict.clone().unwrap_or_default()))
        .collect();
    Ok(Page {
        lang,
        title: format!(
            "{} — {}",
            l("Balayage de scénarios", "Scenario sweep"),
            s.spec.formula.kind.name()
        ),
        subtitle: format!(
            "{} {} · {} · dotation {}",
            s.scenarios,
            l("scénarios", "scenarios"),
            p.data,
            p.version
        ),
        headline,
        alerts,
        sections: vec![
            curves(s, lang)?,
            table(s, lang),
            spec_section(&s.spec, lang),
        ],
        provenance: provenance(p, lang),
    })
}

/// The swept numeric setting (the first whose value varies), if any.
fn swept(rows: &[ScenarioRow]) -> Option<&'static Setting> {
    SETTINGS.iter().find(|(_, _, get)| {
        let mut values = rows.iter().filter_map(get);
        values
            .next()
            .is_some_and(|first| values.any(|v| v != first))
    })
}

/// The rows by combination of the settings other than the swept one: `(label, rows)`.
fn series<'a>(rows: &'a [ScenarioRow], x: Option<&Setting>) -> Vec<(String, Vec<&'a ScenarioRow>)> {
    let mut out: Vec<(String, Vec<&ScenarioRow>)> = Vec::new();
    for r in rows.iter().filter(|r| r.feasible) {
        let mut parts = Vec::new();
        for (key, _, get) in &SETTINGS {
            if x.is_some_and(|x| x.0 == *key) {
                continue;
            }
            if let Some(v) = get(r) {
                parts.push(format!("{key} {v}"));
            }
        }
        parts.push(format!("{} · {} · {}", r.participation, r.scope, r.funded));
        let label = parts.join(", ");
        match out.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => v.push(r),
            None => out.push((label, vec![r])),
        }
    }
    out
}

fn curves(s: &SweepSummary, lang: Lang) -> Result<Section, ReportError> {
    let x = swept(&s.rows);
    let x_of = |r: &ScenarioRow| match x {
        Some((_, _, get)) => get(r).unwrap_or(f64::NAN),
        None => r.index as f64 + 1.0,
    };
    let x_desc = x.map_or(lang.pick("scénario", "scenario"), |(_, (fr, en), _)| {
        lang.pick(fr, en)
    });
    let all = series(&s.rows, x);
    let drawn = &all[..all.len().min(MAX_LINES)];
    let caption = if all.len() > MAX_LINES {
        format!(
            "{} {} / {}",
            lang.pick(
                "combinaisons des autres réglages tracées :",
                "combinations of the other settings drawn:"
            ),
            MAX_LINES,
            all.len()
        )
    } else {
        String::new()
    };
    let line =
        |i: usize, label: &str, rows: &[&ScenarioRow], y: &dyn Fn(&ScenarioRow) -> Option<f64>| {
            let mut xy: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| y(r).map(|v| (x_of(r), v)))
                .collect();
            xy.sort_by(|a, b| a.0.total_cmp(&b.0));
            Line {
                label: label.to_string(),
                colour: PALETTE[i % MAX_LINES],
                xy,
            }
        };
    let alt = |lines: &[Line]| {
        lines
            .iter()
            .map(|l| {
                format!(
                    "{}: {} {}",
                    l.label,
                    l.xy.len(),
                    lang.pick("points", "points")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let per_series = |y: &dyn Fn(&ScenarioRow) -> Option<f64>| -> Vec<Line> {
        drawn
            .iter()
            .enumerate()
            .map(|(i, (label, rows))| line(i, label, rows, y))
            .collect()
    };
    let losers = per_series(&|r| r.losers_5pct);
    let coverage = per_series(&|r| r.coverage);
    let violations: Vec<Line> = if drawn.len() == 1 {
        let rows = &drawn[0].1;
        let guarantee = |r: Option<usize>| r.map(|v| v as f64);
        vec![
            line(0, lang.pick("transition", "transition"), rows, &|r| {
                guarantee(r.transition_violations)
            }),
            line(1, lang.pick("prix NHAS", "NHAS price"), rows, &|r| {
                guarantee(r.nhas_price_violations)
            }),
            line(2, lang.pick("couverture HAS", "HAS cover"), rows, &|r| {
                guarantee(r.has_cover_violations)
            }),
            line(
                3,
                lang.pick("reste à charge (usagers)", "out-of-pocket (users)"),
                rows,
                &|r| guarantee(r.out_of_pocket_rising),
            ),
        ]
    } else {
        per_series(&|r| r.transition_violations.map(|v| v as f64))
    };
    let figure = |id: &str, title: &str, y_desc: &str, lines: Vec<Line>, scale: Scale| {
        let a = alt(&lines);
        plot::lines(
            &Lines {
                id,
                title,
                x_desc,
                y_desc,
                lines,
                scale,
                alt: a,
                caption: caption.clone(),
            },
            lang,
        )
    };
    let figures = vec![
        figure(
            "sweep-losers",
            lang.pick("Perdants au-delà de −5 %", "Losers beyond −5 %"),
            lang.pick(
                "part pondérée des services (%)",
                "weighted share of services (%)",
            ),
            losers,
            Scale::Share,
        )?,
        figure(
            "sweep-violations",
            if drawn.len() == 1 {
                lang.pick("Violations des garanties", "Guarantees' violations")
            } else {
                lang.pick(
                    "Services au-delà de la limite de transition",
                    "Services beyond the transition limit",
                )
            },
            lang.pick(
                "services ou usagers de l'échantillon",
                "sampled services or users",
            ),
            violations,
            Scale::Count,
        )?,
        figure(
            "sweep-coverage",
            lang.pick("Couverture du coût", "Coverage of cost"),
            lang.pick(
                "financement de la formule / coût (%)",
                "formula's funding / cost (%)",
            ),
            coverage,
            Scale::Share,
        )?,
    ];
    Ok(Section {
        id: "curves",
        title: lang.pick("Effets du réglage balayé", "Effects of the swept setting").to_string(),
        intro: lang
            .pick(
                "Chaque point est un scénario calé : la part pondérée des services perdant plus de 5 %, les violations de chaque garantie et la couverture du coût, selon le réglage balayé ; une ligne par combinaison des autres réglages.",
                "Each point is a calibrated scenario: the weighted share of services losing more than 5 %, each guarantee's violations and the coverage of cost, against the swept setting; one line per combination of the other settings.",
            )
            .to_string(),
        blocks: vec![Block::Figures(figures)],
    })
}

fn table(s: &SweepSummary, lang: Lang) -> Section {
    let pct = |v: Option<f64>| {
        v.map_or_else(
            || crate::lang::UNDEFINED.to_string(),
            |v| lang.percent(v, 1),
        )
    };
    let count =
        |v: Option<usize>| v.map_or_else(|| crate::lang::UNDEFINED.to_string(), |v| v.to_string());
    let rows = s
        .rows
        .iter()
        .take(MAX_LISTED)
        .map(|r| {
            vec![
                r.name.clone(),
                r.neutrality_residual.map_or_else(
                    || crate::lang::UNDEFINED.to_string(),
                    |v| lang.scientific(v, 2),
                ),
                r.funding_total
                    .map_or_else(|| crate::lang::UNDEFINED.to_string(), |v| lang.money(v, 0)),
                pct(r.winners_5pct),
                pct(r.losers_5pct),
                pct(r.coverage),
                count(r.out_of_pocket_rising),
                count(r.nhas_price_violations),
                count(r.has_cover_violations),
                count(r.transition_violations),
                r.conflict.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut blocks = vec![Block::Table(TableBlock {
        caption: lang.pick("Les scénarios", "The scenarios").to_string(),
        header: [
            lang.pick("scénario", "scenario"),
            lang.pick("résidu de neutralité", "neutrality residual"),
            lang.pick("financement national", "national funding"),
            lang.pick("gagnants > +5 %", "winners > +5 %"),
            lang.pick("perdants < −5 %", "losers < −5 %"),
            lang.pick("couverture", "coverage"),
            lang.pick("reste à charge en hausse", "out-of-pocket rising"),
            lang.pick("prix NHAS", "NHAS price"),
            lang.pick("couverture HAS", "HAS cover"),
            lang.pick("transition", "transition"),
            lang.pick("conflit", "conflict"),
        ]
        .map(str::to_string)
        .to_vec(),
        numeric: vec![
            false, true, true, true, true, true, true, true, true, true, false,
        ],
        rows,
        folded: s.rows.len() > 30,
    })];
    if s.rows.len() > MAX_LISTED {
        blocks.push(Block::Note(format!(
            "{} {MAX_LISTED} / {} ; {}",
            lang.pick("scénarios listés :", "scenarios listed:"),
            s.rows.len(),
            lang.pick(
                "tous sont dans la table scenarios.",
                "all are in the scenarios table."
            )
        )));
    }
    Section {
        id: "scenarios",
        title: lang.pick("Scénarios", "Scenarios").to_string(),
        intro: lang
            .pick(
                "Un scénario dont les garanties imposées ne peuvent tenir ensemble n'est pas calculé ; son conflit est nommé.",
                "A scenario whose imposed guarantees cannot hold together is not computed; its conflict is named.",
            )
            .to_string(),
        blocks,
    }
}
