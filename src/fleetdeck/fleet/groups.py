"""Which groups each host is in, kept in memory for permission checks and alert scopes, and
reloaded whenever membership changes."""

from __future__ import annotations

from fleetdeck.store import groups
from fleetdeck.store.engine import Database


class GroupIndex:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._of: dict[str, frozenset[str]] = {}

    async def reload(self) -> None:
        async with self.db.read() as conn:
            self._of = await groups.membership(conn)

    def of(self, agent_id: str) -> frozenset[str]:
        return self._of.get(agent_id, frozenset())
