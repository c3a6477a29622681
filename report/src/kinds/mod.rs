//! One module per job kind, each a function from the kind's summary and result tables to
//! a [`Page`](crate::page::Page) — `baseline::page`, `calibration::page`, `compare::page`, `sweep::page` — and the
//! conflict report of a calibration whose guarantees cannot hold (`conflict::page`).
//! Here: what several kinds share (the funding-against-cost scatter, the provenance,
//! the spec, the names of groups).

pub mod apply;
pub mod baseline;
pub mod calibration;
pub mod compare;
pub mod conflict;
pub mod sweep;
pub mod weights;

use dotation_solver::job::Provenance;
use dotation_solver::spec::JobSpec;

use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Block, Section};
use crate::plot::{self, Figure, Points, ScatterLog, colour};
use crate::tables::Table;

/// The readable name of a group code of the impact tables (status, zone, resource band).
pub(crate) fn group_label(lang: Lang, code: &str) -> String {
    let (fr, en) = match code {
        "associatif" => ("associatif", "non-profit"),
        "public" => ("public", "public"),
        "prive_lucratif" => ("privé lucratif", "for-profit"),
        "urban" => ("urbain", "urban"),
        "periurban" => ("périurbain", "peri-urban"),
        "rural" => ("rural", "rural"),
        "mountain" => ("montagne", "mountain"),
        "exempt" => ("exonéré", "exempt"),
        "progressive_low" => ("progressif bas", "progressive, low"),
        "progressive_high" => ("progressif haut", "progressive, high"),
        "full" => ("taux plein", "full rate"),
        "not_apa" => ("hors APA", "not APA"),
        "unknown" => ("inconnu", "unknown"),
        other => (other, other),
    };
    lang.pick(fr, en).to_string()
}

/// Services' funding (y) against their cost (x), HAS and NHAS in two colours, on log
/// scales with the 45° line.
pub(crate) fn funding_against_cost(
    services: &Table<'_>,
    funding: &str,
    cost: &str,
    title: &str,
    y_desc: &str,
    lang: Lang,
) -> Result<Figure, ReportError> {
    let f = services.f64s(funding)?;
    let c = services.f64s(cost)?;
    let has = services.bools("habilitated")?;
    let group = |h: bool, label: &str, colour| Points {
        label: label.to_string(),
        colour,
        xy: (0..f.len())
            .filter(|&i| has[i] == h)
            .map(|i| (c[i], f[i]))
            .collect(),
    };
    plot::scatter_log(
        &ScatterLog {
            id: "funding-cost",
            title,
            x_desc: lang.pick(
                "coût du service (€/an, échelle log)",
                "service's cost (€/year, log scale)",
            ),
            y_desc,
            what: lang.pick("services", "services"),
            groups: vec![
                group(
                    true,
                    lang.pick("habilités (HAS)", "habilitated (HAS)"),
                    colour::BLUE,
                ),
                group(
                    false,
                    lang.pick("non habilités (NHAS)", "not habilitated (NHAS)"),
                    colour::ORANGE,
                ),
            ],
        },
        lang,
    )
}

/// The footer's lines: where the result comes from.
pub(crate) fn provenance(p: &Provenance, lang: Lang) -> Vec<(String, String)> {
    vec![
        (lang.pick("Données", "Data").to_string(), p.data.clone()),
        (
            lang.pick("Empreinte des données", "Data hash").to_string(),
            p.data_hash.clone(),
        ),
        (
            lang.pick("Empreinte de la spécification", "Spec hash")
                .to_string(),
            p.spec_hash.clone(),
        ),
        (
            lang.pick("Version de dotation", "dotation version")
                .to_string(),
            p.version.clone(),
        ),
    ]
}

/// The spec that was run, as JSON.
pub(crate) fn spec_section(spec: &JobSpec, lang: Lang) -> Section {
    Section {
        id: "spec",
        title: lang.pick("Spécification", "Spec").to_string(),
        intro: lang
            .pick(
                "La spécification du travail, toutes options comprises (valeurs par défaut incluses).",
                "The job's spec, every option included (defaults too).",
            )
            .to_string(),
        blocks: vec![Block::Code(
            serde_json::to_string_pretty(spec).expect("a spec serialises"),
        )],
    }
}
