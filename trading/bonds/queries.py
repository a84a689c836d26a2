"""SQL for guarantee issuers, their products and their messages."""

_ISSUER = """i.organization_id, o.name, o.credit_code, i.kind, i.status, i.gateway_url,
    i.status_reason, i.status_changed_at, i.created_at"""

INSERT_ISSUER = f"""
    WITH ins AS (
        INSERT INTO issuers (organization_id, kind, gateway_url) VALUES ($1, $2, $3)
        RETURNING *)
    SELECT {_ISSUER} FROM ins i JOIN organizations o ON o.id = i.organization_id
"""

ORGANIZATION = "SELECT id, name, kind, credit_code FROM organizations WHERE id = $1"

GET_ISSUER = f"""
    SELECT {_ISSUER} FROM issuers i JOIN organizations o ON o.id = i.organization_id
    WHERE i.organization_id = $1
"""

# every issuer ($1 false) or the enabled ones a bidder may choose ($1 true), by name
ISSUERS = f"""
    SELECT {_ISSUER} FROM issuers i JOIN organizations o ON o.id = i.organization_id
    WHERE NOT $1 OR i.status = 'enabled' ORDER BY o.name
"""

SET_STATUS = f"""
    WITH upd AS (
        UPDATE issuers SET status = $2, status_reason = $3, status_changed_at = now()
        WHERE organization_id = $1 RETURNING *)
    SELECT {_ISSUER} FROM upd i JOIN organizations o ON o.id = i.organization_id
"""

INSERT_PRODUCT = """
    INSERT INTO issuer_products (issuer_id, form, name, premium_rate, minimum_premium,
                                 maximum_amount)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING *
"""

# the products of these issuers; ($2) active ones only
PRODUCTS = """
    SELECT * FROM issuer_products WHERE issuer_id = ANY($1::uuid[]) AND (NOT $2 OR active)
    ORDER BY issuer_id, form, name
"""

# a signing certificate bound to an active person of the organization
SIGNER_BOUND = """
    SELECT EXISTS (
        SELECT 1 FROM user_certificates c JOIN users u ON u.id = c.user_id
        WHERE u.organization_id = $1 AND u.is_active AND c.purpose = 'signing'
          AND c.cert_sha256 = $2)
"""

INSERT_MESSAGE = """
    INSERT INTO issuer_messages (direction, issuer_id, message_id, type, in_reply_to, sent_at,
                                 canonical, signature, signer)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT ON CONSTRAINT issuer_messages_once DO NOTHING
    RETURNING id
"""

GET_MESSAGE = """
    SELECT * FROM issuer_messages WHERE direction = $1 AND issuer_id = $2 AND message_id = $3
"""

SET_ANSWER = """
    UPDATE issuer_messages SET answer_canonical = $2, answer_signature = $3 WHERE id = $1
"""
