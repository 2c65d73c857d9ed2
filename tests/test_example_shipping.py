"""examples/shipping/ served by a real ``trioflow serve``: a call activity and a
multi-instance service task, driven over HTTP."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import defusedxml.ElementTree as DefusedET
from test_serve import server

SVG = "{http://www.w3.org/2000/svg}"
ITEMS = [{"sku": "tea", "price": 4.5}, {"sku": "cup", "price": 12}]


async def test_the_shipping_example_reserves_each_item_and_calls_the_payment(
    tmp_path: Path,
) -> None:
    async with server("examples/shipping/app.py", str(tmp_path / "shipping.db")) as (_, client):
        started = await client.post("/workflows/ship-order", json={"items": ITEMS})
        assert started.status_code == 202
        parent = started.json()["instance_id"]
        done = (await client.get(f"/instances/{parent}/result", params={"wait": 10})).json()
        assert done["status"] == "completed"
        assert done["output"] == {
            "items": ITEMS,
            "reservations": ["R-1-tea", "R-2-cup"],
            "receipt": "PAID-16.5",
        }
        listed = (await client.get("/instances", params={"workflow": "collect-payment"})).json()
        [child] = listed["items"]
        assert child["parent_id"] == parent and child["id"] == f"{parent}:Call_Payment:1"
        assert child["input"]["total"] == 16.5
        # It reports to its parent just before it ends: its own row may say so a moment later.
        ended = (await client.get(f"/instances/{child['id']}/result", params={"wait": 10})).json()
        assert ended["status"] == "completed" and ended["output"]["receipt"] == "PAID-16.5"

        svg = (await client.get(f"/instances/{parent}/diagram.svg")).text
        shapes = {g.get("data-element-id"): g for g in DefusedET.fromstring(svg).iter(f"{SVG}g")}
        link = shapes["Call_Payment"].find(f"{SVG}a")
        assert link is not None
        assert link.get("href") == "/ui/instances/" + urllib.parse.quote(child["id"], safe="")
        count = shapes["Task_Reserve"].find(f".//{SVG}text[@class='bpmn-instance-count']")
        assert count is not None and count.text == "2/2"

        # The viewer links both ways: the child's page to its parent, the parent's to it.
        page = await client.get(f"/ui/instances/{urllib.parse.quote(child['id'], safe='')}")
        assert page.status_code == 200
        assert f"class=parent-link href='/ui/instances/{parent}'" in page.text
        page = await client.get(f"/ui/instances/{parent}")
        assert "class=child-link" in page.text and child["id"] in page.text

        dear = [{"sku": "piano", "price": 5000}]
        declined = (await client.post("/workflows/ship-order", json={"items": dear})).json()
        iid = declined["instance_id"]
        result = (await client.get(f"/instances/{iid}/result", params={"wait": 10})).json()
        assert result["status"] == "completed" and "receipt" not in result["output"]
        document = (await client.get(f"/instances/{iid}")).json()
        assert document["status"] == "completed"
