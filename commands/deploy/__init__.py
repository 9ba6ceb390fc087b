"""Deploys and rollbacks: plans, durable runs, the rollout watch, failure reports,
locks and history. Importing the package registers its commands."""

from __future__ import annotations

from commands.deploy import deploy, history, locks, rollback

__all__ = ["deploy", "history", "locks", "rollback"]
