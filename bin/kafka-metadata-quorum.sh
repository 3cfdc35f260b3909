#!/usr/bin/env bash
# kafka-metadata-quorum.sh - Kafka's script of this name, served by
# `gregor metadata-quorum`, which takes Kafka's flags and subcommands as they
# are (describe --status | --replication [--human-readable]; add-controller
# and remove-controller are parsed, and refused unless --dry-run). See
# docs/tools.md; bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec metadata-quorum "$@"
