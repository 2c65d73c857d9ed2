"""The ids of called instances: a child's id names its parent and calling element."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from runtime._calls import child_instance_id, parent_of

# An element id is an XML NCName (never a ':'); a parent id is any instance id.
ELEMENT_IDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,30}", fullmatch=True)
PARENT_IDS = st.text(alphabet=string.printable.replace("/", ""), min_size=1, max_size=60)


@given(parent=PARENT_IDS, element=ELEMENT_IDS, call=st.integers(min_value=1, max_value=10**6))
def test_a_child_id_gives_back_its_parent_and_element(parent: str, element: str, call: int) -> None:
    assert parent_of(child_instance_id(parent, element, call)) == (parent, element)


@given(parent=PARENT_IDS, element=ELEMENT_IDS, call=st.integers(min_value=1, max_value=10**6))
def test_the_grandchild_of_a_call_names_the_child_as_its_parent(
    parent: str, element: str, call: int
) -> None:
    child = child_instance_id(parent, element, call)
    assert parent_of(child_instance_id(child, "Inner", 1)) == (child, "Inner")


def test_ids_made_otherwise_have_no_parent() -> None:
    for instance_id in ("01a249c0e3467032993cd2206b56a7a3", "order-A1", "a:b", "a:b:0", "a:1b:2"):
        assert parent_of(instance_id) is None
