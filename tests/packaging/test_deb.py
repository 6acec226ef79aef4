"""libapache2-mod-gantry as an administrator meets it: `apt install ./file.deb` into a fresh
Debian 12 root, `a2enmod gantry`, a daemon-mode site from conf-examples served by Apache
(in a sandbox: own network namespace, loopback only), mod_wsgi refused alongside it, then
`apt remove` and `apt purge` leave nothing behind. The tests run in order on one root."""
import subprocess

import pytest

import conftest
import rootfs

SITE = "/srv/sample-app"


@pytest.fixture(scope="module")
def root(workdir, base_tarball):
    root = conftest.new_root(workdir, "deb")
    yield root
    root.remove()


def dpkg_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_control_fields(deb):
    assert dpkg_field(deb, "Package") == "libapache2-mod-gantry"
    depends = [d.strip() for d in dpkg_field(deb, "Depends").split(",")]
    api = subprocess.run(["dpkg-query", "-W", "-f=${Provides}", "apache2-bin"], check=True,
                         capture_output=True, text=True).stdout
    assert next(d for d in depends if d.startswith("apache2-api-")) in api
    assert any(d.startswith("libpython3.11") for d in depends), depends
    assert not dpkg_field(deb, "Conflicts")  # installing both is fine; enabling both is not


def test_maintainer_scripts_use_the_helper(deb, workdir):
    out = workdir / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(out)], check=True)
    for script, action in (("postinst", "enmod"), ("prerm", "dismod"), ("postrm", "dismod")):
        text = (out / script).read_text()
        assert ". /usr/share/apache2/apache2-maintscript-helper" in text
        assert f"apache2_invoke {action} gantry" in text
    assert set((out / "conffiles").read_text().split()) == {
        "/etc/apache2/mods-available/gantry.load", "/etc/apache2/mods-available/gantry.conf"}


def test_install_enables_the_module(root, deb):
    conftest.install_deb(root, deb)
    assert root.file("/usr/lib/apache2/modules/mod_gantry.so").exists()
    assert root.file("/usr/lib/apache2/modules/mod_gantry_python.so").exists()
    assert root.file("/etc/apache2/mods-enabled/gantry.load").is_symlink()
    r = root.sh("a2enmod gantry")
    assert "already enabled" in r.stdout


def test_daemon_site_from_conf_examples_serves(root):
    site = (conftest.SOURCE_DIR / "conf-examples/daemon-single.conf").read_text()
    root.sh(f"mkdir -p {SITE}")
    root.file(SITE + "/app.wsgi").write_bytes(
        (conftest.SOURCE_DIR / "conf-examples/sample-app/app.wsgi").read_bytes())
    root.file("/etc/apache2/sites-available/gantry-sample.conf").write_text(
        site.replace("@SAMPLE_APP@", SITE))
    root.sh("a2ensite gantry-sample && apache2ctl -t")
    box = rootfs.Sandbox(root)
    try:
        box.run("apache2ctl start")
        r = rootfs.wait_for(lambda: _get(box, "/site.wsgi/?info"), 60, "the sample site")
        status, body = r
        assert status == "200", body
        assert '"process_group": "myapplication"' in body
        assert "wsgi_module (shared)" in box.run("apache2ctl -M").stdout
        box.run("apache2ctl stop")
        rootfs.wait_for(lambda: not root.file("/run/apache2/apache2.pid").exists(), 60,
                        "Apache to stop")
    finally:
        box.close()


def _get(box, path):
    r = box.run(f"curl -s -o /dev/stdout -w '\\n%{{http_code}}' http://127.0.0.1{path}", check=False)
    if r.returncode != 0:
        return None
    body, _, status = r.stdout.rpartition("\n")
    return status, body


def test_enabling_mod_wsgi_too_fails_the_config_test(root):
    root.apt("install", "--no-install-recommends", "libapache2-mod-wsgi-py3")
    # Its postinst enabled wsgi next to gantry: the config test names both and the fix.
    assert root.file("/etc/apache2/mods-enabled/wsgi.load").exists()
    r = root.sh("apache2ctl -t", check=False)
    assert r.returncode != 0
    assert "GANTRY0600" in r.stderr and "a2dismod wsgi" in r.stderr, r.stderr
    # Apache's own "AH01574: module wsgi_module is already loaded, skipping" is only a warning
    # (LoadModule runs while the files are read); GANTRY0600 is what makes the test fail.
    assert "Syntax error" in r.stderr and "mods-enabled/gantry.load" in r.stderr
    # The other order: with wsgi enabled, a2enmod refuses gantry.
    root.sh("a2dismod -q gantry")
    r = root.sh("a2enmod gantry", check=False)
    assert r.returncode != 0 and "wsgi" in r.stdout + r.stderr, r
    root.sh("a2dismod -q wsgi && a2enmod -q gantry && apache2ctl -t")


def test_remove_then_purge_leave_nothing(root):
    root.sh("a2dissite -q gantry-sample")
    root.apt("remove", "libapache2-mod-gantry")
    assert not root.file("/usr/lib/apache2/modules/mod_gantry.so").exists()
    assert not root.file("/usr/lib/apache2/modules/mod_gantry_python.so").exists()
    assert not root.file("/etc/apache2/mods-enabled/gantry.load").exists()
    root.sh("apache2ctl -t")  # Apache still starts without it
    root.apt("purge", "libapache2-mod-gantry")
    left = root.sh("find / -xdev -iname '*gantry*' -not -path '/srv/*'"
                   " -not -path '/tmp/*' -not -name 'gantry-sample*'"
                   " -not -path '/var/cache/apt/archives/*'", timeout=120).stdout.split()
    assert left == []
    state = root.sh("dpkg-query -W -f='${db:Status-Status}' libapache2-mod-gantry",
                    check=False).stdout
    assert state in ("", "not-installed")
