"""Run the job queue of a home in the foreground with the test handler (for subprocess tests):

    python run_queue.py HOME
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import FakeBackend  # noqa: E402
from job_handlers import write_output  # noqa: E402

from refldm_desktop.core.home import Home  # noqa: E402
from refldm_desktop.core.library import Library  # noqa: E402
from refldm_desktop.jobs.runner import HandlerRegistry  # noqa: E402

if __name__ == "__main__":
    with Library.open(Home(Path(sys.argv[1])), backend=FakeBackend()) as lib:
        s = lib.jobs.run(HandlerRegistry({"restore_photo": write_output}))
    print(f"done {len(s.done)} failed {len(s.failed)} recovered {len(s.recovered)}")
