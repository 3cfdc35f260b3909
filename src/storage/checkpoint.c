/*
 * checkpoint.c - Kafka's offset checkpoint text files (see checkpoint.h).
 *
 * Owns nothing beyond the call: read loads the whole file (bounded by
 * CHECKPOINT_FILE_BYTES_MAX) and parses it strictly; write builds the text in
 * memory and replaces the file with tmp + fsync + rename + directory fsync.
 * An empty file reads as no entries, as in Kafka.
 */
#include "storage/checkpoint.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int checkpoint_topic_valid(const char *topic)
{
    size_t n = strlen(topic);
    if (n == 0 || n > CHECKPOINT_TOPIC_BYTES_MAX || strcmp(topic, ".") == 0 ||
        strcmp(topic, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = topic[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static void err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_set(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void checkpoint_file_deinit(checkpoint_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        free(f->entries[i].topic);
    free(f->entries);
    f->entries = NULL;
    f->count = 0;
}

const checkpoint_entry *checkpoint_find(const checkpoint_file *f, const char *topic,
                                        int32_t partition)
{
    for (size_t i = 0; i < f->count; i++) {
        if (f->entries[i].partition == partition && strcmp(f->entries[i].topic, topic) == 0)
            return &f->entries[i];
    }
    return NULL;
}

/* ---- reading ---- */

static int read_all(const char *path, char **buf_out, size_t *len_out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return CHECKPOINT_ERR_MISSING;
        err_set(err, errlen, "opening %s: %s", path, strerror(errno));
        return CHECKPOINT_ERR_IO;
    }
    int rc = CHECKPOINT_ERR_IO;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set(err, errlen, "stat %s: %s", path, strerror(errno));
        goto out_close;
    }
    if (st.st_size > CHECKPOINT_FILE_BYTES_MAX) {
        err_set(err, errlen, "checkpoint %s is %lld bytes, more than the %d allowed", path,
                (long long)st.st_size, CHECKPOINT_FILE_BYTES_MAX);
        rc = CHECKPOINT_ERR_MALFORMED;
        goto out_close;
    }
    size_t len = (size_t)st.st_size;
    buf = malloc(len + 1);
    if (!buf) {
        rc = CHECKPOINT_ERR_NOMEM;
        goto out_close;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err_set(err, errlen, "reading %s: %s", path, n < 0 ? strerror(errno) : "file shrank");
            goto out_close;
        }
        done += (size_t)n;
    }
    buf[len] = '\0';
    *buf_out = buf;
    *len_out = len;
    buf = NULL;
    rc = CHECKPOINT_OK;
out_close:
    free(buf);
    close(fd);
    return rc;
}

/* Strict non-negative decimal (no sign, no spaces, no leading '+'). */
static bool parse_u63(const char *s, size_t n, int64_t max, int64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Cursor over the file's lines; each line must end in '\n' except maybe the last. */
typedef struct line_cursor {
    const char *p, *end;
    int lineno;
} line_cursor;

static bool next_line(line_cursor *c, const char **line, size_t *len)
{
    if (c->p >= c->end)
        return false;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    const char *stop = nl ? nl : c->end;
    *line = c->p;
    *len = (size_t)(stop - c->p);
    c->p = nl ? nl + 1 : c->end;
    c->lineno++;
    return true;
}

static bool parse_entry(const char *line, size_t len, checkpoint_entry *e)
{
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1)
        return false;
    size_t tlen = (size_t)(sp1 - line);
    const char *rest = sp1 + 1;
    size_t rlen = len - tlen - 1;
    const char *sp2 = memchr(rest, ' ', rlen);
    if (!sp2 || tlen == 0 || tlen > CHECKPOINT_TOPIC_BYTES_MAX)
        return false;
    int64_t part, off;
    if (!parse_u63(rest, (size_t)(sp2 - rest), INT32_MAX, &part) ||
        !parse_u63(sp2 + 1, rlen - (size_t)(sp2 - rest) - 1, INT64_MAX, &off))
        return false;
    char *topic = strndup(line, tlen);
    if (!topic)
        return false;
    if (!checkpoint_topic_valid(topic)) {
        free(topic);
        return false;
    }
    e->topic = topic;
    e->partition = (int32_t)part;
    e->offset = off;
    return true;
}

static int parse_body(const char *path, const char *buf, size_t len, checkpoint_file *out,
                      char *err, size_t errlen)
{
    line_cursor c = { buf, buf + len, 0 };
    const char *line;
    size_t n;
    if (!next_line(&c, &line, &n))
        return CHECKPOINT_OK; /* empty file: no entries, as Kafka reads it */
    if (n != 1 || line[0] != '0') {
        err_set(err, errlen, "checkpoint %s line 1: version is '%.*s', expected '0'", path,
                (int)(n > 20 ? 20 : n), line);
        return CHECKPOINT_ERR_MALFORMED;
    }
    int64_t count;
    if (!next_line(&c, &line, &n) || !parse_u63(line, n, CHECKPOINT_ENTRIES_MAX, &count)) {
        err_set(err, errlen, "checkpoint %s line 2: expected an entry count of 0..%d", path,
                CHECKPOINT_ENTRIES_MAX);
        return CHECKPOINT_ERR_MALFORMED;
    }
    if (count > 0) {
        out->entries = calloc((size_t)count, sizeof *out->entries);
        if (!out->entries)
            return CHECKPOINT_ERR_NOMEM;
    }
    for (int64_t i = 0; i < count; i++) {
        checkpoint_entry e;
        if (!next_line(&c, &line, &n)) {
            err_set(err, errlen, "checkpoint %s: %lld entries announced, %lld found", path,
                    (long long)count, (long long)i);
            return CHECKPOINT_ERR_MALFORMED;
        }
        if (!parse_entry(line, n, &e)) {
            err_set(err, errlen, "checkpoint %s line %d: expected 'topic partition offset'",
                    path, c.lineno);
            return CHECKPOINT_ERR_MALFORMED;
        }
        if (checkpoint_find(out, e.topic, e.partition)) {
            err_set(err, errlen, "checkpoint %s line %d: duplicate entry for %s-%d", path,
                    c.lineno, e.topic, (int)e.partition);
            free(e.topic);
            return CHECKPOINT_ERR_MALFORMED;
        }
        out->entries[out->count++] = e;
    }
    if (c.p < c.end) {
        err_set(err, errlen, "checkpoint %s: data after the %lld announced entries", path,
                (long long)count);
        return CHECKPOINT_ERR_MALFORMED;
    }
    return CHECKPOINT_OK;
}

int checkpoint_read(const char *path, checkpoint_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    char *buf = NULL;
    size_t len = 0;
    int rc = read_all(path, &buf, &len, err, errlen);
    if (rc != CHECKPOINT_OK)
        return rc;
    if (memchr(buf, '\0', len)) {
        err_set(err, errlen, "checkpoint %s contains NUL bytes", path);
        rc = CHECKPOINT_ERR_MALFORMED;
    } else {
        rc = parse_body(path, buf, len, out, err, errlen);
    }
    if (rc != CHECKPOINT_OK)
        checkpoint_file_deinit(out);
    free(buf);
    return rc;
}

/* ---- writing ---- */

static int write_all(int fd, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += (size_t)n;
    }
    return 0;
}

static int fsync_retry(int fd)
{
    while (fsync(fd) != 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

static int fsync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return ENAMETOOLONG;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = fsync_retry(fd);
    close(fd);
    return e;
}

static char *render(const checkpoint_entry *entries, size_t count, size_t *len_out)
{
    size_t cap = 32 + count * (CHECKPOINT_TOPIC_BYTES_MAX + 48);
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t len = (size_t)snprintf(buf, cap, "0\n%zu\n", count);
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(buf + len, cap - len, "%s %d %lld\n", entries[i].topic,
                         (int)entries[i].partition, (long long)entries[i].offset);
        assert(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
    }
    *len_out = len;
    return buf;
}

int checkpoint_write(const char *path, const checkpoint_entry *entries, size_t count,
                     char *err, size_t errlen)
{
    for (size_t i = 0; i < count; i++) {
        if (!checkpoint_topic_valid(entries[i].topic) || entries[i].partition < 0 ||
            entries[i].offset < 0) {
            err_set(err, errlen, "checkpoint %s: refusing to write a bad entry (%s %d %lld)",
                    path, entries[i].topic, (int)entries[i].partition,
                    (long long)entries[i].offset);
            return CHECKPOINT_ERR_MALFORMED;
        }
    }
    if (count > CHECKPOINT_ENTRIES_MAX) {
        err_set(err, errlen, "checkpoint %s: %zu entries, more than %d", path, count,
                CHECKPOINT_ENTRIES_MAX);
        return CHECKPOINT_ERR_MALFORMED;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return CHECKPOINT_ERR_IO;
    size_t len = 0;
    char *text = render(entries, count, &len);
    if (!text)
        return CHECKPOINT_ERR_NOMEM;
    int rc = CHECKPOINT_ERR_IO;
    const char *step = "creating";
    int e = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
        goto out_free;
    }
    step = "writing";
    e = write_all(fd, text, len);
    if (!e) {
        step = "fsyncing";
        e = fsync_retry(fd);
    }
    if (close(fd) != 0 && !e) {
        step = "closing";
        e = errno;
    }
    if (e)
        goto out_unlink;
    step = "renaming";
    if (rename(tmp, path) != 0) {
        e = errno;
        goto out_unlink;
    }
    step = "fsyncing the directory of";
    e = fsync_parent(path);
    if (e)
        goto out_free;
    rc = CHECKPOINT_OK;
    goto out_free;
out_unlink:
    unlink(tmp);
out_free:
    if (rc != CHECKPOINT_OK)
        err_set(err, errlen, "%s checkpoint %s: %s", step, tmp, strerror(e));
    free(text);
    return rc;
}
