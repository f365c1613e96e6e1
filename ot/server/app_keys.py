"""Typed keys of what the application holds."""

from collections.abc import Sequence

from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.clock import Clock
from ot.config import Settings
from ot.ingest.collector import CollectsHits
from ot.ingest.hit import PayloadLimits
from ot.ips import Network
from ot.mailer import Mailer
from ot.security.crypto import Cipher
from ot.stats.processes import QueryProcesses
from ot.storage import StorageHealth

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
# On SQLite its transactions take the write lock at BEGIN (see `ot.server.database`).
WRITE_ENGINE = web.AppKey("write_engine", AsyncEngine)
# The collector's writer commits hits through it, in their durability mode (`ot.db`), when the
# collector runs on the server's event loop (`OT_COLLECTOR__OWN_PROCESS=false`).
HIT_ENGINE: web.AppKey[Engine | AsyncEngine] = web.AppKey("hit_engine")
# A `Collector`, or the `CollectorProcess` that has one run in a process of its own.
COLLECTOR: web.AppKey[CollectsHits] = web.AppKey("collector")
LIMITS = web.AppKey("limits", PayloadLimits)
TRUSTED_PROXIES: web.AppKey[Sequence[Network]] = web.AppKey("trusted_proxies")
TRACKER_SCRIPT = web.AppKey("tracker_script", bytes)
CIPHER = web.AppKey("cipher", Cipher)
MAILER = web.AppKey("mailer", Mailer)
# What rate limits and log-in throttling read the time from (a test holds it still).
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
# Stats queries are answered in processes of their own (`ot.stats.processes`).
QUERIES = web.AppKey("queries", QueryProcesses)
# Whether this process's writes currently fail for a reason of storage (`ot.storage`).
STORAGE_HEALTH = web.AppKey("storage_health", StorageHealth)
