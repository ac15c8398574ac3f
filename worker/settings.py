"""arq worker settings, built from our Settings.

``arq worker.settings.WorkerSettings`` works for operators who run arq directly: the name is
resolved lazily (module ``__getattr__``), so the environment is read when arq asks for it,
not when this module is imported.
"""

from __future__ import annotations

from typing import Any

import httpx
from arq.cron import CronJob, cron
from arq.worker import func

from rulequeue import constants, queue
from rulequeue.crypto import Cipher
from rulequeue.logs import configure_logging
from rulequeue.settings import Settings, load_settings
from rulequeue.store import web_hosts
from rulequeue.store.db import Pool, create_pool
from worker.credentials import tenant_credentials
from worker.deps import WorkerDeps
from worker.egress import GuardedTransport
from worker.forge_sweep import forge_sweep_job
from worker.jira import JiraClient
from worker.jobs import run_execution
from worker.mailer import mail_job
from worker.maintenance import check_redis, sweep_job
from worker.monitoring import Monitoring, start_monitoring
from worker.reconcile import reconcile_job
from worker.retention import retention_job, uninstall_purge_job
from worker.scheduled import scheduled_job
from worker.web_request import WebRequester


async def startup(ctx: dict[str, Any]) -> None:
    """Composition root of a worker process: arq gives Redis, we add the rest."""
    settings: Settings = ctx['settings']
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
    # min_size=0: a worker starts even while Postgres is down; jobs then retry until it is back.
    pool = await create_pool(
        settings.database_url,
        schema=settings.database_schema,
        min_size=0,
        max_size=min(settings.worker_concurrency, 10),
    )
    ctx['http'] = http
    await check_redis(ctx['redis'])
    monitoring = await start_monitoring(
        ctx['redis'], pool, concurrency=settings.worker_concurrency, metrics_port=settings.worker_metrics_port
    )
    ctx.update(monitoring=monitoring, health=monitoring.health, metrics=monitoring.metrics)
    cipher = Cipher(settings.secret_keys)
    ctx['deps'] = WorkerDeps(
        settings=settings,
        redis=ctx['redis'],
        pool=pool,
        cipher=cipher,
        jira=JiraClient(
            http,
            credentials=tenant_credentials(settings.app_key, pool, cipher),
            timeout=settings.jira_timeout_seconds,
            observe=monitoring.metrics.jira_request,
        ),
        web=web_requester(settings, pool),
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    monitoring: Monitoring | None = ctx.get('monitoring')
    if monitoring is not None:
        await monitoring.stop()
    deps: WorkerDeps | None = ctx.get('deps')
    if deps is not None:
        await deps.pool.close()
    http: httpx.AsyncClient | None = ctx.get('http')
    if http is not None:
        await http.aclose()
    if deps is not None and deps.web is not None:
        await deps.web.client.aclose()


def web_requester(settings: Settings, pool: Pool) -> WebRequester:
    """The web_request action's client: public addresses only (plus WEB_REQUEST_ALLOWED_NETWORKS)."""
    transport = GuardedTransport(settings.web_request_networks)

    async def hosts_of(client_key: str) -> list[str]:
        return await web_hosts.hosts(pool, client_key)

    return WebRequester(httpx.AsyncClient(transport=transport, trust_env=False), hosts_of)


def _cron_jobs(timeout: int, *, scheduler: bool = True, forge_sweep_minutes: int = 0) -> list[CronJob]:
    """Maintenance jobs, one run per slot across all workers (arq dedupes cron jobs by id).

    Every one has the execution timeout: arq keeps a killed worker's in-progress keys for the
    largest timeout it knows + 10 s, so a longer cron timeout would slow every takeover.
    ``scheduler`` off (SCHEDULER_ENABLED=false) leaves scheduled rules to whoever calls
    worker.scheduled.run_due itself: the demo and the tests, on ticks they choose.
    ``forge_sweep_minutes`` (FORGE_SWEEP_MINUTES; 0: off) spaces Forge's reconciling sweep.
    """

    def every(function: Any, name: str, **when: Any) -> CronJob:
        return cron(function, name=f'rulequeue:{name}', unique=True, run_at_startup=False, timeout=timeout, **when)

    jobs = [
        every(sweep_job, 'sweep', minute=set(range(0, 60, 5))),
        every(reconcile_job, 'reconcile', second=0),
        # Scheduled rules: each due rule's tick is taken once across workers (worker/scheduled.py).
        every(scheduled_job, 'scheduled', second=0),
        every(mail_job, 'mail', second=30),
        # Daily, at a quiet hour (UTC), one after the other.
        every(retention_job, 'retention', hour=3, minute=10, second=0),
        every(uninstall_purge_job, 'uninstall-purge', hour=3, minute=20, second=0),
    ]
    if forge_sweep_minutes:
        # Changes whose Forge event never came (worker/forge_sweep.py), at second 40: not
        # together with the scheduler's and reconciler's second 0.
        jobs.append(every(forge_sweep_job, 'forge-sweep', minute=set(range(0, 60, forge_sweep_minutes)), second=40))
    return [job for job in jobs if scheduler or job.coroutine is not scheduled_job]


def build_worker_settings(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker`` (a dict is a valid arq WorkerSettings)."""
    return {
        'functions': [
            func(
                run_execution,
                name=constants.JOB_FUNCTION,
                timeout=settings.job_timeout_seconds,
                max_tries=constants.ARQ_MAX_TRIES,
            )
        ],
        'cron_jobs': _cron_jobs(
            settings.job_timeout_seconds,
            scheduler=settings.scheduler_enabled,
            forge_sweep_minutes=settings.forge_sweep_minutes,
        ),
        'queue_name': constants.QUEUE_NAME,
        # arq keeps a job's in-progress key for the largest timeout on the worker + 10 s, and only
        # then lets another worker take over a killed one's job (arq #402): keep every timeout here.
        'job_timeout': settings.job_timeout_seconds,
        'redis_settings': queue.redis_settings(settings),
        'job_serializer': queue.serialize,
        'job_deserializer': queue.deserialize,
        # Results would copy job arguments into Redis for an hour (ARQ.md section 6).
        'keep_result': 0,
        'keep_result_forever': False,
        'max_jobs': settings.worker_concurrency,
        'poll_delay': constants.POLL_DELAY_SECONDS,
        'health_check_interval': constants.HEALTH_CHECK_INTERVAL_SECONDS,
        'job_completion_wait': settings.job_completion_wait_seconds,
        'log_results': False,
        'on_startup': startup,
        'on_shutdown': shutdown,
        'ctx': {'settings': settings},
        **overrides,
    }


def __getattr__(name: str) -> Any:
    if name == 'WorkerSettings':
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        return build_worker_settings(settings)
    raise AttributeError(name)
