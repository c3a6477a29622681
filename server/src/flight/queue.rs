//! The job queue: a bounded first-in first-out queue and a fixed number of workers. Each
//! worker runs one job at a time on a blocking thread (`spawn_blocking`; the computation
//! itself uses rayon), so the async runtime only moves requests and bytes.
//!
//! The catalogue is the truth about every job; this module keeps in memory what changes
//! too often to be written there (progress) and what only lives while a job does (its
//! cancel flag). On start, jobs left `queued` are queued again, and jobs left `running`
//! by a stopped server are run again, up to `max_restarts` times, then marked failed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dotation_solver::job::AppliedCalibration;
use dotation_solver::spec::{JobKind, JobSpec};
use parking_lot::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::config::Limits;
use super::datasets;
use super::store::{JobRecord, JobState, Store};
use crate::error::ServerError;
use crate::jobs::{self, JobContext};

/// A job waiting or running.
#[derive(Debug)]
struct Live {
    owner: String,
    cancel: Arc<AtomicBool>,
    /// Progress as `f64` bits.
    progress: Arc<AtomicU64>,
    running: bool,
    /// Cancelled by its owner (rather than interrupted by a server stop).
    cancelled_by_owner: bool,
}

#[derive(Debug, Default)]
struct QueueState {
    pending: VecDeque<String>,
    live: HashMap<String, Live>,
    paused: bool,
    stopping: bool,
}

/// The job queue and its workers.
#[derive(Debug)]
pub struct Queue {
    store: Arc<Store>,
    limits: Limits,
    state: Mutex<QueueState>,
    wake: Notify,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// What a cancellation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was waiting or running and is now cancelled.
    Cancelled,
    /// The job had already finished (done, failed or cancelled).
    AlreadyFinal(JobState),
}

impl Queue {
    /// Recovers the catalogue's unfinished jobs and starts the workers (on the current
    /// tokio runtime).
    pub fn start(store: Arc<Store>, limits: Limits) -> Result<Arc<Queue>, ServerError> {
        let mut state = QueueState::default();
        for job in store.jobs_in(JobState::Running)? {
            let attempts = store.add_attempt(&job.id)?;
            if attempts > limits.max_restarts {
                let msg = format!(
                    "the server stopped while the job was running, {attempts} times; it is not run again"
                );
                store.set_state(
                    &job.id,
                    JobState::Failed,
                    Some(&msg),
                    Some(&(tonic::Code::Aborted as i32).to_string()),
                )?;
            } else {
                store.set_state(&job.id, JobState::Queued, None, None)?;
            }
        }
        for job in store.jobs_in(JobState::Queued)? {
            state.pending.push_back(job.id.clone());
            state
                .live
                .insert(job.id.clone(), Live::new(job.owner.clone()));
        }
        let queue = Arc::new(Queue {
            store,
            limits,
            state: Mutex::new(state),
            wake: Notify::new(),
            workers: Mutex::new(Vec::new()),
        });
        let mut workers = queue.workers.lock();
        for _ in 0..queue.limits.max_running_jobs {
            let q = Arc::clone(&queue);
            workers.push(tokio::spawn(async move { q.work().await }));
        }
        drop(workers);
        Ok(queue)
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock()
    }

    /// Adds a job (its record already resolved: data, key). A job whose result is already
    /// stored is done at once. Refused with `ResourceExhausted` when the queue, or the
    /// owner's share of it, is full.
    pub fn submit(&self, mut job: JobRecord) -> Result<JobRecord, ServerError> {
        let mut st = self.lock();
        if st.stopping {
            return Err(ServerError::FailedPrecondition(
                "the server is stopping".into(),
            ));
        }
        if self.store.result_tables(&job.key)?.is_some() {
            job.state = JobState::Done;
            job.seq = self.store.insert_job(&job)?;
            return Ok(job);
        }
        if st.pending.len() >= self.limits.max_queued_jobs {
            return Err(ServerError::ResourceExhausted(format!(
                "the job queue is full ({} jobs waiting); try again later",
                st.pending.len()
            )));
        }
        let mine = st.live.values().filter(|l| l.owner == job.owner).count();
        if mine >= self.limits.max_jobs_per_user {
            return Err(ServerError::ResourceExhausted(format!(
                "you have {mine} jobs waiting or running, the most allowed; wait for some to finish"
            )));
        }
        job.state = JobState::Queued;
        job.seq = self.store.insert_job(&job)?;
        st.pending.push_back(job.id.clone());
        st.live.insert(job.id.clone(), Live::new(job.owner.clone()));
        drop(st);
        self.wake.notify_one();
        Ok(job)
    }

    /// Progress of a waiting or running job (0 while waiting).
    pub fn progress(&self, id: &str) -> Option<f64> {
        self.lock()
            .live
            .get(id)
            .map(|l| f64::from_bits(l.progress.load(Ordering::Relaxed)))
    }

    /// Cancels a job: a waiting job leaves the queue; a running one is told to stop and
    /// is marked cancelled at once (its worker discards whatever it computes).
    pub fn cancel(&self, id: &str) -> Result<CancelOutcome, ServerError> {
        let mut st = self.lock();
        let Some(live) = st.live.get_mut(id) else {
            let job = self
                .store
                .job(id)?
                .ok_or_else(|| ServerError::NotFound(format!("no job {id}")))?;
            return Ok(CancelOutcome::AlreadyFinal(job.state));
        };
        live.cancel.store(true, Ordering::Relaxed);
        live.cancelled_by_owner = true;
        let running = live.running;
        if !running {
            st.pending.retain(|p| p != id);
            st.live.remove(id);
        }
        self.store.set_state(
            id,
            JobState::Cancelled,
            Some("cancelled by its owner"),
            Some(&(tonic::Code::Cancelled as i32).to_string()),
        )?;
        Ok(CancelOutcome::Cancelled)
    }

    /// Stops (or resumes) starting queued jobs; running jobs go on. Used to drain a server
    /// before maintenance, and by tests to hold jobs in the queue.
    pub fn set_paused(&self, paused: bool) {
        self.lock().paused = paused;
        self.wake.notify_waiters();
        if !paused {
            for _ in 0..self.limits.max_running_jobs {
                self.wake.notify_one();
            }
        }
    }

    /// Stops the workers: running jobs are interrupted and left queued in the catalogue,
    /// to run again at the next start.
    pub async fn shutdown(&self) {
        {
            let mut st = self.lock();
            st.stopping = true;
            for l in st.live.values() {
                if l.running {
                    l.cancel.store(true, Ordering::Relaxed);
                }
            }
        }
        self.wake.notify_waiters();
        for _ in 0..self.limits.max_running_jobs {
            self.wake.notify_one();
        }
        let workers = std::mem::take(&mut *self.workers.lock());
        for w in workers {
            let _ = w.await;
        }
    }

    /// Takes the next job to run, waiting while there is none (or while paused).
    async fn next(&self) -> Option<(String, Arc<AtomicBool>, Arc<AtomicU64>)> {
        loop {
            let notified = self.wake.notified();
            {
                let mut st = self.lock();
                if st.stopping {
                    return None;
                }
                if !st.paused
                    && let Some(id) = st.pending.pop_front()
                {
                    let live = st.live.get_mut(&id).expect("a pending job is live");
                    live.running = true;
                    return Some((id, live.cancel.clone(), live.progress.clone()));
                }
            }
            notified.await;
        }
    }

    async fn work(self: Arc<Self>) {
        while let Some((id, cancel, progress)) = self.next().await {
            if let Err(e) = self.run_one(&id, cancel, progress).await {
                tracing::error!("job {id}: {e}");
            }
            // Another job may be waiting.
            self.wake.notify_one();
        }
    }

    async fn run_one(
        &self,
        id: &str,
        cancel: Arc<AtomicBool>,
        progress: Arc<AtomicU64>,
    ) -> Result<(), ServerError> {
        if !self
            .store
            .transition(id, JobState::Queued, JobState::Running)?
        {
            // Cancelled between the queue and here.
            self.lock().live.remove(id);
            return Ok(());
        }
        let job = self
            .store
            .job(id)?
            .ok_or_else(|| ServerError::NotFound(format!("no job {id}")))?;
        let store = Arc::clone(&self.store);
        let ctx = JobContext {
            progress: Arc::new(move |f: f64| {
                progress.store(f.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
            }),
            cancel,
        };
        let result = tokio::task::spawn_blocking(move || execute(&store, &job, &ctx))
            .await
            .unwrap_or_else(|e| Err(ServerError::Internal(format!("the job panicked: {e}"))));
        let mut st = self.lock();
        let live = st.live.remove(id);
        let by_owner = live.as_ref().is_some_and(|l| l.cancelled_by_owner);
        if by_owner {
            // Already marked cancelled; whatever was computed stays unused.
            return Ok(());
        }
        match result {
            Ok(()) => self.store.set_state(id, JobState::Done, None, None)?,
            Err(ServerError::Cancelled) if st.stopping => {
                self.store.set_state(id, JobState::Queued, None, None)?
            }
            Err(e) => {
                let code = super::status::code(&e) as i32;
                self.store.set_state(
                    id,
                    JobState::Failed,
                    Some(&e.to_string()),
                    Some(&code.to_string()),
                )?
            }
        }
        Ok(())
    }
}

impl Live {
    fn new(owner: String) -> Live {
        Live {
            owner,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(AtomicU64::new(0f64.to_bits())),
            running: false,
            cancelled_by_owner: false,
        }
    }
}

/// Runs one job to its stored result (a blocking thread).
fn execute(store: &Store, job: &JobRecord, ctx: &JobContext) -> Result<(), ServerError> {
    if store.result_tables(&job.key)?.is_some() {
        return Ok(());
    }
    let spec = jobs::parse_spec(&job.spec)?;
    let source = applied_source(store, job, &spec)?;
    let data = datasets::load_for_job(store, job)?;
    crate::faults::point(store.dir(), crate::faults::Point::RunJob)?;
    let output = jobs::run_spec_with(&spec, &data, source.as_ref(), ctx)?;
    if ctx.cancel.load(Ordering::Relaxed) {
        return Err(ServerError::Cancelled);
    }
    store.commit_result(&job.key, &output)?;
    Ok(())
}

/// The calibration an apply job applies, read from its source job's stored result (checked
/// at submission: a finished calibration of the same user; checked again here, the
/// catalogue being the truth). `None` for other kinds.
fn applied_source(
    store: &Store,
    job: &JobRecord,
    spec: &JobSpec,
) -> Result<Option<AppliedCalibration>, ServerError> {
    if spec.kind != JobKind::Apply {
        return Ok(None);
    }
    let id = spec
        .apply
        .as_ref()
        .and_then(|a| a.source.as_deref())
        .map(str::trim)
        .ok_or_else(|| {
            ServerError::BadRequest("apply.source: the id of a calibration job is required".into())
        })?;
    let source = match store.job(id)? {
        Some(s) if s.owner == job.owner => s,
        _ => return Err(ServerError::NotFound(format!("no job {id}"))),
    };
    if source.state != JobState::Done {
        return Err(ServerError::FailedPrecondition(format!(
            "apply.source: job {id} is {}: it has no calibration to apply",
            source.state.name()
        )));
    }
    let calibration = crate::applied::read(&store.result_dir(&source.key), &format!("job {id}"))?;
    Ok(Some(calibration))
}
