# shellcheck shell=bash
# gregor-shim-lib.sh - sourced by the bin/kafka-*.sh shims (not run on its
# own): finds the gregor binary and runs one of its commands in place of the
# Kafka script of the same name.
#
# The binary is, in order: $GREGOR_BIN (absolute, or relative to the current
# directory or to the repository); <repo>/build/gregor, where <repo> is the
# parent of the directory holding the shim after symlinks are resolved (so a
# symlink to a shim on PATH still finds its checkout); `gregor` on PATH.

GREGOR_SHIM_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
GREGOR_REPO=$(dirname "$GREGOR_SHIM_DIR")
GREGOR_SHIM_NAME=$(basename "$0")

gregor_shim_die() {
    echo "$GREGOR_SHIM_NAME: $*" >&2
    exit 1
}

# Prints the path of the gregor binary, or exits 1 saying where it looked.
gregor_find_bin() {
    if [ -n "${GREGOR_BIN:-}" ]; then
        local b
        for b in "$GREGOR_BIN" "$GREGOR_REPO/$GREGOR_BIN"; do
            if [ -f "$b" ] && [ -x "$b" ]; then
                echo "$b"
                return 0
            fi
        done
        gregor_shim_die "GREGOR_BIN=$GREGOR_BIN is not an executable file"
    fi
    if [ -x "$GREGOR_REPO/build/gregor" ]; then
        echo "$GREGOR_REPO/build/gregor"
        return 0
    fi
    if command -v gregor >/dev/null 2>&1; then
        command -v gregor
        return 0
    fi
    gregor_shim_die "cannot find the gregor binary: set GREGOR_BIN, run 'make' in $GREGOR_REPO (for build/gregor), or put gregor on PATH"
}

# gregor_exec COMMAND... ARGS: replaces the shell with `gregor COMMAND... ARGS`.
gregor_exec() {
    local bin
    bin=$(gregor_find_bin) || exit 1
    exec "$bin" "$@"
}

# gregor_props_file FILE: prints "--property\nk=v" pairs, NUL-separated, for
# each key=value line of a properties file (comments and blanks skipped);
# used for Kafka's --reader-config / --formatter-config.
gregor_props_file() {
    [ -r "$1" ] || gregor_shim_die "cannot read $1"
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line#"${line%%[![:space:]]*}"}
        case "$line" in '' | '#'* | '!'*) continue ;; esac
        printf '%s\0%s\0' --property "$line"
    done <"$1"
}
