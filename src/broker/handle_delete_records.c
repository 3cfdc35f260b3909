/*
 * handle_delete_records.c - DeleteRecords (API key 21): move a partition's
 * log start offset (its low watermark) forward, as Kafka's
 * kafka-delete-records.sh and Admin.deleteRecords() do.
 *
 * The new start is made durable before the answer: the log-start
 * checkpoint is rewritten (and fsynced) on this reactor, so a crash right
 * after the answer never brings the deleted records back. Segments wholly
 * below the new start are deleted at once; records in the segment holding
 * it stay on disk but are never served again (a fetch below the start
 * answers OFFSET_OUT_OF_RANGE).
 *
 * Kafka's rules: offset -1 means the high watermark; an offset above the
 * high watermark (or below -1) is OFFSET_OUT_OF_RANGE; one at or below the
 * current start changes nothing and answers the current start; internal
 * topics are refused (INVALID_TOPIC_EXCEPTION) and so are topics whose
 * cleanup.policy does not include delete (POLICY_VIOLATION): compaction,
 * not an offset, decides what a compacted log keeps.
 */
#include "base/log.h"
#include "broker/broker.h"

static int16_t delete_one(partition *p, topic *tp, int64_t offset, int64_t *low)
{
    *low = -1;
    if (tp->internal)
        return KERR_INVALID_TOPIC_EXCEPTION;
    log_config cfg;
    plog_get_config(p->log, &cfg);
    if (!cfg.delete_policy)
        return KERR_POLICY_VIOLATION;
    int64_t hw = partition_high_watermark(p);
    if (offset == -1)
        offset = hw;
    if (offset < 0 || offset > hw)
        return KERR_OFFSET_OUT_OF_RANGE;
    /* offset <= high watermark <= log end: the log takes it (its answer is
     * the count of segments deleted). */
    (void)plog_advance_start(p->log, offset);
    partition_log_start_moved(p);
    *low = plog_start_offset(p->log);
    return KERR_NONE;
}

void handle_delete_records(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_delete_records_req body;
    kp_delete_records_req_init(&body);
    if (kp_delete_records_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_delete_records_resp resp;
    kp_delete_records_resp_init(&resp);
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(nt ? nt : 1));
    resp.topics_n = resp.topics ? nt : 0;
    int moved = 0;
    for (int i = 0; i < resp.topics_n; i++) {
        kp_delete_records_req_delete_records_topic *rt = &body.topics[i];
        kp_delete_records_resp_delete_records_topic_result *tr = &resp.topics[i];
        kp_delete_records_resp_delete_records_topic_result_init(tr);
        tr->name = rt->name;
        topic *tp = rt->name.len > 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len) : NULL;
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        tr->partitions = arena_alloc(&rq->arena, sizeof(*tr->partitions) * (size_t)(np ? np : 1));
        tr->partitions_n = tr->partitions ? np : 0;
        for (int j = 0; j < tr->partitions_n; j++) {
            kp_delete_records_resp_delete_records_partition_result *pr = &tr->partitions[j];
            kp_delete_records_resp_delete_records_partition_result_init(pr);
            pr->partition_index = rt->partitions[j].partition_index;
            pr->low_watermark = -1;
            int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            partition *p = broker_led_partition(tp, pr->partition_index, &why);
            if (!p) {
                pr->error_code = why;
                continue;
            }
            int64_t before = plog_start_offset(p->log);
            pr->error_code = delete_one(p, tp, rt->partitions[j].offset, &pr->low_watermark);
            if (pr->error_code == KERR_NONE && pr->low_watermark > before) {
                moved++;
                glog(GLOG_INFO, "log", "%.*s-%d: DeleteRecords moved the log start offset %lld -> %lld",
                     (int)tr->name.len, tr->name.ptr, pr->partition_index, (long long)before,
                     (long long)pr->low_watermark);
            }
        }
        topic_unref(tp);
    }
    if (moved > 0 && logmgr_checkpoint(b->logs) != 0) {
        /* The start moved in memory but may come back after a crash: say so
         * to the client instead of claiming the deletion. */
        for (int i = 0; i < resp.topics_n; i++)
            for (int j = 0; j < resp.topics[i].partitions_n; j++)
                if (resp.topics[i].partitions[j].error_code == KERR_NONE)
                    resp.topics[i].partitions[j].error_code = KERR_KAFKA_STORAGE_ERROR;
        glog(GLOG_ERROR, "log", "DeleteRecords: writing the log-start checkpoint failed");
    }
    conn_resp_begin(rq);
    kp_delete_records_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}
