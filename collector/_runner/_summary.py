"""What a run did, per tenant: shown live, printed at the end, stored in the catalog.

The run's exit code comes from the tenants' statuses (`exit_code`); the codes are in `_exits`.
A tenant's one-line form (`summary_line`) is shared by the log (the `summary_log` built-in plugin)
and the progress lines `collector._cli._output` prints off a terminal.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from collector._base._exits import EXIT_OK, EXIT_PARTIAL, EXIT_WAITING


class TenantStatus(str, enum.Enum):
    """How a tenant's job ended."""

    OK = "ok"
    WAITING = "waiting"  # finished; only items the vendor is still processing are left
    PARTIAL = "partial"  # finished, but something was deferred, failed or quarantined
    STOPPED = "stopped"  # the tenant (or its downloads) stopped early; see messages
    FAILED = "failed"  # the job could not run at all


@dataclass
class TenantSummary:
    """Counters for one tenant in one run; also the live progress the terminal shows."""

    source: str
    tenant: str
    phase: str = "waiting"
    status: TenantStatus = TenantStatus.OK
    new_recordings: int = 0
    updated_recordings: int = 0
    transcripts: int = 0
    audio_files: int = 0
    audio_bytes: int = 0
    retried: int = 0
    quarantined: int = 0
    deferred: int = 0
    failed: int = 0
    unavailable: int = 0
    waiting: int = 0
    held_recordings: int = 0
    failed_total: int = 0
    requests: int = 0
    throttled: int = 0
    bandwidth_limited: int = 0
    waited_seconds: float = 0.0
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """`source/tenant`, how the tenant is named in output."""
        return f"{self.source}/{self.tenant}"

    @property
    def nothing_new(self) -> bool:
        """True when the run found no new work at all for this tenant."""
        return not (self.new_recordings or self.updated_recordings or self.transcripts or self.audio_files)

    def problem(self, message: str, status: TenantStatus = TenantStatus.STOPPED) -> None:
        """Record why the tenant did not finish cleanly (the worst status wins)."""
        if message not in self.messages:
            self.messages.append(message)
        order = list(TenantStatus)
        if order.index(status) > order.index(self.status):
            self.status = status

    def count_retry(self) -> None:
        """One more request (or download) was retried."""
        self.retried += 1

    def settle(self) -> None:
        """Derive the final status from the counters once the job has ended."""
        if self.status in (TenantStatus.OK, TenantStatus.WAITING) and (self.deferred or self.failed
                                                                         or self.quarantined):
            self.status = TenantStatus.PARTIAL
        elif self.status is TenantStatus.OK and self.waiting:
            self.status = TenantStatus.WAITING
        self.phase = "done"

    def log_fields(self) -> dict[str, Any]:
        """The summary as fields of a JSON log line (`event`, `source`, `tenant` and the counts)."""
        fields = {k: v for k, v in self.as_dict().items() if isinstance(v, (int, str))}
        return {**fields, "event": "tenant_summary"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TenantSummary:
        """A summary back from `as_dict`'s form (as the catalog keeps it); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["status"] = TenantStatus(values.get("status", TenantStatus.FAILED.value))
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (stored in the catalog, printed by --json)."""
        data = asdict(self)
        data["status"] = self.status.value
        return data


def exit_code(summaries: list[TenantSummary]) -> int:
    """The run's exit code from its tenants' outcomes."""
    return exit_code_of([s.status for s in summaries])


def exit_code_of(statuses: list[TenantStatus]) -> int:
    """The exit code of a pass whose tenants ended so (also for a pass the cluster ran)."""
    if all(status is TenantStatus.OK for status in statuses):
        return EXIT_OK
    if all(status in (TenantStatus.OK, TenantStatus.WAITING) for status in statuses):
        return EXIT_WAITING
    return EXIT_PARTIAL


def summary_line(s: TenantSummary) -> str:
    """One tenant's progress or outcome as a log line."""
    state = s.phase if s.phase != "done" else s.status.value
    return (
        f"{s.label} [{state}]: {s.new_recordings} new, {s.updated_recordings} updated, {s.transcripts} transcripts, "
        f"{s.audio_files} audio files ({size_text(s.audio_bytes)}), {s.retried} retried, "
        f"{s.waiting} waiting for the vendor, {s.quarantined} quarantined, "
        f"{s.deferred} deferred, {s.failed} failed"
    )


def size_text(n: int) -> str:
    """A byte count as people read it: "812 B", "3.4 MB"."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover
