//! `tessera serve`'s settings validation on any values: each line of the input
//! replaces one setting (in the order of [`SETTINGS`]; an empty line keeps the
//! default). The validation either accepts them or refuses them with one line naming
//! a TESSERA_* variable; never a panic. Paths (data folder, key files) stay at their
//! defaults, so nothing is read from disk.
#![no_main]

use std::sync::LazyLock;

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use tessera::config::{Config, ServeArgs};

#[derive(Parser)]
struct Serve {
    #[command(flatten)]
    args: ServeArgs,
}

/// Every setting as clap fills it in with no flags and no environment.
static DEFAULTS: LazyLock<ServeArgs> = LazyLock::new(|| {
    Serve::try_parse_from(["tessera"]).expect("the defaults parse").args
});

type Set = fn(&mut ServeArgs, String);

/// The settings a line may replace, in line order.
const SETTINGS: &[Set] = &[
    |a, v| a.listen = v,
    |a, v| a.issuer = v,
    |a, v| a.audience = v,
    |a, v| a.tokens.access_ttl = v,
    |a, v| a.tokens.verify_leeway = v,
    |a, v| a.refresh_ttl = v,
    |a, v| a.refresh_reuse_grace = v,
    |a, v| a.bcrypt_cost = v,
    |a, v| a.login_attempts_per_minute = v,
    |a, v| a.login_attempts_per_email_per_minute = v,
    |a, v| a.registrations_per_address_per_minute = v,
    |a, v| a.login_attempts_per_address_per_minute = v,
    |a, v| a.log_format = v,
    |a, v| a.verify_cache = v,
    |a, v| a.hash_concurrency = Some(v),
    |a, v| a.hash_queue = v,
    |a, v| a.shutdown_grace = v,
    |a, v| a.purge_interval = v,
    |a, v| a.auto_migrate = v,
    |a, v| a.sync_interval = v,
    |a, v| a.watch_heartbeat = v,
    |a, v| a.max_connections = v,
    |a, v| a.max_streams_per_connection = v,
    |a, v| a.max_header_bytes = v,
    |a, v| a.handshake_timeout = v,
    |a, v| a.idle_timeout = v,
    |a, v| a.keepalive_interval = v,
    |a, v| a.store.database_url = Some(v),
    |a, v| a.store.master_key = Some(v),
    |a, v| a.store.db_max_connections = v,
    |a, v| a.store.db_timeout = v,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut args = DEFAULTS.clone();
    for (set, line) in SETTINGS.iter().zip(text.split('\n')) {
        if !line.is_empty() {
            set(&mut args, line.to_owned());
        }
    }
    if let Err(e) = Config::from_args(args) {
        let line = e.to_string();
        assert!(e.var.starts_with("TESSERA_"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
});
