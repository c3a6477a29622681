//! The `users` table: ranges, references to the services, allowance and zone codes, the
//! GIR an APA user needs and the plan within its legal ceiling, PCH hours of PCH users.

use arrow::array::Array;

use super::Source;
use super::columns::{
    Bound, blocks, bool_values, check_f64, check_int, f64_values, opt_f64_values, parse_codes,
    text_values,
};
use super::keys::{KeyIndex, unique_index};
use super::problems::{Ctx, Problems, Rule};
use crate::legal;
use crate::schema::TableKind;
use crate::tables::{Allowance, Users, Zone};

pub(super) fn users(
    source: &Source,
    service_index: Option<&KeyIndex>,
    year_mtp: Option<(i32, f64)>,
    p: &mut Problems,
) -> (Option<Users>, Option<KeyIndex>) {
    let table = TableKind::Users;
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    let Some(blocks) = blocks(source, table, p) else {
        return (None, None);
    };
    let mut u = Users::default();
    for b in &blocks {
        check_int(&ctx, b, "gir", 1, 6, p);
        check_int(&ctx, b, "entourage", 0, 3, p);
        check_f64(&ctx, b, "plan_hours_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "plan_amount_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "pch_hours_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "resources_month", Bound::NonNegative, p);
        check_f64(&ctx, b, "months_served", Bound::Between(0.0, 12.0), p);
        let services = b.text("service_id");
        for i in 0..b.len {
            let sid = if services.is_null(i) {
                None
            } else {
                service_index.map(|m| (m.get(services.value(i)), services.value(i)))
            };
            match sid {
                Some((Some(&s), _)) => u.service.push(s),
                Some((None, v)) => {
                    u.service.push(0);
                    p.push(ctx.problem(
                        Some(b.row1 + i as u64),
                        Some("service_id"),
                        Some(v.to_string()),
                        Rule::UnknownReference {
                            table: TableKind::Services,
                            column: "service_id",
                        },
                    ));
                }
                None => u.service.push(0),
            }
        }
        let allowance = parse_codes::<Allowance>(&ctx, b, "allowance", p);
        let gir = b.i32("gir");
        let plan = f64_values(b, "plan_amount_month");
        let pch = opt_f64_values(b, "pch_hours_month");
        for i in 0..b.len {
            let row = Some(b.row1 + i as u64);
            let g = gir.is_valid(i).then(|| gir.value(i));
            if b.text("allowance").is_null(i) {
                continue;
            }
            match allowance[i] {
                Allowance::Apa => match g {
                    Some(g @ 1..=4) => {
                        if let Some((year, mtp)) = year_mtp
                            && let Some(ceiling) = legal::apa_ceiling(g, mtp)
                            && plan[i] > ceiling + 0.005
                        {
                            p.push(ctx.problem(
                                row,
                                Some("plan_amount_month"),
                                Some(plan[i].to_string()),
                                Rule::PlanAboveCeiling {
                                    ceiling,
                                    gir: g,
                                    year,
                                },
                            ));
                        }
                    }
                    other => p.push(ctx.problem(
                        row,
                        Some("gir"),
                        Some(other.map_or("null".into(), |g| g.to_string())),
                        Rule::Conditional {
                            rule: "an APA user must have a GIR between 1 and 4".into(),
                        },
                    )),
                },
                Allowance::Pch if pch[i].is_none() => p.push(ctx.problem(
                    row,
                    Some("pch_hours_month"),
                    None,
                    Rule::Conditional {
                        rule: "a PCH user must have pch_hours_month".into(),
                    },
                )),
                _ => {}
            }
        }
        u.id.extend(text_values(b, "user_id"));
        u.allowance.extend(allowance);
        u.gir.extend(
            gir.iter()
                .map(|g| g.filter(|g| (1..=6).contains(g)).unwrap_or(0) as u8),
        );
        u.plan_hours_month.extend(f64_values(b, "plan_hours_month"));
        u.plan_amount_month.extend(plan);
        u.pch_hours_month.extend(pch);
        u.resources_month.extend(f64_values(b, "resources_month"));
        u.couple.extend(bool_values(b, "couple"));
        u.entourage.extend(
            b.i32("entourage")
                .iter()
                .map(|e| e.unwrap_or(0).clamp(0, 3) as u8),
        );
        u.zone.extend(parse_codes::<Zone>(&ctx, b, "zone", p));
        u.months_served.extend(f64_values(b, "months_served"));
    }
    let index = unique_index(&ctx, "user_id", &u.id, p);
    (Some(u), Some(index))
}
