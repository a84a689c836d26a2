"""How pages and official PDFs write times, amounts and certificate names.

One module for both, so the sealed PDF of a notice and the page that shows
the same notice cannot drift apart: a value read the same way is written the
same way. Times are Beijing time (Asia/Shanghai) to the minute, ``YYYY-MM-DD
HH:mm``, the way trading centres publish them; amounts are yuan with thousands
separators and two decimals. ``install`` adds them as Jinja filters to an
environment (the page engine's in ``app.py``, the PDF one in ``core/pdf.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import jinja2
from cryptography import x509
from cryptography.x509.oid import NameOID

from core import uscc
from core.clock import SHANGHAI

MINUTE = "%Y-%m-%d %H:%M"
_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
EMPTY = "—"


def when(moment: datetime | None, fmt: str = MINUTE) -> str:
    """A moment in Beijing time; an empty one as a dash."""
    return moment.astimezone(SHANGHAI).strftime(fmt) if moment is not None else EMPTY


def yuan(amount: Decimal | int | str | None) -> str:
    """An amount in yuan, ``23,500,000.00``; an unset one as a dash."""
    if amount is None or amount == "":
        return EMPTY
    return f"{Decimal(amount):,.2f}"


@dataclass(frozen=True)
class Subject:
    """A certificate subject as people read it: who (person), for whom (organization), and
    the organization's credit code; ``raw`` is the RFC 4514 name it came from."""

    person: str | None
    organization: str | None
    credit_code: str | None
    raw: str

    def __str__(self) -> str:
        parts = [p for p in (self.organization, self.person) if p]
        text = " · ".join(parts) if parts else self.raw
        return f"{text}（{self.credit_code}）" if self.credit_code else text


def subject(name: str | None) -> Subject | None:
    """Parse an RFC 4514 subject (as ``rfc4514_string`` writes it) into what people read.

    The credit code is the first valid GB 32100 code in organizationIdentifier,
    serialNumber or OU, the order ``signing.identity`` reads a certificate in. A name
    that does not parse is kept whole as the person, so nothing is hidden.
    """
    if not name:
        return None
    try:
        parsed = x509.Name.from_rfc4514_string(name)
    except ValueError:
        return Subject(name, None, None, name)

    def first(oid: x509.ObjectIdentifier) -> str | None:
        for attr in parsed.get_attributes_for_oid(oid):
            value = attr.value
            return value if isinstance(value, str) else value.decode()
        return None

    code = None
    for oid in (NameOID.ORGANIZATION_IDENTIFIER, NameOID.SERIAL_NUMBER,
                NameOID.ORGANIZATIONAL_UNIT_NAME):
        for attr in parsed.get_attributes_for_oid(oid):
            value = attr.value if isinstance(attr.value, str) else attr.value.decode()
            found = next((c for c in _CODE.findall(value.upper()) if uscc.is_valid(c)),
                         None)
            if found and code is None:
                code = found
    return Subject(first(NameOID.COMMON_NAME), first(NameOID.ORGANIZATION_NAME), code, name)


def install(env: jinja2.Environment) -> None:
    filters: dict[str, Any] = {"when": when, "yuan": yuan, "subject": subject}
    env.filters.update(filters)
