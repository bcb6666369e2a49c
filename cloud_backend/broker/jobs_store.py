"""IoT jobs as the stand-in keeps them: jobs and their executions per thing, in SQLite.

The rules are IoT's: an execution is QUEUED until its thing starts it (IN_PROGRESS), then ends
SUCCEEDED, FAILED, REJECTED, TIMED_OUT (in progress longer than the job's
`timeoutConfig.inProgressTimeoutInMinutes`) or CANCELED; a thing's next job is its oldest
IN_PROGRESS execution, else its oldest QUEUED one; every change raises the execution's version; a job is
COMPLETED when every execution has ended. Times are epoch seconds from the clock passed in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_backend.errors import BadInputError
from edgeway_common.sqlite_files import open_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    description TEXT NOT NULL,
    targets TEXT NOT NULL,
    status TEXT NOT NULL,
    timeout_minutes INTEGER,
    created_at REAL NOT NULL,
    last_updated_at REAL NOT NULL,
    completed_at REAL
);
CREATE TABLE IF NOT EXISTS executions (
    job_id TEXT NOT NULL,
    thing TEXT NOT NULL,
    status TEXT NOT NULL,
    status_details TEXT NOT NULL,
    queued_at REAL NOT NULL,
    started_at REAL,
    last_updated_at REAL NOT NULL,
    version INTEGER NOT NULL,
    execution_number INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (job_id, thing)
);
CREATE INDEX IF NOT EXISTS executions_by_thing ON executions (thing, status, seq);
CREATE TABLE IF NOT EXISTS rollouts (
    job_id TEXT PRIMARY KEY, per_minute INTEGER, abort TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS availability (
    job_id TEXT NOT NULL, thing TEXT NOT NULL, available_at REAL NOT NULL, notified INTEGER NOT NULL,
    PRIMARY KEY (job_id, thing)
);
"""
FAILURE_TYPES = {"FAILED": ("FAILED",), "REJECTED": ("REJECTED",), "TIMED_OUT": ("TIMED_OUT",),
                 "ALL": ("FAILED", "REJECTED", "TIMED_OUT")}  # fmt: skip
ENDED = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED"})
DEVICE_MAY_SET = frozenset({"IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"})


class JobError(BadInputError):
    """A jobs request that cannot be carried out; `code` is IoT's error code for it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Execution:
    job_id: str
    thing: str
    status: str
    status_details: dict[str, str]
    queued_at: float
    started_at: float | None
    last_updated_at: float
    version: int
    execution_number: int
    document: dict[str, Any]

    def mqtt(self) -> dict[str, Any]:
        """As the jobs MQTT API writes an execution (JobExecution)."""
        shown: dict[str, Any] = {
            "jobId": self.job_id,
            "thingName": self.thing,
            "jobDocument": self.document,
            "status": self.status,
            "queuedAt": int(self.queued_at),
            "lastUpdatedAt": int(self.last_updated_at),
            "versionNumber": self.version,
            "executionNumber": self.execution_number,
        }
        if self.status_details:
            shown["statusDetails"] = self.status_details
        if self.started_at is not None:
            shown["startedAt"] = int(self.started_at)
        return shown

    def summary(self) -> dict[str, Any]:
        shown = {
            "jobId": self.job_id,
            "queuedAt": int(self.queued_at),
            "lastUpdatedAt": int(self.last_updated_at),
            "versionNumber": self.version,
            "executionNumber": self.execution_number,
        }
        if self.started_at is not None:
            shown["startedAt"] = int(self.started_at)
        return shown


@dataclass(frozen=True)
class Job:
    job_id: str
    document: dict[str, Any]
    description: str
    targets: list[str]
    status: str
    timeout_minutes: int | None
    created_at: float
    last_updated_at: float
    completed_at: float | None


def thing_of(target: str) -> str:
    """`arn:aws:iot:<region>:<account>:thing/NAME` (or a bare name) -> NAME."""
    if target.startswith("arn:"):
        kind, _, name = target.split(":", 5)[-1].partition("/")
        if kind != "thing" or not name:
            raise JobError(
                "InvalidRequestException", f"target {target!r}: only thing targets are served locally"
            )
        return name
    return target


class JobsStore:
    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self._db = open_wal(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()
        self._clock = clock
        self._seq = int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM executions").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    # -- the control plane (CreateJob and friends) ------------------------------------------

    def create(
        self,
        job_id: str,
        targets: list[str],
        document: dict[str, Any],
        description: str,
        timeout_minutes: int | None,
        *,
        members: Callable[[str], list[str]] | None = None,
        per_minute: int | None = None,
        abort: list[dict[str, Any]] | None = None,
    ) -> tuple[Job, list[str]]:
        """The job and the things it was queued for. A thing group target (`members` says who is in it)
        queues an execution for each member; with `per_minute`, executions become available to their
        things at that rate (IoT's rollout); `abort` holds IoT's abort criteria."""
        things: list[str] = []
        for target in targets:
            if ":thinggroup/" in target:
                if members is None:
                    raise JobError(
                        "InvalidRequestException", f"target {target!r}: thing groups are not known here"
                    )
                things += [t for t in members(target.rsplit("/", 1)[-1]) if t not in things]
            elif (name := thing_of(target)) not in things:
                things.append(name)
        now = self._clock()
        with self._lock:
            if self._db.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone():
                raise JobError("ResourceAlreadyExistsException", f"job {job_id} already exists")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, 'IN_PROGRESS', ?, ?, ?, NULL)",
                (job_id, json.dumps(document), description, json.dumps(targets), timeout_minutes, now, now),
            )
            for index, thing in enumerate(things):
                self._seq += 1
                number = 1 + int(
                    self._db.execute("SELECT COUNT(*) FROM executions WHERE thing = ?", (thing,)).fetchone()[
                        0
                    ]
                )
                self._db.execute(
                    "INSERT INTO executions VALUES (?, ?, 'QUEUED', '{}', ?, NULL, ?, 1, ?, ?)",
                    (job_id, thing, now, now, number, self._seq),
                )
                at = now + (index * 60.0 / per_minute if per_minute else 0.0)
                self._db.execute(
                    "INSERT INTO availability VALUES (?, ?, ?, ?)", (job_id, thing, at, int(at <= now))
                )
            self._db.execute(
                "INSERT INTO rollouts VALUES (?, ?, ?)", (job_id, per_minute, json.dumps(abort or []))
            )
            self._db.execute("COMMIT")
        return self.job(job_id), things

    def job(self, job_id: str) -> Job:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobError("ResourceNotFoundException", f"job {job_id} does not exist")
        return Job(
            row[0], json.loads(row[1]), row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], row[8]
        )

    def executions_of_job(self, job_id: str) -> list[Execution]:
        self.job(job_id)
        return self._executions("e.job_id = ? ORDER BY e.seq", (job_id,))

    def cancel(self, job_id: str, reason: str) -> list[str]:
        """Cancels the job and its executions that have not ended; the things whose next job changed."""
        self.job(job_id)
        now = self._clock()
        with self._lock:
            things = [
                r[0]
                for r in self._db.execute(
                    "SELECT thing FROM executions WHERE job_id = ? AND status IN ('QUEUED', 'IN_PROGRESS')",
                    (job_id,),
                )
            ]
            self._db.execute(
                "UPDATE executions SET status = 'CANCELED', last_updated_at = ?, version = version + 1"
                " WHERE job_id = ? AND status IN ('QUEUED', 'IN_PROGRESS')",
                (now, job_id),
            )
            self._db.execute(
                "UPDATE jobs SET status = 'CANCELED', last_updated_at = ?, description = description || ?"
                " WHERE job_id = ?",
                (now, "" if not reason else f" (canceled: {reason})", job_id),
            )
        return things

    # -- the device's side (the jobs MQTT API) -----------------------------------------------

    def execution(self, job_id: str, thing: str) -> Execution:
        found = self._executions("e.job_id = ? AND e.thing = ?", (job_id, thing))
        if not found:
            raise JobError("ResourceNotFoundException", f"no execution of job {job_id} for thing {thing}")
        return found[0]

    def next_for(self, thing: str) -> Execution | None:
        """The thing's execution in progress, else its oldest queued one its rollout has released."""
        found = self._executions(
            "e.thing = ? AND (e.status = 'IN_PROGRESS' OR (e.status = 'QUEUED' AND NOT EXISTS ("
            "SELECT 1 FROM availability a WHERE a.job_id = e.job_id AND a.thing = e.thing"
            " AND a.available_at > ?)))"
            " ORDER BY CASE e.status WHEN 'IN_PROGRESS' THEN 0 ELSE 1 END, e.seq LIMIT 1",
            (thing, self._clock()),
        )
        return found[0] if found else None

    def released(self) -> list[str]:
        """Things with a queued execution the rollout has just made available (each told once)."""
        now = self._clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT a.job_id, a.thing FROM availability a JOIN executions e"
                " ON e.job_id = a.job_id AND e.thing = a.thing"
                " WHERE a.notified = 0 AND a.available_at <= ? AND e.status = 'QUEUED'",
                (now,),
            ).fetchall()
            self._db.executemany("UPDATE availability SET notified = 1 WHERE job_id = ? AND thing = ?", rows)
        return sorted({thing for _, thing in rows})

    def add_target(self, job_id: str, thing: str) -> bool:
        """A thing that joined a group the job targets gets an execution (a continuous job)."""
        job = self.job(job_id)
        if job.status != "IN_PROGRESS":
            return False
        now = self._clock()
        with self._lock:
            if self._db.execute(
                "SELECT 1 FROM executions WHERE job_id = ? AND thing = ?", (job_id, thing)
            ).fetchone():
                return False
            self._seq += 1
            number = 1 + int(
                self._db.execute("SELECT COUNT(*) FROM executions WHERE thing = ?", (thing,)).fetchone()[0]
            )
            self._db.execute(
                "INSERT INTO executions VALUES (?, ?, 'QUEUED', '{}', ?, NULL, ?, 1, ?, ?)",
                (job_id, thing, now, now, number, self._seq),
            )
            self._db.execute("INSERT INTO availability VALUES (?, ?, ?, 1)", (job_id, thing, now))
        return True

    def _abort_if_needed(self, job_id: str, now: float) -> None:
        row = self._db.execute("SELECT abort FROM rollouts WHERE job_id = ?", (job_id,)).fetchone()
        for criteria in json.loads(row[0]) if row else []:
            counted = FAILURE_TYPES.get(str(criteria.get("failureType", "FAILED")), ("FAILED",))
            statuses = [
                r[0] for r in self._db.execute("SELECT status FROM executions WHERE job_id = ?", (job_id,))
            ]
            executed = [s for s in statuses if s in ENDED]
            failed = [s for s in executed if s in counted]
            enough = len(executed) >= int(criteria.get("minNumberOfExecutedThings", 1))
            if enough and 100.0 * len(failed) / len(executed) >= float(
                criteria.get("thresholdPercentage", 100)
            ):
                self._db.execute(
                    "UPDATE executions SET status = 'CANCELED', last_updated_at = ?, version = version + 1"
                    " WHERE job_id = ? AND status = 'QUEUED'",
                    (now, job_id),
                )
                self._db.execute(
                    "UPDATE jobs SET status = 'CANCELED', last_updated_at = ?, description = description || ?"
                    " WHERE job_id = ?",
                    (
                        now,
                        f" (aborted: {len(failed)} of {len(executed)} executions {'/'.join(counted)})",
                        job_id,
                    ),
                )
                return

    def executions_of_thing(self, thing: str) -> list[Execution]:
        return self._executions("e.thing = ? ORDER BY e.seq DESC", (thing,))

    def jobs_targeting(self, target: str) -> list[str]:
        """Jobs in progress whose targets name `target` (a thing group ARN)."""
        rows = self._db.execute("SELECT job_id, targets FROM jobs WHERE status = 'IN_PROGRESS'").fetchall()
        return [job_id for job_id, targets in rows if target in json.loads(targets)]

    def pending_for(self, thing: str) -> list[Execution]:
        return self._executions(
            "e.thing = ? AND e.status IN ('IN_PROGRESS', 'QUEUED') ORDER BY e.seq", (thing,)
        )

    def start_next(self, thing: str, details: dict[str, str]) -> Execution | None:
        current = self.next_for(thing)
        if current is None or current.status == "IN_PROGRESS":
            return current
        return self.update(current.job_id, thing, "IN_PROGRESS", details, None)

    def update(
        self,
        job_id: str,
        thing: str,
        status: str,
        details: dict[str, str] | None,
        expected_version: int | None,
    ) -> Execution:
        current = self.execution(job_id, thing)
        if status not in DEVICE_MAY_SET:
            raise JobError(
                "InvalidRequestException", f"status {status!r}: a device may set {sorted(DEVICE_MAY_SET)}"
            )
        if current.status in ENDED:
            raise JobError("InvalidStateTransitionException", f"the execution is {current.status} already")
        if expected_version is not None and expected_version != current.version:
            raise JobError(
                "VersionMismatch",
                f"expected version {expected_version}, the execution is at {current.version}",
            )
        now = self._clock()
        merged = {**current.status_details, **(details or {})}
        started = current.started_at if current.started_at is not None or status == "QUEUED" else now
        with self._lock:
            self._db.execute(
                "UPDATE executions SET status = ?, status_details = ?, started_at = ?, last_updated_at = ?,"
                " version = version + 1 WHERE job_id = ? AND thing = ?",
                (status, json.dumps(merged), started, now, job_id, thing),
            )
            if status in ENDED:
                self._abort_if_needed(job_id, now)
            self._complete_if_done(job_id, now)
        return self.execution(job_id, thing)

    def time_out(self) -> list[str]:
        """Ends executions in progress past their job's timeout; the things they belonged to."""
        now = self._clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT e.job_id, e.thing FROM executions e JOIN jobs j ON j.job_id = e.job_id"
                " WHERE e.status = 'IN_PROGRESS' AND j.timeout_minutes IS NOT NULL"
                " AND e.started_at + j.timeout_minutes * 60 <= ?",
                (now,),
            ).fetchall()
            for job_id, thing in rows:
                self._db.execute(
                    "UPDATE executions SET status = 'TIMED_OUT', last_updated_at = ?, version = version + 1"
                    " WHERE job_id = ? AND thing = ?",
                    (now, job_id, thing),
                )
                self._complete_if_done(job_id, now)
        return [thing for _, thing in rows]

    def _complete_if_done(self, job_id: str, now: float) -> None:
        open_count = self._db.execute(
            "SELECT COUNT(*) FROM executions WHERE job_id = ? AND status IN ('QUEUED', 'IN_PROGRESS')",
            (job_id,),
        ).fetchone()[0]
        if open_count == 0:
            self._db.execute(
                "UPDATE jobs SET status = 'COMPLETED', completed_at = ?, last_updated_at = ?"
                " WHERE job_id = ? AND status = 'IN_PROGRESS'",
                (now, now, job_id),
            )

    def _executions(self, where: str, args: tuple[Any, ...]) -> list[Execution]:
        rows = self._db.execute(
            "SELECT e.job_id, e.thing, e.status, e.status_details, e.queued_at, e.started_at,"
            " e.last_updated_at, e.version, e.execution_number, j.document"
            f" FROM executions e JOIN jobs j ON j.job_id = e.job_id WHERE {where}",
            args,
        ).fetchall()
        return [
            Execution(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8], json.loads(r[9]))
            for r in rows
        ]
