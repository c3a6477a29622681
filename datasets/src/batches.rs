//! The four output schemas (the data contract of DATA.md, with the optional
//! `services.stratum` and `services.fpc`) and the conversion of simulated départements, services, users and visits into Arrow record
//! batches, with a coalescer that groups small per-service batches into batches of about
//! `TARGET_ROWS` rows so that batch boundaries depend only on row counts.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::Table;
use crate::calendar::{YearCalendar, slot_for};
use crate::error::GenerateError;
use crate::frame::{Frame, Stratum};
use crate::model::QUALIFICATIONS;
use crate::sim::{ServiceRow, UserSim};

/// Rows per emitted users or visits batch (a batch may be smaller at the end, or when one
/// service alone is larger).
pub(crate) const TARGET_ROWS: usize = 1 << 17;

fn field(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

/// The schema of a table.
pub fn schema(table: Table) -> SchemaRef {
    use DataType::{Boolean, Float64, Int32, Int64, Utf8};
    let fields = match table {
        Table::Departements => vec![
            field("departement", Utf8, false),
            field("name", Utf8, false),
            field("year", Int32, false),
            field("tarif_reference", Float64, false),
            field("pop_60_plus", Int64, false),
            field("pop_75_plus", Int64, false),
            field("apa_domicile", Int64, false),
            field("pch", Int64, false),
        ],
        Table::Services => vec![
            field("service_id", Utf8, false),
            field("departement", Utf8, false),
            field("status", Utf8, false),
            field("habilitated", Boolean, false),
            field("mixed", Boolean, false),
            field("design_weight", Float64, false),
            field("hours_apa", Float64, false),
            field("hours_pch", Float64, false),
            field("hours_social_aid", Float64, false),
            field("hours_other", Float64, false),
            field("tariff_hourly", Float64, true),
            field("price_billed", Float64, true),
            field("dotation_complementaire", Float64, false),
            field("cost_g1", Float64, false),
            field("cost_g2", Float64, false),
            field("cost_g3", Float64, false),
            field("cost_total", Float64, false),
            field("fte_carers", Float64, false),
            field("fte_support", Float64, false),
            field("stratum", Utf8, false),
            field("fpc", Float64, false),
        ],
        Table::Users => vec![
            field("user_id", Utf8, false),
            field("service_id", Utf8, false),
            field("allowance", Utf8, false),
            field("gir", Int32, true),
            field("plan_hours_month", Float64, false),
            field("plan_amount_month", Float64, false),
            field("pch_hours_month", Float64, true),
            field("resources_month", Float64, false),
            field("couple", Boolean, false),
            field("entourage", Int32, false),
            field("zone", Utf8, false),
            field("months_served", Float64, false),
        ],
        Table::Visits => vec![
            field("user_id", Utf8, false),
            field("service_id", Utf8, false),
            field(
                "start",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            field("duration_min", Float64, false),
            field("travel_min", Float64, false),
            field("travel_km", Float64, false),
            field("slot", Utf8, false),
            field("carers", Int32, false),
            field("qualification", Utf8, false),
        ],
    };
    Arc::new(Schema::new(fields))
}

fn batch(table: Table, columns: Vec<ArrayRef>) -> Result<RecordBatch, GenerateError> {
    RecordBatch::try_new(schema(table), columns).map_err(|source| GenerateError::Arrow {
        table: table.name(),
        source,
    })
}

/// The `departements` batch.
pub(crate) fn departements_batch(frame: &Frame, year: i32) -> Result<RecordBatch, GenerateError> {
    let d = &frame.depts;
    let strings = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..d.len()).map(f)))
    };
    let ints = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values((0..d.len()).map(f)))
    };
    batch(
        Table::Departements,
        vec![
            strings(&|i| d[i].record.code.clone()),
            strings(&|i| d[i].record.name.clone()),
            Arc::new(Int32Array::from(vec![year; d.len()])),
            Arc::new(Float64Array::from_iter_values(
                d.iter().map(|x| x.tarif_reference),
            )),
            ints(&|i| d[i].record.pop_60_plus),
            ints(&|i| d[i].record.pop_75_plus),
            ints(&|i| d[i].record.apa_domicile),
            ints(&|i| d[i].record.pch),
        ],
    )
}

/// The `services` batch, rows in the order given.
pub(crate) fn services_batch(
    frame: &Frame,
    strata: &[Stratum],
    rows: &[ServiceRow],
) -> Result<RecordBatch, GenerateError> {
    let svc = |r: &ServiceRow| &frame.services[r.selected.index];
    let f64s = |f: &dyn Fn(&ServiceRow) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
    };
    let bools = |f: &dyn Fn(&ServiceRow) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    batch(
        Table::Services,
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| svc(r).id.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter()
                    .map(|r| frame.depts[svc(r).dept].record.code.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| svc(r).status.as_str()),
            )),
            bools(&|r| svc(r).habilitated),
            bools(&|r| svc(r).mixed),
            f64s(&|r| r.selected.weight),
            f64s(&|r| r.hours[0]),
            f64s(&|r| r.hours[1]),
            f64s(&|r| r.hours[2]),
            f64s(&|r| r.hours[3]),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.tariff_hourly).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.price_billed).collect::<Vec<_>>(),
            )),
            f64s(&|r| r.dotation_complementaire),
            f64s(&|r| r.cost_groups[0]),
            f64s(&|r| r.cost_groups[1]),
            f64s(&|r| r.cost_groups[2]),
            f64s(&|r| r.cost_total),
            f64s(&|r| r.fte_carers),
            f64s(&|r| r.fte_support),
            Arc::new(StringArray::from_iter_values(
                rows.iter()
                    .map(|r| strata[r.selected.stratum].stratum.as_str()),
            )),
            f64s(&|r| strata[r.selected.stratum].frame_services as f64),
        ],
    )
}

/// `<service_id>-U<nnnnn>`: the id of a service's `k`-th user (0-based).
pub(crate) fn user_id(service_id: &str, k: usize) -> String {
    format!("{service_id}-U{:05}", k + 1)
}

/// The `users` batch of one service.
pub(crate) fn users_batch(
    service_id: &str,
    users: &[UserSim],
) -> Result<RecordBatch, GenerateError> {
    let n = users.len();
    let mut ids = StringBuilder::with_capacity(n, n * (service_id.len() + 7));
    for k in 0..n {
        ids.append_value(user_id(service_id, k));
    }
    let f64s = |f: &dyn Fn(&UserSim) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(users.iter().map(f)))
    };
    batch(
        Table::Users,
        vec![
            Arc::new(ids.finish()),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                service_id, n,
            ))),
            Arc::new(StringArray::from_iter_values(
                users.iter().map(|u| u.profile.allowance.as_str()),
            )),
            Arc::new(Int32Array::from(
                users
                    .iter()
                    .map(|u| u.profile.gir.map(i32::from))
                    .collect::<Vec<_>>(),
            )),
            f64s(&|u| u.plan_hours),
            f64s(&|u| u.plan_amount),
            Arc::new(Float64Array::from(
                users.iter().map(|u| u.pch_hours).collect::<Vec<_>>(),
            )),
            f64s(&|u| u.resources),
            Arc::new(BooleanArray::from(
                users.iter().map(|u| u.couple).collect::<Vec<_>>(),
            )),
            Arc::new(Int32Array::from_iter_values(
                users.iter().map(|u| i32::from(u.profile.entourage)),
            )),
            Arc::new(StringArray::from_iter_values(
                users.iter().map(|u| u.zone.as_str()),
            )),
            f64s(&|u| u.months_served),
        ],
    )
}

/// Column buffers of visits under construction.
struct VisitColumns {
    user_id: StringBuilder,
    start: Vec<i64>,
    duration: Vec<f64>,
    travel_min: Vec<f64>,
    travel_km: Vec<f64>,
    slot: StringBuilder,
    carers: Vec<i32>,
    qualification: StringBuilder,
}

impl VisitColumns {
    fn new(rows: usize) -> Self {
        Self {
            user_id: StringBuilder::with_capacity(rows, rows * 18),
            start: Vec::with_capacity(rows),
            duration: Vec::with_capacity(rows),
            travel_min: Vec::with_capacity(rows),
            travel_km: Vec::with_capacity(rows),
            slot: StringBuilder::with_capacity(rows, rows * 8),
            carers: Vec::with_capacity(rows),
            qualification: StringBuilder::with_capacity(rows, rows),
        }
    }

    fn len(&self) -> usize {
        self.start.len()
    }

    fn finish(&mut self, service_id: &str) -> Result<RecordBatch, GenerateError> {
        let n = self.len();
        batch(
            Table::Visits,
            vec![
                Arc::new(self.user_id.finish()),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                    service_id, n,
                ))),
                Arc::new(TimestampMicrosecondArray::from(std::mem::take(
                    &mut self.start,
                ))),
                Arc::new(Float64Array::from(std::mem::take(&mut self.duration))),
                Arc::new(Float64Array::from(std::mem::take(&mut self.travel_min))),
                Arc::new(Float64Array::from(std::mem::take(&mut self.travel_km))),
                Arc::new(self.slot.finish()),
                Arc::new(Int32Array::from(std::mem::take(&mut self.carers))),
                Arc::new(self.qualification.finish()),
            ],
        )
    }
}

/// The visits of one service's users on the days `from..to` of the year, as batches of at
/// most `TARGET_ROWS` rows, users in order and each user's visits in chronological order.
pub(crate) fn visits_batches(
    calendar: &YearCalendar,
    service_id: &str,
    users: &[UserSim],
    from: u16,
    to: u16,
) -> Result<Vec<RecordBatch>, GenerateError> {
    let expected: usize = users
        .iter()
        .map(|u| {
            let days = to.min(u.served_to).saturating_sub(from.max(u.served_from));
            u.pattern.len() * usize::from(days) / 7 + u.pattern.len()
        })
        .sum();
    let mut out = Vec::new();
    let mut cols = VisitColumns::new(expected.min(TARGET_ROWS));
    for (k, user) in users.iter().enumerate() {
        let id = user_id(service_id, k);
        user.for_each_visit(calendar, from, to, |day, v| {
            let holiday = calendar.holiday[usize::from(day)];
            cols.user_id.append_value(&id);
            cols.start.push(calendar.timestamp(day, v.minute));
            cols.duration.push(f64::from(v.duration));
            cols.travel_min.push(v.travel_min);
            cols.travel_km.push(v.travel_km);
            cols.slot
                .append_value(slot_for(v.weekday, v.minute, holiday).as_str());
            cols.carers.push(i32::from(v.carers));
            cols.qualification
                .append_value(QUALIFICATIONS[usize::from(v.qualification)]);
        });
        if cols.len() >= TARGET_ROWS {
            out.push(cols.finish(service_id)?);
        }
    }
    if cols.len() > 0 || out.is_empty() {
        out.push(cols.finish(service_id)?);
    }
    Ok(out)
}

/// Groups consecutive batches of one table into batches of about `TARGET_ROWS` rows before
/// handing them to the sink.
pub(crate) struct Coalescer {
    table: Table,
    pending: Vec<RecordBatch>,
    rows: usize,
}

impl Coalescer {
    pub(crate) fn new(table: Table) -> Self {
        Self {
            table,
            pending: Vec::new(),
            rows: 0,
        }
    }

    pub(crate) fn push(
        &mut self,
        batch: RecordBatch,
        sink: &mut dyn FnMut(Table, RecordBatch) -> Result<(), GenerateError>,
    ) -> Result<(), GenerateError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.rows + batch.num_rows() > TARGET_ROWS {
            self.flush(sink)?;
        }
        self.rows += batch.num_rows();
        self.pending.push(batch);
        if self.rows >= TARGET_ROWS {
            self.flush(sink)?;
        }
        Ok(())
    }

    pub(crate) fn flush(
        &mut self,
        sink: &mut dyn FnMut(Table, RecordBatch) -> Result<(), GenerateError>,
    ) -> Result<(), GenerateError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let merged = match self.pending.as_slice() {
            [single] => single.clone(),
            many => {
                arrow::compute::concat_batches(&schema(self.table), many).map_err(|source| {
                    GenerateError::Arrow {
                        table: self.table.name(),
                        source,
                    }
                })?
            }
        };
        self.pending.clear();
        self.rows = 0;
        sink(self.table, merged)
    }
}
