/*
 * test_controller.c - the metadata image and the controller, pure.
 *
 * A random walk of admin changes (create, delete, add partitions, configs,
 * producer ids, refusals) through the controller; after every step:
 *   - the controller's image equals an image built by applying the records
 *     written so far (replay == live), and a copy of it;
 *   - the image written as records (a snapshot) and applied to a fresh
 *     image gives an equal image;
 *   - the invariants hold: names and ids unique and both indexes sorted,
 *     partitions numbered 0..n-1, every replica list of the topic's
 *     replication factor without duplicates, the leader in the ISR and the
 *     ISR within the replicas, producer-id blocks never overlapping;
 *   - a model (topic name -> partition count, configs) agrees.
 * controller_reset to a committed image drops what was written after it.
 * Finalized features: transaction.version in the image (records, snapshots,
 * diffs, level 0), the bootstrap records, and UpdateFeatures' decisions with
 * Kafka 4.4's messages.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "controller/controller.h"
#include "controller/features.h"
#include "controller/image.h"
#include "kafka_msgs.h"

#define MODEL_MAX 64

typedef struct model_topic {
    char name[32];
    int32_t nparts;
    char retention[32]; /* "" when no override */
    bool live;
} model_topic;

static uint64_t rng = 42;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void apply_all(mimage *im, const mrec_list *l, int from)
{
    for (int i = from; i < l->n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(l, i, &len);
        char err[256];
        CHECK(mimage_apply(im, v, len, NULL, err, sizeof err) == 0);
    }
}

static void check_invariants(const mimage *im)
{
    for (int i = 0; i < im->ntopics; i++) {
        const mi_topic *t = im->by_name[i];
        if (i > 0) {
            CHECK(strcmp(im->by_name[i - 1]->name, t->name) < 0);
            CHECK(memcmp(im->by_id[i - 1]->id.b, im->by_id[i]->id.b, 16) < 0);
        }
        CHECK(mimage_topic(im, t->name, (int)strlen(t->name)) == t);
        CHECK(mimage_topic_by_id(im, t->id) == t);
        int rf = t->nparts > 0 ? t->parts[0].nreplicas : 0;
        for (int32_t p = 0; p < t->nparts; p++) {
            const mi_partition *mp = &t->parts[p];
            CHECK(mp->nreplicas == rf);
            for (int a = 0; a < mp->nreplicas; a++)
                for (int b2 = 0; b2 < a; b2++)
                    CHECK(mp->replicas[a] != mp->replicas[b2]);
            bool leader_in_isr = mp->leader < 0;
            for (int a = 0; a < mp->nisr; a++) {
                bool in = false;
                for (int b2 = 0; b2 < mp->nreplicas; b2++)
                    in |= mp->isr[a] == mp->replicas[b2];
                CHECK(in);
                leader_in_isr |= mp->isr[a] == mp->leader;
            }
            CHECK(leader_in_isr);
        }
        for (int c = 1; c < t->ncfg; c++)
            CHECK(strcmp(t->cfg[c - 1].name, t->cfg[c].name) < 0);
    }
}

static void check_model(const mimage *im, const model_topic *m, int nm)
{
    int live = 0;
    for (int i = 0; i < nm; i++) {
        const mi_topic *t = mimage_topic(im, m[i].name, (int)strlen(m[i].name));
        if (!m[i].live) {
            CHECK(t == NULL);
            continue;
        }
        live++;
        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK_EQ_I64(t->nparts, m[i].nparts);
        const char *r = mi_topic_config(t, "retention.ms");
        CHECK(m[i].retention[0] ? (r && strcmp(r, m[i].retention) == 0) : r == NULL);
    }
    CHECK_EQ_I64(im->ntopics, live);
}

/* A listener's view (topic ids, names, partition counts, one config),
 * built from an image, or moved along by a diff's events. */
#define SHADOW_MAX 256
typedef struct shadow {
    kp_uuid id[SHADOW_MAX];
    char name[SHADOW_MAX][64];
    int32_t nparts[SHADOW_MAX];
    char retention[SHADOW_MAX][32];
    int n;
} shadow;

static int shadow_find(const shadow *s, kp_uuid id)
{
    for (int i = 0; i < s->n; i++)
        if (memcmp(s->id[i].b, id.b, 16) == 0)
            return i;
    return -1;
}

static void shadow_config(shadow *s, int i, const mi_topic *t)
{
    const char *r = mi_topic_config(t, "retention.ms");
    snprintf(s->retention[i], sizeof s->retention[i], "%s", r ? r : "");
}

static void shadow_of(shadow *s, const mimage *im)
{
    s->n = 0;
    for (int i = 0; i < im->ntopics && s->n < SHADOW_MAX; i++) {
        const mi_topic *t = im->by_id[i];
        s->id[s->n] = t->id;
        snprintf(s->name[s->n], sizeof s->name[s->n], "%s", t->name);
        s->nparts[s->n] = t->nparts;
        shadow_config(s, s->n, t);
        s->n++;
    }
}

static void shadow_follow(shadow *s, const mimage *to, const mdelta *d)
{
    for (int k = 0; k < d->n; k++) {
        const mdelta_event *e = &d->ev[k];
        int i = shadow_find(s, e->topic_id);
        const mi_topic *t = mimage_topic_by_id(to, e->topic_id);
        switch (e->kind) {
        case MD_TOPIC_CREATED:
            CHECK(i < 0 && t != NULL);
            if (i < 0 && s->n < SHADOW_MAX) {
                s->id[s->n] = e->topic_id;
                snprintf(s->name[s->n], sizeof s->name[s->n], "%s", e->name);
                s->nparts[s->n] = 0;
                s->retention[s->n][0] = '\0';
                s->n++;
            }
            break;
        case MD_PARTITION_ADDED:
            CHECK(i >= 0 && e->partition == s->nparts[i]);
            if (i >= 0)
                s->nparts[i] = e->partition + 1;
            break;
        case MD_TOPIC_CONFIG:
            CHECK(i >= 0 && t != NULL);
            if (i >= 0 && t)
                shadow_config(s, i, t);
            break;
        case MD_TOPIC_REMOVED:
            CHECK(i >= 0 && t == NULL);
            if (i >= 0) {
                s->n--;
                s->id[i] = s->id[s->n];
                memcpy(s->name[i], s->name[s->n], sizeof s->name[i]);
                s->nparts[i] = s->nparts[s->n];
                memcpy(s->retention[i], s->retention[s->n], sizeof s->retention[i]);
            }
            break;
        default:
            break;
        }
    }
}

static void check_diff(const mimage *from, const mimage *to)
{
    mdelta d;
    mdelta_init(&d);
    mimage_diff(to, to, &d);
    CHECK_EQ_I64(d.n, 0);
    shadow *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    shadow_of(a, from);
    mimage_diff(from, to, &d);
    shadow_follow(a, to, &d);
    shadow_of(b, to);
    CHECK_EQ_I64(a->n, b->n);
    for (int i = 0; i < b->n; i++) {
        int k = shadow_find(a, b->id[i]);
        CHECK(k >= 0);
        if (k < 0)
            continue;
        CHECK(strcmp(a->name[k], b->name[i]) == 0);
        CHECK_EQ_I64(a->nparts[k], b->nparts[i]);
        CHECK(strcmp(a->retention[k], b->retention[i]) == 0);
    }
    free(a);
    free(b);
    mdelta_deinit(&d);
}

static void test_walk(int steps)
{
    controller *c = controller_new(1, 7);
    mimage replay, committed;
    mimage_init(&replay);
    mimage_init(&committed);
    mrec_list log;
    mrec_list_init(&log);
    model_topic model[MODEL_MAX];
    int nm = 0;
    int64_t last_pid_end = 0;
    for (int step = 0; step < steps; step++) {
        int from = log.n;
        char msg[400] = "";
        int op = (int)(next_rand() % 6);
        int k = nm ? (int)(next_rand() % (uint64_t)nm) : 0;
        if (op == 0 || nm == 0) {
            if (nm == MODEL_MAX)
                continue;
            model_topic *t = &model[nm];
            snprintf(t->name, sizeof t->name, "t%d", (int)(next_rand() % 200));
            int32_t np = 1 + (int32_t)(next_rand() % 5);
            bool exists = false;
            for (int i = 0; i < nm; i++)
                exists |= model[i].live && strcmp(model[i].name, t->name) == 0;
            ctl_config cfg = { "retention.ms", "1000" };
            kp_uuid id;
            int16_t code = controller_create_topic(c, t->name, np, 1, NULL, &cfg, (int)(next_rand() % 2), false,
                                                   &id, &log, msg, sizeof msg);
            CHECK_EQ_I64(code, exists ? KERR_TOPIC_ALREADY_EXISTS : KERR_NONE);
            if (!exists) {
                t->nparts = np;
                t->live = true;
                snprintf(t->retention, sizeof t->retention, "%s", log.n - from > 1 + np ? "1000" : "");
                for (int i = 0; i < nm; i++) /* a deleted topic of the same name is history */
                    if (strcmp(model[i].name, t->name) == 0)
                        model[i].name[0] = '\0';
                nm++;
            }
        } else if (op == 1) {
            model_topic *t = &model[k];
            const mi_topic *mt = t->name[0] ? mimage_topic(controller_image(c), t->name, (int)strlen(t->name)) : NULL;
            if (mt) {
                int16_t code = controller_delete_topic(c, mt->id, &log, msg, sizeof msg);
                CHECK_EQ_I64(code, KERR_NONE);
                t->live = false;
            }
        } else if (op == 2) {
            model_topic *t = &model[k];
            if (!t->live || !t->name[0])
                continue;
            int32_t total = t->nparts + (int32_t)(next_rand() % 3) - 1;
            int16_t code = controller_create_partitions(c, t->name, total, NULL, 0, false, &log, msg, sizeof msg);
            CHECK_EQ_I64(code, total > t->nparts ? KERR_NONE : KERR_INVALID_PARTITIONS);
            if (code == KERR_NONE)
                t->nparts = total;
        } else if (op == 3) {
            model_topic *t = &model[k];
            if (!t->live || !t->name[0])
                continue;
            char v[32];
            snprintf(v, sizeof v, "%d", (int)(next_rand() % 100000));
            bool clear = next_rand() % 3 == 0;
            ctl_config cfg = { "retention.ms", clear ? NULL : v };
            CHECK_EQ_I64(controller_set_topic_configs(c, t->name, &cfg, 1, &log, msg, sizeof msg), KERR_NONE);
            snprintf(t->retention, sizeof t->retention, "%s", clear ? "" : v);
        } else if (op == 4) {
            int64_t first;
            CHECK_EQ_I64(controller_allocate_producer_ids(c, 1, 1000, &first, &log), KERR_NONE);
            CHECK(first >= last_pid_end);
            last_pid_end = first + 1000;
        } else {
            /* refusals write nothing */
            int16_t code = controller_create_topic(c, "r", 1, 3, NULL, NULL, 0, false, NULL, &log, msg, sizeof msg);
            CHECK_EQ_I64(code, KERR_INVALID_REPLICATION_FACTOR);
            CHECK(strstr(msg, "only 1 broker(s) are registered") != NULL);
            int32_t bad[2] = { 1, 1 };
            ctl_assignment a = { bad, 2 };
            code = controller_create_topic(c, "r", 1, -1, &a, NULL, 0, false, NULL, &log, msg, sizeof msg);
            CHECK_EQ_I64(code, KERR_INVALID_REPLICA_ASSIGNMENT);
            int32_t other = 9;
            a = (ctl_assignment){ &other, 1 };
            code = controller_create_topic(c, "r", 1, -1, &a, NULL, 0, false, NULL, &log, msg, sizeof msg);
            CHECK_EQ_I64(code, KERR_INVALID_REPLICA_ASSIGNMENT);
            CHECK_EQ_I64(controller_create_topic(c, "r", 1, 1, NULL, NULL, 0, true, NULL, &log, msg, sizeof msg),
                         KERR_NONE);
            CHECK_EQ_I64(log.n, from);
        }
        apply_all(&replay, &log, from);
        CHECK(mimage_equal(controller_image(c), &replay));
        check_invariants(&replay);
        check_model(&replay, model, nm);
        /* the snapshot round trip */
        mrec_list snap;
        mrec_list_init(&snap);
        mimage_write(&replay, &snap);
        mimage fresh;
        mimage_init(&fresh);
        apply_all(&fresh, &snap, 0);
        CHECK(mimage_equal(&fresh, &replay));
        mimage cp;
        CHECK(mimage_copy(&cp, &fresh) == 0);
        CHECK(mimage_equal(&cp, &replay));
        mimage_deinit(&cp);
        mimage_deinit(&fresh);
        mrec_list_deinit(&snap);
        check_diff(&committed, &replay); /* a follower installing a snapshot */
        if (step % 10 == 0) { /* "committed" here; later steps may be dropped */
            mimage_deinit(&committed);
            CHECK(mimage_copy(&committed, &replay) == 0);
        }
    }
    /* Losing leadership: back to the committed image. */
    CHECK(controller_reset(c, &committed) == 0);
    CHECK(mimage_equal(controller_image(c), &committed));
    mimage_deinit(&committed);
    mimage_deinit(&replay);
    mrec_list_deinit(&log);
    controller_free(c);
}

static void test_delta(void)
{
    controller *c = controller_new(1, 1);
    mrec_list log;
    mrec_list_init(&log);
    char msg[256];
    kp_uuid id;
    ctl_config cfg = { "cleanup.policy", "compact" };
    CHECK_EQ_I64(controller_create_topic(c, "a", 2, 1, NULL, &cfg, 1, false, &id, &log, msg, sizeof msg), 0);
    mimage im;
    mimage_init(&im);
    mdelta d;
    mdelta_init(&d);
    for (int i = 0; i < log.n; i++) {
        int32_t len;
        const uint8_t *v = mrec_get(&log, i, &len);
        char err[128];
        CHECK(mimage_apply(&im, v, len, &d, err, sizeof err) == 0);
    }
    CHECK_EQ_I64(d.n, 4);
    if (d.n == 4) {
        CHECK(d.ev[0].kind == MD_TOPIC_CREATED && strcmp(d.ev[0].name, "a") == 0);
        CHECK(d.ev[1].kind == MD_TOPIC_CONFIG);
        CHECK(d.ev[2].kind == MD_PARTITION_ADDED && d.ev[2].partition == 0);
        CHECK(d.ev[3].kind == MD_PARTITION_ADDED && d.ev[3].partition == 1);
    }
    const mi_topic *t = mimage_topic(&im, "a", 1);
    CHECK(t && t->nparts == 2 && t->parts[1].leader == 1 && t->parts[1].nisr == 1);
    /* garbage and unknown records */
    char err[128];
    uint8_t junk[3] = { 9, 9, 9 };
    CHECK(mimage_apply(&im, junk, 3, NULL, err, sizeof err) == -1);
    uint8_t unknown[4] = { 1, 99, 0, 0 }; /* frame 1, key 99 */
    CHECK(mimage_apply(&im, unknown, 4, NULL, err, sizeof err) == 0);
    mdelta_clear(&d);
    mrec_list_clear(&log);
    CHECK_EQ_I64(controller_delete_topic(c, id, &log, msg, sizeof msg), 0);
    int32_t len;
    const uint8_t *v = mrec_get(&log, 0, &len);
    CHECK(mimage_apply(&im, v, len, &d, err, sizeof err) == 0);
    CHECK(d.n == 1 && d.ev[0].kind == MD_TOPIC_REMOVED && d.ev[0].partition == 2);
    CHECK(im.ntopics == 0);
    mdelta_deinit(&d);
    mimage_deinit(&im);
    mrec_list_deinit(&log);
    controller_free(c);
}

/* Apply the records written from `from` on to im. */
static void follow(mimage *im, const mrec_list *l, int *from)
{
    apply_all(im, l, *from);
    *from = l->n;
}

static void test_brokers(void)
{
    controller *c = controller_new(1, 99);
    mrec_list log;
    mrec_list_init(&log);
    mimage im;
    mimage_init(&im);
    int seen = 0;
    char msg[300];
    const char *racks[4] = { "a", "a", "b", "b" };
    int64_t epochs[5];
    for (int32_t id = 1; id <= 4; id++) {
        mi_endpoint ep = { "PLAINTEXT", "127.0.0.1", 9090 + id, 0 };
        kp_uuid inc = { { 0 } };
        inc.b[0] = (uint8_t)id;
        ctl_registration r = { id, inc, &ep, 1, racks[id - 1] };
        CHECK_EQ_I64(controller_register_broker(c, &r, false, 1000, &epochs[id], &log, msg, sizeof msg), 0);
        /* the same incarnation again: same epoch, nothing written */
        int n = log.n;
        int64_t again;
        CHECK_EQ_I64(controller_register_broker(c, &r, false, 1000, &again, &log, msg, sizeof msg), 0);
        CHECK_EQ_I64(again, epochs[id]);
        CHECK_EQ_I64(log.n, n);
    }
    follow(&im, &log, &seen);
    CHECK_EQ_I64(im.nbrokers, 4);
    CHECK(mimage_broker(&im, 3) && mimage_broker(&im, 3)->fenced);
    /* fenced brokers get no replicas */
    CHECK_EQ_I64(controller_create_topic(c, "x", 1, 1, NULL, NULL, 0, false, NULL, &log, msg, sizeof msg),
                 KERR_INVALID_REPLICATION_FACTOR);
    CHECK(strstr(msg, "only 0 broker(s)") != NULL);
    /* heartbeats: caught up -> unfenced; stale epoch refused */
    bool fenced, shut;
    for (int32_t id = 1; id <= 4; id++) {
        CHECK_EQ_I64(controller_heartbeat(c, id, epochs[id], 10, 100, false, false, 1100, &fenced, &shut, &log), 0);
        CHECK(fenced); /* not caught up yet */
        CHECK_EQ_I64(controller_heartbeat(c, id, epochs[id], 100, 100, false, false, 1200, &fenced, &shut, &log), 0);
        CHECK(!fenced && !shut);
    }
    CHECK_EQ_I64(controller_heartbeat(c, 2, epochs[2] + 77, 100, 100, false, false, 1200, &fenced, &shut, &log),
                 KERR_STALE_BROKER_EPOCH);
    follow(&im, &log, &seen);
    for (int32_t id = 1; id <= 4; id++)
        CHECK(!mimage_broker(&im, id)->fenced);
    /* placement: rf 2 over racks a,b: every partition has both racks,
     * leaders spread over the four brokers */
    kp_uuid tid;
    CHECK_EQ_I64(controller_create_topic(c, "t", 8, 2, NULL, NULL, 0, false, &tid, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    const mi_topic *t = mimage_topic(&im, "t", 1);
    int leads[5] = { 0 };
    for (int32_t p = 0; t && p < t->nparts; p++) {
        const mi_partition *mp = &t->parts[p];
        CHECK_EQ_I64(mp->nreplicas, 2);
        CHECK(strcmp(racks[mp->replicas[0] - 1], racks[mp->replicas[1] - 1]) != 0);
        CHECK_EQ_I64(mp->leader, mp->replicas[0]);
        /* every live replica in sync at creation, in replica order (Kafka) */
        CHECK(mp->nisr == 2 && mp->isr[0] == mp->replicas[0] && mp->isr[1] == mp->replicas[1]);
        leads[mp->leader]++;
    }
    for (int id = 1; id <= 4; id++)
        CHECK_EQ_I64(leads[id], 2);
    CHECK_EQ_I64(controller_create_topic(c, "r5", 1, 5, NULL, NULL, 0, false, NULL, &log, msg, sizeof msg),
                 KERR_INVALID_REPLICATION_FACTOR);
    /* session expiry fences broker 4 (silent since 1200): it leaves every
     * ISR, and its leaderships go to the other replica, in sync */
    controller_expire_sessions(c, 1200 + 5000, 9000, &log);
    CHECK_EQ_I64(log.n, seen);
    for (int32_t id = 1; id <= 3; id++)
        CHECK_EQ_I64(controller_heartbeat(c, id, epochs[id], 100, 100, false, false, 9000, &fenced, &shut, &log), 0);
    controller_expire_sessions(c, 10300, 9000, &log);
    follow(&im, &log, &seen);
    CHECK(mimage_broker(&im, 4)->fenced);
    for (int32_t p = 0; t && p < t->nparts; p++) {
        const mi_partition *mp = &t->parts[p];
        bool has4 = mp->replicas[0] == 4 || mp->replicas[1] == 4;
        int32_t other = mp->replicas[0] == 4 ? mp->replicas[1] : mp->replicas[0];
        CHECK_EQ_I64(mp->leader, mp->replicas[0] == 4 ? other : mp->replicas[0]);
        CHECK_EQ_I64(mp->nisr, has4 ? 1 : 2);
        for (int i = 0; i < mp->nisr; i++)
            CHECK(mp->isr[i] != 4);
        if (mp->replicas[0] == 4)
            CHECK(mp->leader_epoch == 1);
    }
    /* back: unfenced; it follows (its leader adds it to the ISR once it
     * caught up, with AlterPartition) and leads again only by a preferred
     * leader election */
    CHECK_EQ_I64(controller_heartbeat(c, 4, epochs[4], 100, 100, false, false, 10400, &fenced, &shut, &log), 0);
    CHECK(!fenced);
    follow(&im, &log, &seen);
    for (int32_t p = 0; t && p < t->nparts; p++)
        CHECK(t->parts[p].leader != 4 && t->parts[p].leader >= 0);
    /* controlled shutdown of broker 1: fenced at once, leaderless partitions */
    CHECK_EQ_I64(controller_heartbeat(c, 1, epochs[1], 100, 100, false, true, 10500, &fenced, &shut, &log), 0);
    CHECK(fenced && shut);
    follow(&im, &log, &seen);
    CHECK(mimage_broker(&im, 1)->fenced);
    for (int32_t p = 0; t && p < t->nparts; p++)
        CHECK(t->parts[p].leader != 1);
    /* a new incarnation of broker 1 starts fenced with a new epoch */
    mi_endpoint ep = { "PLAINTEXT", "127.0.0.1", 9091, 0 };
    kp_uuid inc2 = { { 0x11 } };
    ctl_registration r1 = { 1, inc2, &ep, 1, "a" };
    int64_t e1;
    CHECK_EQ_I64(controller_register_broker(c, &r1, false, 10600, &e1, &log, msg, sizeof msg), 0);
    CHECK(e1 > epochs[4]);
    follow(&im, &log, &seen);
    CHECK(mimage_broker(&im, 1)->fenced && !mimage_broker(&im, 1)->shutting_down);
    CHECK(mimage_equal(&im, controller_image(c)));
    check_invariants(&im);
    /* a snapshot of all this replays equal */
    mrec_list snap;
    mrec_list_init(&snap);
    mimage_write(&im, &snap);
    mimage fresh;
    mimage_init(&fresh);
    apply_all(&fresh, &snap, 0);
    CHECK(mimage_equal(&fresh, &im));
    mimage_deinit(&fresh);
    mrec_list_deinit(&snap);
    mimage_deinit(&im);
    mrec_list_deinit(&log);
    controller_free(c);
}

/* Three unfenced brokers with epochs[1..3] (registered and caught up at now). */
static void three_up(controller *c, int64_t *epochs, mrec_list *log, int64_t now)
{
    char msg[300];
    bool fenced, shut;
    for (int32_t id = 1; id <= 3; id++) {
        mi_endpoint ep = { "PLAINTEXT", "127.0.0.1", 9090 + id, 0 };
        kp_uuid inc = { { 0 } };
        inc.b[0] = (uint8_t)id;
        ctl_registration r = { id, inc, &ep, 1, NULL };
        CHECK_EQ_I64(controller_register_broker(c, &r, false, now, &epochs[id], log, msg, sizeof msg), 0);
        CHECK_EQ_I64(controller_heartbeat(c, id, epochs[id], 100, 100, false, false, now, &fenced, &shut, log), 0);
    }
}

/* unclean.leader.election.enable: the last in-sync replica fenced, another
 * live replica leads with an ISR of itself (the topic's override; the
 * default is clean: the partition stays leaderless); a leaderless
 * partition's out-of-sync replica that comes back leads it when unclean
 * is allowed; ElectLeaders UNCLEAN likewise. */
static void test_unclean(void)
{
    controller *c = controller_new(1, 7);
    mrec_list log;
    mrec_list_init(&log);
    mimage im;
    mimage_init(&im);
    int seen = 0;
    char msg[300];
    int64_t epochs[4];
    three_up(c, epochs, &log, 1000);
    ctl_assignment a = { (int32_t[]){ 1, 2, 3 }, 3 };
    ctl_config yes = { "unclean.leader.election.enable", "true" };
    kp_uuid tu, tc;
    CHECK_EQ_I64(controller_create_topic(c, "u", 1, 3, &a, &yes, 1, false, &tu, &log, msg, sizeof msg), 0);
    CHECK_EQ_I64(controller_create_topic(c, "c", 1, 3, &a, NULL, 0, false, &tc, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    /* the leader (1) shrinks both ISRs to itself */
    ctl_partition_state st;
    int32_t only1[] = { 1 };
    for (int k = 0; k < 2; k++) {
        const mi_partition *mp = &mimage_topic(&im, k ? "c" : "u", 1)->parts[0];
        CHECK_EQ_I64(controller_alter_partition(c, 1, epochs[1], k ? tc : tu, 0, mp->leader_epoch,
                                                mp->partition_epoch, only1, 1, &log, &st), 0);
    }
    follow(&im, &log, &seen);
    /* broker 1 goes (controlled shutdown) */
    bool fenced, shut;
    CHECK_EQ_I64(controller_heartbeat(c, 1, epochs[1], 100, 100, false, true, 2000, &fenced, &shut, &log), 0);
    follow(&im, &log, &seen);
    const mi_partition *u = &mimage_topic(&im, "u", 1)->parts[0];
    const mi_partition *cl = &mimage_topic(&im, "c", 1)->parts[0];
    CHECK_EQ_I64(u->leader, 2);
    CHECK(u->nisr == 1 && u->isr[0] == 2);
    CHECK_EQ_I64(cl->leader, -1);
    CHECK(cl->nisr == 1 && cl->isr[0] == 1);
    /* ElectLeaders UNCLEAN on the clean topic: a live replica leads */
    CHECK_EQ_I64(controller_elect_leader(c, tc, 0, true, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    cl = &mimage_topic(&im, "c", 1)->parts[0];
    CHECK_EQ_I64(cl->leader, 2);
    CHECK(cl->nisr == 1 && cl->isr[0] == 2);
    CHECK_EQ_I64(controller_elect_leader(c, tc, 0, true, &log, msg, sizeof msg), KERR_ELECTION_NOT_NEEDED);
    check_invariants(&im);
    /* the cluster default: unclean for every topic without an override */
    controller_set_unclean_default(c, true);
    kp_uuid td;
    CHECK_EQ_I64(controller_create_topic(c, "d", 1, 2, &(ctl_assignment){ (int32_t[]){ 2, 3 }, 2 }, NULL, 0, false,
                                         &td, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    const mi_partition *d = &mimage_topic(&im, "d", 1)->parts[0];
    int32_t only2[] = { 2 };
    CHECK_EQ_I64(controller_alter_partition(c, 2, epochs[2], td, 0, d->leader_epoch, d->partition_epoch, only2, 1,
                                            &log, &st), 0);
    CHECK_EQ_I64(controller_heartbeat(c, 2, epochs[2], 100, 100, false, true, 2100, &fenced, &shut, &log), 0);
    follow(&im, &log, &seen);
    d = &mimage_topic(&im, "d", 1)->parts[0];
    CHECK_EQ_I64(d->leader, 3);
    CHECK(d->nisr == 1 && d->isr[0] == 3);
    CHECK(mimage_equal(&im, controller_image(c)));
    check_invariants(&im);
    mimage_deinit(&im);
    mrec_list_deinit(&log);
    controller_free(c);
}

/* A broker whose heartbeat connection closed is fenced one grace period
 * later, not a session later; a controller that just became active gives
 * brokers the takeover grace, and a heartbeat gives back a whole session. */
static void test_session_shortcuts(void)
{
    controller *c = controller_new(1, 11);
    mrec_list log;
    mrec_list_init(&log);
    mimage im;
    mimage_init(&im);
    int seen = 0;
    int64_t epochs[4];
    three_up(c, epochs, &log, 1000);
    follow(&im, &log, &seen);
    controller_broker_disconnected(c, 3, 2000, 9000, 1000);
    controller_expire_sessions(c, 2900, 9000, &log);
    follow(&im, &log, &seen);
    CHECK(!mimage_broker(&im, 3)->fenced);
    controller_expire_sessions(c, 3100, 9000, &log);
    follow(&im, &log, &seen);
    CHECK(mimage_broker(&im, 3)->fenced);
    CHECK(!mimage_broker(&im, 2)->fenced);
    /* takeover: 4 s of grace; broker 1 heartbeats, broker 2 does not */
    controller_set_takeover_grace(c, 4000);
    controller_sessions_reset(c, 10000);
    bool fenced, shut;
    CHECK_EQ_I64(controller_heartbeat(c, 1, epochs[1], 100, 100, false, false, 11000, &fenced, &shut, &log), 0);
    controller_expire_sessions(c, 14500, 9000, &log);
    follow(&im, &log, &seen);
    CHECK(!mimage_broker(&im, 1)->fenced);
    CHECK(mimage_broker(&im, 2)->fenced);
    check_invariants(&im);
    mimage_deinit(&im);
    mrec_list_deinit(&log);
    controller_free(c);
}

/* Auto leader rebalance: a broker back in the ISR of the partitions it is
 * the preferred replica of gets them back once more than pct percent of
 * them are led by others; not while it is out of their ISR. */
static void test_rebalance(void)
{
    controller *c = controller_new(1, 13);
    mrec_list log;
    mrec_list_init(&log);
    mimage im;
    mimage_init(&im);
    int seen = 0;
    char msg[300];
    int64_t epochs[4];
    three_up(c, epochs, &log, 1000);
    ctl_assignment a[3] = { { (int32_t[]){ 1, 2, 3 }, 3 }, { (int32_t[]){ 2, 3, 1 }, 3 }, { (int32_t[]){ 3, 1, 2 }, 3 } };
    kp_uuid tid;
    CHECK_EQ_I64(controller_create_topic(c, "r", 3, 3, a, NULL, 0, false, &tid, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    CHECK_EQ_I64(controller_rebalance_leaders(c, 10, &log), 0); /* balanced */
    /* broker 3 goes and comes back: it follows, out of the ISR */
    bool fenced, shut;
    CHECK_EQ_I64(controller_heartbeat(c, 3, epochs[3], 100, 100, false, true, 2000, &fenced, &shut, &log), 0);
    follow(&im, &log, &seen);
    const mi_partition *p2 = &mimage_topic(&im, "r", 1)->parts[2];
    CHECK(p2->leader == 1 || p2->leader == 2);
    mi_endpoint ep = { "PLAINTEXT", "127.0.0.1", 9093, 0 };
    kp_uuid inc = { { 0x33 } };
    ctl_registration r3 = { 3, inc, &ep, 1, NULL };
    CHECK_EQ_I64(controller_register_broker(c, &r3, false, 2100, &epochs[3], &log, msg, sizeof msg), 0);
    CHECK_EQ_I64(controller_heartbeat(c, 3, epochs[3], 100, 100, false, false, 2200, &fenced, &shut, &log), 0);
    CHECK(!fenced);
    follow(&im, &log, &seen);
    CHECK_EQ_I64(controller_rebalance_leaders(c, 10, &log), 0); /* not in the ISR yet */
    /* its leader takes it back into the ISR; then it leads again */
    p2 = &mimage_topic(&im, "r", 1)->parts[2];
    int32_t isr[3] = { p2->isr[0], p2->isr[1], 3 };
    ctl_partition_state st;
    CHECK_EQ_I64(controller_alter_partition(c, p2->leader, epochs[p2->leader], tid, 2, p2->leader_epoch,
                                            p2->partition_epoch, isr, 3, &log, &st), 0);
    follow(&im, &log, &seen);
    CHECK_EQ_I64(controller_rebalance_leaders(c, 10, &log), 1);
    follow(&im, &log, &seen);
    CHECK_EQ_I64(mimage_topic(&im, "r", 1)->parts[2].leader, 3);
    CHECK_EQ_I64(controller_rebalance_leaders(c, 10, &log), 0);
    CHECK(mimage_equal(&im, controller_image(c)));
    check_invariants(&im);
    mimage_deinit(&im);
    mrec_list_deinit(&log);
    controller_free(c);
}

static bool in_set(const int32_t *v, int n, int32_t x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

/* A partition's sets agree: adding and removing are replicas, disjoint;
 * the ISR holds replicas only and the leader. */
static void check_reassign_sets(const mi_partition *mp)
{
    for (int i = 0; i < mp->nadding; i++) {
        CHECK(in_set(mp->replicas, mp->nreplicas, mp->adding[i]));
        CHECK(!in_set(mp->removing, mp->nremoving, mp->adding[i]));
    }
    for (int i = 0; i < mp->nremoving; i++)
        CHECK(in_set(mp->replicas, mp->nreplicas, mp->removing[i]));
    for (int i = 0; i < mp->nisr; i++)
        CHECK(in_set(mp->replicas, mp->nreplicas, mp->isr[i]));
    CHECK(mp->leader < 0 || in_set(mp->isr, mp->nisr, mp->leader));
}

static bool same_ints(const int32_t *v, int n, const int32_t *w, int m)
{
    return n == m && (n == 0 || memcmp(v, w, sizeof(*v) * (size_t)n) == 0);
}

/* The leader of partition p of "m" puts isr in the ISR. */
static int16_t alter_isr(controller *c, mimage *im, const int64_t *epochs, kp_uuid id, int32_t p, const int32_t *isr,
                         int n, mrec_list *log)
{
    const mi_partition *mp = &mimage_topic(im, "m", 1)->parts[p];
    ctl_partition_state st;
    return controller_alter_partition(c, mp->leader, epochs[mp->leader], id, p, mp->leader_epoch,
                                      mp->partition_epoch, isr, n, log, &st);
}

/* KIP-455 reassignment: {1,2,3} -> {2,3,4} grows to 2,3,4,1 (adding 4,
 * removing 1) with the ISR untouched, completes when 4 joins the ISR (the
 * leader leaves 1, the epoch moves); a shrink completes at once; a
 * reassignment to a down broker stays and its cancel puts the originals
 * back; refusals: empty, duplicate, unknown broker, RF change when not
 * allowed, no reassignment to cancel. */
static void test_reassign(void)
{
    controller *c = controller_new(1, 21);
    mrec_list log;
    mrec_list_init(&log);
    mimage im;
    mimage_init(&im);
    int seen = 0;
    char msg[300];
    int64_t epochs[5];
    bool fenced, shut;
    three_up(c, epochs, &log, 1000);
    mi_endpoint ep4 = { "PLAINTEXT", "127.0.0.1", 9094, 0 };
    ctl_registration r4 = { 4, { { 4 } }, &ep4, 1, NULL };
    CHECK_EQ_I64(controller_register_broker(c, &r4, false, 1000, &epochs[4], &log, msg, sizeof msg), 0);
    CHECK_EQ_I64(controller_heartbeat(c, 4, epochs[4], 100, 100, false, false, 1000, &fenced, &shut, &log), 0);
    ctl_assignment a[2] = { { (int32_t[]){ 1, 2, 3 }, 3 }, { (int32_t[]){ 1, 2, 3 }, 3 } };
    kp_uuid id;
    CHECK_EQ_I64(controller_create_topic(c, "m", 2, 3, a, NULL, 0, false, &id, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    const mi_partition *mp = &mimage_topic(&im, "m", 1)->parts[0];
    CHECK_EQ_I64(mp->leader, 1);
    int32_t epoch0 = mp->leader_epoch;

    /* refusals */
    CHECK_EQ_I64(controller_reassign(c, id, 0, (int32_t[]){ 0 }, 0, true, &log, msg, sizeof msg),
                 KERR_INVALID_REPLICA_ASSIGNMENT);
    CHECK_EQ_I64(controller_reassign(c, id, 0, (int32_t[]){ 2, 2 }, 2, true, &log, msg, sizeof msg),
                 KERR_INVALID_REPLICA_ASSIGNMENT);
    CHECK(strstr(msg, "broker 2 more than once") != NULL);
    CHECK_EQ_I64(controller_reassign(c, id, 0, (int32_t[]){ 2, 9 }, 2, true, &log, msg, sizeof msg),
                 KERR_INVALID_REPLICA_ASSIGNMENT);
    CHECK(strstr(msg, "no such broker is registered") != NULL);
    CHECK_EQ_I64(controller_reassign(c, id, 0, (int32_t[]){ 2, 3 }, 2, false, &log, msg, sizeof msg),
                 KERR_INVALID_REPLICATION_FACTOR);
    CHECK_EQ_I64(controller_reassign(c, id, 0, NULL, 0, true, &log, msg, sizeof msg),
                 KERR_NO_REASSIGNMENT_IN_PROGRESS);
    CHECK_EQ_I64(controller_reassign(c, id, 5, (int32_t[]){ 2 }, 1, true, &log, msg, sizeof msg),
                 KERR_UNKNOWN_TOPIC_OR_PARTITION);
    int before = log.n;
    CHECK_EQ_I64(controller_reassign(c, id, 0, (int32_t[]){ 1, 2, 3 }, 3, false, &log, msg, sizeof msg), 0);
    CHECK_EQ_I64(log.n, before); /* already so */

    /* {1,2,3} -> {2,3,4}: the growth */
    CHECK_EQ_I64(controller_reassign(c, id, 0, (int32_t[]){ 2, 3, 4 }, 3, false, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    mp = &mimage_topic(&im, "m", 1)->parts[0];
    check_reassign_sets(mp);
    CHECK(same_ints(mp->replicas, mp->nreplicas, (int32_t[]){ 2, 3, 4, 1 }, 4));
    CHECK(same_ints(mp->adding, mp->nadding, (int32_t[]){ 4 }, 1));
    CHECK(same_ints(mp->removing, mp->nremoving, (int32_t[]){ 1 }, 1));
    CHECK_EQ_I64(mp->nisr, 3);
    CHECK_EQ_I64(mp->leader, 1);
    /* the new replica catches up: the leader takes it in; that completes it */
    CHECK_EQ_I64(alter_isr(c, &im, epochs, id, 0, (int32_t[]){ 1, 2, 3, 4 }, 4, &log), 0);
    follow(&im, &log, &seen);
    mp = &mimage_topic(&im, "m", 1)->parts[0];
    check_reassign_sets(mp);
    CHECK(same_ints(mp->replicas, mp->nreplicas, (int32_t[]){ 2, 3, 4 }, 3));
    CHECK(mp->nadding == 0 && mp->nremoving == 0);
    CHECK_EQ_I64(mp->nisr, 3);
    CHECK(!in_set(mp->isr, mp->nisr, 1));
    CHECK_EQ_I64(mp->leader, 2);
    CHECK(mp->leader_epoch > epoch0);

    /* a shrink {1,2,3} -> {2,3} of partition 1 completes at once */
    CHECK_EQ_I64(controller_reassign(c, id, 1, (int32_t[]){ 2, 3 }, 2, true, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    mp = &mimage_topic(&im, "m", 1)->parts[1];
    check_reassign_sets(mp);
    CHECK(same_ints(mp->replicas, mp->nreplicas, (int32_t[]){ 2, 3 }, 2));
    CHECK(mp->nadding == 0 && mp->nremoving == 0 && mp->nisr == 2);
    CHECK(mp->leader == 2 || mp->leader == 3);

    /* to a broker that went away: it stays in progress; cancel restores */
    CHECK_EQ_I64(controller_heartbeat(c, 4, epochs[4], 100, 100, false, true, 2000, &fenced, &shut, &log), 0);
    follow(&im, &log, &seen);
    CHECK_EQ_I64(controller_reassign(c, id, 1, (int32_t[]){ 3, 4 }, 2, true, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    mp = &mimage_topic(&im, "m", 1)->parts[1];
    check_reassign_sets(mp);
    CHECK(same_ints(mp->replicas, mp->nreplicas, (int32_t[]){ 3, 4, 2 }, 3));
    CHECK(mp->nadding == 1 && mp->nremoving == 1);
    /* a second target replaces the first, computed from the originals */
    CHECK_EQ_I64(controller_reassign(c, id, 1, (int32_t[]){ 2, 4 }, 2, true, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    mp = &mimage_topic(&im, "m", 1)->parts[1];
    check_reassign_sets(mp);
    CHECK(same_ints(mp->replicas, mp->nreplicas, (int32_t[]){ 2, 4, 3 }, 3));
    CHECK(same_ints(mp->adding, mp->nadding, (int32_t[]){ 4 }, 1));
    CHECK(same_ints(mp->removing, mp->nremoving, (int32_t[]){ 3 }, 1));
    CHECK_EQ_I64(controller_reassign(c, id, 1, NULL, 0, true, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    mp = &mimage_topic(&im, "m", 1)->parts[1];
    check_reassign_sets(mp);
    CHECK(same_ints(mp->replicas, mp->nreplicas, (int32_t[]){ 2, 3 }, 2));
    CHECK(mp->nadding == 0 && mp->nremoving == 0 && mp->nisr == 2);
    CHECK_EQ_I64(controller_reassign(c, id, 1, NULL, 0, true, &log, msg, sizeof msg),
                 KERR_NO_REASSIGNMENT_IN_PROGRESS);

    /* a snapshot keeps a reassignment in progress */
    CHECK_EQ_I64(controller_reassign(c, id, 1, (int32_t[]){ 3, 4 }, 2, true, &log, msg, sizeof msg), 0);
    follow(&im, &log, &seen);
    mrec_list snap;
    mrec_list_init(&snap);
    mimage_write(&im, &snap);
    mimage re;
    mimage_init(&re);
    apply_all(&re, &snap, 0);
    CHECK(mimage_equal(&re, &im));
    mp = &mimage_topic(&re, "m", 1)->parts[1];
    CHECK(mp->nadding == 1 && mp->adding[0] == 4 && mp->nremoving == 1 && mp->removing[0] == 2);
    mimage_deinit(&re);
    mrec_list_deinit(&snap);

    CHECK(mimage_equal(&im, controller_image(c)));
    mimage_deinit(&im);
    mrec_list_deinit(&log);
    controller_free(c);
}

/* ---- finalized features (transaction.version) ---- */

/* The one record of l from `from` decodes as FeatureLevelRecord name=level. */
static void check_feature_record(const mrec_list *l, int i, const char *name, int16_t level)
{
    int32_t len;
    const uint8_t *v = mrec_get(l, i, &len);
    arena a;
    arena_init(&a, 512);
    kp_reader r;
    int key;
    int16_t ver;
    CHECK(mrec_open(&r, v, len, &a, &key, &ver) == 0);
    CHECK_EQ_I64(key, KP_REC_FEATURE_LEVEL_RECORD);
    kp_feature_level_record rec;
    CHECK(kp_feature_level_record_decode(&r, ver, &rec) == 0);
    CHECK(kp_str_eq(rec.name, name));
    CHECK_EQ_I64(rec.feature_level, level);
    arena_deinit(&a);
}

/* One update through the controller: its code, and msg when refused. */
static int16_t update1(controller *c, const char *name, int16_t level, int8_t type, bool validate_only,
                       mrec_list *out, char *msg, size_t msglen)
{
    ctl_feature_update u = { name, (int)strlen(name), level, type };
    msg[0] = '\0';
    return controller_update_features(c, &u, 1, validate_only, out, msg, msglen);
}

static void check_refused(controller *c, const char *name, int16_t level, int8_t type, const char *want)
{
    mrec_list out;
    mrec_list_init(&out);
    char msg[512];
    int16_t tv = controller_image(c)->transaction_version;
    CHECK_EQ_I64(update1(c, name, level, type, false, &out, msg, sizeof msg), KERR_INVALID_UPDATE_VERSION);
    if (strcmp(msg, want) != 0)
        fprintf(stderr, "got:  %s\nwant: %s\n", msg, want);
    CHECK(strcmp(msg, want) == 0);
    CHECK_EQ_I64(out.n, 0);
    CHECK_EQ_I64(controller_image(c)->transaction_version, tv);
    mrec_list_deinit(&out);
}

/* The image keeps transaction.version: applied from its record (level 0
 * included), in snapshots, copies, equality and diffs. */
static void test_feature_image(void)
{
    controller *c = controller_new(1, 7);
    mrec_list log;
    mrec_list_init(&log);
    controller_bootstrap(c, &log);
    CHECK_EQ_I64(log.n, 1);
    check_feature_record(&log, 0, "transaction.version", 2);
    CHECK_EQ_I64(controller_image(c)->transaction_version, 2);

    mimage im, fresh, cp;
    mimage_init(&im);
    mimage_init(&fresh);
    mdelta d;
    mdelta_init(&d);
    CHECK_EQ_I64(d.offset, -1);
    CHECK_EQ_I64(im.transaction_version, 0); /* an old log without the record: V1 */
    int32_t len;
    const uint8_t *v = mrec_get(&log, 0, &len);
    char err[128];
    CHECK(mimage_apply(&im, v, len, &d, err, sizeof err) == 0);
    CHECK_EQ_I64(im.transaction_version, 2);
    CHECK(d.n == 1 && d.ev[0].kind == MD_FEATURE);
    CHECK(!mimage_equal(&im, &fresh));
    CHECK(mimage_equal(&im, controller_image(c)));
    mdelta_clear(&d);
    mimage_diff(&fresh, &im, &d);
    CHECK(d.n == 1 && d.ev[0].kind == MD_FEATURE);
    mdelta_clear(&d);
    mimage_diff(&im, &im, &d);
    CHECK_EQ_I64(d.n, 0);

    /* a snapshot holds it, and gives the same image back */
    mrec_list snap;
    mrec_list_init(&snap);
    mimage_write(&im, &snap);
    CHECK_EQ_I64(snap.n, 1);
    check_feature_record(&snap, 0, "transaction.version", 2);
    apply_all(&fresh, &snap, 0);
    CHECK(mimage_equal(&fresh, &im));
    CHECK(mimage_copy(&cp, &im) == 0);
    CHECK_EQ_I64(cp.transaction_version, 2);
    mimage_deinit(&cp);

    /* level 0: not finalized, and no record in a snapshot (Kafka's absent
     * feature); metadata.version is another field */
    mrec_list_clear(&log);
    mrec_feature_level(&log, "transaction.version", 0);
    mrec_feature_level(&log, "metadata.version", 21);
    mrec_feature_level(&log, "group.version", 1); /* not kept: Gregor does not implement it */
    mdelta_clear(&d);
    for (int i = 0; i < log.n; i++) {
        v = mrec_get(&log, i, &len);
        CHECK(mimage_apply(&im, v, len, &d, err, sizeof err) == 0);
    }
    CHECK_EQ_I64(im.transaction_version, 0);
    CHECK_EQ_I64(im.metadata_version, 21);
    CHECK_EQ_I64(d.n, 2);
    mrec_list_clear(&snap);
    mimage_write(&im, &snap);
    CHECK_EQ_I64(snap.n, 1);
    check_feature_record(&snap, 0, "metadata.version", 21);
    mdelta_deinit(&d);
    mrec_list_deinit(&snap);
    mrec_list_deinit(&log);
    mimage_deinit(&im);
    mimage_deinit(&fresh);
    controller_free(c);
}

/* UpdateFeatures' decisions, with Kafka 4.4's answers to the same
 * requests (its messages, byte for byte). */
static void test_feature_updates(void)
{
    controller *c = controller_new(3, 7);
    mrec_list out;
    mrec_list_init(&out);
    char msg[512];
    controller_bootstrap(c, &out);
    mrec_list_clear(&out);
    const char *pre = "Invalid update version ";
    char want[512];
    snprintf(want, sizeof want, "%s1 for feature transaction.version. The controller does not support the given "
             "upgrade type.", pre);
    check_refused(c, "transaction.version", 1, 0, want);
    check_refused(c, "transaction.version", 1, 4, want);
    snprintf(want, sizeof want, "%s-1 for feature transaction.version. A feature version cannot be less than 0.", pre);
    check_refused(c, "transaction.version", -1, FEATURE_SAFE_DOWNGRADE, want);
    snprintf(want, sizeof want, "%s1 for feature foo.bar. Local controller 3 does not support this feature.", pre);
    check_refused(c, "foo.bar", 1, FEATURE_UPGRADE, want);
    snprintf(want, sizeof want, "%s0 for feature foo.bar. Feature foo.bar not found.", pre);
    check_refused(c, "foo.bar", 0, FEATURE_SAFE_DOWNGRADE, want);
    snprintf(want, sizeof want, "%s20 for feature metadata.version. Local controller 3 does not support this "
             "feature.", pre);
    check_refused(c, "metadata.version", 20, FEATURE_SAFE_DOWNGRADE, want);
    snprintf(want, sizeof want, "%s3 for feature transaction.version. Local controller 3 only supports versions 0-2",
             pre);
    check_refused(c, "transaction.version", 3, FEATURE_UPGRADE, want);
    snprintf(want, sizeof want, "%s1 for feature transaction.version. Can't downgrade the version of this feature "
             "without setting the upgrade type to either safe or unsafe downgrade.", pre);
    check_refused(c, "transaction.version", 1, FEATURE_UPGRADE, want);

    /* validate_only: accepted, nothing written */
    CHECK_EQ_I64(update1(c, "transaction.version", 1, FEATURE_SAFE_DOWNGRADE, true, &out, msg, sizeof msg), 0);
    CHECK_EQ_I64(out.n, 0);
    CHECK_EQ_I64(controller_image(c)->transaction_version, 2);
    /* the same level again: a record (the epoch moves, as in Kafka) */
    CHECK_EQ_I64(update1(c, "transaction.version", 2, FEATURE_UPGRADE, false, &out, msg, sizeof msg), 0);
    CHECK_EQ_I64(out.n, 1);
    /* safe and unsafe downgrades both go, down to 0 */
    CHECK_EQ_I64(update1(c, "transaction.version", 1, FEATURE_SAFE_DOWNGRADE, false, &out, msg, sizeof msg), 0);
    check_feature_record(&out, 1, "transaction.version", 1);
    CHECK_EQ_I64(controller_image(c)->transaction_version, 1);
    snprintf(want, sizeof want, "%s2 for feature transaction.version. Can't downgrade to a newer version.", pre);
    check_refused(c, "transaction.version", 2, FEATURE_SAFE_DOWNGRADE, want);
    check_refused(c, "transaction.version", 2, FEATURE_UNSAFE_DOWNGRADE, want);
    CHECK_EQ_I64(update1(c, "transaction.version", 0, FEATURE_UNSAFE_DOWNGRADE, false, &out, msg, sizeof msg), 0);
    CHECK_EQ_I64(controller_image(c)->transaction_version, 0);
    CHECK_EQ_I64(update1(c, "transaction.version", 2, FEATURE_UPGRADE, false, &out, msg, sizeof msg), 0);
    CHECK_EQ_I64(controller_image(c)->transaction_version, 2);

    /* several: a name's last update wins; one refused refuses all */
    mrec_list_clear(&out);
    ctl_feature_update two[2] = { { "transaction.version", 19, 9, FEATURE_UPGRADE },
                                  { "transaction.version", 19, 1, FEATURE_SAFE_DOWNGRADE } };
    CHECK_EQ_I64(controller_update_features(c, two, 2, false, &out, msg, sizeof msg), 0);
    CHECK_EQ_I64(out.n, 1);
    check_feature_record(&out, 0, "transaction.version", 1);
    mrec_list_clear(&out);
    ctl_feature_update bad[2] = { { "transaction.version", 19, 2, FEATURE_UPGRADE }, { "foo", 3, 1, FEATURE_UPGRADE } };
    CHECK_EQ_I64(controller_update_features(c, bad, 2, false, &out, msg, sizeof msg), KERR_INVALID_UPDATE_VERSION);
    CHECK(strcmp(msg, "Invalid update version 1 for feature foo. Local controller 3 does not support this "
                      "feature.") == 0);
    CHECK_EQ_I64(out.n, 0);
    CHECK_EQ_I64(controller_image(c)->transaction_version, 1);
    /* an unknown name twice: its last update is the one checked (level 0: not found) */
    ctl_feature_update foo2[2] = { { "foo", 3, 1, FEATURE_UPGRADE }, { "foo", 3, 0, FEATURE_SAFE_DOWNGRADE } };
    CHECK_EQ_I64(controller_update_features(c, foo2, 2, false, &out, msg, sizeof msg), KERR_INVALID_UPDATE_VERSION);
    CHECK(strcmp(msg, "Invalid update version 0 for feature foo. Feature foo not found.") == 0);
    /* a request of 200,000 updates (a 1 MB frame) is decided in linear time */
    int many = 200000;
    ctl_feature_update *big = calloc((size_t)many, sizeof(*big));
    for (int i = 0; big && i < many; i++)
        big[i] = (ctl_feature_update){ "transaction.version", 19, (int16_t)(i % 3), FEATURE_UNSAFE_DOWNGRADE };
    if (big) {
        big[many - 1].level = 1;
        CHECK_EQ_I64(controller_update_features(c, big, many, false, &out, msg, sizeof msg), 0);
        CHECK_EQ_I64(out.n, 1);
        check_feature_record(&out, 0, "transaction.version", 1);
        mrec_list_clear(&out);
        for (int i = 0; i < many; i++)
            big[i] = (ctl_feature_update){ i % 2 ? "foo" : "bar", 3, 1, FEATURE_UPGRADE };
        CHECK_EQ_I64(controller_update_features(c, big, many, false, &out, msg, sizeof msg),
                     KERR_INVALID_UPDATE_VERSION);
        CHECK_EQ_I64(out.n, 0);
    }
    free(big);
    /* none at all: nothing to do */
    CHECK_EQ_I64(controller_update_features(c, NULL, 0, false, &out, msg, sizeof msg), 0);
    CHECK_EQ_I64(out.n, 0);
    /* a name with a NUL byte is not transaction.version */
    ctl_feature_update nul = { "transaction.version\0x", 21, 2, FEATURE_UPGRADE };
    CHECK_EQ_I64(controller_update_features(c, &nul, 1, false, &out, msg, sizeof msg), KERR_INVALID_UPDATE_VERSION);
    CHECK_EQ_I64(out.n, 0);
    mrec_list_deinit(&out);
    controller_free(c);
}

int main(void)
{
    test_feature_image();
    test_feature_updates();
    test_delta();
    test_brokers();
    test_unclean();
    test_rebalance();
    test_reassign();
    test_session_shortcuts();
    test_walk(3000);
    TEST_REPORT();
}
