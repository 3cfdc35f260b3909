#!/usr/bin/env bash
# kafka-transactions.sh - Kafka's script of this name, served by
# `gregor transactions`, which takes Kafka's flags and subcommands as they
# are (options before or after the command word). See docs/tools.md;
# bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec transactions "$@"
