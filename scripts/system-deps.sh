#!/usr/bin/env bash
# Installs the system packages the test suite drives as real programs, when they are missing:
# Debian's chromium and chromium-driver (the HTML report is checked in a headless browser),
# postgresql (the scale-out tests start their own PostgreSQL servers from its binaries), and for
# the deploy files (tests/test_deploy.py): systemd (systemd-analyze, -sysusers, -tmpfiles),
# buildah and mmdebstrap (the image is built FROM a base made of Debian's packages: no container
# registry is needed) and systemd-container (systemd-nspawn boots the units); the last three
# installed in about 14 s here.
# Idempotent; uses apt-get as root (CI runs as root) and says what it skipped otherwise.
set -euo pipefail
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
command -v systemd-analyze >/dev/null 2>&1 || packages+=(systemd)
command -v buildah >/dev/null 2>&1 || packages+=(buildah)
command -v mmdebstrap >/dev/null 2>&1 || packages+=(mmdebstrap)
command -v systemd-nspawn >/dev/null 2>&1 || packages+=(systemd-container)
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: not installing ${packages[*]} (needs root and apt-get); the tests that drive them are skipped." >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${packages[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${packages[@]}" >/dev/null; }
echo "system-deps: installed ${packages[*]}" >&2
