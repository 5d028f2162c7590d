"""SQLAlchemy models, sessions and Alembic migrations of the identity database."""

from refldm_desktop.db.engine import DatabaseError, open_database, upgrade
from refldm_desktop.db.models import (
    AssignmentState,
    Base,
    Face,
    FaceAssignment,
    LibraryFolder,
    Person,
    Photo,
    PhotoState,
)

__all__ = [
    "AssignmentState",
    "Base",
    "DatabaseError",
    "Face",
    "FaceAssignment",
    "LibraryFolder",
    "Person",
    "Photo",
    "PhotoState",
    "open_database",
    "upgrade",
]
