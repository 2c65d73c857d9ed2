"""Three ``trioflow serve`` processes on one PostgreSQL database (``_cluster``): a client may
send anything to any of them. An event or a cancel sent to a server that does not drive the
instance reaches the one that does; a result is answered by any; and when the server that
drives an instance is killed, an event sent meanwhile is not lost: the instance completes where
it is taken over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _cluster import Server, cluster, until
from _stores import POSTGRES_URL, fresh_postgres_url

from runtime.store import open_read_only

CE_JSON = {"Content-Type": "application/cloudevents+json"}


async def start(server: Server, instance_id: str) -> None:
    headers = {"Idempotency-Key": instance_id}
    answer = await server.client.post("/workflows/cluster_order", json=instance_id, headers=headers)
    assert answer.status_code == 202, answer.text


async def pay(server: Server, instance_id: str) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "source": "/routing-test",
        "id": f"paid-{instance_id}",
        "type": "cluster.paid",
        "subject": instance_id,
    }
    answer = await server.client.post("/events", content=json.dumps(event), headers=CE_JSON)
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def result(server: Server, instance_id: str, wait: float = 30) -> dict[str, Any]:
    answer = await server.client.get(
        f"/instances/{instance_id}/result",
        params={"wait": wait},
        timeout=httpx.Timeout(wait + 10),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def waits_for_payment(url: str, instance_id: str) -> bool:
    """Whether the instance waits for its CloudEvent now (past its activity and timer)."""
    with open_read_only(url) as store:
        return any(wait.type == "cluster.paid" for wait in store.waits_of(instance_id))


async def test_any_server_takes_an_event_or_a_cancel_for_an_instance_another_drives(
    tmp_path: Path,
) -> None:
    with fresh_postgres_url() as url:
        async with cluster(url, tmp_path, lease=2) as (first, second, third):
            for instance_id in ("paid-on-second", "cancelled-on-second"):
                await start(first, instance_id)
            await until(lambda: waits_for_payment(url, "paid-on-second"), 30, "it waits")
            answer = await pay(second, "paid-on-second")
            assert (answer["delivered"], answer["forwarded"]) == ([], ["paid-on-second"])
            assert await result(third, "paid-on-second") == {
                "status": "completed",
                "output": "paid-on-second",
            }
            cancelled = await second.client.post(
                "/instances/cancelled-on-second/cancel", json={"reason": "sent to second"}
            )
            assert cancelled.status_code == 202, cancelled.text
            outcome = await result(third, "cancelled-on-second")
            assert outcome["status"] == "cancelled"
            assert "sent to second" in json.dumps(outcome)


async def test_an_event_sent_while_its_server_is_dead_completes_the_instance_elsewhere(
    tmp_path: Path,
) -> None:
    with fresh_postgres_url() as url:
        async with cluster(url, tmp_path, lease=2) as (first, second, third):
            await start(first, "orphaned")
            await until(lambda: waits_for_payment(url, "orphaned"), 30, "it waits")
            first.process.kill()
            await first.process.wait()
            # Within the lease the dead server still owns it: the event is stored for it.
            await pay(second, "orphaned")
            assert await result(third, "orphaned") == {"status": "completed", "output": "orphaned"}


async def test_a_server_whose_listening_connection_is_killed_still_gets_what_is_sent_to_it(
    tmp_path: Path,
) -> None:
    with fresh_postgres_url() as url:
        async with cluster(url, tmp_path, lease=10) as (first, second, _):
            await start(first, "unheard")
            await until(lambda: waits_for_payment(url, "unheard"), 30, "it waits")
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN %%' AND application_name LIKE %s",
                    (f"trioflow pid {first.pid} %",),
                ).fetchall()
            assert killed == [(True,)]
            assert (await pay(second, "unheard"))["forwarded"] == ["unheard"]
            assert await result(second, "unheard") == {"status": "completed", "output": "unheard"}
