"""A DNS server on loopback for the tests of domain verification: it answers TXT queries from a
dict the test fills, and NXDOMAIN for every other name (dnslib, UDP, in a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from ot.config import Settings, VerificationSettings


@dataclass
class TxtRecords(BaseResolver):  # type: ignore[misc]
    """TXT records by name (lower case, without the final dot)."""

    records: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        self.asked.append(name)
        values = self.records.get(name, [])
        if request.q.qtype == QTYPE.TXT and values:
            for value in values:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=60))
        elif not values:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@dataclass
class LoopbackDns:
    records: TxtRecords
    port: int

    def publish(self, name: str, value: str) -> None:
        self.records.records.setdefault(name.lower(), []).append(value)

    def settings_for(self, settings: Settings) -> Settings:
        """The settings with this server as the only nameserver."""
        verification = VerificationSettings(dns_nameservers=["127.0.0.1"], dns_port=self.port)
        return settings.model_copy(update={"verification": verification})


@pytest.fixture
def dns() -> Iterator[LoopbackDns]:
    """The domains' DNS as the tests want it: whatever they publish, nothing else."""
    records = TxtRecords()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    server = DNSServer(records, address="127.0.0.1", port=0, logger=quiet)
    server.start_thread()
    try:
        yield LoopbackDns(records, server.server.server_address[1])
    finally:
        server.stop()
        server.server.server_close()
