#!/usr/bin/env bash
# kafka-reassign-partitions.sh - Kafka's script of this name, served by
# `gregor reassign-partitions`, which takes Kafka's flags as they are
# (--bootstrap-server, --generate, --execute, --verify, --cancel, --list,
# --topics-to-move-json-file, --broker-list, --disable-rack-aware,
# --reassignment-json-file, --additional, --throttle,
# --replica-alter-log-dirs-throttle, --timeout,
# --disallow-replication-factor-change, --preserve-throttles,
# --bootstrap-controller, --command-config) and prints what Kafka's tool
# prints, with Kafka's exit status.
# bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec reassign-partitions "$@"
