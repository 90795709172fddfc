"""The one build step pyproject.toml cannot say: ship the corpus and the recipes.

The repository's top-level ``data/`` and ``recipes/`` stay the only copies in git; building
a wheel copies them into the package as ``framebank/_shipped/{data,recipes}``, where
``framebank._resources.shipped_dir`` finds them once installed. An editable install reads the
checkout's own folders instead, so nothing is copied for it.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("data", "recipes")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "framebank" / "_shipped"
        for name in SHIPPED:
            source = ROOT / name
            if not source.is_dir():
                raise FileNotFoundError(f"{source} is missing: the sdist must carry {name}/")
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithShippedFiles})
