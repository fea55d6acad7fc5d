"""One settings object, from environment variables CHANGEGATE_*."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy" / "default.yaml"


def _default_database_url() -> str:
    return f"sqlite:///{Path(user_data_dir('changegate')) / 'changegate.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHANGEGATE_")

    database_url: str = Field(default_factory=_default_database_url)
    policy: Path | None = None  # None: the user's policy.yaml if present, else the shipped default
    max_evidence_bytes: int = 25 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024  # any other request body (CHANGEGATE_MAX_BODY_BYTES); larger: 413
    # Where the validated policy is kept between CLI calls, keyed by the file's content (parsing it costs
    # more than a whole remote call); CHANGEGATE_CACHE_DIR="" turns the cache off.
    cache_dir: Path | None = Field(default_factory=lambda: Path(user_cache_dir("changegate")))
    # How long finished background jobs are kept (theirs in background_jobs, procrastinate's own on
    # PostgreSQL) before the workers prune them; failed ones longer, for the post-mortem (docs/runner.md).
    job_retention_days: float = Field(default=30, gt=0)
    failed_job_retention_days: float = Field(default=90, gt=0)
    # CLI: talk to a server instead of the local database.
    url: str | None = None
    token: str | None = None
    user: str | None = None  # who the local CLI acts as

    def policy_cache_dir(self) -> Path | None:
        return self.cache_dir if self.cache_dir and str(self.cache_dir) not in ("", ".") else None

    def policy_path(self) -> Path:
        if self.policy is not None:
            return self.policy
        user_policy = Path(user_data_dir("changegate")) / "policy.yaml"
        return user_policy if user_policy.exists() else DEFAULT_POLICY


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
