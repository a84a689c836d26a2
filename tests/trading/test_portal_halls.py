"""Each lot's opening hall is one click from where people are: my bids, the manage page."""

from __future__ import annotations

from tests.conftest import Client, login
from tests.trading.conftest import Lot, Tenderer
from tests.trading.test_bid_pages import find, page, three_states


async def test_my_bids_link_a_current_bid_to_its_hall(lot: Lot, client: Client) -> None:
    bids = await three_states(lot, client)
    html = await page(client, "/bids")
    rows = {r.attrs["data-bid"]: r for r in find(html, "bid-row")}
    hall = f"/hall/{lot.tender['lots'][0]['id']}"
    assert hall in rows[bids["submitted"]["id"]].hrefs
    # a replaced or withdrawn bid takes no part in the opening
    assert hall not in rows[bids["superseded"]["id"]].hrefs
    assert hall not in rows[bids["withdrawn"]["id"]].hrefs


async def test_the_manage_page_links_every_lot_hall(tenderer: Tenderer) -> None:
    lots = [{"number": n, "title": f"第{n}标段", "budget": "500000.00",
             "security_amount": "10000.00"} for n in (1, 2)]
    tender = await tenderer.published("T-HALL-1", lots=lots)
    await login(tenderer.client, tenderer.login)
    html = await page(tenderer.client, f"/workspace/tenders/{tender['id']}")
    (halls,) = find(html, "halls")
    assert {f"/hall/{lot['id']}" for lot in tender["lots"]} <= set(halls.hrefs)
