"""The OpenAPI document, made true to the platform's error body, and its Swagger UI page.

Litestar documents its own error body (``status_code, detail, extra``) for the errors
it knows a handler may raise; every error here is ``{code, message, message_en,
detail}`` (core/errors.py) and any operation can answer one (not signed in, not
found, busy, a refused input). So every operation documents the ``4XX`` and ``5XX``
ranges with that one shared body, and none of Litestar's.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Litestar, Request
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="Error",
    description="Every error: a stable machine code, a message in Chinese and in English, "
                "and details that depend on the code.",
    required=["code", "message", "message_en", "detail"],
    properties={
        "code": Schema(type=OpenAPIType.STRING, description="stable, machine-readable",
                       examples=["not_authenticated"]),
        "message": Schema(type=OpenAPIType.STRING, description="中文说明"),
        "message_en": Schema(type=OpenAPIType.STRING, description="the message in English"),
        "detail": Schema(description="depends on the code; null when there is nothing to add"),
    },
)
ERROR_RESPONSE = OpenAPIResponse(
    description="An error, with the platform's error body",
    content={"application/json": OpenAPIMediaType(schema=Reference("#/components/schemas/Error"))},
)
ERROR_RANGES = ("4XX", "5XX")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def document_errors(openapi: OpenAPI) -> OpenAPI:
    """Replace every operation's error responses by the shared ones (idempotent)."""
    components = openapi.components if isinstance(openapi.components, Components) else Components()
    components.schemas = {**(components.schemas or {}), "Error": ERROR_SCHEMA}
    components.responses = {**(components.responses or {}), "Error": ERROR_RESPONSE}
    openapi.components = components
    for item in (openapi.paths or {}).values():
        for method in _METHODS:
            operation = getattr(item, method, None)
            if operation is None:
                continue
            responses = {code: r for code, r in (operation.responses or {}).items()
                         if code[0] not in "45"}
            for code in ERROR_RANGES:
                responses[code] = Reference("#/components/responses/Error")
            operation.responses = responses
    return openapi


class _TruthfulOpenAPIPlugin(OpenAPIPlugin):
    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        return document_errors(super()._build_openapi())


def install(app: Litestar) -> None:
    """Have the app's OpenAPI plugin build the corrected document.

    Litestar creates its OpenAPI plugin itself and offers no hook after the build; the
    one instance this app holds is given the subclass above (same slots, one method
    more), so every build, including one after a route is added, is corrected.
    """
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin.__class__ = _TruthfulOpenAPIPlugin


class VendoredSwagger(SwaggerRenderPlugin):
    """Swagger UI from ``static/vendor`` and started by a static script: the page has no
    inline script and loads nothing from another host, as the CSP requires."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                         css_url="/static/vendor/swagger-ui/swagger-ui.css", favicon="", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return (
            "<!DOCTYPE html><html><head>"
            f"<title>{title}</title><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<link href=\"{self.css_url}\" rel=\"stylesheet\">"
            "</head><body>"
            "<div id=\"swagger-container\" data-spec-url=\"/schema/openapi.json\"></div>"
            f"<script src=\"{self.js_url}\"></script>"
            "<script src=\"/static/swagger-init.js\"></script>"
            "</body></html>"
        ).encode()
