#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run them all.
# This is the README's test command, and .ci/run calls it.
set -uo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet -r requirements-dev.txt || exit 1

# The browser tests drive Debian's Chromium (playwright cannot download its own browser here);
# the deployment test puts deploy/nginx.conf in front of two replicas.
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null || {
    echo "could not install$missing with apt-get" >&2; exit 1; }
fi

python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here, not a pass" >&2
  exit 1
fi
exit "$rc"
