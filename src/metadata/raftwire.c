/*
 * raftwire.c - the Raft core's messages (raft/raft.h) on Kafka's wire.
 *
 * The shapes are KRaft's (org.apache.kafka.raft.RaftUtil and
 * KafkaRaftClient): every request and response names one topic,
 * __cluster_metadata, with one partition, 0. What raft_msg does not hold is
 * written as Kafka writes it when it has nothing to say: directory ids are
 * the zero uuid (ReplicaKey.NO_DIRECTORY_ID), endpoint lists are empty,
 * Vote/BeginQuorumEpoch's VoterId is -1 (the sender's raft_msg does not
 * name the receiver; Kafka's receiver accepts -1, the "unknown voter").
 *
 * Vote: the core's pre-vote names the epoch it proposes (current + 1, as
 * its real vote will); Kafka 4.4 sends a pre-vote with the sender's CURRENT
 * epoch in ReplicaEpoch (KIP-996; captured: the pre-vote in epoch 1, then
 * the vote in epoch 2). So a pre-vote travels with candidate_epoch - 1 and
 * is read back + 1; a real vote carries its epoch as it is.
 *
 * Fetch: version 12 is the first that carries what Raft needs
 * (LastFetchedEpoch in the request; DivergingEpoch, CurrentLeader and
 * SnapshotId in the response), so versions below 12 are refused both ways.
 * At 13+ the topic is RAFTWIRE_TOPIC_ID and has no name; below, the name.
 * The newest is 17: v18 adds the follower's high watermark (KIP-1166),
 * which raft_fetch_req does not hold.
 *
 * Decoded messages borrow: entries are allocated from the reader's arena,
 * payloads and snapshot chunks point into the frame the reader reads (as
 * every string the generated codecs decode does). Keep both alive as long
 * as the message.
 *
 * Records: a raft_entry's payload is one whole v2 record batch. Encoding
 * copies each batch and writes the entry's offset and epoch into its header
 * (baseOffset and partitionLeaderEpoch are outside the CRC); an entry whose
 * payload is not exactly one batch that agrees with the entry (record count,
 * control flag) is not encoded (-1): the peer would decode something else.
 * Decoding checks each batch's header, length and CRC (the records stay
 * opaque) and takes offset, epoch, count (lastOffsetDelta + 1) and control
 * (attributes bit 5) from the header. A batch whose length runs past the
 * records refuses the whole answer (Kafka's own follower would drop such a
 * cut-off last batch; a Gregor leader never sends one).
 */
#include "metadata/raftwire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs.h"
#include "proto/batch.h"

const kp_uuid RAFTWIRE_TOPIC_ID = { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 } };

#define FETCH_MIN_VERSION 12     /* LastFetchedEpoch, the KRaft tagged fields */
#define FETCH_TOPIC_ID_VERSION 13
#define FETCH_MAX_WAIT_MS 500    /* the follower's long poll (Kafka's fetch max wait) */
#define FETCH_MAX_BYTES (1 << 20)
#define VOTE_PRE_VOTE_VERSION 2  /* KIP-996 */

/* The newest version of each api the code below knows how to write. */
static int16_t known_max(int16_t api_key)
{
    switch (api_key) {
    case KP_API_VOTE: return 2;
    case KP_API_BEGIN_QUORUM_EPOCH: return 1;
    case KP_API_END_QUORUM_EPOCH: return 1;
    case KP_API_FETCH: return 17;
    case KP_API_FETCH_SNAPSHOT: return 1;
    default: return -1;
    }
}

static int16_t known_min(int16_t api_key)
{
    return api_key == KP_API_FETCH ? FETCH_MIN_VERSION : 0;
}

int16_t raftwire_api_key(int msg_type)
{
    switch (msg_type) {
    case RAFT_MSG_VOTE_REQ:
    case RAFT_MSG_VOTE_RESP: return KP_API_VOTE;
    case RAFT_MSG_BEGIN_EPOCH_REQ:
    case RAFT_MSG_BEGIN_EPOCH_RESP: return KP_API_BEGIN_QUORUM_EPOCH;
    case RAFT_MSG_END_EPOCH_REQ:
    case RAFT_MSG_END_EPOCH_RESP: return KP_API_END_QUORUM_EPOCH;
    case RAFT_MSG_FETCH_REQ:
    case RAFT_MSG_FETCH_RESP: return KP_API_FETCH;
    case RAFT_MSG_FETCH_SNAPSHOT_REQ:
    case RAFT_MSG_FETCH_SNAPSHOT_RESP: return KP_API_FETCH_SNAPSHOT;
    default: return -1;
    }
}

int16_t raftwire_max_version(int16_t api_key)
{
    const kp_api_info *api = kp_api_find(api_key);
    int16_t ours = known_max(api_key);
    if (!api || ours < 0)
        return -1;
    return api->codec_max_version < ours ? api->codec_max_version : ours;
}

/* The version is one both the schema's codec and this file handle. */
static bool version_ok(int16_t api_key, int16_t version)
{
    const kp_api_info *api = kp_api_find(api_key);
    if (!api || known_max(api_key) < 0)
        return false;
    return version >= known_min(api_key) && version >= api->codec_min_version &&
           version <= raftwire_max_version(api_key);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *api_name(int16_t api_key)
{
    const kp_api_info *api = kp_api_find(api_key);
    return api ? api->name : "?";
}

static bool uuid_eq(kp_uuid a, kp_uuid b)
{
    return memcmp(a.b, b.b, sizeof a.b) == 0;
}

static bool topic_is_meta(kp_str name)
{
    return kp_str_eq(name, RAFTWIRE_TOPIC);
}

/*
 * The request's cluster id into out. A cluster id that out cannot hold
 * whole, or with a NUL byte in it, is refused: cut short it could compare
 * equal to ours.
 */
static int put_cluster_id(char *out, size_t outlen, kp_str id, const char *name, char *err, size_t errlen)
{
    size_t n = id.len > 0 ? (size_t)id.len : 0;
    if (n && memchr(id.ptr, '\0', n))
        return fail(err, errlen, "%s: a cluster id with a NUL byte", name);
    if (!out || !outlen)
        return 0;
    if (n > outlen - 1)
        return fail(err, errlen, "%s: a cluster id of %zu bytes, longer than %zu", name, n, outlen - 1);
    if (n)
        memcpy(out, id.ptr, n);
    out[n] = '\0';
    return 0;
}

/* ------------------------------------------------------------- records */

static int32_t be32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static int16_t be16(const uint8_t *p)
{
    return (int16_t)((uint16_t)p[0] << 8 | p[1]);
}

/* An entry's payload is exactly one batch that says what the entry says. */
static bool entry_encodable(const raft_entry *e)
{
    const uint8_t *p = e->payload.ptr;
    int32_t len = e->payload.len;
    if (!p || len < BATCH_HEADER_BYTES)
        return false;
    if ((int64_t)BATCH_LOG_OVERHEAD + batch_length(p) != len || p[16] != 2)
        return false;
    int32_t last_delta = be32(p + 23);
    bool control = (be16(p + 21) & BATCH_ATTR_CONTROL) != 0;
    return e->count >= 1 && last_delta == e->count - 1 && control == e->control;
}

/*
 * The entries' batches back to back in a malloc'ed buffer (*buf, *len),
 * each with its entry's offset and epoch. 0, or -1 when an entry cannot be
 * carried or the whole does not fit a records field.
 */
static int build_records(const raft_entry *v, int n, uint8_t **buf, int32_t *len)
{
    *buf = NULL;
    *len = 0;
    if (n < 0 || (n > 0 && !v))
        return -1;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!entry_encodable(&v[i]))
            return -1;
        total += v[i].payload.len;
        if (total > INT32_MAX)
            return -1;
    }
    if (total == 0)
        return 0;
    uint8_t *b = malloc((size_t)total);
    if (!b)
        return -1;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(b + at, v[i].payload.ptr, (size_t)v[i].payload.len);
        batch_set_base_offset(b + at, v[i].offset);
        batch_set_leader_epoch(b + at, v[i].epoch);
        at += (size_t)v[i].payload.len;
    }
    *buf = b;
    *len = (int32_t)total;
    return 0;
}

/* The batches of a Fetch response's records into entries (arena). */
static int parse_records(kp_reader *r, kp_records rec, raft_fetch_resp *out, char *err,
                         size_t errlen)
{
    out->entries = NULL;
    out->nentries = 0;
    if (rec.len <= 0)
        return 0;
    const uint8_t *p = rec.ptr;
    size_t left = (size_t)rec.len;
    int n = 0;
    /* Count first: one arena allocation of the right size. */
    while (left > 0) {
        if (left < BATCH_HEADER_BYTES)
            return fail(err, errlen, "Fetch records: %zu bytes left after batch %d, less than a batch header",
                        left, n);
        int32_t blen = batch_length(p);
        if (blen < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD)
            return fail(err, errlen, "Fetch records: batch %d has length %d, less than a header", n, blen);
        size_t total = (size_t)blen + BATCH_LOG_OVERHEAD;
        if (total > left)
            return fail(err, errlen, "Fetch records: batch %d has length %d, beyond the %zu bytes left", n,
                        blen, left - BATCH_LOG_OVERHEAD);
        p += total;
        left -= total;
        n++;
    }
    raft_entry *v = kp_alloc_array(r, n, sizeof *v);
    if (!v)
        return fail(err, errlen, "Fetch records: no memory for %d entries", n);
    p = rec.ptr;
    for (int i = 0; i < n; i++) {
        batch_info bi;
        size_t total = (size_t)batch_length(p) + BATCH_LOG_OVERHEAD;
        int rc = batch_check_crc(p, total, &bi);
        if (rc != BATCH_OK)
            return fail(err, errlen, "Fetch records: batch %d: %s", i, batch_err_str(rc));
        if (bi.last_offset_delta < 0 || bi.last_offset_delta == INT32_MAX)
            return fail(err, errlen, "Fetch records: batch %d has lastOffsetDelta %d", i,
                        bi.last_offset_delta);
        v[i].offset = batch_base_offset(p);
        v[i].epoch = be32(p + 12);
        v[i].count = bi.last_offset_delta + 1;
        v[i].control = (bi.attributes & BATCH_ATTR_CONTROL) != 0;
        v[i].payload.ptr = p;
        v[i].payload.len = (int32_t)total;
        p += total;
    }
    out->entries = v;
    out->nentries = n;
    return 0;
}

/* ------------------------------------------------------------ requests */

int raftwire_encode_request(const raft_msg *m, int32_t from, const char *cluster_id, int16_t version,
                            kp_writer *w)
{
    int16_t key = raftwire_api_key(m->type);
    if (key < 0 || !version_ok(key, version))
        return -1;
    kp_str cid = kp_str_c(cluster_id);
    switch (m->type) {
    case RAFT_MSG_VOTE_REQ: {
        const raft_vote_req *q = &m->u.vote_req;
        if (q->pre_vote && version < VOTE_PRE_VOTE_VERSION)
            return -1; /* a pre-vote must never travel as a real vote */
        if (q->pre_vote && q->candidate_epoch < 1)
            return -1; /* no current epoch to send (see the top of this file) */
        kp_vote_req_partition p;
        kp_vote_req_partition_init(&p);
        p.partition_index = 0;
        p.replica_epoch = q->pre_vote ? q->candidate_epoch - 1 : q->candidate_epoch;
        p.replica_id = from;
        p.last_offset_epoch = q->last_offset_epoch;
        p.last_offset = q->last_offset;
        p.pre_vote = q->pre_vote;
        kp_vote_req_topic t;
        kp_vote_req_topic_init(&t);
        t.topic_name = KP_STR(RAFTWIRE_TOPIC);
        t.partitions = &p;
        t.partitions_n = 1;
        kp_vote_req req;
        kp_vote_req_init(&req);
        req.cluster_id = cid;
        req.voter_id = -1;
        req.topics = &t;
        req.topics_n = 1;
        kp_vote_req_encode(w, version, &req);
        break;
    }
    case RAFT_MSG_BEGIN_EPOCH_REQ: {
        const raft_begin_epoch_req *q = &m->u.begin_req;
        kp_begin_quorum_epoch_req_partition p;
        kp_begin_quorum_epoch_req_partition_init(&p);
        p.partition_index = 0;
        p.leader_id = from;
        p.leader_epoch = q->leader_epoch;
        kp_begin_quorum_epoch_req_topic t;
        kp_begin_quorum_epoch_req_topic_init(&t);
        t.topic_name = KP_STR(RAFTWIRE_TOPIC);
        t.partitions = &p;
        t.partitions_n = 1;
        kp_begin_quorum_epoch_req req;
        kp_begin_quorum_epoch_req_init(&req);
        req.cluster_id = cid;
        req.voter_id = -1;
        req.topics = &t;
        req.topics_n = 1;
        kp_begin_quorum_epoch_req_encode(w, version, &req);
        break;
    }
    case RAFT_MSG_END_EPOCH_REQ: {
        const raft_end_epoch_req *q = &m->u.end_req;
        if (q->npreferred < 0 || q->npreferred > RAFT_VOTERS_MAX)
            return -1;
        int32_t ids[RAFT_VOTERS_MAX];
        kp_end_quorum_epoch_req_candidate cands[RAFT_VOTERS_MAX];
        for (int i = 0; i < q->npreferred; i++) {
            ids[i] = q->preferred[i];
            kp_end_quorum_epoch_req_candidate_init(&cands[i]);
            cands[i].candidate_id = q->preferred[i];
        }
        kp_end_quorum_epoch_req_partition p;
        kp_end_quorum_epoch_req_partition_init(&p);
        p.partition_index = 0;
        p.leader_id = from;
        p.leader_epoch = q->leader_epoch;
        if (version == 0) {
            p.preferred_successors = ids;
            p.preferred_successors_n = q->npreferred;
        } else {
            p.preferred_candidates = cands;
            p.preferred_candidates_n = q->npreferred;
        }
        kp_end_quorum_epoch_req_topic t;
        kp_end_quorum_epoch_req_topic_init(&t);
        t.topic_name = KP_STR(RAFTWIRE_TOPIC);
        t.partitions = &p;
        t.partitions_n = 1;
        kp_end_quorum_epoch_req req;
        kp_end_quorum_epoch_req_init(&req);
        req.cluster_id = cid;
        req.topics = &t;
        req.topics_n = 1;
        kp_end_quorum_epoch_req_encode(w, version, &req);
        break;
    }
    case RAFT_MSG_FETCH_REQ: {
        const raft_fetch_req *q = &m->u.fetch_req;
        kp_fetch_req_partition p;
        kp_fetch_req_partition_init(&p);
        p.partition = 0;
        p.current_leader_epoch = q->current_leader_epoch;
        p.fetch_offset = q->fetch_offset;
        p.last_fetched_epoch = q->last_fetched_epoch;
        p.log_start_offset = -1;
        /* As Kafka's KafkaRaftClient: the request's MaxBytes bounds the answer,
         * the partition's is left 0 (captured from Kafka 4.4.0). */
        p.partition_max_bytes = 0;
        kp_fetch_req_topic t;
        kp_fetch_req_topic_init(&t);
        if (version >= FETCH_TOPIC_ID_VERSION)
            t.topic_id = RAFTWIRE_TOPIC_ID;
        else
            t.topic = KP_STR(RAFTWIRE_TOPIC);
        t.partitions = &p;
        t.partitions_n = 1;
        kp_fetch_req req;
        kp_fetch_req_init(&req);
        req.cluster_id = cid;
        if (version >= 15) {
            req.replica_state.replica_id = from;
            req.replica_state.replica_epoch = -1;
            req.replica_state_present = true;
        } else {
            req.replica_id = from;
        }
        req.max_wait_ms = FETCH_MAX_WAIT_MS;
        req.min_bytes = 0;
        req.max_bytes = FETCH_MAX_BYTES;
        req.topics = &t;
        req.topics_n = 1;
        kp_fetch_req_encode(w, version, &req);
        break;
    }
    case RAFT_MSG_FETCH_SNAPSHOT_REQ: {
        const raft_fetch_snapshot_req *q = &m->u.snap_req;
        kp_fetch_snapshot_req_partition p;
        kp_fetch_snapshot_req_partition_init(&p);
        p.partition = 0;
        p.current_leader_epoch = q->current_leader_epoch;
        p.snapshot_id.end_offset = q->snapshot_id.end_offset;
        p.snapshot_id.epoch = q->snapshot_id.epoch;
        p.position = q->position;
        kp_fetch_snapshot_req_topic t;
        kp_fetch_snapshot_req_topic_init(&t);
        t.name = KP_STR(RAFTWIRE_TOPIC);
        t.partitions = &p;
        t.partitions_n = 1;
        kp_fetch_snapshot_req req;
        kp_fetch_snapshot_req_init(&req);
        req.cluster_id = cid;
        req.replica_id = from;
        req.max_bytes = q->max_bytes;
        req.topics = &t;
        req.topics_n = 1;
        kp_fetch_snapshot_req_encode(w, version, &req);
        break;
    }
    default:
        return -1;
    }
    return w->err ? -1 : 0;
}

/* A Raft message names exactly one topic and one partition. */
#define CHECK_ONE(what, n)                                                                    \
    do {                                                                                      \
        if ((n) != 1)                                                                         \
            return fail(err, errlen, "%s: %d %s, not one", name, (int)(n), what);             \
    } while (0)

int raftwire_decode_request(int16_t api_key, int16_t version, kp_reader *r, raft_msg *out, int32_t *from,
                            char *cluster_id_out, size_t cluster_id_len, char *err, size_t errlen)
{
    const char *name = api_name(api_key);
    if (err && errlen)
        err[0] = '\0';
    memset(out, 0, sizeof *out);
    if (!version_ok(api_key, version))
        return fail(err, errlen, "%s v%d: not a Raft request version", name, version);
    switch (api_key) {
    case KP_API_VOTE: {
        kp_vote_req req;
        kp_vote_req_init(&req);
        if (kp_vote_req_decode(r, version, &req) != 0)
            return fail(err, errlen, "%s v%d: %s", name, version, kp_err_str(r->err));
        CHECK_ONE("topics", req.topics_n);
        if (!topic_is_meta(req.topics[0].topic_name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)req.topics[0].topic_name.len, req.topics[0].topic_name.ptr);
        CHECK_ONE("partitions", req.topics[0].partitions_n);
        const kp_vote_req_partition *p = &req.topics[0].partitions[0];
        if (p->partition_index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition_index);
        if (p->pre_vote && (p->replica_epoch < 0 || p->replica_epoch == INT32_MAX))
            return fail(err, errlen, "%s: a pre-vote in epoch %d", name, p->replica_epoch);
        out->type = RAFT_MSG_VOTE_REQ;
        out->u.vote_req.candidate_epoch = p->pre_vote ? p->replica_epoch + 1 : p->replica_epoch;
        out->u.vote_req.candidate_id = p->replica_id;
        out->u.vote_req.last_offset_epoch = p->last_offset_epoch;
        out->u.vote_req.last_offset = p->last_offset;
        out->u.vote_req.pre_vote = p->pre_vote;
        if (put_cluster_id(cluster_id_out, cluster_id_len, req.cluster_id, name, err, errlen) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        *from = p->replica_id;
        return 0;
    }
    case KP_API_BEGIN_QUORUM_EPOCH: {
        kp_begin_quorum_epoch_req req;
        kp_begin_quorum_epoch_req_init(&req);
        if (kp_begin_quorum_epoch_req_decode(r, version, &req) != 0)
            return fail(err, errlen, "%s v%d: %s", name, version, kp_err_str(r->err));
        CHECK_ONE("topics", req.topics_n);
        if (!topic_is_meta(req.topics[0].topic_name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)req.topics[0].topic_name.len, req.topics[0].topic_name.ptr);
        CHECK_ONE("partitions", req.topics[0].partitions_n);
        const kp_begin_quorum_epoch_req_partition *p = &req.topics[0].partitions[0];
        if (p->partition_index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition_index);
        out->type = RAFT_MSG_BEGIN_EPOCH_REQ;
        out->u.begin_req.leader_id = p->leader_id;
        out->u.begin_req.leader_epoch = p->leader_epoch;
        if (put_cluster_id(cluster_id_out, cluster_id_len, req.cluster_id, name, err, errlen) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        *from = p->leader_id;
        return 0;
    }
    case KP_API_END_QUORUM_EPOCH: {
        kp_end_quorum_epoch_req req;
        kp_end_quorum_epoch_req_init(&req);
        if (kp_end_quorum_epoch_req_decode(r, version, &req) != 0)
            return fail(err, errlen, "%s v%d: %s", name, version, kp_err_str(r->err));
        CHECK_ONE("topics", req.topics_n);
        if (!topic_is_meta(req.topics[0].topic_name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)req.topics[0].topic_name.len, req.topics[0].topic_name.ptr);
        CHECK_ONE("partitions", req.topics[0].partitions_n);
        const kp_end_quorum_epoch_req_partition *p = &req.topics[0].partitions[0];
        if (p->partition_index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition_index);
        int n = version == 0 ? p->preferred_successors_n : p->preferred_candidates_n;
        if (n < 0)
            n = 0;
        if (n > RAFT_VOTERS_MAX)
            return fail(err, errlen, "%s: %d preferred candidates, more than %d voters", name, n,
                        RAFT_VOTERS_MAX);
        out->type = RAFT_MSG_END_EPOCH_REQ;
        out->u.end_req.leader_id = p->leader_id;
        out->u.end_req.leader_epoch = p->leader_epoch;
        for (int i = 0; i < n; i++)
            out->u.end_req.preferred[i] =
                version == 0 ? p->preferred_successors[i] : p->preferred_candidates[i].candidate_id;
        out->u.end_req.npreferred = n;
        if (put_cluster_id(cluster_id_out, cluster_id_len, req.cluster_id, name, err, errlen) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        *from = p->leader_id;
        return 0;
    }
    case KP_API_FETCH: {
        kp_fetch_req req;
        kp_fetch_req_init(&req);
        if (kp_fetch_req_decode(r, version, &req) != 0)
            return fail(err, errlen, "%s v%d: %s", name, version, kp_err_str(r->err));
        CHECK_ONE("topics", req.topics_n);
        const kp_fetch_req_topic *t = &req.topics[0];
        if (version >= FETCH_TOPIC_ID_VERSION ? !uuid_eq(t->topic_id, RAFTWIRE_TOPIC_ID)
                                              : !topic_is_meta(t->topic))
            return fail(err, errlen, "%s: the topic is not " RAFTWIRE_TOPIC, name);
        CHECK_ONE("partitions", t->partitions_n);
        const kp_fetch_req_partition *p = &t->partitions[0];
        if (p->partition != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition);
        int32_t id = version >= 15 ? req.replica_state.replica_id : req.replica_id;
        out->type = RAFT_MSG_FETCH_REQ;
        out->u.fetch_req.replica_id = id;
        out->u.fetch_req.current_leader_epoch = p->current_leader_epoch;
        out->u.fetch_req.fetch_offset = p->fetch_offset;
        out->u.fetch_req.last_fetched_epoch = p->last_fetched_epoch;
        if (put_cluster_id(cluster_id_out, cluster_id_len, req.cluster_id, name, err, errlen) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        *from = id;
        return 0;
    }
    case KP_API_FETCH_SNAPSHOT: {
        kp_fetch_snapshot_req req;
        kp_fetch_snapshot_req_init(&req);
        if (kp_fetch_snapshot_req_decode(r, version, &req) != 0)
            return fail(err, errlen, "%s v%d: %s", name, version, kp_err_str(r->err));
        CHECK_ONE("topics", req.topics_n);
        if (!topic_is_meta(req.topics[0].name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)req.topics[0].name.len, req.topics[0].name.ptr);
        CHECK_ONE("partitions", req.topics[0].partitions_n);
        const kp_fetch_snapshot_req_partition *p = &req.topics[0].partitions[0];
        if (p->partition != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition);
        out->type = RAFT_MSG_FETCH_SNAPSHOT_REQ;
        out->u.snap_req.replica_id = req.replica_id;
        out->u.snap_req.current_leader_epoch = p->current_leader_epoch;
        out->u.snap_req.snapshot_id.end_offset = p->snapshot_id.end_offset;
        out->u.snap_req.snapshot_id.epoch = p->snapshot_id.epoch;
        out->u.snap_req.position = p->position;
        out->u.snap_req.max_bytes = req.max_bytes;
        if (put_cluster_id(cluster_id_out, cluster_id_len, req.cluster_id, name, err, errlen) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        *from = req.replica_id;
        return 0;
    }
    default:
        return fail(err, errlen, "api %d is not a Raft api", api_key);
    }
}

/* ----------------------------------------------------------- responses */

/*
 * Every response below is built by one function per api from the fields
 * that matter (error codes, leader, epoch ...), so that
 * raftwire_encode_error and raftwire_encode_response write the same shapes.
 */

typedef struct epoch_answer {
    int16_t top_error, error;
    int32_t leader_id, leader_epoch;
    bool vote_granted;
} epoch_answer;

static void write_vote_resp(kp_writer *w, int16_t version, const epoch_answer *a)
{
    kp_vote_resp_partition p;
    kp_vote_resp_partition_init(&p);
    p.partition_index = 0;
    p.error_code = a->error;
    p.leader_id = a->leader_id;
    p.leader_epoch = a->leader_epoch;
    p.vote_granted = a->vote_granted;
    kp_vote_resp_topic t;
    kp_vote_resp_topic_init(&t);
    t.topic_name = KP_STR(RAFTWIRE_TOPIC);
    t.partitions = &p;
    t.partitions_n = 1;
    kp_vote_resp resp;
    kp_vote_resp_init(&resp);
    resp.error_code = a->top_error;
    resp.topics = &t;
    resp.topics_n = 1;
    kp_vote_resp_encode(w, version, &resp);
}

static void write_begin_resp(kp_writer *w, int16_t version, const epoch_answer *a)
{
    kp_begin_quorum_epoch_resp_partition p;
    kp_begin_quorum_epoch_resp_partition_init(&p);
    p.partition_index = 0;
    p.error_code = a->error;
    p.leader_id = a->leader_id;
    p.leader_epoch = a->leader_epoch;
    kp_begin_quorum_epoch_resp_topic t;
    kp_begin_quorum_epoch_resp_topic_init(&t);
    t.topic_name = KP_STR(RAFTWIRE_TOPIC);
    t.partitions = &p;
    t.partitions_n = 1;
    kp_begin_quorum_epoch_resp resp;
    kp_begin_quorum_epoch_resp_init(&resp);
    resp.error_code = a->top_error;
    resp.topics = &t;
    resp.topics_n = 1;
    kp_begin_quorum_epoch_resp_encode(w, version, &resp);
}

static void write_end_resp(kp_writer *w, int16_t version, const epoch_answer *a)
{
    kp_end_quorum_epoch_resp_partition p;
    kp_end_quorum_epoch_resp_partition_init(&p);
    p.partition_index = 0;
    p.error_code = a->error;
    p.leader_id = a->leader_id;
    p.leader_epoch = a->leader_epoch;
    kp_end_quorum_epoch_resp_topic t;
    kp_end_quorum_epoch_resp_topic_init(&t);
    t.topic_name = KP_STR(RAFTWIRE_TOPIC);
    t.partitions = &p;
    t.partitions_n = 1;
    kp_end_quorum_epoch_resp resp;
    kp_end_quorum_epoch_resp_init(&resp);
    resp.error_code = a->top_error;
    resp.topics = &t;
    resp.topics_n = 1;
    kp_end_quorum_epoch_resp_encode(w, version, &resp);
}

/* Fetch: p is filled but for the partition index and the tagged flags. */
static void write_fetch_resp(kp_writer *w, int16_t version, int16_t top_error, kp_fetch_resp_partition *p)
{
    p->partition_index = 0;
    /* Kafka writes a tagged struct only when it differs from its default
     * (the schema's: -1 for each of these), and reads the default when it
     * is absent. */
    kp_fetch_resp_epoch_end_offset de;
    kp_fetch_resp_epoch_end_offset_init(&de);
    kp_fetch_resp_leader_id_and_epoch dl;
    kp_fetch_resp_leader_id_and_epoch_init(&dl);
    kp_fetch_resp_snapshot_id ds;
    kp_fetch_resp_snapshot_id_init(&ds);
    p->diverging_epoch_present =
        p->diverging_epoch.epoch != de.epoch || p->diverging_epoch.end_offset != de.end_offset;
    p->current_leader_present =
        p->current_leader.leader_id != dl.leader_id || p->current_leader.leader_epoch != dl.leader_epoch;
    p->snapshot_id_present = p->snapshot_id.end_offset != ds.end_offset || p->snapshot_id.epoch != ds.epoch;
    p->aborted_transactions = NULL;
    p->aborted_transactions_n = 0; /* empty, not null: as Kafka 4.4.0 sends it */
    kp_fetch_resp_topic t;
    kp_fetch_resp_topic_init(&t);
    if (version >= FETCH_TOPIC_ID_VERSION)
        t.topic_id = RAFTWIRE_TOPIC_ID;
    else
        t.topic = KP_STR(RAFTWIRE_TOPIC);
    t.partitions = p;
    t.partitions_n = 1;
    kp_fetch_resp resp;
    kp_fetch_resp_init(&resp);
    resp.error_code = top_error;
    resp.responses = &t;
    resp.responses_n = 1;
    kp_fetch_resp_encode(w, version, &resp);
}

static void write_snap_resp(kp_writer *w, int16_t version, int16_t top_error,
                            kp_fetch_snapshot_resp_partition *p)
{
    p->index = 0;
    /* FetchSnapshot's CurrentLeader has no default in Kafka's JSON: 0 and 0,
     * which is what an absent tag reads as (Kafka's too). */
    kp_fetch_snapshot_resp_leader_id_and_epoch dl;
    kp_fetch_snapshot_resp_leader_id_and_epoch_init(&dl);
    p->current_leader_present =
        p->current_leader.leader_id != dl.leader_id || p->current_leader.leader_epoch != dl.leader_epoch;
    kp_fetch_snapshot_resp_topic t;
    kp_fetch_snapshot_resp_topic_init(&t);
    t.name = KP_STR(RAFTWIRE_TOPIC);
    t.partitions = p;
    t.partitions_n = 1;
    kp_fetch_snapshot_resp resp;
    kp_fetch_snapshot_resp_init(&resp);
    resp.error_code = top_error;
    resp.topics = &t;
    resp.topics_n = 1;
    kp_fetch_snapshot_resp_encode(w, version, &resp);
}

static bool resp_type_matches(int type, int16_t api_key)
{
    switch (type) {
    case RAFT_MSG_VOTE_RESP: return api_key == KP_API_VOTE;
    case RAFT_MSG_BEGIN_EPOCH_RESP: return api_key == KP_API_BEGIN_QUORUM_EPOCH;
    case RAFT_MSG_END_EPOCH_RESP: return api_key == KP_API_END_QUORUM_EPOCH;
    case RAFT_MSG_FETCH_RESP: return api_key == KP_API_FETCH;
    case RAFT_MSG_FETCH_SNAPSHOT_RESP: return api_key == KP_API_FETCH_SNAPSHOT;
    default: return false;
    }
}

int raftwire_encode_response(const raft_msg *m, int16_t api_key, int16_t version, kp_writer *w)
{
    if (!resp_type_matches(m->type, api_key) || !version_ok(api_key, version))
        return -1;
    switch (api_key) {
    case KP_API_VOTE: {
        const raft_vote_resp *q = &m->u.vote_resp;
        epoch_answer a = { 0, q->error, q->leader_id, q->leader_epoch, q->vote_granted };
        write_vote_resp(w, version, &a);
        break;
    }
    case KP_API_BEGIN_QUORUM_EPOCH:
    case KP_API_END_QUORUM_EPOCH: {
        const raft_epoch_resp *q = &m->u.epoch_resp;
        epoch_answer a = { 0, q->error, q->leader_id, q->leader_epoch, false };
        if (api_key == KP_API_BEGIN_QUORUM_EPOCH)
            write_begin_resp(w, version, &a);
        else
            write_end_resp(w, version, &a);
        break;
    }
    case KP_API_FETCH: {
        const raft_fetch_resp *q = &m->u.fetch_resp;
        uint8_t *buf;
        int32_t len;
        if (build_records(q->entries, q->nentries, &buf, &len) != 0)
            return -1;
        kp_fetch_resp_partition p;
        kp_fetch_resp_partition_init(&p);
        p.error_code = q->error;
        p.high_watermark = q->high_watermark;
        p.log_start_offset = q->log_start_offset;
        p.diverging_epoch.epoch = q->diverging_epoch;
        p.diverging_epoch.end_offset = q->diverging_end_offset;
        p.current_leader.leader_id = q->leader_id;
        p.current_leader.leader_epoch = q->leader_epoch;
        p.snapshot_id.end_offset = q->snapshot_id.end_offset;
        p.snapshot_id.epoch = q->snapshot_id.epoch;
        /* Kafka's raft always sends records, empty when it has none. */
        p.records.ptr = buf ? buf : (const uint8_t *)"";
        p.records.len = len;
        write_fetch_resp(w, version, 0, &p);
        free(buf);
        break;
    }
    case KP_API_FETCH_SNAPSHOT: {
        const raft_fetch_snapshot_resp *q = &m->u.snap_resp;
        if (q->chunk.len < 0 || (q->chunk.len > 0 && !q->chunk.ptr))
            return -1;
        kp_fetch_snapshot_resp_partition p;
        kp_fetch_snapshot_resp_partition_init(&p);
        p.error_code = q->error;
        p.snapshot_id.end_offset = q->snapshot_id.end_offset;
        p.snapshot_id.epoch = q->snapshot_id.epoch;
        p.current_leader.leader_id = q->leader_id;
        p.current_leader.leader_epoch = q->leader_epoch;
        p.size = q->size;
        p.position = q->position;
        p.unaligned_records.ptr = q->chunk.len > 0 ? q->chunk.ptr : (const uint8_t *)"";
        p.unaligned_records.len = q->chunk.len;
        write_snap_resp(w, version, 0, &p);
        break;
    }
    default:
        return -1;
    }
    return w->err ? -1 : 0;
}

void raftwire_encode_error(int16_t api_key, int16_t version, int16_t error, kp_writer *w)
{
    /* Any version the codec has (an old Fetch too): the asker reads its own. */
    const kp_api_info *api = kp_api_find(api_key);
    if (!api || version < api->codec_min_version || version > api->codec_max_version)
        return;
    epoch_answer a = { error, error, -1, -1, false };
    switch (api_key) {
    case KP_API_VOTE:
        write_vote_resp(w, version, &a);
        break;
    case KP_API_BEGIN_QUORUM_EPOCH:
        write_begin_resp(w, version, &a);
        break;
    case KP_API_END_QUORUM_EPOCH:
        write_end_resp(w, version, &a);
        break;
    case KP_API_FETCH: {
        kp_fetch_resp_partition p;
        kp_fetch_resp_partition_init(&p);
        p.error_code = error;
        p.high_watermark = -1;
        p.records.ptr = (const uint8_t *)"";
        p.records.len = 0;
        write_fetch_resp(w, version, error, &p);
        break;
    }
    case KP_API_FETCH_SNAPSHOT: {
        kp_fetch_snapshot_resp_partition p;
        kp_fetch_snapshot_resp_partition_init(&p);
        p.error_code = error;
        p.current_leader.leader_id = -1;
        p.current_leader.leader_epoch = -1;
        p.snapshot_id.end_offset = -1;
        p.snapshot_id.epoch = -1;
        p.size = -1;
        p.position = -1;
        p.unaligned_records.ptr = (const uint8_t *)"";
        p.unaligned_records.len = 0;
        write_snap_resp(w, version, error, &p);
        break;
    }
    default:
        break;
    }
}

/* A response with a top-level error and no usable partition. */
static void top_error_msg(raft_msg *out, int type, int16_t error)
{
    out->type = type;
    switch (type) {
    case RAFT_MSG_VOTE_RESP:
        out->u.vote_resp.error = error;
        out->u.vote_resp.leader_id = -1;
        out->u.vote_resp.leader_epoch = -1;
        break;
    case RAFT_MSG_BEGIN_EPOCH_RESP:
    case RAFT_MSG_END_EPOCH_RESP:
        out->u.epoch_resp.error = error;
        out->u.epoch_resp.leader_id = -1;
        out->u.epoch_resp.leader_epoch = -1;
        break;
    case RAFT_MSG_FETCH_RESP:
        out->u.fetch_resp.error = error;
        out->u.fetch_resp.leader_id = -1;
        out->u.fetch_resp.leader_epoch = -1;
        out->u.fetch_resp.high_watermark = -1;
        out->u.fetch_resp.log_start_offset = -1;
        out->u.fetch_resp.diverging_epoch = -1;
        out->u.fetch_resp.diverging_end_offset = -1;
        out->u.fetch_resp.snapshot_id.end_offset = -1;
        out->u.fetch_resp.snapshot_id.epoch = -1;
        break;
    case RAFT_MSG_FETCH_SNAPSHOT_RESP:
        out->u.snap_resp.error = error;
        out->u.snap_resp.leader_id = -1;
        out->u.snap_resp.leader_epoch = -1;
        out->u.snap_resp.snapshot_id.end_offset = -1;
        out->u.snap_resp.snapshot_id.epoch = -1;
        out->u.snap_resp.size = -1;
        out->u.snap_resp.position = -1;
        break;
    default:
        break;
    }
}

int raftwire_decode_response(int16_t api_key, int16_t version, kp_reader *r, raft_msg *out, char *err,
                             size_t errlen)
{
    const char *name = api_name(api_key);
    if (err && errlen)
        err[0] = '\0';
    memset(out, 0, sizeof *out);
    if (!version_ok(api_key, version))
        return fail(err, errlen, "%s v%d: not a Raft response version", name, version);
    switch (api_key) {
    case KP_API_VOTE: {
        kp_vote_resp resp;
        kp_vote_resp_init(&resp);
        if (kp_vote_resp_decode(r, version, &resp) != 0)
            return fail(err, errlen, "%s v%d response: %s", name, version, kp_err_str(r->err));
        if (resp.error_code != 0) {
            top_error_msg(out, RAFT_MSG_VOTE_RESP, resp.error_code);
            return 0;
        }
        CHECK_ONE("topics", resp.topics_n);
        if (!topic_is_meta(resp.topics[0].topic_name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)resp.topics[0].topic_name.len, resp.topics[0].topic_name.ptr);
        CHECK_ONE("partitions", resp.topics[0].partitions_n);
        const kp_vote_resp_partition *p = &resp.topics[0].partitions[0];
        if (p->partition_index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition_index);
        out->type = RAFT_MSG_VOTE_RESP;
        out->u.vote_resp.error = p->error_code;
        out->u.vote_resp.leader_id = p->leader_id;
        out->u.vote_resp.leader_epoch = p->leader_epoch;
        out->u.vote_resp.vote_granted = p->vote_granted;
        return 0;
    }
    case KP_API_BEGIN_QUORUM_EPOCH: {
        kp_begin_quorum_epoch_resp resp;
        kp_begin_quorum_epoch_resp_init(&resp);
        if (kp_begin_quorum_epoch_resp_decode(r, version, &resp) != 0)
            return fail(err, errlen, "%s v%d response: %s", name, version, kp_err_str(r->err));
        if (resp.error_code != 0) {
            top_error_msg(out, RAFT_MSG_BEGIN_EPOCH_RESP, resp.error_code);
            return 0;
        }
        CHECK_ONE("topics", resp.topics_n);
        if (!topic_is_meta(resp.topics[0].topic_name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)resp.topics[0].topic_name.len, resp.topics[0].topic_name.ptr);
        CHECK_ONE("partitions", resp.topics[0].partitions_n);
        const kp_begin_quorum_epoch_resp_partition *p = &resp.topics[0].partitions[0];
        if (p->partition_index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition_index);
        out->type = RAFT_MSG_BEGIN_EPOCH_RESP;
        out->u.epoch_resp.error = p->error_code;
        out->u.epoch_resp.leader_id = p->leader_id;
        out->u.epoch_resp.leader_epoch = p->leader_epoch;
        return 0;
    }
    case KP_API_END_QUORUM_EPOCH: {
        kp_end_quorum_epoch_resp resp;
        kp_end_quorum_epoch_resp_init(&resp);
        if (kp_end_quorum_epoch_resp_decode(r, version, &resp) != 0)
            return fail(err, errlen, "%s v%d response: %s", name, version, kp_err_str(r->err));
        if (resp.error_code != 0) {
            top_error_msg(out, RAFT_MSG_END_EPOCH_RESP, resp.error_code);
            return 0;
        }
        CHECK_ONE("topics", resp.topics_n);
        if (!topic_is_meta(resp.topics[0].topic_name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)resp.topics[0].topic_name.len, resp.topics[0].topic_name.ptr);
        CHECK_ONE("partitions", resp.topics[0].partitions_n);
        const kp_end_quorum_epoch_resp_partition *p = &resp.topics[0].partitions[0];
        if (p->partition_index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition_index);
        out->type = RAFT_MSG_END_EPOCH_RESP;
        out->u.epoch_resp.error = p->error_code;
        out->u.epoch_resp.leader_id = p->leader_id;
        out->u.epoch_resp.leader_epoch = p->leader_epoch;
        return 0;
    }
    case KP_API_FETCH: {
        kp_fetch_resp resp;
        kp_fetch_resp_init(&resp);
        if (kp_fetch_resp_decode(r, version, &resp) != 0)
            return fail(err, errlen, "%s v%d response: %s", name, version, kp_err_str(r->err));
        if (resp.error_code != 0) {
            top_error_msg(out, RAFT_MSG_FETCH_RESP, resp.error_code);
            return 0;
        }
        CHECK_ONE("topics", resp.responses_n);
        const kp_fetch_resp_topic *t = &resp.responses[0];
        if (version >= FETCH_TOPIC_ID_VERSION ? !uuid_eq(t->topic_id, RAFTWIRE_TOPIC_ID)
                                              : !topic_is_meta(t->topic))
            return fail(err, errlen, "%s: the topic is not " RAFTWIRE_TOPIC, name);
        CHECK_ONE("partitions", t->partitions_n);
        const kp_fetch_resp_partition *p = &t->partitions[0];
        if (p->partition_index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->partition_index);
        raft_fetch_resp *q = &out->u.fetch_resp;
        out->type = RAFT_MSG_FETCH_RESP;
        q->error = p->error_code;
        q->leader_id = p->current_leader.leader_id;
        q->leader_epoch = p->current_leader.leader_epoch;
        q->high_watermark = p->high_watermark;
        q->log_start_offset = p->log_start_offset;
        q->diverging_epoch = p->diverging_epoch.epoch;
        q->diverging_end_offset = p->diverging_epoch.end_offset;
        q->snapshot_id.end_offset = p->snapshot_id.end_offset;
        q->snapshot_id.epoch = p->snapshot_id.epoch;
        q->req_fetch_offset = -1;
        q->req_last_fetched_epoch = -1;
        if (parse_records(r, p->records, q, err, errlen) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        return 0;
    }
    case KP_API_FETCH_SNAPSHOT: {
        kp_fetch_snapshot_resp resp;
        kp_fetch_snapshot_resp_init(&resp);
        if (kp_fetch_snapshot_resp_decode(r, version, &resp) != 0)
            return fail(err, errlen, "%s v%d response: %s", name, version, kp_err_str(r->err));
        if (resp.error_code != 0) {
            top_error_msg(out, RAFT_MSG_FETCH_SNAPSHOT_RESP, resp.error_code);
            return 0;
        }
        CHECK_ONE("topics", resp.topics_n);
        if (!topic_is_meta(resp.topics[0].name))
            return fail(err, errlen, "%s: topic %.*s is not " RAFTWIRE_TOPIC, name,
                        (int)resp.topics[0].name.len, resp.topics[0].name.ptr);
        CHECK_ONE("partitions", resp.topics[0].partitions_n);
        const kp_fetch_snapshot_resp_partition *p = &resp.topics[0].partitions[0];
        if (p->index != 0)
            return fail(err, errlen, "%s: partition %d is not 0", name, p->index);
        raft_fetch_snapshot_resp *q = &out->u.snap_resp;
        out->type = RAFT_MSG_FETCH_SNAPSHOT_RESP;
        q->error = p->error_code;
        q->leader_id = p->current_leader.leader_id;
        q->leader_epoch = p->current_leader.leader_epoch;
        q->snapshot_id.end_offset = p->snapshot_id.end_offset;
        q->snapshot_id.epoch = p->snapshot_id.epoch;
        q->size = p->size;
        q->position = p->position;
        q->chunk.ptr = p->unaligned_records.len > 0 ? p->unaligned_records.ptr : NULL;
        q->chunk.len = p->unaligned_records.len > 0 ? p->unaligned_records.len : 0;
        q->chunk_len = q->chunk.len;
        return 0;
    }
    default:
        return fail(err, errlen, "api %d is not a Raft api", api_key);
    }
}
