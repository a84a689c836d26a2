"""SQL of trading/tenders, a module per subdomain, each imported by name where it is used
(``from trading.tenders.queries import objections as objection_sql``)."""
