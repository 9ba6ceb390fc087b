"""Validator onboarding: the operator self-check, the set's records, and adding or
removing validators by Kubernetes Job. Importing the package registers its commands."""

from __future__ import annotations

from commands.validators import onboarding, operator, roster

__all__ = ["onboarding", "operator", "roster"]
