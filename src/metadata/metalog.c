/*
 * metalog.c - see metalog.h.
 *
 * The live path and the replay path are the same: a change is encoded as
 * records, appended, and then applied by decoding the bytes just written,
 * so what a restart rebuilds is exactly what the running broker had.
 */
#include "metadata/metalog.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/topic_config.h"
#include "kafka_msgs.h"
#include "proto/batch.h"
#include "proto/batch_build.h"

#define RESOURCE_TOPIC 2
#define META_TOPIC METALOG_TOPIC
#define REPLAY_CHUNK (1 << 20)

struct metalog {
    pthread_mutex_t lock;       /* one writer at a time */
    char apply_error[1200];     /* why the last apply failed, for the replay message */
    plog *log;                  /* owned by logs */
    partition *part;            /* the only writer of log */
    const partition_env *env;   /* for the partitions the records create */
    bool clean;                 /* the last shutdown was clean */
    int64_t next_producer_id;   /* ProducerIdsRecord: first id of the next block */
    topics *topics;
    logmgr *logs;
    const config_set *broker_cfg;
    int32_t node_id;
};

plog *metalog_plog(metalog *m) { return m->log; }
partition *metalog_partition(metalog *m) { return m->part; }

/* ---- record encoding (Kafka's metadata record frame) ----
 * The bodies are the generated kp_*_record codecs (src/proto/kafka.schema). */

static void rec_begin(kp_writer *w, int api_key, int16_t version)
{
    kp_write_uvarint(w, 1); /* frame version */
    kp_write_uvarint(w, (uint32_t)api_key);
    kp_write_uvarint(w, (uint32_t)version); /* record version */
}

static void enc_topic(kp_writer *w, const char *name, kp_uuid id)
{
    kp_topic_record rec;
    kp_topic_record_init(&rec);
    rec.name = kp_str_c(name);
    rec.topic_id = id;
    rec_begin(w, KP_REC_TOPIC_RECORD, 0);
    kp_topic_record_encode(w, 0, &rec);
}

/* Written at version 0: no directories, no ELR. */
static void enc_partition(kp_writer *w, kp_uuid id, int32_t index, int32_t node_id)
{
    int32_t node[1] = { node_id };
    kp_partition_record rec;
    kp_partition_record_init(&rec);
    rec.partition_id = index;
    rec.topic_id = id;
    rec.replicas = node;
    rec.replicas_n = 1;
    rec.isr = node;
    rec.isr_n = 1;
    rec.removing_replicas_n = 0;
    rec.adding_replicas_n = 0;
    rec.leader = node_id;
    rec.leader_epoch = 0;
    rec.partition_epoch = 0;
    rec_begin(w, KP_REC_PARTITION_RECORD, 0);
    kp_partition_record_encode(w, 0, &rec);
}

static void enc_config(kp_writer *w, const char *topic_name, const char *name, const char *value)
{
    kp_config_record rec;
    kp_config_record_init(&rec);
    rec.resource_type = RESOURCE_TOPIC;
    rec.resource_name = kp_str_c(topic_name);
    rec.name = kp_str_c(name);
    rec.value = value ? kp_str_c(value) : KP_STR_NULL;
    rec_begin(w, KP_REC_CONFIG_RECORD, 0);
    kp_config_record_encode(w, 0, &rec);
}

static void enc_remove_topic(kp_writer *w, kp_uuid id)
{
    kp_remove_topic_record rec;
    kp_remove_topic_record_init(&rec);
    rec.topic_id = id;
    rec_begin(w, KP_REC_REMOVE_TOPIC_RECORD, 0);
    kp_remove_topic_record_encode(w, 0, &rec);
}

/* ---- applying records ---- */

static int open_partition(metalog *m, topic *tp, int32_t index, int32_t leader_epoch)
{
    log_config lc;
    topics_read_lock(m->topics);
    topic_config_log(&tp->overrides, m->broker_cfg, &lc);
    topics_read_unlock(m->topics);
    char report[1024] = "";
    plog *log = NULL;
    if (logmgr_partition_open(m->logs, tp->name, index, &lc, &log, report, sizeof(report)) != 0) {
        snprintf(m->apply_error, sizeof(m->apply_error), "cannot open partition %s-%d: %s%s", tp->name, index,
                 report[0] ? report : "unknown error",
                 strstr(report, "Too many open files") ? " (raise the open-files limit: ulimit -n / LimitNOFILE)" : "");
        glog(GLOG_ERROR, "log", "%s", m->apply_error);
        return -1;
    }
    if (report[0] && strstr(report, "recover"))
        glog(strstr(report, "truncat") ? GLOG_WARN : GLOG_INFO, "log", "recovery of %s-%d: %s", tp->name, index, report);
    char why[512];
    partition *p = partition_open(tp, tp->name, index, log, leader_epoch, m->env, m->clean, why, sizeof why);
    if (!p) {
        snprintf(m->apply_error, sizeof(m->apply_error), "cannot open partition %s-%d: out of memory", tp->name, index);
        return -1;
    }
    if (why[0])
        glog(GLOG_WARN, "log", "%s-%d: %s", tp->name, index, why);
    topics_write_lock(m->topics);
    int rc = topic_add_partition_locked(tp, p);
    topics_write_unlock(m->topics);
    if (rc != 0)
        partition_free(p);
    return rc;
}

static int apply_record(metalog *m, const uint8_t *val, int32_t len)
{
    arena a;
    arena_init(&a, 1 << 20);
    kp_reader r;
    kp_reader_init(&r, val, (size_t)len, &a);
    uint32_t frame = kp_read_uvarint(&r), key = kp_read_uvarint(&r);
    uint32_t version = kp_read_uvarint(&r);
    int rc = 0;
    if (r.err || frame != 1) {
        rc = -1;
        goto out;
    }
    /* A type we know at a version we do not: newer than this code. Skipped,
     * like an unknown type, rather than misread. */
    const kp_record_info *ri = key <= INT16_MAX ? kp_record_find_key((int16_t)key) : NULL;
    if (ri && (version < (uint32_t)ri->min_version || version > (uint32_t)ri->max_version)) {
        glog(GLOG_WARN, "meta", "%s version %u not understood, skipped", ri->name, version);
        goto out;
    }
    int16_t v = (int16_t)version;
    switch (key) {
    case KP_REC_TOPIC_RECORD: {
        kp_topic_record rec;
        if (kp_topic_record_decode(&r, v, &rec) != 0 || rec.name.len <= 0) {
            rc = -1;
            break;
        }
        char *cname = arena_strndup(&a, rec.name.ptr, (size_t)rec.name.len);
        topics_write_lock(m->topics);
        topic *tp = topics_insert_locked(m->topics, cname, rec.topic_id);
        topics_write_unlock(m->topics);
        if (!tp)
            glog(GLOG_WARN, "meta", "TopicRecord for existing topic %s ignored", cname);
        break;
    }
    case KP_REC_PARTITION_RECORD: {
        kp_partition_record rec;
        if (kp_partition_record_decode(&r, v, &rec) != 0) {
            rc = -1;
            break;
        }
        topic *tp = topics_get_by_id(m->topics, rec.topic_id);
        if (!tp) {
            glog(GLOG_WARN, "meta", "PartitionRecord for unknown topic id ignored");
            break;
        }
        if (rec.partition_id == topic_nparts(tp))
            rc = open_partition(m, tp, rec.partition_id, rec.leader_epoch);
        topic_unref(tp);
        break;
    }
    case KP_REC_CONFIG_RECORD: {
        kp_config_record rec;
        if (kp_config_record_decode(&r, v, &rec) != 0 || rec.name.len <= 0) {
            rc = -1;
            break;
        }
        if (rec.resource_type != RESOURCE_TOPIC)
            break;
        topic *tp = topics_get(m->topics, rec.resource_name.ptr, rec.resource_name.len);
        if (!tp)
            break;
        char *cname = arena_strndup(&a, rec.name.ptr, (size_t)rec.name.len);
        char *cval = rec.value.len >= 0 ? arena_strndup(&a, rec.value.ptr, (size_t)rec.value.len)
                                        : NULL;
        char err[256];
        topics_write_lock(m->topics);
        if (cval) {
            if (config_set_value(&tp->overrides, cname, cval, CONFIG_SOURCE_TOPIC, err, sizeof(err)) != 0)
                glog(GLOG_WARN, "meta", "topic %s: config record ignored: %s", tp->name, err);
        } else {
            config_reset(&tp->overrides, cname);
        }
        log_config lc;
        topic_config_log(&tp->overrides, m->broker_cfg, &lc);
        topics_write_unlock(m->topics);
        for (int32_t i = 0; i < topic_nparts(tp); i++)
            plog_set_config(topic_partition(tp, i)->log, &lc);
        topic_unref(tp);
        break;
    }
    case KP_REC_PRODUCER_IDS_RECORD: {
        kp_producer_ids_record rec;
        if (kp_producer_ids_record_decode(&r, v, &rec) != 0) {
            rc = -1;
            break;
        }
        if (rec.next_producer_id > m->next_producer_id)
            m->next_producer_id = rec.next_producer_id;
        break;
    }
    case KP_REC_REMOVE_TOPIC_RECORD: {
        kp_remove_topic_record rec;
        /* as before the generated codecs: an undecodable one is ignored */
        topic *tp = kp_remove_topic_record_decode(&r, v, &rec) != 0
                        ? NULL : topics_get_by_id(m->topics, rec.topic_id);
        if (!tp)
            break;
        topics_write_lock(m->topics);
        tp->deleted = true;
        topics_remove_locked(m->topics, tp);
        topics_write_unlock(m->topics);
        topic_unref(tp); /* the logs are deleted when the last user lets go */
        break;
    }
    default:
        glog(GLOG_DEBUG, "meta", "metadata record type %u skipped", key);
        break;
    }
out:
    arena_deinit(&a);
    return rc;
}

/* Walk the records of one uncompressed batch and apply each value. */
static int apply_batch(metalog *m, const uint8_t *p, size_t len)
{
    arena a;
    arena_init(&a, 1 << 16);
    kp_reader r;
    kp_reader_init(&r, p + BATCH_HEADER_BYTES, len - BATCH_HEADER_BYTES, &a);
    int32_t count = (int32_t)((uint32_t)p[57] << 24 | (uint32_t)p[58] << 16 | (uint32_t)p[59] << 8 | p[60]);
    int rc = 0;
    for (int32_t i = 0; i < count && !r.err && rc == 0; i++) {
        int32_t rec_len = kp_read_varint(&r);
        const uint8_t *rec_end = r.pos + rec_len;
        kp_read_int8(&r);
        kp_read_varlong(&r);
        kp_read_varint(&r);
        int32_t klen = kp_read_varint(&r);
        if (klen > 0)
            kp_skip(&r, (size_t)klen);
        int32_t vlen = kp_read_varint(&r);
        const uint8_t *val = r.pos;
        if (vlen < 0 || r.err) {
            rc = -1;
            break;
        }
        kp_skip(&r, (size_t)vlen);
        if (r.err) {
            rc = -1;
            break;
        }
        rc = apply_record(m, val, vlen);
        if (rec_end < r.pos || rec_end > r.end) {
            rc = -1;
            break;
        }
        r.pos = rec_end;
    }
    arena_deinit(&a);
    return r.err ? -1 : rc;
}

static int replay(metalog *m, char *err, size_t errlen)
{
    uint8_t *buf = malloc(REPLAY_CHUNK);
    if (!buf) {
        snprintf(err, errlen, "out of memory replaying the metadata log");
        return -1;
    }
    int64_t off = plog_start_offset(m->log), end = plog_end_offset(m->log), batches = 0;
    int rc = 0;
    while (off < end && rc == 0) {
        plog_slice s;
        if (plog_read(m->log, off, REPLAY_CHUNK, false, &s) != LOG_OK || s.len == 0) {
            if (s.len == 0 && plog_read(m->log, off, REPLAY_CHUNK, true, &s) == LOG_OK && s.len > 0) {
                /* a batch larger than the chunk: metadata batches never are */
                log_segment_unref(s.seg);
            }
            snprintf(err, errlen, "metadata log unreadable at offset %lld", (long long)off);
            rc = -1;
            break;
        }
        ssize_t n = pread(s.fd, buf, (size_t)s.len, s.pos);
        log_segment_unref(s.seg);
        if (n != s.len) {
            snprintf(err, errlen, "reading metadata log: %s", n < 0 ? strerror(errno) : "short read");
            rc = -1;
            break;
        }
        size_t pos = 0;
        while (pos + BATCH_HEADER_BYTES <= (size_t)n) {
            const uint8_t *bp = buf + pos;
            size_t blen = (size_t)batch_length(bp) + BATCH_LOG_OVERHEAD;
            if (pos + blen > (size_t)n)
                break;
            m->apply_error[0] = '\0';
            if (apply_batch(m, bp, blen) != 0) {
                if (m->apply_error[0])
                    snprintf(err, errlen, "replaying the metadata log at offset %lld: %s",
                             (long long)batch_base_offset(bp), m->apply_error);
                else
                    snprintf(err, errlen, "metadata log batch at offset %lld does not decode",
                             (long long)batch_base_offset(bp));
                rc = -1;
                break;
            }
            batches++;
            int32_t lod = (int32_t)((uint32_t)bp[23] << 24 | (uint32_t)bp[24] << 16 | (uint32_t)bp[25] << 8 | bp[26]);
            off = batch_base_offset(bp) + lod + 1;
            pos += blen;
        }
    }
    free(buf);
    if (rc == 0)
        glog(GLOG_INFO, "meta", "replayed %lld metadata batches (offsets %lld..%lld): %d topics",
             (long long)batches, (long long)plog_start_offset(m->log), (long long)end - 1,
             topics_count(m->topics));
    return rc;
}

static void topic_gone(topic *tp, void *ctx)
{
    metalog *m = ctx;
    int n = topic_nparts(tp);
    for (int i = 0; i < n; i++) {
        if (tp->deleted) {
            if (logmgr_partition_delete(m->logs, tp->name, i) != 0)
                glog(GLOG_ERROR, "log", "could not delete the log of %s-%d", tp->name, i);
        }
    }
}

metalog *metalog_open(const char *dir, bool clean, topics *t, logmgr *logs, const partition_env *env,
                      const config_set *broker_cfg, int32_t node_id, char *err, size_t errlen)
{
    (void)dir;
    metalog *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->topics = t;
    m->logs = logs;
    m->broker_cfg = broker_cfg;
    m->node_id = node_id;
    m->env = env;
    m->clean = clean;
    log_config lc;
    log_config_defaults(&lc);
    lc.segment_bytes = 100 << 20;
    lc.verify_on_open = true; /* small, and every topic depends on it */
    char report[1024] = "";
    if (logmgr_partition_open(logs, META_TOPIC, 0, &lc, &m->log, report, sizeof(report)) != 0) {
        snprintf(err, errlen, "cannot open the metadata log: %s", report);
        free(m);
        return NULL;
    }
    if (report[0] && strstr(report, "recover"))
        glog(GLOG_INFO, "meta", "recovery of %s-0: %s", META_TOPIC, report);
    char why[256];
    m->part = partition_open(NULL, META_TOPIC, 0, m->log, 0, env, clean, why, sizeof why);
    if (!m->part) {
        snprintf(err, errlen, "out of memory");
        free(m);
        return NULL;
    }
    topics_set_destructor(t, topic_gone, m);
    if (replay(m, err, errlen) != 0) {
        partition_free(m->part);
        free(m);
        return NULL;
    }
    return m;
}

void metalog_close(metalog *m)
{
    if (!m)
        return;
    partition_free(m->part);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Append the records in w (values back to back, lengths in lens) as one
 * batch, then apply them. Caller holds m->lock. */
static int16_t commit_records(metalog *m, kp_writer *vals, const size_t *ends, int n, int64_t *end_offset)
{
    kp_writer bw;
    kp_writer_init(&bw);
    batch_builder bb;
    int64_t now = clock_now_ms();
    batch_build_begin(&bb, &bw, now);
    size_t start = 0;
    for (int i = 0; i < n; i++) {
        batch_build_add(&bb, now, NULL, -1, vals->buf + start, (int32_t)(ends[i] - start));
        start = ends[i];
    }
    size_t blen = batch_build_end(&bb);
    int16_t code = KERR_NONE;
    if (blen == 0 || vals->err) {
        code = KERR_UNKNOWN_SERVER_ERROR;
        goto out;
    }
    part_result res;
    partition_append(m->part, bw.buf, blen, now, PART_ORIGIN_COORDINATOR, &res);
    int rc = res.log_rc;
    int64_t last = res.last;
    if (rc != LOG_OK) {
        glog(GLOG_ERROR, "meta", "metadata log append failed: %s", plog_failure(m->log) ? plog_failure(m->log) : "?");
        code = KERR_KAFKA_STORAGE_ERROR;
        goto out;
    }
    if (apply_batch(m, bw.buf, blen) != 0) {
        glog(GLOG_ERROR, "meta", "applying metadata records failed");
        code = KERR_UNKNOWN_SERVER_ERROR;
    }
    *end_offset = last + 1;
out:
    kp_writer_deinit(&bw);
    return code;
}

static void random_uuid(kp_uuid *id)
{
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(id->b, 1, 16, f) != 16) {
        uint64_t x = (uint64_t)clock_mono_ns() ^ ((uint64_t)getpid() << 32);
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            id->b[i] = (uint8_t)(x >> 56);
        }
    }
    if (f)
        fclose(f);
    id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40); /* version 4 */
    id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
}

int16_t metalog_check_configs(const metalog_config *cfgs, int ncfgs, char *msg, size_t msglen)
{
    config_set tmp;
    if (topic_config_overrides_init(&tmp) != 0)
        return KERR_UNKNOWN_SERVER_ERROR;
    int16_t code = KERR_NONE;
    for (int i = 0; i < ncfgs && code == KERR_NONE; i++) {
        if (!cfgs[i].value) {
            if (config_find(tmp.defs, tmp.n, cfgs[i].name) < 0) {
                snprintf(msg, msglen, "Unknown topic config name: %s", cfgs[i].name);
                code = KERR_INVALID_CONFIG;
            }
            continue;
        }
        if (config_set_value(&tmp, cfgs[i].name, cfgs[i].value, CONFIG_SOURCE_TOPIC, msg, msglen) != 0)
            code = KERR_INVALID_CONFIG;
    }
    config_set_deinit(&tmp);
    return code;
}

int16_t metalog_allocate_producer_ids(metalog *m, int32_t count, int64_t *first_out, int64_t *end_offset)
{
    pthread_mutex_lock(&m->lock);
    int64_t first = m->next_producer_id;
    kp_producer_ids_record rec;
    kp_producer_ids_record_init(&rec);
    rec.broker_id = m->node_id;
    rec.broker_epoch = -1;
    rec.next_producer_id = first + count;
    kp_writer w;
    kp_writer_init(&w);
    rec_begin(&w, KP_REC_PRODUCER_IDS_RECORD, 0);
    kp_producer_ids_record_encode(&w, 0, &rec);
    size_t end = w.len;
    int16_t code = commit_records(m, &w, &end, 1, end_offset);
    pthread_mutex_unlock(&m->lock);
    kp_writer_deinit(&w);
    if (code == KERR_NONE)
        *first_out = first; /* applying the record moved next_producer_id past the block */
    return code;
}

int16_t metalog_create_topic(metalog *m, const char *name, int32_t nparts, int16_t rf,
                             const metalog_config *cfgs, int ncfgs, kp_uuid *id_out,
                             int64_t *end_offset, char *msg, size_t msglen)
{
    (void)rf;
    int16_t code = metalog_check_configs(cfgs, ncfgs, msg, msglen);
    if (code != KERR_NONE)
        return code;
    pthread_mutex_lock(&m->lock);
    topic *existing = topics_get(m->topics, name, (int)strlen(name));
    if (existing) {
        topic_unref(existing);
        snprintf(msg, msglen, "Topic '%s' already exists.", name);
        pthread_mutex_unlock(&m->lock);
        return KERR_TOPIC_ALREADY_EXISTS;
    }
    kp_uuid id;
    random_uuid(&id);
    kp_writer w;
    kp_writer_init(&w);
    int n = 1 + ncfgs + nparts, k = 0;
    size_t *ends = malloc(sizeof(*ends) * (size_t)n);
    if (!ends) {
        pthread_mutex_unlock(&m->lock);
        kp_writer_deinit(&w);
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    enc_topic(&w, name, id);
    ends[k++] = w.len;
    for (int i = 0; i < ncfgs; i++) {
        enc_config(&w, name, cfgs[i].name, cfgs[i].value);
        ends[k++] = w.len;
    }
    for (int32_t i = 0; i < nparts; i++) {
        enc_partition(&w, id, i, m->node_id);
        ends[k++] = w.len;
    }
    code = commit_records(m, &w, ends, n, end_offset);
    pthread_mutex_unlock(&m->lock);
    free(ends);
    kp_writer_deinit(&w);
    if (code == KERR_NONE) {
        *id_out = id;
        glog(GLOG_INFO, "meta", "created topic %s with %d partitions", name, nparts);
    }
    return code;
}

int16_t metalog_delete_topic(metalog *m, topic *tp, int64_t *end_offset)
{
    pthread_mutex_lock(&m->lock);
    kp_writer w;
    kp_writer_init(&w);
    enc_remove_topic(&w, tp->id);
    size_t end = w.len;
    int16_t code = commit_records(m, &w, &end, 1, end_offset);
    pthread_mutex_unlock(&m->lock);
    kp_writer_deinit(&w);
    if (code == KERR_NONE)
        glog(GLOG_INFO, "meta", "deleted topic %s", tp->name);
    return code;
}

int16_t metalog_add_partitions(metalog *m, topic *tp, int32_t new_total, int64_t *end_offset,
                               char *msg, size_t msglen)
{
    pthread_mutex_lock(&m->lock);
    int32_t cur = topic_nparts(tp);
    if (new_total <= cur) {
        /* Kafka 4's words (ReplicationControlManager) */
        if (new_total == cur)
            snprintf(msg, msglen, "Topic already has %d partition(s).", cur);
        else
            snprintf(msg, msglen, "The topic %s currently has %d partition(s); %d would not be an increase.",
                     tp->name, cur, new_total);
        pthread_mutex_unlock(&m->lock);
        return KERR_INVALID_PARTITIONS;
    }
    int n = new_total - cur;
    kp_writer w;
    kp_writer_init(&w);
    size_t *ends = malloc(sizeof(*ends) * (size_t)n);
    int16_t code = KERR_UNKNOWN_SERVER_ERROR;
    if (ends) {
        for (int i = 0; i < n; i++) {
            enc_partition(&w, tp->id, cur + i, m->node_id);
            ends[i] = w.len;
        }
        code = commit_records(m, &w, ends, n, end_offset);
    }
    pthread_mutex_unlock(&m->lock);
    free(ends);
    kp_writer_deinit(&w);
    return code;
}

int16_t metalog_set_topic_configs(metalog *m, topic *tp, const metalog_config *cfgs, int ncfgs,
                                  int64_t *end_offset, char *msg, size_t msglen)
{
    int16_t code = metalog_check_configs(cfgs, ncfgs, msg, msglen);
    if (code != KERR_NONE || ncfgs == 0)
        return code;
    pthread_mutex_lock(&m->lock);
    kp_writer w;
    kp_writer_init(&w);
    size_t *ends = malloc(sizeof(*ends) * (size_t)ncfgs);
    code = KERR_UNKNOWN_SERVER_ERROR;
    if (ends) {
        for (int i = 0; i < ncfgs; i++) {
            enc_config(&w, tp->name, cfgs[i].name, cfgs[i].value);
            ends[i] = w.len;
        }
        code = commit_records(m, &w, ends, ncfgs, end_offset);
    }
    pthread_mutex_unlock(&m->lock);
    free(ends);
    kp_writer_deinit(&w);
    return code;
}
