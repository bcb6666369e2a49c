"""Zips whose bytes depend only on their members: fixed timestamps, fixed permissions, the order given.

An unchanged artifact then has an unchanged digest, so recipes can carry it, a deployer can skip an
upload, and a CloudFormation stack sees no change.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def deterministic_zip(members: Iterable[tuple[str, bytes]]) -> bytes:
    """`members` as (name inside the zip, bytes), deflated, each readable by everyone."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
