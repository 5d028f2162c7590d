"""ReF-LDM Desktop: restore faces in old photos using good photos of the same person."""

import os

__version__ = "0.1.0"

# torch's CPU threads (GNU OpenMP) spin at every barrier before they sleep. When another
# program holds one of the cores, a spinning thread waits for one that is not running, at
# every one of the thousands of operators in a denoising step. Measured on a 2-core EPYC beside
# one busy process: a UNet pass took 12.5 s spinning and 3.3 s sleeping at once; beside a test
# suite, 4.5-4.7 s against 3.0-3.2 s; on the quiet machine, 1.69-1.73 s against 1.66-1.72 s
# (benchmarks/profile_face.py, 2 threads). It must be set before torch
# is first imported, which this package does lazily; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
