"""Repositories: every query lives here (house rule: no SQL outside db/), one module per area."""

from .audit import AuditRepository
from .changes import ChangeRepository, EvidenceRepository
from .cmdb import CmdbRepository
from .environments import EnvironmentFactRepository
from .schedule import ConflictAcceptanceRepository, FreezeRepository
from .tokens import TokenRepository

__all__ = ["AuditRepository", "ChangeRepository", "CmdbRepository", "ConflictAcceptanceRepository", "EnvironmentFactRepository",
           "EvidenceRepository", "FreezeRepository", "TokenRepository"]
