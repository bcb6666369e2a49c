"""Unit normalisation: every reading leaves in one canonical unit per quantity.

temperature -> degC, pressure -> hPa, relative share -> %, data size -> MiB, duration -> s. A unit not in
the table passes through unchanged (the reading keeps the unit it came with).
"""

from __future__ import annotations

from collections.abc import Callable

_CONVERSIONS: dict[str, tuple[str, Callable[[float], float]]] = {
    "degC": ("degC", lambda v: v),
    "C": ("degC", lambda v: v),
    "°C": ("degC", lambda v: v),
    "mdegC": ("degC", lambda v: v / 1000.0),  # Linux thermal zones and hwmon
    "degF": ("degC", lambda v: (v - 32.0) * 5.0 / 9.0),
    "F": ("degC", lambda v: (v - 32.0) * 5.0 / 9.0),
    "°F": ("degC", lambda v: (v - 32.0) * 5.0 / 9.0),
    "K": ("degC", lambda v: v - 273.15),
    "hPa": ("hPa", lambda v: v),
    "mbar": ("hPa", lambda v: v),
    "Pa": ("hPa", lambda v: v / 100.0),
    "kPa": ("hPa", lambda v: v * 10.0),
    "psi": ("hPa", lambda v: v * 68.9475729),
    "%": ("%", lambda v: v),
    "ratio": ("%", lambda v: v * 100.0),
    "B": ("MiB", lambda v: v / 1048576.0),
    "KiB": ("MiB", lambda v: v / 1024.0),
    "kB": ("MiB", lambda v: v * 1000.0 / 1048576.0),
    "MiB": ("MiB", lambda v: v),
    "GiB": ("MiB", lambda v: v * 1024.0),
    "ms": ("s", lambda v: v / 1000.0),
    "s": ("s", lambda v: v),
}


def normalise(value: float, unit: str) -> tuple[float, str]:
    conversion = _CONVERSIONS.get(unit)
    if conversion is None:
        return value, unit
    canonical, convert = conversion
    return convert(value), canonical


def known_units() -> list[str]:
    return sorted(_CONVERSIONS)
