#!/usr/bin/env bash
# Runs every cargo-fuzz target of `fuzz/` for N executions (default
# 10,000,000) and reports, per target, the executions run, their rate and
# the crashes found.
#
#   scripts/fuzz.sh [executions]             # all targets
#   TARGETS="read_session" scripts/fuzz.sh 1000000
#   JOBS=2 scripts/fuzz.sh                   # parallel fuzzing jobs per target
#
# Installs cargo-fuzz when missing. The toolchain may be stable: cargo-fuzz
# passes nightly-only flags (-Zsanitizer=address), which RUSTC_BOOTSTRAP=1
# makes stable rustc accept.
#
# libFuzzer runs in fork mode with -ignore_crashes=1, so a known crash does
# not end the run before N executions: every crash is saved under
# fuzz/artifacts/<target>/ (a directory git ignores; check a crash in under
# fuzz/regressions/<target>/ so the stable `cargo test -p s2-fuzz-bodies`
# keeps it fixed). New corpus entries go to fuzz/target/work-corpus/<target>;
# the checked-in seeds in fuzz/corpus/<target>/ are only read.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
runs=${1:-10000000}
jobs=${JOBS:-1}
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=${TARGETS:-$(cargo fuzz list)}
cargo fuzz build -O

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
    cargo fuzz run -O "$target" "$work" "corpus/$target" -- \
        -runs="$runs" -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || true
    secs=$(( $(date +%s) - start ))
    found=$(find "$artifacts" -type f -newer "$marker")
    # Fork mode's progress lines: "#<execs>: cov: ... exec/s: <rate> oom/timeout/crash: a/b/c ...".
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -n 1 || true)
    execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    rate=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")
    failures=$(sed -nE 's/.*oom\/timeout\/crash: ([0-9]+\/[0-9]+\/[0-9]+).*/\1/p' <<<"$last")
    new=$(grep -c . <<<"$found" || true)
    line="$target: ${execs:-?} execs in ${secs}s (${rate:-?} exec/s), oom/timeout/crash ${failures:-?}, $new new artifacts"
    echo "$line"
    summary+=("$line")
    if [ "$new" -gt 0 ]; then
        status=1
        sed 's/^/    /' <<<"$found"
    fi
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
