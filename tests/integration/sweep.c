/*
 * sweep.c - the protocol version sweep (tests/integration/test_version_sweep.py).
 *
 *   sweep -b HOST:PORT [--schema src/proto/kafka.schema] [--api NAME]...
 *
 * Connects to a broker (Gregor or Apache Kafka), asks ApiVersions, and for
 * every API the broker advertises that the codec table (kp_apis[], generated
 * from src/proto/kafka.schema) knows, for every advertised version the codecs
 * encode: builds a valid request with the generated struct (the fields a
 * real client sets), sends it with the request header of that version,
 * reads the answer and decodes it with the generated codec of that version.
 * Decoding is strict: the frame must be consumed to its last byte.
 *
 * One JSON line per (api, version) on stdout:
 *   {"api":"Metadata","key":3,"version":5,"decoded":true,
 *    "errors":[0,0],"error_fields":["topics.error_code", ...],
 *    "arrays":{"brokers":[1],"topics":[1],"topics.partitions":[1],...},
 *    "bytes":123}
 * "errors" is every error_code field of the response (top level and nested,
 * tagged ones included, any int16 field named error_code or *_error_code) in
 * the order of the bytes; "arrays" is, per field path, the length of every
 * array met (-1 = null), in order: the shape of the answer; "nulls" and
 * "tagged" count, per path, the null strings/bytes and the tagged fields
 * present. They all come from a second walk of the same bytes driven by
 * the schema file, which must also end on the last byte (so the schema and
 * the generated decoder agree).
 * JoinGroup at v4+ answers MEMBER_ID_REQUIRED first: the rejoin with the
 * given member id is a second line with "step":2. Most APIs also have an
 * error case, a second line with "case":"error": the same request naming a
 * topic, group or transactional id that does not exist (a topic that does,
 * for CreateTopics), so that Kafka's error codes are compared too; and some
 * have more cases, each named in "case" (MORE_CASES: a stale generation, an
 * offset out of range, an unknown config, ...).
 *
 * The first line is {"advertised":{"KEY":[min,max],...}}, the broker's
 * ApiVersions answer. Other lines: {"key":K,"advertised":[min,max],"skipped":"no codec"} for an
 * advertised API the codec table lacks; {"api":..,"version":v,"skipped":
 * "codec lacks version"} for an advertised version outside the codec range;
 * {"api":..,"left_out":"why"} for the APIs deliberately not swept (they
 * change the Raft quorum or are a controller's); {"api":..,"version":v,
 * "decoded":false,"failure":"..."} when a request got no decodable answer.
 * The last line is {"done":true,"seconds":S,"failures":N}. SWEEP_DEBUG=1 in
 * the environment traces the schema walk (with the strings) on stderr,
 * SWEEP_DEBUG=2 also every frame sent and received in hex.
 *
 * Before the sweep it creates the topics it uses (sweep, sweep-cfg, ...),
 * produces to them, and waits until the group and transaction coordinators
 * answer (Kafka creates their internal topics on first use). Every request
 * that prepares a swept one (a join before a SyncGroup, an InitProducerId
 * before AddPartitionsToTxn, ...) uses the newest version both sides have.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/arena.h"
#include "kafka_msgs.h"
#include "proto/batch_build.h"
#include "proto/codec.h"

#define TOPIC "sweep"
#define TOPIC_CFG "sweep-cfg"
#define TOPIC_DR "sweep-dr"
#define TOPIC_MARKERS "sweep-markers"
#define TOPIC_TXN "sweep-txn"
#define GROUP_COMMITTED "sweep-committed"
#define IO_TIMEOUT_S 15

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sweep: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* ------------------------------------------------------------------ the schema walker */

typedef struct sfield {
    char *name, *type; /* type without "[]" */
    int array;
    int vmin, vmax;    /* vmax INT16_MAX for "N+"; vmin > vmax for none */
    int nmin, nmax;    /* nullable versions */
    int tag;           /* -1 when not tagged */
    struct sfield *kids;
    int nkids, capkids;
} sfield;

typedef struct sapi {
    int key;
    char *name;
    sfield msg[2]; /* request, response: their kids are the fields */
} sapi;

static sapi *g_sapis;
static int g_nsapis;

static void parse_versions(const char *s, int *lo, int *hi)
{
    if (!strcmp(s, "none")) {
        *lo = 1;
        *hi = 0;
        return;
    }
    char *end;
    long a = strtol(s, &end, 10);
    if (*end == '+') {
        *lo = (int)a;
        *hi = INT16_MAX;
    } else if (*end == '-') {
        *lo = (int)a;
        *hi = (int)strtol(end + 1, NULL, 10);
    } else {
        *lo = *hi = (int)a;
    }
}

static sfield *add_kid(sfield *p)
{
    if (p->nkids == p->capkids) {
        p->capkids = p->capkids ? p->capkids * 2 : 8;
        p->kids = realloc(p->kids, (size_t)p->capkids * sizeof *p->kids);
        if (!p->kids)
            die("out of memory");
    }
    sfield *f = &p->kids[p->nkids++];
    memset(f, 0, sizeof *f);
    f->tag = -1;
    f->nmin = 1;
    f->nmax = 0;
    return f;
}

static void load_schema(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        die("cannot open schema %s: %s", path, strerror(errno));
    char line[1024];
    sapi *cur = NULL;
    sfield *stack[16]; /* stack[d] = the parent of fields at depth d */
    int in_msg = 0;
    while (fgets(line, sizeof line, fp)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        int indent = 0;
        while (line[indent] == ' ')
            indent++;
        char *tok[16];
        int nt = 0;
        for (char *t = strtok(line + indent, " \t\r\n"); t && nt < 16; t = strtok(NULL, " \t\r\n"))
            tok[nt++] = t;
        if (nt == 0)
            continue;
        if (indent == 0) {
            cur = NULL;
            in_msg = 0;
            if (!strcmp(tok[0], "api") && nt >= 3) {
                g_sapis = realloc(g_sapis, (size_t)(g_nsapis + 1) * sizeof *g_sapis);
                cur = &g_sapis[g_nsapis++];
                memset(cur, 0, sizeof *cur);
                cur->name = strdup(tok[1]);
                for (int i = 2; i < nt; i++)
                    if (!strncmp(tok[i], "key=", 4))
                        cur->key = atoi(tok[i] + 4);
            }
            continue;
        }
        if (!cur)
            continue;
        if (indent == 2) {
            in_msg = !strcmp(tok[0], "request") ? 1 : !strcmp(tok[0], "response") ? 2 : 0;
            if (in_msg)
                stack[1] = &cur->msg[in_msg - 1];
            continue;
        }
        if (!in_msg || nt < 3)
            continue;
        int depth = indent / 2;
        if (depth < 2 || depth > 14)
            die("schema %s: bad indentation: %s", path, tok[0]);
        sfield *f = add_kid(stack[depth - 1]);
        f->name = strdup(tok[0]);
        const char *ty = tok[1];
        if (!strncmp(ty, "[]", 2)) {
            f->array = 1;
            ty += 2;
        }
        f->type = strdup(ty);
        parse_versions(tok[2], &f->vmin, &f->vmax);
        for (int i = 3; i < nt; i++) {
            if (!strncmp(tok[i], "nullable=", 9))
                parse_versions(tok[i] + 9, &f->nmin, &f->nmax);
            else if (!strncmp(tok[i], "tag=", 4))
                f->tag = atoi(tok[i] + 4);
        }
        stack[depth] = f;
    }
    fclose(fp);
}

static const sapi *schema_api(int key)
{
    for (int i = 0; i < g_nsapis; i++)
        if (g_sapis[i].key == key)
            return &g_sapis[i];
    return NULL;
}

/* What a walk collects. */
#define MAX_ERR 4096
#define MAX_ARR 256
typedef struct walk_out {
    int nerr;
    int16_t err[MAX_ERR];
    char err_path[MAX_ERR][96];
    int narr;
    struct {
        char path[128];
        int n, cap;
        int32_t *lens;
    } arr[MAX_ARR];
    struct countmap {
        int n;
        struct {
            char path[128];
            int count;
        } e[MAX_ARR];
    } nulls, tagged; /* null strings/bytes, tagged fields present: per path */
    int fail;
    char why[160];
} walk_out;

static void cm_add(struct countmap *m, const char *path)
{
    int i;
    for (i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].path, path))
            break;
    if (i == m->n) {
        if (m->n == MAX_ARR)
            return;
        m->n++;
        snprintf(m->e[i].path, sizeof m->e[i].path, "%s", path);
        m->e[i].count = 0;
    }
    m->e[i].count++;
}

static void wo_free(walk_out *o)
{
    for (int i = 0; i < o->narr; i++)
        free(o->arr[i].lens);
    o->narr = 0;
    o->nerr = 0;
    o->nulls.n = o->tagged.n = 0;
}

static void wo_array(walk_out *o, const char *path, int32_t n)
{
    int i;
    for (i = 0; i < o->narr; i++)
        if (!strcmp(o->arr[i].path, path))
            break;
    if (i == o->narr) {
        if (o->narr == MAX_ARR)
            return;
        o->narr++;
        snprintf(o->arr[i].path, sizeof o->arr[i].path, "%s", path);
        o->arr[i].n = o->arr[i].cap = 0;
        o->arr[i].lens = NULL;
    }
    if (o->arr[i].n == o->arr[i].cap) {
        o->arr[i].cap = o->arr[i].cap ? o->arr[i].cap * 2 : 4;
        o->arr[i].lens = realloc(o->arr[i].lens, (size_t)o->arr[i].cap * sizeof(int32_t));
    }
    o->arr[i].lens[o->arr[i].n++] = n;
}

static int is_error_field(const sfield *f)
{
    size_t n = strlen(f->name);
    return !f->array && !strcmp(f->type, "int16") &&
           (!strcmp(f->name, "error_code") || (n > 11 && !strcmp(f->name + n - 11, "_error_code")));
}

static int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

static int g_debug; /* SWEEP_DEBUG: trace the walk on stderr */

static void walk_struct(kp_reader *r, const sfield *parent, int v, int flex, const char *path, walk_out *o);

static void walk_base(kp_reader *r, const sfield *f, int v, int flex, const char *fpath, walk_out *o)
{
    const char *t = f->type;
    if (!strcmp(t, "bool") || !strcmp(t, "int8"))
        kp_read_int8(r);
    else if (!strcmp(t, "int16") || !strcmp(t, "uint16")) {
        int16_t x = kp_read_int16(r);
        if (is_error_field(f) && !r->err && o->nerr < MAX_ERR) {
            o->err[o->nerr] = x;
            snprintf(o->err_path[o->nerr], sizeof o->err_path[0], "%s", fpath);
            o->nerr++;
        }
    } else if (!strcmp(t, "int32") || !strcmp(t, "uint32"))
        kp_read_int32(r);
    else if (!strcmp(t, "int64") || !strcmp(t, "float64"))
        kp_read_int64(r);
    else if (!strcmp(t, "uuid"))
        kp_read_uuid(r);
    else if (!strcmp(t, "string")) {
        kp_str sv = kp_read_string(r, flex);
        if (sv.len < 0 && !r->err)
            cm_add(&o->nulls, fpath);
        if (g_debug && !r->err)
            fprintf(stderr, "walk: %s = %s%.*s%s\n", fpath, sv.len < 0 ? "null" : "\"",
                    sv.len < 0 ? 0 : (int)sv.len, sv.ptr ? sv.ptr : "", sv.len < 0 ? "" : "\"");
    } else if (!strcmp(t, "bytes") || !strcmp(t, "records")) {
        if (kp_read_bytes(r, flex).len < 0 && !r->err)
            cm_add(&o->nulls, fpath);
    }
    else if (f->nkids)
        walk_struct(r, f, v, flex, fpath, o);
    else if (!o->fail) {
        o->fail = 1;
        snprintf(o->why, sizeof o->why, "schema: type %s of %s unknown", t, fpath);
    }
}

static void walk_field(kp_reader *r, const sfield *f, int v, int flex, const char *path, walk_out *o)
{
    char fpath[128];
    snprintf(fpath, sizeof fpath, "%s%s%s", path, *path ? "." : "", f->name);
    if (g_debug)
        fprintf(stderr, "walk: %s (%s%s) at %zu left\n", fpath, f->array ? "[]" : "", f->type, kp_reader_left(r));
    if (!f->array) {
        walk_base(r, f, v, flex, fpath, o);
        return;
    }
    int32_t n;
    if (flex)
        n = (int32_t)kp_read_uvarint(r) - 1;
    else
        n = kp_read_int32(r);
    if (r->err)
        return;
    if (n < -1 || (n > 0 && (size_t)n > kp_reader_left(r))) {
        r->err = KP_ERR_TOO_LARGE;
        return;
    }
    wo_array(o, fpath, n);
    for (int32_t i = 0; i < n && !r->err && !o->fail; i++)
        walk_base(r, f, v, flex, fpath, o);
}

static void walk_struct(kp_reader *r, const sfield *parent, int v, int flex, const char *path, walk_out *o)
{
    for (int i = 0; i < parent->nkids && !r->err; i++) {
        const sfield *f = &parent->kids[i];
        if (f->tag < 0 && in_range(v, f->vmin, f->vmax))
            walk_field(r, f, v, flex, path, o);
    }
    if (!flex || r->err)
        return;
    uint32_t ntags = kp_read_uvarint(r);
    for (uint32_t t = 0; t < ntags && !r->err; t++) {
        uint32_t tag = kp_read_uvarint(r);
        uint32_t size = kp_read_uvarint(r);
        if (r->err)
            return;
        if (size > kp_reader_left(r)) {
            r->err = KP_ERR_SHORT;
            return;
        }
        const sfield *tf = NULL;
        for (int i = 0; i < parent->nkids; i++)
            if (parent->kids[i].tag == (int)tag && in_range(v, parent->kids[i].vmin, parent->kids[i].vmax))
                tf = &parent->kids[i];
        if (!tf) {
            kp_skip(r, size);
            continue;
        }
        kp_reader sub = *r;
        sub.end = r->pos + size;
        char tpath[128];
        snprintf(tpath, sizeof tpath, "%s%s%s", path, *path ? "." : "", tf->name);
        cm_add(&o->tagged, tpath);
        walk_field(&sub, tf, v, flex, path, o);
        if (!sub.err && sub.pos != sub.end && !o->fail) {
            o->fail = 1;
            snprintf(o->why, sizeof o->why, "tagged field %s: %zu bytes left", tf->name,
                     (size_t)(sub.end - sub.pos));
        }
        if (sub.err)
            r->err = sub.err;
        kp_skip(r, size);
    }
}

/* ------------------------------------------------------------------ the connection */

static char g_host[256];
static char g_port[16];
static int g_fd = -1;
static int32_t g_corr = 1;
static int16_t g_adv_min[1024], g_adv_max[1024]; /* -1: not advertised */
static const char *g_only[64];
static int g_nonly;

static void conn_close(void)
{
    if (g_fd >= 0)
        close(g_fd);
    g_fd = -1;
}

static int conn_open(void)
{
    struct addrinfo hints = { 0 }, *res;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(g_host, g_port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct timeval tv = { IO_TIMEOUT_S, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    g_fd = fd;
    return 0;
}

static int read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void hexdump(const char *what, int16_t key, int16_t ver, const uint8_t *p, size_t n)
{
    fprintf(stderr, "%s key %d v%d, %zu bytes:", what, key, ver, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%02x", i % 32 ? "" : "\n  ", p[i]);
    fprintf(stderr, "\n");
}

/* The result of one exchange. */
typedef struct result {
    int ok;              /* decoded by the codec and by the walk, to the last byte */
    char failure[256];
    void *resp;          /* the decoded response (arena) */
    uint8_t *body;       /* the response after its header (malloc) */
    size_t body_len;
    walk_out *w;         /* malloc */
} result;

static void result_free(result *r)
{
    free(r->body);
    if (r->w) {
        wo_free(r->w);
        free(r->w);
    }
    memset(r, 0, sizeof *r);
}

/* All errors 0? */
static int result_clean(const result *r)
{
    if (!r->ok)
        return 0;
    for (int i = 0; i < r->w->nerr; i++)
        if (r->w->err[i] != 0)
            return 0;
    return 1;
}

/* The first non-zero error, or 0. */
static int16_t result_first_error(const result *r)
{
    if (!r->ok)
        return -1;
    for (int i = 0; i < r->w->nerr; i++)
        if (r->w->err[i] != 0)
            return r->w->err[i];
    return 0;
}

/* Send req (the generated struct of key at ver), read and decode the answer. */
static void exchange(int16_t key, int16_t ver, const void *req, arena *a, result *res)
{
    memset(res, 0, sizeof *res);
    const kp_api_info *api = kp_api_find(key);
    int16_t hv = kp_out_req_header_version(key, ver);
    if (!api || hv < 0) {
        snprintf(res->failure, sizeof res->failure, "no codec for key %d v%d", key, ver);
        return;
    }
    if (g_fd < 0 && conn_open() < 0) {
        snprintf(res->failure, sizeof res->failure, "cannot connect: %s", strerror(errno));
        return;
    }
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int32(&w, 0);
    int32_t corr = g_corr++;
    kp_write_int16(&w, key);
    kp_write_int16(&w, ver);
    kp_write_int32(&w, corr);
    kp_write_string(&w, KP_STR("gregor-sweep"), false);
    if (hv >= 2)
        kp_write_uvarint(&w, 0);
    api->req_encode(&w, ver, req);
    if (w.err || w.nchunks) {
        kp_writer_deinit(&w);
        snprintf(res->failure, sizeof res->failure, "encode failed");
        return;
    }
    kp_writer_patch_int32(&w, 0, (int32_t)(w.len - 4));
    if (g_debug > 1)
        hexdump("request", key, ver, w.buf, w.len);
    int wr = write_full(g_fd, w.buf, w.len);
    kp_writer_deinit(&w);
    uint8_t lenb[4];
    if (wr < 0 || read_full(g_fd, lenb, 4) < 0) {
        snprintf(res->failure, sizeof res->failure, "no answer (connection closed or %d s timeout)",
                 IO_TIMEOUT_S);
        conn_close();
        return;
    }
    uint32_t len = ((uint32_t)lenb[0] << 24) | ((uint32_t)lenb[1] << 16) | ((uint32_t)lenb[2] << 8) | lenb[3];
    if (len > 64u << 20) {
        snprintf(res->failure, sizeof res->failure, "answer of %u bytes", len);
        conn_close();
        return;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf || read_full(g_fd, buf, len) < 0) {
        free(buf);
        snprintf(res->failure, sizeof res->failure, "answer cut short");
        conn_close();
        return;
    }
    if (g_debug > 1)
        hexdump("response", key, ver, buf, len);
    kp_reader r;
    kp_reader_init(&r, buf, len, a);
    int32_t rcorr;
    if (kp_resp_header_decode(&r, kp_out_resp_header_version(key, ver), &rcorr) < 0 || rcorr != corr) {
        snprintf(res->failure, sizeof res->failure, "bad response header (correlation %d, sent %d)",
                 rcorr, corr);
        free(buf);
        conn_close();
        return;
    }
    size_t hdr = (size_t)(r.pos - buf);
    res->body_len = len - hdr;
    res->body = malloc(res->body_len ? res->body_len : 1);
    memcpy(res->body, buf + hdr, res->body_len);
    free(buf);

    res->resp = arena_alloc(a, api->resp_size);
    if (!res->resp) {
        snprintf(res->failure, sizeof res->failure, "arena");
        return;
    }
    api->resp_init(res->resp);
    kp_reader_init(&r, res->body, res->body_len, a);
    int rc = api->resp_decode(&r, ver, res->resp);
    if (rc < 0 || r.err) {
        snprintf(res->failure, sizeof res->failure, "codec v%d: %s after %zu of %zu bytes", ver,
                 kp_err_str(r.err), (size_t)(r.pos - res->body), res->body_len);
        return;
    }
    if (kp_reader_left(&r)) {
        snprintf(res->failure, sizeof res->failure, "codec v%d: %zu trailing bytes of %zu", ver,
                 kp_reader_left(&r), res->body_len);
        return;
    }
    /* The schema walk: errors and shape, and a second check of the layout. */
    const sapi *sa = schema_api(key);
    if (!sa) {
        snprintf(res->failure, sizeof res->failure, "key %d not in the schema file", key);
        return;
    }
    res->w = calloc(1, sizeof *res->w);
    kp_reader_init(&r, res->body, res->body_len, a);
    walk_struct(&r, &sa->msg[1], ver, ver >= api->flexible_min, "", res->w);
    if (res->w->fail) {
        snprintf(res->failure, sizeof res->failure, "walk: %s", res->w->why);
        return;
    }
    if (r.err || kp_reader_left(&r)) {
        snprintf(res->failure, sizeof res->failure, "walk v%d: %s, %zu bytes left", ver, kp_err_str(r.err),
                 kp_reader_left(&r));
        return;
    }
    res->ok = 1;
}

/* ------------------------------------------------------------------ output */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static int g_failures;
static const char *g_case; /* the case the line is for; NULL: the valid request */

static void report(const kp_api_info *api, int16_t ver, int step, const result *r)
{
    printf("{\"api\":");
    json_str(stdout, api->name);
    printf(",\"key\":%d,\"version\":%d", api->key, ver);
    if (step > 1)
        printf(",\"step\":%d", step);
    if (g_case)
        printf(",\"case\":\"%s\"", g_case);
    printf(",\"decoded\":%s", r->ok ? "true" : "false");
    if (!r->ok) {
        g_failures++;
        printf(",\"failure\":");
        json_str(stdout, r->failure);
        printf("}\n");
        fflush(stdout);
        return;
    }
    printf(",\"errors\":[");
    for (int i = 0; i < r->w->nerr; i++)
        printf("%s%d", i ? "," : "", r->w->err[i]);
    printf("],\"error_fields\":[");
    for (int i = 0; i < r->w->nerr; i++) {
        printf("%s", i ? "," : "");
        json_str(stdout, r->w->err_path[i]);
    }
    printf("],\"arrays\":{");
    for (int i = 0; i < r->w->narr; i++) {
        printf("%s", i ? "," : "");
        json_str(stdout, r->w->arr[i].path);
        printf(":[");
        for (int j = 0; j < r->w->arr[i].n; j++)
            printf("%s%d", j ? "," : "", r->w->arr[i].lens[j]);
        printf("]");
    }
    printf("},\"nulls\":{");
    for (int i = 0; i < r->w->nulls.n; i++) {
        printf("%s", i ? "," : "");
        json_str(stdout, r->w->nulls.e[i].path);
        printf(":%d", r->w->nulls.e[i].count);
    }
    printf("},\"tagged\":{");
    for (int i = 0; i < r->w->tagged.n; i++) {
        printf("%s", i ? "," : "");
        json_str(stdout, r->w->tagged.e[i].path);
        printf(":%d", r->w->tagged.e[i].count);
    }
    printf("},\"bytes\":%zu}\n", r->body_len);
    fflush(stdout);
}

static void report_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* ------------------------------------------------------------------ helpers */

static arena g_setup_arena; /* setup-time requests */

/* The newest version both the broker and the codecs have; -1 if none. */
static int16_t best(int16_t key)
{
    const kp_api_info *api = kp_api_find(key);
    if (!api || g_adv_max[key] < 0)
        return -1;
    int16_t hi = g_adv_max[key] < api->codec_max_version ? g_adv_max[key] : api->codec_max_version;
    /* AddPartitionsToTxn v4+ is the brokers' batched form (KIP-890): a
     * producer sends v3 at most. */
    if (key == KP_API_ADD_PARTITIONS_TO_TXN && hi > 3)
        hi = 3;
    int16_t lo = g_adv_min[key] > api->codec_min_version ? g_adv_min[key] : api->codec_min_version;
    return hi >= lo ? hi : -1;
}

/* The struct of key, zeroed and _init'ed, from arena a. */
static void *new_req(arena *a, int16_t key)
{
    const kp_api_info *api = kp_api_find(key);
    void *m = arena_alloc(a, api->req_size);
    if (!m)
        die("arena");
    api->req_init(m);
    return m;
}

#define NEW(a, T, n) ((T *)new_array((a), sizeof(T), (n)))
static void *new_array(arena *a, size_t size, int n)
{
    void *p = arena_alloc(a, size * (size_t)(n ? n : 1));
    if (!p)
        die("arena");
    return p;
}

static kp_str str_dup(arena *a, const char *s)
{
    char *p = arena_strndup(a, s, strlen(s));
    return (kp_str){ p, (int32_t)strlen(s) };
}

static kp_str fmt_str(arena *a, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return str_dup(a, buf);
}

/* A helper exchange at the best version; dies when it is not served. */
static void call(int16_t key, const void *req, arena *a, result *res)
{
    int16_t v = best(key);
    if (v < 0)
        die("the broker does not serve %s, which the sweep needs to prepare",
            kp_api_find(key)->name);
    exchange(key, v, req, a, res);
}

static int32_t g_node_id = -1;
static kp_uuid g_topic_id;
static kp_uuid g_topic_id_dr;

/* A consumer-protocol subscription (v0) to topic sweep. */
static kp_bytes subscription_bytes(arena *a)
{
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int16(&w, 0);
    kp_write_int32(&w, 1);
    kp_write_string(&w, KP_STR(TOPIC), false);
    kp_write_int32(&w, -1);
    uint8_t *p = arena_alloc(a, w.len);
    memcpy(p, w.buf, w.len);
    kp_bytes b = { p, (int32_t)w.len };
    kp_writer_deinit(&w);
    return b;
}

/* A consumer-protocol assignment (v0): sweep partition 0. */
static kp_bytes assignment_bytes(arena *a)
{
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int16(&w, 0);
    kp_write_int32(&w, 1);
    kp_write_string(&w, KP_STR(TOPIC), false);
    kp_write_int32(&w, 1);
    kp_write_int32(&w, 0);
    kp_write_int32(&w, -1);
    uint8_t *p = arena_alloc(a, w.len);
    memcpy(p, w.buf, w.len);
    kp_bytes b = { p, (int32_t)w.len };
    kp_writer_deinit(&w);
    return b;
}

/* A record batch v2 of n records (idempotent when pid >= 0). */
static kp_records batch_records(arena *a, int n, int64_t pid, int16_t epoch, int32_t seq)
{
    kp_writer w;
    kp_writer_init(&w);
    batch_builder b;
    int64_t ts = wall_ms();
    batch_build_begin(&b, &w, ts);
    for (int i = 0; i < n; i++) {
        char k[16], val[32];
        int kl = snprintf(k, sizeof k, "k%d", i);
        int vl = snprintf(val, sizeof val, "sweep value %d", i);
        batch_build_add(&b, ts, k, kl, val, vl);
    }
    if (pid >= 0)
        batch_build_producer(&b, pid, epoch, seq, 0);
    size_t len = batch_build_end(&b);
    if (!len)
        die("batch");
    uint8_t *p = arena_alloc(a, len);
    memcpy(p, w.buf + b.start, len);
    kp_writer_deinit(&w);
    kp_records r = { 0 };
    r.ptr = p;
    r.len = (int32_t)len;
    r.fd = -1;
    return r;
}

static void fill_produce(arena *a, kp_produce_req *m, const char *topic, kp_records recs)
{
    m->transactional_id = KP_STR_NULL;
    m->acks = -1;
    m->timeout_ms = 10000;
    m->topic_data_n = 1;
    m->topic_data = NEW(a, kp_produce_req_topic, 1);
    kp_produce_req_topic_init(&m->topic_data[0]);
    m->topic_data[0].name = str_dup(a, topic);
    m->topic_data[0].topic_id = !strcmp(topic, TOPIC) ? g_topic_id : g_topic_id_dr;
    m->topic_data[0].partition_data_n = 1;
    m->topic_data[0].partition_data = NEW(a, kp_produce_req_partition, 1);
    kp_produce_req_partition_init(&m->topic_data[0].partition_data[0]);
    m->topic_data[0].partition_data[0].index = 0;
    m->topic_data[0].partition_data[0].records = recs;
}

/* Retry a helper until every error in its answer is 0, up to secs. */
typedef void (*builder_fn)(arena *a, void *req, const void *arg);

static int call_until_clean(int16_t key, builder_fn build, const void *arg, double secs, arena *a,
                            result *res, const char *what)
{
    double deadline = now_s() + secs;
    for (;;) {
        void *req = new_req(a, key);
        build(a, req, arg);
        call(key, req, a, res);
        if (result_clean(res))
            return 0;
        if (now_s() > deadline) {
            fprintf(stderr, "sweep: %s: not ready after %.0f s (%s, error %d)\n", what, secs,
                    res->ok ? "decoded" : res->failure, result_first_error(res));
            return -1;
        }
        result_free(res);
        usleep(200 * 1000);
    }
}

static void build_create_topics(arena *a, void *req, const void *arg)
{
    kp_create_topics_req *m = req;
    const char *const *names = arg;
    int n = 0;
    while (names[n])
        n++;
    m->topics_n = n;
    m->topics = NEW(a, kp_create_topics_req_topic, n);
    for (int i = 0; i < n; i++) {
        kp_create_topics_req_topic_init(&m->topics[i]);
        m->topics[i].name = str_dup(a, names[i]);
        m->topics[i].num_partitions = 1;
        m->topics[i].replication_factor = 1;
        m->topics[i].assignments_n = 0;
        m->topics[i].configs_n = 0;
    }
    m->timeout_ms = 30000;
    m->validate_only = false;
}

static void build_list_offsets_many(arena *a, void *req, const void *arg)
{
    kp_list_offsets_req *m = req;
    const char *const *names = arg;
    int n = 0;
    while (names[n])
        n++;
    m->replica_id = -1;
    m->isolation_level = 0;
    m->timeout_ms = 30000;
    m->topics_n = n;
    m->topics = NEW(a, kp_list_offsets_req_topic, n);
    for (int i = 0; i < n; i++) {
        kp_list_offsets_req_topic_init(&m->topics[i]);
        m->topics[i].name = str_dup(a, names[i]);
        m->topics[i].partitions_n = 1;
        m->topics[i].partitions = NEW(a, kp_list_offsets_req_partition, 1);
        kp_list_offsets_req_partition_init(&m->topics[i].partitions[0]);
        m->topics[i].partitions[0].partition_index = 0;
        m->topics[i].partitions[0].current_leader_epoch = -1;
        m->topics[i].partitions[0].timestamp = -1;
    }
}

static void build_find_coordinator(arena *a, void *req, const void *arg)
{
    const char *const *kv = arg; /* { key, "0"|"1" } */
    kp_find_coordinator_req *m = req;
    m->key = str_dup(a, kv[0]);
    m->key_type = (int8_t)atoi(kv[1]);
    m->coordinator_keys_n = 1;
    m->coordinator_keys = NEW(a, kp_str, 1);
    m->coordinator_keys[0] = str_dup(a, kv[0]);
}

static void fill_offset_commit(arena *a, kp_offset_commit_req *m, const char *group, int64_t off)
{
    m->group_id = str_dup(a, group);
    m->generation_id_or_member_epoch = -1;
    m->member_id = KP_STR("");
    m->group_instance_id = KP_STR_NULL;
    m->retention_time_ms = -1;
    m->topics_n = 1;
    m->topics = NEW(a, kp_offset_commit_req_topic, 1);
    kp_offset_commit_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].topic_id = g_topic_id;
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(a, kp_offset_commit_req_partition, 1);
    kp_offset_commit_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].committed_offset = off;
    m->topics[0].partitions[0].committed_leader_epoch = -1;
    m->topics[0].partitions[0].commit_timestamp = -1;
    m->topics[0].partitions[0].committed_metadata = KP_STR("");
}

static void build_offset_commit(arena *a, void *req, const void *arg)
{
    fill_offset_commit(a, req, arg, 1);
}

static void fill_offset_fetch(arena *a, kp_offset_fetch_req *m, const char *group)
{
    m->group_id = str_dup(a, group);
    m->topics_n = 1;
    m->topics = NEW(a, kp_offset_fetch_req_topic, 1);
    kp_offset_fetch_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].partition_indexes_n = 1;
    m->topics[0].partition_indexes = NEW(a, int32_t, 1);
    m->topics[0].partition_indexes[0] = 0;
    m->groups_n = 1;
    m->groups = NEW(a, kp_offset_fetch_req_group, 1);
    kp_offset_fetch_req_group_init(&m->groups[0]);
    m->groups[0].group_id = str_dup(a, group);
    m->groups[0].member_id = KP_STR_NULL;
    m->groups[0].member_epoch = -1;
    m->groups[0].topics_n = 1;
    m->groups[0].topics = NEW(a, kp_offset_fetch_req_group_topic, 1);
    kp_offset_fetch_req_group_topic_init(&m->groups[0].topics[0]);
    m->groups[0].topics[0].name = KP_STR(TOPIC);
    m->groups[0].topics[0].topic_id = g_topic_id;
    m->groups[0].topics[0].partition_indexes_n = 1;
    m->groups[0].topics[0].partition_indexes = NEW(a, int32_t, 1);
    m->groups[0].topics[0].partition_indexes[0] = 0;
    m->require_stable = false;
}

static void build_offset_fetch(arena *a, void *req, const void *arg)
{
    fill_offset_fetch(a, req, arg);
}

static void fill_join(arena *a, kp_join_group_req *m, const char *group, const char *member)
{
    m->group_id = str_dup(a, group);
    m->session_timeout_ms = 30000;
    m->rebalance_timeout_ms = 10000;
    m->member_id = str_dup(a, member);
    m->group_instance_id = KP_STR_NULL;
    m->protocol_type = KP_STR("consumer");
    m->protocols_n = 1;
    m->protocols = NEW(a, kp_join_group_req_protocol, 1);
    kp_join_group_req_protocol_init(&m->protocols[0]);
    m->protocols[0].name = KP_STR("range");
    m->protocols[0].metadata = subscription_bytes(a);
    m->reason = KP_STR_NULL;
}

typedef struct member {
    char id[256];
    int32_t generation;
} member;

static void copy_str(char *dst, size_t cap, kp_str s)
{
    size_t n = s.len > 0 ? (size_t)s.len : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s.ptr ? s.ptr : "", n);
    dst[n] = 0;
}

/* Join group (and sync when sync != 0) at the best versions: a stable member. */
static int make_member(arena *a, const char *group, int sync, member *out)
{
    out->id[0] = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        kp_join_group_req *j = new_req(a, KP_API_JOIN_GROUP);
        fill_join(a, j, group, out->id);
        result r;
        call(KP_API_JOIN_GROUP, j, a, &r);
        if (!r.ok) {
            fprintf(stderr, "sweep: join %s: %s\n", group, r.failure);
            result_free(&r);
            return -1;
        }
        kp_join_group_resp *jr = r.resp;
        copy_str(out->id, sizeof out->id, jr->member_id);
        out->generation = jr->generation_id;
        int16_t ec = jr->error_code;
        result_free(&r);
        if (ec == KERR_MEMBER_ID_REQUIRED)
            continue;
        if (ec != 0) {
            fprintf(stderr, "sweep: join %s: error %d\n", group, ec);
            return -1;
        }
        break;
    }
    if (!sync)
        return 0;
    kp_sync_group_req *s = new_req(a, KP_API_SYNC_GROUP);
    s->group_id = str_dup(a, group);
    s->generation_id = out->generation;
    s->member_id = str_dup(a, out->id);
    s->group_instance_id = KP_STR_NULL;
    s->protocol_type = KP_STR("consumer");
    s->protocol_name = KP_STR("range");
    s->assignments_n = 1;
    s->assignments = NEW(a, kp_sync_group_req_assignment, 1);
    kp_sync_group_req_assignment_init(&s->assignments[0]);
    s->assignments[0].member_id = str_dup(a, out->id);
    s->assignments[0].assignment = assignment_bytes(a);
    result r;
    call(KP_API_SYNC_GROUP, s, a, &r);
    int rc = result_clean(&r) ? 0 : -1;
    if (rc)
        fprintf(stderr, "sweep: sync %s: %s %d\n", group, r.ok ? "error" : r.failure, result_first_error(&r));
    result_free(&r);
    return rc;
}

typedef struct txn {
    int64_t pid;
    int16_t epoch;
} txn;

static void build_init_pid(arena *a, void *req, const void *arg)
{
    kp_init_producer_id_req *m = req;
    m->transactional_id = arg ? str_dup(a, arg) : KP_STR_NULL;
    m->transaction_timeout_ms = 60000;
    m->producer_id = -1;
    m->producer_epoch = -1;
}

/* A transactional producer id for txn_id (coordinator found, initialised). */
static int make_txn(arena *a, const char *txn_id, txn *out)
{
    const char *kv[2] = { txn_id, "1" };
    result r;
    if (call_until_clean(KP_API_FIND_COORDINATOR, build_find_coordinator, kv, 30, a, &r, txn_id) < 0) {
        result_free(&r);
        return -1;
    }
    result_free(&r);
    if (call_until_clean(KP_API_INIT_PRODUCER_ID, build_init_pid, txn_id, 30, a, &r, txn_id) < 0) {
        result_free(&r);
        return -1;
    }
    kp_init_producer_id_resp *ir = r.resp;
    out->pid = ir->producer_id;
    out->epoch = ir->producer_epoch;
    result_free(&r);
    return 0;
}

static void fill_add_partitions(arena *a, kp_add_partitions_to_txn_req *m, const char *txn_id, const txn *t)
{
    m->v3_and_below_transactional_id = str_dup(a, txn_id);
    m->v3_and_below_producer_id = t->pid;
    m->v3_and_below_producer_epoch = t->epoch;
    m->v3_and_below_topics_n = 1;
    m->v3_and_below_topics = NEW(a, kp_add_partitions_to_txn_req_topic, 1);
    kp_add_partitions_to_txn_req_topic_init(&m->v3_and_below_topics[0]);
    m->v3_and_below_topics[0].name = KP_STR(TOPIC_TXN);
    m->v3_and_below_topics[0].partitions_n = 1;
    m->v3_and_below_topics[0].partitions = NEW(a, int32_t, 1);
    m->v3_and_below_topics[0].partitions[0] = 0;
    /* v4+: the same as one transaction of a broker's batch. */
    m->transactions_n = 1;
    m->transactions = NEW(a, kp_add_partitions_to_txn_req_transaction, 1);
    kp_add_partitions_to_txn_req_transaction_init(&m->transactions[0]);
    m->transactions[0].transactional_id = str_dup(a, txn_id);
    m->transactions[0].producer_id = t->pid;
    m->transactions[0].producer_epoch = t->epoch;
    m->transactions[0].verify_only = false;
    m->transactions[0].topics_n = 1;
    m->transactions[0].topics = NEW(a, kp_add_partitions_to_txn_req_txn_topic, 1);
    kp_add_partitions_to_txn_req_txn_topic_init(&m->transactions[0].topics[0]);
    m->transactions[0].topics[0].name = KP_STR(TOPIC_TXN);
    m->transactions[0].topics[0].partitions_n = 1;
    m->transactions[0].topics[0].partitions = NEW(a, int32_t, 1);
    m->transactions[0].topics[0].partitions[0] = 0;
}

static void fill_end_txn(arena *a, kp_end_txn_req *m, const char *txn_id, const txn *t, bool commit)
{
    m->transactional_id = str_dup(a, txn_id);
    m->producer_id = t->pid;
    m->producer_epoch = t->epoch;
    m->committed = commit;
}

static void fill_add_offsets(arena *a, kp_add_offsets_to_txn_req *m, const char *txn_id, const txn *t,
                             const char *group)
{
    m->transactional_id = str_dup(a, txn_id);
    m->producer_id = t->pid;
    m->producer_epoch = t->epoch;
    m->group_id = str_dup(a, group);
}

/* A helper that must succeed (retried while the coordinator says to: a
 * transaction's markers still being written, a coordinator loading). */
static int call_ok(int16_t key, void *req, arena *a, const char *what)
{
    double deadline = now_s() + 20;
    for (;;) {
        result r;
        call(key, req, a, &r);
        int16_t e = result_first_error(&r);
        result_free(&r);
        if (e == 0)
            return 0;
        if (now_s() > deadline || !(e == KERR_CONCURRENT_TRANSACTIONS || e == KERR_COORDINATOR_LOAD_IN_PROGRESS ||
                                    e == KERR_COORDINATOR_NOT_AVAILABLE || e == KERR_NOT_COORDINATOR)) {
            fprintf(stderr, "sweep: %s: error %d\n", what, e);
            return -1;
        }
        usleep(100 * 1000);
    }
}

static void end_txn_helper(arena *a, const char *txn_id, const txn *t)
{
    kp_end_txn_req *e = new_req(a, KP_API_END_TXN);
    fill_end_txn(a, e, txn_id, t, false);
    call_ok(KP_API_END_TXN, e, a, "EndTxn (abort, cleanup)");
}

/* ------------------------------------------------------------------ the swept requests */

typedef struct sweep_ctx {
    const kp_api_info *api;
    int16_t v;
    arena *a;
} sweep_ctx;

/* Send the filled request at the swept version and print its line. */
static result *sweep_send(sweep_ctx *c, const void *req, int step, result *r)
{
    exchange(c->api->key, c->v, req, c->a, r);
    report(c->api, c->v, step, r);
    return r;
}

static void sweep_one(sweep_ctx *c, const void *req)
{
    result r;
    sweep_send(c, req, 1, &r);
    result_free(&r);
}

/* A request that prepares the swept one failed: the swept one is a failure. */
static void prep_failed(sweep_ctx *c, const char *what)
{
    result r;
    memset(&r, 0, sizeof r);
    snprintf(r.failure, sizeof r.failure, "preparing request failed: %s (see stderr)", what);
    report(c->api, c->v, 1, &r);
}

#define REQ(T) T *m = new_req(c->a, c->api->key)

static void sw_produce(sweep_ctx *c)
{
    REQ(kp_produce_req);
    fill_produce(c->a, m, TOPIC, batch_records(c->a, 2, -1, -1, -1));
    sweep_one(c, m);
}

static void sw_fetch(sweep_ctx *c)
{
    REQ(kp_fetch_req);
    m->cluster_id = KP_STR_NULL;
    m->replica_id = -1;
    m->max_wait_ms = 100;
    m->min_bytes = 1;
    m->max_bytes = 1 << 20;
    m->isolation_level = 0;
    m->session_id = 0;
    m->session_epoch = -1;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_fetch_req_topic, 1);
    kp_fetch_req_topic_init(&m->topics[0]);
    m->topics[0].topic = KP_STR(TOPIC);
    m->topics[0].topic_id = g_topic_id;
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_fetch_req_partition, 1);
    kp_fetch_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition = 0;
    m->topics[0].partitions[0].current_leader_epoch = -1;
    m->topics[0].partitions[0].fetch_offset = 0;
    m->topics[0].partitions[0].last_fetched_epoch = -1;
    m->topics[0].partitions[0].log_start_offset = -1;
    m->topics[0].partitions[0].partition_max_bytes = 1 << 20;
    m->forgotten_topics_data_n = 0;
    m->rack_id = KP_STR("");
    sweep_one(c, m);
}

static void sw_list_offsets(sweep_ctx *c)
{
    REQ(kp_list_offsets_req);
    static const char *const names[] = { TOPIC, NULL };
    build_list_offsets_many(c->a, m, names);
    sweep_one(c, m);
}

static void sw_metadata(sweep_ctx *c)
{
    REQ(kp_metadata_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_metadata_req_topic, 1);
    kp_metadata_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->allow_auto_topic_creation = false;
    m->include_cluster_authorized_operations = false;
    m->include_topic_authorized_operations = false;
    sweep_one(c, m);
}

static void sw_offset_commit(sweep_ctx *c)
{
    REQ(kp_offset_commit_req);
    char g[64];
    snprintf(g, sizeof g, "sweep-OffsetCommit-v%d", c->v);
    fill_offset_commit(c->a, m, g, 1);
    sweep_one(c, m);
}

static void sw_offset_fetch(sweep_ctx *c)
{
    REQ(kp_offset_fetch_req);
    fill_offset_fetch(c->a, m, GROUP_COMMITTED);
    sweep_one(c, m);
}

static void sw_find_coordinator(sweep_ctx *c)
{
    REQ(kp_find_coordinator_req);
    static const char *const kv[2] = { GROUP_COMMITTED, "0" };
    build_find_coordinator(c->a, m, kv);
    sweep_one(c, m);
}

static void sw_join_group(sweep_ctx *c)
{
    char g[64];
    snprintf(g, sizeof g, "sweep-JoinGroup-v%d", c->v);
    REQ(kp_join_group_req);
    fill_join(c->a, m, g, "");
    result r;
    sweep_send(c, m, 1, &r);
    if (r.ok && ((kp_join_group_resp *)r.resp)->error_code == KERR_MEMBER_ID_REQUIRED) {
        char id[256];
        copy_str(id, sizeof id, ((kp_join_group_resp *)r.resp)->member_id);
        kp_join_group_req *m2 = new_req(c->a, c->api->key);
        fill_join(c->a, m2, g, id);
        result r2;
        sweep_send(c, m2, 2, &r2);
        result_free(&r2);
    }
    result_free(&r);
}

static void sw_sync_group(sweep_ctx *c)
{
    char g[64];
    snprintf(g, sizeof g, "sweep-SyncGroup-v%d", c->v);
    member mb;
    if (make_member(c->a, g, 0, &mb) < 0) {
        prep_failed(c, "a group member");
        return;
    }
    REQ(kp_sync_group_req);
    m->group_id = str_dup(c->a, g);
    m->generation_id = mb.generation;
    m->member_id = str_dup(c->a, mb.id);
    m->group_instance_id = KP_STR_NULL;
    m->protocol_type = KP_STR("consumer");
    m->protocol_name = KP_STR("range");
    m->assignments_n = 1;
    m->assignments = NEW(c->a, kp_sync_group_req_assignment, 1);
    kp_sync_group_req_assignment_init(&m->assignments[0]);
    m->assignments[0].member_id = str_dup(c->a, mb.id);
    m->assignments[0].assignment = assignment_bytes(c->a);
    sweep_one(c, m);
}

static void sw_heartbeat(sweep_ctx *c)
{
    char g[64];
    snprintf(g, sizeof g, "sweep-Heartbeat-v%d", c->v);
    member mb;
    if (make_member(c->a, g, 1, &mb) < 0) {
        prep_failed(c, "a group member");
        return;
    }
    REQ(kp_heartbeat_req);
    m->group_id = str_dup(c->a, g);
    m->generation_id = mb.generation;
    m->member_id = str_dup(c->a, mb.id);
    m->group_instance_id = KP_STR_NULL;
    sweep_one(c, m);
}

static void sw_leave_group(sweep_ctx *c)
{
    char g[64];
    snprintf(g, sizeof g, "sweep-LeaveGroup-v%d", c->v);
    member mb;
    if (make_member(c->a, g, 1, &mb) < 0) {
        prep_failed(c, "a group member");
        return;
    }
    REQ(kp_leave_group_req);
    m->group_id = str_dup(c->a, g);
    m->member_id = str_dup(c->a, mb.id);
    m->members_n = 1;
    m->members = NEW(c->a, kp_leave_group_req_member, 1);
    kp_leave_group_req_member_init(&m->members[0]);
    m->members[0].member_id = str_dup(c->a, mb.id);
    m->members[0].group_instance_id = KP_STR_NULL;
    m->members[0].reason = KP_STR("the sweep leaves");
    sweep_one(c, m);
}

static void sw_describe_groups(sweep_ctx *c)
{
    char g[64];
    snprintf(g, sizeof g, "sweep-DescribeGroups-v%d", c->v);
    member mb;
    if (make_member(c->a, g, 1, &mb) < 0) {
        prep_failed(c, "a group member");
        return;
    }
    REQ(kp_describe_groups_req);
    m->groups_n = 1;
    m->groups = NEW(c->a, kp_str, 1);
    m->groups[0] = str_dup(c->a, g);
    m->include_authorized_operations = false;
    sweep_one(c, m);
}

static void sw_list_groups(sweep_ctx *c)
{
    REQ(kp_list_groups_req);
    m->states_filter_n = 0;
    m->types_filter_n = 0;
    sweep_one(c, m);
}

static void sw_api_versions(sweep_ctx *c)
{
    REQ(kp_api_versions_req);
    m->client_software_name = KP_STR("gregor-sweep");
    m->client_software_version = KP_STR("1.0");
    sweep_one(c, m);
}

static void sw_create_topics(sweep_ctx *c)
{
    REQ(kp_create_topics_req);
    char name[64];
    snprintf(name, sizeof name, "sweep-CreateTopics-v%d", c->v);
    const char *names[2] = { name, NULL };
    build_create_topics(c->a, m, names);
    sweep_one(c, m);
}

static void sw_delete_topics(sweep_ctx *c)
{
    REQ(kp_delete_topics_req);
    kp_str name = fmt_str(c->a, "sweep-DeleteTopics-v%d", c->v);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_delete_topics_req_topic, 1);
    kp_delete_topics_req_topic_init(&m->topics[0]);
    m->topics[0].name = name;
    m->topic_names_n = 1;
    m->topic_names = NEW(c->a, kp_str, 1);
    m->topic_names[0] = name;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void sw_delete_records(sweep_ctx *c)
{
    REQ(kp_delete_records_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_delete_records_req_delete_records_topic, 1);
    kp_delete_records_req_delete_records_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC_DR);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_delete_records_req_delete_records_partition, 1);
    kp_delete_records_req_delete_records_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].offset = c->v + 1;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void sw_init_producer_id(sweep_ctx *c)
{
    REQ(kp_init_producer_id_req);
    build_init_pid(c->a, m, NULL);
    sweep_one(c, m);
}

static void sw_offset_for_leader_epoch(sweep_ctx *c)
{
    REQ(kp_offset_for_leader_epoch_req);
    m->replica_id = -1;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_offset_for_leader_epoch_req_topic, 1);
    kp_offset_for_leader_epoch_req_topic_init(&m->topics[0]);
    m->topics[0].topic = KP_STR(TOPIC);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_offset_for_leader_epoch_req_partition, 1);
    kp_offset_for_leader_epoch_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition = 0;
    m->topics[0].partitions[0].current_leader_epoch = -1;
    m->topics[0].partitions[0].leader_epoch = 0;
    sweep_one(c, m);
}

static void sw_add_partitions_to_txn(sweep_ctx *c)
{
    char id[64];
    snprintf(id, sizeof id, "sweep-AddPartitionsToTxn-v%d", c->v);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    REQ(kp_add_partitions_to_txn_req);
    fill_add_partitions(c->a, m, id, &t);
    sweep_one(c, m);
    end_txn_helper(c->a, id, &t);
}

static void sw_add_offsets_to_txn(sweep_ctx *c)
{
    char id[64];
    snprintf(id, sizeof id, "sweep-AddOffsetsToTxn-v%d", c->v);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    REQ(kp_add_offsets_to_txn_req);
    fill_add_offsets(c->a, m, id, &t, GROUP_COMMITTED);
    sweep_one(c, m);
    end_txn_helper(c->a, id, &t);
}

static void sw_end_txn(sweep_ctx *c)
{
    char id[64];
    snprintf(id, sizeof id, "sweep-EndTxn-v%d", c->v);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    kp_add_partitions_to_txn_req *ap = new_req(c->a, KP_API_ADD_PARTITIONS_TO_TXN);
    fill_add_partitions(c->a, ap, id, &t);
    if (call_ok(KP_API_ADD_PARTITIONS_TO_TXN, ap, c->a, "AddPartitionsToTxn before EndTxn") < 0) {
        prep_failed(c, "AddPartitionsToTxn before EndTxn");
        return;
    }
    REQ(kp_end_txn_req);
    fill_end_txn(c->a, m, id, &t, true);
    sweep_one(c, m);
}

static void sw_write_txn_markers(sweep_ctx *c)
{
    /* What a transaction coordinator sends a partition leader: an abort
     * marker for a producer id (a fresh idempotent one) on sweep-markers. */
    kp_init_producer_id_req *ip = new_req(c->a, KP_API_INIT_PRODUCER_ID);
    build_init_pid(c->a, ip, NULL);
    result r;
    call(KP_API_INIT_PRODUCER_ID, ip, c->a, &r);
    if (!result_clean(&r)) {
        result_free(&r);
        prep_failed(c, "InitProducerId before WriteTxnMarkers");
        return;
    }
    kp_init_producer_id_resp *ir = r.resp;
    REQ(kp_write_txn_markers_req);
    m->markers_n = 1;
    m->markers = NEW(c->a, kp_write_txn_markers_req_writable_txn_marker, 1);
    kp_write_txn_markers_req_writable_txn_marker_init(&m->markers[0]);
    m->markers[0].producer_id = ir->producer_id;
    m->markers[0].producer_epoch = ir->producer_epoch;
    m->markers[0].transaction_result = false;
    m->markers[0].coordinator_epoch = 0;
    m->markers[0].topics_n = 1;
    m->markers[0].topics = NEW(c->a, kp_write_txn_markers_req_writable_txn_marker_topic, 1);
    kp_write_txn_markers_req_writable_txn_marker_topic_init(&m->markers[0].topics[0]);
    m->markers[0].topics[0].name = KP_STR(TOPIC_MARKERS);
    m->markers[0].topics[0].partition_indexes_n = 1;
    m->markers[0].topics[0].partition_indexes = NEW(c->a, int32_t, 1);
    m->markers[0].topics[0].partition_indexes[0] = 0;
    result_free(&r);
    sweep_one(c, m);
}

static void sw_txn_offset_commit(sweep_ctx *c)
{
    char id[64], g[64];
    snprintf(id, sizeof id, "sweep-TxnOffsetCommit-v%d", c->v);
    snprintf(g, sizeof g, "sweep-TxnOffsetCommit-v%d", c->v);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    kp_add_offsets_to_txn_req *ao = new_req(c->a, KP_API_ADD_OFFSETS_TO_TXN);
    fill_add_offsets(c->a, ao, id, &t, g);
    if (call_ok(KP_API_ADD_OFFSETS_TO_TXN, ao, c->a, "AddOffsetsToTxn before TxnOffsetCommit") < 0) {
        prep_failed(c, "AddOffsetsToTxn before TxnOffsetCommit");
        return;
    }
    REQ(kp_txn_offset_commit_req);
    m->transactional_id = str_dup(c->a, id);
    m->group_id = str_dup(c->a, g);
    m->producer_id = t.pid;
    m->producer_epoch = t.epoch;
    m->generation_id_or_member_epoch = -1;
    m->member_id = KP_STR("");
    m->group_instance_id = KP_STR_NULL;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_txn_offset_commit_req_topic, 1);
    kp_txn_offset_commit_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_txn_offset_commit_req_partition, 1);
    kp_txn_offset_commit_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].committed_offset = 1;
    m->topics[0].partitions[0].committed_leader_epoch = -1;
    m->topics[0].partitions[0].committed_metadata = KP_STR("");
    sweep_one(c, m);
    end_txn_helper(c->a, id, &t);
}

static void sw_describe_configs(sweep_ctx *c)
{
    REQ(kp_describe_configs_req);
    m->resources_n = 2;
    m->resources = NEW(c->a, kp_describe_configs_req_resource, 2);
    kp_describe_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2; /* topic */
    m->resources[0].resource_name = KP_STR(TOPIC);
    m->resources[0].configuration_keys_n = 2;
    m->resources[0].configuration_keys = NEW(c->a, kp_str, 2);
    m->resources[0].configuration_keys[0] = KP_STR("cleanup.policy");
    m->resources[0].configuration_keys[1] = KP_STR("retention.ms");
    kp_describe_configs_req_resource_init(&m->resources[1]);
    m->resources[1].resource_type = 4; /* broker */
    m->resources[1].resource_name = fmt_str(c->a, "%d", g_node_id);
    m->resources[1].configuration_keys_n = 1;
    m->resources[1].configuration_keys = NEW(c->a, kp_str, 1);
    m->resources[1].configuration_keys[0] = KP_STR("log.retention.hours");
    m->include_synonyms = false;
    m->include_documentation = false;
    sweep_one(c, m);
}

static void sw_alter_configs(sweep_ctx *c)
{
    REQ(kp_alter_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_alter_configs_req_resource, 1);
    kp_alter_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = KP_STR(TOPIC_CFG);
    m->resources[0].configs_n = 1;
    m->resources[0].configs = NEW(c->a, kp_alter_configs_req_config, 1);
    kp_alter_configs_req_config_init(&m->resources[0].configs[0]);
    m->resources[0].configs[0].name = KP_STR("retention.ms");
    m->resources[0].configs[0].value = fmt_str(c->a, "%d", 86400000 + c->v);
    m->validate_only = false;
    sweep_one(c, m);
}

static void sw_incremental_alter_configs(sweep_ctx *c)
{
    REQ(kp_incremental_alter_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_incremental_alter_configs_req_resource, 1);
    kp_incremental_alter_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = KP_STR(TOPIC_CFG);
    m->resources[0].configs_n = 1;
    m->resources[0].configs = NEW(c->a, kp_incremental_alter_configs_req_config, 1);
    kp_incremental_alter_configs_req_config_init(&m->resources[0].configs[0]);
    m->resources[0].configs[0].name = KP_STR("segment.ms");
    m->resources[0].configs[0].config_operation = 0; /* SET */
    m->resources[0].configs[0].value = fmt_str(c->a, "%d", 3600000 + c->v);
    m->validate_only = false;
    sweep_one(c, m);
}

static void sw_describe_log_dirs(sweep_ctx *c)
{
    REQ(kp_describe_log_dirs_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_describe_log_dirs_req_describable_log_dir_topic, 1);
    kp_describe_log_dirs_req_describable_log_dir_topic_init(&m->topics[0]);
    m->topics[0].topic = KP_STR(TOPIC);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, int32_t, 1);
    m->topics[0].partitions[0] = 0;
    sweep_one(c, m);
}

static void sw_create_partitions(sweep_ctx *c)
{
    REQ(kp_create_partitions_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_create_partitions_req_topic, 1);
    kp_create_partitions_req_topic_init(&m->topics[0]);
    m->topics[0].name = fmt_str(c->a, "sweep-CreatePartitions-v%d", c->v);
    m->topics[0].count = 2;
    m->topics[0].assignments_n = -1;
    m->timeout_ms = 30000;
    m->validate_only = false;
    sweep_one(c, m);
}

static void sw_delete_groups(sweep_ctx *c)
{
    char g[64];
    snprintf(g, sizeof g, "sweep-DeleteGroups-v%d", c->v);
    kp_offset_commit_req *oc = new_req(c->a, KP_API_OFFSET_COMMIT);
    fill_offset_commit(c->a, oc, g, 1);
    if (call_ok(KP_API_OFFSET_COMMIT, oc, c->a, "OffsetCommit before DeleteGroups") < 0) {
        prep_failed(c, "OffsetCommit before DeleteGroups");
        return;
    }
    REQ(kp_delete_groups_req);
    m->groups_names_n = 1;
    m->groups_names = NEW(c->a, kp_str, 1);
    m->groups_names[0] = str_dup(c->a, g);
    sweep_one(c, m);
}

static void sw_elect_leaders(sweep_ctx *c)
{
    REQ(kp_elect_leaders_req);
    m->election_type = 0; /* preferred */
    m->topic_partitions_n = 1;
    m->topic_partitions = NEW(c->a, kp_elect_leaders_req_topic_partitions, 1);
    kp_elect_leaders_req_topic_partitions_init(&m->topic_partitions[0]);
    m->topic_partitions[0].topic = KP_STR(TOPIC);
    m->topic_partitions[0].partitions_n = 1;
    m->topic_partitions[0].partitions = NEW(c->a, int32_t, 1);
    m->topic_partitions[0].partitions[0] = 0;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void sw_alter_partition_reassignments(sweep_ctx *c)
{
    /* Move sweep-0 to the replicas it has (one node): completes at once. */
    REQ(kp_alter_partition_reassignments_req);
    m->timeout_ms = 30000;
    m->allow_replication_factor_change = true;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_alter_partition_reassignments_req_topic, 1);
    kp_alter_partition_reassignments_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_alter_partition_reassignments_req_partition, 1);
    kp_alter_partition_reassignments_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].replicas_n = 1;
    m->topics[0].partitions[0].replicas = NEW(c->a, int32_t, 1);
    m->topics[0].partitions[0].replicas[0] = g_node_id;
    sweep_one(c, m);
}

static void sw_list_partition_reassignments(sweep_ctx *c)
{
    REQ(kp_list_partition_reassignments_req);
    m->timeout_ms = 30000;
    m->topics_n = -1;
    sweep_one(c, m);
}

static void sw_offset_delete(sweep_ctx *c)
{
    char g[64];
    snprintf(g, sizeof g, "sweep-OffsetDelete-v%d", c->v);
    kp_offset_commit_req *oc = new_req(c->a, KP_API_OFFSET_COMMIT);
    fill_offset_commit(c->a, oc, g, 1);
    if (call_ok(KP_API_OFFSET_COMMIT, oc, c->a, "OffsetCommit before OffsetDelete") < 0) {
        prep_failed(c, "OffsetCommit before OffsetDelete");
        return;
    }
    REQ(kp_offset_delete_req);
    m->group_id = str_dup(c->a, g);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_offset_delete_req_topic, 1);
    kp_offset_delete_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_offset_delete_req_partition, 1);
    kp_offset_delete_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    sweep_one(c, m);
}

static void sw_describe_quorum(sweep_ctx *c)
{
    REQ(kp_describe_quorum_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_describe_quorum_req_topic, 1);
    kp_describe_quorum_req_topic_init(&m->topics[0]);
    m->topics[0].topic_name = KP_STR("__cluster_metadata");
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_describe_quorum_req_partition, 1);
    kp_describe_quorum_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    sweep_one(c, m);
}

static void sw_describe_cluster(sweep_ctx *c)
{
    REQ(kp_describe_cluster_req);
    m->include_cluster_authorized_operations = false;
    m->endpoint_type = 1;
    m->include_fenced_brokers = false;
    sweep_one(c, m);
}

static void sw_describe_producers(sweep_ctx *c)
{
    REQ(kp_describe_producers_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_describe_producers_req_topic_request, 1);
    kp_describe_producers_req_topic_request_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].partition_indexes_n = 1;
    m->topics[0].partition_indexes = NEW(c->a, int32_t, 1);
    m->topics[0].partition_indexes[0] = 0;
    sweep_one(c, m);
}

static void sw_describe_transactions(sweep_ctx *c)
{
    char id[64];
    snprintf(id, sizeof id, "sweep-DescribeTransactions-v%d", c->v);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    REQ(kp_describe_transactions_req);
    m->transactional_ids_n = 1;
    m->transactional_ids = NEW(c->a, kp_str, 1);
    m->transactional_ids[0] = str_dup(c->a, id);
    sweep_one(c, m);
}

static void sw_list_transactions(sweep_ctx *c)
{
    /* Filtered by the producer id of a transactional id made for it: one
     * transaction listed, whatever else the sweep left behind. */
    char id[64];
    snprintf(id, sizeof id, "sweep-ListTransactions-v%d", c->v);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    REQ(kp_list_transactions_req);
    m->state_filters_n = 0;
    m->producer_id_filters_n = 1;
    m->producer_id_filters = NEW(c->a, int64_t, 1);
    m->producer_id_filters[0] = t.pid;
    m->duration_filter = -1;
    sweep_one(c, m);
}

/* ---- the error cases: the same request with one thing wrong (an unknown
 * topic, group, member or transactional id), Kafka's error codes compared. */

/* A name no request of the sweep uses but this one ("sweep-unknown-Produce-v3"):
 * a topic, group or transactional id that does not exist, whatever the
 * other error cases did (Metadata v0-3 creates the topic it asks for). */
static kp_str unknown_name(sweep_ctx *c)
{
    return fmt_str(c->a, "sweep-unknown-%s-v%d", c->api->name, c->v);
}

/* UpdateFeatures of one feature; validate_only from v1 (v0 has none: it
 * writes the level, which for the level the feature has changes nothing
 * but the finalized epoch). */
static void sweep_update_feature(sweep_ctx *c, kp_str feature, int16_t level, int8_t upgrade_type)
{
    REQ(kp_update_features_req);
    m->timeout_ms = 30000;
    m->feature_updates_n = 1;
    m->feature_updates = NEW(c->a, kp_update_features_req_feature_update_key, 1);
    kp_update_features_req_feature_update_key_init(&m->feature_updates[0]);
    m->feature_updates[0].feature = feature;
    m->feature_updates[0].max_version_level = level;
    m->feature_updates[0].allow_downgrade = upgrade_type != 1;
    m->feature_updates[0].upgrade_type = upgrade_type;
    m->validate_only = true;
    sweep_one(c, m);
}

/* transaction.version to 2, the level of a new cluster (Kafka 4.4's
 * `kafka-storage format` and Gregor's bootstrap). */
static void sw_update_features(sweep_ctx *c) { sweep_update_feature(c, KP_STR("transaction.version"), 2, 1); }

static const kp_uuid UNKNOWN_TOPIC_ID = { { 0x5e, 0xe9, 0x00, 0x01, 0x5e, 0xe9, 0x00, 0x02, 0x5e, 0xe9, 0x00, 0x03,
                                            0x5e, 0xe9, 0x00, 0x04 } };

static void er_produce(sweep_ctx *c)
{
    REQ(kp_produce_req);
    fill_produce(c->a, m, TOPIC, batch_records(c->a, 2, -1, -1, -1));
    m->topic_data[0].name = unknown_name(c);
    m->topic_data[0].topic_id = UNKNOWN_TOPIC_ID;
    sweep_one(c, m);
}

static void er_fetch(sweep_ctx *c)
{
    REQ(kp_fetch_req);
    m->cluster_id = KP_STR_NULL;
    m->replica_id = -1;
    m->max_wait_ms = 100;
    m->min_bytes = 1;
    m->max_bytes = 1 << 20;
    m->session_id = 0;
    m->session_epoch = -1;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_fetch_req_topic, 1);
    kp_fetch_req_topic_init(&m->topics[0]);
    m->topics[0].topic = unknown_name(c);
    m->topics[0].topic_id = UNKNOWN_TOPIC_ID;
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_fetch_req_partition, 1);
    kp_fetch_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition = 0;
    m->topics[0].partitions[0].fetch_offset = 0;
    m->topics[0].partitions[0].partition_max_bytes = 1 << 20;
    m->rack_id = KP_STR("");
    sweep_one(c, m);
}

static void er_list_offsets(sweep_ctx *c)
{
    REQ(kp_list_offsets_req);
    const char *names[] = { unknown_name(c).ptr, NULL };
    build_list_offsets_many(c->a, m, names);
    sweep_one(c, m);
}

static void er_metadata(sweep_ctx *c)
{
    REQ(kp_metadata_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_metadata_req_topic, 1);
    kp_metadata_req_topic_init(&m->topics[0]);
    m->topics[0].name = unknown_name(c);
    m->allow_auto_topic_creation = false;
    sweep_one(c, m);
}

static void er_offset_commit(sweep_ctx *c)
{
    REQ(kp_offset_commit_req);
    char g[64];
    snprintf(g, sizeof g, "sweep-OffsetCommit-v%d", c->v);
    fill_offset_commit(c->a, m, g, 1);
    m->topics[0].name = unknown_name(c);
    m->topics[0].topic_id = UNKNOWN_TOPIC_ID;
    sweep_one(c, m);
}

static void er_offset_fetch(sweep_ctx *c)
{
    REQ(kp_offset_fetch_req);
    fill_offset_fetch(c->a, m, unknown_name(c).ptr);
    sweep_one(c, m);
}

static void er_sync_group(sweep_ctx *c)
{
    REQ(kp_sync_group_req);
    m->group_id = unknown_name(c);
    m->generation_id = 1;
    m->member_id = KP_STR("sweep-nobody");
    m->group_instance_id = KP_STR_NULL;
    m->protocol_type = KP_STR("consumer");
    m->protocol_name = KP_STR("range");
    m->assignments_n = 0;
    sweep_one(c, m);
}

static void er_heartbeat(sweep_ctx *c)
{
    REQ(kp_heartbeat_req);
    m->group_id = unknown_name(c);
    m->generation_id = 1;
    m->member_id = KP_STR("sweep-nobody");
    m->group_instance_id = KP_STR_NULL;
    sweep_one(c, m);
}

static void er_leave_group(sweep_ctx *c)
{
    REQ(kp_leave_group_req);
    m->group_id = unknown_name(c);
    m->member_id = KP_STR("sweep-nobody");
    m->members_n = 1;
    m->members = NEW(c->a, kp_leave_group_req_member, 1);
    kp_leave_group_req_member_init(&m->members[0]);
    m->members[0].member_id = KP_STR("sweep-nobody");
    m->members[0].group_instance_id = KP_STR_NULL;
    m->members[0].reason = KP_STR_NULL;
    sweep_one(c, m);
}

static void er_describe_groups(sweep_ctx *c)
{
    REQ(kp_describe_groups_req);
    m->groups_n = 1;
    m->groups = NEW(c->a, kp_str, 1);
    m->groups[0] = unknown_name(c);
    sweep_one(c, m);
}

static void er_delete_groups(sweep_ctx *c)
{
    REQ(kp_delete_groups_req);
    m->groups_names_n = 1;
    m->groups_names = NEW(c->a, kp_str, 1);
    m->groups_names[0] = unknown_name(c);
    sweep_one(c, m);
}

static void er_offset_delete(sweep_ctx *c)
{
    REQ(kp_offset_delete_req);
    m->group_id = unknown_name(c);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_offset_delete_req_topic, 1);
    kp_offset_delete_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_offset_delete_req_partition, 1);
    kp_offset_delete_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    sweep_one(c, m);
}

static void er_create_topics(sweep_ctx *c)
{
    /* A topic that exists. */
    REQ(kp_create_topics_req);
    static const char *const names[] = { TOPIC, NULL };
    build_create_topics(c->a, m, names);
    sweep_one(c, m);
}

static void er_delete_topics(sweep_ctx *c)
{
    REQ(kp_delete_topics_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_delete_topics_req_topic, 1);
    kp_delete_topics_req_topic_init(&m->topics[0]);
    m->topics[0].name = unknown_name(c);
    m->topic_names_n = 1;
    m->topic_names = NEW(c->a, kp_str, 1);
    m->topic_names[0] = unknown_name(c);
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void er_delete_records(sweep_ctx *c)
{
    REQ(kp_delete_records_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_delete_records_req_delete_records_topic, 1);
    kp_delete_records_req_delete_records_topic_init(&m->topics[0]);
    m->topics[0].name = unknown_name(c);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_delete_records_req_delete_records_partition, 1);
    kp_delete_records_req_delete_records_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].offset = 1;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void er_offset_for_leader_epoch(sweep_ctx *c)
{
    REQ(kp_offset_for_leader_epoch_req);
    m->replica_id = -1;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_offset_for_leader_epoch_req_topic, 1);
    kp_offset_for_leader_epoch_req_topic_init(&m->topics[0]);
    m->topics[0].topic = unknown_name(c);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_offset_for_leader_epoch_req_partition, 1);
    kp_offset_for_leader_epoch_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition = 0;
    m->topics[0].partitions[0].current_leader_epoch = -1;
    m->topics[0].partitions[0].leader_epoch = 0;
    sweep_one(c, m);
}

/* A transactional id no InitProducerId made, with a made-up producer id. */
static const txn UNKNOWN_TXN = { 987654321, 0 };

static void er_add_partitions_to_txn(sweep_ctx *c)
{
    REQ(kp_add_partitions_to_txn_req);
    fill_add_partitions(c->a, m, unknown_name(c).ptr, &UNKNOWN_TXN);
    sweep_one(c, m);
}

static void er_add_offsets_to_txn(sweep_ctx *c)
{
    REQ(kp_add_offsets_to_txn_req);
    fill_add_offsets(c->a, m, unknown_name(c).ptr, &UNKNOWN_TXN, GROUP_COMMITTED);
    sweep_one(c, m);
}

static void er_end_txn(sweep_ctx *c)
{
    REQ(kp_end_txn_req);
    fill_end_txn(c->a, m, unknown_name(c).ptr, &UNKNOWN_TXN, true);
    sweep_one(c, m);
}

static void er_txn_offset_commit(sweep_ctx *c)
{
    REQ(kp_txn_offset_commit_req);
    m->transactional_id = unknown_name(c);
    m->group_id = unknown_name(c);
    m->producer_id = UNKNOWN_TXN.pid;
    m->producer_epoch = UNKNOWN_TXN.epoch;
    m->generation_id_or_member_epoch = -1;
    m->member_id = KP_STR("");
    m->group_instance_id = KP_STR_NULL;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_txn_offset_commit_req_topic, 1);
    kp_txn_offset_commit_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_txn_offset_commit_req_partition, 1);
    kp_txn_offset_commit_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].committed_offset = 1;
    m->topics[0].partitions[0].committed_leader_epoch = -1;
    m->topics[0].partitions[0].committed_metadata = KP_STR("");
    sweep_one(c, m);
}

static void er_write_txn_markers(sweep_ctx *c)
{
    REQ(kp_write_txn_markers_req);
    m->markers_n = 1;
    m->markers = NEW(c->a, kp_write_txn_markers_req_writable_txn_marker, 1);
    kp_write_txn_markers_req_writable_txn_marker_init(&m->markers[0]);
    m->markers[0].producer_id = UNKNOWN_TXN.pid;
    m->markers[0].producer_epoch = UNKNOWN_TXN.epoch;
    m->markers[0].transaction_result = false;
    m->markers[0].coordinator_epoch = 0;
    m->markers[0].topics_n = 1;
    m->markers[0].topics = NEW(c->a, kp_write_txn_markers_req_writable_txn_marker_topic, 1);
    kp_write_txn_markers_req_writable_txn_marker_topic_init(&m->markers[0].topics[0]);
    m->markers[0].topics[0].name = unknown_name(c);
    m->markers[0].topics[0].partition_indexes_n = 1;
    m->markers[0].topics[0].partition_indexes = NEW(c->a, int32_t, 1);
    m->markers[0].topics[0].partition_indexes[0] = 0;
    sweep_one(c, m);
}

static void er_describe_configs(sweep_ctx *c)
{
    REQ(kp_describe_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_describe_configs_req_resource, 1);
    kp_describe_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = unknown_name(c);
    m->resources[0].configuration_keys_n = -1;
    sweep_one(c, m);
}

static void er_alter_configs(sweep_ctx *c)
{
    REQ(kp_alter_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_alter_configs_req_resource, 1);
    kp_alter_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = unknown_name(c);
    m->resources[0].configs_n = 1;
    m->resources[0].configs = NEW(c->a, kp_alter_configs_req_config, 1);
    kp_alter_configs_req_config_init(&m->resources[0].configs[0]);
    m->resources[0].configs[0].name = KP_STR("retention.ms");
    m->resources[0].configs[0].value = KP_STR("86400000");
    sweep_one(c, m);
}

static void er_incremental_alter_configs(sweep_ctx *c)
{
    REQ(kp_incremental_alter_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_incremental_alter_configs_req_resource, 1);
    kp_incremental_alter_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = unknown_name(c);
    m->resources[0].configs_n = 1;
    m->resources[0].configs = NEW(c->a, kp_incremental_alter_configs_req_config, 1);
    kp_incremental_alter_configs_req_config_init(&m->resources[0].configs[0]);
    m->resources[0].configs[0].name = KP_STR("segment.ms");
    m->resources[0].configs[0].config_operation = 0;
    m->resources[0].configs[0].value = KP_STR("3600000");
    sweep_one(c, m);
}

static void er_describe_log_dirs(sweep_ctx *c)
{
    REQ(kp_describe_log_dirs_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_describe_log_dirs_req_describable_log_dir_topic, 1);
    kp_describe_log_dirs_req_describable_log_dir_topic_init(&m->topics[0]);
    m->topics[0].topic = unknown_name(c);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, int32_t, 1);
    m->topics[0].partitions[0] = 0;
    sweep_one(c, m);
}

static void er_create_partitions(sweep_ctx *c)
{
    REQ(kp_create_partitions_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_create_partitions_req_topic, 1);
    kp_create_partitions_req_topic_init(&m->topics[0]);
    m->topics[0].name = unknown_name(c);
    m->topics[0].count = 2;
    m->topics[0].assignments_n = -1;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void er_update_features(sweep_ctx *c) { sweep_update_feature(c, unknown_name(c), 1, 1); }

static void er_elect_leaders(sweep_ctx *c)
{
    REQ(kp_elect_leaders_req);
    m->election_type = 0;
    m->topic_partitions_n = 1;
    m->topic_partitions = NEW(c->a, kp_elect_leaders_req_topic_partitions, 1);
    kp_elect_leaders_req_topic_partitions_init(&m->topic_partitions[0]);
    m->topic_partitions[0].topic = unknown_name(c);
    m->topic_partitions[0].partitions_n = 1;
    m->topic_partitions[0].partitions = NEW(c->a, int32_t, 1);
    m->topic_partitions[0].partitions[0] = 0;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void er_alter_partition_reassignments(sweep_ctx *c)
{
    REQ(kp_alter_partition_reassignments_req);
    m->timeout_ms = 30000;
    m->allow_replication_factor_change = true;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_alter_partition_reassignments_req_topic, 1);
    kp_alter_partition_reassignments_req_topic_init(&m->topics[0]);
    m->topics[0].name = unknown_name(c);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_alter_partition_reassignments_req_partition, 1);
    kp_alter_partition_reassignments_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].replicas_n = 1;
    m->topics[0].partitions[0].replicas = NEW(c->a, int32_t, 1);
    m->topics[0].partitions[0].replicas[0] = g_node_id;
    sweep_one(c, m);
}

static void er_list_partition_reassignments(sweep_ctx *c)
{
    REQ(kp_list_partition_reassignments_req);
    m->timeout_ms = 30000;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_list_partition_reassignments_req_topic, 1);
    kp_list_partition_reassignments_req_topic_init(&m->topics[0]);
    m->topics[0].name = unknown_name(c);
    m->topics[0].partition_indexes_n = 1;
    m->topics[0].partition_indexes = NEW(c->a, int32_t, 1);
    m->topics[0].partition_indexes[0] = 0;
    sweep_one(c, m);
}

static void er_describe_producers(sweep_ctx *c)
{
    REQ(kp_describe_producers_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_describe_producers_req_topic_request, 1);
    kp_describe_producers_req_topic_request_init(&m->topics[0]);
    m->topics[0].name = unknown_name(c);
    m->topics[0].partition_indexes_n = 1;
    m->topics[0].partition_indexes = NEW(c->a, int32_t, 1);
    m->topics[0].partition_indexes[0] = 0;
    sweep_one(c, m);
}

static void er_describe_transactions(sweep_ctx *c)
{
    REQ(kp_describe_transactions_req);
    m->transactional_ids_n = 1;
    m->transactional_ids = NEW(c->a, kp_str, 1);
    m->transactional_ids[0] = unknown_name(c);
    sweep_one(c, m);
}

static void er_describe_quorum(sweep_ctx *c)
{
    /* A partition of __cluster_metadata that does not exist. */
    REQ(kp_describe_quorum_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_describe_quorum_req_topic, 1);
    kp_describe_quorum_req_topic_init(&m->topics[0]);
    m->topics[0].topic_name = KP_STR("__cluster_metadata");
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_describe_quorum_req_partition, 1);
    kp_describe_quorum_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 1;
    sweep_one(c, m);
}

/* ---- more cases, each named: a request a client may send that Kafka
 * refuses (or takes) in a way worth comparing. */

static void mc_fetch_out_of_range(sweep_ctx *c)
{
    REQ(kp_fetch_req);
    m->cluster_id = KP_STR_NULL;
    m->replica_id = -1;
    m->max_wait_ms = 100;
    m->min_bytes = 1;
    m->max_bytes = 1 << 20;
    m->session_id = 0;
    m->session_epoch = -1;
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_fetch_req_topic, 1);
    kp_fetch_req_topic_init(&m->topics[0]);
    m->topics[0].topic = KP_STR(TOPIC);
    m->topics[0].topic_id = g_topic_id;
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_fetch_req_partition, 1);
    kp_fetch_req_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition = 0;
    m->topics[0].partitions[0].fetch_offset = (int64_t)1 << 40;
    m->topics[0].partitions[0].partition_max_bytes = 1 << 20;
    m->rack_id = KP_STR("");
    sweep_one(c, m);
}

/* A stable member of a group of its own, for the stale-generation cases. */
static int case_member(sweep_ctx *c, char *g, size_t cap, int sync, member *mb)
{
    snprintf(g, cap, "sweep-%s-v%d-%s", c->api->name, c->v, g_case);
    if (make_member(c->a, g, sync, mb) < 0) {
        prep_failed(c, "a group member");
        return -1;
    }
    return 0;
}

static void mc_heartbeat_stale_generation(sweep_ctx *c)
{
    char g[96];
    member mb;
    if (case_member(c, g, sizeof g, 1, &mb) < 0)
        return;
    REQ(kp_heartbeat_req);
    m->group_id = str_dup(c->a, g);
    m->generation_id = mb.generation + 1;
    m->member_id = str_dup(c->a, mb.id);
    m->group_instance_id = KP_STR_NULL;
    sweep_one(c, m);
}

static void mc_sync_group_stale_generation(sweep_ctx *c)
{
    char g[96];
    member mb;
    if (case_member(c, g, sizeof g, 0, &mb) < 0)
        return;
    REQ(kp_sync_group_req);
    m->group_id = str_dup(c->a, g);
    m->generation_id = mb.generation + 1;
    m->member_id = str_dup(c->a, mb.id);
    m->group_instance_id = KP_STR_NULL;
    m->protocol_type = KP_STR("consumer");
    m->protocol_name = KP_STR("range");
    m->assignments_n = 0;
    sweep_one(c, m);
}

static void mc_offset_commit_stale_generation(sweep_ctx *c)
{
    char g[96];
    member mb;
    if (case_member(c, g, sizeof g, 1, &mb) < 0)
        return;
    REQ(kp_offset_commit_req);
    fill_offset_commit(c->a, m, g, 1);
    m->generation_id_or_member_epoch = mb.generation + 1;
    m->member_id = str_dup(c->a, mb.id);
    sweep_one(c, m);
}

static void mc_create_topics_replication_factor(sweep_ctx *c)
{
    /* Three replicas on a single broker. */
    REQ(kp_create_topics_req);
    char name[96];
    snprintf(name, sizeof name, "sweep-CreateTopics-v%d-rf3", c->v);
    const char *names[2] = { name, NULL };
    build_create_topics(c->a, m, names);
    m->topics[0].replication_factor = 3;
    sweep_one(c, m);
}

static void mc_create_partitions_fewer(sweep_ctx *c)
{
    /* sweep has one partition: "1" is not more. */
    REQ(kp_create_partitions_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_create_partitions_req_topic, 1);
    kp_create_partitions_req_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC);
    m->topics[0].count = 1;
    m->topics[0].assignments_n = -1;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void mc_delete_records_beyond_end(sweep_ctx *c)
{
    REQ(kp_delete_records_req);
    m->topics_n = 1;
    m->topics = NEW(c->a, kp_delete_records_req_delete_records_topic, 1);
    kp_delete_records_req_delete_records_topic_init(&m->topics[0]);
    m->topics[0].name = KP_STR(TOPIC_DR);
    m->topics[0].partitions_n = 1;
    m->topics[0].partitions = NEW(c->a, kp_delete_records_req_delete_records_partition, 1);
    kp_delete_records_req_delete_records_partition_init(&m->topics[0].partitions[0]);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[0].offset = 1000000;
    m->timeout_ms = 30000;
    sweep_one(c, m);
}

static void mc_end_txn_other_epoch(sweep_ctx *c)
{
    /* EndTxn with the epoch after the producer's. */
    char id[96];
    snprintf(id, sizeof id, "sweep-EndTxn-v%d-%s", c->v, g_case);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    txn other = { t.pid, (int16_t)(t.epoch + 1) };
    REQ(kp_end_txn_req);
    fill_end_txn(c->a, m, id, &other, false);
    sweep_one(c, m);
}

static void mc_produce_first_sequence(sweep_ctx *c)
{
    /* A new idempotent producer whose first batch starts at sequence 5. */
    kp_init_producer_id_req *ip = new_req(c->a, KP_API_INIT_PRODUCER_ID);
    build_init_pid(c->a, ip, NULL);
    result r;
    call(KP_API_INIT_PRODUCER_ID, ip, c->a, &r);
    if (!result_clean(&r)) {
        result_free(&r);
        prep_failed(c, "InitProducerId");
        return;
    }
    kp_init_producer_id_resp *ir = r.resp;
    REQ(kp_produce_req);
    /* In sweep-dr: DescribeProducers counts sweep's producers. */
    fill_produce(c->a, m, TOPIC_DR, batch_records(c->a, 2, ir->producer_id, ir->producer_epoch, 5));
    result_free(&r);
    sweep_one(c, m);
}

static void mc_alter_configs_unknown_name(sweep_ctx *c)
{
    REQ(kp_alter_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_alter_configs_req_resource, 1);
    kp_alter_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = KP_STR(TOPIC_CFG);
    m->resources[0].configs_n = 1;
    m->resources[0].configs = NEW(c->a, kp_alter_configs_req_config, 1);
    kp_alter_configs_req_config_init(&m->resources[0].configs[0]);
    m->resources[0].configs[0].name = KP_STR("sweep.no.such.config");
    m->resources[0].configs[0].value = KP_STR("1");
    sweep_one(c, m);
}

static void mc_incremental_alter_configs_unknown_name(sweep_ctx *c)
{
    REQ(kp_incremental_alter_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_incremental_alter_configs_req_resource, 1);
    kp_incremental_alter_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = KP_STR(TOPIC_CFG);
    m->resources[0].configs_n = 1;
    m->resources[0].configs = NEW(c->a, kp_incremental_alter_configs_req_config, 1);
    kp_incremental_alter_configs_req_config_init(&m->resources[0].configs[0]);
    m->resources[0].configs[0].name = KP_STR("sweep.no.such.config");
    m->resources[0].configs[0].config_operation = 0;
    m->resources[0].configs[0].value = KP_STR("1");
    sweep_one(c, m);
}

static void mc_describe_configs_unknown_key(sweep_ctx *c)
{
    REQ(kp_describe_configs_req);
    m->resources_n = 1;
    m->resources = NEW(c->a, kp_describe_configs_req_resource, 1);
    kp_describe_configs_req_resource_init(&m->resources[0]);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = KP_STR(TOPIC);
    m->resources[0].configuration_keys_n = 1;
    m->resources[0].configuration_keys = NEW(c->a, kp_str, 1);
    m->resources[0].configuration_keys[0] = KP_STR("sweep.no.such.config");
    sweep_one(c, m);
}

static void list_offsets_at(sweep_ctx *c, int64_t ts)
{
    REQ(kp_list_offsets_req);
    static const char *const names[] = { TOPIC, NULL };
    build_list_offsets_many(c->a, m, names);
    m->topics[0].partitions[0].timestamp = ts;
    sweep_one(c, m);
}

static void mc_list_offsets_earliest(sweep_ctx *c) { list_offsets_at(c, -2); }
static void mc_list_offsets_by_time(sweep_ctx *c) { list_offsets_at(c, 0); }
static void mc_list_offsets_max_timestamp(sweep_ctx *c) { list_offsets_at(c, -3); }

static void mc_join_group_session_timeout(sweep_ctx *c)
{
    REQ(kp_join_group_req);
    char g[96];
    snprintf(g, sizeof g, "sweep-JoinGroup-v%d-%s", c->v, g_case);
    fill_join(c->a, m, g, "");
    m->session_timeout_ms = 1;
    sweep_one(c, m);
}

static void mc_join_group_other_protocol(sweep_ctx *c)
{
    /* A second member with protocol type "connect" in a consumer group. */
    char g[96];
    member mb;
    if (case_member(c, g, sizeof g, 1, &mb) < 0)
        return;
    REQ(kp_join_group_req);
    fill_join(c->a, m, g, "");
    m->protocol_type = KP_STR("connect");
    m->protocols[0].name = KP_STR("sessioned");
    sweep_one(c, m);
}

static void mc_leave_group_unknown_member(sweep_ctx *c)
{
    char g[96];
    member mb;
    if (case_member(c, g, sizeof g, 1, &mb) < 0)
        return;
    REQ(kp_leave_group_req);
    m->group_id = str_dup(c->a, g);
    m->member_id = KP_STR("sweep-nobody");
    m->members_n = 1;
    m->members = NEW(c->a, kp_leave_group_req_member, 1);
    kp_leave_group_req_member_init(&m->members[0]);
    m->members[0].member_id = KP_STR("sweep-nobody");
    m->members[0].group_instance_id = KP_STR_NULL;
    m->members[0].reason = KP_STR_NULL;
    sweep_one(c, m);
}

static void mc_describe_groups_empty(sweep_ctx *c)
{
    /* A group with committed offsets and no members. */
    REQ(kp_describe_groups_req);
    m->groups_n = 1;
    m->groups = NEW(c->a, kp_str, 1);
    m->groups[0] = KP_STR(GROUP_COMMITTED);
    sweep_one(c, m);
}

static void mc_offset_fetch_unknown_topic(sweep_ctx *c)
{
    REQ(kp_offset_fetch_req);
    fill_offset_fetch(c->a, m, GROUP_COMMITTED);
    kp_str t = unknown_name(c);
    m->topics[0].name = t;
    m->groups[0].topics[0].name = t;
    m->groups[0].topics[0].topic_id = UNKNOWN_TOPIC_ID;
    sweep_one(c, m);
}

static void mc_produce_acks_2(sweep_ctx *c)
{
    REQ(kp_produce_req);
    fill_produce(c->a, m, TOPIC, batch_records(c->a, 2, -1, -1, -1));
    m->acks = 2;
    sweep_one(c, m);
}

static void mc_init_producer_id_timeout(sweep_ctx *c)
{
    /* A transaction timeout over transaction.max.timeout.ms (15 minutes). */
    char id[96];
    snprintf(id, sizeof id, "sweep-InitProducerId-v%d-%s", c->v, g_case);
    const char *kv[2] = { id, "1" };
    result r;
    if (call_until_clean(KP_API_FIND_COORDINATOR, build_find_coordinator, kv, 30, c->a, &r, id) < 0) {
        result_free(&r);
        prep_failed(c, "FindCoordinator");
        return;
    }
    result_free(&r);
    REQ(kp_init_producer_id_req);
    build_init_pid(c->a, m, id);
    m->transaction_timeout_ms = 3600 * 1000;
    sweep_one(c, m);
}

static void mc_add_partitions_unknown_topic(sweep_ctx *c)
{
    char id[96];
    snprintf(id, sizeof id, "sweep-AddPartitionsToTxn-v%d-%s", c->v, g_case);
    txn t;
    if (make_txn(c->a, id, &t) < 0) {
        prep_failed(c, "a transactional producer");
        return;
    }
    REQ(kp_add_partitions_to_txn_req);
    fill_add_partitions(c->a, m, id, &t);
    kp_str topic = unknown_name(c);
    m->v3_and_below_topics[0].name = topic;
    m->transactions[0].topics[0].name = topic;
    sweep_one(c, m);
}

/* transaction.version 2 -> 1 as an upgrade (v0: any downgrade), and to a
 * level beyond the supported ones: INVALID_UPDATE_VERSION. */
static void mc_update_features_downgrade(sweep_ctx *c) { sweep_update_feature(c, KP_STR("transaction.version"), 1, 1); }
static void mc_update_features_level_3(sweep_ctx *c) { sweep_update_feature(c, KP_STR("transaction.version"), 3, 1); }

typedef struct more_case {
    int16_t key;
    const char *name; /* the "case" of the line */
    void (*fn)(sweep_ctx *c);
} more_case;

static const more_case MORE_CASES[] = {
    { KP_API_PRODUCE, "first-sequence-5", mc_produce_first_sequence },
    { KP_API_FETCH, "offset-out-of-range", mc_fetch_out_of_range },
    { KP_API_HEARTBEAT, "stale-generation", mc_heartbeat_stale_generation },
    { KP_API_SYNC_GROUP, "stale-generation", mc_sync_group_stale_generation },
    { KP_API_OFFSET_COMMIT, "stale-generation", mc_offset_commit_stale_generation },
    { KP_API_CREATE_TOPICS, "replication-factor-3", mc_create_topics_replication_factor },
    { KP_API_CREATE_PARTITIONS, "not-more-partitions", mc_create_partitions_fewer },
    { KP_API_DELETE_RECORDS, "beyond-the-end", mc_delete_records_beyond_end },
    { KP_API_END_TXN, "other-epoch", mc_end_txn_other_epoch },
    { KP_API_ALTER_CONFIGS, "unknown-config", mc_alter_configs_unknown_name },
    { KP_API_INCREMENTAL_ALTER_CONFIGS, "unknown-config", mc_incremental_alter_configs_unknown_name },
    { KP_API_DESCRIBE_CONFIGS, "unknown-config", mc_describe_configs_unknown_key },
    { KP_API_LIST_OFFSETS, "earliest", mc_list_offsets_earliest },
    { KP_API_LIST_OFFSETS, "by-time", mc_list_offsets_by_time },
    { KP_API_LIST_OFFSETS, "max-timestamp", mc_list_offsets_max_timestamp },
    { KP_API_JOIN_GROUP, "session-timeout-1ms", mc_join_group_session_timeout },
    { KP_API_JOIN_GROUP, "other-protocol-type", mc_join_group_other_protocol },
    { KP_API_LEAVE_GROUP, "unknown-member", mc_leave_group_unknown_member },
    { KP_API_DESCRIBE_GROUPS, "empty-group", mc_describe_groups_empty },
    { KP_API_OFFSET_FETCH, "unknown-topic", mc_offset_fetch_unknown_topic },
    { KP_API_PRODUCE, "acks-2", mc_produce_acks_2 },
    { KP_API_INIT_PRODUCER_ID, "timeout-1h", mc_init_producer_id_timeout },
    { KP_API_ADD_PARTITIONS_TO_TXN, "unknown-topic", mc_add_partitions_unknown_topic },
    { KP_API_UPDATE_FEATURES, "downgrade-as-upgrade", mc_update_features_downgrade },
    { KP_API_UPDATE_FEATURES, "level-3", mc_update_features_level_3 },
    { 0, NULL, NULL },
};

typedef struct handler {
    int16_t key;
    void (*fn)(sweep_ctx *c);
    const char *left_out; /* when fn is NULL: why it is not swept */
    void (*error_case)(sweep_ctx *c); /* NULL when the API has none */
} handler;

static const handler HANDLERS[] = {
    { KP_API_PRODUCE, sw_produce, NULL, er_produce },
    { KP_API_FETCH, sw_fetch, NULL, er_fetch },
    { KP_API_LIST_OFFSETS, sw_list_offsets, NULL, er_list_offsets },
    { KP_API_METADATA, sw_metadata, NULL, er_metadata },
    { KP_API_OFFSET_COMMIT, sw_offset_commit, NULL, er_offset_commit },
    { KP_API_OFFSET_FETCH, sw_offset_fetch, NULL, er_offset_fetch },
    { KP_API_FIND_COORDINATOR, sw_find_coordinator, NULL, NULL },
    { KP_API_JOIN_GROUP, sw_join_group, NULL, NULL },
    { KP_API_HEARTBEAT, sw_heartbeat, NULL, er_heartbeat },
    { KP_API_LEAVE_GROUP, sw_leave_group, NULL, er_leave_group },
    { KP_API_SYNC_GROUP, sw_sync_group, NULL, er_sync_group },
    { KP_API_DESCRIBE_GROUPS, sw_describe_groups, NULL, er_describe_groups },
    { KP_API_LIST_GROUPS, sw_list_groups, NULL, NULL },
    { KP_API_API_VERSIONS, sw_api_versions, NULL, NULL },
    { KP_API_CREATE_TOPICS, sw_create_topics, NULL, er_create_topics },
    { KP_API_DELETE_TOPICS, sw_delete_topics, NULL, er_delete_topics },
    { KP_API_DELETE_RECORDS, sw_delete_records, NULL, er_delete_records },
    { KP_API_INIT_PRODUCER_ID, sw_init_producer_id, NULL, NULL },
    { KP_API_OFFSET_FOR_LEADER_EPOCH, sw_offset_for_leader_epoch, NULL, er_offset_for_leader_epoch },
    { KP_API_ADD_PARTITIONS_TO_TXN, sw_add_partitions_to_txn, NULL, er_add_partitions_to_txn },
    { KP_API_ADD_OFFSETS_TO_TXN, sw_add_offsets_to_txn, NULL, er_add_offsets_to_txn },
    { KP_API_END_TXN, sw_end_txn, NULL, er_end_txn },
    { KP_API_WRITE_TXN_MARKERS, sw_write_txn_markers, NULL, er_write_txn_markers },
    { KP_API_TXN_OFFSET_COMMIT, sw_txn_offset_commit, NULL, er_txn_offset_commit },
    { KP_API_DESCRIBE_CONFIGS, sw_describe_configs, NULL, er_describe_configs },
    { KP_API_ALTER_CONFIGS, sw_alter_configs, NULL, er_alter_configs },
    { KP_API_DESCRIBE_LOG_DIRS, sw_describe_log_dirs, NULL, er_describe_log_dirs },
    { KP_API_CREATE_PARTITIONS, sw_create_partitions, NULL, er_create_partitions },
    { KP_API_DELETE_GROUPS, sw_delete_groups, NULL, er_delete_groups },
    { KP_API_ELECT_LEADERS, sw_elect_leaders, NULL, er_elect_leaders },
    { KP_API_INCREMENTAL_ALTER_CONFIGS, sw_incremental_alter_configs, NULL, er_incremental_alter_configs },
    { KP_API_ALTER_PARTITION_REASSIGNMENTS, sw_alter_partition_reassignments, NULL, er_alter_partition_reassignments },
    { KP_API_LIST_PARTITION_REASSIGNMENTS, sw_list_partition_reassignments, NULL, er_list_partition_reassignments },
    { KP_API_OFFSET_DELETE, sw_offset_delete, NULL, er_offset_delete },
    { KP_API_DESCRIBE_QUORUM, sw_describe_quorum, NULL, er_describe_quorum },
    { KP_API_DESCRIBE_CLUSTER, sw_describe_cluster, NULL, NULL },
    { KP_API_DESCRIBE_PRODUCERS, sw_describe_producers, NULL, er_describe_producers },
    { KP_API_DESCRIBE_TRANSACTIONS, sw_describe_transactions, NULL, er_describe_transactions },
    { KP_API_LIST_TRANSACTIONS, sw_list_transactions, NULL, NULL },
    { KP_API_UPDATE_FEATURES, sw_update_features, NULL, er_update_features },
    /* Raft between voters, and the controller's own: a broker listener
     * does not serve them (Kafka 4.4 does not advertise them there). */
    { KP_API_VOTE, NULL, "Raft election between controllers (controller listener only)", NULL },
    { KP_API_BEGIN_QUORUM_EPOCH, NULL, "Raft leader announcement between controllers", NULL },
    { KP_API_END_QUORUM_EPOCH, NULL, "Raft leader resignation between controllers", NULL },
    { KP_API_FETCH_SNAPSHOT, NULL, "Raft snapshot transfer between controllers", NULL },
    { KP_API_BROKER_REGISTRATION, NULL, "a broker registering with the controller", NULL },
    { KP_API_BROKER_HEARTBEAT, NULL, "a broker's heartbeat to the controller", NULL },
    { KP_API_ALTER_PARTITION, NULL, "a partition leader's ISR change to the controller", NULL },
    { KP_API_ALLOCATE_PRODUCER_IDS, NULL, "a broker's producer-id block request to the controller", NULL },
    /* Forwarded to the controller by Kafka's brokers, but they change the
     * cluster: unregistering the only broker or changing the only voter. */
    { KP_API_UNREGISTER_BROKER, NULL, "would unregister the broker under test", NULL },
    { KP_API_ADD_RAFT_VOTER, NULL, "would change the single node's Raft voters", NULL },
    { KP_API_REMOVE_RAFT_VOTER, NULL, "would remove the single node's only Raft voter", NULL },
    { KP_API_UPDATE_RAFT_VOTER, NULL, "a voter's own endpoint update to the Raft leader", NULL },
};

static const handler *find_handler(int16_t key)
{
    for (size_t i = 0; i < sizeof HANDLERS / sizeof HANDLERS[0]; i++)
        if (HANDLERS[i].key == key)
            return &HANDLERS[i];
    return NULL;
}

static int wanted(const char *name)
{
    if (!g_nonly)
        return 1;
    for (int i = 0; i < g_nonly; i++)
        if (!strcmp(g_only[i], name))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ setup */

static void api_versions(void)
{
    for (int i = 0; i < 1024; i++)
        g_adv_min[i] = g_adv_max[i] = -1;
    arena *a = &g_setup_arena;
    for (int16_t v = 3; v >= 0; v -= 3) {
        kp_api_versions_req *m = new_req(a, KP_API_API_VERSIONS);
        m->client_software_name = KP_STR("gregor-sweep");
        m->client_software_version = KP_STR("1.0");
        result r;
        exchange(KP_API_API_VERSIONS, v, m, a, &r);
        if (!r.ok)
            die("ApiVersions v%d: %s", v, r.failure);
        kp_api_versions_resp *ar = r.resp;
        if (ar->error_code == KERR_UNSUPPORTED_VERSION && v == 3) {
            result_free(&r);
            continue;
        }
        if (ar->error_code)
            die("ApiVersions v%d: error %d", v, ar->error_code);
        for (int i = 0; i < ar->api_keys_n; i++) {
            int k = ar->api_keys[i].api_key;
            if (k >= 0 && k < 1024) {
                g_adv_min[k] = ar->api_keys[i].min_version;
                g_adv_max[k] = ar->api_keys[i].max_version;
            }
        }
        result_free(&r);
        return;
    }
}

static void setup(int max_versions)
{
    arena *a = &g_setup_arena;
    result r;
    /* The node id, from Metadata with no topics. */
    kp_metadata_req *md = new_req(a, KP_API_METADATA);
    md->topics_n = 0;
    md->allow_auto_topic_creation = false;
    call(KP_API_METADATA, md, a, &r);
    if (!r.ok || ((kp_metadata_resp *)r.resp)->brokers_n < 1)
        die("Metadata: %s", r.ok ? "no brokers" : r.failure);
    g_node_id = ((kp_metadata_resp *)r.resp)->brokers[0].node_id;
    result_free(&r);

    /* The topics: fixed ones, and one per version for CreatePartitions and
     * DeleteTopics. */
    static char names_buf[128][64];
    const char *names[130];
    int n = 0;
    const char *fixed[] = { TOPIC, TOPIC_CFG, TOPIC_DR, TOPIC_MARKERS, TOPIC_TXN };
    for (int i = 0; i < 5; i++)
        names[n++] = fixed[i];
    for (int v = 0; v <= max_versions && n < 120; v++) {
        if (g_adv_max[KP_API_CREATE_PARTITIONS] >= 0 && wanted("CreatePartitions")) {
            snprintf(names_buf[n], 64, "sweep-CreatePartitions-v%d", v);
            names[n] = names_buf[n];
            n++;
        }
        if (g_adv_max[KP_API_DELETE_TOPICS] >= 0 && wanted("DeleteTopics")) {
            snprintf(names_buf[n], 64, "sweep-DeleteTopics-v%d", v);
            names[n] = names_buf[n];
            n++;
        }
    }
    names[n] = NULL;
    kp_create_topics_req *ct = new_req(a, KP_API_CREATE_TOPICS);
    build_create_topics(a, ct, names);
    call(KP_API_CREATE_TOPICS, ct, a, &r);
    for (int i = 0; r.ok && i < r.w->nerr; i++)
        if (r.w->err[i] == KERR_TOPIC_ALREADY_EXISTS) /* a second run on one broker */
            r.w->err[i] = 0;
    if (!result_clean(&r))
        die("CreateTopics (setup): %s, error %d", r.ok ? "decoded" : r.failure, result_first_error(&r));
    result_free(&r);
    /* Every partition led and answering (Kafka lists a leader a moment
     * before it serves). */
    if (call_until_clean(KP_API_LIST_OFFSETS, build_list_offsets_many, names, 30, a, &r, "ListOffsets") < 0)
        die("the topics did not become ready");
    result_free(&r);

    /* The topic ids. */
    md = new_req(a, KP_API_METADATA);
    md->topics_n = 2;
    md->topics = NEW(a, kp_metadata_req_topic, 2);
    kp_metadata_req_topic_init(&md->topics[0]);
    kp_metadata_req_topic_init(&md->topics[1]);
    md->topics[0].name = KP_STR(TOPIC);
    md->topics[1].name = KP_STR(TOPIC_DR);
    md->allow_auto_topic_creation = false;
    call(KP_API_METADATA, md, a, &r);
    if (!result_clean(&r) || ((kp_metadata_resp *)r.resp)->topics_n != 2)
        die("Metadata (topic ids) failed");
    g_topic_id = ((kp_metadata_resp *)r.resp)->topics[0].topic_id;
    g_topic_id_dr = ((kp_metadata_resp *)r.resp)->topics[1].topic_id;
    result_free(&r);

    /* Records: 3 plain and 2 idempotent ones in sweep, 20 in sweep-dr. */
    kp_produce_req *p = new_req(a, KP_API_PRODUCE);
    fill_produce(a, p, TOPIC, batch_records(a, 3, -1, -1, -1));
    call_ok(KP_API_PRODUCE, p, a, "Produce (setup)");
    p = new_req(a, KP_API_PRODUCE);
    fill_produce(a, p, TOPIC_DR, batch_records(a, 20, -1, -1, -1));
    call_ok(KP_API_PRODUCE, p, a, "Produce (setup, sweep-dr)");
    if (call_until_clean(KP_API_INIT_PRODUCER_ID, build_init_pid, NULL, 30, a, &r, "InitProducerId") < 0)
        die("InitProducerId (setup) failed");
    p = new_req(a, KP_API_PRODUCE);
    fill_produce(a, p, TOPIC,
                 batch_records(a, 2, ((kp_init_producer_id_resp *)r.resp)->producer_id,
                               ((kp_init_producer_id_resp *)r.resp)->producer_epoch, 0));
    result_free(&r);
    call_ok(KP_API_PRODUCE, p, a, "Produce (setup, idempotent)");

    /* The group coordinator: found, loaded, and offsets committed for
     * GROUP_COMMITTED. */
    static const char *const kv[2] = { GROUP_COMMITTED, "0" };
    if (call_until_clean(KP_API_FIND_COORDINATOR, build_find_coordinator, kv, 40, a, &r, "FindCoordinator") < 0)
        die("no group coordinator");
    result_free(&r);
    if (call_until_clean(KP_API_OFFSET_COMMIT, build_offset_commit, GROUP_COMMITTED, 30, a, &r, "OffsetCommit") < 0)
        die("the group coordinator does not take commits");
    result_free(&r);
    if (call_until_clean(KP_API_OFFSET_FETCH, build_offset_fetch, GROUP_COMMITTED, 30, a, &r, "OffsetFetch") < 0)
        die("the group coordinator does not answer OffsetFetch");
    result_free(&r);
    /* Every partition of __consumer_offsets loaded (Kafka loads them one by
     * one after creating the topic): an OffsetFetch for a group in each of
     * the 50 (Kafka's partition of a group: its Java hashCode, & 0x7fffffff,
     * modulo offsets.topic.num.partitions). */
    int covered[50] = { 0 }, ncovered = 0;
    for (int i = 0; ncovered < 50 && i < 10000; i++) {
        char g[64];
        snprintf(g, sizeof g, "sweep-probe-%d", i);
        int32_t h = 0;
        for (const char *q = g; *q; q++)
            h = (int32_t)((uint32_t)h * 31u + (uint8_t)*q);
        int part = (int)((uint32_t)h & 0x7fffffffu) % 50;
        if (covered[part])
            continue;
        covered[part] = 1;
        ncovered++;
        if (call_until_clean(KP_API_OFFSET_FETCH, build_offset_fetch, g, 30, a, &r, "OffsetFetch") < 0)
            die("the group coordinator does not answer OffsetFetch for %s", g);
        result_free(&r);
    }
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *schema = "src/proto/kafka.schema";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc)
            bootstrap = argv[++i];
        else if (!strcmp(argv[i], "--schema") && i + 1 < argc)
            schema = argv[++i];
        else if (!strcmp(argv[i], "--api") && i + 1 < argc && g_nonly < 64)
            g_only[g_nonly++] = argv[++i];
        else
            die("usage: sweep -b HOST:PORT [--schema FILE] [--api NAME]...");
    }
    if (!bootstrap)
        die("usage: sweep -b HOST:PORT [--schema FILE] [--api NAME]...");
    const char *colon = strrchr(bootstrap, ':');
    if (!colon)
        die("-b wants HOST:PORT");
    snprintf(g_host, sizeof g_host, "%.*s", (int)(colon - bootstrap), bootstrap);
    snprintf(g_port, sizeof g_port, "%s", colon + 1);
    g_debug = getenv("SWEEP_DEBUG") ? atoi(getenv("SWEEP_DEBUG")) : 0;
    load_schema(schema);
    double t0 = now_s();
    arena_init(&g_setup_arena, 64u << 20);

    api_versions();
    int max_v = 0;
    for (int k = 0; k < 1024; k++)
        if (g_adv_max[k] > max_v)
            max_v = g_adv_max[k];
    printf("{\"advertised\":{");
    for (int k = 0, first = 1; k < 1024; k++)
        if (g_adv_max[k] >= 0) {
            printf("%s\"%d\":[%d,%d]", first ? "" : ",", k, g_adv_min[k], g_adv_max[k]);
            first = 0;
        }
    printf("}}\n");
    setup(max_v);
    fprintf(stderr, "sweep: setup done in %.1f s\n", now_s() - t0);

    /* Advertised APIs the codecs do not know. */
    for (int k = 0; k < 1024; k++)
        if (g_adv_max[k] >= 0 && !kp_api_find((int16_t)k))
            report_line("{\"key\":%d,\"advertised\":[%d,%d],\"skipped\":\"no codec\"}", k, g_adv_min[k],
                        g_adv_max[k]);

    for (int i = 0; i < kp_apis_count; i++) {
        const kp_api_info *api = &kp_apis[i];
        int16_t key = api->key;
        if (g_adv_max[key] < 0 || !wanted(api->name))
            continue;
        const handler *h = find_handler(key);
        if (h && !h->fn) {
            printf("{\"api\":");
            json_str(stdout, api->name);
            printf(",\"key\":%d,\"advertised\":[%d,%d],\"left_out\":", key, g_adv_min[key], g_adv_max[key]);
            json_str(stdout, h->left_out);
            printf("}\n");
            continue;
        }
        for (int16_t v = g_adv_min[key]; v <= g_adv_max[key]; v++) {
            if (v < api->codec_min_version || v > api->codec_max_version) {
                printf("{\"api\":");
                json_str(stdout, api->name);
                printf(",\"key\":%d,\"version\":%d,\"skipped\":\"codec lacks version\"}\n", key, v);
                continue;
            }
            if (!h) {
                g_failures++;
                printf("{\"api\":");
                json_str(stdout, api->name);
                printf(",\"key\":%d,\"version\":%d,\"decoded\":false,\"failure\":\"no filler in sweep.c\"}\n",
                       key, v);
                continue;
            }
            arena a;
            arena_init(&a, 64u << 20);
            sweep_ctx c = { api, v, &a };
            h->fn(&c);
            if (h->error_case) {
                g_case = "error";
                h->error_case(&c);
                g_case = NULL;
            }
            for (const more_case *mc = MORE_CASES; mc->name; mc++)
                if (mc->key == key) {
                    g_case = mc->name;
                    mc->fn(&c);
                    g_case = NULL;
                }
            arena_deinit(&a);
            fflush(stdout);
        }
    }
    printf("{\"done\":true,\"seconds\":%.1f,\"failures\":%d}\n", now_s() - t0, g_failures);
    conn_close();
    arena_deinit(&g_setup_arena);
    return 0;
}
