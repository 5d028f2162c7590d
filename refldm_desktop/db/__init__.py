"""SQLAlchemy models, sessions and Alembic migrations of the identity database."""

from refldm_desktop.db.engine import DatabaseError, open_database, upgrade
from refldm_desktop.db.models import (
    AssignmentState,
    Base,
    Face,
    FaceAssignment,
    Job,
    JobState,
    LibraryFolder,
    Person,
    Photo,
    PhotoState,
    Version,
)

__all__ = [
    "AssignmentState",
    "Base",
    "DatabaseError",
    "Face",
    "FaceAssignment",
    "Job",
    "JobState",
    "LibraryFolder",
    "Person",
    "Photo",
    "PhotoState",
    "Version",
    "open_database",
    "upgrade",
]
