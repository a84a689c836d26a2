"""Page texts in Chinese (the default) and English, chosen by a cookie."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LANG_COOKIE = "th_lang"
LANGS = ("zh", "en")

_BASE: dict[str, tuple[str, str]] = {
    "site.name": ("天衡公共资源电子交易平台", "Tenderhall Public Resource E-Trading"),
    "site.tagline": ("全流程电子化 · 不见面开标 · 远程异地评标",
                     "Fully electronic · No-show opening · Remote multi-site evaluation"),
    "nav.home": ("首页", "Home"),
    "nav.login": ("登录", "Sign in"),
    "nav.logout": ("退出", "Sign out"),
    "nav.lang": ("English", "中文"),
    "home.tenders": ("交易公告", "Published tenders"),
    "home.search": ("搜索项目名称或编号", "Search title or code"),
    "home.search_button": ("搜索", "Search"),
    "home.empty": ("暂无已发布的项目", "No published tenders yet"),
    "home.total": ("共 {n} 个项目", "{n} tenders"),
    "tender.code": ("项目编号", "Code"),
    "tender.title": ("项目名称", "Title"),
    "tender.region": ("地区", "Region"),
    "tender.owner": ("招标人", "Tenderer"),
    "tender.budget": ("预算（元）", "Budget (CNY)"),
    "tender.status": ("状态", "Status"),
    "tender.published_at": ("发布时间", "Published"),
    "status.published": ("招标中", "Open for bids"),
    "status.bidding_closed": ("已截标", "Bidding closed"),
    "status.opened": ("已开标", "Opened"),
    "status.evaluating": ("评标中", "Under evaluation"),
    "status.awarded": ("已定标", "Awarded"),
    "status.failed": ("流标", "Failed"),
    "status.cancelled": ("已终止", "Cancelled"),
    "login.title": ("用户登录", "Sign in"),
    "login.login": ("登录名", "Login"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.error": ("用户名或密码错误", "Wrong login or password"),
    "login.locked": ("登录失败次数过多，账号或地址已暂时锁定，请稍后再试",
                     "Too many failed sign-ins: locked for a while, try again later"),
    "login.signed_in_as": ("当前用户", "Signed in as"),
    "page.prev": ("上一页", "Previous"),
    "page.next": ("下一页", "Next"),
    "footer.verify": ("所有签名文件均可使用 openssl 与 pdfsig 离线验证",
                      "Every signed artifact verifies offline with openssl and pdfsig"),
}


MESSAGES: dict[str, tuple[str, str]] = dict(_BASE)


def install(*tables: dict[str, tuple[str, str]]) -> None:
    """The domains' page texts over core's, installed once by the application
    (``app.create_app``): a key defined twice is a mistake, refused."""
    merged = dict(_BASE)
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:
            raise ValueError(f"page texts defined twice: {sorted(clash)}")
        merged.update(table)
    MESSAGES.clear()
    MESSAGES.update(merged)


def pick_lang(cookie: str | None, accept: str | None = None) -> str:
    if cookie in LANGS:
        return cookie
    return "zh"


def translator(lang: str) -> Callable[..., str]:
    index = 1 if lang == "en" else 0

    def t(key: str, **kwargs: Any) -> str:
        text = MESSAGES.get(key, (key, key))[index]
        return text.format(**kwargs) if kwargs else text

    return t
