//! The conflict report: a calibration whose guarantees, asked as constraints, cannot all
//! hold with budget neutrality has no result, but it has a diagnosis — the closest
//! funding (least total violation), the constraints it still violates by guarantee, and
//! the furthest from holding. This page shows it, with the spec and what to change.

use dotation_solver::error::Conflict;
use dotation_solver::job::Provenance;
use dotation_solver::spec::JobSpec;

use super::{provenance, spec_section};
use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Block, Fact, Page, Section, TableBlock};
use crate::plot::{self, Bar, Bars, Scale, colour};

/// What the least-violation diagnosis found (`SolverError::Infeasible`'s fields).
#[derive(Clone, Copy, Debug)]
pub struct Infeasibility<'a> {
    /// Constraints violated at the least-violation point.
    pub violated: usize,
    /// The least total relative violation.
    pub total_relative: f64,
    /// Violated constraints per guarantee.
    pub families: &'a [(String, usize)],
    /// Guarantees binding or violated there.
    pub binding: &'a [String],
    /// The furthest from holding, worst first.
    pub conflicts: &'a [Conflict],
}

/// The page of a calibration that cannot keep its guarantees.
pub fn page(
    spec: &JobSpec,
    p: &Provenance,
    inf: &Infeasibility<'_>,
    lang: Lang,
) -> Result<Page, ReportError> {
    let l = |fr: &str, en: &str| lang.pick(fr, en).to_string();
    let formula = spec.formula.kind.name();
    let asked: Vec<&str> = spec.guarantees.constrain.iter().map(|g| g.name()).collect();
    let headline = vec![
        Fact::new(
            lang.pick("Formule", "Formula"),
            formula.to_string(),
            "formula",
        ),
        Fact::new(lang.pick("Données", "Data"), p.data.clone(), "data"),
        Fact::new(
            lang.pick("Version", "Version"),
            p.version.clone(),
            "version",
        ),
        Fact::new(
            lang.pick("Garanties imposées", "Guarantees imposed"),
            asked.join(", "),
            "",
        ),
        Fact::new(
            lang.pick(
                "Contraintes violées au plus près",
                "Constraints violated at the closest",
            ),
            lang.number(inf.violated as f64, 0),
            "violated",
        ),
        Fact::new(
            lang.pick(
                "Violation relative totale minimale",
                "Least total relative violation",
            ),
            lang.number(inf.total_relative, 4),
            "total_relative",
        ),
    ];
    let labels: Vec<String> = inf.families.iter().map(|(f, _)| f.clone()).collect();
    let fig = plot::bars(
        &Bars {
            id: "conflict-families",
            title: lang.pick("Contraintes violées par garantie", "Constraints violated by guarantee"),
            x_desc: lang.pick("garantie", "guarantee"),
            y_desc: lang.pick("contraintes violées (nombre)", "constraints violated (count)"),
            labels,
            bars: inf
                .families
                .iter()
                .enumerate()
                .map(|(k, (_, n))| Bar { group: k, slot: (-0.35, 0.35), value: *n as f64, colour: colour::VERMILLION })
                .collect(),
            scale: Scale::Count,
            legend: Vec::new(),
            alt: inf
                .families
                .iter()
                .map(|(f, n)| format!("{f}: {n}"))
                .collect::<Vec<_>>()
                .join("; "),
            caption: lang
                .pick(
                    "Au financement le plus proche de tenir toutes les garanties (violation relative totale minimale).",
                    "At the funding closest to keeping every guarantee (least total relative violation).",
                )
                .to_string(),
        },
        lang,
    )?;
    let rows = inf
        .conflicts
        .iter()
        .map(|c| {
            vec![
                c.constraint.clone(),
                c.family.clone(),
                if c.family == "order" {
                    lang.number(c.gap, 2)
                } else {
                    lang.money(c.gap, 0)
                },
                if c.family == "order" {
                    lang.number(c.relative, 4)
                } else {
                    lang.percent(c.relative, 2)
                },
            ]
        })
        .collect();
    let conflict = Section {
        id: "conflict",
        title: l("Conflit entre garanties", "Conflict between guarantees"),
        intro: format!(
            "{} {}",
            lang.pick(
                "Les garanties imposées au calage ne peuvent pas toutes tenir avec la neutralité budgétaire : aucun financement ne les respecte toutes. Assouplir ou retirer l'une d'elles (guarantees.constrain, guarantees.transition_limit, guarantees.participation) ou changer de formule. Garanties saturées ou violées au plus près :",
                "The guarantees imposed on the fit cannot all hold with budget neutrality: no funding keeps them all. Relax or drop one of them (guarantees.constrain, guarantees.transition_limit, guarantees.participation) or change the formula. Guarantees binding or violated at the closest funding:",
            ),
            inf.binding.join(", ")
        ),
        blocks: vec![
            Block::Figures(vec![fig]),
            Block::Table(TableBlock {
                caption: lang.pick("Les contraintes les plus éloignées de tenir", "The constraints furthest from holding").to_string(),
                header: [
                    lang.pick("contrainte", "constraint"),
                    lang.pick("garantie", "guarantee"),
                    lang.pick("écart", "gap"),
                    lang.pick("écart relatif", "relative gap"),
                ]
                .map(str::to_string)
                .to_vec(),
                numeric: vec![false, false, true, true],
                rows,
                folded: false,
            }),
        ],
    };
    Ok(Page {
        lang,
        title: format!(
            "{} — {formula}",
            l("Calibration impossible", "Calibration impossible")
        ),
        subtitle: format!("{} · dotation {}", p.data, p.version),
        headline,
        alerts: vec![l(
            "Les garanties imposées ne peuvent pas tenir ensemble : le calage n'a pas de résultat.",
            "The guarantees imposed cannot hold together: the fit has no result.",
        )],
        sections: vec![conflict, spec_section(spec, lang)],
        provenance: provenance(p, lang),
    })
}
