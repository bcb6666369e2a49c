from __future__ import annotations

import pytest

from greengrass_components.cloud.spool import Spool, SpoolFullError


def test_spool_is_ordered_bounded_and_durable(tmp_path):
    path = tmp_path / "spool.sqlite"
    spool = Spool(path, max_bytes=100)
    for seq in range(4):
        spool.add("t", f"message-{seq}".encode(), 1, False)  # 10 + 1 bytes each
    with pytest.raises(SpoolFullError, match="a message of 61 bytes to t was refused"):
        spool.add("t", b"x" * 60, 1, False)
    assert spool.refused == 1
    first = spool.oldest(2)
    assert [m.payload for m in first] == [b"message-0", b"message-1"]
    spool.remove(first[0])
    spool.close()

    reopened = Spool(path, max_bytes=100)
    assert reopened.count() == 3 and reopened.size_bytes == 30
    assert [m.payload for m in reopened.oldest(10)] == [b"message-1", b"message-2", b"message-3"]
    assert [m.payload for m in reopened.oldest(10, after=first[1].id)] == [b"message-2", b"message-3"]
