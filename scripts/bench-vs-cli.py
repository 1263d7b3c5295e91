#!/usr/bin/env python3
"""Side-by-side load test: this SDK's load tool (`bench`, in the s2-benches
package) against the official CLI's `s2 bench`, on one standalone s2-lite,
runs alternating.

    cargo install s2-cli --locked      # provides `s2` (s2-cli 0.43.4 was used)
    scripts/bench-vs-cli.py            # all scenarios, 4 runs each
    scripts/bench-vs-cli.py --runs 6 --scenario 1k-10 --duration 20

Each run is measured with /usr/bin/time (user+sys CPU and max RSS of the
client process only; the server is a separate `s2 lite` process, in memory,
started afresh for every run, so no client finds it holding what an earlier
run wrote; the order within a pair alternates). Medians over the
runs are printed per client, then the ratios ours/official: CPU per GiB
written, write throughput, RSS, ack p50/p99, catch-up. The saturation
scenario runs at most 4 s (see SCENARIOS); a run during which the server
held writes back is marked.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (record size in bytes, target MiB/s, longest duration in seconds)
SCENARIOS = {
    "1k-10": (1024, 10, None),
    "1k-50": (1024, 50, None),
    # Saturation: a target no 2-core machine reaches. The run is short
    # because an in-memory s2-lite stalls writes for seconds once about
    # 1.5 GB are written (SlateDB's `max_unflushed_bytes` backpressure),
    # which would measure the server, not the client.
    "8k-max": (8192, 2000, 4),
}

# What the server logs when it holds writes back.
BACKPRESSURE = "applying backpressure"

THROUGHPUT = re.compile(
    r"^(Write|Read|Catchup): ([0-9.]+) MiB/s, [0-9]+ records/s \(([0-9]+) bytes"
)
LATENCY = re.compile(r"^(p50|p99)\s*:\s*([0-9.]+)(ns|us|ms|s)\b")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
UNIT = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1000.0}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lite(s2, port, log):
    env = dict(os.environ, S2LITE_NO_DASHBOARD="1")
    lite = subprocess.Popen(
        [s2, "lite", "--port", str(port)], stdout=log, stderr=log, env=env
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return lite
        except OSError:
            time.sleep(0.1)
    lite.kill()
    sys.exit("s2 lite did not start")


def parse(output):
    """Throughputs (MiB/s), written bytes and ack latencies (ms) from the
    shared output format of both tools."""
    result, in_table = {}, False
    for line in ANSI.sub("", output).splitlines():
        m = THROUGHPUT.match(line)
        if m:
            result[m.group(1).lower()] = float(m.group(2))
            if m.group(1) == "Write":
                result["bytes"] = int(m.group(3))
            continue
        if line.startswith("Ack Latency Statistics"):
            in_table = True
            continue
        m = LATENCY.match(line)
        if in_table and m:
            # The ack table is the left column (or the first when stacked).
            key = "ack_" + m.group(1)
            result.setdefault(key, float(m.group(2)) * UNIT[m.group(3)])
    return result


def run(cmd, env):
    with tempfile.NamedTemporaryFile("r") as times:
        proc = subprocess.run(
            ["/usr/bin/time", "-o", times.name, "-f", "%U %S %M"] + cmd,
            env=env,
            capture_output=True,
            text=True,
        )
        fields = times.read().split()
    if proc.returncode != 0 or len(fields) < 3:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(f"failed: {' '.join(cmd)}")
    result = parse(proc.stdout + proc.stderr)
    user, system, rss_kib = float(fields[-3]), float(fields[-2]), int(fields[-1])
    result["cpu_s"] = user + system
    result["user_s"], result["sys_s"] = user, system
    result["rss_mib"] = rss_kib / 1024
    gib = result.get("bytes", 0) / 2**30
    result["cpu_s_per_gib"] = result["cpu_s"] / gib if gib else float("nan")
    return result


def run_on_fresh_server(s2, cmd):
    """Runs `cmd` against an s2-lite of its own, with a basin ready; notes
    whether the server held writes back during the run."""
    port = free_port()
    log = tempfile.TemporaryFile("w+")
    lite = start_lite(s2, port, log)
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        S2_ACCOUNT_ENDPOINT=endpoint,
        S2_BASIN_ENDPOINT=endpoint,
        S2_ACCESS_TOKEN="ignored",
        NO_COLOR="1",
    )
    env.pop("RUST_LOG", None)
    try:
        subprocess.run([s2, "create-basin", "bench-vs-cli"], env=env, capture_output=True)
        result = run(cmd, env)
    finally:
        lite.kill()
        lite.wait()
    log.seek(0)
    result["backpressure"] = BACKPRESSURE in log.read()
    log.close()
    return result


def median(runs, key):
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--duration", type=int, default=15, help="seconds")
    parser.add_argument("--catchup-delay", type=int, default=2, help="seconds")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--s2", default=os.environ.get("S2_CLI") or shutil.which("s2"))
    args = parser.parse_args()
    if not args.s2:
        sys.exit("the official CLI is not installed: cargo install s2-cli --locked")

    subprocess.run(
        # Built alone: no test-only feature of another member reaches it.
        ["cargo", "build", "-q", "--release", "-p", "s2-benches", "--bin", "bench"],
        cwd=ROOT,
        check=True,
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ours_bin = os.path.join(target, "release", "bench")

    for name in args.scenario or list(SCENARIOS):
        size, mibps, longest = SCENARIOS[name]
        duration = min(args.duration, longest or args.duration)
        flags = [
            "-b", str(size), "-t", str(mibps),
            "-d", f"{duration}s", "-w", f"{args.catchup_delay}s",
        ]
        clients = {
            "ours": [ours_bin, "bench-vs-cli"] + flags,
            "official": [args.s2, "bench", "s2://bench-vs-cli"] + flags,
        }
        runs = {client: [] for client in clients}
        for i in range(args.runs):
            order = list(clients) if i % 2 == 0 else list(reversed(clients))
            for client in order:
                r = run_on_fresh_server(args.s2, clients[client])
                runs[client].append(r)
                print(
                    f"{name} run {i + 1} {client:8}: write {r.get('write', 0):7.2f} MiB/s"
                    f"  cpu {r['user_s']:.2f}u+{r['sys_s']:.2f}s"
                    f"  {r['cpu_s_per_gib']:6.2f} s/GiB  rss {r['rss_mib']:5.1f} MiB"
                    f"  ack p50 {r.get('ack_p50', float('nan')):6.2f} p99 {r.get('ack_p99', float('nan')):6.2f} ms"
                    f"  catchup {r.get('catchup', 0):7.2f} MiB/s"
                    + ("  (server backpressure)" if r["backpressure"] else ""),
                    flush=True,
                )
        report(name, runs)


def report(name, runs):
    rows = [
        ("CPU per GiB written (s)", "cpu_s_per_gib", "at most 0.5x"),
        ("write throughput (MiB/s)", "write", "at least 1.0x"),
        ("max RSS (MiB)", "rss_mib", "at most 0.5x"),
        ("ack p50 (ms)", "ack_p50", "at most 0.9x"),
        ("ack p99 (ms)", "ack_p99", "at most 1.0x"),
        ("catch-up read (MiB/s)", "catchup", ""),
        ("user CPU (s)", "user_s", ""),
        ("sys CPU (s)", "sys_s", ""),
    ]
    print(f"\n{name}: medians of {len(runs['ours'])} alternating runs each")
    print(f"{'':28}{'ours':>10}{'official':>10}{'ratio':>8}  goal")
    for label, key, goal in rows:
        ours, official = median(runs["ours"], key), median(runs["official"], key)
        ratio = ours / official if official else float("nan")
        print(f"{label:28}{ours:10.2f}{official:10.2f}{ratio:7.2f}x  {goal}")
    print(flush=True)


if __name__ == "__main__":
    main()
