#!/usr/bin/env bash
# The benchmark suite, one command: this mirror against proxpi, devpi-server and nginx serving the same
# bytes as static files, in the same run on the same machine. See bench/README.md.
#
#   bench/run.sh                          # everything, ~11 minutes on 2 cores; prints the report
#   RECORD=1 bench/run.sh                 # ... and append it to bench/RESULTS.md
#   PROJECTS=requests WITH_INSTALL=0 WITH_COLD=0 DURATION=3s bench/run.sh   # a quick look
#   PHASES="prepare-big warm-under-cold project-list" bench/run.sh          # the cold-path phases only
#   SOAK=300 bench/run.sh                 # the 5-minute RSS soak
#   PROFILE=1 bench/run.sh                # add py-spy profiles of the mirror (installs py-spy once)
#
# Everything listens on 127.0.0.1, every step is bounded in time, and everything the suite starts is
# stopped on exit (normal end, error, Ctrl-C or SIGTERM). The work is done by `python -m bench`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

if [[ -z "${PYTHON:-}" ]]; then  # the project's venv if there is one
  for cand in "$REPO/.venv/bin/python" "$REPO/venv/bin/python" "$REPO/../venv/bin/python"; do
    [[ -x "$cand" ]] && { PYTHON="$cand"; break; }
  done
fi
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 || { echo "[bench] ERROR: PYTHON='$PYTHON' not found" >&2; exit 1; }
export PYTHON
cd "$REPO"
exec "$PYTHON" -m bench "$@"
