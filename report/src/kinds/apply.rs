//! The report of a calibration applied to other data: the calibration's page on the
//! target, headed by the source and the neutrality re-established there.

use dotation_solver::job::{ApplySummary, Provenance};

use crate::error::ReportError;
use crate::lang::Lang;
use crate::page::{Fact, Page};
use crate::tables::Tables;

/// The result tables this report reads (a calibration's).
pub const TABLES: &[&str] = super::calibration::TABLES;

/// The page of an apply job.
pub fn page(
    s: &ApplySummary,
    p: &Provenance,
    tables: &Tables,
    lang: Lang,
) -> Result<Page, ReportError> {
    let mut page = super::calibration::page(&s.calibration, p, tables, lang)?;
    page.title = format!(
        "{} — {}",
        lang.pick("Application d'une calibration", "A calibration applied"),
        s.calibration.formula
    );
    let restored = s.applied_neutrality == "point_value";
    let mut facts = vec![
        Fact::new(
            lang.pick("Calibration appliquée", "Calibration applied"),
            s.source.clone(),
            "source",
        )
        .note(s.source_data.clone()),
        Fact::new(
            lang.pick("Écart avant rétablissement", "Gap as calibrated"),
            s.residual_as_calibrated.map_or_else(
                || crate::lang::UNDEFINED.to_string(),
                |r| lang.scientific(r, 2),
            ),
            "residual_as_calibrated",
        )
        .note(
            if restored {
                lang.pick(
                    "neutralité rétablie par une valeur de point par périmètre",
                    "neutrality re-established by one point value per scope",
                )
            } else {
                lang.pick(
                    "paramètres appliqués tels quels",
                    "parameters applied as calibrated",
                )
            }
            .to_string(),
        ),
    ];
    if let [one] = s.point_values.as_slice() {
        facts.push(Fact::new(
            lang.pick("Valeur du point", "Point value"),
            lang.number(one.value, 6),
            "point_values",
        ));
    } else if !s.point_values.is_empty() {
        let (lo, hi) = s
            .point_values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v.value), b.max(v.value))
            });
        facts.push(
            Fact::new(
                lang.pick("Valeurs du point", "Point values"),
                format!("{} – {}", lang.number(lo, 4), lang.number(hi, 4)),
                "point_values",
            )
            .note(format!(
                "{} {}",
                s.point_values.len(),
                lang.pick("périmètres", "scopes")
            )),
        );
    }
    facts.append(&mut page.headline);
    page.headline = facts;
    if !s.unused_parameters.is_empty() {
        page.alerts.push(format!(
            "{} {}",
            lang.pick(
                "Paramètres de la calibration sans service ici :",
                "Parameters of the calibration with no service here:",
            ),
            s.unused_parameters.join(", ")
        ));
    }
    Ok(page)
}
