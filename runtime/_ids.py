"""Instance ids: a caller's checked, new ones made."""

from __future__ import annotations

import random
import time
import uuid


def instance_id_problem(instance_id: str) -> str | None:
    """What is wrong with a caller's instance id, if anything: it must be 1 to 200
    characters and name one path segment of a URL (``/instances/{id}``), in text every
    store can hold."""
    if not instance_id or len(instance_id) > 200:
        return "must be 1 to 200 characters"
    if "\x00" in instance_id:
        return "must not contain a NUL character (U+0000)"
    if not instance_id.isascii():
        try:
            instance_id.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone surrogate (not valid Unicode text)"
    if "/" in instance_id:
        return "must not contain '/' (it names one segment of a URL path)"
    if instance_id in (".", ".."):
        return "must not be '.' or '..' (a URL path would drop it)"
    return None


def new_instance_id() -> str:
    """A UUIDv7-style hex id: time-ordered, so new instances' rows and journal records land
    at the end of their B-trees instead of all over them (fewer pages touched per commit)."""
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | random.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value).hex
