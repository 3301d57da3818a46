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
"""

import os
import signal
import sys
import time

try:
    import paho.mqtt
    import paho.mqtt.client as mqtt
except Exception as exc:  # pragma: no cover - set-up problem
    sys.stderr.write(f"error: cannot import paho.mqtt: {exc}\n")
    sys.exit(2)

LIB_VERSION = paho.mqtt.__version__
V2 = hasattr(mqtt, "CallbackAPIVersion")  # paho-mqtt >= 2.0


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def one_line(text):
    return " ".join(str(text).split())


def fail(message, code=2):
    sys.stderr.write("error: " + one_line(message) + "\n")
    sys.stderr.flush()
    sys.exit(code)


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None or value == "":
        if default is not None:
            return default
        fail(f"{name} is not set")
    return value


def env_float(name, default=None):
    raw = env(name, default)
    try:
        value = float(raw)
    except ValueError:
        fail(f"{name}={raw!r} is not a number")
    if value < 0:
        fail(f"{name}={raw!r} is negative")
    return value


class State:
    def __init__(self):
        self.connack = None       # (accepted: bool, words: str)
        self.connack_at = None
        self.suback = None        # list of granted QoS / reason codes
        self.disconnected = None  # words from on_disconnect
        self.echo_at = None
        self.last_error_log = None


def main():
    out(f"client: paho-mqtt {LIB_VERSION}")
    if "--version" in sys.argv[1:]:
        return 0

    transport = env("MATRIX_TRANSPORT")
    if transport not in ("ws", "tcp"):
        fail(f"MATRIX_TRANSPORT={transport!r} is neither ws nor tcp")
    host = env("MATRIX_HOST")
    try:
        port = int(env("MATRIX_PORT"))
    except ValueError:
        fail("MATRIX_PORT is not an integer")
    path = os.environ.get("MATRIX_PATH") or "/mqtt"
    username = env("MATRIX_USERNAME")
    password = os.environ.get("MATRIX_PASSWORD", "")
    client_id = env("MATRIX_CLIENT_ID")
    try:
        keepalive = int(env("MATRIX_KEEPALIVE_SECS"))
    except ValueError:
        fail("MATRIX_KEEPALIVE_SECS is not an integer")
    hold = env_float("MATRIX_HOLD_SECS")
    round_trip = env_float("MATRIX_ROUND_TRIP_SECS", "10")
    # Contract v2: the bound on connect + upgrade + CONNACK and on SUBACK, on this clock.
    setup = env_float("MATRIX_SETUP_SECS", "20")
    topic = env("MATRIX_TOPIC")
    payload = f"alive {client_id}".encode()

    # Contract v2: MATRIX_PROTOCOL picks the MQTT version (3.1.1 when unset).
    protocol = os.environ.get("MATRIX_PROTOCOL") or "3.1.1"
    if protocol not in ("3.1.1", "5"):
        fail(f"MATRIX_PROTOCOL={protocol!r} is neither 3.1.1 nor 5")
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
    ca_file = os.environ.get("MATRIX_CA_FILE")
    if ca_file:
        try:
            client.tls_set(ca_certs=ca_file)
        except Exception as exc:  # ssl.SSLError, FileNotFoundError, ...
            fail(f"MATRIX_CA_FILE={ca_file!r}: {type(exc).__name__}: {exc}")
    client.username_pw_set(username, password)

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
        out("lost: " + one_line(text))
        return 1

    # Connecting (TCP connect and, for ws, the HTTP upgrade) is blocking, and
    # paho waits for the upgrade answer as long as the keepalive: bound it.
    class Silent(Exception):
        pass

    def on_alarm(_signum, _frame):
        raise Silent()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(setup, 0.001))
    try:
        client.connect(host, port, keepalive=keepalive, **({"clean_start": True} if v5 else {}))
    except Silent:
        return lost(f"no CONNACK within {setup:g} s (no answer to the connection)")
    except Exception as exc:  # socket errors, WebsocketConnectionError, ...
        return lost(f"{type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    def pump(until, done):
        """Run the network loop until done() or the deadline; return the
        loop's error code if the connection went away, else None."""
        while not done():
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
        out("refused: " + words)
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
        fail(f"subscription to {topic} refused by the broker ({granted})")

    # Hold: only the library's own keepalive traffic.
    rc = pump(t0 + hold, lambda: False)
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
    out(f"done: round trip {ms:.0f} ms")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException as exc:  # anything unexpected: contract exit 2
        fail(f"{type(exc).__name__}: {exc}")
