//! A small dataset written as text tables (like CSV files), so a test can change any cell —
//! a wrong type, an empty value, a bad code — and check what validation says.
//!
//! [`Fixture::hand_example`] is the three-service example whose baseline is computed by
//! hand in the baseline tests: two départements (Ain with a reference tariff below the
//! 2026 floor, Aisne above it), two HAS services (one with its tariff below the floor) and
//! one NHAS service.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use dotation_core::schema::TableKind;
use dotation_core::validate::{RawDataset, Source};

/// One table as text: a header and rows of cells ("" is a null).
#[derive(Clone, Debug)]
pub struct TextTable {
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl TextTable {
    fn new(header: &str, rows: &[&str]) -> TextTable {
        TextTable {
            header: header.split(',').map(str::to_string).collect(),
            rows: rows
                .iter()
                .map(|r| r.split(',').map(str::to_string).collect())
                .collect(),
        }
    }

    /// Index of a column.
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// The batch of this table, every column as text.
    pub fn batch(&self) -> RecordBatch {
        let fields: Vec<Field> = self
            .header
            .iter()
            .map(|h| Field::new(h, DataType::Utf8, true))
            .collect();
        let columns: Vec<ArrayRef> = (0..self.header.len())
            .map(|j| {
                Arc::new(StringArray::from_iter(self.rows.iter().map(|r| {
                    let v = r[j].as_str();
                    (!v.is_empty()).then_some(v)
                }))) as ArrayRef
            })
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("a valid batch")
    }

    /// The table as CSV text.
    pub fn csv(&self) -> String {
        let mut s = self.header.join(",");
        s.push('\n');
        for r in &self.rows {
            s.push_str(&r.join(","));
            s.push('\n');
        }
        s
    }
}

/// The four tables of a dataset, as text.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// departements
    pub departements: TextTable,
    /// services
    pub services: TextTable,
    /// users
    pub users: TextTable,
    /// visits
    pub visits: TextTable,
}

impl Fixture {
    /// The hand-computed example (year 2026: floor 25.00 €/h, MTP 1,288.13 €).
    pub fn hand_example() -> Fixture {
        Fixture {
            departements: TextTable::new(
                "departement,name,year,tarif_reference,pop_60_plus,pop_75_plus,apa_domicile,pch",
                &[
                    "01,Ain,2026,24.00,158736,54283,5556,3828",
                    "02,Aisne,2026,26.10,146992,48946,7595,2854",
                ],
            ),
            services: TextTable::new(
                "service_id,departement,status,habilitated,mixed,design_weight,hours_apa,hours_pch,hours_social_aid,hours_other,tariff_hourly,price_billed,dotation_complementaire,cost_g1,cost_g2,cost_g3,cost_total,fte_carers,fte_support",
                &[
                    "S1,01,associatif,true,false,2.0,10000,2000,500,300,27.50,,5000,20000,340000,40000,400000,9.5,1.5",
                    "S2,02,public,true,true,3.0,4000,0,1000,0,23.00,,0,8000,120000,12000,140000,3.8,0.6",
                    "S3,01,prive_lucratif,false,false,1.5,6000,1000,0,0,,29.00,1000,9000,170000,21000,200000,5.2,0.9",
                ],
            ),
            users: TextTable::new(
                "user_id,service_id,allowance,gir,plan_hours_month,plan_amount_month,pch_hours_month,resources_month,couple,entourage,zone,months_served",
                &[
                    "U1,S1,APA,2,40,1000,,1500,false,1,urban,12",
                    "U2,S1,PCH,,50,0,50,1200,false,2,rural,12",
                    "U3,S2,APA,4,20,500,,800,false,3,mountain,12",
                    "U4,S3,APA,3,35,900,,2600,false,0,periurban,6",
                    "U5,S3,other,,10,0,,2000,true,2,urban,12",
                ],
            ),
            visits: TextTable::new(
                "user_id,service_id,start,duration_min,travel_min,travel_km,slot,carers,qualification",
                &[
                    "U1,S1,2026-06-15T09:00:00,60,10,5,weekday,1,A",
                    "U1,S1,2026-06-16T19:30:00,60,12,6,evening,2,B",
                    "U2,S1,2026-06-21T10:00:00,90,20,15,sunday_holiday,1,C",
                    "U3,S2,2026-06-17T09:00:00,90,30,25,weekday,1,B",
                    "U4,S3,2026-06-18T08:30:00,45,8,4,weekday,1,A",
                    "U4,S3,2026-06-25T23:00:00,30,8,4,night,1,A",
                    "U5,S3,2026-06-22T14:00:00,120,5,2,weekday,1,C",
                ],
            ),
        }
    }

    /// The table of one kind.
    pub fn table(&self, t: TableKind) -> &TextTable {
        match t {
            TableKind::Departements => &self.departements,
            TableKind::Services => &self.services,
            TableKind::Users => &self.users,
            TableKind::Visits => &self.visits,
            other => panic!("a fixture dataset has no {other:?} table"),
        }
    }

    /// The table of one kind, to change it.
    pub fn table_mut(&mut self, t: TableKind) -> &mut TextTable {
        match t {
            TableKind::Departements => &mut self.departements,
            TableKind::Services => &mut self.services,
            TableKind::Users => &mut self.users,
            TableKind::Visits => &mut self.visits,
            other => panic!("a fixture dataset has no {other:?} table"),
        }
    }

    /// Sets one cell (row from 1, as validation numbers them).
    pub fn set(&mut self, t: TableKind, row: usize, column: &str, value: &str) -> &mut Self {
        let table = self.table_mut(t);
        let j = table.col(column);
        table.rows[row - 1][j] = value.to_string();
        self
    }

    /// The dataset as raw batches, sources named `TABLE.csv`.
    pub fn raw(&self) -> RawDataset {
        let mut raw = RawDataset::default();
        for t in TableKind::ALL {
            *raw.get_mut(t) = Source::new(format!("{}.csv", t.name()), vec![self.table(t).batch()]);
        }
        raw
    }

    /// Writes the dataset as CSV files into `dir`.
    pub fn write_csv(&self, dir: &Path) {
        for t in TableKind::ALL {
            std::fs::write(dir.join(format!("{}.csv", t.name())), self.table(t).csv())
                .expect("a writable folder");
        }
    }
}
