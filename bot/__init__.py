"""testnet-bot's runtime: configuration, CLI, composition, dispatch and delivery."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("testnet-bot")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
