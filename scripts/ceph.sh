#!/usr/bin/env bash
# Single-node Ceph (mon + osd + radosgw) S3 server on loopback, with real
# S3 Object Lock (radosgw supports COMPLIANCE/GOVERNANCE retention and legal
# hold on buckets created with object lock enabled).
#
# Usage:
#   scripts/ceph.sh start  STATE_DIR PORT MODE   # MODE = bluestore | memstore
#   scripts/ceph.sh stop   STATE_DIR
#   scripts/ceph.sh status STATE_DIR             # exit 0 if radosgw answers, else 1
#
# start needs S3_ACCESS_KEY and S3_SECRET_KEY in the environment: an S3 user
# (uid $CEPH_S3_UID, default "tenderhall") is created with exactly that key.
# start installs the Debian packages if they are missing, creates the cluster
# on first start, is a no-op when the instance is already running, and after a
# stop brings the same cluster back (bluestore keeps its objects; memstore keeps
# nothing, so a memstore instance is recreated empty on every start).
#
# Port layout, all bound to 127.0.0.1 and derived from PORT:
#   PORT               radosgw S3 endpoint (beast)
#   PORT+1             mon, msgr v2
#   PORT+2             mon, msgr v1
#   PORT+3 .. PORT+19  osd (ms_bind_port_min/max)
# so two instances (e.g. a demo and a test server) can run side by side when
# their PORTs are at least 20 apart. A STATE_DIR keeps the PORT and MODE it was
# created with; start refuses a different one (use another STATE_DIR), except
# for a stopped memstore instance, which is recreated anyway.
#
# STATE_DIR layout (everything lives here, nothing in /etc or /var):
#   ceph.conf  instance.env  monmap       config, port/mode/fsid, initial monmap
#   mon/ osd/  rgw/                       daemon data folders
#   osd.block                             bluestore block file (sparse, 10 GiB
#                                         by default: CEPH_BLOCK_SIZE in bytes);
#                                         beside osd/, not inside it
#   mon.pid osd.pid rgw.pid               pid files, one per daemon
#   run/ (admin sockets)  log/ (logs)  crash/  lock (serializes start/stop)
#
# Optional environment: CEPH_START_TIMEOUT (seconds, default 90),
# CEPH_S3_UID (default tenderhall), CEPH_BLOCK_SIZE (bluestore, bytes),
# CEPH_MEMSTORE_BYTES (memstore capacity, default 4 GiB).
#
# The mgr is deliberately not run: nothing here needs it.

set -euo pipefail

PROG=${0##*/}
MON_ID=a
OSD_ID=0
RGW_NAME=client.rgw.gw

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

log() {
    echo "$PROG: $*" >&2
}

usage() {
    cat >&2 <<EOF
usage: $PROG start  STATE_DIR PORT MODE   (MODE = bluestore | memstore)
       $PROG stop   STATE_DIR
       $PROG status STATE_DIR
start needs S3_ACCESS_KEY and S3_SECRET_KEY set in the environment.
EOF
    exit 2
}

# ---------------------------------------------------------------- helpers

# Make STATE_DIR absolute (create it first when asked to).
abs_dir() {
    local dir=$1 create=$2
    [ -n "$dir" ] || die "STATE_DIR is empty"
    if [ "$create" = yes ]; then
        mkdir -p -- "$dir" || die "cannot create STATE_DIR $dir"
    fi
    [ -d "$dir" ] || return 1
    (cd -- "$dir" && pwd -P)
}

# Ceph config values do not tolerate whitespace, '$' (metavariables), '#' or ';'.
check_path_chars() {
    case $1 in
        *[[:space:]\$\#\;]*) die "STATE_DIR must not contain whitespace, '\$', '#' or ';': $1" ;;
    esac
}

set_paths() {
    STATE=$1
    CONF=$STATE/ceph.conf
    INSTANCE=$STATE/instance.env
    MON_PID=$STATE/mon.pid
    OSD_PID=$STATE/osd.pid
    RGW_PID=$STATE/rgw.pid
    LOG_DIR=$STATE/log
    RUN_DIR=$STATE/run
    MON_DATA=$STATE/mon/ceph-$MON_ID
    OSD_DATA=$STATE/osd/ceph-$OSD_ID
    OSD_BLOCK=$STATE/osd.block
    export CEPH_CONF=$CONF
}

# Load PORT/MODE/FSID saved in instance.env (plain KEY=VALUE lines).
load_instance() {
    SAVED_PORT='' SAVED_MODE='' FSID='' OSD_UUID=''
    [ -f "$INSTANCE" ] || return 1
    local key value
    while IFS='=' read -r key value; do
        case $key in
            PORT) SAVED_PORT=$value ;;
            MODE) SAVED_MODE=$value ;;
            FSID) FSID=$value ;;
            OSD_UUID) OSD_UUID=$value ;;
        esac
    done <"$INSTANCE"
    [ -n "$SAVED_PORT" ] && [ -n "$SAVED_MODE" ] && [ -n "$FSID" ]
}

# pid from a pid file, printed only if that process is alive and is a daemon of
# THIS instance (its command line names our ceph.conf), so a recycled pid or
# another instance's daemon is never touched.
live_pid() {
    local file=$1 pid
    [ -f "$file" ] || return 1
    pid=$(tr -dc '0-9' <"$file" 2>/dev/null || true)
    [ -n "$pid" ] || return 1
    pid_running "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONF" || return 1
    echo "$pid"
}

# HTTP code of GET http://127.0.0.1:PORT/ ("000" when nothing answers).
http_code() {
    local port=$1 code
    if command -v curl >/dev/null 2>&1; then
        code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null || true)
        echo "${code:-000}"
        return 0
    fi
    # Fallback without curl: bash's /dev/tcp.
    local line
    # shellcheck disable=SC2016  # $1 expands in the inner shell
    line=$(timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        head -n 1 <&3' _ "$port" 2>/dev/null || true)
    case $line in
        HTTP/*)
            line=${line#* }
            echo "${line%% *}"
            ;;
        *) echo 000 ;;
    esac
}

rgw_answers() {
    local code
    code=$(http_code "$1")
    [ "$code" != 000 ]
}

ceph_cli() {
    ceph --conf "$CONF" --connect-timeout 30 "$@"
}

rgw_admin() {
    radosgw-admin --conf "$CONF" "$@"
}

tail_logs() {
    local f
    for f in "$LOG_DIR"/*.out "$LOG_DIR"/ceph-mon."$MON_ID".log \
             "$LOG_DIR"/ceph-osd."$OSD_ID".log "$LOG_DIR"/ceph-"$RGW_NAME".log; do
        [ -s "$f" ] || continue
        echo "----- tail of $f -----" >&2
        tail -n 25 -- "$f" >&2 || true
    done
}

start_failed() {
    log "error: $*"
    tail_logs
    log "logs: $LOG_DIR; daemons that did start are left running: '$PROG stop $STATE' stops them"
    exit 1
}

# Serialize start/stop on one STATE_DIR (fd 9; daemons are started with 9>&-
# so that they do not keep holding it).
take_lock() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$STATE/lock"
    flock -w 300 9 || die "another $PROG start/stop on $STATE holds $STATE/lock"
}

# ---------------------------------------------------------------- install

ensure_packages() {
    local missing=0 tool
    for tool in radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool; do
        command -v "$tool" >/dev/null 2>&1 || missing=1
    done
    [ "$missing" = 1 ] || return 0
    [ "$(id -u)" = 0 ] || die "Ceph is not installed and installing it needs root"
    log "installing ceph-mon ceph-osd radosgw ceph-common (apt-get) ..."
    # Wait for another apt/dpkg run instead of failing on its lock.
    apt-get -o DPkg::Lock::Timeout=900 update -qq \
        || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
        ceph-mon ceph-osd radosgw ceph-common \
        || die "apt-get install of the ceph packages failed"
    command -v radosgw >/dev/null 2>&1 || die "radosgw still not on PATH after install"
}

# ---------------------------------------------------------------- config

write_conf() {
    local port=$1 mode=$2
    local mon_v2=$((port + 1)) mon_v1=$((port + 2))
    local osd_min=$((port + 3)) osd_max=$((port + 19))
    local block_size=${CEPH_BLOCK_SIZE:-10737418240}
    local mem_bytes=${CEPH_MEMSTORE_BYTES:-4294967296}
    local objectstore_conf
    if [ "$mode" = bluestore ]; then
        objectstore_conf="osd_objectstore = bluestore
bluestore_block_path = $OSD_BLOCK
bluestore_block_size = $block_size
bluestore_block_create = true
bluestore_block_db_create = false
bluestore_block_wal_create = false"
    else
        objectstore_conf="osd_objectstore = memstore
memstore_device_bytes = $mem_bytes"
    fi
    local tmp=$CONF.tmp.$$
    cat >"$tmp" <<EOF
# Written by scripts/ceph.sh on every start; edits are overwritten.
# Instance: port $port, mode $mode.
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_supported = none
ms_mon_client_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
ms_client_mode = crc
ms_service_mode = crc
ms_cluster_mode = crc
ms_bind_ipv6 = false
ms_bind_port_min = $osd_min
ms_bind_port_max = $osd_max
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
mon_max_pg_per_osd = 1000
run_dir = $RUN_DIR
crash_dir = $STATE/crash
log_file = $LOG_DIR/\$cluster-\$name.log
mon_cluster_log_file = $LOG_DIR/\$cluster.log
keyring = $STATE/keyring
mon_data = $STATE/mon/\$cluster-\$id
osd_data = $STATE/osd/\$cluster-\$id
rgw_data = $STATE/rgw/\$cluster-\$id

[mon]
admin_socket = $RUN_DIR/\$cluster-\$name.asok
pid_file = $MON_PID
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# One mon: commit map changes (pool creation...) every 0.1 s instead of 1 s.
paxos_propose_interval = 0.1
mon_warn_on_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false

[osd]
admin_socket = $RUN_DIR/\$cluster-\$name.asok
pid_file = $OSD_PID
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
osd_memory_target = 1073741824
$objectstore_conf

[$RGW_NAME]
admin_socket = $RUN_DIR/\$cluster-\$name.asok
pid_file = $RGW_PID
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_thread_pool_size = 64
ms_mon_client_mode = crc
# space of deleted objects and aborted uploads back within about two minutes,
# not the default two hours (a benchmark deleting gigabytes fills the OSD first)
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
EOF
    mv -f -- "$tmp" "$CONF"
}

# ---------------------------------------------------------------- create

# Remove what a previous (or half-finished) creation left, nothing else.
wipe_cluster_data() {
    rm -rf -- "$STATE/mon" "$STATE/osd" "$STATE/rgw" "$OSD_BLOCK" \
        "$STATE/monmap" "$STATE/created"
}

create_mon() {
    local port=$1
    monmaptool --create --clobber --fsid "$FSID" \
        --addv "$MON_ID" "[v2:127.0.0.1:$((port + 1)),v1:127.0.0.1:$((port + 2))]" \
        "$STATE/monmap" >/dev/null || start_failed "monmaptool failed"
    mkdir -p -- "$MON_DATA"
    ceph-mon --conf "$CONF" -i "$MON_ID" --mkfs --monmap "$STATE/monmap" \
        >>"$LOG_DIR/mkfs.out" 2>&1 || start_failed "ceph-mon --mkfs failed"
}

create_osd() {
    local id
    id=$(ceph_cli osd new "$OSD_UUID" 2>>"$LOG_DIR/mkfs.out") \
        || start_failed "'ceph osd new' failed"
    [ "$id" = "$OSD_ID" ] || start_failed "'ceph osd new' returned osd id '$id', expected $OSD_ID"
    mkdir -p -- "$OSD_DATA"
    ceph-osd --conf "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" \
        >>"$LOG_DIR/mkfs.out" 2>&1 || start_failed "ceph-osd --mkfs failed"
}

# ---------------------------------------------------------------- daemons

start_mon() {
    live_pid "$MON_PID" >/dev/null && return 0
    rm -f -- "$MON_PID"
    ceph-mon --conf "$CONF" -i "$MON_ID" </dev/null >>"$LOG_DIR/mon.out" 2>&1 9>&- \
        || start_failed "ceph-mon did not start"
}

start_osd() {
    live_pid "$OSD_PID" >/dev/null && return 0
    rm -f -- "$OSD_PID"
    ceph-osd --conf "$CONF" -i "$OSD_ID" </dev/null >>"$LOG_DIR/osd.out" 2>&1 9>&- \
        || start_failed "ceph-osd did not start"
}

start_rgw() {
    live_pid "$RGW_PID" >/dev/null && return 0
    rm -f -- "$RGW_PID"
    mkdir -p -- "$STATE/rgw/ceph-${RGW_NAME#client.}"
    radosgw --conf "$CONF" -n "$RGW_NAME" </dev/null >>"$LOG_DIR/rgw.out" 2>&1 9>&- \
        || start_failed "radosgw did not start"
}

# True while a process exists and has not exited (a zombie has). (Daemons are reparented to
# PID 1; an init that reaps lazily leaves them as zombies for a while.)
pid_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case ${stat%% *} in
        Z | X | x) ;;
        *) return 0 ;;
    esac
    # A zombie leader with live threads left has not finished exiting.
    local tasks=(/proc/"$1"/task/*)
    [ "${#tasks[@]}" -gt 1 ]
}

# Stop one daemon by its pid file: TERM, up to 15 s, then KILL.
stop_daemon() {
    local name=$1 file=$2 pid i
    if ! pid=$(live_pid "$file"); then
        rm -f -- "$file"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        pid_running "$pid" || break
        sleep 0.1
    done
    if pid_running "$pid"; then
        log "$name (pid $pid) still running after 15 s: kill -9"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            pid_running "$pid" || break
            sleep 0.1
        done
    fi
    rm -f -- "$file"
}

ensure_user() {
    local uid=${CEPH_S3_UID:-tenderhall} info
    if info=$(rgw_admin user info --uid="$uid" 2>/dev/null); then
        if printf '%s' "$info" | grep -qF "\"access_key\": \"$S3_ACCESS_KEY\"" \
            && printf '%s' "$info" | grep -qF "\"secret_key\": \"$S3_SECRET_KEY\""; then
            return 0
        fi
        rgw_admin key create --uid="$uid" --key-type=s3 \
            --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" \
            >/dev/null 2>>"$LOG_DIR/admin.out" \
            || start_failed "radosgw-admin key create failed"
        return 0
    fi
    rgw_admin user create --uid="$uid" --display-name="$uid" \
        --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" \
        >/dev/null 2>>"$LOG_DIR/admin.out" \
        || start_failed "radosgw-admin user create failed"
}

# ---------------------------------------------------------------- commands

cmd_start() {
    [ $# -eq 3 ] || usage
    local dir=$1 port=$2 mode=$3
    case $port in
        '' | *[!0-9]*) die "PORT must be a number, got '$port'" ;;
    esac
    port=$((10#$port))
    { [ "$port" -ge 1024 ] && [ "$port" -le 65515 ]; } \
        || die "PORT must be in 1024..65515 (PORT..PORT+19 are used), got $port"
    case $mode in
        bluestore | memstore) ;;
        *) die "MODE must be bluestore or memstore, got '$mode'" ;;
    esac
    [ -n "${S3_ACCESS_KEY:-}" ] || die "S3_ACCESS_KEY is not set (the S3 user's access key)"
    [ -n "${S3_SECRET_KEY:-}" ] || die "S3_SECRET_KEY is not set (the S3 user's secret key)"

    local state
    state=$(abs_dir "$dir" yes) || die "cannot use STATE_DIR $dir"
    check_path_chars "$state"
    set_paths "$state"
    take_lock

    # Already running: nothing to do. A stopped memstore instance is recreated
    # anyway, so it may come back with another port or mode.
    if load_instance && { [ "$SAVED_MODE" != memstore ] || live_pid "$OSD_PID" >/dev/null; }; then
        [ "$SAVED_PORT" = "$port" ] \
            || die "$STATE was created for port $SAVED_PORT, not $port (use that port or another STATE_DIR)"
        [ "$SAVED_MODE" = "$mode" ] \
            || die "$STATE was created for mode $SAVED_MODE, not $mode (use that mode or another STATE_DIR)"
        if live_pid "$MON_PID" >/dev/null && live_pid "$OSD_PID" >/dev/null \
            && live_pid "$RGW_PID" >/dev/null && rgw_answers "$port"; then
            log "already running on 127.0.0.1:$port ($STATE)"
            return 0
        fi
    fi

    ensure_packages

    if ! rgw_answers "$port"; then :; elif ! live_pid "$RGW_PID" >/dev/null; then
        die "something else already answers on 127.0.0.1:$port"
    fi

    mkdir -p -- "$LOG_DIR" "$RUN_DIR" "$STATE/crash"

    # memstore keeps nothing once its OSD stops: recreate that cluster from
    # scratch whenever its daemons are not all up.
    local fresh=no
    if [ ! -f "$STATE/created" ]; then
        fresh=yes
    elif ! load_instance; then
        die "$INSTANCE is missing or damaged; not touching the cluster data in $STATE"
    elif [ "$SAVED_MODE" = memstore ] && ! live_pid "$OSD_PID" >/dev/null; then
        fresh=yes
    fi

    if [ "$fresh" = yes ]; then
        # Stop leftovers of this instance (a half-started or memstore one).
        stop_daemon radosgw "$RGW_PID"
        stop_daemon osd "$OSD_PID"
        stop_daemon mon "$MON_PID"
        wipe_cluster_data
        FSID=$(cat /proc/sys/kernel/random/uuid)
        OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
        printf 'PORT=%s\nMODE=%s\nFSID=%s\nOSD_UUID=%s\n' \
            "$port" "$mode" "$FSID" "$OSD_UUID" >"$INSTANCE"
        load_instance || die "cannot read back $INSTANCE"
    fi

    write_conf "$port" "$mode"

    local t0=$SECONDS timeout=${CEPH_START_TIMEOUT:-90}
    if [ "$fresh" = yes ]; then
        log "creating $mode cluster in $STATE"
        create_mon "$port"
        start_mon
        create_osd
        touch -- "$STATE/created"
    else
        start_mon
    fi
    start_osd
    start_rgw

    log "waiting for radosgw on 127.0.0.1:$port ..."
    until rgw_answers "$port"; do
        live_pid "$RGW_PID" >/dev/null || start_failed "radosgw exited during startup"
        [ $((SECONDS - t0)) -lt "$timeout" ] \
            || start_failed "radosgw did not answer on 127.0.0.1:$port within ${timeout} s"
        sleep 0.2
    done
    ensure_user
    log "ready: http://127.0.0.1:$port ($mode, $STATE) in $((SECONDS - t0)) s"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local state
    if ! state=$(abs_dir "$1" no); then
        log "no such STATE_DIR $1: nothing to stop"
        return 0
    fi
    set_paths "$state"
    take_lock
    # radosgw first (it hangs if the mon goes away under it), then osd, then mon.
    stop_daemon radosgw "$RGW_PID"
    stop_daemon osd "$OSD_PID"
    stop_daemon mon "$MON_PID"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    local state
    state=$(abs_dir "$1" no) || { echo "not running (no STATE_DIR $1)"; return 1; }
    set_paths "$state"
    load_instance || { echo "not running (no instance in $STATE)"; return 1; }
    if rgw_answers "$SAVED_PORT"; then
        echo "running: http://127.0.0.1:$SAVED_PORT ($SAVED_MODE, $STATE)"
        return 0
    fi
    echo "not running (nothing answers on 127.0.0.1:$SAVED_PORT)"
    return 1
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
