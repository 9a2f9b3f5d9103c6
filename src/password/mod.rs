//! Password hashing, off the async runtime, with bounded concurrency.
//!
//! [`Hasher`] is the one seam the use cases see: `rules`, `hash`, `verify`,
//! `needs_rehash`. Which algorithm hashes new passwords is data ([`Algorithm`]:
//! argon2id by default, or bcrypt); a stored hash names its own algorithm and cost
//! ([`PasswordHash`] is in PHC / modular crypt form), so hashes of either algorithm
//! keep verifying whichever is configured, and a login whose hash is not of the
//! configured algorithm and cost is rehashed ([`Hasher::needs_rehash`]).
//!
//! Every hash and verify runs on a [`Pool`] of `concurrency` hashing threads of its
//! own (`tessera-hash-N`), below the request path's priority on Linux, so the async
//! workers stay free for Verify however hard logins hammer. At most `queue` more may
//! wait for a thread; past that the caller gets [`HashError::Busy`]
//! (RESOURCE_EXHAUSTED) at once instead of an unbounded queue. Logins' verifies are
//! served first; registrations' hashes wait behind them and may hold at most half of
//! the room, so a flood of registrations cannot lock users out. See
//! [`crate::offload`].
//!
//! [`Hasher::verify`] against no stored hash still costs one full verify, against a
//! dummy hash of the configured algorithm and cost: an unknown email takes as long
//! as a wrong password.

pub mod argon2id;
pub mod bcrypt;

use std::sync::Arc;

use crate::domain::{Password, PasswordHash, PasswordRules};
use crate::offload::{Lane, OffloadError, Pool};

/// Why hashing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot is busy and the waiting queue is full.
    #[error("the password hashing queue is full")]
    Busy,
    /// bcrypt refused (cannot happen for a validated password and cost).
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] ::bcrypt::BcryptError),
    /// argon2 refused (cannot happen for a validated password and cost).
    #[error("argon2 failed: {0}")]
    Argon2(String),
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

/// The algorithm new passwords are hashed with, and its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// argon2id at `cost` (the default: OWASP's m = 19 MiB, t = 2, p = 1).
    Argon2id(argon2id::Cost),
    /// bcrypt at `cost` (4 to 31).
    Bcrypt { cost: u32 },
}

impl Algorithm {
    /// The default: argon2id at OWASP's recommended cost.
    pub const DEFAULT: Algorithm = Algorithm::Argon2id(argon2id::Cost::DEFAULT);

    fn hash(self, password: &Password) -> Result<PasswordHash, HashError> {
        match self {
            Algorithm::Argon2id(cost) => argon2id::hash(password, cost).map_err(HashError::Argon2),
            Algorithm::Bcrypt { cost } => Ok(bcrypt::hash(password, cost)?),
        }
    }

    fn dummy(self) -> Result<PasswordHash, HashError> {
        match self {
            Algorithm::Argon2id(cost) => argon2id::dummy(cost).map_err(HashError::Argon2),
            Algorithm::Bcrypt { cost } => Ok(bcrypt::dummy(cost)?),
        }
    }

    /// Whether `stored` was made by this algorithm at this cost.
    fn made(self, stored: &PasswordHash) -> bool {
        match self {
            Algorithm::Argon2id(cost) => argon2id::cost_of(stored) == Some(cost),
            Algorithm::Bcrypt { cost } => bcrypt::cost_of(stored) == Some(cost),
        }
    }
}

/// Whether this build can verify `stored`.
fn known(stored: &PasswordHash) -> bool {
    bcrypt::is_bcrypt(stored) || argon2id::is_argon2id(stored)
}

/// Checks `password` against `stored` with the algorithm the hash names.
fn check(password: &Password, stored: &PasswordHash) -> bool {
    if bcrypt::is_bcrypt(stored) {
        bcrypt::verify(password, stored)
    } else {
        argon2id::verify(password, stored)
    }
}

/// How passwords are hashed: the algorithm, and how much of the machine it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSettings {
    pub algorithm: Algorithm,
    /// Hashes computed at once (threads).
    pub concurrency: usize,
    /// Hashes that may wait for a thread before callers are refused.
    pub queue: usize,
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    algorithm: Algorithm,
    pool: Pool,
    dummy: PasswordHash,
}

impl Hasher {
    /// A hasher with `settings`. Makes the dummy hash here, at the configured cost.
    pub fn new(settings: HashSettings) -> Result<Self, HashError> {
        let dummy = settings.algorithm.dummy()?;
        Ok(Self {
            inner: Arc::new(Inner {
                algorithm: settings.algorithm,
                pool: Pool::new("tessera-hash", settings.concurrency, settings.queue)?,
                dummy,
            }),
        })
    }

    /// How many hashes are running or waiting for a thread.
    pub fn load(&self) -> usize {
        self.inner.pool.load()
    }

    /// What a new password must be to be hashed without losing any of it.
    pub fn rules(&self) -> PasswordRules {
        match self.inner.algorithm {
            Algorithm::Argon2id(_) => argon2id::RULES,
            Algorithm::Bcrypt { .. } => bcrypt::RULES,
        }
    }

    /// Hashes a password with a fresh salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let algorithm = self.inner.algorithm;
        let password = password.clone();
        // A new password's hash waits in the second lane: registrations cannot crowd
        // out the logins of users who exist already.
        let hash = self
            .run(Lane::Second, move || algorithm.hash(&password))
            .await??;
        Ok(hash)
    }

    /// Whether `password` matches `stored`; with no stored hash, or one of an
    /// algorithm this build does not know, verifies against the dummy and answers
    /// false, in the same time.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        let known = stored.filter(|h| known(h));
        let is_real = known.is_some();
        let hash = known.unwrap_or(&self.inner.dummy).clone();
        let password = password.clone();
        let matched = self
            .run(Lane::First, move || check(&password, &hash))
            .await?;
        Ok(matched && is_real)
    }

    /// Whether a login that matched `stored` with `password` should store a new hash:
    /// `stored` is not of the configured algorithm and cost, and the password fits
    /// the configured algorithm's rules (bcrypt cannot take a longer one).
    pub fn needs_rehash(&self, stored: &PasswordHash, password: &Password) -> bool {
        !self.inner.algorithm.made(stored) && password.expose().len() <= self.rules().max_bytes
    }

    async fn run<T, F>(&self, lane: Lane, work: F) -> Result<T, HashError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.inner.pool.run_in(lane, work).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(cost: u32, concurrency: usize, queue: usize) -> Hasher {
        Hasher::new(HashSettings {
            algorithm: Algorithm::Bcrypt { cost },
            concurrency,
            queue,
        })
        .unwrap()
    }

    fn password(raw: &str) -> Password {
        Password::new(raw.into(), bcrypt::RULES).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = hasher(4, 2, 8);
        let pw = password("correct horse");
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.expose().starts_with("$2b$04$"));
        assert!(hasher.verify(&pw, Some(&hash)).await.unwrap());
        assert!(
            !hasher
                .verify(&password("battery staple"), Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_login_password_longer_than_72_bytes_never_matches_its_72_byte_prefix() {
        let hasher = hasher(4, 1, 4);
        let registered = password(&"a".repeat(72));
        let hash = hasher.hash(&registered).await.unwrap();
        assert!(hasher.verify(&registered, Some(&hash)).await.unwrap());
        let longer = Password::for_login(format!("{}tail", "a".repeat(72))).unwrap();
        assert!(!hasher.verify(&longer, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn verify_without_a_stored_hash_or_with_an_unknown_one_is_false() {
        let hasher = hasher(4, 1, 0);
        let pw = password("whatever123");
        assert!(!hasher.verify(&pw, None).await.unwrap());
        let foreign = PasswordHash::new("$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA".into());
        assert!(!hasher.verify(&pw, Some(&foreign)).await.unwrap());
    }

    #[tokio::test]
    async fn the_rules_are_the_algorithm_s() {
        assert_eq!(hasher(4, 1, 0).rules().max_bytes, 72);
        let refused = Hasher::new(HashSettings {
            algorithm: Algorithm::Bcrypt { cost: 3 },
            concurrency: 1,
            queue: 0,
        });
        assert!(refused.is_err());
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_waiting() {
        let hasher = hasher(4, 1, 0);
        let occupied = crate::offload::Occupied::start(&hasher.inner.pool).await;
        let pw = password("whatever123");
        assert!(matches!(hasher.hash(&pw).await, Err(HashError::Busy)));
        occupied.release().await;
        assert!(hasher.hash(&pw).await.is_ok());
    }

    const CHEAP: argon2id::Cost = argon2id::Cost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    fn with(algorithm: Algorithm) -> Hasher {
        Hasher::new(HashSettings {
            algorithm,
            concurrency: 1,
            queue: 4,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_of_either_algorithm_verify_whichever_is_configured() {
        let argon = with(Algorithm::Argon2id(CHEAP));
        let bcrypt = with(Algorithm::Bcrypt { cost: 4 });
        let pw = password("correct horse");
        let by_argon = argon.hash(&pw).await.unwrap();
        let by_bcrypt = bcrypt.hash(&pw).await.unwrap();
        assert!(by_argon.expose().starts_with("$argon2id$"));
        for hasher in [&argon, &bcrypt] {
            for stored in [&by_argon, &by_bcrypt] {
                assert!(hasher.verify(&pw, Some(stored)).await.unwrap());
                let wrong = password("battery staple");
                assert!(!hasher.verify(&wrong, Some(stored)).await.unwrap());
            }
            assert!(!hasher.verify(&pw, None).await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_hash_of_another_algorithm_or_cost_needs_a_rehash_if_the_password_fits() {
        let argon = with(Algorithm::Argon2id(CHEAP));
        let pw = password("correct horse");
        let current = argon.hash(&pw).await.unwrap();
        assert!(!argon.needs_rehash(&current, &pw));
        let weaker = with(Algorithm::Argon2id(argon2id::Cost {
            memory_kib: 512,
            ..CHEAP
        }));
        assert!(argon.needs_rehash(&weaker.hash(&pw).await.unwrap(), &pw));
        let old = with(Algorithm::Bcrypt { cost: 4 }).hash(&pw).await.unwrap();
        assert!(argon.needs_rehash(&old, &pw));

        let bcrypt5 = with(Algorithm::Bcrypt { cost: 5 });
        assert!(bcrypt5.needs_rehash(&old, &pw));
        assert!(bcrypt5.needs_rehash(&current, &pw));
        // bcrypt cannot take a password over 72 bytes: that hash stays as it is.
        let long = Password::new("x".repeat(100), argon2id::RULES).unwrap();
        assert!(!bcrypt5.needs_rehash(&argon.hash(&long).await.unwrap(), &long));
    }

    #[test]
    fn the_rules_follow_the_algorithm() {
        assert_eq!(with(Algorithm::Argon2id(CHEAP)).rules().max_bytes, 1024);
        assert_eq!(with(Algorithm::Bcrypt { cost: 4 }).rules().max_bytes, 72);
    }
}
