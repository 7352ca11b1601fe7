"""
The test bed's timeline: every boot, reboot, service start/stop, package change, drain,
migration and VM outage, one JSON object a line, with its time and host.

The file lives in the directory shared by all hosts (mounted at SHARED_MOUNT inside each), so
the hosts' own programs append to it too. Lines are written with one ``write`` under an
exclusive lock, so concurrent writers never interleave.
"""

import fcntl
import json
import os
import time

SHARED_MOUNT = "/var/lib/synnefo-testbed"
FILE = "timeline.jsonl"


def path(shared_dir=SHARED_MOUNT):
    return os.path.join(shared_dir, FILE)


def record(kind, host, shared_dir=SHARED_MOUNT, **fields):
    """Append one event; return it."""
    event = {"time": round(time.time(), 6), "host": host, "event": kind, **fields}
    line = (json.dumps(event, sort_keys=True) + "\n").encode()
    fd = os.open(path(shared_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


def read(shared_dir=SHARED_MOUNT):
    """Every recorded event, oldest first."""
    try:
        with open(path(shared_dir), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


# --- reading a timeline: invariants and outage windows ------------------------------------


def max_drained_at_once(events):
    """The largest number of Ganeti nodes drained at the same time, and when."""
    drained, worst, when = set(), 0, None
    for event in sorted(events, key=lambda e: e["time"]):
        if event["event"] == "drain":
            drained.add(event["host"])
        elif event["event"] == "undrain":
            drained.discard(event["host"])
        if len(drained) > worst:
            worst, when = len(drained), event["time"]
    return worst, when


def outage_windows(events, until=None):
    """Every VM outage as {'instance', 'start', 'end', 'duration'}; an outage still open at
    the end of the timeline ends at ``until`` (default: the last event) and has 'open': True."""
    events = sorted(events, key=lambda e: e["time"])
    last = until if until is not None else (events[-1]["time"] if events else 0.0)
    open_since, windows = {}, []
    for event in events:
        if event["event"] == "vm-outage":
            open_since.setdefault(event["instance"], event["time"])
        elif event["event"] == "vm-restored" and event["instance"] in open_since:
            start = open_since.pop(event["instance"])
            windows.append(
                {"instance": event["instance"], "start": start, "end": event["time"], "duration": round(event["time"] - start, 6)}
            )
    for instance, start in open_since.items():
        windows.append({"instance": instance, "start": start, "end": last, "duration": round(last - start, 6), "open": True})
    return sorted(windows, key=lambda w: (w["start"], w["instance"]))


def api_downtime(events, service="gunicorn"):
    """The cloud's API outage as ``{'start', 'end', 'duration'}``: from the first stop of
    ``service`` on any host until it runs again on every host that stopped it (its last start
    there), or None when it never stopped. An outage not over yet has 'open': True."""
    events = sorted(events, key=lambda e: e["time"])
    stops = [e for e in events if e["event"] == "service-stop" and e.get("service") == service]
    if not stops:
        return None
    start = stops[0]["time"]
    end, still_down = start, []
    for host in sorted({e["host"] for e in stops}):
        mine = [e for e in events if e["host"] == host and e.get("service") == service and e["event"] in ("service-start", "service-stop")]
        if mine[-1]["event"] == "service-stop":
            still_down.append(host)
            continue
        end = max(end, mine[-1]["time"])
    window = {"start": start, "end": end, "duration": round(end - start, 3)}
    if still_down:
        window["open"] = True
        window["down"] = still_down
    return window
