/*
 * image.c - see image.h.
 *
 * Topics live in two sorted pointer arrays (by name, by id): lookups are
 * binary searches, an insert or removal moves pointers (a metadata change is
 * rare; a lookup is per request). Every string and array is malloc'd and
 * owned by the image.
 */
#include "controller/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "kafka_msgs.h"

/* ---- delta ---- */

void mdelta_init(mdelta *d)
{
    memset(d, 0, sizeof(*d));
    d->offset = -1;
}

void mdelta_clear(mdelta *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->ev[i].name);
    d->n = 0;
}

void mdelta_deinit(mdelta *d)
{
    mdelta_clear(d);
    free(d->ev);
    mdelta_init(d);
}

static void delta_add(mdelta *d, mdelta_kind kind, const mi_topic *t, int32_t partition, int32_t broker);

void mdelta_add_caught_up(mdelta *d) { delta_add(d, MD_CAUGHT_UP, NULL, -1, -1); }

static void delta_add(mdelta *d, mdelta_kind kind, const mi_topic *t, int32_t partition, int32_t broker)
{
    if (!d)
        return;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        mdelta_event *ev = realloc(d->ev, sizeof(*ev) * (size_t)cap);
        if (!ev)
            return; /* the listeners miss one event; the image is still right */
        d->ev = ev;
        d->cap = cap;
    }
    mdelta_event *e = &d->ev[d->n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->partition = partition;
    e->broker = broker;
    if (t) {
        e->topic_id = t->id;
        e->name = strdup(t->name);
    }
}

/* ---- topics ---- */

static int uuid_cmp(kp_uuid a, kp_uuid b) { return memcmp(a.b, b.b, 16); }

static int name_cmp(const mi_topic *t, const char *name, int len)
{
    int tl = (int)strlen(t->name);
    int c = memcmp(t->name, name, (size_t)(tl < len ? tl : len));
    return c ? c : tl - len;
}

/* Index of the first topic whose name is >= name; *found when equal. */
static int find_name(const mimage *im, const char *name, int len, bool *found)
{
    int lo = 0, hi = im->ntopics;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (name_cmp(im->by_name[mid], name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < im->ntopics && name_cmp(im->by_name[lo], name, len) == 0;
    return lo;
}

static int find_id(const mimage *im, kp_uuid id, bool *found)
{
    int lo = 0, hi = im->ntopics;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (uuid_cmp(im->by_id[mid]->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < im->ntopics && uuid_cmp(im->by_id[lo]->id, id) == 0;
    return lo;
}

const mi_topic *mimage_topic(const mimage *im, const char *name, int len)
{
    bool found;
    int i = find_name(im, name, len, &found);
    return found ? im->by_name[i] : NULL;
}

const mi_topic *mimage_topic_by_id(const mimage *im, kp_uuid id)
{
    bool found;
    int i = find_id(im, id, &found);
    return found ? im->by_id[i] : NULL;
}

const mi_broker *mimage_broker(const mimage *im, int32_t id)
{
    int lo = 0, hi = im->nbrokers;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (im->brokers[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < im->nbrokers && im->brokers[lo].id == id ? &im->brokers[lo] : NULL;
}

const char *mi_topic_config(const mi_topic *t, const char *name)
{
    for (int i = 0; i < t->ncfg; i++)
        if (strcmp(t->cfg[i].name, name) == 0)
            return t->cfg[i].value;
    return NULL;
}

static void partition_free(mi_partition *p)
{
    free(p->replicas);
    free(p->isr);
    free(p->removing);
    free(p->adding);
}

static void topic_free(mi_topic *t)
{
    if (!t)
        return;
    for (int32_t i = 0; i < t->nparts; i++)
        partition_free(&t->parts[i]);
    free(t->parts);
    for (int i = 0; i < t->ncfg; i++) {
        free(t->cfg[i].name);
        free(t->cfg[i].value);
    }
    free(t->cfg);
    free(t->name);
    free(t);
}

static void broker_free(mi_broker *b)
{
    for (int i = 0; i < b->neps; i++) {
        free(b->eps[i].name);
        free(b->eps[i].host);
    }
    free(b->eps);
    free(b->rack);
}

void mimage_init(mimage *im) { memset(im, 0, sizeof(*im)); }

void mimage_deinit(mimage *im)
{
    for (int i = 0; i < im->ntopics; i++)
        topic_free(im->by_name[i]);
    free(im->by_name);
    free(im->by_id);
    for (int i = 0; i < im->nbrokers; i++)
        broker_free(&im->brokers[i]);
    free(im->brokers);
    memset(im, 0, sizeof(*im));
}

static int32_t *dup_ints(const int32_t *v, int n)
{
    int32_t *d = malloc(sizeof(*d) * (size_t)(n > 0 ? n : 1));
    if (d && n > 0)
        memcpy(d, v, sizeof(*d) * (size_t)n);
    return d;
}

static char *dup_str(const char *s) { return s ? strdup(s) : NULL; }

static mi_topic *topic_copy(const mi_topic *s)
{
    mi_topic *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->name = strdup(s->name);
    t->id = s->id;
    t->parts = calloc((size_t)(s->nparts > 0 ? s->nparts : 1), sizeof(*t->parts));
    t->cfg = calloc((size_t)(s->ncfg > 0 ? s->ncfg : 1), sizeof(*t->cfg));
    if (!t->name || !t->parts || !t->cfg) {
        topic_free(t);
        return NULL;
    }
    for (int32_t i = 0; i < s->nparts; i++) {
        mi_partition *d = &t->parts[i];
        const mi_partition *p = &s->parts[i];
        *d = *p;
        d->replicas = dup_ints(p->replicas, p->nreplicas);
        d->isr = dup_ints(p->isr, p->nisr);
        d->removing = dup_ints(p->removing, p->nremoving);
        d->adding = dup_ints(p->adding, p->nadding);
        t->nparts = i + 1;
        if (!d->replicas || !d->isr || !d->removing || !d->adding) {
            topic_free(t);
            return NULL;
        }
    }
    for (int i = 0; i < s->ncfg; i++) {
        t->cfg[i].name = strdup(s->cfg[i].name);
        t->cfg[i].value = strdup(s->cfg[i].value);
        t->ncfg = i + 1;
        if (!t->cfg[i].name || !t->cfg[i].value) {
            topic_free(t);
            return NULL;
        }
    }
    return t;
}

int mimage_copy(mimage *dst, const mimage *src)
{
    mimage_init(dst);
    int cap = src->ntopics > 0 ? src->ntopics : 1;
    dst->by_name = malloc(sizeof(*dst->by_name) * (size_t)cap);
    dst->by_id = malloc(sizeof(*dst->by_id) * (size_t)cap);
    dst->brokers = calloc((size_t)(src->nbrokers > 0 ? src->nbrokers : 1), sizeof(*dst->brokers));
    if (!dst->by_name || !dst->by_id || !dst->brokers)
        goto oom;
    dst->cap = cap;
    for (int i = 0; i < src->ntopics; i++) {
        mi_topic *t = topic_copy(src->by_name[i]);
        if (!t)
            goto oom;
        dst->by_name[i] = t;
        dst->ntopics = i + 1;
    }
    memcpy(dst->by_id, dst->by_name, sizeof(*dst->by_id) * (size_t)dst->ntopics);
    for (int i = 0; i < dst->ntopics; i++) { /* by_id: sort the copies as src's by_id is */
        bool found;
        int at = find_id(src, dst->by_name[i]->id, &found);
        dst->by_id[at] = dst->by_name[i];
    }
    for (int i = 0; i < src->nbrokers; i++) {
        const mi_broker *s = &src->brokers[i];
        mi_broker *b = &dst->brokers[i];
        *b = *s;
        b->rack = dup_str(s->rack);
        b->eps = calloc((size_t)(s->neps > 0 ? s->neps : 1), sizeof(*b->eps));
        b->neps = 0;
        dst->nbrokers = i + 1;
        if (!b->eps || (s->rack && !b->rack))
            goto oom;
        for (int j = 0; j < s->neps; j++) {
            b->eps[j] = s->eps[j];
            b->eps[j].name = strdup(s->eps[j].name);
            b->eps[j].host = strdup(s->eps[j].host);
            b->neps = j + 1;
            if (!b->eps[j].name || !b->eps[j].host)
                goto oom;
        }
    }
    dst->next_producer_id = src->next_producer_id;
    dst->metadata_version = src->metadata_version;
    dst->transaction_version = src->transaction_version;
    return 0;
oom:
    mimage_deinit(dst);
    return -1;
}

static int topic_insert(mimage *im, mi_topic *t)
{
    if (im->ntopics == im->cap) {
        int cap = im->cap ? im->cap * 2 : 16;
        mi_topic **bn = realloc(im->by_name, sizeof(*bn) * (size_t)cap);
        if (!bn)
            return -1;
        im->by_name = bn;
        mi_topic **bi = realloc(im->by_id, sizeof(*bi) * (size_t)cap);
        if (!bi)
            return -1;
        im->by_id = bi;
        im->cap = cap;
    }
    bool found;
    int at = find_name(im, t->name, (int)strlen(t->name), &found);
    memmove(&im->by_name[at + 1], &im->by_name[at], sizeof(*im->by_name) * (size_t)(im->ntopics - at));
    im->by_name[at] = t;
    at = find_id(im, t->id, &found);
    memmove(&im->by_id[at + 1], &im->by_id[at], sizeof(*im->by_id) * (size_t)(im->ntopics - at));
    im->by_id[at] = t;
    im->ntopics++;
    return 0;
}

static void topic_remove(mimage *im, mi_topic *t)
{
    bool found;
    int at = find_name(im, t->name, (int)strlen(t->name), &found);
    memmove(&im->by_name[at], &im->by_name[at + 1], sizeof(*im->by_name) * (size_t)(im->ntopics - at - 1));
    at = find_id(im, t->id, &found);
    memmove(&im->by_id[at], &im->by_id[at + 1], sizeof(*im->by_id) * (size_t)(im->ntopics - at - 1));
    im->ntopics--;
    topic_free(t);
}

static int topic_set_config(mi_topic *t, const char *name, const char *value)
{
    int i = 0;
    while (i < t->ncfg && strcmp(t->cfg[i].name, name) < 0)
        i++;
    bool exists = i < t->ncfg && strcmp(t->cfg[i].name, name) == 0;
    if (!value) {
        if (exists) {
            free(t->cfg[i].name);
            free(t->cfg[i].value);
            memmove(&t->cfg[i], &t->cfg[i + 1], sizeof(*t->cfg) * (size_t)(t->ncfg - i - 1));
            t->ncfg--;
        }
        return 0;
    }
    char *v = strdup(value);
    if (!v)
        return -1;
    if (exists) {
        free(t->cfg[i].value);
        t->cfg[i].value = v;
        return 0;
    }
    char *n = strdup(name);
    mi_config *c = realloc(t->cfg, sizeof(*c) * (size_t)(t->ncfg + 1));
    if (!n || !c) {
        free(n);
        free(v);
        if (c)
            t->cfg = c;
        return -1;
    }
    t->cfg = c;
    memmove(&t->cfg[i + 1], &t->cfg[i], sizeof(*t->cfg) * (size_t)(t->ncfg - i));
    t->cfg[i].name = n;
    t->cfg[i].value = v;
    t->ncfg++;
    return 0;
}

/* ---- apply ---- */

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory applying a metadata record");
    return -1;
}

/* A string with a NUL byte would be cut short in the image (and written
 * back unlike it was read): such a record is refused as malformed. */
static bool has_nul(kp_str s)
{
    return s.len > 0 && memchr(s.ptr, 0, (size_t)s.len) != NULL;
}

static int refuse_nul(const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s holds a NUL byte", what);
    return -1;
}

static int apply_topic(mimage *im, const kp_topic_record *rec, mdelta *d, char *err, size_t errlen)
{
    if (rec->name.len <= 0) {
        snprintf(err, errlen, "TopicRecord without a name");
        return -1;
    }
    if (has_nul(rec->name))
        return refuse_nul("TopicRecord's name", err, errlen);
    bool found;
    find_name(im, rec->name.ptr, rec->name.len, &found);
    if (found || mimage_topic_by_id(im, rec->topic_id))
        return 0; /* Kafka's loader would refuse the log; a replay keeps the first */
    mi_topic *t = calloc(1, sizeof(*t));
    if (!t)
        return oom(err, errlen);
    t->name = strndup(rec->name.ptr, (size_t)rec->name.len);
    t->id = rec->topic_id;
    if (!t->name || topic_insert(im, t) != 0) {
        topic_free(t);
        return oom(err, errlen);
    }
    delta_add(d, MD_TOPIC_CREATED, t, -1, -1);
    return 0;
}

static int apply_partition(mimage *im, const kp_partition_record *rec, mdelta *d, char *err, size_t errlen)
{
    mi_topic *t = (mi_topic *)mimage_topic_by_id(im, rec->topic_id);
    if (!t || rec->partition_id < 0 || rec->partition_id > t->nparts)
        return 0; /* unknown topic, or a hole: skipped */
    mi_partition np = {
        .replicas = dup_ints(rec->replicas, rec->replicas_n),
        .nreplicas = rec->replicas_n > 0 ? rec->replicas_n : 0,
        .isr = dup_ints(rec->isr, rec->isr_n),
        .nisr = rec->isr_n > 0 ? rec->isr_n : 0,
        .leader = rec->leader,
        .leader_epoch = rec->leader_epoch,
        .partition_epoch = rec->partition_epoch,
        .removing = dup_ints(rec->removing_replicas, rec->removing_replicas_n),
        .nremoving = rec->removing_replicas_n > 0 ? rec->removing_replicas_n : 0,
        .adding = dup_ints(rec->adding_replicas, rec->adding_replicas_n),
        .nadding = rec->adding_replicas_n > 0 ? rec->adding_replicas_n : 0,
    };
    if (!np.replicas || !np.isr || !np.removing || !np.adding) {
        partition_free(&np);
        return oom(err, errlen);
    }
    if (rec->partition_id < t->nparts) { /* a PartitionRecord again: the new state */
        partition_free(&t->parts[rec->partition_id]);
        t->parts[rec->partition_id] = np;
        delta_add(d, MD_PARTITION_CHANGED, t, rec->partition_id, -1);
        return 0;
    }
    mi_partition *parts = realloc(t->parts, sizeof(*parts) * (size_t)(t->nparts + 1));
    if (!parts) {
        partition_free(&np);
        return oom(err, errlen);
    }
    t->parts = parts;
    t->parts[t->nparts++] = np;
    delta_add(d, MD_PARTITION_ADDED, t, rec->partition_id, -1);
    return 0;
}

static int apply_config(mimage *im, const kp_config_record *rec, mdelta *d, char *err, size_t errlen)
{
    if (rec->name.len <= 0) {
        snprintf(err, errlen, "ConfigRecord without a name");
        return -1;
    }
    if (has_nul(rec->name) || has_nul(rec->value) || has_nul(rec->resource_name))
        return refuse_nul("ConfigRecord", err, errlen);
    if (rec->resource_type != MREC_RESOURCE_TOPIC)
        return 0; /* broker configs are not kept in the image yet */
    mi_topic *t = (mi_topic *)mimage_topic(im, rec->resource_name.ptr, rec->resource_name.len);
    if (!t)
        return 0;
    char *name = strndup(rec->name.ptr, (size_t)rec->name.len);
    char *value = rec->value.len >= 0 ? strndup(rec->value.ptr, (size_t)rec->value.len) : NULL;
    int rc = !name || (rec->value.len >= 0 && !value) ? -1 : topic_set_config(t, name, value);
    free(name);
    free(value);
    if (rc != 0)
        return oom(err, errlen);
    delta_add(d, MD_TOPIC_CONFIG, t, -1, -1);
    return 0;
}

/* ---- brokers ---- */

static int broker_slot(mimage *im, int32_t id, bool *found)
{
    int lo = 0, hi = im->nbrokers;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (im->brokers[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < im->nbrokers && im->brokers[lo].id == id;
    return lo;
}

static int apply_register_broker(mimage *im, const kp_register_broker_record *rec, mdelta *d, char *err,
                                 size_t errlen)
{
    if (has_nul(rec->rack))
        return refuse_nul("RegisterBrokerRecord's rack", err, errlen);
    for (int i = 0; i < rec->end_points_n; i++)
        if (has_nul(rec->end_points[i].name) || has_nul(rec->end_points[i].host))
            return refuse_nul("RegisterBrokerRecord's endpoint", err, errlen);
    mi_broker nb = {
        .id = rec->broker_id,
        .epoch = rec->broker_epoch,
        .incarnation = rec->incarnation_id,
        .rack = rec->rack.len >= 0 ? strndup(rec->rack.ptr, (size_t)rec->rack.len) : NULL,
        .eps = calloc((size_t)(rec->end_points_n > 0 ? rec->end_points_n : 1), sizeof(mi_endpoint)),
        .fenced = rec->fenced,
        .shutting_down = rec->in_controlled_shutdown,
    };
    bool bad = !nb.eps || (rec->rack.len >= 0 && !nb.rack);
    for (int i = 0; !bad && i < rec->end_points_n; i++) {
        const kp_register_broker_record_broker_endpoint *e = &rec->end_points[i];
        mi_endpoint *m = &nb.eps[nb.neps++];
        m->name = strndup(e->name.ptr, (size_t)(e->name.len > 0 ? e->name.len : 0));
        m->host = strndup(e->host.ptr, (size_t)(e->host.len > 0 ? e->host.len : 0));
        m->port = e->port;
        m->security_protocol = e->security_protocol;
        bad = !m->name || !m->host;
    }
    bool found;
    int at = broker_slot(im, rec->broker_id, &found);
    if (!bad && !found) {
        mi_broker *nbs = realloc(im->brokers, sizeof(*nbs) * (size_t)(im->nbrokers + 1));
        if (!nbs)
            bad = true;
        else
            im->brokers = nbs;
    }
    if (bad) {
        broker_free(&nb);
        return oom(err, errlen);
    }
    if (found) {
        broker_free(&im->brokers[at]);
    } else {
        memmove(&im->brokers[at + 1], &im->brokers[at], sizeof(*im->brokers) * (size_t)(im->nbrokers - at));
        im->nbrokers++;
    }
    im->brokers[at] = nb;
    delta_add(d, MD_BROKER_CHANGED, NULL, -1, nb.id);
    return 0;
}

/* The broker of (id, epoch), or NULL: records of an older registration are
 * ignored, as Kafka's ClusterControlManager does. */
static mi_broker *broker_at_epoch(mimage *im, int32_t id, int64_t epoch)
{
    bool found;
    int at = broker_slot(im, id, &found);
    return found && im->brokers[at].epoch == epoch ? &im->brokers[at] : NULL;
}

static void apply_unregister_broker(mimage *im, int32_t id, int64_t epoch, mdelta *d)
{
    bool found;
    int at = broker_slot(im, id, &found);
    if (!found || im->brokers[at].epoch != epoch)
        return;
    broker_free(&im->brokers[at]);
    memmove(&im->brokers[at], &im->brokers[at + 1], sizeof(*im->brokers) * (size_t)(im->nbrokers - at - 1));
    im->nbrokers--;
    delta_add(d, MD_BROKER_CHANGED, NULL, -1, id);
}

static void apply_fencing(mimage *im, int32_t id, int64_t epoch, int fence, int shutdown, mdelta *d)
{
    mi_broker *b = broker_at_epoch(im, id, epoch);
    if (!b)
        return;
    if (fence == 1)
        b->fenced = true;
    else if (fence == -1)
        b->fenced = false;
    if (shutdown == 1)
        b->shutting_down = true;
    delta_add(d, MD_BROKER_CHANGED, NULL, -1, id);
}

/* PartitionChangeRecord: Kafka's PartitionRegistration.merge. */
static int apply_partition_change(mimage *im, const kp_partition_change_record *rec, mdelta *d, char *err,
                                  size_t errlen)
{
    mi_topic *t = (mi_topic *)mimage_topic_by_id(im, rec->topic_id);
    if (!t || rec->partition_id < 0 || rec->partition_id >= t->nparts)
        return 0;
    mi_partition *p = &t->parts[rec->partition_id];
    /* The four arrays the record may set (absent: -1), copied first so that
     * running out of memory leaves the partition as it was. */
    struct {
        const int32_t *v;
        int32_t n;
        int32_t **dst, *ndst;
    } ch[4] = {
        { rec->replicas, rec->replicas ? rec->replicas_n : -1, &p->replicas, &p->nreplicas },
        { rec->isr, rec->isr_n, &p->isr, &p->nisr },
        { rec->removing_replicas, rec->removing_replicas_n, &p->removing, &p->nremoving },
        { rec->adding_replicas, rec->adding_replicas_n, &p->adding, &p->nadding },
    };
    int32_t *copy[4] = { NULL, NULL, NULL, NULL };
    for (int i = 0; i < 4; i++) {
        if (ch[i].n >= 0 && !(copy[i] = dup_ints(ch[i].v, ch[i].n))) {
            for (int k = 0; k < i; k++)
                free(copy[k]);
            return oom(err, errlen);
        }
    }
    for (int i = 0; i < 4; i++) {
        if (ch[i].n >= 0) {
            free(*ch[i].dst);
            *ch[i].dst = copy[i];
            *ch[i].ndst = ch[i].n;
        }
    }
    if (rec->leader != -2) {
        p->leader = rec->leader;
        p->leader_epoch++;
    }
    p->partition_epoch++;
    delta_add(d, MD_PARTITION_CHANGED, t, rec->partition_id, -1);
    return 0;
}

static int apply_remove_topic(mimage *im, const kp_remove_topic_record *rec, mdelta *d)
{
    mi_topic *t = (mi_topic *)mimage_topic_by_id(im, rec->topic_id);
    if (!t)
        return 0;
    delta_add(d, MD_TOPIC_REMOVED, t, t->nparts, -1);
    topic_remove(im, t);
    return 0;
}

int mimage_apply(mimage *im, const uint8_t *val, int32_t len, mdelta *d, char *err, size_t errlen)
{
    arena a;
    arena_init(&a, 4096);
    kp_reader r;
    int key;
    int16_t v;
    int rc = 0;
    if (errlen)
        err[0] = '\0';
    if (mrec_open(&r, val, len, &a, &key, &v) != 0) {
        snprintf(err, errlen, "not a metadata record frame");
        rc = -1;
        goto out;
    }
    /* A type we know at a version we do not: newer than this code. Skipped,
     * like an unknown type, rather than misread. */
    const kp_record_info *ri = kp_record_find_key((int16_t)key);
    if (!ri || v < ri->min_version || v > ri->max_version)
        goto out;
    switch (key) {
    case KP_REC_TOPIC_RECORD: {
        kp_topic_record rec;
        rc = kp_topic_record_decode(&r, v, &rec) != 0 ? -1 : apply_topic(im, &rec, d, err, errlen);
        break;
    }
    case KP_REC_PARTITION_RECORD: {
        kp_partition_record rec;
        rc = kp_partition_record_decode(&r, v, &rec) != 0 ? -1 : apply_partition(im, &rec, d, err, errlen);
        break;
    }
    case KP_REC_CONFIG_RECORD: {
        kp_config_record rec;
        rc = kp_config_record_decode(&r, v, &rec) != 0 ? -1 : apply_config(im, &rec, d, err, errlen);
        break;
    }
    case KP_REC_REMOVE_TOPIC_RECORD: {
        kp_remove_topic_record rec;
        rc = kp_remove_topic_record_decode(&r, v, &rec) != 0 ? -1 : apply_remove_topic(im, &rec, d);
        break;
    }
    case KP_REC_PRODUCER_IDS_RECORD: {
        kp_producer_ids_record rec;
        if (kp_producer_ids_record_decode(&r, v, &rec) != 0) {
            rc = -1;
            break;
        }
        if (rec.next_producer_id > im->next_producer_id) {
            im->next_producer_id = rec.next_producer_id;
            delta_add(d, MD_PRODUCER_IDS, NULL, -1, rec.broker_id);
        }
        break;
    }
    case KP_REC_FEATURE_LEVEL_RECORD: {
        kp_feature_level_record rec;
        if (kp_feature_level_record_decode(&r, v, &rec) != 0) {
            rc = -1;
            break;
        }
        /* Level 0 is Kafka's "not finalized": the feature leaves its
         * finalized map; here the field holds 0. Other features are not
         * kept (Gregor implements none of them). */
        int16_t *level = kp_str_eq(rec.name, MI_FEATURE_METADATA_VERSION)      ? &im->metadata_version
                         : kp_str_eq(rec.name, MI_FEATURE_TRANSACTION_VERSION) ? &im->transaction_version
                                                                               : NULL;
        if (level) {
            *level = rec.feature_level > 0 ? rec.feature_level : 0;
            delta_add(d, MD_FEATURE, NULL, -1, -1);
        }
        break;
    }
    case KP_REC_REGISTER_BROKER_RECORD: {
        kp_register_broker_record rec;
        rc = kp_register_broker_record_decode(&r, v, &rec) != 0 ? -1 : apply_register_broker(im, &rec, d, err, errlen);
        break;
    }
    case KP_REC_UNREGISTER_BROKER_RECORD: {
        kp_unregister_broker_record rec;
        if ((rc = kp_unregister_broker_record_decode(&r, v, &rec) != 0 ? -1 : 0) == 0)
            apply_unregister_broker(im, rec.broker_id, rec.broker_epoch, d);
        break;
    }
    case KP_REC_FENCE_BROKER_RECORD: {
        kp_fence_broker_record rec;
        if ((rc = kp_fence_broker_record_decode(&r, v, &rec) != 0 ? -1 : 0) == 0)
            apply_fencing(im, rec.id, rec.epoch, 1, 0, d);
        break;
    }
    case KP_REC_UNFENCE_BROKER_RECORD: {
        kp_unfence_broker_record rec;
        if ((rc = kp_unfence_broker_record_decode(&r, v, &rec) != 0 ? -1 : 0) == 0)
            apply_fencing(im, rec.id, rec.epoch, -1, 0, d);
        break;
    }
    case KP_REC_BROKER_REGISTRATION_CHANGE_RECORD: {
        /* fenced: 1 fence, -1 unfence, 0 no change (Kafka's
         * BrokerRegistrationFencingChange); in_controlled_shutdown: 1 */
        kp_broker_registration_change_record rec;
        if ((rc = kp_broker_registration_change_record_decode(&r, v, &rec) != 0 ? -1 : 0) == 0)
            apply_fencing(im, rec.broker_id, rec.broker_epoch, rec.fenced, rec.in_controlled_shutdown, d);
        break;
    }
    case KP_REC_PARTITION_CHANGE_RECORD: {
        kp_partition_change_record rec;
        rc = kp_partition_change_record_decode(&r, v, &rec) != 0 ? -1 : apply_partition_change(im, &rec, d, err, errlen);
        break;
    }
    default:
        break;
    }
    if (rc != 0 && err[0] == '\0')
        snprintf(err, errlen, "%s version %d does not decode", ri->name, v);
out:
    arena_deinit(&a);
    return rc;
}

/* ---- the image as records ---- */

void mimage_write(const mimage *im, mrec_list *out)
{
    if (im->metadata_version > 0)
        mrec_feature_level(out, MI_FEATURE_METADATA_VERSION, im->metadata_version);
    if (im->transaction_version > 0)
        mrec_feature_level(out, MI_FEATURE_TRANSACTION_VERSION, im->transaction_version);
    for (int i = 0; i < im->nbrokers; i++)
        mrec_register_broker(out, &im->brokers[i]);
    for (int i = 0; i < im->ntopics; i++) {
        const mi_topic *t = im->by_name[i];
        mrec_topic(out, t->name, t->id);
        for (int j = 0; j < t->ncfg; j++)
            mrec_config(out, MREC_RESOURCE_TOPIC, t->name, t->cfg[j].name, t->cfg[j].value);
        for (int32_t j = 0; j < t->nparts; j++) {
            const mi_partition *p = &t->parts[j];
            mrec_partition(out, t->id, j, p->replicas, p->nreplicas, p->isr, p->nisr, p->removing, p->nremoving,
                           p->adding, p->nadding, p->leader, p->leader_epoch, p->partition_epoch);
        }
    }
    if (im->next_producer_id > 0)
        mrec_producer_ids(out, -1, -1, im->next_producer_id);
}

/* ---- diff ---- */

static bool ints_equal(const int32_t *a, int na, const int32_t *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, sizeof(*a) * (size_t)na) == 0);
}

static bool partition_equal(const mi_partition *a, const mi_partition *b)
{
    return a->leader == b->leader && a->leader_epoch == b->leader_epoch &&
           a->partition_epoch == b->partition_epoch && ints_equal(a->replicas, a->nreplicas, b->replicas, b->nreplicas) &&
           ints_equal(a->isr, a->nisr, b->isr, b->nisr) && ints_equal(a->removing, a->nremoving, b->removing, b->nremoving) &&
           ints_equal(a->adding, a->nadding, b->adding, b->nadding);
}

static bool configs_equal(const mi_topic *a, const mi_topic *b)
{
    if (a->ncfg != b->ncfg)
        return false;
    for (int i = 0; i < a->ncfg; i++)
        if (strcmp(a->cfg[i].name, b->cfg[i].name) != 0 || strcmp(a->cfg[i].value, b->cfg[i].value) != 0)
            return false;
    return true;
}

static bool broker_equal(const mi_broker *a, const mi_broker *b)
{
    if (a->epoch != b->epoch || memcmp(a->incarnation.b, b->incarnation.b, 16) != 0 || a->fenced != b->fenced ||
        a->shutting_down != b->shutting_down || a->neps != b->neps || (a->rack == NULL) != (b->rack == NULL) ||
        (a->rack && strcmp(a->rack, b->rack) != 0))
        return false;
    for (int i = 0; i < a->neps; i++)
        if (strcmp(a->eps[i].name, b->eps[i].name) != 0 || strcmp(a->eps[i].host, b->eps[i].host) != 0 ||
            a->eps[i].port != b->eps[i].port || a->eps[i].security_protocol != b->eps[i].security_protocol)
            return false;
    return true;
}

void mimage_diff(const mimage *from, const mimage *to, mdelta *d)
{
    /* removals first: a name may come back under a new id */
    for (int i = 0; i < from->ntopics; i++) {
        const mi_topic *t = from->by_id[i];
        if (!mimage_topic_by_id(to, t->id))
            delta_add(d, MD_TOPIC_REMOVED, t, t->nparts, -1);
    }
    for (int i = 0; i < to->ntopics; i++) {
        const mi_topic *t = to->by_id[i];
        const mi_topic *o = mimage_topic_by_id(from, t->id);
        if (!o)
            delta_add(d, MD_TOPIC_CREATED, t, -1, -1);
        for (int32_t k = 0; k < t->nparts; k++) {
            if (!o || k >= o->nparts)
                delta_add(d, MD_PARTITION_ADDED, t, k, -1);
            else if (!partition_equal(&o->parts[k], &t->parts[k]))
                delta_add(d, MD_PARTITION_CHANGED, t, k, -1);
        }
        if (o ? !configs_equal(o, t) : t->ncfg > 0)
            delta_add(d, MD_TOPIC_CONFIG, t, -1, -1);
    }
    int i = 0, k = 0;
    while (i < from->nbrokers || k < to->nbrokers) {
        const mi_broker *a = i < from->nbrokers ? &from->brokers[i] : NULL;
        const mi_broker *b = k < to->nbrokers ? &to->brokers[k] : NULL;
        if (a && (!b || a->id < b->id)) {
            delta_add(d, MD_BROKER_CHANGED, NULL, -1, a->id);
            i++;
        } else if (b && (!a || b->id < a->id)) {
            delta_add(d, MD_BROKER_CHANGED, NULL, -1, b->id);
            k++;
        } else {
            if (!broker_equal(a, b))
                delta_add(d, MD_BROKER_CHANGED, NULL, -1, a->id);
            i++;
            k++;
        }
    }
    if (from->next_producer_id != to->next_producer_id)
        delta_add(d, MD_PRODUCER_IDS, NULL, -1, -1);
    if (from->metadata_version != to->metadata_version || from->transaction_version != to->transaction_version)
        delta_add(d, MD_FEATURE, NULL, -1, -1);
}

bool mimage_equal(const mimage *a, const mimage *b)
{
    mrec_list la, lb;
    mrec_list_init(&la);
    mrec_list_init(&lb);
    mimage_write(a, &la);
    mimage_write(b, &lb);
    bool eq = !la.oom && !lb.oom && la.n == lb.n && la.w.len == lb.w.len &&
              (la.w.len == 0 || memcmp(la.w.buf, lb.w.buf, la.w.len) == 0);
    mrec_list_deinit(&la);
    mrec_list_deinit(&lb);
    return eq;
}
