/*
 * epochs.c - the leader-epoch cache and its leader-epoch-checkpoint file.
 * See epochs.h; the rules are Kafka 4.4's LeaderEpochFileCache, the file
 * format its CheckpointFile + LeaderEpochCheckpointFile.
 */
#include "cluster/epochs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int32_t epoch;
    int64_t start;
} epoch_entry;

struct epochs {
    epoch_entry *v; /* sorted by epoch; starts strictly increasing too */
    int n, cap;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

epochs *epochs_new(void)
{
    return calloc(1, sizeof(epochs));
}

void epochs_free(epochs *e)
{
    if (!e)
        return;
    free(e->v);
    free(e);
}

void epochs_clear(epochs *e)
{
    e->n = 0;
}

static int push(epochs *e, int32_t epoch, int64_t start)
{
    if (e->n == e->cap) {
        int cap = e->cap ? e->cap * 2 : 8;
        epoch_entry *v = realloc(e->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (epoch_entry){ epoch, start };
    return 0;
}

int epochs_assign(epochs *e, int32_t epoch, int64_t start_offset)
{
    if (epoch < 0 || start_offset < 0)
        return -1;
    /* isUpdateNeeded: the latest entry is kept unless the epoch differs or
     * the same epoch now starts earlier. */
    if (e->n > 0) {
        const epoch_entry *last = &e->v[e->n - 1];
        if (last->epoch == epoch && start_offset >= last->start)
            return 0;
    }
    /* maybeTruncateNonMonotonicEntries: from the newest down, while the
     * entry's epoch >= epoch or its start >= start_offset. */
    while (e->n > 0 && (e->v[e->n - 1].epoch >= epoch || e->v[e->n - 1].start >= start_offset))
        e->n--;
    if (push(e, epoch, start_offset) < 0)
        return -1;
    return 1;
}

int64_t epochs_end_offset_for(const epochs *e, int32_t requested, int64_t log_end, int32_t *epoch_out)
{
    int32_t ep = EPOCHS_UNDEFINED_EPOCH;
    int64_t off = EPOCHS_UNDEFINED_OFFSET;
    if (requested == EPOCHS_UNDEFINED_EPOCH) {
        /* a bootstrapping follower: (-1, -1) */
    } else if (e->n > 0 && e->v[e->n - 1].epoch == requested) {
        ep = requested;
        off = log_end;
    } else {
        /* higherEntry(requested): the first entry with epoch > requested */
        int hi = 0;
        while (hi < e->n && e->v[hi].epoch <= requested)
            hi++;
        if (hi < e->n) {
            if (hi == 0) {
                /* below the first epoch: the requested epoch itself with
                 * the first start offset (Kafka's code). */
                ep = requested;
            } else {
                ep = e->v[hi - 1].epoch; /* floorEntry */
            }
            off = e->v[hi].start;
        }
    }
    if (epoch_out)
        *epoch_out = ep;
    return off;
}

int epochs_truncate_from_end(epochs *e, int64_t end_offset)
{
    int before = e->n;
    if (end_offset < 0 || e->n == 0 || e->v[e->n - 1].start < end_offset)
        return 0;
    while (e->n > 0 && e->v[e->n - 1].start >= end_offset)
        e->n--;
    return before - e->n;
}

int epochs_truncate_from_start(epochs *e, int64_t start_offset)
{
    int k = 0;
    while (k < e->n && e->v[k].start <= start_offset)
        k++;
    if (k == 0)
        return 0;
    /* The last removed entry comes back, starting at start_offset. */
    int32_t keep = e->v[k - 1].epoch;
    memmove(&e->v[1], &e->v[k], (size_t)(e->n - k) * sizeof *e->v);
    e->n = e->n - k + 1;
    e->v[0] = (epoch_entry){ keep, start_offset };
    return k;
}

int32_t epochs_latest(const epochs *e)
{
    return e->n ? e->v[e->n - 1].epoch : EPOCHS_UNDEFINED_EPOCH;
}

int32_t epochs_epoch_for(const epochs *e, int64_t offset)
{
    int32_t prev = EPOCHS_UNDEFINED_EPOCH;
    for (int i = 0; i < e->n; i++) {
        if (e->v[i].start == offset)
            return e->v[i].epoch;
        if (e->v[i].start > offset)
            return prev;
        prev = e->v[i].epoch;
    }
    return prev;
}

int64_t epochs_start_of(const epochs *e, int32_t epoch)
{
    for (int i = 0; i < e->n; i++)
        if (e->v[i].epoch == epoch)
            return e->v[i].start;
    return EPOCHS_UNDEFINED_OFFSET;
}

void epochs_rebuild_begin(epochs *e)
{
    e->n = 0;
}

int epochs_rebuild_batch(epochs *e, int32_t epoch, int64_t base_offset)
{
    /* LogSegment.recover: a v2 batch with an epoch >= 0 greater than the
     * latest cached one starts that epoch at its base offset. */
    if (epoch < 0 || (e->n > 0 && epoch <= e->v[e->n - 1].epoch))
        return 0;
    return epochs_assign(e, epoch, base_offset) == 1;
}

int epochs_n(const epochs *e)
{
    return e->n;
}

void epochs_get(const epochs *e, int i, int32_t *epoch, int64_t *start)
{
    if (epoch)
        *epoch = e->v[i].epoch;
    if (start)
        *start = e->v[i].start;
}

/* ------------------------------------------------------------ the file */

char *epochs_format(const epochs *e, size_t *len_out)
{
    /* "0\n<n>\n" then "<epoch> <start>\n" per entry (BufferedWriter.newLine
     * is "\n" on Linux). */
    size_t cap = 32 + (size_t)e->n * 34, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    len += (size_t)snprintf(s + len, cap - len, "%d\n%d\n", EPOCHS_FILE_VERSION, e->n);
    for (int i = 0; i < e->n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%" PRId32 " %" PRId64 "\n", e->v[i].epoch, e->v[i].start);
    if (len_out)
        *len_out = len;
    return s;
}

/* Java's Integer.parseInt / Long.parseLong on ASCII: an optional sign, one
 * or more digits, nothing else, within range. */
static int parse_long(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n == 0)
        return -1;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
        if (n == 1)
            return -1;
    }
    /* Accumulate negatively so that INT64_MIN fits. */
    int64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return -1;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return -1;
        v = -v;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Java's regex \s: [ \t\n\x0B\f\r]. */
static int jspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* BufferedReader.readLine: a line ends at \n, \r or \r\n; the last line
 * may have no terminator; no line at all at the end of the text. */
static int next_line(const char *t, size_t len, size_t *pos, const char **line, size_t *ll)
{
    if (*pos >= len)
        return 0;
    size_t b = *pos, i = b;
    while (i < len && t[i] != '\n' && t[i] != '\r')
        i++;
    *line = t + b;
    *ll = i - b;
    if (i < len && t[i] == '\r') {
        i++;
        if (i < len && t[i] == '\n')
            i++;
    } else if (i < len) {
        i++; /* '\n' */
    }
    *pos = i;
    return 1;
}

/* The message quotes the line; a long or binary line is cut and escaped. */
static void quote(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            dst[o++] = (char)c;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
    }
    if (o >= cap)
        o = cap - 1;
    dst[o] = 0;
}

static int malformed(const char *where, const char *line, size_t ll, char *err, size_t errlen)
{
    char q[160];
    quote(q, sizeof q, line, ll);
    seterr(err, errlen, "Malformed line in checkpoint file [%s]: %s", where, q);
    return -1;
}

int epochs_parse(epochs *e, const char *t, size_t len, const char *where, char *err, size_t errlen)
{
    size_t pos = 0, ll;
    const char *line;
    int64_t v;
    epochs *tmp = epochs_new();
    if (!tmp) {
        seterr(err, errlen, "out of memory reading checkpoint file [%s]", where);
        return -1;
    }
    int rc = -1;
    if (!next_line(t, len, &pos, &line, &ll))
        goto done_ok; /* an empty file: no entries */
    if (parse_long(line, ll, INT32_MIN, INT32_MAX, &v) < 0) {
        malformed(where, line, ll, err, errlen);
        goto out;
    }
    if (v != EPOCHS_FILE_VERSION) {
        seterr(err, errlen, "Unrecognised version:%" PRId64 ", expected version: %d in checkpoint file at: %s", v,
               EPOCHS_FILE_VERSION, where);
        goto out;
    }
    if (!next_line(t, len, &pos, &line, &ll))
        goto done_ok; /* a version line only: no entries */
    if (parse_long(line, ll, INT32_MIN, INT32_MAX, &v) < 0) {
        malformed(where, line, ll, err, errlen);
        goto out;
    }
    if (v < 0) {
        /* Kafka: new ArrayList<>(-1) throws "Illegal Capacity: -1". */
        seterr(err, errlen, "Negative entry count [%" PRId64 "] in checkpoint file [%s]", v, where);
        goto out;
    }
    int64_t expected = v, found = 0;
    /* Kafka reads every entry first, then assigns them in order. */
    epoch_entry *ents = NULL;
    size_t nents = 0, cents = 0;
    while (next_line(t, len, &pos, &line, &ll)) {
        /* line.split("\\s+"): a leading blank gives an empty first token,
         * trailing blanks are dropped; exactly two tokens. */
        size_t a = 0, ae, b, be;
        while (a < ll && !jspace(line[a]))
            a++;
        ae = a;
        b = ae;
        while (b < ll && jspace(line[b]))
            b++;
        be = b;
        while (be < ll && !jspace(line[be]))
            be++;
        size_t rest = be;
        while (rest < ll && jspace(line[rest]))
            rest++;
        int64_t ep, so;
        /* Two tokens: a non-empty first (ae > 0), a separator, a non-empty
         * second, then only blanks. */
        if (ae == 0 || b == ae || be == b || rest != ll || parse_long(line, ae, INT32_MIN, INT32_MAX, &ep) < 0 ||
            parse_long(line + b, be - b, INT64_MIN, INT64_MAX, &so) < 0) {
            free(ents);
            malformed(where, line, ll, err, errlen);
            goto out;
        }
        if (nents == cents) {
            cents = cents ? cents * 2 : 16;
            epoch_entry *ne = realloc(ents, cents * sizeof *ne);
            if (!ne) {
                free(ents);
                seterr(err, errlen, "out of memory reading checkpoint file [%s]", where);
                goto out;
            }
            ents = ne;
        }
        ents[nents++] = (epoch_entry){ (int32_t)ep, so };
        found++;
    }
    if (found != expected) {
        free(ents);
        seterr(err, errlen, "Expected [%" PRId64 "] entries in checkpoint file [%s], but found only [%" PRId64 "]",
               expected, where, found);
        goto out;
    }
    for (size_t i = 0; i < nents; i++) {
        if (ents[i].epoch < 0 || ents[i].start < 0) {
            /* Kafka: IllegalArgumentException from assign. */
            seterr(err, errlen,
                   "Received invalid partition leader epoch entry EpochEntry[epoch=%" PRId32 ", startOffset=%" PRId64
                   "] in checkpoint file [%s]",
                   ents[i].epoch, ents[i].start, where);
            free(ents);
            goto out;
        }
        epochs_assign(tmp, ents[i].epoch, ents[i].start);
    }
    free(ents);
done_ok:
    /* Swap the parsed entries in: e changes only on success. */
    {
        epoch_entry *ov = e->v;
        int ocap = e->cap;
        e->v = tmp->v;
        e->n = tmp->n;
        e->cap = tmp->cap;
        tmp->v = ov;
        tmp->cap = ocap;
    }
    rc = 0;
out:
    epochs_free(tmp);
    return rc;
}

int epochs_load(epochs *e, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) {
            epochs_clear(e);
            return 0;
        }
        seterr(err, errlen, "Error while reading checkpoint file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            seterr(err, errlen, "out of memory reading checkpoint file [%s]", path);
            return -1;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        seterr(err, errlen, "Error while reading checkpoint file %s: read error", path);
        return -1;
    }
    int rc = epochs_parse(e, buf, len, path, err, errlen);
    free(buf);
    return rc;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int epochs_save(const epochs *e, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = epochs_format(e, &len);
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    char *dir = malloc(pl + 2);
    if (!text || !tmp || !dir) {
        free(text);
        free(tmp);
        free(dir);
        seterr(err, errlen, "out of memory writing checkpoint file %s", path);
        return -1;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    /* The parent directory, for the fsync after the rename. */
    memcpy(dir, path, pl + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;

    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        seterr(err, errlen, "Error while writing to checkpoint file %s: open %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, text, len) < 0 || fsync(fd) < 0) {
        seterr(err, errlen, "Error while writing to checkpoint file %s: %s: %s", path, tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) < 0) {
        seterr(err, errlen, "Error while writing to checkpoint file %s: close: %s", path, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) < 0) {
        seterr(err, errlen, "Error while writing to checkpoint file %s: rename: %s", path, strerror(errno));
        goto out;
    }
    /* Utils.atomicMoveWithFallback(tmp, path) flushes the parent dir. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        seterr(err, errlen, "Error while writing to checkpoint file %s: fsync %s: %s", path, dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        goto out;
    }
    close(dfd);
    rc = 0;
out:
    free(text);
    free(tmp);
    free(dir);
    return rc;
}
