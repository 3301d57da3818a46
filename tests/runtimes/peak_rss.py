#!/usr/bin/env python3
"""Run a command and report its wall time and the peak of the summed RSS of it and all its
descendants (sampled every 0.2 s from /proc; Docker's containers are not descendants, so a
broker's memory is not in it), plus the number of processes at that peak.

    python3 tests/runtimes/peak_rss.py -- cargo test --locked --test matrix
"""
import os
import subprocess
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(root):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(pid))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def main():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    t0 = time.monotonic()
    p = subprocess.Popen(argv)
    peak, peak_n = 0, 0
    while p.poll() is None:
        pids = tree(p.pid)
        total = sum(rss(q) for q in pids)
        if total > peak:
            peak, peak_n = total, len(pids)
        time.sleep(0.2)
    wall = time.monotonic() - t0
    print(f"peak_rss: wall {wall:.1f} s, peak summed RSS {peak / 2**20:.0f} MiB over {peak_n} processes, "
          f"status {p.returncode}", file=sys.stderr, flush=True)
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
