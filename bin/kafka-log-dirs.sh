#!/usr/bin/env bash
# kafka-log-dirs.sh - Kafka's script of this name, served by
# `gregor log-dirs`, which takes Kafka's flags as they are (--bootstrap-server,
# --describe, --topic-list, --broker-list, --command-config) and prints what
# Kafka's tool prints. bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec log-dirs "$@"
