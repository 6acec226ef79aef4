"""Gantry's two objects may sit where Apache's unprivileged users cannot look: a build under
/root, a private install directory. The root parent loads mod_gantry.so, and the children and
daemon processes, which load mod_gantry_python.so only after dropping privileges (or entering
a chroot), must still find it - as mod_wsgi's single object, loaded by root, always is."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import harness

pytestmark = [pytest.mark.gantry_only, pytest.mark.embedded_only]

CONFIG = """
WSGIDaemonProcess private processes=1 threads=2
WSGIScriptAlias /embedded @APPS@/env.wsgi
WSGIScriptAlias /daemon @APPS@/env.wsgi process-group=private application-group=%{GLOBAL}
"""


@pytest.fixture(scope="module")
def apache(mpm):
    private = Path(tempfile.mkdtemp(prefix="gantry-private-modules-"))  # mode 0700
    try:
        for name in ("mod_gantry.so", "mod_gantry_python.so"):
            shutil.copy(harness.gantry_module_path().parent / name, private / name)
        saved = os.environ.get("GANTRY_MODULES_DIR")
        os.environ["GANTRY_MODULES_DIR"] = str(private)  # read while the config is written
        try:
            server = harness.Apache(CONFIG, mpm=mpm, name="private-modules")
        finally:
            if saved is None:
                del os.environ["GANTRY_MODULES_DIR"]
            else:
                os.environ["GANTRY_MODULES_DIR"] = saved
        assert f"LoadModule wsgi_module {private}/mod_gantry.so" in server.conf.read_text()
        with harness.running(server) as a:
            yield a
    finally:
        shutil.rmtree(private)


def test_directory_is_private(apache):
    line = next(l for l in apache.conf.read_text().splitlines() if "mod_gantry.so" in l)
    directory = Path(line.split()[-1]).parent
    assert os.stat(directory).st_mode & 0o077 == 0


@pytest.mark.parametrize("path,group", [("/embedded", ""), ("/daemon", "private")])
def test_python_side_loads_from_a_private_directory(apache, path, group):
    r = apache.get(path)
    assert r.status == 200, apache.log_text()[-2000:]
    assert r.json()["mod_wsgi.process_group"] == group
