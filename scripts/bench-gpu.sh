#!/usr/bin/env bash
# The GPU benchmark set behind BENCHMARKS.md's GPU sections, in one run: perf models at the
# h-350m and h-tiny shapes (random weights), `granite bench` with and without fused norms, a
# profile of each, and the Mamba mixer's chunked scan against the sequential one.
#
#   GRANITE=target/release/granite BENCH_MAMBA=target/release/examples/bench_mamba \
#   MODELS=/tmp/perf OUT=/tmp/bench-out bash scripts/bench-gpu.sh
#
# Every step has its own time limit and its own log in $OUT, so a failing or slow step leaves
# the others' figures. SKIP_TINY=1 leaves out h-tiny (12.9 GB of weights, ~1 min to write).
set -u
cd "$(dirname "$0")/.."
GRANITE=${GRANITE:-target/release/granite}
BENCH_MAMBA=${BENCH_MAMBA:-target/release/examples/bench_mamba}
MODELS=${MODELS:-/tmp/perf}
OUT=${OUT:-/tmp/bench-out}
PY=${PY:-python3}
PP=${PP:-512}
TG=${TG:-128}
mkdir -p "$MODELS" "$OUT"

step() { # step NAME SECONDS COMMAND... : runs with a limit, logs to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "== $name: rc $rc, $((SECONDS - t0)) s"
    tail -n 40 "$OUT/$name.log"
}

gen() { echo "$PY" scripts/make_fixtures.py --perf "$1" --out "$MODELS/$1"; }

"$GRANITE" devices >"$OUT/devices.log" 2>&1
cat "$OUT/devices.log"

if [ -z "${SKIP_TINY:-}" ]; then
    # Written in the background while the smaller model is measured.
    ($(gen h-tiny) >"$OUT/gen-h-tiny.log" 2>&1; echo "rc $?" >>"$OUT/gen-h-tiny.log") &
    tiny_pid=$!
fi
step gen-h-350m 120 $(gen h-350m)
# PRE_BENCH: a command to run before the first benchmark (tests, say), while h-tiny is written.
if [ -n "${PRE_BENCH:-}" ]; then eval "$PRE_BENCH"; fi

bench() { # bench MODEL LABEL ARGS...
    local model=$1 label=$2
    shift 2
    step "$label" 240 "$GRANITE" bench --model "$MODELS/$model" "$@"
}
bench h-350m h350m-fused -p "$PP" -n "$TG" -r 3
bench h-350m h350m-unfused --fused-norms off -p 0 -n "$TG" -r 3
bench h-350m h350m-profile -p "$PP" -n 32 -r 1 --profile
step mamba-scan 240 "$BENCH_MAMBA" --tokens 512,4096 --reps 3

if [ -n "${tiny_pid:-}" ]; then
    wait "$tiny_pid"
    tail -n 3 "$OUT/gen-h-tiny.log"
    bench h-tiny htiny-fused -p "$PP" -n "$TG" -r 3
    bench h-tiny htiny-profile -p "$PP" -n 32 -r 1 --profile
    bench h-tiny htiny-unfused --fused-norms off -p 0 -n "$TG" -r 2
fi
