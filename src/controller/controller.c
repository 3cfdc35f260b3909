/*
 * controller.c - see controller.h.
 *
 * Every accepted change is written as records into `out` and applied to the
 * controller's image from those same bytes, so the image is always what a
 * replay of the records gives.
 */
#include "controller/controller.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller/features.h"
#include "kafka_msgs.h"


typedef struct ctl_session {
    int32_t id;
    int64_t last_ms;          /* last heartbeat (the caller's clock) */
    bool since_takeover;      /* not heard from since this controller became active */
    int64_t fence_at;         /* its heartbeat connection closed: fenced then (0: no) */
} ctl_session;

struct controller {
    mimage image;
    bool cluster;             /* no single-node fallback */
    ctl_session *sessions;    /* runtime only: not in the image */
    int64_t takeover_grace_ms; /* controller_set_takeover_grace; 0: a whole session */
    bool unclean_default;     /* the cluster's unclean.leader.election.enable */
    int nsessions, sessions_cap;
    int32_t node_id;
    uint64_t rng;               /* xorshift64*, seeded by the caller */
    ctl_config_check_fn check;
};

static uint64_t rng_next(controller *c)
{
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 2685821657736338717ULL;
}

controller *controller_new(int32_t node_id, uint64_t seed)
{
    controller *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    mimage_init(&c->image);
    c->node_id = node_id;
    c->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
    return c;
}

void controller_free(controller *c)
{
    if (!c)
        return;
    mimage_deinit(&c->image);
    free(c->sessions);
    free(c);
}

const mimage *controller_image(const controller *c) { return &c->image; }

void controller_set_cluster(controller *c) { c->cluster = true; }

int controller_reset(controller *c, const mimage *committed)
{
    mimage copy;
    if (mimage_copy(&copy, committed) != 0)
        return -1;
    mimage_deinit(&c->image);
    c->image = copy;
    return 0;
}

int controller_replay(controller *c, const uint8_t *val, int32_t len, char *err, size_t errlen)
{
    return mimage_apply(&c->image, val, len, NULL, err, errlen);
}

void controller_set_config_check(controller *c, ctl_config_check_fn fn) { c->check = fn; }

/* Apply the records of out from index `from` to the controller's image. */
static int16_t apply_out(controller *c, const mrec_list *out, int from)
{
    if (out->oom)
        return KERR_UNKNOWN_SERVER_ERROR;
    for (int i = from; i < out->n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(out, i, &len);
        char err[256];
        if (mimage_apply(&c->image, v, len, NULL, err, sizeof err) != 0)
            return KERR_UNKNOWN_SERVER_ERROR;
    }
    return KERR_NONE;
}

/* Is x one of v[0..n)? */
static bool has(const int32_t *v, int n, int32_t x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

/* ---- placement ---- */

int controller_usable_brokers(const controller *c, int32_t *ids, const char **racks, int max)
{
    int n = 0;
    for (int i = 0; i < c->image.nbrokers && n < max; i++) {
        const mi_broker *b = &c->image.brokers[i];
        if (b->fenced || b->shutting_down)
            continue;
        ids[n] = b->id;
        if (racks)
            racks[n] = b->rack;
        n++;
    }
    if (n == 0 && c->image.nbrokers == 0 && max > 0 && !c->cluster) {
        ids[0] = c->node_id; /* a single node that registered no broker */
        if (racks)
            racks[0] = NULL;
        n = 1;
    }
    return n;
}

/*
 * Kafka's rack-aware assignment (AdminUtils.assignReplicasToBrokers): the
 * brokers ordered so that consecutive ones alternate racks; partition p's
 * first replica is broker (start + p) of that order, the others follow at
 * a shift that grows each time the partitions wrap around the brokers,
 * skipping a broker whose rack (or itself) is already used while racks
 * remain. Without racks this is the plain round robin with shifts.
 */
static int place(controller *c, int32_t first_partition, int32_t nparts, int16_t rf, int32_t *out,
                 char *msg, size_t msglen)
{
    int32_t ids[CTL_BROKERS_MAX];
    const char *racks[CTL_BROKERS_MAX];
    int n = controller_usable_brokers(c, ids, racks, CTL_BROKERS_MAX);
    if (rf > n) {
        snprintf(msg, msglen,
                 "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.",
                 rf, rf, n);
        return KERR_INVALID_REPLICATION_FACTOR;
    }
    /* Rack-alternating order: round robin over the racks (sorted), taking
     * each rack's brokers in id order. */
    int32_t order[CTL_BROKERS_MAX];
    const char *order_rack[CTL_BROKERS_MAX];
    const char *rk[CTL_BROKERS_MAX];
    int nr = 0;
    bool any_rack = false;
    for (int i = 0; i < n; i++) {
        const char *r = racks[i] ? racks[i] : "";
        any_rack |= racks[i] != NULL;
        int j = 0;
        while (j < nr && strcmp(rk[j], r) != 0)
            j++;
        if (j == nr)
            rk[nr++] = r;
    }
    for (int i = 1; i < nr; i++) /* insertion sort of rack names */
        for (int j = i; j > 0 && strcmp(rk[j - 1], rk[j]) > 0; j--) {
            const char *t = rk[j];
            rk[j] = rk[j - 1];
            rk[j - 1] = t;
        }
    int taken[CTL_BROKERS_MAX] = { 0 };
    int no = 0;
    while (no < n) {
        for (int j = 0; j < nr; j++) {
            int k = taken[j];
            int seen = 0;
            for (int i = 0; i < n; i++) {
                const char *r = racks[i] ? racks[i] : "";
                if (strcmp(r, rk[j]) != 0)
                    continue;
                if (seen++ == k) {
                    order[no] = ids[i];
                    order_rack[no] = r;
                    no++;
                    taken[j]++;
                    break;
                }
            }
        }
    }
    int start = (int)(rng_next(c) % (uint64_t)n);
    int shift = (int)(rng_next(c) % (uint64_t)n);
    for (int32_t p = 0; p < nparts; p++) {
        int32_t idx = first_partition + p;
        if (idx > 0 && idx % n == 0)
            shift++;
        int32_t *rep = &out[(size_t)p * (size_t)rf];
        int lead = (idx + start) % n;
        rep[0] = order[lead];
        int got = 1;
        const char *used_racks[CTL_BROKERS_MAX];
        int nused = 0;
        used_racks[nused++] = order_rack[lead];
        for (int k = 0; got < rf && k < n * 2; k++) {
            int cand = (lead + 1 + (shift + k) % (n - 1 > 0 ? n - 1 : 1)) % n;
            int32_t b = order[cand];
            bool dup = false;
            for (int q = 0; q < got; q++)
                dup |= rep[q] == b;
            if (dup)
                continue;
            bool rack_used = false;
            for (int q = 0; q < nused; q++)
                rack_used |= strcmp(used_racks[q], order_rack[cand]) == 0;
            if (any_rack && rack_used && nused < nr)
                continue; /* another rack still has none of this partition */
            rep[got++] = b;
            if (!rack_used)
                used_racks[nused++] = order_rack[cand];
        }
        for (int k = 0; got < rf && k < n; k++) { /* fill from anywhere not yet used */
            bool dup = false;
            for (int q = 0; q < got; q++)
                dup |= rep[q] == order[k];
            if (!dup)
                rep[got++] = order[k];
        }
    }
    return KERR_NONE;
}

static int16_t check_assignment(const controller *c, const ctl_assignment *a, int rf, char *msg, size_t msglen)
{
    if (a->n <= 0) {
        snprintf(msg, msglen, "The manual partition assignment includes an empty replica list.");
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int i = 0; i < a->n; i++) {
        for (int j = 0; j < i; j++)
            if (a->brokers[j] == a->brokers[i]) {
                snprintf(msg, msglen, "The manual partition assignment includes the broker %d more than once.",
                         a->brokers[i]);
                return KERR_INVALID_REPLICA_ASSIGNMENT;
            }
        bool known = c->image.nbrokers == 0 && !c->cluster ? a->brokers[i] == c->node_id
                                            : mimage_broker(&c->image, a->brokers[i]) != NULL;
        if (!known) {
            snprintf(msg, msglen,
                     "The manual partition assignment includes broker %d, but no such broker is registered.",
                     a->brokers[i]);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    if (rf > 0 && a->n != rf) {
        snprintf(msg, msglen,
                 "The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).",
                 a->n, rf);
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    return KERR_NONE;
}

/* The leader of a new partition: its first unfenced replica (-1: none).
 * The ISR: every unfenced replica, in replica order (Kafka's
 * createTopic); with no live replica, the first replica, offline. */
static int32_t new_leader(const controller *c, const int32_t *rep, int n, int32_t *isr, int *nisr)
{
    int32_t leader = -1;
    *nisr = 0;
    for (int i = 0; i < n; i++) {
        const mi_broker *b = mimage_broker(&c->image, rep[i]);
        bool up = c->image.nbrokers == 0 && !c->cluster ? rep[i] == c->node_id
                                                        : (b && !b->fenced && !b->shutting_down);
        if (!up)
            continue;
        if (leader < 0)
            leader = rep[i];
        isr[(*nisr)++] = rep[i];
    }
    if (*nisr == 0) {
        isr[0] = rep[0];
        *nisr = 1;
    }
    return leader;
}

static void write_partitions(controller *c, kp_uuid id, int32_t first, int32_t nparts, int rf,
                             const int32_t *reps, mrec_list *out)
{
    int32_t isr[CTL_BROKERS_MAX];
    for (int32_t p = 0; p < nparts; p++) {
        const int32_t *rep = &reps[(size_t)p * (size_t)rf];
        int nisr;
        int32_t leader = new_leader(c, rep, rf, isr, &nisr);
        mrec_partition(out, id, first + p, rep, rf, isr, nisr, NULL, 0, NULL, 0, leader, 0, 0);
    }
}

static void random_uuid(controller *c, kp_uuid *id)
{
    do {
        uint64_t a = rng_next(c), b = rng_next(c);
        memcpy(id->b, &a, 8);
        memcpy(id->b + 8, &b, 8);
        id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40); /* version 4 */
        id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
    } while (mimage_topic_by_id(&c->image, *id));
}

/* Fill reps (nparts * rf) from explicit assignments or by placement. */
static int16_t replicas_for(controller *c, int32_t first, int32_t nparts, int16_t *rf,
                            const ctl_assignment *assignments, int32_t **reps_out, char *msg, size_t msglen)
{
    int16_t code;
    if (assignments) {
        *rf = (int16_t)assignments[0].n;
        for (int32_t p = 0; p < nparts; p++)
            if ((code = check_assignment(c, &assignments[p], *rf, msg, msglen)) != KERR_NONE)
                return code;
    }
    if (*rf <= 0) {
        snprintf(msg, msglen, "Replication factor must be larger than 0.");
        return KERR_INVALID_REPLICATION_FACTOR;
    }
    if (*rf > CTL_BROKERS_MAX) {
        snprintf(msg, msglen, "Replication factor %d is more than the %d brokers a cluster may have.", *rf, CTL_BROKERS_MAX);
        return KERR_INVALID_REPLICATION_FACTOR;
    }
    int32_t *reps = malloc(sizeof(*reps) * (size_t)nparts * (size_t)*rf);
    if (!reps)
        return KERR_UNKNOWN_SERVER_ERROR;
    if (assignments) {
        for (int32_t p = 0; p < nparts; p++)
            memcpy(&reps[(size_t)p * (size_t)*rf], assignments[p].brokers, sizeof(*reps) * (size_t)*rf);
    } else if ((code = (int16_t)place(c, first, nparts, *rf, reps, msg, msglen)) != KERR_NONE) {
        free(reps);
        return code;
    }
    *reps_out = reps;
    return KERR_NONE;
}

int16_t controller_create_topic(controller *c, const char *name, int32_t nparts, int16_t rf,
                                const ctl_assignment *assignments, const ctl_config *cfgs, int ncfgs,
                                bool validate_only, kp_uuid *id_out, mrec_list *out, char *msg, size_t msglen)
{
    int16_t code;
    if (mimage_topic(&c->image, name, (int)strlen(name))) {
        snprintf(msg, msglen, "Topic '%s' already exists.", name);
        return KERR_TOPIC_ALREADY_EXISTS;
    }
    if (c->check && (code = c->check(cfgs, ncfgs, msg, msglen)) != KERR_NONE)
        return code;
    int32_t *reps = NULL;
    if ((code = replicas_for(c, 0, nparts, &rf, assignments, &reps, msg, msglen)) != KERR_NONE)
        return code;
    if (validate_only) {
        free(reps);
        return KERR_NONE;
    }
    kp_uuid id;
    random_uuid(c, &id);
    int from = out->n;
    mrec_topic(out, name, id);
    for (int i = 0; i < ncfgs; i++)
        if (cfgs[i].value)
            mrec_config(out, MREC_RESOURCE_TOPIC, name, cfgs[i].name, cfgs[i].value);
    write_partitions(c, id, 0, nparts, rf, reps, out);
    free(reps);
    code = apply_out(c, out, from);
    if (code == KERR_NONE && id_out)
        *id_out = id;
    return code;
}

int16_t controller_delete_topic(controller *c, kp_uuid id, mrec_list *out, char *msg, size_t msglen)
{
    if (!mimage_topic_by_id(&c->image, id)) {
        snprintf(msg, msglen, "This server does not host this topic ID.");
        return KERR_UNKNOWN_TOPIC_ID;
    }
    int from = out->n;
    mrec_remove_topic(out, id);
    return apply_out(c, out, from);
}

int16_t controller_create_partitions(controller *c, const char *name, int32_t new_total,
                                     const ctl_assignment *assignments, int nassignments, bool validate_only,
                                     mrec_list *out, char *msg, size_t msglen)
{
    const mi_topic *t = mimage_topic(&c->image, name, (int)strlen(name));
    if (!t) {
        snprintf(msg, msglen, "This server does not host this topic-partition.");
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    int32_t cur = t->nparts;
    if (new_total <= cur) {
        /* Kafka 4's words (ReplicationControlManager) */
        if (new_total == cur)
            snprintf(msg, msglen, "Topic already has %d partition(s).", cur);
        else
            snprintf(msg, msglen, "The topic %s currently has %d partition(s); %d would not be an increase.",
                     name, cur, new_total);
        return KERR_INVALID_PARTITIONS;
    }
    int32_t add = new_total - cur;
    if (assignments && nassignments != add) {
        snprintf(msg, msglen, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.",
                 add, nassignments);
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    int16_t rf = (int16_t)(cur > 0 ? t->parts[0].nreplicas : 1);
    kp_uuid id = t->id;
    int32_t *reps = NULL;
    int16_t code = replicas_for(c, cur, add, &rf, assignments, &reps, msg, msglen);
    if (code != KERR_NONE || validate_only) {
        free(reps);
        return code;
    }
    int from = out->n;
    write_partitions(c, id, cur, add, rf, reps, out);
    free(reps);
    return apply_out(c, out, from);
}

int16_t controller_set_topic_configs(controller *c, const char *name, const ctl_config *cfgs, int ncfgs,
                                     mrec_list *out, char *msg, size_t msglen)
{
    if (!mimage_topic(&c->image, name, (int)strlen(name))) {
        snprintf(msg, msglen, "Topic %s does not exist.", name);
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    int16_t code;
    if (c->check && (code = c->check(cfgs, ncfgs, msg, msglen)) != KERR_NONE)
        return code;
    int from = out->n;
    for (int i = 0; i < ncfgs; i++)
        mrec_config(out, MREC_RESOURCE_TOPIC, name, cfgs[i].name, cfgs[i].value);
    return apply_out(c, out, from);
}

int16_t controller_allocate_producer_ids(controller *c, int32_t broker_id, int32_t count, int64_t *first,
                                         mrec_list *out)
{
    int64_t start = c->image.next_producer_id;
    int from = out->n;
    mrec_producer_ids(out, broker_id, -1, start + count);
    int16_t code = apply_out(c, out, from);
    if (code == KERR_NONE)
        *first = start;
    return code;
}

/* ---- finalized features ---- */

static bool same_name(const ctl_feature_update *a, const ctl_feature_update *b)
{
    return a->name_len == b->name_len && memcmp(a->name, b->name, (size_t)a->name_len) == 0;
}

/* Kafka keeps the updates in a map: a name's last update is the one that
 * counts. Linear in n whatever the request holds: a known feature's last
 * index is found once, and an unknown name refuses the request at its
 * first sight (checked at its last update). */
int16_t controller_update_features(controller *c, const ctl_feature_update *u, int n, bool validate_only,
                                   mrec_list *out, char *msg, size_t msglen)
{
    const feature_def *defs;
    int ndefs = features_known(&defs);
    int last[8];
    assert(ndefs <= (int)(sizeof(last) / sizeof(last[0])));
    for (int k = 0; k < ndefs; k++) {
        last[k] = -1;
        for (int i = n - 1; i >= 0 && last[k] < 0; i--)
            if (features_find(u[i].name, u[i].name_len) == &defs[k])
                last[k] = i;
    }
    for (int i = 0; i < n; i++) {
        const feature_def *f = features_find(u[i].name, u[i].name_len);
        int at = i;
        if (f && last[f - defs] != i)
            continue;
        if (!f)
            for (int j = n - 1; j > i && at == i; j--)
                if (same_name(&u[j], &u[i]))
                    at = j;
        int16_t code = features_check_update(&c->image, c->node_id, u[at].name, u[at].name_len, u[at].level,
                                             u[at].upgrade_type, msg, msglen);
        if (code != KERR_NONE)
            return code;
    }
    int from = out->n;
    for (int k = 0; k < ndefs && !validate_only; k++)
        if (last[k] >= 0)
            mrec_feature_level(out, defs[k].name, u[last[k]].level);
    return apply_out(c, out, from);
}

void controller_bootstrap(controller *c, mrec_list *out)
{
    int from = out->n;
    const feature_def *defs;
    int n = features_known(&defs);
    for (int i = 0; i < n; i++)
        if (defs[i].level_bootstrap > 0)
            mrec_feature_level(out, defs[i].name, defs[i].level_bootstrap);
    apply_out(c, out, from);
}

/* ---- brokers ---- */

static void move_leaders_off(controller *c, int32_t id, mrec_list *out);

static ctl_session *session(controller *c, int32_t id, bool create)
{
    for (int i = 0; i < c->nsessions; i++)
        if (c->sessions[i].id == id)
            return &c->sessions[i];
    if (!create)
        return NULL;
    if (c->nsessions == c->sessions_cap) {
        int cap = c->sessions_cap ? c->sessions_cap * 2 : 8;
        ctl_session *v = realloc(c->sessions, sizeof(*v) * (size_t)cap);
        if (!v)
            return NULL;
        c->sessions = v;
        c->sessions_cap = cap;
    }
    c->sessions[c->nsessions] = (ctl_session){ id, 0, false, 0 };
    return &c->sessions[c->nsessions++];
}

void controller_sessions_reset(controller *c, int64_t now_ms)
{
    c->nsessions = 0;
    for (int i = 0; i < c->image.nbrokers; i++) {
        ctl_session *s = session(c, c->image.brokers[i].id, true);
        if (s) {
            s->last_ms = now_ms;
            s->since_takeover = true;
        }
    }
}

void controller_set_takeover_grace(controller *c, int64_t grace_ms)
{
    c->takeover_grace_ms = grace_ms;
}

static bool broker_alive(const controller *c, int32_t id);
static int16_t complete_reassignment(controller *c, const mi_topic *t, int32_t index, mrec_list *out);

void controller_set_unclean_default(controller *c, bool enable)
{
    c->unclean_default = enable;
}

int controller_rebalance_leaders(controller *c, int pct, mrec_list *out)
{
    int from = out->n;
    for (int i = 0; i < c->image.nbrokers; i++) {
        int32_t id = c->image.brokers[i].id;
        if (!broker_alive(c, id))
            continue;
        int64_t total = 0, off = 0;
        for (int t = 0; t < c->image.ntopics; t++) {
            const mi_topic *tp = c->image.by_name[t];
            for (int32_t p = 0; p < tp->nparts; p++)
                if (tp->parts[p].nreplicas > 0 && tp->parts[p].replicas[0] == id) {
                    total++;
                    off += tp->parts[p].leader != id;
                }
        }
        if (total == 0 || off * 100 <= (int64_t)pct * total) /* Kafka: ratio > pct / 100 */
            continue;
        for (int t = 0; t < c->image.ntopics; t++) {
            const mi_topic *tp = c->image.by_name[t];
            for (int32_t p = 0; p < tp->nparts; p++) {
                const mi_partition *mp = &tp->parts[p];
                if (mp->nreplicas == 0 || mp->replicas[0] != id || mp->leader == id)
                    continue;
                if (has(mp->isr, mp->nisr, id))
                    mrec_partition_change(out, tp->id, p, id, NULL, 0);
            }
        }
    }
    int n = out->n - from;
    if (n > 0)
        apply_out(c, out, from);
    return n;
}

int16_t controller_register_broker(controller *c, const ctl_registration *r, bool unfenced, int64_t now_ms,
                                   int64_t *epoch_out, mrec_list *out, char *msg, size_t msglen)
{
    const mi_broker *cur = mimage_broker(&c->image, r->id);
    if (cur && memcmp(cur->incarnation.b, r->incarnation.b, 16) == 0) {
        *epoch_out = cur->epoch; /* the same process asking again */
        ctl_session *s = session(c, r->id, true);
        if (s)
            s->last_ms = now_ms;
        return KERR_NONE;
    }
    if (r->neps <= 0 || r->neps > 16) {
        snprintf(msg, msglen, "A broker registration needs between 1 and 16 listeners.");
        return KERR_INVALID_REQUEST;
    }
    int64_t epoch = 0;
    for (int i = 0; i < c->image.nbrokers; i++)
        if (c->image.brokers[i].epoch >= epoch)
            epoch = c->image.brokers[i].epoch + 1;
    mi_broker b = {
        .id = r->id,
        .epoch = epoch,
        .incarnation = r->incarnation,
        .rack = (char *)r->rack,
        .eps = (mi_endpoint *)r->eps,
        .neps = r->neps,
        .fenced = !unfenced,
    };
    int from = out->n;
    mrec_register_broker(out, &b);
    int16_t code = apply_out(c, out, from);
    if (code == KERR_NONE && cur && !unfenced) {
        /* a new process of a broker that was serving: it starts fenced, its
         * old leaderships move (an unclean restart, as Kafka handles it) */
        from = out->n;
        move_leaders_off(c, r->id, out);
        code = apply_out(c, out, from);
    }
    if (code == KERR_NONE) {
        *epoch_out = epoch;
        ctl_session *s = session(c, r->id, true);
        if (s)
            s->last_ms = now_ms;
    }
    return code;
}

static bool broker_alive(const controller *c, int32_t id)
{
    const mi_broker *b = mimage_broker(&c->image, id);
    return b && !b->fenced && !b->shutting_down;
}

/* unclean.leader.election.enable of topic t: its override, else the
 * cluster's default. */
static bool unclean_allowed(const controller *c, const mi_topic *t)
{
    for (int i = 0; i < t->ncfg; i++)
        if (strcmp(t->cfg[i].name, "unclean.leader.election.enable") == 0)
            return t->cfg[i].value && strcasecmp(t->cfg[i].value, "true") == 0;
    return c->unclean_default;
}

/* An unclean election's choice: the first live replica other than `not`
 * (-1: none). Its log becomes the partition's: what the old ISR had
 * beyond its end is lost, as in Kafka. */
static int32_t unclean_candidate(const controller *c, const mi_partition *mp, int32_t not)
{
    for (int i = 0; i < mp->nreplicas; i++)
        if (mp->replicas[i] != not && broker_alive(c, mp->replicas[i]))
            return mp->replicas[i];
    return -1;
}

/* Broker id goes away: its leaderships move to a live ISR member (or
 * none), and it leaves every ISR it is not alone in. */
static void move_leaders_off(controller *c, int32_t id, mrec_list *out)
{
    for (int t = 0; t < c->image.ntopics; t++) {
        const mi_topic *tp = c->image.by_name[t];
        for (int32_t p = 0; p < tp->nparts; p++) {
            const mi_partition *mp = &tp->parts[p];
            if (mp->leader != id && !has(mp->isr, mp->nisr, id))
                continue;
            int32_t isr[CTL_BROKERS_MAX];
            int n = 0;
            for (int i = 0; i < mp->nisr && n < CTL_BROKERS_MAX; i++)
                if (mp->isr[i] != id)
                    isr[n++] = mp->isr[i];
            if (n == 0) { /* the last in-sync replica: it stays, offline - or, unclean, another leads */
                int32_t u = unclean_allowed(c, tp) ? unclean_candidate(c, mp, id) : -1;
                if (u >= 0)
                    mrec_partition_change(out, tp->id, p, u, &u, 1);
                else if (mp->leader == id)
                    mrec_partition_change(out, tp->id, p, -1, NULL, 0);
                continue;
            }
            int32_t leader = mp->leader;
            if (leader == id) {
                leader = -1;
                for (int i = 0; i < n && leader < 0; i++)
                    if (broker_alive(c, isr[i]))
                        leader = isr[i];
            }
            mrec_partition_change(out, tp->id, p, leader == mp->leader ? -2 : leader, isr, n);
        }
    }
}

/* Broker id is back: the partitions without a leader whose ISR holds it. */
static void lead_again(controller *c, int32_t id, mrec_list *out)
{
    for (int t = 0; t < c->image.ntopics; t++) {
        const mi_topic *tp = c->image.by_name[t];
        for (int32_t p = 0; p < tp->nparts; p++) {
            const mi_partition *mp = &tp->parts[p];
            if (mp->leader >= 0)
                continue;
            if (has(mp->isr, mp->nisr, id))
                mrec_partition_change(out, tp->id, p, id, NULL, 0);
            else if (has(mp->replicas, mp->nreplicas, id) && unclean_allowed(c, tp)) /* unclean: it leads what it has */
                mrec_partition_change(out, tp->id, p, id, &id, 1);
        }
    }
}

static void fence(controller *c, const mi_broker *b, mrec_list *out)
{
    int32_t id = b->id;
    mrec_fence_broker(out, id, b->epoch, true);
    apply_out(c, out, out->n - 1);
    int from = out->n;
    move_leaders_off(c, id, out);
    apply_out(c, out, from);
}

int16_t controller_heartbeat(controller *c, int32_t id, int64_t epoch, int64_t metadata_offset,
                             int64_t caught_up_offset, bool want_fence, bool want_shutdown, int64_t now_ms,
                             bool *fenced, bool *shutdown, mrec_list *out)
{
    const mi_broker *b = mimage_broker(&c->image, id);
    if (!b || b->epoch != epoch)
        return KERR_STALE_BROKER_EPOCH;
    ctl_session *s = session(c, id, true);
    if (s) {
        s->last_ms = now_ms;
        s->since_takeover = false;
        s->fence_at = 0;
    }
    *shutdown = false;
    if (want_shutdown) {
        /* Controlled shutdown: its leaderships move now, and it is fenced
         * at once rather than a session later (nothing more to hand over:
         * data is not replicated yet, so the partitions only it held wait
         * offline for its return). */
        if (!b->shutting_down && !b->fenced) {
            int from = out->n;
            mrec_broker_shutting_down(out, id, epoch);
            apply_out(c, out, from);
            from = out->n;
            move_leaders_off(c, id, out);
            apply_out(c, out, from);
            b = mimage_broker(&c->image, id);
            from = out->n;
            mrec_fence_broker(out, id, epoch, true);
            apply_out(c, out, from);
        }
        *shutdown = true;
        b = mimage_broker(&c->image, id);
    } else if (b->fenced && !want_fence && metadata_offset >= caught_up_offset) {
        int from = out->n;
        mrec_fence_broker(out, id, epoch, false);
        apply_out(c, out, from);
        from = out->n;
        lead_again(c, id, out);
        apply_out(c, out, from);
        b = mimage_broker(&c->image, id);
    } else if (!b->fenced && want_fence) {
        fence(c, b, out);
        b = mimage_broker(&c->image, id);
    }
    *fenced = b->fenced || b->shutting_down;
    return KERR_NONE;
}

int16_t controller_alter_partition(controller *c, int32_t broker_id, int64_t broker_epoch, kp_uuid topic_id,
                                   int32_t index, int32_t leader_epoch, int32_t partition_epoch, const int32_t *isr,
                                   int nisr, mrec_list *out, ctl_partition_state *st)
{
    const mi_broker *b = mimage_broker(&c->image, broker_id);
    if (!b || (broker_epoch >= 0 && b->epoch != broker_epoch))
        return KERR_STALE_BROKER_EPOCH;
    const mi_topic *t = mimage_topic_by_id(&c->image, topic_id);
    if (!t)
        return KERR_UNKNOWN_TOPIC_ID;
    if (index < 0 || index >= t->nparts)
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    const mi_partition *mp = &t->parts[index];
    if (leader_epoch < mp->leader_epoch)
        return KERR_FENCED_LEADER_EPOCH;
    if (mp->leader != broker_id || leader_epoch > mp->leader_epoch)
        return KERR_INVALID_REQUEST;
    if (partition_epoch != mp->partition_epoch)
        return KERR_INVALID_UPDATE_VERSION;
    if (nisr < 1 || nisr > CTL_BROKERS_MAX)
        return KERR_INVALID_REQUEST;
    bool leader_in = false;
    for (int i = 0; i < nisr; i++) {
        if (has(isr, i, isr[i]) || !has(mp->replicas, mp->nreplicas, isr[i]))
            return KERR_INVALID_REQUEST; /* twice, or not a replica */
        if (!broker_alive(c, isr[i]))
            return KERR_INELIGIBLE_REPLICA;
        leader_in |= isr[i] == broker_id;
    }
    if (!leader_in)
        return KERR_INVALID_REQUEST;
    bool same = nisr == mp->nisr;
    for (int i = 0; same && i < nisr; i++)
        same = has(mp->isr, mp->nisr, isr[i]);
    if (!same) {
        int from = out->n;
        mrec_partition_change(out, topic_id, index, -2, isr, nisr);
        int16_t code = apply_out(c, out, from);
        if (code != KERR_NONE)
            return code;
        t = mimage_topic_by_id(&c->image, topic_id);
        if ((code = complete_reassignment(c, t, index, out)) != KERR_NONE)
            return code;
        t = mimage_topic_by_id(&c->image, topic_id);
        mp = &t->parts[index];
    }
    st->leader = mp->leader;
    st->leader_epoch = mp->leader_epoch;
    st->partition_epoch = mp->partition_epoch;
    st->nisr = mp->nisr;
    memcpy(st->isr, mp->isr, sizeof(*mp->isr) * (size_t)mp->nisr);
    return KERR_NONE;
}

int16_t controller_elect_leader(controller *c, kp_uuid topic_id, int32_t index, bool unclean, mrec_list *out,
                                char *msg, size_t msglen)
{
    const mi_topic *t = mimage_topic_by_id(&c->image, topic_id);
    if (!t)
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (index < 0 || index >= t->nparts) {
        snprintf(msg, msglen, "No such partition as %s-%d", t->name, index);
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    const mi_partition *mp = &t->parts[index];
    int32_t want = -1;
    if (!unclean) {
        int32_t pref = mp->replicas[0];
        if (mp->leader == pref)
            return KERR_ELECTION_NOT_NEEDED;
        if (!has(mp->isr, mp->nisr, pref) || !broker_alive(c, pref)) {
            snprintf(msg, msglen, "Failed to elect leader for partition %s-%d under strategy PREFERRED", t->name,
                     index);
            return KERR_PREFERRED_LEADER_NOT_AVAILABLE;
        }
        want = pref;
    } else {
        if (mp->leader >= 0 && broker_alive(c, mp->leader))
            return KERR_ELECTION_NOT_NEEDED;
        for (int i = 0; i < mp->nisr && want < 0; i++) /* a live ISR member first: nothing lost */
            if (broker_alive(c, mp->isr[i]))
                want = mp->isr[i];
        if (want < 0 && (want = unclean_candidate(c, mp, -1)) >= 0) {
            int from = out->n;
            mrec_partition_change(out, topic_id, index, want, &want, 1);
            return apply_out(c, out, from);
        }
        if (want < 0) {
            snprintf(msg, msglen, "Failed to elect leader for partition %s-%d under strategy UNCLEAN", t->name,
                     index);
            return KERR_ELIGIBLE_LEADERS_NOT_AVAILABLE;
        }
    }
    int from = out->n;
    mrec_partition_change(out, topic_id, index, want, NULL, 0);
    return apply_out(c, out, from);
}

void controller_broker_disconnected(controller *c, int32_t id, int64_t now_ms, int64_t session_ms, int64_t grace_ms)
{
    ctl_session *s = session(c, id, false);
    if (s && grace_ms < session_ms && (s->fence_at == 0 || s->fence_at > now_ms + grace_ms))
        s->fence_at = now_ms + grace_ms;
}

void controller_expire_sessions(controller *c, int64_t now_ms, int64_t session_ms, mrec_list *out)
{
    for (int i = 0; i < c->image.nbrokers; i++) {
        const mi_broker *b = &c->image.brokers[i];
        if (b->fenced || (c->cluster && b->id == c->node_id)) /* this node's broker lives while it does */
            continue;
        ctl_session *s = session(c, b->id, true);
        if (!s)
            continue;
        if (s->last_ms == 0)
            s->last_ms = now_ms; /* first seen here: a full session from now */
        int64_t limit = s->since_takeover && c->takeover_grace_ms > 0 && c->takeover_grace_ms < session_ms
                            ? c->takeover_grace_ms : session_ms;
        if (now_ms - s->last_ms <= limit && (s->fence_at == 0 || now_ms < s->fence_at))
            continue;
        int32_t id = b->id;
        fence(c, b, out); /* the image's broker array may move: look it up again */
        i = -1;
        while (++i < c->image.nbrokers && c->image.brokers[i].id != id)
            ;
    }
}

/* ---- reassignment (KIP-455) ---- */

/* The first of cands (in order) that is in isr and alive, or -1. */
static int32_t pick_leader(const controller *c, const int32_t *cands, int ncands, const int32_t *isr, int nisr)
{
    for (int i = 0; i < ncands; i++)
        if (has(isr, nisr, cands[i]) && broker_alive(c, cands[i]))
            return cands[i];
    return -1;
}

/*
 * Complete the partition's reassignment when every adding replica is in
 * the ISR and the ISR keeps a member once the removing ones leave (Kafka's
 * PartitionChangeBuilder.completeReassignmentIfNeeded): the replicas become
 * the target, the removing ones leave the ISR, and the leader epoch moves
 * (a removed replica's fetches are fenced); a removed leader hands over to
 * the first target replica in the ISR. Returns a Kafka error code.
 */
static int16_t complete_reassignment(controller *c, const mi_topic *t, int32_t index, mrec_list *out)
{
    const mi_partition *mp = &t->parts[index];
    if (mp->nadding == 0 && mp->nremoving == 0)
        return KERR_NONE;
    for (int i = 0; i < mp->nadding; i++)
        if (!has(mp->isr, mp->nisr, mp->adding[i]))
            return KERR_NONE;
    int32_t target[CTL_BROKERS_MAX], isr[CTL_BROKERS_MAX];
    int nt = 0, ni = 0;
    for (int i = 0; i < mp->nreplicas; i++)
        if (!has(mp->removing, mp->nremoving, mp->replicas[i]))
            target[nt++] = mp->replicas[i];
    for (int i = 0; i < mp->nisr; i++)
        if (!has(mp->removing, mp->nremoving, mp->isr[i]))
            isr[ni++] = mp->isr[i];
    if (ni == 0)
        return KERR_NONE; /* no target replica in sync yet */
    int32_t leader = has(isr, ni, mp->leader) ? mp->leader : pick_leader(c, target, nt, isr, ni);
    int from = out->n;
    mrec_partition_reassign(out, t->id, index, leader, isr, ni, target, nt, NULL, 0, NULL, 0);
    return apply_out(c, out, from);
}

int16_t controller_reassign(controller *c, kp_uuid topic_id, int32_t index, const int32_t *target, int ntarget,
                            bool allow_rf_change, mrec_list *out, char *msg, size_t msglen)
{
    const mi_topic *t = mimage_topic_by_id(&c->image, topic_id);
    if (!t || index < 0 || index >= t->nparts)
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    const mi_partition *mp = &t->parts[index];
    bool ongoing = mp->nadding > 0 || mp->nremoving > 0;
    /* The original replicas: the current ones less those being added
     * (Kafka's PartitionReassignmentRevert); the same for the ISR. */
    int32_t orig[CTL_BROKERS_MAX], oisr[CTL_BROKERS_MAX];
    int no = 0, noi = 0;
    for (int i = 0; i < mp->nreplicas && no < CTL_BROKERS_MAX; i++)
        if (!has(mp->adding, mp->nadding, mp->replicas[i]))
            orig[no++] = mp->replicas[i];
    for (int i = 0; i < mp->nisr && noi < CTL_BROKERS_MAX; i++)
        if (!has(mp->adding, mp->nadding, mp->isr[i]))
            oisr[noi++] = mp->isr[i];
    if (!target) { /* cancel */
        if (!ongoing) {
            snprintf(msg, msglen, "No partition reassignment is in progress for %s-%d.", t->name, index);
            return KERR_NO_REASSIGNMENT_IN_PROGRESS;
        }
        if (noi == 0) /* only added replicas are in sync: keep them, as Kafka keeps the ISR non-empty */
            for (int i = 0; i < mp->nisr; i++)
                oisr[noi++] = mp->isr[i];
        int32_t leader = has(oisr, noi, mp->leader) ? mp->leader : pick_leader(c, orig, no, oisr, noi);
        int from = out->n;
        mrec_partition_reassign(out, t->id, index, leader, oisr, noi, orig, no, NULL, 0, NULL, 0);
        return apply_out(c, out, from);
    }
    if (ntarget == 0) {
        snprintf(msg, msglen, "The manual partition assignment includes an empty replica list.");
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    if (ntarget > CTL_BROKERS_MAX) {
        snprintf(msg, msglen, "The manual partition assignment has %d replicas, more than %d.", ntarget,
                 CTL_BROKERS_MAX);
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int i = 0; i < ntarget; i++) {
        if (has(target, i, target[i])) {
            snprintf(msg, msglen, "The manual partition assignment includes the broker %d more than once.",
                     (int)target[i]);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (!mimage_broker(&c->image, target[i])) {
            snprintf(msg, msglen, "The manual partition assignment includes broker %d, but no such broker is "
                     "registered.", (int)target[i]);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    if (!allow_rf_change && ntarget != no) {
        snprintf(msg, msglen, "The replication factor is changed from %d to %d", no, ntarget);
        return KERR_INVALID_REPLICATION_FACTOR;
    }
    /* replicas = target, then the originals leaving; adding = target less
     * originals; removing = originals less target. */
    int32_t reps[2 * CTL_BROKERS_MAX], adding[CTL_BROKERS_MAX], removing[CTL_BROKERS_MAX];
    int nr = 0, na = 0, nrm = 0;
    for (int i = 0; i < ntarget; i++) {
        reps[nr++] = target[i];
        if (!has(orig, no, target[i]))
            adding[na++] = target[i];
    }
    for (int i = 0; i < no; i++)
        if (!has(target, ntarget, orig[i])) {
            reps[nr++] = orig[i];
            removing[nrm++] = orig[i];
        }
    if (nr > CTL_BROKERS_MAX) {
        snprintf(msg, msglen, "The reassignment would make %d replicas, more than %d.", nr, CTL_BROKERS_MAX);
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    bool same_order = !ongoing && nr == mp->nreplicas;
    for (int i = 0; same_order && i < nr; i++)
        same_order = reps[i] == mp->replicas[i];
    if (same_order)
        return KERR_NONE; /* already so: nothing to write */
    /* The ISR keeps its members that stay replicas; a leader that does not
     * (it was only being added) hands over. */
    int32_t isr[CTL_BROKERS_MAX];
    int ni = 0;
    for (int i = 0; i < mp->nisr; i++)
        if (has(reps, nr, mp->isr[i]))
            isr[ni++] = mp->isr[i];
    if (ni == 0) {
        snprintf(msg, msglen, "No replica of %s-%d that stays is in sync", t->name, index);
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    int32_t leader = has(isr, ni, mp->leader) ? -2 : pick_leader(c, reps, nr, isr, ni);
    int from = out->n;
    mrec_partition_reassign(out, t->id, index, leader, ni == mp->nisr ? NULL : isr, ni, reps, nr, removing, nrm,
                            adding, na);
    int16_t code = apply_out(c, out, from);
    if (code != KERR_NONE)
        return code;
    t = mimage_topic_by_id(&c->image, topic_id);
    return complete_reassignment(c, t, index, out);
}
