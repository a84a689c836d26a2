"""Core's SQL, by the module that runs it: the pool's connection reset, sessions and API
keys, the outbox, notifications, the working-day calendar, the audit chain and the
operations endpoints. Identity has its own (``core/identity/queries.py``)."""

# ---------------------------------------------- connections (core.db)
# what a request left unfinished on a connection going back to the pool
ROLLBACK = "ROLLBACK"


# ---------------------------------------------- sessions and API keys (core.auth)
INSERT_SESSION = """
    INSERT INTO sessions (token_digest, user_id, expires_at, client_ip, user_agent)
    VALUES ($1, $2, now() + $3::interval, $4::inet, $5)"""

END_SESSION = "UPDATE sessions SET revoked_at = now() WHERE token_digest = $1 AND revoked_at IS NULL"

SESSION_USER = """
    SELECT user_id FROM sessions WHERE token_digest = $1
    AND revoked_at IS NULL AND expires_at > now()"""

# the signed-in user with their roles; a deactivated user is nobody
PRINCIPAL = """
    SELECT u.id, u.login, u.name, u.organization_id,
           coalesce(array_agg(r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS roles
    FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
    WHERE u.id = $1 AND u.is_active
    GROUP BY u.id"""

# what a key's owner sees of it: nothing that opens it
API_KEY_COLUMNS = "id, name, prefix, created_at, expires_at, last_used_at, revoked_at"

INSERT_API_KEY = f"""
    INSERT INTO api_keys (prefix, secret_digest, user_id, name, expires_at)
    VALUES ($1, $2, $3, $4, now() + $5::interval) RETURNING {API_KEY_COLUMNS}"""

API_KEYS_OF_USER = f"""
    SELECT {API_KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC"""

# newly: this call revoked it (a second revocation keeps the first time and audits nothing)
REVOKE_API_KEY = """
    WITH before AS (SELECT id, revoked_at FROM api_keys
                    WHERE id = $1 AND user_id = $2 FOR UPDATE)
    UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now()) FROM before
    WHERE k.id = before.id
    RETURNING k.id, k.name, k.prefix, k.created_at, k.expires_at, k.last_used_at,
              k.revoked_at, before.revoked_at IS NULL AS newly"""

API_KEY_BY_PREFIX = """
    SELECT id, user_id, secret_digest, expires_at, expires_at <= now() AS expired
    FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL"""

# At most once a minute, and never waiting: a busy key's requests must not
# queue behind each other on this row's lock.
TOUCH_API_KEY = """
    UPDATE api_keys SET last_used_at = now() WHERE id = (
        SELECT id FROM api_keys WHERE id = $1
        AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        FOR UPDATE SKIP LOCKED)"""


# ---------------------------------------------- outbox (core.jobs)
ENQUEUE = """
    INSERT INTO outbox (job_key, function, args, available_at)
    VALUES ($1, $2, $3, coalesce($4, now()))
    ON CONFLICT (job_key) DO NOTHING RETURNING id"""

DUE_ROWS = """
    SELECT id, job_key, function, relay_count FROM outbox
    WHERE relayed_at IS NULL AND done_at IS NULL AND available_at <= now()
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"""

MARK_RELAYED = "UPDATE outbox SET relayed_at = now(), relay_count = relay_count + 1 WHERE id = $1"

OUTBOX_ARGS = "SELECT args FROM outbox WHERE id = $1"
LOCK_OUTBOX_ROW = "SELECT id, args, done_at FROM outbox WHERE id = $1 FOR UPDATE"

MARK_DONE = """
    UPDATE outbox SET done_at = now(), run_count = run_count + 1, last_error = NULL
    WHERE id = $1"""


# Relayed rows not done go again: all of them ($1 NULL: Redis lost them), or those
# relayed longer ago than $1. Rows being run are locked, and skipped.
RESET_RELAYED = """
    UPDATE outbox SET relayed_at = NULL
    WHERE id IN (SELECT id FROM outbox
                 WHERE done_at IS NULL AND relayed_at IS NOT NULL
                   AND ($1::interval IS NULL OR relayed_at < now() - $1::interval)
                 FOR UPDATE SKIP LOCKED)"""

# A failure kept in memory while the database was down: the try counts, and the row
# is due at once (the outage, not the job, was at fault).
RECORD_UNRECORDED = """
    UPDATE outbox SET run_count = run_count + 1, last_error = $2, relayed_at = NULL,
                      available_at = now()
    WHERE id = $1 AND done_at IS NULL"""

RECORD_FAILURE = """
    UPDATE outbox SET run_count = run_count + 1, last_error = $2, relayed_at = NULL,
                      available_at = now() + least($3::interval * power(2, run_count),
                                                   $4::interval)
    WHERE id = $1 AND done_at IS NULL
    RETURNING run_count"""


# ---------------------------------------------- notifications (core.notify, core.notifications)
DELIVER_NOTIFICATION = """
    INSERT INTO notifications (outbox_id, user_id, subject, subject_en, body, ref)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (outbox_id) DO NOTHING"""

NOTIFICATION_COLUMNS = "id, subject, subject_en, body, ref, created_at, read_at"

NOTIFICATIONS = f"""
    SELECT {NOTIFICATION_COLUMNS} FROM notifications
    WHERE user_id = $1 AND (NOT $2::boolean OR read_at IS NULL)
    ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4
"""

NOTIFICATION_COUNTS = """
    SELECT count(*) FILTER (WHERE NOT $2::boolean OR read_at IS NULL) AS total,
           count(*) FILTER (WHERE read_at IS NULL) AS unread
    FROM notifications WHERE user_id = $1
"""

MARK_READ = f"""
    UPDATE notifications SET read_at = coalesce(read_at, now())
    WHERE id = $1 AND user_id = $2 RETURNING {NOTIFICATION_COLUMNS}
"""

MARK_ALL_READ = "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL"


# ---------------------------------------------- calendar (core.clock, core.calendar_admin)
CALENDAR_BETWEEN = "SELECT day, kind FROM calendar_days WHERE day BETWEEN $1 AND $2"

YEAR_DAYS = "SELECT day, kind, name FROM calendar_days WHERE day BETWEEN $1 AND $2 ORDER BY day"

GET_DAY = "SELECT day, kind, name FROM calendar_days WHERE day = $1 FOR UPDATE"

UPSERT_DAY = """
    INSERT INTO calendar_days (day, kind, name) VALUES ($1, $2, $3)
    ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, name = excluded.name, updated_at = now()
    RETURNING day, kind, name
"""

DELETE_DAY = "DELETE FROM calendar_days WHERE day = $1 RETURNING day, kind, name"


# ---------------------------------------------- audit chain (core.audit), operations, CLI
NOW = "SELECT now()"

AUDIT_LOCK = "SELECT pg_advisory_xact_lock($1)"

# The address as PostgreSQL prints it back (verify reads host()), so both sides agree.
AUDIT_HEAD = """
    SELECT (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS prev,
           nextval('audit_log_id_seq') AS id, clock_timestamp() AS at,
           host($1::inet) AS client_ip,
           current_setting('transaction_isolation') AS isolation"""

AUDIT_INSERT = """
    INSERT INTO audit_log (id, at, actor_id, actor_role, action, object_type, object_id,
                           client_ip, request_id, payload_digest, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet, $9, $10, $11, $12)"""

AUDIT_ROWS = """
    SELECT id, at, actor_id, actor_role, action, object_type, object_id,
           host(client_ip) AS client_ip, request_id, payload_digest, prev_hash, hash
    FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"""

PING = "SELECT 1"

ORGANIZATION_BY_CREDIT_CODE = "SELECT id FROM organizations WHERE credit_code = $1"
