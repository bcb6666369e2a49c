"""Labels derived from an analysis, as `{label: count}`: what the tag cloud counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSettings:
    motion_share: float = 0.01  # share of the frame that must change to say "motion"
    blurry_below: float = 100.0
    dark_below: float = 50.0
    bright_above: float = 200.0
    colour_share: float = 0.25


def derive_labels(
    faces: int,
    motion_share: float | None,
    blur: float | None,
    luma: float | None,
    colours: list[dict[str, float | str]],
    settings: LabelSettings = LabelSettings(),
) -> dict[str, int]:
    labels: dict[str, int] = {}
    if faces:
        labels["face"] = faces
        labels["person"] = 1
    if motion_share is not None and motion_share >= settings.motion_share:
        labels["motion"] = 1
    if blur is not None and blur < settings.blurry_below:
        labels["blurry"] = 1
    if luma is not None and luma < settings.dark_below:
        labels["dark"] = 1
    elif luma is not None and luma > settings.bright_above:
        labels["bright"] = 1
    for colour in colours:
        if float(colour["share"]) >= settings.colour_share:
            labels[str(colour["name"])] = 1
    return labels
