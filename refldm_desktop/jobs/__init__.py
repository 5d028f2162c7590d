"""The persistent job queue and its single GPU-owning worker thread (plain threads, no Qt)."""
