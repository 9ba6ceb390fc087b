"""Composition of the sanity feature: the HTTP probes checks use, and the sanity
schedules kept in SQLite, re-registered with the scheduler at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.context import Services
from commands.common import SANITY_CHECKS
from commands.sanity.commands import PROBES, GateChecks
from commands.sanity.schedules import restore_schedules
from integrations.probes import HttpProbes

if TYPE_CHECKING:
    import aiohttp


def wire_sanity(services: Services, http: aiohttp.ClientSession, *, schedules: bool) -> None:
    """Hand commands their probes (:data:`PROBES`) and, with ``schedules``,
    register every stored sanity schedule (a one-off ``exec`` runs none)."""
    services.provide(PROBES, HttpProbes(http))
    services.provide(SANITY_CHECKS, GateChecks())
    if schedules:
        restore_schedules(services)
