"""Face backends, alignment, quality scores, clustering and reference choice."""
