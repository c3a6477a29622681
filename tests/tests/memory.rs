//! Memory as a tested property: the peak allocation while visits are validated and
//! aggregated does not grow with the number of visits. A counting global allocator (this
//! test binary's own) records the peak above the frame's tables while 2×10⁶ and then
//! 8×10⁶ visits of the same users and services stream through the core's `VisitCheck`,
//! one generated record batch at a time; the peaks must differ by less than 10 %. The same
//! for a Flight upload (`DoPut`) of 2.5×10⁶ and 10⁷ visits to a server in this process.

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

/// The counters are global: the tests of this binary measure one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Rows per generated batch, as a Parquet reader hands them over.
const BATCH: usize = 1 << 16;

/// Synthetic visits of a frame's users, each user's visits together, users in order,
/// cycling over the frame; keys as dictionaries shared by every batch (as Parquet's
/// dictionary pages are).
struct VisitGenerator {
    user_dict: ArrayRef,
    service_dict: ArrayRef,
    slot_dict: ArrayRef,
    q_dict: ArrayRef,
    users: usize,
}

impl VisitGenerator {
    fn new(user_ids: Vec<String>, service_ids: Vec<String>) -> VisitGenerator {
        VisitGenerator {
            users: user_ids.len(),
            user_dict: Arc::new(StringArray::from(user_ids)),
            service_dict: Arc::new(StringArray::from(service_ids)),
            slot_dict: Arc::new(StringArray::from(vec!["weekday", "evening"])),
            q_dict: Arc::new(StringArray::from(vec!["A", "B", "C"])),
        }
    }

    /// Visits `done..done + len`.
    fn batch(&self, done: usize, len: usize) -> RecordBatch {
        let user: Vec<i32> = (0..len)
            .map(|i| (((done + i) / 20) % self.users) as i32)
            .collect();
        let dict = |keys: Vec<i32>, values: &ArrayRef| -> ArrayRef {
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values.clone())
                    .expect("keys in range"),
            )
        };
        let columns: Vec<ArrayRef> = vec![
            dict(user.clone(), &self.user_dict),
            dict(user, &self.service_dict),
            Arc::new(TimestampMicrosecondArray::from(
                (0..len)
                    .map(|i| 1_767_225_600_000_000 + ((done + i) % 1_000) as i64 * 3_600_000_000)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(vec![45.0; len])),
            Arc::new(Float64Array::from(vec![12.0; len])),
            Arc::new(Float64Array::from(vec![4.5; len])),
            dict((0..len).map(|i| (i % 2) as i32).collect(), &self.slot_dict),
            Arc::new(Int32Array::from(vec![1; len])),
            dict((0..len).map(|i| (i % 3) as i32).collect(), &self.q_dict),
        ];
        let fields: Vec<Field> = TableKind::Visits
            .columns()
            .iter()
            .zip(&columns)
            .map(|(c, a)| Field::new(c.name, a.data_type().clone(), false))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("a visits batch")
    }
}

/// The embedded survey's user ids and their services' ids, in user order.
fn frame_keys(raw: &dotation_core::validate::RawDataset) -> (Vec<String>, Vec<String>) {
    let column = |name: &str| -> Vec<String> {
        raw.users
            .batches
            .iter()
            .flat_map(|b| {
                let a = b.column_by_name(name).expect("a users column");
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
            .collect()
    };
    (column("user_id"), column("service_id"))
}

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
    let (user_ids, service_ids) = frame_keys(&raw);
    drop(raw.visits);
    let visits_of = VisitGenerator::new(user_ids, service_ids);

    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut check = frame.check_visits("synthetic visits");
    let mut done = 0;
    while done < visits {
        let len = BATCH.min(visits - done);
        let batch = visits_of.batch(done, len);
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
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A first run makes the one-time allocations (thread pools, per-thread caches).
    peak_while_aggregating(BATCH * 9);
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

/// Uploads `visits` synthetic visits through `DoPut` to a server in this process (the
/// frame's tables first), and returns the peak bytes allocated above what was in use
/// before the visits upload, client and server together.
fn peak_while_uploading(visits: usize) -> usize {
    use arrow_flight::FlightDescriptor;
    use arrow_flight::encode::FlightDataEncoderBuilder;
    use futures::TryStreamExt;

    const TOKEN: &str = "memory-test-token";
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let data_dir = tempfile::tempdir().expect("tmp");
        let mut config = dotation_server::flight::Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: data_dir.path().to_path_buf(),
            ..dotation_server::flight::Config::default()
        };
        use sha2::Digest;
        config.auth.tokens = vec![dotation_server::flight::config::TokenConfig {
            user: "memory".into(),
            sha256: hex::encode(sha2::Sha256::digest(TOKEN.as_bytes())),
        }];
        let server = dotation_server::flight::Server::start(config)
            .await
            .expect("starts");
        let mut client =
            dotation_tests::flight_client::connect_with_token(&server.addr().to_string(), TOKEN)
                .await
                .expect("connects");
        let raw = match embedded(&SurveyConfig::default())
            .expect("generates")
            .tables
        {
            Tables::Memory(raw) => raw,
            Tables::Files(_) => unreachable!("in memory"),
        };
        let (user_ids, service_ids) = frame_keys(&raw);
        for (t, src) in [
            (TableKind::Departements, &raw.departements),
            (TableKind::Services, &raw.services),
            (TableKind::Users, &raw.users),
        ] {
            let descriptor = FlightDescriptor::new_path(vec![
                "datasets".into(),
                "national".into(),
                t.name().into(),
            ]);
            let data = FlightDataEncoderBuilder::new()
                .with_flight_descriptor(Some(descriptor))
                .build(futures::stream::iter(
                    src.batches.clone().into_iter().map(Ok),
                ));
            let _: Vec<_> = client
                .do_put(data)
                .await
                .expect("accepted")
                .try_collect()
                .await
                .expect("a summary");
        }
        drop(raw);
        let visits_of = Arc::new(VisitGenerator::new(user_ids, service_ids));

        let base = IN_USE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let descriptor =
            FlightDescriptor::new_path(vec!["datasets".into(), "national".into(), "visits".into()]);
        // Generated lazily: the client holds one batch at a time.
        let batches = futures::stream::iter((0..visits.div_ceil(BATCH)).map(move |k| {
            let done = k * BATCH;
            Ok(visits_of.batch(done, BATCH.min(visits - done)))
        }));
        let data = FlightDataEncoderBuilder::new()
            .with_flight_descriptor(Some(descriptor))
            .build(batches);
        let results: Vec<_> = client
            .do_put(data)
            .await
            .expect("a valid upload")
            .try_collect()
            .await
            .expect("a summary");
        let peak = PEAK.load(Ordering::Relaxed) - base;
        let summary: serde_json::Value =
            serde_json::from_slice(&results[0].app_metadata).expect("JSON");
        assert_eq!(summary["rows"], visits as u64, "{summary}");
        assert_eq!(summary["visits"], true, "{summary}");
        server.shutdown().await;
        peak
    })
}

#[test]
fn a_large_flight_upload_keeps_the_server_memory_bounded() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    peak_while_uploading(BATCH * 9);
    // The batches in flight (decoded, queued for the blob's writer, in the wave being
    // checked) depend on which stage is ahead at a given moment, and a longer upload meets
    // more of those moments: the peak of an upload is the most of a bounded, jittering
    // quantity. The most over three uploads of each size approaches that bound for both;
    // an upload held whole would make the larger one 4× the smaller.
    let most = |visits: usize| {
        (0..3)
            .map(|_| peak_while_uploading(visits))
            .max()
            .expect("runs")
    };
    let small = most(2_500_000);
    let large = most(10_000_000);
    let ratio = large as f64 / small as f64;
    println!(
        "peak during the upload: {:.1} MB for 2.5e6 visits, {:.1} MB for 1e7 ({ratio:.3}×)",
        small as f64 / 1e6,
        large as f64 / 1e6
    );
    assert!(
        ratio < 1.5,
        "peak allocation grows with the upload: {small} B for 2.5e6 visits, {large} B for 1e7"
    );
}
