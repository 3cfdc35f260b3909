#!/usr/bin/env bash
# kafka-console-consumer.sh - Kafka's console consumer, served by
# `gregor consume`, which takes Kafka's flags and prints as Kafka's
# DefaultMessageFormatter does (--property print.key=true, ...). Here:
# --formatter naming that default and --key/--value-deserializer naming the
# string or byte-array ones are accepted and dropped (that is what gregor
# prints), --formatter-config FILE becomes --property lines, and
# --enable-systest-events is ignored. Other classes are refused clearly.
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
    --enable-systest-events) continue ;;
    --formatter | --formatter-config | --key-deserializer | --value-deserializer) ;;
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
    --formatter)
        case "$value" in
        *.DefaultMessageFormatter) ;;
        *) gregor_shim_die "--formatter $value: only Kafka's DefaultMessageFormatter is supported" ;;
        esac
        ;;
    --key-deserializer | --value-deserializer)
        case "$value" in
        *.StringDeserializer | *.ByteArrayDeserializer | *.BytesDeserializer) ;;
        *) gregor_shim_die "$name $value: only the string and byte-array deserializers are supported" ;;
        esac
        ;;
    --formatter-config)
        while IFS= read -r -d '' p; do args+=("$p"); done < <(gregor_props_file "$value")
        ;;
    esac
done
gregor_exec consume "${args[@]}"
