"""SQL for organizations, people and roles."""

INSERT_ORGANIZATION = """
    INSERT INTO organizations (credit_code, name, kind, region)
    VALUES ($1, $2, $3, $4) RETURNING id, credit_code, name, kind, region, created_at
"""

GET_ORGANIZATION = """
    SELECT id, credit_code, name, kind, region, created_at FROM organizations WHERE id = $1
"""

FIND_ORGANIZATION_BY_CODE = "SELECT id FROM organizations WHERE credit_code = $1"

INSERT_USER = """
    INSERT INTO users (login, name, organization_id, city, email, phone, password_hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
"""

INSERT_ROLE = "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)"

GET_USER = """
    SELECT u.id, u.login, u.name, u.organization_id, u.city, u.email, u.phone, u.is_active,
           u.created_at,
           coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}')
               AS roles
    FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
    WHERE u.id = $1 GROUP BY u.id
"""

FIND_LOGIN = "SELECT id, password_hash, is_active FROM users WHERE login = $1"

LIST_MEMBERS = """
    SELECT u.id, u.login, u.name, u.city,
           coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}')
               AS roles
    FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
    WHERE u.organization_id = $1 GROUP BY u.id ORDER BY u.login
"""
