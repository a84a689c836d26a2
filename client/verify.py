"""``tenderhall verify``: check any signed artifact offline, with the roots you trust.

Recognized by content: PDF (PAdES signatures), CMS SignedData (detached with
``--content``, or encapsulated), RFC 3161 timestamp tokens and replies
(``--content`` is the stamped file). Prints signer, organization, time,
chain and the verdict per file; exits 1 if any file fails.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click
from asn1crypto import cms as asn1_cms
from asn1crypto import core, tsp
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp

from core.errors import DomainError
from signing import cms, identity, pathval, tsa


@dataclass
class Report:
    path: str
    kind: str
    ok: bool
    lines: list[str] = field(default_factory=list)


def _kind(data: bytes) -> str:
    if data.lstrip()[:5] == b"%PDF-":
        return "pdf"
    try:
        info = asn1_cms.ContentInfo.load(cms.pem_to_der(data))
        if info["content_type"].native == "signed_data":
            inner = info["content"]["encap_content_info"]["content_type"].native
            return "timestamp" if inner == "tst_info" else "cms"
    except (ValueError, TypeError, KeyError):
        pass
    try:
        seq = core.Sequence.load(data)
        tsp.PKIStatusInfo.load(seq[0].dump())
        return "timestamp-reply"
    except (ValueError, TypeError, KeyError, IndexError):
        return "unknown"


def _describe(cert_line: str, signer: object) -> list[str]:

    assert isinstance(signer, x509.Certificate)
    code = identity.credit_code(signer)
    return [f"  {cert_line}: {identity.common_name(signer)}",
            f"  organization: {identity.organization_name(signer) or '-'}"
            f" ({code or 'no credit code'})",
            f"  certificate serial: {signer.serial_number:x}"]


async def verify_one(name: str, data: bytes, *, trust: pathval.TrustStore, content: bytes | None,
                     at: datetime | None) -> Report:
    kind = _kind(data)
    report = Report(name, kind, ok=False)
    try:
        if kind == "cms":
            v = await cms.verify(data, trust=trust, content=content, moment=at)
            report.lines += _describe("signer", v.signer)
            report.lines.append(f"  signing time (signer's claim): {v.signing_time}")
            report.lines.append(f"  checked at: {v.checked_at.isoformat()}")
            report.lines.append("  chain: " + " <- ".join(identity.common_name(c) for c in v.chain))
        elif kind in ("timestamp", "timestamp-reply"):
            token = tsa.token_from_response(data) if kind == "timestamp-reply" else data
            t = await tsa.verify_token(token, trust=trust, content=content)
            report.lines += _describe("authority", t.authority)
            report.lines.append(f"  time: {t.gen_time.isoformat()}  serial: {t.serial:x}")
            if content is None:
                report.lines.append("  (no --content: the imprint was not compared)")
        elif kind == "pdf":
            report.lines += await _verify_pdf(data, trust)
        else:
            report.lines.append("  not a signed artifact Tenderhall knows (PDF, CMS, RFC 3161)")
            return report
    except DomainError as exc:
        report.lines.append(f"  FAILED [{exc.code}] {exc.message_en} / {exc.message}")
        return report
    report.ok = True
    return report


async def _verify_pdf(data: bytes, trust: pathval.TrustStore) -> list[str]:

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    if not reader.embedded_signatures:
        raise cms.MalformedSignature({"reason": "no signature in the PDF"},
                                     message="PDF 中没有签名", message_en="The PDF has no signature")
    lines = []
    for sig in reader.embedded_signatures:
        if sig.sig_object_type == "/DocTimeStamp":  # B-LTA's seal over the validation data
            ts_status = await async_validate_pdf_timestamp(
                sig, validation_context=trust.context(None, mode="soft-fail"))
            lines.append(f"  document timestamp: {ts_status.timestamp.isoformat()} "
                         f"intact: {ts_status.intact} valid: {ts_status.valid} "
                         f"trusted: {ts_status.trusted}")
            if not (ts_status.intact and ts_status.valid and ts_status.trusted):
                raise cms.SignatureError({"field": sig.field_name})
            continue
        status = await async_validate_pdf_signature(
            sig, signer_validation_context=trust.context(None))
        signer = x509.load_der_x509_certificate(status.signing_cert.dump())
        lines += _describe(f"signature {sig.field_name}", signer)
        lines.append(f"  intact: {status.intact}  valid: {status.valid}  trusted: "
                     f"{status.trusted}  coverage: {status.coverage.name if status.coverage else '-'}")
        if status.timestamp_validity is not None:
            lines.append(f"  timestamp: {status.timestamp_validity.timestamp.isoformat()}")
        if not (status.intact and status.valid and status.trusted):
            raise cms.SignatureError({"field": sig.field_name, "summary": status.summary()})
    return lines


@click.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--trust", "roots", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path),
              help="PEM file(s) of CA certificates you trust (roots, intermediates).")
@click.option("--crl", "crls", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="DER or PEM CRL file(s).")
@click.option("--content", type=click.Path(exists=True, path_type=Path),
              help="The signed or stamped file, for detached signatures and timestamps.")
@click.option("--soft-fail", is_flag=True, help="Accept when revocation data is missing.")
@click.option("--at", type=click.DateTime(), help="Check validity at this moment (UTC).")
def verify_command(files: tuple[Path, ...], roots: tuple[Path, ...], crls: tuple[Path, ...],
                   content: Path | None, soft_fail: bool, at: datetime | None) -> None:
    """Verify signed artifacts offline: PDFs, CMS signatures, timestamps."""
    trust = pathval.TrustStore.from_pem_files(roots, crls,
                                          revocation_mode="soft-fail" if soft_fail else "hard-fail")
    body = content.read_bytes() if content else None
    moment = at.replace(tzinfo=UTC) if at else None

    async def run() -> list[Report]:
        return [await verify_one(str(f), f.read_bytes(), trust=trust, content=body, at=moment)
                for f in files]

    failed = 0
    for report in asyncio.run(run()):
        verdict = "OK" if report.ok else "FAILED"
        click.echo(f"{report.path}: {report.kind}: {verdict}")
        for line in report.lines:
            click.echo(line)
        failed += not report.ok
    if failed:
        raise SystemExit(1)
