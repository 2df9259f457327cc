#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30) with cargo fuzz
# (libFuzzer), starting from fuzz/corpus/TARGET and adding what it finds
# there. Stable Rust: RUSTC_BOOTSTRAP lets cargo fuzz pass -Zsanitizer.
#
#   fuzz/run.sh 600      # ten minutes per target
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=(config env_vars records env_name audit_line shell_quote history ausearch_raw usage_line)
cargo fuzz build --release 2>&1 | tail -1
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    status=0
    output=$(cargo fuzz run --release "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 2>&1) || status=$?
    grep -E "^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|Done)" <<<"$output" || true
    # a run that executed nothing proves nothing: no corpus, a build that
    # did not happen, a fuzzer that could not start
    executed=$(sed -n 's/^stat::number_of_executed_units: *//p' <<<"$output" | tail -n 1)
    if [ "$status" -ne 0 ] || [ -z "$executed" ] || [ "$executed" -eq 0 ]; then
        tail -n 30 <<<"$output"
        echo "fuzz target $target failed (exit status $status, ${executed:-no} units executed)"
        exit 1
    fi
    if ls "artifacts/$target"/crash-* "artifacts/$target"/oom-* "artifacts/$target"/timeout-* >/dev/null 2>&1; then
        echo "fuzz target $target found a failure: fuzz/artifacts/$target"
        exit 1
    fi
done
echo "== fuzzing passed"
