"""ReF-LDM Desktop: restore faces in old photos using good photos of the same person."""

__version__ = "0.1.0"
