-- rulequeue's Postgres schema. Applied by `rulequeue migrate`; every statement is idempotent.
-- What is stored, and for how long, is listed in the README's privacy table.

CREATE TABLE IF NOT EXISTS tenants (
    client_key        text PRIMARY KEY,
    base_url          text NOT NULL,
    display_url       text,
    cloud_id          text,
    product_type      text,
    -- AES-GCM ciphertext bound to client_key; NULL once uninstalled (deleted at once).
    shared_secret_enc bytea,
    state             text NOT NULL CHECK (state IN ('installed', 'disabled', 'uninstalled')),
    -- Our app user's accountId on this site, learnt from GET /myself, to skip our own events.
    app_account_id    text,
    installed_at      timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS rules (
    id          uuid PRIMARY KEY,
    client_key  text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    version     integer NOT NULL DEFAULT 1,
    enabled     boolean NOT NULL,
    -- The rule document, including the owner's contact details (stored on purpose).
    document    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rules_tenant_idx ON rules (client_key, enabled);

CREATE TABLE IF NOT EXISTS audit_log (
    id            bigserial PRIMARY KEY,
    client_key    text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    rule_id       uuid NOT NULL,
    rule_name     text NOT NULL,
    rule_version  integer NOT NULL,
    status        text NOT NULL,
    issue_key     text NOT NULL,
    issue_id      text NOT NULL,
    delivery_id   text NOT NULL,
    event_type    text NOT NULL,
    actions       jsonb NOT NULL,
    messages      jsonb NOT NULL,
    attempts      integer NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- One row per (delivery, rule), whatever the retries and re-deliveries.
    UNIQUE (client_key, delivery_id, rule_id)
);
CREATE INDEX IF NOT EXISTS audit_tenant_time_idx ON audit_log (client_key, id DESC);
CREATE INDEX IF NOT EXISTS audit_tenant_issue_idx ON audit_log (client_key, issue_key);

-- Executions that ran out of attempts: ids, rules, error and attempts, never the snapshot.
-- `envelope` keeps what a replay needs to match triggers again without issue data: the event
-- type and the changed fields' names (no values).
CREATE TABLE IF NOT EXISTS dead_letters (
    id                 bigserial PRIMARY KEY,
    client_key         text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    delivery_id        text NOT NULL,
    execution_id       text NOT NULL,
    issue_key          text NOT NULL,
    issue_id           text NOT NULL,
    envelope           jsonb NOT NULL,
    rule_ids           jsonb NOT NULL,
    error              text NOT NULL,
    attempts           integer NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    replayed_at        timestamptz,
    replay_delivery_id text,
    UNIQUE (client_key, delivery_id)
);

-- Every accepted webhook delivery (ids, event type, times, state; never the snapshot), so a
-- delivery whose job Redis lost can be found and run again by the reconciler.
CREATE TABLE IF NOT EXISTS deliveries (
    client_key    text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    delivery_id   text NOT NULL,
    execution_id  text NOT NULL,
    issue_key     text NOT NULL,
    issue_id      text NOT NULL,
    envelope      jsonb NOT NULL,
    state         text NOT NULL DEFAULT 'accepted',
    requeued      integer NOT NULL DEFAULT 0,
    received_at   timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    PRIMARY KEY (client_key, delivery_id)
);
CREATE INDEX IF NOT EXISTS deliveries_pending_idx ON deliveries (received_at) WHERE state = 'accepted';

-- Licensing: whether Jira said lic=active when the delivery came in (rules of an unlicensed
-- site are not run), kept so the reconciler re-admits a lost delivery the same way.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS licensed boolean NOT NULL DEFAULT true;

-- What the job asked beyond its event (schemas/job_options.py: the rules named by a manual or
-- scheduled run, a branch item or a delay's continuation, whether the worker reads the issue),
-- so the reconciler and a replay queue the same execution again. NULL: a plain event's job (and
-- rows written before the column existed). The dead letter copies its delivery's.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS job_options jsonb;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS job_options jsonb;

-- Uninstall grace: set on uninstall, cleared by a re-install; past UNINSTALL_GRACE_DAYS the
-- tenant's rules, audit entries and owner contacts are deleted (worker/retention.py).
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS uninstalled_at timestamptz;

-- Retention deletes by age, in batches (AUDIT_RETENTION_DAYS).
CREATE INDEX IF NOT EXISTS audit_created_idx ON audit_log (created_at);
CREATE INDEX IF NOT EXISTS dead_letters_created_idx ON dead_letters (created_at);

-- E-mails to rule owners, written in the transaction that records why (e.g. the UNLICENSED
-- audit rows) and sent by a cron, so a mail outage loses nothing. At most one per
-- (tenant, recipient, day, kind). Holds the owner's address and the mail text (rule names and
-- the site URL, no issue data); sent rows are kept for the audit retention period.
CREATE TABLE IF NOT EXISTS outbox (
    id               bigserial PRIMARY KEY,
    client_key       text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    kind             text NOT NULL,
    recipient        text NOT NULL,
    day              date NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (client_key, recipient, day, kind)
);
CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_sent_idx ON outbox (sent_at) WHERE state = 'sent';
-- Tenants uninstalled before uninstalled_at existed start their grace period from their last change.
UPDATE tenants SET uninstalled_at = updated_at WHERE state = 'uninstalled' AND uninstalled_at IS NULL;

-- Hosts a tenant's web_request actions may call ('example.com', '*.example.com'); nothing is
-- allowed until an admin lists it. Deleted with the tenant.
CREATE TABLE IF NOT EXISTS web_request_hosts (
    client_key  text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    pattern     text NOT NULL,
    PRIMARY KEY (client_key, pattern)
);

-- Per delivery, each rule of the tenant and why it did or did not run (GET /api/events/…).
-- Built from the rules and the event type, never the snapshot; a failing condition's actual
-- value only when the tenant opted in (tenants.explain_values), cut to 80 characters.
-- Kept for AUDIT_RETENTION_DAYS, deleted with the tenant.
CREATE TABLE IF NOT EXISTS evaluations (
    client_key   text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    delivery_id  text NOT NULL,
    issue_key    text NOT NULL,
    issue_id     text NOT NULL,
    event_type   text NOT NULL,
    values_kept  boolean NOT NULL DEFAULT false,
    rules        jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_key, delivery_id)
);
CREATE INDEX IF NOT EXISTS evaluations_issue_idx ON evaluations (client_key, issue_key, created_at DESC);
CREATE INDEX IF NOT EXISTS evaluations_created_idx ON evaluations (created_at);
-- A tenant's opt-in to keep failing conditions' actual values in evaluations (off by default).
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS explain_values boolean NOT NULL DEFAULT false;

-- Forge installations (FORGE.md 5.1): one row per installation id (a re-install gets a new one),
-- linked to the Connect tenant of the same site by cloudId. The app system token is AES-GCM
-- encrypted and bound to the installation; the one with the later expiry is kept, and it is
-- dropped at once on preUninstall.
CREATE TABLE IF NOT EXISTS forge_installations (
    installation_id   text PRIMARY KEY,
    cloud_id          text NOT NULL,
    app_id            text NOT NULL,
    api_base_url      text NOT NULL,
    client_key        text REFERENCES tenants (client_key) ON DELETE SET NULL,
    state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'uninstalled')),
    system_token_enc  bytea,
    token_expires_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS forge_installations_site_idx ON forge_installations (cloud_id);

-- Forge Remote (FORGE.md 5.3, 8.14): the one transport whose events a tenant processes while
-- it migrates from Connect to Forge; the other transport's events are acknowledged, not run.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS transport text NOT NULL DEFAULT 'connect'
    CHECK (transport IN ('connect', 'forge'));
CREATE INDEX IF NOT EXISTS tenants_cloud_idx ON tenants (lower(cloud_id));

-- Forge deliveries we could not use (bad JSON, unknown event type, no issue.id, too large):
-- answered 2xx so Forge does not re-deliver them four times, and kept here with the reason.
-- Ids, the event type and the reason only, never the body.
CREATE TABLE IF NOT EXISTS forge_rejected_events (
    id               bigserial PRIMARY KEY,
    client_key       text NOT NULL REFERENCES tenants (client_key) ON DELETE CASCADE,
    installation_id  text NOT NULL,
    route            text NOT NULL,
    event_type       text,
    reason           text NOT NULL,
    retry_count      integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS forge_rejected_events_created_idx ON forge_rejected_events (created_at);
CREATE INDEX IF NOT EXISTS forge_rejected_events_tenant_idx ON forge_rejected_events (client_key, id DESC);
