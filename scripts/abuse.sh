#!/usr/bin/env bash
# Replays the hardening review's probes against a real tessera and prints one verdict
# a probe ("held", or "BROKEN" with what was seen). Exits 1 if any broke.
#
#   scripts/abuse.sh
#
# It builds release, makes a throwaway RS256 key and data folder, starts tessera on
# 127.0.0.1 with short connection timeouts, runs the client probes
# (examples/abuse: raw HTTP/2, budgets, emails, spent tokens, malformed requests,
# forged tokens), then the probes that need the server's files or process: folder
# permissions, a second server, shutdown with an idle connection, damaged state and
# a mistyped master key. Needs openssl. Targets loopback only, stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet --bin tessera --example abuse
BIN="$PWD/target/release/tessera"
PROBES="$PWD/target/release/examples/abuse"

WORK="$(mktemp -d)"
PID=""
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/signing.pem" 2>/dev/null
export TESSERA_DATA_DIR="$WORK/data"
export TESSERA_SIGNING_KEY="$WORK/signing.pem"
export TESSERA_BCRYPT_COST=4
export TESSERA_HANDSHAKE_TIMEOUT=1s
export TESSERA_IDLE_TIMEOUT=2s
export TESSERA_SHUTDOWN_GRACE=10s
export TESSERA_LOG_FORMAT=json
export TESSERA_LISTEN=127.0.0.1:0

BROKEN=0
verdict() { # held-or-not item probe seen
    local mark="held  "
    if [ "$1" != 1 ]; then mark="BROKEN"; BROKEN=$((BROKEN + 1)); fi
    printf '%s %4s  %-58s %s\n' "$mark" "$2" "$3" "$4"
}

start() { # starts the server in the background, sets PID and ADDR
    "$BIN" serve >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        ADDR="$(grep -o '"address":"[^"]*"' "$WORK/server.log" | head -1 | cut -d'"' -f4 || true)"
        [ -n "$ADDR" ] && return 0
        sleep 0.1
    done
    echo "tessera did not start:" >&2
    cat "$WORK/server.log" >&2
    exit 1
}

start
echo "== client probes against $ADDR"
"$PROBES" --addr "$ADDR" --data-dir "$TESSERA_DATA_DIR" --signing-key "$TESSERA_SIGNING_KEY" \
    --handshake-timeout 1 --idle-timeout 2 || BROKEN=$((BROKEN + 1))

echo "== server-side probes"
# Item 10: the data folder and its files are the owner's alone, whatever the umask.
modes="$(stat -c '%a %n' "$TESSERA_DATA_DIR" "$TESSERA_DATA_DIR"/* | sed "s|$TESSERA_DATA_DIR|data|")"
loose="$(awk '$1 != "700" && $1 != "600"' <<<"$modes")"
verdict "$([ -z "$loose" ] && echo 1)" 10 "data folder 0700, its files 0600" "$(tr '\n' ' ' <<<"$modes")"

# Item 15: a second server on the same folder exits 2.
set +e
second="$(TESSERA_LISTEN=127.0.0.1:0 timeout 20 "$BIN" serve 2>&1 >/dev/null | tail -1)"
rc=$?
set -e
verdict "$([ "$rc" = 2 ] && echo 1)" 15 "a second server on the same folder exits 2" "exit $rc: ${second:0:70}"

# Item 9: an idle HTTP/2 connection does not hold shutdown for the grace period.
exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR##*:}"
printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00' >&3
sleep 0.3
began=$(date +%s%N)
kill -TERM "$PID"
wait "$PID" || true
PID=""
took=$(( ($(date +%s%N) - began) / 1000000 ))
exec 3>&-
verdict "$([ "$took" -lt 2000 ] && echo 1)" 9 "SIGTERM with an idle connection exits at once" "stopped in $took ms (grace 10 s)"

# Item 11: damaged state is refused at start, never replaced.
damaged() { # item probe: run serve on $WORK/copy, expect exit 2
    set +e
    local line
    line="$(TESSERA_DATA_DIR="$WORK/copy" timeout 20 "$BIN" serve 2>&1 >/dev/null | tail -1)"
    local rc=$?
    set -e
    verdict "$([ "$rc" = 2 ] && echo 1)" "$1" "$2" "exit $rc: ${line:0:70}"
    rm -rf "$WORK/copy"
}
cp -a "$TESSERA_DATA_DIR" "$WORK/copy" && : >"$WORK/copy/tessera.db" && rm -f "$WORK/copy"/tessera.db-*
damaged 11 "a 0-byte database beside a master key is refused"
cp -a "$TESSERA_DATA_DIR" "$WORK/copy" && rm "$WORK/copy/master.key"
damaged 11 "a database without its master key is refused"
cp -a "$TESSERA_DATA_DIR" "$WORK/copy"
dd if=/dev/urandom of="$WORK/copy/tessera.db" bs=4096 seek=2 count=2 conv=notrunc status=none
damaged 11 "a database with damaged pages is refused"

# Item 15: operator commands prove the master key before doing anything.
wrong="$(openssl rand -base64 32)"
for cmd in "keys rotate --now" "keys list"; do
    set +e
    # shellcheck disable=SC2086
    line="$(TESSERA_MASTER_KEY="$wrong" timeout 20 "$BIN" $cmd 2>&1 >/dev/null | tail -1)"
    rc=$?
    set -e
    verdict "$([ "$rc" = 2 ] && echo 1)" 15 "\`$cmd\` with a mistyped master key exits 2" "exit $rc: ${line:0:70}"
done

echo "== probes that need a fault only a test can stage (run by cargo test)"
cat <<'EOF'
tested    8  a retry of a refresh whose answer was lost, across a restart  tests/it/refresh.rs a_retry_after_the_server_restarted_…
tested   12  disk full: STORAGE_UNAVAILABLE, NOT_SERVING, recovery     tests/it/binary.rs a_full_disk_…
tested   15  users revoke-role ends the user's sessions                tests/it/binary.rs users_grant_role_…
tested   16  a refresh token at its expiry second is refused           tests/it/refresh.rs an_expired_refresh_token_…
EOF

if [ "$BROKEN" -gt 0 ]; then
    echo "$BROKEN probe group(s) broke" >&2
    exit 1
fi
echo "every probe held"
