#!/usr/bin/env python3
"""Open one MQTT-over-WebSocket session to 127.0.0.1:PORT (standard library
only) and print, in seconds since the upgrade, when the broker's WebSocket
PING (opcode 0x9) arrives and when it hangs up. It never answers a PING with
a PONG, so libwebsockets >= 4.0 brokers hang up: 300 + 10 s after the upgrade
in real time, 30 + 1 s with libfaketime FAKETIME="+0 x10" preloaded (see
docker/faketime.sh). MQTT: CONNECT as matrix / matrix-test-only (docker/passwd),
keepalive 60, PINGREQ every 5 s real time (under x10, 50 broker seconds:
still within the broker's 1.5 x keepalive).

Usage: python3 docker/ws-ping-probe.py PORT [MAX_SECONDS]   (default 400)"""
import os, socket, struct, sys, time, base64

port = int(sys.argv[1]); limit = float(sys.argv[2]) if len(sys.argv) > 2 else 400
def frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | opcode])
    if n < 126: hdr += bytes([0x80 | n])
    else: hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

s = socket.create_connection(("127.0.0.1", port), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n" % (port, key)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d: sys.exit("EOF during upgrade")
    buf += d
head, buf = buf.split(b"\r\n\r\n", 1)
status = head.split(b"\r\n")[0].decode()
t0 = time.monotonic()
print("upgrade: %s" % status, flush=True)
if " 101 " not in status: sys.exit(1)
cid, user, pw = b"wsprobe", b"matrix", b"matrix-test-only"
body = b"\x00\x04MQTT\x04\xc2\x00\x3c" + b"".join(len(x).to_bytes(2, "big") + x for x in (cid, user, pw))
s.sendall(frame(0x2, b"\x10" + bytes([len(body)]) + body))
next_ping = t0 + 5
s.settimeout(0.2)
ping_at = None
def el(): return time.monotonic() - t0
while el() < limit:
    if time.monotonic() >= next_ping:
        try: s.sendall(frame(0x2, b"\xc0\x00"))
        except OSError as e:
            print("%.2f s: send PINGREQ failed: %s" % (el(), e), flush=True); break
        next_ping += 5
    try:
        d = s.recv(4096)
    except socket.timeout:
        continue
    except OSError as e:
        print("%.2f s: recv error %s (hang-up)%s" % (el(), e.__class__.__name__, "" if ping_at is None else ", %.2f s after the PING" % (el() - ping_at)), flush=True)
        break
    if not d:
        print("%.2f s: EOF (broker closed the connection)%s" % (el(), "" if ping_at is None else ", %.2f s after the PING" % (el() - ping_at)), flush=True)
        break
    buf += d
    while len(buf) >= 2:
        op = buf[0] & 0x0f; n = buf[1] & 0x7f; off = 2
        if n == 126:
            if len(buf) < 4: break
            n = struct.unpack(">H", buf[2:4])[0]; off = 4
        if len(buf) < off + n: break
        payload = buf[off:off + n]; buf = buf[off + n:]
        if op == 0x9:
            ping_at = el()
            print("%.2f s: WebSocket PING (opcode 0x9, %d bytes) -- not answering" % (ping_at, n), flush=True)
        elif op == 0x8:
            print("%.2f s: WebSocket CLOSE %r" % (el(), payload[:2]), flush=True)
        elif op == 0x2:
            kind = {0x20: "CONNACK", 0xd0: "PINGRESP"}.get(payload[0], "0x%02x" % payload[0])
            if kind != "PINGRESP" or el() < 6:
                print("%.2f s: MQTT %s %s" % (el(), kind, payload.hex()), flush=True)
        else:
            print("%.2f s: frame opcode 0x%x" % (el(), op), flush=True)
else:
    print("%.2f s: limit reached, still connected" % el(), flush=True)
