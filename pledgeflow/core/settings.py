"""All configuration, read once from ``PLEDGEFLOW_*`` environment variables or a ``.env`` file.

Nothing else in the code base reads ``os.environ``: take a :class:`Settings` (``get_settings()``).
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class SettingsError(Exception):
    """A setting has a value Pledgeflow cannot use; the message names the variable to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLEDGEFLOW_", env_file=".env", extra="ignore")

    home: Path = Field(Path(".pledgeflow"), description="Directory for dev state: database, mail, keys.")
    dev_mode: bool = Field(False, description="Enables /dev/mail and the dev-only conveniences.")

    database_url: str = Field("", description="SQLAlchemy URL; default: SQLite file under home.")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: str | None = None
    temporal_ui_port: int = Field(8233, ge=1, le=65535)
    temporal_ui_base_url: str = Field(
        "", description="Where staff open the Temporal UI; default: the dev server's UI beside the address."
    )
    task_queue: str = "pledges"
    email_task_queue: str = "pledge-email"
    worker_max_cached_workflows: int = Field(
        200, ge=0, description="Pledge workflows a worker keeps in memory; others are replayed when they wake."
    )
    worker_sandbox: bool = Field(
        False,
        description="Run pledge workflows in the SDK's sandbox, which checks workflows/pledge.py for calls a "
        "replay would not repeat, at about twice the workflow CPU; the test suite's workflow tests always do.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    public_base_url: str = "http://localhost:8000"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    email_rate_per_second: float = Field(10.0, gt=0, description="Messages per second the SMTP provider allows.")
    mail_from: str = "Pledgeflow <no-reply@pledgeflow.localhost>"
    vetting_team_email: str = "vetting@pledgeflow.localhost"
    vetting_lead_email: str = "vetting-lead@pledgeflow.localhost"
    secretariat_email: str = "secretariat@pledgeflow.localhost"

    inbound_host: str = "127.0.0.1"
    inbound_port: int = Field(2525, ge=1, le=65535)
    inbound_domain: str = "inbound.pledgeflow.localhost"
    inbound_webhook_secret: str | None = None
    soft_bounce_limit: int = Field(3, ge=1, description="Soft bounces in a row that make an address do-not-email.")

    secret_key: str = Field("", description="Signs tokens and Message-IDs; default: generated under home.")
    manage_token_days: int = Field(365, ge=1)
    report_token_days: int = Field(120, ge=1)

    iati_org_ref: str = Field("XI-PLEDGEFLOW", description="IATI identifier of the registry's publisher.")
    iati_org_name: str = Field("Pledgeflow registry", description="Name of the registry's publisher (IATI).")
    iati_org_type: str = Field("40", description="IATI OrganisationType code of the publisher (40 multilateral).")

    staff_session_idle_minutes: int = Field(30, ge=1, description="A staff session ends after this long unused.")
    staff_session_hours: int = Field(12, ge=1, description="A staff session ends this long after login, used or not.")

    # Rate limits, in the ``limits`` library's notation ("10/minute", "5 per hour", "100/day").
    rate_limit_submissions_per_address: str = "20/hour"
    rate_limit_submissions_per_email: str = "5/hour"
    rate_limit_staff_login: str = "10/minute"
    rate_limit_bad_staff_keys: str = "20/minute"
    rate_limit_inbound_webhook: str = "120/minute"
    max_request_bytes: int = Field(256 * 1024, ge=1024, description="Largest request body the API accepts.")

    metrics_token: str | None = Field(None, description="Bearer token Prometheus must send to GET /metrics.")
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve /metrics on its own address.")
    worker_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="The worker's Temporal SDK metrics for Prometheus on metrics_host (failed activities by type).",
    )

    policy: str = Field("default", description="Policy preset name (default, demo, global_compact).")
    policy_file: Path | None = Field(None, description="TOML file overriding the preset's numbers.")

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        if value:
            try:
                url = make_url(value)
            except ArgumentError as exc:
                raise ValueError(f"not a database URL ({exc})") from exc
            if url.get_backend_name() not in {"sqlite", "postgresql"}:
                raise ValueError(f"unsupported database {url.get_backend_name()!r}; use sqlite or postgresql")
        return value

    @field_validator(
        "rate_limit_submissions_per_address",
        "rate_limit_submissions_per_email",
        "rate_limit_staff_login",
        "rate_limit_bad_staff_keys",
        "rate_limit_inbound_webhook",
    )
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute' ({exc})") from exc
        return value

    @property
    def https(self) -> bool:
        """Served over https: cookies are Secure and ``__Host-`` prefixed, responses carry HSTS."""
        return self.public_base_url.lower().startswith("https://")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.home / 'pledgeflow.db').resolve()}"
        return self

    @property
    def temporal_ui_url(self) -> str:
        if self.temporal_ui_base_url:
            return self.temporal_ui_base_url.rstrip("/")
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.temporal_ui_port}"

    def workflow_ui_url(self, workflow_id: str) -> str:
        """A workflow's page in the Temporal UI, for staff who need to see why a pledge is where it is."""
        return f"{self.temporal_ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"

    def signing_key(self) -> bytes:
        """The secret that signs tokens and Message-IDs; in dev a random one kept under ``home``."""
        if self.secret_key:
            return self.secret_key.encode()
        key_file = self.home / "secret.key"
        if not key_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(32))
            key_file.chmod(0o600)
        return key_file.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's error into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            lines.append(f"PLEDGEFLOW_{field.upper()}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
