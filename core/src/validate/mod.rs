//! Validation of the input tables against the data contract, and their conversion to
//! typed columns: the four tables of a dataset ([`Microdata`]), its margins, and the
//! tables of the legal rules outside the survey.
//!
//! Validation never stops at the first problem: it collects *all* of them — types, missing
//! values, ranges, codes, duplicates, references between tables, consistency rules — each
//! naming the file, table, row, column, value and the rule broken. Rows are numbered from
//! 1 over the whole table, in file order (row 1 is the first data row; for a CSV file it
//! is on line 2). So that a systematic problem over ten million visits stays readable,
//! at most [`ValidateOptions::max_listed_per_rule`] problems are listed per
//! (table, column, rule); the report counts the others.
//!
//! Visits are validated in parallel over fixed blocks of rows whose results are joined in
//! row order, so the report and the data are identical whatever the number of threads.
//!
//! One module per table, on shared column machinery:
//! - `columns.rs`: the schema-driven part every table shares — `blocks` (column presence
//!   and types, blocks of [`BLOCK_ROWS`] rows cast in parallel, optional columns skipped
//!   when absent), the typed checks (`check_f64` with its `Bound`, `check_int`,
//!   `check_range`, `parse_codes`) and value accessors;
//! - `departements.rs`, `services.rs` (with `design.rs`: the survey design's `stratum` and
//!   `fpc`), `users.rs`: each table's rules and typed columns;
//! - `visits.rs`: the streamed visits ([`VisitCheck`]);
//! - `margins.rs`: the `margins` table, checked against the services and users it
//!   totals ([`check_margins`]);
//! - `rules.rs`: the tables of the rules commands — `dc`'s actions and hours
//!   ([`check_dc`]), `avenant43`'s départements ([`check_avenant43`]), `fgn`'s services
//!   ([`check_fgn`]) — and the dotation complémentaire's catalogues, typed into the rows
//!   their rules compute on;
//! - `keys.rs`: unique keys and their indices; `problems.rs`: [`Problem`], [`Rule`],
//!   [`Report`] and the capped collection of problems.

use std::sync::Arc;

use arrow::array::RecordBatch;

mod columns;
mod departements;
mod design;
mod keys;
mod margins;
mod problems;
mod rules;
mod services;
mod users;
mod visits;

pub(crate) use columns::Bound;
pub use margins::check_margins;
pub(crate) use problems::{Ctx, Problems};
pub use problems::{Problem, Report, Rule};
pub(crate) use rules::check_catalogue;
pub use rules::{check_avenant43, check_dc, check_fgn};
pub use visits::{CheckedVisits, PreparedVisits, VisitCheck};

use crate::aggregate::Drivers;
use crate::legal;
use crate::margins::Margins;
use crate::schema::TableKind;
use crate::tables::{CalibratedWeights, Departements, Microdata, Services, Users};
use departements::departements;
use keys::KeyIndex;
use services::services;
use users::users;

/// Rows per validation block (visits are validated block by block, in parallel).
pub const BLOCK_ROWS: usize = 1 << 16;

/// One input table as read from its file: where it came from, and its record batches.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// The file (or upload) the batches came from, as it should appear in messages.
    pub file: String,
    /// The table's rows, in file order.
    pub batches: Vec<RecordBatch>,
}

impl Source {
    /// A source from its file name and batches.
    pub fn new(file: impl Into<String>, batches: Vec<RecordBatch>) -> Source {
        Source {
            file: file.into(),
            batches,
        }
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// The four tables of a dataset, before validation.
#[derive(Clone, Debug, Default)]
pub struct RawDataset {
    /// `departements`.
    pub departements: Source,
    /// `services`.
    pub services: Source,
    /// `users`.
    pub users: Source,
    /// `visits`, when the dataset has them (census data from départements do not).
    pub visits: Option<Source>,
}

impl RawDataset {
    /// The source of one table (`None`: a dataset without visits).
    pub fn get(&self, table: TableKind) -> Option<&Source> {
        match table {
            TableKind::Departements => Some(&self.departements),
            TableKind::Services => Some(&self.services),
            TableKind::Users => Some(&self.users),
            TableKind::Visits => self.visits.as_ref(),
            TableKind::Margins
            | TableKind::DcActions
            | TableKind::DcHours
            | TableKind::DcCatalogue
            | TableKind::Avenant43Departements
            | TableKind::FgnServices => None,
        }
    }

    /// The source of one of the four tables, to fill it (an empty visits table is
    /// created if there is none).
    ///
    /// # Panics
    /// For [`TableKind::Margins`] and the rules' tables, which are not a dataset's.
    pub fn get_mut(&mut self, table: TableKind) -> &mut Source {
        match table {
            TableKind::Departements => &mut self.departements,
            TableKind::Services => &mut self.services,
            TableKind::Users => &mut self.users,
            TableKind::Visits => self.visits.get_or_insert_with(Source::default),
            TableKind::Margins
            | TableKind::DcActions
            | TableKind::DcHours
            | TableKind::DcCatalogue
            | TableKind::Avenant43Departements
            | TableKind::FgnServices => panic!("{table:?} is not one of a dataset's tables"),
        }
    }
}

/// Options of [`validate`].
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// Problems listed per (table, column, rule); the others are only counted.
    pub max_listed_per_rule: usize,
    /// The MTP of the dataset's year when the built-in table does not hold it (it is
    /// needed to check APA plans against their ceilings).
    pub mtp_override: Option<f64>,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            max_listed_per_rule: 20,
            mtp_override: None,
        }
    }
}

/// A dataset that passed validation: its tables as typed columns and its cost drivers
/// (the visits folded while they were checked), with the population totals its weights
/// can be calibrated to when it has a `margins` table.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Départements, services and users.
    pub micro: Microdata,
    /// Visit drivers (when the dataset has visits) and user cells.
    pub drivers: Arc<Drivers>,
    /// The `margins` table, checked against the services ([`check_margins`]).
    pub margins: Option<Margins>,
}

impl Dataset {
    /// The same data with its weights calibrated: `design_weight` holds the calibrated
    /// weights (design weight × g) and the survey design the calibration; the services'
    /// table is copied, the users and drivers shared.
    ///
    /// # Panics
    /// When the calibration does not have one g-weight per service.
    pub fn with_weights(&self, calibration: CalibratedWeights) -> Dataset {
        assert_eq!(
            calibration.g.len(),
            self.micro.services.len(),
            "one g per service"
        );
        let mut micro = Microdata {
            year: self.micro.year,
            departements: self.micro.departements.clone(),
            services: self.micro.services.clone(),
            users: Arc::clone(&self.micro.users),
        };
        micro.services.design_weight = calibration
            .design_weight
            .iter()
            .zip(&calibration.g)
            .map(|(d, g)| d * g)
            .collect();
        micro.services.design.calibration = Some(Arc::new(calibration));
        Dataset {
            micro,
            drivers: Arc::clone(&self.drivers),
            margins: self.margins.clone(),
        }
    }
}

/// Validates a dataset held in memory, the visits streamed batch by batch through the
/// same [`VisitCheck`] as a file. Returns the typed tables and drivers, or the report of
/// every problem.
pub fn validate(raw: &RawDataset, options: &ValidateOptions) -> Result<Dataset, Report> {
    let frame = check_frame(&raw.departements, &raw.services, &raw.users, options);
    let visits = raw.visits.as_ref().map(|source| {
        let mut check = frame.check_visits(source.file.clone());
        for batch in &source.batches {
            check.push(batch);
        }
        check.finish()
    });
    frame.finish(visits)
}

/// The first stage of validation: départements, services and users checked and typed,
/// their keys indexed, ready to check the visits against.
#[derive(Debug)]
pub struct Frame {
    /// Unique in the process: resolutions cached per thread are tied to one frame's keys.
    id: u64,
    year: Option<i32>,
    departements: Option<Departements>,
    services: Option<Services>,
    users: Option<Users>,
    service_index: Option<KeyIndex>,
    user_index: Option<KeyIndex>,
    problems: Problems,
    cap: usize,
}

/// Checks the three small tables (the first stage of [`validate`]).
pub fn check_frame(
    departements_source: &Source,
    services_source: &Source,
    users_source: &Source,
    options: &ValidateOptions,
) -> Frame {
    let cap = options.max_listed_per_rule.max(1);
    let mut p = Problems::new(cap);
    let (departements, year, dept_index) = departements(departements_source, &mut p);
    let (services, service_index) = services(services_source, dept_index.as_ref(), &mut p);
    let mtp = year.and_then(|y| options.mtp_override.or_else(|| legal::mtp(y)));
    let (users, user_index) = users(users_source, service_index.as_ref(), year.zip(mtp), &mut p);
    static NEXT_FRAME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    Frame {
        id: NEXT_FRAME.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        year,
        departements,
        services,
        users,
        service_index,
        user_index,
        problems: p,
        cap,
    }
}

impl Frame {
    /// Whether the three tables are valid.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
            && self.year.is_some()
            && self.departements.is_some()
            && self.services.is_some()
            && self.users.is_some()
    }

    fn services_len(&self) -> usize {
        self.services.as_ref().map_or(0, Services::len)
    }

    fn users_len(&self) -> usize {
        self.users.as_ref().map_or(0, Users::len)
    }

    /// Starts the streamed check of a visits table read from `file`, folding the visit
    /// drivers as it goes (for [`Frame::finish`]).
    pub fn check_visits(&self, file: impl Into<String>) -> VisitCheck<'_> {
        VisitCheck::new(self, file.into(), true)
    }

    /// Starts the streamed check of a visits table without folding the drivers: every
    /// rule, for [`Frame::report`] (an upload checks its data, no job runs on it yet).
    pub fn check_visits_only(&self, file: impl Into<String>) -> VisitCheck<'_> {
        VisitCheck::new(self, file.into(), false)
    }

    /// The problems of the four tables, without building the dataset (`Ok` when there is
    /// none). Takes visits checked by either [`Frame::check_visits`] or
    /// [`Frame::check_visits_only`].
    /// The frame is kept: the same frame may check other visits.
    pub fn report(&self, visits: Option<CheckedVisits>) -> Result<(), Report> {
        let visit_problems = visits.as_ref().is_some_and(|v| !v.problems.is_empty());
        if self.is_valid() && !visit_problems {
            return Ok(());
        }
        let mut problems = self.problems.clone();
        if let Some(v) = visits {
            problems.merge(v.problems);
        }
        // Every path that leaves a table or the year out has recorded a problem.
        Err(problems.into_report())
    }

    /// The typed dataset, with the drivers of the checked visits (`None`: the dataset has
    /// no visits table), or the report of every problem of the four tables.
    pub fn finish(mut self, visits: Option<CheckedVisits>) -> Result<Dataset, Report> {
        let sums = match visits {
            Some(v) => {
                self.problems.merge(v.problems);
                Some(v.sums)
            }
            None => None,
        };
        if !self.problems.is_empty() {
            return Err(self.problems.into_report());
        }
        match (
            self.departements,
            self.year,
            self.services,
            self.users,
            sums,
        ) {
            (Some(departements), Some(year), Some(services), Some(users), sums)
                if !matches!(sums, Some(None)) =>
            {
                let micro = Microdata {
                    year,
                    departements,
                    services,
                    users: Arc::new(users),
                };
                let drivers = Arc::new(Drivers::new(&micro, sums.flatten()));
                Ok(Dataset {
                    micro,
                    drivers,
                    margins: None,
                })
            }
            // Every path that yields `None` has recorded a problem.
            _ => Err(self.problems.into_report()),
        }
    }
}
