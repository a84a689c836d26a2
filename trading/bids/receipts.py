"""Receipts (S3): what the platform signs and timestamps for every accepted bid or withdrawal.

A receipt is canonical JSON encapsulated in a CMS SignedData signed with the
platform's certificate (``receipt.p7s``), plus an RFC 3161 timestamp token
over the SHA-256 of that whole file (``receipt.tst``). Both check with
standard tools and nothing of ours:

    openssl cms -verify -binary -inform DER -in receipt.p7s -CAfile roots.pem -out receipt.json
    openssl ts -verify -data receipt.p7s -in receipt.tst -token_in -CAfile roots.pem \\
        -untrusted tsa-chain.pem

The token binds the signed receipt (not only its text) to a time from the
timestamp authority; the ``received_at`` inside is the database clock that
decided the bid was in time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.settings import Settings
from signing import cms, seal, tsa
from signing.canonical import canonical
from trading.bids.errors import ReceiptUnavailable

FORMAT = 1


@dataclass(frozen=True)
class Receipt:
    content: bytes  # the canonical JSON
    p7s: bytes  # CMS SignedData, the JSON encapsulated
    tst: bytes  # RFC 3161 token over SHA-256(p7s)


def _about(kind: str, bid: dict[str, Any]) -> dict[str, Any]:
    """Which bid of whom, for which lot: what every receipt and statement names."""
    return {
        "format": FORMAT, "type": kind,
        "bid": bid["id"],
        "tender": {"id": bid["tender_id"], "code": bid["tender_code"]},
        "lot": {"id": bid["lot_id"], "number": bid["lot_number"]},
        "bidder": {"organization_id": bid["organization_id"], "name": bid["bidder_name"],
                   "credit_code": bid["bidder_credit_code"]},
    }


def bid_receipt(bid: dict[str, Any]) -> dict[str, Any]:
    """The fields a bid receipt vouches for."""
    return {
        **_about("bid_receipt", bid),
        "bid_p7m": {"sha256": bid["p7m_sha256"], "size": bid["size"]},
        "bid_p7m_p7s": {"sha256": bid["p7s_sha256"], "signer": bid["signer_subject"]},
        "recipients": [{"issuer": r["issuer"], "serial": r["serial"]} for r in bid["recipients"]],
        "received_at": bid["received_at"],
        "bid_deadline": bid["bid_deadline"],
        "replaces": bid["replaces"],
    }


def withdrawal_receipt(bid: dict[str, Any], *, withdrawn_at: datetime,
                       statement_sha256: bytes) -> dict[str, Any]:
    return {
        **_about("bid_withdrawal_receipt", bid),
        "bid_p7m": {"sha256": bid["p7m_sha256"]},
        "withdrawal_statement_sha256": statement_sha256,
        "withdrawn_at": withdrawn_at,
    }


def withdrawal_statement(bid: dict[str, Any]) -> bytes:
    """What the bidder signs to withdraw (撤回投标文件的书面通知, 条例 35)."""
    return canonical({
        "format": FORMAT, "type": "bid_withdrawal",
        "bid": bid["id"],
        "tender": {"id": bid["tender_id"], "code": bid["tender_code"]},
        "lot": {"id": bid["lot_id"], "number": bid["lot_number"]},
        "bidder": {"name": bid["bidder_name"], "credit_code": bid["bidder_credit_code"]},
        "bid_p7m_sha256": bid["p7m_sha256"],
        "statement": "本单位撤回上述投标文件。 We withdraw the bid above.",
    })


async def issue(settings: Settings, authority: tsa.TimestampAuthority | None,
          fields: dict[str, Any]) -> Receipt:
    """Sign and timestamp ``fields``; ReceiptUnavailable when the platform cannot."""
    if authority is None:
        raise ReceiptUnavailable({"missing": "TSA_CERT_FILE/TSA_KEY_FILE"})
    try:
        certs, key = seal.load_seal(settings)
    except seal.NoPlatformSeal:
        raise ReceiptUnavailable({"missing": "PLATFORM_CERT_FILE/PLATFORM_KEY_FILE"}) from None
    content = canonical(fields)
    p7s = cms.sign(content, cert=certs[0], key=key, chain=certs[1:], detached=False)
    token = await tsa.stamp(authority, hashlib.sha256(p7s).digest())
    return Receipt(content, p7s, token)
