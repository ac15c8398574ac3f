"""The exception tree of rulequeue.

::

    RulequeueError
    ├── ConfigurationError            a setting is missing or invalid; the process stops
    ├── WorkerCrashLoop               worker processes kept crashing; the supervisor gave up
    ├── RequestRejected               the producer refuses a request (carries the HTTP status)
    │   ├── BadRequest                400: malformed JSON or wrong shape
    │   ├── Unauthorized              401: missing, forged, expired or mismatched token,
    │   │   │                         unknown or uninstalled tenant
    │   │   └── ForgeAuthError        401: a Forge Invocation Token failed a check (carries reason)
    │   ├── NotFound                  404: no such rule (or not this tenant's)
    │   ├── Conflict                  409: the request does not fit the rule's state (a manual run
    │   │                             of a disabled rule, or of a rule without a manual trigger)
    │   ├── RequestTimeout            408: body not received in time (slow-loris)
    │   ├── PayloadTooLarge           413: body over the configured limit
    │   ├── UnsupportedMediaType      415: body is not declared as JSON
    │   ├── Unprocessable             422: a rule failed validation (errors with paths)
    │   ├── TooManyRequests           429: a rate limit was hit (carries retry_after)
    │   └── ServiceUnavailable        503: Redis or Postgres unreachable; Jira will retry
    │       └── ForgeKeysUnavailable  503: no Forge JWKS could be fetched yet; Forge re-delivers
    ├── InstallKeyUnavailable         the install-keys service could not give a key
    ├── ForgeEventRejected            a Forge event is malformed or unknown (2xx + dead letter)
    ├── TemplateError                 a template could not be rendered
    ├── JqlError                      a JQL query could not be parsed (carries the position)
    ├── EgressRefused                 a web request's target is not a public address, or not allowed
    └── JiraError                     a call to Jira failed
        ├── TransientJiraError        429, 5xx, timeout, connection error: retry later
        │   └── NoUsableToken         a Forge tenant has no app system token fit to use yet
        └── PermanentJiraError        any other 4xx: final for that action

Errors carry context as attributes (status, retry_after) rather than only as text, and their
messages never contain a token, a secret or issue data.
"""

from __future__ import annotations


class RulequeueError(Exception):
    """Base class of every error raised on purpose by rulequeue."""


class ConfigurationError(RulequeueError):
    """A setting is missing or invalid. Raised at start-up, before anything is served."""


class WorkerCrashLoop(RulequeueError):
    """A supervised worker process crashed too often in too short a time; all were stopped.

    Restarting further would only hide the fault (a bad setting, an unreachable service, a broken
    install): exiting non-zero hands it to the orchestrator, which restarts with its own back-off.
    """


class RequestRejected(RulequeueError):
    """The producer refuses a request; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(RequestRejected):
    status = 400


class Unauthorized(RequestRejected):
    status = 401


class NotFound(RequestRejected):
    status = 404


class Conflict(RequestRejected):
    status = 409


class RequestTimeout(RequestRejected):
    status = 408


class PayloadTooLarge(RequestRejected):
    status = 413


class UnsupportedMediaType(RequestRejected):
    status = 415


class TooManyRequests(RequestRejected):
    """429: a rate limit was hit; ``retry_after`` is the number of seconds to wait."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unprocessable(RequestRejected):
    """422: a document failed validation; ``errors`` lists each error with its path."""

    status = 422

    def __init__(self, message: str, errors: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.errors = errors


class ServiceUnavailable(RequestRejected):
    status = 503


class ForgeAuthError(Unauthorized):
    """A Forge Invocation Token failed verification; ``reason`` names the check, never the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(f'forge invocation token rejected: {reason}')
        self.reason = reason


class ForgeKeysUnavailable(ServiceUnavailable):
    """No key set of a Forge JWKS was ever fetched, so no token can be verified (503).

    Our fault, not the caller's: Forge re-delivers on 5xx. Once one set was fetched, a failing
    JWKS keeps the last good set and an unknown ``kid`` is a :class:`ForgeAuthError`.
    """


class ForgeEventRejected(RulequeueError):
    """A Forge event body is malformed, too large or of a type we don't handle.

    Forge re-delivers any non-2xx answer, so the route answers 2xx and records a dead letter
    with ``reason`` (which names the fault, never issue data).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InstallKeyUnavailable(RulequeueError):
    """The install-keys service was unreachable or answered something that is not a key.

    Verification fails closed: the lifecycle call is refused (503 if the service is down, so
    Jira retries; 401 if it answered but had no such key).
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class TemplateError(RulequeueError):
    """A template could not be rendered; ``position`` is the offset of the fault.

    Raised for syntax errors, unknown functions, bad arguments and exceeded bounds (output,
    steps, time). The message quotes the rule's own text at most, never issue data.
    """

    def __init__(self, message: str, *, template: str, position: int) -> None:
        super().__init__(f'{message} at position {position}')
        self.template = template
        self.position = position

    def report(self, limit: int = 200) -> str:
        """The message with the template (rule text), cut to ``limit`` characters around the fault."""
        start = max(0, min(self.position - limit // 2, len(self.template) - limit))
        excerpt = self.template[start : start + limit]
        return f'{self} in template {excerpt!r}' + (f' (from offset {start})' if start else '')


class JqlError(RulequeueError):
    """A JQL query could not be parsed; ``position`` is the offset of the fault in ``jql``.

    Raised when a rule is saved (answered 422 with the position), never at run time for a
    rule that was accepted.
    """

    def __init__(self, message: str, *, jql: str, position: int) -> None:
        super().__init__(f'{message} at position {position}')
        self.message = message
        self.jql = jql
        self.position = position


class JiraError(RulequeueError):
    """A call to Jira failed. ``status`` is the HTTP status, or None for network errors."""

    def __init__(self, message: str, *, method: str, path: str, status: int | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status


class TransientJiraError(JiraError):
    """Worth retrying: 429, 5xx, timeouts, connection errors. ``retry_after`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, status=status)
        self.retry_after = retry_after


class NoUsableToken(TransientJiraError):
    """A Forge tenant has no active installation with a system token outside its expiry margin.

    Transient: Forge hands a fresh token with the next event or the hourly keep-alive, so the
    execution waits and retries; once its attempts are spent it is dead-lettered with this
    message. Never answered by falling back to a Connect JWT (FORGE.md 8.9).
    """

    def __init__(self, *, method: str, path: str) -> None:
        super().__init__('no valid app token', method=method, path=path)


class PermanentJiraError(JiraError):
    """Any other 4xx: the action failed for good and is recorded in the audit row."""


class EgressRefused(RulequeueError):
    """A ``web_request`` target is refused: not on the tenant's allow-list, or its address (as
    written, as resolved, or after a redirect) is loopback, private, link-local or otherwise
    not public. Final for that action; the audit row says why."""


class IncomparableValues(RulequeueError):
    """An ordering condition (``greater_than``…) met values that are not both numbers or both dates.

    The message names the kinds of the two sides ("a number and a date"), never their values:
    it goes into the audit entry, which must not copy issue data.
    """
