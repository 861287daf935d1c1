import os

# Pin BLAS before anything imports numpy (the demos' matrices are small; threads only hurt).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import socket  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini"
BROKEN = FIXTURES / "broken"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees the developer's own entries or cache, and none reaches the internet."""
    monkeypatch.delenv("EVOLLM_DATA", raising=False)
    monkeypatch.delenv("EVOLLM_NO_CACHE", raising=False)
    monkeypatch.setenv("EVOLLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    real_connect = socket.socket.connect

    def loopback_only(self, address, *args):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
            raise OSError(f"test tried to reach {host}: tests never use the network")
        return real_connect(self, address, *args)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)


@pytest.fixture
def cli():
    """Invoke the evollm CLI in-process; returns a function args -> Result (stdout and stderr apart)."""
    from typer.testing import CliRunner

    from evollm.cli import app

    runner = CliRunner()

    def invoke(*args, **kwargs):
        kwargs.setdefault("catch_exceptions", False)  # a crash fails the test; it is not read as exit 1
        return runner.invoke(app, [str(a) for a in args], **kwargs)

    return invoke


try:  # property tests: small by default, `pytest --hypothesis-profile long` searches deeper
    from hypothesis import HealthCheck, settings

    settings.register_profile("default", max_examples=40, deadline=None,
                              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    settings.register_profile("long", max_examples=2000, deadline=None,
                              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # pragma: no cover
    pass
