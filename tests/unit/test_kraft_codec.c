/*
 * test_kraft_codec.c - the KRaft messages of src/proto/kafka.schema (issue
 * 11): the Raft APIs (Vote, BeginQuorumEpoch, EndQuorumEpoch,
 * DescribeQuorum, FetchSnapshot, Fetch v17, Add/Remove/UpdateRaftVoter),
 * the broker lifecycle APIs (BrokerRegistration, BrokerHeartbeat,
 * UnregisterBroker), the broker and partition-change metadata records and
 * the control records (LeaderChangeMessage, snapshot header and footer,
 * VotersRecord, KRaftVersionRecord).
 *
 * It proves three things:
 *  - the table: each API and record has exactly the versions Kafka's JSON
 *    (../shared/kafka-protocol, or Kafka 4.4.0's own where it is newer:
 *    tests/reference/kafka-4.4-messages, e.g. Vote v2 with KIP-996's
 *    PreVote) defines, and none is served by the broker (no handler, so not
 *    advertised; Fetch still serves v4-16 only);
 *  - every message round-trips at every version (sample -> encode ->
 *    decode -> encode: the same bytes; every strict prefix fails);
 *  - frames captured from a 3-node Apache Kafka 4.4.0 cluster decode to
 *    what Kafka meant and re-encode byte for byte: Vote v1 and v2 (a
 *    pre-vote granted, the real vote, a pre-vote refused by the new
 *    leader), BeginQuorumEpoch, EndQuorumEpoch, Fetch v17 (request, and a
 *    response carrying the metadata log's LeaderChangeMessage control
 *    batch) and v18 (the follower's high watermark), DescribeQuorum,
 *    BrokerRegistration, BrokerHeartbeat v2 and UpdateRaftVoter, requests
 *    and responses.
 *
 * The frames were captured by tests/unit/capture_kraft.py (a TCP proxy in
 * front of each controller listener; Kafka 4.4.0 from tests/reference,
 * process.roles=broker,controller, 3 voters) on 2026-12-06; each is one
 * frame without its 4-byte size, in hex. For the first set (Vote v1, Fetch
 * v17, ...) the proxy capped the versions in ApiVersions answers at
 * ../shared/kafka-protocol's newest (Fetch 17, Vote 1); the second set
 * (test_captured_44) is Kafka 4.4.0's own versions, nothing capped, with
 * the leader stopped by SIGSTOP for 8 s to make its followers pre-vote.
 * Nothing else was changed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "check.h"
#include "kafka_msgs.h"
#include "kafka_msgs_test.h"
#include "proto/batch.h"
#include "proto/codec.h"
#include "proto/records.h"

#define ARENA_MAX (1u << 24)

/* ------------------------------------------------------------- the table */

static const struct {
    int16_t key, lo, hi, flex;
} kraft_apis[] = {
    { KP_API_VOTE, 0, 2, 0 },
    { KP_API_BEGIN_QUORUM_EPOCH, 0, 1, 1 },
    { KP_API_END_QUORUM_EPOCH, 0, 1, 1 },
    { KP_API_DESCRIBE_QUORUM, 0, 2, 0 },
    { KP_API_FETCH_SNAPSHOT, 0, 1, 0 },
    { KP_API_BROKER_REGISTRATION, 0, 4, 0 },
    { KP_API_BROKER_HEARTBEAT, 0, 2, 0 },
    { KP_API_UNREGISTER_BROKER, 0, 0, 0 },
    { KP_API_ADD_RAFT_VOTER, 0, 1, 0 },
    { KP_API_REMOVE_RAFT_VOTER, 0, 0, 0 },
    { KP_API_UPDATE_RAFT_VOTER, 0, 0, 0 },
};

static const struct {
    const char *name;
    int16_t key, lo, hi;
} kraft_records[] = {
    { "RegisterBrokerRecord", 0, 0, 4 },
    { "UnregisterBrokerRecord", 1, 0, 0 },
    { "PartitionChangeRecord", 5, 0, 2 },
    { "FenceBrokerRecord", 7, 0, 0 },
    { "UnfenceBrokerRecord", 8, 0, 0 },
    { "BrokerRegistrationChangeRecord", 17, 0, 3 },
    { "RegisterControllerRecord", 27, 0, 0 },
    { "LeaderChangeMessage", -1, 0, 1 },
    { "SnapshotHeaderRecord", -1, 0, 0 },
    { "SnapshotFooterRecord", -1, 0, 0 },
    { "VotersRecord", -1, 0, 0 },
    { "KRaftVersionRecord", -1, 0, 0 },
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof kraft_apis / sizeof kraft_apis[0]; i++) {
        const kp_api_info *api = kp_api_find(kraft_apis[i].key);
        CHECK(api != NULL);
        if (!api)
            continue;
        CHECK_EQ_I64(api->codec_min_version, kraft_apis[i].lo);
        CHECK_EQ_I64(api->codec_max_version, kraft_apis[i].hi);
        CHECK_EQ_I64(api->min_version, kraft_apis[i].lo);
        CHECK_EQ_I64(api->max_version, kraft_apis[i].hi);
        CHECK_EQ_I64(api->flexible_min, kraft_apis[i].flex);
        /* Not on the client listener (the controller listener serves them,
         * handle_quorum.c), except DescribeQuorum, which brokers answer or
         * forward as Kafka's do. */
        CHECK((broker_api_find(kraft_apis[i].key) != NULL) == (kraft_apis[i].key == KP_API_DESCRIBE_QUORUM));
    }
    const kp_api_info *fetch = kp_api_find(KP_API_FETCH);
    CHECK_EQ_I64(fetch->min_version, 4);
    CHECK_EQ_I64(fetch->max_version, 18);
    CHECK_EQ_I64(fetch->codec_max_version, 18);
    CHECK(broker_api_find(KP_API_FETCH) != NULL);
    for (size_t i = 0; i < sizeof kraft_records / sizeof kraft_records[0]; i++) {
        const kp_record_info *ri = kp_record_find(kraft_records[i].name);
        CHECK(ri != NULL);
        if (!ri)
            continue;
        CHECK_EQ_I64(ri->key, kraft_records[i].key);
        CHECK_EQ_I64(ri->min_version, kraft_records[i].lo);
        CHECK_EQ_I64(ri->max_version, kraft_records[i].hi);
        CHECK_EQ_I64(ri->flexible_min, 0);
        if (ri->key >= 0)
            CHECK(kp_record_find_key(ri->key) == ri);
    }
    CHECK_EQ_I64(KP_REC_REGISTER_BROKER_RECORD, 0);
    CHECK_EQ_I64(KP_REC_PARTITION_CHANGE_RECORD, 5);
    CHECK_EQ_I64(KP_REC_REGISTER_CONTROLLER_RECORD, 27);
}

/* ------------------------------------------------------------ round trips */

static int n_roundtrips;

static void roundtrip(const char *name, const char *what, size_t size, void (*init)(void *),
                      void (*fill)(arena *, int16_t, void *, int),
                      int (*decode)(kp_reader *, int16_t, void *),
                      void (*encode)(kp_writer *, int16_t, const void *), int16_t v, int variant)
{
    arena a;
    arena_init(&a, ARENA_MAX);
    void *m1 = arena_alloc(&a, size);
    void *m2 = arena_alloc(&a, size);
    init(m1);
    fill(&a, v, m1, variant);
    kp_writer w1, w2;
    kp_writer_init(&w1);
    kp_writer_init(&w2);
    encode(&w1, v, m1);
    CHECK_EQ_I64(w1.err, KP_OK);
    kp_reader r;
    kp_reader_init(&r, w1.buf, w1.len, &a);
    int rc = decode(&r, v, m2);
    CHECK_EQ_I64(rc, 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    encode(&w2, v, m2);
    int same = w1.len == w2.len && (w1.len == 0 || memcmp(w1.buf, w2.buf, w1.len) == 0);
    if (!same || rc != 0)
        fprintf(stderr, "%s %s v%d variant %d: round trip differs\n", name, what, v, variant);
    CHECK(same);
    int prefix_ok = 0;
    for (size_t n = 0; n < w1.len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        if (n)
            memcpy(copy, w1.buf, n);
        kp_reader_init(&r, copy, n, &a);
        if (decode(&r, v, m2) == 0)
            prefix_ok++;
        free(copy);
    }
    CHECK_EQ_I64(prefix_ok, 0);
    n_roundtrips++;
    kp_writer_deinit(&w1);
    kp_writer_deinit(&w2);
    arena_deinit(&a);
}

static const kp_test_api *test_api(int16_t key)
{
    for (int i = 0; i < kp_test_apis_count; i++)
        if (kp_test_apis[i].key == key)
            return &kp_test_apis[i];
    return NULL;
}

static void roundtrip_api(int16_t key)
{
    const kp_api_info *api = kp_api_find(key);
    const kp_test_api *t = test_api(key);
    CHECK(api && t);
    if (!api || !t)
        return;
    for (int16_t v = api->codec_min_version; v <= api->codec_max_version; v++) {
        for (int variant = 0; variant < 2; variant++) {
            roundtrip(api->name, "request", api->req_size, api->req_init, t->req_fill,
                      api->req_decode, api->req_encode, v, variant);
            roundtrip(api->name, "response", api->resp_size, api->resp_init, t->resp_fill,
                      api->resp_decode, api->resp_encode, v, variant);
        }
    }
}

static void test_roundtrips(void)
{
    for (size_t i = 0; i < sizeof kraft_apis / sizeof kraft_apis[0]; i++)
        roundtrip_api(kraft_apis[i].key);
    roundtrip_api(KP_API_FETCH); /* v4-18 */
    for (size_t i = 0; i < sizeof kraft_records / sizeof kraft_records[0]; i++) {
        const kp_record_info *ri = kp_record_find(kraft_records[i].name);
        const kp_test_record *t = NULL;
        for (int j = 0; j < kp_test_records_count; j++)
            if (strcmp(kp_test_records[j].name, kraft_records[i].name) == 0)
                t = &kp_test_records[j];
        CHECK(ri && t);
        if (!ri || !t)
            continue;
        for (int16_t v = ri->min_version; v <= ri->max_version; v++)
            for (int variant = 0; variant < 2; variant++)
                roundtrip(ri->name, "record", ri->size, ri->init, t->fill, ri->decode, ri->encode,
                          v, variant);
    }
    printf("KRaft round trips: %d\n", n_roundtrips);
}

/* ------------------------------------------------- frames from Kafka 4.4.0 */

/* Vote v1 request (node2 proxy) */
static const char vote_req_hex[] =
    "003400010000001d000d726166742d636c69656e742d310017534e535063363936536161"
    "6a6c6876683356646171410000000202135f5f636c75737465725f6d6574616461746102"
    "0000000000000001000000018a9fe814b457ddb87e90173a3b703fd90000000000000000"
    "0000000000000000000000000000000000000000000000";

/* Vote v1 response (node2 proxy) */
static const char vote_resp_hex[] =
    "0000001d00000002135f5f636c75737465725f6d6574616461746102000000000000ffff"
    "ffff0000000101000000";

/* BeginQuorumEpoch v1 request (node2 proxy) */
static const char bqe_req_hex[] =
    "0035000100000020000d726166742d636c69656e742d310017534e535063363936536161"
    "6a6c6876683356646171410000000202135f5f636c75737465725f6d6574616461746102"
    "000000000000000000000000000000000000000000000001000000010000020b434f4e54"
    "524f4c4c45520a3132372e302e302e3195f50000";

/* BeginQuorumEpoch v1 response (node2 proxy) */
static const char bqe_resp_hex[] =
    "0000002000000002135f5f636c75737465725f6d65746164617461020000000000000000"
    "000100000001000001001202000000010a3132372e302e302e3195f500";

/* Fetch v17 request (node2 proxy) */
static const char fetch_req_hex[] =
    "0001001100000004000d726166742d636c69656e742d3100000001f40000000000100000"
    "0000000000ffffffff020000000000000000000000000000000102000000000000000000"
    "0000000000000000000000ffffffffffffffff000000000100108a9fe814b457ddb87e90"
    "173a3b703fd900010102001717534e5350633639365361616a6c68766833566461714101"
    "0d00000001ffffffffffffffff00";

/* Fetch v17 response (node1 proxy) */
static const char fetch_resp_hex[] =
    "0000002b0000000000000000000000020000000000000000000000000000000102000000"
    "000000ffffffffffffffffffffffffffffffff000000000000000001ffffffff6b000000"
    "00000000000000005e00000001024d240d84002000000000000001a24ca05e4e000001a2"
    "4ca05e4effffffffffffffffffffffffffff000000015800000008000000024400000000"
    "000104000000010000000002000000000300030000000200000000010000000101090000"
    "000100000001000001001502000000010a3132372e302e302e31000095f50000";

/* DescribeQuorum v2 request (node1 proxy) */
static const char dq_req_hex[] =
    "0037000200000004000d61646d696e636c69656e742d310002135f5f636c75737465725f"
    "6d657461646174610200000000000000";

/* DescribeQuorum v2 response (node1 proxy) */
static const char dq_resp_hex[] =
    "000000040000000102135f5f636c75737465725f6d657461646174610200000000000001"
    "000000010000000100000000000000280400000001000000000000000000000000000000"
    "000000000000000028000001a24ca084c8000001a24ca084c80000000002000000000000"
    "000000000000000000000000000000000028000001a24ca0846f000001a24ca0846f0000"
    "000003000000000000000000000000000000000000000000000028000001a24ca0846a00"
    "0001a24ca0846a000100000400000001020b434f4e54524f4c4c45520a3132372e302e30"
    "2e3195f5000000000002020b434f4e54524f4c4c45520a3132372e302e302e3182330000"
    "00000003020b434f4e54524f4c4c45520a3132372e302e302e31b29f000000";

/* BrokerRegistration v4 request (node1 proxy) */
static const char breg_req_hex[] =
    "003e000400000003000132000000000217534e5350633639365361616a6c687668335664"
    "6171419c94024049934d57a810a21676a15710020a504c41494e544558540a3132372e30"
    "2e302e31b8e9000000080e73686172652e76657273696f6e0000000200116d6574616461"
    "74612e76657273696f6e000700210021656c696769626c652e6c65616465722e7265706c"
    "696361732e76657273696f6e0000000100147472616e73616374696f6e2e76657273696f"
    "6e00000002001073747265616d732e76657273696f6e00000001000e67726f75702e7665"
    "7273696f6e00000001000e6b726166742e76657273696f6e0000000100000002bb7ee493"
    "d72432533e8adc10ac86b14bffffffffffffffff00";

/* BrokerRegistration v4 response (node1 proxy) */
static const char breg_resp_hex[] =
    "0000000300000000000000000000000000000a00";

/* UpdateRaftVoter v0 request (node1 proxy) */
static const char urv_req_hex[] =
    "005200000000003d000d726166742d636c69656e742d320017534e535063363936536161"
    "6a6c6876683356646171410000000100000002bb7ee493d72432533e8adc10ac86b14b02"
    "0b434f4e54524f4c4c45520a3132372e302e302e31823300000000010000";

/* UpdateRaftVoter v0 response (node1 proxy) */
static const char urv_resp_hex[] =
    "0000003d0000000000000001001700000001000000010a3132372e302e302e31000095f5"
    "00";

/* Captured without capping any version (Kafka 4.4.0's own: Vote v2, Fetch
 * v18, BrokerHeartbeat v2), 3 voters. The leader (node 3, epoch 1) was
 * stopped with SIGSTOP: node 2 lost it first, asked voter 1 for a pre-vote,
 * got it, and asked for the real vote in epoch 2; node 1's pre-vote reached
 * node 2 after it had won. Then SIGTERM: the leader (node 2) resigned. */
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

/* Fetch v18 request (node3 proxy, the leader then) */
static const char fetch18_req_hex[] =
    "0001001200000071000d726166742d636c69656e742d3100000001f40000000000100000"
    "0000000000ffffffff020000000000000000000000000000000102000000000000000100"
    "0000000000002300000001ffffffffffffffff0000000002001007a73543775f9847a2bd"
    "6349a4303cb701080000000000000022000101020017177a434d7375386e4f5371755a55"
    "4b61714e5971616867010d00000001ffffffffffffffff00";

/* Fetch v18 response (node3 proxy) */
static const char fetch18_resp_hex[] =
    "000000710000000000000000000000020000000000000000000000000000000102000000"
    "0000000000000000000023ffffffffffffffff000000000000000001ffffffff01010109"
    "0000000300000001000001001502000000030a3132372e302e302e31000083890000";

/* BrokerHeartbeat v2 request (node3 proxy) */
static const char bhb_req_hex[] =
    "003f0002000000100001310000000001000000000000000f000000000000002200000101"
    "0101";

/* BrokerHeartbeat v2 response (node3 proxy) */
static const char bhb_resp_hex[] =
    "000000100000000000000001000000";

/* Decoded messages borrow from their frame: frames live until the end. */
static uint8_t *kept[64];
static int n_kept;

static void keep(uint8_t *frame)
{
    if (n_kept < 64)
        kept[n_kept++] = frame;
    else
        abort();
}

/* hex to an exact-size malloc'ed buffer (ASan sees overreads). */
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

/* A request frame: header (v1 or v2 by kp_out_req_header_version) and
 * body; both re-encode to the same bytes. The body goes to msg. */
static void check_request(const char *hex, int16_t key, int16_t ver, const char *client_id,
                          arena *a, void *msg)
{
    size_t len;
    uint8_t *frame = unhex(hex, &len);
    const kp_api_info *api = kp_api_find(key);
    kp_reader r;
    kp_reader_init(&r, frame, len, a);
    kp_req_header h;
    h.api_key = kp_read_int16(&r);
    h.api_version = kp_read_int16(&r);
    h.correlation_id = kp_read_int32(&r);
    h.client_id = kp_read_string(&r, false);
    CHECK_EQ_I64(h.api_key, key);
    CHECK_EQ_I64(h.api_version, ver);
    CHECK(kp_str_eq(h.client_id, client_id));
    int16_t hv = kp_out_req_header_version(key, ver);
    if (hv >= 2)
        kp_skip_tagged(&r);
    CHECK_EQ_I64(r.err, KP_OK);
    CHECK_EQ_I64(api->req_decode(&r, ver, msg), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int16(&w, key);
    kp_write_int16(&w, ver);
    kp_write_int32(&w, h.correlation_id);
    kp_write_string(&w, h.client_id, false);
    if (hv >= 2)
        kp_write_uvarint(&w, 0);
    api->req_encode(&w, ver, msg);
    int same = w.len == len && memcmp(w.buf, frame, len) == 0;
    if (!same)
        fprintf(stderr, "%s v%d request: re-encoded %zu bytes, captured %zu\n", api->name, ver,
                w.len, len);
    CHECK(same);
    kp_writer_deinit(&w);
    keep(frame);
}

/* A response frame: header v0/v1 (kp_out_resp_header_version), the body. */
static void check_response(const char *hex, int16_t key, int16_t ver, arena *a, void *msg)
{
    size_t len;
    uint8_t *frame = unhex(hex, &len);
    const kp_api_info *api = kp_api_find(key);
    kp_reader r;
    kp_reader_init(&r, frame, len, a);
    int16_t hv = kp_out_resp_header_version(key, ver);
    int32_t corr;
    CHECK_EQ_I64(kp_resp_header_decode(&r, hv, &corr), 0);
    CHECK_EQ_I64(api->resp_decode(&r, ver, msg), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    kp_writer w;
    kp_writer_init(&w);
    kp_resp_header_encode(&w, hv, corr);
    api->resp_encode(&w, ver, msg);
    int same = w.len == len && memcmp(w.buf, frame, len) == 0;
    if (!same)
        fprintf(stderr, "%s v%d response: re-encoded %zu bytes, captured %zu\n", api->name, ver,
                w.len, len);
    CHECK(same);
    kp_writer_deinit(&w);
    keep(frame);
}

static bool uuid_zero(kp_uuid u)
{
    for (int i = 0; i < 16; i++)
        if (u.b[i])
            return false;
    return true;
}

#define META "__cluster_metadata"
#define CLIENT_ID_1 "raft-client-1" /* node 1's Raft client */

/* The records of the captured Fetch response: one control batch holding
 * the LeaderChangeMessage the new leader wrote at the start of its epoch. */
static void test_leader_change(const uint8_t *p, size_t len, arena *a)
{
    batch_info bi;
    CHECK_EQ_I64(batch_validate(p, len, &bi), 0);
    CHECK(bi.attributes & BATCH_ATTR_CONTROL);
    CHECK_EQ_I64(bi.record_count, 1);
    CHECK_EQ_I64(batch_control_type(p, len), 2); /* LEADER_CHANGE */
    rec_iter it;
    rec_iter_setup(&it);
    CHECK_EQ_I64(rec_iter_init(&it, p, len, 1 << 20), 0);
    krecord kr;
    CHECK_EQ_I64(rec_iter_next(&it, &kr), 1);
    /* key: int16 version 0, int16 type 2 */
    static const uint8_t key[] = { 0, 0, 0, 2 };
    CHECK(kr.key_len == 4 && memcmp(kr.key, key, 4) == 0);
    const kp_record_info *ri = kp_record_find("LeaderChangeMessage");
    kp_leader_change_message lc;
    kp_reader r;
    kp_reader_init(&r, kr.value, (size_t)kr.value_len, a);
    /* At version 0, as Kafka 4.4 reads it (ControlRecordUtils). */
    CHECK_EQ_I64(ri->decode(&r, 0, &lc), 0);
    CHECK_EQ_I64(kp_reader_left(&r), 0);
    CHECK_EQ_I64(lc.version, 0); /* the field says the same */
    CHECK_EQ_I64(lc.leader_id, 1);
    CHECK_EQ_I64(lc.voters_n, 3);
    CHECK_EQ_I64(lc.granting_voters_n, 2);
    kp_writer w;
    kp_writer_init(&w);
    ri->encode(&w, 0, &lc);
    CHECK(w.len == (size_t)kr.value_len && memcmp(w.buf, kr.value, w.len) == 0);
    kp_writer_deinit(&w);
    CHECK_EQ_I64(rec_iter_next(&it, &kr), 0);
    rec_iter_deinit(&it);
}

static void test_captured(void)
{
    arena a;
    arena_init(&a, ARENA_MAX);

    /* Vote v1: node 1, candidate in epoch 1, asks voter 2 (through node 2's proxy)
     * and gets its vote. */
    kp_vote_req vq;
    check_request(vote_req_hex, KP_API_VOTE, 1, CLIENT_ID_1, &a, &vq);
    CHECK(vq.cluster_id.len == 22);
    CHECK_EQ_I64(vq.voter_id, 2);
    CHECK_EQ_I64(vq.topics_n, 1);
    CHECK(kp_str_eq(vq.topics[0].topic_name, META));
    CHECK_EQ_I64(vq.topics[0].partitions_n, 1);
    const kp_vote_req_partition *vp = &vq.topics[0].partitions[0];
    CHECK_EQ_I64(vp->partition_index, 0);
    CHECK_EQ_I64(vp->replica_epoch, 1);
    CHECK_EQ_I64(vp->replica_id, 1);
    CHECK(!uuid_zero(vp->replica_directory_id));
    CHECK(uuid_zero(vp->voter_directory_id));
    CHECK_EQ_I64(vp->last_offset_epoch, 0);
    CHECK_EQ_I64(vp->last_offset, 0);

    kp_vote_resp vr;
    check_response(vote_resp_hex, KP_API_VOTE, 1, &a, &vr);
    CHECK_EQ_I64(vr.error_code, 0);
    CHECK_EQ_I64(vr.topics_n, 1);
    const kp_vote_resp_partition *vrp = &vr.topics[0].partitions[0];
    CHECK_EQ_I64(vrp->error_code, 0);
    CHECK_EQ_I64(vrp->leader_id, -1);
    CHECK_EQ_I64(vrp->leader_epoch, 1);
    CHECK(vrp->vote_granted);
    CHECK_EQ_I64(vr.node_endpoints_n, 0);

    /* BeginQuorumEpoch v1: the new leader tells node 2. */
    kp_begin_quorum_epoch_req bq;
    check_request(bqe_req_hex, KP_API_BEGIN_QUORUM_EPOCH, 1, CLIENT_ID_1, &a, &bq);
    CHECK_EQ_I64(bq.voter_id, 2);
    const kp_begin_quorum_epoch_req_partition *bqp = &bq.topics[0].partitions[0];
    CHECK_EQ_I64(bqp->leader_id, 1);
    CHECK_EQ_I64(bqp->leader_epoch, 1);
    CHECK_EQ_I64(bq.leader_endpoints_n, 1);
    CHECK(kp_str_eq(bq.leader_endpoints[0].name, "CONTROLLER"));
    CHECK(kp_str_eq(bq.leader_endpoints[0].host, "127.0.0.1"));
    CHECK_EQ_I64(bq.leader_endpoints[0].port, 38389);

    kp_begin_quorum_epoch_resp br;
    check_response(bqe_resp_hex, KP_API_BEGIN_QUORUM_EPOCH, 1, &a, &br);
    CHECK_EQ_I64(br.error_code, 0);
    CHECK_EQ_I64(br.topics[0].partitions[0].leader_id, 1);
    CHECK_EQ_I64(br.node_endpoints_n, 1);

    /* Fetch v17: a follower's fetch of __cluster_metadata (by topic id). */
    kp_fetch_req fq;
    check_request(fetch_req_hex, KP_API_FETCH, 17, CLIENT_ID_1, &a, &fq);
    CHECK_EQ_I64(fq.replica_state.replica_id, 1);
    CHECK_EQ_I64(fq.replica_state.replica_epoch, -1);
    CHECK_EQ_I64(fq.max_wait_ms, 500);
    CHECK_EQ_I64(fq.topics_n, 1);
    const kp_fetch_req_partition *fp = &fq.topics[0].partitions[0];
    CHECK_EQ_I64(fp->fetch_offset, 0);
    CHECK_EQ_I64(fp->last_fetched_epoch, 0);
    CHECK_EQ_I64(fp->current_leader_epoch, 0);
    CHECK(!uuid_zero(fp->replica_directory_id));
    CHECK(fq.cluster_id.len == 22);

    kp_fetch_resp fr;
    check_response(fetch_resp_hex, KP_API_FETCH, 17, &a, &fr);
    CHECK_EQ_I64(fr.error_code, 0);
    CHECK_EQ_I64(fr.responses_n, 1);
    const kp_fetch_resp_partition *frp = &fr.responses[0].partitions[0];
    CHECK_EQ_I64(frp->error_code, 0);
    CHECK_EQ_I64(frp->high_watermark, -1);
    CHECK_EQ_I64(frp->current_leader.leader_id, 1);
    CHECK_EQ_I64(frp->current_leader.leader_epoch, 1);
    CHECK(frp->records.len > 61);
    test_leader_change(frp->records.ptr, (size_t)frp->records.len, &a);

    /* DescribeQuorum v2 (kafka-metadata-quorum describe --status). */
    kp_describe_quorum_req dq;
    check_request(dq_req_hex, KP_API_DESCRIBE_QUORUM, 2, "adminclient-1", &a, &dq);
    CHECK_EQ_I64(dq.topics_n, 1);
    CHECK(kp_str_eq(dq.topics[0].topic_name, META));
    kp_describe_quorum_resp dr;
    check_response(dq_resp_hex, KP_API_DESCRIBE_QUORUM, 2, &a, &dr);
    CHECK_EQ_I64(dr.error_code, 0);
    const kp_describe_quorum_resp_partition *dp = &dr.topics[0].partitions[0];
    CHECK_EQ_I64(dp->leader_id, 1);
    CHECK_EQ_I64(dp->leader_epoch, 1);
    CHECK_EQ_I64(dp->high_watermark, 40);
    CHECK_EQ_I64(dp->current_voters_n, 3);
    CHECK_EQ_I64(dp->observers_n, 0);
    CHECK_EQ_I64(dr.nodes_n, 3);

    /* BrokerRegistration v4: node 1's broker side registers. */
    kp_broker_registration_req rq;
    check_request(breg_req_hex, KP_API_BROKER_REGISTRATION, 4, "2", &a, &rq);
    CHECK_EQ_I64(rq.broker_id, 2);
    CHECK_EQ_I64(rq.listeners_n, 1);
    CHECK(kp_str_eq(rq.listeners[0].name, "PLAINTEXT"));
    CHECK_EQ_I64(rq.features_n, 7);
    CHECK_EQ_I64(rq.log_dirs_n, 1);
    CHECK_EQ_I64(rq.previous_broker_epoch, -1);
    kp_broker_registration_resp rr;
    check_response(breg_resp_hex, KP_API_BROKER_REGISTRATION, 4, &a, &rr);
    CHECK_EQ_I64(rr.error_code, 0);
    CHECK_EQ_I64(rr.broker_epoch, 10);

    /* UpdateRaftVoter v0: a voter publishes its endpoints to the leader. */
    kp_update_raft_voter_req uq;
    check_request(urv_req_hex, KP_API_UPDATE_RAFT_VOTER, 0, "raft-client-2", &a, &uq);
    CHECK_EQ_I64(uq.voter_id, 2);
    CHECK_EQ_I64(uq.listeners_n, 1);
    CHECK_EQ_I64(uq.k_raft_version_feature.max_supported_version, 1);
    kp_update_raft_voter_resp ur;
    check_response(urv_resp_hex, KP_API_UPDATE_RAFT_VOTER, 0, &a, &ur);
    CHECK_EQ_I64(ur.error_code, 0);
    CHECK(ur.current_leader_present);
    CHECK_EQ_I64(ur.current_leader.leader_id, 1);
    arena_deinit(&a);
}

/* Kafka 4.4.0's own versions: Vote v2 (KIP-996 pre-votes), EndQuorumEpoch,
 * Fetch v18, BrokerHeartbeat v2. */
static void test_captured_44(void)
{
    arena a;
    arena_init(&a, ARENA_MAX);

    /* A pre-vote: node 2, in epoch 1 (its current epoch: a pre-vote does
     * not bump it), asks voter 1, which has lost leader 3 too and grants. */
    kp_vote_req pq;
    check_request(prevote_req_hex, KP_API_VOTE, 2, "raft-client-2", &a, &pq);
    CHECK_EQ_I64(pq.voter_id, 1);
    CHECK_EQ_I64(pq.topics_n, 1);
    CHECK(kp_str_eq(pq.topics[0].topic_name, META));
    const kp_vote_req_partition *pp = &pq.topics[0].partitions[0];
    CHECK(pp->pre_vote);
    CHECK_EQ_I64(pp->replica_epoch, 1);
    CHECK_EQ_I64(pp->replica_id, 2);
    CHECK(!uuid_zero(pp->replica_directory_id));
    CHECK_EQ_I64(pp->last_offset_epoch, 1);
    CHECK_EQ_I64(pp->last_offset, 53);
    kp_vote_resp pr;
    check_response(prevote_resp_hex, KP_API_VOTE, 2, &a, &pr);
    CHECK_EQ_I64(pr.error_code, 0);
    const kp_vote_resp_partition *prp = &pr.topics[0].partitions[0];
    CHECK_EQ_I64(prp->error_code, 0);
    CHECK_EQ_I64(prp->leader_id, 3); /* the voter still knows the old leader */
    CHECK_EQ_I64(prp->leader_epoch, 1);
    CHECK(prp->vote_granted);
    CHECK_EQ_I64(pr.node_endpoints_n, 1);
    CHECK_EQ_I64(pr.node_endpoints[0].node_id, 3);
    CHECK(kp_str_eq(pr.node_endpoints[0].host, "127.0.0.1"));

    /* The real vote, epoch 2, the same sender and log end. */
    kp_vote_req vq;
    check_request(vote2_req_hex, KP_API_VOTE, 2, "raft-client-2", &a, &vq);
    const kp_vote_req_partition *vp = &vq.topics[0].partitions[0];
    CHECK(!vp->pre_vote);
    CHECK_EQ_I64(vp->replica_epoch, 2);
    CHECK_EQ_I64(vp->replica_id, 2);
    CHECK(memcmp(vp->replica_directory_id.b, pp->replica_directory_id.b, 16) == 0);
    CHECK_EQ_I64(vp->last_offset, 53);
    kp_vote_resp vr;
    check_response(vote2_resp_hex, KP_API_VOTE, 2, &a, &vr);
    const kp_vote_resp_partition *vrp = &vr.topics[0].partitions[0];
    CHECK_EQ_I64(vrp->error_code, 0);
    CHECK_EQ_I64(vrp->leader_id, -1);
    CHECK_EQ_I64(vrp->leader_epoch, 2);
    CHECK(vrp->vote_granted);
    CHECK_EQ_I64(vr.node_endpoints_n, 0);

    /* Node 1's pre-vote in epoch 1 reaches node 2, leader of epoch 2:
     * refused with FENCED_LEADER_EPOCH (74), and who leads now. */
    kp_vote_req lq;
    check_request(prevote_late_req_hex, KP_API_VOTE, 2, "raft-client-1", &a, &lq);
    CHECK_EQ_I64(lq.voter_id, 2);
    CHECK(lq.topics[0].partitions[0].pre_vote);
    CHECK_EQ_I64(lq.topics[0].partitions[0].replica_epoch, 1);
    CHECK_EQ_I64(lq.topics[0].partitions[0].replica_id, 1);
    kp_vote_resp lr;
    check_response(prevote_late_resp_hex, KP_API_VOTE, 2, &a, &lr);
    CHECK_EQ_I64(lr.error_code, 0);
    const kp_vote_resp_partition *lrp = &lr.topics[0].partitions[0];
    CHECK_EQ_I64(lrp->error_code, 74);
    CHECK_EQ_I64(lrp->leader_id, 2);
    CHECK_EQ_I64(lrp->leader_epoch, 2);
    CHECK(!lrp->vote_granted);
    CHECK_EQ_I64(lr.node_endpoints_n, 1);
    CHECK_EQ_I64(lr.node_endpoints[0].node_id, 2);

    /* The leader of epoch 2 shuts down and resigns to voter 3, naming its
     * preferred successors. */
    kp_end_quorum_epoch_req eq;
    check_request(eqe_req_hex, KP_API_END_QUORUM_EPOCH, 1, "raft-client-2", &a, &eq);
    CHECK_EQ_I64(eq.topics_n, 1);
    const kp_end_quorum_epoch_req_partition *ep = &eq.topics[0].partitions[0];
    CHECK_EQ_I64(ep->leader_id, 2);
    CHECK_EQ_I64(ep->leader_epoch, 2);
    CHECK_EQ_I64(ep->preferred_candidates_n, 2);
    kp_end_quorum_epoch_resp er;
    check_response(eqe_resp_hex, KP_API_END_QUORUM_EPOCH, 1, &a, &er);
    CHECK_EQ_I64(er.error_code, 0);
    CHECK_EQ_I64(er.topics[0].partitions[0].error_code, 0);
    CHECK_EQ_I64(er.topics[0].partitions[0].leader_id, 2);
    CHECK_EQ_I64(er.topics[0].partitions[0].leader_epoch, 2);

    /* Fetch v18: the follower tells the leader its high watermark (tag 1). */
    kp_fetch_req fq;
    check_request(fetch18_req_hex, KP_API_FETCH, 18, "raft-client-1", &a, &fq);
    CHECK_EQ_I64(fq.replica_state.replica_id, 1);
    const kp_fetch_req_partition *fp = &fq.topics[0].partitions[0];
    CHECK_EQ_I64(fp->fetch_offset, 35);
    CHECK_EQ_I64(fp->high_watermark, 34);
    CHECK(!uuid_zero(fp->replica_directory_id));
    kp_fetch_resp fr;
    check_response(fetch18_resp_hex, KP_API_FETCH, 18, &a, &fr);
    CHECK_EQ_I64(fr.error_code, 0);
    const kp_fetch_resp_partition *frp = &fr.responses[0].partitions[0];
    CHECK_EQ_I64(frp->error_code, 0);
    CHECK_EQ_I64(frp->high_watermark, 35);
    CHECK_EQ_I64(frp->current_leader.leader_id, 3);

    /* BrokerHeartbeat v2: an empty (not null) CordonedLogDirs, tag 1. */
    kp_broker_heartbeat_req hq;
    check_request(bhb_req_hex, KP_API_BROKER_HEARTBEAT, 2, "1", &a, &hq);
    CHECK_EQ_I64(hq.broker_id, 1);
    CHECK_EQ_I64(hq.broker_epoch, 15);
    CHECK_EQ_I64(hq.current_metadata_offset, 34);
    CHECK(!hq.want_fence);
    CHECK_EQ_I64(hq.cordoned_log_dirs_n, 0);
    kp_broker_heartbeat_resp hr;
    check_response(bhb_resp_hex, KP_API_BROKER_HEARTBEAT, 2, &a, &hr);
    CHECK_EQ_I64(hr.error_code, 0);
    CHECK(hr.is_caught_up);
    CHECK(!hr.is_fenced);
    arena_deinit(&a);
}

int main(void)
{
    test_table();
    test_roundtrips();
    test_captured();
    test_captured_44();
    for (int i = 0; i < n_kept; i++)
        free(kept[i]);
    TEST_REPORT();
}
