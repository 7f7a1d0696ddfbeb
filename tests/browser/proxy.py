"""A TCP proxy for the tests: a stand-in for the load balancer in front of several processes.

Each new connection goes to the first backend that accepts it, so when a process dies its
clients' reconnects land on the next one, as behind nginx with several upstreams.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.browser.conftest import free_port


class TcpProxy:
    def __init__(self, backends: list[int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backends = backends
        self._connections = 0
        self._frozen_up_to = 0  # connections numbered up to this one pass nothing any more
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def freeze(self) -> None:
        """Make every open connection a black hole, as a dead NAT entry or a silently dropped
        proxy would: nothing is closed, nothing gets through. New connections work."""
        self._frozen_up_to = self._connections

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        for port in self.backends:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # the proxy is stopping
            await asyncio.gather(
                self._pipe(number, reader, upstream_writer),
                self._pipe(number, upstream_reader, writer),
                return_exceptions=True,
            )

    async def _pipe(
        self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                if number <= self._frozen_up_to:
                    continue  # swallowed
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
