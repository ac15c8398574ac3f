"""Settings, read once from the environment at each process's edge and passed down.

Nothing imports a settings object at module level: ``load_settings()`` is called by the CLI,
the ASGI factory or arq's start-up and the result is handed to whatever needs it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rulequeue import constants
from rulequeue.errors import ConfigurationError

MIN_SECRET_KEY_LENGTH = 32


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
    retry_base_seconds: float = Field(constants.DEFAULT_RETRY_BASE_SECONDS, ge=0)
    retry_cap_seconds: float = Field(constants.DEFAULT_RETRY_CAP_SECONDS, ge=0)
    jira_timeout_seconds: float = Field(constants.JIRA_TIMEOUT_SECONDS, gt=0)
    worker_concurrency: int = Field(constants.DEFAULT_CONCURRENCY, ge=1)
    job_timeout_seconds: int = Field(
        constants.JOB_TIMEOUT_SECONDS,
        ge=1,
        description="one execution's time limit; a killed worker's job is resumed this + 10 s later",
    )
    job_completion_wait_seconds: int = Field(constants.JOB_COMPLETION_WAIT_SECONDS, ge=0)
    log_format: Literal['auto', 'json', 'console'] = 'auto'
    log_level: Literal['debug', 'info', 'warning', 'error'] = 'info'

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
