#!/usr/bin/env bash
# kafka-delete-records.sh - Kafka's script of this name, served by
# `gregor delete-records`, which takes Kafka's flags as they are
# (--bootstrap-server, --offset-json-file, --command-config) and prints what
# Kafka's tool prints; unlike Kafka's, it exits 1 when a partition failed.
# bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec delete-records "$@"
