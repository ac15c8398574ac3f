"""The webhook receiver: a thin ASGI app installed in Jira as an Atlassian Connect app."""
