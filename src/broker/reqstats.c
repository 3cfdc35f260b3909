/*
 * reqstats.c - request counts by client software, for the compatibility
 * ledger (see reqstats.h).
 *
 * Layout: a fixed table of client software (index 0 is "unknown") and, per
 * software, two dense arrays of counters indexed by API key and version.
 * Keys and versions outside the arrays (a fuzzer's v99) go to one
 * "out of range" counter, so nothing a client sends can make the table grow.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "broker/reqstats.h"

enum {
    REQSTATS_SOFTWARE_MAX = 32,   /* distinct name/version pairs, "unknown" included */
    REQSTATS_KEYS = 96,           /* API keys counted: 0..95 */
    REQSTATS_VERSIONS = 24,       /* versions counted: 0..23 */
    REQSTATS_NAME_BYTES = 64,
};

typedef struct reqstats_software_entry {
    char name[REQSTATS_NAME_BYTES];
    char version[REQSTATS_NAME_BYTES];
    atomic_ullong served[REQSTATS_KEYS][REQSTATS_VERSIONS];
    atomic_ullong refused[REQSTATS_KEYS][REQSTATS_VERSIONS];
} reqstats_software_entry;

struct reqstats {
    char *path;                   /* owned: GREGOR_REQUEST_STATS */
    char *context;                /* owned: GREGOR_TEST_CONTEXT, may be NULL */
    pthread_mutex_t lock;         /* guards n_software and the names */
    atomic_int n_software;
    atomic_ullong out_of_range;
    reqstats_software_entry sw[REQSTATS_SOFTWARE_MAX];
};

reqstats *reqstats_new(void)
{
    const char *path = getenv("GREGOR_REQUEST_STATS");
    if (!path || !*path)
        return NULL;
    reqstats *s = calloc(1, sizeof(*s));
    if (!s) {
        glog(GLOG_WARN, "broker", "GREGOR_REQUEST_STATS: no memory for the counters; not counting");
        return NULL;
    }
    s->path = strdup(path);
    const char *ctx = getenv("GREGOR_TEST_CONTEXT");
    s->context = ctx ? strdup(ctx) : NULL;
    if (!s->path) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->sw[0].name, sizeof(s->sw[0].name), "unknown");
    atomic_store(&s->n_software, 1);
    glog(GLOG_INFO, "broker", "counting requests by client software into %s", s->path);
    return s;
}

void reqstats_free(reqstats *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s->context);
    free(s);
}

static void copy_kstr(char *dst, size_t cap, kp_str v)
{
    size_t n = v.len > 0 ? (size_t)v.len : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, v.ptr, n);
    dst[n] = 0;
}

int reqstats_software(reqstats *s, kp_str name, kp_str version)
{
    if (!s || name.len <= 0)
        return 0;
    char n[REQSTATS_NAME_BYTES], v[REQSTATS_NAME_BYTES];
    copy_kstr(n, sizeof(n), name);
    copy_kstr(v, sizeof(v), version);
    pthread_mutex_lock(&s->lock);
    int count = atomic_load(&s->n_software);
    int found = 0;
    for (int i = 1; i < count && !found; i++)
        if (strcmp(s->sw[i].name, n) == 0 && strcmp(s->sw[i].version, v) == 0)
            found = i;
    if (!found && count < REQSTATS_SOFTWARE_MAX) {
        memcpy(s->sw[count].name, n, sizeof(n));
        memcpy(s->sw[count].version, v, sizeof(v));
        found = count;
        atomic_store(&s->n_software, count + 1);
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

int reqstats_software_by_client_id(reqstats *s, kp_str client_id)
{
    if (!s || client_id.len <= 0)
        return 0;
    char name[REQSTATS_NAME_BYTES];
    int n = snprintf(name, sizeof name, "client.id ");
    for (int32_t i = 0; i < client_id.len && n < (int)sizeof name - 1; i++) {
        char ch = client_id.ptr[i];
        if (ch >= '0' && ch <= '9')
            break;
        name[n++] = ch;
    }
    name[n] = 0;
    kp_str nm = { name, n };
    kp_str none = { "", 0 };
    return reqstats_software(s, nm, none);
}

static atomic_ullong *slot(reqstats *s, bool refused, int software, int16_t key, int16_t ver)
{
    if (software < 0 || software >= REQSTATS_SOFTWARE_MAX || key < 0 || key >= REQSTATS_KEYS ||
        ver < 0 || ver >= REQSTATS_VERSIONS)
        return &s->out_of_range;
    reqstats_software_entry *e = &s->sw[software];
    return refused ? &e->refused[key][ver] : &e->served[key][ver];
}

void reqstats_count(reqstats *s, int software, int16_t api_key, int16_t api_version)
{
    if (s)
        atomic_fetch_add_explicit(slot(s, false, software, api_key, api_version), 1,
                                  memory_order_relaxed);
}

void reqstats_refused(reqstats *s, int software, int16_t api_key, int16_t api_version)
{
    if (s)
        atomic_fetch_add_explicit(slot(s, true, software, api_key, api_version), 1,
                                  memory_order_relaxed);
}

/* A JSON string of bytes a client sent: escape all but printable ASCII. */
static void json_str(FILE *f, const char *p)
{
    fputc('"', f);
    for (; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void dump_counts(FILE *f, reqstats *s, bool refused, int n_software)
{
    bool first = true;
    for (int i = 0; i < n_software; i++)
        for (int k = 0; k < REQSTATS_KEYS; k++)
            for (int v = 0; v < REQSTATS_VERSIONS; v++) {
                unsigned long long n = atomic_load(refused ? &s->sw[i].refused[k][v]
                                                           : &s->sw[i].served[k][v]);
                if (!n)
                    continue;
                fputs(first ? "" : ",", f);
                first = false;
                fputs("{\"software\":", f);
                json_str(f, s->sw[i].name);
                fputs(",\"software_version\":", f);
                json_str(f, s->sw[i].version);
                fprintf(f, ",\"api_key\":%d,\"api_version\":%d,\"count\":%llu}", k, v, n);
            }
}

int reqstats_dump(reqstats *s)
{
    if (!s)
        return 0;
    /* One line per process, written with one write() in append mode, so
     * brokers stopping at the same time do not interleave their lines. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    int n_software = atomic_load(&s->n_software);
    fprintf(f, "{\"pid\":%d,\"context\":", (int)getpid());
    if (s->context)
        json_str(f, s->context);
    else
        fputs("null", f);
    fputs(",\"served\":[", f);
    dump_counts(f, s, false, n_software);
    fputs("],\"refused\":[", f);
    dump_counts(f, s, true, n_software);
    fprintf(f, "],\"out_of_range\":%llu}\n", atomic_load(&s->out_of_range));
    fclose(f);
    int rc = -1;
    int fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ssize_t w = write(fd, buf, len);
        if (w == (ssize_t)len)
            rc = 0;
        else if (w >= 0)
            errno = EIO;
        close(fd);
    }
    if (rc != 0)
        glog(GLOG_WARN, "broker", "GREGOR_REQUEST_STATS: cannot append to %s: %s", s->path,
             strerror(errno));
    free(buf);
    return rc;
}
