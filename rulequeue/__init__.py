"""rulequeue: a fault-tolerant, privacy-minded rule engine for Jira Cloud.

The top-level package holds what both processes share: settings, constants, errors, the
Postgres store, the Connect protocol helpers, encryption, logging and the command line.
"""

__version__ = '0.1.0'
