//! The `dotation` command line: `generate`, `validate`, `baseline`, `calibrate`, `report`,
//! `serve`, and the rules of the texts (`dc`, `avenant43`, `fgn`, in `rules_cli`). Each
//! command reads its inputs, runs the job, writes its results atomically and prints a
//! short summary.
//!
//! Exit codes: 0 success; 1 the input data break the contract (the report lists every
//! problem); 2 the command could not run (missing or unreadable files, bad options).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use dotation_core::Dataset;
use dotation_core::validate::ValidateOptions;
use dotation_datasets::{Scale, SurveyConfig};
use dotation_report::Lang;
use dotation_solver::spec::{
    ApplySpec, BaselineSpec, CandidateSpec, CrossValidationSpec, JobKind, JobSpec, WeightsSpec,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{LoadedData, load};
use crate::error::ServerError;
use crate::io::Output;
use crate::jobs::{self, JobContext, JobOutput};
use dotation_solver::job::{BaselineSummary, CalibrationJob, CalibrationSummary, JobResult};

/// dotation: calibrate home-care funding formulas against cost-survey microdata.
///
/// Without --data, commands work on the embedded synthetic survey (437 services, seed
/// 2026), generated in memory: nothing to download.
#[derive(Debug, Parser)]
#[command(name = "dotation", version, about, long_about)]
pub struct Cli {
    /// Worker threads for the computations (default: one per core). Results are identical
    /// whatever the number.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Print only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic ENC SAD survey (Parquet tables and truth.json) into a folder.
    ///
    /// The survey scale samples about 437 services from a national frame of about 6,300,
    /// with design weights, their users and two weeks of visits. The national scale writes
    /// the whole frame (about 800,000 users and a year of visits, about 10^8 rows),
    /// streamed to disk. truth.json documents the data-generating process of costs.
    Generate(GenerateArgs),
    /// Check a dataset folder against the data contract and list every problem.
    ///
    /// The folder holds departements, services, users and visits, each as .parquet, .csv
    /// or .arrow. Exit code 0 when valid, 1 when not (each problem names the file, row,
    /// column, value and rule).
    Validate(ValidateArgs),
    /// Compute today's hourly funding: per service, département and nation.
    ///
    /// Writes services.parquet, departements.parquet, users.parquet (participation and
    /// out-of-pocket per billed hour), drivers.parquet and user_cells.parquet (cost
    /// drivers) and summary.json, and prints the national totals.
    Baseline(BaselineArgs),
    /// Write the HTML report of a finished job from its result folder.
    ///
    /// The folder is what `baseline` or `calibrate` wrote with --out (summary.json and the
    /// Parquet tables). The report is one self-contained page: it opens offline.
    Report(ReportCommandArgs),
    /// Serve datasets, jobs and results over Arrow Flight (see the README's Flight section).
    ///
    /// Options come from a TOML file (server/dotation-server.example.toml documents every
    /// key and its default); --listen and --data-dir override it.
    Serve(crate::flight::ServeArgs),
    /// Calibrate a funding formula against the services' costs, under budget neutrality.
    ///
    /// The job spec (TOML or JSON, see docs/spec.md) names the formula, the loss, the
    /// neutrality scope and the outputs. Without --spec: a forfait per user-month by
    /// allowance × GIR band × entourage, national neutrality, weighted least squares.
    /// Writes parameters.parquet, services.parquet, departements.parquet (and
    /// groups.parquet for a forfait) and summary.json, and prints the parameters and the
    /// quality of the fit.
    Calibrate(CalibrateArgs),
    /// Compare formulas: each calibrated and cross-validated on the same data, side by side.
    ///
    /// Each --spec file is a candidate, named by its file name (or give one spec with
    /// kind = "compare" and its candidates, see docs/spec.md). Writes candidates.parquet
    /// (one row per formula: parameters, in-sample and cross-validated fit, neutrality
    /// residual, winners and losers, each guarantee's violations, the conflict when its
    /// guarantees cannot hold), parameters.parquet, services.parquet and summary.json.
    Compare(CompareArgs),
    /// Sweep policy settings: one formula calibrated under every scenario of a grid or list.
    ///
    /// The spec (kind = "sweep", see docs/spec.md) gives the formula and its sweep table:
    /// a grid over budget changes, transition limits, the baseline's floor tariff,
    /// participation options, a mixte formula's hourly rate, neutrality scopes and funded
    /// allowances, or [[sweep.scenarios]]. Writes scenarios.parquet (one row per scenario:
    /// its settings, totals, winners and losers, each guarantee's violations, the
    /// conflict when its guarantees cannot hold), parameters.parquet and summary.json.
    Sweep(SweepArgs),
    /// Calibrate the survey weights to known population totals (calage sur marges).
    ///
    /// The margins table (see docs/data.md) gives the totals: counts of services by a
    /// category or a crossing (status*habilitated), totals of a numeric column (hours_apa)
    /// or of the services' users (users:gir=1). Methods: linear, truncated (linear with
    /// bounds), raking, logit (bounds required). Writes weights.parquet (design weight,
    /// calibrated weight and g per service), margins.parquet (target, design estimate,
    /// achieved total, residual) and summary.json. Any spec can use calibrated weights
    /// with a `[weights]` table.
    Weights(WeightsArgs),
    /// Apply a finished calibration to another dataset: the national frame, another year,
    /// census data without visits.
    ///
    /// Reads the calibration's folder (summary.json, parameters.parquet,
    /// departements.parquet), funds every service of --data with its parameters, restores
    /// neutrality there by one point value per scope (--neutrality none keeps the
    /// parameters as they are and reports the gap), checks every guarantee and writes
    /// the calibration's tables and summary.json.
    Apply(ApplyArgs),
    /// Dotation complémentaire: actions × catalogue prices, caps, prorata, CNSA refinancing.
    Dc(crate::rules_cli::DcArgs),
    /// CNSA aid to départements for Avenant 43: activity and cost caps, advance, balance.
    Avenant43(crate::rules_cli::Avenant43Args),
    /// Forfait global négocié: monthly schedule, withheld 10 %, CPOM band flags.
    Fgn(crate::rules_cli::FgnArgs),
}

/// Options of `calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The dataset folder (default: the spec's `data`, else the embedded synthetic survey).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The job spec, TOML or JSON (default: the forfait described above).
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// The margins table a spec's `[weights]` calibrates to (default: the folder's own).
    #[arg(long, value_name = "FILE")]
    pub margins: Option<PathBuf>,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The HTML report.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// The report options of `baseline`, `calibrate`, `compare` and `sweep`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Also write the job's report to FILE: one self-contained HTML page (inline SVG plots
    /// and CSS, nothing loaded from the network). For a calibration whose guarantees
    /// cannot hold, the report of the conflict.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The report's language: fr (« 1 234,56 € ») or en.
    #[arg(long, default_value = "fr", value_parser = parse_lang, value_name = "fr|en")]
    pub lang: Lang,
}

/// Options of `report`.
#[derive(Debug, Args)]
pub struct ReportCommandArgs {
    /// The result folder of a `baseline` or `calibrate` run.
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The report's language: fr or en.
    #[arg(long, default_value = "fr", value_parser = parse_lang, value_name = "fr|en")]
    pub lang: Lang,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse()
        .map_err(|e: dotation_report::ReportError| e.to_string())
}

/// Options of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The dataset folder (default: the specs' `data`, else the embedded synthetic survey).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// A candidate's spec (repeat), or one spec with kind = "compare".
    #[arg(long = "spec", value_name = "FILE", required = true)]
    pub specs: Vec<PathBuf>,
    /// Folds of the cross-validation (default: the spec's, else 10).
    #[arg(long)]
    pub folds: Option<usize>,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The HTML report.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Options of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The dataset folder (default: the spec's `data`, else the embedded synthetic survey).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The sweep's spec (kind = "sweep").
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The HTML report.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Options of `weights`.
#[derive(Debug, Args)]
pub struct WeightsArgs {
    /// The dataset folder (default: the embedded synthetic survey).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The margins table (default: the folder's margins.parquet, .csv or .arrow).
    #[arg(long, value_name = "FILE")]
    pub margins: Option<PathBuf>,
    /// linear, truncated, raking or logit.
    #[arg(long, default_value = "linear")]
    pub method: dotation_solver::weights::Method,
    /// Bounds L,U of the g-weights (truncated and logit need them; raking may have them).
    #[arg(long, value_name = "L,U", value_parser = parse_bounds)]
    pub bounds: Option<[f64; 2]>,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The HTML report.
    #[command(flatten)]
    pub report: ReportArgs,
}

fn parse_bounds(s: &str) -> Result<[f64; 2], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [l, u] => match (l.parse::<f64>(), u.parse::<f64>()) {
            (Ok(l), Ok(u)) => Ok([l, u]),
            _ => Err(format!("{s:?}: give two numbers, e.g. 0.5,2")),
        },
        _ => Err(format!("{s:?}: give the lower and upper bound, e.g. 0.5,2")),
    }
}

/// Options of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The calibration's result folder (what dotation calibrate wrote with --out).
    #[arg(long, value_name = "DIR")]
    pub calibration: PathBuf,
    /// The dataset to apply it to (default: the embedded synthetic survey); visits are not
    /// needed unless the formula uses a visit driver.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// point_value (restore each budget by one point value per scope) or none.
    #[arg(long, default_value = "point_value", value_parser = parse_apply_neutrality)]
    pub neutrality: dotation_solver::spec::ApplyNeutrality,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The HTML report.
    #[command(flatten)]
    pub report: ReportArgs,
}

fn parse_apply_neutrality(s: &str) -> Result<dotation_solver::spec::ApplyNeutrality, String> {
    match s {
        "point_value" => Ok(dotation_solver::spec::ApplyNeutrality::PointValue),
        "none" => Ok(dotation_solver::spec::ApplyNeutrality::None),
        _ => Err(format!("{s:?}: point_value or none")),
    }
}

/// Options of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Folder to write the tables into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of the generator: the same seed gives the same bytes.
    #[arg(long, default_value_t = dotation_datasets::DEFAULT_SEED)]
    pub seed: u64,
    /// survey (≈ 437 services, two weeks of visits) or national (the whole frame, a year).
    #[arg(long, default_value = "survey")]
    pub scale: Scale,
    /// Year of the figures and tariffs.
    #[arg(long, default_value_t = 2026)]
    pub year: i32,
    /// Leave the visits table out (census data: services and users only; the national
    /// frame then takes seconds).
    #[arg(long)]
    pub no_visits: bool,
}

/// Options of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The dataset folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Problems listed per table, column and rule (all are counted).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_listed: usize,
    /// MTP of the data's year when dotation does not know it (€/month).
    #[arg(long)]
    pub mtp: Option<f64>,
}

/// Options of `baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// The dataset folder (default: the embedded synthetic survey).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// MTP of the data's year when dotation does not know it (€/month).
    #[arg(long)]
    pub mtp: Option<f64>,
    /// Replace the year's national floor tariff (€/h), to study a scenario.
    #[arg(long)]
    pub floor: Option<f64>,
    /// The HTML report.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = if cli.quiet { "error" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(n) = cli.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
    {
        eprintln!("error: --threads {n}: {e}");
        return ExitCode::from(2);
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one parsed command (without installing logging or the thread pool).
pub fn run(cli: &Cli) -> Result<(), ServerError> {
    match &cli.command {
        Command::Generate(a) => generate(a, cli.quiet),
        Command::Validate(a) => run_validate(a, cli.quiet),
        Command::Baseline(a) => run_baseline(a, cli.quiet),
        Command::Calibrate(a) => run_calibrate(a, cli.quiet),
        Command::Compare(a) => run_compare(a, cli.quiet),
        Command::Sweep(a) => run_sweep(a, cli.quiet),
        Command::Weights(a) => run_weights(a, cli.quiet),
        Command::Apply(a) => run_apply(a, cli.quiet),
        Command::Report(a) => run_report(a, cli.quiet),
        Command::Dc(a) => crate::rules_cli::run_dc(a, cli.quiet),
        Command::Avenant43(a) => crate::rules_cli::run_avenant43(a, cli.quiet),
        Command::Fgn(a) => crate::rules_cli::run_fgn(a, cli.quiet),
        Command::Serve(a) => crate::flight::serve_command(a, cli.quiet),
    }
}

fn bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn generate(a: &GenerateArgs, quiet: bool) -> Result<(), ServerError> {
    let config = SurveyConfig {
        seed: a.seed,
        scale: a.scale,
        year: a.year,
        visits: !a.no_visits,
    };
    let t0 = Instant::now();
    let summary =
        crate::data::write_generated(&config, &a.out, |total| bar(quiet, total, "services"))?;
    if !quiet {
        println!(
            "generated the {} survey (seed {}, year {}) into {} in {:.1} s",
            a.scale,
            a.seed,
            a.year,
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
        for (table, rows) in summary {
            println!("  {table:<13} {:>13} rows", thousands(rows as f64, 0));
        }
        println!("  truth.json    the data-generating process of costs");
    }
    Ok(())
}

/// Loads and validates a dataset (the embedded survey when `dir` is `None`).
pub fn load_valid(
    dir: Option<&Path>,
    mtp: Option<f64>,
) -> Result<(LoadedData, Dataset), ServerError> {
    let data = load(dir)?;
    let options = ValidateOptions {
        mtp_override: mtp,
        ..ValidateOptions::default()
    };
    let dataset = data.validate(&options, &|_| {})?;
    Ok((data, dataset))
}

fn run_validate(a: &ValidateArgs, quiet: bool) -> Result<(), ServerError> {
    let t0 = Instant::now();
    let data = load(Some(&a.dir))?;
    let options = ValidateOptions {
        max_listed_per_rule: a.max_listed,
        mtp_override: a.mtp,
    };
    let Dataset {
        micro: m, drivers, ..
    } = data.validate(&options, &|_| {})?;
    if !quiet {
        let visits = match drivers.visits {
            Some(n) => format!("{} visits", thousands(n as f64, 0)),
            None => "no visits table".to_string(),
        };
        println!(
            "{}: valid — year {}, {} départements, {} services, {} users, {visits} ({:.1} s)",
            a.dir.display(),
            m.year,
            m.departements.len(),
            m.services.len(),
            thousands(m.users.len() as f64, 0),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn run_baseline(a: &BaselineArgs, quiet: bool) -> Result<(), ServerError> {
    let t0 = Instant::now();
    let spec = JobSpec {
        kind: JobKind::Baseline,
        baseline: BaselineSpec {
            mtp: a.mtp,
            floor: a.floor,
        },
        ..JobSpec::default()
    };
    let data = load(a.data.as_deref())?;
    let job = jobs::run_spec(&spec, &data, &JobContext::detached())?;
    write_job(&job, &a.out)?;
    if !quiet && let JobResult::Baseline(b) = &job.result {
        print_baseline(&b.summary, &data.description);
        println!(
            "\nwrote services, departements, users, drivers, user_cells (.parquet) and summary.json to {} in {:.2} s",
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    write_report(&a.report, &job, quiet)
}

/// Writes a job's report when `--report` asks for one.
fn write_report(r: &ReportArgs, job: &JobOutput, quiet: bool) -> Result<(), ServerError> {
    let Some(path) = &r.report else {
        return Ok(());
    };
    let html = crate::report::from_output(job, r.lang)?;
    crate::report::write(path, &html)?;
    if !quiet {
        println!("wrote the report ({}) to {}", r.lang, path.display());
    }
    Ok(())
}

fn run_report(a: &ReportCommandArgs, quiet: bool) -> Result<(), ServerError> {
    if !a.results.is_dir() {
        return Err(ServerError::NotADirectory(a.results.clone()));
    }
    let html = crate::report::from_dir(&a.results, a.lang)?;
    crate::report::write(&a.out, &html)?;
    if !quiet {
        println!(
            "wrote the report ({}, {} bytes) of {} to {}",
            a.lang,
            thousands(html.len() as f64, 0),
            a.results.display(),
            a.out.display()
        );
    }
    Ok(())
}

/// Writes a job's tables as Parquet and its summary, atomically.
pub fn write_job(job: &JobOutput, dir: &Path) -> Result<(), ServerError> {
    let mut out = Output::new(dir)?;
    for (name, table) in &job.tables {
        out.parquet(&format!("{name}.parquet"), table)?;
    }
    out.text(
        "summary.json",
        &serde_json::to_string_pretty(&job.summary).expect("JSON of plain values"),
    )?;
    out.commit()?;
    Ok(())
}

/// Reads and parses a spec file; errors name the file.
fn read_spec(path: &Path) -> Result<JobSpec, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    jobs::parse_spec(&text).map_err(|e| ServerError::SpecFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The folder a command reads: `--data`, else the spec's `data`, else the embedded survey.
fn data_dir(arg: Option<&PathBuf>, spec: &JobSpec) -> Option<PathBuf> {
    match (arg, &spec.data) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(name)) if name != "embedded" => Some(PathBuf::from(name)),
        _ => None,
    }
}

fn run_calibrate(a: &CalibrateArgs, quiet: bool) -> Result<(), ServerError> {
    let t0 = Instant::now();
    let spec = match &a.spec {
        Some(path) => read_spec(path)?,
        None => JobSpec::default(),
    };
    let mut data = load(data_dir(a.data.as_ref(), &spec).as_deref())?;
    if let Some(m) = &a.margins {
        data = data.with_margins(m)?;
    }
    let job = match jobs::run_spec(&spec, &data, &JobContext::detached()) {
        Ok(job) => job,
        Err(e) => {
            // Guarantees that cannot hold have a report of their own: the conflict.
            if let Some(path) = &a.report.report
                && let Some(html) = crate::report::infeasible(&spec, &data, &e, a.report.lang)?
            {
                crate::report::write(path, &html)?;
                if !quiet {
                    eprintln!("wrote the conflict report to {}", path.display());
                }
            }
            return Err(e);
        }
    };
    write_job(&job, &a.out)?;
    if !quiet {
        if let JobResult::Calibration(c) = &job.result {
            print_calibration(c, &data.description);
        }
        let names: Vec<&str> = job.tables.iter().map(|(n, _)| n.as_str()).collect();
        println!(
            "\nwrote {} (.parquet) and summary.json to {} in {:.2} s",
            names.join(", "),
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    write_report(&a.report, &job, quiet)
}

/// The comparison the files describe: one spec with kind = "compare", or one candidate
/// per file, named by the file's stem, sharing the first file's data and baseline.
fn compare_spec(a: &CompareArgs) -> Result<JobSpec, ServerError> {
    let specs: Vec<JobSpec> = a
        .specs
        .iter()
        .map(|p| read_spec(p))
        .collect::<Result<_, _>>()?;
    let mut spec = if specs.len() == 1 && specs[0].kind == JobKind::Compare {
        specs[0].clone()
    } else {
        let mut base = specs[0].clone();
        base.kind = JobKind::Compare;
        base.candidates = a
            .specs
            .iter()
            .zip(&specs)
            .map(|(path, s)| CandidateSpec {
                name: path.file_stem().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                formula: Some(s.formula.clone()),
                calibration: Some(s.calibration.clone()),
                neutrality: Some(s.neutrality),
                guarantees: Some(s.guarantees.clone()),
            })
            .collect();
        for (path, s) in a.specs.iter().zip(&specs).skip(1) {
            if s.data != base.data || s.baseline != base.baseline || s.year != base.year {
                return Err(ServerError::SpecFile {
                    path: path.clone(),
                    message: format!(
                        "the candidates of a comparison share their data, year and baseline: this file's differ from {}'s",
                        a.specs[0].display()
                    ),
                });
            }
        }
        base
    };
    if let Some(folds) = a.folds {
        spec.cross_validation = Some(CrossValidationSpec {
            folds,
            ..spec.cross_validation.unwrap_or_default()
        });
    }
    spec.check()?;
    Ok(spec)
}

fn run_sweep(a: &SweepArgs, quiet: bool) -> Result<(), ServerError> {
    let t0 = Instant::now();
    let spec = read_spec(&a.spec)?;
    if spec.kind != JobKind::Sweep {
        return Err(ServerError::SpecFile {
            path: a.spec.clone(),
            message: "dotation sweep runs a spec with kind = \"sweep\" and a [sweep] table (docs/spec.md)".into(),
        });
    }
    let data = load(data_dir(a.data.as_ref(), &spec).as_deref())?;
    let job = jobs::run_spec(&spec, &data, &JobContext::detached())?;
    write_job(&job, &a.out)?;
    if !quiet && let JobResult::Sweep(s) = &job.result {
        let sm = &s.summary;
        println!(
            "Sweep of {} scenarios on {}: {} computed ({} refitted from two budget fits), {} design(s)\n",
            sm.scenarios, data.description, sm.feasible, sm.refitted, sm.designs
        );
        println!(
            "{:<40} {:>10} {:>16} {:>8} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}",
            "scenario",
            "residual",
            "funding €",
            "winners",
            "losers",
            "coverage",
            "oop",
            "nhas",
            "has",
            "trans."
        );
        let f = |v: Option<f64>, p: usize| v.map_or("—".to_string(), |v| format!("{v:.p$}"));
        let c = |v: Option<usize>| v.map_or("—".to_string(), |v| v.to_string());
        for r in sm.rows.iter().take(40) {
            println!(
                "{:<40} {:>10} {:>16} {:>8} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}",
                r.name.chars().take(40).collect::<String>(),
                r.neutrality_residual
                    .map_or("—".into(), |v| format!("{v:.1e}")),
                f(r.funding_total, 0),
                f(r.winners_5pct, 3),
                f(r.losers_5pct, 3),
                f(r.coverage, 3),
                c(r.out_of_pocket_rising),
                c(r.nhas_price_violations),
                c(r.has_cover_violations),
                c(r.transition_violations)
            );
            if let Some(conflict) = &r.conflict {
                println!("  not computed: {conflict}");
            }
        }
        if sm.rows.len() > 40 {
            println!("… {} more in scenarios.parquet", sm.rows.len() - 40);
        }
        println!(
            "\nwrote {} in {:.2} s",
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    write_report(&a.report, &job, quiet)
}

fn run_weights(a: &WeightsArgs, quiet: bool) -> Result<(), ServerError> {
    let t0 = Instant::now();
    let spec = JobSpec {
        kind: JobKind::Weights,
        weights: Some(WeightsSpec {
            method: a.method,
            bounds: a.bounds,
            max_iterations: 100,
            tolerance: 1e-12,
        }),
        ..JobSpec::default()
    };
    spec.check()?;
    let mut data = load(a.data.as_deref())?;
    if let Some(m) = &a.margins {
        data = data.with_margins(m)?;
    }
    let job = jobs::run_spec(&spec, &data, &JobContext::detached())?;
    write_job(&job, &a.out)?;
    if !quiet && let JobResult::Weights(w) = &job.result {
        let s = &w.summary;
        println!(
            "Weights of {} services calibrated to {} margins on {} ({}{}): {} iterations, largest residual {:.1e}\n",
            s.services,
            s.margins,
            data.description,
            s.method,
            s.bounds
                .map_or(String::new(), |[l, u]| format!(", bounds [{l}, {u}]")),
            s.iterations,
            s.largest_residual
        );
        println!(
            "{:<40} {:>16} {:>16} {:>9} {:>10}",
            "margin", "target", "design weights", "gap", "residual"
        );
        let c = &w.calibration;
        for (i, r) in w.margins.rows.iter().enumerate() {
            let gap = if c.totals[i] != 0.0 {
                c.design_estimates[i] / c.totals[i] - 1.0
            } else {
                0.0
            };
            println!(
                "{:<40} {:>16.1} {:>16.1} {:>8.1}% {:>10.1e}",
                r.label().chars().take(40).collect::<String>(),
                c.totals[i],
                c.design_estimates[i],
                100.0 * gap,
                c.residuals()[i]
            );
        }
        println!(
            "\ng: min {:.3}, median {:.3}, max {:.3} ({} at the lower bound, {} at the upper)",
            s.g.min, s.g.median, s.g.max, s.at_lower_bound, s.at_upper_bound
        );
        println!(
            "wrote {} in {:.2} s",
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    write_report(&a.report, &job, quiet)
}

fn run_apply(a: &ApplyArgs, quiet: bool) -> Result<(), ServerError> {
    let t0 = Instant::now();
    let source = crate::applied::read(&a.calibration, &a.calibration.display().to_string())?;
    let spec = JobSpec {
        kind: JobKind::Apply,
        apply: Some(ApplySpec {
            source: None,
            neutrality: a.neutrality,
        }),
        ..JobSpec::default()
    };
    spec.check()?;
    let data = load(a.data.as_deref())?;
    let job = jobs::run_spec_with(&spec, &data, Some(&source), &JobContext::detached())?;
    write_job(&job, &a.out)?;
    if !quiet && let JobResult::Apply(ap) = &job.result {
        let s = &ap.summary;
        let c = &s.calibration;
        println!(
            "Calibration {} ({}) applied to {}: {} services",
            s.source, c.formula, data.description, c.services
        );
        println!(
            "  neutrality {}: gap as calibrated {}, after {:.3e}",
            s.applied_neutrality,
            s.residual_as_calibrated.map_or(
                "— (no point value of the source for some scope)".into(),
                |r| format!("{r:.3e}")
            ),
            c.neutrality_residual
        );
        match s.point_values.as_slice() {
            [] => {}
            [one] => println!("  point value ({}): {:.9}", one.scope, one.value),
            many => println!(
                "  point values: {} scopes, {:.6} – {:.6}",
                many.len(),
                many.iter().map(|v| v.value).fold(f64::INFINITY, f64::min),
                many.iter()
                    .map(|v| v.value)
                    .fold(f64::NEG_INFINITY, f64::max)
            ),
        }
        if !s.unused_parameters.is_empty() {
            println!(
                "  parameters with no service here: {}",
                s.unused_parameters.join(", ")
            );
        }
        println!(
            "wrote {} in {:.2} s",
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    write_report(&a.report, &job, quiet)
}

fn run_compare(a: &CompareArgs, quiet: bool) -> Result<(), ServerError> {
    let t0 = Instant::now();
    let spec = compare_spec(a)?;
    let data = load(data_dir(a.data.as_ref(), &spec).as_deref())?;
    let job = jobs::run_spec(&spec, &data, &JobContext::detached())?;
    write_job(&job, &a.out)?;
    if !quiet && let JobResult::Compare(c) = &job.result {
        println!(
            "Comparison of {} formulas on {} ({}-fold cross-validation)\n",
            c.candidates.len(),
            data.description,
            c.summary.folds
        );
        println!(
            "{:<24} {:>6} {:>8} {:>12} {:>12} {:>9} {:>9} {:>10}",
            "candidate", "params", "R²", "RMSE €", "CV RMSE €", "CV MAPE", "losers", "residual"
        );
        let f = |v: Option<f64>, p: usize| v.map_or("—".to_string(), |v| format!("{v:.p$}"));
        for r in &c.summary.candidates {
            println!(
                "{:<24} {:>6} {:>8} {:>12} {:>12} {:>9} {:>9} {:>10}",
                r.name,
                r.parameters,
                f(r.r2, 4),
                f(r.rmse, 0),
                f(r.cv_rmse, 0),
                f(r.cv_mape, 4),
                f(r.losers_5pct, 3),
                r.neutrality_residual
                    .map_or("—".into(), |v| format!("{v:.1e}"))
            );
            if let Some(conflict) = &r.conflict {
                println!("  not computed: {conflict}");
            }
        }
        if let Some(best) = &c.summary.best_cross_validated {
            println!("\nlowest cross-validated RMSE: {best}");
        }
        println!(
            "\nwrote candidates, parameters, services (.parquet) and summary.json to {} in {:.2} s",
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    write_report(&a.report, &job, quiet)
}

fn print_calibration(job: &CalibrationJob, data: &str) {
    let s = &job.summary;
    println!(
        "Calibration: {} formula, {} loss, {} neutrality ({})",
        s.formula, s.loss, s.neutrality_scope, s.method,
    );
    println!(
        "data: {data} — {} services, {} users, year {}",
        s.services, s.users, s.year
    );
    let c = &job.calibration;
    let width = c
        .names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    println!(
        "\n  {:<width$} {:>12} {:>10} {:>25}  unit",
        "parameter", "estimate", "std err", "95 % interval"
    );
    let cell = |v: Option<f64>, d: usize| v.map_or_else(|| "—".to_string(), |v| thousands(v, d));
    for (i, name) in c.names.iter().enumerate() {
        let interval = match c.ci_low[i] {
            None => "—".to_string(),
            Some(lo) => format!("[{}, {}]", thousands(lo, 2), cell(c.ci_high[i], 2)),
        };
        println!(
            "  {:<width$} {:>12} {:>10} {:>25}  {}",
            name,
            thousands(c.estimate[i], 4),
            cell(c.std_error[i], 4),
            interval,
            c.units[i]
        );
    }
    let n = &s.national;
    println!("\nneutrality and fit (weighted by design weights)");
    let rows = [
        (
            "baseline funding",
            thousands(n.baseline_total / 1e6, 3),
            "M€",
        ),
        (
            "calibrated funding",
            thousands(n.funding_total / 1e6, 3),
            "M€",
        ),
        (
            "cost calibrated against",
            thousands(n.cost_total / 1e6, 3),
            "M€",
        ),
        (
            "neutrality residual",
            format!("{:.2e}", s.neutrality_residual),
            "relative",
        ),
        ("weighted R²", format!("{:.4}", s.r2), ""),
        ("RMSE", thousands(s.rmse, 0), "€"),
        ("MAPE", format!("{:.1}", 100.0 * s.mape), "%"),
        (
            "within ±10 % of cost",
            format!("{:.1}", 100.0 * s.within_10pct),
            "% of services",
        ),
        (
            "winners beyond +5 %",
            format!("{:.1}", 100.0 * s.winners_5pct),
            "% of services",
        ),
        (
            "losers beyond −5 %",
            format!("{:.1}", 100.0 * s.losers_5pct),
            "% of services",
        ),
    ];
    for (label, value, unit) in rows {
        println!("  {label:<28} {value:>14} {unit}");
    }
    print_guarantees(s);
}

/// The guarantees block of the terminal summary.
fn print_guarantees(s: &CalibrationSummary) {
    let g = &s.guarantees;
    let mark = |constrained: bool| if constrained { "  (constraint)" } else { "" };
    let o = &g.out_of_pocket;
    println!(
        "\nguarantees (participation: {}, transition limit {:.0} %)",
        o.participation,
        100.0 * g.transition_limit
    );
    println!(
        "  {:<28} {:>14} of {} users, largest rise {:.2} €/h{}",
        "out-of-pocket rises",
        o.rising.to_string(),
        o.users,
        o.max_rise,
        mark(o.constrained)
    );
    for (c, label) in [
        (&g.has_cover, "HAS funded below cost"),
        (&g.nhas_price, "NHAS funded below baseline"),
        (&g.transition, "losing more than the limit"),
    ] {
        println!(
            "  {:<28} {:>14} of {} services (today {}){}",
            label,
            c.violations.to_string(),
            c.services,
            c.violations_before,
            mark(c.constrained)
        );
    }
    let c = &s.constraints;
    if c.rows > 0 {
        println!(
            "  {:<28} {:>14} of {} constraint rows{}",
            "binding at the solution",
            c.binding.to_string(),
            c.rows,
            if c.polished {
                ""
            } else {
                " (interior point, not polished)"
            }
        );
    }
}

fn print_baseline(s: &BaselineSummary, data: &str) {
    let t = &s.national;
    println!("Baseline: today's hourly funding, {}", s.year);
    println!(
        "data: {data} — {} services, {} users, {} visits",
        thousands(s.services as f64, 0),
        thousands(s.users as f64, 0),
        thousands(s.visits.unwrap_or(0) as f64, 0)
    );
    let floor = s.floor;
    match s.mtp {
        Some(mtp) => println!(
            "floor tariff {floor:.2} €/h, MTP {} €/month",
            thousands(mtp, 2)
        ),
        None => println!("floor tariff {floor:.2} €/h"),
    }
    println!("\nnational totals (weighted by design weights)");
    let hours = t.hours_funded;
    let cost = t.cost_total;
    let funding = t.baseline_funding;
    let rows = [
        ("services represented", thousands(t.services, 0), ""),
        (
            "hours funded (APA+PCH+social aid)",
            thousands(hours / 1e6, 2),
            "M h",
        ),
        ("baseline funding", thousands(funding / 1e6, 1), "M€"),
        (
            "users' legal participation",
            thousands(t.user_participation / 1e6, 1),
            "M€",
        ),
        ("public cost", thousands(t.public_cost / 1e6, 1), "M€"),
        ("cost of the services", thousands(cost / 1e6, 1), "M€"),
        (
            "funding per hour funded",
            format!("{:.2}", if hours > 0.0 { funding / hours } else { 0.0 }),
            "€/h",
        ),
        (
            "coverage (funding / cost)",
            format!("{:.3}", if cost > 0.0 { funding / cost } else { 0.0 }),
            "",
        ),
    ];
    for (label, value, unit) in rows {
        println!("  {label:<36} {value:>14} {unit}");
    }
}

/// Formats a number with thin groups of three digits.
pub fn thousands(x: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && s.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}
