"""Unified social credit code (统一社会信用代码), GB 32100-2015.

Eighteen characters: registration authority (1), organization type (2),
administrative division (3-8), organization code (9-17), check character
(18). The alphabet leaves out I, O, S, V and Z. The check character is
``31 - (sum(value_i * weight_i) mod 31)`` over the first seventeen, with 31
written as 0. Every failure names the position (1-based) that is wrong, so a
person typing the code sees where to look.
"""

from __future__ import annotations

from core.errors import InvalidCreditCode

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# Registration authority -> organization types it may register (GB 32100 annex A).
AUTHORITY_TYPES: dict[str, str] = {
    "1": "1239",   # 机构编制: 机关, 事业单位, 群众团体, 其他
    "2": "19",     # 外交
    "3": "123459",  # 司法行政
    "4": "19",     # 文化
    "5": "1239",   # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",    # 旅游
    "7": "129",    # 宗教
    "8": "19",     # 工会
    "9": "123",    # 市场监管(工商): 企业, 个体工商户, 农民专业合作社
    "A": "19",     # 中央军委改革和编制办公室
    "N": "1239",   # 农业
    "Y": "1",      # 其他
}

# First two digits of the administrative division (GB/T 2260), plus 10 for
# registrations at national level.
PROVINCES = frozenset({
    "10", "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
    "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63",
    "64", "65", "71", "81", "82",
})


def check_character(first17: str) -> str:
    total = sum(VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def _fail(position: int, zh: str, en: str, code: str) -> InvalidCreditCode:
    return InvalidCreditCode(
        {"position": position, "value": code},
        message=f"统一社会信用代码第 {position} 位错误：{zh}",
        message_en=f"Unified social credit code, position {position}: {en}",
    )


def validate(raw: str) -> str:
    """Return the normalized code (upper case, trimmed) or raise InvalidCreditCode."""
    code = raw.strip().upper()
    if len(code) != 18:
        raise InvalidCreditCode(
            {"position": None, "length": len(code), "value": code},
            message=f"统一社会信用代码应为 18 位，实际 {len(code)} 位",
            message_en=f"A unified social credit code has 18 characters, not {len(code)}",
        )
    for i, ch in enumerate(code, start=1):
        if ch not in VALUES:
            raise _fail(i, f"字符 {ch!r} 不允许（不使用 I、O、S、V、Z）",
                        f"character {ch!r} is not allowed (I, O, S, V and Z are never used)", code)
    if code[0] not in AUTHORITY_TYPES:
        raise _fail(1, f"登记管理部门代码 {code[0]!r} 不存在",
                    f"no registration authority {code[0]!r}", code)
    if code[1] not in AUTHORITY_TYPES[code[0]]:
        raise _fail(2, f"机构类别代码 {code[1]!r} 不属于登记管理部门 {code[0]!r}",
                    f"organization type {code[1]!r} does not exist for authority {code[0]!r}", code)
    for i in range(2, 8):
        if not code[i].isdigit():
            raise _fail(i + 1, "登记管理机关行政区划码应为数字",
                        "the administrative division code must be digits", code)
    if code[2:4] not in PROVINCES:
        raise _fail(3, f"行政区划码 {code[2:8]} 的省级代码不存在",
                    f"no province {code[2:4]} in division code {code[2:8]}", code)
    expected = check_character(code[:17])
    if code[17] != expected:
        raise _fail(18, f"校验码应为 {expected!r}，实际为 {code[17]!r}",
                    f"check character should be {expected!r}, not {code[17]!r}", code)
    return code


def is_valid(raw: str) -> bool:
    try:
        validate(raw)
    except InvalidCreditCode:
        return False
    return True


def make(prefix17: str) -> str:
    """Append the check character: for seeding demo data and tests."""
    return prefix17 + check_character(prefix17)
