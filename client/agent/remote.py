"""The protocol from Python: what a page does, for the tool and the tests.

``AgentClient`` speaks protocol v1 to a running agent, as the page at ``origin`` would;
``held_key`` turns one of its certificates into a ``cryptography`` private key whose
operations go through the agent (and so through the person's confirmation), so the
platform's own CMS and envelope code sign and open with a token's key.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from client.agent.errors import AgentError
from client.agent.keys import HeldECKey, HeldRSAKey


class AgentRefusal(AgentError):
    """An answer of the agent other than 200, with the agent's own code."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail"), message=body.get("message"),
                         message_en=body.get("message_en"))
        self.status = status  # type: ignore[misc]
        self.code = str(body.get("code"))  # type: ignore[misc]


class AgentClient:
    def __init__(self, url: str, origin: str, *, token: str | None = None,
                 timeout: float = 120) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout, headers={"Origin": origin})
        self.token = token

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        r = self.http.request(method, path, json=body, headers=headers)
        data: dict[str, Any] = r.json()
        if r.status_code != 200:
            raise AgentRefusal(r.status_code, data)
        return data

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/v1/info")

    def pair(self, code: str) -> str:
        self.token = str(self._call("POST", "/v1/pair", {"code": code})["token"])
        return self.token

    def certificates(self) -> list[dict[str, Any]]:
        certs: list[dict[str, Any]] = self._call("GET", "/v1/certificates")["certificates"]
        return certs

    def sign(self, key_id: str, data: bytes, mechanism: str, description: str = "") -> bytes:
        return _bytes(self._call("POST", "/v1/sign", {
            "id": key_id, "data": _b64(data), "mechanism": mechanism,
            "description": description})["signature"])

    def decrypt(self, key_id: str, encrypted_key: bytes, scheme: str,
                description: str = "") -> bytes:
        return _bytes(self._call("POST", "/v1/decrypt", {
            "id": key_id, "encryptedKey": _b64(encrypted_key), "scheme": scheme,
            "description": description})["key"])

    def agree(self, key_id: str, originator_spki: bytes, description: str = "") -> bytes:
        return _bytes(self._call("POST", "/v1/agree", {
            "id": key_id, "originatorSpki": _b64(originator_spki),
            "description": description})["z"])


def certificate(entry: dict[str, Any]) -> x509.Certificate:
    return x509.load_der_x509_certificate(_bytes(entry["der"]))


def chain(entry: dict[str, Any]) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(_bytes(c)) for c in entry["chain"]]


def held_key(agent: AgentClient, entry: dict[str, Any],
             description: str = "") -> HeldRSAKey | HeldECKey:
    """The certificate's private key, used through the agent."""
    public = certificate(entry).public_key()
    key_id, mechanism = entry["id"], entry["mechanism"]
    if isinstance(public, rsa.RSAPublicKey):
        return HeldRSAKey(public, lambda data: agent.sign(key_id, data, mechanism, description),
                          lambda wrapped, scheme: agent.decrypt(key_id, wrapped, scheme,
                                                                description))
    if isinstance(public, ec.EllipticCurvePublicKey):
        return HeldECKey(public, lambda data: agent.sign(key_id, data, mechanism, description),
                         lambda spki: agent.agree(key_id, spki, description))
    raise AgentError({"algorithm": entry["algorithm"]}, message="该证书的算法无法在此使用",
                     message_en="This certificate's algorithm cannot be used here")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bytes(value: str) -> bytes:
    return base64.b64decode(value)
