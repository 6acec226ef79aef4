"""Where the pieces are: Gantry's two objects, Debian's Apache and its modules, and the Python
version mod_gantry_python.so embeds."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import errors

APACHE_BIN = Path("/usr/sbin/apache2")
APACHE_MODULES_DIR = Path("/usr/lib/apache2/modules")
MODULE_NAME = "mod_gantry.so"
PYTHON_SIDE_NAME = "mod_gantry_python.so"


@dataclass(frozen=True)
class Installation:
    gantry_module: Path          # mod_gantry.so (its Python half sits next to it)
    apache_bin: Path
    apache_modules: Path         # where the MPMs and mod_rewrite etc. are
    python_version: tuple[int, int]  # major, minor of the Python Gantry embeds

    @property
    def python_executable(self) -> Path:
        """The interpreter of the embedded Python's version (Debian's /usr/bin/python3.X)."""
        return Path(f"/usr/bin/python{self.python_version[0]}.{self.python_version[1]}")


def module_candidates(tree_root: Path | None, installed_modules_dir: str | None) -> list[Path]:
    """Directories that may hold mod_gantry.so, in the order they are tried: GANTRY_MODULES_DIR,
    then a built checkout's build directory (GANTRY_BUILD_DIR, default `build`), then the
    directory `cmake --install` put the modules in."""
    out: list[Path] = []
    if os.environ.get("GANTRY_MODULES_DIR"):
        out.append(Path(os.environ["GANTRY_MODULES_DIR"]))
    if tree_root is not None:
        out.append(tree_root / os.environ.get("GANTRY_BUILD_DIR", "build") / "modules")
    if installed_modules_dir:
        out.append(Path(installed_modules_dir))
    return out


def embedded_python_version(python_side: Path) -> tuple[int, int]:
    """The libpython3.X that mod_gantry_python.so was linked against: its DT_NEEDED name is in
    the object's dynamic string table."""
    data = python_side.read_bytes()
    m = re.search(rb"libpython(\d+)\.(\d+)", data)
    if not m:
        raise errors.ExpressError(errors.MODULE_NOT_FOUND,
                                  f"{python_side} names no libpython: is it a Gantry build?")
    return int(m.group(1)), int(m.group(2))


def find_installation(tree_root: Path | None, installed_modules_dir: str | None) -> Installation:
    candidates = module_candidates(tree_root, installed_modules_dir)
    module = next((d / MODULE_NAME for d in candidates if (d / MODULE_NAME).is_file()), None)
    if module is None:
        looked = ", ".join(str(d) for d in candidates) or "(nowhere)"
        raise errors.ExpressError(
            errors.MODULE_NOT_FOUND,
            f"{MODULE_NAME} not found (looked in {looked}): build Gantry first "
            "(bash scripts/build.sh) or set GANTRY_MODULES_DIR to the directory that holds it")
    module = module.resolve()
    python_side = module.parent / PYTHON_SIDE_NAME
    if not python_side.is_file():
        raise errors.ExpressError(
            errors.MODULE_NOT_FOUND,
            f"{python_side} is missing: mod_gantry.so and {PYTHON_SIDE_NAME} must sit side by side")
    if not os.access(APACHE_BIN, os.X_OK):
        raise errors.ExpressError(errors.MODULE_NOT_FOUND,
                                  f"{APACHE_BIN} not found: apt-get install apache2")
    return Installation(module, APACHE_BIN, APACHE_MODULES_DIR,
                        embedded_python_version(python_side))
