"""Releases: the required pull requests, the branch, cherry-picks, the release
workflow's build and the artifact checklist. Importing the package registers its
commands."""

from __future__ import annotations

from commands.release import branch, build, status

__all__ = ["branch", "build", "status"]
