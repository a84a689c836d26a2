"""SQL of the signing package: the trust store (CAs, their CRLs) and its administration."""

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
