"""The error middleware's repeated log lines: one per interval per application."""

from mirror.web.errors import LogThrottle


def test_a_throttle_lets_one_line_through_per_interval() -> None:
    now = [100.0]
    throttle = LogThrottle(10.0, clock=lambda: now[0])
    assert throttle.due()
    now[0] = 109.9
    assert not throttle.due()
    now[0] = 110.0
    assert throttle.due()
    assert not throttle.due()
    assert LogThrottle(10.0, clock=lambda: now[0]).due()  # another application's throttle is its own
