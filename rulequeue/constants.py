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
# arq counts every start, ordering waits included; ours decide (max_attempts, and the
# crash-loop guard below), arq's limit is only a last backstop.
ARQ_MAX_TRIES = 100_000
# Starts not explained by our retries or ordering waits are crashes: past this, dead-letter.
CRASH_LOOP_STARTS = 10
HEALTH_CHECK_INTERVAL_SECONDS = 30
JOB_COMPLETION_WAIT_SECONDS = 25
POLL_DELAY_SECONDS = 0.1
DEFAULT_CONCURRENCY = 20


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


def order_key(client_key: str, issue_id: str) -> str:
    return ORDER_KEY.format(tenant=tenant_ref(client_key), issue=digest(issue_id, 24))


def snapshot_pattern() -> str:
    return SNAPSHOT_KEY.format(tenant='*', execution='*')
