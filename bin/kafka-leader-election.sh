#!/usr/bin/env bash
# kafka-leader-election.sh - Kafka's script of this name, served by
# `gregor leader-election`, which takes Kafka's flags as they are
# (--bootstrap-server, --election-type, --all-topic-partitions, --topic,
# --partition, --path-to-json-file, --command-config, --admin.config) and
# prints what Kafka's tool prints, with Kafka's exit status.
# bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec leader-election "$@"
