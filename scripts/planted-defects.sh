#!/usr/bin/env bash
# Tests the simulation itself: plants each defect of tests/sim/planted/
# (a reverted fix, a flipped condition) in the working tree, runs random
# worlds (seeds 0, 1, 2, ...) until one fails, and prints how many seeds
# it took. Each patch is reverted before the next; the tree must have no
# changes in the files the patches touch.
#
#   scripts/planted-defects.sh [MAX_WORLDS]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."

max="${1:-2000}"
patches=(tests/sim/planted/*.patch)
for patch in "${patches[@]}"; do
    git apply --check "$patch"
done

restore() {
    if [[ -n "${applied:-}" ]]; then
        git apply -R "$applied"
        applied=""
    fi
}
trap restore EXIT

missed=0
printf '%-45s %s\n' "planted defect" "seeds until found"
for patch in "${patches[@]}"; do
    name="$(basename "$patch" .patch)"
    git apply "$patch"
    applied="$patch"
    # One thread, so that seeds run in order and the first failure is the
    # lowest failing seed.
    log="$(SIM_WORLDS="$max" RUST_TEST_THREADS=1 SIM_THREADS=1 \
        cargo test -q -p s2-conformance --lib sim::tests::worlds_are -- --nocapture 2>&1 || true)"
    seed="$(grep -oE '^world [0-9]+ failed' <<<"$log" | head -1 | grep -oE '[0-9]+' || true)"
    if [[ -n "$seed" ]]; then
        why="$(grep -E '^world [0-9]+ failed' <<<"$log" | head -1 | cut -c1-120)"
        printf '%-45s %s   (%s)\n' "$name" "$((seed + 1))" "$why"
    elif grep -q 'error\[' <<<"$log"; then
        printf '%-45s %s\n' "$name" "does not build"
        missed=$((missed + 1))
    else
        printf '%-45s %s\n' "$name" "NOT FOUND in $max worlds"
        missed=$((missed + 1))
    fi
    restore
done
if ((missed > 0)); then
    echo "$missed planted defects were not found" >&2
    exit 1
fi
