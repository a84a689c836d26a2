"""A SoftHSM2 token set up the way a CA sets up a USB key, and the agent running on it.

Each token lives in its own directory (SOFTHSM2_CONF), so tests in parallel processes never
see each other's. Keys are generated inside the token by ``tenderhall token keygen``; the
dev CA issues their certificates from the requests the token signed, and ``tenderhall
token store`` writes them back. The agent runs as the real command in a child process: the
PIN and every confirmation are written to its standard input, as a person would type them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.ca import DevCA
from tests.conftest import ROOT, credit_code

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "246810"
TENANT = credit_code()


# The commands as ``tenderhall`` runs them, without loading the whole platform for each
# (app.py's wiring of them is tested once, in tests/client/test_agent.py).
AGENT = ["-c", "from client.agent.command import agent_command; agent_command()"]
TOKEN = ["-c", "from client.agent.command import token_group; token_group()"]


def cli(*args: str, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run([sys.executable, *TOKEN, *args], cwd=ROOT,
                          env=env, input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tenderhall {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class Token:
    dir: Path
    label: str
    env: dict[str, str]
    certs: dict[str, x509.Certificate] = field(default_factory=dict)  # by CKA_ID hex

    def provision(self, ca: DevCA, key_id: str, key_type: str, *, purpose: str, person: str,
                  org: str = "天衡测试投标有限公司", code: str = TENANT) -> x509.Certificate:
        """A key made inside the token, certified by ``ca`` from the token's own request."""
        csr_path = self.dir / f"{key_id}.csr"
        cli("keygen", "--module", MODULE, "--token", self.label, "--id", key_id,
            "--type", key_type, "--subject", f"CN={person}", "--csr", str(csr_path),
            env=self.env, stdin=PIN + "\n")
        csr = x509.load_pem_x509_csr(csr_path.read_bytes())
        cert = ca.issue_for_request(csr, cn=person, org=org, credit_code=code,
                                    purpose=purpose)  # type: ignore[arg-type]
        self.store(cert, key_id)
        self.certs[key_id] = cert
        return cert

    def store(self, cert: x509.Certificate, key_id: str | None = None) -> None:
        path = self.dir / f"cert-{secrets.token_hex(4)}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        cli("store", "--module", MODULE, "--token", self.label,
            *(["--id", key_id] if key_id else []), str(path), env=self.env, stdin=PIN + "\n")


def new_token(base: Path, label: str = "bidder-key") -> Token:
    if not Path(MODULE).exists():
        # make test installs it (scripts/sysdeps.sh): missing, the setup is broken, not the test
        raise RuntimeError(f"SoftHSM2 ({MODULE}) is installed by make test (scripts/sysdeps.sh)")
    base.mkdir(parents=True, exist_ok=True)
    (base / "tokens").mkdir(exist_ok=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN,
                    "--so-pin", "13579135"], env=env, check=True, capture_output=True, timeout=60)
    return Token(base, label, env)


class AgentProcess:
    """``tenderhall agent`` in a child process, its terminal driven by the test."""

    def __init__(self, token: Token, origins: list[str], *, confirm_timeout: float = 20,
                 pin: str = PIN, options: tuple[str, ...] = ()) -> None:
        args = [sys.executable, *AGENT, "--module", MODULE,
                "--token", token.label, "--port", "0", "--confirm-timeout", str(confirm_timeout)]
        for origin in origins:
            args += ["--origin", origin]
        args += options
        self.log = token.dir / f"agent-{secrets.token_hex(3)}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(args, cwd=ROOT, env={**token.env, "PYTHONUNBUFFERED": "1"},
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.type(pin)
        try:
            line = self.expect(r"listening on (http://127\.0\.0\.1:\d+)", timeout=60)
        except AssertionError:
            self.stop()
            raise
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        self.url = match.group(0)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                raise AssertionError(f"agent never printed {pattern!r}; saw {self.seen[-20:]}; "
                                     f"log: {self.log.read_text()[-2000:]}")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def answer(self, reply: str = "y", timeout: float = 60) -> str:
        """Wait for the next question, answer it; return the question's text."""
        start = len(self.seen)
        self.expect(r"Allow\? \[y/N\]", timeout=timeout)
        question = "\n".join(self.seen[start:])
        self.type(reply)
        return question

    def answering(self, replies: list[str]) -> Answers:
        """Answer the next questions in a thread while the test makes its blocking calls."""
        return Answers(self, replies)

    def confirming(self) -> Confirmer:
        """Say yes to every question until the block ends, keeping each question's text:
        for a page whose work asks a number of times the test need not know."""
        return Confirmer(self)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class Answers:
    def __init__(self, agent: AgentProcess, replies: list[str]) -> None:
        self.questions: list[str] = []
        self.error: BaseException | None = None

        def run() -> None:
            try:
                for reply in replies:
                    self.questions.append(agent.answer(reply))
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def __enter__(self) -> Answers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=90)
        if self.error is not None and exc[0] is None:
            raise self.error


class Confirmer:
    def __init__(self, agent: AgentProcess) -> None:
        self.agent = agent
        self.questions: list[str] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        agent = self.agent
        start = len(agent.seen)
        try:
            while not self.stopping.is_set():
                try:
                    agent.expect(r"Allow\? \[y/N\]", timeout=1)
                except AssertionError:
                    if agent.proc.poll() is not None:
                        raise
                    continue
                self.questions.append("\n".join(agent.seen[start:]))
                agent.type("y")
                start = len(agent.seen)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Confirmer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        if self.error is not None and exc[0] is None:
            raise self.error


def bidder_token(ca: DevCA, base: Path) -> Token:
    """Two key pairs of each family, as a CA's USB key has them: one signs, one decrypts.

    01 RSA-2048 signing, 02 RSA-2048 encryption, 03 P-256 signing, 04 P-256 encryption, and
    the CA's issuing and root certificates beside them.
    """
    t = new_token(base)
    t.provision(ca, "01", "rsa2048", purpose="signing", person="张三")
    t.provision(ca, "02", "rsa2048", purpose="encryption", person="张三")
    t.provision(ca, "03", "p256", purpose="signing", person="张三")
    t.provision(ca, "04", "p256", purpose="encryption", person="张三")
    t.store(ca.issuing)
    t.store(ca.root)
    return t
