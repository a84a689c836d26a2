"""Officers' shares held by the platform: under a key of their own, not the session's."""

from __future__ import annotations

import os
from dataclasses import replace
from uuid import uuid4

import pytest

from core.settings import Settings, SettingsError
from trading.opening import errors, officers


def test_held_share_survives_a_new_session_secret(settings: Settings) -> None:
    lot, share = uuid4(), os.urandom(48)
    held = officers.hold(settings, lot, 2, share)
    assert share not in held
    rotated = replace(settings, web=replace(settings.web, session_secret="rotated since"))
    assert officers.unhold(rotated, lot, 2, held) == share


def test_held_share_under_another_hold_key_is_unreadable(settings: Settings) -> None:
    lot, share = uuid4(), os.urandom(48)
    held = officers.hold(settings, lot, 2, share)
    other = replace(settings, share_hold_key="another share-holding key")
    with pytest.raises(errors.HeldShareUnreadable):
        officers.unhold(other, lot, 2, held)
    with pytest.raises(errors.HeldShareUnreadable):  # bound to its lot and index too
        officers.unhold(settings, lot, 3, held)


def test_the_hold_key_is_required(settings: Settings) -> None:
    env = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "S3_ENDPOINT": "x",
           "S3_ACCESS_KEY": "x", "S3_SECRET_KEY": "x", "SESSION_SECRET": "x"}
    with pytest.raises(SettingsError, match="SHARE_HOLD_KEY"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "SHARE_HOLD_KEY": "k"}).share_hold_key == "k"
