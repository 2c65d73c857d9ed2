"""Damaging a real database file, as a failing disk or a stray write would."""

from __future__ import annotations

import apsw


def damage_a_journal_page(db: str) -> None:
    """Overwrite one leaf page of the journal table, in the middle of the file, with bytes
    that are no SQLite page (the file must be closed, its WAL checkpointed)."""
    conn = apsw.Connection(db)
    pages = [
        page
        for (page,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'journal' AND pagetype = 'leaf' ORDER BY pageno"
        )
    ]
    size: int = conn.pragma("page_size")
    conn.close()
    with open(db, "r+b") as file:
        file.seek((pages[len(pages) // 2] - 1) * size)
        file.write(bytes(range(256)) * (size // 256))
