/*
 * handle_log_dirs.c - DescribeLogDirs (API key 35): the log directory and
 * the bytes of every partition's segment files in it, so that an operator
 * (kafka-log-dirs.sh --describe) sees retention and, later, compaction at
 * work. One directory, no replica moves: offset lag 0, never a future
 * replica.
 */
#include <stdlib.h>
#include <sys/statvfs.h>

#include "broker/broker.h"

static void fill_partition(kp_describe_log_dirs_resp_describe_log_dirs_partition *out, partition *p)
{
    kp_describe_log_dirs_resp_describe_log_dirs_partition_init(out);
    out->partition_index = p->index;
    out->partition_size = plog_size_bytes(p->log);
    out->offset_lag = 0;
    out->is_future_key = false;
}

/* One topic's entry: the partitions asked for (all when want is NULL). */
static void fill_topic(arena *a, kp_describe_log_dirs_resp_describe_log_dirs_topic *out, topic *tp,
                       const int32_t *want, int nwant)
{
    kp_describe_log_dirs_resp_describe_log_dirs_topic_init(out);
    out->name = (kp_str){ tp->name, tp->name_len };
    int32_t n = want ? nwant : topic_nparts(tp);
    out->partitions = arena_alloc(a, sizeof(*out->partitions) * (size_t)(n > 0 ? n : 1));
    out->partitions_n = 0;
    for (int32_t i = 0; out->partitions && i < n; i++) {
        partition *p = topic_partition(tp, want ? want[i] : i);
        if (p) /* as Kafka, a partition this directory does not hold is left out */
            fill_partition(&out->partitions[out->partitions_n++], p);
    }
}

void handle_describe_log_dirs(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_describe_log_dirs_req body;
    kp_describe_log_dirs_req_init(&body);
    if (kp_describe_log_dirs_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_describe_log_dirs_resp resp;
    kp_describe_log_dirs_resp_init(&resp);
    kp_describe_log_dirs_resp_describe_log_dirs_result *r = arena_alloc(&rq->arena, sizeof(*r));
    if (!r) {
        broker_bad_request(rq, "request too large for its arena");
        return;
    }
    kp_describe_log_dirs_resp_describe_log_dirs_result_init(r);
    resp.results = r;
    resp.results_n = 1;
    const char *dir = logmgr_dir(b->logs);
    r->log_dir = arena_kstr(&rq->arena, dir);
    struct statvfs st;
    if (statvfs(dir, &st) == 0) {
        r->total_bytes = (int64_t)st.f_blocks * (int64_t)st.f_frsize;
        r->usable_bytes = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
    }
    topic **held = NULL;
    int nheld = 0;
    if (body.topics_n < 0) {
        nheld = topics_list(b->topics, &held);
        if (nheld < 0)
            nheld = 0;
        r->topics = arena_alloc(&rq->arena, sizeof(*r->topics) * (size_t)(nheld ? nheld : 1));
        for (int i = 0; r->topics && i < nheld; i++)
            fill_topic(&rq->arena, &r->topics[r->topics_n++], held[i], NULL, 0);
    } else {
        int nt = body.topics_n;
        held = calloc((size_t)(nt ? nt : 1), sizeof(*held));
        r->topics = arena_alloc(&rq->arena, sizeof(*r->topics) * (size_t)(nt ? nt : 1));
        for (int i = 0; held && r->topics && i < nt; i++) {
            kp_describe_log_dirs_req_describable_log_dir_topic *t = &body.topics[i];
            topic *tp = t->topic.len > 0 ? topics_get(b->topics, t->topic.ptr, t->topic.len) : NULL;
            if (!tp)
                continue; /* unknown topics are left out, as Kafka does */
            held[nheld++] = tp;
            fill_topic(&rq->arena, &r->topics[r->topics_n++], tp, t->partitions,
                       t->partitions_n > 0 ? t->partitions_n : 0);
        }
    }
    conn_resp_begin(rq);
    kp_describe_log_dirs_resp_encode(&rq->out, ver, &resp);
    for (int i = 0; i < nheld; i++)
        topic_unref(held[i]);
    free(held);
    conn_req_complete(rq);
}
