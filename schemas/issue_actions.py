"""Rule actions that create issues or relate them: create, sub-tasks, links, watchers, refetch.

Part of the rule document (schemas.rules imports them into its ``Action`` union); they run in
worker/issue_actions.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TEMPLATE_LENGTH = 10_000  # the bound of every template in a rule
MAX_SUBTASKS = 50  # Automation for Jira's new sub-tasks per action


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True)


# Fields a create action sets itself: the rule names them through their own keys.
_CREATE_OWN_FIELDS = frozenset({'project', 'issuetype', 'summary', 'parent'})
# The entity property that marks what rulequeue created (worker/issue_actions.py).
ACTION_PROPERTY = 'rulequeue.action'
_PROPERTY_KEY = re.compile(r'[A-Za-z0-9._-]{1,255}')


class CreateIssueAction(_Strict):
    """A new issue; every string (project, type, summary, field values) is a template."""

    type: Literal['create_issue']
    project: str = Field(min_length=1, max_length=255)
    issuetype: str = Field(min_length=1, max_length=255)
    summary: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)
    fields: dict[str, Any] = Field(default_factory=dict, max_length=50)
    properties: dict[str, Any] = Field(default_factory=dict, max_length=10)

    @field_validator('fields')
    @classmethod
    def _other_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        named = sorted(_CREATE_OWN_FIELDS & set(value))
        if named:
            raise ValueError(f'{", ".join(named)}: set by the action itself, not in "fields"')
        return value

    @field_validator('properties')
    @classmethod
    def _property_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not _PROPERTY_KEY.fullmatch(key):
                raise ValueError(f'{key!r} is not an entity property key (letters, digits, ".", "_", "-")')
            if key == ACTION_PROPERTY:
                raise ValueError(f'the {ACTION_PROPERTY} property is set by rulequeue')
        return value


class CreateSubtasksAction(_Strict):
    """Sub-tasks of the rule's issue, one per summary (a template each)."""

    type: Literal['create_subtasks']
    summaries: list[Annotated[str, Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)]] = Field(
        min_length=1, max_length=MAX_SUBTASKS
    )
    issuetype: str = Field('Sub-task', min_length=1, max_length=255)


class LinkIssuesAction(_Strict):
    """Links the rule's issue to ``issue`` (a template): "<rule's issue> <link type's outward> <issue>"."""

    type: Literal['link_issues']
    link_type: str = Field(min_length=1, max_length=255)
    issue: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)


class AddWatcherAction(_Strict):
    type: Literal['add_watcher']
    account_id: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)


class RefetchAction(_Strict):
    """Reload the issue from Jira so later actions see what earlier ones (and others) changed."""

    type: Literal['refetch']
