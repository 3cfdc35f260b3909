/*
 * broker.c - start-up and shutdown of a broker.
 *
 * Start-up order: log directory (lock, checkpoints, clean-shutdown marker)
 * -> meta.properties (cluster.id, node.id) -> metadata log replay (opens and,
 * after an unclean stop, recovers every partition) -> flusher -> reactors and
 * listeners. Shutdown runs it backwards after the in-flight requests finish.
 */
#include "broker/broker.h"
#include "replica/fetcher.h"

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

/*
 * Pick the client listener (PLAINTEXT; none on a controller-only node) and
 * what to advertise for it, and the controller listener (the one named in
 * controller.listener.names; bound only by a controller in a cluster).
 */
static int choose_listeners(broker *b, endpoint *bind_ep, bool *has_client, endpoint *ctl_ep, bool *has_ctl,
                            char *err, size_t errlen)
{
    const char *ls = config_get_str(&b->cfg, BCFG_LISTENERS);
    const char *ctl = config_get_str(&b->cfg, BCFG_CONTROLLER_LISTENER_NAMES);
    *has_client = *has_ctl = false;
    for (const char *p = ls; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        endpoint ep;
        if (parse_endpoint(p, l, &ep, err, errlen) != 0)
            return -1;
        p = c ? c + 1 : NULL;
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
        if (list_has(ctl, ep.name)) {
            /* a single node needs no quorum traffic: its controller listener stays unbound */
            if (b->nvoters > 0 && b->is_controller) {
                *ctl_ep = ep;
                *has_ctl = true;
                snprintf(b->controller_listener, sizeof b->controller_listener, "%s", ep.name);
            }
            continue;
        }
        if (*has_client) {
            snprintf(err, errlen, "more than one client listener configured; Gregor serves one so far");
            return -1;
        }
        *bind_ep = ep;
        *has_client = true;
        snprintf(b->client_listener, sizeof b->client_listener, "%s", ep.name);
    }
    if (b->is_broker && !*has_client) {
        snprintf(err, errlen, "no client listener in listeners=%s (a broker needs one besides %s)", ls, ctl);
        return -1;
    }
    if (b->nvoters > 0 && b->is_controller && !*has_ctl) {
        snprintf(err, errlen, "a controller in a cluster needs a listener named in controller.listener.names=%s in listeners=%s",
                 ctl, ls);
        return -1;
    }
    if (!*has_client)
        return 0;
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

/* process.roles and controller.quorum.voters: a single node or a cluster. */
static int read_roles(broker *b, char *err, size_t errlen)
{
    const char *roles = config_get_str(&b->cfg, BCFG_PROCESS_ROLES);
    b->is_broker = list_has(roles, "broker");
    b->is_controller = list_has(roles, "controller");
    for (const char *p = roles; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (!(l == 6 && strncmp(p, "broker", 6) == 0) && !(l == 10 && strncmp(p, "controller", 10) == 0)) {
            snprintf(err, errlen, "process.roles=%s: each role must be broker or controller", roles);
            return -1;
        }
        p = c ? c + 1 : NULL;
    }
    if (!b->is_broker && !b->is_controller) {
        snprintf(err, errlen, "process.roles is empty: a node is a broker, a controller, or both");
        return -1;
    }
    const char *voters = config_get_str(&b->cfg, BCFG_CONTROLLER_QUORUM_VOTERS);
    if (!voters || !*voters) {
        if (!b->is_broker || !b->is_controller) {
            snprintf(err, errlen, "process.roles=%s needs controller.quorum.voters (a single node is broker,controller)",
                     roles);
            return -1;
        }
        return 0;
    }
    int n = quorum_parse_voters(voters, b->voters, RAFT_VOTERS_MAX, err, errlen);
    if (n < 0)
        return -1;
    b->nvoters = n;
    bool listed = false;
    for (int i = 0; i < n; i++)
        listed |= b->voters[i].id == b->node_id;
    if (b->is_controller && !listed) {
        snprintf(err, errlen, "node.id=%d has the controller role but is not in controller.quorum.voters=%s",
                 b->node_id, voters);
        return -1;
    }
    if (!b->is_controller && listed) {
        snprintf(err, errlen, "node.id=%d is in controller.quorum.voters but process.roles=%s has no controller",
                 b->node_id, roles);
        return -1;
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
 * aside instead of being adopted by the next topic of that name. A
 * cluster's node (hosted_only) also sets aside the partitions it does not
 * host: a replica moved away, or of a topic deleted, while it was down
 * (Kafka's stray logs). */
void broker_set_aside_strays(broker *b, bool hosted_only)
{
    stray_list sl = { 0 };
    logmgr_list_partition_dirs(b->logs, collect_stray, &sl);
    for (int i = 0; i < sl.n; i++) {
        if (strcmp(sl.topic[i], METALOG_TOPIC) == 0)
            continue;
        topic *tp = topics_get(b->topics, sl.topic[i], (int)strlen(sl.topic[i]));
        bool known = tp && sl.partition[i] < topic_nparts(tp);
        if (known && hosted_only) { /* the image's word: a replica here (even one whose log did not open) */
            metalog_read_lock(b->meta);
            const mi_topic *mt = mimage_topic_by_id(metalog_image(b->meta), tp->id);
            const mi_partition *mp = mt && sl.partition[i] < mt->nparts ? &mt->parts[sl.partition[i]] : NULL;
            known = false;
            for (int k = 0; mp && k < mp->nreplicas; k++)
                known |= mp->replicas[k] == b->node_id;
            metalog_read_unlock(b->meta);
        }
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

static int16_t txn_transaction_version(void *ctx)
{
    return broker_transaction_version(ctx);
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
    if (read_roles(b, err, errlen) != 0)
        return -1;
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
    b->clean_start = clean;
    topics_set_destructor(b->topics, broker_topic_gone, b);
    metalog_config mcfg = {
        .segment_bytes = (int32_t)config_get_num(&b->cfg, BCFG_METADATA_LOG_SEGMENT_BYTES),
        .snapshot_max_bytes = config_get_num(&b->cfg, BCFG_METADATA_LOG_MAX_RECORD_BYTES_BETWEEN_SNAPSHOTS),
        .snapshot_interval_ms = config_get_num(&b->cfg, BCFG_METADATA_LOG_MAX_SNAPSHOT_INTERVAL_MS),
    };
    b->meta = metalog_open(b->logs, &b->part_env, clean, b->node_id, &mcfg, err, errlen);
    if (!b->meta)
        return -1;
    metalog_add_listener(b->meta, broker_publish, b);
    if (b->nvoters == 0) {
        if (metalog_replay(b->meta, err, errlen) != 0)
            return -1;
    } else {
        b->qreactor = reactor_new(TOPICS_REACTORS_MAX - 1);
        if (!b->qreactor) {
            snprintf(err, errlen, "cannot create the quorum's reactor");
            return -1;
        }
        if (b->is_broker) {
            replicas_config rc = {
                .node_id = b->node_id,
                .wait_max_ms = (int32_t)config_get_num(&b->cfg, BCFG_REPLICA_FETCH_WAIT_MAX_MS),
                .min_bytes = (int32_t)config_get_num(&b->cfg, BCFG_REPLICA_FETCH_MIN_BYTES),
                .max_bytes = (int32_t)config_get_num(&b->cfg, BCFG_REPLICA_FETCH_MAX_BYTES),
                .response_max_bytes = (int32_t)config_get_num(&b->cfg, BCFG_REPLICA_FETCH_RESPONSE_MAX_BYTES),
                .backoff_ms = (int32_t)config_get_num(&b->cfg, BCFG_REPLICA_FETCH_BACKOFF_MS),
                .fetchers = (int32_t)config_get_num(&b->cfg, BCFG_NUM_REPLICA_FETCHERS),
            };
            b->rreactor = reactor_new(TOPICS_REACTORS_MAX - 2);
            b->replicas = b->rreactor ? replicas_new(b->rreactor, &rc) : NULL;
            if (!b->replicas) {
                snprintf(err, errlen, "cannot create the replica fetchers");
                return -1;
            }
        }
        metalog_cluster mc = {
            .r = b->qreactor,
            .flusher = b->flusher,
            .cluster_id = b->cluster_id,
            .voters = b->voters,
            .nvoters = b->nvoters,
        };
        raft_config_defaults(&mc.timeouts);
        mc.timeouts.election_timeout_ms = (int32_t)config_get_num(&b->cfg, BCFG_CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS);
        mc.timeouts.election_backoff_max_ms = (int32_t)config_get_num(&b->cfg, BCFG_CONTROLLER_QUORUM_ELECTION_BACKOFF_MAX_MS);
        mc.timeouts.fetch_timeout_ms = (int32_t)config_get_num(&b->cfg, BCFG_CONTROLLER_QUORUM_FETCH_TIMEOUT_MS);
        mc.timeouts.request_timeout_ms = (int32_t)config_get_num(&b->cfg, BCFG_CONTROLLER_QUORUM_REQUEST_TIMEOUT_MS);
        mc.timeouts.retry_backoff_ms = (int32_t)config_get_num(&b->cfg, BCFG_CONTROLLER_QUORUM_RETRY_BACKOFF_MS);
        mc.timeouts.fetch_idle_ms = 0; /* the leader long-polls */
        mc.timeouts.seed = (uint64_t)clock_mono_ns() ^ ((uint64_t)b->node_id << 40);
        if (metalog_join_quorum(b->meta, &mc, err, errlen) != 0)
            return -1;
    }
    coord_env cenv = {
        .topics = b->topics,
        .cfg = &b->cfg,
        .create_topic = broker_create_internal_topic,
        .committed_partitions = broker_committed_partitions,
        .ctx = b,
    };
    b->coord = coord_new(&cenv);
    b->pids = pids_new(b->meta, b->node_id);
    tcoord_env tenv = {
        .topics = b->topics,
        .cfg = &b->cfg,
        .create_topic = broker_create_internal_topic,
        .offsets_marker = txn_offsets_marker,
        .offsets_partition = txn_offsets_partition,
        .transaction_version = txn_transaction_version,
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
    /* Directories of topics the metadata does not know go aside - on a
     * single node, whose image is complete now. A cluster's node rebuilds
     * its image from the quorum after start-up: its partition directories
     * are opened as the commits name them, never set aside at start. */
    if (b->nvoters == 0)
        broker_set_aside_strays(b, false);
    return 0;
}

static void post_listener_start(broker *b)
{
    for (int i = 0; i < b->nreactors; i++) {
        if (b->listeners[i])
            reactor_post(b->reactors[i], listener_start, b->listeners[i]);
        if (b->ctl_listeners && b->ctl_listeners[i])
            reactor_post(b->reactors[i], listener_start, b->ctl_listeners[i]);
    }
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
    endpoint ep, cep;
    bool has_client, has_ctl;
    memset(&ep, 0, sizeof ep);
    if (choose_listeners(b, &ep, &has_client, &cep, &has_ctl, err, errlen) != 0)
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
    conn_handler h = { broker_on_request, broker_check_header, b, NULL };
    conn_handler ch = { broker_on_controller_request, broker_controller_check_header, b,
                        broker_controller_conn_closed };
    b->reactors = calloc((size_t)n, sizeof(*b->reactors));
    b->listeners = calloc((size_t)n, sizeof(*b->listeners));
    b->ctl_listeners = calloc((size_t)n, sizeof(*b->ctl_listeners));
    if (!b->reactors || !b->listeners || !b->ctl_listeners) {
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
        if (has_client) {
            b->listeners[i] = listener_new(b->reactors[i], i ? b->listeners[0] : NULL, ep.host, port, &lim, &h, err, errlen);
            if (!b->listeners[i])
                return -1;
            port = listener_port(b->listeners[i]);
        }
        if (has_ctl) {
            b->ctl_listeners[i] = listener_new(b->reactors[i], i ? b->ctl_listeners[0] : NULL, cep.host, cep.port,
                                               &lim, &ch, err, errlen);
            if (!b->ctl_listeners[i])
                return -1;
            cep.port = listener_port(b->ctl_listeners[i]);
        }
    }
    if (b->adv_port == 0)
        b->adv_port = port;
    if (flusher_start(b->flusher) != 0 || coord_start(b->coord) != 0 || tcoord_start(b->tcoord) != 0) {
        snprintf(err, errlen, "cannot start the flusher or coordinator thread");
        return -1;
    }
    if (b->qreactor && reactor_start(b->qreactor) != 0) {
        snprintf(err, errlen, "cannot start the quorum's reactor thread");
        return -1;
    }
    if (b->rreactor && reactor_start(b->rreactor) != 0) {
        snprintf(err, errlen, "cannot start the replica fetchers' reactor thread");
        return -1;
    }
    if (b->nvoters > 0) /* see controller_set_takeover_grace */
        metalog_set_takeover_grace(b->meta, 2 * config_get_num(&b->cfg, BCFG_BROKER_HEARTBEAT_INTERVAL_MS));
    metalog_set_unclean_default(b->meta, config_get_num(&b->cfg, BCFG_UNCLEAN_LEADER_ELECTION_ENABLE) != 0);
    if (metalog_start(b->meta, err, errlen) != 0)
        return -1;
    if (b->nvoters == 0) {
        if (broker_register_self(b, err, errlen) != 0)
            return -1;
    } else if (!(b->lifecycle = lifecycle_start(b))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (b->replicas && !(b->isr = isr_start(b))) {
        snprintf(err, errlen, "out of memory");
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
    if (has_client)
        glog(GLOG_INFO, "broker", "gregor node %d of cluster %s serving PLAINTEXT on %s:%d (advertised %s:%d), %d reactor threads",
             b->node_id, b->cluster_id, ep.host[0] ? ep.host : "*", port, b->adv_host, b->adv_port, n);
    if (has_ctl)
        glog(GLOG_INFO, "broker", "node %d: controller listener %s on %s:%d, one of %d voters", b->node_id,
             cep.name, cep.host[0] ? cep.host : "*", cep.port, b->nvoters);
    else if (b->nvoters > 0)
        glog(GLOG_INFO, "broker", "node %d: a broker observing the metadata quorum of %d voters", b->node_id,
             b->nvoters);
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

static int64_t inflight_requests(broker *b)
{
    int64_t n = b->listeners && b->listeners[0] ? conn_inflight_requests(b->listeners[0]) : 0;
    if (b->ctl_listeners && b->ctl_listeners[0])
        n += conn_inflight_requests(b->ctl_listeners[0]);
    return n;
}

/* Shutdown: acks=all appends waiting for followers are answered
 * NOT_LEADER_OR_FOLLOWER (the producer retries with the next leader). */
static void fail_replica_waits(broker *b)
{
    if (!b->replicas)
        return;
    topic **all;
    int n = topics_list(b->topics, &all);
    for (int i = 0; i < n; i++) {
        for (int32_t j = 0; j < topic_nparts(all[i]); j++)
            if (topic_partition(all[i], j))
                partition_fail_hw_waiters(topic_partition(all[i], j));
        topic_unref(all[i]);
    }
    if (n >= 0)
        free(all);
}

void broker_shutdown(broker *b)
{
    atomic_store(&b->shutting_down, true);
    glog(GLOG_INFO, "broker", "shutting down: no new connections, finishing %lld in-flight requests",
         (long long)inflight_requests(b));
    for (int i = 0; i < b->nreactors; i++) {
        if (b->listeners[i])
            reactor_post(b->reactors[i], close_listener_cb, b->listeners[i]);
        if (b->ctl_listeners && b->ctl_listeners[i])
            reactor_post(b->reactors[i], close_listener_cb, b->ctl_listeners[i]);
        reactor_post(b->reactors[i], fetch_expire_all, b);
    }
    coord_abort_pending(b->coord);
    lifecycle_controlled_shutdown(b->lifecycle, 5000);
    lifecycle_stop(b->lifecycle);
    if (b->meta && metalog_quorum(b->meta))
        quorum_stop(metalog_quorum(b->meta)); /* a leader hands over (EndQuorumEpoch) while the network runs */
    tcoord_stop(b->tcoord); /* waiting requests: NOT_COORDINATOR, while reactors still run */
    fail_replica_waits(b);
    int64_t deadline = clock_mono_ms() + 30000;
    for (int round = 1; inflight_requests(b) > 0 && clock_mono_ms() < deadline; round++) {
        for (int i = 0; i < b->nreactors; i++)
            reactor_post(b->reactors[i], fetch_expire_all, b);
        if (round % 50 == 0)
            fail_replica_waits(b);
        usleep(10000);
    }
    if (inflight_requests(b) > 0)
        glog(GLOG_WARN, "broker", "%lld requests still in flight after 30 s; closing anyway",
             (long long)inflight_requests(b));
    /* Queued appends finish and post their answers while the reactors run. */
    appender_stop(b->appender);
    scrubber_stop(b->scrubber);
    b->scrubber = NULL;
    cleaner_free(b->cleaner);
    b->cleaner = NULL;
    for (int i = 0; i < b->nreactors; i++)
    {
        if (b->listeners[i])
            reactor_post(b->reactors[i], close_conns_cb, b->listeners[i]);
        if (b->ctl_listeners && b->ctl_listeners[i])
            reactor_post(b->reactors[i], close_conns_cb, b->ctl_listeners[i]);
    }
    if (b->replicas) {
        isr_stop(b->isr);
        replicas_stop(b->replicas); /* the followers' connections close */
        reactor_stop_join(b->rreactor);
    }
    for (int i = 0; i < b->nreactors; i++)
        reactor_stop_join(b->reactors[i]);
    coord_stop(b->coord);
    flusher_stop(b->flusher);
    if (b->meta)
        metalog_stop(b->meta); /* after the flusher's last round: what it made durable is applied */
    if (b->qreactor)
        reactor_stop_join(b->qreactor);
}

/* Clean shutdown: every partition's producer state as a snapshot at its
 * log end, so the next start reads it instead of the log. */
static int checkpoint_partitions(broker *b)
{
    topic **all;
    int n = topics_list(b->topics, &all), rc = 0;
    for (int i = 0; i < n; i++) {
        for (int32_t j = 0; j < topic_nparts(all[i]); j++)
            if (topic_partition(all[i], j) && partition_checkpoint(topic_partition(all[i], j)) != 0)
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
    lifecycle_free(b->lifecycle);
    reactor_free(b->qreactor);
    isr_free(b->isr);
    replicas_free(b->replicas);
    reactor_free(b->rreactor);
    topics_free(b->topics);
    flusher_free(b->flusher);
    appender_free(b->appender);
    workpool_free(b->iopool);
    for (int i = 0; i < b->nreactors; i++) {
        listener_free(b->listeners[i]);
        if (b->ctl_listeners)
            listener_free(b->ctl_listeners[i]);
        reactor_free(b->reactors[i]);
    }
    connquota_free(b->quota);
    free(b->reactors);
    free(b->listeners);
    free(b->ctl_listeners);
    config_set_deinit(&b->cfg);
    return marked;
}

partition *broker_led_partition(topic *tp, int32_t index, int16_t *code)
{
    partition *p = tp ? topic_partition(tp, index) : NULL;
    if (p && atomic_load(&p->leads))
        return p;
    *code = tp && index >= 0 && index < topic_nparts(tp) ? KERR_NOT_LEADER_OR_FOLLOWER
                                                          : KERR_UNKNOWN_TOPIC_OR_PARTITION;
    return NULL;
}

partition *broker_led_partition_at(topic *tp, int32_t index, int32_t current_leader_epoch, int16_t *code)
{
    partition *p = broker_led_partition(tp, index, code);
    if (p && current_leader_epoch >= 0 && current_leader_epoch != p->leader_epoch) {
        *code = current_leader_epoch > p->leader_epoch ? KERR_UNKNOWN_LEADER_EPOCH : KERR_FENCED_LEADER_EPOCH;
        return NULL;
    }
    return p;
}
