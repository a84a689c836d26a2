"""SQL for the public portal's sections beside the tender list: amendments and clarifications
(published notices after the tender notice) and opening records (lots whose opening ended).

The same filters as the tender list apply to the tender each row belongs to; the date range
applies to the row's own moment (the notice's publication, the opening's start). Each
combination of filters gets its own statement, as ``tenders.list_public`` does, for the
same reason: one plan per shape.
"""

import functools
from typing import Any

SECTION_FILTERS = ("keyword", "region", "procedure", "since", "until")

_TENDER_CONDITIONS = {
    "keyword": "(t.title ILIKE '%' || {p}::text || '%' OR t.code ILIKE '%' || {p}::text || '%')",
    "region": "t.region = {p}::text",
    "procedure": "t.procedure = {p}::text",
}

_CHANGES = """
    SELECT n.id, n.number, n.title, n.published_at, n.old_bid_deadline, n.new_bid_deadline,
           t.id AS tender_id, t.code, t.title AS tender_title, t.region, t.status,
           o.name AS owner_name, count(*) OVER () AS total
    FROM notices n JOIN tenders t ON t.id = n.tender_id
    JOIN organizations o ON o.id = t.owner_org_id
    WHERE {where}
    ORDER BY n.published_at DESC, n.id DESC LIMIT {limit} OFFSET {offset}
"""

# 'read' and 'closed' lots were opened and read out; 'failed' ones had too few bids (流标)
_OPENINGS = """
    SELECT l.id AS lot_id, l.number, l.title AS lot_title, x.status, x.started_at, x.read_at,
           x.bids_at_deadline, x.required_bids, t.id AS tender_id, t.code, t.title, t.region,
           o.name AS owner_name,
           (SELECT max(r.version) FROM opening_records r WHERE r.lot_id = l.id) AS record_version,
           count(*) OVER () AS total
    FROM lot_openings x JOIN lots l ON l.id = x.lot_id JOIN tenders t ON t.id = x.tender_id
    JOIN organizations o ON o.id = t.owner_org_id
    WHERE {where}
    ORDER BY x.started_at DESC, l.number LIMIT {limit} OFFSET {offset}
"""

_BASE = {
    "changes": ("n.status = 'published' AND n.kind <> 'tender'", "n.published_at", _CHANGES),
    "openings": ("x.status IN ('read', 'closed', 'failed')", "x.started_at", _OPENINGS),
}


@functools.cache
def _statement(section: str, present: tuple[str, ...]) -> str:
    base, moment, template = _BASE[section]
    places = {name: f"${n}" for n, name in enumerate(present, start=1)}
    conditions = [base]
    for name in present:
        if name == "since":
            conditions.append(f"{moment} >= {places[name]}::timestamptz")
        elif name == "until":
            conditions.append(f"{moment} < {places[name]}::timestamptz")
        else:
            conditions.append(_TENDER_CONDITIONS[name].format(p=places[name]))
    return template.format(where=" AND ".join(conditions), limit=f"${len(present) + 1}",
                           offset=f"${len(present) + 2}")


def section(name: str, filters: dict[str, Any], limit: int,
            offset: int) -> tuple[str, list[Any]]:
    """The statement of one section (``changes`` or ``openings``) for the filters given (a
    value of None is no filter) and its arguments; each row carries the section's total."""
    present = tuple(f for f in SECTION_FILTERS if filters.get(f) is not None)
    return _statement(name, present), [*(filters[f] for f in present), limit, offset]
