"""SQL for the opening officers named at publication and the key shares sealed to them."""

OFFICERS = """
    SELECT o.user_id, o.position, u.login, u.name, u.organization_id,
           (SELECT c.cert_der FROM user_certificates c
            WHERE c.user_id = o.user_id AND c.purpose = 'encryption' AND c.not_after > now()
            ORDER BY c.not_after DESC LIMIT 1) AS encryption_cert
    FROM tender_officers o JOIN users u ON u.id = o.user_id
    WHERE o.tender_id = $1 ORDER BY o.position
"""

# of the given users, those who are active staff of the given organizations
ELIGIBLE_OFFICERS = """
    SELECT id FROM users WHERE id = ANY($1) AND is_active AND organization_id = ANY($2)
"""

DELETE_OFFICERS = "DELETE FROM tender_officers WHERE tender_id = $1"

INSERT_OFFICER = "INSERT INTO tender_officers (tender_id, user_id, position) VALUES ($1, $2, $3)"

SET_OPENING_CERT = "UPDATE lots SET opening_cert_der = $2 WHERE id = $1"

INSERT_SHARE = """
    INSERT INTO lot_opening_shares (lot_id, share_index, officer_id, officer_cert_sha256, envelope)
    VALUES ($1, $2, $3, $4, $5)
"""

OPENING_CERT = "SELECT opening_cert_der, number FROM lots WHERE tender_id = $1 AND id = $2"

# Who may be named an opening officer: active staff of the given organizations, and whether
# each has a valid encryption certificate bound (publication needs one per officer).
OFFICER_CANDIDATES = """
    SELECT u.id, u.login, u.name, o.name AS organization,
           EXISTS (SELECT 1 FROM user_certificates c WHERE c.user_id = u.id
                   AND c.purpose = 'encryption' AND c.not_after > now()) AS has_encryption_cert
    FROM users u JOIN organizations o ON o.id = u.organization_id
    WHERE u.is_active AND u.organization_id = ANY($1)
      AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id
                  AND r.role IN ('tenderer', 'agency'))
    ORDER BY o.name, u.name, u.login
"""
