"""The ``rulequeue`` command: producer, worker, migrate, demo.

Each subcommand reads the settings once, here, and passes them down.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rulequeue import constants
from rulequeue.errors import ConfigurationError, RulequeueError
from rulequeue.logs import configure_logging
from rulequeue.settings import Settings, load_settings


def _producer(args: argparse.Namespace) -> int:
    import uvicorn

    from producer.app import create_app

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level='warning',
        access_log=False,
        # Forge's invocation tokens can be large (FORGE.md 8.17); h11 allows 16 KB of headers.
        h11_max_incomplete_event_size=constants.MAX_REQUEST_HEADER_BYTES,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from worker.resilient import ResilientWorker
    from worker.settings import build_worker_settings

    overrides = {} if args.concurrency is None else {'worker_concurrency': args.concurrency}
    settings = _settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    if args.processes is not None:
        from rulequeue.supervisor import supervise

        supervise(settings, processes=args.processes, burst=args.burst)
        return 0
    ResilientWorker(**build_worker_settings(settings, burst=args.burst)).run()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from rulequeue.store.db import create_pool, migrate

    settings = _settings()

    async def run() -> None:
        pool = await create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            await migrate(pool, schema=settings.database_schema)
        finally:
            await pool.close()

    asyncio.run(run())
    print('schema is up to date')
    return 0


def _rotate_keys(args: argparse.Namespace) -> int:
    from rulequeue.crypto import Cipher
    from rulequeue.store.db import create_pool
    from rulequeue.store.tenants import reencrypt_secrets

    settings = _settings()

    async def run() -> int:
        pool = await create_pool(settings.database_url, schema=settings.database_schema, min_size=1, max_size=1)
        try:
            return await reencrypt_secrets(pool, Cipher(settings.secret_keys))
        finally:
            await pool.close()

    count = asyncio.run(run())
    print(f're-encrypted {count} tenant secrets with the first SECRET_KEY')
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from rulequeue.store import dead_letters
    from rulequeue.store.db import create_pool

    settings = _settings()
    if args.action == 'replay':
        from producer.replay import replay

        delivery_id = asyncio.run(replay(settings, args.id))
        print(f'dead letter {args.id} queued again as delivery {delivery_id}')
        return 0

    async def read() -> list[dict[str, object]]:
        pool = await create_pool(settings.database_url, schema=settings.database_schema, min_size=1, max_size=1)
        try:
            if args.action == 'show':
                letter = await dead_letters.get(pool, args.id)
                return [] if letter is None else [letter]
            return await dead_letters.listing(pool, args.limit)
        finally:
            await pool.close()

    letters = asyncio.run(read())
    if args.action == 'show' and not letters:
        print(f'no dead letter {args.id}', file=sys.stderr)
        return 1
    for letter in letters:
        print(json.dumps(letter, default=str, indent=2 if args.action == 'show' else None))
    return 0


def _health(args: argparse.Namespace) -> int:
    from rulequeue.stats_report import check_health

    healthy, message = asyncio.run(check_health(_settings(), any_host=args.any_host))
    print(message)
    return 0 if healthy else 1


def _stats(args: argparse.Namespace) -> int:
    from rulequeue.stats_report import print_stats

    with contextlib.suppress(KeyboardInterrupt):  # the way out of --watch
        asyncio.run(print_stats(_settings(), as_json=args.json, watch_seconds=args.watch))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from rulequeue.demo import run_demo

    return asyncio.run(run_demo(events=args.events, seed=args.seed, transport=args.transport))


def _import_a4j(args: argparse.Namespace) -> int:
    from rulequeue.a4j_cli import import_file, read_export

    data = read_export(Path(args.export), Path(args.ids) if args.ids else None)
    report = asyncio.run(
        import_file(_settings(), data, args.client_key, dry_run=args.dry_run, allow_partial=args.allow_partial)
    )
    print(report.model_dump_json(indent=2))
    return 1 if report.skipped else 0


def _settings(**overrides: object) -> Settings:
    return load_settings(**overrides)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError('must be at least 1')
    return number


def _forge_manifest(args: argparse.Namespace) -> int:
    import yaml

    from rulequeue.forge import manifest

    app_id, base_url = args.app_id, args.base_url
    if app_id is None or base_url is None:  # only then is the deployment's environment needed
        settings = _settings()
        app_id = app_id or next(iter(settings.forge_app_ids), None)
        base_url = base_url or settings.app_base_url
    if not app_id:
        print('rulequeue: no app id: pass --app-id or set FORGE_APP_IDS', file=sys.stderr)
        return 2

    def listed(text: str | None, default: frozenset[str]) -> frozenset[str]:
        return default if text is None else frozenset(filter(None, (t.strip() for t in text.split(','))))

    try:
        document = manifest.build_manifest(
            app_id=app_id,
            base_url=base_url,
            triggers=listed(args.triggers, manifest.ALL_TRIGGERS),
            actions=listed(args.actions, manifest.ALL_ACTIONS),
        )
    except ValueError as exc:
        print(f'rulequeue: {exc}', file=sys.stderr)
        return 2
    text = yaml.safe_dump(document, sort_keys=False, width=120)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='rulequeue', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    producer = sub.add_parser('producer', help='serve the Connect app and webhook receiver over HTTP')
    producer.add_argument('--host', default='127.0.0.1')
    producer.add_argument('--port', type=int, default=8000)
    producer.set_defaults(run=_producer)
    worker = sub.add_parser('worker', help='run an ARQ worker that executes rules')
    worker.add_argument('--concurrency', type=int, default=None, help='jobs run at once (default 20)')
    worker.add_argument('--burst', action='store_true', help='exit once the queue is empty')
    worker.add_argument(
        '--processes',
        type=_positive,
        default=None,
        help='run N worker processes under a supervisor that restarts them (default: one, in this process)',
    )
    worker.set_defaults(run=_worker)
    migrate = sub.add_parser('migrate', help='apply the SQL schema (idempotent)')
    migrate.set_defaults(run=_migrate)
    rotate = sub.add_parser('rotate-keys', help='re-encrypt stored tenant secrets with the first SECRET_KEY')
    rotate.set_defaults(run=_rotate_keys)
    dlq = sub.add_parser('dlq', help='list, show or replay executions that ran out of attempts')
    dlq_sub = dlq.add_subparsers(dest='action', required=True)
    dlq_list = dlq_sub.add_parser('list', help='newest first, one JSON object per line')
    dlq_list.add_argument('--limit', type=int, default=50)
    for action in ('show', 'replay'):
        one = dlq_sub.add_parser(action, help=f'{action} one dead letter')
        one.add_argument('id', type=int)
    dlq.set_defaults(run=_dlq)
    health = sub.add_parser('health', help="exit 0 if this host's worker processes are alive (a liveness probe)")
    health.add_argument('--any-host', action='store_true', help='a live worker process on any host will do')
    health.set_defaults(run=_health)
    stats = sub.add_parser('stats', help='queue depth and lag, executions per minute, top tenants, workers')
    stats.add_argument('--json', action='store_true', help='one JSON object (per refresh) for scripts')
    stats.add_argument(
        '--watch', type=float, nargs='?', const=2.0, default=None, metavar='SECONDS', help='refresh until Ctrl-C'
    )
    stats.set_defaults(run=_stats)
    demo = sub.add_parser('demo', help='run the whole system against the Jira simulator')
    demo.add_argument('--events', type=int, default=200)
    demo.add_argument('--seed', type=int, default=7)
    demo.add_argument(
        '--transport',
        choices=('connect', 'forge'),
        default='connect',
        help='install and send events as a Connect app (default) or as a Forge app (Forge Remote)',
    )
    demo.set_defaults(run=_demo)
    a4j = sub.add_parser('import-a4j', help='import rules exported from Automation for Jira (exit 1 if any skipped)')
    a4j.add_argument('export', help='the export file ({"rules": [...]})')
    a4j.add_argument('--client-key', required=True, help="the tenant's Connect clientKey")
    a4j.add_argument('--ids', help='JSON file naming the export\'s ids: {"projects": {"10000": "PROJ"}, ...}')
    a4j.add_argument('--dry-run', action='store_true', help='map and report, store nothing')
    a4j.add_argument('--allow-partial', action='store_true', help='import rules minus unmappable parts, disabled')
    a4j.set_defaults(run=_import_a4j)
    manifest = sub.add_parser('forge-manifest', help="render the Forge app's manifest.yml for this deployment")
    manifest.add_argument('--app-id', help='the app ARI from `forge register` (default: the first FORGE_APP_IDS)')
    manifest.add_argument('--base-url', help='public https URL of the producer (default: APP_BASE_URL)')
    manifest.add_argument('--triggers', help='comma-separated rule triggers to enable (default: all)')
    manifest.add_argument('--actions', help='comma-separated rule actions to enable (default: all)')
    manifest.add_argument('--output', '-o', help='write here instead of standard output')
    manifest.set_defaults(run=_forge_manifest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.run(args))
    except ConfigurationError as exc:
        print(f'rulequeue: {exc}', file=sys.stderr)
        return 2
    except RulequeueError as exc:
        print(f'rulequeue: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == '__main__':
    sys.exit(main())
