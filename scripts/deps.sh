#!/bin/sh
# Installs the Debian 12 packages authguard needs to build, test and demo.
# Installs only what is missing, so a second run is quick.
set -eu
pkgs="build-essential autoconf automake libtool pkg-config
libpam0g-dev libsodium-dev libhiredis-dev libevent-dev libinih-dev libsystemd-dev
libcmocka-dev libpam-wrapper libpamtest0-dev pamtester valgrind clang gnuplot-nox
redis-server redis-sentinel jq libnss-wrapper"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "deps.sh: run as root to install:$missing" >&2; exit 1; }
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
