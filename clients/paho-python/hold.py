#!/usr/bin/env python3
"""Hold program for Eclipse Paho MQTT Python (paho-mqtt 1.6.x and 2.x).

Implements the mosquitto-matrix command-client contract v3 (the README's "The
command contract"): connect with MQTT 3.1.1 or 5 (MATRIX_PROTOCOL) over
WebSocket, WebSocket in TLS (wss://, when MATRIX_CA_FILE names the CA to
trust: tls_set(ca_certs=...)) or TCP, subscribe
to MATRIX_TOPIC, hold for MATRIX_HOLD_SECS from CONNACK with only the
library's own keepalive traffic, then publish one QoS-0 message and wait for
it to come back.

The network loop is driven here with client.loop() rather than
loop_start()/loop_forever(): those reconnect on their own, which would hide a
drop. Callbacks only record what happened (paho catches exceptions raised in
callbacks), the main loop decides.

`hold.py --version` prints only the `client:` line and exits 0.

The body is `run(environ, sink, cancel, bound_connect)`: the contract's
environment as a dict, where the lines go, an event that ends the cell at once,
and how the blocking connect is bounded; it returns the exit status (None when
cancelled). `main` calls it with the process environment, stdout/stderr and
SIGALRM; runtime.py (one process for every cell of a run) calls it per
connection, with a thread as the connect's bound. Nothing in it is
process-global per cell.
"""

import os
import signal
import socket
import sys
import threading
import time

try:
    import paho.mqtt
    import paho.mqtt.client as mqtt
except Exception as exc:  # pragma: no cover - set-up problem
    sys.stderr.write(f"error: cannot import paho.mqtt: {exc}\n")
    sys.exit(2)

LIB_VERSION = paho.mqtt.__version__
V2 = hasattr(mqtt, "CallbackAPIVersion")  # paho-mqtt >= 2.0


class Fail(Exception):
    """The contract cannot go on: `error: <message>` and this exit status."""

    def __init__(self, message, code=2):
        super().__init__(one_line(message))
        self.code = code


class Cancelled(Exception):
    """The cell was ended from outside (its runtime connection closed)."""


class StdSink:
    """Lines to this process's stdout (contract lines) and stderr."""

    def out(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def err(self, line):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def one_line(text):
    return " ".join(str(text).split())


class Env:
    """The contract's variables, read from a dict (the process environment or a
    runtime cell's header)."""

    def __init__(self, environ):
        self.environ = environ

    def get(self, name, default=None):
        return self.environ.get(name, default)

    def need(self, name, default=None):
        value = self.environ.get(name, default)
        if value is None or value == "":
            if default is not None:
                return default
            raise Fail(f"{name} is not set")
        return value

    def number(self, name, default=None):
        raw = self.need(name, default)
        try:
            value = float(raw)
        except ValueError:
            raise Fail(f"{name}={raw!r} is not a number") from None
        if value < 0:
            raise Fail(f"{name}={raw!r} is negative")
        return value


class Silent(Exception):
    """The connect did not finish within its bound."""


def alarm_bound(connect, seconds, _cleanup):
    """Bounds the blocking connect with SIGALRM (a process of its own, main thread)."""

    def on_alarm(_signum, _frame):
        raise Silent()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        connect()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def thread_bound(cancel):
    """Bounds the blocking connect with a thread of its own (any thread; many cells
    in one process): past the bound, or on cancel, the cell goes on without it,
    and a connection that still comes is closed at once."""

    def bound(connect, seconds, cleanup):
        box = {}
        abandoned = threading.Event()

        def go():
            try:
                connect()
                box["ok"] = True
            except BaseException as exc:  # handed to the cell's thread
                box["exc"] = exc
            if abandoned.is_set():
                cleanup()

        t = threading.Thread(target=go, daemon=True)
        t.start()
        until = time.monotonic() + max(seconds, 0.001)
        while t.is_alive() and not cancel.is_set() and time.monotonic() < until:
            t.join(min(0.2, max(until - time.monotonic(), 0.001)))
        if t.is_alive():
            abandoned.set()
            # Cut the connect in the middle: its thread ends with it.
            cleanup()
            if cancel.is_set():
                raise Cancelled()
            raise Silent()
        if "exc" in box:
            raise box["exc"]

    return bound


class State:
    def __init__(self):
        self.connack = None       # (accepted: bool, words: str)
        self.connack_at = None
        self.suback = None        # list of granted QoS / reason codes
        self.disconnected = None  # words from on_disconnect
        self.echo_at = None
        self.last_error_log = None


def run(environ, sink, cancel, bound_connect):
    """One cell under the contract: returns its exit status, or None when
    `cancel` was set (the cell then says nothing more)."""
    sink.out(f"client: paho-mqtt {LIB_VERSION}")
    try:
        return hold(Env(environ), sink, cancel, bound_connect)
    except Fail as exc:
        sink.err("error: " + str(exc))
        return exc.code
    except Cancelled:
        return None


def hold(env, sink, cancel, bound_connect):
    """The contract's steps for one client; raises Fail or Cancelled."""
    transport = env.need("MATRIX_TRANSPORT")
    if transport not in ("ws", "tcp"):
        raise Fail(f"MATRIX_TRANSPORT={transport!r} is neither ws nor tcp")
    host = env.need("MATRIX_HOST")
    try:
        port = int(env.need("MATRIX_PORT"))
    except ValueError:
        raise Fail("MATRIX_PORT is not an integer") from None
    path = env.get("MATRIX_PATH") or "/mqtt"
    username = env.need("MATRIX_USERNAME")
    password = env.get("MATRIX_PASSWORD", "")
    client_id = env.need("MATRIX_CLIENT_ID")
    try:
        keepalive = int(env.need("MATRIX_KEEPALIVE_SECS"))
    except ValueError:
        raise Fail("MATRIX_KEEPALIVE_SECS is not an integer") from None
    hold_secs = env.number("MATRIX_HOLD_SECS")
    round_trip = env.number("MATRIX_ROUND_TRIP_SECS", "10")
    # Contract v2: the bound on connect + upgrade + CONNACK and on SUBACK, on this clock.
    setup = env.number("MATRIX_SETUP_SECS", "20")
    topic = env.need("MATRIX_TOPIC")
    payload = f"alive {client_id}".encode()

    # Contract v2: MATRIX_PROTOCOL picks the MQTT version (3.1.1 when unset).
    protocol = env.get("MATRIX_PROTOCOL") or "3.1.1"
    if protocol not in ("3.1.1", "5"):
        raise Fail(f"MATRIX_PROTOCOL={protocol!r} is neither 3.1.1 nor 5")
    v5 = protocol == "5"

    st = State()

    options = dict(
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        transport="websockets" if transport == "ws" else "tcp",
    )
    if not v5:
        options["clean_session"] = True  # MQTT 5: clean_start in connect()
    if V2:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **options)
    else:
        client = mqtt.Client(**options)
    if transport == "ws":
        # paho sends "Sec-WebSocket-Protocol: mqtt" itself.
        client.ws_set_options(path=path)
    # Contract v3: a TLS route names the only CA to trust; the library checks the
    # certificate's name against MATRIX_HOST (127.0.0.1, an IP address it names).
    ca_file = env.get("MATRIX_CA_FILE")
    if ca_file:
        try:
            client.tls_set(ca_certs=ca_file)
        except Exception as exc:  # ssl.SSLError, FileNotFoundError, ...
            raise Fail(f"MATRIX_CA_FILE={ca_file!r}: {type(exc).__name__}: {exc}") from None
    client.username_pw_set(username, password)
    # The library's own bound on the TCP connect and (2.x) the WebSocket upgrade is 5 s on
    # this clock, 0.17 s of real time at x30: the contract's set-up bound replaces it, as it
    # does rumqttc's (paho-mqtt 1.6.1 on has the attribute; 2.x a property over it).
    client._connect_timeout = setup

    # The TCP socket as soon as it exists, so that a cell cancelled in the middle of the
    # blocking connect (the WebSocket upgrade) can still be cut: this client's own method,
    # shadowed on this object only (every paho-mqtt from 1.5.1 to 2.2.0 has it).
    raw = {}
    create = client._create_socket_connection

    def recorded_socket():
        raw["sock"] = create()
        return raw["sock"]

    client._create_socket_connection = recorded_socket

    def on_connect(_client, _userdata, _flags, rc, _properties=None):
        if V2:
            accepted = not rc.is_failure
            words = str(rc)
        elif v5:
            accepted = rc == 0
            words = str(rc)
        else:
            accepted = rc == 0
            words = mqtt.connack_string(rc)
        st.connack = (accepted, one_line(words))
        st.connack_at = time.monotonic()

    def on_subscribe(_client, _userdata, _mid, granted, _properties=None):
        st.suback = list(granted)

    def on_message(_client, _userdata, msg):
        if msg.topic == topic and msg.payload == payload and st.echo_at is None:
            st.echo_at = time.monotonic()

    def on_disconnect(_client, _userdata, *args):
        # v1: (rc); v2: (disconnect_flags, reason_code, properties)
        rc = args[1] if V2 else args[0]
        words = str(rc) if V2 or v5 else mqtt.error_string(rc)
        st.disconnected = one_line(words)

    def on_log(_client, _userdata, level, buf):
        if level in (mqtt.MQTT_LOG_ERR, mqtt.MQTT_LOG_WARNING):
            st.last_error_log = one_line(buf)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.on_log = on_log

    def lost_words(loop_rc=None):
        # The network loop's error code in the library's words; else what
        # on_disconnect was given.
        if loop_rc not in (None, mqtt.MQTT_ERR_SUCCESS):
            text = mqtt.error_string(loop_rc)
        else:
            text = st.disconnected or "connection lost"
        if st.last_error_log:
            text += f" ({st.last_error_log})"
        return one_line(text)

    def lost(text):
        sink.out("lost: " + one_line(text))
        return 1

    def close_now():
        # Abruptly: the cell is over (no DISCONNECT); paho's own close when it has one, and
        # the TCP socket under a connect that has not returned yet.
        try:
            sock = client.socket()
            if sock is not None:
                sock.close()
        except Exception:
            pass
        try:
            if "sock" in raw:
                raw["sock"].shutdown(socket.SHUT_RDWR)
        except Exception:
            pass

    # Connecting (TCP connect and, for ws, the HTTP upgrade) is blocking, and
    # paho waits for the upgrade answer as long as the keepalive: bound it.
    try:
        bound_connect(lambda: client.connect(host, port, keepalive=keepalive, **({"clean_start": True} if v5 else {})), setup, close_now)
    except Silent:
        return lost(f"no CONNACK within {setup:g} s (no answer to the connection)")
    except Cancelled:
        raise
    except Exception as exc:  # socket errors, WebsocketConnectionError, ...
        return lost(f"{type(exc).__name__}: {exc}")

    def pump(until, done):
        """Run the network loop until done() or the deadline; return the
        loop's error code if the connection went away, else None."""
        while not done():
            if cancel.is_set():
                close_now()
                raise Cancelled()
            if st.disconnected is not None:
                return mqtt.MQTT_ERR_CONN_LOST
            now = time.monotonic()
            if now >= until:
                return None
            # loop() returns as soon as the socket has something, so a long wait costs no
            # answer; a short one costs CPU (under a clock ×N its timeout shrinks N times).
            rc = client.loop(timeout=min(1.0, max(until - now, 0.001)))
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return rc
        return None

    # CONNACK
    rc = pump(time.monotonic() + setup, lambda: st.connack is not None)
    if st.connack is None:
        if rc is not None:
            return lost(lost_words(rc))
        return lost(f"no CONNACK within {setup:g} s")
    accepted, words = st.connack
    if not accepted:
        sink.out("refused: " + words)
        return 1
    t0 = st.connack_at

    # SUBACK
    res, _mid = client.subscribe(topic, qos=0)
    if res != mqtt.MQTT_ERR_SUCCESS:
        return lost(lost_words(res))
    rc = pump(time.monotonic() + setup, lambda: st.suback is not None)
    if st.suback is None:
        if rc is not None:
            return lost(lost_words(rc))
        return lost(f"no SUBACK within {setup:g} s")
    granted = st.suback[0]
    granted_value = getattr(granted, "value", granted)
    if granted_value >= 0x80:
        close_now()
        raise Fail(f"subscription to {topic} refused by the broker ({granted})")

    # Hold: only the library's own keepalive traffic.
    rc = pump(t0 + hold_secs, lambda: False)
    if rc is not None:
        return lost(lost_words(rc))

    # Round trip
    sent_at = time.monotonic()
    info = client.publish(topic, payload, qos=0)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        return lost(lost_words(info.rc))
    rc = pump(sent_at + round_trip, lambda: st.echo_at is not None)
    if st.echo_at is None:
        if rc is not None:
            return lost(lost_words(rc))
        return lost(f"no round trip within {round_trip:g} s")
    ms = (st.echo_at - sent_at) * 1000.0

    # Clean MQTT DISCONNECT; on_disconnect fires once it has been written.
    client.disconnect()
    pump(time.monotonic() + 2.0, lambda: st.disconnected is not None)
    sink.out(f"done: round trip {ms:.0f} ms")
    return 0


def main():
    sink = StdSink()
    if "--version" in sys.argv[1:]:
        sink.out(f"client: paho-mqtt {LIB_VERSION}")
        return 0
    return run(os.environ, sink, threading.Event(), alarm_bound)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException as exc:  # anything unexpected: contract exit 2
        sys.stderr.write("error: " + one_line(f"{type(exc).__name__}: {exc}") + "\n")
        sys.stderr.flush()
        sys.exit(2)
