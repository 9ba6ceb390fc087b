"""Which image tag a deploy rolls, and the checks made on it before anything changes:
the tag's form follows what the network runs now (unless ``tag_template`` says
otherwise), a change of form is a warning, and the tag must exist in its registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.config import NetworkConfig
from bot.context import Services
from bot.errors import CommandError
from commands.deploy.rollout import Step
from commands.deploy.versions import Version
from integrations.image_refs import RegistryDenied, RegistryUnreachable, tag_form
from integrations.kube_models import split_image

DEFAULT_TEMPLATE = "{version}"
"""The tag form when neither the config nor the running images say one."""
FORM_WARNINGS_SHOWN = 3


@dataclass
class TagPlan:
    """The tag a deploy rolls, how it was chosen, and what the user should be told."""

    tag: str
    template: str
    warnings: list[str] = field(default_factory=list)


def running_template(steps: Sequence[Step]) -> str | None:
    """The tag form most of the network's containers run now (None if none has one)."""
    counts: dict[str, int] = {}
    for step in steps:
        for image in step.before.values():
            form = tag_form(split_image(image)[1])
            if form is not None:
                counts[form] = counts.get(form, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda form: counts[form])


def choose_tag(net: NetworkConfig, version: Version, steps: list[Step]) -> TagPlan:
    """Pick the tag for ``version`` and point every step's ``after`` at it.

    ``steps`` come from :func:`commands.deploy.rollout.plan_steps`; their ``before`` is what
    runs now. A tag whose form differs from a running one is named in a warning.
    """
    template = net.tag_template or running_template(steps) or DEFAULT_TEMPLATE
    try:
        tag = version.tag(template)
    except ValueError as exc:
        raise CommandError(f"Cannot deploy `{version}`: {exc}.") from None
    changes: list[str] = []
    for step in steps:
        step.after = {c: f"{split_image(img)[0]}:{tag}" for c, img in step.before.items()}
        for image in step.before.values():
            old = split_image(image)[1] or split_image(image)[2] or "(none)"
            if tag_form(old) != tag_form(tag) and old not in changes:
                changes.append(old)
    plan = TagPlan(tag=tag, template=template)
    if changes:
        shown = ", ".join(f"`{old}`" for old in changes[:FORM_WARNINGS_SHOWN])
        more = f" and {len(changes) - FORM_WARNINGS_SHOWN} more" if len(changes) > 3 else ""
        plan.warnings.append(
            f"⚠️ The tag form changes: {shown}{more} → `{tag}` (tag_template `{template}`). "
            "Check the registry publishes tags in this form."
        )
    return plan


async def check_image(
    services: Services,
    net: NetworkConfig,
    steps: Sequence[Step],
    plan: TagPlan,
    *,
    skip: bool,
    retry_hint: str,
) -> None:
    """Make sure every image the deploy would roll exists in its registry.

    A missing tag is refused, naming it. A registry that cannot be asked is refused
    too, unless ``skip`` (``--skip-image-check``), in which case the plan carries a
    warning. With ``registry.check: false`` nothing is asked.
    """
    if not net.registry.check:
        return
    repositories = sorted({split_image(img)[0] for s in steps for img in s.after.values()})
    if skip:
        plan.warnings.append(
            f"⚠️ Image check skipped (--skip-image-check): `{plan.tag}` was not looked up "
            "in its registry."
        )
        return
    if services.images is None:
        raise CommandError("Image registries are not available in this bot.")
    for repository in repositories:
        where = services.images.where(net, repository)
        image = f"{repository}:{plan.tag}"
        try:
            found = await services.images.tag_exists(net, repository, plan.tag)
        except (RegistryUnreachable, RegistryDenied) as exc:
            raise CommandError(
                f"⚠️ Could not check that `{image}` exists: {exc}. Nothing was changed. "
                f"If you know the image is published, run `{retry_hint} --skip-image-check`."
            ) from None
        if not found:
            raise CommandError(
                f"Refused: the image `{image}` does not exist in {where}. Nothing was changed; "
                f"check the version and the network's tag form (`{plan.template}`)."
            )
