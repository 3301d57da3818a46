#!/usr/bin/env python3
"""What a cell costs per process and in a runtime: CPU (user+sys) and memory (max RSS).

    python3 tests/runtimes/measure.py --broker-ws PORT --cells 8 --hold 3 \
        --process "target/clients/paho-java/1.2.5/hold" \
        --runtime "target/clients/paho-java/1.2.5/runtime"

Process mode: N hold programs at once, each under /usr/bin/time: CPU and max RSS of each.
Runtime mode: the runtime under /usr/bin/time, alone (ready line, then stdin closed: its
start-up), then again taking N cells at once: its CPU and max RSS, and per cell the growth over
the idle runtime divided by N. Every cell must end `exit: 0`. Loopback only; the broker is yours.
"""
import argparse
import os
import re
import shlex
import socket
import subprocess
import tempfile
import threading
import time

TIME = ["/usr/bin/time", "-f", "%U %S %M"]


def cell_env(args, n, tag):
    return {
        "MATRIX_URL": f"ws://127.0.0.1:{args.broker_ws}/mqtt",
        "MATRIX_HOST": "127.0.0.1",
        "MATRIX_PORT": str(args.broker_ws),
        "MATRIX_PATH": "/mqtt",
        "MATRIX_TRANSPORT": "ws",
        "MATRIX_USERNAME": "matrix",
        "MATRIX_PASSWORD": "matrix-test-only",
        "MATRIX_CLIENT_ID": f"measure-{os.getpid()}-{tag}-{n}",
        "MATRIX_KEEPALIVE_SECS": "60",
        "MATRIX_HOLD_SECS": str(args.hold),
        "MATRIX_TOPIC": f"matrix/measure/{os.getpid()}/{tag}/{n}",
        "MATRIX_ROUND_TRIP_SECS": "10",
        "MATRIX_SETUP_SECS": "60",
        "MATRIX_RUN_ID": f"measure-{os.getpid()}",
        "MATRIX_PROTOCOL": args.protocol,
    }


def timed(stderr_text):
    """CPU seconds and max RSS MiB from /usr/bin/time's last line."""
    user, sys_, rss = stderr_text.strip().splitlines()[-1].split()
    return float(user) + float(sys_), int(rss) / 1024


def process_mode(args):
    procs = []
    for n in range(args.cells):
        env = dict(os.environ)
        env.update(cell_env(args, n, "p"))
        err = tempfile.TemporaryFile(mode="w+")
        procs.append((subprocess.Popen(TIME + shlex.split(args.process), env=env, stdout=subprocess.PIPE,
                                       stderr=err, text=True), err))
    cpu, rss, ok = [], [], 0
    for p, err in procs:
        out, _ = p.communicate(timeout=args.hold + 120)
        err.seek(0)
        c, r = timed(err.read())
        cpu.append(c)
        rss.append(r)
        ok += p.returncode == 0 and "done:" in out
    return cpu, rss, ok


def runtime_run(args, cells):
    err = tempfile.TemporaryFile(mode="w+")
    t0 = time.monotonic()
    rt = subprocess.Popen(TIME + shlex.split(args.runtime), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=err, text=True)
    ready = rt.stdout.readline()
    ready_at = time.monotonic() - t0
    port = int(re.fullmatch(r"runtime: 127\.0\.0\.1:(\d+)\n", ready).group(1))
    results = [None] * cells

    def one(n):
        s = socket.create_connection(("127.0.0.1", port))
        env = cell_env(args, n, "r")
        s.sendall(("".join(f"{k}={v}\n" for k, v in env.items()) + "\n").encode())
        results[n] = s.makefile().read()
        s.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(cells)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.hold + 120)
    rt.stdin.close()
    rt.wait(30)
    err.seek(0)
    c, r = timed(err.read())
    ok = sum(1 for text in results if text and text.rstrip().endswith("exit: 0"))
    return c, r, ok, ready_at


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker-ws", type=int, required=True)
    ap.add_argument("--protocol", default="3.1.1")
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--process", help="the hold command, one string (none: the runtime only)")
    ap.add_argument("--runtime", required=True, help="the runtime command, one string")
    args = ap.parse_args()

    if args.process:
        cpu, rss, ok = process_mode(args)
        print(f"process: {args.cells} cells, {ok} done; CPU per cell {min(cpu):.2f}-{max(cpu):.2f} s "
              f"(mean {sum(cpu) / len(cpu):.2f}); max RSS per cell {min(rss):.0f}-{max(rss):.0f} MiB "
              f"(sum {sum(rss):.0f})", flush=True)
    c0, r0, _, ready0 = runtime_run(args, 0)
    print(f"runtime alone: ready after {ready0:.2f} s, CPU {c0:.2f} s, max RSS {r0:.0f} MiB", flush=True)
    c, r, ok, _ = runtime_run(args, args.cells)
    print(f"runtime with {args.cells} cells, {ok} done: CPU {c:.2f} s, max RSS {r:.0f} MiB; "
          f"per cell above the idle runtime: CPU {(c - c0) / args.cells:.3f} s, RSS {(r - r0) / args.cells:.1f} MiB",
          flush=True)


if __name__ == "__main__":
    main()
