/*
 * logmgr.c - the log directory (see logmgr.h).
 *
 * Owns: the directory lock fd, the partition table (each entry owns its
 * plog), and the checkpoint contents read at open (kept for partitions that
 * are not open yet, so a checkpoint never forgets them).
 *
 * Invariants (under mu):
 *   1. At most one table entry per topic/partition.
 *   2. An entry is busy while it is being opened or deleted; nobody else
 *      touches its log then, and others wait on cv.
 *   3. pins counts flushes running on the entry's log outside mu; the log is
 *      not closed while pins > 0.
 *   4. The clean-shutdown marker exists on disk only between a clean close
 *      and the next open.
 */
#include "storage/logmgr.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "storage/checkpoint.h"

#define lm_logf(level, ...) glog((level), "log", __VA_ARGS__)

typedef struct lm_part {
    char *topic;                /* owned */
    int32_t partition;
    plog *log;                  /* owned; NULL while busy opening or deleting */
    bool busy;
    int pins;
} lm_part;

struct logmgr {
    char *dir;                  /* owned */
    int lock_fd;
    bool was_clean;
    bool truncate_corrupt;      /* log.recovery.truncate.corrupt, for every partition opened */
    pthread_mutex_t mu;         /* guards parts, the checkpoint files below */
    pthread_cond_t cv;          /* busy or pins changed */
    pthread_mutex_t ckpt_mu;    /* serializes checkpoint writes (shared .tmp names) */
    lm_part **parts;
    size_t nparts, parts_cap;
    checkpoint_file rp_ckpt;    /* as read at open, minus deleted partitions */
    checkpoint_file start_ckpt;
};

/* ---- filesystem helpers ---- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errno;
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = 0;
    while (fsync(fd) != 0) {
        if (errno != EINTR) {
            err = errno;
            break;
        }
    }
    close(fd);
    return err;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        lm_logf(GLOG_WARN, "removing %s: %s", path, strerror(errno));
    return 0;
}

/* rm -rf without recursion in our code (nftw walks with a bounded fd count). */
static void remove_tree(const char *path)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        lm_logf(GLOG_WARN, "removing directory %s: %s", path, strerror(errno));
}

static bool path_join(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n > 0 && (size_t)n < len;
}

static bool name_ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

/* "<topic>-<partition>" -> topic (into buf) and partition. */
static bool parse_partition_dir(const char *name, char *topic, size_t topic_len, int32_t *part)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || dash[1] == '\0')
        return false;
    int64_t v = 0;
    for (const char *p = dash + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT32_MAX / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v > INT32_MAX || (size_t)(dash - name) >= topic_len)
        return false;
    memcpy(topic, name, (size_t)(dash - name));
    topic[dash - name] = '\0';
    if (!checkpoint_topic_valid(topic))
        return false;
    *part = (int32_t)v;
    return true;
}

static bool is_dir(const char *dir, const struct dirent *e)
{
    if (e->d_type == DT_DIR)
        return true;
    if (e->d_type != DT_UNKNOWN)
        return false;
    char path[4096];
    struct stat st;
    return path_join(path, sizeof path, dir, e->d_name) && lstat(path, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

static void remove_delete_dirs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        if (!name_ends_with(e->d_name, "-delete") || !is_dir(dir, e) ||
            !path_join(path, sizeof path, dir, e->d_name))
            continue;
        lm_logf(GLOG_INFO, "removing %s left by an interrupted partition delete", path);
        remove_tree(path);
    }
    closedir(d);
}

/* ---- open ---- */

/* consequence: what ignoring this file means, for the warning. */
static void read_ckpt(logmgr *m, const char *name, checkpoint_file *f, const char *consequence)
{
    char path[4096], err[512];
    if (!path_join(path, sizeof path, m->dir, name))
        return;
    int rc = checkpoint_read(path, f, err, sizeof err);
    if (rc != CHECKPOINT_OK && rc != CHECKPOINT_ERR_MISSING)
        lm_logf(GLOG_WARN, "%s; ignoring it: %s", err, consequence);
}

/* Nothing in dir but what opening it creates: a brand-new log directory. */
static bool dir_is_new(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool empty = true;
    struct dirent *e;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                strcmp(e->d_name, ".lock") == 0 || strcmp(e->d_name, "meta.properties") == 0;
    closedir(d);
    return empty;
}

static int lock_dir(logmgr *m, char *err, size_t errlen)
{
    char path[4096];
    if (!path_join(path, sizeof path, m->dir, ".lock"))
        return ENAMETOOLONG;
    m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m->lock_fd < 0) {
        snprintf(err, errlen, "opening %s: %s", path, strerror(errno));
        return -1;
    }
    while (flock(m->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen, "log directory %s is in use by another process", m->dir);
        else
            snprintf(err, errlen, "locking %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Note the clean-shutdown marker and remove it durably. */
static int take_clean_marker(logmgr *m, char *err, size_t errlen)
{
    char path[4096];
    if (!path_join(path, sizeof path, m->dir, LOGMGR_CLEAN_SHUTDOWN_FILE))
        return -1;
    if (unlink(path) == 0) {
        m->was_clean = true;
        int e = fsync_path(m->dir, O_RDONLY | O_DIRECTORY);
        if (e) {
            snprintf(err, errlen, "fsync of %s: %s", m->dir, strerror(e));
            return -1;
        }
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "removing %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int logmgr_open(const char *dir, logmgr **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    logmgr *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        snprintf(err, errlen, "out of memory");
        free(m);
        return -1;
    }
    m->lock_fd = -1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->ckpt_mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    int e = mkdir_p(dir);
    if (e) {
        snprintf(err, errlen, "creating log directory %s: %s", dir, strerror(e));
        goto out_fail;
    }
    if (lock_dir(m, err, errlen) != 0)
        goto out_fail;
    if (take_clean_marker(m, err, errlen) != 0)
        goto out_fail;
    read_ckpt(m, LOGMGR_RECOVERY_CHECKPOINT, &m->rp_ckpt,
              "recovery will re-validate each partition from its first segment");
    read_ckpt(m, LOGMGR_START_CHECKPOINT, &m->start_ckpt,
              "each partition starts at its first segment's offset");
    remove_delete_dirs(dir);
    if (dir_is_new(dir))
        lm_logf(GLOG_INFO, "log directory %s opened (new)", dir);
    else
        lm_logf(GLOG_INFO, "log directory %s opened (%s shutdown before)", dir,
                m->was_clean ? "clean" : "unclean");
    *out = m;
    return 0;
out_fail:
    if (m->lock_fd >= 0)
        close(m->lock_fd);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->ckpt_mu);
    pthread_cond_destroy(&m->cv);
    free(m->dir);
    free(m);
    return -1;
}

void logmgr_set_truncate_corrupt(logmgr *m, bool on)
{
    m->truncate_corrupt = on;
}

bool logmgr_was_clean(logmgr *m)
{
    return m->was_clean;
}

const char *logmgr_dir(logmgr *m)
{
    return m->dir;
}

/* ---- the partition table (mu held) ---- */

static lm_part *part_find(logmgr *m, const char *topic, int32_t partition, size_t *idx)
{
    for (size_t i = 0; i < m->nparts; i++) {
        lm_part *p = m->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            if (idx)
                *idx = i;
            return p;
        }
    }
    return NULL;
}

/* Wait until the entry (if any) is not busy; returns it or NULL. */
static lm_part *part_find_idle(logmgr *m, const char *topic, int32_t partition)
{
    for (;;) {
        lm_part *p = part_find(m, topic, partition, NULL);
        if (!p || !p->busy)
            return p;
        pthread_cond_wait(&m->cv, &m->mu);
    }
}

static lm_part *part_add_busy(logmgr *m, const char *topic, int32_t partition)
{
    if (m->nparts == m->parts_cap) {
        size_t cap = m->parts_cap ? m->parts_cap * 2 : 16;
        lm_part **n = realloc(m->parts, cap * sizeof *n);
        if (!n)
            return NULL;
        m->parts = n;
        m->parts_cap = cap;
    }
    lm_part *p = calloc(1, sizeof *p);
    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->busy = true;
    m->parts[m->nparts++] = p;
    return p;
}

static void part_remove(logmgr *m, lm_part *p)
{
    size_t i;
    lm_part *q = part_find(m, p->topic, p->partition, &i);
    assert(q == p);
    (void)q;
    m->parts[i] = m->parts[--m->nparts];
    free(p->topic);
    free(p);
}

static void ckpt_forget(checkpoint_file *f, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < f->count; i++) {
        if (f->entries[i].partition == partition && strcmp(f->entries[i].topic, topic) == 0) {
            free(f->entries[i].topic);
            f->entries[i] = f->entries[--f->count];
            return;
        }
    }
}

/* ---- partitions ---- */

static bool partition_path(logmgr *m, const char *topic, int32_t partition, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s-%d", m->dir, topic, (int)partition);
    return n > 0 && (size_t)n < len;
}

static int partition_open_files(logmgr *m, const char *topic, int32_t partition,
                                const log_config *cfg, plog **out, char *report, size_t report_len)
{
    char path[4096];
    if (!partition_path(m, topic, partition, path, sizeof path))
        return LOG_ERR_IO;
    pthread_mutex_lock(&m->mu);
    const checkpoint_entry *rp = checkpoint_find(&m->rp_ckpt, topic, partition);
    const checkpoint_entry *st = checkpoint_find(&m->start_ckpt, topic, partition);
    int64_t recovery_point = rp ? rp->offset : 0;
    int64_t start = st ? st->offset : 0;
    pthread_mutex_unlock(&m->mu);
    if (mkdir(path, 0755) == 0) {
        int e = fsync_path(m->dir, O_RDONLY | O_DIRECTORY);
        if (e)
            lm_logf(GLOG_WARN, "fsync of %s: %s", m->dir, strerror(e));
    } else if (errno != EEXIST) {
        lm_logf(GLOG_ERROR, "creating %s: %s", path, strerror(errno));
        return LOG_ERR_IO;
    }
    log_config c = *cfg;
    c.truncate_corrupt = c.truncate_corrupt || m->truncate_corrupt;
    return plog_open(path, &c, start, recovery_point, m->was_clean, out, report, report_len);
}

int logmgr_partition_open(logmgr *m, const char *topic, int32_t partition,
                          const log_config *cfg, plog **out, char *report, size_t report_len)
{
    if (report && report_len)
        report[0] = '\0';
    if (!checkpoint_topic_valid(topic) || partition < 0)
        return LOG_ERR_OUT_OF_RANGE;
    pthread_mutex_lock(&m->mu);
    lm_part *p = part_find_idle(m, topic, partition);
    if (p) {
        *out = p->log;
        pthread_mutex_unlock(&m->mu);
        if (report && report_len)
            snprintf(report, report_len, "already open");
        return LOG_OK;
    }
    p = part_add_busy(m, topic, partition);
    pthread_mutex_unlock(&m->mu);
    if (!p)
        return LOG_ERR_NOMEM;

    plog *l = NULL;
    int rc = partition_open_files(m, topic, partition, cfg, &l, report, report_len);

    pthread_mutex_lock(&m->mu);
    if (rc == LOG_OK) {
        p->log = l;
        p->busy = false;
        *out = l;
    } else {
        part_remove(m, p);
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

plog *logmgr_partition_get(logmgr *m, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&m->mu);
    lm_part *p = part_find(m, topic, partition, NULL);
    plog *l = p && !p->busy ? p->log : NULL;
    pthread_mutex_unlock(&m->mu);
    return l;
}

static void random_hex32(char out[33])
{
    uint8_t b[16];
    ssize_t n = getrandom(b, sizeof b, GRND_NONBLOCK);
    if (n != (ssize_t)sizeof b) {
        /* Uniqueness is all we need: time, pid and a counter will do. */
        static _Atomic unsigned counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        uint64_t y = ((uint64_t)getpid() << 32) | counter++;
        memcpy(b, &x, 8);
        memcpy(b + 8, &y, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Rename the partition directory out of the way, then remove it. */
static int partition_remove_dir(logmgr *m, const char *topic, int32_t partition)
{
    char path[4096], gone[4200], hex[33];
    if (!partition_path(m, topic, partition, path, sizeof path))
        return LOG_ERR_IO;
    random_hex32(hex);
    snprintf(gone, sizeof gone, "%s.%s-delete", path, hex);
    if (rename(path, gone) != 0) {
        if (errno == ENOENT)
            return LOG_OK;
        lm_logf(GLOG_ERROR, "renaming %s for deletion: %s", path, strerror(errno));
        return LOG_ERR_IO;
    }
    int e = fsync_path(m->dir, O_RDONLY | O_DIRECTORY);
    if (e)
        lm_logf(GLOG_WARN, "fsync of %s: %s", m->dir, strerror(e));
    remove_tree(gone);
    lm_logf(GLOG_INFO, "deleted partition %s-%d", topic, (int)partition);
    return LOG_OK;
}

int logmgr_partition_set_aside(logmgr *m, const char *topic, int32_t partition)
{
    char path[4096], stray[4200], hex[33];
    if (!partition_path(m, topic, partition, path, sizeof path))
        return LOG_ERR_IO;
    pthread_mutex_lock(&m->mu);
    bool open = part_find(m, topic, partition, NULL) != NULL;
    pthread_mutex_unlock(&m->mu);
    if (open)
        return LOG_ERR_OUT_OF_RANGE; /* a known partition is never set aside */
    random_hex32(hex);
    snprintf(stray, sizeof stray, "%s.%s-stray", path, hex);
    if (rename(path, stray) != 0) {
        lm_logf(GLOG_ERROR, "setting %s aside: %s", path, strerror(errno));
        return LOG_ERR_IO;
    }
    int e = fsync_path(m->dir, O_RDONLY | O_DIRECTORY);
    if (e)
        lm_logf(GLOG_WARN, "fsync of %s: %s", m->dir, strerror(e));
    lm_logf(GLOG_WARN,
            "partition directory %s is no partition the metadata has on this broker: set aside as %s "
            "(its data is untouched; a new replica of that name starts empty)", path, stray);
    return LOG_OK;
}

int logmgr_partition_delete(logmgr *m, const char *topic, int32_t partition)
{
    if (!checkpoint_topic_valid(topic) || partition < 0)
        return LOG_ERR_OUT_OF_RANGE;
    pthread_mutex_lock(&m->mu);
    lm_part *p = part_find_idle(m, topic, partition);
    if (p)
        p->busy = true;
    else
        p = part_add_busy(m, topic, partition);
    if (!p) {
        pthread_mutex_unlock(&m->mu);
        return LOG_ERR_NOMEM;
    }
    while (p->pins > 0)
        pthread_cond_wait(&m->cv, &m->mu);
    plog *l = p->log;
    p->log = NULL;
    pthread_mutex_unlock(&m->mu);

    plog_close(l);
    int rc = partition_remove_dir(m, topic, partition);

    pthread_mutex_lock(&m->mu);
    ckpt_forget(&m->rp_ckpt, topic, partition);
    ckpt_forget(&m->start_ckpt, topic, partition);
    part_remove(m, p);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- checkpoints and flushing ---- */

typedef struct ckpt_set {
    checkpoint_entry *rp, *start;
    size_t n_rp, n_start;
} ckpt_set;

static void ckpt_set_free(ckpt_set *s)
{
    for (size_t i = 0; i < s->n_rp; i++)
        free(s->rp[i].topic);
    for (size_t i = 0; i < s->n_start; i++)
        free(s->start[i].topic);
    free(s->rp);
    free(s->start);
}

static bool ckpt_set_add(checkpoint_entry *v, size_t *n, const char *topic, int32_t partition,
                         int64_t offset)
{
    char *t = strdup(topic);
    if (!t)
        return false;
    v[(*n)++] = (checkpoint_entry){ t, partition, offset };
    return true;
}

/* Snapshot (mu held): open partitions' live values, then the remembered ones. */
static bool ckpt_set_build(logmgr *m, ckpt_set *s)
{
    size_t cap = m->nparts + m->rp_ckpt.count + m->start_ckpt.count + 1;
    s->rp = calloc(cap, sizeof *s->rp);
    s->start = calloc(cap, sizeof *s->start);
    if (!s->rp || !s->start)
        return false;
    for (size_t i = 0; i < m->nparts; i++) {
        lm_part *p = m->parts[i];
        if (!p->log)
            continue;
        if (!ckpt_set_add(s->rp, &s->n_rp, p->topic, p->partition, plog_recovery_point(p->log)) ||
            !ckpt_set_add(s->start, &s->n_start, p->topic, p->partition,
                          plog_start_offset(p->log)))
            return false;
    }
    for (size_t i = 0; i < m->rp_ckpt.count; i++) {
        checkpoint_entry *e = &m->rp_ckpt.entries[i];
        if (!part_find(m, e->topic, e->partition, NULL) &&
            !ckpt_set_add(s->rp, &s->n_rp, e->topic, e->partition, e->offset))
            return false;
    }
    for (size_t i = 0; i < m->start_ckpt.count; i++) {
        checkpoint_entry *e = &m->start_ckpt.entries[i];
        if (!part_find(m, e->topic, e->partition, NULL) &&
            !ckpt_set_add(s->start, &s->n_start, e->topic, e->partition, e->offset))
            return false;
    }
    return true;
}

int logmgr_checkpoint(logmgr *m)
{
    pthread_mutex_lock(&m->ckpt_mu);
    ckpt_set s = { 0 };
    pthread_mutex_lock(&m->mu);
    bool ok = ckpt_set_build(m, &s);
    pthread_mutex_unlock(&m->mu);
    int rc = LOG_ERR_NOMEM;
    if (ok) {
        char path[4096], err[512];
        rc = LOG_OK;
        if (!path_join(path, sizeof path, m->dir, LOGMGR_RECOVERY_CHECKPOINT) ||
            checkpoint_write(path, s.rp, s.n_rp, err, sizeof err) != CHECKPOINT_OK)
            rc = LOG_ERR_IO;
        else if (!path_join(path, sizeof path, m->dir, LOGMGR_START_CHECKPOINT) ||
                 checkpoint_write(path, s.start, s.n_start, err, sizeof err) != CHECKPOINT_OK)
            rc = LOG_ERR_IO;
        if (rc != LOG_OK)
            lm_logf(GLOG_ERROR, "%s", err);
    }
    ckpt_set_free(&s);
    pthread_mutex_unlock(&m->ckpt_mu);
    return rc;
}

int logmgr_flush_all(logmgr *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = 0;
    lm_part **pinned = calloc(m->nparts + 1, sizeof *pinned);
    if (!pinned) {
        pthread_mutex_unlock(&m->mu);
        return LOG_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->nparts; i++) {
        lm_part *p = m->parts[i];
        if (p->busy || !p->log)
            continue;
        p->pins++;
        pinned[n++] = p;
    }
    pthread_mutex_unlock(&m->mu);

    int rc = LOG_OK;
    for (size_t i = 0; i < n; i++) {
        int64_t flushed;
        int r = plog_flush(pinned[i]->log, &flushed);
        if (r != LOG_OK && rc == LOG_OK)
            rc = r;
    }

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < n; i++)
        pinned[i]->pins--;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    free(pinned);
    return rc;
}

static int write_clean_marker(logmgr *m)
{
    char path[4096];
    if (!path_join(path, sizeof path, m->dir, LOGMGR_CLEAN_SHUTDOWN_FILE))
        return ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int e = 0;
    while (fsync(fd) != 0) {
        if (errno != EINTR) {
            e = errno;
            break;
        }
    }
    close(fd);
    if (!e)
        e = fsync_path(m->dir, O_RDONLY | O_DIRECTORY);
    return e;
}

bool logmgr_close(logmgr *m, bool clean)
{
    if (!m)
        return false;
    bool ok = logmgr_flush_all(m) == LOG_OK;
    ok = logmgr_checkpoint(m) == LOG_OK && ok;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nparts; i++) {
        lm_part *p = m->parts[i];
        assert(!p->busy && p->pins == 0);   /* no open/delete/flush may race close */
        if (clean)
            ok = plog_shutdown(p->log) == LOG_OK && ok;
        else
            plog_close(p->log);
        free(p->topic);
        free(p);
    }
    m->nparts = 0;
    pthread_mutex_unlock(&m->mu);
    bool marked = false;
    if (clean && ok) {
        int e = write_clean_marker(m);
        if (e)
            lm_logf(GLOG_ERROR, "writing the clean-shutdown marker in %s: %s", m->dir, strerror(e));
        marked = e == 0;
    } else if (clean) {
        lm_logf(GLOG_WARN, "log directory %s: shutdown had errors, not marking it clean", m->dir);
    }
    close(m->lock_fd);
    checkpoint_file_deinit(&m->rp_ckpt);
    checkpoint_file_deinit(&m->start_ckpt);
    free(m->parts);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->ckpt_mu);
    pthread_cond_destroy(&m->cv);
    free(m->dir);
    free(m);
    return marked;
}

int logmgr_list_partition_dirs(logmgr *m, void (*cb)(void *arg, const char *topic,
                                                     int32_t partition), void *arg)
{
    DIR *d = opendir(m->dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char topic[CHECKPOINT_TOPIC_BYTES_MAX + 1];
        int32_t partition;
        if (e->d_name[0] == '.' || name_ends_with(e->d_name, "-delete") ||
            name_ends_with(e->d_name, "-stray") || !is_dir(m->dir, e) ||
            !parse_partition_dir(e->d_name, topic, sizeof topic, &partition))
            continue;
        cb(arg, topic, partition);
        n++;
    }
    closedir(d);
    return n;
}
