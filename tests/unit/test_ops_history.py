"""The /ops page's in-memory series: one point per sample interval, the oldest dropped past the cap."""

from __future__ import annotations

from producer.ops_data import OpsHistory, Point
from rulequeue import constants


def _point(t: float) -> Point:
    return Point(t=t, ready=int(t), lag_seconds=0.0, executions_per_minute=0.0)


def test_samples_closer_than_the_interval_are_not_kept() -> None:
    history = OpsHistory()
    step = constants.OPS_SAMPLE_SECONDS
    for t in (0.0, step / 2, step, step * 1.5, step * 3):
        history.sample(_point(t))
    assert [p.t for p in history.points] == [0.0, step, step * 3]


def test_the_series_keeps_only_the_newest_points() -> None:
    history = OpsHistory()
    total = constants.OPS_HISTORY_POINTS + 5
    for n in range(total):
        history.sample(_point(n * constants.OPS_SAMPLE_SECONDS))
    assert len(history.points) == constants.OPS_HISTORY_POINTS
    assert history.points[0].ready == int(5 * constants.OPS_SAMPLE_SECONDS)
    assert history.points[-1].ready == int((total - 1) * constants.OPS_SAMPLE_SECONDS)
