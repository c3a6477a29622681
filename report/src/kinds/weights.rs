//! The report of calibrated survey weights: every margin's target beside the design
//! weights' estimate and the calibrated weights' total, and the distribution of the
//! g-weights (weight / design weight) against the bounds.

use dotation_solver::job::{Provenance, WeightsSummary};

use super::{provenance, spec_section};
use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Block, Fact, Page, Section, TableBlock};
use crate::plot::{self, Marker};
use crate::tables::Tables;

/// The result tables this report reads.
pub const TABLES: &[&str] = &["margins", "weights"];

/// The page of a weights job.
pub fn page(
    s: &WeightsSummary,
    p: &Provenance,
    tables: &Tables,
    lang: Lang,
) -> Result<Page, ReportError> {
    let l = |fr: &str, en: &str| lang.pick(fr, en).to_string();
    let bounds = match s.bounds {
        Some([lo, hi]) => format!("[{} ; {}]", lang.number(lo, 2), lang.number(hi, 2)),
        None => l("sans bornes", "no bounds"),
    };
    let headline = vec![
        Fact::new(lang.pick("Méthode", "Method"), s.method.clone(), "method").note(bounds.clone()),
        Fact::new(
            lang.pick("Marges", "Margins"),
            s.margins.to_string(),
            "margins",
        )
        .note(format!(
            "{} {}",
            lang.number(s.services as f64, 0),
            lang.pick("services", "services")
        )),
        Fact::new(
            lang.pick("Écart résiduel maximal", "Largest residual"),
            lang.scientific(s.largest_residual, 2),
            "largest_residual",
        )
        .note(format!(
            "{} {} · {} {}",
            s.iterations,
            lang.pick("itérations", "iterations"),
            lang.pick("tolérance", "tolerance"),
            lang.scientific(s.tolerance, 0)
        )),
        Fact::new(
            lang.pick("Écart des poids de sondage", "Design weights' gap"),
            lang.percent(s.largest_design_gap, 1),
            "largest_design_gap",
        )
        .note(l(
            "plus grand écart relatif d'une marge estimée avec les poids de sondage",
            "largest relative gap of a margin estimated with the design weights",
        )),
        Fact::new(
            lang.pick("Rapports de poids g", "g-weights"),
            format!("{} – {}", lang.number(s.g.min, 3), lang.number(s.g.max, 3)),
            "g",
        )
        .note(format!(
            "{} {}",
            lang.pick("médiane", "median"),
            lang.number(s.g.median, 3)
        )),
        Fact::new(
            lang.pick("Somme des poids", "Sum of weights"),
            lang.number(s.weight_total, 1),
            "weight_total",
        )
        .note(format!(
            "{} {}",
            lang.pick("poids de sondage :", "design weights:"),
            lang.number(s.design_weight_total, 1)
        )),
    ];
    let mut alerts = Vec::new();
    if s.negative > 0 {
        alerts.push(format!(
            "{} {}",
            s.negative,
            lang.pick(
                "services ont un poids négatif (méthode linéaire sans bornes) : choisir truncated, raking ou logit pour des poids positifs.",
                "services have a negative weight (linear method, no bounds): choose truncated, raking or logit for positive weights.",
            )
        ));
    }
    let mut sections = vec![margins(tables, lang)?, g_section(s, tables, lang)?];
    if let Some(spec) = &s.spec {
        sections.push(spec_section(spec, lang));
    }
    Ok(Page {
        lang,
        title: format!(
            "{} — {}",
            l("Calage des poids", "Calibrated weights"),
            s.method
        ),
        subtitle: format!("{} · {} {}", p.data, l("dotation", "dotation"), p.version),
        headline,
        alerts,
        sections,
        provenance: provenance(p, lang),
    })
}

fn margins(tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let t = tables.get("margins")?;
    let (margin, variable, level) = (
        t.strings("margin")?,
        t.strings("variable")?,
        t.strings("level")?,
    );
    let (total, design, achieved, residual) = (
        t.f64s("total")?,
        t.f64s("design_estimate")?,
        t.f64s("achieved")?,
        t.f64s("residual")?,
    );
    let rows = (0..t.rows())
        .map(|i| {
            vec![
                margin[i].clone(),
                variable[i].clone(),
                level[i].clone(),
                lang.number(total[i], 1),
                lang.number(design[i], 1),
                lang.percent(
                    if total[i] != 0.0 {
                        design[i] / total[i] - 1.0
                    } else {
                        0.0
                    },
                    1,
                ),
                lang.number(achieved[i], 1),
                lang.scientific(residual[i], 1),
            ]
        })
        .collect();
    Ok(Section {
        id: "margins",
        title: lang.pick("Marges", "Margins").to_string(),
        intro: lang
            .pick(
                "Chaque total connu (cible), son estimation avec les poids de sondage et le total des poids calés, qui le reproduit.",
                "Each known total (target), its estimate with the design weights, and the total of the calibrated weights, which reproduces it.",
            )
            .to_string(),
        blocks: vec![Block::Table(TableBlock {
            caption: lang.pick("Les marges", "The margins").to_string(),
            header: [
                lang.pick("marge", "margin"),
                lang.pick("variable", "variable"),
                lang.pick("modalité", "level"),
                lang.pick("cible", "target"),
                lang.pick("poids de sondage", "design weights"),
                lang.pick("écart", "gap"),
                lang.pick("poids calés", "calibrated weights"),
                lang.pick("écart résiduel", "residual"),
            ]
            .map(str::to_string)
            .to_vec(),
            numeric: vec![false, false, false, true, true, true, true, true],
            rows,
            folded: false,
        })],
    })
}

fn g_section(s: &WeightsSummary, tables: &Tables, lang: Lang) -> Result<Section, ReportError> {
    let g = tables.get("weights")?.f64s("g")?;
    let markers: Vec<Marker> = match s.bounds {
        Some([lo, hi]) => vec![
            Marker {
                x: lo,
                label: format!("L = {}", lang.number(lo, 2)),
            },
            Marker {
                x: hi,
                label: format!("U = {}", lang.number(hi, 2)),
            },
        ],
        None => vec![Marker {
            x: 1.0,
            label: "g = 1".into(),
        }],
    };
    let figure = plot::histogram(
        "weights-g",
        lang.pick("Rapports de poids g", "g-weights"),
        lang.pick(
            "g = poids calé / poids de sondage",
            "g = calibrated weight / design weight",
        ),
        lang.pick("services", "services"),
        &g,
        &markers,
        lang,
    )?;
    let q = &s.g;
    let quantiles = [
        ("min", q.min),
        ("1 %", q.p01),
        ("5 %", q.p05),
        ("25 %", q.p25),
        (lang.pick("médiane", "median"), q.median),
        ("75 %", q.p75),
        ("95 %", q.p95),
        ("99 %", q.p99),
        ("max", q.max),
    ];
    Ok(Section {
        id: "g",
        title: lang.pick("Rapports de poids", "g-weights").to_string(),
        intro: format!(
            "{} {} · {} {}",
            lang.pick("À la borne basse :", "At the lower bound:"),
            s.at_lower_bound,
            lang.pick("à la borne haute :", "at the upper bound:"),
            s.at_upper_bound
        ),
        blocks: vec![
            Block::Figures(vec![figure]),
            Block::Table(TableBlock {
                caption: lang.pick("Quantiles de g", "Quantiles of g").to_string(),
                header: quantiles.iter().map(|(k, _)| k.to_string()).collect(),
                numeric: vec![true; quantiles.len()],
                rows: vec![quantiles.iter().map(|(_, v)| lang.number(*v, 4)).collect()],
                folded: false,
            }),
        ],
    })
}
