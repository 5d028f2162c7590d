"""Views: the photo grid, the photo view with face boxes, the compare view (and the People
engineer's pages)."""
