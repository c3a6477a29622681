//! The `departements` table: codes, the dataset's one year, tariffs and populations, and
//! the index of the département codes the services refer to.

use arrow::array::Array;

use super::Source;
use super::columns::{Bound, blocks, check_f64, check_int, f64_values, text_values};
use super::keys::{KeyIndex, unique_index};
use super::problems::{Ctx, Problems, Rule};
use crate::schema::TableKind;
use crate::tables::Departements;

pub(super) type DeptResult = (Option<Departements>, Option<i32>, Option<KeyIndex>);

pub(super) fn departements(source: &Source, p: &mut Problems) -> DeptResult {
    let table = TableKind::Departements;
    let ctx = Ctx {
        file: &source.file,
        table,
    };
    let Some(blocks) = blocks(source, table, p) else {
        return (None, None, None);
    };
    let mut d = Departements::default();
    let mut years: Vec<i32> = Vec::new();
    for b in &blocks {
        let codes = b.text("departement");
        for i in 0..b.len {
            if !codes.is_null(i) && !is_departement_code(codes.value(i)) {
                p.push(
                    ctx.problem(
                        Some(b.row1 + i as u64),
                        Some("departement"),
                        Some(codes.value(i).to_string()),
                        Rule::Code {
                            allowed:
                                "\"01\"…\"95\", \"2A\", \"2B\", \"971\"…\"976\", \"69D\", \"69M\""
                                    .into(),
                        },
                    ),
                );
            }
        }
        check_int(&ctx, b, "year", 2000, 2100, p);
        check_f64(&ctx, b, "tarif_reference", Bound::Positive, p);
        for c in ["pop_60_plus", "pop_75_plus", "apa_domicile", "pch"] {
            check_int(&ctx, b, c, 0, i64::MAX, p);
        }
        d.code.extend(text_values(b, "departement"));
        d.name.extend(text_values(b, "name"));
        years.extend(b.i32("year").iter().map(|v| v.unwrap_or(0)));
        d.tarif_reference.extend(f64_values(b, "tarif_reference"));
        for (dst, c) in [
            (&mut d.pop_60_plus, "pop_60_plus"),
            (&mut d.pop_75_plus, "pop_75_plus"),
            (&mut d.apa_domicile, "apa_domicile"),
            (&mut d.pch, "pch"),
        ] {
            dst.extend(b.i64(c).iter().map(|v| v.unwrap_or(0)));
        }
    }
    let year = years.first().copied();
    if let Some(first) = year {
        for (i, &y) in years.iter().enumerate() {
            if y != first {
                p.push(ctx.problem(
                    Some(i as u64 + 1),
                    Some("year"),
                    Some(y.to_string()),
                    Rule::SeveralYears { first },
                ));
            }
        }
    }
    let index = unique_index(&ctx, "departement", &d.code, p);
    (Some(d), year, Some(index))
}

pub(super) fn is_departement_code(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        2 => {
            (b[0].is_ascii_digit() && b[1].is_ascii_digit() && s != "00" && s <= "95")
                || s == "2A"
                || s == "2B"
        }
        3 => (s.starts_with("97") && (b'1'..=b'6').contains(&b[2])) || s == "69D" || s == "69M",
        _ => false,
    }
}
