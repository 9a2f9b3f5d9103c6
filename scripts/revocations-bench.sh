#!/usr/bin/env bash
# Start-up and memory with many remembered revocations: for each size, a fresh SQLite
# data folder gets that many revoked sessions (written straight into the file with
# python3's sqlite3, revoked a minute ago so all must be remembered), then tessera is
# started and timed from launch to SERVING; its RSS is read once it is idle, and its
# peak (VmHWM). Prints one line per size.
#
#   scripts/revocations-bench.sh                  # 1000 10000 100000 1000000
#   SIZES="1000000" scripts/revocations-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-1000 10000 100000 1000000}"
PORT="${PORT:-50093}"
cargo build --release --quiet --bin tessera
BIN="$PWD/target/release/tessera"
URL="http://127.0.0.1:$PORT"
PID=""
DATA=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "$DATA" ] && rm -rf "$DATA"
    true
}
trap cleanup EXIT

serve() {
    env TESSERA_DATA_DIR="$DATA" TESSERA_LISTEN="127.0.0.1:$PORT" RUST_LOG=warn \
        "$BIN" serve >>"$DATA.log" 2>&1 &
    PID=$!
}
ready() { "$BIN" bench --url "$URL" --rpc health -n 1 --wait-ready 60s --json >/dev/null; }
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status"; }

printf '%-10s %12s %14s %14s\n' sessions "to SERVING" "RSS idle MiB" "RSS peak MiB"
for n in $SIZES; do
    DATA="$(mktemp -d)"
    serve && ready && stop # migrates and makes the signing key
    python3 - "$DATA/tessera.db" "$n" <<'EOF'
import sqlite3, sys, time, uuid
db, n = sys.argv[1], int(sys.argv[2])
now = int(time.time()) - 60
c = sqlite3.connect(db)
user = str(uuid.uuid4())
c.execute("INSERT INTO users (id, email, password_hash, roles, created_at, updated_at)"
          " VALUES (?, 'bench-revoked@example.com', 'x', 'user', ?, ?)", (user, now, now))
c.executemany(
    "INSERT INTO sessions (id, user_id, generation, created_at, expires_at, revoked_at,"
    " revoke_reason, revoked_seq) VALUES (?, ?, 0, ?, ?, ?, 'logout', 1)",
    ((str(uuid.uuid4()), user, now, now + 86400, now) for _ in range(n)))
c.execute("UPDATE revocation_counter SET seq = 1")
c.commit()
EOF
    t0=$(date +%s%N)
    serve
    ready
    t1=$(date +%s%N)
    sleep 3
    printf '%-10s %9d ms %14.1f %14.1f\n' "$n" $(((t1 - t0) / 1000000)) \
        "$(awk -v k="$(status VmRSS)" 'BEGIN { print k / 1024 }')" \
        "$(awk -v k="$(status VmHWM)" 'BEGIN { print k / 1024 }')"
    stop
    rm -rf "$DATA" "$DATA.log"
    DATA=""
done
