#!/usr/bin/env bash
# kafka-console-producer.sh - Kafka's console producer, served by
# `gregor produce`, which takes Kafka's flags. Kafka's Java-client tuning
# flags are translated here into the librdkafka properties that mean the
# same (--producer-property); --max-block-ms has no librdkafka counterpart
# and is ignored; only the default line reader exists. See docs/tools.md.
# shellcheck source=bin/gregor-shim-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/gregor-shim-lib.sh"

args=()
while [ $# -gt 0 ]; do
    a=$1
    shift
    name=$a
    has_value=0
    case "$a" in --*=*) name=${a%%=*} value=${a#*=} has_value=1 ;; esac
    case "$name" in
    --message-send-max-retries | --retry-backoff-ms | --request-timeout-ms | --metadata-expiry-ms | \
        --socket-buffer-size | --max-memory-bytes | --max-partition-memory-bytes | --max-block-ms | \
        --line-reader | --reader-config) ;;
    *)
        args+=("$a")
        continue
        ;;
    esac
    if [ "$has_value" = 0 ]; then
        [ $# -gt 0 ] || gregor_shim_die "option $name needs a value"
        value=$1
        shift
    fi
    case "$name" in
    --message-send-max-retries) args+=(--producer-property "message.send.max.retries=$value") ;;
    --retry-backoff-ms) args+=(--producer-property "retry.backoff.ms=$value") ;;
    --request-timeout-ms) args+=(--producer-property "request.timeout.ms=$value") ;;
    --metadata-expiry-ms) args+=(--producer-property "metadata.max.age.ms=$value") ;;
    --socket-buffer-size) args+=(--producer-property "socket.send.buffer.bytes=$value") ;;
    --max-memory-bytes)
        case "$value" in '' | *[!0-9]*) gregor_shim_die "--max-memory-bytes needs a number of bytes" ;; esac
        kb=$((value / 1024))
        args+=(--producer-property "queue.buffering.max.kbytes=$((kb > 0 ? kb : 1))")
        ;;
    --max-partition-memory-bytes) args+=(--producer-property "batch.size=$value") ;;
    --max-block-ms) ;;
    --line-reader)
        case "$value" in
        *LineMessageReader) ;;
        *) gregor_shim_die "--line-reader $value: only Kafka's default line reader is supported" ;;
        esac
        ;;
    --reader-config)
        while IFS= read -r -d '' p; do args+=("$p"); done < <(gregor_props_file "$value")
        ;;
    esac
done
gregor_exec produce "${args[@]}"
