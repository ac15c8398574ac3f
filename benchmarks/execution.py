"""Execution: workers draining queued events, against arq draining no-op jobs with the same settings.

``python -m benchmarks.execution [--events N] [--processes 1,2,4] [--quick]``

For each process count: ``N`` deliveries are queued through the producer's own accept path
(sealed ~10 KB snapshot, order set, arq job), then that many ``rulequeue worker`` processes
drain them. Each execution loads and decrypts its snapshot, matches the one rule (issue
created, one comment action), posts the comment to the Jira simulator (which verifies the JWT
and answers at once), writes one audit row and purges the snapshot.

The baseline is ``benchmarks.noop_worker``: the same arq settings (queue, poll_delay 0.1 s,
max_jobs = WORKER_CONCURRENCY 20, queue_read_limit, JSON serializer, keep_result=0) draining
``N`` no-op jobs with the same job payloads (the ids-only ExecutionJob, same bytes).

Rates are completions per second between 10 % and 90 % of the queue drained (sampled with
ZCARD every 10 ms), which leaves out process start-up and the tail.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from arq.connections import ArqRedis

from benchmarks import common
from benchmarks.system import Bench, bench_system, steady_rate, wait_until_drained
from rulequeue import constants

TARGET_RATIO = 0.5


async def enqueue_noop(bench: Bench, count: int, prefix: str) -> None:
    """The same job payloads the producer makes, without snapshots: a payload-size twin."""
    from rulequeue import queue
    from schemas.jobs import ExecutionJob

    redis: ArqRedis = await queue.connect(bench.settings)
    try:
        for start in range(0, count, 500):
            jobs = []
            for i in range(start, min(count, start + 500)):
                execution = constants.execution_id(bench.sim.client_key, f'{prefix}-{i:07d}')
                jobs.append(
                    ExecutionJob(
                        execution_id=execution,
                        client_key=bench.sim.client_key,
                        delivery_id=f'{prefix}-{i:07d}',
                        snapshot_key=constants.snapshot_key(bench.sim.client_key, execution),
                        received_at=time.time(),
                        order_key=constants.order_key(bench.sim.client_key, str(10000 + i)),
                        order_member=f'{0:020d}:{execution}',
                    )
                )
            await asyncio.gather(*(queue.enqueue_execution(redis, job) for job in jobs))
    finally:
        await redis.aclose()


async def audit_rows(bench: Bench, prefix: str) -> dict[str, int]:
    rows = await bench.pool.fetch(
        'SELECT status, count(*) AS n FROM audit_log WHERE delivery_id LIKE $1 GROUP BY status', prefix + '-%'
    )
    return {r['status']: r['n'] for r in rows}


async def drain(bench: Bench, processes: int, events: int, *, noop: bool, limit_seconds: float) -> dict[str, Any]:
    prefix = f'{"noop" if noop else "exec"}-{processes}p'
    await bench.reset_queue()
    started = time.perf_counter()
    if noop:
        await enqueue_noop(bench, events, prefix)
    else:
        await bench.enqueue(0, events, prefix)
    enqueue_seconds = time.perf_counter() - started
    workers = bench.start_workers(processes, noop=noop)
    try:
        samples = await wait_until_drained(bench, events, limit_seconds)
        rss = [w.rss_mib() for w in workers]
    finally:
        bench.stop(workers)
    rate = steady_rate(samples, events)
    result: dict[str, Any] = {
        'processes': processes,
        'events': events,
        'executions_per_second': round(rate, 1),
        'enqueue_seconds': round(enqueue_seconds, 2),
        'worker_rss_mib': rss,
    }
    if not noop:
        result['audit'] = await audit_rows(bench, prefix)
        if result['audit'].get('SUCCESS', 0) != events:
            raise RuntimeError(f'expected {events} SUCCESS audit rows, got {result["audit"]}')
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {'config': {'events': args.events, 'processes': args.processes}, 'runs': []}
    async with bench_system(issues=args.events) as bench:
        results['config']['worker_concurrency'] = bench.settings.worker_concurrency
        results['config']['poll_delay_seconds'] = constants.POLL_DELAY_SECONDS
        for processes in args.processes:
            noop = await drain(bench, processes, args.events, noop=True, limit_seconds=args.timeout)
            real = await drain(bench, processes, args.events, noop=False, limit_seconds=args.timeout)
            results['runs'].append(
                {
                    'processes': processes,
                    'noop': noop,
                    'rulequeue': real,
                    'ratio': common.ratio(real['executions_per_second'], noop['executions_per_second']),
                }
            )
    first = results['runs'][0]
    results['targets'] = {
        'ratio_one_process': first['ratio'],
        'target': TARGET_RATIO,
        'verdict': common.verdict(first['ratio'] >= TARGET_RATIO),
    }
    return results


def report(results: dict[str, Any]) -> None:
    rows = [
        [
            r['processes'],
            r['noop']['executions_per_second'],
            r['rulequeue']['executions_per_second'],
            r['ratio'],
            max(x or 0 for x in r['rulequeue']['worker_rss_mib']),
        ]
        for r in results['runs']
    ]
    common.print_table(
        f'Execution: {results["config"]["events"]:,} queued events, one rule with one comment action each',
        ['processes', 'arq no-op/s', 'rulequeue/s', 'ratio', 'worker RSS MiB'],
        rows,
    )
    t = results['targets']
    print(
        f'1 process: rulequeue / arq no-op = {t["ratio_one_process"]:.2f} (target >= {t["target"]}) -> {t["verdict"]}'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--events', type=int, default=3000)
    parser.add_argument('--processes', type=lambda v: [int(x) for x in v.split(',')], default=[1, 2, 4])
    parser.add_argument('--timeout', type=float, default=300.0, help='give up draining after this many seconds')
    parser.add_argument('--quick', action='store_true', help='500 events, 1 and 2 processes')
    args = parser.parse_args()
    if args.quick:
        args.events, args.processes = 500, [1, 2]
    common.quiet_logs()
    results = asyncio.run(run(args))
    report(results)
    print(f'wrote {common.write_results("execution", results)}')


if __name__ == '__main__':
    main()
