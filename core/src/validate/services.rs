//! The `services` table: ranges, references to the départements, status codes, the
//! tariff or price each regime requires, and cost groups adding up to the total.

use arrow::array::Array;

use super::Source;
use super::columns::{
    Bound, blocks, bool_values, check_f64, f64_values, opt_f64_values, parse_codes, text_values,
};
use super::keys::{KeyIndex, unique_index};
use super::problems::{Ctx, Problems, Rule};
use crate::schema::TableKind;
use crate::tables::{Services, Status};

pub(super) fn services(
    source: &Source,
    dept_index: Option<&KeyIndex>,
    p: &mut Problems,
) -> (Option<Services>, Option<KeyIndex>) {
    let table = TableKind::Services;
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    let Some(blocks) = blocks(source, table, p) else {
        return (None, None);
    };
    let mut s = Services::default();
    let mut strata: Vec<Option<String>> = Vec::new();
    let mut fpc: Vec<Option<f64>> = Vec::new();
    for b in &blocks {
        check_f64(&ctx, b, "design_weight", Bound::Positive, p);
        if b.has("fpc") {
            check_f64(&ctx, b, "fpc", Bound::Positive, p);
        }
        super::design::collect(b, &mut strata, &mut fpc);
        for c in [
            "hours_apa",
            "hours_pch",
            "hours_social_aid",
            "hours_other",
            "dotation_complementaire",
            "cost_g1",
            "cost_g2",
            "cost_g3",
            "cost_total",
            "fte_carers",
            "fte_support",
        ] {
            check_f64(&ctx, b, c, Bound::NonNegative, p);
        }
        check_f64(&ctx, b, "tariff_hourly", Bound::Positive, p);
        check_f64(&ctx, b, "price_billed", Bound::Positive, p);
        let ids = text_values(b, "service_id");
        let depts = b.text("departement");
        for i in 0..b.len {
            let row = Some(b.row1 + i as u64);
            if depts.is_null(i) {
                s.departement.push(0);
                continue;
            }
            match dept_index.map(|m| m.get(depts.value(i))) {
                Some(Some(&d)) => s.departement.push(d),
                Some(None) => {
                    s.departement.push(0);
                    p.push(ctx.problem(
                        row,
                        Some("departement"),
                        Some(depts.value(i).to_string()),
                        Rule::UnknownReference {
                            table: TableKind::Departements,
                            column: "departement",
                        },
                    ));
                }
                None => s.departement.push(0),
            }
        }
        s.status.extend(parse_codes::<Status>(&ctx, b, "status", p));
        let has = bool_values(b, "habilitated");
        let tariff = opt_f64_values(b, "tariff_hourly");
        let price = opt_f64_values(b, "price_billed");
        let (g1, g2, g3, total) = (
            f64_values(b, "cost_g1"),
            f64_values(b, "cost_g2"),
            f64_values(b, "cost_g3"),
            f64_values(b, "cost_total"),
        );
        for i in 0..b.len {
            let row = Some(b.row1 + i as u64);
            if b.bool("habilitated").is_null(i) {
                continue;
            }
            let rule = if has[i] && tariff[i].is_none() {
                Some((
                    "tariff_hourly",
                    None,
                    "an HAS service (habilitated = true) must have its tariff_hourly",
                ))
            } else if has[i] && price[i].is_some() {
                Some((
                    "price_billed",
                    price[i],
                    "an HAS service (habilitated = true) bills no price of its own: price_billed must be null",
                ))
            } else if !has[i] && price[i].is_none() {
                Some((
                    "price_billed",
                    None,
                    "an NHAS service (habilitated = false) must have its price_billed",
                ))
            } else if !has[i] && tariff[i].is_some() {
                Some((
                    "tariff_hourly",
                    tariff[i],
                    "an NHAS service (habilitated = false) has no tariff: tariff_hourly must be null (the département's tarif_reference applies)",
                ))
            } else {
                None
            };
            if let Some((column, value, rule)) = rule {
                p.push(ctx.problem(
                    row,
                    Some(column),
                    value.map(|v| v.to_string()),
                    Rule::Conditional { rule: rule.into() },
                ));
            }
            let sum = g1[i] + g2[i] + g3[i];
            if (sum - total[i]).abs() > (1e-6 * total[i].abs()).max(1.0) {
                p.push(ctx.problem(
                    row,
                    Some("cost_total"),
                    Some(total[i].to_string()),
                    Rule::CostGroups { sum },
                ));
            }
        }
        s.id.extend(ids);
        s.habilitated.extend(has);
        s.mixed.extend(bool_values(b, "mixed"));
        s.design_weight.extend(f64_values(b, "design_weight"));
        s.hours_apa.extend(f64_values(b, "hours_apa"));
        s.hours_pch.extend(f64_values(b, "hours_pch"));
        s.hours_social_aid.extend(f64_values(b, "hours_social_aid"));
        s.hours_other.extend(f64_values(b, "hours_other"));
        s.tariff_hourly.extend(tariff);
        s.price_billed.extend(price);
        s.dotation_complementaire
            .extend(f64_values(b, "dotation_complementaire"));
        s.cost_g1.extend(g1);
        s.cost_g2.extend(g2);
        s.cost_g3.extend(g3);
        s.cost_total.extend(total);
        s.fte_carers.extend(f64_values(b, "fte_carers"));
        s.fte_support.extend(f64_values(b, "fte_support"));
    }
    s.design = super::design::survey_design(&ctx, &strata, &fpc, p);
    let index = unique_index(&ctx, "service_id", &s.id, p);
    (Some(s), Some(index))
}
