//! The password-hashing settings: which algorithm new passwords get, at what cost.
//! Every cost setting is checked whichever algorithm is chosen, so a wrong one never
//! waits silently for the day the algorithm is switched.

use super::ConfigError;
use super::parse::number;
use crate::password::{Algorithm, argon2id, bcrypt};

/// The most memory one argon2id hash may take, in KiB (1 GiB). Each of the
/// `TESSERA_HASH_CONCURRENCY` hashing threads holds that much while it hashes.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;

/// The raw settings, as given.
pub(super) struct HashArgs<'a> {
    pub password_hash: &'a str,
    pub argon2_memory_kib: &'a str,
    pub argon2_iterations: &'a str,
    pub argon2_parallelism: &'a str,
    pub bcrypt_cost: &'a str,
}

/// `TESSERA_PASSWORD_HASH` and the cost settings of both algorithms.
pub(super) fn algorithm(args: HashArgs<'_>) -> Result<Algorithm, ConfigError> {
    let parallelism = number("TESSERA_ARGON2_PARALLELISM", args.argon2_parallelism, 1, 16)?;
    let argon2id = argon2id::Cost {
        memory_kib: number(
            "TESSERA_ARGON2_MEMORY_KIB",
            args.argon2_memory_kib,
            8 * parallelism,
            MAX_ARGON2_MEMORY_KIB,
        )?,
        iterations: number("TESSERA_ARGON2_ITERATIONS", args.argon2_iterations, 1, 64)?,
        parallelism,
    };
    let bcrypt_cost = number(
        "TESSERA_BCRYPT_COST",
        args.bcrypt_cost,
        *bcrypt::COSTS.start(),
        *bcrypt::COSTS.end(),
    )?;
    match args.password_hash.trim() {
        "argon2id" => Ok(Algorithm::Argon2id(argon2id)),
        "bcrypt" => Ok(Algorithm::Bcrypt { cost: bcrypt_cost }),
        _ => Err(ConfigError::new(
            "TESSERA_PASSWORD_HASH",
            "expected argon2id or bcrypt",
        )),
    }
}
