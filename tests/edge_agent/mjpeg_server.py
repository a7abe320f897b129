"""A tiny MJPEG-over-HTTP network camera (multipart/x-mixed-replace) that a test can stop and restart."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


class MjpegCamera:
    def __init__(self, frames: list[np.ndarray], port: int, fps: float = 15.0):
        self.jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self.port = port
        self.fps = fps
        self._server: ThreadingHTTPServer | None = None
        self._alive = threading.Event()

    def start(self) -> MjpegCamera:
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while cam._alive.is_set():
                        data = cam.jpegs[i % len(cam.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
                        i += 1
                        time.sleep(1 / cam.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._alive.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """The camera goes dark: open streams end and new connections are refused."""
        self._alive.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"
