#!/usr/bin/env python3
"""Builds tests/data/eclipse-synthetic.json: a 33-tag result of the official images, from
../shared/reference/eclipse-measured.md (measured outside this repository: Docker Hub is
unreachable here) and from cells of a real debian run (tests/data/debian.json).

Each tag's cells are copies of a measured debian cell with the same behaviour: a tag with
libwebsockets 4.x takes bookworm's cell (2.0.11, libwebsockets 4.1.6, the PING at 300 s), a
tag with libwebsockets 2.4.2 or Mosquitto's built-in WebSocket code takes sid's (no PING).
MQTT.js on 2.0.0-2.0.5 is the measured EOF before CONNACK (Mosquitto #1974): upgrade, 101,
CONNECT in 13 binary frames (1, 1, 2, 4, 1, 1, 2, 2, 15, 2, 6, 2 and 16 bytes), broker FIN.
Expectations and known issues are matrix.toml's (it expects MQTT.js's EOF@0 there). The
browser column is left out: the reference has no broker result for it (its Chromiums could
not all start at once). Only the 2.0.11 and 2.0.5 rows keep their wire transcripts, to keep
the file small.

    python3 tests/data/make-eclipse.py      # from the repository root
"""
import copy
import hashlib
import json
import tomllib

ROOT = "."
debian = json.load(open(f"{ROOT}/tests/data/debian.json"))
matrix = tomllib.load(open(f"{ROOT}/matrix.toml", "rb"))
eclipse = matrix["sets"]["eclipse"]

LWS = {}
for t in eclipse["tags"]:
    if t.startswith("2.1."):
        LWS[t] = "builtin"
    elif t == "1.6.15":
        LWS[t] = "4.2.1"
    elif t == "2.0.11":
        LWS[t] = "4.2.0"
    elif t.startswith("1.6.") or t in [f"2.0.{n}" for n in range(0, 11)]:
        LWS[t] = "2.4.2"
    else:
        LWS[t] = "4.2.1"

# The reference's columns: the built-in ones and the real clients it measured on every tag,
# at the versions it measured; not the browser, the real Paho Java or HiveMQ.
MEASURED = ("paho-python@2.1.0", "paho-python@1.6.1", "mqttjs@5.16.0", "paho-c", "paho-go@1.1.1")
columns = [c for c in debian["profiles"] if c in MEASURED or ("@" not in c and c not in ("browser", "hivemq", "paho-java"))]
cells_of = {(c["tag"], c["profile"]): c for c in debian["cells"]}
tag_of = {t["tag"]: t for t in debian["tags"]}


def mqttjs_before_connack(template, tag):
    c = copy.deepcopy(template)
    c["tag"] = tag
    v = c["verdict"]
    v.update(outcome="EOF", at=0.0, ended_by="broker", close_code=None, close_reason=None, connack_code=None,
             frames=[], before_connack=True,
             cause="broker closed the connection (FIN, no close frame) after a CONNECT sent as 13 WebSocket frames, "
                   "before any CONNACK; the client exited 1")
    wire = [w for w in template["wire"][:2]]  # the upgrade request and the 101
    for n in (1, 1, 2, 4, 1, 1, 2, 2, 15, 2, 6, 2, 16):
        wire.append({"at": 0.0, "from": "client", "what": f"frame BINARY {n} B masked"})
    connect = next(w for w in template["wire"] if w["what"].startswith("MQTT CONNECT"))
    wire.append({"at": 0.0, "from": "client", "what": connect["what"]})
    wire.append({"at": 0.0, "from": "broker", "what": "FIN"})
    wire.append({"at": 0.001, "from": "client", "what": "FIN"})
    c["wire"] = wire
    if c.get("process"):
        c["process"].update(exit_code=1, ended="exited 1", killed=False, words=None)
    return c


tags, cells = [], []
for tag in eclipse["tags"]:
    source = "bookworm" if LWS[tag].startswith("4.") else "sid"
    t = copy.deepcopy(tag_of[source])
    t.update(tag=tag, broker_version=f"mosquitto version {tag.removesuffix('-alpine')}",
             image={"lws_version": LWS[tag], "version": tag.removesuffix("-alpine"),
                    "digest": "eclipse-mosquitto@sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
             error=None, pulled=False, pull_secs=None)
    t.pop("failure", None)
    t.pop("baseline_digest", None)
    tags.append(t)
    expect = eclipse["expect"][tag]
    for col in columns:
        if col.split("@")[0] == "mqttjs" and tag in [f"2.0.{n}" for n in range(0, 6)]:
            c = mqttjs_before_connack(cells_of[("sid", col)], tag)
        else:
            c = copy.deepcopy(cells_of[(source, col)])
            c["tag"] = tag
            if tag != "2.0.11":
                c["wire"] = []
        want = expect.get(col, expect.get(col.split("@")[0]))
        c["expected"] = want
        met = (want == "OK") == (c["verdict"]["outcome"] == "OK")
        c["status"] = "met" if met else "changed"
        cells.append(c)

known = []
for k in matrix.get("known_issues", []):
    k = dict(k)
    k["tolerance"] = 5.0
    known.append(k)

result = copy.deepcopy(debian)
result.update(run_id="synthetic-eclipse", set="eclipse", image="eclipse-mosquitto", profiles=columns,
              columns=[c for c in debian["columns"] if c["name"] in columns], tags=tags, cells=cells,
              known_issues=known, wall_secs=378.0)
json.dump(result, open(f"{ROOT}/tests/data/eclipse-synthetic.json", "w"), indent=1)
print(f"{len(tags)} tags x {len(columns)} columns = {len(cells)} cells")
