//! Threads of their own, at a lower priority, for the CPU-heavy steps of a request:
//! bcrypt (a quarter of a second at cost 12) and RS256 signing (half a millisecond).
//!
//! Either would hold an async worker for far longer than a Verify takes, so neither
//! runs on the runtime. A [`Pool`] runs them on `threads` threads of its own, which on
//! Linux lower their priority to nice [`NICE`] as they start: when a core is wanted by
//! both, the scheduler gives it to the request path first, so this work never holds
//! up a Verify by a time slice; when the core is otherwise idle, the pool gets all of
//! it. At most `queue` more jobs may wait for a thread; past that the caller gets
//! [`OffloadError::Busy`] at once instead of an unbounded queue.
//!
//! A job whose caller has gone (its future dropped) is skipped, not run. A job that
//! panics answers its caller [`OffloadError::Lost`]; its thread, and the answers it
//! holds for other callers, carry on.
//!
//! **Answers are handed back in batches.** Handing an answer back wakes the async
//! worker, which (at the higher priority) takes the core from the pool's thread at
//! once: two thread switches per job. So a pool thread that finds more jobs waiting
//! runs them first, and hands back what it holds when the queue is empty or [`HOLD`]
//! has passed since the first job it holds an answer for began, whichever comes
//! first. A bcrypt or argon2 job takes longer than that on its own, so its answer is
//! never held; signatures are answered a few at a time under load (an answer waits
//! for at most about a millisecond of other signatures) and at once otherwise.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit, oneshot};

/// The nice value of a pool's threads (Linux): below the request path, which runs at
/// the process's own priority.
pub const NICE: i32 = 10;

/// The longest a pool thread holds a finished job's answer while it runs the next
/// waiting ones (see the module doc).
pub const HOLD: Duration = Duration::from_millis(1);

/// Why a job did not run.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    /// The queue is full.
    #[error("the queue is full")]
    Busy,
    /// The job panicked, or the pool's thread could not start.
    #[error("the worker thread failed")]
    Lost,
}

/// A job runs its work and returns how to hand the answer back (`None` when its
/// caller has gone and the work was skipped).
type Job = Box<dyn FnOnce() -> Option<Answer> + Send>;

/// Hands a finished job's answer to its caller.
type Answer = Box<dyn FnOnce() + Send>;

/// Which queue a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Served first: the work a waiting user needs now (a login's verify, a signature).
    First,
    /// Served only when no first-lane job waits, and admitted only while it holds
    /// less than half of the pool's room: work that must not crowd out the first
    /// lane (a registration's hash).
    Second,
}

/// A fixed set of low-priority threads and their bounded two-lane queue. Cheap to
/// clone; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// Held from admission to answer: bounds the running and the waiting together.
    admitted: Semaphore,
    /// The permits `admitted` started with.
    room: usize,
    /// The second lane's share of `admitted`.
    second: Semaphore,
    queue: Arc<Queue>,
}

/// The jobs waiting, by lane, and the signal that one arrived.
#[derive(Default)]
struct Queue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
}

#[derive(Default)]
struct Lanes {
    first: VecDeque<Job>,
    second: VecDeque<Job>,
    closed: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.queue
            .lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.queue.ready.notify_all();
    }
}

impl Pool {
    /// Starts `threads` threads (at least one) named `{name}-{i}`, with room for
    /// `queue` jobs waiting beyond those running.
    pub fn new(name: &str, threads: usize, queue: usize) -> Result<Self, OffloadError> {
        let threads = threads.max(1);
        let jobs = Arc::new(Queue::default());
        for i in 0..threads {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || worker(&jobs))
                .map_err(|_| OffloadError::Lost)?;
        }
        let room = threads.saturating_add(queue);
        Ok(Self {
            inner: Arc::new(Inner {
                admitted: Semaphore::new(room),
                room,
                second: Semaphore::new((room / 2).max(1)),
                queue: jobs,
            }),
        })
    }

    /// How many jobs are admitted now: running, or waiting for a thread.
    pub fn load(&self) -> usize {
        self.inner
            .room
            .saturating_sub(self.inner.admitted.available_permits())
    }

    /// Runs `work` in the first lane; see [`Pool::run_in`].
    pub async fn run<T, F>(&self, work: F) -> Result<T, OffloadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_in(Lane::First, work).await
    }

    /// Runs `work` on one of the pool's threads and answers its result, or `Busy` at
    /// once when the pool (or, for the second lane, its share) is full. The caller's
    /// tracing span is carried over.
    pub async fn run_in<T, F>(&self, lane: Lane, work: F) -> Result<T, OffloadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _share = match lane {
            Lane::First => None,
            Lane::Second => Some(
                self.inner
                    .second
                    .try_acquire()
                    .map_err(|_| OffloadError::Busy)?,
            ),
        };
        let _admitted = self
            .inner
            .admitted
            .try_acquire()
            .map_err(|_| OffloadError::Busy)?;
        self.submit(lane, work).await
    }

    /// Room for one first-lane job, taken now: for work that must not be refused
    /// after a step that cannot be undone (a refresh signs after its rotation).
    pub fn reserve(&self) -> Result<Seat<'_>, OffloadError> {
        let admitted = self
            .inner
            .admitted
            .try_acquire()
            .map_err(|_| OffloadError::Busy)?;
        Ok(Seat {
            pool: self,
            _admitted: admitted,
        })
    }

    /// Queues `work` (its room is held by the caller) and waits for its answer.
    async fn submit<T, F>(&self, lane: Lane, work: F) -> Result<T, OffloadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            // Whoever asked is gone: skip the work.
            if answer.is_closed() {
                return None;
            }
            let result = span.in_scope(work);
            Some(Box::new(move || {
                let _ = answer.send(result);
            }) as Answer)
        });
        {
            let mut lanes = self
                .inner
                .queue
                .lanes
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match lane {
                Lane::First => lanes.first.push_back(job),
                Lane::Second => lanes.second.push_back(job),
            }
        }
        self.inner.queue.ready.notify_one();
        result.await.map_err(|_| OffloadError::Lost)
    }
}

/// Room on a [`Pool`] for one first-lane job, held until the job has run (or the
/// seat is dropped).
pub struct Seat<'a> {
    pool: &'a Pool,
    _admitted: SemaphorePermit<'a>,
}

impl Seat<'_> {
    /// Runs `work` in the seat's room: never `Busy`.
    pub async fn run<T, F>(self, work: F) -> Result<T, OffloadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.pool.submit(Lane::First, work).await
    }
}

#[cfg(test)]
impl Pool {
    /// How many jobs wait in the first and the second lane.
    fn waiting(&self) -> (usize, usize) {
        let lanes = self.inner.queue.lanes.lock().unwrap();
        (lanes.first.len(), lanes.second.len())
    }

    /// Waits until `waiting` says `lanes`.
    async fn until_waiting(&self, lanes: (usize, usize)) {
        while self.waiting() != lanes {
            tokio::task::yield_now().await;
        }
    }
}

/// A pool thread: lowers its own priority, then runs jobs, first lane first, until
/// the pool is dropped; answers are held while more jobs wait, for [`HOLD`] at most.
fn worker(queue: &Queue) {
    lower_priority();
    let mut held: Vec<Answer> = Vec::new();
    let mut holding_since = Instant::now();
    loop {
        let job = {
            let mut lanes = queue.lanes.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = lanes.first.pop_front().or_else(|| lanes.second.pop_front()) {
                    break Some(job);
                }
                if !held.is_empty() {
                    // Nothing more waits: answer what is held, outside the lock.
                    break None;
                }
                if lanes.closed {
                    return;
                }
                lanes = queue.ready.wait(lanes).unwrap_or_else(|e| e.into_inner());
            }
        };
        if let Some(job) = job {
            let started = Instant::now();
            if let Some(answer) = run_caught(job) {
                if held.is_empty() {
                    holding_since = started;
                }
                held.push(answer);
                // Held since the first held job began: a job as long as HOLD is
                // answered as soon as it ends.
                if holding_since.elapsed() < HOLD {
                    continue;
                }
            }
        }
        for answer in held.drain(..) {
            answer();
        }
    }
}

/// Runs `job`; a panic ends the job alone. Its answer's sender is dropped while
/// unwinding, so its caller hears [`OffloadError::Lost`]; the thread and the answers
/// it holds for others are untouched (a job owns everything it uses, so nothing it
/// shares with them can be left half-changed).
fn run_caught(job: Job) -> Option<Answer> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
        Ok(answer) => answer,
        Err(_) => {
            tracing::error!(
                "a job on a worker thread panicked; its caller is answered with an internal error"
            );
            None
        }
    }
}

/// Raises the calling thread's nice value by [`NICE`] (to at most 19).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: on Linux, nice() changes the nice value of the calling thread only; it
    // reads and writes no memory of ours. Failure (a sandbox that forbids it) leaves
    // the thread at normal priority, which is still correct, only less kind to Verify.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::nice(NICE) };
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// For tests: a job that holds one of a pool's threads until released.
#[cfg(test)]
pub(crate) struct Occupied {
    release: std::sync::mpsc::Sender<()>,
    job: tokio::task::JoinHandle<Result<Result<(), std::sync::mpsc::RecvError>, OffloadError>>,
}

#[cfg(test)]
impl Occupied {
    /// Starts the job on `pool` and returns once it runs on a pool thread.
    pub(crate) async fn start(pool: &Pool) -> Self {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let pool = pool.clone();
        let job = tokio::spawn(async move {
            pool.run(move || {
                let _ = started.send(());
                hold.recv()
            })
            .await
        });
        running.await.expect("the job started");
        Self { release, job }
    }

    /// Lets the job end and waits for its answer.
    pub(crate) async fn release(self) {
        self.release.send(()).expect("the job waits");
        self.job
            .await
            .expect("joined")
            .expect("answered")
            .expect("released");
    }
}

#[cfg(test)]
mod tests;
