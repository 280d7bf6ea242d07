#!/usr/bin/env bash
# System packages that the browser, PostgreSQL and SLURM tests need: Debian's chromium
# (renders the HTML report headless), postgresql (a real server for the multi-worker
# Optuna tests) and slurm-wlm + munge (a one-node SLURM cluster the tests start in a
# temp dir, tests/integration/_slurm.py; no daemon is enabled or started here).
# Installs only what is missing; needs root for apt.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
for bin in slurmctld slurmd sbatch; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
    need+=(slurm-wlm)
    break
  fi
done
command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || need+=(munge)
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
