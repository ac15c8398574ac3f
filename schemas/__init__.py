"""The contract between producer and worker: webhook events, jobs, rules, audit entries and
the SQL schema (``schema.sql``)."""
