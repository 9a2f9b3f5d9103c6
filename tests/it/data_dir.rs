//! The embedded default's data folder: private permissions, one server per SQLite
//! file, and damaged state refused at start instead of silently replaced.

use tessera::clock::Clock;
use tessera::config::Config;
use tessera::server::{self, ServeError};

use crate::harness::{self, Backend};

/// Starts a server on `config` and expects it to refuse, naming `var`; returns the
/// message.
async fn refused(config: Config, var: &str) -> String {
    match server::prepare(config, Clock::system()).await {
        Err(ServeError::Config(e)) => {
            assert_eq!(e.var, var, "{e}");
            e.to_string()
        }
        Err(e) => panic!("refused, but not as a setting: {e}"),
        Ok(_) => panic!("the server started"),
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_is_0700_and_its_files_0600_whatever_the_umask() {
    let server = harness::spawn_with(Backend::Sqlite, |c| {
        c.store.data_dir = c.store.data_dir.join("fresh");
        c.store.database_url =
            format!("sqlite://{}", c.store.data_dir.join("tessera.db").display())
                .parse()
                .unwrap();
    })
    .await;
    // Writes, so the WAL and its index exist.
    server.login_as(&harness::email("perm")).await;
    let dir = server.config.store.data_dir.clone();
    assert_eq!(mode(&dir), 0o700);
    for file in [
        "tessera.db",
        "tessera.db-wal",
        "tessera.db-shm",
        "master.key",
        "tessera.db.lock",
    ] {
        let path = dir.join(file);
        assert!(path.exists(), "{file} is there");
        assert_eq!(mode(&path), 0o600, "{file}");
    }
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused_naming_it() {
    let server = harness::spawn(Backend::Sqlite).await;
    let mut second = server.config.clone();
    second.listen = "127.0.0.1:0".parse().unwrap();
    let message = refused(second, "TESSERA_DATABASE_URL").await;
    assert!(message.contains("another tessera serve"), "{message}");
    // The first one serves on, and once it stops the file is free again.
    server.login_as(&harness::email("first")).await;
    let (config, _data) = server.stop_keeping_data().await;
    let again = server::prepare(config, Clock::system()).await;
    assert!(again.is_ok(), "the lock went with the first server");
}

#[tokio::test]
async fn an_empty_database_beside_a_master_key_is_refused_not_replaced() {
    let server = harness::spawn(Backend::Sqlite).await;
    server.login_as(&harness::email("lost")).await;
    let (config, data) = server.stop_keeping_data().await;
    let db = data.path().join("tessera.db");
    for companion in ["tessera.db-wal", "tessera.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(companion));
    }
    std::fs::write(&db, b"").unwrap();
    let message = refused(config, "TESSERA_DATA_DIR").await;
    assert!(message.contains("restore the database"), "{message}");
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn a_database_whose_master_key_is_missing_is_refused_and_no_key_is_made() {
    let server = harness::spawn(Backend::Sqlite).await;
    let (config, data) = server.stop_keeping_data().await;
    let key = data.path().join("master.key");
    std::fs::remove_file(&key).unwrap();
    let message = refused(config, "TESSERA_DATA_DIR").await;
    assert!(message.contains("master.key is missing"), "{message}");
    assert!(
        !key.exists(),
        "a new master key was made beside the old database"
    );
}

#[tokio::test]
async fn a_database_with_damaged_pages_is_refused_at_start() {
    let server = harness::spawn(Backend::Sqlite).await;
    for i in 0..50 {
        server.register(&harness::email(&format!("page{i}"))).await;
    }
    let (config, data) = server.stop_keeping_data().await;
    let db = data.path().join("tessera.db");
    // The last connection to close folded the WAL into the file; damage its middle.
    let wal = data.path().join("tessera.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    // The users, registered last, fill the last pages: break the cell pointers of
    // the last one. Start-up reads nothing there; only an integrity check sees it.
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096;
    assert!(bytes.len() >= 4 * page, "{} bytes", bytes.len());
    let last = bytes.len() - page;
    for b in &mut bytes[last + 8..last + 64] {
        *b = 0xff;
    }
    std::fs::write(&db, &bytes).unwrap();
    let message = refused(config, "TESSERA_DATABASE_URL").await;
    assert!(message.contains("integrity check"), "{message}");
}
