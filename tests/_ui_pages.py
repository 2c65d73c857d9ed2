"""Reading the viewer's HTML pages in tests: links, tags and the text as a reader sees it."""

from __future__ import annotations

import html.parser
from typing import Any

_BLOCKS = {"td", "th", "li", "div", "p", "tr", "h1", "h2", "h3", "pre", "summary", "ul", "ol"}


class Collector(html.parser.HTMLParser):
    """Parses the page (it must be well-formed enough to parse) and keeps links and text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in _BLOCKS:
            self.text.append(" ")
        if tag == "a":
            self.links += [v for k, v in attrs if k == "href" and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def words(self) -> str:
        """The text as a reader sees it: blocks apart, inline pieces together."""
        return " ".join("".join(self.text).split())


async def get_page(client: Any, path: str, status: int = 200) -> Collector:
    response = await client.get(path)
    assert response.status_code == status, path
    assert response.content_type.startswith("text/html")
    page = Collector()
    page.feed(await response.get_data(as_text=True))
    return page
