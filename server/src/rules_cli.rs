//! The commands of the legal rules that work on their own small tables rather than on a
//! survey dataset: `dc` (dotation complémentaire), `avenant43` (the CNSA's aid for the
//! Avenant 43 salary agreement) and `fgn` (forfait global négocié). Each reads its input
//! files (Parquet, CSV or Arrow IPC, by extension) with [`crate::io`], has the core check
//! them against their contract and type them (`dotation_core::validate::check_dc`,
//! `check_avenant43`, `check_fgn`: every problem reported with its file, table, row,
//! column and value), runs the rule, writes Parquet results and `summary.json` atomically
//! with [`Output`] and prints a short summary. The input tables are documented in
//! `docs/data.md` ("Inputs of the rules commands").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, StringArray};
use clap::Args;
use dotation_core::avenant43::{self, Avenant43Config};
use dotation_core::dotation_complementaire::{
    self as dc, Catalogue, CatalogueId, DcConfig, Objective, ProrataBasis,
};
use dotation_core::forfait_global::{self as fgn, Band, FgnConfig};
use dotation_core::schema::{TableKind, days_of_date};
use dotation_core::validate::{
    Report, Source, ValidateOptions, check_avenant43, check_dc, check_fgn,
};
use dotation_core::{CoreError, VERSION};

use crate::cli::thousands;
use crate::error::ServerError;
use crate::io::{Format, Output, read_table_as};
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

/// A rule's input table read whole from its file (named in messages by its path).
fn read(path: &Path) -> Result<Source, ServerError> {
    let format = Format::of_path(path).ok_or_else(|| ServerError::Read {
        path: path.to_path_buf(),
        message: "the extension must be .parquet, .csv, .arrow, .ipc or .feather".into(),
    })?;
    read_table_as(path, format, &path.display().to_string())
}

/// The problems of a rule's input tables (as the core's checks report them).
fn invalid(report: Report) -> ServerError {
    CoreError::RuleInput(Box::new(report)).into()
}

/// Names the file of each problem a core rule returns, by table.
fn with_files(e: CoreError, files: &[(TableKind, &Source)]) -> ServerError {
    match e {
        CoreError::RuleInput(mut report) => {
            for p in &mut report.problems {
                if let Some((_, source)) = files.iter().find(|(t, _)| *t == p.table) {
                    p.file.clone_from(&source.file);
                }
            }
            CoreError::RuleInput(report).into()
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

    let (actions_source, hours_source) = (read(&a.actions)?, read(&a.hours)?);
    let (actions, services) =
        check_dc(&actions_source, &hours_source, &ValidateOptions::default()).map_err(invalid)?;
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
                (TableKind::DcActions, &actions_source),
                (TableKind::DcHours, &hours_source),
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
        (
            "start",
            Arc::new(Date32Array::from_iter_values(
                r.lines.iter().map(|l| days_of_date(l.start)),
            )),
        ),
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
    let source = read(&a.input)?;
    let input = check_avenant43(&source, &ValidateOptions::default()).map_err(invalid)?;
    let config = Avenant43Config {
        year: a.year,
        national_hours: a.national_hours,
        envelope: a.envelope,
    };
    let r = avenant43::compute(&input, &config)
        .map_err(|e| with_files(e, &[(TableKind::Avenant43Departements, &source)]))?;
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
    let source = read(&a.input)?;
    let input = check_fgn(&source, &ValidateOptions::default()).map_err(invalid)?;
    let config = FgnConfig {
        non_presence: a.non_presence_band,
        structure: a.structure_band,
    };
    let r = fgn::compute(&input, &config)
        .map_err(|e| with_files(e, &[(TableKind::FgnServices, &source)]))?;
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
