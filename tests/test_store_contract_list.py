"""Store.list (SQLite and PostgreSQL) in both orders, paging forwards and back, by id
prefix; counts by filter."""

from __future__ import annotations

import pytest

from runtime.store import Append, NewInstance, Page, Store, StoredRecord, Summary


def created(store: Store, instance_id: str, *, updated: float, **summary: str) -> None:
    record = StoredRecord(seq=1, kind="k", version=1, at=updated, data="{}")
    new = NewInstance(workflow=summary.pop("workflow", "wf"), input="{}", created_at=1000.0)
    status = summary.pop("status", "running")
    append = Append(
        instance_id=instance_id,
        records=(record,),
        summary=Summary(status=status, updated_at=updated),
        new=new,
    )
    assert store.write([append]) == [None]


def ids(page: Page) -> list[str]:
    return [row.id for row in page.items]


def test_updated_orders_sort_by_update_time_and_break_ties_by_creation(
    store: Store,
) -> None:
    for n, updated in enumerate([5.0, 9.0, 1.0, 9.0, 7.0]):
        created(store, f"i{n}", updated=updated)
    assert ids(store.list(order="-updated")) == ["i3", "i1", "i4", "i0", "i2"]
    assert ids(store.list(order="updated")) == ["i2", "i0", "i4", "i1", "i3"]


@pytest.mark.parametrize("order", ["created", "updated", "-updated"])
def test_pages_go_forwards_then_back_to_the_same_pages(store: Store, order: str) -> None:
    for n in range(8):
        created(store, f"i{n}", updated=float(n % 3))  # ties on updated_at across pages
    everything = ids(store.list(order=order))
    pages = [store.list(order=order, limit=3)]
    assert pages[0].prev_cursor is None
    while pages[-1].next_cursor is not None:
        pages.append(store.list(order=order, limit=3, cursor=pages[-1].next_cursor))
    assert [ids(p) for p in pages] == [everything[0:3], everything[3:6], everything[6:8]]
    back = pages[-1]
    for expected in reversed(pages[:-1]):
        assert back.prev_cursor is not None
        back = store.list(order=order, limit=3, cursor=back.prev_cursor)
        assert ids(back) == ids(expected)
        assert back.next_cursor is not None
    assert back.prev_cursor is None


def test_a_cursor_belongs_to_its_order(store: Store) -> None:
    for n in range(3):
        created(store, f"i{n}", updated=float(n))
    by_update = store.list(order="updated", limit=1)
    by_creation = store.list(order="created", limit=1)
    assert by_update.next_cursor is not None and by_creation.next_cursor is not None
    with pytest.raises(ValueError, match=r"^invalid cursor$"):
        store.list(order="created", cursor=by_update.next_cursor)
    with pytest.raises(ValueError, match=r"^invalid cursor$"):
        store.list(order="updated", cursor=by_creation.next_cursor)
    with pytest.raises(ValueError, match=r"^invalid cursor$"):
        store.list(order="-updated", cursor=by_update.next_cursor)
    with pytest.raises(ValueError, match="order must be one of created, updated, -updated"):
        store.list(order="name")


def test_id_prefix_is_a_prefix_with_case_and_no_wildcards(store: Store) -> None:
    for instance_id in ["order-1", "order-2", "Order-3", "orders%", "x_order", "ordér-4"]:
        created(store, instance_id, updated=1.0)
    assert ids(store.list(id_prefix="order-")) == ["order-1", "order-2"]
    assert ids(store.list(id_prefix="orders%")) == ["orders%"]
    assert ids(store.list(id_prefix="order_")) == []
    assert ids(store.list(id_prefix="ordé")) == ["ordér-4"]
    assert len(store.list(id_prefix="").items) == 6
    for edge in ["a\U0010ffff", "a\U0010ffffb", "a\ud7ff", "a\ud7ffc", "a\ue000"]:
        created(store, edge, updated=1.0)
    assert ids(store.list(id_prefix="a\U0010ffff")) == ["a\U0010ffff", "a\U0010ffffb"]
    assert ids(store.list(id_prefix="a\ud7ff")) == ["a\ud7ff", "a\ud7ffc"]
    assert ids(store.list(id_prefix="a")) == [
        "a\U0010ffff",
        "a\U0010ffffb",
        "a\ud7ff",
        "a\ud7ffc",
        "a\ue000",
    ]
    second = store.list(id_prefix="order", limit=1)
    assert ids(store.list(id_prefix="order", limit=5, cursor=second.next_cursor)) == [
        "order-2",
        "orders%",
    ]


def test_counts_by_status_with_filters(store: Store) -> None:
    created(store, "a1", updated=1.0, status="running", workflow="a")
    created(store, "a2", updated=1.0, status="completed", workflow="a")
    created(store, "b1", updated=1.0, status="running", workflow="b")
    assert store.counts_by_status() == {"running": 2, "completed": 1}
    assert store.counts_by_status(workflow="a") == {"running": 1, "completed": 1}
    assert store.counts_by_status(id_prefix="b") == {"running": 1}
    assert store.counts_by_status(workflow="b", id_prefix="a") == {}
