#!/usr/bin/env bash
# The platform's own processes (web server and worker) for a profile.
#   scripts/platform.sh start|stop|status PROFILE [PORT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cmd=$1; profile=$2; port=${3:-8000}
state="$root/var/$profile"
mkdir -p "$state"

# trust a pid file only while that pid is still one of ours (a tenderhall process)
running() {
  [ -f "$state/$1.pid" ] || return 1
  local pid; pid=$(cat "$state/$1.pid")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q tenderhall
}

start_one() {
  local name=$1; shift
  if running "$name"; then echo "  $name already running (pid $(cat "$state/$name.pid"))"; return; fi
  nohup "$here/with-env.sh" "$profile" "$@" >>"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
  echo "  $name started (pid $!, log var/$profile/$name.log)"
}

stop_one() {
  local name=$1
  running "$name" || { rm -f "$state/$name.pid"; return 0; }
  local pid; pid=$(cat "$state/$name.pid")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$state/$name.pid"
  echo "  $name stopped"
}

case "$cmd" in
  start)
    start_one web tenderhall serve --host 127.0.0.1 --port "$port"
    start_one worker tenderhall worker
    for _ in $(seq 150); do
      if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then echo "  platform healthy at http://127.0.0.1:$port"; exit 0; fi
      running web || { echo "web server exited; last log lines:" >&2; tail -30 "$state/web.log" >&2; exit 1; }
      sleep 0.2
    done
    echo "platform did not become healthy in 30 s; last log lines:" >&2
    tail -30 "$state/web.log" >&2
    exit 1
    ;;
  stop) stop_one web; stop_one worker ;;
  status) for n in web worker; do if running $n; then echo "  $n running"; else echo "  $n stopped"; fi; done ;;
  *) echo "usage: $0 start|stop|status PROFILE [PORT]" >&2; exit 2 ;;
esac
