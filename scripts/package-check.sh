#!/usr/bin/env bash
# Packages every publishable crate of the workspace (those without
# `publish = false`) and verifies each one: cargo unpacks each `.crate` and
# builds it alone, against the other packaged crates rather than paths
# into the workspace. A file a crate needs that lives outside its own
# directory breaks this check, not a user's build.
#
# Then builds a crate outside the workspace (`.ci/packaged-user`) whose
# program is the README's first one and which depends on the packaged
# crates only (the `.crate` files, unpacked, patched in for crates.io);
# with RUN_PACKAGED_USER=1 it runs it against an s2-lite on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

metadata=$(cargo metadata --no-deps --format-version 1)
crates=$(python3 -c '
import json, sys
meta = json.load(sys.stdin)
print(" ".join(p["name"] for p in meta["packages"] if p.get("publish") != []))
' <<<"$metadata")
unpublished=$(python3 -c '
import json, sys
meta = json.load(sys.stdin)
print(" ".join(p["name"] for p in meta["packages"] if p.get("publish") == []))
' <<<"$metadata")
# Where cargo writes (CARGO_TARGET_DIR or the workspace's target/).
target=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
echo "publishable: $crates"
# `cargo package --workspace` without the members that are not for users
# (tests, benches, tools: `publish = false`).
args=(--workspace)
for crate in $unpublished; do args+=(--exclude "$crate"); done
# Cargo takes a registry crate of a given name and version as immutable:
# what an earlier run left (the unpacked sources in cargo's registry cache,
# their build) would be used instead of the fresh package of the same
# version. So the packages are built in a target directory of their own,
# emptied first.
packaging="$target/package-check"
rm -rf "$packaging"
for crate in $crates; do
    rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/"$crate"-*
done
cargo package --target-dir "$packaging" "${args[@]}" "$@"

# The `.crate` files alone, unpacked where the user crate finds them.
unpacked="$target/packaged-crates"
rm -rf "$unpacked" && mkdir -p "$unpacked"
# `-m`: cargo writes one fixed mtime into every `.crate`, so kept mtimes
# would make the user crate's build take this run's sources for the last
# run's and reuse its artifacts.
for crate in $crates; do
    tar -xzmf "$packaging"/package/"$crate"-*.crate -C "$unpacked"
done

echo "== a user crate on the packaged crates, running the README's first program"
user="$target/packaged-user"
mkdir -p "$user/src"
cp .ci/packaged-user/Cargo.toml "$user/Cargo.toml"
# The first `rust` code block of the README is the program users copy.
python3 - "$user/src/main.rs" <<'PY'
import re, sys
readme = open("README.md").read()
block = re.search(r"```rust[^\n]*\n(.*?)```", readme, re.S)
assert block, "the README has no rust code block"
open(sys.argv[1], "w").write(block.group(1))
PY
cargo build --manifest-path "$user/Cargo.toml" --target-dir "$user/target"
if [[ "${RUN_PACKAGED_USER:-}" == 1 ]]; then
    # s2-lite on a random loopback port; it serves until its stdin closes.
    cargo build -p s2-test-server --bin s2-lite-loopback
    coproc LITE { exec "$target"/debug/s2-lite-loopback; }
    read -r endpoint <&"${LITE[0]}"
    echo "s2-lite at $endpoint"
    S2_ACCESS_TOKEN=any S2_ACCOUNT_ENDPOINT="$endpoint" S2_BASIN_ENDPOINT="$endpoint" \
        "$user/target/debug/packaged-user"
    exec {LITE[1]}>&-
    wait "$LITE_PID"
fi
