#!/usr/bin/env bash
# Start, or resume, the shipped MOSES VAE training in the background (survives this shell).
#   scripts/train_moses.sh [RUN_DIR]        default runs/moses_vae
# Stop it cleanly with `kill -TERM $(cat RUN_DIR/train.pid)` (checkpoint saved, exit code 75);
# pause/continue with SIGSTOP/SIGCONT. Export the best-so-far model at any time with
#   .venv/bin/python scripts/export_bundle.py RUN_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/moses_vae}
mkdir -p "$RUN"
if [ -f "$RUN/train.pid" ] && kill -0 "$(cat "$RUN/train.pid")" 2>/dev/null; then
  echo "already training: pid $(cat "$RUN/train.pid")" >&2
  exit 1
fi
# A fresh machine: continue from the checkpoint committed in training/moses_vae.
if [ ! -f "$RUN/checkpoint/state.json" ] && [ -f training/moses_vae/checkpoint/state.json ]; then
  cp -r training/moses_vae/. "$RUN/"
fi
# Resume with the recipe file: run-length settings and a property head added there take
# effect (anything else that differs from the checkpoint's config is refused with its name).
if [ -f "$RUN/checkpoint/state.json" ]; then
  ARGS=(workflows/configs/train_moses.toml "$RUN" --resume)
else
  ARGS=(workflows/configs/train_moses.toml "$RUN")
fi
setsid nohup .venv/bin/python -m molspace.model.train "${ARGS[@]}" >> "$RUN/train.log" 2>&1 < /dev/null &
echo $! > "$RUN/train.pid"
# setsid gives the run its own scheduler autogroup, where `nice` no longer yields to the
# other groups (the run took 85% of a core under nice 19): give the group our niceness.
# Only once setsid has run: before, the child is still in our autogroup, and the write
# would renice the caller's whole group instead (seen: the training at group nice 0, the
# caller's shell and everything it started later at 19).
PID=$!
leads_session() { [ "$(ps -o sid= -p "$PID" 2>/dev/null | tr -d ' ')" = "$PID" ]; }
for _ in $(seq 50); do
  leads_session && break
  sleep 0.1
done
if leads_session && [ -w "/proc/$PID/autogroup" ]; then
  echo "$(nice)" > "/proc/$PID/autogroup" 2>/dev/null || true
fi
echo "training in background: pid $(cat "$RUN/train.pid"), log $RUN/train.log"
