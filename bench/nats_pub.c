/*
 * nats_pub.c - NATS JetStream publisher for bench/run (the peer row).
 *
 *   nats_pub URL COUNT SIZE [MAX_PENDING]
 *
 * Creates (or reuses) a file-storage stream "BENCH" on subject "bench.>",
 * then publishes COUNT messages of SIZE bytes to "bench.load" with
 * js_PublishAsync, keeping up to MAX_PENDING (default 4096) unacknowledged,
 * and waits for every publish acknowledgment. Timing runs from the first
 * publish to the last ack; only positively acknowledged messages count.
 * Prints one line of JSON; exit status 0 only if every message was acked.
 *
 * Build: cc -O2 -o nats_pub nats_pub.c -lnats
 */
#define _GNU_SOURCE
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"

static atomic_llong g_acked, g_failed;

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    if (pa)
        atomic_fetch_add(&g_acked, 1);
    else
        atomic_fetch_add(&g_failed, 1);
    natsMsg_Destroy(msg);
}

static int check(natsStatus s, const char *what) {
    if (s == NATS_OK)
        return 0;
    fprintf(stderr, "nats_pub: %s: %s\n", what, natsStatus_GetText(s));
    nats_PrintLastErrorStack(stderr);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: nats_pub URL COUNT SIZE [MAX_PENDING]\n");
        return 2;
    }
    const char *url = argv[1];
    long long count = atoll(argv[2]);
    int size = atoi(argv[3]);
    long long max_pending = argc > 4 ? atoll(argv[4]) : 4096;
    char *payload = malloc(size > 0 ? (size_t)size : 1);
    if (!payload)
        return 1;
    for (int j = 0; j < size; j++)
        payload[j] = (char)('a' + j % 26);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    jsStreamConfig sc;
    jsErrCode jerr = 0;
    const char *subjects[] = {"bench.>"};
    int rc = 1;

    if (check(natsConnection_ConnectTo(&nc, url), "connect"))
        return 1;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = max_pending;
    jo.PublishAsync.AckHandler = on_ack;
    /* With MAX_PENDING unacknowledged, a publish waits for an ack; the
     * library's default of 200 ms fails the run ("stalled with too many
     * outstanding async published messages") whenever the machine is busy. */
    jo.PublishAsync.StallWait = 30000;
    jo.Wait = 30000;
    if (check(natsConnection_JetStream(&js, nc, &jo), "jetstream"))
        goto out;
    jsStreamConfig_Init(&sc);
    sc.Name = "BENCH";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    natsStatus s = js_AddStream(NULL, js, &sc, NULL, &jerr);
    if (s != NATS_OK && jerr != JSStreamNameExistErr) {
        check(s, "add stream");
        goto out;
    }

    double c0 = cpu_s(), t0 = now_s();
    for (long long i = 0; i < count; i++) {
        if (check(js_PublishAsync(js, "bench.load", payload, size, NULL), "publish"))
            goto out;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    if (check(js_PublishAsyncComplete(js, &po), "publish complete"))
        goto out;
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    long long acked = atomic_load(&g_acked), failed = atomic_load(&g_failed);
    printf("{\"count\":%lld,\"acked\":%lld,\"failed\":%lld,\"size\":%d,\"secs\":%.4f,"
           "\"records_per_s\":%.1f,\"mib_per_s\":%.2f,\"client_cpu_s\":%.3f}\n",
           count, acked, failed, size, secs, secs > 0 ? (double)acked / secs : 0,
           secs > 0 ? (double)acked * size / 1048576.0 / secs : 0, cpu);
    rc = (acked == count && failed == 0) ? 0 : 1;
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    free(payload);
    return rc;
}
