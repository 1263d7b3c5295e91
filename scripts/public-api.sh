#!/usr/bin/env bash
# Checks the public API listings in api/ (one per published crate) against
# the code, and fails with the lines that differ; --bless rewrites them.
#
#   scripts/public-api.sh            # check (CI runs this)
#   scripts/public-api.sh --bless    # regenerate api/*.txt, then commit them
#
# The listings are made from rustdoc JSON by tools/public-api (crate
# s2-public-api); see CONTRIBUTING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p s2-public-api -- "$@"
