"""Ray for ``emorec batch``: installed or not, a cluster's address checked before anything is written,
a local Ray on loopback when no address is given."""

from __future__ import annotations

import os
import socket
from typing import Optional

from ..errors import EmorecError

INSTALL_HINT = 'pip install ".[ray]"'  # from a checkout: emorec is not on a package index
MIN_RAY = (2, 51)
_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def require_ray():
    """The ``ray`` module (with Ray Data), or :class:`EmorecError` saying which extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise EmorecError(f"emorec batch runs on Ray Data, which is not installed ({e.name or 'ray'} is "
                          f"missing): {INSTALL_HINT}; 'emorec detect' analyses photos on this machine without it") from e
    version = tuple(int(p) for p in ray.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_RAY:
        raise EmorecError(f"ray {ray.__version__} is too old for emorec batch (needs ray[data]>="
                          f"{'.'.join(map(str, MIN_RAY))}): {INSTALL_HINT} --upgrade")
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast (:class:`EmorecError`) when a cluster address's host:port does not answer: ``ray.init``
    would otherwise wait a long time. ``auto`` and addresses without a port are left to Ray."""
    rest = address.split("://", 1)[-1].strip().rstrip("/")
    if address in ("auto", "local") or ":" not in rest:
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        raise EmorecError(f"--address {address}: expected HOST:PORT (e.g. 10.0.0.5:6379 or ray://head:10001)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise EmorecError(f"cannot reach the Ray cluster at {address}: {why}. Start one with 'ray start --head' "
                          "(or check the address and firewall), or leave out --address to run on this machine") from e


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None):
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a local Ray on loopback only, usage
    statistics and dashboard off. Returns ``(ray, started_here)``; ``started_here`` when this call
    started Ray (the caller shuts it down). An already initialised Ray is used as it is."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray Data's log lines would bury the progress bar and the summary; its errors still come back as
    # exceptions. RAY_DATA_LOG_LEVEL=INFO shows them.
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray = require_ray()
    if address:
        check_address(address)
    if ray.is_initialized():
        return ray, False
    common = dict(include_dashboard=False, logging_level="error", log_to_driver=False, configure_logging=True)
    if address is None:
        # Ray gives its servers the machine's network address unless it believes it is on a laptop without
        # cluster support; this switch (read at import, hence set in both places) makes it use 127.0.0.1,
        # so nothing listens beyond loopback. Put back once Ray runs: its processes have what they need.
        from ray._private import ray_constants

        env, flag = os.environ.get(_LOCAL_ONLY), ray_constants.ENABLE_RAY_CLUSTER
        os.environ[_LOCAL_ONLY], ray_constants.ENABLE_RAY_CLUSTER = "0", False
        try:
            # address="local": always a Ray of its own, never a cluster already running on this machine (nor a
            # stale /tmp/ray/ray_current_cluster left by one that is gone)
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, _node_ip_address="127.0.0.1",
                     object_store_memory=256 * 2**20, **common)
        except Exception as e:  # Ray raises its own types (and RuntimeError) for a start that fails
            raise EmorecError(f"cannot start a local Ray: {e}") from e
        finally:
            ray_constants.ENABLE_RAY_CLUSTER = flag
            if env is None:
                os.environ.pop(_LOCAL_ONLY, None)
            else:
                os.environ[_LOCAL_ONLY] = env
        return ray, True
    try:
        ray.init(address=address, **common)
    except Exception as e:
        raise EmorecError(f"cannot connect to the Ray cluster at {address}: {str(e).strip().splitlines()[0]}") from e
    return ray, True
