"""Find the system binaries some tests need.

Outside CI a missing binary skips the test with the reason; in CI (``CI=true``) it
fails the test, because CI's set-up script is supposed to have installed it.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str) -> str:
    """Return the path of ``name`` on PATH, or skip (outside CI) / fail (in CI)."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"needs the `{name}` binary on PATH (installed by ./scripts/test as root)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + "; CI must not skip it")
    pytest.skip(message)
