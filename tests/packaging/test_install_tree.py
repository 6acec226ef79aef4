"""`cmake --install` puts the two objects in Apache's module directory and Debian's a2enmod
files in mods-available; each object exports only what is looked up in it; the version is
the project's one version."""
import os
import re
import subprocess

import conftest

MODULES = subprocess.run(["apxs", "-q", "LIBEXECDIR"], check=True, capture_output=True,
                         text=True).stdout.strip()


def exported(path):
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def test_install_layout(workdir):
    dest = workdir / "destdir"
    subprocess.run(["cmake", "--install", str(conftest.BUILD_DIR)], check=True, capture_output=True,
                   env={**os.environ, "DESTDIR": str(dest)})
    for name in ("mod_gantry.so", "mod_gantry_python.so"):
        assert (dest / MODULES.lstrip("/") / name).is_file()
    load = (dest / "etc/apache2/mods-available/gantry.load").read_text()
    assert f"LoadModule wsgi_module {MODULES}/mod_gantry.so" in load
    assert load.startswith("# Conflicts: wsgi\n")  # a2enmod reads it from the first lines
    conf = (dest / "etc/apache2/mods-available/gantry.conf").read_text()
    assert "#WSGIRestrictEmbedded On" in conf and "#WSGISocketPrefix /run/apache2/wsgi" in conf
    express = conftest.SOURCE_DIR / "bin/gantry-express"
    installed = list(dest.rglob("bin/gantry-express"))
    assert bool(installed) == express.exists()


def test_objects_export_only_their_entry_points():
    modules = conftest.BUILD_DIR / "modules"
    assert exported(modules / "mod_gantry.so") == {"wsgi_module"}
    assert exported(modules / "mod_gantry_python.so") == {"gantry_python_api", "gantry_daemon_main"}


def test_one_version():
    cmake = (conftest.SOURCE_DIR / "CMakeLists.txt").read_text()
    version = re.search(r"project\(gantry VERSION (\S+)", cmake).group(1)
    so = (conftest.BUILD_DIR / "modules/mod_gantry.so").read_bytes()
    assert f"Gantry/{version}\0".encode() in so
    cache = (conftest.BUILD_DIR / "CPackConfig.cmake").read_text()
    assert f'set(CPACK_PACKAGE_VERSION "{version}")' in cache
    # Written nowhere else in the sources.
    hits = subprocess.run(["git", "-C", str(conftest.SOURCE_DIR), "grep", "-l", "-F", f"Gantry/{version}",
                           "--", "core", "module", "daemon", "include"], capture_output=True, text=True).stdout
    assert hits == ""
