#!/usr/bin/env bash
# kafka-console-producer.sh - Kafka's script of this name, served by `gregor produce`, which takes
# Kafka's flags. See docs/tools.md; bin/gregor-shim-lib.sh finds the binary.
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec produce "$@"
