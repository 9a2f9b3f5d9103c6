//! The data folder of the embedded default: its permissions, the lock that keeps a
//! second server off it, and which state may be created beside which.
//!
//! The rules:
//! - The folder is created 0700 and every file tessera writes there 0600 (the
//!   SQLite file and its `-wal` and `-shm`, the master key, the lock), whatever the
//!   umask: it holds emails, password hashes and client addresses. An existing
//!   folder open to others is reported, not changed: it may be shared on purpose.
//! - One `tessera serve` per SQLite file: an exclusive lock on `<file>.lock`. A
//!   second one exits 2 naming the database.
//! - Damaged state is refused, never replaced: a master key beside a missing or
//!   empty database means the database was lost (restore it); a database holding
//!   keys without its master key means the key was lost (restore it). A new master
//!   key is made only for a database that holds no key yet.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::config::{ConfigError, DatabaseKind, MasterKeySource, StoreConfig};
use crate::store::SqliteStore;
use crate::token::seal::GENERATED_MASTER_KEY_FILE;

/// The SQLite file the configuration names, if it names one.
pub(super) fn sqlite_file(config: &StoreConfig) -> Result<Option<PathBuf>, ConfigError> {
    if config.database_url.kind() != DatabaseKind::Sqlite {
        return Ok(None);
    }
    let options = SqliteStore::options(config.database_url.expose())
        .map_err(|e| ConfigError::new("TESSERA_DATABASE_URL", e.to_string()))?;
    let path = options.get_filename();
    // `:memory:` and the like have no file to guard.
    Ok((!path.as_os_str().is_empty() && path != Path::new(":memory:")).then(|| path.to_owned()))
}

/// Creates the data folder 0700 if it is missing; warns if an existing one is open
/// to others.
pub(super) fn create(config: &StoreConfig) -> Result<(), ConfigError> {
    let failed = |e: std::io::Error| {
        ConfigError::new(
            "TESSERA_DATA_DIR",
            format!("cannot create the data folder: {e}"),
        )
    };
    let dir = &config.data_dir;
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(failed)?;
        restrict(dir, 0o700).map_err(failed)?;
    } else if let Some(mode) = open_to_others(dir) {
        warn!(
            mode = format!("{mode:o}"),
            "the data folder is readable by others; tessera keeps its files 0600"
        );
    }
    Ok(())
}

/// Refuses a master key beside a missing or empty database: that database was lost,
/// and starting afresh would silently replace every account and key.
pub(super) fn refuse_lost_database(
    config: &StoreConfig,
    file: Option<&Path>,
) -> Result<(), ConfigError> {
    let Some(file) = file else { return Ok(()) };
    if !matches!(config.master_key, MasterKeySource::DataDir) {
        return Ok(());
    }
    let key = config.data_dir.join(GENERATED_MASTER_KEY_FILE);
    let empty = std::fs::metadata(file).map_or(true, |m| m.len() == 0);
    if key.exists() && empty {
        return Err(ConfigError::new(
            "TESSERA_DATA_DIR",
            format!(
                "{GENERATED_MASTER_KEY_FILE} is there but the database is missing or empty: \
                 restore the database (or move {GENERATED_MASTER_KEY_FILE} away to start afresh)"
            ),
        ));
    }
    Ok(())
}

/// Takes the exclusive lock on `<file>.lock`, held until the returned file drops.
pub(super) fn lock(file: &Path) -> Result<File, ConfigError> {
    let mut path = file.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let failed = |e: std::io::Error| {
        ConfigError::new(
            "TESSERA_DATABASE_URL",
            format!("cannot lock {}: {e}", path.display()),
        )
    };
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let lock = options.open(&path).map_err(failed)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(ConfigError::new(
            "TESSERA_DATABASE_URL",
            "another tessera serve is using this SQLite database (one server per file; \
             use PostgreSQL for several)",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// Creates the SQLite file 0600 before SQLite does (SQLite gives its `-wal` and
/// `-shm` the file's mode), and narrows an existing file and its companions to 0600.
pub(super) fn protect(file: &Path) -> Result<(), ConfigError> {
    let failed = |e: std::io::Error| {
        ConfigError::new(
            "TESSERA_DATABASE_URL",
            format!("cannot set the database file's permissions: {e}"),
        )
    };
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file).map_err(failed)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let path = PathBuf::from(path);
        if path.exists() {
            restrict(&path, 0o600).map_err(failed)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// The mode of `dir` if group or others may read or enter it.
#[cfg(unix)]
fn open_to_others(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn open_to_others(_dir: &Path) -> Option<u32> {
    None
}
