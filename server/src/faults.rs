//! Fault injection, for the tests of what the server does when things go wrong: named
//! points of the server where a test arms a fault — a panic, or a write failing as on a
//! full disk — for one data directory, a number of times. Only the library's API arms
//! them (no flag, no environment variable); unarmed, a point costs one atomic load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::error::ServerError;

/// What an armed point does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Panics (a bug in a request's handler or a job).
    Panic,
    /// Fails like a write on a full disk (`ENOSPC`).
    DiskFull,
    /// Waits, then goes on (a window for a test to kill the process there).
    Delay(std::time::Duration),
}

/// The points where faults can be armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// Handling a Flight action, before it runs.
    Action,
    /// Running a job, once its data is loaded (the job is `running`).
    RunJob,
    /// Writing a job's result, after its first table is written.
    CommitResult,
}

#[derive(Debug)]
struct Armed {
    dir: PathBuf,
    point: Point,
    fault: Fault,
    times: u32,
}

static ANY: AtomicBool = AtomicBool::new(false);
static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

/// Arms `fault` at `point` for the server of data directory `dir`, for its next `times`
/// passages.
pub fn arm(dir: &Path, point: Point, fault: Fault, times: u32) {
    ARMED.lock().push(Armed {
        dir: dir.to_path_buf(),
        point,
        fault,
        times,
    });
    ANY.store(true, Ordering::Release);
}

/// Disarms every fault of data directory `dir`.
pub fn disarm(dir: &Path) {
    let mut armed = ARMED.lock();
    armed.retain(|a| a.dir != dir);
    ANY.store(!armed.is_empty(), Ordering::Release);
}

/// Passes a point: does what a fault armed there says, if any.
pub(crate) fn point(dir: &Path, point: Point) -> Result<(), ServerError> {
    if !ANY.load(Ordering::Acquire) {
        return Ok(());
    }
    let fault = {
        let mut armed = ARMED.lock();
        let hit = armed
            .iter_mut()
            .find(|a| a.point == point && a.times > 0 && a.dir == dir);
        hit.map(|a| {
            a.times -= 1;
            a.fault
        })
    };
    match fault {
        None => Ok(()),
        Some(Fault::Panic) => panic!("fault injected at {point:?}"),
        Some(Fault::DiskFull) => Err(ServerError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::from_raw_os_error(28),
        }),
        Some(Fault::Delay(d)) => {
            std::thread::sleep(d);
            Ok(())
        }
    }
}
