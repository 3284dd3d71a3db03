"""Lists: `limit` (default 50, at most 1000) and `offset`; `X-Total-Count` and `Link` headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int


def _page(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(_page)]


def add_page_headers(request: Request, response: Response, page: Page, total: int) -> None:
    response.headers["X-Total-Count"] = str(total)
    links = []
    if page.offset + page.limit < total:
        url = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
        links.append(f'<{url}>; rel="next"')
    if page.offset > 0:
        url = request.url.include_query_params(
            offset=max(0, page.offset - page.limit), limit=page.limit
        )
        links.append(f'<{url}>; rel="prev"')
    if links:
        response.headers["Link"] = ", ".join(links)
