"""The agent's HTTP side: protocol v1 on 127.0.0.1 (docs/agent.md).

Who may call, checked on every request before anything else:
- the Host is the loopback address and port the agent listens on (a DNS-rebinding page
  reaches it under its own name and is refused);
- the Origin is one the agent was started for, exactly; CORS answers name that origin
  only, and Chromium's private network access preflight gets its
  ``Access-Control-Allow-Private-Network``. A page of any other site is refused before
  its request is read, and a browser never lets it read the answer;
- every call past ``/v1/info`` and ``/v1/pair`` carries the bearer token the page got
  when the person paired it at this terminal (random for each pairing, bound to the
  origin that paired, forgotten when the agent stops);
- every use of a key is confirmed at this terminal, which shows the origin, the key, the
  page's description and a digest of what is signed; no answer in time is a 408.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
from asn1crypto import cms
from cryptography.hazmat.primitives.serialization import Encoding

from client.agent.confirm import Terminal
from client.agent.errors import (
    AgentError,
    HostForbidden,
    NotFound,
    NotPaired,
    OriginForbidden,
    TooLarge,
    UnsupportedMechanism,
)
from client.agent.origins import DEFAULT_PORT, normalize_origin
from client.agent.token import SCHEMES, SIGN_MECHANISMS, Entry, Token

PROTOCOL = "tenderhall-agent/1"
MAX_BODY = 256 * 1024
MAX_DESCRIPTION = 200
CODE = re.compile(r"[0-9A-Z]{4,8}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class PairRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: str


class SignRequest(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    data: str
    mechanism: str
    description: str = ""


class DecryptRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    id: str
    encrypted_key: str
    scheme: str
    description: str = ""


class AgreeRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    id: str
    originator_spki: str
    description: str = ""


def _b64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AgentError({"field": name}, message=f"{name} 不是 base64",
                         message_en=f"{name} is not base64") from None


def _plain(text: str) -> str:
    """The page's description as the terminal may show it: no control or bidi characters."""
    return _CONTROL.sub(" ", text)[:MAX_DESCRIPTION].strip() or "(无说明 / no description)"


def signed_content_digest(data: bytes) -> str | None:
    """The messageDigest inside CMS signed attributes, when ``data`` is that."""
    try:
        attrs = cms.CMSAttributes.load(data, strict=True)
        for attr in attrs:
            if attr["type"].native == "message_digest":
                return bytes(attr["values"][0].native).hex()
    except (ValueError, TypeError, KeyError):
        return None
    return None


@dataclass
class Agent:
    """What the handler threads share: the token, the terminal, the origins and pairings."""

    token: Token
    terminal: Terminal
    origins: frozenset[str]
    port: int = DEFAULT_PORT
    confirm_timeout: float = 60.0
    pairings: dict[str, str] = field(default_factory=dict)  # bearer token -> origin
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _next(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def confirm(self, origin: str, operation: str, entry: Entry | None, details: list[str],
                description: str) -> None:
        lines = [f"── 请求 #{self._next()} / request ──",
                 f"来源 / from: {origin}",
                 f"操作 / operation: {operation}"]
        if entry is not None:
            lines.append(f"证书 / certificate: {entry.describe()}")
        lines.append(f"说明 / description: {_plain(description)}")
        self.terminal.confirm([*lines, *details], self.confirm_timeout)

    # -- the calls -----------------------------------------------------------------
    def info(self, paired: bool) -> dict[str, Any]:
        return {"protocol": PROTOCOL, "version": 1, "agent": "tenderhall", "paired": paired,
                "token": self.token.info(), "mechanisms": self.token.mechanisms(),
                "confirmTimeout": self.confirm_timeout}

    def pair(self, origin: str, body: bytes) -> dict[str, Any]:
        req = _decode(body, PairRequest)
        if not CODE.fullmatch(req.code):
            raise AgentError({"field": "code"}, message="配对码格式不对",
                             message_en="The pairing code is 4 to 8 digits or capitals")
        self.confirm(origin, "配对 / pair this page with the agent", None,
                     [f"网页上显示的配对码 / code shown on the page: {req.code}"],
                     "允许该网页列出证书并请求签名和解密 (每次仍需确认) / lets this page list "
                     "certificates and ask for signatures and decryption (each confirmed here)")
        bearer = secrets.token_urlsafe(32)
        with self._lock:
            self.pairings[bearer] = origin
        return {"token": bearer}

    def certificates(self) -> dict[str, Any]:
        return {"certificates": [{
            "id": e.id, "label": e.label, "algorithm": e.algorithm,
            "der": base64.b64encode(e.der).decode(),
            "chain": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in e.chain],
            "subject": e.subject(), "mechanism": SIGN_MECHANISMS[e.algorithm],
        } for e in self.token.entries()]}

    def sign(self, origin: str, body: bytes) -> dict[str, Any]:
        req = _decode(body, SignRequest)
        entry = self.token.entry(req.id)
        if req.mechanism != SIGN_MECHANISMS[entry.algorithm]:
            raise UnsupportedMechanism({"mechanism": req.mechanism,
                                        "key": SIGN_MECHANISMS[entry.algorithm]})
        self.token.usable(entry, "sign")
        data = _b64(req.data, "data")
        if len(data) > 64 * 1024:
            raise TooLarge({"max": 64 * 1024})
        details = [f"待签数据 SHA-256 / data to sign, SHA-256: {hashlib.sha256(data).hexdigest()}"]
        content = signed_content_digest(data)
        if content is not None:
            details.append(f"被签文件摘要 / digest of the signed file (messageDigest): {content}")
        self.confirm(origin, f"签名 / sign ({req.mechanism})", entry, details, req.description)
        return {"signature": _enc(self.token.sign(entry, data))}

    def decrypt(self, origin: str, body: bytes) -> dict[str, Any]:
        req = _decode(body, DecryptRequest)
        if req.scheme not in SCHEMES:
            raise UnsupportedMechanism({"scheme": req.scheme, "known": list(SCHEMES)})
        entry = self.token.entry(req.id)
        self.token.usable(entry, "decrypt", req.scheme)
        wrapped = _b64(req.encrypted_key, "encryptedKey")
        self.confirm(origin, f"解密数字信封的密钥 / unwrap an envelope's key ({req.scheme})", entry,
                     [f"被加密的密钥 SHA-256 / encrypted key, SHA-256: "
                      f"{hashlib.sha256(wrapped).hexdigest()}"], req.description)
        return {"key": _enc(self.token.decrypt(entry, wrapped, req.scheme))}  # type: ignore[arg-type]

    def agree(self, origin: str, body: bytes) -> dict[str, Any]:
        req = _decode(body, AgreeRequest)
        entry = self.token.entry(req.id)
        self.token.usable(entry, "agree")
        spki = _b64(req.originator_spki, "originatorSpki")
        self.confirm(origin, "密钥协商以解密数字信封 / key agreement (ECDH) to open an envelope",
                     entry, [f"对方公钥 SHA-256 / originator key, SHA-256: "
                             f"{hashlib.sha256(spki).hexdigest()}"], req.description)
        return {"z": _enc(self.token.agree(entry, spki))}


def _enc(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise AgentError({"reason": str(exc)}) from None
    except msgspec.DecodeError:
        raise AgentError({"reason": "not JSON"}) from None



class Handler(BaseHTTPRequestHandler):
    server_version = "tenderhall-agent/1"
    sys_version = ""
    agent: Agent  # set on the class made for each server

    # -- the checks every request goes through --------------------------------------
    def _origin(self) -> str:
        host = (self.headers.get("Host") or "").lower()
        if host not in {f"127.0.0.1:{self.agent.port}", f"localhost:{self.agent.port}"}:
            raise HostForbidden({"host": host[:100]})
        raw = self.headers.get("Origin")
        try:
            origin = normalize_origin(raw) if raw else None
        except ValueError:
            origin = None
        if origin is None or origin not in self.agent.origins:
            raise OriginForbidden({"origin": (raw or "")[:100]})
        return origin

    def _paired(self, origin: str) -> None:
        auth = self.headers.get("Authorization") or ""
        bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self.agent._lock:
            paired_origin = self.agent.pairings.get(bearer) if bearer else None
        if paired_origin is None or not secrets.compare_digest(paired_origin, origin):
            raise NotPaired()

    def _is_paired(self, origin: str) -> bool:
        try:
            self._paired(origin)
        except NotPaired:
            return False
        return True

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            raise AgentError({"reason": "Content-Length"}) from None
        if length > MAX_BODY:
            raise TooLarge({"max": MAX_BODY})
        return self.rfile.read(length)

    # -- answers -------------------------------------------------------------------
    def _send(self, status: int, body: dict[str, Any], origin: str | None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Vary", "Origin")
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, work: Callable[[str], dict[str, Any]]) -> None:
        origin: str | None = None
        try:
            origin = self._origin()
            self._send(200, work(origin), origin)
        except AgentError as exc:
            self._send(exc.status, exc.body(), origin)
        except Exception as exc:
            print(f"agent: internal error: {exc!r}", file=sys.stderr, flush=True)  # noqa: T201
            self._send(500, {"code": "agent.internal", "message": "签名助手内部错误",
                             "message_en": "Internal error in the signing agent",
                             "detail": None}, origin)

    def do_OPTIONS(self) -> None:
        """CORS preflight, with Chromium's private network access header."""
        try:
            origin = self._origin()
        except AgentError as exc:
            self._send(exc.status, exc.body(), None)
            return
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")
        if (self.headers.get("Access-Control-Request-Private-Network") or "").lower() == "true":
            self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/v1/info":
            self._answer(lambda origin: self.agent.info(self._is_paired(origin)))
        elif path == "/v1/certificates":
            def listing(origin: str) -> dict[str, Any]:
                self._paired(origin)
                return self.agent.certificates()

            self._answer(listing)
        else:
            self._answer(lambda origin: _raise(NotFound({"path": path[:100]})))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        calls = {"/v1/sign": self.agent.sign, "/v1/decrypt": self.agent.decrypt,
                 "/v1/agree": self.agent.agree}

        def work(origin: str) -> dict[str, Any]:
            body = self._body()
            if path == "/v1/pair":
                return self.agent.pair(origin, body)
            call = calls.get(path)
            if call is None:
                raise NotFound({"path": path[:100]})
            self._paired(origin)
            return call(origin, body)

        self._answer(work)

    def log_message(self, format: str, *args: Any) -> None:
        print(f"agent: {self.address_string()} {format % args}", file=sys.stderr, flush=True)  # noqa: T201


def _raise(exc: AgentError) -> dict[str, Any]:
    raise exc


def make_server(agent: Agent) -> ThreadingHTTPServer:
    """Bound to 127.0.0.1 only; ``agent.port`` 0 takes a free port (and is updated)."""
    handler = type("AgentHandler", (Handler,), {"agent": agent})
    server = ThreadingHTTPServer(("127.0.0.1", agent.port), handler)
    server.daemon_threads = True
    agent.port = server.server_address[1]
    return server
