"""The maintenance window (pillar orchestration:window): open or closed at a moment, in the
window's own zone, across midnight and across a daylight-saving change; and whether a piece of
work of a given length may start."""

import calendar

import pytest

from tests.formula import load


@pytest.fixture(scope="module")
def orch():
    return load("_utils/synnefo_orch.py")


def utc(text):
    return calendar.timegm(tuple(int(x) for x in text.replace("-", " ").replace(":", " ").split()) + (0, 0, 0))


NIGHT = {"start": "22:00", "end": "05:30", "timezone": "Europe/Athens"}


def test_a_window_across_midnight_in_its_own_zone(orch):
    # Athens is UTC+2 in winter: 22:00 local is 20:00 UTC.
    assert orch.window_state(NIGHT, utc("2026-12-01 19:59:00")) == (False, utc("2026-12-01 20:00:00"))
    assert orch.window_state(NIGHT, utc("2026-12-01 20:00:00")) == (True, utc("2026-12-02 03:30:00"))
    assert orch.window_state(NIGHT, utc("2026-12-02 01:00:00")) == (True, utc("2026-12-02 03:30:00"))
    assert orch.window_state(NIGHT, utc("2026-12-02 03:30:00")) == (False, utc("2026-12-02 20:00:00"))


def test_a_daylight_saving_night_is_an_hour_shorter(orch):
    # 2026-03-29 03:00 local clocks go to 04:00 in Athens (UTC+2 -> UTC+3).
    assert orch.window_state(NIGHT, utc("2026-03-28 21:00:00")) == (True, utc("2026-03-29 02:30:00"))


def test_work_starts_only_if_it_ends_inside_the_window(orch):
    now = utc("2026-12-02 03:00:00")  # 05:00 in Athens: 30 minutes left
    assert orch.window_refusal(NIGHT, 20 * 60, now) is None
    refusal = orch.window_refusal(NIGHT, 45 * 60, now)
    assert (
        refusal
        == "the maintenance window closes at 2026-12-02 05:30 EET and this needs about 45 min; it opens again at 2026-12-02 22:00 EET"
    )
    assert orch.window_refusal(NIGHT, 60, utc("2026-12-02 12:00:00")) == "outside the maintenance window; it opens at 2026-12-02 22:00 EET"
    assert orch.window_refusal({}, 10**6, now) is None


@pytest.mark.parametrize(
    "window, error",
    [
        ({"start": "25:00", "end": "05:00"}, "window:start: '25:00' is not a time of day"),
        ({"start": "22:00", "end": "5.30"}, "window:end: '5.30' is not a time of day"),
        ({"start": "22:00", "end": "05:00", "timezone": "Mars/Olympus"}, "unknown zone 'Mars/Olympus'"),
    ],
)
def test_a_bad_window_is_refused_naming_the_pillar_key(orch, window, error):
    with pytest.raises(Exception, match=error):
        orch.window_state(window, 0)
