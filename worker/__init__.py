"""ARQ workers: load the snapshot, match rules, run actions through signed Jira calls."""
