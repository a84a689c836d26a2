"""Password guessing, slowed down: failures counted per account and per address in Redis.

Every wrong password costs an argon2 hash on the thread pool, so a guesser
also burns the server's time. Failures are counted in Redis (shared by every
API process, expiring by themselves) per login name and per client address;
past the limit the account or the address is locked for a while and further
tries are answered 429 ``login_locked`` with ``Retry-After``, before any hash
is computed. A lockout is audited. A correct password clears the account's
count, not the address's (one office may share an address).

A locked account is locked for the right password too: otherwise the lock
would tell a guesser when it guessed right. When Redis cannot be reached the
limit is not applied and a warning is logged: bidders must be able to sign in
before a deadline even then, and argon2 itself stays the slow step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import DomainError
from core.settings import LoginSettings

log = structlog.get_logger(__name__)


class LoginLocked(DomainError):
    status = 429
    code = "login_locked"
    message = "登录失败次数过多，请稍后再试"
    message_en = "Too many failed sign-ins; try again later"

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__({"retry_after": retry_after, "scope": scope})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Failure:
    """What a failed sign-in led to: a new lock on the account and/or on the address."""

    account_locked: bool = False
    address_locked: bool = False


def _tag(value: str) -> str:
    # a login name may be anything a client sends; keys stay short and printable
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class Throttle:
    def __init__(self, redis: Redis, settings: LoginSettings) -> None:
        self.redis = redis
        self.s = settings

    def _keys(self, login: str, address: str | None) -> dict[str, str]:
        p = self.s.key_prefix
        return {"account_fail": f"{p}:fail:account:{_tag(login)}",
                "account_lock": f"{p}:lock:account:{_tag(login)}",
                "address_fail": f"{p}:fail:address:{_tag(address or '-')}",
                "address_lock": f"{p}:lock:address:{_tag(address or '-')}"}

    async def check(self, login: str, address: str | None) -> None:
        """LoginLocked when the account or the address is locked now."""
        k = self._keys(login, address)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.pttl(k["account_lock"])
                pipe.pttl(k["address_lock"])
                account_ms, address_ms = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("login_throttle_unavailable", error=str(exc))
            return
        for scope, ms in (("account", account_ms), ("address", address_ms)):
            if ms is not None and ms > 0:
                raise LoginLocked(-(-int(ms) // 1000), scope)

    async def failed(self, login: str, address: str | None) -> Failure:
        """Count one wrong password; lock what crossed its limit (once: the count restarts)."""
        k = self._keys(login, address)
        window = self.s.window_minutes * 60
        lock = self.s.lock_minutes * 60
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(k["account_fail"])
                pipe.expire(k["account_fail"], window, nx=True)
                pipe.incr(k["address_fail"])
                pipe.expire(k["address_fail"], window, nx=True)
                account_n, _, address_n, _ = await pipe.execute()
            account = int(account_n) >= self.s.max_failures
            address_hit = address is not None and int(address_n) >= self.s.address_max_failures
            if account or address_hit:
                async with self.redis.pipeline(transaction=True) as pipe:
                    if account:
                        pipe.set(k["account_lock"], b"1", ex=lock)
                        pipe.delete(k["account_fail"])
                    if address_hit:
                        pipe.set(k["address_lock"], b"1", ex=lock)
                        pipe.delete(k["address_fail"])
                    await pipe.execute()
            return Failure(account, address_hit)
        except (RedisError, OSError) as exc:
            log.warning("login_throttle_unavailable", error=str(exc))
            return Failure()

    async def succeeded(self, login: str) -> None:
        try:
            await self.redis.delete(self._keys(login, None)["account_fail"])
        except (RedisError, OSError) as exc:
            log.warning("login_throttle_unavailable", error=str(exc))
