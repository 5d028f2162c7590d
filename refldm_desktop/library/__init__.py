"""Folder scanning, hashing, EXIF and orientation, image decoding (Pillow only, no Qt)."""
