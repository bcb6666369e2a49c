"""The core's recipe rules, lent to the cloud stand-in's Greengrass service (which may not import the
core): CreateComponentVersion refuses a recipe the local core would refuse, naming each problem."""

from __future__ import annotations

from typing import Any


def recipe_problems(recipe: dict[str, Any]) -> list[str]:
    from greengrass_components.runtime.errors import RecipeError
    from greengrass_components.runtime.recipe_loader import recipe_from_document

    try:
        recipe_from_document(recipe, "inlineRecipe")
    except RecipeError as exc:
        return [str(problem) for problem in exc.problems]
    return []
