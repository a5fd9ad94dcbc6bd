"""Serve a WSGI app over HTTPS from a daemon thread."""

from __future__ import annotations

import ssl
import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    # The access log would drown test output; the calls log is the record that matters.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class BackgroundServer:
    def __init__(
        self, app, port: int, ssl_context: ssl.SSLContext | None, host: str = "127.0.0.1"
    ) -> None:
        self._server: BaseWSGIServer = make_server(
            host,
            port,
            app,
            threaded=True,
            request_handler=_QuietHandler,
            ssl_context=ssl_context,
        )
        self._server.daemon_threads = True
        if ssl_context is not None:
            # Shake hands in the request thread, not in accept(): an idle client (a port
            # probe) must not stall every other connection.
            self._server.socket.do_handshake_on_connect = False
        scheme = "https" if ssl_context else "http"
        self.port: int = self._server.server_port
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake-server-{self.port}", daemon=True
        )

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
