"""create_app(settings): the FastAPI app; its lifespan starts and stops the services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fleetdeck import __version__, datadir
from fleetdeck.alerts.evaluator import Evaluator
from fleetdeck.api import (
    agent_socket,
    agents,
    alerts,
    auth,
    config_bundle,
    downloads,
    fleet,
    groups,
    health,
    history,
    notifications,
    oidc,
    processes,
    prometheus,
    registration_rules,
    roles,
    security,
    settings,
    stream,
    tokens,
    users,
)
from fleetdeck.api import (
    audit as audit_api,
)
from fleetdeck.api.errors import BodyLimitMiddleware, install_error_handlers
from fleetdeck.api.headers import RateLimitHeaders
from fleetdeck.auth import keys, lockout
from fleetdeck.auth import service as auth_service
from fleetdeck.auth.ratelimit import SlidingWindow
from fleetdeck.bus.memory import MemoryBus
from fleetdeck.collect.host import HostCollector, default_collectors
from fleetdeck.config import Settings
from fleetdeck.fleet.groups import GroupIndex
from fleetdeck.fleet.hub import Hub
from fleetdeck.fleet.local import LocalMonitor
from fleetdeck.memory import tune_garbage_collector
from fleetdeck.notify.delivery import Deliverer, DeliveryPolicy
from fleetdeck.store import audit, migrate, sessions, settings_kv
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.engine import TimeSeriesStore
from fleetdeck.web import routes as web_routes

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 3600.0


def _announce_generated_password(password: str) -> None:
    line = "=" * 64
    log.warning(
        "\n%s\n  First start: created user 'admin' with password\n\n      %s\n\n"
        "  It is shown only this once and must be changed at first login.\n%s",
        line,
        password,
        line,
    )


async def _housekeeping(db: Database) -> None:
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        try:
            async with db.write() as conn:
                await sessions.delete_expired(conn)
        except Exception:
            log.exception("housekeeping failed")


UPKEEP_SECONDS = 30.0


async def _alert_upkeep(evaluator: Evaluator) -> None:
    """Reminders of firing alerts, and the pending ones saved (they live in memory)."""
    while True:
        await asyncio.sleep(UPKEEP_SECONDS)
        try:
            await evaluator.remind()
        except Exception:
            log.exception("alert reminders failed")
        await evaluator.save_pending()


async def _stored_interval(db: Database, configured: float) -> float:
    async with db.read() as conn:
        stored = await settings_kv.get(conn, settings.REFRESH_KEY)
    return float(stored) if isinstance(stored, int | float) else configured


async def _retention_in_force(db: Database, config: Settings) -> dict[str, int]:
    return settings.effective_retention_ms(config, await settings.stored_retention(db))


SHARED_SETTINGS_SECONDS = 60.0


async def _follow_shared_settings(
    db: Database, config: Settings, monitor: LocalMonitor, tsdb: TimeSeriesStore
) -> None:
    """Servers sharing one database (scale-out) take a setting changed through another one
    within a minute: the refresh interval, and the metric retention, which the hourly job here
    would otherwise keep enforcing with the old values (undoing a longer one set elsewhere)."""
    while True:
        await asyncio.sleep(SHARED_SETTINGS_SECONDS)
        try:
            interval = await _stored_interval(db, config.refresh_interval)
            if interval != monitor.interval:
                monitor.set_interval(interval)
            retention = await _retention_in_force(db, config)
            if retention != tsdb.retention_ms:
                log.info("metric retention changed through another server: %s", retention)
                tsdb.set_retention(retention)
        except Exception:
            log.exception("could not read the settings shared with other servers")


def open_database(config: Settings) -> Database:
    """The configured database, signing audit events with the data dir's key."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(
        config.effective_database_url, audit_key=keys.load_or_create(config.data_dir, "audit")
    )


def auth_config(config: Settings) -> auth_service.AuthConfig:
    return auth_service.AuthConfig(
        policy=lockout.Policy(
            threshold=config.lockout_threshold,
            duration=timedelta(seconds=config.lockout_duration),
        ),
        box=keys.SecretBox(keys.load_or_create(config.data_dir, "secret")),
        session_ttl=config.session_ttl,
    )


def create_app(config: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        url = config.effective_database_url
        if not getattr(app.state, "database_current", False):  # `fleetdeck server` checked it
            await asyncio.to_thread(migrate.ensure_current, url)
        db = open_database(config)
        async with db.write() as conn:
            signed = await audit.sign_unsigned(conn)
        if signed:
            log.info("signed %d audit events written before the audit chain existed", signed)
        admin_password = config.admin_password.get_secret_value() if config.admin_password else None
        generated = await auth_service.bootstrap(db, admin_password)
        if generated:
            _announce_generated_password(generated)
        tsdb = TimeSeriesStore(
            db,
            config.data_dir / datadir.TSDB_WAL_DIR,
            await _retention_in_force(db, config),
            flush_interval=config.tsdb_flush_interval,
            compaction_interval=config.tsdb_compaction_interval,
        )
        await tsdb.open()
        bus = MemoryBus()
        collector = HostCollector(
            default_collectors(config.top_processes), heavy_interval=config.process_interval
        )
        access = auth_config(config)
        deliverer = Deliverer(
            db,
            access.box,
            DeliveryPolicy(
                max_attempts=config.notify_max_attempts,
                base_delay=config.notify_retry_base,
                allow_private=config.notify_allow_private,
            ),
        )
        evaluator = Evaluator(db, on_queued=deliverer.wake)
        await evaluator.load()
        group_index = GroupIndex(db)
        await group_index.reload()
        interval = await _stored_interval(db, config.refresh_interval)
        monitor = LocalMonitor(bus, collector, interval, tsdb, evaluator, group_index)
        app.state.db, app.state.bus, app.state.monitor, app.state.tsdb = db, bus, monitor, tsdb
        app.state.auth_config = access
        app.state.evaluator, app.state.deliverer = evaluator, deliverer
        app.state.groups = group_index
        hub = Hub(db, bus, tsdb, evaluator, group_index)
        await hub.load()
        app.state.hub = hub
        tasks = [
            asyncio.create_task(hub.run()),
            asyncio.create_task(monitor.run()),
            asyncio.create_task(tsdb.run()),
            asyncio.create_task(_housekeeping(db)),
            asyncio.create_task(deliverer.run()),
            asyncio.create_task(_alert_upkeep(evaluator)),
            asyncio.create_task(_follow_shared_settings(db, config, monitor, tsdb)),
        ]
        if config.backup_dir is not None:  # imported only then: tarfile, gzip, hashlib
            from fleetdeck import backup_schedule

            app.state.backup_status = backup_schedule.Status()
            tasks.append(
                asyncio.create_task(backup_schedule.run(config, db, app.state.backup_status))
            )
        tune_garbage_collector()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                await hub.persist()
            except Exception:
                log.exception("could not record when agents were last seen")
            await evaluator.save_pending()
            for agent_id in list(hub.links):  # agents reconnect to the next server process
                await hub.disconnect(agent_id, 1012, "server restarting")
            try:
                await tsdb.close()
            except Exception:  # the WAL still holds everything; the next start replays it
                log.exception("could not compact time series at shutdown")
            await db.close()

    app = FastAPI(
        title="fleetdeck",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.settings = config
    app.state.started_monotonic = time.monotonic()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    # Pages, scripts and history replies shrink 3-5x; the SSE stream is left uncompressed.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.include_router(health.router)
    app.include_router(downloads.router)
    app.include_router(web_routes.router)
    app.mount("/static", StaticFiles(directory=web_routes.STATIC_DIR), name="static")
    app.state.login_limiter = SlidingWindow(config.login_rate_limit)
    app.state.enroll_limiter = SlidingWindow(config.enroll_rate_limit)
    app.state.api_limiter = SlidingWindow(config.api_rate_limit) if config.api_rate_limit else None
    app.add_middleware(RateLimitHeaders)
    if config.trusted_proxies:  # added last: outermost, so everything sees the real client
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=config.trusted_proxies)

    app.include_router(prometheus.router)
    for module in (
        auth,
        users,
        roles,
        tokens,
        security,
        oidc,
        audit_api,
        alerts,
        notifications,
        groups,
        agents,
        agent_socket,
        fleet,
        registration_rules,
        config_bundle,
        stream,
        history,
        processes,
        settings,
    ):
        app.include_router(module.router, prefix="/api/v1")
    return app
