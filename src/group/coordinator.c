/*
 * coordinator.c - see coordinator.h: the group registry, __consumer_offsets
 * records (writing, loading, expiring) and the timer thread.
 */
#include "group/coordinator_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/topic_config.h"
#include "broker/broker_config.h"
#include "kafka_msgs.h"
#include "net/conn.h"
#include "proto/batch.h"
#include "proto/records.h"
#include "proto/batch_build.h"

#define KEY_OFFSET_COMMIT 1
#define KEY_GROUP_METADATA 2
#define VALUE_OFFSET_COMMIT 3
#define VALUE_GROUP_METADATA 3

/* grp_str <-> kp_str (the same layout: bytes and a length, -1 for null). */
#define KSTR(s) ((kp_str){ (s).ptr, (s).len })
#define KSTR_NN(s) ((s).len >= 0 ? KSTR(s) : kp_str_c(""))
#define GSTR(s) ((grp_str){ (s).ptr, (s).len })
#define GSTR_NN(s) ((s).len >= 0 ? GSTR(s) : (grp_str){ "", 0 })

/* ---- partition mapping ---- */

/*
 * Kafka reads every string of a request as Java does, new String(bytes,
 * UTF_8): malformed UTF-8 becomes U+FFFD. java_next is JDK 17's decoder
 * (String.decodeUTF8_UTF16) one code point at a time, so that both the
 * bytes Kafka keeps (coord_java_utf8) and the hash it takes agree with it
 * for every input, however broken: how many bytes one U+FFFD stands for
 * is the JDK's choice, not the Unicode standard's.
 */
#define JREPL 0xfffdu

static bool jcont(int b) { return (b & 0xc0) == 0x80; }

/* The next code point of s[*sp..sl); *sp moves past it (to sl when the JDK
 * stops decoding: a truncated sequence at the end). */
static uint32_t java_next(const uint8_t *s, int32_t *sp, int32_t sl)
{
    int32_t i = *sp;
    int b1 = s[i++];
    uint32_t cp = JREPL;
    if (b1 < 0x80) {
        cp = (uint32_t)b1;
    } else if ((b1 & 0xe0) == 0xc0 && (b1 & 0x1e) != 0) {
        if (i < sl) {
            if (jcont(s[i]))
                cp = (uint32_t)(b1 & 0x1f) << 6 | (s[i++] & 0x3f);
        } else {
            i = sl;
        }
    } else if ((b1 & 0xf0) == 0xe0) {
        if (i + 1 < sl) {
            int b2 = s[i], b3 = s[i + 1];
            bool bad2 = (b1 == 0xe0 && (b2 & 0xe0) == 0x80) || !jcont(b2);
            if (bad2 || !jcont(b3)) {
                i += bad2 ? 0 : 1; /* malformed3: 1 or 2 bytes */
            } else {
                uint32_t c = (uint32_t)(b1 & 0x0f) << 12 | (uint32_t)(b2 & 0x3f) << 6 | (uint32_t)(b3 & 0x3f);
                i += 2;
                cp = c >= 0xd800 && c <= 0xdfff ? JREPL : c;
            }
        } else if (i < sl && ((b1 == 0xe0 && (s[i] & 0xe0) == 0x80) || !jcont(s[i]))) {
            /* one U+FFFD; the next byte is read again */
        } else {
            i = sl;
        }
    } else if ((b1 & 0xf8) == 0xf0) {
        if (i + 2 < sl) {
            int b2 = s[i], b3 = s[i + 1], b4 = s[i + 2];
            uint32_t c = (uint32_t)(b1 & 0x07) << 18 | (uint32_t)(b2 & 0x3f) << 12 | (uint32_t)(b3 & 0x3f) << 6 |
                         (uint32_t)(b4 & 0x3f);
            if (!jcont(b2) || !jcont(b3) || !jcont(b4) || c < 0x10000 || c > 0x10ffff) {
                /* malformed4: 1, 2 or 3 bytes */
                if (b1 > 0xf4 || (b1 == 0xf0 && (b2 < 0x90 || b2 > 0xbf)) || (b1 == 0xf4 && (b2 & 0xf0) != 0x80) ||
                    !jcont(b2))
                    ;
                else if (!jcont(b3))
                    i += 1;
                else
                    i += 2;
            } else {
                cp = c;
                i += 3;
            }
        } else if (b1 > 0xf4 || (i < sl && ((b1 == 0xf0 && (s[i] < 0x90 || s[i] > 0xbf)) ||
                                            (b1 == 0xf4 && (s[i] & 0xf0) != 0x80) || !jcont(s[i])))) {
            /* one U+FFFD for the lead byte */
        } else {
            i++;
            if (!(i < sl && !jcont(s[i])))
                i = sl;
        }
    }
    *sp = i < sl ? i : sl;
    return cp;
}

int32_t coord_java_utf8(const char *p, int32_t len, char *out)
{
    const uint8_t *s = (const uint8_t *)p;
    int32_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp = java_next(s, &i, len);
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xc0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xe0 | cp >> 12);
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else {
            out[o++] = (char)(0xf0 | cp >> 18);
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return o;
}

bool coord_java_utf8_same(const char *p, int32_t len)
{
    const uint8_t *s = (const uint8_t *)p;
    int32_t i = 0;
    while (i < len) {
        int32_t at = i;
        uint32_t cp = java_next(s, &i, len);
        int32_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (cp == JREPL && (i - at != 3 || memcmp(s + at, "\xef\xbf\xbd", 3) != 0))
            return false;
        if (i - at != n)
            return false;
    }
    return true;
}

int32_t coord_java_length(const char *p, int32_t len)
{
    int32_t i = 0, n = 0;
    while (i < len)
        n += java_next((const uint8_t *)p, &i, len) >= 0x10000 ? 2 : 1;
    return n;
}

/* Java's String.hashCode of the string Kafka decodes from these bytes. */
static int32_t java_hash(const char *p, int32_t len)
{
    const uint8_t *s = (const uint8_t *)p;
    uint32_t h = 0;
    int32_t i = 0;
    while (i < len) {
        uint32_t cp = java_next(s, &i, len);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xd800 + (cp >> 10));
            h = 31 * h + (0xdc00 + (cp & 0x3ff));
        } else {
            h = 31 * h + cp;
        }
    }
    return (int32_t)h;
}

int32_t coord_partition_for(const char *group_id, int32_t len, int32_t partitions)
{
    int32_t h = java_hash(group_id, len);
    int32_t a = h == INT32_MIN ? 0 : (h < 0 ? -h : h); /* Kafka's Utils.abs */
    return a % partitions;
}

/* ---- registry ---- */

/* Byte order, then length: the registry's order (any byte may be NUL). */
static int id_cmp(const char *a, int32_t alen, const char *b, int32_t blen)
{
    int32_t n = alen < blen ? alen : blen;
    int r = n > 0 ? memcmp(a, b, (size_t)n) : 0;
    return r != 0 ? r : (alen > blen) - (alen < blen);
}

static int find_idx(coordinator *c, const char *id, int32_t id_len)
{
    int lo = 0, hi = c->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int r = id_cmp(c->groups[mid]->id, c->groups[mid]->id_len, id, id_len);
        if (r == 0)
            return mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

cgroup *coord_group_find(coordinator *c, const char *id, int32_t id_len)
{
    int i = find_idx(c, id, id_len);
    return i >= 0 ? c->groups[i] : NULL;
}

cgroup *coord_group_get_or_create(coordinator *c, const char *id, int32_t id_len)
{
    if (id_len < 0)
        return NULL;
    int i = find_idx(c, id, id_len);
    if (i >= 0)
        return c->groups[i];
    i = -i - 1;
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        cgroup **ng = realloc(c->groups, sizeof(*ng) * (size_t)cap);
        if (!ng)
            return NULL;
        c->groups = ng;
        c->cap = cap;
    }
    cgroup *cg = calloc(1, sizeof(*cg));
    if (!cg)
        return NULL;
    cg->id = malloc((size_t)id_len + 1);
    if (cg->id) {
        memcpy(cg->id, id, (size_t)id_len);
        cg->id[id_len] = '\0';
    }
    cg->id_len = id_len;
    cg->g = cg->id ? grp_new((grp_str){ cg->id, id_len }, &c->lim) : NULL;
    if (!cg->id || !cg->g) {
        free(cg->id);
        grp_free(cg->g);
        free(cg);
        return NULL;
    }
    cg->part = coord_partition_for(id, id_len, c->nparts);
    cg->empty_since_ms = clock_now_ms();
    memmove(&c->groups[i + 1], &c->groups[i], sizeof(cgroup *) * (size_t)(c->n - i));
    c->groups[i] = cg;
    c->n++;
    return cg;
}

static void committed_free(committed *o)
{
    free(o->topic);
    free(o->metadata);
}

void coord_group_remove(coordinator *c, cgroup *cg)
{
    int i = find_idx(c, cg->id, cg->id_len);
    if (i < 0 || c->groups[i] != cg)
        return;
    memmove(&c->groups[i], &c->groups[i + 1], sizeof(cgroup *) * (size_t)(c->n - i - 1));
    c->n--;
    for (int j = 0; j < cg->noffs; j++)
        committed_free(&cg->offs[j]);
    free(cg->offs);
    for (int j = 0; j < cg->ntoffs; j++)
        committed_free(&cg->toffs[j].c);
    free(cg->toffs);
    grp_free(cg->g);
    free(cg->id);
    free(cg);
}

static bool committed_is(const committed *o, const char *tname, int tname_len, int32_t pidx)
{
    return o->partition == pidx && (int)strlen(o->topic) == tname_len && memcmp(o->topic, tname, (size_t)tname_len) == 0;
}

committed *coord_offset_find(cgroup *cg, const char *tname, int tname_len, int32_t pidx)
{
    for (int i = 0; i < cg->noffs; i++)
        if (committed_is(&cg->offs[i], tname, tname_len, pidx))
            return &cg->offs[i];
    return NULL;
}

static int offset_set(cgroup *cg, const char *tname, int tname_len, int32_t pidx, int64_t offset,
                      int32_t epoch, const char *meta, int meta_len, int64_t commit_ts, int64_t expire_ts)
{
    committed *o = coord_offset_find(cg, tname, tname_len, pidx);
    char *m = malloc(meta_len > 0 ? (size_t)meta_len + 1 : 1);
    if (!m)
        return -1;
    if (meta_len > 0)
        memcpy(m, meta, (size_t)meta_len);
    m[meta_len > 0 ? meta_len : 0] = '\0';
    if (!o) {
        if (cg->noffs == cg->capoffs) {
            int cap = cg->capoffs ? cg->capoffs * 2 : 8;
            committed *no = realloc(cg->offs, sizeof(*no) * (size_t)cap);
            if (!no) {
                free(m);
                return -1;
            }
            cg->offs = no;
            cg->capoffs = cap;
        }
        o = &cg->offs[cg->noffs];
        memset(o, 0, sizeof(*o));
        o->topic = strndup(tname, (size_t)tname_len);
        if (!o->topic) {
            free(m);
            return -1;
        }
        o->partition = pidx;
        cg->noffs++;
    }
    free(o->metadata);
    o->metadata = m;
    o->metadata_len = meta_len > 0 ? meta_len : 0;
    o->offset = offset;
    o->leader_epoch = epoch;
    o->commit_ts_ms = commit_ts;
    o->expire_ts_ms = expire_ts;
    return 0;
}

static int txn_offset_add(cgroup *cg, int64_t pid, const char *tname, int tname_len, int32_t pidx,
                          int64_t offset, int32_t epoch, const char *meta, int meta_len, int64_t commit_ts)
{
    txn_committed *t = NULL;
    for (int i = 0; i < cg->ntoffs && !t; i++)
        if (cg->toffs[i].pid == pid && committed_is(&cg->toffs[i].c, tname, tname_len, pidx))
            t = &cg->toffs[i];
    char *m = malloc(meta_len > 0 ? (size_t)meta_len + 1 : 1);
    if (!m)
        return -1;
    if (meta_len > 0)
        memcpy(m, meta, (size_t)meta_len);
    m[meta_len > 0 ? meta_len : 0] = '\0';
    if (!t) {
        if (cg->ntoffs == cg->captoffs) {
            int cap = cg->captoffs ? cg->captoffs * 2 : 8;
            txn_committed *nt = realloc(cg->toffs, sizeof(*nt) * (size_t)cap);
            if (!nt) {
                free(m);
                return -1;
            }
            cg->toffs = nt;
            cg->captoffs = cap;
        }
        t = &cg->toffs[cg->ntoffs];
        memset(t, 0, sizeof(*t));
        t->pid = pid;
        t->c.topic = strndup(tname, (size_t)tname_len);
        if (!t->c.topic) {
            free(m);
            return -1;
        }
        t->c.partition = pidx;
        cg->ntoffs++;
    }
    free(t->c.metadata);
    t->c.metadata = m;
    t->c.metadata_len = meta_len > 0 ? meta_len : 0;
    t->c.offset = offset;
    t->c.leader_epoch = epoch;
    t->c.commit_ts_ms = commit_ts;
    t->c.expire_ts_ms = -1;
    return 0;
}

/* The transaction of pid ended: its offsets become committed, or go. */
static void txn_offsets_complete(cgroup *cg, int64_t pid, bool commit)
{
    int k = 0;
    for (int i = 0; i < cg->ntoffs; i++) {
        txn_committed *t = &cg->toffs[i];
        if (t->pid != pid) {
            cg->toffs[k++] = *t;
            continue;
        }
        if (commit)
            offset_set(cg, t->c.topic, (int)strlen(t->c.topic), t->c.partition, t->c.offset, t->c.leader_epoch,
                       t->c.metadata, t->c.metadata_len, t->c.commit_ts_ms, -1);
        committed_free(&t->c);
    }
    cg->ntoffs = k;
}

bool coord_txn_pending(cgroup *cg, const char *tname, int tname_len, int32_t pidx)
{
    for (int i = 0; i < cg->ntoffs; i++)
        if (committed_is(&cg->toffs[i].c, tname, tname_len, pidx))
            return true;
    return false;
}

static void txn_marker_locked(coordinator *c, int32_t part, int64_t pid, bool commit)
{
    for (int i = 0; i < c->n; i++)
        if (c->groups[i]->part == part && c->groups[i]->ntoffs > 0)
            txn_offsets_complete(c->groups[i], pid, commit);
}

int32_t coord_offsets_partition(coordinator *c, const char *group_id)
{
    pthread_mutex_lock(&c->lock);
    int32_t part = coord_ensure_topic(c) == KERR_NONE ? coord_partition_for(group_id, (int32_t)strlen(group_id), c->nparts) : -1;
    pthread_mutex_unlock(&c->lock);
    return part;
}

void coord_txn_marker(coordinator *c, int32_t part, int64_t pid, bool commit)
{
    pthread_mutex_lock(&c->lock);
    txn_marker_locked(c, part, pid, commit);
    pthread_mutex_unlock(&c->lock);
}

static void offset_remove(cgroup *cg, const char *tname, int tname_len, int32_t pidx)
{
    committed *o = coord_offset_find(cg, tname, tname_len, pidx);
    if (!o)
        return;
    committed_free(o);
    *o = cg->offs[--cg->noffs];
}

/* ---- records ---- */

static void enc_offset_key(kp_writer *w, const cgroup *cg, const char *tname, int tname_len, int32_t pidx)
{
    kp_offset_commit_key k;
    kp_offset_commit_key_init(&k);
    k.group = (kp_str){ cg->id, cg->id_len };
    k.topic = (kp_str){ tname, tname_len };
    k.partition = pidx;
    kp_write_int16(w, KEY_OFFSET_COMMIT);
    kp_offset_commit_key_encode(w, KEY_OFFSET_COMMIT, &k);
}

static void enc_group_key(kp_writer *w, const cgroup *cg)
{
    kp_group_metadata_key k;
    kp_group_metadata_key_init(&k);
    k.group = (kp_str){ cg->id, cg->id_len };
    kp_write_int16(w, KEY_GROUP_METADATA);
    kp_group_metadata_key_encode(w, KEY_GROUP_METADATA, &k);
}

/* Records waiting to be appended as one batch: key/value ranges in kw/vw. */
typedef struct recbuf {
    kp_writer kw, vw;
    size_t *kend, *vend;  /* end offsets per record; vend == SIZE_MAX: null value */
    int n, cap;
} recbuf;

static void recbuf_init(recbuf *rb)
{
    memset(rb, 0, sizeof(*rb));
    kp_writer_init(&rb->kw);
    kp_writer_init(&rb->vw);
}

static void recbuf_deinit(recbuf *rb)
{
    kp_writer_deinit(&rb->kw);
    kp_writer_deinit(&rb->vw);
    free(rb->kend);
    free(rb->vend);
}

static int recbuf_mark(recbuf *rb, bool null_value)
{
    if (rb->n == rb->cap) {
        int cap = rb->cap ? rb->cap * 2 : 16;
        size_t *k = realloc(rb->kend, sizeof(size_t) * (size_t)cap);
        if (!k)
            return -1;
        rb->kend = k;
        size_t *v = realloc(rb->vend, sizeof(size_t) * (size_t)cap);
        if (!v)
            return -1;
        rb->vend = v;
        rb->cap = cap;
    }
    rb->kend[rb->n] = rb->kw.len;
    rb->vend[rb->n] = null_value ? SIZE_MAX : rb->vw.len;
    rb->n++;
    return 0;
}

/* Append rb as one batch to the group's partition. */
static int16_t recbuf_append_as(coordinator *c, int32_t part, recbuf *rb, int64_t pid, int16_t epoch,
                                int64_t *end_offset, partition **log_out, char *why, size_t why_len);

static int16_t recbuf_append(coordinator *c, int32_t part, recbuf *rb, int64_t *end_offset, partition **log_out)
{
    return recbuf_append_as(c, part, rb, -1, -1, end_offset, log_out, NULL, 0);
}

/* Append rb as one batch, transactional for producer pid when pid >= 0. */
static int16_t recbuf_append_as(coordinator *c, int32_t part, recbuf *rb, int64_t pid, int16_t epoch,
                                int64_t *end_offset, partition **log_out, char *why, size_t why_len)
{
    if (rb->n == 0 || !c->offsets)
        return rb->n == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
    partition *p = topic_partition(c->offsets, part);
    if (!p || rb->kw.err || rb->vw.err)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    kp_writer bw;
    kp_writer_init(&bw);
    batch_builder bb;
    int64_t now = clock_now_ms();
    batch_build_begin(&bb, &bw, now);
    size_t ks = 0, vs = 0;
    for (int i = 0; i < rb->n; i++) {
        bool null_v = rb->vend[i] == SIZE_MAX;
        size_t ve = null_v ? vs : rb->vend[i];
        batch_build_add(&bb, now, rb->kw.buf + ks, (int32_t)(rb->kend[i] - ks),
                        null_v ? NULL : rb->vw.buf + vs, null_v ? -1 : (int32_t)(ve - vs));
        ks = rb->kend[i];
        vs = ve;
    }
    if (pid >= 0)
        batch_build_producer(&bb, pid, epoch, -1, BATCH_ATTR_TRANSACTIONAL);
    size_t len = batch_build_end(&bb);
    int16_t code = KERR_NONE;
    part_result res;
    if (len == 0) {
        code = KERR_UNKNOWN_SERVER_ERROR;
    } else if (partition_append(p, bw.buf, len, now, PART_ORIGIN_COORDINATOR, &res), res.error != 0) {
        code = res.error;
        if (why)
            snprintf(why, why_len, "%s", res.why);
    } else if (res.log_rc != LOG_OK) {
        glog(GLOG_ERROR, "group", "writing to %s-%d failed: %s", COORD_TOPIC, part,
             plog_failure(p->log) ? plog_failure(p->log) : "unknown error");
        code = KERR_KAFKA_STORAGE_ERROR;
    } else {
        *end_offset = res.last + 1;
        *log_out = p;
    }
    kp_writer_deinit(&bw);
    return code;
}

/* OffsetCommit records for in[0..n) of cg into rb. Value v1 carries an
 * explicit expiry (OffsetCommit v2-4 retention_time_ms), v3 none. */
static int enc_commits(recbuf *rb, cgroup *cg, const commit_in *in, int n, int64_t now_ms, int64_t expire_ts_ms)
{
    int16_t vver = expire_ts_ms >= 0 ? 1 : VALUE_OFFSET_COMMIT;
    for (int i = 0; i < n; i++) {
        enc_offset_key(&rb->kw, cg, in[i].topic, in[i].topic_len, in[i].partition);
        kp_offset_commit_value v;
        kp_offset_commit_value_init(&v);
        v.offset = in[i].offset;
        v.leader_epoch = in[i].leader_epoch;
        v.metadata = in[i].metadata_len >= 0 ? (kp_str){ in[i].metadata, in[i].metadata_len } : kp_str_c("");
        v.commit_timestamp = in[i].commit_ts_set ? in[i].commit_ts_ms : now_ms;
        v.expire_timestamp = expire_ts_ms;
        kp_write_int16(&rb->vw, vver);
        kp_offset_commit_value_encode(&rb->vw, vver, &v);
        if (recbuf_mark(rb, false) != 0)
            return -1;
    }
    return 0;
}

int16_t coord_commit(coordinator *c, cgroup *cg, const commit_in *in, int n, int64_t now_ms,
                     int64_t expire_ts_ms, int64_t *end_offset, partition **log_out)
{
    recbuf rb;
    recbuf_init(&rb);
    if (enc_commits(&rb, cg, in, n, now_ms, expire_ts_ms) != 0) {
        recbuf_deinit(&rb);
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    int16_t code = recbuf_append(c, cg->part, &rb, end_offset, log_out);
    recbuf_deinit(&rb);
    if (code != KERR_NONE)
        return code;
    for (int i = 0; i < n; i++)
        if (offset_set(cg, in[i].topic, in[i].topic_len, in[i].partition, in[i].offset, in[i].leader_epoch,
                       in[i].metadata, in[i].metadata_len, in[i].commit_ts_set ? in[i].commit_ts_ms : now_ms,
                       expire_ts_ms) != 0)
            return KERR_UNKNOWN_SERVER_ERROR;
    return KERR_NONE;
}

int16_t coord_txn_commit(coordinator *c, cgroup *cg, int64_t pid, int16_t epoch, const commit_in *in, int n,
                         int64_t now_ms, int64_t *end_offset, partition **log_out, char *why, size_t why_len)
{
    recbuf rb;
    recbuf_init(&rb);
    if (enc_commits(&rb, cg, in, n, now_ms, -1) != 0) {
        recbuf_deinit(&rb);
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    int16_t code = recbuf_append_as(c, cg->part, &rb, pid, epoch, end_offset, log_out, why, why_len);
    recbuf_deinit(&rb);
    if (code != KERR_NONE)
        return code;
    for (int i = 0; i < n; i++)
        if (txn_offset_add(cg, pid, in[i].topic, in[i].topic_len, in[i].partition, in[i].offset,
                           in[i].leader_epoch, in[i].metadata, in[i].metadata_len, now_ms) != 0)
            return KERR_UNKNOWN_SERVER_ERROR;
    return KERR_NONE;
}

int16_t coord_delete_offsets(coordinator *c, cgroup *cg, const commit_in *which, int n,
                             int64_t *end_offset, partition **log_out)
{
    recbuf rb;
    recbuf_init(&rb);
    int total = n < 0 ? cg->noffs : n;
    for (int i = 0; i < total; i++) {
        const char *t = n < 0 ? cg->offs[i].topic : which[i].topic;
        int tl = n < 0 ? (int)strlen(t) : which[i].topic_len;
        int32_t p = n < 0 ? cg->offs[i].partition : which[i].partition;
        enc_offset_key(&rb.kw, cg, t, tl, p);
        if (recbuf_mark(&rb, true) != 0) {
            recbuf_deinit(&rb);
            return KERR_UNKNOWN_SERVER_ERROR;
        }
    }
    int16_t code = recbuf_append(c, cg->part, &rb, end_offset, log_out);
    recbuf_deinit(&rb);
    if (code != KERR_NONE)
        return code;
    if (n < 0) {
        while (cg->noffs > 0)
            offset_remove(cg, cg->offs[0].topic, (int)strlen(cg->offs[0].topic), cg->offs[0].partition);
    } else {
        for (int i = 0; i < n; i++)
            offset_remove(cg, which[i].topic, which[i].topic_len, which[i].partition);
    }
    return KERR_NONE;
}

/* Write the group's metadata record (a tombstone when Dead). */
static void persist_group(coordinator *c, cgroup *cg, bool tombstone)
{
    if (coord_ensure_topic(c) != KERR_NONE)
        return;
    recbuf rb;
    recbuf_init(&rb);
    enc_group_key(&rb.kw, cg);
    if (!tombstone) {
        grp_snapshot s;
        grp_snapshot_get(cg->g, &s);
        kp_group_metadata_value v;
        kp_group_metadata_value_init(&v);
        v.protocol_type = KSTR_NN(s.protocol_type);
        v.generation = s.generation;
        v.protocol = KSTR(s.protocol_name);
        v.leader = KSTR(s.leader);
        v.current_state_timestamp = clock_now_ms(); /* the machine's clock is monotonic */
        kp_group_metadata_value_member_metadata *ms = calloc((size_t)(s.nmembers ? s.nmembers : 1), sizeof(*ms));
        v.members = ms;
        v.members_n = ms ? s.nmembers : 0;
        for (int i = 0; i < v.members_n; i++) {
            const grp_snapshot_member *m = &s.members[i];
            kp_group_metadata_value_member_metadata_init(&ms[i]);
            ms[i].member_id = KSTR_NN(m->member_id);
            ms[i].group_instance_id = KSTR(m->group_instance_id);
            ms[i].client_id = KSTR_NN(m->client_id);
            ms[i].client_host = KSTR_NN(m->client_host);
            ms[i].rebalance_timeout = m->rebalance_timeout_ms;
            ms[i].session_timeout = m->session_timeout_ms;
            ms[i].subscription = (kp_bytes){ m->subscription.ptr, m->subscription.len };
            ms[i].assignment = (kp_bytes){ m->assignment.ptr, m->assignment.len };
        }
        kp_write_int16(&rb.vw, VALUE_GROUP_METADATA);
        kp_group_metadata_value_encode(&rb.vw, VALUE_GROUP_METADATA, &v);
        free(ms);
    }
    recbuf_mark(&rb, tombstone);
    int64_t end;
    partition *log;
    if (recbuf_append(c, cg->part, &rb, &end, &log) == KERR_NONE) {
        /* Group metadata is rebuilt by rejoining members if lost, so it is
         * flushed in the background rather than waited for. */
        partition_wait_durable(log, end, NULL, NULL, NULL);
    }
    recbuf_deinit(&rb);
}

int16_t coord_delete_group(coordinator *c, cgroup *cg)
{
    int64_t end;
    partition *log = NULL;
    int16_t code = KERR_NONE;
    if (cg->noffs > 0)
        code = coord_delete_offsets(c, cg, NULL, -1, &end, &log);
    if (code == KERR_NONE) {
        persist_group(c, cg, true);
        glog(GLOG_INFO, "group", "group %s deleted", cg->id);
        coord_group_remove(c, cg);
    }
    return code;
}

/* ---- actions ---- */

static void complete_cb(reactor *r, void *arg)
{
    (void)r;
    conn_req_complete(arg);
}

static void answer_join(const grp_action *a)
{
    req *rq = a->token;
    kp_join_group_resp resp;
    kp_join_group_resp_init(&resp);
    resp.error_code = a->error;
    resp.generation_id = a->generation_id;
    resp.protocol_type = KSTR(a->protocol_type);
    resp.protocol_name = KSTR(a->protocol_name);
    if (rq->hdr.api_version < 7 && resp.protocol_name.len < 0)
        resp.protocol_name = kp_str_c("");
    resp.leader = KSTR_NN(a->leader_id);
    resp.member_id = KSTR_NN(a->member_id);
    resp.skip_assignment = a->skip_assignment;
    kp_join_group_resp_member *ms = calloc((size_t)(a->nmembers ? a->nmembers : 1), sizeof(*ms));
    resp.members = ms;
    resp.members_n = ms ? a->nmembers : 0;
    for (int i = 0; i < resp.members_n; i++) {
        kp_join_group_resp_member_init(&ms[i]);
        ms[i].member_id = KSTR_NN(a->members[i].member_id);
        ms[i].group_instance_id = KSTR(a->members[i].group_instance_id);
        ms[i].metadata = (kp_bytes){ a->members[i].metadata.ptr, a->members[i].metadata.len };
    }
    conn_resp_begin(rq);
    kp_join_group_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    free(ms);
    reactor_post(conn_reactor(rq->conn), complete_cb, rq);
}

static void answer_sync(const grp_action *a)
{
    req *rq = a->token;
    kp_sync_group_resp resp;
    kp_sync_group_resp_init(&resp);
    resp.error_code = a->error;
    resp.protocol_type = KSTR(a->protocol_type);
    resp.protocol_name = KSTR(a->protocol_name);
    resp.assignment = (kp_bytes){ a->assignment.ptr ? a->assignment.ptr : (const uint8_t *)"", a->assignment.len > 0 ? a->assignment.len : 0 };
    conn_resp_begin(rq);
    kp_sync_group_resp_encode(&rq->out, rq->hdr.api_version, &resp);
    reactor_post(conn_reactor(rq->conn), complete_cb, rq);
}

void coord_run_actions(coordinator *c, cgroup *cg)
{
    bool persist = false;
    for (int i = 0; i < c->acts.n; i++) {
        const grp_action *a = &c->acts.v[i];
        switch (a->kind) {
        case GRP_ACT_JOIN_RESPONSE: answer_join(a); break;
        case GRP_ACT_SYNC_RESPONSE: answer_sync(a); break;
        case GRP_ACT_PERSIST: persist = true; break;
        case GRP_ACT_MEMBER_REMOVED:
            glog(GLOG_INFO, "group", "group %s: member %s removed: %s", cg->id,
                 a->member_id.len >= 0 ? a->member_id.ptr : "?", a->reason ? a->reason : "");
            break;
        default: break;
        }
    }
    grp_actions_reset(&c->acts);
    if (persist) {
        if (grp_state(cg->g) == GRP_EMPTY)
            cg->empty_since_ms = clock_now_ms();
        persist_group(c, cg, false);
    }
}

/* ---- the offsets topic ---- */

static void reconcile_locked(coordinator *c);

static int16_t find_topic(coordinator *c, bool create)
{
    if (c->offsets)
        return KERR_NONE;
    topic *tp = topics_get(c->env.topics, COORD_TOPIC, (int)strlen(COORD_TOPIC));
    if (!tp && !create)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if (!tp) {
        char seg[32];
        snprintf(seg, sizeof seg, "%lld", (long long)config_get_num(c->env.cfg, BCFG_OFFSETS_TOPIC_SEGMENT_BYTES));
        const char *const cfgs[] = {
            "cleanup.policy", "compact",
            "segment.bytes", seg,
            "compression.type", "producer",
        };
        char msg[256];
        int16_t code = c->env.create_topic(c->env.ctx, COORD_TOPIC, c->nparts, cfgs, 3, msg, sizeof msg);
        if (code != KERR_NONE && code != KERR_TOPIC_ALREADY_EXISTS) {
            glog(GLOG_ERROR, "group", "cannot create %s: %s %s", COORD_TOPIC, kerr_name(code), msg);
            return KERR_COORDINATOR_NOT_AVAILABLE;
        }
        tp = topics_get(c->env.topics, COORD_TOPIC, (int)strlen(COORD_TOPIC));
        if (!tp)
            return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    /* A topic the metadata publisher is still adding partitions to (a
     * cluster creates it through the controller) is not taken yet: group
     * ids must never be hashed over a partial count. */
    int32_t in_image = c->env.committed_partitions ? c->env.committed_partitions(c->env.ctx, COORD_TOPIC)
                                                   : topic_nparts(tp);
    if (topic_nparts(tp) <= 0 || topic_nparts(tp) != in_image) {
        topic_unref(tp);
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (topic_nparts(tp) != c->nparts) {
        /* Kafka keeps the count the topic was created with. */
        c->nparts = topic_nparts(tp);
        for (int i = 0; i < c->n; i++)
            c->groups[i]->part = coord_partition_for(c->groups[i]->id, c->groups[i]->id_len, c->nparts);
    }
    c->offsets = tp;
    reconcile_locked(c);
    return KERR_NONE;
}

int16_t coord_ensure_topic(coordinator *c)
{
    return find_topic(c, true);
}

/* ---- loading ---- */

typedef struct loaded_group {
    char *id;           /* owned, id_len bytes and a NUL */
    int32_t id_len;
    uint8_t *value;     /* GroupMetadata value bytes (owned), NULL: none/tombstone */
    int32_t len;
} loaded_group;

static void load_record(coordinator *c, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen,
                        int64_t pid, loaded_group **lg, int *nlg)
{
    arena a;
    arena_init(&a, 1 << 20);
    kp_reader r;
    kp_reader_init(&r, key, (size_t)klen, &a);
    int16_t kv = kp_read_int16(&r);
    if (kv == 0 || kv == 1) {
        kp_offset_commit_key k;
        kp_offset_commit_key_init(&k);
        if (kp_offset_commit_key_decode(&r, kv, &k) == 0 && k.group.len >= 0 && k.topic.len >= 0) {
            cgroup *cg = coord_group_get_or_create(c, k.group.ptr, k.group.len);
            if (cg && pid >= 0 && vlen >= 0) {
                kp_reader vr;
                kp_reader_init(&vr, val, (size_t)vlen, &a);
                int16_t vv = kp_read_int16(&vr);
                kp_offset_commit_value v;
                kp_offset_commit_value_init(&v);
                if (vv >= 0 && vv <= 4 && kp_offset_commit_value_decode(&vr, vv, &v) == 0)
                    txn_offset_add(cg, pid, k.topic.ptr, k.topic.len, k.partition, v.offset, v.leader_epoch,
                                   v.metadata.ptr, v.metadata.len, v.commit_timestamp);
            } else if (cg && vlen < 0) {
                offset_remove(cg, k.topic.ptr, k.topic.len, k.partition);
            } else if (cg) {
                kp_reader vr;
                kp_reader_init(&vr, val, (size_t)vlen, &a);
                int16_t vv = kp_read_int16(&vr);
                kp_offset_commit_value v;
                kp_offset_commit_value_init(&v);
                if (vv >= 0 && vv <= 4 && kp_offset_commit_value_decode(&vr, vv, &v) == 0)
                    offset_set(cg, k.topic.ptr, k.topic.len, k.partition, v.offset, v.leader_epoch,
                               v.metadata.ptr, v.metadata.len, v.commit_timestamp, v.expire_timestamp);
            }
        }
    } else if (kv == 2) {
        kp_group_metadata_key k;
        kp_group_metadata_key_init(&k);
        if (kp_group_metadata_key_decode(&r, kv, &k) == 0 && k.group.len >= 0) {
            char *gid = malloc((size_t)k.group.len + 1);
            if (!gid)
                goto out;
            memcpy(gid, k.group.ptr, (size_t)k.group.len);
            gid[k.group.len] = '\0';
            int i;
            for (i = 0; i < *nlg; i++)
                if (id_cmp((*lg)[i].id, (*lg)[i].id_len, gid, k.group.len) == 0)
                    break;
            if (i == *nlg) {
                loaded_group *n = realloc(*lg, sizeof(**lg) * (size_t)(*nlg + 1));
                if (!n) {
                    free(gid);
                    goto out;
                }
                *lg = n;
                n[i].id = gid;
                n[i].id_len = k.group.len;
                n[i].value = NULL;
                (*nlg)++;
            } else {
                free(gid);
            }
            free((*lg)[i].value);
            (*lg)[i].value = NULL;
            if (vlen >= 0 && ((*lg)[i].value = malloc((size_t)vlen + 1)) != NULL) {
                memcpy((*lg)[i].value, val, (size_t)vlen);
                (*lg)[i].len = vlen;
            }
        }
    }
out:
    arena_deinit(&a);
}

typedef struct load_ctx {
    coordinator *c;
    int32_t part;
    loaded_group **lg;
    int *nlg;
    int64_t pid;        /* the batch's producer when transactional, else -1 */
} load_ctx;

static int load_one(void *arg, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    load_ctx *l = arg;
    if (klen > 0)
        load_record(l->c, key, klen, val, vlen, l->pid, l->lg, l->nlg);
    return 0;
}

static int load_batch(void *arg, const uint8_t *p, size_t len)
{
    load_ctx *l = arg;
    batch_info info;
    batch_peek(p, &info);
    if (info.attributes & BATCH_ATTR_CONTROL) {
        int type = batch_control_type(p, len);
        if (type >= 0)
            txn_marker_locked(l->c, l->part, info.producer_id, type == BATCH_CONTROL_COMMIT);
        return 0;
    }
    l->pid = (info.attributes & BATCH_ATTR_TRANSACTIONAL) ? info.producer_id : -1;
    /* Compressed batches are never written by Gregor; Kafka's own are not read yet. */
    records_each(p, len, RECORDS_MAX_INFLATED, load_one, l);
    return 0;
}

static void load_partition(coordinator *c, partition *p, loaded_group **lg, int *nlg)
{
    load_ctx l = { c, p->index, lg, nlg, -1 };
    partition_scan(p, load_batch, &l);
}

static void restore_group(coordinator *c, loaded_group *l)
{
    cgroup *cg = coord_group_get_or_create(c, l->id, l->id_len);
    if (!cg || !l->value)
        return;
    arena a;
    arena_init(&a, 16 << 20);
    kp_reader r;
    kp_reader_init(&r, l->value, (size_t)l->len, &a);
    int16_t vv = kp_read_int16(&r);
    kp_group_metadata_value v;
    kp_group_metadata_value_init(&v);
    if (vv < 0 || vv > 4 || kp_group_metadata_value_decode(&r, vv, &v) != 0) {
        glog(GLOG_WARN, "group", "group %s: stored metadata does not decode; starting it empty", l->id);
        arena_deinit(&a);
        return;
    }
    int n = v.members_n > 0 ? v.members_n : 0;
    grp_snapshot_member *ms = arena_alloc(&a, sizeof(*ms) * (size_t)(n ? n : 1));
    grp_snapshot s = {
        .protocol_type = GSTR_NN(v.protocol_type),
        .generation = v.generation,
        .protocol_name = GSTR(v.protocol),
        .leader = GSTR(v.leader),
        .current_state_timestamp_ms = v.current_state_timestamp,
        .members = ms,
        .nmembers = ms ? n : 0,
    };
    for (int i = 0; i < s.nmembers; i++) {
        kp_group_metadata_value_member_metadata *m = &v.members[i];
        ms[i].member_id = GSTR_NN(m->member_id);
        ms[i].group_instance_id = GSTR(m->group_instance_id);
        ms[i].client_id = GSTR_NN(m->client_id);
        ms[i].client_host = GSTR_NN(m->client_host);
        ms[i].rebalance_timeout_ms = m->rebalance_timeout >= 0 ? m->rebalance_timeout : m->session_timeout;
        ms[i].session_timeout_ms = m->session_timeout;
        ms[i].subscription = (grp_bytes){ m->subscription.ptr, m->subscription.len };
        ms[i].assignment = (grp_bytes){ m->assignment.ptr, m->assignment.len };
    }
    if (grp_restore(cg->g, &s, clock_mono_ms()) != 0)
        glog(GLOG_WARN, "group", "group %s: could not restore its members; starting it empty", l->id);
    arena_deinit(&a);
}

/* Drop the groups of a partition another broker leads now. Lock held. */
static int unload_partition(coordinator *c, int32_t part)
{
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        cgroup *cg = c->groups[i];
        if (cg->part != part)
            continue;
        grp_abort_pending(cg->g, KERR_NOT_COORDINATOR, &c->acts);
        coord_run_actions(c, cg);
        coord_group_remove(c, cg);
        i--;
        n++;
    }
    return n;
}

/* Coordinate exactly the groups of the partitions this broker leads: load
 * those newly led (or led again at a new epoch) from their logs, drop the
 * others. Lock held. */
static void reconcile_locked(coordinator *c)
{
    atomic_store(&c->moved, false);
    if (!c->offsets)
        return;
    int32_t n = topic_nparts(c->offsets);
    if (n > c->nown) {
        int32_t *no = realloc(c->own, sizeof(*no) * (size_t)n);
        if (!no)
            return;
        for (int32_t i = c->nown; i < n; i++)
            no[i] = -1;
        c->own = no;
        c->nown = n;
    }
    loaded_group *lg = NULL;
    int nlg = 0, loaded = 0, dropped = 0, groups_before = c->n;
    int64_t t0 = clock_mono_ms();
    for (int32_t i = 0; i < n; i++) {
        partition *p = topic_partition(c->offsets, i);
        int32_t want = p && atomic_load(&p->leads) ? p->leader_epoch : -1;
        if (c->own[i] == want)
            continue;
        if (c->own[i] >= 0)
            dropped += unload_partition(c, i);
        c->own[i] = want;
        if (want >= 0) {
            load_partition(c, p, &lg, &nlg);
            loaded++;
        }
    }
    for (int i = 0; i < nlg; i++) {
        restore_group(c, &lg[i]);
        free(lg[i].id);
        free(lg[i].value);
    }
    free(lg);
    if (loaded > 0 || dropped > 0) {
        int64_t noffs = 0;
        for (int i = 0; i < c->n; i++)
            noffs += c->groups[i]->noffs;
        glog(GLOG_INFO, "group", "coordinating %d groups (%lld committed offsets) of %s: loaded %d partitions "
             "(%d groups) in %lld ms, handed over %d groups", c->n, (long long)noffs, COORD_TOPIC, loaded,
             c->n - groups_before + dropped, (long long)(clock_mono_ms() - t0), dropped);
    }
}

int16_t coord_owner_check(coordinator *c, const char *gid, int32_t gid_len, bool create)
{
    int16_t code = find_topic(c, create);
    if (code != KERR_NONE)
        return create ? code : KERR_NONE; /* no topic anywhere: no such group, whoever is asked */
    int32_t part = coord_partition_for(gid, gid_len, c->nparts);
    partition *p = topic_partition(c->offsets, part);
    bool leads = p && atomic_load(&p->leads);
    if (atomic_load(&c->moved) || (part < c->nown && (c->own[part] >= 0) != leads) || (part >= c->nown && leads))
        reconcile_locked(c);
    return part < c->nown && c->own[part] >= 0 ? KERR_NONE : KERR_NOT_COORDINATOR;
}

void coord_leadership_changed(coordinator *c)
{
    if (!c)
        return;
    atomic_store(&c->moved, true);
    pthread_cond_signal(&c->cond);
}

int coord_load(coordinator *c, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    pthread_mutex_lock(&c->lock);
    find_topic(c, false); /* created on first use, as Kafka does */
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* ---- expiry and the timer thread ---- */

/*
 * Which committed offsets of cg have expired (Kafka's rules): in a group
 * without members, those older than offsets.retention.minutes counted from
 * the later of their commit and the moment the group became empty; in a
 * Stable consumer group, those of topics no member subscribes to (KIP-496);
 * an offset with an explicit expiry (OffsetCommit v2-4) at that time.
 */
static bool offset_expired(coordinator *c, cgroup *cg, const committed *o, int64_t now_wall)
{
    bool empty = grp_member_count(cg->g) == 0;
    if (!empty) {
        if (grp_state(cg->g) != GRP_STABLE || !grp_str_is(grp_protocol_type(cg->g), "consumer"))
            return false;
        int nm;
        const grp_member_view *ms = grp_members(cg->g, &nm);
        for (int k = 0; k < nm; k++)
            if (coord_subscription_has(ms[k].metadata.ptr, ms[k].metadata.len, o->topic, (int)strlen(o->topic)))
                return false;
    }
    if (o->expire_ts_ms >= 0)
        return now_wall >= o->expire_ts_ms;
    int64_t base = empty && cg->empty_since_ms > o->commit_ts_ms ? cg->empty_since_ms : o->commit_ts_ms;
    return now_wall - base >= c->retention_ms;
}

/* Tombstones for the offsets of cg that gone_fn picks; returns how many. */
static int drop_offsets(coordinator *c, cgroup *cg, bool (*gone_fn)(coordinator *, cgroup *, const committed *, const void *),
                        const void *arg)
{
    commit_in *gone = calloc((size_t)(cg->noffs ? cg->noffs : 1), sizeof(*gone));
    int ngone = 0;
    for (int j = 0; gone && j < cg->noffs; j++) {
        committed *o = &cg->offs[j];
        if (gone_fn(c, cg, o, arg))
            gone[ngone++] = (commit_in){ strdup(o->topic), (int)strlen(o->topic), o->partition, 0, 0, NULL, 0, false, 0 };
    }
    if (ngone > 0) {
        int64_t end;
        partition *log;
        coord_delete_offsets(c, cg, gone, ngone, &end, &log);
    }
    for (int j = 0; j < ngone; j++)
        free((char *)gone[j].topic);
    free(gone);
    return ngone;
}

static bool gone_by_time(coordinator *c, cgroup *cg, const committed *o, const void *arg)
{
    return offset_expired(c, cg, o, *(const int64_t *)arg);
}

static void expire_offsets(coordinator *c, int64_t now_wall)
{
    for (int i = 0; i < c->n; i++) {
        cgroup *cg = c->groups[i];
        int n = cg->noffs > 0 ? drop_offsets(c, cg, gone_by_time, &now_wall) : 0;
        if (n > 0)
            glog(GLOG_INFO, "group", "group %s: %d committed offsets expired", cg->id, n);
        if (cg->noffs == 0 && grp_state(cg->g) == GRP_EMPTY) {
            persist_group(c, cg, true);
            coord_group_remove(c, cg);
            i--;
        }
    }
}

static bool gone_with_topic(coordinator *c, cgroup *cg, const committed *o, const void *arg)
{
    (void)c;
    (void)cg;
    return strcmp(o->topic, (const char *)arg) == 0;
}

void coord_topic_deleted(coordinator *c, const char *topic_name)
{
    pthread_mutex_lock(&c->lock);
    int total = 0;
    for (int i = 0; i < c->n; i++)
        if (c->groups[i]->noffs > 0)
            total += drop_offsets(c, c->groups[i], gone_with_topic, topic_name);
    pthread_mutex_unlock(&c->lock);
    if (total > 0)
        glog(GLOG_INFO, "group", "topic %s deleted: removed %d committed offsets", topic_name, total);
}

static void *coord_main(void *arg)
{
    coordinator *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        if (atomic_load(&c->moved)) {
            find_topic(c, false); /* the publisher's whole delta is in the table now */
            reconcile_locked(c);
        }
        int64_t now = clock_mono_ms(), next = now + 1000;
        for (int i = 0; i < c->n; i++) {
            cgroup *cg = c->groups[i];
            int64_t d = grp_next_deadline_ms(cg->g);
            if (d <= now) {
                grp_tick(cg->g, now, &c->acts);
                coord_run_actions(c, cg);
                d = grp_next_deadline_ms(cg->g);
            }
            if (d < next)
                next = d;
        }
        if (now >= c->next_expiry_ms) {
            expire_offsets(c, clock_now_ms());
            c->next_expiry_ms = now + c->retention_check_ms;
        }
        int64_t wait = next - clock_mono_ms();
        if (wait <= 0)
            continue;
        struct timespec ts = clock_deadline_in(wait);
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

void coord_kick(coordinator *c)
{
    pthread_cond_signal(&c->cond);
}

coordinator *coord_new(const coord_env *env)
{
    coordinator *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->env = *env;
    const config_set *cfg = env->cfg;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->lim.session_timeout_ms_min = (int32_t)config_get_num(cfg, BCFG_GROUP_MIN_SESSION_TIMEOUT_MS);
    c->lim.session_timeout_ms_max = (int32_t)config_get_num(cfg, BCFG_GROUP_MAX_SESSION_TIMEOUT_MS);
    c->lim.group_size_max = (int32_t)config_get_num(cfg, BCFG_GROUP_MAX_SIZE);
    c->lim.initial_rebalance_delay_ms = (int32_t)config_get_num(cfg, BCFG_GROUP_INITIAL_REBALANCE_DELAY_MS);
    c->nparts = (int32_t)config_get_num(cfg, BCFG_OFFSETS_TOPIC_NUM_PARTITIONS);
    c->retention_ms = config_get_num(cfg, BCFG_OFFSETS_RETENTION_MINUTES) * 60000;
    c->retention_check_ms = config_get_num(cfg, BCFG_OFFSETS_RETENTION_CHECK_INTERVAL_MS);
    c->metadata_bytes_max = (int32_t)config_get_num(cfg, BCFG_OFFSET_METADATA_MAX_BYTES);
    c->commit_timeout_ms = config_get_num(cfg, BCFG_OFFSETS_COMMIT_TIMEOUT_MS);
    c->next_expiry_ms = clock_mono_ms() + c->retention_check_ms;
    return c;
}

int coord_start(coordinator *c)
{
    c->started = pthread_create(&c->thread, NULL, coord_main, c) == 0;
    return c->started ? 0 : -1;
}

void coord_abort_pending(coordinator *c)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++) {
        grp_abort_pending(c->groups[i]->g, KERR_NOT_COORDINATOR, &c->acts);
        coord_run_actions(c, c->groups[i]);
    }
    pthread_mutex_unlock(&c->lock);
}

void coord_stop(coordinator *c)
{
    if (!c || !c->started)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    c->started = false;
}

void coord_free(coordinator *c)
{
    if (!c)
        return;
    while (c->n > 0)
        coord_group_remove(c, c->groups[c->n - 1]);
    free(c->groups);
    free(c->own);
    grp_actions_free(&c->acts);
    topic_unref(c->offsets);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

bool coord_subscription_has(const uint8_t *p, int32_t len, const char *tname, int tname_len)
{
    /* ConsumerProtocolSubscription: int16 version, [string topics], ... */
    arena a;
    arena_init(&a, 1 << 16);
    kp_reader r;
    kp_reader_init(&r, p, len > 0 ? (size_t)len : 0, &a);
    kp_read_int16(&r);
    int32_t n = kp_read_array_len(&r, false, 2);
    bool found = false;
    for (int32_t i = 0; i < n && !r.err && !found; i++) {
        kp_str s = kp_read_string(&r, false);
        found = !r.err && s.len == tname_len && memcmp(s.ptr, tname, (size_t)tname_len) == 0;
    }
    arena_deinit(&a);
    return found;
}
