#!/usr/bin/env bash
# kafka-producer-perf-test.sh - Kafka's script of this name, served by
# `gregor perf produce`, which takes Kafka's flags as they are. See docs/tools.md;
# bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec perf produce "$@"
