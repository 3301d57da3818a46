#!/usr/bin/env python3
"""Drive a client runtime (the runtime protocol, clients/README.md "Runtimes") by hand.

Starts the runtime's argv with stdin a pipe, reads its `runtime: 127.0.0.1:PORT` line, then runs
cells on it over TCP against a broker you started (loopback only):

    python3 tests/runtimes/drive.py --broker-ws PORT --cells 8 --cancel 1 --hold 6 \
        --process target/clients/paho-java/1.2.5/hold -- target/clients/paho-java/1.2.5/runtime

Checks, each printed as `ok:` or `FAIL:` (exit status 1 if any failed):
  - every cell but the cancelled ones prints `client:`, `done:` and `exit: 0`;
  - a cancelled cell (its connection closed by us mid-hold) leaves the runtime's thread count
    and its open sockets where they were before it within 2 s, and the others still finish;
  - bad headers (a line without `=`, no MATRIX_URL, no empty line within 64 KiB) get
    `error: ...` and `exit: 2`;
  - with --process ARGV, the same cell run as a process prints the same lines (the round-trip
    milliseconds aside) and exits with the same status;
  - EOF on the runtime's stdin ends it within 2 s.
Only Linux (/proc). No port is fixed: the broker's is given, the runtime picks its own.
"""
import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time

FAILED = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        FAILED.append(what)


def cell_env(args, n):
    path = "/mqtt"
    env = {
        "MATRIX_URL": f"ws://127.0.0.1:{args.broker_ws}{path}",
        "MATRIX_HOST": "127.0.0.1",
        "MATRIX_PORT": str(args.broker_ws),
        "MATRIX_PATH": path,
        "MATRIX_TRANSPORT": "ws",
        "MATRIX_USERNAME": args.username,
        "MATRIX_PASSWORD": args.password,
        "MATRIX_CLIENT_ID": f"drive-{os.getpid()}-{n}",
        "MATRIX_KEEPALIVE_SECS": str(args.keepalive),
        "MATRIX_HOLD_SECS": str(args.hold),
        "MATRIX_TOPIC": f"matrix/drive/{os.getpid()}/{n}",
        "MATRIX_ROUND_TRIP_SECS": "10",
        "MATRIX_SETUP_SECS": "20",
        "MATRIX_RUN_ID": f"drive-{os.getpid()}",
        "MATRIX_PROTOCOL": args.protocol,
    }
    if args.wrong_password and n == 0:
        env["MATRIX_PASSWORD"] = "wrong"
    return env


def header(env):
    return "".join(f"{k}={v}\n" for k, v in env.items()) + "\n"


class Cell:
    def __init__(self, port, payload, cancel_after=None):
        self.lines = []
        self.times = []
        self.cancelled = False
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(payload.encode() if isinstance(payload, str) else payload)
        self.cancel_after = cancel_after
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.t0 = time.monotonic()
        self.thread.start()

    def read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.append(line.decode())
                self.times.append(time.monotonic() - self.t0)

    def cancel(self):
        self.cancelled = True
        # shutdown first: a close() alone leaves the reading thread's recv() holding the socket.
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def wait(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def exit_status(self):
        for line in self.lines:
            if line.startswith("exit: "):
                return int(line[6:])
        return None


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def sockets(pid):
    """The runtime's open TCP sockets (a unix socket the JVM keeps from its first client on is
    not the cells')."""
    tcp = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            tcp.update(line.split()[9] for line in f)
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in tcp:
            n += 1
    return n


def settle(pid, want_threads, want_sockets, within):
    """Waits until the runtime is back to (at most) the given counts; the time it took, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if threads(pid) <= want_threads and sockets(pid) <= want_sockets:
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def strip_ms(lines):
    return [re.sub(r"round trip \d+ ms", "round trip N ms", l) for l in lines]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker-ws", type=int, required=True, help="the broker's WebSocket port on 127.0.0.1")
    ap.add_argument("--username", default="matrix")
    ap.add_argument("--password", default="matrix-test-only")
    ap.add_argument("--protocol", default="3.1.1")
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--cancel", type=int, default=1, help="how many cells to cancel mid-hold")
    ap.add_argument("--hold", type=float, default=6.0)
    ap.add_argument("--keepalive", type=int, default=60)
    ap.add_argument("--wrong-password", action="store_true", help="cell 0 uses a wrong password: refused:, exit 1")
    ap.add_argument("--process", type=shlex.split, help="the per-process hold command (one string, split as a shell would) to compare one cell with")
    ap.add_argument("runtime", nargs="+", help="the runtime argv")
    args = ap.parse_args()

    t_start = time.monotonic()
    rt = subprocess.Popen(args.runtime, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = rt.stdout.readline().strip()
    m = re.fullmatch(r"runtime: 127\.0\.0\.1:(\d+)", ready)
    check(m is not None, f"ready line {ready!r} after {time.monotonic() - t_start:.2f} s")
    if not m:
        sys.exit(1)
    port = int(m.group(1))
    base_threads, base_sockets = threads(rt.pid), sockets(rt.pid)
    print(f"idle runtime: {base_threads} threads, {base_sockets} sockets", flush=True)

    # Bad headers first, each its own cell.
    for name, payload in [
        ("a line without '='", "MATRIX_URL=ws://x\nNOEQUALS\n\n"),
        ("no MATRIX_URL", "MATRIX_HOST=127.0.0.1\n\n"),
        ("no empty line within 64 KiB", "MATRIX_X=" + "y" * 70000 + "\n"),
    ]:
        c = Cell(port, payload)
        c.wait(10)
        check(len(c.lines) == 2 and c.lines[0].startswith("error: ") and c.lines[1] == "exit: 2",
              f"bad header ({name}) -> {c.lines}")

    cells = [Cell(port, header(cell_env(args, n))) for n in range(args.cells)]
    # Cancel mid-hold: after every cell has its client line and the runtime its connections.
    time.sleep(min(args.hold / 2, 3.0))
    held_threads, held_sockets = threads(rt.pid), sockets(rt.pid)
    print(f"runtime with {args.cells} cells: {held_threads} threads, {held_sockets} sockets", flush=True)
    victims = cells[len(cells) - args.cancel:]
    for c in victims:
        c.cancel()
    if victims:
        # Each cell holds one harness connection and one broker connection, and some threads.
        per_cell_threads = (held_threads - base_threads) / args.cells
        took = settle(rt.pid, held_threads - int(per_cell_threads * len(victims)) + 1,
                      held_sockets - 2 * len(victims), 2.0)
        check(took is not None, f"cancelled {len(victims)} cell(s): threads and sockets freed within 2 s"
              f" ({'%.2f s' % took if took is not None else f'{threads(rt.pid)} threads, {sockets(rt.pid)} sockets now'})")
    for c in cells:
        c.wait(args.hold + 60)
    for n, c in enumerate(cells):
        if c.cancelled:
            continue
        want = 1 if args.wrong_password and n == 0 else 0
        check(c.exit_status() == want and c.lines[-1] == f"exit: {want}" and c.lines[0].startswith("client: "),
              f"cell {n}: {c.lines} (exit at {c.times[-1] if c.times else -1:.2f} s)")
    after = settle(rt.pid, base_threads + 2, base_sockets, 5.0)
    check(after is not None, f"all cells ended: the runtime is back to {threads(rt.pid)} threads, {sockets(rt.pid)} sockets (idle {base_threads}, {base_sockets})")

    if args.process:
        env = dict(os.environ)
        env.update(cell_env(args, 100))
        c = Cell(port, header(cell_env(args, 101)))
        p = subprocess.run(args.process, env=env, capture_output=True, text=True, timeout=args.hold + 120)
        c.wait(args.hold + 60)
        proc_lines = p.stdout.splitlines() + p.stderr.splitlines()
        proc_lines = [l.replace("drive-%d-100" % os.getpid(), "ID") for l in proc_lines]
        rt_lines = [l.replace("drive-%d-101" % os.getpid(), "ID") for l in c.lines[:-1]]
        check(strip_ms(proc_lines) == strip_ms(rt_lines) and c.exit_status() == p.returncode,
              f"process {strip_ms(proc_lines)} exit {p.returncode} == runtime {strip_ms(rt_lines)} exit {c.exit_status()}")

    rt.stdin.close()
    t0 = time.monotonic()
    try:
        rt.wait(5)
    except subprocess.TimeoutExpired:
        rt.kill()
    check(rt.returncode is not None and time.monotonic() - t0 < 2.0,
          f"stdin EOF: the runtime ended in {time.monotonic() - t0:.2f} s (status {rt.returncode})")
    print("FAILED: " + "; ".join(FAILED) if FAILED else "all checks passed", flush=True)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
