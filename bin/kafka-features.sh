#!/usr/bin/env bash
# kafka-features.sh - Kafka's script of this name, served by `gregor
# features`, which takes Kafka's subcommands and flags as they are
# (describe; upgrade, downgrade, disable with --feature, --dry-run,
# --unsafe). Gregor implements the transaction.version feature; see
# docs/tools.md; bin/gregor-shim-lib.sh finds the binary.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"
gregor_exec features "$@"
