#!/usr/bin/env python3
"""Runtime for Eclipse Paho MQTT Python: every cell of a run in one process.

Implements mosquitto-matrix's runtime protocol (docs/src/command-contract.md,
"The runtime protocol"): listen on 127.0.0.1, port 0; print
`runtime: 127.0.0.1:PORT` once ready; per connection read the cell's
environment (`NAME=VALUE` lines, then an empty line), run hold.py's body with
it in a thread of its own (a fresh paho client, its own callbacks), write the
lines the hold program would print, then `exit: N` and close. When the harness
closes the connection the cell stops at once and says nothing more. End of
file on stdin ends the runtime (the harness is gone).

    runtime.py [--processes N]

The cells run in N worker processes (default PROCESSES), forked once paho is
imported, each accepting cells on the one listening socket (the kernel hands
each connection to one of them) and running each in a thread of its own. Why:
in one process, 96 cells (three versions' worth of the debian set 8 times over
at x30) took turns at one interpreter lock on a busy machine, and their answers
to the brokers' PINGs came after the brokers' 10 s window (0.33 s real). A
worker that ends ends the runtime (status 70, its end on stderr): its cells
are gone with it, and the harness makes every open cell ERROR with those words.
"""

import ctypes
import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hold  # noqa: E402  (the contract's body; exits 2 if paho cannot be imported)

# How large a header may be before the cell is refused.
MAX_HEADER = 64 * 1024

# How many worker processes serve cells when --processes does not say.
PROCESSES = 4


class ConnSink:
    """A cell's lines to its connection; silent once the cell is cancelled."""

    def __init__(self, conn, cancel):
        self.conn = conn
        self.cancel = cancel
        self.lock = threading.Lock()

    def line(self, text):
        if self.cancel.is_set():
            return
        with self.lock:
            try:
                self.conn.sendall((text.replace("\n", " ") + "\n").encode("utf-8", "replace"))
            except OSError:
                self.cancel.set()

    out = line
    err = line


def read_header(reader):
    """The cell's environment, or (None, why) for a bad header; (None, None)
    when the harness closed the connection first."""
    env = {}
    size = 0
    while True:
        raw = reader.readline(MAX_HEADER + 1)
        if not raw:
            return None, None
        size += len(raw)
        if size > MAX_HEADER or not raw.endswith(b"\n"):
            return None, f"no empty line within {MAX_HEADER} bytes of header"
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text == "":
            break
        if "=" not in text:
            return None, f"header line {text[:80]!r} has no '='"
        name, value = text.split("=", 1)
        env[name] = value
    if not env.get("MATRIX_URL"):
        return None, "the header has no MATRIX_URL"
    return env, None


def watch_end(reader, cancel):
    """The harness ends a cell by closing (or half-closing) its side."""
    try:
        while reader.read(1):
            pass
    except OSError:
        pass
    cancel.set()


def serve(conn):
    cancel = threading.Event()
    sink = ConnSink(conn, cancel)
    reader = conn.makefile("rb")
    try:
        env, why = read_header(reader)
        if env is None:
            if why is not None:
                sink.line("error: " + why)
                sink.line("exit: 2")
            return
        threading.Thread(target=watch_end, args=(reader, cancel), daemon=True).start()
        try:
            code = hold.run(env, sink, cancel, hold.thread_bound(cancel))
        except BaseException as exc:  # a cell's failure is its own
            sink.line("error: " + hold.one_line(f"{type(exc).__name__}: {exc}"))
            code = 1
        if code is not None:
            sink.line(f"exit: {code}")
    finally:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()


def processes_arg(args):
    """The --processes N of an argv (1 to 64), PROCESSES when absent; exits 2
    saying what is wrong otherwise."""
    if "--processes" not in args:
        return PROCESSES
    at = args.index("--processes")
    value = args[at + 1] if at + 1 < len(args) else ""
    if value.isdigit() and 1 <= int(value) <= 64:
        return int(value)
    sys.stderr.write(f"error: --processes takes a whole number from 1 to 64, not {value!r}\n")
    sys.exit(2)


def die_with_parent(parent):
    """A worker ends when the runtime's first process does (PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


def accept_cells(listener):
    """A worker: every connection it is handed is a cell, in a thread of its own."""
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def end_all(workers, code):
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(code)


def watch_stdin(workers):
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        end_all(workers, 0)


def main():
    count = processes_arg(sys.argv[1:])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    parent = os.getpid()
    workers = []
    # Forked before any thread starts, with paho imported: each worker is ready.
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            die_with_parent(parent)
            try:
                accept_cells(listener)
            finally:
                os._exit(70)
        workers.append(pid)
    threading.Thread(target=watch_stdin, args=(workers,), daemon=True).start()
    sys.stdout.write(f"runtime: 127.0.0.1:{listener.getsockname()[1]}\n")
    sys.stdout.flush()
    pid, status = os.wait()
    if os.WIFSIGNALED(status):
        how = f"was killed by signal {os.WTERMSIG(status)}"
    else:
        how = f"exited {os.waitstatus_to_exitcode(status)}"
    number = workers.index(pid) + 1 if pid in workers else 0
    sys.stderr.write(f"runtime: worker process {number} of {count} (pid {pid}) {how}; its cells are gone\n")
    sys.stderr.flush()
    end_all(workers, 70)


if __name__ == "__main__":
    main()
