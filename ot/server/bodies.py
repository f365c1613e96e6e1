"""Reading a request's body. A body its `Content-Encoding` header does not describe (say
`gzip` over plain text), or one that ends before its announced length, is the client's
mistake: a 400 naming it, never a server error."""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError

from ot.errors import InvalidInput

# The encodings aiohttp decodes; any other value of the header is passed through undecoded.
_DECODED = ("gzip", "deflate", "br", "zstd")


def body_was_unreadable(request: web.BaseRequest) -> bool:
    """Whether this request's body could not be read (its answer must close the connection)."""
    return isinstance(request.content.exception(), web.RequestPayloadError)


async def finish_compressed_body(request: web.BaseRequest) -> bool:
    """Read the rest of a compressed body a request is being answered without (refused before
    reading, say), at most as much as a body may hold once inflated; whether the connection
    must close because it holds more. Left to itself, aiohttp would read and inflate all of it
    to keep the connection alive: up to 10 s of the event loop's time for a few megabytes sent
    that inflate to gigabytes."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity") or request.content.is_eof():
        return False
    try:
        await request.read()  # stops past client_max_size
    except (web.HTTPRequestEntityTooLarge, web.RequestPayloadError):
        stop_reading(request)
        return True
    return False


def stop_reading(request: web.BaseRequest) -> None:
    """Read nothing more of this request's body: the connection closes after the answer (data
    still arriving is dropped unread)."""
    request.protocol.close()
    request.content.feed_eof()


async def read_body(request: web.Request) -> bytes:
    """The body, decoded as its `Content-Encoding` says; InvalidInput when it cannot be."""
    try:
        return await request.read()
    except web.RequestPayloadError as error:
        raise unreadable_body(request, error) from None


def unreadable_body(request: web.BaseRequest, error: web.RequestPayloadError) -> InvalidInput:
    """What went wrong with a body aiohttp could not read, in words naming the culprit; the
    connection closes after the answer."""
    # How much of the body is still to come is unknown, so the connection cannot carry another
    # request. Left as it is, aiohttp would go on reading the body after our answer, meet the
    # error again and log it as an error of its own.
    stop_reading(request)
    if isinstance(error.__cause__, ContentEncodingError):
        declared = request.headers.get("Content-Encoding", "").strip().lower()
        message = (
            f"the Content-Encoding header says {declared} but the body is not valid {declared}"
            if declared in _DECODED
            else "the body cannot be decoded as its Content-Encoding header says"
        )
        return InvalidInput(message, field="Content-Encoding")
    # A body shorter than its Content-Length, or broken chunks: the client sent it wrong (or
    # hung up midway).
    return InvalidInput(
        "the body could not be read: it ended early or its chunked encoding is broken",
        field="body",
    )
