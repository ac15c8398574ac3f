"""Settings, read once from the environment at each process's edge and passed down.

Nothing imports a settings object at module level: ``load_settings()`` is called by the CLI,
the ASGI factory or arq's start-up and the result is handed to whatever needs it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rulequeue import constants
from rulequeue.errors import ConfigurationError

MIN_SECRET_KEY_LENGTH = 32
MIN_OPS_TOKEN_LENGTH = 16
_FORGE_APP_ARI = re.compile(r'^ari:cloud:ecosystem::app/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')

ForgeEnvironment = Literal['DEVELOPMENT', 'STAGING', 'PRODUCTION']


class Settings(BaseSettings):
    """Configuration of the producer, the worker and the CLI. Field names are the env vars."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra='ignore', frozen=True)

    database_url: str = Field(description='Postgres DSN')
    redis_url: str = Field(description='Redis DSN')
    app_base_url: str = Field(description='public base URL of the producer')
    secret_key: SecretStr = Field(
        description='key(s) encrypting shared secrets and snapshots; comma-separated, first encrypts'
    )
    database_schema: str | None = Field(None, description='Postgres schema for the tables (default: public)')
    app_key: str = constants.DEFAULT_APP_KEY
    app_name: str = 'rulequeue'
    connect_install_keys_url: str = constants.DEFAULT_INSTALL_KEYS_URL
    max_body_bytes: int = Field(constants.DEFAULT_MAX_BODY_BYTES, gt=0)
    body_read_timeout_seconds: float = Field(10.0, gt=0)
    rate_limit_tenant_per_second: float = Field(200.0, ge=0, description='0 turns the per-tenant limit off')
    rate_limit_tenant_burst: int = Field(2000, ge=1)
    rate_limit_failures_per_ip_per_minute: float = Field(60.0, ge=0, description='0 turns the per-IP limit off')
    order_hold_seconds: float = Field(
        constants.DEFAULT_ORDER_HOLD_SECONDS, gt=0, description='how long one event may hold back later ones'
    )
    max_attempts: int = Field(constants.DEFAULT_MAX_ATTEMPTS, ge=1)
    max_rule_components: int = Field(
        constants.DEFAULT_MAX_RULE_COMPONENTS, ge=2, description='trigger + conditions + actions of one rule'
    )
    rule_executions_per_hour: int = Field(
        constants.DEFAULT_RULE_EXECUTIONS_PER_HOUR, ge=0, description='per rule; beyond it THROTTLED; 0: no limit'
    )
    loop_max_depth: int = Field(
        constants.DEFAULT_LOOP_MAX_DEPTH, ge=1, description='re-triggers by our own actions before LOOP'
    )
    max_issues_per_search: int = Field(
        constants.DEFAULT_MAX_ISSUES_PER_SEARCH, ge=1, description="a rule's JQL search; beyond it THROTTLED"
    )
    max_branch_items: int = Field(
        constants.DEFAULT_MAX_BRANCH_ITEMS, ge=1, le=1000, description='issues one branch runs on; the rest audited'
    )
    max_delay_seconds: int = Field(
        constants.DEFAULT_MAX_DELAY_SECONDS, ge=1, le=3600, description='the longest delay a rule may ask for'
    )
    forge_sweep_minutes: int = Field(
        constants.DEFAULT_FORGE_SWEEP_MINUTES,
        ge=0,
        le=constants.MAX_FORGE_SWEEP_MINUTES,
        description="minutes between sweeps for Forge tenants' changes whose event never came; 0: off",
    )
    scheduler_enabled: bool = Field(
        True,
        description="workers run scheduled rules' cron ticks; off for a process that drives ticks itself (the demo)",
    )
    retry_base_seconds: float = Field(constants.DEFAULT_RETRY_BASE_SECONDS, ge=0)
    retry_cap_seconds: float = Field(constants.DEFAULT_RETRY_CAP_SECONDS, ge=0)
    jira_timeout_seconds: float = Field(constants.JIRA_TIMEOUT_SECONDS, gt=0)
    worker_concurrency: int = Field(constants.DEFAULT_CONCURRENCY, ge=1)
    worker_metrics_port: int = Field(
        constants.DEFAULT_WORKER_METRICS_PORT, ge=0, le=65535, description="a worker's Prometheus /metrics port; 0: off"
    )
    job_timeout_seconds: int = Field(
        constants.JOB_TIMEOUT_SECONDS,
        ge=1,
        description="one execution's time limit; a killed worker's job is resumed this + 10 s later",
    )
    job_completion_wait_seconds: int = Field(constants.JOB_COMPLETION_WAIT_SECONDS, ge=0)
    web_request_allowed_networks: str = Field(
        '',
        description='comma-separated CIDRs web_request may reach besides public addresses (e.g. an internal API)',
    )
    log_format: Literal['auto', 'json', 'console'] = 'auto'
    log_level: Literal['debug', 'info', 'warning', 'error'] = 'info'
    ops_token: SecretStr | None = Field(None, description='operator token of the /ops page; unset: /ops answers 404')
    licensing_enforced: bool = Field(False, description="events of sites whose Jira does not send lic=active don't run")
    audit_retention_days: int = Field(constants.DEFAULT_AUDIT_RETENTION_DAYS, ge=1)
    uninstall_grace_days: int = Field(constants.DEFAULT_UNINSTALL_GRACE_DAYS, ge=0)
    smtp_host: str | None = Field(None, description='mail server; unset: owner e-mails wait in the outbox')
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_tls: Literal['none', 'starttls', 'tls'] = 'starttls'
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = Field('rulequeue@localhost', max_length=320, pattern=r'^[^@\s]+@[^@\s]+$|<[^@\s]+@[^@\s]+>$')
    # Forge Remote (shared/FORGE.md §3.3). Lists are comma-separated in the environment.
    forge_app_ids: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description='accepted Forge app ARIs (ari:cloud:ecosystem::app/<uuid>), one per app; empty: Forge off'
    )
    forge_jwks_url: str = constants.DEFAULT_FORGE_JWKS_URL
    forge_staging_enabled: bool = Field(False, description='accept tokens of Forge staging (api.stg.atlassian.com)')
    forge_staging_jwks_url: str = constants.DEFAULT_FORGE_STAGING_JWKS_URL
    forge_ic_jwks_template: str | None = Field(
        None, description='Isolated Cloud JWKS URL with {IC_LABEL}, given at IC onboarding; unset: IC tokens refused'
    )
    forge_ic_api_host: str = Field(
        constants.FORGE_PRODUCTION_API_HOST, description="the host of Isolated Cloud tokens' apiBaseUrl"
    )
    forge_allowed_environments: Annotated[tuple[ForgeEnvironment, ...], NoDecode] = Field(
        ('PRODUCTION',), min_length=1, description='Forge environment types whose tokens are accepted'
    )
    forge_leeway_seconds: int = Field(
        constants.DEFAULT_FORGE_LEEWAY_SECONDS, ge=0, le=constants.MAX_FORGE_LEEWAY_SECONDS
    )
    forge_jwks_cooldown_seconds: float = Field(
        constants.DEFAULT_FORGE_JWKS_COOLDOWN_SECONDS, gt=0, le=300, description='least time between JWKS refetches'
    )
    forge_test_api_base_url: str | None = Field(
        None,
        description='tests and the demo only: also accept FITs whose apiBaseUrl is <this>/ex/jira/<cloudId>',
    )
    forge_cutover: Literal['auto', 'manual'] = Field(
        'auto',
        description="auto: a Connect tenant's first Forge product event switches it to Forge; "
        'manual: only PUT /api/settings/transport does',
    )

    @field_validator('database_url')
    @classmethod
    def _postgres_dsn(cls, value: str) -> str:
        if not value.startswith(('postgres://', 'postgresql://')):
            raise ValueError('must be a postgresql:// DSN')
        return value

    @field_validator('redis_url')
    @classmethod
    def _redis_dsn(cls, value: str) -> str:
        if not value.startswith(('redis://', 'rediss://', 'unix://')):
            raise ValueError('must be a redis://, rediss:// or unix:// DSN')
        return value

    @field_validator('app_base_url', 'connect_install_keys_url')
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(('http://', 'https://')):
            raise ValueError('must be an http:// or https:// URL')
        return value.rstrip('/')

    @field_validator('secret_key')
    @classmethod
    def _strong_keys(cls, value: SecretStr) -> SecretStr:
        keys = [k.strip() for k in value.get_secret_value().split(',')]
        if not keys or any(len(k) < MIN_SECRET_KEY_LENGTH for k in keys):
            raise ValueError(f'each key must be at least {MIN_SECRET_KEY_LENGTH} characters')
        return value

    @field_validator('forge_app_ids', 'forge_allowed_environments', mode='before')
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(',') if item.strip())
        return value

    @field_validator('forge_app_ids')
    @classmethod
    def _app_aris(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for app_id in value:
            if not _FORGE_APP_ARI.match(app_id):
                raise ValueError('each must be an app ARI: ari:cloud:ecosystem::app/<uuid>')
        return value

    @field_validator('forge_jwks_url', 'forge_staging_jwks_url')
    @classmethod
    def _jwks_url(cls, value: str) -> str:
        if not value.startswith(('http://', 'https://')):
            raise ValueError('must be an http:// or https:// URL')
        return value

    @field_validator('forge_test_api_base_url')
    @classmethod
    def _test_api_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(('http://', 'https://')):
            raise ValueError('must be an http:// or https:// URL')
        return value.rstrip('/')

    @field_validator('forge_ic_jwks_template')
    @classmethod
    def _ic_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(('http://', 'https://')) or value.count(constants.FORGE_IC_LABEL_PLACEHOLDER) != 1:
            raise ValueError('must be an http(s) URL containing {IC_LABEL} once')
        return value

    @field_validator('ops_token')
    @classmethod
    def _strong_ops_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_OPS_TOKEN_LENGTH:
            raise ValueError(f'must be at least {MIN_OPS_TOKEN_LENGTH} characters')
        return value

    @field_validator('web_request_allowed_networks')
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(','))):
            ipaddress.ip_network(part, strict=False)  # ValueError names the bad one
        return value

    @property
    def web_request_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        parts = filter(None, (p.strip() for p in self.web_request_allowed_networks.split(',')))
        return [ipaddress.ip_network(part, strict=False) for part in parts]

    @property
    def secret_keys(self) -> list[str]:
        """The encryption keys, newest (the one that encrypts) first."""
        return [k.strip() for k in self.secret_key.get_secret_value().split(',')]


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; a bad or missing value raises one clear ConfigurationError.

    The message names the environment variable and never echoes a secret value.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = '_'.join(str(part) for part in error['loc']).upper() or 'SETTINGS'
            if error['type'] == 'missing':
                problems.append(f'{name} is required')
            else:
                problems.append(f'{name} {error["msg"].removeprefix("Value error, ")}')
        raise ConfigurationError('invalid configuration: ' + '; '.join(problems)) from None
