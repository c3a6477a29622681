//! The tables of the legal rules that work outside a survey dataset: the dotation
//! complémentaire's `actions` and `hours` (`dotation dc`) and its action catalogues, the
//! Avenant 43 `departements` (`dotation avenant43`) and the forfait global's `services`
//! (`dotation fgn`). Each goes through the machinery of the dataset's tables
//! (`columns.rs`: the columns of its contract in `schema.rs` present and of a usable type,
//! values cast, unreadable values, missing required values and non-finite numbers
//! reported with file, row, column and value) and comes out as the rows its rule computes
//! on. What the values mean to the rule — ranges, years, references between its tables —
//! the rule checks itself, for these rows as for rows built in memory, and reports as
//! [`super::Problem`]s too (`dotation_complementaire::compute`, `avenant43::compute`,
//! `forfait_global::compute`).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::columns::{
    Block, Bound, blocks, bool_values, check_f64, check_int, count_values, date_values, f64_values,
    opt_f64_values, opt_f64_values_or_absent, text_values,
};
use super::keys::unique_index;
use super::problems::{Ctx, Problems, Rule};
use super::{Report, Source, ValidateOptions};
use crate::avenant43::DepartementInput;
use crate::dotation_complementaire::{ActionLine, CatalogueEntry, Objective, ServiceHours};
use crate::forfait_global::FgnService;
use crate::schema::TableKind;

/// The rows of a rule's table, built block by block by `rows`; `None` when a column is
/// missing or unusable (the problem is recorded). A rule's table needs at least one row.
fn read<T>(
    source: &Source,
    table: TableKind,
    p: &mut Problems,
    rows: impl Fn(&Block) -> Vec<T>,
) -> Option<Vec<T>> {
    if source.num_rows() == 0 {
        let ctx = Ctx {
            file: &source.file,
            table,
        };
        p.push(ctx.problem(None, None, None, Rule::EmptyTable));
    }
    let blocks = blocks(source, table, p)?;
    Some(blocks.iter().flat_map(rows).collect())
}

fn finish<T>(rows: Option<T>, p: Problems) -> Result<T, Report> {
    match rows {
        Some(rows) if p.is_empty() => Ok(rows),
        _ => Err(p.into_report()),
    }
}

/// The inputs of `dotation dc`, typed: the `actions` and `hours` tables
/// ([`TableKind::DcActions`], [`TableKind::DcHours`]), or the report of every problem of
/// both.
pub fn check_dc(
    actions: &Source,
    hours: &Source,
    options: &ValidateOptions,
) -> Result<(Vec<ActionLine>, Vec<ServiceHours>), Report> {
    let mut p = Problems::new(options.max_listed_per_rule.max(1));
    let lines = read(actions, TableKind::DcActions, &mut p, action_lines);
    let services = read(hours, TableKind::DcHours, &mut p, service_hours);
    finish(lines.zip(services), p)
}

fn action_lines(b: &Block) -> Vec<ActionLine> {
    let service_id = text_values(b, "service_id");
    let action = text_values(b, "action");
    let quantity = f64_values(b, "quantity");
    let start = date_values(b, "start");
    let unit_price = opt_f64_values_or_absent(b, "unit_price");
    let acquired = date_values(b, "acquired");
    service_id
        .into_iter()
        .zip(action)
        .enumerate()
        .map(|(i, (service_id, action))| ActionLine {
            service_id,
            action,
            quantity: quantity[i],
            // A missing start is a recorded problem: no line is computed.
            start: start[i].unwrap_or_default(),
            unit_price: unit_price[i],
            acquired: acquired[i],
        })
        .collect()
}

fn service_hours(b: &Block) -> Vec<ServiceHours> {
    let hours_apa = f64_values(b, "hours_apa");
    let hours_pch = f64_values(b, "hours_pch");
    text_values(b, "service_id")
        .into_iter()
        .zip(text_values(b, "departement"))
        .enumerate()
        .map(|(i, (service_id, departement))| ServiceHours {
            service_id,
            departement,
            hours_apa: hours_apa[i],
            hours_pch: hours_pch[i],
        })
        .collect()
}

/// The input of `dotation avenant43`, typed ([`TableKind::Avenant43Departements`]), or
/// the report of every problem.
pub fn check_avenant43(
    source: &Source,
    options: &ValidateOptions,
) -> Result<Vec<DepartementInput>, Report> {
    let mut p = Problems::new(options.max_listed_per_rule.max(1));
    let rows = read(source, TableKind::Avenant43Departements, &mut p, |b| {
        let hours_year = b.i32("hours_year");
        let hours_apa = f64_values(b, "hours_apa");
        let hours_pch = f64_values(b, "hours_pch");
        let hours_aide_menagere = f64_values(b, "hours_aide_menagere");
        let cost_forecast = f64_values(b, "cost_forecast");
        let cost_actual = opt_f64_values_or_absent(b, "cost_actual");
        text_values(b, "departement")
            .into_iter()
            .enumerate()
            .map(|(i, departement)| DepartementInput {
                departement,
                hours_year: hours_year.value(i),
                hours_apa: hours_apa[i],
                hours_pch: hours_pch[i],
                hours_aide_menagere: hours_aide_menagere[i],
                cost_forecast: cost_forecast[i],
                cost_actual: cost_actual[i],
            })
            .collect()
    });
    finish(rows, p)
}

/// The input of `dotation fgn`, typed ([`TableKind::FgnServices`]), or the report of every
/// problem.
pub fn check_fgn(source: &Source, options: &ValidateOptions) -> Result<Vec<FgnService>, Report> {
    let mut p = Problems::new(options.max_listed_per_rule.max(1));
    let rows = read(source, TableKind::FgnServices, &mut p, |b| {
        let [forfait, fte, non_presence, g1, g3, staff, gross] = [
            "forfait_annual",
            "fte_carers",
            "non_presence_hours",
            "cost_g1",
            "cost_g3",
            "cost_staff_non_carer",
            "gross_expenses",
        ]
        .map(|c| f64_values(b, c));
        let set = count_values(b, "objectives_set");
        let met = count_values(b, "objectives_met");
        let tisf = opt_f64_values_or_absent(b, "cost_staff_tisf");
        text_values(b, "service_id")
            .into_iter()
            .enumerate()
            .map(|(i, service_id)| FgnService {
                service_id,
                forfait_annual: forfait[i],
                objectives_set: set[i],
                objectives_met: met[i],
                fte_carers: fte[i],
                non_presence_hours: non_presence[i],
                cost_g1: g1[i],
                cost_g3: g3[i],
                cost_staff_non_carer: staff[i],
                // Absent or empty: the service has no TISF.
                cost_staff_tisf: tisf[i].unwrap_or(0.0),
                gross_expenses: gross[i],
            })
            .collect()
    });
    finish(rows, p)
}

/// A catalogue of the dotation complémentaire from the lines of its CSV text, already
/// split into fields (empty fields are nulls, as in any CSV input): each objective 1 to 6,
/// each unit price ≥ 0 or empty, each code once. A line without one field per header
/// column is reported alone, as a CSV reader stops at it.
pub(crate) fn check_catalogue(
    file: &str,
    header: &[String],
    lines: &[Vec<String>],
    options: &ValidateOptions,
) -> Result<Vec<CatalogueEntry>, Report> {
    let table = TableKind::DcCatalogue;
    let ctx = Ctx { file, table };
    let mut p = Problems::new(options.max_listed_per_rule.max(1));
    for (i, fields) in lines.iter().enumerate() {
        if fields.len() != header.len() {
            p.push(ctx.problem(
                Some(i as u64 + 1),
                None,
                Some(fields.join(",")),
                Rule::Fields {
                    expected: header.len(),
                    found: fields.len(),
                },
            ));
        }
    }
    if !p.is_empty() {
        return Err(p.into_report());
    }
    let columns: Vec<ArrayRef> = (0..header.len())
        .map(|c| {
            let values = lines
                .iter()
                .map(|fields| Some(fields[c].as_str()).filter(|v| !v.is_empty()));
            Arc::new(StringArray::from_iter(values)) as ArrayRef
        })
        .collect();
    let schema = Schema::new(
        header
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), columns)
        .expect("one text column per header name, one value per line");
    let source = Source::new(file, vec![batch]);
    if lines.is_empty() {
        p.push(ctx.problem(None, None, None, Rule::EmptyTable));
    }
    let Some(blocks) = blocks(&source, table, &mut p) else {
        return Err(p.into_report());
    };
    let mut entries = Vec::with_capacity(lines.len());
    for b in &blocks {
        check_int(&ctx, b, "objective", 1, 6, &mut p);
        check_f64(&ctx, b, "unit_price", Bound::NonNegative, &mut p);
        let objective = b.i32("objective");
        let unit_price = opt_f64_values(b, "unit_price");
        let prorated = bool_values(b, "prorated");
        let [code, action, unit, source] =
            ["code", "action", "unit", "source"].map(|c| text_values(b, c));
        let texts = code.into_iter().zip(action).zip(unit).zip(source);
        for (i, (((code, action), unit), source)) in texts.enumerate() {
            // An objective out of 1–6 is a recorded problem: no catalogue is returned.
            let objective = u8::try_from(objective.value(i))
                .ok()
                .and_then(Objective::from_number)
                .unwrap_or(Objective::SpecificNeeds);
            entries.push(CatalogueEntry {
                code,
                objective,
                action,
                unit,
                unit_price: unit_price[i],
                prorated: prorated[i],
                source,
            });
        }
    }
    let codes: Vec<String> = entries.iter().map(|e| e.code.clone()).collect();
    unique_index(&ctx, "code", &codes, &mut p);
    finish(Some(entries), p)
}
