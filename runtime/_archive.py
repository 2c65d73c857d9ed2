"""``Archive``: where retention writes the instances it deletes, before it deletes them.

Each deleted instance is one line of JSON (JSON Lines): its row and its whole journal. The
lines are written and fsynced before the delete that removes them commits, so a crash in
between loses nothing: the instance is still stored, and the next pass archives it again
(an archive may hold an instance twice; the later line is the same instance, unchanged,
since a finished instance never changes). A crash while a line is written leaves that line
torn, on a line of its own: it is an instance that was not deleted, archived again later.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

import attrs

from ._convert import dumps, loads
from .store import InstanceRow, StoredRecord


def _path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


@attrs.define(eq=False)
class Archive:
    """Appends deleted instances to ``path``: one JSON Lines file, or, when ``path`` is a
    directory (it exists, or it ends with a separator), a file per UTC day the instances
    finished on, ``YYYY-MM-DD.jsonl``."""

    path: str = attrs.field(converter=_path)
    directory: bool = attrs.field(init=False)

    @directory.default
    def _is_directory(self) -> bool:
        return os.path.isdir(self.path) or self.path.endswith((os.sep, "/"))

    def write(self, instances: Sequence[tuple[InstanceRow, Sequence[StoredRecord]]]) -> None:
        """Append ``instances`` (each a row and its journal) and fsync them; raises
        ``OSError`` when they cannot be, and then nothing may be deleted."""
        files: dict[str, list[str]] = {}
        for row, journal in instances:
            files.setdefault(self._file_for(row), []).append(dumps(archived(row, journal)))
        if self.directory:
            os.makedirs(self.path, exist_ok=True)
        for name, lines in files.items():
            _append(name, lines)

    def _file_for(self, row: InstanceRow) -> str:
        if not self.directory:
            return self.path
        day = dt.datetime.fromtimestamp(row.updated_at, dt.UTC).date().isoformat()
        return os.path.join(self.path, f"{day}.jsonl")


def archived(row: InstanceRow, journal: Iterable[StoredRecord]) -> dict[str, Any]:
    """One archive line: the instance row (JSON columns as JSON) and its journal."""
    return {
        "id": row.id,
        "workflow": row.workflow,
        "status": row.status,
        "input": loads(row.input),
        "output": None if row.output is None else loads(row.output),
        "error": None if row.error is None else loads(row.error),
        "waiting_on": None if row.waiting_on is None else loads(row.waiting_on),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "last_seq": row.last_seq,
        "run": row.run,
        "run_seq": row.run_seq,
        "journal": [
            {
                "seq": record.seq,
                "kind": record.kind,
                "version": record.version,
                "at": record.at,
                "data": loads(record.data),
            }
            for record in journal
        ],
    }


def _torn(file: BinaryIO) -> bool:
    """Whether the file does not end with a whole line."""
    file.seek(-1, os.SEEK_END)
    return file.read(1) != b"\n"


def _append(name: str, lines: list[str]) -> None:
    created = not os.path.exists(name)
    with open(name, "a+b") as file:
        text = "".join(line + "\n" for line in lines)
        if file.seek(0, os.SEEK_END) and _torn(file):
            text = "\n" + text  # a crash mid-write left half a line: it stays on its own
        file.write(text.encode())
        file.flush()
        os.fsync(file.fileno())
    if created:  # the file's name must survive a crash too
        directory = os.open(os.path.dirname(os.path.abspath(name)), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
