"""A tender document is handed out as bytes to save, whatever type its uploader declared."""

from __future__ import annotations

import base64

from tests.trading.conftest import Tenderer


async def test_a_document_declared_as_html_is_not_served_as_a_page(tenderer: Tenderer) -> None:
    draft = await tenderer.draft("T-DL-HTML")
    data = b"<html><script>alert(document.cookie)</script></html>"
    r = await tenderer.client.post(f"/api/tenders/{draft['id']}/documents", files={
        "file": ("page.html", data, "text/html"),
        "signature": ("page.html.p7s", base64.b64decode(tenderer.sign(data)),
                      "application/pkcs7-signature")})
    assert r.status_code == 201, r.text
    doc = r.json()
    r = await tenderer.client.get(f"/api/tenders/{draft['id']}/documents/{doc['id']}")
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
