#!/usr/bin/env bash
# Runs one fuzz target with one job for a while: fuzz/run.sh <target> [seconds] [extra libFuzzer flags]
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags; `-s none` skips
# AddressSanitizer (all engine code is safe Rust); `-a` keeps overflow checks and debug
# assertions on. Crashes land in fuzz/artifacts/<target>/, new inputs in fuzz/corpus/<target>/.
set -euo pipefail
target=${1:?usage: fuzz/run.sh <target> [seconds] [libFuzzer flags...]}
secs=${2:-300}
shift $(( $# >= 2 ? 2 : 1 ))
cd "$(dirname "$0")"
dict=dicts/$target.dict
[ "$target" = safetensors_index ] && dict=dicts/safetensors.dict
[ "$target" = safetensors_header ] && dict=dicts/safetensors.dict
RUSTC_BOOTSTRAP=1 exec cargo fuzz run -s none -a --target-dir ../target/fuzz "$target" \
  "corpus/$target" -- \
  -dict="$dict" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -print_final_stats=1 "$@"
