"""The components the local core stands in for, as the nucleus presents them to recipes.

A real core lists `aws.greengrass.Nucleus` and the plugins it runs in its own process among its
components, and public recipes depend on them (`aws.greengrass.Nucleus` `>=2.5.0 <2.15.0`, say). The
local core serves their IPC itself, so it offers recipes for them at the versions below: a deployment
that needs one gets it, and it reports RUNNING, provided by the core (no process of its own).
"""

from __future__ import annotations

from .recipe_loader import recipe_from_document
from .recipe_model import Recipe

NUCLEUS_VERSION = "2.14.3"
BUILT_IN = {
    # name: (type, version, what the local core does in its place)
    "aws.greengrass.Nucleus": ("aws.greengrass.nucleus", NUCLEUS_VERSION, "the local core itself"),
    "aws.greengrass.Cli": ("aws.greengrass.plugin", NUCLEUS_VERSION, "the core's CLI IPC service"),
    "aws.greengrass.ShadowManager": ("aws.greengrass.plugin", "2.3.9", "the core's shadow IPC service"),
}
PROVIDED_BY_CORE = frozenset(kind for kind, _, _ in BUILT_IN.values())


def built_in_recipes() -> list[Recipe]:
    return [
        recipe_from_document(
            {
                "RecipeFormatVersion": "2020-01-25",
                "ComponentName": name,
                "ComponentVersion": version,
                "ComponentType": kind,
                "ComponentDescription": f"Provided by the edgeway local core: {what}.",
                "ComponentPublisher": "AWS",
                "Manifests": [{"Lifecycle": {}}],
            },
            f"<built-in {name}>",
        )
        for name, (kind, version, what) in BUILT_IN.items()
    ]
