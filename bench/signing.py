"""CMS verifications per second with full path validation, next to openssl speed.

For each key type (P-256, RSA-2048, SM2): sign a 4 KiB document once, then verify it repeatedly with
``signing.cms.verify`` (signature, path to a trusted root, CRL check in
hard-fail mode, key usage) and report verifications per second beside the
raw verifications per second ``openssl speed`` measures for the same key type
in the same run, and their ratio.

    python bench/signing.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms, pathval, sm2
from signing.ca import DevCA

OPENSSL = {"sm2": ("sm2", r"256 bits SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+\S+\s+([\d.]+)"),
           "p256": ("ecdsap256", r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+\S+\s+([\d.]+)"),
           "rsa2048": ("rsa2048", r"rsa 2048 bits\s+\S+s\s+\S+s\s+\S+\s+([\d.]+)")}


def openssl_verifies(algorithm: str, seconds: int) -> float:
    name, pattern = OPENSSL[algorithm]
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), name],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(pattern, out)
    if match is None:
        raise SystemExit(f"could not read openssl speed output:\n{out}")
    return float(match.group(1))


async def ours(key_type: str, seconds: float, *, cached: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ca = DevCA(Path(tmp) / "ca")
        ca.init("Bench CA", crl_url="http://127.0.0.1/crl.der", key_type=key_type)  # type: ignore[arg-type]
        who = ca.issue(cn="bench", purpose="signing", key_type=key_type)  # type: ignore[arg-type]
        doc = b"x" * 4096
        sig = cms.sign(doc, cert=who.cert, key=who.key, chain=who.chain[:1])
        trust = pathval.TrustStore.from_pem_files([], [])
        trust.roots.append(pathval.TrustStore.load_cert(ca.root.public_bytes(Encoding.PEM)))
        trust.crls.append(ca.crl_der())
        await cms.verify(sig, trust=trust, content=doc)  # warm up imports
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            if not cached:
                pathval._VALIDATED.clear()
            await cms.verify(sig, trust=trust, content=doc)
            count += 1
        return count / (time.perf_counter() - started)


def sm2_raw(seconds: float) -> float:
    """SM2/SM3 verifications through signing.sm2 (no certificate path: raw, like openssl)."""

    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "k.der"
        pub = Path(tmp) / "p.der"
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:SM2", "-outform", "DER", "-out", str(key)], check=True)
        subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", str(key), "-pubout",
                        "-outform", "DER", "-out", str(pub)], check=True)
        public = pub.read_bytes()
        sig = sm2.sign(key.read_bytes(), b"x" * 64)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            assert sm2.verify(public, sig, b"x" * 64)
            count += 1
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    opts = parser.parse_args()
    print("CMS verify with full path validation (one core) vs openssl speed verify/s")
    for key_type in ("p256", "rsa2048", "sm2"):
        raw = openssl_verifies(key_type, opts.seconds)
        for label, cached in (("cold", False), ("cached", True)):
            mine = asyncio.run(ours(key_type, opts.seconds, cached=cached))
            print(f"{key_type:8} {label:6} tenderhall {mine:9.1f}/s   openssl {raw:10.1f}/s   "
                  f"ratio {mine / raw:.4f}")
    mine = sm2_raw(opts.seconds)
    raw = openssl_verifies("sm2", opts.seconds)
    print(f"{'sm2':8} tenderhall {mine:9.1f}/s   openssl {raw:10.1f}/s   ratio {mine / raw:.4f}"
          "   (signature only, both)")


if __name__ == "__main__":
    main()
