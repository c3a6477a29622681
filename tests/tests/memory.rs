//! Memory as a tested property: the peak allocation while visits are validated and
//! aggregated does not grow with the number of visits. A counting global allocator (this
//! test binary's own) records the peak above the frame's tables while 2×10⁶ and then
//! 8×10⁶ visits of the same users and services stream through the core's `VisitCheck`,
//! one generated record batch at a time; the peaks must differ by less than 10 %.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int32Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Field, Int32Type, Schema};
use dotation_core::schema::TableKind;
use dotation_core::validate::{ValidateOptions, check_frame};
use dotation_datasets::SurveyConfig;
use dotation_server::data::embedded;
use dotation_server::io::Tables;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = IN_USE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Rows per generated batch, as a Parquet reader hands them over.
const BATCH: usize = 1 << 16;

/// Streams `visits` synthetic visits of the frame's users through a visits check and
/// returns the peak bytes allocated above what was in use before.
fn peak_while_aggregating(visits: usize) -> usize {
    let raw = match embedded(&SurveyConfig::default())
        .expect("generates")
        .tables
    {
        Tables::Memory(raw) => raw,
        Tables::Files(_) => unreachable!("in memory"),
    };
    let frame = check_frame(
        &raw.departements,
        &raw.services,
        &raw.users,
        &ValidateOptions::default(),
    );
    assert!(frame.is_valid());
    // Users and their services, as dictionaries (each batch shares them, as Parquet's
    // dictionary pages do).
    let users = &raw.users.batches;
    let user_ids: Vec<String> = users
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name("user_id").expect("user_id");
            let a = arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).expect("text");
            let a = a
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8")
                .clone();
            (0..a.len())
                .map(move |i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let service_ids: Vec<String> = users
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name("service_id").expect("service_id");
            let a = arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).expect("text");
            let a = a
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8")
                .clone();
            (0..a.len())
                .map(move |i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    drop(raw.visits);
    let user_dict: ArrayRef = Arc::new(StringArray::from(user_ids.clone()));
    let service_dict: ArrayRef = Arc::new(StringArray::from(service_ids));
    let slot_dict: ArrayRef = Arc::new(StringArray::from(vec!["weekday", "evening"]));
    let q_dict: ArrayRef = Arc::new(StringArray::from(vec!["A", "B", "C"]));
    let n_users = user_ids.len();
    drop(user_ids);

    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut check = frame.check_visits("synthetic visits");
    let mut done = 0;
    while done < visits {
        let len = BATCH.min(visits - done);
        // Each user's visits together, users in order, cycling over the frame.
        let user: Vec<i32> = (0..len)
            .map(|i| (((done + i) / 20) % n_users) as i32)
            .collect();
        let dict = |keys: Vec<i32>, values: &ArrayRef| -> ArrayRef {
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values.clone())
                    .expect("keys in range"),
            )
        };
        let columns: Vec<ArrayRef> = vec![
            dict(user.clone(), &user_dict),
            dict(user.clone(), &service_dict),
            Arc::new(TimestampMicrosecondArray::from(
                (0..len)
                    .map(|i| 1_767_225_600_000_000 + ((done + i) % 1_000) as i64 * 3_600_000_000)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(vec![45.0; len])),
            Arc::new(Float64Array::from(vec![12.0; len])),
            Arc::new(Float64Array::from(vec![4.5; len])),
            dict((0..len).map(|i| (i % 2) as i32).collect(), &slot_dict),
            Arc::new(Int32Array::from(vec![1; len])),
            dict((0..len).map(|i| (i % 3) as i32).collect(), &q_dict),
        ];
        let fields: Vec<Field> = TableKind::Visits
            .columns()
            .iter()
            .zip(&columns)
            .map(|(c, a)| Field::new(c.name, a.data_type().clone(), false))
            .collect();
        let batch =
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("a visits batch");
        check.push(&batch);
        done += len;
    }
    let checked = check.finish();
    assert_eq!(checked.rows, visits as u64);
    let dataset = frame.finish(Some(checked)).expect("valid");
    assert_eq!(dataset.drivers.visits, Some(visits as u64));
    PEAK.load(Ordering::Relaxed) - base
}

#[test]
fn peak_memory_does_not_grow_with_the_visits() {
    let small = peak_while_aggregating(2_000_000);
    let large = peak_while_aggregating(8_000_000);
    let ratio = large as f64 / small as f64;
    println!(
        "peak above the frame: {:.1} MB for 2e6 visits, {:.1} MB for 8e6 ({ratio:.3}×)",
        small as f64 / 1e6,
        large as f64 / 1e6
    );
    assert!(
        (ratio - 1.0).abs() < 0.10,
        "peak allocation grows with the visits: {small} B for 2e6, {large} B for 8e6"
    );
}
