"""A Jira Cloud site for tests and the demo, over real HTTP.

:class:`JiraSimulator` plays Jira's side of Atlassian Connect (shared/CONNECT.md): it serves an
install-keys service, installs an app with signed lifecycle calls, sends signed webhooks shaped
like Jira Cloud's when people change issues, and serves the REST calls the app makes, verifying
each JWT as Jira does. Nothing here is used in production.

Example::

    sim = JiraSimulator()
    async with sim.running():
        await sim.install(app_url + '/atlassian-connect.json')
        issue, responses = await sim.create_issue(project='PROJ', issuetype='Bug', summary='Crash')
"""

from rulequeue.simulator.calls import RecordedCall
from rulequeue.simulator.catalog import ALICE, BOB
from rulequeue.simulator.connect import AppRegistration
from rulequeue.simulator.jira import JiraSimulator
from rulequeue.simulator.state import Change, SimulatorError

__all__ = ['ALICE', 'BOB', 'AppRegistration', 'Change', 'JiraSimulator', 'RecordedCall', 'SimulatorError']
