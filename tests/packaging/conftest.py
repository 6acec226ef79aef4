"""Fixtures of the packaging tests (ctest -L packaging): the .deb built from the build tree,
and fresh Debian 12 roots (rootfs.py) to install it in. Needs root, mmdebstrap, unshare,
nsenter and the package archive; the first run builds and caches the base root."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rootfs  # noqa: E402

SOURCE_DIR = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("GANTRY_BUILD_DIR", SOURCE_DIR / "build"))


def pytest_configure(config):
    if os.getuid() != 0:
        raise pytest.UsageError("the packaging tests need root (chroot, namespaces, mounts)")


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="gantry-packaging-", dir="/var/tmp"))
    yield d
    if not os.environ.get("GANTRY_TEST_KEEP"):
        subprocess.run(["rm", "-rf", "--one-file-system", str(d)], check=False)


@pytest.fixture(scope="session")
def deb(workdir) -> Path:
    """libapache2-mod-gantry_VERSION_ARCH.deb, made by CPack from the build tree."""
    out = workdir / "cpack"
    subprocess.run(["cpack", "--config", str(BUILD_DIR / "CPackConfig.cmake"), "-B", str(out)],
                   check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    debs = list(out.glob("libapache2-mod-gantry_*.deb"))
    assert len(debs) == 1, f"cpack made {debs}"
    return debs[0]


@pytest.fixture(scope="session")
def base_tarball() -> Path:
    return rootfs.base_tarball()


def new_root(workdir: Path, name: str) -> rootfs.Root:
    root = rootfs.Root(workdir / "roots" / name)
    root.update()
    return root


def install_deb(root: rootfs.Root, deb: Path) -> None:
    shutil.copy(deb, root.file("/tmp") / deb.name)
    root.apt("install", f"/tmp/{deb.name}")  # as an admin would: Recommends (apache2) too


@pytest.fixture(scope="session")
def image_root(workdir, deb, base_tarball) -> rootfs.Root:
    """A root made the way docker/Dockerfile makes the image (docker/image-setup.sh with the
    package, the entrypoint in /usr/local/bin), shared by the container and scale-out tests
    (the install/remove test uses its own)."""
    reuse = os.environ.get("GANTRY_PACKAGING_IMAGE_ROOT")
    if reuse:  # while working on the tests: a root an earlier run kept (GANTRY_TEST_KEEP=1)
        root = rootfs.Root.existing(Path(reuse))
    else:
        root = rootfs.Root(workdir / "roots" / "image")
        shutil.copy(deb, root.file("/tmp") / deb.name)
        shutil.copy(SOURCE_DIR / "docker/image-setup.sh", root.file("/tmp/image-setup.sh"))
        root.sh(f"sh /tmp/image-setup.sh /tmp/{deb.name}")
    entrypoint = root.file("/usr/local/bin/gantry-entrypoint")
    shutil.copy(SOURCE_DIR / "docker/entrypoint.sh", entrypoint)
    entrypoint.chmod(0o755)
    yield root
    if not reuse and not os.environ.get("GANTRY_TEST_KEEP"):
        root.remove()
