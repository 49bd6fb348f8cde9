"""Start the real `palisade demo` on loopback, port 0, for the Python client tests."""

import json
import os
import pathlib
import signal
import subprocess
import tempfile
import threading

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def finite_rows(outputs):
    """Which rows of a reference's outputs (name -> array, rows first) are finite throughout:
    where one is not, Palisade refuses the call with 422 rather than answer it."""
    finite = np.ones(len(next(iter(outputs.values()))), dtype=bool)
    for v in outputs.values():
        if v.dtype.kind == "f":
            finite &= np.isfinite(v.reshape(len(v), -1)).all(axis=1)
    return finite


def palisade_binary():
    explicit = os.environ.get("PALISADE_BIN")
    if explicit:
        return explicit
    for profile in ("debug", "release"):
        candidate = ROOT / "target" / profile / "palisade"
        if candidate.exists():
            return str(candidate)
    pytest.fail("no palisade binary: build it with `cargo build` or set PALISADE_BIN")


class Server:
    def __init__(self, state, ready, process):
        self.state = pathlib.Path(state)
        self.ready = ready
        self.process = process
        self.data_url = ready["data_plane"]
        # tritonclient takes host:port; the dev certificate covers localhost.
        self.data_hostport = "localhost:" + self.data_url.rsplit(":", 1)[1]
        self.ca = str(self.state / "tls" / "ca.pem")

    def token(self, role):
        return (self.state / "keys" / f"{role}.token").read_text().strip()


@pytest.fixture(scope="session")
def server():
    state = tempfile.mkdtemp(prefix="palisade-py-")
    process = subprocess.Popen(
        [palisade_binary(), "demo", "--state-dir", state, "--port", "0", "--admin-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline()
    ready = json.loads(line)
    assert ready["event"] == "ready"
    # Drain the banner so the server never writes into a full pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    yield Server(state, ready, process)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
