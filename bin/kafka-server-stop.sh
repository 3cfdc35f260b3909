#!/usr/bin/env bash
# kafka-server-stop.sh - Kafka's stop script: sends SIGTERM (or $SIGNAL) to
# every `gregor server` process of this user, which then shuts down cleanly
# (finishes in-flight requests, flushes, writes checkpoints). Exits 1 with
# "No kafka server to stop" when there is none, as Kafka's script does.
#
#   GREGOR_STOP_MATCH=TEXT  only processes whose command line also contains
#                           TEXT (a fixed string, e.g. the path of their
#                           server.properties or a listener port)
#   SIGNAL=NAME             the signal to send (default TERM)
# Like Kafka's, it does not wait for the broker to exit.
set -u

signal=${SIGNAL:-TERM}
match=${GREGOR_STOP_MATCH:-}

# pid and command line of this user's processes; keep those whose program is
# a `gregor` binary run as `gregor server ...`.
pids=$(ps -u "$(id -u)" -o pid=,args= | awk -v match_text="$match" '
    {
        prog = $2; n = split(prog, parts, "/"); base = parts[n]
        if (base != "gregor" || $3 != "server") next
        line = $0; sub(/^[ \t]*[0-9]+[ \t]+/, "", line)
        if (match_text != "" && index(line, match_text) == 0) next
        print $1
    }')

if [ -z "$pids" ]; then
    echo "No kafka server to stop"
    exit 1
fi
# shellcheck disable=SC2086 # one argument per pid
kill -s "$signal" $pids
