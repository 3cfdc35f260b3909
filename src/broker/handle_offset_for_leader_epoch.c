/*
 * handle_offset_for_leader_epoch.c - OffsetForLeaderEpoch (KIP-101,
 * KIP-320): where did epoch E end? Consumers ask it after a leader change
 * to find out whether their position lies in a tail the new leader never
 * had (log truncation detection); older followers asked it before the
 * Fetch request grew DivergingEpoch. Answered by the partition's leader
 * from its leader-epoch cache, with Kafka's endOffsetFor rules (see
 * cluster/epochs.h): the requested epoch (or the largest one below it)
 * and the offset where the next epoch starts, or the log end for the
 * latest epoch; (-1, -1) for an epoch newer than any the leader knows.
 */
#include "broker/broker.h"

static void one_partition(topic *tp, const kp_offset_for_leader_epoch_req_partition *rp,
                          kp_offset_for_leader_epoch_resp_partition *pr)
{
    kp_offset_for_leader_epoch_resp_partition_init(pr);
    pr->partition = rp->partition;
    int16_t why = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    partition *p = broker_led_partition_at(tp, rp->partition, rp->current_leader_epoch, &why);
    if (!p) {
        pr->error_code = why;
        return;
    }
    int32_t epoch = -1;
    pr->end_offset = partition_epoch_end(p, rp->leader_epoch, &epoch);
    pr->leader_epoch = epoch;
}

void handle_offset_for_leader_epoch(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_offset_for_leader_epoch_req body;
    kp_offset_for_leader_epoch_req_init(&body);
    if (kp_offset_for_leader_epoch_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_offset_for_leader_epoch_resp resp;
    kp_offset_for_leader_epoch_resp_init(&resp);
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    resp.topics = arena_alloc(&rq->arena, sizeof(*resp.topics) * (size_t)(nt ? nt : 1));
    resp.topics_n = resp.topics ? nt : 0;
    for (int i = 0; i < resp.topics_n; i++) {
        kp_offset_for_leader_epoch_req_topic *rt = &body.topics[i];
        kp_offset_for_leader_epoch_resp_topic *tr = &resp.topics[i];
        kp_offset_for_leader_epoch_resp_topic_init(tr);
        tr->topic = rt->topic;
        topic *tp = rt->topic.len > 0 ? topics_get(b->topics, rt->topic.ptr, rt->topic.len) : NULL;
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        tr->partitions = arena_alloc(&rq->arena, sizeof(*tr->partitions) * (size_t)(np ? np : 1));
        tr->partitions_n = tr->partitions ? np : 0;
        for (int j = 0; j < tr->partitions_n; j++)
            one_partition(tp, &rt->partitions[j], &tr->partitions[j]);
        topic_unref(tp);
    }
    conn_resp_begin(rq);
    kp_offset_for_leader_epoch_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}
