//! The data contract: the four input tables a modeller gives dotation, column by column,
//! with their Arrow types, units and meanings, the `margins` table read beside them, and
//! the small tables of the rules commands (`dc`, `avenant43`, `fgn`) and of the dotation
//! complémentaire's catalogues. The names are fixed (they are what users write in their
//! files); validation checks every batch against these columns, whatever the table.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use jiff::civil::Date;

/// One input table: the four of a dataset, the margins, or a rule's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    /// Départements: tariffs and population drivers.
    Departements,
    /// Services: status, hours by funder, tariffs, costs, staff.
    Services,
    /// Users: allowance, dependency, plan, resources, zone.
    Users,
    /// Visits: one row per visit recorded by télégestion.
    Visits,
    /// Margins: the population totals survey weights are calibrated to (not one of a
    /// dataset's four tables: a job that calibrates weights reads it beside them).
    Margins,
    /// `dotation dc --actions`: one row per action a service runs.
    DcActions,
    /// `dotation dc --hours`: one row per service, its hours of APA and PCH.
    DcHours,
    /// An action catalogue of the dotation complémentaire (`core/data/dc_*.csv`).
    DcCatalogue,
    /// `dotation avenant43 --input`: one row per département (named `departements` in
    /// messages, as in the command's documentation).
    Avenant43Departements,
    /// `dotation fgn --input`: one row per service (named `services` in messages).
    FgnServices,
}

impl TableKind {
    /// The four tables of a dataset, in dependency order (a table only refers to earlier
    /// ones); [`TableKind::Margins`] is read beside them.
    pub const ALL: [TableKind; 4] = [
        TableKind::Departements,
        TableKind::Services,
        TableKind::Users,
        TableKind::Visits,
    ];

    /// The tables of the rules commands and the dotation complémentaire's catalogues:
    /// each is read on its own, outside any dataset.
    pub const RULES: [TableKind; 5] = [
        TableKind::DcActions,
        TableKind::DcHours,
        TableKind::DcCatalogue,
        TableKind::Avenant43Departements,
        TableKind::FgnServices,
    ];

    /// The table's name in files, on the wire and in messages (a rule's table is named
    /// as its command's documentation names it).
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Departements | TableKind::Avenant43Departements => "departements",
            TableKind::Services | TableKind::FgnServices => "services",
            TableKind::Users => "users",
            TableKind::Visits => "visits",
            TableKind::Margins => "margins",
            TableKind::DcActions => "actions",
            TableKind::DcHours => "hours",
            TableKind::DcCatalogue => "catalogue",
        }
    }

    /// Parses a table name as written in files and Flight descriptors (the four
    /// tables and `margins`).
    pub fn from_name(name: &str) -> Option<TableKind> {
        TableKind::ALL
            .into_iter()
            .chain([TableKind::Margins])
            .find(|t| t.name() == name)
    }

    /// The contract's columns of this table.
    pub fn columns(self) -> &'static [Column] {
        match self {
            TableKind::Departements => DEPARTEMENTS,
            TableKind::Services => SERVICES,
            TableKind::Users => USERS,
            TableKind::Visits => VISITS,
            TableKind::Margins => MARGINS,
            TableKind::DcActions => DC_ACTIONS,
            TableKind::DcHours => DC_HOURS,
            TableKind::DcCatalogue => DC_CATALOGUE,
            TableKind::Avenant43Departements => AVENANT43_DEPARTEMENTS,
            TableKind::FgnServices => FGN_SERVICES,
        }
    }

    /// The contract as an Arrow schema (extra columns of a file are kept by readers but
    /// ignored by the computations).
    pub fn schema(self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns()
            .iter()
            .map(|c| Field::new(c.name, c.ty.data_type(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The contract column called `name`, if any.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }
}

impl std::fmt::Display for TableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The logical type of a contract column. Readers accept any Arrow type that casts to it
/// without loss (for example Int64 for an Int32 column whose values fit, LargeUtf8 or
/// dictionary-encoded strings for Utf8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Bool,
    /// Timestamp in microseconds, no time zone (local civil time of the visit).
    Timestamp,
    /// A civil date: `YYYY-MM-DD` in text, Arrow Date32 (days since 1970-01-01) in
    /// memory, a [`jiff::civil::Date`] once typed ([`date_of_days`]).
    Date,
    /// A count: a whole number ≥ 0, from an integer column, or from a float or text
    /// column whose values have no fractional part (`4.0`); unsigned 32-bit.
    Count,
}

impl ColumnType {
    /// The canonical Arrow type the column is converted to.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Date => DataType::Date32,
            ColumnType::Count => DataType::UInt32,
        }
    }
}

/// 1970-01-01, day 0 of Arrow's Date32.
const EPOCH: Date = jiff::civil::date(1970, 1, 1);

/// The date of a Date32 value (days since 1970-01-01); `None` outside the years
/// −9999 to 9999.
pub fn date_of_days(days: i32) -> Option<Date> {
    jiff::Span::new()
        .try_days(days)
        .and_then(|span| EPOCH.checked_add(span))
        .ok()
}

/// The Date32 value of a date: days since 1970-01-01.
pub fn days_of_date(date: Date) -> i32 {
    let days = date.duration_since(EPOCH).as_hours() / 24;
    i32::try_from(days).expect("the days of a year within ±9999 fit in 32 bits")
}

/// One column of the contract.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Name in files (fixed by the contract).
    pub name: &'static str,
    /// Logical type.
    pub ty: ColumnType,
    /// Whether nulls are allowed.
    pub nullable: bool,
    /// Unit of the values ("" when none).
    pub unit: &'static str,
    /// Meaning, in one sentence.
    pub doc: &'static str,
    /// Whether a file may leave the column out (its values are then absent, not null).
    pub optional: bool,
}

const fn col(
    name: &'static str,
    ty: ColumnType,
    nullable: bool,
    unit: &'static str,
    doc: &'static str,
) -> Column {
    Column {
        name,
        ty,
        nullable,
        unit,
        doc,
        optional: false,
    }
}

/// A column a file may leave out or leave empty.
const fn optional_nullable_col(
    name: &'static str,
    ty: ColumnType,
    unit: &'static str,
    doc: &'static str,
) -> Column {
    Column {
        optional: true,
        ..col(name, ty, true, unit, doc)
    }
}

/// A column a file may leave out.
const fn optional_col(
    name: &'static str,
    ty: ColumnType,
    unit: &'static str,
    doc: &'static str,
) -> Column {
    Column {
        optional: true,
        ..col(name, ty, false, unit, doc)
    }
}

use ColumnType::{Bool, Count, Float64, Int32, Int64, Text, Timestamp};

/// `margins`: one row per population total the calibrated survey weights reproduce.
pub const MARGINS: &[Column] = &[
    col(
        "margin",
        Text,
        false,
        "",
        "the margin's name (the rows of one categorical margin share it)",
    ),
    col(
        "variable",
        Text,
        false,
        "",
        "a services column or a crossing joined by * (categories), a numeric services column, or a per-service user count (users, user_months, users:allowance=APA, users:gir=1…)",
    ),
    col(
        "level",
        Text,
        true,
        "",
        "the category (crossing levels joined by *, booleans true/false); null for a numeric total",
    ),
    col(
        "total",
        Float64,
        false,
        "",
        "the population total the weighted services must reproduce",
    ),
];

/// `departements`: one row per département.
pub const DEPARTEMENTS: &[Column] = &[
    col(
        "departement",
        Text,
        false,
        "",
        "code: \"01\"…\"95\", \"971\"…\"976\", \"2A\"/\"2B\" or \"20\", \"69D\"/\"69M\"",
    ),
    col("name", Text, false, "", "name of the département"),
    col(
        "year",
        Int32,
        false,
        "year",
        "the year the figures and tariffs apply to (one year per dataset)",
    ),
    col(
        "tarif_reference",
        Float64,
        false,
        "€/h",
        "what the département pays for an hour delivered by an NHAS service",
    ),
    col(
        "pop_60_plus",
        Int64,
        false,
        "persons",
        "population aged 60 and over",
    ),
    col(
        "pop_75_plus",
        Int64,
        false,
        "persons",
        "population aged 75 and over",
    ),
    col(
        "apa_domicile",
        Int64,
        false,
        "persons",
        "APA beneficiaries living at home",
    ),
    col("pch", Int64, false, "persons", "PCH beneficiaries"),
];

/// `services`: one row per service of the survey (or of the census).
pub const SERVICES: &[Column] = &[
    col("service_id", Text, false, "", "unique identifier"),
    col(
        "departement",
        Text,
        false,
        "",
        "the département that tariffs the service (→ departements.departement)",
    ),
    col(
        "status",
        Text,
        false,
        "",
        "legal status: associatif, public or prive_lucratif",
    ),
    col(
        "habilitated",
        Bool,
        false,
        "",
        "habilitated for social aid (HAS, true) or not (NHAS, false)",
    ),
    col(
        "mixed",
        Bool,
        false,
        "",
        "also delivers nursing care (SAD mixte)",
    ),
    col(
        "design_weight",
        Float64,
        false,
        "services",
        "survey weight: how many services of the frame this one stands for (1 for a census)",
    ),
    col(
        "hours_apa",
        Float64,
        false,
        "h/year",
        "hours delivered to APA users",
    ),
    col(
        "hours_pch",
        Float64,
        false,
        "h/year",
        "hours delivered to PCH users",
    ),
    col(
        "hours_social_aid",
        Float64,
        false,
        "h/year",
        "hours funded by départemental social aid",
    ),
    col(
        "hours_other",
        Float64,
        false,
        "h/year",
        "hours funded otherwise (pension funds, private clients)",
    ),
    col(
        "tariff_hourly",
        Float64,
        true,
        "€/h",
        "HAS: the tariff set by the département; NHAS: null",
    ),
    col(
        "price_billed",
        Float64,
        true,
        "€/h",
        "NHAS: the price the service bills users; HAS: null",
    ),
    col(
        "dotation_complementaire",
        Float64,
        false,
        "€/year",
        "dotation complémentaire received in the year",
    ),
    col(
        "cost_g1",
        Float64,
        false,
        "€/year",
        "cost group 1: current operating expenses of the aid activity",
    ),
    col(
        "cost_g2",
        Float64,
        false,
        "€/year",
        "cost group 2: staff expenses of the aid activity",
    ),
    col(
        "cost_g3",
        Float64,
        false,
        "€/year",
        "cost group 3: structure expenses of the aid activity",
    ),
    col(
        "cost_total",
        Float64,
        false,
        "€/year",
        "total annual cost of the aid activity (= g1 + g2 + g3)",
    ),
    col(
        "fte_carers",
        Float64,
        false,
        "FTE",
        "carers (intervenants), full-time equivalents",
    ),
    col(
        "fte_support",
        Float64,
        false,
        "FTE",
        "management, administrative and coordination staff, full-time equivalents",
    ),
    optional_col(
        "stratum",
        Text,
        "",
        "the survey stratum the service was drawn in (absent: one stratum)",
    ),
    optional_col(
        "fpc",
        Float64,
        "services",
        "the number of services of the stratum in the population (absent: no finite-population correction)",
    ),
];

/// `users`: one row per user served in the year.
pub const USERS: &[Column] = &[
    col("user_id", Text, false, "", "unique identifier"),
    col(
        "service_id",
        Text,
        false,
        "",
        "the service (→ services.service_id)",
    ),
    col(
        "allowance",
        Text,
        false,
        "",
        "funder of the user's hours: APA, PCH, social_aid or other",
    ),
    col(
        "gir",
        Int32,
        true,
        "",
        "dependency group 1 (most dependent) … 6; APA users 1–4",
    ),
    col(
        "plan_hours_month",
        Float64,
        false,
        "h/month",
        "hours per month in the user's plan",
    ),
    col(
        "plan_amount_month",
        Float64,
        false,
        "€/month",
        "amount of the accepted APA plan (0 for other allowances)",
    ),
    col(
        "pch_hours_month",
        Float64,
        true,
        "h/month",
        "PCH human-aid hours per month (PCH users)",
    ),
    col(
        "resources_month",
        Float64,
        false,
        "€/month",
        "monthly resources used for the APA participation (a couple's when couple)",
    ),
    col(
        "couple",
        Bool,
        false,
        "",
        "resources are a couple's (divided by 1.7 for the APA participation)",
    ),
    col(
        "entourage",
        Int32,
        false,
        "",
        "help from family and friends: 0 none … 3 strong",
    ),
    col(
        "zone",
        Text,
        false,
        "",
        "where the user lives: urban, periurban, rural or mountain",
    ),
    col(
        "months_served",
        Float64,
        false,
        "months",
        "months served in the year (0–12)",
    ),
];

/// `visits`: one row per visit.
pub const VISITS: &[Column] = &[
    col(
        "user_id",
        Text,
        false,
        "",
        "the user visited (→ users.user_id)",
    ),
    col(
        "service_id",
        Text,
        false,
        "",
        "the service that made the visit (→ services.service_id, and the user's service)",
    ),
    col(
        "start",
        Timestamp,
        false,
        "µs",
        "start of the visit, local civil time",
    ),
    col(
        "duration_min",
        Float64,
        false,
        "min",
        "minutes at the user's home",
    ),
    col(
        "travel_min",
        Float64,
        false,
        "min",
        "travel time to this visit",
    ),
    col(
        "travel_km",
        Float64,
        false,
        "km",
        "travel distance to this visit",
    ),
    col(
        "slot",
        Text,
        false,
        "",
        "weekday, evening (6–8 h, 19–22 h), sunday_holiday or night",
    ),
    col(
        "carers",
        Int32,
        false,
        "",
        "carers present: 1, or 2 for a double-staffed visit",
    ),
    col(
        "qualification",
        Text,
        false,
        "",
        "carer category A, B or C (Avenant 43 classification)",
    ),
];

/// `actions` (`dotation dc --actions`): one row per action a service runs.
pub const DC_ACTIONS: &[Column] = &[
    col(
        "service_id",
        Text,
        false,
        "",
        "the service (→ hours.service_id)",
    ),
    col(
        "action",
        Text,
        false,
        "",
        "the action's code in the catalogue",
    ),
    col(
        "quantity",
        Float64,
        false,
        "the action's unit",
        "units over a full year (≥ 0), as the CPOM plans them",
    ),
    col(
        "start",
        ColumnType::Date,
        false,
        "YYYY-MM-DD",
        "the day the action starts; must fall in the year of the dotation",
    ),
    optional_nullable_col(
        "unit_price",
        Float64,
        "€",
        "price of one unit, only for actions whose price the catalogue leaves to the CPOM",
    ),
    optional_nullable_col(
        "acquired",
        ColumnType::Date,
        "YYYY-MM-DD",
        "vehicle actions: the day the vehicle was leased or bought (the start when empty or absent)",
    ),
];

/// `hours` (`dotation dc --hours`): one row per service of the département(s), with or
/// without actions.
pub const DC_HOURS: &[Column] = &[
    col("service_id", Text, false, "", "unique"),
    col("departement", Text, false, "", "the département"),
    col(
        "hours_apa",
        Float64,
        false,
        "h",
        "hours of APA plans delivered in the year",
    ),
    col(
        "hours_pch",
        Float64,
        false,
        "h",
        "hours of PCH plans delivered in the year",
    ),
];

/// `catalogue`: the actions of a call for applications of the dotation complémentaire.
pub const DC_CATALOGUE: &[Column] = &[
    col("code", Text, false, "", "the action's code (unique)"),
    col(
        "objective",
        Int32,
        false,
        "",
        "the objective of art. L.314-2-2 CASF it serves, 1 to 6",
    ),
    col("action", Text, false, "", "what the action is"),
    col("unit", Text, false, "", "the unit its quantity counts"),
    col(
        "unit_price",
        Float64,
        true,
        "€",
        "price of one unit; empty when the text leaves it to the CPOM",
    ),
    col(
        "prorated",
        Bool,
        false,
        "",
        "paid prorata temporis when started from 1 July (false: paid per occurrence)",
    ),
    col("source", Text, false, "", "the sentence of the text"),
];

/// `departements` (`dotation avenant43 --input`): one row per département.
pub const AVENANT43_DEPARTEMENTS: &[Column] = &[
    col("departement", Text, false, "", "unique"),
    col(
        "hours_year",
        Int32,
        false,
        "year",
        "the year of the hours: 2019 for the aid of 2021–2023, N−2 after (checked)",
    ),
    col(
        "hours_apa",
        Float64,
        false,
        "h",
        "prestataire APA activity hours of that year",
    ),
    col(
        "hours_pch",
        Float64,
        false,
        "h",
        "prestataire PCH activity hours of that year",
    ),
    col(
        "hours_aide_menagere",
        Float64,
        false,
        "h",
        "prestataire aide-ménagère activity hours of that year",
    ),
    col(
        "cost_forecast",
        Float64,
        false,
        "€",
        "the cost the département forecasts to bear",
    ),
    optional_nullable_col(
        "cost_actual",
        Float64,
        "€",
        "the actual cost, once stated (30 April N+1)",
    ),
];

/// `services` (`dotation fgn --input`): one row per service under a forfait global.
pub const FGN_SERVICES: &[Column] = &[
    col("service_id", Text, false, "", "unique"),
    col(
        "forfait_annual",
        Float64,
        false,
        "€",
        "the annual forfait of the CPOM",
    ),
    col(
        "objectives_set",
        Count,
        false,
        "",
        "objectives of the CPOM (≥ 1)",
    ),
    col(
        "objectives_met",
        Count,
        false,
        "",
        "objectives met at the management dialogue (≤ objectives_set)",
    ),
    col(
        "fte_carers",
        Float64,
        false,
        "FTE",
        "carers (aides à domicile, AVS, AMP, TISF), > 0",
    ),
    col(
        "non_presence_hours",
        Float64,
        false,
        "h",
        "carers' paid hours out of users' presence",
    ),
    col("cost_g1", Float64, false, "€", "expenses of group 1"),
    col("cost_g3", Float64, false, "€", "expenses of group 3"),
    col(
        "cost_staff_non_carer",
        Float64,
        false,
        "€",
        "staff expenses other than carers (management, administration, coordination)",
    ),
    optional_nullable_col(
        "cost_staff_tisf",
        Float64,
        "€",
        "staff expenses of the TISF (absent or empty: none); counted in structure costs",
    ),
    col(
        "gross_expenses",
        Float64,
        false,
        "€",
        "gross total expenses (≥ the structure costs)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_contract_columns_are_unique() {
        for t in TableKind::ALL {
            assert_eq!(TableKind::from_name(t.name()), Some(t));
        }
        for t in TableKind::ALL.into_iter().chain(TableKind::RULES) {
            let mut names: Vec<_> = t.columns().iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), t.columns().len(), "{t}");
        }
    }

    #[test]
    fn dates_and_date32_days() {
        let d = jiff::civil::date(2000, 3, 1);
        assert_eq!(days_of_date(d), 11_017);
        assert_eq!(date_of_days(11_017), Some(d));
        assert_eq!(date_of_days(0), Some(EPOCH));
        assert_eq!(date_of_days(-1), Some(jiff::civil::date(1969, 12, 31)));
        assert_eq!(date_of_days(i32::MAX), None);
    }
}
