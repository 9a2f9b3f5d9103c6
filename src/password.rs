//! bcrypt, off the async runtime, with bounded concurrency.
//!
//! Every hash and verify runs on a [`Pool`] of `concurrency` hashing threads of its
//! own (`tessera-hash-N`), below the request path's priority on Linux, so the async
//! workers stay free for Verify however hard logins hammer. At most `queue` more may
//! wait for a thread; past that the caller gets [`HashError::Busy`]
//! (RESOURCE_EXHAUSTED) at once instead of an unbounded queue. See [`crate::offload`].
//!
//! [`Hasher::verify`] against no stored hash still costs one bcrypt verify, against a
//! dummy hash of the configured cost: an unknown email takes as long as a wrong password.

use std::sync::Arc;

use crate::domain::{MAX_PASSWORD_BYTES, Password};
use crate::offload::{OffloadError, Pool};

/// Why hashing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot is busy and the waiting queue is full.
    #[error("the password hashing queue is full")]
    Busy,
    /// bcrypt itself failed (cannot happen for a validated password).
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    /// A hashing thread could not start, or went away before answering (it panicked).
    #[error("the hashing thread failed")]
    Lost,
}

impl From<OffloadError> for HashError {
    fn from(e: OffloadError) -> Self {
        match e {
            OffloadError::Busy => HashError::Busy,
            OffloadError::Lost => HashError::Lost,
        }
    }
}

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
    pool: Pool,
    dummy: String,
}

impl Hasher {
    /// A hasher at bcrypt `cost` running `concurrency` operations at once with up to
    /// `queue` waiting. Makes the dummy hash here, with the configured cost.
    pub fn new(cost: u32, concurrency: usize, queue: usize) -> Result<Self, HashError> {
        let dummy = dummy_hash(cost)?;
        Ok(Self {
            inner: Arc::new(Inner {
                cost,
                pool: Pool::new("tessera-hash", concurrency, queue)?,
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
        Ok(self.inner.pool.run(work).await?)
    }
}

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

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_waiting() {
        let hasher = Hasher::new(4, 1, 0).unwrap();
        let occupied = crate::offload::Occupied::start(&hasher.inner.pool).await;
        let pw = Password::new("whatever123".into()).unwrap();
        assert!(matches!(hasher.hash(&pw).await, Err(HashError::Busy)));
        occupied.release().await;
        assert!(hasher.hash(&pw).await.is_ok());
    }
}
