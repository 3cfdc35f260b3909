#!/usr/bin/env bash
# kafka-configs.sh - Kafka's script of this name, served by `gregor configs`, which takes
# Kafka's flags. See docs/tools.md; bin/gregor-shim-lib.sh finds the binary.
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec configs "$@"
