/*
 * handle_list_offsets.c - ListOffsets: earliest (-2), latest (-1), max
 * timestamp (-3, v7+), earliest local (-4, v8+), and by timestamp.
 */
#include "broker/broker.h"

#define TS_LATEST (-1)
#define TS_EARLIEST (-2)
#define TS_MAX (-3)
#define TS_EARLIEST_LOCAL (-4)

static void list_partition(topic *tp, const kp_list_offsets_req_partition *rp,
                           kp_list_offsets_resp_partition *pr, int16_t ver, int8_t isolation)
{
    kp_list_offsets_resp_partition_init(pr);
    pr->partition_index = rp->partition_index;
    int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    partition *p = broker_led_partition_at(tp, rp->partition_index, rp->current_leader_epoch, &why);
    if (!p) {
        pr->error_code = why;
        return;
    }
    pr->leader_epoch = p->leader_epoch;
    int64_t ts = rp->timestamp;
    if (ts == TS_LATEST) {
        pr->offset = isolation ? partition_last_stable_offset(p) : partition_high_watermark(p);
    } else if (ts == TS_EARLIEST || (ts == TS_EARLIEST_LOCAL && ver >= 8)) {
        pr->offset = plog_start_offset(p->log);
    } else if (ts == TS_MAX && ver >= 7) {
        plog_max_timestamp(p->log, &pr->offset, &pr->timestamp);
    } else if (ts >= 0) {
        if (plog_offset_for_timestamp(p->log, ts, &pr->offset, &pr->timestamp) != LOG_OK)
            pr->error_code = KERR_KAFKA_STORAGE_ERROR;
    } else {
        pr->error_code = KERR_UNSUPPORTED_VERSION;
    }
}

void handle_list_offsets(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_list_offsets_req body;
    kp_list_offsets_req_init(&body);
    if (kp_list_offsets_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_list_offsets_resp resp;
    kp_list_offsets_resp_init(&resp);
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(nt ? nt : 1));
    resp.topics_n = resp.topics ? nt : 0;
    for (int i = 0; i < resp.topics_n; i++) {
        kp_list_offsets_req_topic *rt = &body.topics[i];
        kp_list_offsets_resp_topic *tr = &resp.topics[i];
        kp_list_offsets_resp_topic_init(tr);
        tr->name = rt->name;
        topic *tp = rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        tr->partitions = arena_alloc(&rq->arena, sizeof(*tr->partitions) * (size_t)(np ? np : 1));
        tr->partitions_n = tr->partitions ? np : 0;
        for (int j = 0; j < tr->partitions_n; j++)
            list_partition(tp, &rt->partitions[j], &tr->partitions[j], ver, body.isolation_level);
        topic_unref(tp);
    }
    conn_resp_begin(rq);
    kp_list_offsets_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}
