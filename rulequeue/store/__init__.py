"""The Postgres store shared by producer and worker: tenants, rules, audit entries."""
