#!/usr/bin/env bash
# Side-by-side warm-page throughput: this mirror vs. proxpi (and optionally devpi-server), with nginx
# serving the same page as static files as the ceiling.  One command; see bench/README.md.
#
#   bench/run.sh                                  # mirror + proxpi (+ nginx ceiling if nginx is installed)
#   PROJECTS="requests numpy" DURATION=5s bench/run.sh
#   WITH_DEVPI=1 RECORD=1 bench/run.sh            # add devpi; append the table to bench/RESULTS.md
#
# Everything listens on 127.0.0.1 only, every step is bounded in time, and everything this script
# starts is stopped on exit (normal end, error, Ctrl-C or SIGTERM).
set -euo pipefail

# ------------------------------------------------------------------------------------------ settings
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$(cd "$REPO/.." && pwd)/shared}"
PEERS="$SHARED/peers"
PEERS_HOME="${PEERS_HOME:-$HOME/.cache/mirror-peers}"   # same default as the peer scripts
export PEERS_HOME

PROJECTS="${PROJECTS:-requests}"; PROJECTS="${PROJECTS//,/ }"
DURATION="${DURATION:-10s}"; CONNS="${CONNS:-32}"; THREADS="${THREADS:-2}"
# bench_simple.sh reads DURATION/CONNS/THREADS from its environment, and the start scripts read THREADS
# as their server's thread count: so these are passed to the bench scripts only, never exported.
WRK_ENV=(DURATION="$DURATION" CONNS="$CONNS" THREADS="$THREADS")

WITH_MIRROR="${WITH_MIRROR:-1}"
WITH_PROXPI="${WITH_PROXPI:-1}"
WITH_DEVPI="${WITH_DEVPI:-0}"
if [[ -z "${WITH_NGINX:-}" ]]; then
  if command -v nginx >/dev/null 2>&1; then WITH_NGINX=1; else WITH_NGINX=0; WITH_NGINX_AUTO_OFF=1; fi
fi
CEILING_SOURCE="${CEILING_SOURCE:-mirror}"              # whose page nginx serves: mirror | proxpi
RECORD="${RECORD:-0}"
RESULTS_FILE="${RESULTS_FILE:-$HERE/RESULTS.md}"
KEEP_TMP="${KEEP_TMP:-0}"
VERBOSE="${VERBOSE:-0}"

MIRROR_PORT="${MIRROR_PORT:-8090}"
PROXPI_PORT="${PROXPI_PORT:-5000}"
DEVPI_PORT="${DEVPI_PORT:-3141}"
NGINX_PORT="${NGINX_PORT:-8081}"
PYHTTP_PORT="${PYHTTP_PORT:-8082}"
MIRROR_LOG_LEVEL="${MIRROR_LOG_LEVEL-warning}"          # empty: leave the mirror's default
MIRROR_START_TIMEOUT="${MIRROR_START_TIMEOUT:-60}"      # seconds for /healthz to answer 200
PEER_START_TIMEOUT="${PEER_START_TIMEOUT:-300}"         # seconds; the first start pip-installs the peer

# ------------------------------------------------------------------------------------------ helpers
say()  { printf '[bench] %s\n' "$*" >&2; }
die()  { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
NOTES=()
note() { NOTES+=("$*"); say "$*"; }

dur_seconds() {  # wrk duration (10, 10s, 2m, 1h) -> seconds
  [[ "$1" =~ ^([0-9]+)([smh]?)$ ]] || return 1
  local n="${BASH_REMATCH[1]}"
  case "${BASH_REMATCH[2]}" in m) n=$((n * 60));; h) n=$((n * 3600));; esac
  echo "$n"
}

port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
free_port() {  # first port >= $1 nobody listens on
  local p="$1"
  for _ in $(seq 100); do port_in_use "$p" || { echo "$p"; return 0; }; p=$((p + 1)); done
  return 1
}

kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k {sub(/^[^=]*=/, ""); print; exit}'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "-" }'; }

tail_log() {  # file [lines]
  [[ -s "$1" ]] || return 0
  sed 's/^/    | /' < <(tail -n "${2:-20}" "$1") >&2
}

# Process groups this script owns.  `timeout` makes itself the leader of a new process group and
# everything started below it (wrk, nginx, gunicorn, the mirror, ...) stays in that group, so killing
# the group by its id stops exactly what we started and nothing else.
CHILD_PGID=""; LAST_PGID=""; MIRROR_PGID=""; TMP=""; CLEANED=0
# shellcheck disable=SC2034  # read through ${!name} in stop_peer
{ PROXPI_STARTED=0; PROXPI_PGID=""; DEVPI_STARTED=0; DEVPI_PGID=""; }

group_alive() { [[ -n "$1" ]] && kill -0 -- "-$1" 2>/dev/null; }
stop_group() {  # pgid [grace seconds]
  local g="$1" grace="${2:-10}"
  group_alive "$g" || return 0
  kill -TERM -- "-$g" 2>/dev/null || true
  for _ in $(seq $((grace * 10))); do group_alive "$g" || return 0; sleep 0.1; done
  say "process group $g still alive after ${grace}s: SIGKILL"
  kill -KILL -- "-$g" 2>/dev/null || true
}

run_bounded() {  # limit_s stdout_file stderr_file cmd...   -> exit code of cmd (124 on timeout)
  local limit="$1" out="$2" err="$3"; shift 3
  timeout -k 10 "$limit" "$@" </dev/null >"$out" 2>"$err" &
  CHILD_PGID=$!
  local rc=0
  wait "$CHILD_PGID" || rc=$?
  LAST_PGID="$CHILD_PGID"; CHILD_PGID=""
  return "$rc"
}

stop_peer() {  # name: the peer's own "stop" (pid file, cache dir), then its process group
  local name="$1" started_var pgid_var
  started_var="${1^^}_STARTED"; pgid_var="${1^^}_PGID"
  [[ "${!started_var}" == 1 ]] || return 0
  say "stopping $name"
  timeout 30 bash "$PEERS/start_$name.sh" stop >/dev/null 2>&1 || true
  stop_group "${!pgid_var}" 10
  printf -v "$started_var" 0; printf -v "$pgid_var" ''
}

# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  local rc=$?
  set +e
  [[ "$CLEANED" == 1 ]] && return; CLEANED=1
  trap '' INT TERM
  if group_alive "$CHILD_PGID"; then  # a bench or start script still running (Ctrl-C, SIGTERM)
    # its own EXIT trap may need ~5 s (bench_static_ceiling.sh waits for nginx, then removes its files)
    say "stopping the running step (up to 12 s)"; stop_group "$CHILD_PGID" 12
  fi
  if [[ -n "$MIRROR_PGID" ]]; then say "stopping mirror"; stop_group "$MIRROR_PGID" 10; fi
  stop_peer proxpi
  stop_peer devpi
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    if [[ "$KEEP_TMP" == 1 ]]; then say "kept logs and cache in $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# ------------------------------------------------------------------------------------ prerequisites
for tool in curl awk sed timeout mktemp seq tr; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (coreutils/curl are required)"
done
command -v wrk >/dev/null 2>&1 || die "wrk is not installed: apt-get update && apt-get install -y wrk"
[[ -d "$PEERS" ]] || die "peer scripts not found in $PEERS (set SHARED=/path/to/shared)"
[[ -f "$PEERS/bench_simple.sh" ]] || die "$PEERS/bench_simple.sh is missing"
[[ -x "$PEERS/bench_simple.sh" ]] || die "$PEERS/bench_simple.sh is not executable (bench_static_ceiling.sh runs it directly)"
DUR_S="$(dur_seconds "$DURATION")" || die "DURATION='$DURATION' is not a wrk duration like 10s or 1m"
[[ "$DUR_S" -ge 1 ]] || die "DURATION must be at least 1s"
[[ "$CONNS" =~ ^[0-9]+$ && "$THREADS" =~ ^[0-9]+$ ]] || die "CONNS and THREADS must be integers"
[[ -n "${PROJECTS// /}" ]] || die "PROJECTS is empty"
for p in $PROJECTS; do
  [[ "$p" =~ ^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$ ]] || die "'$p' is not a valid project name"
done
case "$CEILING_SOURCE" in mirror|proxpi) ;; *) die "CEILING_SOURCE must be mirror or proxpi";; esac
[[ "${WITH_NGINX_AUTO_OFF:-0}" == 1 ]] && note "nginx is not installed: static ceiling skipped (apt-get install -y nginx)"
if [[ "$WITH_NGINX" == 1 ]]; then
  command -v nginx >/dev/null 2>&1 || die "WITH_NGINX=1 but nginx is not installed: apt-get install -y nginx"
  [[ -x "$PEERS/bench_static_ceiling.sh" ]] || die "$PEERS/bench_static_ceiling.sh is missing"
fi
if [[ "$WITH_PROXPI" == 1 || "$WITH_DEVPI" == 1 ]]; then
  if [[ ! -x "$PEERS_HOME/venv/bin/python" ]]; then
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to create the peers' venv in $PEERS_HOME"
    python3 -c 'import venv, ensurepip' 2>/dev/null \
      || die "python3 cannot create venvs (apt-get install -y python3-venv); the peers need one"
  fi
fi
[[ "$WITH_PROXPI" == 1 && ! -f "$PEERS/start_proxpi.sh" ]] && die "$PEERS/start_proxpi.sh is missing"
[[ "$WITH_DEVPI" == 1 && ! -f "$PEERS/start_devpi.sh" ]] && die "$PEERS/start_devpi.sh is missing"

if [[ "$WITH_MIRROR" == 1 ]]; then
  if [[ -z "${PYTHON:-}" ]]; then  # the project's venv if there is one
    for cand in "$REPO/.venv/bin/python" "$REPO/venv/bin/python" "$REPO/../venv/bin/python"; do
      [[ -x "$cand" ]] && { PYTHON="$cand"; break; }
    done
  fi
  PYTHON="${PYTHON:-python3}"
  command -v "$PYTHON" >/dev/null 2>&1 || die "PYTHON='$PYTHON' not found"
  (cd "$REPO" && timeout 60 "$PYTHON" -m mirror serve --help >/dev/null 2>&1) || {
    (cd "$REPO" && timeout 60 "$PYTHON" -m mirror serve --help 2>&1 | tail -5 | sed 's/^/    | /' >&2) || true
    die "'$PYTHON -m mirror serve --help' fails (run from $REPO). Set PYTHON= to the project's venv python, or WITH_MIRROR=0 to bench only the peers"
  }
fi
[[ "$WITH_MIRROR" == 1 || "$WITH_PROXPI" == 1 || "$WITH_DEVPI" == 1 || "$WITH_NGINX" == 1 ]] \
  || die "nothing to benchmark (all WITH_* are 0)"

# A hard bound for the whole run; also the lifetime cap of the mirror process itself.
NPROJ=$(wc -w <<<"$PROJECTS")
BENCH_LIMIT=$((2 * DUR_S + 120))           # one bench_simple.sh: 2 wrk runs + warm-up curls
CEILING_LIMIT=$((4 * DUR_S + 180))         # bench_static_ceiling.sh: nginx + python http.server
MAX_RUNTIME="${MAX_RUNTIME:-$((MIRROR_START_TIMEOUT + 2 * PEER_START_TIMEOUT + NPROJ * (3 * BENCH_LIMIT + CEILING_LIMIT) + 120))}"

TMP="$(mktemp -d /tmp/mirror-bench.XXXXXX)"
chmod 755 "$TMP"
START_EPOCH=$(date +%s)
RUN_DEADLINE=$((START_EPOCH + MAX_RUNTIME))
remaining() { local r=$((RUN_DEADLINE - $(date +%s))); (( r > 5 )) && echo "$r" || echo 5; }
min() { (( $1 < $2 )) && echo "$1" || echo "$2"; }

say "projects: $PROJECTS | wrk c=$CONNS t=$THREADS d=$DURATION | run capped at ${MAX_RUNTIME}s | logs: $TMP"

# --------------------------------------------------------------------------------------- start: mirror
MIRROR_BASE=""
if [[ "$WITH_MIRROR" == 1 ]]; then
  MIRROR_PORT="$(free_port "$MIRROR_PORT")" || die "no free port near $MIRROR_PORT for the mirror"
  mkdir -p "$TMP/mirror"
  {
    echo "[server]"
    echo "host = \"127.0.0.1\""
    echo "port = $MIRROR_PORT"
    [[ -n "$MIRROR_LOG_LEVEL" ]] && echo "log_level = \"$MIRROR_LOG_LEVEL\""
    echo
    echo "[upstream]"
    # "pypi" is the mirror's keyword for the public index; UPSTREAM (also read by the peers) overrides it.
    echo "url = \"${UPSTREAM:-pypi}\""
    echo
    echo "[storage]"
    echo "path = \"storage\""
  } >"$TMP/mirror/config.toml"
  say "starting mirror on 127.0.0.1:$MIRROR_PORT ($PYTHON)"
  ( cd "$REPO" && exec timeout -k 10 "$MAX_RUNTIME" "$PYTHON" -m mirror serve --config "$TMP/mirror/config.toml" ) \
      </dev/null >"$TMP/mirror/server.log" 2>&1 &
  MIRROR_PGID=$!
  ok=0; deadline=$(($(date +%s) + MIRROR_START_TIMEOUT))
  while (( $(date +%s) < deadline )); do
    kill -0 "$MIRROR_PGID" 2>/dev/null || break
    if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$MIRROR_PORT/healthz" 2>/dev/null; then ok=1; break; fi
    sleep 0.25
  done
  if [[ "$ok" != 1 ]]; then
    say "mirror log ($TMP/mirror/server.log):"; tail_log "$TMP/mirror/server.log" 30
    if kill -0 "$MIRROR_PGID" 2>/dev/null; then
      die "mirror did not answer /healthz within ${MIRROR_START_TIMEOUT}s"
    else
      die "mirror exited during start-up"
    fi
  fi
  MIRROR_BASE="http://127.0.0.1:$MIRROR_PORT/all/simple/"
  say "mirror ready: $MIRROR_BASE"
fi

# ---------------------------------------------------------------------------------------- start: peers
PROXPI_BASE=""; DEVPI_BASE=""
start_peer() {  # name preferred_port url_key health_path index_path -> sets <NAME>_BASE, or notes the skip
  local name="$1" pref="$2" key="$3" health="$4" index="$5" NAME="${1^^}" port rc=0 base
  if ! port="$(free_port "$pref")"; then note "$name skipped: no free port near $pref"; return 0; fi
  say "starting $name on 127.0.0.1:$port (the first start pip-installs it into $PEERS_HOME/venv)"
  printf -v "${NAME}_STARTED" 1
  run_bounded "$(min "$PEER_START_TIMEOUT" "$(remaining)")" "$TMP/$name.start.out" "$TMP/$name.start.err" \
      env -u THREADS -u DURATION -u CONNS PORT="$port" bash "$PEERS/start_$name.sh" start || rc=$?
  printf -v "${NAME}_PGID" '%s' "$LAST_PGID"   # the server lives on in this process group
  base="$(grep -o "^$key=[^ ]*" "$TMP/$name.start.out" | tail -1 | cut -d= -f2- || true)"
  if [[ "$rc" == 0 && -n "$base" ]] && curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$port$health"; then
    printf -v "${NAME}_BASE" '%s' "$base"
    say "$name ready: $base"
  elif [[ "$rc" != 124 ]] && curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$port$health" 2>/dev/null; then
    # The start script's last step (a `pip download` through the peer, 15 s read timeout) can fail on
    # a slow cold first fetch from upstream (seen with devpi) while the server itself runs fine.
    base="http://127.0.0.1:$port$index"
    printf -v "${NAME}_BASE" '%s' "$base"
    note "$name: its start script failed (exit $rc) but the server answers $health: benchmarked anyway"
    say "$name's start output:"; tail_log "$TMP/$name.start.err" 4
    say "$name ready: $base"
  else
    [[ "$rc" == 124 ]] && rc="timeout after ${PEER_START_TIMEOUT}s"
    note "$name failed to start (exit $rc): skipped"; say "$name's start output:"
    tail_log "$TMP/$name.start.err" 10; tail_log "$TMP/$name.start.out" 10
    stop_peer "$name"
  fi
}
[[ "$WITH_PROXPI" == 1 ]] && start_peer proxpi "$PROXPI_PORT" PROXPI_URL /health /index/
[[ "$WITH_DEVPI" == 1 ]] && start_peer devpi "$DEVPI_PORT" DEVPI_URL /+api /root/pypi/+simple/

# ------------------------------------------------------------------------------------------- benches
declare -A RES=()     # "project|server" -> RESULT line of bench_simple.sh
SERVERS=()            # servers measured, in table order
add_server() { local s; for s in "${SERVERS[@]}"; do [[ "$s" == "$1" ]] && return 0; done; SERVERS+=("$1"); }

bench_simple() {  # server base project
  local server="$1" base="$2" project="$3" out="$TMP/bench.$1.$3.out" err="$TMP/bench.$1.$3.err" rc=0 line
  add_server "$server"
  say "wrk: $server $project ($base, 2 x $DURATION)"
  run_bounded "$(min "$BENCH_LIMIT" "$(remaining)")" "$out" "$err" \
      env "${WRK_ENV[@]}" bash "$PEERS/bench_simple.sh" "$base" "$project" || rc=$?
  [[ "$VERBOSE" == 1 ]] && cat "$err" >&2
  line="$(grep '^RESULT ' "$out" | tail -1 || true)"
  if [[ "$rc" == 0 && -n "$line" ]]; then
    RES["$project|$server"]="$line"
    say "  $server $project: html $(kv "$line" html_rps) req/s, json $(kv "$line" json_rps) req/s"
    while read -r w; do note "$server $project: $w"; done < <(grep '^WARNING' "$out" || true)
  else
    [[ "$rc" == 124 ]] && rc="timeout"
    note "$server $project: bench failed (exit $rc)"; say "last lines of its output:"
    tail_log "$err" 8; tail_log "$out" 4
  fi
  return 0
}

bench_ceiling() {  # project
  local project="$1" src="" srcname="" np pp rc=0 out="$TMP/ceiling.$1.out" err="$TMP/ceiling.$1.err" line
  if [[ "$CEILING_SOURCE" == mirror && -n "$MIRROR_BASE" ]]; then src="$MIRROR_BASE"; srcname=mirror
  elif [[ -n "$PROXPI_BASE" ]]; then src="$PROXPI_BASE"; srcname=proxpi
  elif [[ -n "$MIRROR_BASE" ]]; then src="$MIRROR_BASE"; srcname=mirror
  elif [[ -n "$DEVPI_BASE" ]]; then src="$DEVPI_BASE"; srcname=devpi
  else note "nginx ceiling $project skipped: no running index to copy the page from"; return 0; fi
  np="$(free_port "$NGINX_PORT")" || { note "nginx ceiling skipped: no free port near $NGINX_PORT"; return 0; }
  pp="$(free_port $((np == PYHTTP_PORT ? PYHTTP_PORT + 1 : PYHTTP_PORT)))" || { note "nginx ceiling skipped: no free port near $PYHTTP_PORT"; return 0; }
  [[ "$pp" == "$np" ]] && pp="$(free_port $((np + 1)))"
  add_server nginx; add_server pyhttp
  CEILING_SRC["$project"]="$srcname"
  say "wrk: nginx + python http.server serving $srcname's $project page as static files (4 x $DURATION)"
  run_bounded "$(min "$CEILING_LIMIT" "$(remaining)")" "$out" "$err" \
      env "${WRK_ENV[@]}" NGINX_PORT="$np" PYHTTP_PORT="$pp" bash "$PEERS/bench_static_ceiling.sh" "$src" "$project" || rc=$?
  [[ "$VERBOSE" == 1 ]] && cat "$err" >&2
  line="$(grep "^RESULT base=http://127.0.0.1:$np/ " "$out" | tail -1 || true)"
  if [[ -n "$line" ]]; then
    RES["$project|nginx"]="$line"
    say "  nginx $project: html $(kv "$line" html_rps) req/s, json $(kv "$line" json_rps) req/s"
  fi
  line="$(grep "^RESULT base=http://127.0.0.1:$pp/ " "$out" | tail -1 || true)"
  if [[ -n "$line" ]]; then  # python -m http.server cannot negotiate: its "json" answer is the HTML page
    line="$(sed -E 's/ json_(rps|p50|p99|bytes)=[^ ]*/ json_\1=n\/a/g' <<<"$line")"
    RES["$project|pyhttp"]="$line"
    say "  pyhttp $project: html $(kv "$line" html_rps) req/s"
  fi
  if [[ "$rc" != 0 ]]; then
    [[ "$rc" == 124 ]] && rc="timeout"
    note "static ceiling $project: bench_static_ceiling.sh failed (exit $rc)"; say "last lines of its output:"
    tail_log "$err" 8; tail_log "$out" 4
  fi
  return 0
}

declare -A CEILING_SRC=()
for project in $PROJECTS; do
  [[ -n "$MIRROR_BASE" ]] && bench_simple mirror "$MIRROR_BASE" "$project"
  [[ -n "$PROXPI_BASE" ]] && bench_simple proxpi "$PROXPI_BASE" "$project"
  [[ -n "$DEVPI_BASE"  ]] && bench_simple devpi  "$DEVPI_BASE"  "$project"
  [[ "$WITH_NGINX" == 1 ]] && bench_ceiling "$project"
done
[[ "$WITH_MIRROR" == 1 ]] && add_server mirror   # keep its row even when its bench failed

# --------------------------------------------------------------------------------------------- table
cell() {  # project server key [suffix-if-non2xx]
  local line="${RES["$1|$2"]:-}"
  [[ -n "$line" ]] || { echo "failed"; return; }
  local v; v="$(kv "$line" "$3")"; echo "${v:--}"
}
flag_non2xx() {  # project server form(html|json) -> "" or " (N non-2xx)"
  local line="${RES["$1|$2"]:-}" n
  n="$(kv "$line" "non2xx_$3")"
  [[ -n "$n" && "$n" != 0 && "$n" != "n/a" ]] && echo " ($n non-2xx!)"
  return 0
}

TABLE="$TMP/table.md"
{
  echo "| project | server | html req/s | json req/s | html p99 | json p99 | html bytes | json bytes | mirror ÷ server html | mirror ÷ server json |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for project in $PROJECTS; do
    for server in mirror proxpi devpi nginx pyhttp; do
      [[ " ${SERVERS[*]} " == *" $server "* ]] || continue
      name="$server"
      [[ "$server" == nginx || "$server" == pyhttp ]] && name="$server (static, ${CEILING_SRC[$project]:-?}'s page)"
      if [[ -z "${RES["$project|$server"]:-}" ]]; then
        echo "| $project | $name | failed | failed | | | | | | |"; continue
      fi
      h="$(cell "$project" "$server" html_rps)$(flag_non2xx "$project" "$server" html)"
      j="$(cell "$project" "$server" json_rps)$(flag_non2xx "$project" "$server" json)"
      if [[ "$server" == mirror ]]; then rh="—"; rj="—"
      else
        m="${RES["$project|mirror"]:-}"
        rh="$(ratio "$(kv "$m" html_rps)" "$(cell "$project" "$server" html_rps)")"
        rj="$(ratio "$(kv "$m" json_rps)" "$(cell "$project" "$server" json_rps)")"
      fi
      echo "| $project | $name | $h | $j | $(cell "$project" "$server" html_p99) | $(cell "$project" "$server" json_p99)" \
           "| $(cell "$project" "$server" html_bytes) | $(cell "$project" "$server" json_bytes) | $rh | $rj |"
    done
  done
} >"$TABLE"

SUMMARY=()
for project in $PROJECTS; do
  m="${RES["$project|mirror"]:-}"; [[ -n "$m" ]] || continue
  for peer in proxpi devpi nginx; do
    p="${RES["$project|$peer"]:-}"; [[ -n "$p" ]] || continue
    SUMMARY+=("$project: mirror/$peer = $(ratio "$(kv "$m" html_rps)" "$(kv "$p" html_rps)") (html), $(ratio "$(kv "$m" json_rps)" "$(kv "$p" json_rps)") (json)")
  done
done

versions() {
  local v=()
  if [[ "$WITH_MIRROR" == 1 ]]; then
    local mv rev
    mv="$(cd "$REPO" && "$PYTHON" -c 'import mirror, sys, aiohttp; print(getattr(mirror, "__version__", "?"), "python", sys.version.split()[0], "aiohttp", aiohttp.__version__)' 2>/dev/null || echo '?')"
    rev="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no-commit')"
    [[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -1)" ]] && rev="$rev+dirty"
    v+=("mirror $mv (git $rev)")
  fi
  if [[ -x "$PEERS_HOME/venv/bin/python" ]]; then
    local pk
    for pk in proxpi gunicorn devpi-server; do
      [[ "$pk" == proxpi || "$pk" == gunicorn ]] && [[ -z "$PROXPI_BASE" ]] && continue
      [[ "$pk" == devpi-server && -z "$DEVPI_BASE" ]] && continue
      v+=("$pk $("$PEERS_HOME/venv/bin/python" -c "import importlib.metadata as m; print(m.version('$pk'))" 2>/dev/null || echo '?')")
    done
  fi
  [[ "$WITH_NGINX" == 1 ]] && v+=("$(nginx -v 2>&1 | sed 's|^nginx version: ||; s|/| |')")
  v+=("$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')")
  local IFS=';' joined; joined="${v[*]}"; echo "${joined//;/; }"
}

HEADER="$(date -u '+%Y-%m-%d %H:%M UTC') · $(uname -m) · $(nproc) cores · wrk c=$CONNS t=$THREADS d=$DURATION · warm cache"
VERSIONS="$(versions)"

echo
echo "$HEADER"
echo "versions: $VERSIONS"
echo
cat "$TABLE"
echo
for s in "${SUMMARY[@]}"; do echo "$s"; done
if [[ "${#NOTES[@]}" -gt 0 ]]; then echo; echo "notes:"; for n in "${NOTES[@]}"; do echo "- $n"; done; fi

if [[ "$RECORD" == 1 ]]; then
  if [[ ! -s "$RESULTS_FILE" ]]; then
    # shellcheck disable=SC2016
    printf '# Benchmark results\n\nAppended by `RECORD=1 bench/run.sh` (see README.md). Compare ratios within one run, not absolute numbers across runs.\n' >"$RESULTS_FILE"
  fi
  {
    echo
    echo "## $HEADER"
    echo
    echo "versions: $VERSIONS"
    echo
    cat "$TABLE"
    if [[ "${#SUMMARY[@]}" -gt 0 ]]; then echo; for s in "${SUMMARY[@]}"; do echo "- $s"; done; fi
    if [[ "${#NOTES[@]}" -gt 0 ]]; then echo; echo "Notes:"; echo; for n in "${NOTES[@]}"; do echo "- $n"; done; fi
  } >>"$RESULTS_FILE"
  say "appended to $RESULTS_FILE"
fi

if [[ "${#RES[@]}" == 0 ]]; then say "nothing was measured"; exit 1; fi
# Exit non-zero when the mirror was to be measured and was not.
if [[ "$WITH_MIRROR" == 1 ]]; then
  for project in $PROJECTS; do [[ -n "${RES["$project|mirror"]:-}" ]] || exit 1; done
fi
exit 0
