#!/bin/sh
# hilnas set-up for a fresh Debian 12 machine: install the missing Debian packages (as root or
# through sudo), then configure and build in this source tree. Safe to run again.
#   sh scripts/setup.sh --dev   also the developers' tools: clang-format-15, the version the
#                               project's format is defined for (scripts/check-format.sh)
set -e
cd "$(dirname "$0")/.."

PACKAGES="build-essential autoconf automake libtool pkg-config libltdl-dev libyaml-dev
libjansson-dev libopenblas-dev liblapacke-dev libnlopt-dev libcriterion-dev libopenmpi-dev
openmpi-bin fortunes python3-numpy chromium groff-base"
DEV_PACKAGES="clang-format-15"
if [ "${1:-}" = "--dev" ]; then
    PACKAGES="$PACKAGES $DEV_PACKAGES"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "setup: installing:$missing"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    autoreconf -fi
fi
if [ ! -f Makefile ]; then
    ./configure
fi
make -j"$(nproc)"
