"""The composition root: builds the parameter store, the endpoint, the driver and the listeners.

Only this module (and the CLI above it) creates long-lived objects (ARCHITECTURE.md, "Layers");
everything below receives its collaborators. Parameters that the transport applies at run time
are wired here: SS_QOS_SIGNAL re-marks every socket, SS_TCP_CLOSE_RESET changes how connections
close, SS_SIP_RESEND_INTERVAL gives transactions started afterwards the new Timer A/E schedule.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch import __version__
from softswitch.api import HttpServer, create_app, load_overrides, serve_http
from softswitch.balance import Reservations, settle_rows
from softswitch.calls.build import Local
from softswitch.calls.control import (
    CallbackOutcome,
    CallbackRequest,
    LiveCallView,
    MonitorFigures,
)
from softswitch.calls.engine import CallEngine
from softswitch.cdr.writer import CdrWriter, CdrWriterConfig
from softswitch.manage import ChangeFeed, Unavailable
from softswitch.manage.param_sync import ParamSync
from softswitch.operators import OperatorService
from softswitch.params import ParamChange, ParamStore, load_catalog, resend_interval
from softswitch.runtime import heap
from softswitch.runtime.dispatcher import BasicDispatcher, Capabilities
from softswitch.runtime.keepalive import KeepAliveService
from softswitch.runtime.outbound import OutboundRegistrations
from softswitch.runtime.registrar import RegistrarService
from softswitch.runtime.reports_job import DailyReports
from softswitch.runtime.security import SecurityService
from softswitch.runtime.settings import Settings
from softswitch.security import AlarmView, EntryType, SecurityEntryView, SecurityFigures
from softswitch.sip.digest import Algorithm
from softswitch.sip.endpoint import Endpoint, EndpointConfig
from softswitch.sip.ids import RandomIds
from softswitch.sip.timers import TimerConfig
from softswitch.snapshot import Snapshot, SnapshotService
from softswitch.snapshot.rates import RATE_ENTITIES, RateSnapshot, build_rate_snapshot
from softswitch.storage.db import create_engine, sessions
from softswitch.storage.migrate import current_revision, upgrade_engine
from softswitch.storage.repos import ChangeFeedRepo, ParamOverrideRepo, RegistrationRepo
from softswitch.transport.addresses import HostPort
from softswitch.transport.driver import Driver
from softswitch.transport.relay import owns
from softswitch.transport.tls import client_context, ensure_self_signed, server_context

__all__ = [
    "CHANGE_FEED_INTERVAL",
    "PRODUCT",
    "SERVED_METHODS",
    "Seat",
    "Server",
    "load_params",
    "prepare_database",
    "run_forever",
]

_log = logging.getLogger(__name__)

PRODUCT = f"softswitch/{__version__}"
"""Our Server / User-Agent token (RFC 3261 §20.35, §20.41)."""

SERVED_METHODS = frozenset(
    {"ACK", "BYE", "CANCEL", "INFO", "INVITE", "OPTIONS", "PRACK", "REGISTER", "UPDATE"}
)
"""Methods the switch serves: our Allow header (§20.5). Other requests within a call's dialog
(NOTIFY, REFER, MESSAGE ...) are relayed to the other leg as well."""


CHANGE_FEED_INTERVAL = 1.0
"""Seconds between reads of the change feed: how soon a change made from a shell (rates
import, config apply, param set) reaches the running switch. Changes through its own API
are read at once."""


CDR_DIRECTORY = "cdr"
"""Where the CDR files (the writer's journal) live, under the data directory."""
REPORTS_DIRECTORY = "reports"
"""Where the daily report files are written, under the data directory."""

_CDR_PARAMS = frozenset(
    {
        "SERVER_CDR_FILE_WRITE_INTERVAL",
        "SERVER_CDR_FILE_WRITE_MAX",
        "SERVER_CDR_REAL_TIME_REPORT_SERVER",
        "SERVER_BILLING_NO_CDR_E164S",
        "SERVER_MAX_CDR_PENDING_LIST_LENGTH",
    }
)


def cdr_config(params: ParamStore) -> CdrWriterConfig:
    """The CDR writer's settings from the system parameters in force.

    An unusable SERVER_CDR_REAL_TIME_REPORT_SERVER (the catalogue types it as free text) turns
    the real-time report off with a warning instead of keeping the switch from writing CDRs.
    """
    base = CdrWriterConfig(
        file_interval_s=params.get_int("SERVER_CDR_FILE_WRITE_INTERVAL"),
        max_files=params.get_int("SERVER_CDR_FILE_WRITE_MAX"),
        no_cdr_e164s=params.get_str("SERVER_BILLING_NO_CDR_E164S"),
        max_pending=params.get_int("SERVER_MAX_CDR_PENDING_LIST_LENGTH"),
    )
    report = params.get_str("SERVER_CDR_REAL_TIME_REPORT_SERVER")
    try:
        return dataclasses.replace(base, report_server=report)
    except ValueError as exc:
        _log.warning("SERVER_CDR_REAL_TIME_REPORT_SERVER %r ignored: %s", report, exc)
        return base


def load_params(settings: Settings) -> ParamStore:
    """The parameter store: catalogue defaults plus the optional override file."""
    store = ParamStore(load_catalog())
    if settings.params_file is not None:
        store.load_file(settings.params_file)
    return store


def timer_config(params: ParamStore) -> TimerConfig:
    """Transaction timers from SS_SIP_RESEND_INTERVAL (RFC 3261 §17.1.1.2 Timer A schedule)."""
    return TimerConfig(resend_intervals=tuple(float(item) for item in resend_interval(params)))


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sent_by(addresses: list[HostPort]) -> frozenset[str]:
    # A wildcard bind has no single address to recognise in a Via: then no check is made.
    if any(ipaddress.ip_address(a.host).is_unspecified for a in addresses):
        return frozenset()
    return frozenset(str(a) for a in addresses)


class _LiveCalls:
    """The HTTP API's view of the call engine, which only exists once SIP listens (after the
    API started, so that SIP starts with the operator's parameters): until then there are no
    calls to show or clear."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def _engine(self) -> CallEngine:
        engine = self._server.calls
        if engine is None:
            raise Unavailable("the call engine is not running (starting or stopping)")
        return engine

    def calls(self) -> list[LiveCallView]:
        engine = self._server.calls
        return [] if engine is None else engine.calls()

    def call(self, call_id: str) -> LiveCallView | None:
        engine = self._server.calls
        return None if engine is None else engine.call(call_id)

    def hangup(self, call_id: str) -> bool:
        engine = self._server.calls
        return False if engine is None else engine.hangup(call_id)

    def callback(self, request: CallbackRequest) -> CallbackOutcome:
        return self._engine().callback(request)

    def monitor(self) -> MonitorFigures:
        return self._engine().monitor()


class _Security:
    """The HTTP API's view of the defences, which exist once SIP listens (like ``_LiveCalls``)."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def _service(self) -> SecurityService:
        found = self._server.security
        if found is None:
            raise Unavailable("the SIP path is not running (starting or stopping)")
        return found

    def entries(self) -> list[SecurityEntryView]:
        return self._service().entries()

    def lift(self, type_: EntryType, key: str, actor: str) -> bool:
        return self._service().lift(type_, key, actor)

    def alarms(self) -> list[AlarmView]:
        return self._service().alarms()

    def figures(self) -> SecurityFigures:
        return self._service().figures()


@dataclasses.dataclass(frozen=True, slots=True)
class Seat:
    """This process's place in a multi-process switch (SOFTSWITCH_SIP_WORKERS > 1, EXPERIMENTAL;
    ``softswitch.runtime.workers``): worker ``index`` of ``count``, with, per UDP listen
    address, the public address, the parent's bound socket (to send from) and this worker's
    end of the socket pair the parent relays datagrams on.

    Worker 0 alone runs the singletons: the HTTP API (so its live-call, monitor and security
    views show worker 0 only), the daily reports, outbound registrations to carriers and the
    TCP/TLS listeners. The parent migrated the database and created the first admin before
    any worker started, so workers do neither.
    """

    index: int
    count: int
    udp: tuple[tuple[HostPort, socket.socket, socket.socket], ...]

    @property
    def first(self) -> bool:
        return self.index == 0

    def owns(self, call_id: str) -> bool:
        """Whether the distributor hands messages with this Call-ID to this worker."""
        return owns(call_id, self.index, self.count)


class Server:
    """Every SIP listener of one switch, with its endpoint, driver and dispatcher, and the
    database (migrated at start). With a ``seat`` it is one worker of a multi-process switch."""

    def __init__(self, settings: Settings, params: ParamStore, seat: Seat | None = None) -> None:
        self.settings = settings
        self.params = params
        self.seat = seat
        self.driver: Driver | None = None
        self.endpoint: Endpoint | None = None
        self.database: AsyncEngine | None = None
        self.operators: OperatorService | None = None
        self.http: HttpServer | None = None
        self.feed: ChangeFeed | None = None
        self.snapshots: SnapshotService[Snapshot] | None = None
        self.rates: SnapshotService[RateSnapshot] | None = None
        self.reservations: Reservations | None = None
        self.reports: DailyReports | None = None
        self.registrar: RegistrarService | None = None
        self.cdrs: CdrWriter | None = None
        self.calls: CallEngine | None = None
        self.outbound: OutboundRegistrations | None = None
        self.security: SecurityService | None = None
        self.keepalive: KeepAliveService | None = None
        self.listening: list[tuple[str, HostPort]] = []
        self._unsubscribe: list[Callable[[], None]] = []

    async def start(self) -> None:
        """Open every listener (one log line each); raises ``OSError`` if a port is taken."""
        settings, params = self.settings, self.params
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self._open_database()
        await self._open_http()
        try:
            registrar = await self._open_call_path()
        except BaseException:
            await self.stop()
            raise
        addresses = [*settings.sip_listen, *settings.sip_tls_listen]
        # The call engine sends 100 Trying itself once it knows the caller: an INVITE from an
        # unknown source must get no answer at all when SS_REPLY_UNAUTHORIZED is Off.
        config = EndpointConfig(
            timers=timer_config(params),
            local_addresses=_sent_by(addresses),
            auto_trying=False,
        )
        seat = self.seat
        # A worker mints only Call-IDs that the distributor hands back to it.
        ids = None if seat is None else RandomIds(call_ids=seat.owns)
        endpoint = self.endpoint = Endpoint(config, ids)
        assert self.snapshots is not None
        loop = asyncio.get_running_loop()
        security = self.security = SecurityService(
            params, self.snapshots, registrar.table, clock=loop.time, wall_clock=_utcnow
        )
        security.start()
        dispatcher = BasicDispatcher(
            params,
            Capabilities(allow=SERVED_METHODS, supported=frozenset({"timer"}), product=PRODUCT),
            default_realm=addresses[0].host if addresses else "softswitch",
            new_tag=endpoint.ids.tag,
            algorithms=tuple(Algorithm(name) for name in settings.sip_digest_algorithms),
            registrar=registrar,
            security=security,
            abandon=endpoint.abandon,
        )
        tls_client = client_context(settings.tls_verify, settings.tls_ca_file)
        driver = self.driver = Driver(
            endpoint,
            dispatcher,
            tos=params.get_int("SS_QOS_SIGNAL"),
            reset_on_close=params.get_bool("SS_TCP_CLOSE_RESET"),
            idle_timeout=settings.tcp_idle_timeout,
            tls_client=tls_client,
            gate=security,
        )
        self._unsubscribe.append(params.subscribe(self._on_param))
        try:
            if seat is not None:
                # UDP arrives through the parent's distributor; streams only reach worker 0.
                for public, sock, inbox in seat.udp:
                    self._listening("UDP", driver.listen_relay(public, sock, inbox))
                    if seat.first:
                        self._listening("TCP", await driver.listen_stream("TCP", public))
            else:
                for local in settings.sip_listen:
                    self._listening("UDP", await driver.listen_udp(local))
                    self._listening("TCP", await driver.listen_stream("TCP", local))
            if settings.sip_tls_listen and (seat is None or seat.first):
                if settings.tls_cert is not None and settings.tls_key is not None:
                    cert, key = settings.tls_cert, settings.tls_key
                else:
                    hosts = [a.host for a in settings.sip_tls_listen]
                    cert, key = ensure_self_signed(settings.data_dir, hosts)
                context = server_context(cert, key)
                for local in settings.sip_tls_listen:
                    self._listening("TLS", await driver.listen_stream("TLS", local, context))
        except BaseException:
            await self.stop()
            raise
        # NAT keep-alives (issue 7 §2) leave from the UDP listeners just opened; stopped
        # with the parameter subscriptions, first thing in stop().
        keepalive = self.keepalive = KeepAliveService(
            params, registrar.table, lambda: driver.udp_listeners
        )
        keepalive.start()
        self._unsubscribe.append(keepalive.stop)
        assert self.snapshots is not None and self.cdrs is not None
        self.calls = dispatcher.calls = CallEngine(
            params,
            self.snapshots,
            registrar,
            self.cdrs,
            locals_=self._call_addresses(),
            ids=endpoint.ids,
            wall_clock=_utcnow,
            authenticator=dispatcher.authenticator,
            challenge_code=dispatcher.challenge_code,
            abandon=endpoint.abandon,
            product=PRODUCT,
            allow=SERVED_METHODS,
            rates=self.rates,
            reservations=self.reservations,
            zone=settings.time_zone,
            shield=security,
        )
        self.calls.attach(driver)
        # Our own registrations to carriers that require them (issue 7 §3).
        snapshots = self.snapshots
        outbound = self.outbound = OutboundRegistrations(
            params, lambda: snapshots.current, self._call_addresses(), endpoint.ids, product=PRODUCT
        )
        if seat is None or seat.first:  # one process registers with the carriers
            dispatcher.outbound = outbound.handle
            outbound.start(driver)

    def _call_addresses(self) -> dict[str, Local]:
        """Our address per transport for calls' Via and Contact: the first listener of each,
        under SOFTSWITCH_SIP_ADVERTISE's host when set."""
        found: dict[str, Local] = {}
        advertise = self.settings.sip_advertise
        for transport, address in self.listening:
            if transport in found:
                continue
            host = advertise or address.host
            if not advertise and ipaddress.ip_address(host.strip("[]")).is_unspecified:
                _log.warning(
                    "SIP listens on %s: set SOFTSWITCH_SIP_ADVERTISE to the address peers "
                    "reach; using 127.0.0.1 meanwhile",
                    address,
                )
                host = "127.0.0.1"
            found[transport] = Local(host, address.port, transport)
        return found

    def _listening(self, transport: str, address: HostPort) -> None:
        self.listening.append((transport, address))
        _log.info("listening for SIP over %s on %s", transport, address)

    def _on_param(self, change: ParamChange) -> None:
        driver, endpoint = self.driver, self.endpoint
        if driver is None or endpoint is None:
            return
        if change.name == "SS_QOS_SIGNAL":
            driver.set_tos(self.params.get_int("SS_QOS_SIGNAL"))
        elif change.name == "SS_TCP_CLOSE_RESET":
            driver.set_reset_on_close(self.params.get_bool("SS_TCP_CLOSE_RESET"))
        elif change.name == "SS_SIP_RESEND_INTERVAL":
            # Running transactions keep their schedule; new ones take the new one.
            endpoint.config = dataclasses.replace(endpoint.config, timers=timer_config(self.params))

    async def _open_database(self) -> None:
        """Open the database and bring its schema to the newest migration before anything
        listens: the switch never runs on a schema older than its code. A worker of a
        multi-process switch only opens it: the parent did the rest before starting workers."""
        engine = self.database = create_engine(self.settings.database_url)
        if self.seat is not None:
            self.operators = OperatorService(sessions(engine), self.params, _utcnow)
            return
        await upgrade_engine(engine)
        _log.info(
            "database %s at schema revision %s",
            engine.url.render_as_string(hide_password=True),
            await current_revision(engine),
        )
        operators = self.operators = OperatorService(sessions(engine), self.params, _utcnow)
        given = self.settings.admin_password
        password = await operators.ensure_admin(given)
        if password is not None and not given:
            # The one time this password exists in clear: shown to whoever started the switch.
            _log.warning(
                "first start: created operator 'admin' with password %s "
                "(shown only now; change it with the API or console)",
                password,
            )

    async def _open_http(self) -> None:
        """Serve the HTTP API. It starts before SIP: its startup loads the parameter overrides
        saved in the database into the store, so SIP starts with the operator's values."""
        assert self.database is not None and self.operators is not None
        factory = sessions(self.database)
        feed = self.feed = ChangeFeed(ChangeFeedRepo(factory))
        self._unsubscribe.append(feed.subscribe(ParamSync(self.params, ParamOverrideRepo(factory))))
        if self.seat is not None and not self.seat.first:
            # No API in this worker: load the stored overrides as its startup would, then
            # follow the feed (changes through worker 0's API reach it there).
            count = await load_overrides(self.params, ParamOverrideRepo(factory))
            _log.info("loaded %d stored parameter overrides", count)
            await feed.start(CHANGE_FEED_INTERVAL)
            return
        self.reports = DailyReports(
            factory,
            self.params,
            self.settings.data_dir / REPORTS_DIRECTORY,
            ZoneInfo(self.settings.time_zone),
            _utcnow,
        )
        app = create_app(
            engine=self.database,
            params=self.params,
            operators=self.operators,
            clock=_utcnow,
            feed=feed,
            calls=_LiveCalls(self),
            reports=self.reports,
            security=_Security(self),
        )
        local = self.settings.http_listen
        self.http = await serve_http(app, local.host, local.port)
        # After the app's startup loaded the overrides: older feed rows are history.
        await feed.start(CHANGE_FEED_INTERVAL)
        await self.reports.start()
        _log.info("listening for HTTP on %s (API under /api/v1, docs at /docs)", local)

    async def _open_call_path(self) -> RegistrarService:
        """The call path's snapshot (it follows the feed, so after HTTP started it) and the
        registrar over it, with the bindings saved before the last stop loaded back."""
        assert self.database is not None and self.feed is not None
        factory = sessions(self.database)
        snapshots = self.snapshots = SnapshotService(factory, self.feed)
        await snapshots.start()
        registrar = self.registrar = RegistrarService(
            self.params, snapshots, RegistrationRepo(factory), wall_clock=_utcnow
        )
        await registrar.start()
        rates = self.rates = SnapshotService(
            factory,
            self.feed,
            build=build_rate_snapshot,
            relevant=RATE_ENTITIES,
            name="rate books",
        )
        await rates.start()
        # CDRs: replayed into the database first (a crash loses none, and each replayed call
        # is settled once), then journaled. Only then are the reservations of calls that were
        # live when this node last stopped released: those calls left no CDR.
        cdrs = self.cdrs = CdrWriter(
            self._cdr_directory(),
            self.database,
            cdr_config(self.params),
            _utcnow,
            settle=settle_rows,
        )
        await cdrs.start()
        self.reservations = Reservations(self.database, self._node())
        await self.reservations.release_node()
        self._unsubscribe.append(self.params.subscribe(self._on_cdr_param))
        _log.info("CDR files in %s", cdrs.directory)
        return registrar

    def _cdr_directory(self) -> Path:
        """Worker 0 (and a single process) journal in ``cdr``; worker i in ``cdr/worker-i``:
        a writer must own its directory (``softswitch.cdr.writer``)."""
        directory = self.settings.data_dir / CDR_DIRECTORY
        if self.seat is not None and not self.seat.first:
            directory = directory / f"worker-{self.seat.index}"
        return directory

    def _node(self) -> str:
        """The node the credit of live calls is filed under: each worker releases its own at
        start, so worker i > 0 is ``<node>.w<i>``."""
        node = self.settings.node
        if self.seat is not None and not self.seat.first:
            node = f"{node}.w{self.seat.index}"
        return node

    def _on_cdr_param(self, change: ParamChange) -> None:
        if self.cdrs is not None and change.name in _CDR_PARAMS:
            self.cdrs.reconfigure(cdr_config(self.params))

    async def stop(self) -> None:
        """Close every socket and the database; safe to call more than once."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self.calls is not None:
            await self.calls.stop()  # CDRs being written finish first
            self.calls = None
        if self.outbound is not None:
            await self.outbound.stop()  # un-REGISTERs go out before the sockets close
            self.outbound = None
        if self.driver is not None:
            await self.driver.close()
            self.driver = None
        if self.security is not None:
            self.security.stop()
            self.security = None
        if self.registrar is not None:
            await self.registrar.stop()  # writes the bindings still queued
            self.registrar = None
        if self.reservations is not None:
            await self.reservations.close()
            self.reservations = None
        if self.cdrs is not None:
            await self.cdrs.stop()  # delivers what is journaled; the rest is replayed at start
            self.cdrs = None
        if self.snapshots is not None:
            await self.snapshots.stop()
            self.snapshots = None
        if self.rates is not None:
            await self.rates.stop()
            self.rates = None
        if self.feed is not None:
            await self.feed.stop()
            self.feed = None
        if self.http is not None:
            await self.http.stop()
            self.http = None
        if self.reports is not None:
            await self.reports.stop()
            self.reports = None
        if self.database is not None:
            await self.database.dispose()
            self.database = None


async def prepare_database(settings: Settings, params: ParamStore) -> None:
    """Migrate the database and create the first admin (logging its password), then close it:
    what a multi-process switch does once, before its workers start."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(settings, params)
    try:
        await server._open_database()
    finally:
        if server.database is not None:
            await server.database.dispose()


async def serve(
    settings: Settings,
    params: ParamStore,
    stop: asyncio.Event,
    seat: Seat | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run a :class:`Server` until ``stop`` is set; ``ready`` is called once it serves."""
    server = Server(settings, params, seat)
    collections = heap.FullCollections()
    try:
        await server.start()
        heap.settle()
        collections.start()
        if seat is None:
            _log.info("%s ready (data in %s)", PRODUCT, settings.data_dir)
        else:
            _log.info("worker %d of %d serving", seat.index, seat.count)
        if ready is not None:
            ready()
        await stop.wait()
        _log.info("stopping")
    finally:
        await collections.stop()
        await server.stop()


async def _main(
    settings: Settings,
    params: ParamStore,
    seat: Seat | None = None,
    ready: Callable[[], None] | None = None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, params, stop, seat, ready)
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_forever(
    settings: Settings,
    *,
    params: ParamStore | None = None,
    seat: Seat | None = None,
    ready: Callable[[], None] | None = None,
) -> int:
    """Run until SIGINT or SIGTERM; returns the exit code (0 after a clean stop).

    Uses uvloop when it is installed (the ``fast`` extra): same behaviour, less CPU per message.
    With SOFTSWITCH_SIP_WORKERS above 1 the CLI runs ``softswitch.runtime.workers`` instead,
    which calls this in every worker with its ``seat`` (``ready`` tells the parent).
    """
    if params is None:
        params = load_params(settings)
    factory = _loop_factory()
    if seat is None or seat.first:
        _log.info("event loop: %s", "uvloop" if factory is not None else "asyncio")
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_main(settings, params, seat, ready))
