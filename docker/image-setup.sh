#!/bin/sh
# The image's one build step (docker/Dockerfile runs it; the packaging tests run it in a
# Debian 12 chroot): install libapache2-mod-gantry with apt - the package pulls Apache and
# libpython3.11 and its postinst enables the module - then leave Apache with no site and no
# port of its own: the entrypoint writes the one site from the GANTRY_* variables into
# /etc/gantry-container/.
#   image-setup.sh /path/to/libapache2-mod-gantry_VERSION_ARCH.deb
set -eu
deb=$1
apt-get update -q
# apache2: the package's Recommends (a2enmod, Debian's config), kept minimal here;
# curl: the container health check (docker/compose.yaml) requests the app with it.
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" apache2 curl
rm -rf /var/lib/apt/lists/*
a2enmod -q gantry
a2dissite -q 000-default
a2disconf -q other-vhosts-access-log
: > /etc/apache2/ports.conf
echo 'IncludeOptional /etc/gantry-container/*.conf' > /etc/apache2/conf-available/gantry-container.conf
a2enconf -q gantry-container
mkdir -p /srv/app /etc/gantry-container
