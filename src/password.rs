//! bcrypt, off the async runtime, with bounded concurrency.
//!
//! Every hash and verify runs on one of `concurrency` hashing threads of its own, so
//! the async workers stay free for Verify however hard logins hammer. On Linux those
//! threads run at nice [`HASH_NICE`]: when a core is wanted by both, the scheduler
//! gives it to the request path first, so hashing never holds up a Verify by a time
//! slice; when the core is otherwise idle, hashing gets all of it. At most `queue` more
//! may wait for a thread; past that the caller gets [`HashError::Busy`]
//! (RESOURCE_EXHAUSTED) at once instead of an unbounded queue.
//!
//! [`Hasher::verify`] against no stored hash still costs one bcrypt verify, against a
//! dummy hash of the configured cost: an unknown email takes as long as a wrong password.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, oneshot};

use crate::domain::{MAX_PASSWORD_BYTES, Password};

/// Why hashing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot is busy and the waiting queue is full.
    #[error("the password hashing queue is full")]
    Busy,
    /// bcrypt itself failed (cannot happen for a validated password).
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    /// The hashing thread went away before answering (it panicked).
    #[error("the hashing thread failed")]
    Lost,
}

/// The nice value of the hashing threads (Linux): below the request path, which runs
/// at the process's own priority.
pub const HASH_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// A bcrypt hash as stored. Its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// A hash read back from the store.
    pub fn from_store(value: String) -> Self {
        Self(value)
    }

    /// The hash text, for the store only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    cost: u32,
    /// Held from admission to answer: bounds the running and the waiting together.
    admitted: Semaphore,
    /// Work for the hashing threads; they end when the last `Hasher` is dropped.
    jobs: Mutex<mpsc::Sender<Job>>,
    dummy: String,
}

impl Hasher {
    /// A hasher at bcrypt `cost` running `concurrency` operations at once with up to
    /// `queue` waiting. Makes the dummy hash here, with the configured cost.
    pub fn new(cost: u32, concurrency: usize, queue: usize) -> Result<Self, HashError> {
        let dummy = dummy_hash(cost)?;
        let concurrency = concurrency.max(1);
        let (jobs, queue_rx) = mpsc::channel::<Job>();
        let queue_rx = Arc::new(Mutex::new(queue_rx));
        for i in 0..concurrency {
            let queue_rx = queue_rx.clone();
            std::thread::Builder::new()
                .name(format!("tessera-hash-{i}"))
                .spawn(move || hashing_thread(&queue_rx))
                .map_err(|_| HashError::Lost)?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                cost,
                admitted: Semaphore::new(concurrency + queue),
                jobs: Mutex::new(jobs),
                dummy,
            }),
        })
    }

    /// Hashes a password with a fresh salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let cost = self.inner.cost;
        let password = password.clone();
        let hash = self
            .run(move || {
                let mut salt = [0u8; 16];
                crate::token::random_bytes(&mut salt);
                // `Password` holds at most 72 bytes, so nothing of it is truncated (at 72
                // bytes bcrypt drops only its own NUL terminator, which the crate's
                // non-truncating variant counts and refuses).
                bcrypt::hash_with_salt(password.expose(), cost, salt).map(|h| h.to_string())
            })
            .await??;
        Ok(PasswordHash(hash))
    }

    /// Whether `password` matches `stored`; with no stored hash, verifies against the
    /// dummy and answers false, in the same time.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        // bcrypt ignores bytes past 72, so a longer password would match a stored
        // password equal to its first 72 bytes. Registration refuses such passwords;
        // here one is checked against the dummy instead (same cost) and never matches.
        let fits = password.expose().len() <= MAX_PASSWORD_BYTES;
        let real = stored.filter(|_| fits);
        let is_real = real.is_some();
        let hash = real.map_or_else(|| self.inner.dummy.clone(), |h| h.0.clone());
        let password = password.clone();
        let matched = self
            .run(move || {
                let bytes = password.expose().as_bytes();
                bcrypt::verify(&bytes[..bytes.len().min(MAX_PASSWORD_BYTES)], &hash)
                    .unwrap_or(false)
            })
            .await?;
        Ok(matched && is_real)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = self
            .inner
            .admitted
            .try_acquire()
            .map_err(|_| HashError::Busy)?;
        let (answer, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            // Whoever asked is gone: skip the work.
            if !answer.is_closed() {
                let _ = answer.send(span.in_scope(work));
            }
        });
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| HashError::Lost)?;
        result.await.map_err(|_| HashError::Lost)
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until the queue closes.
fn hashing_thread(jobs: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match job {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// Raises the calling thread's nice value by [`HASH_NICE`] (to at most 19).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: on Linux, nice() changes the nice value of the calling thread only; it
    // reads and writes no memory of ours. Failure (a sandbox that forbids it) leaves
    // the thread at normal priority, which is still correct, only less kind to Verify.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::nice(HASH_NICE) };
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// A bcrypt hash string that names `cost` and that no password matches.
///
/// bcrypt verify reads the cost and salt from the string, runs the full key schedule
/// at that cost, and only then compares with the stored digest. So any string naming
/// `cost` costs exactly one real verify, whatever its digest. This one is the cost-4
/// digest of a random secret nobody knows, relabelled with `cost`: at `cost` no
/// password yields it (as likely as guessing a 184-bit digest). Making it takes a
/// millisecond, where hashing at cost 12 would hold up every start by a quarter of a
/// second.
fn dummy_hash(cost: u32) -> Result<String, HashError> {
    if !(4..=31).contains(&cost) {
        return Err(HashError::Bcrypt(bcrypt::BcryptError::CostNotAllowed(cost)));
    }
    let mut salt = [0u8; 16];
    crate::token::random_bytes(&mut salt);
    let mut secret = [0u8; 32];
    crate::token::random_bytes(&mut secret);
    let cheap = bcrypt::hash_with_salt(secret, 4, salt)?.to_string();
    Ok(cheap.replacen("$04$", &format!("${cost:02}$"), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = Hasher::new(4, 2, 8).unwrap();
        let pw = Password::new("correct horse".into()).unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.expose().starts_with("$2b$04$"));
        assert!(hasher.verify(&pw, Some(&hash)).await.unwrap());
        let other = Password::new("battery staple".into()).unwrap();
        assert!(!hasher.verify(&other, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_login_password_longer_than_72_bytes_never_matches_its_72_byte_prefix() {
        let hasher = Hasher::new(4, 1, 4).unwrap();
        let registered = Password::new("a".repeat(72)).unwrap();
        let hash = hasher.hash(&registered).await.unwrap();
        assert!(hasher.verify(&registered, Some(&hash)).await.unwrap());
        let longer = Password::for_login(format!("{}tail", "a".repeat(72))).unwrap();
        assert!(!hasher.verify(&longer, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn verify_without_a_stored_hash_is_false() {
        let hasher = Hasher::new(4, 1, 0).unwrap();
        let pw = Password::new("whatever123".into()).unwrap();
        assert!(!hasher.verify(&pw, None).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_has_the_configured_cost() {
        let hasher = Hasher::new(5, 1, 0).unwrap();
        assert!(hasher.inner.dummy.starts_with("$2b$05$"));
        assert!(Hasher::new(3, 1, 0).is_err());
        assert!(Hasher::new(32, 1, 0).is_err());
    }

    #[test]
    fn the_dummy_hash_costs_a_full_verify_at_its_cost_and_matches_nothing() {
        let dummy = dummy_hash(10).unwrap();
        let real = bcrypt::hash("password", 10).unwrap();
        let time = |hash: &str| {
            let started = std::time::Instant::now();
            let matched = bcrypt::verify("password", hash).unwrap();
            (matched, started.elapsed())
        };
        // Interleaved, the fastest of three each: load on the machine slows both alike.
        let mut dummy_best = std::time::Duration::MAX;
        let mut real_best = std::time::Duration::MAX;
        for _ in 0..3 {
            let (matched, took) = time(&dummy);
            assert!(!matched);
            dummy_best = dummy_best.min(took);
            let (matched, took) = time(&real);
            assert!(matched);
            real_best = real_best.min(took);
        }
        // Cost 10 against cost 4 is 64 times the work: a relabelled digest that bcrypt
        // verified at cost 4 would be far below half.
        assert!(
            dummy_best * 2 > real_best,
            "{dummy_best:?} vs {real_best:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_below_the_request_path_s_priority() {
        let hasher = Hasher::new(4, 1, 0).unwrap();
        // SAFETY: getpriority reads the calling thread's nice value.
        #[allow(unsafe_code)]
        let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        // SAFETY: as above, on the hashing thread.
        #[allow(unsafe_code)]
        let theirs = hasher
            .run(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
            .await
            .unwrap();
        assert_eq!(theirs, (ours + HASH_NICE).min(19));
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_waiting() {
        let hasher = Hasher::new(4, 1, 0).unwrap();
        let held = hasher.inner.admitted.try_acquire().unwrap();
        let pw = Password::new("whatever123".into()).unwrap();
        assert!(matches!(hasher.hash(&pw).await, Err(HashError::Busy)));
        drop(held);
        assert!(hasher.hash(&pw).await.is_ok());
    }
}
