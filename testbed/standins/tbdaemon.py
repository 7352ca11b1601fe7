"""
What every test-bed service daemon shares: how it stops. SIGTERM ends it, unless the fault
file /var/lib/synnefo-testbed/faults/HOST/refuse-stop-SERVICE exists (a service that refuses
to stop). Shipped as /usr/lib/testbed/tbdaemon.py.
"""

import os
import signal
import socket
import sys


def stop_on_sigterm(service):
    fault = f"/var/lib/synnefo-testbed/faults/{socket.gethostname()}/refuse-stop-{service}"

    def on_term(*_):
        if not os.path.exists(fault):
            sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)


def ready(service):
    """Tell the init script the daemon is serving (it waits for this before returning)."""
    open(f"/run/{service}.ready", "w").close()
