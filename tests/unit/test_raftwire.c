/*
 * test_raftwire.c - the Raft core's messages on Kafka's wire
 * (src/metadata/raftwire.c).
 *
 * It proves:
 *  - every raft_msg type round-trips (encode -> decode -> the same message,
 *    sender and cluster id) at every version the schema has for its api, or
 *    is refused (-1) at the versions that cannot carry it: Fetch below 12,
 *    a pre-vote below Vote v2; Fetch answers with 0, 1 and several
 *    batches, control batches, divergence, snapshot ids, errors; every
 *    strict prefix of every encoding fails to decode;
 *  - the batches travel with the entry's offset and epoch written into
 *    their headers (the CRC still holds), and come back with count =
 *    lastOffsetDelta + 1 and control = attributes bit 5;
 *  - raftwire_encode_error writes a response of each api that decodes to
 *    the error (top level and partition);
 *  - the frames Apache Kafka 4.4.0 sent (tests/unit/test_kraft_codec.c's
 *    capture) decode through raftwire_decode_* to what Kafka meant, and
 *    raftwire re-encodes each (Vote v1, BeginQuorumEpoch v1, Fetch v17,
 *    requests and responses) byte for byte as Kafka did, but for what
 *    raft_msg does not hold (directory ids, VoterId, endpoints);
 *  - malformed input (truncated, another topic, two partitions, partition
 *    1, a batch longer than the records, a bad CRC, trailing garbage in the
 *    records, too many preferred candidates, versions Raft cannot use)
 *    returns -1 with a reason and never crashes (run under make SAN=1).
 */
#include "metadata/raftwire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kafka_msgs.h"
#include "proto/batch.h"
#include "proto/batch_build.h"
#include "proto/codec.h"

#define ARENA_MAX (1u << 26)
#define CLUSTER "J8vWq1kzTqi3cXXc1Lr0Ag"

static int n_roundtrips, n_refused;

/* ------------------------------------------------------------- batches */

/* A v2 batch of `count` records (control: one control record, as
 * LeaderChange), exact-size malloc'ed, base offset and epoch garbage (the
 * encoder must overwrite them). */
static raft_bytes make_batch(int32_t count, bool control, int salt)
{
    kp_writer w;
    kp_writer_init(&w);
    batch_builder b;
    batch_build_begin(&b, &w, 1700000000000LL + salt);
    for (int i = 0; i < count; i++) {
        char val[32];
        int n = snprintf(val, sizeof val, "v%d-%d", salt, i);
        if (control) {
            static const uint8_t key[] = { 0, 0, 0, 2 }; /* LEADER_CHANGE */
            batch_build_add(&b, 1700000000000LL + salt, key, 4, val, n);
        } else {
            batch_build_add(&b, 1700000000000LL + salt, "k", 1, val, n);
        }
    }
    if (control)
        batch_build_producer(&b, -1, -1, -1, BATCH_ATTR_CONTROL);
    size_t len = batch_build_end(&b);
    uint8_t *p = malloc(len);
    memcpy(p, w.buf + b.start, len);
    batch_set_base_offset(p, 0x5a5a5a5a5a5aLL);
    batch_set_leader_epoch(p, 0x3c3c3c3c);
    kp_writer_deinit(&w);
    return (raft_bytes){ p, (int32_t)len };
}

/* Entries from offset 0: counts[i] records each, epochs rising. */
static raft_entry *make_entries(int n, const int32_t *counts, const bool *control, int64_t first)
{
    raft_entry *v = calloc((size_t)(n ? n : 1), sizeof *v);
    int64_t off = first;
    for (int i = 0; i < n; i++) {
        v[i].offset = off;
        v[i].count = counts[i];
        v[i].epoch = 3 + i / 2;
        v[i].control = control[i];
        v[i].payload = make_batch(counts[i], control[i], i);
        off += counts[i];
    }
    return v;
}

static void free_entries(raft_entry *v, int n)
{
    for (int i = 0; i < n; i++)
        free((void *)v[i].payload.ptr);
    free(v);
}

/* ------------------------------------------------------------- compare */

static bool entry_eq(const raft_entry *a, const raft_entry *b)
{
    if (a->offset != b->offset || a->count != b->count || a->epoch != b->epoch ||
        a->control != b->control || a->payload.len != b->payload.len)
        return false;
    /* b came off the wire: its header has a's offset and epoch, the rest is a's bytes. */
    const uint8_t *p = b->payload.ptr;
    if (batch_base_offset(p) != a->offset)
        return false;
    int32_t e = (int32_t)((uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15]);
    if (e != a->epoch)
        return false;
    if (memcmp(a->payload.ptr + 8, p + 8, 4) != 0 ||
        memcmp(a->payload.ptr + 16, p + 16, (size_t)a->payload.len - 16) != 0)
        return false;
    batch_info bi;
    return batch_validate(p, (size_t)b->payload.len, &bi) == BATCH_OK;
}

static bool msg_eq(const raft_msg *a, const raft_msg *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case RAFT_MSG_VOTE_REQ: {
        const raft_vote_req *x = &a->u.vote_req, *y = &b->u.vote_req;
        return x->candidate_epoch == y->candidate_epoch && x->candidate_id == y->candidate_id &&
               x->last_offset_epoch == y->last_offset_epoch && x->last_offset == y->last_offset &&
               x->pre_vote == y->pre_vote;
    }
    case RAFT_MSG_VOTE_RESP: {
        const raft_vote_resp *x = &a->u.vote_resp, *y = &b->u.vote_resp;
        return x->error == y->error && x->leader_id == y->leader_id &&
               x->leader_epoch == y->leader_epoch && x->vote_granted == y->vote_granted;
    }
    case RAFT_MSG_BEGIN_EPOCH_REQ:
        return a->u.begin_req.leader_id == b->u.begin_req.leader_id &&
               a->u.begin_req.leader_epoch == b->u.begin_req.leader_epoch;
    case RAFT_MSG_END_EPOCH_REQ: {
        const raft_end_epoch_req *x = &a->u.end_req, *y = &b->u.end_req;
        if (x->leader_id != y->leader_id || x->leader_epoch != y->leader_epoch ||
            x->npreferred != y->npreferred)
            return false;
        for (int i = 0; i < x->npreferred; i++)
            if (x->preferred[i] != y->preferred[i])
                return false;
        return true;
    }
    case RAFT_MSG_BEGIN_EPOCH_RESP:
    case RAFT_MSG_END_EPOCH_RESP:
        return a->u.epoch_resp.error == b->u.epoch_resp.error &&
               a->u.epoch_resp.leader_id == b->u.epoch_resp.leader_id &&
               a->u.epoch_resp.leader_epoch == b->u.epoch_resp.leader_epoch;
    case RAFT_MSG_FETCH_REQ: {
        const raft_fetch_req *x = &a->u.fetch_req, *y = &b->u.fetch_req;
        return x->replica_id == y->replica_id && x->current_leader_epoch == y->current_leader_epoch &&
               x->fetch_offset == y->fetch_offset && x->last_fetched_epoch == y->last_fetched_epoch;
    }
    case RAFT_MSG_FETCH_RESP: {
        const raft_fetch_resp *x = &a->u.fetch_resp, *y = &b->u.fetch_resp;
        if (x->error != y->error || x->leader_id != y->leader_id || x->leader_epoch != y->leader_epoch ||
            x->high_watermark != y->high_watermark || x->log_start_offset != y->log_start_offset ||
            x->diverging_epoch != y->diverging_epoch ||
            x->diverging_end_offset != y->diverging_end_offset ||
            x->snapshot_id.end_offset != y->snapshot_id.end_offset ||
            x->snapshot_id.epoch != y->snapshot_id.epoch || x->nentries != y->nentries)
            return false;
        for (int i = 0; i < x->nentries; i++)
            if (!entry_eq(&x->entries[i], &y->entries[i]))
                return false;
        return true;
    }
    case RAFT_MSG_FETCH_SNAPSHOT_REQ: {
        const raft_fetch_snapshot_req *x = &a->u.snap_req, *y = &b->u.snap_req;
        return x->replica_id == y->replica_id && x->current_leader_epoch == y->current_leader_epoch &&
               x->snapshot_id.end_offset == y->snapshot_id.end_offset &&
               x->snapshot_id.epoch == y->snapshot_id.epoch && x->position == y->position &&
               x->max_bytes == y->max_bytes;
    }
    case RAFT_MSG_FETCH_SNAPSHOT_RESP: {
        const raft_fetch_snapshot_resp *x = &a->u.snap_resp, *y = &b->u.snap_resp;
        return x->error == y->error && x->leader_id == y->leader_id &&
               x->leader_epoch == y->leader_epoch &&
               x->snapshot_id.end_offset == y->snapshot_id.end_offset &&
               x->snapshot_id.epoch == y->snapshot_id.epoch && x->size == y->size &&
               x->position == y->position && x->chunk_len == y->chunk.len &&
               x->chunk.len == y->chunk.len &&
               (x->chunk.len == 0 || memcmp(x->chunk.ptr, y->chunk.ptr, (size_t)x->chunk.len) == 0);
    }
    default:
        return false;
    }
}

/* ---------------------------------------------------------- round trips */

static bool is_request(int type)
{
    return type == RAFT_MSG_VOTE_REQ || type == RAFT_MSG_BEGIN_EPOCH_REQ ||
           type == RAFT_MSG_END_EPOCH_REQ || type == RAFT_MSG_FETCH_REQ ||
           type == RAFT_MSG_FETCH_SNAPSHOT_REQ;
}

/* An exact-size copy of w's bytes: ASan sees any overread. */
static uint8_t *copy_of(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    return c;
}

static int decode_any(int type, int16_t key, int16_t v, const uint8_t *p, size_t n, arena *a, raft_msg *out,
                      int32_t *from, char *cid, size_t cidlen, char *err, size_t errlen)
{
    kp_reader r;
    kp_reader_init(&r, p, n, a);
    int rc = is_request(type) ? raftwire_decode_request(key, v, &r, out, from, cid, cidlen, err, errlen)
                              : raftwire_decode_response(key, v, &r, out, err, errlen);
    if (rc == 0 && kp_reader_left(&r) != 0)
        return 1; /* decoded but left bytes: a test failure, not a refusal */
    return rc;
}

enum { CARRIED, REFUSED, VERSION_REFUSED };

/*
 * m from node `from` at version v: CARRIED, 0 and the same message back;
 * REFUSED, the encoder says -1 (the message cannot travel as it is);
 * VERSION_REFUSED, Raft cannot use version v at all: the decoder refuses
 * it too.
 */
static void roundtrip(const char *what, const raft_msg *m, int32_t from, int16_t v, int expect)
{
    int16_t key = raftwire_api_key(m->type);
    kp_writer w;
    kp_writer_init(&w);
    int rc = is_request(m->type) ? raftwire_encode_request(m, from, CLUSTER, v, &w)
                                 : raftwire_encode_response(m, key, v, &w);
    if (expect != CARRIED) {
        if (rc != -1)
            fprintf(stderr, "%s v%d: encoded, should be refused\n", what, v);
        CHECK_EQ_I64(rc, -1);
        /* The decoder refuses that version too. */
        arena a;
        arena_init(&a, ARENA_MAX);
        raft_msg out;
        int32_t f = 0;
        char err[200] = "";
        uint8_t junk[64] = { 0 };
        int drc = decode_any(m->type, key, v, junk, sizeof junk, &a, &out, &f, NULL, 0, err, sizeof err);
        if (expect == VERSION_REFUSED) {
            CHECK_EQ_I64(drc, -1);
            CHECK(err[0] != '\0');
        }
        arena_deinit(&a);
        kp_writer_deinit(&w);
        n_refused++;
        return;
    }
    if (rc != 0)
        fprintf(stderr, "%s v%d: encode failed\n", what, v);
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_I64(w.err, KP_OK);
    arena a;
    arena_init(&a, ARENA_MAX);
    uint8_t *frame = copy_of(w.buf, w.len);
    raft_msg out;
    int32_t got_from = -99;
    char cid[64] = "x";
    char err[200] = "";
    rc = decode_any(m->type, key, v, frame, w.len, &a, &out, &got_from, cid, sizeof cid, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s v%d: decode: %d %s\n", what, v, rc, err);
    CHECK_EQ_I64(rc, 0);
    bool same = rc == 0 && msg_eq(m, &out);
    if (!same)
        fprintf(stderr, "%s v%d: round trip differs\n", what, v);
    CHECK(same);
    if (is_request(m->type)) {
        CHECK_EQ_I64(got_from, from);
        CHECK(strcmp(cid, CLUSTER) == 0);
    }
    /* Every strict prefix fails, with a reason. */
    int prefix_ok = 0, no_reason = 0;
    for (size_t n = 0; n < w.len; n++) {
        uint8_t *c = copy_of(w.buf, n);
        err[0] = '\0';
        int prc = decode_any(m->type, key, v, c, n, &a, &out, &got_from, cid, sizeof cid, err, sizeof err);
        if (prc != -1)
            prefix_ok++;
        else if (err[0] == '\0')
            no_reason++;
        free(c);
    }
    if (prefix_ok)
        fprintf(stderr, "%s v%d: %d strict prefixes decode\n", what, v, prefix_ok);
    CHECK_EQ_I64(prefix_ok, 0);
    CHECK_EQ_I64(no_reason, 0);
    free(frame);
    arena_deinit(&a);
    kp_writer_deinit(&w);
    n_roundtrips++;
}

static int16_t codec_min(int16_t key)
{
    return kp_api_find(key)->codec_min_version;
}

static int16_t codec_max(int16_t key)
{
    return kp_api_find(key)->codec_max_version;
}

/* Every version the schema has: carried from min_ok on; below it refused,
 * by the decoder too when Raft cannot use the version at all. */
static void roundtrip_all(const char *what, const raft_msg *m, int32_t from, int16_t min_ok)
{
    int16_t key = raftwire_api_key(m->type);
    bool pre_vote = m->type == RAFT_MSG_VOTE_REQ && m->u.vote_req.pre_vote;
    for (int16_t v = codec_min(key); v <= codec_max(key); v++)
        roundtrip(what, m, from, v,
                  v > raftwire_max_version(key) ? VERSION_REFUSED
                  : v >= min_ok                 ? CARRIED
                  : pre_vote                    ? REFUSED
                                                : VERSION_REFUSED);
}

static void test_versions(void)
{
    CHECK_EQ_I64(raftwire_api_key(RAFT_MSG_VOTE_REQ), KP_API_VOTE);
    CHECK_EQ_I64(raftwire_api_key(RAFT_MSG_VOTE_RESP), KP_API_VOTE);
    CHECK_EQ_I64(raftwire_api_key(RAFT_MSG_BEGIN_EPOCH_REQ), KP_API_BEGIN_QUORUM_EPOCH);
    CHECK_EQ_I64(raftwire_api_key(RAFT_MSG_END_EPOCH_RESP), KP_API_END_QUORUM_EPOCH);
    CHECK_EQ_I64(raftwire_api_key(RAFT_MSG_FETCH_RESP), KP_API_FETCH);
    CHECK_EQ_I64(raftwire_api_key(RAFT_MSG_FETCH_SNAPSHOT_REQ), KP_API_FETCH_SNAPSHOT);
    CHECK_EQ_I64(raftwire_api_key(0), -1);
    CHECK_EQ_I64(raftwire_api_key(99), -1);
    /* The newest each: what the schema has (Vote v2 is KIP-996's pre-vote). */
    CHECK_EQ_I64(raftwire_max_version(KP_API_VOTE), 2);
    CHECK_EQ_I64(raftwire_max_version(KP_API_BEGIN_QUORUM_EPOCH), 1);
    CHECK_EQ_I64(raftwire_max_version(KP_API_END_QUORUM_EPOCH), 1);
    CHECK_EQ_I64(raftwire_max_version(KP_API_FETCH), 17);
    CHECK_EQ_I64(raftwire_max_version(KP_API_FETCH_SNAPSHOT), 1);
    CHECK_EQ_I64(raftwire_max_version(KP_API_PRODUCE), -1);
    CHECK_EQ_I64(raftwire_max_version(12345), -1);
    /* A message of no request type, a response key that is not its api. */
    kp_writer w;
    kp_writer_init(&w);
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_VOTE_RESP;
    CHECK_EQ_I64(raftwire_encode_request(&m, 1, CLUSTER, 1, &w), -1);
    CHECK_EQ_I64(raftwire_encode_response(&m, KP_API_FETCH, 17, &w), -1);
    m.type = RAFT_MSG_BEGIN_EPOCH_RESP;
    CHECK_EQ_I64(raftwire_encode_response(&m, KP_API_END_QUORUM_EPOCH, 1, &w), -1);
    m.type = RAFT_MSG_VOTE_REQ;
    CHECK_EQ_I64(raftwire_encode_response(&m, KP_API_VOTE, 1, &w), -1);
    CHECK_EQ_I64(raftwire_encode_request(&m, 1, CLUSTER, 3, &w), -1);
    CHECK_EQ_I64(raftwire_encode_request(&m, 1, CLUSTER, -1, &w), -1);
    CHECK_EQ_I64(w.len, 0);
    kp_writer_deinit(&w);
}

static void test_requests(void)
{
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_VOTE_REQ;
    m.u.vote_req = (raft_vote_req){ .candidate_epoch = 7, .candidate_id = 3, .last_offset_epoch = 6,
                                    .last_offset = 1234567890123LL, .pre_vote = false };
    roundtrip_all("Vote", &m, 3, 0);
    m.u.vote_req.pre_vote = true;
    roundtrip_all("Vote pre-vote", &m, 3, 2);
    m.u.vote_req = (raft_vote_req){ .candidate_epoch = 1, .candidate_id = 0, .last_offset_epoch = 0,
                                    .last_offset = 0, .pre_vote = true };
    roundtrip_all("Vote pre-vote empty log", &m, 0, 2);
    /* A pre-vote travels in the sender's current epoch (Kafka's): one
     * proposing epoch 0 has none to send. */
    m.u.vote_req.candidate_epoch = 0;
    roundtrip("Vote pre-vote for epoch 0", &m, 0, 2, REFUSED);
    kp_writer w0;
    kp_writer_init(&w0);
    m.u.vote_req.candidate_epoch = 8;
    CHECK_EQ_I64(raftwire_encode_request(&m, 0, CLUSTER, 2, &w0), 0);
    {
        kp_vote_req vq;
        arena a0;
        arena_init(&a0, ARENA_MAX);
        kp_reader r0;
        kp_reader_init(&r0, w0.buf, w0.len, &a0);
        CHECK_EQ_I64(kp_vote_req_decode(&r0, 2, &vq), 0);
        CHECK_EQ_I64(vq.topics[0].partitions[0].replica_epoch, 7);
        CHECK(vq.topics[0].partitions[0].pre_vote);
        arena_deinit(&a0);
    }
    kp_writer_deinit(&w0);

    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_BEGIN_EPOCH_REQ;
    m.u.begin_req = (raft_begin_epoch_req){ .leader_id = 2, .leader_epoch = 9 };
    roundtrip_all("BeginQuorumEpoch", &m, 2, 0);

    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_END_EPOCH_REQ;
    m.u.end_req.leader_id = 1;
    m.u.end_req.leader_epoch = 4;
    roundtrip_all("EndQuorumEpoch, nobody preferred", &m, 1, 0);
    m.u.end_req.npreferred = 3;
    m.u.end_req.preferred[0] = 3;
    m.u.end_req.preferred[1] = 2;
    m.u.end_req.preferred[2] = 5;
    roundtrip_all("EndQuorumEpoch", &m, 1, 0);
    m.u.end_req.npreferred = RAFT_VOTERS_MAX;
    for (int i = 0; i < RAFT_VOTERS_MAX; i++)
        m.u.end_req.preferred[i] = 100 - i;
    roundtrip_all("EndQuorumEpoch, all voters", &m, 1, 0);
    m.u.end_req.npreferred = RAFT_VOTERS_MAX + 1;
    roundtrip("EndQuorumEpoch, too many", &m, 1, 1, REFUSED);

    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_FETCH_REQ;
    m.u.fetch_req = (raft_fetch_req){ .replica_id = 2, .current_leader_epoch = 5, .fetch_offset = 77,
                                      .last_fetched_epoch = 4 };
    roundtrip_all("Fetch", &m, 2, 12);
    m.u.fetch_req = (raft_fetch_req){ .replica_id = 7, .current_leader_epoch = 0, .fetch_offset = 0,
                                      .last_fetched_epoch = 0 };
    roundtrip_all("Fetch, observer from the start", &m, 7, 12);

    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_FETCH_SNAPSHOT_REQ;
    m.u.snap_req = (raft_fetch_snapshot_req){ .replica_id = 3, .current_leader_epoch = 8,
                                              .snapshot_id = { 5000, 7 }, .position = 1 << 20,
                                              .max_bytes = 1 << 20 };
    roundtrip_all("FetchSnapshot", &m, 3, 0);

    /* No cluster id (null on the wire): "" for the glue. */
    kp_writer w;
    kp_writer_init(&w);
    CHECK_EQ_I64(raftwire_encode_request(&m, 3, NULL, 1, &w), 0);
    arena a;
    arena_init(&a, ARENA_MAX);
    kp_reader r;
    kp_reader_init(&r, w.buf, w.len, &a);
    raft_msg out;
    int32_t from = -99;
    char cid[16] = "junk", err[200] = "";
    CHECK_EQ_I64(raftwire_decode_request(KP_API_FETCH_SNAPSHOT, 1, &r, &out, &from, cid, sizeof cid, err,
                                         sizeof err),
                 0);
    CHECK_EQ_I64(from, 3);
    CHECK(cid[0] == '\0');
    /* and a NULL buffer for it is fine */
    kp_reader_init(&r, w.buf, w.len, &a);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_FETCH_SNAPSHOT, 1, &r, &out, &from, NULL, 0, NULL, 0), 0);
    arena_deinit(&a);
    kp_writer_deinit(&w);
}

static void test_responses(void)
{
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_VOTE_RESP;
    m.u.vote_resp = (raft_vote_resp){ .error = 0, .leader_id = -1, .leader_epoch = 7, .vote_granted = true };
    roundtrip_all("Vote response granted", &m, 0, 0);
    m.u.vote_resp = (raft_vote_resp){ .error = RAFT_ERR_FENCED_LEADER_EPOCH, .leader_id = 2,
                                      .leader_epoch = 8, .vote_granted = false };
    roundtrip_all("Vote response fenced", &m, 0, 0);

    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_BEGIN_EPOCH_RESP;
    m.u.epoch_resp = (raft_epoch_resp){ .error = 0, .leader_id = 1, .leader_epoch = 3 };
    roundtrip_all("BeginQuorumEpoch response", &m, 0, 0);
    m.type = RAFT_MSG_END_EPOCH_RESP;
    m.u.epoch_resp = (raft_epoch_resp){ .error = RAFT_ERR_NOT_LEADER_OR_FOLLOWER, .leader_id = -1,
                                        .leader_epoch = 3 };
    roundtrip_all("EndQuorumEpoch response", &m, 0, 0);

    /* Fetch: no entries, one, several with a control batch first; a
     * divergence; a snapshot id; an error. */
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_FETCH_RESP;
    raft_fetch_resp *f = &m.u.fetch_resp;
    *f = (raft_fetch_resp){ .error = 0, .leader_id = 1, .leader_epoch = 3, .high_watermark = 10,
                            .log_start_offset = 0, .diverging_epoch = -1, .diverging_end_offset = -1,
                            .snapshot_id = { -1, -1 } };
    roundtrip_all("Fetch response, empty", &m, 0, 12);

    int32_t c1[] = { 1 };
    bool k1[] = { true };
    raft_entry *e1 = make_entries(1, c1, k1, 0);
    f->entries = e1;
    f->nentries = 1;
    f->high_watermark = 0;
    roundtrip_all("Fetch response, one control batch", &m, 0, 12);

    int32_t c5[] = { 1, 3, 1, 250, 2 };
    bool k5[] = { true, false, false, false, true };
    raft_entry *e5 = make_entries(5, c5, k5, 1000);
    f->entries = e5;
    f->nentries = 5;
    f->high_watermark = 1003;
    f->log_start_offset = 1000;
    roundtrip_all("Fetch response, five batches", &m, 0, 12);

    /* The encoder wrote the entries' offsets and epochs; the caller's
     * payloads are untouched (still the garbage make_batch put there). */
    CHECK_EQ_I64(batch_base_offset(e5[2].payload.ptr), 0x5a5a5a5a5a5aLL);

    f->entries = NULL;
    f->nentries = 0;
    f->diverging_epoch = 2;
    f->diverging_end_offset = 40;
    roundtrip_all("Fetch response, diverging", &m, 0, 12);
    f->diverging_epoch = -1;
    f->diverging_end_offset = -1;
    f->snapshot_id = (raft_snapshot_id){ 900, 2 };
    f->high_watermark = 950;
    f->log_start_offset = 900;
    roundtrip_all("Fetch response, snapshot id", &m, 0, 12);
    *f = (raft_fetch_resp){ .error = RAFT_ERR_FENCED_LEADER_EPOCH, .leader_id = 2, .leader_epoch = 9,
                            .high_watermark = -1, .log_start_offset = -1, .diverging_epoch = -1,
                            .diverging_end_offset = -1, .snapshot_id = { -1, -1 } };
    roundtrip_all("Fetch response, fenced", &m, 0, 12);
    *f = (raft_fetch_resp){ .error = 0, .leader_id = -1, .leader_epoch = -1, .high_watermark = -1,
                            .log_start_offset = -1, .diverging_epoch = -1, .diverging_end_offset = -1,
                            .snapshot_id = { -1, -1 } };
    roundtrip_all("Fetch response, every tagged field at its default", &m, 0, 12);

    /* Entries the wire cannot carry as they are: refused. */
    raft_entry bad = e5[1];
    *f = (raft_fetch_resp){ .leader_id = 1, .leader_epoch = 3, .diverging_epoch = -1,
                            .diverging_end_offset = -1, .snapshot_id = { -1, -1 } };
    f->entries = &bad;
    f->nentries = 1;
    bad.count = 2; /* the batch holds 3 */
    roundtrip("Fetch response, count disagrees", &m, 0, 17, REFUSED);
    bad = e5[1];
    bad.control = true;
    roundtrip("Fetch response, control flag disagrees", &m, 0, 17, REFUSED);
    bad = e5[1];
    bad.payload.len -= 1;
    roundtrip("Fetch response, payload shorter than its batch", &m, 0, 17, REFUSED);
    bad = e5[1];
    bad.payload = (raft_bytes){ NULL, 0 };
    roundtrip("Fetch response, empty payload", &m, 0, 17, REFUSED);

    free_entries(e1, 1);
    free_entries(e5, 5);

    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_FETCH_SNAPSHOT_RESP;
    static const uint8_t chunk[] = "the snapshot's bytes, unaligned: not batches at all";
    m.u.snap_resp = (raft_fetch_snapshot_resp){ .error = 0, .leader_id = 1, .leader_epoch = 5,
                                                .snapshot_id = { 900, 2 }, .size = 100000,
                                                .position = 4096, .chunk_len = (int32_t)sizeof chunk,
                                                .chunk = { chunk, (int32_t)sizeof chunk } };
    roundtrip_all("FetchSnapshot response", &m, 0, 0);
    m.u.snap_resp = (raft_fetch_snapshot_resp){ .error = RAFT_ERR_SNAPSHOT_NOT_FOUND, .leader_id = 1,
                                                .leader_epoch = 5, .snapshot_id = { 900, 2 },
                                                .size = 0, .position = 0, .chunk_len = 0,
                                                .chunk = { NULL, 0 } };
    roundtrip_all("FetchSnapshot response, not found", &m, 0, 0);
    /* CurrentLeader is a tagged field whose default (Kafka's JSON has none)
     * is 0/0: no leader (-1) and node 0 in epoch 0 both come back. */
    m.u.snap_resp.leader_id = -1;
    m.u.snap_resp.leader_epoch = -1;
    roundtrip_all("FetchSnapshot response, no leader", &m, 0, 0);
    m.u.snap_resp.leader_id = 0;
    m.u.snap_resp.leader_epoch = 0;
    roundtrip_all("FetchSnapshot response, node 0 in epoch 0", &m, 0, 0);
}

/* ----------------------------------------------------------- error answers */

static void test_errors(void)
{
    static const int16_t keys[] = { KP_API_VOTE, KP_API_BEGIN_QUORUM_EPOCH, KP_API_END_QUORUM_EPOCH,
                                    KP_API_FETCH, KP_API_FETCH_SNAPSHOT };
    static const int types[] = { RAFT_MSG_VOTE_RESP, RAFT_MSG_BEGIN_EPOCH_RESP, RAFT_MSG_END_EPOCH_RESP,
                                 RAFT_MSG_FETCH_RESP, RAFT_MSG_FETCH_SNAPSHOT_RESP };
    const int16_t INCONSISTENT_CLUSTER_ID = 104;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const kp_api_info *api = kp_api_find(keys[i]);
        for (int16_t v = api->codec_min_version; v <= api->codec_max_version; v++) {
            kp_writer w;
            kp_writer_init(&w);
            raftwire_encode_error(keys[i], v, INCONSISTENT_CLUSTER_ID, &w);
            CHECK(w.len > 0);
            arena a;
            arena_init(&a, ARENA_MAX);
            uint8_t *frame = copy_of(w.buf, w.len);
            /* Well formed at every version: the generated codec reads all of it,
             * with the error at the top and in the one partition. */
            void *body = arena_alloc(&a, api->resp_size);
            api->resp_init(body);
            kp_reader r;
            kp_reader_init(&r, frame, w.len, &a);
            CHECK_EQ_I64(api->resp_decode(&r, v, body), 0);
            CHECK_EQ_I64(kp_reader_left(&r), 0);
            int16_t top = -1, part = -1;
            switch (keys[i]) {
            case KP_API_VOTE: {
                kp_vote_resp *b = body;
                top = b->error_code;
                part = b->topics_n == 1 && b->topics[0].partitions_n == 1
                           ? b->topics[0].partitions[0].error_code
                           : -1;
                break;
            }
            case KP_API_BEGIN_QUORUM_EPOCH: {
                kp_begin_quorum_epoch_resp *b = body;
                top = b->error_code;
                part = b->topics_n == 1 && b->topics[0].partitions_n == 1
                           ? b->topics[0].partitions[0].error_code
                           : -1;
                break;
            }
            case KP_API_END_QUORUM_EPOCH: {
                kp_end_quorum_epoch_resp *b = body;
                top = b->error_code;
                part = b->topics_n == 1 && b->topics[0].partitions_n == 1
                           ? b->topics[0].partitions[0].error_code
                           : -1;
                break;
            }
            case KP_API_FETCH: {
                kp_fetch_resp *b = body;
                /* Fetch has no top-level error before v7: the partition's says it. */
                top = v >= 7 ? b->error_code : INCONSISTENT_CLUSTER_ID;
                part = b->responses_n == 1 && b->responses[0].partitions_n == 1
                           ? b->responses[0].partitions[0].error_code
                           : -1;
                break;
            }
            case KP_API_FETCH_SNAPSHOT: {
                kp_fetch_snapshot_resp *b = body;
                top = b->error_code;
                /* no leader, not node 0 (the tag's default) */
                CHECK(b->topics_n == 1 && b->topics[0].partitions[0].current_leader.leader_id == -1);
                part = b->topics_n == 1 && b->topics[0].partitions_n == 1
                           ? b->topics[0].partitions[0].error_code
                           : -1;
                break;
            }
            }
            CHECK_EQ_I64(top, INCONSISTENT_CLUSTER_ID);
            CHECK_EQ_I64(part, INCONSISTENT_CLUSTER_ID);
            /* And through raftwire where Raft reads that version. */
            if (v >= (keys[i] == KP_API_FETCH ? 12 : 0) && v <= raftwire_max_version(keys[i])) {
                raft_msg out;
                char err[200] = "";
                kp_reader_init(&r, frame, w.len, &a);
                CHECK_EQ_I64(raftwire_decode_response(keys[i], v, &r, &out, err, sizeof err), 0);
                CHECK_EQ_I64(out.type, types[i]);
                int16_t got = -1;
                int32_t leader = 0;
                switch (types[i]) {
                case RAFT_MSG_VOTE_RESP:
                    got = out.u.vote_resp.error;
                    leader = out.u.vote_resp.leader_id;
                    CHECK(!out.u.vote_resp.vote_granted);
                    break;
                case RAFT_MSG_BEGIN_EPOCH_RESP:
                case RAFT_MSG_END_EPOCH_RESP:
                    got = out.u.epoch_resp.error;
                    leader = out.u.epoch_resp.leader_id;
                    break;
                case RAFT_MSG_FETCH_RESP:
                    got = out.u.fetch_resp.error;
                    leader = out.u.fetch_resp.leader_id;
                    CHECK_EQ_I64(out.u.fetch_resp.nentries, 0);
                    CHECK_EQ_I64(out.u.fetch_resp.diverging_epoch, -1);
                    CHECK_EQ_I64(out.u.fetch_resp.snapshot_id.end_offset, -1);
                    break;
                case RAFT_MSG_FETCH_SNAPSHOT_RESP:
                    got = out.u.snap_resp.error;
                    leader = out.u.snap_resp.leader_id;
                    CHECK_EQ_I64(out.u.snap_resp.chunk.len, 0);
                    break;
                }
                CHECK_EQ_I64(got, INCONSISTENT_CLUSTER_ID);
                CHECK_EQ_I64(leader, -1);
            }
            free(frame);
            arena_deinit(&a);
            kp_writer_deinit(&w);
        }
    }
    /* Kafka's own shape of an error answer (RaftUtil.errorResponse): the top
     * level error and no topic at all. */
    kp_vote_resp vr;
    kp_vote_resp_init(&vr);
    vr.error_code = INCONSISTENT_CLUSTER_ID;
    kp_writer w;
    kp_writer_init(&w);
    kp_vote_resp_encode(&w, 1, &vr);
    arena a;
    arena_init(&a, ARENA_MAX);
    kp_reader r;
    kp_reader_init(&r, w.buf, w.len, &a);
    raft_msg out;
    char err[200];
    CHECK_EQ_I64(raftwire_decode_response(KP_API_VOTE, 1, &r, &out, err, sizeof err), 0);
    CHECK_EQ_I64(out.type, RAFT_MSG_VOTE_RESP);
    CHECK_EQ_I64(out.u.vote_resp.error, INCONSISTENT_CLUSTER_ID);
    arena_deinit(&a);
    kp_writer_deinit(&w);
}

/* ------------------------------------------------- frames from Kafka 4.4.0 */

/* The frames of tests/unit/test_kraft_codec.c (capture_kraft.py, 3 Kafka
 * 4.4.0 controllers, versions capped at Vote 1 / Fetch 17), whole frames
 * without the size prefix. */
static const char vote_req_hex[] =
    "003400010000001d000d726166742d636c69656e742d310017534e535063363936536161"
    "6a6c6876683356646171410000000202135f5f636c75737465725f6d6574616461746102"
    "0000000000000001000000018a9fe814b457ddb87e90173a3b703fd90000000000000000"
    "0000000000000000000000000000000000000000000000";
static const char vote_resp_hex[] =
    "0000001d00000002135f5f636c75737465725f6d6574616461746102000000000000ffff"
    "ffff0000000101000000";
static const char bqe_req_hex[] =
    "0035000100000020000d726166742d636c69656e742d310017534e535063363936536161"
    "6a6c6876683356646171410000000202135f5f636c75737465725f6d6574616461746102"
    "000000000000000000000000000000000000000000000001000000010000020b434f4e54"
    "524f4c4c45520a3132372e302e302e3195f50000";
static const char bqe_resp_hex[] =
    "0000002000000002135f5f636c75737465725f6d65746164617461020000000000000000"
    "000100000001000001001202000000010a3132372e302e302e3195f500";
static const char fetch_req_hex[] =
    "0001001100000004000d726166742d636c69656e742d3100000001f40000000000100000"
    "0000000000ffffffff020000000000000000000000000000000102000000000000000000"
    "0000000000000000000000ffffffffffffffff000000000100108a9fe814b457ddb87e90"
    "173a3b703fd900010102001717534e5350633639365361616a6c68766833566461714101"
    "0d00000001ffffffffffffffff00";
static const char fetch_resp_hex[] =
    "0000002b0000000000000000000000020000000000000000000000000000000102000000"
    "000000ffffffffffffffffffffffffffffffff000000000000000001ffffffff6b000000"
    "00000000000000005e00000001024d240d84002000000000000001a24ca05e4e000001a2"
    "4ca05e4effffffffffffffffffffffffffff000000015800000008000000024400000000"
    "000104000000010000000002000000000300030000000200000000010000000101090000"
    "000100000001000001001502000000010a3132372e302e302e31000095f50000";

#define KAFKA_CLUSTER "SNSPc696Saajlhvh3VdaqA"

/* Captured from Kafka 4.4.0 without capping versions (test_kraft_codec.c's
 * second capture): the leader (node 3, epoch 1) stopped, node 2 pre-votes in
 * epoch 1 and votes in epoch 2; node 1's late pre-vote; node 2 resigns. */
/* Vote v2 request, PreVote=true (node1 proxy; the leader, node 3, stopped) */
static const char prevote_req_hex[] =
    "003400020000004d000d726166742d636c69656e742d3200177a434d7375386e4f537175"
    "5a554b61714e59716168670000000102135f5f636c75737465725f6d6574616461746102"
    "000000000000000100000002bfef6c6c76e7dac9ca8c8a7dd110f8bc0000000000000000"
    "000000000000000000000001000000000000003501000000";

/* Vote v2 response to it (node1 proxy) */
static const char prevote_resp_hex[] =
    "0000004d00000002135f5f636c75737465725f6d65746164617461020000000000000000"
    "00030000000101000001001202000000030a3132372e302e302e31838900";

/* Vote v2 request, PreVote=false (node1 proxy) */
static const char vote2_req_hex[] =
    "003400020000004f000d726166742d636c69656e742d3200177a434d7375386e4f537175"
    "5a554b61714e59716168670000000102135f5f636c75737465725f6d6574616461746102"
    "000000000000000200000002bfef6c6c76e7dac9ca8c8a7dd110f8bc0000000000000000"
    "000000000000000000000001000000000000003500000000";

/* Vote v2 response to it (node1 proxy) */
static const char vote2_resp_hex[] =
    "0000004f00000002135f5f636c75737465725f6d6574616461746102000000000000ffff"
    "ffff0000000201000000";

/* Vote v2 request, PreVote=true, from node 1 (node2 proxy) */
static const char prevote_late_req_hex[] =
    "0034000200000098000d726166742d636c69656e742d3100177a434d7375386e4f537175"
    "5a554b61714e59716168670000000202135f5f636c75737465725f6d6574616461746102"
    "00000000000000010000000107a73543775f9847a2bd6349a4303cb70000000000000000"
    "000000000000000000000001000000000000003501000000";

/* Vote v2 response to it: node 2 already leads epoch 2 (node2 proxy) */
static const char prevote_late_resp_hex[] =
    "0000009800000002135f5f636c75737465725f6d657461646174610200000000004a0000"
    "00020000000200000001001202000000020a3132372e302e302e31a31b00";

/* EndQuorumEpoch v1 request (node3 proxy; SIGTERM to the leader, node 2) */
static const char eqe_req_hex[] =
    "0036000100000058000d726166742d636c69656e742d3200177a434d7375386e4f537175"
    "5a554b61714e597161686702135f5f636c75737465725f6d657461646174610200000000"
    "000000020000000203000000010000000000000000000000000000000000000000030000"
    "00000000000000000000000000000000000100";

/* EndQuorumEpoch v1 response (node3 proxy) */
static const char eqe_resp_hex[] =
    "0000005800000002135f5f636c75737465725f6d65746164617461020000000000000000"
    "000200000002000001001202000000020a3132372e302e302e31a31b00";

#define KAFKA44_CLUSTER "zCMsu8nOSquZUKaqNYqahg"

static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *len = n;
    return out;
}

/* Skip a request header (v1, or v2 for flexible versions); the reader then
 * holds the body. */
static void skip_req_header(kp_reader *r, int16_t key, int16_t ver)
{
    CHECK_EQ_I64(kp_read_int16(r), key);
    CHECK_EQ_I64(kp_read_int16(r), ver);
    kp_read_int32(r);
    kp_read_string(r, false);
    if (kp_out_req_header_version(key, ver) >= 2)
        kp_skip_tagged(r);
    CHECK_EQ_I64(r->err, KP_OK);
}

static void skip_resp_header(kp_reader *r, int16_t key, int16_t ver)
{
    int32_t corr;
    CHECK_EQ_I64(kp_resp_header_decode(r, kp_out_resp_header_version(key, ver), &corr), 0);
}

static void test_captured(void)
{
    arena a;
    arena_init(&a, ARENA_MAX);
    raft_msg m;
    int32_t from = -99;
    char cid[64];
    char err[200] = "";
    size_t len;
    kp_reader r;

    /* Vote v1 from candidate 1 in epoch 1, empty log. */
    uint8_t *f1 = unhex(vote_req_hex, &len);
    kp_reader_init(&r, f1, len, &a);
    skip_req_header(&r, KP_API_VOTE, 1);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_VOTE, 1, &r, &m, &from, cid, sizeof cid, err, sizeof err), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_VOTE_REQ);
    CHECK_EQ_I64(from, 1);
    CHECK_EQ_I64(m.u.vote_req.candidate_id, 1);
    CHECK_EQ_I64(m.u.vote_req.candidate_epoch, 1);
    CHECK_EQ_I64(m.u.vote_req.last_offset_epoch, 0);
    CHECK_EQ_I64(m.u.vote_req.last_offset, 0);
    CHECK(!m.u.vote_req.pre_vote);
    CHECK(strcmp(cid, KAFKA_CLUSTER) == 0);
    /* A cluster id the buffer cannot hold whole is refused: cut short, it
     * could equal ours. */
    char small[22];
    kp_reader_init(&r, f1, len, &a);
    skip_req_header(&r, KP_API_VOTE, 1);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_VOTE, 1, &r, &m, &from, small, sizeof small, err, sizeof err),
                 -1);
    CHECK(strstr(err, "a cluster id of 22 bytes, longer than 21") != NULL);
    char exact[23];
    kp_reader_init(&r, f1, len, &a);
    skip_req_header(&r, KP_API_VOTE, 1);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_VOTE, 1, &r, &m, &from, exact, sizeof exact, err, sizeof err),
                 0);
    CHECK(strcmp(exact, KAFKA_CLUSTER) == 0);

    /* Vote v1 answer: granted, no leader yet, epoch 1. raftwire writes the
     * same bytes for the same message (Kafka sends no endpoints without a
     * leader). */
    uint8_t *f2 = unhex(vote_resp_hex, &len);
    kp_reader_init(&r, f2, len, &a);
    skip_resp_header(&r, KP_API_VOTE, 1);
    size_t body_at = len - kp_reader_left(&r);
    CHECK_EQ_I64(raftwire_decode_response(KP_API_VOTE, 1, &r, &m, err, sizeof err), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_VOTE_RESP);
    CHECK_EQ_I64(m.u.vote_resp.error, 0);
    CHECK_EQ_I64(m.u.vote_resp.leader_id, -1);
    CHECK_EQ_I64(m.u.vote_resp.leader_epoch, 1);
    CHECK(m.u.vote_resp.vote_granted);
    kp_writer w;
    kp_writer_init(&w);
    CHECK_EQ_I64(raftwire_encode_response(&m, KP_API_VOTE, 1, &w), 0);
    CHECK(w.len == len - body_at && memcmp(w.buf, f2 + body_at, w.len) == 0);
    kp_writer_deinit(&w);

    /* BeginQuorumEpoch v1: leader 1, epoch 1. */
    uint8_t *f3 = unhex(bqe_req_hex, &len);
    kp_reader_init(&r, f3, len, &a);
    skip_req_header(&r, KP_API_BEGIN_QUORUM_EPOCH, 1);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_BEGIN_QUORUM_EPOCH, 1, &r, &m, &from, cid, sizeof cid, err,
                                         sizeof err),
                 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_BEGIN_EPOCH_REQ);
    CHECK_EQ_I64(from, 1);
    CHECK_EQ_I64(m.u.begin_req.leader_id, 1);
    CHECK_EQ_I64(m.u.begin_req.leader_epoch, 1);
    CHECK(strcmp(cid, KAFKA_CLUSTER) == 0);

    uint8_t *f4 = unhex(bqe_resp_hex, &len);
    kp_reader_init(&r, f4, len, &a);
    skip_resp_header(&r, KP_API_BEGIN_QUORUM_EPOCH, 1);
    CHECK_EQ_I64(raftwire_decode_response(KP_API_BEGIN_QUORUM_EPOCH, 1, &r, &m, err, sizeof err), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_BEGIN_EPOCH_RESP);
    CHECK_EQ_I64(m.u.epoch_resp.error, 0);
    CHECK_EQ_I64(m.u.epoch_resp.leader_id, 1);
    CHECK_EQ_I64(m.u.epoch_resp.leader_epoch, 1);

    /* Fetch v17: follower 1 fetches from offset 0 in epoch 0. */
    uint8_t *f5 = unhex(fetch_req_hex, &len);
    kp_reader_init(&r, f5, len, &a);
    skip_req_header(&r, KP_API_FETCH, 17);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_FETCH, 17, &r, &m, &from, cid, sizeof cid, err, sizeof err), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_FETCH_REQ);
    CHECK_EQ_I64(from, 1);
    CHECK_EQ_I64(m.u.fetch_req.replica_id, 1);
    CHECK_EQ_I64(m.u.fetch_req.current_leader_epoch, 0);
    CHECK_EQ_I64(m.u.fetch_req.fetch_offset, 0);
    CHECK_EQ_I64(m.u.fetch_req.last_fetched_epoch, 0);
    CHECK(strcmp(cid, KAFKA_CLUSTER) == 0);
    /* raftwire's Fetch asks what Kafka's asks: the generated codec reads
     * both, and the fields raftwire sets agree (Kafka adds its directory id). */
    kp_fetch_req kq, oq;
    kp_fetch_req_init(&kq);
    kp_reader_init(&r, f5, len, &a);
    skip_req_header(&r, KP_API_FETCH, 17);
    CHECK_EQ_I64(kp_fetch_req_decode(&r, 17, &kq), 0);
    kp_writer_init(&w);
    CHECK_EQ_I64(raftwire_encode_request(&m, 1, KAFKA_CLUSTER, 17, &w), 0);
    kp_fetch_req_init(&oq);
    kp_reader_init(&r, w.buf, w.len, &a);
    CHECK_EQ_I64(kp_fetch_req_decode(&r, 17, &oq), 0);
    CHECK_EQ_I64(oq.max_wait_ms, kq.max_wait_ms);
    CHECK_EQ_I64(oq.min_bytes, kq.min_bytes);
    CHECK_EQ_I64(oq.max_bytes, kq.max_bytes);
    CHECK_EQ_I64(oq.isolation_level, kq.isolation_level);
    CHECK_EQ_I64(oq.session_id, kq.session_id);
    CHECK_EQ_I64(oq.session_epoch, kq.session_epoch);
    CHECK_EQ_I64(oq.replica_state.replica_epoch, kq.replica_state.replica_epoch);
    CHECK_EQ_I64(oq.topics[0].partitions[0].log_start_offset, kq.topics[0].partitions[0].log_start_offset);
    CHECK_EQ_I64(oq.topics[0].partitions[0].partition_max_bytes,
                 kq.topics[0].partitions[0].partition_max_bytes);
    CHECK_EQ_I64(oq.forgotten_topics_data_n, kq.forgotten_topics_data_n);
    CHECK(oq.rack_id.len == kq.rack_id.len);
    kp_writer_deinit(&w);

    /* Fetch v17 answer: leader 1 in epoch 1, no HW yet, the LeaderChange
     * control batch at offset 0. */
    uint8_t *f6 = unhex(fetch_resp_hex, &len);
    kp_reader_init(&r, f6, len, &a);
    skip_resp_header(&r, KP_API_FETCH, 17);
    CHECK_EQ_I64(raftwire_decode_response(KP_API_FETCH, 17, &r, &m, err, sizeof err), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_FETCH_RESP);
    const raft_fetch_resp *fr = &m.u.fetch_resp;
    CHECK_EQ_I64(fr->error, 0);
    CHECK_EQ_I64(fr->leader_id, 1);
    CHECK_EQ_I64(fr->leader_epoch, 1);
    CHECK_EQ_I64(fr->high_watermark, -1);
    CHECK_EQ_I64(fr->log_start_offset, 0);
    CHECK_EQ_I64(fr->diverging_epoch, -1);
    CHECK_EQ_I64(fr->snapshot_id.end_offset, -1);
    CHECK_EQ_I64(fr->nentries, 1);
    if (fr->nentries == 1) {
        CHECK_EQ_I64(fr->entries[0].offset, 0);
        CHECK_EQ_I64(fr->entries[0].epoch, 1);
        CHECK_EQ_I64(fr->entries[0].count, 1);
        CHECK(fr->entries[0].control);
        CHECK_EQ_I64(batch_control_type(fr->entries[0].payload.ptr, (size_t)fr->entries[0].payload.len), 2);
        /* Our answer with Kafka's entry carries Kafka's batch unchanged. */
        raft_msg back = m;
        kp_writer_init(&w);
        CHECK_EQ_I64(raftwire_encode_response(&back, KP_API_FETCH, 17, &w), 0);
        raft_msg again;
        kp_reader_init(&r, w.buf, w.len, &a);
        CHECK_EQ_I64(raftwire_decode_response(KP_API_FETCH, 17, &r, &again, err, sizeof err), 0);
        CHECK(msg_eq(&m, &again));
        CHECK(again.u.fetch_resp.entries[0].payload.len == fr->entries[0].payload.len &&
              memcmp(again.u.fetch_resp.entries[0].payload.ptr, fr->entries[0].payload.ptr,
                     (size_t)fr->entries[0].payload.len) == 0);
        kp_writer_deinit(&w);
    }
    free(f1);
    free(f2);
    free(f3);
    free(f4);
    free(f5);
    free(f6);
    arena_deinit(&a);
}

/* Kafka 4.4.0's pre-votes, votes and resignation through raftwire. */
static void test_captured_44(void)
{
    arena a;
    arena_init(&a, ARENA_MAX);
    raft_msg m;
    int32_t from = -99;
    char cid[64];
    char err[200] = "";
    size_t len;
    kp_reader r;

    /* The pre-vote goes in node 2's current epoch, 1: for the core it
     * proposes epoch 2, as the real vote that follows. */
    uint8_t *f1 = unhex(prevote_req_hex, &len);
    kp_reader_init(&r, f1, len, &a);
    skip_req_header(&r, KP_API_VOTE, 2);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_VOTE, 2, &r, &m, &from, cid, sizeof cid, err, sizeof err), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_VOTE_REQ);
    CHECK(m.u.vote_req.pre_vote);
    CHECK_EQ_I64(from, 2);
    CHECK_EQ_I64(m.u.vote_req.candidate_id, 2);
    CHECK_EQ_I64(m.u.vote_req.candidate_epoch, 2);
    CHECK_EQ_I64(m.u.vote_req.last_offset_epoch, 1);
    CHECK_EQ_I64(m.u.vote_req.last_offset, 53);
    CHECK(strcmp(cid, KAFKA44_CLUSTER) == 0);
    raft_msg pre = m;

    uint8_t *f2 = unhex(vote2_req_hex, &len);
    kp_reader_init(&r, f2, len, &a);
    skip_req_header(&r, KP_API_VOTE, 2);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_VOTE, 2, &r, &m, &from, cid, sizeof cid, err, sizeof err), 0);
    CHECK(!m.u.vote_req.pre_vote);
    CHECK_EQ_I64(from, 2);
    CHECK_EQ_I64(m.u.vote_req.candidate_epoch, 2);
    CHECK_EQ_I64(m.u.vote_req.last_offset_epoch, 1);
    CHECK_EQ_I64(m.u.vote_req.last_offset, 53);
    /* the same proposal but for the flag */
    pre.u.vote_req.pre_vote = false;
    CHECK(msg_eq(&pre, &m));

    /* The answers: the pre-vote granted by a voter that still names leader
     * 3 of epoch 1; the vote granted in epoch 2. */
    uint8_t *f3 = unhex(prevote_resp_hex, &len);
    kp_reader_init(&r, f3, len, &a);
    skip_resp_header(&r, KP_API_VOTE, 2);
    CHECK_EQ_I64(raftwire_decode_response(KP_API_VOTE, 2, &r, &m, err, sizeof err), 0);
    CHECK_EQ_I64(m.u.vote_resp.error, 0);
    CHECK_EQ_I64(m.u.vote_resp.leader_id, 3);
    CHECK_EQ_I64(m.u.vote_resp.leader_epoch, 1);
    CHECK(m.u.vote_resp.vote_granted);
    uint8_t *f4 = unhex(vote2_resp_hex, &len);
    kp_reader_init(&r, f4, len, &a);
    skip_resp_header(&r, KP_API_VOTE, 2);
    CHECK_EQ_I64(raftwire_decode_response(KP_API_VOTE, 2, &r, &m, err, sizeof err), 0);
    CHECK_EQ_I64(m.u.vote_resp.leader_id, -1);
    CHECK_EQ_I64(m.u.vote_resp.leader_epoch, 2);
    CHECK(m.u.vote_resp.vote_granted);

    /* Node 1's pre-vote in epoch 1 reaches the leader of epoch 2: refused
     * with FENCED_LEADER_EPOCH and who leads. */
    uint8_t *f5 = unhex(prevote_late_req_hex, &len);
    kp_reader_init(&r, f5, len, &a);
    skip_req_header(&r, KP_API_VOTE, 2);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_VOTE, 2, &r, &m, &from, cid, sizeof cid, err, sizeof err), 0);
    CHECK(m.u.vote_req.pre_vote);
    CHECK_EQ_I64(from, 1);
    CHECK_EQ_I64(m.u.vote_req.candidate_epoch, 2);
    uint8_t *f6 = unhex(prevote_late_resp_hex, &len);
    kp_reader_init(&r, f6, len, &a);
    skip_resp_header(&r, KP_API_VOTE, 2);
    CHECK_EQ_I64(raftwire_decode_response(KP_API_VOTE, 2, &r, &m, err, sizeof err), 0);
    CHECK_EQ_I64(m.u.vote_resp.error, RAFT_ERR_FENCED_LEADER_EPOCH);
    CHECK_EQ_I64(m.u.vote_resp.leader_id, 2);
    CHECK_EQ_I64(m.u.vote_resp.leader_epoch, 2);
    CHECK(!m.u.vote_resp.vote_granted);

    /* EndQuorumEpoch v1: leader 2 of epoch 2 resigns, preferring 1 then 3. */
    uint8_t *f7 = unhex(eqe_req_hex, &len);
    kp_reader_init(&r, f7, len, &a);
    skip_req_header(&r, KP_API_END_QUORUM_EPOCH, 1);
    CHECK_EQ_I64(raftwire_decode_request(KP_API_END_QUORUM_EPOCH, 1, &r, &m, &from, cid, sizeof cid, err,
                                         sizeof err),
                 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_END_EPOCH_REQ);
    CHECK_EQ_I64(from, 2);
    CHECK_EQ_I64(m.u.end_req.leader_id, 2);
    CHECK_EQ_I64(m.u.end_req.leader_epoch, 2);
    CHECK_EQ_I64(m.u.end_req.npreferred, 2);
    CHECK_EQ_I64(m.u.end_req.preferred[0], 1);
    CHECK_EQ_I64(m.u.end_req.preferred[1], 3);
    CHECK(strcmp(cid, KAFKA44_CLUSTER) == 0);
    uint8_t *f8 = unhex(eqe_resp_hex, &len);
    kp_reader_init(&r, f8, len, &a);
    skip_resp_header(&r, KP_API_END_QUORUM_EPOCH, 1);
    CHECK_EQ_I64(raftwire_decode_response(KP_API_END_QUORUM_EPOCH, 1, &r, &m, err, sizeof err), 0);
    CHECK_EQ_I64(m.type, RAFT_MSG_END_EPOCH_RESP);
    CHECK_EQ_I64(m.u.epoch_resp.error, 0);
    CHECK_EQ_I64(m.u.epoch_resp.leader_id, 2);
    CHECK_EQ_I64(m.u.epoch_resp.leader_epoch, 2);

    uint8_t *frames[] = { f1, f2, f3, f4, f5, f6, f7, f8 };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++)
        free(frames[i]);
    arena_deinit(&a);
}

/*
 * Kafka's frame with what raftwire cannot know or does not send put back to
 * what raftwire writes (directory ids zero, VoterId -1, no endpoints), re-
 * encoded by the generated codec, against raftwire's encoding of the message
 * raftwire decoded from the same frame: the same bytes. So raftwire writes
 * every other field exactly as Kafka 4.4.0 does.
 */
static void same_as_kafka(const char *what, const char *hex, bool request, int16_t key, int16_t ver,
                          void (*strip)(void *))
{
    arena a;
    arena_init(&a, ARENA_MAX);
    size_t len;
    uint8_t *frame = unhex(hex, &len);
    const kp_api_info *api = kp_api_find(key);
    kp_reader r;
    kp_reader_init(&r, frame, len, &a);
    if (request)
        skip_req_header(&r, key, ver);
    else
        skip_resp_header(&r, key, ver);
    const uint8_t *body = r.pos;
    size_t body_len = kp_reader_left(&r);
    void *k = arena_alloc(&a, request ? api->req_size : api->resp_size);
    (request ? api->req_init : api->resp_init)(k);
    CHECK_EQ_I64((request ? api->req_decode : api->resp_decode)(&r, ver, k), 0);
    strip(k);
    kp_writer kw, ow;
    kp_writer_init(&kw);
    kp_writer_init(&ow);
    (request ? api->req_encode : api->resp_encode)(&kw, ver, k);
    raft_msg m;
    int32_t from;
    char cid[64], err[200] = "";
    kp_reader_init(&r, body, body_len, &a);
    int rc = request ? raftwire_decode_request(key, ver, &r, &m, &from, cid, sizeof cid, err, sizeof err)
                     : raftwire_decode_response(key, ver, &r, &m, err, sizeof err);
    CHECK_EQ_I64(rc, 0);
    rc = request ? raftwire_encode_request(&m, from, cid, ver, &ow) : raftwire_encode_response(&m, key, ver, &ow);
    CHECK_EQ_I64(rc, 0);
    bool same = kw.len == ow.len && memcmp(kw.buf, ow.buf, kw.len) == 0;
    if (!same)
        fprintf(stderr, "%s: raftwire wrote %zu bytes, Kafka's frame stripped %zu\n", what, ow.len, kw.len);
    CHECK(same);
    kp_writer_deinit(&kw);
    kp_writer_deinit(&ow);
    free(frame);
    arena_deinit(&a);
}

static void strip_vote_req(void *p)
{
    kp_vote_req *q = p;
    q->voter_id = -1;
    memset(&q->topics[0].partitions[0].replica_directory_id, 0, sizeof(kp_uuid));
    memset(&q->topics[0].partitions[0].voter_directory_id, 0, sizeof(kp_uuid));
}

static void strip_vote_resp(void *p)
{
    ((kp_vote_resp *)p)->node_endpoints_n = 0;
}

static void strip_bqe_req(void *p)
{
    kp_begin_quorum_epoch_req *q = p;
    q->voter_id = -1;
    memset(&q->topics[0].partitions[0].voter_directory_id, 0, sizeof(kp_uuid));
    q->leader_endpoints_n = 0;
}

static void strip_bqe_resp(void *p)
{
    ((kp_begin_quorum_epoch_resp *)p)->node_endpoints_n = 0;
}

static void strip_fetch_req(void *p)
{
    kp_fetch_req *q = p;
    memset(&q->topics[0].partitions[0].replica_directory_id, 0, sizeof(kp_uuid));
}

static void strip_fetch_resp(void *p)
{
    ((kp_fetch_resp *)p)->node_endpoints_n = 0;
}

static void strip_eqe_req(void *p)
{
    kp_end_quorum_epoch_req *q = p;
    kp_end_quorum_epoch_req_partition *part = &q->topics[0].partitions[0];
    for (int i = 0; i < part->preferred_candidates_n; i++)
        memset(&part->preferred_candidates[i].candidate_directory_id, 0, sizeof(kp_uuid));
    q->leader_endpoints_n = 0;
}

static void strip_eqe_resp(void *p)
{
    ((kp_end_quorum_epoch_resp *)p)->node_endpoints_n = 0;
}

static void test_same_as_kafka(void)
{
    same_as_kafka("Vote v1 request", vote_req_hex, true, KP_API_VOTE, 1, strip_vote_req);
    same_as_kafka("Vote v1 response", vote_resp_hex, false, KP_API_VOTE, 1, strip_vote_resp);
    same_as_kafka("BeginQuorumEpoch v1 request", bqe_req_hex, true, KP_API_BEGIN_QUORUM_EPOCH, 1, strip_bqe_req);
    same_as_kafka("BeginQuorumEpoch v1 response", bqe_resp_hex, false, KP_API_BEGIN_QUORUM_EPOCH, 1,
                  strip_bqe_resp);
    same_as_kafka("Fetch v17 request", fetch_req_hex, true, KP_API_FETCH, 17, strip_fetch_req);
    same_as_kafka("Fetch v17 response", fetch_resp_hex, false, KP_API_FETCH, 17, strip_fetch_resp);
    /* Kafka 4.4.0's own versions: the pre-vote's epoch is Kafka's on the wire. */
    same_as_kafka("Vote v2 pre-vote", prevote_req_hex, true, KP_API_VOTE, 2, strip_vote_req);
    same_as_kafka("Vote v2 pre-vote response", prevote_resp_hex, false, KP_API_VOTE, 2, strip_vote_resp);
    same_as_kafka("Vote v2 vote", vote2_req_hex, true, KP_API_VOTE, 2, strip_vote_req);
    same_as_kafka("Vote v2 vote response", vote2_resp_hex, false, KP_API_VOTE, 2, strip_vote_resp);
    same_as_kafka("Vote v2 late pre-vote", prevote_late_req_hex, true, KP_API_VOTE, 2, strip_vote_req);
    same_as_kafka("Vote v2 late pre-vote response", prevote_late_resp_hex, false, KP_API_VOTE, 2, strip_vote_resp);
    same_as_kafka("EndQuorumEpoch v1 request", eqe_req_hex, true, KP_API_END_QUORUM_EPOCH, 1, strip_eqe_req);
    same_as_kafka("EndQuorumEpoch v1 response", eqe_resp_hex, false, KP_API_END_QUORUM_EPOCH, 1, strip_eqe_resp);
}

/* ------------------------------------------------------------- malformed */

/* Decode bytes as a request/response; expect -1 and a reason containing `word`. */
static void expect_refused(const char *what, bool request, int16_t key, int16_t v, const kp_writer *w,
                           const char *word)
{
    arena a;
    arena_init(&a, ARENA_MAX);
    uint8_t *c = copy_of(w->buf, w->len);
    kp_reader r;
    kp_reader_init(&r, c, w->len, &a);
    raft_msg m;
    int32_t from;
    char cid[64];
    char err[200] = "";
    int rc = request ? raftwire_decode_request(key, v, &r, &m, &from, cid, sizeof cid, err, sizeof err)
                     : raftwire_decode_response(key, v, &r, &m, err, sizeof err);
    if (rc != -1 || !strstr(err, word))
        fprintf(stderr, "%s: rc %d, reason \"%s\" (want \"%s\")\n", what, rc, err, word);
    CHECK_EQ_I64(rc, -1);
    CHECK(strstr(err, word) != NULL);
    free(c);
    arena_deinit(&a);
}

static void test_malformed(void)
{
    kp_writer w;

    /* Vote for another topic; two partitions; partition 1; no topic. */
    kp_vote_req_partition vp[2];
    kp_vote_req_partition_init(&vp[0]);
    kp_vote_req_partition_init(&vp[1]);
    vp[1].partition_index = 1;
    kp_vote_req_topic vt;
    kp_vote_req_topic_init(&vt);
    vt.topic_name = KP_STR("other");
    vt.partitions = vp;
    vt.partitions_n = 1;
    kp_vote_req vq;
    kp_vote_req_init(&vq);
    vq.topics = &vt;
    vq.topics_n = 1;
    kp_writer_init(&w);
    kp_vote_req_encode(&w, 1, &vq);
    expect_refused("Vote, another topic", true, KP_API_VOTE, 1, &w, "is not __cluster_metadata");
    kp_writer_deinit(&w);
    vt.topic_name = KP_STR(RAFTWIRE_TOPIC);
    vt.partitions_n = 2;
    kp_writer_init(&w);
    kp_vote_req_encode(&w, 1, &vq);
    expect_refused("Vote, two partitions", true, KP_API_VOTE, 1, &w, "2 partitions");
    kp_writer_deinit(&w);
    vt.partitions = &vp[1];
    vt.partitions_n = 1;
    kp_writer_init(&w);
    kp_vote_req_encode(&w, 2, &vq);
    expect_refused("Vote, partition 1", true, KP_API_VOTE, 2, &w, "partition 1");
    kp_writer_deinit(&w);
    vq.topics_n = 0;
    kp_writer_init(&w);
    kp_vote_req_encode(&w, 0, &vq);
    expect_refused("Vote, no topic", true, KP_API_VOTE, 0, &w, "0 topics");
    kp_writer_deinit(&w);

    /* A cluster id with a NUL byte in it. */
    vq.cluster_id = (kp_str){ "ab\0c", 4 };
    vq.topics_n = 1;
    vt.partitions = vp;
    kp_writer_init(&w);
    kp_vote_req_encode(&w, 1, &vq);
    expect_refused("Vote, NUL in the cluster id", true, KP_API_VOTE, 1, &w, "a cluster id with a NUL byte");
    kp_writer_deinit(&w);
    vq.cluster_id = KP_STR_NULL;

    /* A pre-vote whose epoch cannot be a current one. */
    vt.partitions = vp;
    vq.topics_n = 1;
    vp[0].pre_vote = true;
    vp[0].replica_epoch = -1;
    kp_writer_init(&w);
    kp_vote_req_encode(&w, 2, &vq);
    expect_refused("Vote, pre-vote in epoch -1", true, KP_API_VOTE, 2, &w, "a pre-vote in epoch -1");
    kp_writer_deinit(&w);
    vp[0].replica_epoch = INT32_MAX;
    kp_writer_init(&w);
    kp_vote_req_encode(&w, 2, &vq);
    expect_refused("Vote, pre-vote in the last epoch", true, KP_API_VOTE, 2, &w, "a pre-vote in epoch 2147483647");
    kp_writer_deinit(&w);

    /* Fetch by another topic id; by name below v13 another name; two topics. */
    kp_fetch_req_partition fp;
    kp_fetch_req_partition_init(&fp);
    kp_fetch_req_topic ft[2];
    kp_fetch_req_topic_init(&ft[0]);
    kp_fetch_req_topic_init(&ft[1]);
    ft[0].topic_id.b[15] = 2;
    ft[0].partitions = &fp;
    ft[0].partitions_n = 1;
    ft[1] = ft[0];
    kp_fetch_req fq;
    kp_fetch_req_init(&fq);
    fq.topics = ft;
    fq.topics_n = 1;
    kp_writer_init(&w);
    kp_fetch_req_encode(&w, 17, &fq);
    expect_refused("Fetch, another topic id", true, KP_API_FETCH, 17, &w, "not __cluster_metadata");
    kp_writer_deinit(&w);
    ft[0].topic = KP_STR("__consumer_offsets");
    kp_writer_init(&w);
    kp_fetch_req_encode(&w, 12, &fq);
    expect_refused("Fetch v12, another topic", true, KP_API_FETCH, 12, &w, "not __cluster_metadata");
    kp_writer_deinit(&w);
    ft[0].topic_id = RAFTWIRE_TOPIC_ID;
    ft[1].topic_id = RAFTWIRE_TOPIC_ID;
    fq.topics_n = 2;
    kp_writer_init(&w);
    kp_fetch_req_encode(&w, 16, &fq);
    expect_refused("Fetch, two topics", true, KP_API_FETCH, 16, &w, "2 topics");
    kp_writer_deinit(&w);
    /* Fetch below v12: no LastFetchedEpoch, Raft cannot use it. */
    fq.topics_n = 1;
    ft[0].topic = KP_STR(RAFTWIRE_TOPIC);
    kp_writer_init(&w);
    kp_fetch_req_encode(&w, 11, &fq);
    expect_refused("Fetch v11", true, KP_API_FETCH, 11, &w, "not a Raft request version");
    kp_writer_deinit(&w);

    /* EndQuorumEpoch with more preferred candidates than voters. */
    int32_t ids[RAFT_VOTERS_MAX + 1];
    for (int i = 0; i <= RAFT_VOTERS_MAX; i++)
        ids[i] = i;
    kp_end_quorum_epoch_req_partition ep;
    kp_end_quorum_epoch_req_partition_init(&ep);
    ep.preferred_successors = ids;
    ep.preferred_successors_n = RAFT_VOTERS_MAX + 1;
    kp_end_quorum_epoch_req_topic et;
    kp_end_quorum_epoch_req_topic_init(&et);
    et.topic_name = KP_STR(RAFTWIRE_TOPIC);
    et.partitions = &ep;
    et.partitions_n = 1;
    kp_end_quorum_epoch_req eq;
    kp_end_quorum_epoch_req_init(&eq);
    eq.topics = &et;
    eq.topics_n = 1;
    kp_writer_init(&w);
    kp_end_quorum_epoch_req_encode(&w, 0, &eq);
    expect_refused("EndQuorumEpoch, 17 preferred", true, KP_API_END_QUORUM_EPOCH, 0, &w, "17 preferred");
    kp_writer_deinit(&w);

    /* Truncated: the codec's reason. */
    raft_msg bm;
    memset(&bm, 0, sizeof bm);
    bm.type = RAFT_MSG_BEGIN_EPOCH_REQ;
    bm.u.begin_req = (raft_begin_epoch_req){ .leader_id = 1, .leader_epoch = 2 };
    kp_writer_init(&w);
    CHECK_EQ_I64(raftwire_encode_request(&bm, 1, CLUSTER, 1, &w), 0);
    w.len -= 3;
    expect_refused("BeginQuorumEpoch, truncated", true, KP_API_BEGIN_QUORUM_EPOCH, 1, &w, "truncated");
    kp_writer_deinit(&w);
    /* An error answer at a version the codec lacks writes nothing. */
    kp_writer_init(&w);
    raftwire_encode_error(KP_API_FETCH, 3, 104, &w);
    raftwire_encode_error(KP_API_VOTE, 99, 104, &w);
    raftwire_encode_error(KP_API_PRODUCE, 9, 104, &w);
    CHECK_EQ_I64(w.len, 0);
    kp_writer_deinit(&w);

    /* An api that is not Raft's. */
    kp_writer_init(&w);
    kp_write_int32(&w, 0);
    expect_refused("Produce", true, KP_API_PRODUCE, 9, &w, "not a Raft");
    expect_refused("Produce response", false, KP_API_PRODUCE, 9, &w, "not a Raft");
    kp_writer_deinit(&w);

    /* Fetch responses whose records are not whole batches. */
    raft_bytes b = make_batch(3, false, 1);
    size_t blen = (size_t)b.len;
    uint8_t *recs = malloc(2 * blen + 10);
    memcpy(recs, b.ptr, blen);
    memcpy(recs + blen, b.ptr, blen);
    kp_fetch_resp_partition rp;
    kp_fetch_resp_partition_init(&rp);
    rp.current_leader_present = true;
    rp.current_leader.leader_id = 1;
    rp.current_leader.leader_epoch = 1;
    kp_fetch_resp_topic rt;
    kp_fetch_resp_topic_init(&rt);
    rt.topic_id = RAFTWIRE_TOPIC_ID;
    rt.partitions = &rp;
    rt.partitions_n = 1;
    kp_fetch_resp fres;
    kp_fetch_resp_init(&fres);
    fres.responses = &rt;
    fres.responses_n = 1;
    struct {
        const char *what;
        size_t len;
        int patch; /* 0 none, 1 second batch's length +1, 2 flip a CRC-covered byte,
                      3 length below a header, 4 magic 1, 5 lastOffsetDelta -1 */
        const char *word;
    } cases[] = {
        { "second batch cut short", 2 * blen - 1, 0, "beyond the" },
        { "second batch's length one too many", 2 * blen, 1, "beyond the" },
        { "trailing bytes after the batches", 2 * blen + 10, 0, "less than a batch header" },
        { "a flipped record byte", 2 * blen, 2, ": batch CRC32C mismatch" },
        { "a batch length below a header", 2 * blen, 3, "has length 20, less than a header" },
        { "magic 1", 2 * blen, 4, ": batch magic is not 2" },
        { "lastOffsetDelta -1", 2 * blen, 5, "has lastOffsetDelta -1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(recs, b.ptr, blen);
        memcpy(recs + blen, b.ptr, blen);
        memset(recs + 2 * blen, 0x77, 10);
        uint8_t *second = recs + blen;
        switch (cases[i].patch) {
        case 1: {
            int32_t l = batch_length(second) + 1;
            second[8] = (uint8_t)(l >> 24);
            second[9] = (uint8_t)(l >> 16);
            second[10] = (uint8_t)(l >> 8);
            second[11] = (uint8_t)l;
            break;
        }
        case 2:
            second[blen - 1] ^= 0x40;
            break;
        case 3:
            second[8] = second[9] = second[10] = 0;
            second[11] = 20;
            break;
        case 4:
            second[16] = 1;
            break;
        case 5:
            memset(second + 23, 0xff, 4);
            batch_seal(second, blen);
            break;
        }
        rp.records.ptr = recs;
        rp.records.len = (int32_t)cases[i].len;
        kp_writer_init(&w);
        kp_fetch_resp_encode(&w, 17, &fres);
        char what[120], word[120];
        snprintf(what, sizeof what, "Fetch response, %s", cases[i].what);
        /* The reason names the batch and, for lengths, the exact numbers. */
        if (cases[i].patch == 0 && cases[i].len < 2 * blen)
            snprintf(word, sizeof word, "batch 1 has length %d, beyond the %zu bytes left",
                     batch_length(second), cases[i].len - blen - BATCH_LOG_OVERHEAD);
        else if (cases[i].patch == 1)
            snprintf(word, sizeof word, "batch 1 has length %d, beyond the %zu bytes left",
                     batch_length(second), blen - BATCH_LOG_OVERHEAD);
        else if (cases[i].patch == 0)
            snprintf(word, sizeof word, "10 bytes left after batch 2");
        else
            snprintf(word, sizeof word, "batch 1%s%s", cases[i].word[0] == ':' ? "" : " ", cases[i].word);
        expect_refused(what, false, KP_API_FETCH, 17, &w, word);
        kp_writer_deinit(&w);
    }
    /* The same two batches unpatched decode: the cases above fail for their reason. */
    memcpy(recs + blen, b.ptr, blen);
    rp.records.len = (int32_t)(2 * blen);
    kp_writer_init(&w);
    kp_fetch_resp_encode(&w, 17, &fres);
    {
        arena a;
        arena_init(&a, ARENA_MAX);
        kp_reader r;
        kp_reader_init(&r, w.buf, w.len, &a);
        raft_msg m;
        char err[200] = "";
        CHECK_EQ_I64(raftwire_decode_response(KP_API_FETCH, 17, &r, &m, err, sizeof err), 0);
        CHECK_EQ_I64(m.u.fetch_resp.nentries, 2);
        CHECK_EQ_I64(m.u.fetch_resp.entries[1].count, 3);
        CHECK(!m.u.fetch_resp.entries[1].control);
        arena_deinit(&a);
    }
    kp_writer_deinit(&w);
    /* Another topic in a response. */
    rt.topic_id.b[0] = 9;
    kp_writer_init(&w);
    kp_fetch_resp_encode(&w, 17, &fres);
    expect_refused("Fetch response, another topic", false, KP_API_FETCH, 17, &w, "not __cluster_metadata");
    kp_writer_deinit(&w);
    /* Two partitions in a response. */
    rt.topic_id = RAFTWIRE_TOPIC_ID;
    kp_fetch_resp_partition rp2[2] = { rp, rp };
    rp2[0].records.len = 0;
    rp2[1].records.len = 0;
    rt.partitions = rp2;
    rt.partitions_n = 2;
    kp_writer_init(&w);
    kp_fetch_resp_encode(&w, 13, &fres);
    expect_refused("Fetch response, two partitions", false, KP_API_FETCH, 13, &w, "2 partitions");
    kp_writer_deinit(&w);
    free(recs);
    free((void *)b.ptr);

    /* A FetchSnapshot response with partition 3; a Vote response of another topic. */
    kp_fetch_snapshot_resp_partition sp;
    kp_fetch_snapshot_resp_partition_init(&sp);
    sp.index = 3;
    sp.unaligned_records.ptr = (const uint8_t *)"";
    sp.unaligned_records.len = 0;
    kp_fetch_snapshot_resp_topic st;
    kp_fetch_snapshot_resp_topic_init(&st);
    st.name = KP_STR(RAFTWIRE_TOPIC);
    st.partitions = &sp;
    st.partitions_n = 1;
    kp_fetch_snapshot_resp sres;
    kp_fetch_snapshot_resp_init(&sres);
    sres.topics = &st;
    sres.topics_n = 1;
    kp_writer_init(&w);
    kp_fetch_snapshot_resp_encode(&w, 1, &sres);
    expect_refused("FetchSnapshot response, partition 3", false, KP_API_FETCH_SNAPSHOT, 1, &w, "partition 3");
    kp_writer_deinit(&w);
    kp_vote_resp_partition vrp;
    kp_vote_resp_partition_init(&vrp);
    kp_vote_resp_topic vrt;
    kp_vote_resp_topic_init(&vrt);
    vrt.topic_name = KP_STR("__cluster_metadatb");
    vrt.partitions = &vrp;
    vrt.partitions_n = 1;
    kp_vote_resp vres;
    kp_vote_resp_init(&vres);
    vres.topics = &vrt;
    vres.topics_n = 1;
    kp_writer_init(&w);
    kp_vote_resp_encode(&w, 2, &vres);
    expect_refused("Vote response, another topic", false, KP_API_VOTE, 2, &w, "is not __cluster_metadata");
    kp_writer_deinit(&w);
}

/* Random bytes and random damage of valid frames: -1 or 0, never a crash
 * (ASan and UBSan under make SAN=1). */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void test_garbage(void)
{
    static const int16_t keys[] = { KP_API_VOTE, KP_API_BEGIN_QUORUM_EPOCH, KP_API_END_QUORUM_EPOCH,
                                    KP_API_FETCH, KP_API_FETCH_SNAPSHOT };
    /* Valid frames to damage: a Fetch answer with batches and each api's error. */
    int32_t c3[] = { 1, 4, 2 };
    bool k3[] = { true, false, false };
    raft_entry *e3 = make_entries(3, c3, k3, 10);
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_FETCH_RESP;
    m.u.fetch_resp = (raft_fetch_resp){ .leader_id = 1, .leader_epoch = 3, .high_watermark = 12,
                                        .diverging_epoch = -1, .diverging_end_offset = -1,
                                        .snapshot_id = { -1, -1 }, .entries = e3, .nentries = 3 };
    kp_writer good;
    kp_writer_init(&good);
    CHECK_EQ_I64(raftwire_encode_response(&m, KP_API_FETCH, 17, &good), 0);
    int ok = 0, refused = 0;
    for (int iter = 0; iter < 4000; iter++) {
        int16_t key = keys[rnd() % 5];
        int16_t v = (int16_t)(rnd() % (raftwire_max_version(key) + 1));
        size_t n;
        uint8_t *buf;
        if (iter % 2 == 0) {
            key = KP_API_FETCH;
            v = 17;
            n = good.len;
            buf = copy_of(good.buf, n);
            int flips = 1 + (int)(rnd() % 4);
            for (int k = 0; k < flips; k++)
                buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        } else {
            n = rnd() % 200;
            buf = malloc(n ? n : 1);
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)(rnd() % 4 == 0 ? 0xff : rnd() % 3);
        }
        arena a;
        arena_init(&a, ARENA_MAX);
        kp_reader r;
        kp_reader_init(&r, buf, n, &a);
        raft_msg out;
        int32_t from;
        char cid[64], err[200] = "";
        int rc = rnd() % 2 ? raftwire_decode_request(key, v, &r, &out, &from, cid, sizeof cid, err, sizeof err)
                           : raftwire_decode_response(key, v, &r, &out, err, sizeof err);
        if (rc == 0) {
            ok++;
        } else {
            refused++;
            CHECK(err[0] != '\0' || rc != -1);
        }
        CHECK(rc == 0 || rc == -1);
        arena_deinit(&a);
        free(buf);
    }
    CHECK(refused > 0);
    printf("garbage: %d decoded, %d refused\n", ok, refused);
    kp_writer_deinit(&good);
    free_entries(e3, 3);
}

int main(void)
{
    test_versions();
    test_requests();
    test_responses();
    test_errors();
    test_captured();
    test_captured_44();
    test_same_as_kafka();
    test_malformed();
    test_garbage();
    printf("raftwire round trips: %d, refused as they should: %d\n", n_roundtrips, n_refused);
    TEST_REPORT();
}
