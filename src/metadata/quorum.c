/*
 * quorum.c - see quorum.h.
 *
 * Every step into the core (raft_receive, raft_tick, raft_durable,
 * raft_propose) happens under q->mu and is followed by run_actions, which
 * carries out the actions in order. Appends are written and fsynced inline
 * (metadata batches are few and small; an fsync under the mutex delays
 * other quorum steps by that fsync, nothing else) and reported durable in
 * the same step, so the order "entry on disk, then its offset in a Fetch"
 * holds without bookkeeping. Messages to peers are encoded under the mutex
 * (the core's messages are borrowed) and handed to the quorum reactor,
 * which owns the clients.
 */
#include "metadata/quorum.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "kafka_msgs.h"
#include "metadata/raftwire.h"
#include "metadata/snapfile.h"
#include "net/client.h"
#include "proto/batch.h"
#include "proto/batch_build.h"

#define Q_TICK_MS 10
#define Q_FETCH_WAIT_MS 500
#define Q_LOAD_CHUNK (1 << 20)
#define Q_TOLD_MAX 64

typedef struct peer {
    struct quorum *q;
    int32_t id;
    char host[256];
    int port;
    client *c;                  /* quorum reactor only */
    int16_t version[5];         /* per raft api (see api_index), -1: unknown; under mu */
} peer;

typedef struct parked_fetch {
    struct parked_fetch *next;
    int32_t from;
    raft_msg req;
    int16_t version;
    int64_t deadline_ms;
    quorum_done_fn done;
    void *arg;
} parked_fetch;

struct quorum {
    pthread_mutex_t mu;
    raft *r;
    raft_actions acts;
    quorum_env env;
    int32_t node_id;
    peer peers[RAFT_VOTERS_MAX];
    int npeers;
    char state_path[4096];
    int64_t committed;          /* entries below this went to on_commit */
    int64_t seen_end, seen_hw;  /* for waking parked fetches */
    parked_fetch *parked;
    reactor_timer tick;
    bool stopping;
    bool stop_called;
    bool failed;                /* quorum-state could not be made durable: this node stops voting */
    kp_writer lc;               /* the LeaderChange batch being proposed */
    int32_t voter_ids[RAFT_VOTERS_MAX];
    int nvoters;
    /* The high watermark last answered to each fetcher: a fetch whose
     * answer carries a newer one is not parked (the fetcher applies up to
     * the HW it knows). Fetchers beyond the table are parked as before. */
    struct { int32_t id; int64_t hw; } told[Q_TOLD_MAX];
    int ntold;
    /* a snapshot being downloaded from the leader (FetchSnapshot) */
    int dl_fd;                  /* -1: none */
    raft_snapshot_id dl_id;
};

static int api_index(int16_t api_key)
{
    switch (api_key) {
    case KP_API_VOTE: return 0;
    case KP_API_BEGIN_QUORUM_EPOCH: return 1;
    case KP_API_END_QUORUM_EPOCH: return 2;
    case KP_API_FETCH: return 3;
    case KP_API_FETCH_SNAPSHOT: return 4;
    default: return -1;
    }
}

int32_t quorum_node_id(const quorum *q) { return q->node_id; }

/* ---- voters ---- */

int quorum_parse_voters(const char *s, quorum_voter *out, int max, char *err, size_t errlen)
{
    int n = 0;
    for (const char *p = s; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char item[400];
        if (l == 0 || l >= sizeof item) {
            snprintf(err, errlen, "controller.quorum.voters: bad entry '%.*s'", (int)l, p);
            return -1;
        }
        memcpy(item, p, l);
        item[l] = '\0';
        p = c ? c + 1 : NULL;
        char *at = strchr(item, '@'), *colon = strrchr(item, ':');
        char *end;
        long id = at ? strtol(item, &end, 10) : -1;
        if (!at || end != at || id < 0 || id > INT32_MAX || !colon || colon < at) {
            snprintf(err, errlen, "controller.quorum.voters: '%s' is not id@host:port", item);
            return -1;
        }
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535) {
            snprintf(err, errlen, "controller.quorum.voters: bad port in '%s'", item);
            return -1;
        }
        if (n == max) {
            snprintf(err, errlen, "controller.quorum.voters: more than %d voters", max);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (out[i].id == id) {
                snprintf(err, errlen, "controller.quorum.voters: voter %ld named twice", id);
                return -1;
            }
        out[n].id = (int32_t)id;
        snprintf(out[n].host, sizeof out[n].host, "%.*s", (int)(colon - at - 1), at + 1);
        if (out[n].host[0] == '[') { /* [v6]:port */
            size_t hl = strlen(out[n].host);
            memmove(out[n].host, out[n].host + 1, hl);
            if (hl >= 2 && out[n].host[hl - 2] == ']')
                out[n].host[hl - 2] = '\0';
        }
        out[n].port = (int)port;
        n++;
    }
    return n;
}

/* ---- quorum-state (Kafka's QuorumStateData as JSON) ---- */

static int write_state(quorum *q, const raft_quorum_state *st)
{
    char tmp[4200], body[1024];
    int n = snprintf(body, sizeof body, "{\"clusterId\":\"\",\"leaderId\":%d,\"leaderEpoch\":%d,\"votedId\":%d,"
                     "\"appliedOffset\":0,\"currentVoters\":[",
                     st->leader_id, st->epoch, st->voted_id);
    for (int i = 0; i < q->nvoters; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, "%s{\"voterId\":%d}", i ? "," : "", q->voter_ids[i]);
    n += snprintf(body + n, sizeof body - (size_t)n, "],\"data_version\":0}");
    snprintf(tmp, sizeof tmp, "%s.tmp", q->state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    bool ok = write(fd, body, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, q->state_path) != 0)
        return -1;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", q->state_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int32_t json_int(const char *s, const char *key, int32_t dflt)
{
    const char *p = strstr(s, key);
    if (!p)
        return dflt;
    p = strchr(p + strlen(key), ':');
    return p ? (int32_t)strtol(p + 1, NULL, 10) : dflt;
}

static void read_state(quorum *q, raft_quorum_state *st)
{
    st->epoch = 0;
    st->leader_id = RAFT_NO_NODE;
    st->voted_id = RAFT_NO_NODE;
    FILE *f = fopen(q->state_path, "r");
    if (!f)
        return;
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    st->epoch = json_int(buf, "\"leaderEpoch\"", 0);
    st->leader_id = json_int(buf, "\"leaderId\"", RAFT_NO_NODE);
    st->voted_id = json_int(buf, "\"votedId\"", RAFT_NO_NODE);
}

/* ---- the log at start ---- */

typedef struct loaded {
    raft_entry *v;
    int n, cap;
} loaded;

static void loaded_free(loaded *l)
{
    for (int i = 0; i < l->n; i++)
        free((void *)l->v[i].payload.ptr);
    free(l->v);
}

static int load_log(quorum *q, loaded *out, char *err, size_t errlen)
{
    plog *log = q->env.log;
    uint8_t *buf = malloc(Q_LOAD_CHUNK);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t off = plog_start_offset(log), end = plog_end_offset(log);
    if (off < q->env.snapshot.end_offset && q->env.snapshot.end_offset <= end)
        off = q->env.snapshot.end_offset; /* batches are not split by a snapshot's end */
    int rc = 0;
    while (off < end && rc == 0) {
        plog_slice s;
        if (plog_read(log, off, Q_LOAD_CHUNK, true, &s) != LOG_OK || s.len == 0) {
            snprintf(err, errlen, "metadata log unreadable at offset %lld", (long long)off);
            rc = -1;
            break;
        }
        size_t want = s.len > Q_LOAD_CHUNK ? Q_LOAD_CHUNK : (size_t)s.len;
        ssize_t n = pread(s.fd, buf, want, s.pos);
        log_segment_unref(s.seg);
        if (n <= 0) {
            snprintf(err, errlen, "reading the metadata log: %s", n < 0 ? strerror(errno) : "short read");
            rc = -1;
            break;
        }
        size_t pos = 0;
        bool progress = false;
        while (pos + BATCH_HEADER_BYTES <= (size_t)n) {
            const uint8_t *bp = buf + pos;
            size_t blen = (size_t)batch_length(bp) + BATCH_LOG_OVERHEAD;
            if (pos + blen > (size_t)n)
                break;
            if (out->n == out->cap) {
                int cap = out->cap ? out->cap * 2 : 64;
                raft_entry *v = realloc(out->v, sizeof(*v) * (size_t)cap);
                if (!v) {
                    rc = -1;
                    snprintf(err, errlen, "out of memory");
                    break;
                }
                out->v = v;
                out->cap = cap;
            }
            uint8_t *copy = malloc(blen);
            if (!copy) {
                rc = -1;
                snprintf(err, errlen, "out of memory");
                break;
            }
            memcpy(copy, bp, blen);
            int32_t lod = (int32_t)((uint32_t)bp[23] << 24 | (uint32_t)bp[24] << 16 | (uint32_t)bp[25] << 8 | bp[26]);
            int32_t epoch = batch_leader_epoch(bp);
            int16_t attrs = (int16_t)((uint16_t)bp[21] << 8 | bp[22]);
            out->v[out->n++] = (raft_entry){
                .offset = batch_base_offset(bp),
                .count = lod + 1,
                .epoch = epoch,
                .control = (attrs & BATCH_ATTR_CONTROL) != 0,
                .payload = { copy, (int32_t)blen },
            };
            off = batch_base_offset(bp) + lod + 1;
            pos += blen;
            progress = true;
            if (out->v[out->n - 1].offset < q->env.snapshot.end_offset) { /* the snapshot has it */
                free(copy);
                out->n--;
            }
        }
        if (!progress && rc == 0) {
            snprintf(err, errlen, "metadata log batch at offset %lld larger than %d bytes", (long long)off,
                     Q_LOAD_CHUNK);
            rc = -1;
        }
    }
    free(buf);
    return rc;
}

/* ---- the LeaderChange batch a new leader appends ---- */

static raft_bytes leader_change_payload(void *ctx, int32_t leader_id, int32_t epoch)
{
    (void)epoch;
    quorum *q = ctx;
    kp_leader_change_message m;
    kp_leader_change_message_init(&m);
    kp_leader_change_message_voter v[RAFT_VOTERS_MAX];
    kp_leader_change_message_granting_voter g[RAFT_VOTERS_MAX];
    for (int i = 0; i < q->nvoters; i++) {
        kp_leader_change_message_voter_init(&v[i]);
        v[i].voter_id = q->voter_ids[i];
        kp_leader_change_message_granting_voter_init(&g[i]);
        g[i].voter_id = q->voter_ids[i];
    }
    m.version = 0;
    m.leader_id = leader_id;
    m.voters = v;
    m.voters_n = q->nvoters;
    m.granting_voters = g;
    m.granting_voters_n = 0;
    kp_writer val;
    kp_writer_init(&val);
    kp_leader_change_message_encode(&val, 0, &m);
    uint8_t key[4] = { 0, 0, 0, 2 }; /* version 0, type LEADER_CHANGE */
    kp_writer_deinit(&q->lc);
    kp_writer_init(&q->lc);
    batch_builder bb;
    int64_t now = clock_now_ms();
    batch_build_begin(&bb, &q->lc, now);
    batch_build_producer(&bb, -1, -1, -1, BATCH_ATTR_CONTROL);
    batch_build_add(&bb, now, key, 4, val.buf, (int32_t)val.len);
    size_t len = batch_build_end(&bb);
    kp_writer_deinit(&val);
    return (raft_bytes){ q->lc.buf, (int32_t)len };
}

/* ---- sending ---- */

typedef struct send_job {
    quorum *q;
    int peer;
    int16_t api_key, version;
    int type;                   /* the request's raft_msg type */
    int64_t fetch_offset;       /* FETCH_REQ: to pair the answer */
    int32_t last_fetched_epoch;
    size_t len;
    uint8_t body[];
} send_job;

static void on_response(client *c, const client_response *resp, void *arg);

static void send_on_reactor(reactor *r, void *arg)
{
    (void)r;
    send_job *j = arg;
    peer *p = &j->q->peers[j->peer];
    if (j->q->stopping || !p->c || client_send(p->c, j->api_key, j->version, j->body, j->len, on_response, j) != 0)
        free(j);
}

static int peer_index(quorum *q, int32_t id)
{
    for (int i = 0; i < q->npeers; i++)
        if (q->peers[i].id == id)
            return i;
    return -1;
}

/* A request of the core's to a peer (under mu). Dropped when the peer is
 * not connected yet: the core sends again on its timers. */
static void send_request(quorum *q, int32_t to, const raft_msg *m)
{
    int pi = peer_index(q, to);
    if (pi < 0)
        return;
    int16_t api = raftwire_api_key(m->type);
    int ai = api_index(api);
    int16_t v = ai >= 0 ? q->peers[pi].version[ai] : -1;
    if (v < 0)
        return;
    if (v > raftwire_max_version(api))
        v = raftwire_max_version(api);
    kp_writer w;
    kp_writer_init(&w);
    if (raftwire_encode_request(m, q->node_id, q->env.cluster_id, v, &w) != 0 || w.err) {
        kp_writer_deinit(&w);
        return;
    }
    send_job *j = malloc(sizeof(*j) + w.len);
    if (j) {
        *j = (send_job){ .q = q, .peer = pi, .api_key = api, .version = v, .type = m->type, .len = w.len };
        if (m->type == RAFT_MSG_FETCH_REQ) {
            j->fetch_offset = m->u.fetch_req.fetch_offset;
            j->last_fetched_epoch = m->u.fetch_req.last_fetched_epoch;
        }
        memcpy(j->body, w.buf, w.len);
        reactor_post(q->env.r, send_on_reactor, j);
    }
    kp_writer_deinit(&w);
}

/* ---- carrying out the core's actions (under mu) ---- */

typedef struct capture {
    int32_t from;               /* the peer whose request is being stepped */
    int want_type;              /* the response type it waits for */
    int16_t api_key, version;
    kp_writer *out;             /* the encoded response goes here */
    bool got;
    raft_msg msg;               /* a copy of the response (no pointers kept for FETCH) */
    int nentries;
} capture;

static void do_append(quorum *q, const raft_action *a)
{
    int64_t now = clock_now_ms();
    for (int i = 0; i < a->nentries; i++) {
        const raft_entry *e = &a->entries[i];
        uint8_t *buf = malloc((size_t)e->payload.len);
        if (!buf) {
            glog(GLOG_ERROR, "raft", "out of memory appending to the metadata log");
            return;
        }
        memcpy(buf, e->payload.ptr, (size_t)e->payload.len);
        int64_t first = -1, last = -1;
        int rc = plog_append(q->env.log, buf, (size_t)e->payload.len, e->epoch, now, &first, &last);
        free(buf);
        if (rc != LOG_OK || first != e->offset) {
            glog(GLOG_ERROR, "raft", "metadata log append at %lld failed (got offset %lld): %s",
                 (long long)e->offset, (long long)first,
                 plog_failure(q->env.log) ? plog_failure(q->env.log) : "offsets out of step");
            return;
        }
    }
    int64_t flushed, t0 = clock_mono_ms();
    if (plog_flush(q->env.log, &flushed) != LOG_OK)
        glog(GLOG_ERROR, "raft", "metadata log fsync failed: %s",
             plog_failure(q->env.log) ? plog_failure(q->env.log) : "?");
    int64_t took = clock_mono_ms() - t0;
    if (took >= 500) /* every quorum step waited for it: elections may follow */
        glog(GLOG_WARN, "raft", "node %d: the metadata log's fsync took %lld ms", quorum_node_id(q), (long long)took);
}

static void do_commit(quorum *q, int64_t hw)
{
    if (hw <= q->committed)
        return;
    int n = 0;
    const raft_entry *e = raft_entries(q->r, q->committed, &n);
    int k = 0;
    while (k < n && e[k].offset < hw)
        k++;
    if (q->env.on_commit)
        q->env.on_commit(q->env.ctx, e, k, hw);
    q->committed = hw;
}

/* ---- snapshots: serving chunks, downloading one (under mu) ---- */

/* A FetchSnapshot answer of the core names the chunk; its bytes come from
 * the file. 0, or -1 when the snapshot is gone (a newer one replaced it). */
static int read_chunk(quorum *q, const raft_fetch_snapshot_resp *p, uint8_t **buf)
{
    char path[4200];
    snapfile_path(path, sizeof path, plog_dir(q->env.log), p->snapshot_id, false);
    *buf = malloc((size_t)p->chunk_len + 1);
    int fd = *buf ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    ssize_t n = fd >= 0 ? pread(fd, *buf, (size_t)p->chunk_len, p->position) : -1;
    if (fd >= 0)
        close(fd);
    if (n != p->chunk_len) {
        glog(GLOG_WARN, "raft", "cannot serve %s at %lld: %s", path, (long long)p->position,
             n < 0 ? strerror(errno) : "short read");
        free(*buf);
        *buf = NULL;
        return -1;
    }
    return 0;
}

static void dl_close(quorum *q, bool remove)
{
    if (q->dl_fd < 0)
        return;
    close(q->dl_fd);
    q->dl_fd = -1;
    if (remove) {
        char path[4200];
        snapfile_path(path, sizeof path, plog_dir(q->env.log), q->dl_id, true);
        unlink(path);
    }
}

static void dl_write(quorum *q, const raft_action *a)
{
    if (q->dl_fd >= 0 && (q->dl_id.end_offset != a->snapshot.end_offset || q->dl_id.epoch != a->snapshot.epoch))
        dl_close(q, true);
    if (q->dl_fd < 0) {
        char path[4200];
        snapfile_path(path, sizeof path, plog_dir(q->env.log), a->snapshot, true);
        q->dl_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        q->dl_id = a->snapshot;
        if (q->dl_fd < 0) {
            glog(GLOG_ERROR, "raft", "cannot write %s: %s", path, strerror(errno));
            return;
        }
        glog(GLOG_INFO, "raft", "node %d: fetching the leader's metadata snapshot at offset %lld (%lld bytes)",
             q->node_id, (long long)a->snapshot.end_offset, (long long)a->snapshot_size);
    }
    if (a->position == 0 && ftruncate(q->dl_fd, 0) != 0)
        glog(GLOG_WARN, "raft", "truncating a snapshot download: %s", strerror(errno));
    if (pwrite(q->dl_fd, a->bytes.ptr, (size_t)a->bytes.len, a->position) != a->bytes.len)
        glog(GLOG_ERROR, "raft", "writing a snapshot download: %s", strerror(errno));
}

/* The download is complete: make it the node's snapshot (durable, checked)
 * and its log empty from the snapshot's end. A snapshot that is not whole
 * cannot be taken back from the core: the node leaves the quorum. */
static void dl_install(quorum *q, const raft_action *a)
{
    const char *dir = plog_dir(q->env.log);
    char part[4200], path[4200], why[512] = "";
    snapfile_path(part, sizeof part, dir, a->snapshot, true);
    snapfile_path(path, sizeof path, dir, a->snapshot, false);
    bool ok = q->dl_fd >= 0 && q->dl_id.end_offset == a->snapshot.end_offset && fchmod(q->dl_fd, 0400) == 0 &&
              fsync(q->dl_fd) == 0;
    if (q->dl_fd >= 0) {
        close(q->dl_fd);
        q->dl_fd = -1;
    }
    if (ok && snapfile_read(part, NULL, NULL, why, sizeof why) != 0)
        ok = false;
    if (ok && rename(part, path) != 0) {
        snprintf(why, sizeof why, "rename: %s", strerror(errno));
        ok = false;
    }
    if (ok) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (!ok || plog_reset(q->env.log, a->snapshot.end_offset) != LOG_OK) {
        glog(GLOG_ERROR, "raft", "cannot install the metadata snapshot at offset %lld (%s); node %d leaves the "
             "quorum until it is restarted", (long long)a->snapshot.end_offset, why[0] ? why : "the log",
             q->node_id);
        q->failed = true;
        return;
    }
    snapfile_remove_older(dir, a->snapshot);
    q->committed = a->snapshot.end_offset;
    glog(GLOG_INFO, "raft", "node %d: installed the metadata snapshot at offset %lld, epoch %d", q->node_id,
         (long long)a->snapshot.end_offset, a->snapshot.epoch);
    if (q->env.on_install)
        q->env.on_install(q->env.ctx, a->snapshot, path);
}

static void run_actions(quorum *q, capture *cap)
{
    for (int round = 0; round < 64; round++) {
        uint64_t durable_seq = 0;
        bool appended = false;
        for (int i = 0; i < q->acts.n; i++) {
            const raft_action *a = &q->acts.v[i];
            switch (a->kind) {
            case RAFT_ACT_PERSIST:
                if (!q->failed && write_state(q, &a->state) != 0) {
                    /* A vote or epoch that is not on disk must not be
                     * acted on (raft.h): this node stops taking part
                     * until restarted; the others go on without it. */
                    glog(GLOG_ERROR, "raft", "cannot write %s: %s; node %d leaves the quorum until it is restarted",
                         q->state_path, strerror(errno), q->node_id);
                    q->failed = true;
                }
                if (q->failed) {
                    raft_actions_reset(&q->acts);
                    return;
                }
                break;
            case RAFT_ACT_TRUNCATE:
                if (plog_truncate(q->env.log, a->offset) != LOG_OK)
                    glog(GLOG_ERROR, "raft", "cannot truncate the metadata log to %lld", (long long)a->offset);
                else
                    glog(GLOG_INFO, "raft", "metadata log truncated to offset %lld (diverged from the leader)",
                         (long long)a->offset);
                if (q->committed > a->offset)
                    q->committed = a->offset; /* never committed, by the core's invariants */
                break;
            case RAFT_ACT_APPEND:
                do_append(q, a);
                durable_seq = a->write_seq;
                appended = true;
                break;
            case RAFT_ACT_SEND:
                if (cap && !cap->got && a->to == cap->from && a->msg.type == cap->want_type) {
                    cap->got = true;
                    cap->msg = a->msg;
                    if (a->msg.type == RAFT_MSG_FETCH_RESP) {
                        cap->nentries = a->msg.u.fetch_resp.nentries;
                        cap->msg.u.fetch_resp.entries = NULL;
                    }
                    raft_msg m = a->msg;
                    uint8_t *chunk = NULL;
                    if (m.type == RAFT_MSG_FETCH_SNAPSHOT_RESP && m.u.snap_resp.error == 0 &&
                        m.u.snap_resp.chunk_len > 0) {
                        if (read_chunk(q, &m.u.snap_resp, &chunk) == 0)
                            m.u.snap_resp.chunk = (raft_bytes){ chunk, m.u.snap_resp.chunk_len };
                        else
                            m.u.snap_resp.error = RAFT_ERR_SNAPSHOT_NOT_FOUND;
                    }
                    int erc = cap->out ? raftwire_encode_response(&m, cap->api_key, cap->version, cap->out) : 0;
                    free(chunk);
                    if (erc != 0) {
                        glog(GLOG_ERROR, "raft", "cannot encode a %s for node %d at version %d",
                             raft_msg_name(a->msg.type), cap->from, cap->version);
                        cap->got = false; /* answered with an error instead */
                        cap->out->len = 0;
                    }
                } else if (a->msg.type == RAFT_MSG_VOTE_REQ || a->msg.type == RAFT_MSG_BEGIN_EPOCH_REQ ||
                           a->msg.type == RAFT_MSG_END_EPOCH_REQ || a->msg.type == RAFT_MSG_FETCH_REQ ||
                           a->msg.type == RAFT_MSG_FETCH_SNAPSHOT_REQ) {
                    send_request(q, a->to, &a->msg);
                }
                /* a response nobody waits for (its request was answered already): dropped */
                break;
            case RAFT_ACT_COMMIT:
                do_commit(q, a->offset);
                break;
            case RAFT_ACT_ROLE:
                glog(GLOG_INFO, "raft", "node %d: %s in epoch %d (leader %d)", q->node_id, raft_role_name(a->role),
                     a->state.epoch, a->state.leader_id);
                if (q->env.on_role)
                    q->env.on_role(q->env.ctx, a->role, a->state.epoch, a->state.leader_id, raft_log_end(q->r));
                break;
            case RAFT_ACT_SNAPSHOT_WRITE:
                dl_write(q, a);
                break;
            case RAFT_ACT_INSTALL:
                dl_install(q, a);
                if (q->failed) {
                    raft_actions_reset(&q->acts);
                    return;
                }
                break;
            default:
                break;
            }
        }
        raft_actions_reset(&q->acts);
        if (!appended)
            return;
        raft_durable(q->r, durable_seq, clock_mono_ms(), &q->acts);
    }
}

/* ---- long-polled fetches ---- */

static bool fetch_is_empty(const capture *cap)
{
    const raft_fetch_resp *f = &cap->msg.u.fetch_resp;
    return cap->msg.type == RAFT_MSG_FETCH_RESP && f->error == 0 && cap->nentries == 0 && f->diverging_epoch < 0 &&
           f->snapshot_id.end_offset < 0;
}

/* The HW fetcher `id` was last told (-1: none), and recording a new one. */
static int64_t *told_hw(quorum *q, int32_t id)
{
    for (int i = 0; i < q->ntold; i++)
        if (q->told[i].id == id)
            return &q->told[i].hw;
    if (q->ntold == Q_TOLD_MAX)
        return NULL;
    q->told[q->ntold].id = id;
    q->told[q->ntold].hw = -1;
    return &q->told[q->ntold++].hw;
}

static void note_told(quorum *q, const capture *cap)
{
    if (!cap->got || cap->msg.type != RAFT_MSG_FETCH_RESP || cap->msg.u.fetch_resp.error != 0)
        return;
    int64_t *t = told_hw(q, cap->from);
    if (t)
        *t = cap->msg.u.fetch_resp.high_watermark;
}

/* Park this answer (an empty fetch) until something changes? Not when it
 * tells the fetcher a newer high watermark. */
static bool should_park(quorum *q, const capture *cap)
{
    if (!fetch_is_empty(cap))
        return false;
    int64_t *t = told_hw(q, cap->from);
    return !t || cap->msg.u.fetch_resp.high_watermark <= *t;
}

/* Step a fetch again and answer it (under mu); the answer's bytes go to
 * out. */
static void restep_fetch(quorum *q, parked_fetch *pf, kp_writer *out)
{
    capture cap = { .from = pf->from, .want_type = RAFT_MSG_FETCH_RESP, .api_key = KP_API_FETCH,
                    .version = pf->version, .out = out };
    if (!q->failed)
        raft_receive(q->r, pf->from, &pf->req, clock_mono_ms(), &q->acts);
    run_actions(q, &cap);
    note_told(q, &cap);
    if (!cap.got)
        raftwire_encode_error(KP_API_FETCH, pf->version, RAFT_ERR_NOT_LEADER_OR_FOLLOWER, out);
}

typedef struct answer {
    struct answer *next;
    quorum_done_fn done;
    void *arg;
    kp_writer w;
} answer;

/* Under mu: the parked fetches to answer now (all when `all`, else those
 * past their deadline); their answers are returned to be delivered after
 * the unlock. */
static answer *wake_parked(quorum *q, bool all)
{
    answer *list = NULL;
    int64_t now = clock_mono_ms();
    parked_fetch **pp = &q->parked;
    /* detach first: re-stepping may park nothing but runs actions */
    parked_fetch *todo = NULL, *keep = NULL;
    while (*pp) {
        parked_fetch *pf = *pp;
        *pp = pf->next;
        if (all || pf->deadline_ms <= now || q->stopping) {
            pf->next = todo;
            todo = pf;
        } else {
            pf->next = keep;
            keep = pf;
        }
    }
    q->parked = keep;
    while (todo) {
        parked_fetch *pf = todo;
        todo = pf->next;
        answer *a = calloc(1, sizeof(*a));
        if (a) {
            kp_writer_init(&a->w);
            restep_fetch(q, pf, &a->w);
            a->done = pf->done;
            a->arg = pf->arg;
            a->next = list;
            list = a;
        }
        free(pf);
    }
    return list;
}

/* After a step: the leader's log end or high watermark moved. */
static answer *after_step(quorum *q)
{
    int64_t end = raft_log_end(q->r), hw = raft_high_watermark(q->r);
    if (end == q->seen_end && hw == q->seen_hw)
        return NULL;
    q->seen_end = end;
    q->seen_hw = hw;
    return q->parked ? wake_parked(q, true) : NULL;
}

static void deliver(answer *a)
{
    while (a) {
        answer *next = a->next;
        a->done(a->arg, a->w.buf, a->w.len);
        kp_writer_deinit(&a->w);
        free(a);
        a = next;
    }
}

/* ---- inputs ---- */

void quorum_handle(quorum *q, int16_t api_key, int16_t version, kp_reader *body, quorum_done_fn done, void *arg)
{
    raft_msg m;
    int32_t from = -1;
    char cid[64], err[256] = "";
    kp_writer out;
    kp_writer_init(&out);
    if (raftwire_decode_request(api_key, version, body, &m, &from, cid, sizeof cid, err, sizeof err) != 0) {
        glog(GLOG_WARN, "raft", "request (api %d v%d) refused: %s", api_key, version, err);
        raftwire_encode_error(api_key, version, KERR_INVALID_REQUEST, &out);
        done(arg, out.buf, out.len);
        kp_writer_deinit(&out);
        return;
    }
    if (cid[0] && strcmp(cid, q->env.cluster_id) != 0) {
        raftwire_encode_error(api_key, version, KERR_INCONSISTENT_CLUSTER_ID, &out);
        done(arg, out.buf, out.len);
        kp_writer_deinit(&out);
        return;
    }
    capture cap = { .from = from, .want_type = m.type + 1, .api_key = api_key, .version = version, .out = &out };
    pthread_mutex_lock(&q->mu);
    if (!q->failed)
        raft_receive(q->r, from, &m, clock_mono_ms(), &q->acts);
    run_actions(q, &cap);
    bool parked = false;
    if (cap.got && m.type == RAFT_MSG_FETCH_REQ && should_park(q, &cap) && !q->stopping) {
        parked_fetch *pf = calloc(1, sizeof(*pf));
        if (pf) {
            *pf = (parked_fetch){ .next = q->parked, .from = from, .req = m, .version = version,
                                  .deadline_ms = clock_mono_ms() + Q_FETCH_WAIT_MS, .done = done, .arg = arg };
            q->parked = pf;
            parked = true;
        }
    }
    /* After parking: a fetch that moved the high watermark itself (the
     * follower's ack made the majority) is woken with the others and
     * carries the new HW at once, instead of after the long poll. */
    if (!parked)
        note_told(q, &cap);
    answer *wake = after_step(q);
    pthread_mutex_unlock(&q->mu);
    deliver(wake);
    if (!parked) {
        if (!cap.got)
            raftwire_encode_error(api_key, version, RAFT_ERR_NOT_LEADER_OR_FOLLOWER, &out);
        done(arg, out.buf, out.len);
    }
    kp_writer_deinit(&out);
}

static void on_response(client *c, const client_response *resp, void *arg)
{
    (void)c;
    send_job *j = arg;
    quorum *q = j->q;
    if (resp->status != CLIENT_OK || q->stopping) {
        free(j);
        return; /* the core resends on its timers */
    }
    arena a;
    arena_init(&a, 1 << 16);
    kp_reader r;
    kp_reader_init(&r, resp->body, resp->body_len, &a);
    raft_msg m;
    char err[256] = "";
    if (raftwire_decode_response(j->api_key, resp->api_version, &r, &m, err, sizeof err) == 0) {
        if (m.type == RAFT_MSG_FETCH_RESP) {
            m.u.fetch_resp.req_fetch_offset = j->fetch_offset;
            m.u.fetch_resp.req_last_fetched_epoch = j->last_fetched_epoch;
        }
        pthread_mutex_lock(&q->mu);
        if (!q->failed)
            raft_receive(q->r, q->peers[j->peer].id, &m, clock_mono_ms(), &q->acts);
        run_actions(q, NULL);
        answer *wake = after_step(q);
        pthread_mutex_unlock(&q->mu);
        deliver(wake);
    } else {
        char hex[200] = "";
        for (size_t i = 0; i < resp->body_len && i < 64; i++)
            snprintf(hex + 3 * i, 4, "%02x ", resp->body[i]);
        glog(GLOG_WARN, "raft", "response (api %d v%d) from node %d does not decode: %s [%zu bytes: %s]", j->api_key,
             resp->api_version, q->peers[j->peer].id, err, resp->body_len, hex);
    }
    arena_deinit(&a);
    free(j);
}

static void on_peer_state(client *c, bool ready, void *arg)
{
    peer *p = arg;
    int16_t v[5];
    static const int16_t apis[5] = { KP_API_VOTE, KP_API_BEGIN_QUORUM_EPOCH, KP_API_END_QUORUM_EPOCH, KP_API_FETCH,
                                     KP_API_FETCH_SNAPSHOT };
    for (int i = 0; i < 5; i++)
        v[i] = ready ? client_version(c, apis[i]) : -1;
    pthread_mutex_lock(&p->q->mu); /* read under it when encoding */
    memcpy(p->version, v, sizeof v);
    pthread_mutex_unlock(&p->q->mu);
}

static void tick(reactor *r, void *arg)
{
    quorum *q = arg;
    pthread_mutex_lock(&q->mu);
    answer *wake = NULL;
    if (!q->stopping && !q->failed) {
        raft_tick(q->r, clock_mono_ms(), &q->acts);
        run_actions(q, NULL);
        wake = after_step(q);
        answer *late = q->parked ? wake_parked(q, false) : NULL;
        while (late) {
            answer *next = late->next;
            late->next = wake;
            wake = late;
            late = next;
        }
    }
    bool stopping = q->stopping;
    pthread_mutex_unlock(&q->mu);
    deliver(wake);
    if (!stopping)
        reactor_timer_arm(r, &q->tick, clock_mono_ms() + Q_TICK_MS);
}

int quorum_propose(quorum *q, const uint8_t *batch, size_t len, int32_t count, int64_t *end)
{
    pthread_mutex_lock(&q->mu);
    int64_t off = -1;
    int32_t leader = -1;
    int rc = q->failed ? RAFT_PROPOSE_NOT_LEADER
                       : raft_propose(q->r, (raft_bytes){ batch, (int32_t)len }, count, clock_mono_ms(), &off,
                                      &leader, &q->acts);
    run_actions(q, NULL);
    answer *wake = after_step(q);
    pthread_mutex_unlock(&q->mu);
    deliver(wake);
    if (rc != RAFT_PROPOSE_OK)
        return -1;
    *end = off + count;
    return 0;
}

typedef struct fwd_job {
    quorum *q;
    int32_t to;
    int16_t api_key, version;
    quorum_forward_fn fn;
    void *arg;
    size_t len;
    uint8_t body[];
} fwd_job;

static void fwd_response(client *c, const client_response *resp, void *arg)
{
    (void)c;
    fwd_job *j = arg;
    j->fn(j->arg, resp->status, resp->body, resp->status == CLIENT_OK ? resp->body_len : 0);
    free(j);
}

static void fwd_on_reactor(reactor *r, void *arg)
{
    (void)r;
    fwd_job *j = arg;
    int pi = peer_index(j->q, j->to);
    client *c = pi >= 0 && !j->q->stopping ? j->q->peers[pi].c : NULL;
    int rc = c ? client_send(c, j->api_key, j->version, j->body, j->len, fwd_response, j) : -100;
    if (rc != 0) {
        j->fn(j->arg, rc, NULL, 0);
        free(j);
    }
}

void quorum_forward(quorum *q, int32_t to, int16_t api_key, int16_t version, const uint8_t *body, size_t len,
                    quorum_forward_fn fn, void *arg)
{
    fwd_job *j = malloc(sizeof(*j) + len);
    if (!j) {
        fn(arg, CLIENT_ERR_QUEUE_FULL, NULL, 0);
        return;
    }
    *j = (fwd_job){ .q = q, .to = to, .api_key = api_key, .version = version, .fn = fn, .arg = arg, .len = len };
    memcpy(j->body, body, len);
    reactor_post(q->env.r, fwd_on_reactor, j);
}

int quorum_snapshot_created(quorum *q, raft_snapshot_id id, int64_t size)
{
    pthread_mutex_lock(&q->mu);
    int rc = raft_snapshot_created(q->r, id, size);
    pthread_mutex_unlock(&q->mu);
    if (rc == 0)
        plog_advance_start(q->env.log, id.end_offset);
    return rc;
}

int32_t quorum_epoch_before(quorum *q, int64_t offset)
{
    pthread_mutex_lock(&q->mu);
    int32_t e = raft_epoch_before(q->r, offset);
    pthread_mutex_unlock(&q->mu);
    return e;
}

void quorum_leader(quorum *q, int32_t *leader, int32_t *epoch, int *role)
{
    pthread_mutex_lock(&q->mu);
    *leader = raft_leader_id(q->r);
    *epoch = raft_epoch(q->r);
    *role = raft_role(q->r);
    pthread_mutex_unlock(&q->mu);
}

void quorum_describe(quorum *q, raft_quorum_info *out)
{
    pthread_mutex_lock(&q->mu);
    raft_describe(q->r, clock_mono_ms(), out);
    pthread_mutex_unlock(&q->mu);
}

/* ---- life cycle ---- */

quorum *quorum_new(const quorum_env *env, int32_t node_id, const quorum_voter *voters, int nvoters,
                   const raft_config *timeouts, char *err, size_t errlen)
{
    quorum *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    kp_writer_init(&q->lc);
    q->dl_fd = -1;
    q->env = *env;
    q->node_id = node_id;
    snprintf(q->state_path, sizeof q->state_path, "%s/quorum-state", plog_dir(env->log));
    raft_config cfg = *timeouts;
    cfg.node_id = node_id;
    cfg.nvoters = nvoters;
    for (int i = 0; i < nvoters; i++) {
        cfg.voters[i] = voters[i].id;
        q->voter_ids[i] = voters[i].id;
        if (voters[i].id == node_id)
            continue;
        peer *p = &q->peers[q->npeers++];
        p->q = q;
        p->id = voters[i].id;
        snprintf(p->host, sizeof p->host, "%s", voters[i].host);
        p->port = voters[i].port;
        for (int k = 0; k < 5; k++)
            p->version[k] = -1;
    }
    q->nvoters = nvoters;
    cfg.leader_change_payload = leader_change_payload;
    cfg.ctx = q;
    raft_disk disk = { 0 };
    read_state(q, &disk.state);
    loaded l = { 0 };
    if (load_log(q, &l, err, errlen) != 0) {
        loaded_free(&l);
        quorum_free(q);
        return NULL;
    }
    disk.entries = l.v;
    disk.nentries = l.n;
    if (env->snapshot.end_offset > 0) {
        disk.snapshot = env->snapshot;
        disk.snapshot_size = env->snapshot_size;
    } else { /* a log that starts above 0 with no snapshot (not written by Gregor) */
        disk.snapshot.end_offset = plog_start_offset(env->log);
        disk.snapshot.epoch = 0;
    }
    q->committed = disk.snapshot.end_offset;
    q->r = raft_new(&cfg, &disk, clock_mono_ms());
    loaded_free(&l);
    if (!q->r) {
        snprintf(err, errlen, "the metadata log and quorum-state in %s do not agree (epochs out of order, or a gap); "
                 "move the directory aside to rejoin from the leader", plog_dir(env->log));
        quorum_free(q);
        return NULL;
    }
    q->seen_end = raft_log_end(q->r);
    q->seen_hw = raft_high_watermark(q->r);
    glog(GLOG_INFO, "raft", "node %d: %d voters, metadata log %lld..%lld, epoch %d, %s", node_id, nvoters,
         (long long)raft_log_start(q->r), (long long)raft_log_end(q->r), raft_epoch(q->r),
         raft_role_name(raft_role(q->r)));
    return q;
}

static void start_on_reactor(reactor *r, void *arg)
{
    quorum *q = arg;
    for (int i = 0; i < q->npeers; i++) {
        peer *p = &q->peers[i];
        client_options o;
        client_options_init(&o);
        o.request_timeout_ms = 5000;
        o.reconnect_backoff_max_ms = 1000;
        o.seed = (uint64_t)q->node_id * 7919u + (uint64_t)p->id;
        o.on_state = on_peer_state;
        o.state_arg = p;
        char cid[64];
        snprintf(cid, sizeof cid, "raft-client-%d", q->node_id);
        p->c = client_new(r, p->host, p->port, cid, &o);
        if (!p->c)
            glog(GLOG_ERROR, "raft", "cannot create the client to voter %d at %s:%d", p->id, p->host, p->port);
    }
    reactor_timer_init(&q->tick, tick, q);
    reactor_timer_arm(r, &q->tick, clock_mono_ms() + Q_TICK_MS);
}

int quorum_start(quorum *q)
{
    reactor_post(q->env.r, start_on_reactor, q);
    return 0;
}

static void stop_on_reactor(reactor *r, void *arg)
{
    quorum *q = arg;
    reactor_timer_cancel(r, &q->tick);
    for (int i = 0; i < q->npeers; i++)
        if (q->peers[i].c) {
            client_close(q->peers[i].c);
            q->peers[i].c = NULL;
        }
}

void quorum_stop(quorum *q)
{
    pthread_mutex_lock(&q->mu);
    if (q->stop_called) {
        pthread_mutex_unlock(&q->mu);
        return;
    }
    q->stop_called = true;
    if (!q->stopping) {
        raft_shutdown(q->r, clock_mono_ms(), &q->acts);
        run_actions(q, NULL);
    }
    pthread_mutex_unlock(&q->mu);
    /* let the EndQuorumEpoch requests go out before the clients close */
    usleep(50 * 1000);
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    answer *left = q->parked ? wake_parked(q, true) : NULL;
    pthread_mutex_unlock(&q->mu);
    deliver(left);
    reactor_post(q->env.r, stop_on_reactor, q);
}

void quorum_free(quorum *q)
{
    if (!q)
        return;
    dl_close(q, false);
    raft_free(q->r);
    raft_actions_free(&q->acts);
    kp_writer_deinit(&q->lc);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
