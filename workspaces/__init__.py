"""The role workspaces: one page per role, and the hub at /workspace that shows a section
for each role a person holds.

It sits above the domains (beside the demo, below the application's wiring) because a
supervisor's page reads tenders, openings and the audit log, and an administrator's page the
identity tables and the trust store: pages of one domain live in that domain, a page that
gathers several lives here. It changes nothing itself: its forms post to the domains' JSON
API, or to the one small form route of its own (an administrator revoking anyone's API key).
"""
