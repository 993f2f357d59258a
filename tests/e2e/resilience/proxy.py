"""A TCP proxy between the bot and PostgreSQL that can make the database "go away".

The real PostgreSQL is shared by every test, so it is never restarted. Instead the bot's
`Database` talks to this proxy, which forwards bytes to 127.0.0.1:5432 until a test says:

- `cut()`: what a restart looks like to a client. Every open connection is closed at once,
  and new ones are turned away. By default a new connection is answered the way PostgreSQL
  answers while it shuts down or starts up (FATAL 57P03, "the database system is starting
  up"); with `refuse=True` it is closed as soon as it is accepted, as if nothing listened.
- `hang()`: the database stops answering without closing anything (a network partition, a
  stuck server). Open connections are silently black-holed; new ones are accepted and never
  answered.
- `restore()`: forward again. Connections left over from a hang are closed first, as the
  stuck server would drop them when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104
FORWARD, REFUSE, STARTING, HANG = "forward", "refuse", "starting", "hang"


def _error_response(code: str, message: str) -> bytes:
    """A PostgreSQL ErrorResponse message (protocol 3)."""
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


STARTING_UP = _error_response("57P03", "the database system is starting up")


class _Link:
    """One client connection and, when forwarding, its upstream twin."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class PostgresProxy:
    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 5432) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.mode = FORWARD
        self.port = 0
        self.accepted = 0  # connections accepted in all
        self.turned_away = 0  # connections refused or answered "starting up" while cut
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    async def start(self) -> PostgresProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> PostgresProxy:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def cut(self, *, refuse: bool = False) -> None:
        """Close every open connection and turn new ones away (a restart, as seen by a client)."""
        self.mode = REFUSE if refuse else STARTING
        self._drop_all()

    def hang(self) -> None:
        """Stop answering, closing nothing."""
        self.mode = HANG

    def restore(self) -> None:
        """Forward again; connections that were hanging are closed."""
        if self.mode == HANG:
            self._drop_all()
        self.mode = FORWARD

    def _drop_all(self) -> None:
        for link in list(self._links):
            link.close()
        self._links.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(writer)
        mode = self.mode
        if mode == REFUSE:
            self.turned_away += 1
            link.close()
            return
        self._links.add(link)
        try:
            if mode == STARTING:
                self.turned_away += 1
                await self._answer_starting_up(reader, writer)
            elif mode == HANG:
                await reader.read()  # hold it open, answer nothing, until it is closed
            else:
                await self._forward(link, reader)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._links.discard(link)
            link.close()

    async def _answer_starting_up(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            code = struct.unpack("!I", body[:4])[0] if len(body) >= 4 else 0
            if code in (SSL_REQUEST, GSS_REQUEST):
                writer.write(b"N")  # no encryption; the client then sends its startup message
                await writer.drain()
                continue
            writer.write(STARTING_UP)
            await writer.drain()
            return

    async def _forward(self, link: _Link, reader: asyncio.StreamReader) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        link.upstream = up_writer
        link.tasks = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, link.client)),
        ]
        await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while data := await source.read(65536):
                if self.mode == HANG:
                    continue  # black-holed: the other side never hears of it
                sink.write(data)
                await sink.drain()
