#!/usr/bin/env bash
# System packages that the browser and PostgreSQL tests need: Debian's chromium
# (renders the HTML report headless) and postgresql (a real server for the
# multi-worker Optuna test). Installs only what is missing; needs root for apt.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "note: ${need[*]} missing and not root: the tests that need them will be skipped" >&2
  exit 0
fi
echo "installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
