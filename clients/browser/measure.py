#!/usr/bin/env python3
"""Memory and CPU of browser cells: a browser per cell (hold.mjs alone) against one browser
per run (serve.mjs + hold.mjs with MATRIX_SERVICE), against a real broker.

    python3 clients/browser/measure.py --port 32768 --cells 8 --mode service --hold 20

Each cell runs in a session and process group of its own, as the harness starts it; the
service too. Every 0.5 s it sums, over the processes of those groups, the resident set
(VmRSS) and the proportional set (Pss, /proc/PID/smaps_rollup: shared pages split between
the processes sharing them, so it moves with other Chromiums on the machine) and the unique
set (USS: Private_Clean + Private_Dirty), and keeps the peak. CPU (user+sys) per cell: the cell's own,
with the processes it waited for (its Chromium, on the own-browser side: os.wait4), plus, on
the service side, the growth of the service group's CPU over the cells' run (utime, stime
and the children's cutime/cstime of every process in it) divided by the number of cells.
The hold is idle (keepalive 60 s), so a cell's CPU is what its start and end cost.
Not counted: Chromium's two crashpad handlers per browser, which leave the group (setsid);
about 4-5 MB RSS each.
"""
import argparse
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    # state ppid pgrp session ... utime(14) stime(15) cutime(16) cstime(17), 1-based after comm
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]), "sid": int(rest[3]),
            "cpu": sum(int(x) for x in rest[11:15]) / TICK}


def memory(pid):
    """(RSS, PSS, USS) in KiB; USS = Private_Clean + Private_Dirty."""
    rss = pss = uss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                    uss += int(line.split()[1])
    except OSError:
        pass
    return rss, pss, uss


def processes(sessions):
    """pid -> stat for the living processes in the given sessions."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            st = stat(int(name))
        except OSError:
            continue
        if st["sid"] in sessions and st["state"] != "Z":
            out[int(name)] = st
    return out


class Sampler(threading.Thread):
    def __init__(self, groups):
        super().__init__(daemon=True)
        self.groups = groups  # name -> set of session ids (mutable)
        self.peak = None
        self.stop = False

    def run(self):
        while not self.stop:
            sessions = set().union(*self.groups.values())
            procs = processes(sessions)
            row = {}
            for g, sids in self.groups.items():
                rss = pss = uss = n = 0
                for pid, st in procs.items():
                    if st["sid"] in sids:
                        r, p, u = memory(pid)
                        rss, pss, uss, n = rss + r, pss + p, uss + u, n + 1
                row[g] = (rss, pss, uss, n)
            total = sum(v[0] for v in row.values())
            if self.peak is None or total > self.peak[0]:
                self.peak = (total, row)
            time.sleep(0.5)


def cell_env(args, i, service):
    env = dict(os.environ)
    env.update({
        "MATRIX_TRANSPORT": "ws", "MATRIX_HOST": "127.0.0.1", "MATRIX_PORT": str(args.port),
        "MATRIX_PATH": "/mqtt", "MATRIX_USERNAME": "matrix", "MATRIX_PASSWORD": "matrix-test-only",
        "MATRIX_CLIENT_ID": f"measure-{os.getpid()}-{i}", "MATRIX_TOPIC": f"test/measure-{os.getpid()}-{i}",
        "MATRIX_KEEPALIVE_SECS": "60", "MATRIX_HOLD_SECS": str(args.hold), "MATRIX_ROUND_TRIP_SECS": "10",
        "MATRIX_BROWSER_TRACE": "1",
    })
    env.pop("MATRIX_SERVICE", None)
    if service:
        env["MATRIX_SERVICE"] = service
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="the broker's WebSocket port on 127.0.0.1")
    ap.add_argument("--cells", type=int, default=1)
    ap.add_argument("--mode", choices=["own", "service"], required=True)
    ap.add_argument("--hold", type=float, default=20)
    args = ap.parse_args()

    groups = {"service": set(), "cells": set()}
    service_value = None
    serve = None
    base = None
    cpu0 = 0.0
    if args.mode == "service":
        serve = subprocess.Popen(["node", os.path.join(HERE, "serve.mjs")], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True)
        line = serve.stdout.readline()
        if not line.startswith("service: "):
            sys.exit(f"serve.mjs said {line!r}")
        service_value = line[len("service: "):].strip()
        groups["service"].add(serve.pid)
        time.sleep(2)
        procs = processes({serve.pid})
        mems = [memory(p) for p in procs]
        base = (sum(m[0] for m in mems), sum(m[1] for m in mems), sum(m[2] for m in mems), len(procs))
        cpu0 = sum(s["cpu"] for s in procs.values())

    sampler = Sampler(groups)
    sampler.start()
    cells = []
    started = time.monotonic()
    for i in range(args.cells):
        p = subprocess.Popen(["node", os.path.join(HERE, "hold.mjs")], env=cell_env(args, i, service_value),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
        groups["cells"].add(p.pid)
        cells.append((p, time.monotonic()))
    results = []
    for p, t0 in cells:
        _, status, ru = os.wait4(p.pid, 0)
        out, err = p.stdout.read(), p.stderr.read()
        m = re.search(r"\+(\d+) ms page: connack", err)
        results.append({"exit": os.waitstatus_to_exitcode(status), "cpu": ru.ru_utime + ru.ru_stime,
                        "connack_ms": int(m.group(1)) if m else None, "done": "done:" in out,
                        "last": (out.strip().splitlines() or [""])[-1]})
    wall = time.monotonic() - started
    time.sleep(1)
    sampler.stop = True
    sampler.join()
    service_cpu = 0.0
    if serve:
        procs = processes({serve.pid})
        service_cpu = sum(s["cpu"] for s in procs.values()) - cpu0
        serve.stdin.close()  # the end of its stdin ends the service
        serve.wait(timeout=10)

    mib = lambda kb: kb / 1024
    total, row = sampler.peak
    print(f"mode {args.mode}, {args.cells} cell(s), hold {args.hold} s, wall {wall:.1f} s")
    print(f"  cells: {sum(r['done'] for r in results)} done:, exits {sorted(set(r['exit'] for r in results))}, "
          f"last lines {sorted(set(r['last'][:60] for r in results))}")
    if base:
        print(f"  service before any cell: RSS {mib(base[0]):.0f} MiB, PSS {mib(base[1]):.0f} MiB, "
              f"USS {mib(base[2]):.0f} MiB, {base[3]} processes")
    for g, (rss, pss, uss, n) in row.items():
        if n:
            print(f"  at the peak, {g}: RSS {mib(rss):.0f} MiB, PSS {mib(pss):.0f} MiB, USS {mib(uss):.0f} MiB, {n} processes")
    rss_all, pss_all, uss_all = (sum(v[i] for v in row.values()) for i in range(3))
    print(f"  peak total: RSS {mib(rss_all):.0f} MiB, PSS {mib(pss_all):.0f} MiB, USS {mib(uss_all):.0f} MiB")
    if base:
        print(f"  per cell above the idle service: RSS {mib(rss_all - base[0]) / args.cells:.0f} MiB, "
              f"PSS {mib(pss_all - base[1]) / args.cells:.0f} MiB, USS {mib(uss_all - base[2]) / args.cells:.0f} MiB")
    else:
        print(f"  per cell: RSS {mib(rss_all) / args.cells:.0f} MiB, PSS {mib(pss_all) / args.cells:.0f} MiB, "
              f"USS {mib(uss_all) / args.cells:.0f} MiB")
    cpu_cells = [r["cpu"] for r in results]
    print(f"  CPU per cell (user+sys): own process(es) {sum(cpu_cells) / len(cpu_cells):.2f} s "
          f"(min {min(cpu_cells):.2f}, max {max(cpu_cells):.2f})"
          + (f" + the shared browser's {service_cpu / args.cells:.2f} s = {(sum(cpu_cells) + service_cpu) / args.cells:.2f} s" if serve else ""))
    ms = [r["connack_ms"] for r in results if r["connack_ms"] is not None]
    if ms:
        print(f"  start to CONNACK: {min(ms)}-{max(ms)} ms")


if __name__ == "__main__":
    main()
