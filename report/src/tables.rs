//! The result tables a report reads — the same Arrow tables the job writes as Parquet and
//! streams over Flight — and typed access to their columns, each missing table or column
//! named in the error.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use crate::error::ReportError;

/// A job's result tables by name.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    tables: Vec<(String, RecordBatch)>,
}

impl Tables {
    /// Tables by name (one batch each).
    pub fn new(tables: Vec<(String, RecordBatch)>) -> Tables {
        Tables { tables }
    }

    /// The table `name`.
    pub fn get(&self, name: &str) -> Result<Table<'_>, ReportError> {
        self.tables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, batch)| Table { name: n, batch })
            .ok_or_else(|| ReportError::MissingTable(name.to_string()))
    }

    /// Whether there is a table `name`.
    pub fn has(&self, name: &str) -> bool {
        self.tables.iter().any(|(n, _)| n == name)
    }
}

/// One result table.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    name: &'a str,
    batch: &'a RecordBatch,
}

impl Table<'_> {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn column(&self, column: &str) -> Result<&dyn Array, ReportError> {
        self.batch
            .column_by_name(column)
            .map(|c| c.as_ref())
            .ok_or_else(|| ReportError::MissingColumn {
                table: self.name.to_string(),
                column: column.to_string(),
            })
    }

    fn cast(
        &self,
        column: &str,
        to: &DataType,
        expected: &'static str,
    ) -> Result<arrow::array::ArrayRef, ReportError> {
        let c = self.column(column)?;
        cast(c, to).map_err(|_| ReportError::ColumnType {
            table: self.name.to_string(),
            column: column.to_string(),
            expected,
            found: c.data_type().to_string(),
        })
    }

    /// A numeric column as `f64`, nulls as NaN.
    pub fn f64s(&self, column: &str) -> Result<Vec<f64>, ReportError> {
        let a = self.cast(column, &DataType::Float64, "a number")?;
        let a = a.as_primitive::<Float64Type>();
        Ok((0..a.len())
            .map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) })
            .collect())
    }

    /// A numeric column as `f64`, nulls as `None`.
    pub fn opt_f64s(&self, column: &str) -> Result<Vec<Option<f64>>, ReportError> {
        let a = self.cast(column, &DataType::Float64, "a number")?;
        Ok(a.as_primitive::<Float64Type>().iter().collect())
    }

    /// A text column (nulls as empty strings).
    pub fn strings(&self, column: &str) -> Result<Vec<String>, ReportError> {
        let a = self.cast(column, &DataType::Utf8, "text")?;
        Ok(a.as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect())
    }

    /// A boolean column (nulls as false).
    pub fn bools(&self, column: &str) -> Result<Vec<bool>, ReportError> {
        let a = self.cast(column, &DataType::Boolean, "a boolean")?;
        Ok(a.as_boolean().iter().map(|b| b.unwrap_or(false)).collect())
    }
}
