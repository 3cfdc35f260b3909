#!/usr/bin/env bash
# kafka-server-start.sh [-daemon] server.properties [--override key=value]...
#
# Kafka's start script, served by `gregor server`. In the foreground it
# becomes the broker (exec), so Ctrl-C and SIGTERM reach it directly. With
# -daemon it starts the broker in the background, detached from the terminal,
# its output appended to $LOG_DIR/server.log (LOG_DIR defaults to <repo>/logs),
# and returns once the broker has survived its first second (if it exits
# sooner, the tail of that log is shown and the script exits 1).
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"

if [ $# -lt 1 ]; then
    echo "USAGE: $0 [-daemon] server.properties [--override property=value]*" >&2
    exit 1
fi

daemon=0
args=()
for a in "$@"; do
    case "$a" in
    -daemon | --daemon) daemon=1 ;;
    *) args+=("$a") ;;
    esac
done

bin=$(gregor_find_bin) || exit 1
if [ "$daemon" = 0 ]; then
    exec "$bin" server "${args[@]}"
fi

log_dir=${LOG_DIR:-$GREGOR_REPO/logs}
mkdir -p "$log_dir" || gregor_shim_die "cannot create the log directory $log_dir"
log="$log_dir/server.log"
nohup "$bin" server "${args[@]}" >>"$log" 2>&1 </dev/null &
pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.1
    kill -0 "$pid" 2>/dev/null || break
done
if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    rc=$?
    echo "$GREGOR_SHIM_NAME: the broker exited at start-up (code $rc); the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
exit 0
