"""SQL of the signing package: the trust store (CAs, their CRLs), its administration,
certificate login and binding."""

from __future__ import annotations

CA_EXISTS = "SELECT 1 FROM trust_cas WHERE cert_sha256 = $1"

INSERT_CA = """
    INSERT INTO trust_cas (name, cert_der, cert_sha256, subject, is_root,
                           revocation_mode, crl_url, ocsp_url)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    RETURNING id, name, subject, is_root, revocation_mode, crl_url, ocsp_url, created_at,
              enabled"""

LIST_CAS = """
    SELECT id, name, subject, is_root, revocation_mode, crl_url, ocsp_url, crl_fetched_at,
           crl_next_update, crl_error, enabled
    FROM trust_cas ORDER BY created_at"""

GET_CA = """
    SELECT id, name, subject, is_root, revocation_mode, crl_url, ocsp_url, crl_fetched_at,
           crl_next_update, crl_error, enabled
    FROM trust_cas WHERE id = $1"""

# What validation trusts: enabled CAs only, so a disabled or removed CA stops
# counting with the next request.
TRUSTED_CAS = """
    SELECT id, cert_der, is_root, crl_url, crl_der, crl_next_update, revocation_mode, ocsp_url
    FROM trust_cas WHERE enabled"""

CRL_SOURCES = """
    SELECT id, cert_der, crl_url FROM trust_cas
    WHERE enabled AND crl_url IS NOT NULL AND ($1::uuid IS NULL OR id = $1)"""

CRL_FAILED = "UPDATE trust_cas SET crl_error = $2 WHERE id = $1"

CRL_STORED = """
    UPDATE trust_cas SET crl_der = $2, crl_fetched_at = now(), crl_next_update = $3,
                         crl_error = NULL
    WHERE id = $1"""

SET_ENABLED = "UPDATE trust_cas SET enabled = $2 WHERE id = $1 RETURNING name"

DELETE_CA = "DELETE FROM trust_cas WHERE id = $1 RETURNING name, cert_sha256"

# The CRL job runs outside run_once (running it twice is harmless) and marks its row itself.
OUTBOX_DONE = """
    UPDATE outbox SET done_at = now(), run_count = run_count + 1
    WHERE id = $1 AND done_at IS NULL"""


# ------------------------------------------------------------ certificate login and binding
NEW_CHALLENGE = """
    INSERT INTO login_challenges (nonce_digest, expires_at) VALUES ($1, now() + $2::interval)"""

FORGET_OLD_CHALLENGES = "DELETE FROM login_challenges WHERE expires_at < now() - interval '1 day'"

USE_CHALLENGE = """
    UPDATE login_challenges SET used_at = now()
    WHERE nonce_digest = $1 AND used_at IS NULL AND expires_at > now() RETURNING 1"""

LOGIN_CERTIFICATE_USER = """
    SELECT c.user_id, o.credit_code FROM user_certificates c
    JOIN users u ON u.id = c.user_id AND u.is_active
    LEFT JOIN organizations o ON o.id = u.organization_id
    WHERE c.cert_sha256 = $1 AND c.purpose = 'login'"""

USER_ORGANIZATION = """
    SELECT u.id, u.name, u.organization_id, o.credit_code FROM users u
    LEFT JOIN organizations o ON o.id = u.organization_id WHERE u.id = $1"""

BIND_CERTIFICATE = """
    INSERT INTO user_certificates (user_id, cert_der, cert_sha256, purpose, subject,
                                   credit_code, not_after)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id, purpose, subject, credit_code, not_after"""
