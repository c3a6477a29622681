//! The commands of the legal rules that work on their own small tables rather than on a
//! survey dataset: `dc` (dotation complémentaire), `avenant43` (the CNSA's aid for the
//! Avenant 43 salary agreement) and `fgn` (forfait global négocié). Each reads its input
//! files (Parquet, CSV or Arrow IPC, by extension) with [`crate::io`], turns the columns
//! into the core's inputs — every unreadable cell reported with its file, row, column
//! and value — runs the rule, writes Parquet results and `summary.json` atomically with
//! [`Output`] and prints a short summary. The input tables are documented in
//! `docs/data.md` ("Inputs of the rules commands").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, StringArray};
use arrow::datatypes::DataType;
use clap::Args;
use dotation_core::avenant43::{self, Avenant43Config, DepartementInput};
use dotation_core::dotation_complementaire::{
    self as dc, ActionLine, Catalogue, CatalogueId, Date, DcConfig, Objective, ProrataBasis,
    ServiceHours,
};
use dotation_core::forfait_global::{self as fgn, Band, FgnConfig, FgnService};
use dotation_core::schema::TableKind;
use dotation_core::{CoreError, InputProblem, VERSION};

use crate::cli::thousands;
use crate::error::ServerError;
use crate::io::{Format, Output, read_table};
use crate::results::batch;

/// Options of `dc`.
#[derive(Debug, Args)]
pub struct DcArgs {
    /// The services' actions: service_id, action, quantity (full-year units), start
    /// (YYYY-MM-DD), and unit_price for actions the catalogue leaves to the CPOM.
    #[arg(long, value_name = "FILE")]
    pub actions: PathBuf,
    /// The services' activity: service_id, departement, hours_apa, hours_pch (a contract
    /// services table will do).
    #[arg(long, value_name = "FILE")]
    pub hours: PathBuf,
    /// The action catalogue: saone-et-loire-2026 or creuse-2025.
    #[arg(long)]
    pub catalogue: CatalogueId,
    /// Year of the dotation (default: the catalogue's).
    #[arg(long)]
    pub year: Option<i32>,
    /// Cap rate, € per hour of APA + PCH, for a year the texts do not give.
    #[arg(long, value_name = "EUR_PER_HOUR")]
    pub cap_rate: Option<f64>,
    /// CPI(year) / CPI(2026), to index the 2026 cap rate for a later year.
    #[arg(long, value_name = "RATIO")]
    pub cpi_ratio: Option<f64>,
    /// CNSA refinancing limit, € per hour (default 3.311 from 2024).
    #[arg(long, value_name = "EUR_PER_HOUR")]
    pub cnsa_rate: Option<f64>,
    /// Prorata of actions started from 1 July: days or months.
    #[arg(long, default_value = "days")]
    pub prorata: ProrataBasis,
    /// The département's maximum, € per hour of APA + PCH (below the call's rate).
    #[arg(long, value_name = "EUR_PER_HOUR")]
    pub max_per_hour: Option<f64>,
    /// The département's maximum of an action line, CODE=EUR (repeat for several).
    #[arg(long, value_name = "CODE=EUR", value_parser = parse_max_action)]
    pub max_per_action: Vec<(String, f64)>,
    /// The département's maximum per service for an objective, N=EUR (N from 1 to 6).
    #[arg(long, value_name = "N=EUR", value_parser = parse_max_objective)]
    pub max_per_objective: Vec<(u8, f64)>,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn parse_max(text: &str) -> Result<(&str, f64), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=EUR"))?;
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((key.trim(), v)),
        _ => Err(format!("{value:?} is not an amount ≥ 0 in €")),
    }
}

fn parse_max_action(text: &str) -> Result<(String, f64), String> {
    parse_max(text).map(|(k, v)| (k.to_string(), v))
}

fn parse_max_objective(text: &str) -> Result<(u8, f64), String> {
    let (k, v) = parse_max(text)?;
    match k.parse::<u8>() {
        Ok(n) if (1..=6).contains(&n) => Ok((n, v)),
        _ => Err(format!(
            "{k:?} is not an objective 1 to 6 (art. L.314-2-2 CASF)"
        )),
    }
}

/// Options of `avenant43`.
#[derive(Debug, Args)]
pub struct Avenant43Args {
    /// One row per département: departement, hours_year, hours_apa, hours_pch,
    /// hours_aide_menagere, cost_forecast, and cost_actual once known.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Year of the aid (from 2021).
    #[arg(long)]
    pub year: i32,
    /// National activity hours, when the input does not hold every département.
    #[arg(long, value_name = "HOURS")]
    pub national_hours: Option<f64>,
    /// Replace the law's envelope (€), to study a scenario.
    #[arg(long, value_name = "EUR")]
    pub envelope: Option<f64>,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Options of `fgn`.
#[derive(Debug, Args)]
pub struct FgnArgs {
    /// One row per service: service_id, forfait_annual, objectives_set, objectives_met,
    /// fte_carers, non_presence_hours, cost_g1, cost_g3, cost_staff_non_carer,
    /// gross_expenses, and optionally cost_staff_tisf (counted in structure costs).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The CPOM's band of non-presence time, % of 1,607 h per carer FTE (LOW:HIGH).
    #[arg(long, value_name = "LOW:HIGH")]
    pub non_presence_band: Option<Band>,
    /// The CPOM's band of structure costs, % of gross expenses (LOW:HIGH).
    #[arg(long, value_name = "LOW:HIGH")]
    pub structure_band: Option<Band>,
    /// Folder to write the results into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// A rule's input table read from a file, its columns typed one by one; every problem is
/// kept until [`Table::finish`].
struct Table {
    file: String,
    table: &'static str,
    rows: usize,
    batches: Vec<arrow::array::RecordBatch>,
    problems: Vec<InputProblem>,
}

impl Table {
    fn read(path: &Path, table: &'static str) -> Result<Table, ServerError> {
        let format = Format::of_path(path).ok_or_else(|| ServerError::Read {
            path: path.to_path_buf(),
            message: "the extension must be .parquet, .csv, .arrow, .ipc or .feather".into(),
        })?;
        // The kind only matters to dataset tables; a rule's table is read the same way.
        let source = read_table(path, format, TableKind::Services)?;
        Ok(Table {
            file: source.file.clone(),
            table,
            rows: source.num_rows(),
            batches: source.batches,
            problems: Vec::new(),
        })
    }

    fn problem(&mut self, row: Option<usize>, column: &str, value: String, rule: &str) {
        self.problems.push(InputProblem {
            file: Some(self.file.clone()),
            table: self.table,
            row,
            column: column.to_string(),
            value,
            rule: rule.to_string(),
        });
    }

    /// The column as text, one entry per row (`None` for a null or an empty cell); a
    /// missing required column is a problem, an optional one gives nulls.
    fn text(&mut self, column: &str, required: bool) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(self.rows);
        let mut missing = false;
        let mut unreadable = None;
        for b in &self.batches {
            match b.column_by_name(column) {
                Some(a) => match arrow::compute::cast(a, &DataType::Utf8) {
                    Ok(a) => {
                        let a = a
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .expect("cast to Utf8");
                        out.extend(a.iter().map(|v| {
                            v.map(str::trim)
                                .filter(|v| !v.is_empty())
                                .map(str::to_string)
                        }));
                    }
                    Err(_) => {
                        unreadable = Some(a.data_type().to_string());
                        out.extend(std::iter::repeat_n(None, b.num_rows()));
                    }
                },
                None => {
                    missing = true;
                    out.extend(std::iter::repeat_n(None, b.num_rows()));
                }
            }
        }
        if let Some(t) = unreadable {
            self.problem(
                None,
                column,
                t,
                "the column's type cannot be read: it must be text, a number or a date",
            );
        } else if missing && required {
            self.problem(None, column, String::new(), "the column is required");
        }
        out
    }

    /// A required column of values parsed by `parse`; an empty or unreadable cell is a
    /// problem naming its row.
    fn parsed<T: Clone + Default>(
        &mut self,
        column: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Vec<T> {
        let missing_before = self.problems.len();
        let cells = self.text(column, true);
        if self.problems.len() > missing_before {
            return vec![T::default(); self.rows];
        }
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| match c.as_deref().map(|v| (v, parse(v))) {
                Some((_, Some(v))) => v,
                Some((v, None)) => {
                    self.problem(Some(i + 1), column, v.to_string(), expected);
                    T::default()
                }
                None => {
                    self.problem(Some(i + 1), column, String::new(), "a value is required");
                    T::default()
                }
            })
            .collect()
    }

    /// An optional column of numbers.
    fn optional_f64(&mut self, column: &str) -> Vec<Option<f64>> {
        self.parsed_optional(column, "the value must be a number", parse_f64)
    }

    /// An optional column of values parsed by `parse` (`None` where empty or absent); an
    /// unreadable cell is a problem naming its row.
    fn parsed_optional<T>(
        &mut self,
        column: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Vec<Option<T>> {
        let cells = self.text(column, false);
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let v = c?;
                let n = parse(&v);
                if n.is_none() {
                    self.problem(Some(i + 1), column, v, expected);
                }
                n
            })
            .collect()
    }

    fn strings(&mut self, column: &str) -> Vec<String> {
        self.parsed(column, "a value is required", |v| Some(v.to_string()))
    }

    fn f64s(&mut self, column: &str) -> Vec<f64> {
        self.parsed(column, "the value must be a number", parse_f64)
    }

    /// Every problem found in `tables` (an empty table is one), or nothing.
    fn finish(tables: &mut [&mut Table]) -> Result<(), ServerError> {
        let mut problems = Vec::new();
        for t in tables.iter_mut() {
            if t.rows == 0 && t.problems.is_empty() {
                t.problem(
                    None,
                    "(all)",
                    String::new(),
                    "the table must have at least one row",
                );
            }
            problems.append(&mut t.problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CoreError::RuleInput(problems).into())
        }
    }
}

fn parse_f64(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn parse_count(v: &str) -> Option<u32> {
    v.parse::<u32>().ok().or_else(|| {
        // Counts stored as floating point (1.0) are accepted when whole.
        let x = v.parse::<f64>().ok()?;
        (x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX)).then_some(x as u32)
    })
}

/// Names the file of each problem a core rule returns, by table.
fn with_files(e: CoreError, files: &[(&'static str, &str)]) -> ServerError {
    match e {
        CoreError::RuleInput(mut problems) => {
            for p in &mut problems {
                if let Some((_, f)) = files.iter().find(|(t, _)| *t == p.table) {
                    p.file = Some((*f).to_string());
                }
            }
            CoreError::RuleInput(problems).into()
        }
        e => e.into(),
    }
}

fn f64s(v: impl IntoIterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(v))
}

fn opt_f64s(v: impl IntoIterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from_iter(v))
}

fn strs<'a>(v: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

fn opt_strs<'a>(v: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(v))
}

fn i32s(v: impl IntoIterator<Item = i32>) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values(v))
}

fn json_text(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON of plain values")
}

/// `dotation dc`: the dotation complémentaire of each service and département.
pub fn run_dc(a: &DcArgs, quiet: bool) -> Result<(), ServerError> {
    let catalogue = Catalogue::builtin(a.catalogue);
    let year = a.year.unwrap_or(catalogue.year);

    let mut t = Table::read(&a.actions, dc::ACTIONS_TABLE)?;
    let service_id = t.strings("service_id");
    let action = t.strings("action");
    let quantity = t.f64s("quantity");
    let start = t.parsed("start", "the date must be YYYY-MM-DD", |v| {
        v.parse::<Date>().ok().map(Some)
    });
    let unit_price = t.optional_f64("unit_price");
    let acquired = t.parsed_optional("acquired", "the date must be YYYY-MM-DD", |v| {
        v.parse::<Date>().ok()
    });
    let mut h = Table::read(&a.hours, dc::HOURS_TABLE)?;
    let h_id = h.strings("service_id");
    let h_dep = h.strings("departement");
    let h_apa = h.f64s("hours_apa");
    let h_pch = h.f64s("hours_pch");
    Table::finish(&mut [&mut t, &mut h])?;

    let actions: Vec<ActionLine> = (0..t.rows)
        .map(|i| ActionLine {
            service_id: service_id[i].clone(),
            action: action[i].clone(),
            quantity: quantity[i],
            start: start[i].expect("parsed"),
            unit_price: unit_price[i],
            acquired: acquired[i],
        })
        .collect();
    let services: Vec<ServiceHours> = (0..h.rows)
        .map(|i| ServiceHours {
            service_id: h_id[i].clone(),
            departement: h_dep[i].clone(),
            hours_apa: h_apa[i],
            hours_pch: h_pch[i],
        })
        .collect();
    let config = DcConfig {
        year,
        cap_rate: a.cap_rate,
        cpi_ratio: a.cpi_ratio,
        cnsa_rate: a.cnsa_rate,
        prorata: a.prorata,
        limits: dc::DcLimits {
            per_hour: a.max_per_hour,
            per_action: a.max_per_action.iter().cloned().collect(),
            per_objective: std::array::from_fn(|o| {
                a.max_per_objective
                    .iter()
                    .find(|(n, _)| usize::from(*n) == o + 1)
                    .map(|&(_, v)| v)
            }),
        },
    };
    let r = dc::compute(&catalogue, &actions, &services, &config).map_err(|e| {
        with_files(
            e,
            &[
                (dc::ACTIONS_TABLE, t.file.as_str()),
                (dc::HOURS_TABLE, h.file.as_str()),
            ],
        )
    })?;

    let lines = batch(vec![
        (
            "service_id",
            strs(r.lines.iter().map(|l| l.service_id.as_str())),
        ),
        ("action", strs(r.lines.iter().map(|l| l.action.as_str()))),
        (
            "objective",
            i32s(r.lines.iter().map(|l| i32::from(l.objective.number()))),
        ),
        ("quantity", f64s(r.lines.iter().map(|l| l.quantity))),
        ("unit_price", f64s(r.lines.iter().map(|l| l.unit_price))),
        ("start", {
            let s: ArrayRef = Arc::new(StringArray::from_iter_values(
                r.lines.iter().map(|l| l.start.to_string()),
            ));
            arrow::compute::cast(&s, &DataType::Date32)?
        }),
        ("prorata", f64s(r.lines.iter().map(|l| l.prorata))),
        ("amount", f64s(r.lines.iter().map(|l| l.amount))),
        (
            "refused",
            opt_strs(r.lines.iter().map(|l| l.refused.as_deref())),
        ),
    ])?;
    let mut cols: Vec<(String, ArrayRef)> = vec![
        (
            "service_id".into(),
            strs(r.services.iter().map(|s| s.service_id.as_str())),
        ),
        (
            "departement".into(),
            strs(r.services.iter().map(|s| s.departement.as_str())),
        ),
        ("hours".into(), f64s(r.services.iter().map(|s| s.hours))),
        (
            "actions".into(),
            i32s(r.services.iter().map(|s| s.actions as i32)),
        ),
        (
            "cap_prorata".into(),
            opt_f64s(r.services.iter().map(|s| s.cap_prorata)),
        ),
        ("cap".into(), opt_f64s(r.services.iter().map(|s| s.cap))),
    ];
    for o in Objective::ALL {
        cols.push((
            format!("requested_{}", o.number()),
            f64s(r.services.iter().map(|s| s.requested[o.index()])),
        ));
    }
    cols.push((
        "requested_total".into(),
        f64s(r.services.iter().map(|s| s.requested_total)),
    ));
    for o in Objective::ALL {
        cols.push((
            format!("paid_{}", o.number()),
            f64s(r.services.iter().map(|s| s.paid[o.index()])),
        ));
    }
    cols.push((
        "paid_total".into(),
        f64s(r.services.iter().map(|s| s.paid_total)),
    ));
    cols.push((
        "capped".into(),
        Arc::new(BooleanArray::from(
            r.services.iter().map(|s| s.capped).collect::<Vec<_>>(),
        )),
    ));
    let services_batch = batch(cols.iter().map(|(n, a)| (n.as_str(), a.clone())).collect())?;
    let d = &r.departements;
    let deps = batch(vec![
        (
            "departement",
            strs(d.iter().map(|d| d.departement.as_str())),
        ),
        ("services", i32s(d.iter().map(|d| d.services as i32))),
        (
            "services_with_actions",
            i32s(d.iter().map(|d| d.services_with_actions as i32)),
        ),
        ("hours", f64s(d.iter().map(|d| d.hours))),
        ("requested", f64s(d.iter().map(|d| d.requested))),
        ("paid", f64s(d.iter().map(|d| d.paid))),
        ("cnsa_limit", f64s(d.iter().map(|d| d.cnsa_limit))),
        (
            "cnsa_refinancing",
            f64s(d.iter().map(|d| d.cnsa_refinancing)),
        ),
        (
            "departement_share",
            f64s(d.iter().map(|d| d.departement_share)),
        ),
        ("envelope", opt_f64s(d.iter().map(|d| d.envelope))),
        ("envelope_left", opt_f64s(d.iter().map(|d| d.envelope_left))),
    ])?;
    let paid: f64 = d.iter().map(|d| d.paid).sum();
    let requested: f64 = d.iter().map(|d| d.requested).sum();
    let cnsa: f64 = d.iter().map(|d| d.cnsa_refinancing).sum();
    let capped = r.services.iter().filter(|s| s.capped).count();
    let summary = serde_json::json!({
        "command": "dc",
        "catalogue": a.catalogue.name(),
        "year": year,
        "cap_rate": r.rates.cap,
        "cnsa_rate": r.rates.cnsa,
        "prorata": a.prorata.to_string(),
        "actions": r.lines.len(),
        "services": r.services.len(),
        "services_capped": capped,
        "lines_refused": r.lines.iter().filter(|l| l.refused.is_some()).count(),
        "envelope": d.iter().map(|d| d.envelope).sum::<Option<f64>>(),
        "requested": requested,
        "paid": paid,
        "cnsa_refinancing": cnsa,
        "version": VERSION,
    });
    let mut out = Output::new(&a.out)?;
    out.parquet("actions.parquet", &lines)?;
    out.parquet("services.parquet", &services_batch)?;
    out.parquet("departements.parquet", &deps)?;
    out.text("summary.json", &json_text(&summary))?;
    out.commit()?;
    if !quiet {
        println!(
            "Dotation complémentaire {year}, catalogue {} ({} actions)",
            a.catalogue,
            catalogue.entries.len()
        );
        println!(
            "cap {:.3} €/h of APA + PCH, CNSA refinancing up to {:.3} €/h, prorata in {}",
            r.rates.cap, r.rates.cnsa, a.prorata
        );
        println!(
            "  {:<34} {:>14}",
            "action lines",
            thousands(r.lines.len() as f64, 0)
        );
        println!(
            "  {:<34} {:>14}  ({capped} capped)",
            "services",
            thousands(r.services.len() as f64, 0)
        );
        println!("  {:<34} {:>14} €", "requested", thousands(requested, 2));
        println!("  {:<34} {:>14} €", "paid", thousands(paid, 2));
        println!("  {:<34} {:>14} €", "CNSA refinancing", thousands(cnsa, 2));
        println!(
            "wrote actions, services, departements (.parquet) and summary.json to {}",
            a.out.display()
        );
    }
    Ok(())
}

/// `dotation avenant43`: the CNSA's aid to each département, advance and balance.
pub fn run_avenant43(a: &Avenant43Args, quiet: bool) -> Result<(), ServerError> {
    let mut t = Table::read(&a.input, avenant43::TABLE)?;
    let dep = t.strings("departement");
    let hours_year = t.parsed("hours_year", "the value must be a year", |v| {
        v.parse::<i32>().ok()
    });
    let apa = t.f64s("hours_apa");
    let pch = t.f64s("hours_pch");
    let am = t.f64s("hours_aide_menagere");
    let forecast = t.f64s("cost_forecast");
    let actual = t.optional_f64("cost_actual");
    Table::finish(&mut [&mut t])?;
    let input: Vec<DepartementInput> = (0..t.rows)
        .map(|i| DepartementInput {
            departement: dep[i].clone(),
            hours_year: hours_year[i],
            hours_apa: apa[i],
            hours_pch: pch[i],
            hours_aide_menagere: am[i],
            cost_forecast: forecast[i],
            cost_actual: actual[i],
        })
        .collect();
    let config = Avenant43Config {
        year: a.year,
        national_hours: a.national_hours,
        envelope: a.envelope,
    };
    let r = avenant43::compute(&input, &config)
        .map_err(|e| with_files(e, &[(avenant43::TABLE, t.file.as_str())]))?;
    let d = &r.departements;
    let deps = batch(vec![
        (
            "departement",
            strs(d.iter().map(|d| d.departement.as_str())),
        ),
        ("hours", f64s(d.iter().map(|d| d.hours))),
        ("activity_share", f64s(d.iter().map(|d| d.activity_share))),
        ("activity_cap", f64s(d.iter().map(|d| d.activity_cap))),
        (
            "cost_cap_forecast",
            f64s(d.iter().map(|d| d.cost_cap_forecast)),
        ),
        ("aid_forecast", f64s(d.iter().map(|d| d.aid_forecast))),
        (
            "binding_forecast",
            strs(d.iter().map(|d| d.binding_forecast.name())),
        ),
        ("advance", f64s(d.iter().map(|d| d.advance))),
        (
            "cost_cap_actual",
            opt_f64s(d.iter().map(|d| d.cost_cap_actual)),
        ),
        ("aid_final", opt_f64s(d.iter().map(|d| d.aid_final))),
        (
            "binding_final",
            opt_strs(d.iter().map(|d| d.binding_final.map(|b| b.name()))),
        ),
        ("balance", opt_f64s(d.iter().map(|d| d.balance))),
    ])?;
    let summary = serde_json::json!({
        "command": "avenant43",
        "year": r.year,
        "hours_year": r.hours_year,
        "envelope": r.envelope,
        "cost_rate": r.cost_rate,
        "national_hours": r.national_hours,
        "departements": d.len(),
        "aid_forecast": r.aid_forecast,
        "advance": r.advance,
        "aid_final": r.aid_final,
        "unused_forecast": r.unused_forecast,
        "version": VERSION,
    });
    let mut out = Output::new(&a.out)?;
    out.parquet("departements.parquet", &deps)?;
    out.text("summary.json", &json_text(&summary))?;
    out.commit()?;
    if !quiet {
        println!(
            "CNSA aid for Avenant 43, {}: envelope {} M€, at most {:.0} % of costs, hours of {}",
            r.year,
            thousands(r.envelope / 1e6, 0),
            100.0 * r.cost_rate,
            r.hours_year
        );
        let capped_by_cost = d
            .iter()
            .filter(|d| d.binding_forecast == avenant43::Binding::Cost)
            .count();
        println!(
            "  {:<34} {:>14}  ({capped_by_cost} set by the cost cap)",
            "départements",
            d.len()
        );
        println!(
            "  {:<34} {:>14} €",
            "forecast aid",
            thousands(r.aid_forecast, 2)
        );
        println!(
            "  {:<34} {:>14} €",
            "advance (80 %)",
            thousands(r.advance, 2)
        );
        let known = d.iter().filter(|d| d.aid_final.is_some()).count();
        if known > 0 {
            println!(
                "  {:<34} {:>14} €  ({known} with actual costs)",
                "final aid",
                thousands(r.aid_final, 2)
            );
        }
        println!(
            "  {:<34} {:>14} €",
            "envelope left unused",
            thousands(r.unused_forecast, 2)
        );
        println!(
            "wrote departements.parquet and summary.json to {}",
            a.out.display()
        );
    }
    Ok(())
}

/// `dotation fgn`: the forfait global négocié's schedule and CPOM band flags.
pub fn run_fgn(a: &FgnArgs, quiet: bool) -> Result<(), ServerError> {
    let mut t = Table::read(&a.input, fgn::TABLE)?;
    let id = t.strings("service_id");
    let forfait = t.f64s("forfait_annual");
    let set = t.parsed(
        "objectives_set",
        "the value must be a whole number ≥ 0",
        parse_count,
    );
    let met = t.parsed(
        "objectives_met",
        "the value must be a whole number ≥ 0",
        parse_count,
    );
    let fte = t.f64s("fte_carers");
    let np = t.f64s("non_presence_hours");
    let g1 = t.f64s("cost_g1");
    let g3 = t.f64s("cost_g3");
    let staff = t.f64s("cost_staff_non_carer");
    let tisf = t.optional_f64("cost_staff_tisf");
    let gross = t.f64s("gross_expenses");
    Table::finish(&mut [&mut t])?;
    let input: Vec<FgnService> = (0..t.rows)
        .map(|i| FgnService {
            service_id: id[i].clone(),
            forfait_annual: forfait[i],
            objectives_set: set[i],
            objectives_met: met[i],
            fte_carers: fte[i],
            non_presence_hours: np[i],
            cost_g1: g1[i],
            cost_g3: g3[i],
            cost_staff_non_carer: staff[i],
            cost_staff_tisf: tisf[i].unwrap_or(0.0),
            gross_expenses: gross[i],
        })
        .collect();
    let config = FgnConfig {
        non_presence: a.non_presence_band,
        structure: a.structure_band,
    };
    let r = fgn::compute(&input, &config)
        .map_err(|e| with_files(e, &[(fgn::TABLE, t.file.as_str())]))?;
    let services = batch(vec![
        ("service_id", strs(r.iter().map(|s| s.service_id.as_str()))),
        ("forfait_annual", f64s(r.iter().map(|s| s.schedule.annual))),
        ("instalment", f64s(r.iter().map(|s| s.schedule.monthly[0]))),
        ("withheld", f64s(r.iter().map(|s| s.schedule.withheld))),
        (
            "objectives_share",
            f64s(r.iter().map(|s| s.schedule.objectives_share)),
        ),
        ("released", f64s(r.iter().map(|s| s.schedule.released))),
        ("frozen", f64s(r.iter().map(|s| s.schedule.frozen))),
        ("paid", f64s(r.iter().map(|s| s.schedule.paid))),
        (
            "non_presence_share",
            f64s(r.iter().map(|s| s.non_presence_share)),
        ),
        (
            "non_presence_flag",
            opt_strs(r.iter().map(|s| s.non_presence_flag.map(|f| f.name()))),
        ),
        ("structure_costs", f64s(r.iter().map(|s| s.structure_costs))),
        ("structure_share", f64s(r.iter().map(|s| s.structure_share))),
        (
            "structure_flag",
            opt_strs(r.iter().map(|s| s.structure_flag.map(|f| f.name()))),
        ),
    ])?;
    // The schedule in long form: twelve instalments, then the release after the dialogue.
    let mut sid = Vec::new();
    let mut kind = Vec::new();
    let mut month = Vec::new();
    let mut amount = Vec::new();
    for s in &r {
        for (m, x) in s.schedule.monthly.iter().enumerate() {
            sid.push(s.service_id.as_str());
            kind.push("instalment");
            month.push(Some(m as i32 + 1));
            amount.push(*x);
        }
        sid.push(s.service_id.as_str());
        kind.push("release");
        month.push(None);
        amount.push(s.schedule.released);
    }
    let schedule = batch(vec![
        ("service_id", strs(sid)),
        ("kind", strs(kind)),
        ("month", Arc::new(Int32Array::from(month)) as ArrayRef),
        ("amount", f64s(amount)),
    ])?;
    let np = count_flags(&r, |s| s.non_presence_flag);
    let st = count_flags(&r, |s| s.structure_flag);
    let flags_json =
        |c: [usize; 3]| serde_json::json!({"below": c[0], "within": c[1], "above": c[2]});
    let forfaits: f64 = r.iter().map(|s| s.schedule.annual).sum();
    let released: f64 = r.iter().map(|s| s.schedule.released).sum();
    let frozen: f64 = r.iter().map(|s| s.schedule.frozen).sum();
    let summary = serde_json::json!({
        "command": "fgn",
        "services": r.len(),
        "forfait_annual": forfaits,
        "instalments": fgn::MONTHLY_SHARE * forfaits,
        "released": released,
        "frozen": frozen,
        "non_presence_band": a.non_presence_band.map(|b| [b.low, b.high]),
        "structure_band": a.structure_band.map(|b| [b.low, b.high]),
        "non_presence_flags": a.non_presence_band.map(|_| flags_json(np)),
        "structure_flags": a.structure_band.map(|_| flags_json(st)),
        "version": VERSION,
    });
    let mut out = Output::new(&a.out)?;
    out.parquet("services.parquet", &services)?;
    out.parquet("schedule.parquet", &schedule)?;
    out.text("summary.json", &json_text(&summary))?;
    out.commit()?;
    if !quiet {
        println!(
            "Forfait global négocié: {} service{}",
            r.len(),
            if r.len() == 1 { "" } else { "s" }
        );
        println!(
            "  {:<34} {:>14} €",
            "annual forfaits",
            thousands(forfaits, 2)
        );
        println!(
            "  {:<34} {:>14} €",
            "12 instalments (90 %)",
            thousands(fgn::MONTHLY_SHARE * forfaits, 2)
        );
        println!(
            "  {:<34} {:>14} €  ({} frozen)",
            "withheld 10 % released",
            thousands(released, 2),
            thousands(frozen, 2)
        );
        for (label, band, c) in [
            ("non-presence time", a.non_presence_band, np),
            ("structure costs", a.structure_band, st),
        ] {
            if let Some(b) = band {
                println!(
                    "  {label:<17} band {:.1}–{:.1} %: {} below, {} within, {} above",
                    100.0 * b.low,
                    100.0 * b.high,
                    c[0],
                    c[1],
                    c[2]
                );
            }
        }
        println!(
            "wrote services, schedule (.parquet) and summary.json to {}",
            a.out.display()
        );
    }
    Ok(())
}

/// Services below, within and above a band.
fn count_flags(
    r: &[fgn::FgnResult],
    flag: impl Fn(&fgn::FgnResult) -> Option<fgn::BandFlag>,
) -> [usize; 3] {
    let mut c = [0; 3];
    for s in r {
        match flag(s) {
            Some(fgn::BandFlag::Below) => c[0] += 1,
            Some(fgn::BandFlag::Within) => c[1] += 1,
            Some(fgn::BandFlag::Above) => c[2] += 1,
            None => {}
        }
    }
    c
}
