"""Running the daemon: one process, or N worker processes sharing a port (SO_REUSEPORT)
under a small supervisor that forwards SIGTERM and restarts a worker that dies."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess

from aiohttp import web

from ot.config import Settings
from ot.db import create_engine
from ot.errors import OtError
from ot.logs import configure_logging
from ot.rights.housekeeping import keep_tidy
from ot.rollups.schedule import keep_rolled_up
from ot.schema import ensure_schema
from ot.security.audit_checkpoints import keep_checkpointing
from ot.server.access_log import AccessLogger
from ot.server.app import create_app
from ot.server.ssh_channel import start_ssh_channel
from ot.storage import storage_problem, unwritable_folder
from ot.tuning import settle_garbage_collector, share_the_gil_often

log = logging.getLogger("ot.server")

RESTART_DELAY_SECONDS = 1.0
MAX_QUICK_FAILURES = 5
ORPHAN_CHECK_SECONDS = 0.5


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    configure_logging(settings.log)
    # The database (SQLite), keys, locks and mails live there: refuse at once, in one line,
    # rather than fail somewhere inside with a traceback.
    problem = unwritable_folder(settings.data_dir)
    if problem is not None:
        log.error(
            f"cannot start: the data folder {settings.data_dir} cannot be written ({problem})"
        )
        return 2
    if settings.server.workers == 1:
        rollups = _start_rollups(settings)
        try:
            return asyncio.run(_serve_one(settings, reuse_port=False))
        finally:
            _stop(rollups, settings.server.shutdown_timeout_seconds)
    return _supervise(settings)


def _start_rollups(settings: Settings) -> BaseProcess | None:
    """The rollup job and the housekeeping (retention, purges of deleted accounts) in a process
    of their own: their CPU never slows the collector's event loop."""
    if (
        settings.rollups.interval_seconds <= 0
        and settings.rights.housekeeping_interval_seconds <= 0
    ):
        return None
    process = multiprocessing.get_context("spawn").Process(
        target=_rollups_main, args=(settings, os.getpid()), daemon=False
    )
    process.start()
    return process


def _rollups_main(settings: Settings, parent: int) -> None:
    configure_logging(settings.log)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        watch = asyncio.create_task(_stop_when_orphaned(parent, stop))
        # The audit trail's checkpoints are signed by this background process too.
        jobs = [keep_checkpointing(settings, stop)]
        if settings.rollups.interval_seconds > 0:
            jobs.append(keep_rolled_up(settings, stop))
        if settings.rights.housekeeping_interval_seconds > 0:
            jobs.append(keep_tidy(settings, stop))
        try:
            await asyncio.gather(*jobs)
        finally:
            watch.cancel()

    asyncio.run(run())


async def _stop_when_orphaned(parent: int, stop: asyncio.Event) -> None:
    """A server killed outright (kill -9, OOM) cannot stop its rollup process: the process
    notices it has a new parent and stops itself, rather than rolling up forever."""
    while os.getppid() == parent:
        await asyncio.sleep(ORPHAN_CHECK_SECONDS)
    stop.set()


def _stop(process: BaseProcess | None, timeout: float) -> None:
    if process is None:
        return
    if process.is_alive() and process.pid is not None:
        os.kill(process.pid, signal.SIGTERM)
    process.join(timeout)
    if process.is_alive():
        process.kill()


async def _serve_one(settings: Settings, *, reuse_port: bool, ssh_channel: bool = True) -> int:
    """Serve until SIGTERM or SIGINT. `ssh_channel`: also serve the SSH channel's socket (one
    process does: the single server, or the first worker)."""
    share_the_gil_often()
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("ot.access") if settings.log.access_log else None,
        shutdown_timeout=settings.server.shutdown_timeout_seconds,
    )
    try:
        await runner.setup()
    except OtError as error:
        log.error(error.message)
        return 2
    except Exception as error:
        if (problem := storage_problem(error)) is None:
            raise
        log.error(f"cannot start: the database cannot be used ({problem})")
        return 2
    settle_garbage_collector()
    site = web.TCPSite(
        runner, settings.server.host, settings.server.port, reuse_port=reuse_port, backlog=4096
    )
    try:
        await site.start()
    except OSError as error:
        log.error("cannot listen", extra={"error": str(error)})
        await runner.cleanup()
        return 2
    try:
        channel = await start_ssh_channel(settings) if ssh_channel else None
    except (OSError, KeyError) as error:  # KeyError: the socket's group does not exist
        log.error("cannot serve the SSH channel", extra={"error": str(error)})
        await runner.cleanup()
        return 2
    addresses = [sock.getsockname() for sock in _sockets(site)]
    log.info(
        "listening", extra={"addresses": [f"{a[0]}:{a[1]}" for a in addresses], "pid": os.getpid()}
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down: draining queued hits")
    if channel is not None:
        await channel.cleanup()
    # Stops listening, lets running handlers finish (their hits commit), then stops the writer.
    await runner.cleanup()
    log.info("stopped")
    return 0


def _sockets(site: web.TCPSite) -> list[socket.socket]:
    server = site._server  # aiohttp exposes no public accessor for the bound sockets
    return list(getattr(server, "sockets", None) or [])


def _worker_main(settings: Settings, ssh_channel: bool) -> None:
    configure_logging(settings.log)
    raise SystemExit(asyncio.run(_serve_one(settings, reuse_port=True, ssh_channel=ssh_channel)))


def _prepare_schema(settings: Settings) -> None:
    async def check() -> None:
        engine = create_engine(settings)
        try:
            await ensure_schema(engine, migrate_if_new=settings.is_embedded_database)
        finally:
            await engine.dispose()

    asyncio.run(check())


def _supervise(settings: Settings) -> int:
    if settings.server.port == 0:
        log.error("several workers need a fixed port: set OT_SERVER__PORT or --port")
        return 2
    try:
        # Once, here, so that workers do not race to create the embedded database.
        _prepare_schema(settings)
    except OtError as error:
        log.error(error.message)
        return 2
    except Exception as error:
        if (problem := storage_problem(error)) is None:
            raise
        log.error(f"cannot start: the database cannot be used ({problem})")
        return 2
    context = multiprocessing.get_context("spawn")
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def start(index: int) -> BaseProcess:
        # The first worker alone serves the SSH channel: a Unix socket has one listener.
        process = context.Process(target=_worker_main, args=(settings, index == 0), daemon=False)
        process.start()
        return process

    workers = [start(index) for index in range(settings.server.workers)]
    started = [time.monotonic()] * len(workers)
    quick_failures = 0
    rollups = _start_rollups(settings)
    log.info("supervising workers", extra={"workers": len(workers)})
    while not stopping:
        time.sleep(0.2)
        if rollups is not None and not rollups.is_alive():
            log.error("rollup process exited", extra={"exitcode": rollups.exitcode})
            rollups = _start_rollups(settings)
        for index, process in enumerate(workers):
            if process.is_alive() or stopping:
                continue
            log.error("worker exited", extra={"pid": process.pid, "exitcode": process.exitcode})
            if time.monotonic() - started[index] < 10:
                quick_failures += 1
                if quick_failures >= MAX_QUICK_FAILURES:
                    log.error("workers keep failing at start: giving up")
                    stopping = True
                    break
            time.sleep(RESTART_DELAY_SECONDS)
            workers[index] = start(index)
            started[index] = time.monotonic()
    _stop(rollups, settings.server.shutdown_timeout_seconds)
    for process in workers:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.server.shutdown_timeout_seconds + 5
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
    return 0 if quick_failures < MAX_QUICK_FAILURES else 1
