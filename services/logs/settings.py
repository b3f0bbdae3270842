"""Settings of the logs service."""

from __future__ import annotations

from pydantic import Field

from libs.platform.settings import PlatformSettings


class LogsSettings(PlatformSettings):
    #: Lines fetched from ``LOGS`` per batch (one COPY per day partition, one commit, then one ack).
    batch_size: int = Field(5000, alias="STUDIOS_LOGS_BATCH", ge=1, le=100_000)
    #: How long a partly filled fetch waits for more lines (FastStream/nats-py would wait 5 s by default).
    fetch_wait_seconds: float = Field(0.05, alias="STUDIOS_LOGS_FETCH_WAIT_SECONDS", gt=0)
    #: How long a fetched batch may stay unacked before JetStream hands it out again (a slow commit); a copy that
    #: comes again is at or below the stored position and is skipped. A killed leader's successor does not wait for
    #: it: it recreates the consumer from the stored position.
    ack_wait_seconds: float = Field(30.0, alias="STUDIOS_LOGS_ACK_WAIT_SECONDS", gt=0)
    #: Retention by age, per kind, in days: older day partitions are dropped whole.
    session_retention_days: int = Field(30, alias="STUDIOS_LOGS_SESSION_RETENTION_DAYS", ge=1)
    build_retention_days: int = Field(90, alias="STUDIOS_LOGS_BUILD_RETENTION_DAYS", ge=1)
    job_retention_days: int = Field(30, alias="STUDIOS_LOGS_JOB_RETENTION_DAYS", ge=1)
    #: Day partitions kept created ahead of today (and the retention pass's interval).
    days_ahead: int = Field(2, alias="STUDIOS_LOGS_DAYS_AHEAD", ge=1)
    maintenance_interval_seconds: float = Field(3600.0, alias="STUDIOS_LOGS_MAINTENANCE_SECONDS", gt=0)
    #: A query reply carries at most this many bytes of lines, and never more than the NATS server's max_payload
    #: allows (1 MiB by default; 8 MiB is NATS' advised ceiling); the gateway asks again from its cursor for the rest.
    reply_bytes: int = Field(64 * 1024 * 1024, alias="STUDIOS_LOGS_REPLY_BYTES", ge=64 * 1024)

    def retention_days(self) -> dict[str, int]:
        return {"session": self.session_retention_days, "build": self.build_retention_days,
                "job": self.job_retention_days}
