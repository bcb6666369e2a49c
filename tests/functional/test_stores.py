"""The repositories behave the same in SQLite and in DynamoDB (moto), with the template's keys."""

from __future__ import annotations

import pytest

from cloud_backend.errors import StoreError
from cloud_backend.store.records import ChatMessage, Presence, Window
from cloud_backend.store.sqlite import SqliteDatabase, SqliteMessageStore
from tests.backend_support import sqlite_stores, stores_of

KINDS = ["sqlite", "dynamodb"]


def message(n: int, room: str = "lobby", ts: int = 1_700_000_000_000, uid: str = "") -> ChatMessage:
    return ChatMessage(
        room, f"{ts}#{uid or n:08}", f"m{n}", "ada", f"text {n}", ts, "user-1", ts // 1000 + 60
    )


@pytest.mark.parametrize("kind", KINDS)
def test_recent_messages_oldest_first_per_room(kind, tmp_path):
    with stores_of(kind, tmp_path) as stores:
        for n in range(60):
            stores.messages.put(message(n, ts=1_700_000_000_000 + n))
        stores.messages.put(message(99, room="field"))
        recent = stores.messages.recent("lobby", 50)
        assert [m.id for m in recent] == [f"m{n}" for n in range(10, 60)]
        assert recent[-1] == message(59, ts=1_700_000_000_059)
        assert [m.id for m in stores.messages.recent("field", 50)] == ["m99"]
        assert stores.messages.recent("nowhere", 50) == []


@pytest.mark.parametrize("kind", KINDS)
def test_two_messages_in_the_same_millisecond_both_survive(kind, tmp_path):
    with stores_of(kind, tmp_path) as stores:
        stores.messages.put(message(1, uid="aaaa"))
        stores.messages.put(message(2, uid="bbbb"))
        assert {m.id for m in stores.messages.recent("lobby", 10)} == {"m1", "m2"}


@pytest.mark.parametrize("kind", KINDS)
def test_an_item_as_the_store_rule_writes_it_is_read_back_as_a_message_and_a_bad_key_refused(kind, tmp_path):
    """The rule's DynamoDBv2 action puts its SELECT output as the item, every attribute as it is."""
    item = {"room": "lobby", "text": "hi", "id": "m1", "user": "ada", "clientId": "user-1",
            "ts": 1_700_000_000_000, "sk": "1700000000000#m1#u", "expiresAt": 1_700_000_060,
            "extra": {"kept": [1, 2]}}  # fmt: skip
    with stores_of(kind, tmp_path) as stores:
        stores.messages.put_item(item)
        (read,) = stores.messages.recent("lobby", 10)
        assert read == ChatMessage(
            "lobby", item["sk"], "m1", "ada", "hi", item["ts"], "user-1", 1_700_000_060
        )
        for bad in ({"room": "lobby", "text": "no sort key"}, {"room": 7, "sk": "k"}):
            with pytest.raises(ValueError, match="lacks its key attribute"):
                stores.messages.put_item(bad)
        assert len(stores.messages.recent("lobby", 10)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_presence_round_trip_and_online_listing(kind, tmp_path):
    with stores_of(kind, tmp_path) as stores:
        stores.presence.put(Presence("user-1", "ada", True, 10, "lobby"))
        stores.presence.put(Presence("user-2", "bob", True, 11, "field"))
        stores.presence.put(Presence("sensor-1", "sensor-1", False, 12, kind="device"))
        assert stores.presence.get("user-1") == Presence("user-1", "ada", True, 10, "lobby")
        assert stores.presence.get("nobody") is None
        assert [p.nick for p in stores.presence.online()] == ["ada", "bob"]
        assert [p.nick for p in stores.presence.online_in("field")] == ["bob"]


@pytest.mark.parametrize("kind", KINDS)
def test_telemetry_windows_keep_floats_and_find_the_latest(kind, tmp_path):
    with stores_of(kind, tmp_path) as stores:
        first = Window("gw-1", "temp", 60_000, 2, 20.5, 21.25, 41.75, 21.25, 61_000)
        second = Window("gw-1", "temp", 120_000, 1, 30.0, 30.0, 30.0, 30.0, 121_000, alerting=True)
        stores.telemetry.put(first)
        stores.telemetry.put(second)
        assert stores.telemetry.get("gw-1", "temp", 60_000) == first
        assert stores.telemetry.get("gw-1", "temp", 0) is None
        assert stores.telemetry.latest("gw-1", "temp") == second
        assert stores.telemetry.latest("gw-1", "humidity") is None


def test_sqlite_puts_items_together_however_many_and_none_if_one_lacks_its_key(tmp_path):
    """The writer's grouped items go in as multi-row INSERTs of a power of two rows each: every
    count comes out whole, in sort-key order, and an item without its key keeps the others out."""
    db = SqliteDatabase(tmp_path / "backend.sqlite3")
    store, put = SqliteMessageStore(db), 0
    try:
        for count in (1, 2, 3, 7, 511, 1024, 1025, 2047):
            room = f"r{count}"
            store.put_items([message(n, room=room).to_item() for n in range(count)])
            put += count
            kept = store.recent(room, 5000)
            assert [m.id for m in kept] == [f"m{n}" for n in range(count)], count
            assert kept[-1] == message(count - 1, room=room)
        with pytest.raises(ValueError, match="lacks its key attribute"):
            store.put_items([message(1, room="bad").to_item(), {"room": "bad", "text": "no sort key"}])
        assert store.recent("bad", 10) == []
        with db.cursor("count") as connection:
            assert connection.execute("SELECT count(*) FROM messages").fetchone()[0] == put
    finally:
        db.close()


def test_sqlite_messages_survive_reopening(tmp_path):
    with sqlite_stores(tmp_path) as stores:
        stores.messages.put(message(1))
    with sqlite_stores(tmp_path) as stores:
        assert [m.id for m in stores.messages.recent("lobby", 5)] == ["m1"]


@pytest.mark.parametrize("kind", KINDS)
def test_record_ids_are_new_once_per_thing_and_forgotten_after_two_days(kind, tmp_path):
    with stores_of(kind, tmp_path) as stores:
        now = 1_700_000_000_000
        assert stores.telemetry.first_seen("gw-1", ["a", "b"], now) == {"a", "b"}
        assert stores.telemetry.first_seen("gw-1", ["b", "c"], now + 1) == {"c"}
        assert stores.telemetry.first_seen("gw-2", ["a"], now + 2) == {"a"}  # ids are per thing
        if kind == "sqlite":  # DynamoDB's TTL expiry is DynamoDB's own, not observable in moto
            assert stores.telemetry.first_seen("gw-1", ["a"], now + 3 * 24 * 3600 * 1000) == {"a"}


def test_a_sqlite_transaction_commits_at_its_end_and_keeps_nothing_when_it_fails(tmp_path):
    """The stand-in's writer commits a burst of writes together (`SqliteDatabase.transaction`)."""
    db = SqliteDatabase(tmp_path / "backend.sqlite3")
    store = SqliteMessageStore(db)
    try:
        with db.transaction():
            store.put(message(1))
            store.put(message(2))
            assert {m.id for m in store.recent("lobby", 10)} == {"m1", "m2"}  # this thread sees its writes
        assert {m.id for m in store.recent("lobby", 10)} == {"m1", "m2"}
        with pytest.raises(RuntimeError, match="stop"), db.transaction():
            store.put(message(3))
            raise RuntimeError("stop")
        assert {m.id for m in store.recent("lobby", 10)} == {"m1", "m2"}
        with pytest.raises(StoreError, match="rolled back"), db.transaction():
            store.put(message(4))
            with db.cursor("roll back") as connection:
                connection.execute("ROLLBACK")  # as SQLite does itself after some errors
        assert {m.id for m in store.recent("lobby", 10)} == {"m1", "m2"}
    finally:
        db.close()
