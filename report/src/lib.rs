//! A job's report: one self-contained HTML page, in French or English, made from the
//! job's summary ([`Summary`], `summary.json`) and its result tables ([`Tables`], the same
//! Arrow tables the job writes as Parquet and streams over Flight) — so a report can be
//! made when the job ends, from a result folder, or from a server's stored result.
//!
//! - [`render`]: summary + tables → HTML, dispatching on the job kind to one function per
//!   kind (`kinds::baseline::page`, `kinds::calibration::page`,
//!   `kinds::compare::page`, `kinds::sweep::page`, `kinds::weights::page`,
//!   `kinds::apply::page`), each building a
//!   [`page::Page`]; [`tables_read`] says which tables a kind's report reads;
//! - [`render_infeasible`]: the conflict report of a calibration whose guarantees cannot
//!   hold (it has no result tables, only the solver's diagnosis);
//! - [`plot`]: the plots, drawn by plotters' SVG backend (no font files: text stays SVG
//!   text, laid out by the browser); every plot has a title, axis labels with units, a text
//!   alternative, and counts its data marks;
//! - [`page`]: the page model and its one template (maud), with inline CSS, no script,
//!   and a Content-Security-Policy that loads nothing;
//! - [`lang`]: [`Lang`] and the number formats (« 1 234,56 € », « 12,3 % » in French,
//!   with narrow no-break spaces).
//!
//! A report is a pure function of its inputs: the same result gives the same bytes.

pub mod error;
pub mod kinds;
pub mod lang;
pub mod page;
pub mod plot;
pub mod tables;

use dotation_solver::SolverError;
use dotation_solver::job::{JobSummary, Provenance, Summary};
use dotation_solver::spec::JobSpec;

pub use error::ReportError;
pub use lang::Lang;
pub use tables::Tables;

/// The size a report keeps under at survey and national scale (scatters are subsampled
/// beyond [`plot::MAX_POINTS`] points), bytes.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// The result tables the report of a job of this kind reads.
pub fn tables_read(job: &JobSummary) -> &'static [&'static str] {
    match job {
        JobSummary::Baseline(_) => kinds::baseline::TABLES,
        JobSummary::Calibrate(_) => kinds::calibration::TABLES,
        JobSummary::Compare(_) => kinds::compare::TABLES,
        JobSummary::Sweep(_) => kinds::sweep::TABLES,
        JobSummary::Weights(_) => kinds::weights::TABLES,
        JobSummary::Apply(_) => kinds::apply::TABLES,
    }
}

/// The report of a finished job, as an HTML document.
pub fn render(summary: &Summary, tables: &Tables, lang: Lang) -> Result<String, ReportError> {
    let p = &summary.provenance;
    let page = match &summary.job {
        JobSummary::Baseline(s) => kinds::baseline::page(s, p, tables, lang)?,
        JobSummary::Calibrate(s) => kinds::calibration::page(s, p, tables, lang)?,
        JobSummary::Compare(s) => kinds::compare::page(s, p, lang)?,
        JobSummary::Sweep(s) => kinds::sweep::page(s, p, lang)?,
        JobSummary::Weights(s) => kinds::weights::page(s, p, tables, lang)?,
        JobSummary::Apply(s) => kinds::apply::page(s, p, tables, lang)?,
    };
    Ok(page.render())
}

/// The conflict report of a calibration that failed because its guarantees cannot all
/// hold (`SolverError::Infeasible`); `None` for any other error.
pub fn render_infeasible(
    spec: &JobSpec,
    provenance: &Provenance,
    error: &SolverError,
    lang: Lang,
) -> Result<Option<String>, ReportError> {
    let SolverError::Infeasible {
        violated,
        total_relative,
        families,
        binding,
        conflicts,
    } = error
    else {
        return Ok(None);
    };
    let inf = kinds::conflict::Infeasibility {
        violated: *violated,
        total_relative: *total_relative,
        families,
        binding,
        conflicts,
    };
    Ok(Some(
        kinds::conflict::page(spec, provenance, &inf, lang)?.render(),
    ))
}
