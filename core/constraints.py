"""The database's refusals, translated: constraint (and trigger) names mapped to the error a
client sees, and the other kinds of PostgreSQL error by class."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from core.errors import Conflict, DatabaseUnavailable, DomainError, InvalidInput, TryAgain

# Constraint names (from the migrations) mapped to the error a client sees.
# The database is the last word on uniqueness and checks; this table is the
# one place that translates its verdicts. Core's and the tenders' own tables are
# listed here; the other domains name theirs in their errors.py (``CONSTRAINTS``), and
# the application installs them all at start (``app.create_app``).
_BASE_CONSTRAINTS: dict[str, tuple[type[DomainError], str, str]] = {
    "organizations_credit_code_key": (
        Conflict,
        "该统一社会信用代码已注册",
        "An organization with this credit code already exists",
    ),
    "users_login_key": (Conflict, "该登录名已被使用", "This login name is taken"),
    "users_login_format": (
        InvalidInput,
        "登录名须为 3-64 位小写字母、数字或 . _ -，以字母或数字开头",
        "A login is 3-64 lower-case letters, digits or . _ -, starting with a letter or digit",
    ),
    "user_roles_pkey": (Conflict, "该用户已拥有此角色", "The user already has this role"),
    "tenders_code_key": (Conflict, "项目编号已存在", "A tender with this code already exists"),
    "tenders_security_forms_t6": (
        InvalidInput,
        "招标人须接受银行保函、保证保险和电子保函等非现金保证形式",
        "Bank guarantees, guarantee insurance and e-guarantees must be accepted (T6)",
    ),
    "tenders_schedule_order": (InvalidInput, "招标文件发售开始须早于结束",
                               "The documents period must end after it starts"),
    "tenders_documents_before_deadline": (InvalidInput, "招标文件发售期须在投标截止前结束",
                                          "The documents period must end by the bid deadline"),
    "tenders_clarification_before_deadline": (InvalidInput, "澄清截止时间须在投标截止前",
                                              "The clarification deadline must precede the "
                                              "bid deadline"),
    "tenders_ceiling_within_budget": (InvalidInput, "最高投标限价不得高于预算",
                                      "The ceiling price cannot exceed the budget"),
    "lots_ceiling_within_budget": (InvalidInput, "标段最高投标限价不得高于标段预算",
                                   "A lot's ceiling price cannot exceed its budget"),
    "lots_number_key": (Conflict, "标段编号重复", "Lot numbers must be unique"),
    "tenders_officers_k_of_n": (InvalidInput, "开标人数 n 不超过 15，解密所需分片 k 须在 2 与 n 之间",
                                "Opening officers: n at most 15, and k between 2 and n"),
    "tenders_published_has_schedule": (InvalidInput, "发布前须填写文件获取期和投标截止时间",
                                       "Set the documents period and the bid deadline first"),
    "notices_one_draft_idx": (Conflict, "已有一份未发布的澄清草稿",
                              "There is already an unpublished clarification draft"),
    "tenders_retender_once": (Conflict, "该流标项目已重新招标",
                              "This failed tender has already been tendered again"),
}


CONSTRAINT_ERRORS: dict[str, tuple[type[DomainError], str, str]] = dict(_BASE_CONSTRAINTS)


def install_constraints(*maps: Mapping[str, type[DomainError]]) -> None:
    """The domains' constraint (and trigger) names with their errors, installed once by the
    application over core's own: a name claimed twice is a wiring mistake."""
    merged = dict(_BASE_CONSTRAINTS)
    for constraints in maps:
        for name, cls in constraints.items():
            if name in merged:
                raise ValueError(f"constraint {name!r} mapped twice")
            merged[name] = (cls, cls.message, cls.message_en)
    CONSTRAINT_ERRORS.clear()
    CONSTRAINT_ERRORS.update(merged)


# Error classes without a named constraint of their own, most specific first.
_PG_CLASSES: list[tuple[type[asyncpg.PostgresError], type[DomainError], str | None, str | None]] = [
    (asyncpg.ForeignKeyViolationError, InvalidInput, "引用的对象不存在",
     "A referenced object does not exist"),
    (asyncpg.CheckViolationError, InvalidInput, None, None),
    (asyncpg.NotNullViolationError, InvalidInput, None, None),
    (asyncpg.UniqueViolationError, Conflict, None, None),
    # NUL bytes in text, values out of a type's range...
    (asyncpg.DataError, InvalidInput, "输入含有无法保存的字符或数值",
     "The input holds characters or values that cannot be stored"),
    # deadlock, serialization failure: nothing was written, trying again may work
    (asyncpg.TransactionRollbackError, TryAgain, None, None),
    # the connection broke, the server is starting, stopping or has no connection to spare
    (asyncpg.PostgresConnectionError, DatabaseUnavailable, None, None),
    (asyncpg.CannotConnectNowError, DatabaseUnavailable, None, None),
    (asyncpg.AdminShutdownError, DatabaseUnavailable, None, None),
    (asyncpg.CrashShutdownError, DatabaseUnavailable, None, None),
    (asyncpg.TooManyConnectionsError, DatabaseUnavailable, None, None),
]


def from_postgres(exc: asyncpg.PostgresError) -> DomainError | None:
    """Translate a database refusal into a domain error, if it is a known kind."""
    name = getattr(exc, "constraint_name", None)
    if name and name in CONSTRAINT_ERRORS:
        cls, zh, en = CONSTRAINT_ERRORS[name]
        return cls({"constraint": name}, message=zh, message_en=en)
    for pg_class, error_class, text, text_en in _PG_CLASSES:
        if isinstance(exc, pg_class):
            return error_class({"constraint": name, "reason": pg_class.__name__}, message=text,
                               message_en=text_en)
    return None
