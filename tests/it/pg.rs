//! A PostgreSQL database of its own for a test, when `TESSERA_TEST_DATABASE_URL` names
//! a server where the test may create databases. Dropped (with its connections) when
//! the guard goes.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The server URL from `TESSERA_TEST_DATABASE_URL`, or `None` after saying the test
/// was skipped.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var("TESSERA_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("{test}: skipped, TESSERA_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A database with a random name on the test server; dropped on drop.
pub struct TestDatabase {
    server: String,
    name: String,
    pub url: String,
}

fn with_database(server: &str, name: &str) -> String {
    let (base, query) = server
        .split_once('?')
        .map_or((server, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |s| s + 2) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDatabase {
    pub async fn create(server: &str) -> Self {
        let name = format!(
            "tessera_test_{}",
            tessera::domain::UserId::random()
                .to_string()
                .replace('-', "")
        );
        let mut conn = PgConnection::connect(server)
            .await
            .expect("TESSERA_TEST_DATABASE_URL reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Self {
            server: server.to_owned(),
            url: with_database(server, &name),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&server).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
