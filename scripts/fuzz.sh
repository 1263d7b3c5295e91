#!/usr/bin/env bash
# Runs every cargo-fuzz target of `fuzz/` for N executions (default
# 10,000,000) and reports, per target, the executions run, their rate and
# the crashes found.
#
#   scripts/fuzz.sh [executions]              # all targets, one after another
#   TARGETS="read_session" scripts/fuzz.sh 1000000
#   SANITIZER=address scripts/fuzz.sh         # ASan (default: none, ~2x faster)
#   JOBS=2 scripts/fuzz.sh                    # libFuzzer fork mode, 2 jobs
#   MAX_LEN=4096 scripts/fuzz.sh              # longest input (default 1024 bytes)
#
# Installs cargo-fuzz when missing. The toolchain may be stable: cargo-fuzz
# passes nightly-only flags (-Zsanitizer=...), which RUSTC_BOOTSTRAP=1 makes
# stable rustc accept. Targets are built optimized *with* debug assertions
# and overflow checks (-O -a): a wrap-around is a finding, as a panic is.
#
# Crashes at the locations listed in fuzz/regressions/known.txt (findings
# already recorded, fix pending) neither stop nor slow a target: they are
# passed to it as S2_FUZZ_KNOWN (KNOWN=none crashes on them too). Any other
# crash stops the target (in fork mode, JOBS>0, it is saved and the run goes
# on); its input is saved under fuzz/artifacts/<target>/ (ignored by git:
# check it in under fuzz/regressions/<target>/ so the stable
# `cargo test -p s2-fuzz-bodies` keeps it fixed). New corpus entries go to
# fuzz/target/work-corpus/<target>; the seeds in fuzz/corpus/<target>/ are
# only read.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
runs=${1:-10000000}
jobs=${JOBS:-0}
sanitizer=${SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "${KNOWN:-}" != none ] && [ -f regressions/known.txt ]; then
    # `|| true`: an empty list (no finding pending) is not an error.
    S2_FUZZ_KNOWN=$(grep -v '^#' regressions/known.txt | grep . | paste -sd, - || true)
    export S2_FUZZ_KNOWN
fi

targets=${TARGETS:-$(cargo fuzz list)}
cargo fuzz build -O -a -s "$sanitizer"

mode=()
if [ "$jobs" -gt 0 ]; then
    mode=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi

summary=()
status=0
for target in $targets; do
    work=target/work-corpus/$target
    artifacts=artifacts/$target
    mkdir -p "$work" "$artifacts" "corpus/$target"
    marker=target/fuzz-$target.started
    touch "$marker"
    log=target/fuzz-$target.log
    start=$(date +%s)
    echo "== $target: $runs executions"
    cargo fuzz run -O -a -s "$sanitizer" "$target" "$work" "corpus/$target" -- \
        -runs="$runs" "${mode[@]}" -timeout=10 -rss_limit_mb=2048 \
        -max_len="${MAX_LEN:-1024}" -print_final_stats=1 >"$log" 2>&1 || true
    secs=$(( $(date +%s) - start ))
    found=$(find "$artifacts" -type f -newer "$marker")
    new=$(grep -c . <<<"$found" || true)
    if [ "$jobs" -gt 0 ]; then
        # "#<execs>: cov: ... exec/s: <rate> oom/timeout/crash: a/b/c ..."
        last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -n 1 || true)
        execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
        rate=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")
    else
        execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
        rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    fi
    line="$target: ${execs:-?} execs in ${secs}s (${rate:-?} exec/s), $new crashes"
    echo "$line"
    summary+=("$line")
    if [ "$new" -gt 0 ]; then
        status=1
        sed 's/^/    /' <<<"$found"
        grep -m1 -A2 'panicked at' "$log" | sed 's/^/    /' || true
    fi
done

echo
echo "== summary (logs: fuzz/target/fuzz-<target>.log)"
printf '%s\n' "${summary[@]}"
exit $status
