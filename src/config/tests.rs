//! The built-in defaults, checked against what the docs say.

use super::*;
use crate::password::Algorithm;

#[test]
fn defaults_are_valid_and_as_documented() {
    let config = Config::with_data_dir("/tmp/x");
    assert_eq!(config.access_ttl, Duration::from_secs(15 * 60));
    assert_eq!(config.refresh_ttl, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(config.hashing.algorithm, Algorithm::DEFAULT);
    let Algorithm::Argon2id(cost) = Algorithm::DEFAULT else {
        panic!("argon2id is the default");
    };
    assert_eq!(
        (cost.memory_kib, cost.iterations, cost.parallelism),
        (19 * 1024, 2, 1)
    );
    assert_eq!(
        config.store.database_url.expose(),
        "sqlite:///tmp/x/tessera.db"
    );
    assert!(config.auto_migrate);
    assert!(matches!(config.store.master_key, MasterKeySource::DataDir));
}
