"""Repositories: every query lives here (house rule: no SQL outside db/), one module per area."""

from .audit import AuditRepository
from .changes import ChangeRepository, EvidenceRepository
from .credentials import CredentialRepository
from .cmdb import CmdbRepository
from .dispatch import DispatchRepository
from .environments import EnvironmentFactRepository
from .runs import PlanRepository, RunRepository
from .schedule import ConflictAcceptanceRepository, FreezeRepository
from .tokens import TokenRepository

__all__ = ["AuditRepository", "ChangeRepository", "CmdbRepository", "ConflictAcceptanceRepository", "CredentialRepository",
           "EnvironmentFactRepository", "EvidenceRepository", "FreezeRepository", "TokenRepository",
           "PlanRepository", "RunRepository", "DispatchRepository"]
