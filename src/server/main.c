/*
 * main.c - the `gregor` command. `gregor server [server.properties]
 * [--override key=value]...` runs a broker; SIGTERM or SIGINT stops it
 * cleanly (exit 0). The client tools arrive as further subcommands.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "broker/topic_config.h"

#define GREGOR_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor server [CONFIG.properties] [--override key=value]...\n"
            "       gregor server --help-config     list every configuration key\n"
            "       gregor --version\n"
            "\n"
            "Runs a single-node Kafka-compatible broker. Keys use Kafka's names\n"
            "(server.properties format). Example:\n"
            "  gregor server config/server.properties --override log.dirs=/var/lib/gregor\n");
}

static void print_config_help(void)
{
    for (int i = 0; i < BCFG_COUNT; i++) {
        const config_def *d = &broker_config_defs[i];
        printf("%s = %s\n    %s%s\n", d->name, d->default_value ? d->default_value : "(unset)", d->doc,
               d->flags & CONFIG_F_NO_EFFECT ? " [accepted, no effect yet]" : "");
    }
}

/* flush.ms: fsync partitions whose unflushed data has waited that long. */
static void flush_by_time(broker *b, int64_t now)
{
    topic **all;
    int n = topics_list(b->topics, &all);
    for (int i = 0; i < n; i++) {
        topics_read_lock(b->topics);
        int64_t flush_ms = topic_config_num(&all[i]->overrides, &b->cfg, TCFG_FLUSH_MS);
        topics_read_unlock(b->topics);
        for (int32_t j = 0; j < topic_nparts(all[i]) && flush_ms < INT64_MAX; j++) {
            partition *p = topic_partition(all[i], j);
            if (plog_end_offset(p->log) <= plog_recovery_point(p->log)) {
                p->last_flush_ms = now;
                continue;
            }
            if (now - p->last_flush_ms < flush_ms)
                continue;
            int64_t flushed;
            if (plog_flush(p->log, &flushed) != LOG_OK)
                glog(GLOG_ERROR, "log", "%s-%d: periodic flush failed: %s", all[i]->name, j,
                     plog_failure(p->log) ? plog_failure(p->log) : "unknown error");
            p->last_flush_ms = now;
        }
        topic_unref(all[i]);
    }
    if (n >= 0)
        free(all);
}

/* Periodic housekeeping on the main thread: retention and checkpoints. */
static void housekeeping(broker *b, int64_t now, int64_t *next_retention, int64_t *next_checkpoint)
{
    flush_by_time(b, now);
    if (now >= *next_retention) {
        topic **all;
        int n = topics_list(b->topics, &all);
        for (int i = 0; i < n; i++) {
            for (int32_t j = 0; j < topic_nparts(all[i]); j++) {
                partition *p = topic_partition(all[i], j);
                int removed = plog_enforce_retention(p->log, clock_now_ms());
                if (removed > 0)
                    glog(GLOG_INFO, "log", "%s-%d: retention removed %d segments, log start now %lld",
                         all[i]->name, j, removed, (long long)plog_start_offset(p->log));
            }
            topic_unref(all[i]);
        }
        if (n >= 0)
            free(all);
        *next_retention = now + config_get_num(&b->cfg, BCFG_LOG_RETENTION_CHECK_INTERVAL_MS);
    }
    if (now >= *next_checkpoint) {
        if (logmgr_checkpoint(b->logs) != 0)
            glog(GLOG_ERROR, "log", "writing the offset checkpoints failed");
        *next_checkpoint = now + config_get_num(&b->cfg, BCFG_LOG_FLUSH_OFFSET_CHECKPOINT_INTERVAL_MS);
    }
}

static int run_server(int argc, char **argv)
{
    static broker b;
    char err[1024];
    if (config_set_init(&b.cfg, broker_config_defs, BCFG_COUNT) != 0) {
        fprintf(stderr, "gregor: out of memory\n");
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--help-config") == 0) {
            print_config_help();
            return 0;
        }
        if (strcmp(a, "--override") == 0 || strncmp(a, "--override=", 11) == 0) {
            const char *kv = a[10] == '=' ? a + 11 : (i + 1 < argc ? argv[++i] : NULL);
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq) {
                fprintf(stderr, "gregor: --override needs key=value\n");
                return 2;
            }
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
            if (config_set_value(&b.cfg, key, eq + 1, CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) != 0) {
                fprintf(stderr, "gregor: --override %s: %s\n", kv, err);
                return 2;
            }
            continue;
        }
        if (a[0] == '-') {
            fprintf(stderr, "gregor: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (b.config_path) {
            fprintf(stderr, "gregor: more than one config file given (%s, %s)\n", b.config_path, a);
            return 2;
        }
        b.config_path = a;
    }
    if (b.config_path) {
        /* The file is read first and --override applied over it, whatever
         * the order on the command line: reload the set. */
        config_set overrides;
        config_set_copy(&overrides, &b.cfg);
        config_set_deinit(&b.cfg);
        config_set_init(&b.cfg, broker_config_defs, BCFG_COUNT);
        if (config_load_file(&b.cfg, b.config_path, CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) != 0) {
            fprintf(stderr, "gregor: %s\n", err);
            config_set_deinit(&overrides);
            return 2;
        }
        for (int i = 0; i < BCFG_COUNT; i++) {
            const config_value *v = config_get(&overrides, i);
            if (v->source != CONFIG_SOURCE_DEFAULT)
                config_set_value(&b.cfg, broker_config_defs[i].name, v->str, v->source, err, sizeof(err));
        }
        config_set_deinit(&overrides);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    glog(GLOG_INFO, "broker", "gregor %s starting", GREGOR_VERSION);
    if (broker_init(&b, err, sizeof(err)) != 0 || broker_start(&b, err, sizeof(err)) != 0) {
        glog(GLOG_ERROR, "broker", "start-up failed: %s", err);
        if (b.nreactors)
            broker_shutdown(&b);
        broker_deinit(&b);
        return 1;
    }
    int64_t next_retention = clock_mono_ms() + config_get_num(&b.cfg, BCFG_LOG_RETENTION_CHECK_INTERVAL_MS);
    int64_t next_checkpoint = clock_mono_ms() + config_get_num(&b.cfg, BCFG_LOG_FLUSH_OFFSET_CHECKPOINT_INTERVAL_MS);
    sigdelset(&set, SIGPIPE);
    for (;;) {
        struct timespec ts = { 1, 0 };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            glog(GLOG_INFO, "broker", "received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        housekeeping(&b, clock_mono_ms(), &next_retention, &next_checkpoint);
    }
    broker_shutdown(&b);
    broker_deinit(&b);
    glog(GLOG_INFO, "broker", "stopped");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("gregor %s\n", GREGOR_VERSION);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return run_server(argc - 2, argv + 2);
    usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
