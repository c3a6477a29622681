//! One test per validation rule: each breaks one cell of the hand example and checks that
//! the problem names the file, table, row, column and value, and the rule broken.

use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch};
use dotation_core::Dataset;
use dotation_core::schema::TableKind::{self, Departements, Services, Users, Visits};
use dotation_core::validate::{Problem, RawDataset, Report, ValidateOptions, validate};
use dotation_tests::fixtures::Fixture;

fn report_of(raw: &RawDataset) -> Report {
    validate(raw, &ValidateOptions::default()).expect_err("the data must be invalid")
}

/// Breaks the hand example with `change`, validates, and checks the first problem.
fn check(
    change: impl FnOnce(&mut Fixture),
    table: TableKind,
    row: Option<u64>,
    column: Option<&str>,
    value: Option<&str>,
    rule: &str,
) -> Problem {
    let mut f = Fixture::hand_example();
    change(&mut f);
    let report = report_of(&f.raw());
    let p = report
        .problems
        .iter()
        .find(|p| p.rule.id() == rule)
        .unwrap_or_else(|| panic!("no {rule} problem in:\n{report}"))
        .clone();
    assert_eq!(p.table, table, "{p}");
    assert_eq!(p.row, row, "{p}");
    assert_eq!(p.column.as_deref(), column, "{p}");
    assert_eq!(p.value.as_deref(), value, "{p}");
    assert_eq!(p.file, format!("{}.csv", table.name()));
    // The message a user reads names all of them.
    let text = p.to_string();
    assert!(text.contains(&format!("table {}", table.name())), "{text}");
    if let Some(r) = row {
        assert!(text.contains(&format!("row {r}")), "{text}");
    }
    if let Some(c) = column {
        assert!(text.contains(&format!("column {c}")), "{text}");
    }
    p
}

#[test]
fn the_hand_example_is_valid() {
    let Dataset {
        micro: m, drivers, ..
    } = validate(&Fixture::hand_example().raw(), &ValidateOptions::default()).expect("valid");
    assert_eq!(m.year, 2026);
    assert_eq!(
        (m.services.len(), m.users.len(), drivers.visits),
        (3, 5, Some(7))
    );
}

#[test]
fn missing_column() {
    check(
        |f| {
            let j = f.users.col("zone");
            f.users.header.remove(j);
            for r in &mut f.users.rows {
                r.remove(j);
            }
        },
        Users,
        None,
        Some("zone"),
        None,
        "missing_column",
    );
}

#[test]
fn column_type() {
    let f = Fixture::hand_example();
    let mut raw = f.raw();
    let b = &raw.services.batches[0];
    let j = b.schema().index_of("design_weight").expect("column");
    let mut columns = b.columns().to_vec();
    columns[j] = Arc::new(BooleanArray::from(vec![true, false, true]));
    let mut fields: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[j] =
        arrow::datatypes::Field::new("design_weight", arrow::datatypes::DataType::Boolean, false);
    raw.services.batches[0] =
        RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)
            .expect("batch");
    let report = report_of(&raw);
    let p = &report.problems[0];
    assert_eq!(p.rule.id(), "column_type");
    assert_eq!(p.column.as_deref(), Some("design_weight"));
    assert!(
        p.to_string().contains("must be a number, found Boolean"),
        "{p}"
    );
}

#[test]
fn value_type() {
    check(
        |f| {
            f.set(Services, 2, "design_weight", "three");
        },
        Services,
        Some(2),
        Some("design_weight"),
        Some("three"),
        "value_type",
    );
}

#[test]
fn null() {
    check(
        |f| {
            f.set(Services, 3, "status", "");
        },
        Services,
        Some(3),
        Some("status"),
        None,
        "null",
    );
}

#[test]
fn not_finite() {
    check(
        |f| {
            f.set(Visits, 4, "travel_km", "NaN");
        },
        Visits,
        Some(4),
        Some("travel_km"),
        Some("NaN"),
        "not_finite",
    );
}

#[test]
fn range() {
    let p = check(
        |f| {
            f.set(Users, 4, "months_served", "13");
        },
        Users,
        Some(4),
        Some("months_served"),
        Some("13"),
        "range",
    );
    assert!(p.to_string().contains("between 0 and 12"), "{p}");
    check(
        |f| {
            f.set(Visits, 2, "carers", "3");
        },
        Visits,
        Some(2),
        Some("carers"),
        Some("3"),
        "range",
    );
}

#[test]
fn code() {
    let p = check(
        |f| {
            f.set(Users, 2, "zone", "city");
        },
        Users,
        Some(2),
        Some("zone"),
        Some("city"),
        "code",
    );
    assert!(
        p.to_string().contains("urban, periurban, rural, mountain"),
        "{p}"
    );
    check(
        |f| {
            f.set(Departements, 1, "departement", "1");
        },
        Departements,
        Some(1),
        Some("departement"),
        Some("1"),
        "code",
    );
}

#[test]
fn duplicate() {
    let p = check(
        |f| {
            f.set(Users, 3, "user_id", "U1");
        },
        Users,
        Some(3),
        Some("user_id"),
        Some("U1"),
        "duplicate",
    );
    assert!(p.to_string().contains("already on row 1"), "{p}");
}

#[test]
fn unknown_reference() {
    check(
        |f| {
            f.set(Services, 2, "departement", "03");
        },
        Services,
        Some(2),
        Some("departement"),
        Some("03"),
        "unknown_reference",
    );
    let p = check(
        |f| {
            f.set(Visits, 5, "user_id", "U9");
        },
        Visits,
        Some(5),
        Some("user_id"),
        Some("U9"),
        "unknown_reference",
    );
    assert!(
        p.to_string().contains("no row of users has this user_id"),
        "{p}"
    );
}

#[test]
fn user_of_other_service() {
    let p = check(
        |f| {
            f.set(Visits, 1, "service_id", "S2");
        },
        Visits,
        Some(1),
        Some("service_id"),
        Some("S2"),
        "user_of_other_service",
    );
    assert!(p.to_string().contains("belongs to service S1"), "{p}");
}

#[test]
fn conditional() {
    check(
        |f| {
            f.set(Services, 1, "tariff_hourly", "");
        },
        Services,
        Some(1),
        Some("tariff_hourly"),
        None,
        "conditional",
    );
    check(
        |f| {
            f.set(Services, 3, "tariff_hourly", "24.5");
        },
        Services,
        Some(3),
        Some("tariff_hourly"),
        Some("24.5"),
        "conditional",
    );
    check(
        |f| {
            f.set(Users, 1, "gir", "5");
        },
        Users,
        Some(1),
        Some("gir"),
        Some("5"),
        "conditional",
    );
    check(
        |f| {
            f.set(Users, 2, "pch_hours_month", "");
        },
        Users,
        Some(2),
        Some("pch_hours_month"),
        None,
        "conditional",
    );
}

#[test]
fn cost_groups() {
    let p = check(
        |f| {
            f.set(Services, 2, "cost_total", "150000");
        },
        Services,
        Some(2),
        Some("cost_total"),
        Some("150000"),
        "cost_groups",
    );
    assert!(p.to_string().contains("140000.00"), "{p}");
}

#[test]
fn plan_above_ceiling() {
    // GIR 4 ceiling in 2026: 0.630 × 1,288.13 = 811.52 €/month.
    let p = check(
        |f| {
            f.set(Users, 3, "plan_amount_month", "850");
        },
        Users,
        Some(3),
        Some("plan_amount_month"),
        Some("850"),
        "plan_above_ceiling",
    );
    assert!(p.to_string().contains("811.52"), "{p}");
}

#[test]
fn several_years() {
    check(
        |f| {
            f.set(Departements, 2, "year", "2025");
        },
        Departements,
        Some(2),
        Some("year"),
        Some("2025"),
        "several_years",
    );
}

#[test]
fn empty_table() {
    check(
        |f| f.services.rows.clear(),
        Services,
        None,
        None,
        None,
        "empty_table",
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let mut f = Fixture::hand_example();
    f.set(Services, 1, "status", "cooperative")
        .set(Users, 2, "months_served", "-1")
        .set(Visits, 3, "slot", "afternoon")
        .set(Visits, 6, "duration_min", "0");
    let report = report_of(&f.raw());
    let found: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.table, p.row, p.column.clone().unwrap_or_default()))
        .collect();
    for expected in [
        (Services, Some(1), "status"),
        (Users, Some(2), "months_served"),
        (Visits, Some(3), "slot"),
        (Visits, Some(6), "duration_min"),
    ] {
        assert!(
            found.contains(&(expected.0, expected.1, expected.2.to_string())),
            "{expected:?} missing from\n{report}"
        );
    }
    assert_eq!(report.total(), 4, "{report}");
}

#[test]
fn csv_files_are_read_and_problems_name_the_file() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut f = Fixture::hand_example();
    f.set(Visits, 7, "qualification", "D");
    f.write_csv(dir.path());
    let raw = dotation_server::io::read_dataset(dir.path()).expect("readable files");
    let report = report_of(&raw);
    let p = &report.problems[0];
    assert!(p.file.ends_with("visits.csv"), "{p}");
    assert_eq!(
        (p.row, p.column.as_deref()),
        (Some(7), Some("qualification"))
    );
    // Without the bad cell the same files are valid.
    Fixture::hand_example().write_csv(dir.path());
    let raw = dotation_server::io::read_dataset(dir.path()).expect("readable files");
    validate(&raw, &ValidateOptions::default()).expect("valid");
}

#[test]
fn problems_are_capped_per_rule_but_all_counted() {
    let mut f = Fixture::hand_example();
    let base = f.visits.rows[0].clone();
    for i in 0..100 {
        let mut r = base.clone();
        r[f.visits.col("slot")] = format!("bad{i}");
        f.visits.rows.push(r);
    }
    let options = ValidateOptions {
        max_listed_per_rule: 5,
        ..ValidateOptions::default()
    };
    let report = validate(&f.raw(), &options).expect_err("invalid");
    assert_eq!(report.total(), 100);
    assert_eq!(report.problems.len(), 5);
    assert_eq!(report.problems[0].row, Some(8));
    assert!(
        report.to_string().contains("visits.slot code: 100"),
        "{report}"
    );
}

#[test]
fn the_data_documentation_lists_every_contract_column() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/data.md"))
        .expect("docs/data.md");
    for t in TableKind::ALL {
        assert!(doc.contains(&format!("## `{}`", t.name())), "{t}");
        for c in t.columns() {
            assert!(
                doc.contains(&format!("| `{}` |", c.name)),
                "{t}.{} is not documented",
                c.name
            );
        }
    }
}
