/*
 * dump_log.c - `gregor dump-log` (kafka-dump-log.sh): decodes segment files
 * from disk, no broker needed.
 *
 *   .log        one line per record batch in Kafka's format (cleaned
 *               batches too: empty ones, and the KIP-534 delete horizon as
 *               deleteHorizonMs); with --deep-iteration or --print-data-log
 *               one line per record, compressed batches included. Records
 *               are read with the shared record iterator (proto/records.h:
 *               every codec, bounded inflate). A torn or corrupt tail is
 *               reported as Kafka does ("Found N invalid bytes at the end of
 *               F") with the position and reason, after everything valid.
 *               --key-map (Gregor's own) adds each key's latest offset and
 *               record count, to see whether a segment is compacted.
 *   .checkpoint a KRaft metadata snapshot: the same lines after Kafka's
 *               "Snapshot end offset: N, epoch: E", then checked whole with
 *               snapfile_read (src/metadata/snapfile.h): an invalid one is
 *               reported on stderr and makes the exit status 1. Control
 *               records SnapshotHeader, SnapshotFooter, KRaftVersion and
 *               KRaftVoters print as Kafka prints them.
 *               --cluster-metadata-decoder (on .checkpoint and .log) prints
 *               every record with its metadata frame as Kafka's JSON payload
 *               {"type","version","data"}: data for TopicRecord,
 *               RemoveTopicRecord, ConfigRecord, FeatureLevelRecord and
 *               ProducerIdsRecord; type and version only for the others.
 *   .index      `offset: N position: P` per entry; every entry must name the
 *               start of a batch in the .log beside it whose last offset is N.
 *   .timeindex  `timestamp: T offset: N` per entry; N must lie in a batch of
 *               the .log whose maxTimestamp is T, and T must increase.
 * Index problems are printed to stderr at the end in Kafka's words; with
 * --index-sanity-check or --verify-index-only they also make the exit code 1.
 *
 * Files are mmap()ed read-only. Everything read is untrusted: every batch
 * length is checked against what is left before it is used, and the record
 * iterator bounds its inflate (RECORDS_MAX_INFLATED) and every record read.
 * Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/arena.h"
#include "base/crc32c.h"
#include "controller/mrec.h"
#include "kafka_msgs.h"
#include "metadata/snapfile.h"
#include "proto/batch.h"
#include "proto/records.h"
#include "proto/recread.h" /* only to walk header keys: records.h has no header walker */
#include "tools/common.h"
#include "tools/javaorder.h"
#include "tools/tools.h"

#define DL_FILES_MAX 4096
#define DL_INDEX_ENTRY_BYTES 8
#define DL_TIMEINDEX_ENTRY_BYTES 12
#define DL_PROBLEMS_MAX 10000 /* lines of mismatches kept per run */

static const char *const dl_cmd = "dump-log";

typedef struct dl_opts {
    bool print_data;     /* --print-data-log: keys and payloads */
    bool deep;           /* --deep-iteration (implied by print_data) */
    bool sanity_only;    /* --index-sanity-check */
    bool verify_only;    /* --verify-index-only */
    bool skip_metadata;  /* --skip-record-metadata */
    bool key_map;        /* --key-map (Gregor's own): the keys of the data records */
    bool metadata;       /* --cluster-metadata-decoder: records as metadata frames */
    int64_t max_bytes;   /* --max-bytes, INT64_MAX when not given */
} dl_opts;

/* Problems found in index files, printed to stderr after all files. */
typedef struct dl_report {
    FILE *f;             /* open_memstream */
    char *buf;
    size_t len;
    int lines;
    bool index_problem;  /* any index mismatch or failed sanity check */
} dl_report;

/* ---- byte access ---- */

static uint16_t dl_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t dl_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t dl_be64(const uint8_t *p) { return (uint64_t)dl_be32(p) << 32 | dl_be32(p + 4); }

/* A read-only mapping of a whole file. */
typedef struct dl_map {
    const uint8_t *p;
    size_t len;
} dl_map;

static int dl_map_open(const char *path, dl_map *m)
{
    m->p = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -1;
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return -1;
        }
        m->p = p;
        m->len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

static void dl_map_close(dl_map *m)
{
    if (m->p)
        munmap((void *)m->p, m->len);
    m->p = NULL;
}

static const char *const dl_codec_names[8] = { "none", "gzip", "snappy", "lz4", "zstd", "unknown(5)",
                                               "unknown(6)", "unknown(7)" };

/* Kafka's DefaultRecordBatch.incrementSequence: wraps past Integer.MAX_VALUE. */
static int32_t dl_seq_add(int32_t base, int32_t delta)
{
    if (base < 0)
        return -1;
    int64_t sum = (int64_t)base + delta;
    if (sum > INT32_MAX)
        return (int32_t)((int64_t)delta - ((int64_t)INT32_MAX - base) - 1);
    return (int32_t)sum;
}

/* a + b as Java's long arithmetic does it: wrapping, never undefined. */
static int64_t dl_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* ---- the key map (--key-map) ---- */

/* One distinct key of the data records read: its latest record. */
typedef struct dl_key {
    uint64_t hash;
    uint8_t *key;        /* owned copy (NULL for the empty key) */
    int32_t len;
    int64_t offset;      /* the latest record's offset */
    int64_t count;       /* records with this key; 0: free slot */
    bool tombstone;      /* the latest record's value is null */
} dl_key;

/* Open addressing over XXH3-64 of the key; the whole key is compared. */
typedef struct dl_keymap {
    dl_key *slots;
    size_t cap, n;       /* cap is a power of two, n < cap * 3/4 */
    int64_t records;     /* keyed data records seen */
    bool oom;            /* a key could not be stored: the map is incomplete */
} dl_keymap;

static dl_key *dl_keymap_slot(dl_key *slots, size_t cap, uint64_t h, const uint8_t *key, int32_t len)
{
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        dl_key *s = &slots[i];
        if (s->count == 0 ||
            (s->hash == h && s->len == len && (len == 0 || memcmp(s->key, key, (size_t)len) == 0)))
            return s;
    }
}

static bool dl_keymap_grow(dl_keymap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    dl_key *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].count)
            *dl_keymap_slot(slots, cap, m->slots[i].hash, m->slots[i].key, m->slots[i].len) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

/* A data record with a key: the latest is the one with the highest offset
 * (files may be given in any order; on a tie the one read last). */
static void dl_keymap_add(dl_keymap *m, const krecord *r)
{
    if (m->oom)
        return;
    if ((m->n + 1) * 4 > m->cap * 3 && !dl_keymap_grow(m)) {
        m->oom = true;
        return;
    }
    uint64_t h = XXH3_64bits(r->key, (size_t)r->key_len);
    dl_key *s = dl_keymap_slot(m->slots, m->cap, h, r->key, r->key_len);
    if (s->count == 0) {
        uint8_t *copy = NULL;
        if (r->key_len > 0 && !(copy = malloc((size_t)r->key_len))) {
            m->oom = true;
            return;
        }
        if (copy)
            memcpy(copy, r->key, (size_t)r->key_len);
        *s = (dl_key){ .hash = h, .key = copy, .len = r->key_len, .offset = r->offset };
        m->n++;
    }
    m->records++;
    s->count++;
    if (r->offset >= s->offset) {
        s->offset = r->offset;
        s->tombstone = r->value_len < 0;
    }
}

static int dl_key_cmp(const void *a, const void *b)
{
    const dl_key *x = *(const dl_key *const *)a, *y = *(const dl_key *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    int32_t n = x->len < y->len ? x->len : y->len;
    int c = n > 0 ? memcmp(x->key, y->key, (size_t)n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* One line per key, in the order of their latest offsets, then the totals.
 * Returns 0, or 1 when the map could not be completed (no memory). */
static int dl_keymap_print(dl_keymap *m)
{
    dl_key **order = m->n ? malloc(m->n * sizeof *order) : NULL;
    if (m->oom || (m->n && !order)) {
        free(order);
        tool_err(dl_cmd, "--key-map: out of memory after %zu keys", m->n);
        return 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].count)
            order[k++] = &m->slots[i];
    if (k)
        qsort(order, k, sizeof *order, dl_key_cmp);
    for (size_t i = 0; i < k; i++) {
        fputs("key: ", stdout);
        fwrite(order[i]->key ? (const void *)order[i]->key : "", 1, (size_t)order[i]->len, stdout);
        printf(" offset: %" PRId64 " count: %" PRId64 " tombstone: %s\n", order[i]->offset,
               order[i]->count, order[i]->tombstone ? "true" : "false");
    }
    printf("keys: %zu records: %" PRId64 " duplicates: %" PRId64 "\n", m->n, m->records,
           m->records - (int64_t)m->n);
    free(order);
    return 0;
}

static void dl_keymap_free(dl_keymap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- records ---- */

/* Non-consecutive offsets of one .log (with --deep-iteration), reported on
 * stderr after everything else, as Kafka's tool does. */
typedef struct dl_consec {
    int64_t last_offset;  /* the previous record's; -1 before the first */
    int pairs;            /* non-consecutive pairs seen */
    FILE *f;              /* the pairs, "  A is followed by B" lines; opened at the first */
    char *text;
    size_t len;
    const char *path;
} dl_consec;

#define DL_PAIRS_MAX 100 /* pairs listed per file; Kafka lists all */

/* The files with pairs, kept for the end. */
typedef struct dl_gaps {
    char *path;           /* absolute, as Java's File.getAbsolutePath */
    char *text;
    size_t len;
    int pairs;
} dl_gaps;

typedef struct dl_gap_list {
    dl_gaps *v;
    size_t n, cap;
} dl_gap_list;

static bool dl_print_kraft_control(int type, const uint8_t *val, int32_t vlen);

static void dl_print_control(const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    if (!key || klen < 4) {
        printf(" controlType: UNKNOWN(-1)");
        return;
    }
    int16_t type = (int16_t)dl_be16(key + 2);
    if ((type == 0 || type == 1) && val && vlen >= 6)
        printf(" endTxnMarker: %s coordinatorEpoch: %" PRId32, type ? "COMMIT" : "ABORT",
               (int32_t)dl_be32(val + 2));
    else if (type == 3 && val && vlen >= 10) /* SnapshotHeaderRecord v0 */
        printf(" SnapshotHeader {\"version\":%d,\"lastContainedLogTimestamp\":%" PRId64 "}", (int16_t)dl_be16(val),
               (int64_t)dl_be64(val + 2));
    else if (type == 4 && val && vlen >= 2) /* SnapshotFooterRecord v0 */
        printf(" SnapshotFooter {\"version\":%d}", (int16_t)dl_be16(val));
    else if ((type == 5 || type == 6) && dl_print_kraft_control(type, val, vlen))
        ; /* KRaftVersion, KRaftVoters: a dynamic quorum's records */
    else
        printf(" controlType: UNKNOWN(%d)", type);
}

/* Kafka's MetadataRecordType names by api key (kafka-metadata 4.4). */
static const char *const dl_mrec_names[] = {
    "REGISTER_BROKER_RECORD", "UNREGISTER_BROKER_RECORD", "TOPIC_RECORD", "PARTITION_RECORD", "CONFIG_RECORD",
    "PARTITION_CHANGE_RECORD", NULL, "FENCE_BROKER_RECORD", "UNFENCE_BROKER_RECORD", "REMOVE_TOPIC_RECORD",
    "DELEGATION_TOKEN_RECORD", "USER_SCRAM_CREDENTIAL_RECORD", "FEATURE_LEVEL_RECORD", NULL,
    "CLIENT_QUOTA_RECORD", "PRODUCER_IDS_RECORD", NULL, "BROKER_REGISTRATION_CHANGE_RECORD",
    "ACCESS_CONTROL_ENTRY_RECORD", "REMOVE_ACCESS_CONTROL_ENTRY_RECORD", "NO_OP_RECORD",
    "ZK_MIGRATION_STATE_RECORD", "REMOVE_USER_SCRAM_CREDENTIAL_RECORD", "BEGIN_TRANSACTION_RECORD",
    "END_TRANSACTION_RECORD", "ABORT_TRANSACTION_RECORD", "REMOVE_DELEGATION_TOKEN_RECORD",
    "REGISTER_CONTROLLER_RECORD", "CLEAR_ELR_RECORD",
};

/* s as a JSON string ("null" when null). */
static void dl_json_str(kp_str s)
{
    if (s.len < 0) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (int32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void dl_json_uuid(kp_uuid u)
{
    char s[23];
    tool_uuid_str(u.b, s);
    printf("\"%s\"", s);
}

/* The "data" of the record types decoded here; false for the others. */
static bool dl_mrec_data(kp_reader *rd, int key, int16_t version)
{
    if (key == KP_REC_TOPIC_RECORD) {
        kp_topic_record m;
        if (kp_topic_record_decode(rd, version, &m) != 0 || rd->err)
            return false;
        fputs(",\"data\":{\"name\":", stdout);
        dl_json_str(m.name);
        fputs(",\"topicId\":", stdout);
        dl_json_uuid(m.topic_id);
    } else if (key == KP_REC_REMOVE_TOPIC_RECORD) {
        kp_remove_topic_record m;
        if (kp_remove_topic_record_decode(rd, version, &m) != 0 || rd->err)
            return false;
        fputs(",\"data\":{\"topicId\":", stdout);
        dl_json_uuid(m.topic_id);
    } else if (key == KP_REC_CONFIG_RECORD) {
        kp_config_record m;
        if (kp_config_record_decode(rd, version, &m) != 0 || rd->err)
            return false;
        printf(",\"data\":{\"resourceType\":%d,\"resourceName\":", m.resource_type);
        dl_json_str(m.resource_name);
        fputs(",\"name\":", stdout);
        dl_json_str(m.name);
        fputs(",\"value\":", stdout);
        dl_json_str(m.value);
    } else if (key == KP_REC_FEATURE_LEVEL_RECORD) {
        kp_feature_level_record m;
        if (kp_feature_level_record_decode(rd, version, &m) != 0 || rd->err)
            return false;
        fputs(",\"data\":{\"name\":", stdout);
        dl_json_str(m.name);
        printf(",\"featureLevel\":%d", m.feature_level);
    } else if (key == KP_REC_PRODUCER_IDS_RECORD) {
        kp_producer_ids_record m;
        if (kp_producer_ids_record_decode(rd, version, &m) != 0 || rd->err)
            return false;
        printf(",\"data\":{\"brokerId\":%" PRId32 ",\"brokerEpoch\":%" PRId64 ",\"nextProducerId\":%" PRId64,
               m.broker_id, m.broker_epoch, m.next_producer_id);
    } else {
        return false;
    }
    putchar('}');
    return true;
}

/* KRaftVersionRecord (type 5) or VotersRecord (6) as Kafka prints them;
 * false when the value does not decode. */
static bool dl_print_kraft_control(int type, const uint8_t *val, int32_t vlen)
{
    if (!val || vlen < 0)
        return false;
    arena a;
    arena_init(&a, 1u << 20);
    kp_reader rd;
    kp_reader_init(&rd, val, (size_t)vlen, &a);
    bool ok = false;
    if (type == 5) {
        kp_k_raft_version_record m;
        ok = kp_k_raft_version_record_decode(&rd, 0, &m) == 0 && !rd.err;
        if (ok)
            printf(" KRaftVersion {\"version\":%d,\"kRaftVersion\":%d}", m.version, m.k_raft_version);
    } else {
        kp_voters_record m;
        ok = kp_voters_record_decode(&rd, 0, &m) == 0 && !rd.err;
        if (ok) {
            printf(" KRaftVoters {\"version\":%d,\"voters\":[", m.version);
            for (int32_t i = 0; i < m.voters_n; i++) {
                const kp_voters_record_voter *v = &m.voters[i];
                printf("%s{\"voterId\":%" PRId32 ",\"voterDirectoryId\":", i ? "," : "", v->voter_id);
                dl_json_uuid(v->voter_directory_id);
                fputs(",\"endpoints\":[", stdout);
                for (int32_t k = 0; k < v->endpoints_n; k++) {
                    fputs(k ? ",{\"name\":" : "{\"name\":", stdout);
                    dl_json_str(v->endpoints[k].name);
                    fputs(",\"host\":", stdout);
                    dl_json_str(v->endpoints[k].host);
                    printf(",\"port\":%u}", (unsigned)v->endpoints[k].port);
                }
                printf("],\"kRaftVersionFeature\":{\"minSupportedVersion\":%d,\"maxSupportedVersion\":%d}}",
                       v->k_raft_version_feature.min_supported_version,
                       v->k_raft_version_feature.max_supported_version);
            }
            fputs("]}", stdout);
        }
    }
    arena_deinit(&a);
    return ok;
}

/* --cluster-metadata-decoder: a data record's value as Kafka prints it. */
static void dl_print_metadata(const uint8_t *val, int32_t vlen)
{
    arena a;
    arena_init(&a, 1u << 20);
    kp_reader rd;
    int key;
    int16_t version;
    if (!val || mrec_open(&rd, val, vlen, &a, &key, &version) != 0) {
        printf(" payload: (not a metadata record frame: %d bytes)", vlen);
        arena_deinit(&a);
        return;
    }
    const char *name = key < (int)(sizeof dl_mrec_names / sizeof dl_mrec_names[0]) ? dl_mrec_names[key] : NULL;
    if (name)
        printf(" payload: {\"type\":\"%s\",\"version\":%d", name, version);
    else
        printf(" payload: {\"type\":\"UNKNOWN(%d)\",\"version\":%d", key, version);
    dl_mrec_data(&rd, key, version);
    putchar('}');
    arena_deinit(&a);
}

/* The names of a record's headers, comma-separated (rec_iter has checked
 * their framing). */
static void dl_print_header_keys(const krecord *r)
{
    rec_reader h = { .p = r->headers, .len = r->headers_len };
    for (int32_t k = 0; k < r->header_count && !h.err; k++) {
        int32_t n = rd_varint(&h);
        const uint8_t *name = h.p + h.pos;
        rd_skip(&h, n > 0 ? (size_t)n : 0);
        rd_skip_nullable(&h);
        if (!h.err)
            printf("%s%.*s", k ? "," : "", (int)n, (const char *)name);
    }
}

/* One record's line. */
static void dl_record_print(const krecord *r, const batch_info *bi, const dl_opts *o)
{
    bool log_append = bi->attributes & BATCH_ATTR_TIMESTAMP_TYPE;
    bool control = bi->attributes & BATCH_ATTR_CONTROL;
    const char *prefix = "| ";
    if (!o->skip_metadata) {
        printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %d valueSize: %d sequence: %d headerKeys: [",
               r->offset, log_append ? "LogAppendTime" : "CreateTime", r->timestamp, r->key_len,
               r->value_len, dl_seq_add(bi->base_sequence, r->offset_delta));
        dl_print_header_keys(r);
        putchar(']');
        if (control)
            dl_print_control(r->key, r->key_len, r->value, r->value_len);
        prefix = " ";
    }
    if (o->metadata && !control) {
        dl_print_metadata(r->value, r->value_len);
    } else if (o->print_data && !control) {
        if (r->key) {
            printf("%skey: ", prefix);
            fwrite(r->key, 1, (size_t)r->key_len, stdout);
            prefix = " ";
        }
        if (r->value) {
            fputs(" payload: ", stdout);
            fwrite(r->value, 1, (size_t)r->value_len, stdout);
        }
    }
    putchar('\n');
}

/*
 * The records of one batch (p: the batch, total bytes long), walked with the
 * shared record iterator: printed with --deep-iteration/--print-data-log,
 * and their keys put in km with --key-map. A batch whose records cannot be
 * walked is reported on a "| " line when records are printed, on stderr
 * when only the key map wanted them.
 */
static void dl_batch_records(const uint8_t *p, size_t total, size_t pos, const dl_opts *o,
                             dl_consec *cs, rec_iter *it, dl_keymap *km)
{
    bool print = o->deep || o->print_data || o->metadata;
    if (rec_iter_init(it, p, total, RECORDS_MAX_INFLATED) < 0) {
        const char *codec = dl_codec_names[dl_be16(p + 21) & BATCH_ATTR_COMPRESSION_MASK];
        if (print)
            printf("| records could not be decompressed (%s): %s\n", codec, it->err);
        else
            fprintf(stderr, "gregor %s: --key-map: %s: the records of the batch at position %zu "
                    "could not be decompressed (%s): %s; not counted\n", dl_cmd, cs->path, pos,
                    codec, it->err);
        return;
    }
    bool control = it->info.attributes & BATCH_ATTR_CONTROL;
    const uint8_t *start = it->pos;
    int32_t k = 0;
    krecord r;
    int rc;
    while ((rc = rec_iter_next(it, &r)) == 1) {
        k++;
        if (km && !control && r.key)
            dl_keymap_add(km, &r);
        if (!print)
            continue;
        /* As Kafka 4.4's DumpLogSegments: from -1 at the start of each file, so a
         * file whose first record is not offset 0 reports "-1 is followed by". */
        if (r.offset != dl_add(cs->last_offset, 1) && cs->pairs++ < DL_PAIRS_MAX) {
            if (!cs->f)
                cs->f = open_memstream(&cs->text, &cs->len);
            if (cs->f)
                fprintf(cs->f, "  %" PRId64 " is followed by %" PRId64 "\n", cs->last_offset, r.offset);
        }
        cs->last_offset = r.offset;
        dl_record_print(&r, &it->info, o);
    }
    char why[160];
    if (rc < 0)
        snprintf(why, sizeof why, "record %d of the batch could not be decoded: %s", k, it->err);
    else if (k != it->info.record_count || it->pos != it->end)
        snprintf(why, sizeof why, "the batch holds %d records in %zu bytes, its header says %d", k,
                 (size_t)(it->pos - start), it->info.record_count);
    else
        return;
    if (print)
        printf("| %s\n", why);
    else
        fprintf(stderr, "gregor %s: --key-map: %s: batch at position %zu: %s\n", dl_cmd, cs->path,
                pos, why);
}

/* ---- .log ---- */

static bool dl_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Why the batch at p (len bytes left) cannot be walked over, or NULL. */
static const char *dl_batch_frame_check(const uint8_t *p, size_t len, size_t *total)
{
    if (len < BATCH_LOG_OVERHEAD)
        return "fewer bytes than a batch header";
    int32_t blen = (int32_t)dl_be32(p + 8);
    if (blen < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD)
        return "batch length too small";
    *total = (size_t)blen + BATCH_LOG_OVERHEAD;
    if (*total > len)
        return "batch extends past the end of the file";
    if (p[16] != 2)
        return "magic is not 2";
    return NULL;
}

static void dl_batch_line(const uint8_t *p, size_t total, size_t pos)
{
    int16_t attr = (int16_t)dl_be16(p + 21);
    int32_t last_delta = (int32_t)dl_be32(p + 23), base_seq = (int32_t)dl_be32(p + 53);
    uint32_t crc = dl_be32(p + 17);
    bool valid = crc32c(0, p + 21, total - 21) == crc;
    char horizon[48];
    if (attr & BATCH_ATTR_DELETE_HORIZON)
        snprintf(horizon, sizeof horizon, "OptionalLong[%" PRId64 "]", (int64_t)dl_be64(p + 27));
    else
        snprintf(horizon, sizeof horizon, "OptionalLong.empty");
    printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %d baseSequence: %d lastSequence: %d"
           " producerId: %" PRId64 " producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %s"
           " isControl: %s deleteHorizonMs: %s position: %zu %s: %" PRId64 " size: %zu magic: 2"
           " compresscodec: %s crc: %" PRIu32 " isvalid: %s\n",
           (int64_t)dl_be64(p), dl_add((int64_t)dl_be64(p), last_delta), (int32_t)dl_be32(p + 57), base_seq,
           dl_seq_add(base_seq, last_delta), (int64_t)dl_be64(p + 43), (int16_t)dl_be16(p + 51),
           (int32_t)dl_be32(p + 12), attr & BATCH_ATTR_TRANSACTIONAL ? "true" : "false",
           attr & BATCH_ATTR_CONTROL ? "true" : "false", horizon, pos,
           attr & BATCH_ATTR_TIMESTAMP_TYPE ? "LogAppendTime" : "CreateTime", (int64_t)dl_be64(p + 35),
           total, dl_codec_names[attr & BATCH_ATTR_COMPRESSION_MASK], crc, valid ? "true" : "false");
}

/* The base offset a segment file is named after, or -1. */
static int64_t dl_name_offset(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int64_t v = 0;
    int digits = 0;
    for (; base[digits] >= '0' && base[digits] <= '9' && digits < 20; digits++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (base[digits] - '0');
    }
    return digits == 20 && base[digits] == '.' ? v : -1;
}

/* Java's java.io.File normalisation, in place: repeated slashes and a
 * trailing one dropped (Kafka's tool prints paths that way). */
static char *dl_java_path(char *path)
{
    char *q = path;
    for (const char *c = path; *c; c++)
        if (!(c[0] == '/' && (c[1] == '/' || (c[1] == 0 && c != path))))
            *q++ = *c;
    *q = 0;
    return path;
}

/* path as Java's new File(path).getAbsolutePath() gives it: normalised, a
 * relative path put after the working directory. NULL when out of memory. */
static char *dl_abs_path(const char *path)
{
    char cwd[PATH_MAX] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
        cwd[0] = 0;
    size_t n = strlen(cwd) + 1 + strlen(path) + 1;
    char *out = malloc(n);
    if (!out)
        return NULL;
    snprintf(out, n, "%s%s%s", cwd, path[0] == '/' || !cwd[0] ? "" : "/", path);
    return dl_java_path(out);
}

/*
 * The non-consecutive offsets of every file, on stderr: Kafka's tool keeps
 * them in a java.util.HashMap of absolute paths, filled by one
 * computeIfAbsent per pair, and prints it last, so the files come in that
 * map's order (jo_compute_if_absent_order, javaorder.c).
 */
static void dl_gaps_print(dl_gap_list *gl)
{
    if (gl->n == 0)
        return; /* nothing to order (and gl->v may be NULL) */
    int32_t *hash = malloc(sizeof *hash * (gl->n ? gl->n : 1));
    int *calls = malloc(sizeof *calls * (gl->n ? gl->n : 1));
    size_t *ord = malloc(sizeof *ord * (gl->n ? gl->n : 1));
    dl_gaps *v = malloc(sizeof *v * (gl->n ? gl->n : 1));
    bool ok = false;
    if (hash && calls && ord && v) {
        for (size_t i = 0; i < gl->n; i++) {
            hash[i] = jo_string_hash(gl->v[i].path, strlen(gl->v[i].path));
            calls[i] = gl->v[i].pairs; /* one computeIfAbsent per pair */
        }
        ok = jo_compute_if_absent_order(hash, calls, gl->n, ord) == 0;
    }
    if (ok) {
        for (size_t i = 0; i < gl->n; i++)
            v[i] = gl->v[ord[i]];
        memcpy(gl->v, v, sizeof *v * gl->n);
    } else {
        tool_err(dl_cmd, "out of memory: the non-consecutive offsets follow in the order read");
    }
    free(hash);
    free(calls);
    free(ord);
    free(v);
    for (size_t i = 0; i < gl->n; i++) {
        fprintf(stderr, "Non-consecutive offsets in %s\n", gl->v[i].path);
        fwrite(gl->v[i].text, 1, gl->v[i].len, stderr);
        if (gl->v[i].pairs > DL_PAIRS_MAX)
            fprintf(stderr, "  ... and %d more\n", gl->v[i].pairs - DL_PAIRS_MAX);
        free(gl->v[i].path);
        free(gl->v[i].text);
    }
    free(gl->v);
    memset(gl, 0, sizeof *gl);
}

/* A file's pairs, kept for dl_gaps_print. */
static void dl_gaps_keep(dl_gap_list *gl, dl_consec *cs)
{
    if (!cs->f)
        return;
    fclose(cs->f);
    cs->f = NULL;
    char *abs = dl_abs_path(cs->path);
    if (gl->n == gl->cap) {
        size_t cap = gl->cap ? gl->cap * 2 : 16;
        dl_gaps *v = realloc(gl->v, cap * sizeof *v);
        if (v) {
            gl->v = v;
            gl->cap = cap;
        }
    }
    if (!abs || gl->n == gl->cap) {
        free(abs);
        free(cs->text);
        tool_err(dl_cmd, "out of memory: the non-consecutive offsets of %s are not listed", cs->path);
        return;
    }
    gl->v[gl->n++] = (dl_gaps){ .path = abs, .text = cs->text, .len = cs->len, .pairs = cs->pairs };
}

static int dl_dump_log(const char *path, const dl_opts *o, dl_report *rep, rec_iter *it,
                       dl_keymap *km, dl_gap_list *gaps)
{
    dl_map m;
    if (dl_map_open(path, &m) < 0) {
        tool_err(dl_cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    const char *base = strrchr(path, '/');
    raft_snapshot_id snap;
    if (snapfile_parse_name(base ? base + 1 : path, &snap) == 0)
        printf("Snapshot end offset: %" PRId64 ", epoch: %" PRId32 "\n", snap.end_offset, snap.epoch);
    else
        printf("Log starting offset: %" PRId64 "\n", dl_name_offset(path) >= 0 ? dl_name_offset(path) : 0);
    size_t limit = (uint64_t)o->max_bytes < m.len ? (size_t)o->max_bytes : m.len;
    dl_consec cs = { .last_offset = -1, .path = path };
    size_t pos = 0;
    const char *why = NULL;
    while (pos < limit) {
        size_t total = 0;
        why = dl_batch_frame_check(m.p + pos, limit - pos, &total);
        if (why)
            break;
        dl_batch_line(m.p + pos, total, pos);
        if (o->deep || o->print_data || o->metadata || km)
            dl_batch_records(m.p + pos, total, pos, o, &cs, it, km);
        pos += total;
    }
    if (why && limit == m.len) { /* with --max-bytes a cut batch is expected, as in Kafka */
        const char *name = strrchr(path, '/');
        printf("Found %zu invalid bytes at the end of %s (position %zu: %s)\n", m.len - pos,
               name ? name + 1 : path, pos, why);
    }
    dl_gaps_keep(gaps, &cs);
    dl_map_close(&m);
    if (dl_ends_with(path, ".checkpoint")) {
        /* Gregor's own snapshot reader has the last word on a checkpoint:
         * header first, footer last, offsets and epochs, nothing after. */
        char err[512];
        if (snapfile_read(path, NULL, NULL, err, sizeof err) != 0) {
            tool_err(dl_cmd, "not a valid snapshot: %s", err);
            return 1;
        }
    }
    return 0;
}

/* ---- the batches of a .log, for checking its indexes ---- */

typedef struct dl_span {
    int64_t pos, base, last, max_ts;
} dl_span;

typedef struct dl_spans {
    dl_span *v;
    size_t n, cap;
    bool have_log;
} dl_spans;

/* The .log beside an index file: its batches up to the first invalid byte. */
static int dl_spans_load(const char *index_path, dl_spans *s)
{
    memset(s, 0, sizeof *s);
    char log_path[PATH_MAX];
    const char *dot = strrchr(index_path, '.');
    if (!dot || (size_t)(dot - index_path) + 5 > sizeof log_path)
        return 0;
    snprintf(log_path, sizeof log_path, "%.*s.log", (int)(dot - index_path), index_path);
    dl_map m;
    if (dl_map_open(log_path, &m) < 0)
        return 0;
    s->have_log = true;
    size_t pos = 0, total;
    while (pos < m.len && !dl_batch_frame_check(m.p + pos, m.len - pos, &total)) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 1024;
            dl_span *v = realloc(s->v, s->cap * sizeof *v);
            if (!v) {
                dl_map_close(&m);
                return -1;
            }
            s->v = v;
        }
        const uint8_t *p = m.p + pos;
        s->v[s->n++] = (dl_span){ (int64_t)pos, (int64_t)dl_be64(p),
                                  dl_add((int64_t)dl_be64(p), (int32_t)dl_be32(p + 23)),
                                  (int64_t)dl_be64(p + 35) };
        pos += total;
    }
    dl_map_close(&m);
    return 0;
}

/* The batch starting exactly at pos, or NULL. */
static const dl_span *dl_spans_at_pos(const dl_spans *s, int64_t pos)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo].pos == pos ? &s->v[lo] : NULL;
}

/* The batch holding offset, or NULL. */
static const dl_span *dl_spans_holding(const dl_spans *s, int64_t offset)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].last < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo].base <= offset ? &s->v[lo] : NULL;
}

static void dl_problem(dl_report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dl_problem(dl_report *rep, const char *fmt, ...)
{
    rep->index_problem = true;
    if (rep->lines++ >= DL_PROBLEMS_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(rep->f, fmt, ap);
    va_end(ap);
}

/* ---- .index ---- */

/*
 * Whether entry i of an index (entries of size bytes) is the preallocated
 * zero tail of an active segment: Kafka's rule (an entry at the base offset
 * after the first), plus an all-zero first entry followed by another.
 */
static bool dl_index_entry_unused(const dl_map *m, size_t i, size_t size, int64_t rel)
{
    static const uint8_t zero[DL_TIMEINDEX_ENTRY_BYTES];
    if (i > 0)
        return rel == 0;
    return m->len >= 2 * size && memcmp(m->p, zero, size) == 0 && memcmp(m->p + size, zero, size) == 0;
}

static int dl_dump_index(const char *path, const dl_opts *o, dl_report *rep)
{
    dl_map m;
    if (dl_map_open(path, &m) < 0) {
        tool_err(dl_cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    int64_t base = dl_name_offset(path);
    base = base < 0 ? 0 : base;
    dl_spans s;
    if (dl_spans_load(path, &s) < 0) {
        dl_map_close(&m);
        tool_err(dl_cmd, "out of memory");
        return 1;
    }
    size_t entries = m.len / DL_INDEX_ENTRY_BYTES;
    bool sane = true;
    if (m.len % DL_INDEX_ENTRY_BYTES) {
        dl_problem(rep, "Index file %s is corrupt, found %zu bytes which is neither positive nor a "
                   "multiple of %d.\n", path, m.len, DL_INDEX_ENTRY_BYTES);
        sane = false;
    }
    if (!s.have_log)
        fprintf(stderr, "gregor %s: %s: no .log beside it, entries not checked\n", dl_cmd, path);
    if ((entries == 0 || dl_index_entry_unused(&m, 0, DL_INDEX_ENTRY_BYTES, 0)) && sane)
        printf("%s is empty.\n", path);
    int64_t prev_off = -1, prev_pos = -1;
    bool mismatch_head = false;
    for (size_t i = 0; i < entries; i++) {
        int32_t rel = (int32_t)dl_be32(m.p + i * 8);
        int64_t off = dl_add(base, rel), pos = (int32_t)dl_be32(m.p + i * 8 + 4);
        if (dl_index_entry_unused(&m, i, DL_INDEX_ENTRY_BYTES, rel))
            break;
        if (off <= prev_off || pos <= prev_pos) {
            dl_problem(rep, "Index file %s: entry %zu (offset %" PRId64 " position %" PRId64
                       ") does not increase over the previous one\n", path, i, off, pos);
            sane = false;
        }
        prev_off = off;
        prev_pos = pos;
        const dl_span *b = s.have_log ? dl_spans_at_pos(&s, pos) : NULL;
        if (s.have_log && (!b || b->last != off)) {
            if (!mismatch_head)
                dl_problem(rep, "Mismatches in :%s\n", path);
            mismatch_head = true;
            dl_problem(rep, "  Index offset: %" PRId64 ", log offset: %" PRId64 "%s\n", off,
                       b ? b->last : -1, b ? "" : " (no batch starts at that position)");
            sane = false;
        }
        if (!o->verify_only && !o->sanity_only)
            printf("offset: %" PRId64 " position: %" PRId64 "\n", off, pos);
    }
    if (o->sanity_only && sane)
        printf("%s passed sanity check.\n", path);
    else if (o->sanity_only)
        printf("%s failed sanity check.\n", path);
    free(s.v);
    dl_map_close(&m);
    return 0;
}

/* ---- .timeindex ---- */

static int dl_dump_timeindex(const char *path, const dl_opts *o, dl_report *rep)
{
    dl_map m;
    if (dl_map_open(path, &m) < 0) {
        tool_err(dl_cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    int64_t base = dl_name_offset(path);
    base = base < 0 ? 0 : base;
    dl_spans s;
    if (dl_spans_load(path, &s) < 0) {
        dl_map_close(&m);
        tool_err(dl_cmd, "out of memory");
        return 1;
    }
    size_t entries = m.len / DL_TIMEINDEX_ENTRY_BYTES;
    bool sane = true;
    if (m.len % DL_TIMEINDEX_ENTRY_BYTES) {
        dl_problem(rep, "Time index file %s is corrupt, found %zu bytes which is neither positive nor "
                   "a multiple of %d.\n", path, m.len, DL_TIMEINDEX_ENTRY_BYTES);
        sane = false;
    }
    if (!s.have_log)
        fprintf(stderr, "gregor %s: %s: no .log beside it, entries not checked\n", dl_cmd, path);
    if ((entries == 0 || dl_index_entry_unused(&m, 0, DL_TIMEINDEX_ENTRY_BYTES, 0)) && sane)
        printf("%s is empty.\n", path);
    int64_t prev_ts = -1;
    for (size_t i = 0; i < entries; i++) {
        const uint8_t *e = m.p + i * DL_TIMEINDEX_ENTRY_BYTES;
        int32_t rel = (int32_t)dl_be32(e + 8);
        int64_t ts = (int64_t)dl_be64(e), off = dl_add(base, rel);
        if (dl_index_entry_unused(&m, i, DL_TIMEINDEX_ENTRY_BYTES, rel))
            break;
        const dl_span *b = s.have_log ? dl_spans_holding(&s, off) : NULL;
        if (s.have_log && !b) {
            dl_problem(rep, "The following indexed offsets are not found in the log.\n"
                       "Indexed offset: %" PRId64 ", found log offset: -1 (in %s)\n", off, path);
            sane = false;
        } else if (b && b->max_ts != ts) {
            dl_problem(rep, "Found timestamp mismatch in :%s\n  Index timestamp: %" PRId64
                       ", log timestamp: %" PRId64 "\n", path, ts, b->max_ts);
            sane = false;
        }
        if (prev_ts >= ts) {
            dl_problem(rep, "Found out of order timestamp in :%s\n  Index timestamp: %" PRId64
                       ", Previously indexed timestamp: %" PRId64 "\n", path, ts, prev_ts);
            sane = false;
        }
        prev_ts = ts;
        if (!o->verify_only && !o->sanity_only)
            printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", ts, off);
    }
    if (o->sanity_only)
        printf("%s %s sanity check.\n", path, sane ? "passed" : "failed");
    free(s.v);
    dl_map_close(&m);
    return 0;
}

/* ---- main ---- */

static void dl_usage(FILE *f)
{
    fprintf(f,
            "usage: gregor dump-log --files F1[,F2...] [options]   (kafka-dump-log.sh)\n"
            "Decodes .log, .index and .timeindex files of a partition directory, and KRaft\n"
            "metadata snapshots (.checkpoint); no broker needed.\n"
            "\n"
            "  --files LIST            comma-separated files to dump (repeatable)\n"
            "  --print-data-log        print every record with its key and payload\n"
            "  --deep-iteration        print every record (compressed batches are decompressed)\n"
            "  --skip-record-metadata  with --print-data-log: only keys and payloads\n"
            "  --index-sanity-check    check index files, print only the verdict\n"
            "  --verify-index-only     check index files, print only the problems\n"
            "  --max-bytes N           read at most N bytes of each .log\n"
            "  --cluster-metadata-decoder  every record of a __cluster_metadata .log or a\n"
            "                          .checkpoint as Kafka's JSON payload {type, version, data};\n"
            "                          data only for TopicRecord, RemoveTopicRecord, ConfigRecord,\n"
            "                          FeatureLevelRecord and ProducerIdsRecord\n"
            "  --key-map               (Gregor's own, not in kafka-dump-log.sh) after the dump,\n"
            "                          one line per distinct key of the data records of the .log\n"
            "                          files given: 'key: K offset: O count: C tombstone: T'\n"
            "                          (K as --print-data-log prints it; O, T: its latest\n"
            "                          record's offset and whether its value is null; C: its\n"
            "                          records), in the order of O; then 'keys: N records: M\n"
            "                          duplicates: M-N'. duplicates: 0 means no key appears\n"
            "                          twice (a fully compacted segment). Records without a key\n"
            "                          and transaction markers are not counted.\n"
            "\n"
            "Index problems go to stderr; with --index-sanity-check or --verify-index-only they\n"
            "make the exit status 1, as does a .checkpoint that is not a valid snapshot. A torn or corrupt tail of a .log is reported after the\n"
            "valid batches (exit status 0).\n"
            "\n"
            "Example:\n"
            "  gregor dump-log --print-data-log \\\n"
            "      --files data/orders-0/00000000000000000000.log,data/orders-0/00000000000000000000.index\n");
}

static int dl_parse_args(dl_opts *o, char **files, int *nfiles, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -1;
        if (strcmp(a, "--print-data-log") == 0)
            o->print_data = true;
        else if (strcmp(a, "--deep-iteration") == 0)
            o->deep = true;
        else if (strcmp(a, "--index-sanity-check") == 0)
            o->sanity_only = true;
        else if (strcmp(a, "--verify-index-only") == 0)
            o->verify_only = true;
        else if (strcmp(a, "--skip-record-metadata") == 0)
            o->skip_metadata = true;
        else if (strcmp(a, "--key-map") == 0)
            o->key_map = true;
        else if (strcmp(a, "--cluster-metadata-decoder") == 0)
            o->metadata = true;
        else if (strcmp(a, "--offsets-decoder") == 0 || strcmp(a, "--transaction-log-decoder") == 0 ||
                 strcmp(a, "--remote-log-metadata-decoder") == 0)
            fprintf(stderr, "gregor %s: warning: %s is not supported: printing bytes\n", dl_cmd, a);
        else if (strcmp(a, "--files") == 0 || strncmp(a, "--files=", 8) == 0 ||
                 strcmp(a, "--max-bytes") == 0 || strncmp(a, "--max-bytes=", 12) == 0 ||
                 strcmp(a, "--key-decoder-class") == 0 || strcmp(a, "--value-decoder-class") == 0) {
            const char *v = tool_arg_value(argc, argv, &i);
            if (!v)
                return 2;
            if (a[2] == 'f') {
                char *list = (char *)v; /* argv is ours to cut */
                for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
                    if (*nfiles == DL_FILES_MAX) {
                        tool_err(dl_cmd, "more than %d files", DL_FILES_MAX);
                        return 2;
                    }
                    files[(*nfiles)++] = tok;
                }
            } else if (a[2] == 'm') {
                if (tool_parse_int64(v, &o->max_bytes) < 0 || o->max_bytes < 1) {
                    tool_err(dl_cmd, "--max-bytes: not a positive number: %s", v);
                    return 2;
                }
            } else {
                fprintf(stderr, "gregor %s: warning: %s is not supported: printing bytes\n", dl_cmd, a);
            }
        } else {
            tool_err(dl_cmd, "unknown option %s (see --help)", a);
            return 2;
        }
    }
    if (*nfiles == 0) {
        tool_err(dl_cmd, "--files is required (see --help)");
        return 2;
    }
    return 0;
}

int tool_dump_log_main(int argc, char **argv)
{
    dl_opts o = { .max_bytes = INT64_MAX };
    static char *files[DL_FILES_MAX];
    int nfiles = 0;
    int rc = dl_parse_args(&o, files, &nfiles, argc, argv);
    if (rc < 0) {
        dl_usage(stdout);
        return 0;
    }
    if (rc)
        return rc;
    dl_report rep = { 0 };
    rep.f = open_memstream(&rep.buf, &rep.len);
    if (!rep.f) {
        tool_err(dl_cmd, "out of memory");
        return 1;
    }
    rec_iter it; /* one for all batches: its inflate buffer is reused */
    rec_iter_setup(&it);
    dl_keymap km = { 0 };
    dl_gap_list gaps = { 0 };
    for (int k = 0; k < nfiles; k++) {
        const char *f = files[k];
        char shown[PATH_MAX];
        snprintf(shown, sizeof shown, "%s", f);
        printf("Dumping %s\n", dl_java_path(shown));
        if (dl_ends_with(f, ".log") || dl_ends_with(f, ".checkpoint"))
            rc |= dl_dump_log(f, &o, &rep, &it, o.key_map ? &km : NULL, &gaps);
        else if (dl_ends_with(f, ".index"))
            rc |= dl_dump_index(f, &o, &rep);
        else if (dl_ends_with(f, ".timeindex"))
            rc |= dl_dump_timeindex(f, &o, &rep);
        else
            fprintf(stderr, "Ignoring unknown file %s\n", f);
    }
    if (o.key_map)
        rc |= dl_keymap_print(&km);
    dl_keymap_free(&km);
    rec_iter_deinit(&it);
    fflush(stdout);
    fclose(rep.f);
    if (rep.len)
        fwrite(rep.buf, 1, rep.len, stderr);
    if (rep.lines > DL_PROBLEMS_MAX)
        fprintf(stderr, "... and %d more problem lines\n", rep.lines - DL_PROBLEMS_MAX);
    dl_gaps_print(&gaps);
    free(rep.buf);
    if (rep.index_problem && (o.sanity_only || o.verify_only))
        rc = 1;
    return rc;
}
