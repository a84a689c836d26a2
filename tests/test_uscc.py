"""Unified social credit codes (GB 32100-2015): structure and check character."""

from __future__ import annotations

import pytest

from core import uscc
from core.errors import InvalidCreditCode

# Published codes of well-known organizations, the standard's own example, and
# codes of every registration authority and type built with the check character.
VALID = [
    "91350100M000100Y43",   # the example printed in GB 32100-2015
    "91110000802100433B",   # an enterprise registered in Beijing
    "91310000132149237G",   # an enterprise registered in Shanghai
    "91110108551385082Q",   # Beijing, Haidian district
    "91330100716105852F",   # Hangzhou
    "91440300708461136T",   # Shenzhen
    uscc.make("12511800MB1578031"),  # 事业单位, Ya'an
    uscc.make("11511800MB1N2Q4R6"),  # 机关, Ya'an
    uscc.make("51510100MJ0123456"),  # 社会团体 (民政)
    uscc.make("92510100MA6CB1N4T"),  # 个体工商户
    uscc.make("93500000MA5U7D2R8"),  # 农民专业合作社, Chongqing
    uscc.make("Y1100000123456789"),  # 其他
    uscc.make("N2610100MA6TGK5L3"),  # 村级集体经济组织
    " 91350100m000100y43 ",  # lower case and spaces are normalized
]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes(code: str) -> None:
    assert uscc.validate(code) == code.strip().upper()
    assert uscc.is_valid(code)


# (code, the position the error must name, or None for a length error)
INVALID = [
    ("91350100M000100Y44", 18),   # check character off by one
    ("91350100M000100Y4", None),  # 17 characters
    ("91350100M000100Y433", None),  # 19 characters
    ("", None),
    ("91350100M000100I43", 16),   # I is never used
    ("91350100M0O0100Y43", 11),   # O is never used
    ("S1350100M000100Y43", 1),    # S is never used
    ("B1350100M000100Y43", 1),    # no registration authority B
    ("94350100M000100Y43", 2),    # authority 9 has no type 4
    ("9135A100M000100Y43", 5),    # division code must be digits
    ("91990100M000100Y43", 3),    # no province 99
    ("91110000802100433C", 18),   # one real code, wrong check character
    ("91440300708461136Z", 18),   # Z is not in the alphabet
    ("Y2110000012345678X", 2),    # authority Y has type 1 only
]


@pytest.mark.parametrize(("code", "position"), INVALID)
def test_invalid_codes_name_the_position(code: str, position: int | None) -> None:
    with pytest.raises(InvalidCreditCode) as info:
        uscc.validate(code)
    err = info.value
    assert err.detail["position"] == position
    assert err.code == "invalid_credit_code"
    if position is not None:
        assert f"第 {position} 位" in err.message
        assert f"position {position}" in err.message_en
    assert not uscc.is_valid(code)


def test_every_single_character_change_is_caught() -> None:
    """The mod-31 check catches any one changed character in the first 17."""
    code = "91350100M000100Y43"
    for i in range(17):
        for ch in uscc.ALPHABET:
            if ch == code[i]:
                continue
            changed = code[:i] + ch + code[i + 1:]
            assert not uscc.is_valid(changed), changed
