"""Metric history, export and the store's statistics (Tyto /history and /export/metrics,
Pulse /metrics-store/stats)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fleetdeck.api.deps import HubDep, MonitorDep, TsdbDep, known_agent, require_on_host
from fleetdeck.auth.service import Principal
from fleetdeck.clock import parse_time, rfc3339_from_epoch, rfc3339_ms, rfc3339_ms_all, to_ms
from fleetdeck.errors import Invalid, NotFound
from fleetdeck.fleet.hub import Hub
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.tsdb import series
from fleetdeck.tsdb.engine import ALL_RESOLUTIONS, Column, QueryResult, TimeSeriesStore, now_ms

router = APIRouter(tags=["history"])

RANGES = {"5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "12h": 43200,
          "24h": 86400, "7d": 604800}  # fmt: skip
DEFAULT_SPAN_MS = 3_600_000

Reader = Annotated[Principal, Depends(require_on_host("metrics:read"))]
ResolutionQuery = Annotated[Literal["raw", "1m", "5m", "1h"] | None, Query()]
RangeQuery = Annotated[Literal["5m", "15m", "30m", "1h", "4h", "12h", "24h", "7d"] | None, Query()]
TimeQuery = Annotated[str | None, Query(max_length=64)]


@dataclass
class Selection:
    host: str
    start: int
    end: int
    resolution: str
    keys: list[str]


def _time(value: str, name: str) -> int:
    try:
        return to_ms(parse_time(value))
    except ValueError as exc:
        raise Invalid(
            f"{name} is not an ISO 8601 time or Unix seconds: {value!r}",
            code="INVALID_TIME",
            details={"field": name, "value": value},
        ) from exc


def _bounds(start: str | None, end: str | None, span: str | None) -> tuple[int, int]:
    stop = _time(end, "to") if end else now_ms()
    if span and start:
        raise Invalid("give either range or from, not both", code="INVALID_RANGE")
    if span:
        begin = stop - RANGES[span] * 1000
    else:
        begin = _time(start, "from") if start else stop - DEFAULT_SPAN_MS
    if begin > stop:
        raise Invalid("from is after to", code="INVALID_RANGE", details={"from": start, "to": end})
    return begin, stop


def _keys(tsdb: TimeSeriesStore, host: str, metrics: str | None) -> list[str]:
    available = tsdb.keys(host)
    names = [m.strip() for m in (metrics or "").split(",") if m.strip()]
    if not names:  # absent, empty or only commas: every series
        return available
    chosen: list[str] = []
    for name in names:
        families = series.GROUPS.get(name, (name,))
        matches = [k for k in available if k == name or series.family(k) in families]
        # A family or group this host lacks (no GPU) selects nothing; a name we never store
        # is refused.
        if not matches and name not in series.METRICS and name not in series.GROUPS:
            raise Invalid(
                f"unknown metric {name!r} for agent {host!r}",
                code="UNKNOWN_METRIC",
                details={"metric": name, "available": available},
            )
        chosen.extend(k for k in matches if k not in chosen)
    return chosen


def _select(
    tsdb: TimeSeriesStore,
    hub: Hub,
    agent_id: str | None,
    start: str | None,
    end: str | None,
    span: str | None,
    resolution: str | None,
    metrics: str | None,
) -> Selection:
    host = agent_id or LOCAL_AGENT_ID
    # An approved agent that has not reported yet has no history, but is no stranger; a
    # removed one keeps what it stored until retention takes it.
    if host != LOCAL_AGENT_ID and host not in tsdb.hosts() and host not in hub.states:
        raise NotFound(f"no agent {host!r}", code="AGENT_NOT_FOUND")
    begin, stop = _bounds(start, end, span)
    res = resolution or tsdb.pick_resolution(host, begin, stop)
    # The effective bounds: no later than now, no earlier than what `res` keeps (a span wholly
    # outside is the empty [stop, stop]), so no reader walks years without data.
    stop = min(stop, now_ms())
    begin = min(max(begin, tsdb.kept_since(res)), stop)
    return Selection(host, begin, stop, res, _keys(tsdb, host, metrics))


def _json_texts(values: Sequence[object]) -> list[bytes]:
    """orjson's text of each value, all formatted in one C call: the dumped list cut at its
    commas (numbers and times hold none)."""
    return orjson.dumps(values)[1:-1].split(b",") if values else []


def _place_series(parts: list[bytes], at: int, stride: int, key: str, column: Column) -> None:
    """Writes one series' `,"key":{"avg":…,"min":…,"max":…}` into its seven slots of each
    entry (every `stride`-th piece from `at`); a point it lacks leaves them empty."""
    label = b"," + orjson.dumps(key) + b':{"avg":'
    avgs, lows, highs = (_json_texts(c) for c in column)  # `null` where there is no point
    slots: tuple[bytes | list[bytes], ...] = (
        label,
        avgs,
        b',"min":',
        lows,
        b',"max":',
        highs,
        b"}",
    )
    for offset, slot in enumerate(slots):
        parts[at + offset :: stride] = [slot] * len(avgs) if isinstance(slot, bytes) else slot
    if None in column[0]:
        for i in compress(range(len(avgs)), map(is_, column[0], repeat(None))):
            start = at + i * stride
            parts[start : start + len(slots)] = [b""] * len(slots)


def _history_json(sel: Selection, result: QueryResult) -> bytes:
    """The Tyto reply. A week at 5 minutes is 2,016 entries of up to a dozen metrics: as dicts
    for orjson, building them took longer than the store's query (bench/history_query). The
    reply is laid out as one list of pieces instead, each series' numbers formatted by one
    orjson call and put in place by slice assignment, every loop running in C; a point a
    series lacks leaves its key out of the entry."""
    axis = result.axis
    keys, columns = (result.keys, result.columns) if axis else ([], [])
    stride = 3 + 7 * len(keys)  # `,{"timestamp":`, the time, seven per series, `}`
    parts = [b""] * (len(axis) * stride)
    parts[0::stride] = [b',{"timestamp":'] * len(axis)
    parts[1::stride] = _json_texts(rfc3339_ms_all(axis))
    for i, (key, column) in enumerate(zip(keys, columns, strict=True)):
        _place_series(parts, 2 + 7 * i, stride, key, column)
    parts[stride - 1 :: stride] = [b"}"] * len(axis)
    head = orjson.dumps(
        {
            "from": rfc3339_ms(result.start),
            "to": rfc3339_ms(result.end),
            "resolution": result.resolution,
            "agent_id": sel.host,
            "metrics": result.keys,
        }
    )
    return b'%b,"data":[%b]}' % (head[:-1], b"".join(parts)[1:])


def history_response(sel: Selection, result: QueryResult) -> Response:
    return Response(_history_json(sel, result), media_type="application/json")


@dataclass
class HistoryParams:
    start: str | None
    end: str | None
    span: str | None
    resolution: str | None
    agent_id: str | None
    metrics: str | None

    @property
    def has_window(self) -> bool:
        return bool(self.start or self.end or self.span)

    def select(self, tsdb: TimeSeriesStore, hub: Hub) -> Selection:
        return _select(
            tsdb, hub, self.agent_id, self.start, self.end, self.span, self.resolution, self.metrics
        )


def history_params(
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to: TimeQuery = None,
    range_: Annotated[RangeQuery, Query(alias="range")] = None,
    resolution: ResolutionQuery = None,
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
    metrics: Annotated[str | None, Query(max_length=2000)] = None,
) -> HistoryParams:
    """The query parameters /history and /export/metrics share."""
    return HistoryParams(from_, to, range_, resolution, agent_id, metrics)


Params = Annotated[HistoryParams, Depends(history_params)]


@router.get("/history", response_model=None)
async def history(_: Reader, tsdb: TsdbDep, hub: HubDep, params: Params) -> Response:
    """Points per metric with avg/min/max; without `resolution`, the one nearest ~1,000 points."""
    sel = params.select(tsdb, hub)
    result = await tsdb.query(sel.host, sel.start, sel.end, sel.resolution, sel.keys)
    return history_response(sel, result)


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


async def _csv_history(tsdb: TimeSeriesStore, sel: Selection) -> AsyncIterator[str]:
    """One column per series (the average at rollup resolutions), queried a window at a time
    so the export is streamed, never built in memory."""
    yield _csv_line(["timestamp", *sel.keys])
    window = 3_600_000 if sel.resolution == "raw" else 86_400_000
    cursor = sel.start
    while cursor <= sel.end:
        upper = min(cursor + window - 1, sel.end)
        result = await tsdb.query(sel.host, cursor, upper, sel.resolution, sel.keys)
        averages = [avgs for avgs, _, _ in result.columns]
        for i, ts in enumerate(result.axis):
            if cursor <= ts <= upper:
                cells = ["" if a[i] is None else a[i] for a in averages]
                yield _csv_line([rfc3339_ms(ts), *cells])
        cursor = upper + 1


def _current_csv(snapshot: dict[str, Any]) -> str:
    pairs = list(dict(series.from_snapshot(snapshot)).items())
    return _csv_line(["timestamp", *(k for k, _ in pairs)]) + _csv_line(
        [snapshot.get("timestamp", ""), *(v for _, v in pairs)]
    )


@router.get("/export/metrics", response_model=None)
async def export_metrics(
    _: Reader,
    tsdb: TsdbDep,
    monitor: MonitorDep,
    hub: HubDep,
    params: Params,
    format: Literal["json", "csv"] = "json",  # the Tyto parameter name
) -> Response:
    """The current snapshot, or with from/to/range the history, as JSON or CSV."""
    if not params.has_window:
        host = known_agent(params.agent_id, hub)
        snapshot = (monitor.latest if host == LOCAL_AGENT_ID else hub.latest(host)) or {}
        if format == "json":
            return JSONResponse(snapshot)
        return StreamingResponse(
            iter([_current_csv(snapshot)]),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="fleetdeck-metrics.csv"'},
        )
    sel = params.select(tsdb, hub)
    if format == "json":
        result = await tsdb.query(sel.host, sel.start, sel.end, sel.resolution, sel.keys)
        return history_response(sel, result)
    name = f"fleetdeck-{sel.host}-{sel.resolution}.csv"
    return StreamingResponse(
        _csv_history(tsdb, sel),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _age(seconds: float | None) -> str | None:
    return None if seconds is None else rfc3339_from_epoch(seconds)


@router.get("/metrics-store/stats")
async def metrics_store_stats(_: Reader, tsdb: TsdbDep) -> dict[str, Any]:
    """Series, samples and bytes per resolution, oldest samples, sizes, last jobs, retention."""
    counts = await tsdb.stats()
    rollups = counts["rollups"]
    oldest = {
        "raw": counts["raw_oldest"],
        **{r: rollups.get(r, {}).get("oldest") for r in ("1m", "5m", "1h")},
    }
    return {
        "series": counts["series"],
        "series_ended": tsdb.ended_series,  # in no layout any more, kept for their history
        "samples": {
            "raw": counts["raw_samples"] + counts["head_samples"],
            **{r: rollups.get(r, {}).get("samples", 0) for r in ("1m", "5m", "1h")},
        },
        "stored_bytes": {
            "raw": counts["raw_bytes"],
            **{r: rollups.get(r, {}).get("bytes", 0) for r in ("1m", "5m", "1h")},
        },
        "oldest_sample": {k: (rfc3339_ms(v) if v is not None else None) for k, v in oldest.items()},
        "uncompacted_samples": counts["head_samples"],
        "wal_bytes": counts["wal_bytes"],
        "database_bytes": counts["database_bytes"],
        "last_rollup": _age(tsdb.last_compaction),
        "rolled_up_until": rfc3339_ms(tsdb.rolled_until),  # 5m and 1h hold the hours before
        "last_retention_run": _age(tsdb.last_retention),
        "retention_seconds": tsdb.retention_seconds,
        "resolutions": list(ALL_RESOLUTIONS),
    }
