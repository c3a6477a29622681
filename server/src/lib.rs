//! The edge of dotation: everything that knows about files, formats, terminals and the
//! network. It turns user inputs into the core's types and the core's results into
//! tables.
//!
//! - [`io`]: reading Parquet / CSV / Arrow IPC tables, writing results atomically;
//! - [`data`]: dataset folders and the embedded synthetic survey;
//! - [`jobs`]: a job spec on a dataset → result tables and a summary (CLI and Flight),
//!   around the library's job (`dotation_solver::job`);
//! - [`results`]: typed job results as Arrow record batches;
//! - [`report`]: a job's HTML report (`dotation_report`) from a job's output, a result
//!   folder or a calibration's conflict, written atomically;
//! - [`flight`]: the Arrow Flight job server (`dotation serve`);
//! - [`cli`]: the `dotation` command line;
//! - [`rules_cli`]: its commands of the legal rules (`dc`, `avenant43`, `fgn`);
//! - [`error`]: [`ServerError`] and its exit codes;
//! - [`faults`]: fault injection points, armed by the tests of failures.

pub mod applied;
pub mod cli;
pub mod data;
pub mod error;
pub mod faults;
pub mod flight;
pub mod io;
pub mod jobs;
pub mod report;
pub mod results;
pub mod rules_cli;

pub use error::ServerError;
