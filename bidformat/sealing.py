"""The bidder's side of the bid format (docs/bid-format.md): pack, sign, envelope, and back.

    folder (documents + price.json) --zip--> bid.zip
    bid.zip --CMS SignedData, encapsulated, bidder's signing key--> (signed)
    (signed) --CMS AuthEnvelopedData, AES-256-GCM, for the bidder's own
               encryption certificate and the lot's opening certificate--> bid.p7m
    bid.p7m --CMS SignedData, detached, bidder's signing key--> bid.p7m.p7s

Every step streams through temporary files, so a bid of gigabytes seals in
the memory of one chunk. The same files come out of plain ``openssl cms``
commands (the documentation shows them); the platform cannot tell, and need
not.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography import x509

from bidformat import price
from signing import cms, envelope, stream
from signing.identity import credit_code
from signing.keys import PrivateKey
from signing.signed_stream import extract_attached_stream, sign_attached_stream

PRICE_FILE = "price.json"
# already compressed: stored as they are, so sealing a large bid costs no deflate time
STORED = frozenset({".pdf", ".zip", ".rar", ".7z", ".gz", ".jpg", ".jpeg", ".png", ".mp4",
                    ".docx", ".xlsx", ".pptx", ".ofd", ".p7m", ".bin"})
CHUNK = 1024 * 1024


class SealError(ValueError):
    """The folder cannot be sealed as a bid (said in both languages)."""


@dataclass(frozen=True)
class Sealed:
    p7m: Path
    p7s: Path
    size: int
    files: list[str]
    sheet: price.PriceSheet


def _files(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not any(p.relative_to(folder).as_posix() == PRICE_FILE for p in found):
        raise SealError(f"{PRICE_FILE} 缺失 / the folder has no {PRICE_FILE} at its top level")
    return found


def pack(folder: Path, out: BinaryIO, *, creator: dict[str, Any],
         expect: dict[str, Any] | None = None) -> tuple[list[str], price.PriceSheet]:
    """ZIP the folder; ``price.json`` is checked first, the creator goes in the ZIP comment."""
    files = _files(folder)
    sheet = price.parse((folder / PRICE_FILE).read_bytes())
    for field, value in (expect or {}).items():
        got = sheet.bidder.credit_code if field == "credit_code" else getattr(sheet, field)
        if got != value:
            raise SealError(f"price.json 中 {field} 为 {got!r}，应为 {value!r} / "
                            f"price.json says {field}={got!r}, expected {value!r}")
    names = []
    with zipfile.ZipFile(out, "w", allowZip64=True) as z:
        for path in files:
            name = path.relative_to(folder).as_posix()
            method = zipfile.ZIP_STORED if path.suffix.lower() in STORED else zipfile.ZIP_DEFLATED
            z.write(path, name, compress_type=method)
            names.append(name)
        z.comment = json.dumps(creator, ensure_ascii=False, sort_keys=True).encode()[:65000]
    return names, sheet


def seal_file(source: BinaryIO, out: BinaryIO, *, cert: x509.Certificate, key: PrivateKey,
              chain: Sequence[x509.Certificate], recipients: Sequence[x509.Certificate]) -> None:
    """Sign ``source`` (encapsulated) and envelope the result for ``recipients``."""
    with tempfile.TemporaryFile() as signed:
        sign_attached_stream(source, signed, cert=cert, key=key, chain=list(chain))
        signed.seek(0)
        stream.seal_stream(signed, out, [envelope.Recipient(c) for c in recipients])


def seal_folder(folder: Path, out_dir: Path, *, cert: x509.Certificate, key: PrivateKey,
                chain: Sequence[x509.Certificate], encryption_cert: x509.Certificate,
                opening_cert: x509.Certificate, creator: dict[str, Any],
                expect: dict[str, Any] | None = None) -> Sealed:
    """``bid.p7m`` and ``bid.p7m.p7s`` in ``out_dir`` from the bid folder."""
    code = credit_code(cert)
    if expect is not None and code is not None:
        expect = {**expect, "credit_code": code}
    out_dir.mkdir(parents=True, exist_ok=True)
    p7m, p7s = out_dir / "bid.p7m", out_dir / "bid.p7m.p7s"
    with tempfile.TemporaryFile() as zipped:
        names, sheet = pack(folder, zipped, creator=creator, expect=expect)
        zipped.seek(0)
        partial = p7m.with_suffix(".p7m.part")
        with partial.open("wb") as out:
            seal_file(zipped, out, cert=cert, key=key, chain=chain,
                      recipients=[encryption_cert, opening_cert])
        os.replace(partial, p7m)
    with p7m.open("rb") as f:
        p7s.write_bytes(cms.sign(f, cert=cert, key=key, chain=list(chain)))
    return Sealed(p7m, p7s, p7m.stat().st_size, names, sheet)


@dataclass(frozen=True)
class Opened:
    verified: cms.Verified
    files: list[str]
    sheet: price.PriceSheet
    creator: dict[str, Any] | None


async def open_bid(p7m: BinaryIO, out_dir: Path, *, trust: cms.TrustStore,
                   cek: bytes | None = None, cert: x509.Certificate | None = None,
                   key: PrivateKey | None = None) -> Opened:
    """Decrypt (with a content key or a recipient's key), verify the inner signature, unzip."""
    with tempfile.TemporaryFile() as signed, tempfile.TemporaryFile() as zipped:
        def unseal() -> bytes:
            stream.open_stream(p7m, signed, cek=cek, cert=cert, key=key)
            signed.seek(0)
            detached = extract_attached_stream(signed, zipped)
            zipped.seek(0)
            return detached

        detached = await asyncio.to_thread(unseal)
        verified = await cms.verify(detached, trust=trust, content=zipped)
        zipped.seek(0)
        names, sheet, creator = await asyncio.to_thread(unzip, zipped, out_dir)
    return Opened(verified, names, sheet, creator)


def unzip(zipped: BinaryIO, out_dir: Path) -> tuple[list[str], price.PriceSheet,
                                                    dict[str, Any] | None]:
    """Unpack a bid ZIP (names checked), with its price sheet and creator comment."""
    with zipfile.ZipFile(zipped) as z:
        entries = _safe_names(z)
        sheet = price.parse(z.read(entries[PRICE_FILE]))
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, info in entries.items():
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, target.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
        names = list(entries)
        try:
            creator = json.loads(z.comment) if z.comment else None
        except ValueError:
            creator = None
    return names, sheet, creator if isinstance(creator, dict) else None


def _name(info: zipfile.ZipInfo) -> str:
    """The entry's name; UTF-8 names a tool stored without the UTF-8 flag read as UTF-8.

    Info-ZIP's ``zip`` writes Chinese names in UTF-8 without flagging them, and
    Python would read them as CP437 (商务标 → σòåσèíµáç).
    """
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _safe_names(z: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    entries = {_name(i): i for i in z.infolist() if not i.is_dir()}
    for name in entries:
        parts = Path(name).parts
        if name.startswith("/") or ".." in parts or ":" in name:
            raise SealError(f"ZIP 内文件名不安全 / unsafe name in the ZIP: {name!r}")
    if PRICE_FILE not in entries:
        raise SealError(f"{PRICE_FILE} 缺失 / no {PRICE_FILE} in the bid")
    return entries


__all__ = ["Opened", "SealError", "Sealed", "open_bid", "pack", "seal_file", "seal_folder"]
