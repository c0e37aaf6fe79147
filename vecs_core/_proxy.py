"""``vecs-core serve``: a TCP listener on localhost relayed to the embedded server's unix socket."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from .exc import EmbeddedServerError


class Proxy:
    """A TCP listener on ``host:port`` whose connections are relayed to the server's unix
    socket, in a background thread. The server's local ``trust`` authentication applies: any
    local user can connect as ``postgres`` while it runs."""

    def __init__(self, socket_path: str, host: str = "127.0.0.1", port: int = 5433) -> None:
        self.socket_path, self.host, self.port = socket_path, host, port
        self._ready = threading.Event()
        self._loop: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vecs-core-serve", daemon=True)

    def start(self) -> int:
        """Listen; return the bound port (``port=0`` picks a free one)."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise EmbeddedServerError(
                f"cannot listen on {self.host}:{self.port}: {self._error}; pick another port"
            ) from self._error
        return self.port

    def close(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        import asyncio

        loop = asyncio.new_event_loop()
        self._loop = loop

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        try:
            server = loop.run_until_complete(asyncio.start_server(handle, self.host, self.port))
            self.port = server.sockets[0].getsockname()[1]
        except OSError as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()
