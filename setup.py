"""Only here to ship the top-level resources/ folder (icons, style sheet, .desktop file)
inside the package, as refldm_desktop/ui_resources; everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "refldm_desktop" / "ui_resources"
        shutil.copytree(Path(__file__).parent / "resources", target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithResources})
