"""Ingest: signed ~10 KB webhooks into the producer, against a bare ASGI app on the same server setup.

``python -m benchmarks.ingest [--requests N] [--connections C] [--rate R] [--duration S] [--quick]``

1. closed loop: ``C`` keep-alive connections send ``N`` requests (after a warm-up) as fast as
   answers come back: requests/s and p50/p99 latency, for the bare app and for the producer;
2. open loop: ``R`` requests/s offered for ``S`` seconds (default 1,000/s for 10 s): p50/p99
   measured from each request's scheduled time.

The producer runs as ``rulequeue producer`` (uvicorn, one process) with an installed tenant and
real Postgres/Redis; no worker runs, so every webhook takes the full accept path (tenant
lookup, JWT, rate-limit script, duplicate check, sealed snapshot, order set, arq job). Every
request has its own delivery id and issue, and its own pre-signed JWT.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
from typing import Any

from benchmarks import common
from benchmarks.system import Bench, bench_system

TARGET_RATIO = 0.5
TARGET_P99_MS = 10.0


def summarize(output: dict[str, Any]) -> dict[str, Any]:
    statuses = collections.Counter(output['status'])
    elapsed = output['elapsed_seconds']
    return {
        'requests': output['requests'],
        'elapsed_seconds': round(elapsed, 3),
        'requests_per_second': round(output['requests'] / elapsed, 1),
        **common.latency_summary_ms(output['latency']),
        'statuses': {str(k): v for k, v in sorted(statuses.items())},
        **({'connections_opened': output['max_connections_opened']} if 'max_connections_opened' in output else {}),
    }


async def closed(bench: Bench, label: str, requests: int, connections: int, warmup: int) -> dict[str, Any]:
    output = await bench.loadgen(
        mode='closed', count=requests + warmup, connections=connections, warmup=warmup, delivery_prefix=label
    )
    return summarize(output)


async def fixed_rate(bench: Bench, label: str, rate: float, duration: float) -> dict[str, Any]:
    output = await bench.loadgen(
        mode='open', count=int(rate * duration), rate=rate, connections=32, delivery_prefix=label
    )
    return {'offered_per_second': rate, **summarize(output)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        'config': {
            'requests': args.requests,
            'warmup': args.warmup,
            'connections': args.connections,
            'rate': args.rate,
            'duration_seconds': args.duration,
        }
    }
    async with bench_system() as bench:
        results['body_bytes'] = len(bench.template.replace('@ID@', '10000').replace('@KEY@', 'PROJ-1'))
        for name, starter in (('bare', bench.start_bare), ('producer', bench.start_producer)):
            process = starter()
            await asyncio.sleep(0.5)
            results[f'{name}_closed'] = await closed(bench, f'{name}-c', args.requests, args.connections, args.warmup)
            await bench.reset_queue()
            results[f'{name}_fixed_rate'] = await fixed_rate(bench, f'{name}-o', args.rate, args.duration)
            results[f'{name}_rss_mib'] = process.rss_mib()
            bench.stop([process])
            await bench.reset_queue()
    bare, producer = results['bare_closed'], results['producer_closed']
    throughput_ratio = common.ratio(producer['requests_per_second'], bare['requests_per_second'])
    p99 = results['producer_fixed_rate']['p99_ms']
    errors = sum(v for k, v in results['producer_fixed_rate']['statuses'].items() if k != '202')
    results['targets'] = {
        'throughput_ratio': throughput_ratio,
        'throughput_target': TARGET_RATIO,
        'throughput': common.verdict(throughput_ratio >= TARGET_RATIO),
        'fixed_rate_p99_ms': p99,
        'fixed_rate_p99_target_ms': TARGET_P99_MS,
        'fixed_rate_p99': common.verdict(p99 < TARGET_P99_MS and errors == 0),
    }
    return results


def report(results: dict[str, Any]) -> None:
    rows = []
    for name in ('bare', 'producer'):
        for mode in ('closed', 'fixed_rate'):
            r = results[f'{name}_{mode}']
            label = (
                f'closed, {results["config"]["connections"]} conns'
                if mode == 'closed'
                else (f'open, {r["offered_per_second"]:g}/s offered')
            )
            rows.append(
                [
                    name,
                    label,
                    r['requests'],
                    r['requests_per_second'],
                    r['p50_ms'],
                    r['p99_ms'],
                    r['max_ms'],
                    ' '.join(f'{k}:{v}' for k, v in r['statuses'].items()),
                ]
            )
    common.print_table(
        f'Ingest: {results["body_bytes"]:,} B signed webhooks over loopback',
        ['server', 'load', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'statuses'],
        rows,
    )
    t = results['targets']
    print(
        f'producer / bare throughput: {t["throughput_ratio"]:.2f} (target >= {t["throughput_target"]}) '
        f'-> {t["throughput"]}'
    )
    print(
        f'producer p99 at {results["config"]["rate"]:g}/s: {t["fixed_rate_p99_ms"]:.1f} ms '
        f'(target < {t["fixed_rate_p99_target_ms"]:g} ms) -> {t["fixed_rate_p99"]}'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--requests', type=int, default=10_000, help='closed-loop requests measured per server')
    parser.add_argument('--warmup', type=int, default=500, help='closed-loop requests sent first, not measured')
    parser.add_argument('--connections', type=int, default=32)
    parser.add_argument('--rate', type=float, default=1000.0, help='open-loop offered requests/s')
    parser.add_argument('--duration', type=float, default=10.0, help='open-loop seconds')
    parser.add_argument('--quick', action='store_true', help='a short run (2,000 requests, 3 s at the rate)')
    args = parser.parse_args()
    if args.quick:
        args.requests, args.warmup, args.duration = 2_000, 200, 3.0
    common.quiet_logs()
    results = asyncio.run(run(args))
    report(results)
    print(f'wrote {common.write_results("ingest", results)}')


if __name__ == '__main__':
    main()
