#!/usr/bin/env bash
# Install everything the selected tests need, check the code (ruff, mypy), then run the tests.
# This is the README's test command, and .ci/run calls it. Arguments go to pytest:
# `bash scripts/test.sh -m "not browser"` runs the fast lane and installs no system package.
set -uo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet -r requirements-dev.txt -c constraints.txt || exit 1

# The static checks come first: a lint or type error fails the run before any test starts.
# Both read their settings (and mypy its files) from pyproject.toml.
python -m ruff check . || exit 1
python -m ruff format --check . || exit 1
python -m mypy || exit 1

# Which Debian packages the selected tests need (by their markers: tests/conftest.py), and of
# those, which are missing. A collection error is left for the real run to report.
needs="$(mktemp)"
trap 'rm -f "$needs"' EXIT
FPE_SYSTEM_NEEDS="$needs" python -m pytest --collect-only -q "$@" >/dev/null 2>&1
missing=""
for pkg in $(cat "$needs"); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "installing$missing with apt-get (the selected tests need it)" >&2
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
