//! Writes a bench dataset as Parquet and times dotation on it, for
//! `benches/peer/aggregate.py`, which times polars on the same files in the same run.
//!
//! Usage: `aggregate_peer DIR VISITS REPEATS` — prints one JSON object of median seconds.

use std::time::Instant;

use dotation_benches::{Size, dataset, median};
use dotation_core::schema::TableKind;
use dotation_core::validate::{ValidateOptions, validate};
use dotation_server::data::load;
use dotation_server::io::{Output, read_dataset};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    let visits: usize = args
        .get(2)
        .map_or(10_000_000, |s| s.parse().expect("VISITS"));
    let repeats: usize = args.get(3).map_or(5, |s| s.parse().expect("REPEATS"));
    let size = if visits <= Size::SURVEY.visits {
        Size {
            visits,
            ..Size::SURVEY
        }
    } else {
        Size {
            visits,
            ..Size::TEN_MILLION
        }
    };
    let raw = dataset(size, 42);
    let mut out = Output::new(&dir).expect("output folder");
    for t in TableKind::ALL {
        let name = format!("{}.parquet", t.name());
        let src = raw.get(t).expect("every table");
        let mut w = out
            .parquet_writer(&name, src.batches[0].schema())
            .expect("writer");
        for b in &src.batches {
            w.write(b).expect("write");
        }
        w.close().expect("close");
    }
    out.commit().expect("commit");
    drop(raw);

    let (mut read, mut check, mut total) = (vec![], vec![], vec![]);
    for _ in 0..repeats {
        // The tables read whole, then validated and aggregated in memory.
        let t0 = Instant::now();
        let raw = read_dataset(&dir).expect("read");
        let t1 = Instant::now();
        let d = validate(&raw, &ValidateOptions::default()).expect("valid");
        let t2 = Instant::now();
        std::hint::black_box(&d);
        drop((raw, d));
        // The product's path: the visits streamed from the file, decoded in parallel.
        let t3 = Instant::now();
        let d = load(Some(&dir))
            .expect("a folder")
            .validate(&ValidateOptions::default(), &|_| {})
            .expect("valid");
        let t4 = Instant::now();
        std::hint::black_box(&d);
        read.push((t1 - t0).as_secs_f64());
        check.push((t2 - t1).as_secs_f64());
        total.push((t4 - t3).as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "visits": visits,
            "threads": rayon::current_num_threads(),
            "read_parquet": median(read),
            "validate": median(check),
            "total": median(total),
        })
    );
}
