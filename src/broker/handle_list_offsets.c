/*
 * handle_list_offsets.c - ListOffsets: earliest (-2), latest (-1), max
 * timestamp (-3, v7+), earliest local (-4, v8+), latest tiered (-5, v9+)
 * and earliest pending upload (-6, v11+: Gregor has no tiered storage, so
 * both answer -1 as Kafka does without it), and by timestamp. Version 0,
 * which Kafka 4 removed (KIP-896) and Burrow still sends, answers as Kafka
 * 3.9 did: a list of segment base offsets (old_style_offsets).
 */
#include "base/clock.h"
#include "broker/broker.h"

#define TS_LATEST (-1)
#define TS_EARLIEST (-2)
#define TS_MAX (-3)
#define TS_EARLIEST_LOCAL (-4)
#define TS_LATEST_TIERED (-5)
#define TS_EARLIEST_PENDING_UPLOAD (-6)
#define REPLICA_CONSUMER (-1)
#define OLD_STYLE_OFFSETS_MAX 1024 /* a bound on what one partition answers */

/* Version 0: Kafka 3.9's legacyFetchOffsetsForTimestamp. A consumer
 * (replica id -1) sees nothing above the high watermark: the offsets above
 * it are replaced by the high watermark itself. */
static void list_partition_v0(topic *tp, const kp_list_offsets_req_partition *rp,
                              kp_list_offsets_resp_partition *pr, int32_t replica_id, arena *a)
{
    int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    partition *p = broker_led_partition_at(tp, rp->partition_index, -1, &why);
    if (!p) {
        pr->error_code = why;
        return;
    }
    if (rp->timestamp == TS_MAX || rp->timestamp == TS_EARLIEST_LOCAL || rp->timestamp == TS_LATEST_TIERED) {
        pr->error_code = KERR_UNSUPPORTED_VERSION; /* Kafka 3.9: these need v7, v8, v9 */
        return;
    }
    int max = rp->max_num_offsets < OLD_STYLE_OFFSETS_MAX ? rp->max_num_offsets : OLD_STYLE_OFFSETS_MAX;
    int64_t *offs = max > 0 ? arena_alloc(a, sizeof(int64_t) * (size_t)(max + 1)) : NULL;
    if (!offs)
        return;
    int n = plog_legacy_offsets(p->log, rp->timestamp, max, clock_now_ms(), offs + 1);
    int64_t *first = offs + 1;
    if (replica_id == REPLICA_CONSUMER) {
        int64_t hw = partition_high_watermark(p);
        int above = 0;
        while (above < n && first[above] > hw)
            above++;
        if (above > 0) {
            first += above - 1;
            n -= above - 1;
            first[0] = hw;
        }
    }
    pr->old_style_offsets = first;
    pr->old_style_offsets_n = n;
}

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
    int64_t ts = rp->timestamp;
    if ((ts == TS_LATEST_TIERED && ver >= 9) || (ts == TS_EARLIEST_PENDING_UPLOAD && ver >= 11))
        return; /* no tiered storage: offset, timestamp and epoch -1, as Kafka without it */
    pr->leader_epoch = p->leader_epoch;
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
        pr->leader_epoch = -1;
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
        for (int j = 0; j < tr->partitions_n; j++) {
            if (ver == 0) {
                kp_list_offsets_resp_partition_init(&tr->partitions[j]);
                tr->partitions[j].partition_index = rt->partitions[j].partition_index;
                list_partition_v0(tp, &rt->partitions[j], &tr->partitions[j], body.replica_id, &rq->arena);
            } else {
                list_partition(tp, &rt->partitions[j], &tr->partitions[j], ver, body.isolation_level);
            }
        }
        topic_unref(tp);
    }
    conn_resp_begin(rq);
    kp_list_offsets_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}
