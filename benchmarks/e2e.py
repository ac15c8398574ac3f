"""End to end: webhook sent → audit row committed, at fixed offered rates.

``python -m benchmarks.e2e [--rates 50,200,500] [--duration 30] [--workers 2] [--quick]``

The producer (``rulequeue producer``), ``--workers`` worker processes (``rulequeue worker``,
concurrency 20) and the load generator run in their own processes; the Jira simulator answers
the comment calls from the benchmark process. For each rate, signed ~10 KB ``issue_created``
webhooks (each a distinct issue and delivery) are offered at that rate for ``--duration``
seconds, open loop. Latency of an event is ``audit_log.created_at`` (the commit of its audit
row, Postgres clock = this machine's clock) minus the time the webhook was scheduled to be sent.

While sending, the benchmark samples the queue every 100 ms: the ready depth (arq jobs due now,
running ones included) and the age of the oldest ready job. Lag is *growing* when the mean
depth over the last quarter of the run exceeds twice that of the second quarter plus 50 ms
worth of events; the time the queue took to empty after the last send is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from benchmarks import common
from benchmarks.system import Bench, bench_system, wait_until_drained
from rulequeue import constants

TARGET_RATE = 200.0
TARGET_P99_MS = 100.0


async def sample_lag(bench: Bench, stop: asyncio.Event, samples: list[tuple[float, int, float]]) -> None:
    start = time.monotonic()
    while not stop.is_set():
        now_ms = time.time() * 1000
        ready = await bench.redis.zcount(constants.QUEUE_NAME, '-inf', now_ms)
        oldest = await bench.redis.zrangebyscore(constants.QUEUE_NAME, '-inf', now_ms, start=0, num=1, withscores=True)
        age = (now_ms - oldest[0][1]) / 1000 if oldest else 0.0
        samples.append((time.monotonic() - start, int(ready), age))
        with_timeout = asyncio.create_task(stop.wait())
        await asyncio.wait([with_timeout], timeout=0.1)
        with_timeout.cancel()


def lag_summary(samples: list[tuple[float, int, float]], rate: float) -> dict[str, Any]:
    depths = [d for _, d, _ in samples]
    quarter = max(1, len(samples) // 4)
    second = statistics.fmean(depths[quarter : 2 * quarter] or [0])
    last = statistics.fmean(depths[-quarter:] or [0])
    return {
        'max_ready_depth': max(depths, default=0),
        'max_oldest_ready_age_ms': round(max((a for _, _, a in samples), default=0.0) * 1000, 1),
        'mean_depth_second_quarter': round(second, 1),
        'mean_depth_last_quarter': round(last, 1),
        'growing': last > 2 * second + 0.05 * rate,
    }


async def one_rate(bench: Bench, rate: float, duration: float) -> dict[str, Any]:
    prefix = f'e2e-{rate:g}'
    count = int(rate * duration)
    samples: list[tuple[float, int, float]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_lag(bench, stop, samples))
    try:
        output = await bench.loadgen(
            mode='open', count=count, rate=rate, connections=16, delivery_prefix=prefix, first_index=0
        )
    finally:
        stop.set()
        await sampler
    sent_done = time.monotonic()
    await wait_until_drained(bench, count, limit_seconds=max(120.0, duration * 4), interval=0.05)
    drain_seconds = time.monotonic() - sent_done
    rows = await bench.pool.fetch(
        'SELECT delivery_id, status, extract(epoch FROM created_at) AS committed FROM audit_log '
        'WHERE delivery_id LIKE $1',
        prefix + '-%',
    )
    sent = dict(zip(output['delivery_ids'], output['sent_wall'], strict=True))
    answered = dict(zip(output['delivery_ids'], output['latency'], strict=True))
    from_send = [float(r['committed']) - sent[r['delivery_id']] for r in rows]
    from_accept = [float(r['committed']) - sent[r['delivery_id']] - answered[r['delivery_id']] for r in rows]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r['status']] = statuses.get(r['status'], 0) + 1
    accepted = sum(1 for s in output['status'] if s == 202)
    return {
        'offered_per_second': rate,
        'duration_seconds': duration,
        'sent': output['requests'],
        'accepted': accepted,
        'audit_rows': len(rows),
        'audit_statuses': statuses,
        'webhook_answer': common.latency_summary_ms(output['latency']),
        'end_to_end': common.latency_summary_ms(from_send),
        'accepted_to_audit': common.latency_summary_ms(from_accept),
        'lag': lag_summary(samples, rate),
        'drain_after_last_send_seconds': round(drain_seconds, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        'config': {'rates': args.rates, 'duration_seconds': args.duration, 'workers': args.workers},
        'runs': [],
    }
    async with bench_system(issues=int(max(args.rates) * args.duration)) as bench:
        results['config']['worker_concurrency'] = bench.settings.worker_concurrency
        producer = bench.start_producer()
        workers = bench.start_workers(args.workers)
        await asyncio.sleep(2.0)  # worker start-up (imports, pools)
        for rate in args.rates:
            run = await one_rate(bench, rate, args.duration)
            run['rss_mib'] = {'producer': producer.rss_mib(), 'workers': [w.rss_mib() for w in workers]}
            results['runs'].append(run)
            await asyncio.sleep(1.0)
    at_target = [r for r in results['runs'] if r['offered_per_second'] == TARGET_RATE]
    if at_target:
        r = at_target[0]
        p99 = r['end_to_end']['p99_ms']
        complete = r['audit_rows'] == r['sent']
        results['targets'] = {
            'rate': TARGET_RATE,
            'p99_ms': p99,
            'target_p99_ms': TARGET_P99_MS,
            'lag_growing': r['lag']['growing'],
            'verdict': common.verdict(p99 < TARGET_P99_MS and not r['lag']['growing'] and complete),
        }
    return results


def report(results: dict[str, Any]) -> None:
    rows = []
    for r in results['runs']:
        e, lag = r['end_to_end'], r['lag']
        rows.append(
            [
                r['offered_per_second'],
                f'{r["accepted"]}/{r["sent"]}',
                r['audit_rows'],
                r['webhook_answer']['p99_ms'],
                e['p50_ms'],
                e['p95_ms'],
                e['p99_ms'],
                lag['max_ready_depth'],
                lag['max_oldest_ready_age_ms'],
                'yes' if lag['growing'] else 'no',
                r['drain_after_last_send_seconds'],
            ]
        )
    c = results['config']
    common.print_table(
        f'End to end: webhook sent -> audit row committed ({c["duration_seconds"]:g} s per rate, '
        f'{c["workers"]} worker processes x {c["worker_concurrency"]})',
        [
            'rate/s',
            '202s',
            'audits',
            'ingest p99',
            'p50 ms',
            'p95 ms',
            'p99 ms',
            'max depth',
            'max age ms',
            'growing',
            'drain s',
        ],
        rows,
    )
    t = results.get('targets')
    if t:
        print(
            f'at {t["rate"]:g}/s: p99 {t["p99_ms"]:.0f} ms (target < {t["target_p99_ms"]:g} ms), '
            f'lag growing: {t["lag_growing"]} -> {t["verdict"]}'
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rates', type=lambda v: [float(x) for x in v.split(',')], default=[50.0, 200.0, 500.0])
    parser.add_argument('--duration', type=float, default=30.0, help='seconds per rate')
    parser.add_argument('--workers', type=int, default=2, help='worker processes')
    parser.add_argument('--quick', action='store_true', help='5 s per rate')
    args = parser.parse_args()
    if args.quick:
        args.duration = 5.0
    common.quiet_logs()
    results = asyncio.run(run(args))
    report(results)
    print(f'wrote {common.write_results("e2e", results)}')


if __name__ == '__main__':
    main()
