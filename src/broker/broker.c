/*
 * broker.c - start-up and shutdown of a broker.
 *
 * Start-up order: log directory (lock, checkpoints, clean-shutdown marker)
 * -> meta.properties (cluster.id, node.id) -> metadata log replay (opens and,
 * after an unclean stop, recovers every partition) -> flusher -> reactors and
 * listeners. Shutdown runs it backwards after the in-flight requests finish.
 */
#include "broker/broker.h"

#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/appender.h"
#include "broker/reqstats.h"
#include "broker/scrubber.h"
#include "cluster/cleaner.h"
#include "group/coordinator.h"
#include "metadata/metalog.h"
#include "txn/pids.h"
#include "txn/tcoord.h"

/* ---- meta.properties ---- */

static void random_cluster_id(char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[16] = { 0 };
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
        uint64_t x = (uint64_t)clock_mono_ns() ^ (uint64_t)getpid();
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            raw[i] = (uint8_t)(x >> 56);
        }
    }
    if (fd >= 0)
        close(fd);
    /* 128 bits -> 22 base64url characters, as Kafka prints Uuids */
    int bit = 0;
    for (int i = 0; i < 22; i++) {
        int v = 0;
        for (int k = 0; k < 6; k++, bit++)
            v = (v << 1) | (bit < 128 ? (raw[bit / 8] >> (7 - bit % 8)) & 1 : 0);
        out[i] = b64[v];
    }
    out[22] = '\0';
}

static int write_file_atomic(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int load_meta_properties(broker *b, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.properties", dir);
    if (access(path, F_OK) != 0) {
        random_cluster_id(b->cluster_id);
        char dirid[32], text[512];
        random_cluster_id(dirid);
        snprintf(text, sizeof(text),
                 "#\n#Written by gregor when the log directory was first used\nversion=1\nnode.id=%d\ncluster.id=%s\ndirectory.id=%s\n",
                 b->node_id, b->cluster_id, dirid);
        if (write_file_atomic(dir, "meta.properties", text, err, errlen) != 0)
            return -1;
        glog(GLOG_INFO, "broker", "formatted %s: cluster.id=%s node.id=%d", dir, b->cluster_id, b->node_id);
        return 0;
    }
    static const config_def defs[] = {
        { "version", CONFIG_INT, "1", 0, 1, NULL, 0, "" },
        { "node.id", CONFIG_INT, "-1", -1, 2147483647LL, NULL, 0, "" },
        { "broker.id", CONFIG_INT, "-1", -1, 2147483647LL, NULL, 0, "" },
        { "cluster.id", CONFIG_STRING, "", 0, 0, NULL, 0, "" },
        { "directory.id", CONFIG_STRING, "", 0, 0, NULL, 0, "" },
    };
    config_set cs;
    config_set_init(&cs, defs, 5);
    int rc = config_load_file(&cs, path, CONFIG_SOURCE_STATIC_BROKER, err, errlen);
    if (rc == 0) {
        int64_t node = config_get_num(&cs, 1) >= 0 ? config_get_num(&cs, 1) : config_get_num(&cs, 2);
        const char *cid = config_get_str(&cs, 3);
        if (node != b->node_id) {
            snprintf(err, errlen, "%s says node.id=%lld but the configuration says node.id=%d",
                     path, (long long)node, b->node_id);
            rc = -1;
        } else if (!cid || strlen(cid) == 0 || strlen(cid) >= sizeof(b->cluster_id)) {
            snprintf(err, errlen, "%s has no valid cluster.id", path);
            rc = -1;
        } else {
            snprintf(b->cluster_id, sizeof(b->cluster_id), "%s", cid);
        }
    }
    config_set_deinit(&cs);
    return rc;
}

/* ---- listeners ---- */

typedef struct endpoint {
    char name[64];
    char host[256];
    int port;
} endpoint;

/* Parse "NAME://host:port" (host may be empty or [v6]). */
static int parse_endpoint(const char *s, size_t len, endpoint *ep, char *err, size_t errlen)
{
    const char *sep = strstr(s, "://");
    if (!sep || (size_t)(sep - s) >= sizeof(ep->name) || sep > s + len) {
        snprintf(err, errlen, "listener '%.*s' is not of the form NAME://host:port", (int)len, s);
        return -1;
    }
    memcpy(ep->name, s, (size_t)(sep - s));
    ep->name[sep - s] = '\0';
    const char *hp = sep + 3, *end = s + len;
    const char *colon = NULL;
    for (const char *p = end - 1; p >= hp; p--)
        if (*p == ':') {
            colon = p;
            break;
        }
    if (!colon || colon + 1 >= end) {
        snprintf(err, errlen, "listener '%.*s' has no port", (int)len, s);
        return -1;
    }
    const char *h0 = hp, *h1 = colon;
    if (h1 > h0 && *h0 == '[' && h1[-1] == ']') {
        h0++;
        h1--;
    }
    if ((size_t)(h1 - h0) >= sizeof(ep->host)) {
        snprintf(err, errlen, "listener host too long");
        return -1;
    }
    memcpy(ep->host, h0, (size_t)(h1 - h0));
    ep->host[h1 - h0] = '\0';
    char *pe;
    long port = strtol(colon + 1, &pe, 10);
    if (pe != end || port < 0 || port > 65535) {
        snprintf(err, errlen, "listener '%.*s' has an invalid port", (int)len, s);
        return -1;
    }
    ep->port = (int)port;
    return 0;
}

static bool list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        while (l && *p == ' ') {
            p++;
            l--;
        }
        if (l == n && strncmp(p, item, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

/* Security protocol of a listener name from listener.security.protocol.map. */
static const char *listener_protocol(const broker *b, const char *name, char *buf, size_t buflen)
{
    const char *map = config_get_str(&b->cfg, BCFG_LISTENER_SECURITY_PROTOCOL_MAP);
    size_t n = strlen(name);
    for (const char *p = map; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l > n && strncmp(p, name, n) == 0 && p[n] == ':') {
            snprintf(buf, buflen, "%.*s", (int)(l - n - 1), p + n + 1);
            return buf;
        }
        p = c ? c + 1 : NULL;
    }
    return NULL;
}

/* Pick the one client listener (PLAINTEXT) and what to advertise for it. */
static int choose_listener(broker *b, endpoint *bind_ep, char *err, size_t errlen)
{
    const char *ls = config_get_str(&b->cfg, BCFG_LISTENERS);
    const char *ctl = config_get_str(&b->cfg, BCFG_CONTROLLER_LISTENER_NAMES);
    bool found = false;
    for (const char *p = ls; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        endpoint ep;
        if (parse_endpoint(p, l, &ep, err, errlen) != 0)
            return -1;
        p = c ? c + 1 : NULL;
        if (list_has(ctl, ep.name))
            continue; /* the controller listener: one node needs no quorum traffic */
        char buf[64];
        const char *proto = listener_protocol(b, ep.name, buf, sizeof(buf));
        if (!proto) {
            snprintf(err, errlen, "listener %s has no entry in listener.security.protocol.map", ep.name);
            return -1;
        }
        if (strcmp(proto, "PLAINTEXT") != 0) {
            snprintf(err, errlen, "listener %s uses %s, which Gregor does not serve yet (only PLAINTEXT)", ep.name, proto);
            return -1;
        }
        if (found) {
            snprintf(err, errlen, "more than one client listener configured; Gregor serves one so far");
            return -1;
        }
        *bind_ep = ep;
        found = true;
    }
    if (!found) {
        snprintf(err, errlen, "no client listener in listeners=%s", ls);
        return -1;
    }
    snprintf(b->adv_host, sizeof(b->adv_host), "%s", bind_ep->host[0] && strcmp(bind_ep->host, "0.0.0.0") != 0 ? bind_ep->host : "localhost");
    b->adv_port = bind_ep->port;
    const char *adv = config_get_str(&b->cfg, BCFG_ADVERTISED_LISTENERS);
    for (const char *p = adv; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        endpoint ep;
        if (parse_endpoint(p, l, &ep, err, errlen) != 0)
            return -1;
        p = c ? c + 1 : NULL;
        if (strcmp(ep.name, bind_ep->name) == 0) {
            snprintf(b->adv_host, sizeof(b->adv_host), "%s", ep.host[0] ? ep.host : "localhost");
            b->adv_port = ep.port;
        }
    }
    return 0;
}

/* ---- open files ---- */

#define FDS_PER_PARTITION 1 /* the active segment's .log; indexes are in memory */
#define FDS_SPARE 256       /* connections, checkpoints, the metadata log */

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", "..", and the directory's own fd */
}

int16_t broker_fd_budget(broker *b, int64_t new_partitions, char *msg, size_t msglen)
{
    (void)b;
    struct rlimit rl;
    int open_now = count_open_fds();
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || open_now < 0 || rl.rlim_cur == RLIM_INFINITY)
        return KERR_NONE;
    int64_t need = new_partitions * FDS_PER_PARTITION;
    if ((int64_t)open_now + need + FDS_SPARE <= (int64_t)rl.rlim_cur)
        return KERR_NONE;
    snprintf(msg, msglen,
             "%lld new partitions need about %lld more open files; %d of the limit of %llu are in use "
             "(raise the open-files limit: ulimit -n / LimitNOFILE)",
             (long long)new_partitions, (long long)need, open_now, (unsigned long long)rl.rlim_cur);
    return KERR_POLICY_VIOLATION;
}

/* Partitions keep files open; take all the open-files limit we may. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        glog(GLOG_INFO, "broker", "open-files limit raised from %llu to %llu", (unsigned long long)before,
             (unsigned long long)rl.rlim_cur);
}

/* ---- partition directories the metadata does not know ---- */

typedef struct stray_list {
    char (*topic)[256];
    int32_t *partition;
    int n, cap;
} stray_list;

static void collect_stray(void *arg, const char *name, int32_t index)
{
    stray_list *sl = arg;
    if (sl->n == sl->cap) {
        int cap = sl->cap ? sl->cap * 2 : 16;
        void *t = realloc(sl->topic, (size_t)cap * sizeof *sl->topic);
        if (t)
            sl->topic = t;
        void *p = realloc(sl->partition, (size_t)cap * sizeof *sl->partition);
        if (p)
            sl->partition = p;
        if (!t || !p)
            return;
        sl->cap = cap;
    }
    snprintf(sl->topic[sl->n], sizeof sl->topic[sl->n], "%s", name);
    sl->partition[sl->n++] = index;
}

/* After the metadata is replayed: a directory of no known partition (a
 * topic forgotten by a damaged metadata log, or copied in by hand) is set
 * aside instead of being adopted by the next topic of that name. */
static void set_aside_strays(broker *b)
{
    stray_list sl = { 0 };
    logmgr_list_partition_dirs(b->logs, collect_stray, &sl);
    for (int i = 0; i < sl.n; i++) {
        if (strcmp(sl.topic[i], METALOG_TOPIC) == 0)
            continue;
        topic *tp = topics_get(b->topics, sl.topic[i], (int)strlen(sl.topic[i]));
        bool known = tp && sl.partition[i] < topic_nparts(tp);
        if (tp)
            topic_unref(tp);
        if (!known)
            logmgr_partition_set_aside(b->logs, sl.topic[i], sl.partition[i]);
    }
    free(sl.topic);
    free(sl.partition);
}

/* ---- start-up and shutdown ---- */

static void part_appended(void *ctx, partition *p)
{
    fetch_partition_appended(ctx, p);
}

static void txn_offsets_marker(void *ctx, int32_t part, int64_t pid, bool commit)
{
    broker *b = ctx;
    coord_txn_marker(b->coord, part, pid, commit);
}

static int32_t txn_offsets_partition(void *ctx, const char *group_id)
{
    broker *b = ctx;
    return coord_offsets_partition(b->coord, group_id);
}

int broker_init(broker *b, char *err, size_t errlen)
{
    b->node_id = (int32_t)config_get_num(&b->cfg, BCFG_NODE_ID);
    int64_t legacy = config_get_num(&b->cfg, BCFG_BROKER_ID);
    if (legacy >= 0 && legacy != b->node_id) {
        if (config_get(&b->cfg, BCFG_NODE_ID)->source == CONFIG_SOURCE_DEFAULT) {
            b->node_id = (int32_t)legacy;
        } else {
            snprintf(err, errlen, "broker.id=%lld and node.id=%d disagree", (long long)legacy, b->node_id);
            return -1;
        }
    }
    const char *dbg = config_get_str(&b->cfg, BCFG_LOG_DEBUG);
    if (dbg && *dbg && glog_set_debug(dbg) != 0) {
        snprintf(err, errlen, "invalid log.debug value '%s'", dbg);
        return -1;
    }
    b->reqstats = reqstats_new();
    const char *dir = broker_config_log_dir(&b->cfg);
    if (strchr(dir, ',')) {
        snprintf(err, errlen, "log.dirs=%s names several directories; Gregor uses one so far", dir);
        return -1;
    }
    const char *mdir = config_get_str(&b->cfg, BCFG_METADATA_LOG_DIR);
    if (mdir && strcmp(mdir, dir) != 0) {
        snprintf(err, errlen, "metadata.log.dir must be unset or equal to the log directory for now");
        return -1;
    }
    raise_fd_limit();
    b->fetch_bytes_max = (int32_t)config_get_num(&b->cfg, BCFG_FETCH_MAX_BYTES);
    b->auto_create = config_get_num(&b->cfg, BCFG_AUTO_CREATE_TOPICS_ENABLE) != 0;
    b->txn_verify = config_get_num(&b->cfg, BCFG_TXN_PARTITION_VERIFICATION_ENABLE) != 0;
    if (logmgr_open(dir, &b->logs, err, errlen) != 0)
        return -1;
    logmgr_set_truncate_corrupt(b->logs,
                                config_get_num(&b->cfg, BCFG_LOG_RECOVERY_TRUNCATE_CORRUPT) != 0);
    char mp[4096];
    snprintf(mp, sizeof(mp), "%s/meta.properties", dir);
    bool fresh = access(mp, F_OK) != 0;
    bool clean = logmgr_was_clean(b->logs);
    if (!clean && !fresh)
        glog(GLOG_WARN, "log", "%s was not shut down cleanly: running recovery on every partition from its recovery point", dir);
    if (load_meta_properties(b, dir, err, errlen) != 0)
        return -1;
    b->topics = topics_new();
    b->iopool = workpool_new((int)config_get_num(&b->cfg, BCFG_NUM_IO_THREADS) - 1);
    b->flusher = b->iopool ? flusher_new(b->iopool) : NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* With one core there is nothing to gain from handing appends over. */
    b->appender = ncpu > 1 ? appender_new((int)ncpu) : NULL;
    if (!b->topics || !b->flusher) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->part_env = (partition_env){ .flusher = b->flusher, .appended = part_appended, .ctx = b };
    b->meta = metalog_open(dir, clean, b->topics, b->logs, &b->part_env, &b->cfg, b->node_id, err, errlen);
    if (!b->meta)
        return -1;
    coord_env cenv = {
        .topics = b->topics,
        .cfg = &b->cfg,
        .create_topic = broker_create_internal_topic,
        .ctx = b,
    };
    b->coord = coord_new(&cenv);
    b->pids = pids_new(b->meta);
    tcoord_env tenv = {
        .topics = b->topics,
        .cfg = &b->cfg,
        .create_topic = broker_create_internal_topic,
        .offsets_marker = txn_offsets_marker,
        .offsets_partition = txn_offsets_partition,
        .ctx = b,
    };
    b->tcoord = tcoord_new(&tenv);
    if (!b->pids || !b->tcoord) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (tcoord_load(b->tcoord, err, errlen) != 0)
        return -1;
    if (!b->coord || coord_load(b->coord, err, errlen) != 0)
        return -1;
    set_aside_strays(b);
    return 0;
}

int16_t broker_create_internal_topic(void *ctx, const char *name, int32_t nparts, const char *const *cfgs,
                                     int ncfgs, char *msg, size_t msglen)
{
    broker *b = ctx;
    if (broker_fd_budget(b, nparts, msg, msglen) != KERR_NONE)
        return KERR_POLICY_VIOLATION;
    metalog_config mc[16];
    if (ncfgs > 16)
        ncfgs = 16;
    for (int i = 0; i < ncfgs; i++)
        mc[i] = (metalog_config){ cfgs[2 * i], cfgs[2 * i + 1] };
    kp_uuid id;
    int64_t end;
    int16_t code = metalog_create_topic(b->meta, name, nparts, 1, mc, ncfgs, &id, &end, msg, msglen);
    if (code == KERR_NONE)
        partition_wait_durable(metalog_partition(b->meta), end, NULL, NULL, NULL);
    return code;
}

static void post_listener_start(broker *b)
{
    for (int i = 0; i < b->nreactors; i++)
        reactor_post(b->reactors[i], listener_start, b->listeners[i]);
}

/* The cleaner's view of the node: every partition, each holding a
 * reference to its topic until released. */
static int cleaner_list(void *ctx, partition ***out)
{
    broker *b = ctx;
    topic **all;
    int nt = topics_list(b->topics, &all);
    if (nt < 0)
        return -1;
    int total = 0;
    for (int i = 0; i < nt; i++)
        total += topic_nparts(all[i]);
    partition **v = calloc((size_t)(total ? total : 1), sizeof *v);
    int n = 0;
    for (int i = 0; i < nt; i++) {
        for (int32_t j = 0; v && j < topic_nparts(all[i]) && n < total; j++) {
            partition *p = topic_partition(all[i], j);
            if (p) {
                topic_ref(all[i]);
                v[n++] = p;
            }
        }
        topic_unref(all[i]);
    }
    free(all);
    *out = v;
    return v ? n : -1;
}

static void cleaner_release(void *ctx, partition **v, int n)
{
    (void)ctx;
    for (int i = 0; i < n; i++)
        topic_unref(v[i]->topic);
    free(v);
}

static int cleaner_begin(broker *b, char *err, size_t errlen)
{
    if (!config_get_num(&b->cfg, BCFG_LOG_CLEANER_ENABLE))
        return 0;
    cleaner_config cc = {
        .threads = (int)config_get_num(&b->cfg, BCFG_LOG_CLEANER_THREADS),
        .dedupe_buffer_bytes = config_get_num(&b->cfg, BCFG_LOG_CLEANER_DEDUPE_BUFFER_SIZE),
        .load_factor = strtod(config_get_str(&b->cfg, BCFG_LOG_CLEANER_IO_BUFFER_LOAD_FACTOR), NULL),
        .io_buffer_bytes = (int32_t)config_get_num(&b->cfg, BCFG_LOG_CLEANER_IO_BUFFER_SIZE),
        .io_max_bytes_per_sec = strtod(config_get_str(&b->cfg, BCFG_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND), NULL),
        .backoff_ms = config_get_num(&b->cfg, BCFG_LOG_CLEANER_BACKOFF_MS),
    };
    if (cc.threads <= 0)
        return 0;
    cleaner_env env = { cleaner_list, cleaner_release, b, logmgr_dir(b->logs) };
    b->cleaner = cleaner_new(&cc, &env);
    if (!b->cleaner || cleaner_start(b->cleaner) != 0) {
        snprintf(err, errlen, "cannot start the log cleaner (log.cleaner.dedupe.buffer.size=%lld: out of memory?)",
                 (long long)cc.dedupe_buffer_bytes);
        return -1;
    }
    return 0;
}

int broker_start(broker *b, char *err, size_t errlen)
{
    endpoint ep;
    if (choose_listener(b, &ep, err, errlen) != 0)
        return -1;
    int n = (int)config_get_num(&b->cfg, BCFG_NUM_NETWORK_THREADS);
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    if (n > TOPICS_REACTORS_MAX)
        n = TOPICS_REACTORS_MAX;
    b->quota = connquota_new((int32_t)config_get_num(&b->cfg, BCFG_MAX_CONNECTIONS_PER_IP),
                             config_get_str(&b->cfg, BCFG_MAX_CONNECTIONS_PER_IP_OVERRIDES), err,
                             errlen);
    if (!b->quota)
        return -1;
    conn_limits lim = {
        .quota = b->quota,
        .request_bytes_max = (int32_t)config_get_num(&b->cfg, BCFG_SOCKET_REQUEST_MAX_BYTES),
        .inflight_max = (int32_t)config_get_num(&b->cfg, BCFG_QUEUED_MAX_REQUESTS),
        .queued_bytes_max = config_get_num(&b->cfg, BCFG_QUEUED_MAX_REQUEST_BYTES),
        .idle_ms_max = config_get_num(&b->cfg, BCFG_CONNECTIONS_MAX_IDLE_MS),
        .connections_max = (int32_t)config_get_num(&b->cfg, BCFG_MAX_CONNECTIONS),
        .sndbuf = (int32_t)config_get_num(&b->cfg, BCFG_SOCKET_SEND_BUFFER_BYTES),
        .rcvbuf = (int32_t)config_get_num(&b->cfg, BCFG_SOCKET_RECEIVE_BUFFER_BYTES),
    };
    conn_handler h = { broker_on_request, broker_check_header, b };
    b->reactors = calloc((size_t)n, sizeof(*b->reactors));
    b->listeners = calloc((size_t)n, sizeof(*b->listeners));
    if (!b->reactors || !b->listeners) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int port = ep.port;
    for (int i = 0; i < n; i++) {
        b->reactors[i] = reactor_new(i);
        if (!b->reactors[i]) {
            snprintf(err, errlen, "cannot create reactor: %s", strerror(errno));
            return -1;
        }
        b->nreactors = i + 1;
        b->listeners[i] = listener_new(b->reactors[i], i ? b->listeners[0] : NULL, ep.host, port, &lim, &h, err, errlen);
        if (!b->listeners[i])
            return -1;
        port = listener_port(b->listeners[i]);
    }
    if (b->adv_port == 0)
        b->adv_port = port;
    if (flusher_start(b->flusher) != 0 || coord_start(b->coord) != 0 || tcoord_start(b->tcoord) != 0) {
        snprintf(err, errlen, "cannot start the flusher or coordinator thread");
        return -1;
    }
    b->scrubber = scrubber_start(b->topics, config_get_num(&b->cfg, BCFG_LOG_SCRUB_INTERVAL_MS),
                                 config_get_num(&b->cfg, BCFG_LOG_SCRUB_BYTES_PER_SECOND));
    if (cleaner_begin(b, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (reactor_start(b->reactors[i]) != 0) {
            snprintf(err, errlen, "cannot start reactor thread %d", i);
            return -1;
        }
    post_listener_start(b);
    glog(GLOG_INFO, "broker", "gregor node %d of cluster %s serving PLAINTEXT on %s:%d (advertised %s:%d), %d reactor threads",
         b->node_id, b->cluster_id, ep.host[0] ? ep.host : "*", port, b->adv_host, b->adv_port, n);
    glog(GLOG_INFO, "broker", "log directory %s, %d topics, config %s", logmgr_dir(b->logs),
         topics_count(b->topics), b->config_path ? b->config_path : "(built-in defaults)");
    return 0;
}

static void close_listener_cb(reactor *r, void *arg)
{
    (void)r;
    listener_close(arg);
}

static void close_conns_cb(reactor *r, void *arg)
{
    (void)r;
    listener_close_conns(arg);
}

void broker_shutdown(broker *b)
{
    atomic_store(&b->shutting_down, true);
    glog(GLOG_INFO, "broker", "shutting down: no new connections, finishing %lld in-flight requests",
         (long long)conn_inflight_requests());
    for (int i = 0; i < b->nreactors; i++) {
        reactor_post(b->reactors[i], close_listener_cb, b->listeners[i]);
        reactor_post(b->reactors[i], fetch_expire_all, NULL);
    }
    coord_abort_pending(b->coord);
    tcoord_stop(b->tcoord); /* waiting requests: NOT_COORDINATOR, while reactors still run */
    int64_t deadline = clock_mono_ms() + 30000;
    while (conn_inflight_requests() > 0 && clock_mono_ms() < deadline) {
        for (int i = 0; i < b->nreactors; i++)
            reactor_post(b->reactors[i], fetch_expire_all, NULL);
        usleep(10000);
    }
    if (conn_inflight_requests() > 0)
        glog(GLOG_WARN, "broker", "%lld requests still in flight after 30 s; closing anyway",
             (long long)conn_inflight_requests());
    /* Queued appends finish and post their answers while the reactors run. */
    appender_stop(b->appender);
    scrubber_stop(b->scrubber);
    b->scrubber = NULL;
    cleaner_free(b->cleaner);
    b->cleaner = NULL;
    for (int i = 0; i < b->nreactors; i++)
        reactor_post(b->reactors[i], close_conns_cb, b->listeners[i]);
    for (int i = 0; i < b->nreactors; i++)
        reactor_stop_join(b->reactors[i]);
    coord_stop(b->coord);
    flusher_stop(b->flusher);
}

/* Clean shutdown: every partition's producer state as a snapshot at its
 * log end, so the next start reads it instead of the log. */
static int checkpoint_partitions(broker *b)
{
    topic **all;
    int n = topics_list(b->topics, &all), rc = 0;
    for (int i = 0; i < n; i++) {
        for (int32_t j = 0; j < topic_nparts(all[i]); j++)
            if (partition_checkpoint(topic_partition(all[i], j)) != 0)
                rc = -1;
        topic_unref(all[i]);
    }
    if (n >= 0)
        free(all);
    return n < 0 ? -1 : rc;
}

bool broker_deinit(broker *b)
{
    bool clean = atomic_load(&b->shutting_down);
    bool marked = false;
    if (clean && b->topics && checkpoint_partitions(b) != 0) {
        glog(GLOG_ERROR, "broker", "producer-state snapshots could not all be written: the next start "
             "rebuilds producer state from the logs");
        clean = false;
    }
    if (b->logs) {
        marked = logmgr_close(b->logs, clean);
        if (marked)
            glog(GLOG_INFO, "broker", "logs flushed and checkpointed; clean shutdown recorded");
        else if (clean)
            glog(GLOG_ERROR, "broker",
                 "shutdown was not clean: some partition logs could not be flushed, checkpointed "
                 "or closed (see the errors above); the next start recovers them from their "
                 "recovery points");
    }
    reqstats_dump(b->reqstats);
    reqstats_free(b->reqstats);
    tcoord_free(b->tcoord);
    coord_free(b->coord);
    pids_free(b->pids);
    metalog_close(b->meta);
    topics_free(b->topics);
    flusher_free(b->flusher);
    appender_free(b->appender);
    workpool_free(b->iopool);
    for (int i = 0; i < b->nreactors; i++) {
        listener_free(b->listeners[i]);
        reactor_free(b->reactors[i]);
    }
    connquota_free(b->quota);
    free(b->reactors);
    free(b->listeners);
    config_set_deinit(&b->cfg);
    return marked;
}
