"""Everything Atlassian Connect specific: qsh, JWTs, install keys, the descriptor.

The rest of rulequeue sees a verified tenant and a way to call Jira; a Forge transport can sit
beside this package without the worker knowing which one delivered an event.
"""
