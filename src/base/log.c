/*
 * log.c - see log.h.
 *
 * State: the level is an atomic int. The debug set is a small fixed table
 * guarded by a rwlock, fronted by an atomic flag "any debug subsystem set" so
 * the common case (debug off) never touches the lock. glog_set_debug builds
 * the new set on the stack and swaps it in under the write lock; the flag is
 * published after the table so a reader that sees it set finds the table.
 *
 * glog preserves errno, so callers may log before inspecting it.
 */
#include "base/log.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

typedef struct glog_debug_set {
    bool all;
    int count;
    char names[GLOG_SUBSYS_MAX][GLOG_SUBSYS_BYTES_MAX + 1];
} glog_debug_set;

static atomic_int glog_level = GLOG_INFO;
static atomic_bool glog_debug_any;
static pthread_rwlock_t glog_debug_lock = PTHREAD_RWLOCK_INITIALIZER;
static glog_debug_set glog_debug; /* guarded by glog_debug_lock */

static const char *const glog_level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

static int glog_level_clamp(int level)
{
    if (level < GLOG_ERROR)
        return GLOG_ERROR;
    if (level > GLOG_DEBUG)
        return GLOG_DEBUG;
    return level;
}

void glog_set_level(int level)
{
    atomic_store(&glog_level, glog_level_clamp(level));
}

int glog_get_level(void)
{
    return atomic_load(&glog_level);
}

/* ---- debug subsystems ---- */

static bool glog_subsys_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

/* One comma-separated item, spaces trimmed, into set. Returns 0 or -1. */
static int glog_debug_parse_item(const char *s, size_t n, glog_debug_set *set)
{
    while (n > 0 && s[0] == ' ') {
        s++;
        n--;
    }
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n == 0 || n > GLOG_SUBSYS_BYTES_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!glog_subsys_char_ok(s[i]))
            return -1;
    if (n == 3 && memcmp(s, "all", 3) == 0) {
        set->all = true;
        return 0;
    }
    if (set->count == GLOG_SUBSYS_MAX)
        return -1;
    memcpy(set->names[set->count], s, n);
    set->names[set->count][n] = '\0';
    set->count++;
    return 0;
}

static int glog_debug_parse(const char *spec, glog_debug_set *set)
{
    memset(set, 0, sizeof *set);
    if (strcmp(spec, "none") == 0)
        return 0;
    const char *item = spec;
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t n = comma ? (size_t)(comma - item) : strlen(item);
        if (glog_debug_parse_item(item, n, set) != 0)
            return -1;
        if (!comma)
            return 0;
        item = comma + 1;
    }
}

int glog_set_debug(const char *spec)
{
    glog_debug_set set;
    if (!spec || glog_debug_parse(spec, &set) != 0)
        return -1;
    assert(set.count >= 0 && set.count <= GLOG_SUBSYS_MAX);

    pthread_rwlock_wrlock(&glog_debug_lock);
    glog_debug = set;
    atomic_store(&glog_debug_any, set.all || set.count > 0);
    pthread_rwlock_unlock(&glog_debug_lock);
    return 0;
}

static bool glog_debug_set_has(const char *subsys)
{
    bool found = false;
    pthread_rwlock_rdlock(&glog_debug_lock);
    found = glog_debug.all;
    for (int i = 0; i < glog_debug.count && !found; i++)
        found = strcmp(glog_debug.names[i], subsys) == 0;
    pthread_rwlock_unlock(&glog_debug_lock);
    return found;
}

bool glog_debug_enabled(const char *subsys)
{
    if (atomic_load(&glog_level) >= GLOG_DEBUG)
        return true;
    if (!atomic_load(&glog_debug_any))
        return false;
    return subsys && glog_debug_set_has(subsys);
}

/* ---- writing ---- */

static bool glog_wanted(int level, const char *subsys)
{
    if (level <= atomic_load(&glog_level))
        return true;
    return level == GLOG_DEBUG && glog_debug_enabled(subsys);
}

/* "2026-11-22T10:11:12.345Z INFO  [net] " into buf; returns bytes used. */
static size_t glog_prefix(char *buf, size_t cap, int level, const char *subsys)
{
    int64_t now_ms = clock_now_ms();
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(now_ms % 1000), glog_level_names[level],
                     subsys ? subsys : "-");
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static void glog_write_all(const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(STDERR_FILENO, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report a failing stderr */
        done += (size_t)w;
    }
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 if it is not one. */
static size_t glog_utf8_len(const unsigned char *s, size_t n)
{
    size_t need = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (need == 0 || s[0] > 0xf4 || need > n)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return need;
}

/*
 * Escape, in buf[from..len), control bytes and bytes that are not valid
 * UTF-8 as \xNN, so that what a client sent or a damaged file held never
 * reaches the log raw (no terminal escapes, no broken lines). Returns the
 * new length (at most cap - 1, cut with "..." when escaping made it longer).
 */
static size_t glog_escape(char *buf, size_t from, size_t len, size_t cap)
{
    size_t i = from;
    while (i < len) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch >= 0x20 && ch < 0x7f) {
            i++;
            continue;
        }
        size_t u = ch >= 0x80 ? glog_utf8_len((const unsigned char *)buf + i, len - i) : 0;
        if (u == 0)
            break;
        i += u;
    }
    if (i == len)
        return len;
    char out[GLOG_LINE_BYTES_MAX];
    size_t o = i;
    memcpy(out, buf, i);
    while (i < len && o < cap - 8) {
        unsigned char ch = (unsigned char)buf[i];
        size_t u = ch >= 0x80 ? glog_utf8_len((const unsigned char *)buf + i, len - i) : 0;
        if (ch >= 0x20 && ch < 0x7f) {
            out[o++] = (char)ch;
            i++;
        } else if (u > 0) {
            memcpy(out + o, buf + i, u);
            o += u;
            i += u;
        } else {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", ch);
            i++;
        }
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    memcpy(buf, out, o);
    return o;
}

/* Format and write one line; suffix (may be NULL) goes after the message. */
static void glog_v(int level, const char *subsys, const char *suffix, const char *fmt,
                   va_list ap)
{
    int saved_errno = errno;
    char buf[GLOG_LINE_BYTES_MAX];
    /* vsnprintf's NUL becomes the '\n', so a line uses the whole buffer. */
    const size_t cap = sizeof buf;
    size_t len = glog_prefix(buf, cap, level, subsys);
    size_t prefix_len = len;

    int m = vsnprintf(buf + len, cap - len, fmt, ap);
    if (m > 0 && (size_t)m >= cap - len) {
        len = cap - 1; /* vsnprintf stopped here */
        memcpy(buf + len - 3, "...", 3);
    } else if (m > 0) {
        len += (size_t)m;
    }
    while (len > 0 && buf[len - 1] == '\n')
        len--;
    len = glog_escape(buf, prefix_len, len, cap);
    if (suffix && len < cap - 1) {
        size_t n = strlen(suffix);
        if (n > cap - 1 - len)
            n = cap - 1 - len;
        memcpy(buf + len, suffix, n);
        len += n;
    }
    assert(len < sizeof buf);
    buf[len++] = '\n';
    glog_write_all(buf, len);
    errno = saved_errno;
}

void glog(int level, const char *subsys, const char *fmt, ...)
{
    level = glog_level_clamp(level);
    if (!glog_wanted(level, subsys))
        return;
    va_list ap;
    va_start(ap, fmt);
    glog_v(level, subsys, NULL, fmt, ap);
    va_end(ap);
}

/* ---- rate-limited lines ---- */

bool glog_limited(glog_limit *lim, int level, const char *subsys, const char *fmt, ...)
{
    level = glog_level_clamp(level);
    if (!glog_wanted(level, subsys))
        return false;
    int64_t now_ms = clock_mono_ms();
    long long suppressed = 0;
    bool print = false;
    int64_t window_ms = lim->window_ms > 0 ? lim->window_ms : GLOG_LIMIT_WINDOW_MS;
    pthread_mutex_lock(&lim->lock);
    if (lim->window_start_ms == 0 || now_ms - lim->window_start_ms >= window_ms) {
        suppressed = lim->suppressed;
        lim->window_start_ms = now_ms;
        lim->printed = 0;
        lim->suppressed = 0;
    }
    if (lim->printed < GLOG_LIMIT_LINES) {
        lim->printed++;
        print = true;
    } else {
        lim->suppressed++;
    }
    pthread_mutex_unlock(&lim->lock);
    if (!print)
        return false;
    char suffix[96] = "";
    if (suppressed > 0)
        snprintf(suffix, sizeof suffix, " (and %lld more like this since the last such line)",
                 suppressed);
    va_list ap;
    va_start(ap, fmt);
    glog_v(level, subsys, suffix[0] ? suffix : NULL, fmt, ap);
    va_end(ap);
    return true;
}
