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

# ---------------------------------------------------------------- guarantees
# the lot a bidder secures, its tender's terms and the beneficiary (the tenderer)
LOT_TERMS = """
    SELECT t.id AS tender_id, t.code, t.title AS tender_title, t.status, t.bid_deadline,
           t.bid_validity_days, t.security_forms, t.paused_since, l.id AS lot_id, l.number,
           l.title AS lot_title, l.security_amount, o.name AS beneficiary,
           o.credit_code AS beneficiary_code
    FROM tenders t JOIN lots l ON l.tender_id = t.id JOIN organizations o ON o.id = t.owner_org_id
    WHERE t.id = $1 AND l.number = $2
"""

PRODUCT = """
    SELECT p.*, i.status AS issuer_status, o.name AS issuer_name, o.credit_code AS issuer_code,
           i.gateway_url
    FROM issuer_products p JOIN issuers i ON i.organization_id = p.issuer_id
    JOIN organizations o ON o.id = i.organization_id
    WHERE p.id = $1
"""

INSERT_GUARANTEE = """
    INSERT INTO guarantees (id, tender_id, lot_id, bidder_org_id, applied_by, issuer_id,
                            product_id, form, bidder_code, beneficiary_code, amount, premium,
                            valid_until, application_message)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    RETURNING *
"""

# a bidder organization's guarantees, newest first, with the issuer's name and the lot
GUARANTEES_OF = """
    SELECT g.*, o.name AS issuer_name, t.code AS tender_code, l.number AS lot_number
    FROM guarantees g JOIN organizations o ON o.id = g.issuer_id
    JOIN tenders t ON t.id = g.tender_id JOIN lots l ON l.id = g.lot_id
    WHERE g.bidder_org_id = $1 ORDER BY g.created_at DESC
"""

# an outbound message and where it goes
OUT_MESSAGE = """
    SELECT m.*, i.gateway_url, o.credit_code AS issuer_code
    FROM issuer_messages m JOIN issuers i ON i.organization_id = m.issuer_id
    JOIN organizations o ON o.id = m.issuer_id
    WHERE m.direction = 'out' AND m.message_id = $1
"""

# a guarantee as its issuer's message moves it, locked; with the terms it must meet
GUARANTEE_FOR_ISSUER = """
    SELECT g.*, t.code AS tender_code, t.bid_deadline, t.bid_validity_days,
           l.number AS lot_number, l.security_amount
    FROM guarantees g JOIN tenders t ON t.id = g.tender_id JOIN lots l ON l.id = g.lot_id
    WHERE g.id = $1 AND g.issuer_id = $2
    FOR UPDATE OF g
"""

REVIEWED = """
    UPDATE guarantees SET status = $2, status_reason = $3, premium = coalesce($4, premium),
           reviewed_at = now(), updated_at = now()
    WHERE id = $1 RETURNING *
"""

PAID = """
    UPDATE guarantees SET status = 'paid', paid_at = now(), updated_at = now()
    WHERE id = $1 RETURNING *
"""

ISSUED = """
    UPDATE guarantees SET status = 'issued', issued_at = now(), number = $2,
           verification_code = $3, issued_message = $4, pdf = $5, problems = $6,
           updated_at = now()
    WHERE id = $1 RETURNING *
"""

# 保函验真: by number and verification code
BY_NUMBER = """
    SELECT g.*, o.name AS issuer_name, t.code AS tender_code, t.bid_deadline,
           l.number AS lot_number, b.name AS bidder_name
    FROM guarantees g JOIN organizations o ON o.id = g.issuer_id
    JOIN tenders t ON t.id = g.tender_id JOIN lots l ON l.id = g.lot_id
    JOIN organizations b ON b.id = g.bidder_org_id
    WHERE g.number = $1 AND g.verification_code = $2
"""

# G5: openings moved that the issuers have not been told of yet, oldest first
PENDING_EVENTS = """
    SELECT id, tender_id, kind, payload FROM guarantee_events
    WHERE delivered_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""

EVENT_DELIVERED = "UPDATE guarantee_events SET delivered_at = now() WHERE id = $1"

# the guarantees of a tender still in play, with their issuers
LIVE_GUARANTEES = """
    SELECT g.id, g.number, g.issuer_id, o.credit_code AS issuer_code, t.bid_validity_days
    FROM guarantees g JOIN organizations o ON o.id = g.issuer_id
    JOIN tenders t ON t.id = g.tender_id
    WHERE g.tender_id = $1 AND g.status IN ('applied', 'accepted', 'paid', 'issued')
    ORDER BY g.created_at
"""
