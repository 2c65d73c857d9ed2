"""Whatever text a caller sends as an instance id or an event attribute, every store either
keeps it exactly or the runtime refuses it up front (`InvalidInput` naming it): never a store
error afterwards. PostgreSQL's text holds no NUL character, SQLite's does; both refuse it alike."""

from __future__ import annotations

import pytest
import trio
from _stores import KINDS, fresh_database, skip_without_postgres
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import Event, InvalidInput, Runtime, WorkflowContext, workflow


@workflow(name="text_echo")
async def echo(ctx: WorkflowContext, x: int) -> int:
    return x


# Every code point, surrogates and NUL included, with NUL and '/' drawn often.
_ANY_CHAR = st.one_of(st.sampled_from("\x00/\ud800"), st.characters(codec=None, categories=None))
_TEXT = st.text(_ANY_CHAR, min_size=1, max_size=12)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ids=st.lists(_TEXT, min_size=1, max_size=25, unique=True),
    attributes=st.lists(_TEXT, min_size=4, max_size=4),
)
def test_text_is_kept_exactly_or_refused_up_front(
    kind: str, ids: list[str], attributes: list[str]
) -> None:
    if kind == "postgres":
        skip_without_postgres()

    async def main(where: str) -> None:
        async with Runtime.open(where) as rt:
            for instance_id in ids:
                try:
                    await rt.start(echo, 1, instance_id=instance_id)
                except InvalidInput as refused:
                    assert "instance_id" in str(refused)
                    continue
                assert (await rt.get(instance_id)).id == instance_id
            type_, source, id_, subject = attributes
            try:
                event = Event(type=type_, source=source, id=id_, subject=subject)
            except InvalidInput as refused:
                assert "event." in str(refused)
                return
            await rt.publish(event)
            await rt.publish(event)  # the redelivery is found by the same text

    with fresh_database(kind) as where:
        trio.run(main, where)
