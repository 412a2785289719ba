"""A CSV table on loopback that is answered only once :attr:`HeldUpload.gate` is set: a TAP job
that uploads it (``UPLOAD=t,<url>``) stays EXECUTING until then. A plain module: tests import it
by name (``from held_upload import HeldUpload``)."""

from __future__ import annotations

import http.server
import threading


class HeldUpload:
    def __init__(self) -> None:
        self.gate = gate = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gate.wait(60)
                body = b"a,b\n1,2\n3,4\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/table.csv"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()
