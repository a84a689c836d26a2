"""Opening-key shares: any k of n rebuild the key, k-1 do not, no lot opens another."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signing import envelope, shares
from signing.ca import Issued
from tests.conftest import run_cli
from tests.signing.conftest import PKI

BID = b"sealed bid content " * 100


@pytest.fixture(scope="module")
def officers(pki: PKI) -> list[Issued]:
    kinds = ["p256", "rsa2048", "p256", "rsa2048", "p256"]
    return [pki.ca1.issue(cn=f"开标人{i + 1}", purpose="encryption", key_type=kind)  # type: ignore[arg-type]
            for i, kind in enumerate(kinds)]


def make(pki: PKI, officers: list[Issued], k: int = 3, lot: UUID | None = None) -> shares.OpeningKey:
    platform = pki.ca1.issue(cn="天衡平台开标证书签发", purpose="platform")
    return shares.create_opening_key(
        lot or uuid4(), lot_name="G351 线雅安段 第1标段", officers=[o.cert for o in officers], k=k,
        issuer_cert=platform.cert, issuer_key=platform.key,
        valid_until=datetime.now(UTC) + timedelta(days=90))


def unsealed(opening: shares.OpeningKey, officers: list[Issued]) -> list[bytes]:
    return [shares.unseal_share(s.envelope, o.cert, o.key)
            for s, o in zip(opening.shares, officers, strict=True)]


def test_any_k_of_n_rebuild_the_key_and_open_a_bid(pki: PKI, officers: list[Issued]) -> None:
    opening = make(pki, officers)
    bid = envelope.seal(BID, [envelope.Recipient(opening.certificate)])
    plain = unsealed(opening, officers)
    for combo in itertools.combinations(plain, 3):
        key = shares.recombine(opening.lot_id, opening.certificate, list(combo))
        assert envelope.open_with_private_key(bid, opening.certificate, key) == BID
    key = shares.recombine(opening.lot_id, opening.certificate, plain)  # all n work too
    assert envelope.open_with_private_key(bid, opening.certificate, key) == BID


def test_k_minus_one_shares_do_not(pki: PKI, officers: list[Issued]) -> None:
    opening = make(pki, officers)
    plain = unsealed(opening, officers)
    for combo in itertools.combinations(plain, 2):
        with pytest.raises(shares.NotEnoughShares):
            shares.recombine(opening.lot_id, opening.certificate, list(combo))
        # even when a share lies about k, two shares rebuild nothing useful
        lowered = [raw[:21] + bytes([2]) + raw[22:] for raw in combo]
        with pytest.raises(shares.SharesDoNotMatch):
            shares.recombine(opening.lot_id, opening.certificate, lowered)
    # the same share twice counts once
    with pytest.raises(shares.NotEnoughShares):
        shares.recombine(opening.lot_id, opening.certificate, [plain[0], plain[0], plain[1]])


def test_shares_of_one_lot_do_not_open_another(pki: PKI, officers: list[Issued]) -> None:
    lot_a, lot_b = make(pki, officers), make(pki, officers)
    plain_a = unsealed(lot_a, officers)
    plain_b = unsealed(lot_b, officers)
    with pytest.raises(shares.ShareForAnotherLot):
        shares.recombine(lot_b.lot_id, lot_b.certificate, plain_a[:3])
    # relabelled as lot B, A's shares still do not rebuild B's key
    relabelled = [raw[:4] + lot_b.lot_id.bytes + raw[20:] for raw in plain_a[:3]]
    with pytest.raises(shares.SharesDoNotMatch):
        shares.recombine(lot_b.lot_id, lot_b.certificate, relabelled)
    with pytest.raises(shares.SharesDoNotMatch):  # mixing lots
        shares.recombine(lot_b.lot_id, lot_b.certificate,
                         [*plain_b[:2], relabelled[2]])


def test_each_share_opens_for_its_officer_only(pki: PKI, officers: list[Issued]) -> None:
    opening = make(pki, officers)
    with pytest.raises(envelope.NotARecipient):
        shares.unseal_share(opening.shares[0].envelope, officers[1].cert, officers[1].key)
    assert all(s.officer == o.cert for s, o in zip(opening.shares, officers, strict=True))


def test_nothing_kept_opens_a_bid(pki: PKI, officers: list[Issued]) -> None:
    """What the platform stores (certificate, sealed shares) holds no usable key."""
    opening = make(pki, officers)
    stored = b"".join(s.envelope for s in opening.shares)
    scalar_candidates = [stored[i:i + 32] for i in range(len(stored) - 32)]
    public = opening.certificate.public_key()

    for blob in scalar_candidates:
        value = int.from_bytes(blob, "big")
        if 0 < value < 2**256 - 2**224:
            try:
                key = ec.derive_private_key(value, ec.SECP256R1())
            except ValueError:
                continue
            assert key.public_key() != public


@pytest.mark.parametrize(("k", "n"), [(1, 3), (4, 3), (0, 0)])
def test_bad_thresholds(pki: PKI, officers: list[Issued], k: int, n: int) -> None:
    with pytest.raises(shares.ShareError):
        make(pki, officers[:n], k=k)


def test_garbage_shares(pki: PKI, officers: list[Issued]) -> None:
    opening = make(pki, officers)
    for bad in (b"", b"x" * 55, b"NOPE" + b"\x00" * 51):
        with pytest.raises(shares.ShareError):
            shares.recombine(opening.lot_id, opening.certificate, [bad])


def test_officers_ceremony_on_the_command_line(pki: PKI, officers: list[Issued],
                                              tmp_path: Path) -> None:


    lot = uuid4()
    args = ["keys", "ceremony", "--lot", str(lot), "--lot-name", "第2标段", "-k", "2",
            "--out", str(tmp_path / "out")]
    for i, officer in enumerate(officers[:3]):
        path = tmp_path / f"officer{i}.pem"
        path.write_bytes(officer.cert_pem())
        args += ["--officer", str(path)]
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr
    assert "private key was not written" in out.stdout
    cert = x509.load_pem_x509_certificate((tmp_path / "out" / "opening.crt.pem").read_bytes())
    files = sorted((tmp_path / "out").glob("share-*.p7m"))
    assert len(files) == 3
    plain = [shares.unseal_share(f.read_bytes(), o.cert, o.key)
             for f, o in zip(files, officers[:3], strict=True)]
    key = shares.recombine(lot, cert, plain[1:])
    bid = envelope.seal(BID, [envelope.Recipient(cert)])
    assert envelope.open_with_private_key(bid, cert, key) == BID
    bad = run_cli("keys", "ceremony", "--lot", str(lot), "--lot-name", "x", "-k", "5",
                  "--officer", str(tmp_path / "officer0.pem"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 1 and "2 <= k <= n" in bad.stderr
