"""The HTTP front door: the collector endpoints, operations endpoints and (later) our API."""

from ot.server.app import create_app

__all__ = ["create_app"]
