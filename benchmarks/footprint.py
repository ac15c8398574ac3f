"""Footprint: Redis bytes per queued event, and producer/worker memory at rest and under load.

``python -m benchmarks.footprint [--events N] [--rate R] [--duration S] [--quick]``

1. Redis: ``N`` deliveries are queued through the producer's accept path with no worker
   running. Every key of the (private) database is then measured with ``MEMORY USAGE ..
   SAMPLES 0`` and grouped by kind (snapshot, arq job, per-issue order set, the queue set, the
   rate-limit bucket); the sum per event is divided by the raw webhook body size. The
   ``used_memory`` delta of ``INFO memory`` is reported as a cross-check (it also counts other
   databases' churn on a shared server, so the per-key sum is the figure of record).
2. Memory: ``VmRSS`` (from /proc) of one producer and one worker process at rest, the peak
   while ``R`` webhooks/s are offered for ``S`` seconds (and executed), and at rest again after.
"""

from __future__ import annotations

import argparse
import asyncio
import zlib
from typing import Any

from benchmarks import common
from benchmarks.payloads import render
from benchmarks.system import Bench, bench_system, wait_until_drained
from rulequeue import constants

TARGET_RATIO = 0.5


def _kind(key: str) -> str:
    if key.startswith('rulequeue:snap:'):
        return 'snapshot'
    if key.startswith('arq:job:'):
        return 'arq job'
    if key.startswith('rulequeue:order:'):
        return 'order set'
    if key == constants.QUEUE_NAME:
        return 'queue set'
    if key.startswith('rulequeue:rl:'):
        return 'rate-limit bucket'
    return 'other'


async def redis_footprint(bench: Bench, events: int) -> dict[str, Any]:
    await bench.reset_queue()
    before = int((await bench.redis.info('memory'))['used_memory'])
    await bench.enqueue(0, events, 'footprint')
    after = int((await bench.redis.info('memory'))['used_memory'])
    by_kind: dict[str, dict[str, int]] = {}
    value_bytes = {'snapshot': 0, 'arq job': 0}
    async for raw in bench.redis.scan_iter(count=1000):
        key = raw.decode()
        kind = _kind(key)
        usage = int(await bench.redis.memory_usage(key, samples=0) or 0)
        entry = by_kind.setdefault(kind, {'keys': 0, 'bytes': 0})
        entry['keys'] += 1
        entry['bytes'] += usage
        if kind in value_bytes:
            value_bytes[kind] += int(await bench.redis.strlen(key))
    body = render(bench.template, 0)
    total = sum(v['bytes'] for v in by_kind.values())
    per_event = total / events
    await bench.reset_queue()
    return {
        'events': events,
        'raw_body_bytes': len(body),
        'zlib6_body_bytes': len(zlib.compress(body, 6)),
        'zlib9_body_bytes': len(zlib.compress(body, 9)),
        'snapshot_value_bytes_per_event': round(value_bytes['snapshot'] / events, 1),
        'job_value_bytes_per_event': round(value_bytes['arq job'] / events, 1),
        'by_kind': {k: {**v, 'bytes_per_event': round(v['bytes'] / events, 1)} for k, v in sorted(by_kind.items())},
        'bytes_per_event': round(per_event, 1),
        'used_memory_delta_per_event': round((after - before) / events, 1),
        'ratio_to_raw_body': round(per_event / len(body), 3),
    }


async def memory_under_load(bench: Bench, rate: float, duration: float) -> dict[str, Any]:
    await bench.reset_queue()
    producer = bench.start_producer()
    (worker,) = bench.start_workers(1)
    await asyncio.sleep(3.0)
    at_rest = {'producer': producer.rss_mib(), 'worker': worker.rss_mib()}
    peak = dict(at_rest)
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            for name, process in (('producer', producer), ('worker', worker)):
                value = process.rss_mib()
                if value is not None and (peak[name] is None or value > (peak[name] or 0)):
                    peak[name] = value
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    try:
        count = int(rate * duration)
        await bench.loadgen(mode='open', count=count, rate=rate, connections=16, delivery_prefix='rss')
        await wait_until_drained(bench, count, limit_seconds=max(120.0, duration * 10), interval=0.1)
    finally:
        stop.set()
        await sampler
    await asyncio.sleep(2.0)
    after = {'producer': producer.rss_mib(), 'worker': worker.rss_mib()}
    bench.stop([producer, worker])
    return {'rate': rate, 'duration_seconds': duration, 'at_rest': at_rest, 'peak_under_load': peak, 'after': after}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with bench_system(issues=int(args.rate * args.duration)) as bench:
        redis = await redis_footprint(bench, args.events)
        memory = await memory_under_load(bench, args.rate, args.duration)
    return {
        'config': {'events': args.events, 'rate': args.rate, 'duration_seconds': args.duration},
        'redis': redis,
        'rss_mib': memory,
        'targets': {
            'ratio_to_raw_body': redis['ratio_to_raw_body'],
            'target': TARGET_RATIO,
            'verdict': common.verdict(redis['ratio_to_raw_body'] <= TARGET_RATIO),
        },
    }


def report(results: dict[str, Any]) -> None:
    r = results['redis']
    rows: list[list[Any]] = [
        [kind, v['keys'], v['bytes_per_event'], round(v['bytes_per_event'] / r['raw_body_bytes'], 3)]
        for kind, v in r['by_kind'].items()
    ]
    rows.append(['total', sum(v['keys'] for v in r['by_kind'].values()), r['bytes_per_event'], r['ratio_to_raw_body']])
    common.print_table(
        f'Redis per queued event ({r["events"]:,} events, raw body {r["raw_body_bytes"]:,} B, zlib-6 '
        f'{r["zlib6_body_bytes"]:,} B, sealed snapshot {r["snapshot_value_bytes_per_event"]:,.0f} B)',
        ['kind', 'keys', 'bytes/event', 'x raw body'],
        rows,
    )
    print(f'INFO used_memory delta per event: {r["used_memory_delta_per_event"]:,.0f} B')
    m = results['rss_mib']
    common.print_table(
        f'RSS MiB (VmRSS), {m["rate"]:g} webhooks/s for {m["duration_seconds"]:g} s, one worker',
        ['process', 'at rest', 'peak under load', 'after'],
        [[p, m['at_rest'][p], m['peak_under_load'][p], m['after'][p]] for p in ('producer', 'worker')],
    )
    t = results['targets']
    print(
        f'Redis bytes per event / raw body = {t["ratio_to_raw_body"]:.2f} (target <= {t["target"]}) -> {t["verdict"]}'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--events', type=int, default=5000, help='events queued for the Redis measurement')
    parser.add_argument('--rate', type=float, default=100.0, help='webhooks/s offered for the RSS measurement')
    parser.add_argument('--duration', type=float, default=20.0)
    parser.add_argument('--quick', action='store_true', help='1,000 events; 5 s of load')
    args = parser.parse_args()
    if args.quick:
        args.events, args.duration = 1000, 5.0
    common.quiet_logs()
    results = asyncio.run(run(args))
    report(results)
    print(f'wrote {common.write_results("footprint", results)}')


if __name__ == '__main__':
    main()
