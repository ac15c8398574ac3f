"""What the /ops page shows: queue statistics, a short time series and the latest dead letters.

Knows nothing of HTTP. The time series lives in the producer's memory (one per process, lost on
restart: the page is for watching now; Prometheus keeps history). It is sampled when the page
asks, at most every ``OPS_SAMPLE_SECONDS``, so a producer nobody watches does no extra work.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from rulequeue import constants
from rulequeue.stats import QueueStats, collect_stats
from rulequeue.store import dead_letters
from rulequeue.store.db import Pool


@dataclass(frozen=True)
class Point:
    """One sample: time (Unix seconds), ready jobs, lag and executions in the last minute."""

    t: float
    ready: int
    lag_seconds: float
    executions_per_minute: float


@dataclass
class OpsHistory:
    """The last ``OPS_HISTORY_POINTS`` samples, oldest first."""

    points: deque[Point] = field(default_factory=lambda: deque(maxlen=constants.OPS_HISTORY_POINTS))

    def sample(self, point: Point) -> None:
        """Keep ``point`` unless the last one is younger than ``OPS_SAMPLE_SECONDS``."""
        if self.points and point.t - self.points[-1].t < constants.OPS_SAMPLE_SECONDS:
            return
        self.points.append(point)


def point_of(stats: QueueStats, now: datetime) -> Point:
    return Point(
        t=now.timestamp(),
        ready=stats.ready,
        lag_seconds=stats.oldest_ready_age_seconds,
        executions_per_minute=sum(stats.executions_per_minute['1m'].values()),
    )


async def ops_data(redis: Redis, pool: Pool, history: OpsHistory, *, now: datetime) -> dict[str, Any]:
    """The JSON of ``/ops/data``: summary figures, the series, the workers and the latest dead letters."""
    stats = await collect_stats(redis, pool, now=now)
    history.sample(point_of(stats, now))
    letters = await dead_letters.listing(pool, constants.OPS_DEAD_LETTERS)
    full = stats.model_dump(mode='json')
    return {
        'summary': {k: v for k, v in full.items() if isinstance(v, int | float | str) and not isinstance(v, bool)},
        'series': [vars(p) for p in history.points],
        'workers': full['workers'],
        'dead_letters': [
            {
                'id': letter['id'],
                'when': letter['created_at'].isoformat(),
                'issue': letter['issue_key'],
                'attempts': letter['attempts'],
                'error': letter['error'],
                'replayed': letter['replayed_at'] is not None,
            }
            for letter in letters
        ],
        'stats': full,
    }
