"""What the fake API server does to a new batch/v1 Job before storing it: validation and defaults.

:func:`invalid_job` lists every cause the API server's validation would give (the fake
answers 422 ``Invalid`` with them); :func:`default_job` fills in what the API server
defaults (``backoffLimit: 6``, one completion, a selector on the Job's uid, and the
``job-name``/``controller-uid`` labels on the Job and its pod template).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")


def job_labels(name: str, uid: str) -> dict[str, str]:
    """The labels the API server puts on a Job and its pods."""
    return {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }


def invalid_job(job: Obj) -> list[str]:
    """Every cause the API server's validation gives for a new Job (empty: valid)."""
    causes: list[str] = []
    meta = _mapping(job.get("metadata"))
    raw_name = meta.get("name")
    name = raw_name if isinstance(raw_name, str) else str(raw_name or "")
    if not isinstance(raw_name, str) or len(name) > 253 or not _SUBDOMAIN.match(name):
        causes.append(f'metadata.name: Invalid value: "{name}": {_SUBDOMAIN_RULE}')
    elif len(name) > 63:
        causes.append(
            f'spec.template.labels: Invalid value: "{name}": must be no more than 63 characters'
        )
    spec = _mapping(job.get("spec"))
    template = _mapping(spec.get("template"))
    if "metadata" in template and not isinstance(template["metadata"], dict):
        causes.append("spec.template.metadata: Invalid value: must be an object")
    for where, holder in (("metadata", meta), ("spec.template.metadata", template.get("metadata"))):
        labels = _mapping(holder).get("labels")
        if labels is not None and not (
            isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())
        ):
            causes.append(f"{where}.labels: Invalid value: must be a map of strings")
    pod_spec = _mapping(template.get("spec"))
    containers = pod_spec.get("containers") or []
    if not isinstance(containers, list):
        causes.append("spec.template.spec.containers: Invalid value: must be a list")
        containers = []
    if not containers:
        causes.append("spec.template.spec.containers: Required value")
    for index, container in enumerate(containers):
        for required in ("name", "image"):
            if not isinstance(container, dict) or not container.get(required):
                causes.append(f"spec.template.spec.containers[{index}].{required}: Required value")
        if isinstance(container, dict):
            for field in ("command", "args", "env"):
                value = container.get(field)
                if value is not None and not isinstance(value, list):
                    causes.append(
                        f"spec.template.spec.containers[{index}].{field}: Invalid value: "
                        "must be a list"
                    )
            for env in container.get("env") or () if isinstance(container.get("env"), list) else ():
                if not isinstance(env, dict) or not env.get("name"):
                    causes.append(
                        f"spec.template.spec.containers[{index}].env[].name: Required value"
                    )
    policy = pod_spec.get("restartPolicy") or "Always"
    if policy not in ("Never", "OnFailure"):
        causes.append(
            f'spec.template.spec.restartPolicy: Unsupported value: "{policy}": '
            'supported values: "OnFailure", "Never"'
        )
    for field in ("backoffLimit", "completions", "parallelism", "ttlSecondsAfterFinished"):
        value = spec.get(field)
        if value is not None and (not isinstance(value, int) or value < 0):
            causes.append(
                f"spec.{field}: Invalid value: {value}: must be greater than or equal to 0"
            )
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
        causes.append(
            f"spec.activeDeadlineSeconds: Invalid value: {deadline}: must be greater than 0"
        )
    return causes


def default_job(job: Obj) -> None:
    """Apply the API server's defaults to a validated new Job (gives it its uid)."""
    meta, spec = job["metadata"], job.setdefault("spec", {})
    uid = meta.setdefault("uid", str(uuid.uuid4()))
    labels = job_labels(meta["name"], uid)
    meta["labels"] = {**labels, **(meta.get("labels") or {})}
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec.setdefault("manualSelector", False)
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec["template"]
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
    pod_spec = template["spec"]
    pod_spec.setdefault("terminationGracePeriodSeconds", 30)
    pod_spec.setdefault("dnsPolicy", "ClusterFirst")
    pod_spec.setdefault("schedulerName", "default-scheduler")
    pod_spec.setdefault("securityContext", {})


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
