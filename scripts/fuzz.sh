#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) from its seed corpus
# (fuzz/seeds/<target>) for a bounded time, and fails on the first crash.
#
#   scripts/fuzz.sh              # 30 s a target, as .ci/run does
#   SECONDS_EACH=600 scripts/fuzz.sh
#   RUNS=10000000 scripts/fuzz.sh   # a long run: that many executions a target
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing). New
# inputs go to fuzz/corpus/<target> (not committed); a crash is written to
# fuzz/artifacts/<target>/ and printed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_EACH="${SECONDS_EACH:-30}"
RUNS="${RUNS:-}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    if [ -n "$RUNS" ]; then
        limit=(-runs="$RUNS")
    else
        limit=(-max_total_time="$SECONDS_EACH")
    fi
    echo "== fuzz $target (${limit[*]})"
    log="$(mktemp)"
    if ! cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        "${limit[@]}" -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz: $target failed" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    rm -f "$log"
done
