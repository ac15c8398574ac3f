"""Every Redis key name and every default, in one place.

Redis keys are namespaced under ``rulequeue:`` so an ACL user can be limited to
``~rulequeue:*`` plus arq's ``~arq:*``. Tenant and delivery ids never appear raw in a key:
both are hashed (see :func:`execution_id`) so odd characters in a clientKey or a webhook
identifier cannot forge another tenant's key.
"""

import hashlib

KEY_PREFIX = 'rulequeue'

# The arq queue. Workers of other apps must not share it: arq fails jobs whose function it
# does not know (arq #126).
QUEUE_NAME = f'{KEY_PREFIX}:queue'
JOB_FUNCTION = 'run_execution'

# Encrypted issue snapshot, written by the producer and deleted when the execution ends.
# The TTL is only a backstop for executions that never reach a terminal state.
SNAPSHOT_KEY = KEY_PREFIX + ':snap:{tenant}:{execution}'
SNAPSHOT_TTL_SECONDS = 7 * 3600
# arq's job key lives this long if the job never runs; kept under the snapshot TTL so the
# snapshot is never gone while its job can still start.
JOB_EXPIRES_SECONDS = 6 * 3600

# Written in the same MULTI that purges the snapshot. Jira re-sends a delivery for ~30
# minutes; a week covers that with a wide margin. Holds a status word, no issue data.
DONE_KEY = KEY_PREFIX + ':done:{execution}'
DONE_TTL_SECONDS = 7 * 24 * 3600

# Per-execution progress: which actions already took effect, so a retried job does not
# repeat them. Holds only what the audit row will hold anyway (ids, changes made).
PROGRESS_KEY = KEY_PREFIX + ':progress:{execution}'
# Our own attempt counter; arq's job_try also counts deploys and crashes (arq #267).
ATTEMPTS_KEY = KEY_PREFIX + ':attempts:{execution}'

# Per-issue order: a ZSET of the issue's pending executions, scored by Jira's timestamp (ms),
# members '<changelog id, zero-padded>:<execution>' so equal timestamps sort by changelog id.
ORDER_KEY = KEY_PREFIX + ':order:{tenant}:{issue}'
# Set on an execution that held back later events of its issue past the ordering bound.
EVICTED_KEY = KEY_PREFIX + ':evicted:{execution}'
# How often an execution waiting for an earlier event of its issue was deferred.
WAITS_KEY = KEY_PREFIX + ':waits:{execution}'
ORDER_WAIT_SECONDS = 0.2
DEFAULT_ORDER_HOLD_SECONDS = 900

# Token buckets of the webhook endpoint's rate limits (a hash: tokens, last refill time).
RATE_TENANT_KEY = KEY_PREFIX + ':rl:tenant:{tenant}'
RATE_IP_FAILURES_KEY = KEY_PREFIX + ':rl:ip:{ip}'

# Service limits (../shared/AUTOMATION.md section 4, Automation for Jira's defaults).
DEFAULT_MAX_RULE_COMPONENTS = 65
# A4J throttles above 2 executions per 5 s, i.e. 1,440 an hour, sustained.
DEFAULT_RULE_EXECUTIONS_PER_HOUR = 1440
# Loop detection: a chain of events caused by our own actions stops past this depth.
DEFAULT_LOOP_MAX_DEPTH = 10
# Per-rule execution count of one clock hour: a hash of delivery id -> ordinal, plus the counter,
# so a retried execution keeps its place. Kept a little past its hour.
RULE_HOUR_KEY = KEY_PREFIX + ':limit:hour:{tenant}:{rule}:{hour}'
RULE_HOUR_TTL_SECONDS = 2 * 3600
# "(tenant, issue) was last changed by our actions at chain depth d". Events our app user
# causes carry no chain id from Jira, so the depth is passed on through this key; A4J speaks
# of loops "in quick succession", so a few minutes suffice and a quiet issue starts afresh.
CHAIN_ISSUE_KEY = KEY_PREFIX + ':chain:issue:{tenant}:{issue}'
# The depth one execution was given, fixed at its first start (a retry must not re-derive it
# from the key above, which its own actions may since have raised).
CHAIN_EXECUTION_KEY = KEY_PREFIX + ':chain:exec:{execution}'
CHAIN_TTL_SECONDS = 600

# Runs no Jira webhook started: their synthetic events carry these webhookEvent names, which the
# webhook endpoint never accepts (not in schemas.events.SUPPORTED_EVENTS), so only our own API
# (manual) and cron (scheduled) can start them.
MANUAL_EVENT = 'rulequeue:manual'
SCHEDULED_EVENT = 'rulequeue:scheduled'
# Issues one rule's JQL search may run on (A4J: 1,000; the rest is not run and the run THROTTLED).
DEFAULT_MAX_ISSUES_PER_SEARCH = 1000
# Branches (worker/branches.py): items one branch runs at most (the rest are named in the
# audit row, not run; A4J runs 150 items of a Confluence-style branch), and the longest delay a
# rule may ask for by default (A4J Cloud's Delay action: 15 minutes).
DEFAULT_MAX_BRANCH_ITEMS = 100
DEFAULT_MAX_DELAY_SECONDS = 900
# Issues asked of Jira per search page (Jira Cloud's enhanced search answers up to 5,000 ids).
SEARCH_PAGE_SIZE = 100
# "This tick of this scheduled rule was taken": SET NX by whichever worker's cron gets there
# first, so several workers running the cron start the rule once. Kept well past the minute.
SCHEDULED_TICK_KEY = KEY_PREFIX + ':sched:tick:{tenant}:{rule}:{tick}'
SCHEDULED_TICK_TTL_SECONDS = 24 * 3600
# One run of a scheduled rule at a time (A4J's limit): the run's lock holds its tick, and the
# set beside it its executions. While the search and admission go on, the lock lives ADMIT
# seconds (renewed per page), so a worker killed mid-way frees the rule soon; once admitted it
# lives RUN seconds, a backstop far above the time a run takes, and a later tick releases it as
# soon as every execution of the set has its done marker.
SCHEDULED_RUN_KEY = KEY_PREFIX + ':sched:run:{tenant}:{rule}'
SCHEDULED_RUN_EXECUTIONS_KEY = KEY_PREFIX + ':sched:run:{tenant}:{rule}:executions'
SCHEDULED_ADMIT_TTL_SECONDS = 300
SCHEDULED_RUN_TTL_SECONDS = 6 * 3600

# Defaults that are settings elsewhere.
DEFAULT_APP_KEY = 'rulequeue'
DEFAULT_INSTALL_KEYS_URL = 'https://connect-install-keys.atlassian.com'
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_BASE_SECONDS = 2.0
DEFAULT_RETRY_CAP_SECONDS = 300.0
# Atlassian's Java implementation allows 30 s of clock skew.
JWT_LEEWAY_SECONDS = 30
# Tokens we send to Jira live three minutes, as Jira's own do.
OUTGOING_JWT_LIFETIME_SECONDS = 180
INSTALL_KEY_CACHE_SECONDS = 3600
JIRA_TIMEOUT_SECONDS = 10.0
# Per-function arq timeout. The in-progress TTL is this + 10 s, so a killed worker's job is
# picked up by another within ~70 s (ARQ.md section 12).
JOB_TIMEOUT_SECONDS = 60
REDIS_DOWN_RETRY_SECONDS = 1.0  # a worker's pause between polls while Redis is unreachable
# The web_request action: how much of an answer is read, how many redirects are followed.
WEB_RESPONSE_MAX_BYTES = 256 * 1024
WEB_REQUEST_MAX_REDIRECTS = 3
# arq counts every start, ordering waits included; ours decide (max_attempts, and the
# crash-loop guard below), arq's limit is only a last backstop.
ARQ_MAX_TRIES = 100_000
# Starts not explained by our retries or ordering waits are crashes: past this, dead-letter.
CRASH_LOOP_STARTS = 10
HEALTH_CHECK_INTERVAL_SECONDS = 30
JOB_COMPLETION_WAIT_SECONDS = 25
POLL_DELAY_SECONDS = 0.1
DEFAULT_CONCURRENCY = 20

# Smart values (worker/smartvalues). A template is rule text, but its data is the customer's:
# a list section over a big field or a slow regex must not hold a worker. Steps count tags,
# path segments and loop iterations; the time bound also caps each regex call.
SMART_VALUE_MAX_OUTPUT_CHARS = 32 * 1024
SMART_VALUE_MAX_STEPS = 20_000
SMART_VALUE_TIMEOUT_SECONDS = 0.5
SMART_VALUE_MAX_DEPTH = 8
# JQL (worker/jql): longer queries are refused when a rule is saved; Jira's own cap is similar.
JQL_MAX_CHARS = 10_000
JQL_MAX_DEPTH = 50

# Supervisor (`rulequeue worker --processes N`). A child that dies is restarted after
# base * 2^(n-1) s, n = its crashes in a row, capped; a child that ran STABLE seconds starts
# over at the base delay. A child crashing more than MAX_CRASHES times within the window is a
# crash loop (a bad setting, a broken image): the supervisor stops all and exits non-zero so the
# orchestrator sees it. A Redis outage is not one: arq retries for ~10 s before a child exits,
# so with the back-off a child crashes at most ~5 times a minute.
SUPERVISOR_RESTART_BASE_SECONDS = 0.5
SUPERVISOR_RESTART_CAP_SECONDS = 30.0
SUPERVISOR_STABLE_SECONDS = 30.0
SUPERVISOR_MAX_CRASHES = 5
SUPERVISOR_CRASH_WINDOW_SECONDS = 60.0
# After SIGTERM children get JOB_COMPLETION_WAIT_SECONDS plus this to exit, then SIGKILL.
SUPERVISOR_STOP_MARGIN_SECONDS = 10.0

# The /ops page. Its time series is sampled when the page asks for data (no background work
# when nobody watches), at most every SAMPLE seconds, and kept in the producer's memory: the
# page polls every 3 s, so 360 points are the last ~18 minutes.
OPS_SAMPLE_SECONDS = 2.0
OPS_HISTORY_POINTS = 360
OPS_DEAD_LETTERS = 20
# The browser login (`/ops?token=…`) becomes this HttpOnly cookie, valid for 12 hours.
OPS_COOKIE = 'rulequeue_ops'
OPS_COOKIE_MAX_AGE_SECONDS = 12 * 3600

# Retention (the README's privacy table). Deletes run in batches of RETENTION_BATCH rows per
# statement, so no statement holds its locks for long; one run stops after RETENTION_RUN
# seconds (under the job timeout) and the next day's run carries on.
DEFAULT_AUDIT_RETENTION_DAYS = 90
DEFAULT_UNINSTALL_GRACE_DAYS = 30
RETENTION_BATCH = 5000
RETENTION_RUN_SECONDS = 45.0

# Owner e-mails (Postgres outbox). A failed send is tried again after base * 2^(n-1) s, capped;
# a claimed mail is left alone for LEASE seconds, so two senders never send it twice.
MAIL_RETRY_BASE_SECONDS = 60.0
MAIL_RETRY_CAP_SECONDS = 3600.0
MAIL_LEASE_SECONDS = 300
MAIL_BATCH = 50
SMTP_TIMEOUT_SECONDS = 20.0

# Per-process worker health (arq's own health key is one per queue and shared by every worker,
# arq #276). A hash per process, refreshed every HEARTBEAT seconds and expiring after three
# missed beats, so a killed process drops out on its own; deleted on a clean stop. The ZSET
# indexes the records by last beat, so readers never SCAN a keyspace full of snapshots.
WORKER_KEY = KEY_PREFIX + ':worker:{host}:{pid}'
WORKERS_KEY = KEY_PREFIX + ':workers'
WORKER_HEARTBEAT_SECONDS = 15.0
WORKER_RECORD_TTL_SECONDS = 3 * WORKER_HEARTBEAT_SECONDS

# Prometheus. Queue gauges describe one shared queue, so one worker at a time exports them:
# the holder of this lease (its value is the holder's health key) refreshes them every
# QUEUE_GAUGES_SECONDS; if it dies another takes the lease within LEASE + one refresh.
QUEUE_GAUGES_LEASE_KEY = KEY_PREFIX + ':metrics:queue-gauges'
QUEUE_GAUGES_SECONDS = 15.0
QUEUE_GAUGES_LEASE_SECONDS = 2 * QUEUE_GAUGES_SECONDS + 5
DEFAULT_WORKER_METRICS_PORT = 9191
# `rulequeue stats`: how many tenants the backlog table lists.
STATS_TOP_TENANTS = 10

# Forge Remote (shared/FORGE.md). Invocation tokens are signed by keys published as a JWKS;
# which JWKS is chosen among these URLs (staging and Isolated Cloud only when configured).
FORGE_INVOCATION_ISSUER = 'forge/invocation-token'
DEFAULT_FORGE_JWKS_URL = 'https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json'
DEFAULT_FORGE_STAGING_JWKS_URL = 'https://forge.cdn.stg.atlassian-dev.net/.well-known/jwks.json'
FORGE_PRODUCTION_API_HOST = 'api.atlassian.com'
FORGE_STAGING_API_HOST = 'api.stg.atlassian.com'
FORGE_IC_LABEL_PLACEHOLDER = '{IC_LABEL}'
# Atlassian's example FIT lives 25 s; a few seconds of skew are plenty, more widens replay.
DEFAULT_FORGE_LEEWAY_SECONDS = 10
MAX_FORGE_LEEWAY_SECONDS = 30
# An unknown kid refetches a JWKS at most once per cooldown (per URL): a flood of made-up kids
# costs Atlassian's CDN one request per cooldown, and a rotated key is trusted within one.
DEFAULT_FORGE_JWKS_COOLDOWN_SECONDS = 10.0
# A fetched key set is refreshed after this long even without a miss, so a key Atlassian
# withdrew stops verifying; a failed refresh keeps the last good set.
FORGE_JWKS_MAX_AGE_SECONDS = 300.0
# Right after ``installed`` Jira may answer the app's calls 401/403 while its permissions
# propagate (FORGE.md 8.12): that long after the installation's first call, those are retried.
FORGE_WARMUP_SECONDS = 300.0
# Forge gives a remote 5 s per event: a JWKS fetch must leave time to verify and enqueue.
FORGE_JWKS_TIMEOUT_SECONDS = 2.0
FORGE_JWKS_MAX_BYTES = 64 * 1024
# Event FITs are small, UI ones carry a signed context; FORGE.md asks for >= 16 KB headers.
FORGE_MAX_TOKEN_CHARS = 64 * 1024
# Replay guard: a FIT's jti is remembered (hashed) until the token expires plus the leeway.
FORGE_JTI_KEY = KEY_PREFIX + ':forge:jti:{jti}'
# A Forge event already admitted (its idempotency key, FORGE.md 4): Forge re-delivers up to
# 4 x 60 s apart after up to ~3 min of queueing, so 10 minutes is the floor; 30 leave a margin.
FORGE_EVENT_KEY = KEY_PREFIX + ':forge:event:{tenant}:{event}'
FORGE_EVENT_TTL_SECONDS = 30 * 60
# One change of an issue reported by both transports while a tenant migrates (Connect webhook
# and Forge event) runs once: whichever transport admits it first SETs this NX with its name,
# and the other transport's report of the same change is acknowledged and not run. Set only
# when Forge is configured; as long as the Forge event key, for the same reason.
CHANGE_KEY = KEY_PREFIX + ':change:{tenant}:{issue}:{change}'
CHANGE_TTL_SECONDS = 30 * 60
# Forge's reconciling sweep (worker/forge_sweep.py): every FORGE_SWEEP_MINUTES it searches the
# changes of the last interval + FORGE_DELIVERY_DELAY_SECONDS (Forge queues events up to ~3 min,
# FORGE.md 4) + the margin, and runs those older than the delay that no event claimed. The
# window must stay within CHANGE_TTL_SECONDS, or a change claimed by its event would look
# unclaimed again: hence the interval's maximum (20 + 3 + 2 min <= 30).
DEFAULT_FORGE_SWEEP_MINUTES = 5
MAX_FORGE_SWEEP_MINUTES = 20
FORGE_DELIVERY_DELAY_SECONDS = 3 * 60
FORGE_SWEEP_MARGIN_SECONDS = 2 * 60
FORGE_SWEEP_TICK_KEY = KEY_PREFIX + ':forge:sweep:{tenant}:{tick}'
FORGE_SWEEP_TICK_TTL_SECONDS = 24 * 3600
# Issues and changelog pages one sweep of one tenant reads at most (the rest waits for later
# sweeps while still in the window, and the log line says the search was over the limit).
FORGE_SWEEP_MAX_CHANGELOG_PAGES = 5
# Request header block the producer's HTTP server accepts (h11's default is 16 KB in all):
# Forge asks remotes for >= 16 KB Authorization headers and FORGE.md 8.17 for 32 KB.
MAX_REQUEST_HEADER_BYTES = 64 * 1024


def digest(value: str, length: int = 32) -> str:
    """A short, stable, key-safe hex digest of ``value``."""
    return hashlib.sha256(value.encode()).hexdigest()[:length]


def tenant_ref(client_key: str) -> str:
    """The key-safe name of a tenant in Redis keys."""
    return digest('tenant\0' + client_key, 16)


def execution_id(client_key: str, delivery_id: str) -> str:
    """One execution per (tenant, webhook delivery): the arq job id and key suffix."""
    return digest(client_key + '\0' + delivery_id)


def snapshot_key(client_key: str, execution: str) -> str:
    return SNAPSHOT_KEY.format(tenant=tenant_ref(client_key), execution=execution)


def tenant_snapshot_pattern(client_key: str) -> str:
    """SCAN pattern for every queued snapshot of one tenant (used on uninstall)."""
    return SNAPSHOT_KEY.format(tenant=tenant_ref(client_key), execution='*')


def forge_event_key(client_key: str, idempotency_key: str) -> str:
    return FORGE_EVENT_KEY.format(tenant=tenant_ref(client_key), event=digest(idempotency_key, 40))


def change_key(client_key: str, issue_id: str, change: str) -> str:
    return CHANGE_KEY.format(tenant=tenant_ref(client_key), issue=digest(issue_id, 24), change=digest(change, 24))


def order_key(client_key: str, issue_id: str) -> str:
    return ORDER_KEY.format(tenant=tenant_ref(client_key), issue=digest(issue_id, 24))


def snapshot_pattern() -> str:
    return SNAPSHOT_KEY.format(tenant='*', execution='*')


def rule_hour_key(client_key: str, rule_id: str, hour: int) -> str:
    return RULE_HOUR_KEY.format(tenant=tenant_ref(client_key), rule=digest(rule_id, 24), hour=hour)


def chain_issue_key(client_key: str, issue_id: str) -> str:
    return CHAIN_ISSUE_KEY.format(tenant=tenant_ref(client_key), issue=digest(issue_id, 24))


def chain_execution_key(execution: str) -> str:
    return CHAIN_EXECUTION_KEY.format(execution=execution)


def scheduled_tick_key(client_key: str, rule_id: str, tick: str) -> str:
    return SCHEDULED_TICK_KEY.format(tenant=tenant_ref(client_key), rule=digest(rule_id, 24), tick=tick)


def forge_sweep_tick_key(client_key: str, tick: str) -> str:
    return FORGE_SWEEP_TICK_KEY.format(tenant=tenant_ref(client_key), tick=tick)


def scheduled_run_keys(client_key: str, rule_id: str) -> tuple[str, str]:
    """The lock of a scheduled rule's run in progress, and the set of that run's executions."""
    names = {'tenant': tenant_ref(client_key), 'rule': digest(rule_id, 24)}
    return SCHEDULED_RUN_KEY.format(**names), SCHEDULED_RUN_EXECUTIONS_KEY.format(**names)
