#!/usr/bin/env bash
# Measures tessera end to end: builds release, starts tessera as its own process on
# a temporary data folder (SQLite), drives each RPC with `tessera bench`, and prints
# the table docs/PERFORMANCE.md quotes, with the floors it is compared against.
#
#   scripts/bench.sh                 # 10 s per RPC, argon2id at its default cost
#   DURATION=5s HASH=bcrypt COST=10 scripts/bench.sh
#
# With two cores or more, the server is pinned to core 0 and the load tool to core 1
# (taskset), so the two never compete; the server then sees one core. A last Login run
# gives the server every core, to show how hashing grows with them. Set PIN=0 to
# run both unpinned. Needs python3 for the table. Raw JSON of every run is kept in
# $OUT (default: a temporary folder, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
HASH="${HASH:-argon2id}"
COST="${COST:-12}"
PORT="${PORT:-50091}"
PIN="${PIN:-1}"
CONNECTIONS="${CONNECTIONS:-2}"
IN_FLIGHT="${IN_FLIGHT:-16}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
URL="http://127.0.0.1:$PORT"

cargo build --release --quiet --bin tessera
BIN="$PWD/target/release/tessera"

SERVER_PIN=()
LOAD_PIN=()
PINNED=0
if [ "$PIN" = "1" ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_PIN=(taskset -c 0)
    LOAD_PIN=(taskset -c 1)
    PINNED=1
fi

DATA="$(mktemp -d)"
PID=""
stop_server() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=""
    fi
}
trap 'stop_server; rm -rf "$DATA"' EXIT

# start_server [VAR=value ...]: tessera on $DATA, returns once it answers SERVING;
# writes the milliseconds from launch to SERVING to $OUT/start-ms.
start_server() {
    local t0 t1
    t0=$(date +%s%N)
    env TESSERA_DATA_DIR="$DATA" TESSERA_LISTEN="127.0.0.1:$PORT" \
        TESSERA_PASSWORD_HASH="$HASH" TESSERA_BCRYPT_COST="$COST" TESSERA_REGISTRATIONS_PER_ADDRESS_PER_MINUTE=1000000 \
        TESSERA_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE=1000000 RUST_LOG=warn "$@" \
        "${SERVER_PIN[@]}" "$BIN" serve >>"$OUT/server.log" 2>&1 &
    PID=$!
    "${LOAD_PIN[@]}" "$BIN" bench --url "$URL" --rpc health -n 1 --wait-ready 10s --json >/dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000)) >"$OUT/start-ms"
}

rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status"; }

# The server's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

# Waits until the server is idle (under 5% of a core for half a second), for 60 s at
# most: requests a run abandoned at its deadline still run to their end on the
# server, and must not be counted against the next run.
settle() {
    local a b tries=0
    while [ $tries -lt 120 ]; do
        a=$(cpu_ticks)
        sleep 0.5
        b=$(cpu_ticks)
        [ $((b - a)) -le 2 ] && return
        tries=$((tries + 1))
    done
    echo "· the server did not go idle within 60 s; measuring anyway" >&2
}

# load NAME ARGS...: one run of the load tool, its JSON kept as $OUT/NAME.json, and
# the server's CPU ticks over the whole run (preparation included) as $OUT/NAME.cpu.
load() {
    local name="$1" before
    shift
    settle
    echo "· $name" >&2
    before=$(cpu_ticks)
    "${LOAD_PIN[@]}" "$BIN" bench --url "$URL" -c "$CONNECTIONS" -m "$IN_FLIGHT" \
        -d "$DURATION" --json "$@" >"$OUT/$name.json"
    echo $(($(cpu_ticks) - before)) >"$OUT/$name.cpu"
}

echo "· calibrating on the server's core" >&2
"${SERVER_PIN[@]}" "$BIN" bench --calibrate --cost "$COST" --json >"$OUT/calibration.json"
# The machine's RSA floor from OpenSSL itself, on the same core: the last line reads
# "rsa 2048 bits <s/sign> <s/verify> <sign/s> <verify/s>".
"${SERVER_PIN[@]}" openssl speed -seconds 3 rsa2048 2>/dev/null |
    awk '/^rsa 2048 bits/ { print $(NF-1), $NF }' >"$OUT/openssl-rsa2048"

# The first start creates the database and the signing key; the timed start is the
# second, on an existing data folder, as a restart in production.
start_server
stop_server
start_server
cp "$OUT/start-ms" "$OUT/start-existing-ms"
sleep 2
rss_kib VmRSS >"$OUT/rss-idle-kib"

load health --rpc health
load jwks --rpc jwks
load verify --rpc verify --tokens 1000
load verify-one-token --rpc verify --tokens 1
rss_kib VmHWM >"$OUT/rss-verify-peak-kib"
load refresh --rpc refresh
# Hashing RPCs: a few in flight per core keep the hashing pool busy; more only queue.
load verify-under-login -c 1 -m 8 --rpc verify=1,login=1
load login -c 1 -m 4 --rpc login
load register -c 1 -m 4 --rpc register
stop_server

# Verify with the verified-token cache off: every call checks the RSA signature.
start_server TESSERA_VERIFY_CACHE=0
load verify-no-cache --rpc verify --tokens 1000
stop_server

# Login once more with the server on every core (the tool stays on core 1; it spends
# next to nothing at a few logins a second): how the hashing rate grows with cores.
if [ "$PINNED" = "1" ]; then
    SERVER_PIN=()
    start_server
    load login-all-cores -c 1 -m 8 --rpc login
    stop_server
fi

python3 - "$OUT" "$PINNED" "$HASH" <<'PY'
import json, os, sys

out, pinned, algorithm = sys.argv[1], sys.argv[2] != "0", sys.argv[3]
def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)
def read(name):
    with open(os.path.join(out, name)) as f:
        return f.read().strip()

cal = load("calibration")
ossl_sign, ossl_verify = (float(x) for x in read("openssl-rsa2048").split())
cores = 1 if pinned else os.cpu_count()
# The hashing floor: one raw hash of the configured algorithm, per core.
if algorithm == "bcrypt":
    hash_ms, hash_name = cal["bcrypt_verify_ms"], f"bcrypt cost {cal['bcrypt_cost']}"
else:
    hash_ms, hash_name = cal["argon2id_hash_ms"], f"argon2id {cal['argon2id_cost']}"
hash_rate = cores * 1000.0 / hash_ms
runs = {}
for name in ["health", "jwks", "verify", "verify-one-token", "verify-no-cache",
             "refresh", "login", "register", "verify-under-login"]:
    runs[name] = load(name)

def rpc(run, name):
    return next(r for r in runs[run]["rpcs"] if r["rpc"] == name)

health = rpc("health", "health")["ok_per_sec"]
rows = [
    ("health (floor)", rpc("health", "health"), "", ""),
    ("jwks", rpc("jwks", "jwks"), "", ""),
    ("verify, 1000 tokens", rpc("verify", "verify"), health, ">= 0.70 of health"),
    ("verify, 1 token", rpc("verify-one-token", "verify"), health, ""),
    ("verify, cache off", rpc("verify-no-cache", "verify"), health, ""),
    ("refresh (SQLite)", rpc("refresh", "refresh"), ossl_sign * cores,
     ">= 0.60 of openssl RSA-2048 sign"),
    (f"login ({hash_name})", rpc("login", "login"), hash_rate,
     ">= 0.90 of cores / one hash"),
    (f"register ({hash_name})", rpc("register", "register"), hash_rate,
     ">= 0.85 of the hash rate"),
    ("verify beside login", rpc("verify-under-login", "verify"), "", "p99 < 2 ms"),
    ("login beside verify", rpc("verify-under-login", "login"), "", ""),
]
if pinned:
    runs["login-all-cores"] = load("login-all-cores")
    rows.append((f"login, all {os.cpu_count()} cores", rpc("login-all-cores", "login"),
                 os.cpu_count() * 1000.0 / hash_ms, ">= 0.90 of cores / one hash"))
print(f"server on {'core 0 (taskset), load tool on core 1' if pinned else 'all cores, unpinned'}; "
      f"{os.cpu_count()} cores seen; passwords: {hash_name}")
print(f"floors on the server's core: bcrypt verify {cal['bcrypt_verify_ms']:.1f} ms; "
      f"argon2id hash {cal['argon2id_hash_ms']:.1f} ms; "
      f"openssl speed rsa2048 {ossl_sign:.0f} sign/s, {ossl_verify:.0f} verify/s; "
      f"aws-lc-rs alone {cal['rsa2048_sign_per_sec']:.0f} sign/s, {cal['rsa2048_verify_per_sec']:.0f} verify/s")
print(f"tessera in process, one core: access token issued {cal['token_issue_per_sec']:.0f}/s "
      f"= {cal['token_issue_per_sec'] / ossl_sign:.2f} of openssl sign (target >= 0.85); "
      f"verified, no cache {cal['token_verify_per_sec']:.0f}/s "
      f"= {cal['token_verify_per_sec'] / ossl_verify:.2f} of openssl verify")
print()
print(f"| RPC | ok/s | p50 ms | p99 ms | p99.9 ms | errors | compared with | ratio | target |")
print(f"|---|---:|---:|---:|---:|---:|---:|---:|---|")
for label, r, base, target in rows:
    l = r["latency_us"]
    ratio = f"{r['ok_per_sec'] / base:.2f}" if base else ""
    base_s = f"{base:.1f}/s" if base else ""
    print(f"| {label} | {r['ok_per_sec']:.1f} | {l['p50']/1000:.3f} | {l['p99']/1000:.3f} | "
          f"{l['p99_9']/1000:.3f} | {r['errors']} | {base_s} | {ratio} | {target} |")
print()
print(f"start to SERVING on an existing data folder: {read('start-existing-ms')} ms (target < 100)")
print(f"RSS idle: {int(read('rss-idle-kib'))/1024:.1f} MiB (target < 32); "
      f"peak through the Verify runs: {int(read('rss-verify-peak-kib'))/1024:.1f} MiB (target < 64)")
errors = [(n, e) for n, run in runs.items() for e in run["errors"]]
if errors:
    print()
    print("answers other than OK:")
    for n, e in errors:
        print(f"  {n}: {e['rpc']} {e['code']} {e['reason'] or '-'} x{e['count']}")
print()
print(f"raw JSON: {out}")
PY
