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
"""

import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hold  # noqa: E402  (the contract's body; exits 2 if paho cannot be imported)

# How large a header may be before the cell is refused.
MAX_HEADER = 64 * 1024


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


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write(f"runtime: 127.0.0.1:{listener.getsockname()[1]}\n")
    sys.stdout.flush()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
