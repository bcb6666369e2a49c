"""Joins and the slash commands: /nick, /join, /rooms, /who, /history N. One table of commands; each
validates its argument, then acts on the presence and message repositories."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from cloud_backend.chat_contract import InputError
from cloud_backend.handlers import chat_replies as send
from cloud_backend.handlers.backend import Backend
from cloud_backend.handlers.chat_messages import Command, is_room, not_a_room
from cloud_backend.store.records import Presence

NICK = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
CURSOR = re.compile(r"[0-9]{1,16}#.{1,110}", re.DOTALL)  # a message's sort key: time#id#uuid (fullmatch)
MAX_HISTORY = 50


def _presence(backend: Backend, client_id: str, user: str | None) -> Presence:
    found = backend.presence.get(client_id)
    if found is not None:
        return found
    return Presence(client_id, user or client_id, True, backend.now_ms())


def join(backend: Backend, client_id: str, room: str, user: str | None) -> InputError | None:
    if not is_room(room):
        return not_a_room(room, "room")
    presence = _presence(backend, client_id, user)
    if presence.nick == client_id and user:
        presence = replace(presence, nick=user)
    if presence.room and presence.room != room:
        send.system(backend, presence.room, f"{presence.nick} left for {room}")
    backend.presence.put(replace(presence, room=room, online=True))
    send.history(backend, client_id, room, send.HISTORY_ON_JOIN)
    send.system(backend, room, f"{presence.nick} joined")
    return None


def _nick(backend: Backend, client_id: str, command: Command) -> InputError | None:
    if not NICK.match(command.argument):
        return InputError("/nick needs a name of 1 to 32 letters, digits, _ . or -", "text")
    presence = _presence(backend, client_id, command.user)
    backend.presence.put(replace(presence, nick=command.argument))
    send.reply(backend, client_id, "nick", nick=command.argument)
    if presence.room:
        send.system(backend, presence.room, f"{presence.nick} is now {command.argument}")
    return None


def _join(backend: Backend, client_id: str, command: Command) -> InputError | None:
    if not command.argument:
        return InputError("/join needs a room", "text")
    return join(backend, client_id, command.argument, command.user)


def _rooms(backend: Backend, client_id: str, command: Command) -> InputError | None:
    online = backend.presence.online()
    rooms = [*backend.rooms, *sorted({p.room for p in online if p.room} - set(backend.rooms))]
    counts = {room: sum(1 for p in online if p.room == room) for room in rooms}
    send.reply(backend, client_id, "rooms", rooms=[{"room": r, "online": n} for r, n in counts.items()])
    return None


def _current_room(backend: Backend, client_id: str, named: str | None) -> str | InputError:
    """The room named, else the one the client is in."""
    room = named or _presence(backend, client_id, None).room
    if not room:
        return InputError("join a room first, or name one", "text")
    if not is_room(room):
        return not_a_room(room, "text")
    return room


def _who(backend: Backend, client_id: str, command: Command) -> InputError | None:
    room = _current_room(backend, client_id, command.argument or command.room)
    if isinstance(room, InputError):
        return room
    nicks = sorted(p.nick for p in backend.presence.online_in(room))
    send.reply(backend, client_id, "who", room=room, users=nicks)
    return None


def _history(backend: Backend, client_id: str, command: Command) -> InputError | None:
    """/history [N [CURSOR]]: the last N messages, or the N before the cursor a page gave."""
    count, _, cursor = command.argument.partition(" ")
    count = count or str(MAX_HISTORY)
    if not count.isdigit() or not 1 <= int(count) <= MAX_HISTORY:
        return InputError(f"/history takes a number from 1 to {MAX_HISTORY}", "text")
    cursor = cursor.strip()
    if cursor and not CURSOR.fullmatch(cursor):
        return InputError("/history's cursor is the one a history page gave", "text")
    room = _current_room(backend, client_id, command.room)
    if isinstance(room, InputError):
        return room
    send.history(backend, client_id, room, int(count), cursor or None)
    return None


COMMANDS: dict[str, Callable[[Backend, str, Command], InputError | None]] = {
    "nick": _nick,
    "join": _join,
    "rooms": _rooms,
    "who": _who,
    "history": _history,
}


def run(backend: Backend, client_id: str, command: Command) -> InputError | None:
    action = COMMANDS.get(command.name)
    if action is None:
        return InputError(
            f"unknown command /{command.name}; commands are {', '.join('/' + c for c in COMMANDS)}", "text"
        )
    return action(backend, client_id, command)
