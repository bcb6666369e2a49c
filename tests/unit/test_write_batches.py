"""The writer thread cuts what piled up into transactions of at most MAX_BATCH writes, a group of
writes made by one call counting as all of them (`cloud_backend.local.write_thread`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_backend.local.write_thread import MAX_BATCH, Group, batches, weight


def write_of(size: int):
    """A write of `size`: a group of that many items, or (size 1, sometimes) a plain write."""
    if size == 1:
        return (print, ("plain",), print)
    group = Group("table", print)
    for n in range(size):
        group.add(n, n)
    return (print, (group,), group.failed)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, MAX_BATCH + 40), max_size=30))
def test_chunks_keep_the_order_and_stay_within_a_batch_unless_one_write_is_more(sizes):
    batch = [write_of(size) for size in sizes]
    chunks = batches(batch)
    assert [at for start, end in chunks for at in range(start, end)] == list(range(len(batch)))
    for start, end in chunks:
        weighed = sum(weight(w) for w in batch[start:end])
        assert weighed <= MAX_BATCH or end - start == 1
    for start, end in chunks[:-1]:  # none cut before it had to be
        assert sum(weight(w) for w in batch[start : end + 1]) > MAX_BATCH


def test_a_group_counts_as_its_items():
    assert weight(write_of(1)) == 1 and weight(write_of(7)) == 7
