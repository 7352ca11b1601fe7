"""Reading a timeline: invariants and outage windows."""

from testbed import timeline


def ev(t, kind, host="gnt1", **fields):
    return {"time": t, "event": kind, "host": host, **fields}


def test_max_drained_at_once():
    events = [ev(1, "drain", "gnt1"), ev(2, "undrain", "gnt1"), ev(3, "drain", "gnt2"), ev(4, "drain", "gnt3"), ev(5, "undrain", "gnt2")]
    assert timeline.max_drained_at_once(events) == (2, 4)
    assert timeline.max_drained_at_once(events[:2]) == (1, 1)
    assert timeline.max_drained_at_once([]) == (0, None)


def test_outage_windows_pair_outages_with_restores_and_keep_open_ones():
    events = [
        ev(10, "vm-outage", instance="vm1"),
        ev(10.5, "vm-outage", instance="vm2"),
        ev(13, "vm-restored", instance="vm1"),
        ev(20, "reboot"),
    ]
    assert timeline.outage_windows(events) == [
        {"instance": "vm1", "start": 10, "end": 13, "duration": 3},
        {"instance": "vm2", "start": 10.5, "end": 20, "duration": 9.5, "open": True},
    ]


def test_record_and_read_round_trip(tmp_path):
    timeline.record("drain", "gnt2", shared_dir=str(tmp_path), by="gnt1")
    (event,) = timeline.read(str(tmp_path))
    assert event["event"] == "drain" and event["host"] == "gnt2" and event["by"] == "gnt1"


def test_api_downtime_runs_from_the_first_stop_until_every_gunicorn_runs_again():
    def event(t, host, kind, service="gunicorn"):
        return {"time": t, "host": host, "event": kind, "service": service}

    events = [
        event(1, "a", "service-stop"),
        event(2, "b", "service-stop"),
        event(3, "a", "service-start"),
        event(4, "a", "service-stop"),
        event(5, "x", "service-stop", "apache2"),
        event(7, "b", "service-start"),
        event(9, "a", "service-start"),
    ]
    assert timeline.api_downtime(events) == {"start": 1, "end": 9, "duration": 8}
    assert timeline.api_downtime(events[:4])["open"] is True and timeline.api_downtime(events[:4])["down"] == ["a", "b"]
    assert timeline.api_downtime([event(1, "x", "service-stop", "apache2")]) is None
