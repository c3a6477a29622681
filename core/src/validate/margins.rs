//! The `margins` table, checked against the dataset whose services it totals: every
//! variable one the services or their users have, every level one a service can take, a
//! category given for a categorical variable and only there, totals finite and ≥ 0, each
//! (variable, level) once, the rows of a categorical margin on one variable (numeric
//! totals may share a name).

use std::collections::HashMap;

use arrow::array::Array;

use super::columns::{Bound, blocks, check_f64, f64_values};
use super::problems::{Ctx, Problems, Rule};
use super::{Source, ValidateOptions};
use crate::margins::{Category, Margin, Margins, Numeric, Term};
use crate::schema::TableKind;
use crate::tables::Microdata;

/// What a `variable` may be, for messages.
const VARIABLES: &str = "a services category (status, habilitated, mixed, departement, stratum) or a crossing of them joined by *; a numeric services column (hours_apa, hours_pch, hours_social_aid, hours_other, dotation_complementaire, cost_g1, cost_g2, cost_g3, cost_total, fte_carers, fte_support, design_weight); users, user_months, users:allowance=APA|PCH|social_aid|other, users:gir=1…6";

/// Levels listed in full in a message; longer lists are cut.
const LISTED_LEVELS: usize = 12;

/// Checks a `margins` table against validated microdata: the rows resolved to the
/// auxiliary variables they total, or the report of every problem (file, row, column,
/// value and rule, as for the four tables).
pub fn check_margins(
    source: &Source,
    micro: &Microdata,
    options: &ValidateOptions,
) -> Result<Margins, super::Report> {
    let table = TableKind::Margins;
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    let mut p = Problems::new(options.max_listed_per_rule);
    if source.num_rows() == 0 {
        p.push(ctx.problem(None, None, None, Rule::EmptyTable));
    }
    let Some(blocks) = blocks(source, table, &mut p) else {
        return Err(p.into_report());
    };
    let mut rows = Vec::new();
    let mut seen: HashMap<(String, Option<String>), u64> = HashMap::new();
    let mut margin_variable: HashMap<String, String> = HashMap::new();
    for b in &blocks {
        check_f64(&ctx, b, "total", Bound::NonNegative, &mut p);
        let (margin, variable, level) = (b.text("margin"), b.text("variable"), b.text("level"));
        let totals = f64_values(b, "total");
        for i in 0..b.len {
            let row = b.row1 + i as u64;
            if margin.is_null(i) || variable.is_null(i) {
                continue; // reported as null values
            }
            let (name, var) = (margin.value(i).to_string(), variable.value(i).to_string());
            let lvl = (!level.is_null(i)).then(|| level.value(i).to_string());
            let Some(term) = resolve(&ctx, row, &var, lvl.as_deref(), micro, &mut p) else {
                continue;
            };
            if let Some(&first_row) = seen.get(&(var.clone(), lvl.clone())) {
                p.push(ctx.problem(
                    Some(row),
                    Some("level"),
                    lvl.clone(),
                    Rule::Duplicate { first_row },
                ));
            } else {
                seen.insert((var.clone(), lvl.clone()), row);
            }
            // A categorical margin's rows are the levels of one variable; numeric totals
            // may be grouped under one name.
            let kind = match &term {
                Term::Level(_) => var.clone(),
                Term::Total(_) => String::new(),
            };
            match margin_variable.get(&name) {
                Some(v) if *v != kind => p.push(ctx.problem(
                    Some(row),
                    Some("variable"),
                    Some(var.clone()),
                    Rule::Conditional {
                        rule: if v.is_empty() || kind.is_empty() {
                            format!(
                                "margin {name:?} mixes categories and numeric totals: give them different names"
                            )
                        } else {
                            format!(
                                "the rows of categorical margin {name:?} must share one variable; its first row has {v:?}"
                            )
                        },
                    },
                )),
                Some(_) => {}
                None => {
                    margin_variable.insert(name.clone(), kind);
                }
            }
            rows.push(Margin {
                margin: name,
                variable: var,
                level: lvl,
                total: totals[i],
                term,
            });
        }
    }
    if p.is_empty() {
        Ok(Margins { rows })
    } else {
        Err(p.into_report())
    }
}

/// The term a row's variable and level define, or `None` with the problem recorded.
fn resolve(
    ctx: &Ctx<'_>,
    row: u64,
    variable: &str,
    level: Option<&str>,
    micro: &Microdata,
    p: &mut Problems,
) -> Option<Term> {
    let bad_variable = |p: &mut Problems| {
        p.push(ctx.problem(
            Some(row),
            Some("variable"),
            Some(variable.to_string()),
            Rule::Code {
                allowed: VARIABLES.into(),
            },
        ));
        None
    };
    if let Some(numeric) = Numeric::parse(variable) {
        if let Some(l) = level {
            p.push(ctx.problem(
                Some(row),
                Some("level"),
                Some(l.to_string()),
                Rule::Conditional {
                    rule: format!(
                        "{variable} is a numeric total: its level must be null (a level names a category)"
                    ),
                },
            ));
            return None;
        }
        return Some(Term::Total(numeric));
    }
    let columns: Option<Vec<Category>> = variable.split('*').map(Category::from_name).collect();
    let Some(columns) = columns else {
        return bad_variable(p);
    };
    let Some(level) = level else {
        p.push(ctx.problem(
            Some(row),
            Some("level"),
            None,
            Rule::Conditional {
                rule: format!("{variable} is categorical: the row must name its level"),
            },
        ));
        return None;
    };
    let parts: Vec<&str> = level.split('*').collect();
    if parts.len() != columns.len() {
        p.push(ctx.problem(
            Some(row),
            Some("level"),
            Some(level.to_string()),
            Rule::Conditional {
                rule: format!(
                    "a level of {variable} has {} parts joined by * (one per column), found {}",
                    columns.len(),
                    parts.len()
                ),
            },
        ));
        return None;
    }
    let mut term = Vec::with_capacity(columns.len());
    for (c, part) in columns.into_iter().zip(parts) {
        let levels = c.levels(micro);
        if !levels.iter().any(|l| l == part) {
            let mut allowed = levels
                .iter()
                .take(LISTED_LEVELS)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if levels.len() > LISTED_LEVELS {
                allowed.push_str(&format!(" … ({} levels)", levels.len()));
            }
            p.push(ctx.problem(
                Some(row),
                Some("level"),
                Some(level.to_string()),
                Rule::Code {
                    allowed: format!("for {}: {allowed}", c.name()),
                },
            ));
            return None;
        }
        term.push((c, part.to_string()));
    }
    Some(Term::Level(term))
}
