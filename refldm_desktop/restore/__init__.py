"""Restorers and the photo pipeline: crop, restore, paste back, write a new version."""
