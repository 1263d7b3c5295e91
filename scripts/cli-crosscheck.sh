#!/usr/bin/env bash
# Cross-checks this SDK against the official `s2` CLI (crate s2-cli) on a
# standalone s2-lite: what one writes, the other must read back byte-exact.
#
#   cargo install s2-cli --locked      # provides `s2`
#   scripts/cli-crosscheck.sh
#
# Starts `s2 lite` on a free port, then:
#   1. the SDK's append_session example writes; `s2 read` and the SDK's cat
#      example must print identical json-base64 lines;
#   2. `s2 append` writes binary records with headers; the SDK's cat example
#      must print exactly what `s2 read` prints.
#   6-7. the same both ways on an encrypted stream (aegis-256), with one
#      base64 key given to the SDK and to the CLI (`-k`, `S2_ENCRYPTION_KEY`).
set -euo pipefail
cd "$(dirname "$0")/.."
S2=${S2_CLI:-s2}
port=${PORT:-18181}
work=$(mktemp -d)
S2LITE_NO_DASHBOARD=1 "$S2" lite --port "$port" >"$work/lite.log" 2>&1 &
lite=$!
trap 'kill $lite 2>/dev/null; rm -rf "$work"' EXIT
export S2_ACCOUNT_ENDPOINT=http://localhost:$port S2_BASIN_ENDPOINT=http://localhost:$port S2_ACCESS_TOKEN=ignored
for _ in $(seq 50); do curl -sf "http://localhost:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done

cargo build -q -p s2-tokio --examples
ex=target/debug/examples

echo "1. SDK writes, CLI reads"
S2_BASIN=crosscheck-basin S2_STREAM=sdk-written S2_BATCHES=20 "$ex/append_session" >/dev/null
"$S2" read s2://crosscheck-basin/sdk-written -s 0 --format json-base64 -n 100000 2>/dev/null >"$work/cli.jsonl"
S2_BASIN=crosscheck-basin S2_STREAM=sdk-written "$ex/cat" >"$work/sdk.jsonl"
diff "$work/cli.jsonl" "$work/sdk.jsonl"
echo "   identical: $(wc -l <"$work/sdk.jsonl") records"

echo "2. SDK auto-batching writes, CLI reads exactly what was acked"
acked=$(S2_BASIN=crosscheck-basin S2_STREAM=batched S2_RECORDS=300 "$ex/append_session_with_auto_batching" | sed -n 's/^done: \([0-9]*\) records$/\1/p')
"$S2" read s2://crosscheck-basin/batched -s 0 --format json-base64 -n 100000 2>/dev/null >"$work/cli3.jsonl"
S2_BASIN=crosscheck-basin S2_STREAM=batched "$ex/cat" >"$work/sdk3.jsonl"
diff "$work/cli3.jsonl" "$work/sdk3.jsonl"
test "$(wc -l <"$work/cli3.jsonl")" -eq "$acked"
echo "   identical: $acked acked records"

echo "3. CLI writes, SDK reads"
"$S2" create-stream s2://crosscheck-basin/cli-written >/dev/null
python3 - >"$work/input.jsonl" <<'PY'
import base64, json, os
for i in range(200):
    body = os.urandom(i % 97) + bytes([i % 256])
    headers = [[base64.b64encode(b"k%d" % i).decode(), base64.b64encode(os.urandom(5)).decode()]]
    print(json.dumps({"headers": headers, "body": base64.b64encode(body).decode()}))
PY
"$S2" append s2://crosscheck-basin/cli-written --format json-base64 <"$work/input.jsonl" >/dev/null 2>&1
"$S2" read s2://crosscheck-basin/cli-written -s 0 --format json-base64 -n 100000 2>/dev/null >"$work/cli2.jsonl"
S2_BASIN=crosscheck-basin S2_STREAM=cli-written "$ex/cat" >"$work/sdk2.jsonl"
diff "$work/cli2.jsonl" "$work/sdk2.jsonl"
python3 - "$work/input.jsonl" "$work/sdk2.jsonl" <<'PY'
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert [(s["headers"], s["body"]) for s in sent] == [(g["headers"], g["body"]) for g in got], "content differs"
PY
echo "   identical: $(wc -l <"$work/sdk2.jsonl") records, byte-exact with what the CLI sent"

echo "4. CLI appends while the SDK's read session follows the stream"
"$S2" create-stream s2://crosscheck-basin/live >/dev/null
S2_BASIN=crosscheck-basin S2_STREAM=live S2_FOLLOW=300 "$ex/cat" >"$work/sdk4.jsonl" &
follower=$!
sleep 1
for part in 0 1 2; do
  sed -n "$((part * 100 + 1)),$((part * 100 + 100))p" "$work/input.jsonl" "$work/input.jsonl" |
    "$S2" append s2://crosscheck-basin/live --format json-base64 >/dev/null 2>&1
  sleep 0.5
done
wait $follower
"$S2" read s2://crosscheck-basin/live -s 0 --format json-base64 -n 300 2>/dev/null >"$work/cli4.jsonl"
diff "$work/cli4.jsonl" "$work/sdk4.jsonl"
echo "   identical: $(wc -l <"$work/sdk4.jsonl") records received live"

echo "5. SDK append session with the connection cut every second; CLI reads exactly what was acked"
out=$(S2_BASIN=crosscheck-basin S2_STREAM=cut S2_BATCHES=1500 S2_CUT_EVERY_MS=1000 "$ex/append_session")
acked=$(sed -n 's/^done: \([0-9]*\) records.*$/\1/p' <<<"$out")
cuts=$(sed -n 's/^the connection was cut \([0-9]*\) times$/\1/p' <<<"$out")
"$S2" read s2://crosscheck-basin/cut -s 0 --format json-base64 -n 10000000 2>/dev/null >"$work/cli5.jsonl"
S2_BASIN=crosscheck-basin S2_STREAM=cut "$ex/cat" >"$work/sdk5.jsonl"
diff "$work/cli5.jsonl" "$work/sdk5.jsonl"
test "$(wc -l <"$work/cli5.jsonl")" -eq "$acked"
echo "   identical: $acked acked records on the stream, ${cuts:-0} cuts"

echo "6. SDK writes an encrypted stream, CLI reads it with the same key"
key=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
"$S2" create-basin s2://crosscheck-enc --stream-cipher aegis-256 >/dev/null
S2_BASIN=crosscheck-enc S2_STREAM=sdk-written S2_RECORDS=50 S2_ENCRYPTION_KEY=$key "$ex/encryption" >"$work/enc6.log"
grep -q "^without the key: the stream is encrypted" "$work/enc6.log"
"$S2" read s2://crosscheck-enc/sdk-written -s 0 --format json-base64 -n 1000 -k "$key" 2>/dev/null >"$work/cli6.jsonl"
S2_BASIN=crosscheck-enc S2_STREAM=sdk-written S2_ENCRYPTION_KEY=$key "$ex/cat" >"$work/sdk6.jsonl"
diff "$work/cli6.jsonl" "$work/sdk6.jsonl"
python3 - "$work/cli6.jsonl" <<'PY'
import base64, json, sys
got = [base64.b64decode(json.loads(l)["body"]) for l in open(sys.argv[1])]
assert got == [b"secret message %d" % i for i in range(50)], "content differs"
PY
if "$S2" read s2://crosscheck-enc/sdk-written -s 0 -n 1 >/dev/null 2>&1; then
  echo "   the CLI read the stream without the key" >&2; exit 1
fi
other=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
if S2_ENCRYPTION_KEY=$other "$S2" read s2://crosscheck-enc/sdk-written -s 0 -n 1 >/dev/null 2>&1; then
  echo "   the CLI read the stream with another key" >&2; exit 1
fi
echo "   identical: $(wc -l <"$work/sdk6.jsonl") records; refused without the key and with another"

echo "7. CLI writes an encrypted stream, SDK reads it with the same key"
"$S2" create-stream s2://crosscheck-enc/cli-written >/dev/null
S2_ENCRYPTION_KEY=$key "$S2" append s2://crosscheck-enc/cli-written --format json-base64 <"$work/input.jsonl" >/dev/null 2>&1
"$S2" read s2://crosscheck-enc/cli-written -s 0 --format json-base64 -n 100000 -k "$key" 2>/dev/null >"$work/cli7.jsonl"
S2_BASIN=crosscheck-enc S2_STREAM=cli-written S2_ENCRYPTION_KEY=$key "$ex/cat" >"$work/sdk7.jsonl"
diff "$work/cli7.jsonl" "$work/sdk7.jsonl"
python3 - "$work/input.jsonl" "$work/sdk7.jsonl" <<'PY'
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert [(s["headers"], s["body"]) for s in sent] == [(g["headers"], g["body"]) for g in got], "content differs"
PY
if S2_BASIN=crosscheck-enc S2_STREAM=cli-written "$ex/cat" >/dev/null 2>&1; then
  echo "   the SDK read the stream without the key" >&2; exit 1
fi
echo "   identical: $(wc -l <"$work/sdk7.jsonl") records, byte-exact with what the CLI sent"
