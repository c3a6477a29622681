//! The report of a comparison: the candidates side by side — parameters, in-sample and
//! cross-validated fit, neutrality residual, winners and losers, each guarantee's
//! violations, conflicts — with bars of the cross-validated error and of the losers.
//!
//! It reads no result table: the comparison's summary holds every figure shown.

use dotation_solver::job::{CandidateRow, CompareSummary, Provenance};

use super::{provenance, spec_section};
use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Block, Fact, Page, Section, TableBlock};
use crate::plot::{self, Bar, Bars, Scale, colour};

/// The result tables this report reads.
pub const TABLES: &[&str] = &[];

/// The page of a comparison.
pub fn page(s: &CompareSummary, p: &Provenance, lang: Lang) -> Result<Page, ReportError> {
    let l = |fr: &str, en: &str| lang.pick(fr, en).to_string();
    let feasible = s.candidates.iter().filter(|c| c.feasible).count();
    let mut headline = vec![
        Fact::new(
            lang.pick("Formules comparées", "Formulas compared"),
            s.candidates.len().to_string(),
            "",
        )
        .note(format!("{feasible} {}", lang.pick("calculées", "computed"))),
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
            lang.pick("Validation croisée", "Cross-validation"),
            format!("{} {}", s.folds, lang.pick("plis", "folds")),
            "folds",
        )
        .note(format!("{} {}", lang.pick("graine", "seed"), s.seed)),
    ];
    if let Some(best) = &s.best_cross_validated {
        headline.push(
            Fact::new(
                lang.pick(
                    "Plus faible erreur hors échantillon",
                    "Lowest out-of-sample error",
                ),
                best.clone(),
                "best_cross_validated",
            )
            .note(
                lang.pick("RMSE en validation croisée", "cross-validated RMSE")
                    .to_string(),
            ),
        );
    }
    let alerts = s
        .candidates
        .iter()
        .filter_map(|c| {
            c.conflict.as_ref().map(|why| {
                format!(
                    "{} {} : {why}",
                    c.name,
                    lang.pick("n'est pas calculée", "is not computed")
                )
            })
        })
        .collect();
    Ok(Page {
        lang,
        title: format!(
            "{} — {}",
            l("Comparaison de formules", "Comparison of formulas"),
            names(s)
        ),
        subtitle: format!("{} · {} {}", p.data, l("dotation", "dotation"), p.version),
        headline,
        alerts,
        sections: vec![
            fit(s, lang)?,
            effects(s, lang)?,
            spec_section(&s.spec, lang),
        ],
        provenance: provenance(p, lang),
    })
}

fn names(s: &CompareSummary) -> String {
    s.candidates
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cell: the value formatted, or a dash.
fn cell(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| crate::lang::UNDEFINED.to_string(), f)
}

/// What a bar chart of the candidates shows.
struct Metric<'a> {
    id: &'a str,
    title: &'a str,
    y_desc: &'a str,
    scale: Scale,
}

/// Bars of one figure per candidate, the best in blue and the others in grey.
fn per_candidate(
    s: &CompareSummary,
    m: &Metric<'_>,
    value: impl Fn(&CandidateRow) -> Option<f64>,
    format: impl Fn(f64) -> String,
    lang: Lang,
) -> Result<plot::Figure, ReportError> {
    let rows: Vec<&CandidateRow> = s.candidates.iter().filter(|c| value(c).is_some()).collect();
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, c)| Bar {
            group: i,
            slot: (-0.35, 0.35),
            value: value(c).unwrap_or(0.0),
            colour: if s.best_cross_validated.as_deref() == Some(&c.name) {
                colour::BLUE
            } else {
                colour::GREY
            },
        })
        .collect();
    let alt = rows
        .iter()
        .map(|c| format!("{}: {}", c.name, cell(value(c), &format)))
        .collect::<Vec<_>>()
        .join("; ");
    plot::bars(
        &Bars {
            id: m.id,
            title: m.title,
            x_desc: lang.pick("formule", "formula"),
            y_desc: m.y_desc,
            labels: rows.iter().map(|c| c.name.clone()).collect(),
            bars,
            scale: m.scale,
            legend: vec![(
                colour::BLUE,
                lang.pick(
                    "plus faible erreur hors échantillon",
                    "lowest out-of-sample error",
                )
                .to_string(),
            )],
            alt,
            caption: String::new(),
        },
        lang,
    )
}

fn fit(s: &CompareSummary, lang: Lang) -> Result<Section, ReportError> {
    let money = |v: f64| lang.money(v, 0);
    let pct = |v: f64| lang.percent(v, 1);
    let rows = s
        .candidates
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                format!("{} ({})", c.formula, c.loss),
                c.parameters.to_string(),
                cell(c.r2, |v| lang.number(v, 4)),
                cell(c.rmse, money),
                cell(c.cv_rmse, money),
                cell(c.cv_mape, pct),
                cell(c.cv_within_10pct, pct),
                cell(c.cv_r2, |v| lang.number(v, 4)),
            ]
        })
        .collect();
    let figure = per_candidate(
        s,
        &Metric {
            id: "compare-cv-rmse",
            title: lang.pick(
                "Erreur hors échantillon (RMSE)",
                "Out-of-sample error (RMSE)",
            ),
            y_desc: lang.pick(
                "RMSE en validation croisée (€/an)",
                "cross-validated RMSE (€/year)",
            ),
            scale: Scale::Euros,
        },
        |c| c.cv_rmse,
        money,
        lang,
    )?;
    Ok(Section {
        id: "fit",
        title: lang.pick("Ajustement", "Fit").to_string(),
        intro: format!(
            "{} {} {}",
            lang.pick(
                "Ajustement pondéré dans l'échantillon, et hors échantillon : chaque service est prédit par la formule calée sans lui, en validation croisée à",
                "Weighted fit in the sample, and out of it: each service is predicted by the formula fitted without it, in a cross-validation of",
            ),
            s.folds,
            lang.pick(
                "plis stratifiés (la neutralité réimposée dans chaque pli d'apprentissage).",
                "stratified folds (neutrality re-imposed in each training fold).",
            )
        ),
        blocks: vec![
            Block::Figures(vec![figure]),
            Block::Table(TableBlock {
                caption: lang.pick("Les formules côte à côte", "The formulas side by side").to_string(),
                header: [
                    lang.pick("formule", "formula"),
                    lang.pick("type (perte)", "kind (loss)"),
                    lang.pick("paramètres", "parameters"),
                    "R²",
                    "RMSE",
                    lang.pick("RMSE (VC)", "RMSE (CV)"),
                    lang.pick("MAPE (VC)", "MAPE (CV)"),
                    lang.pick("à ±10 % (VC)", "within ±10 % (CV)"),
                    lang.pick("R² (VC)", "R² (CV)"),
                ]
                .map(str::to_string)
                .to_vec(),
                numeric: vec![false, false, true, true, true, true, true, true, true],
                rows,
                folded: false,
            }),
        ],
    })
}

fn effects(s: &CompareSummary, lang: Lang) -> Result<Section, ReportError> {
    let count =
        |v: Option<usize>| v.map_or_else(|| crate::lang::UNDEFINED.to_string(), |n| n.to_string());
    let pct = |v: f64| lang.percent(v, 1);
    let rows = s
        .candidates
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                cell(c.neutrality_residual, |v| lang.scientific(v, 2)),
                cell(c.funding_total, |v| lang.money(v, 0)),
                cell(c.winners_5pct, pct),
                cell(c.losers_5pct, pct),
                count(c.out_of_pocket_rising),
                count(c.nhas_price_violations),
                count(c.has_cover_violations),
                count(c.transition_violations),
                c.conflict.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let figure = per_candidate(
        s,
        &Metric {
            id: "compare-losers",
            title: lang.pick("Perdants au-delà de −5 %", "Losers beyond −5 %"),
            y_desc: lang.pick(
                "part pondérée des services (%)",
                "weighted share of services (%)",
            ),
            scale: Scale::Share,
        },
        |c| c.losers_5pct,
        pct,
        lang,
    )?;
    Ok(Section {
        id: "effects",
        title: lang.pick("Effets et garanties", "Effects and guarantees").to_string(),
        intro: lang
            .pick(
                "Pour chaque formule : l'écart de neutralité atteint, le financement national, les services qui gagnent ou perdent plus de 5 % (part pondérée), et le nombre de violations de chaque garantie ; une formule dont les garanties imposées ne peuvent tenir ensemble n'est pas calculée, et son conflit est nommé.",
                "For each formula: the neutrality gap achieved, the national funding, the services gaining or losing more than 5 % (weighted share), and each guarantee's violations; a formula whose imposed guarantees cannot hold together is not computed, and its conflict is named.",
            )
            .to_string(),
        blocks: vec![
            Block::Figures(vec![figure]),
            Block::Table(TableBlock {
                caption: lang.pick("Effets des formules", "The formulas' effects").to_string(),
                header: [
                    lang.pick("formule", "formula"),
                    lang.pick("résidu de neutralité", "neutrality residual"),
                    lang.pick("financement national", "national funding"),
                    lang.pick("gagnants > +5 %", "winners > +5 %"),
                    lang.pick("perdants < −5 %", "losers < −5 %"),
                    lang.pick("usagers dont le reste à charge monte", "users paying more"),
                    lang.pick("prix NHAS", "NHAS price"),
                    lang.pick("couverture HAS", "HAS cover"),
                    lang.pick("transition", "transition"),
                    lang.pick("conflit", "conflict"),
                ]
                .map(str::to_string)
                .to_vec(),
                numeric: vec![false, true, true, true, true, true, true, true, true, false],
                rows,
                folded: false,
            }),
        ],
    })
}
