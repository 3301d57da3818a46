#!/usr/bin/env python3
"""Writes a generated year of nightly results (365 runs of 660 cells) for timing
`mosquitto-matrix history show` and `site`: tests/data/eclipse-synthetic.json widened to 660
cells (extra tags copied from its own), one run a day, with a few changes along the year
(an outcome flips and back, an image digest changes, a new tag appears).

usage: scripts/history-year.py OUT_DIR   (then: for f in OUT_DIR/*.json; do mosquitto-matrix history add $f --into H; done)
"""
import copy
import datetime
import json
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
base = json.load(open(os.path.join(here, "..", "tests", "data", "eclipse-synthetic.json")))
tags = [t["tag"] for t in base["tags"]]
extra = 0
while len(base["cells"]) < 660:
    src = tags[extra % len(tags)]
    name = f"{src}-r{extra}"
    extra += 1
    t = copy.deepcopy(next(t for t in base["tags"] if t["tag"] == src))
    t["tag"] = name
    base["tags"].append(t)
    for c in [c for c in base["cells"] if c["tag"] == src]:
        c = copy.deepcopy(c)
        c["tag"] = name
        base["cells"].append(c)
base["cells"] = base["cells"][:660]
start = datetime.datetime(2026, 1, 1, 2, 0, tzinfo=datetime.timezone.utc)
flip = base["cells"][3]
for day in range(365):
    r = copy.deepcopy(base)
    when = start + datetime.timedelta(days=day)
    r["run_id"] = f"nightly-{day + 1:03d}"
    r["started_at"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    r["ended_at"] = (when + datetime.timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # A month in four the fourth cell ends at 310 s instead (an outcome change and back).
    if (day // 30) % 4 == 3:
        c = next(c for c in r["cells"] if c["tag"] == flip["tag"] and c["profile"] == flip["profile"])
        c["verdict"].update({"outcome": "EOF", "at": 310.0, "ended_by": "broker", "cause": "broker hung up at 310.0 s without a close frame"})
    # From day 200 the second tag's image is a rebuild under the same name.
    if day >= 200:
        r["tags"][1]["image"]["digest"] = "eclipse-mosquitto@sha256:" + "b" * 64
    # From day 300 a new tag, the first one's cells under a new name.
    if day >= 300:
        t = copy.deepcopy(r["tags"][0])
        t["tag"] = "2.1.0"
        r["tags"].append(t)
        r["cells"] += [dict(copy.deepcopy(c), tag="2.1.0") for c in r["cells"] if c["tag"] == r["tags"][0]["tag"]]
    with open(os.path.join(out, f"day-{day + 1:03d}.json"), "w") as f:
        json.dump(r, f)
