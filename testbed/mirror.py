"""
The test bed's APT repository served over HTTP, as a mirror across a slow link: every host
shares one throughput (``rate_kib_s``), so that a dist-upgrade's download takes real time and
two hosts downloading at once each take longer.

It runs in the switch namespace on the bridge's address (the salt-master's), started and
stopped by the test bed's daemon. Each file it serves whole is recorded in the timeline as
``apt-fetch`` with the host that asked (from its address), the path, the bytes and when the
transfer started, so that a test can tell where downloads fall in an upgrade.

    python -m testbed _mirror REPO SHARED_DIR RATE_KIB_S PORT
"""

import functools
import http.server
import json
import os
import threading
import time

from testbed import timeline

PORT = 8081
CHUNK = 16 * 1024


class Throttle:
    """One link shared by every transfer: each chunk books the next free slot of the link."""

    def __init__(self, bytes_per_s):
        self.bytes_per_s = float(bytes_per_s)
        self.free_at = 0.0
        self.lock = threading.Lock()

    def wait(self, size):
        with self.lock:
            start = max(time.monotonic(), self.free_at)
            self.free_at = start + size / self.bytes_per_s
            done = self.free_at
        delay = done - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Handler(http.server.SimpleHTTPRequestHandler):
    throttle = None
    shared = timeline.SHARED_MOUNT
    hosts_file = ""

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def host_name(self):
        address = self.client_address[0]
        try:
            with open(self.hosts_file) as handle:
                hosts = json.load(handle)["hosts"]
        except (OSError, ValueError, KeyError):
            return address
        return next((name for name, info in hosts.items() if info.get("address") == address), address)

    def copyfile(self, source, outputfile):
        started, sent = time.time(), 0
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            self.throttle.wait(len(chunk))
            outputfile.write(chunk)
            sent += len(chunk)
        timeline.record("apt-fetch", self.host_name(), shared_dir=self.shared, path=self.path, bytes=sent, started=round(started, 6))


def serve(repo, shared, rate_kib_s, port=PORT, address="0.0.0.0"):
    """Serve ``repo`` until killed."""
    Handler.throttle = Throttle(rate_kib_s * 1024)
    Handler.shared = shared
    Handler.hosts_file = os.path.join(os.path.dirname(shared.rstrip("/")), "cluster.json")
    handler = functools.partial(Handler, directory=repo)
    server = http.server.ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    server.serve_forever()


def uri(address, port=PORT):
    return f"http://{address}:{port}"
