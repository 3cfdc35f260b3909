/* topics.c - see topics.h. A sorted array is enough: lookups are binary
 * searches, changes are rare (admin requests). */
#include "broker/topics.h"
#include "broker/topic_config.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct retired {
    struct retired *next;
    partition **parts;
} retired;

struct topics {
    pthread_rwlock_t lock;
    topic **by_name;        /* sorted by name */
    int n, cap;
    void (*destructor)(topic *tp, void *ctx);
    void *destructor_ctx;
    pthread_mutex_t drops_lock; /* a leaf lock: guards drops and drop_kept */
    topic *drops;               /* objects with a dropped partition, not yet freed */
};

topics *topics_new(void)
{
    topics *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_rwlock_init(&t->lock, NULL);
    pthread_mutex_init(&t->drops_lock, NULL);
    return t;
}

static void topic_destroy(topic *tp)
{
    topics *owner = tp->owner;
    if (owner && tp->successor) {
        pthread_mutex_lock(&owner->drops_lock);
        topic **pp = &owner->drops;
        while (*pp && *pp != tp)
            pp = &(*pp)->next_drop;
        if (*pp)
            *pp = tp->next_drop;
        pthread_mutex_unlock(&owner->drops_lock);
    }
    if (owner && owner->destructor)
        owner->destructor(tp, owner->destructor_ctx);
    partition **parts = atomic_load(&tp->parts);
    int n = atomic_load(&tp->nparts);
    for (int i = 0; i < n; i++)
        if (parts[i] && (!tp->successor || i == tp->dropped))
            partition_free(parts[i]);
    free(parts);
    if (tp->successor)
        topic_unref(tp->successor);
    retired *r = tp->retired;
    while (r) {
        retired *next = r->next;
        free(r->parts);
        free(r);
        r = next;
    }
    config_set_deinit(&tp->overrides);
    free(tp->name);
    free(tp);
}

void topics_free(topics *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        topic_unref(t->by_name[i]);
    free(t->by_name);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->drops_lock);
    free(t);
}

void topics_set_destructor(topics *t, void (*fn)(topic *tp, void *ctx), void *ctx)
{
    t->destructor = fn;
    t->destructor_ctx = ctx;
}

void topic_ref(topic *tp) { atomic_fetch_add(&tp->refs, 1); }

void topic_unref(topic *tp)
{
    if (tp && atomic_fetch_sub(&tp->refs, 1) == 1)
        topic_destroy(tp);
}

static int cmp_name(const topic *tp, const char *name, int len)
{
    int m = tp->name_len < len ? tp->name_len : len;
    int c = memcmp(tp->name, name, (size_t)m);
    return c ? c : tp->name_len - len;
}

/* Index of name, or -(insertion point) - 1. */
static int find_locked(topics *t, const char *name, int len)
{
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = cmp_name(t->by_name[mid], name, len);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

topic *topics_get(topics *t, const char *name, int name_len)
{
    pthread_rwlock_rdlock(&t->lock);
    int i = find_locked(t, name, name_len);
    topic *tp = i >= 0 ? t->by_name[i] : NULL;
    if (tp)
        topic_ref(tp);
    pthread_rwlock_unlock(&t->lock);
    return tp;
}

topic *topics_get_by_id(topics *t, kp_uuid id)
{
    topic *tp = NULL;
    pthread_rwlock_rdlock(&t->lock);
    for (int i = 0; i < t->n; i++) {
        if (memcmp(t->by_name[i]->id.b, id.b, 16) == 0) {
            tp = t->by_name[i];
            topic_ref(tp);
            break;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    return tp;
}

int topics_count(topics *t)
{
    pthread_rwlock_rdlock(&t->lock);
    int n = t->n;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

int topics_list(topics *t, topic ***out)
{
    pthread_rwlock_rdlock(&t->lock);
    int n = t->n;
    topic **arr = malloc(sizeof(*arr) * (size_t)(n ? n : 1));
    if (!arr) {
        pthread_rwlock_unlock(&t->lock);
        *out = NULL;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        arr[i] = t->by_name[i];
        topic_ref(arr[i]);
    }
    pthread_rwlock_unlock(&t->lock);
    *out = arr;
    return n;
}

partition *topic_partition(topic *tp, int32_t i)
{
    if (i < 0 || i >= atomic_load(&tp->nparts))
        return NULL;
    return __atomic_load_n(&atomic_load(&tp->parts)[i], __ATOMIC_ACQUIRE);
}

void topics_write_lock(topics *t) { pthread_rwlock_wrlock(&t->lock); }
void topics_write_unlock(topics *t) { pthread_rwlock_unlock(&t->lock); }
void topics_read_lock(topics *t) { pthread_rwlock_rdlock(&t->lock); }
void topics_read_unlock(topics *t) { pthread_rwlock_unlock(&t->lock); }

topic *topics_insert_locked(topics *t, const char *name, kp_uuid id)
{
    int len = (int)strlen(name);
    int i = find_locked(t, name, len);
    if (i >= 0)
        return NULL;
    i = -i - 1;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        topic **nb = realloc(t->by_name, sizeof(*nb) * (size_t)cap);
        if (!nb)
            return NULL;
        t->by_name = nb;
        t->cap = cap;
    }
    topic *tp = calloc(1, sizeof(*tp));
    if (!tp)
        return NULL;
    tp->owner = t;
    tp->dropped = -1;
    tp->name = strdup(name);
    tp->name_len = len;
    tp->id = id;
    atomic_init(&tp->refs, 1);
    atomic_init(&tp->parts, NULL);
    atomic_init(&tp->nparts, 0);
    tp->internal = name[0] == '_' && name[1] == '_';
    if (!tp->name || topic_config_overrides_init(&tp->overrides) != 0) {
        free(tp->name);
        free(tp);
        return NULL;
    }
    memmove(&t->by_name[i + 1], &t->by_name[i], sizeof(topic *) * (size_t)(t->n - i));
    t->by_name[i] = tp;
    t->n++;
    return tp;
}

void topics_remove_locked(topics *t, topic *tp)
{
    int i = find_locked(t, tp->name, tp->name_len);
    assert(i >= 0 && t->by_name[i] == tp);
    memmove(&t->by_name[i], &t->by_name[i + 1], sizeof(topic *) * (size_t)(t->n - i - 1));
    t->n--;
    topic_unref(tp);
}

/* Make room for `need` entries (holes NULL) and publish nparts = need. */
static int grow_locked(topic *tp, int need)
{
    int n = atomic_load(&tp->nparts);
    if (need <= n)
        return 0;
    partition **cur = atomic_load(&tp->parts);
    if (need > tp->parts_cap) {
        /* Grow by doubling: the retired arrays readers may still hold add up
         * to less than the final one (10,000 partitions: ~160 KiB in all). */
        int cap = tp->parts_cap ? tp->parts_cap * 2 : 8;
        while (cap < need)
            cap *= 2;
        partition **nb = malloc(sizeof(*nb) * (size_t)cap);
        retired *r = malloc(sizeof(*r));
        if (!nb || !r) {
            free(nb);
            free(r);
            return -1;
        }
        if (n)
            memcpy(nb, cur, sizeof(*nb) * (size_t)n);
        r->parts = cur;
        r->next = tp->retired;
        tp->retired = r;
        tp->parts_cap = cap;
        atomic_store(&tp->parts, nb);
        cur = nb;
    }
    /* Readers load nparts before parts: any array they then see holds at
     * least nparts entries, each written (a partition, or NULL for one
     * another broker hosts) before nparts says so. */
    for (int i = n; i < need; i++)
        cur[i] = NULL;
    atomic_store(&tp->nparts, need);
    return 0;
}

int topic_extend_locked(topic *tp, int32_t n) { return grow_locked(tp, n); }

topic *topics_drop_partition_locked(topics *t, topic *tp, int32_t index)
{
    int i = find_locked(t, tp->name, tp->name_len);
    int n = atomic_load(&tp->nparts);
    if (i < 0 || t->by_name[i] != tp || index < 0 || index >= n || tp->successor)
        return NULL;
    topic *nt = calloc(1, sizeof(*nt));
    partition **parts = malloc(sizeof(*parts) * (size_t)n);
    char *name = strndup(tp->name, (size_t)tp->name_len);
    if (!nt || !parts || !name || config_set_copy(&nt->overrides, &tp->overrides) != 0) {
        free(nt);
        free(parts);
        free(name);
        return NULL;
    }
    memcpy(parts, atomic_load(&tp->parts), sizeof(*parts) * (size_t)n);
    parts[index] = NULL;
    nt->name = name;
    nt->name_len = tp->name_len;
    nt->id = tp->id;
    atomic_init(&nt->refs, 2); /* the table's, and tp's (tp->successor) */
    atomic_init(&nt->parts, parts);
    atomic_init(&nt->nparts, n);
    nt->parts_cap = n;
    nt->internal = tp->internal;
    nt->dropped = -1;
    nt->owner = t;
    for (int k = 0; k < n; k++)
        if (parts[k])
            parts[k]->topic = nt;
    tp->dropped = index;
    tp->successor = nt;
    pthread_mutex_lock(&t->drops_lock);
    tp->next_drop = t->drops;
    t->drops = tp;
    pthread_mutex_unlock(&t->drops_lock);
    t->by_name[i] = nt;
    topic_unref(tp); /* the table's reference */
    return nt;
}

int topic_add_partition_locked(topic *tp, partition *p)
{
    if (grow_locked(tp, p->index + 1) != 0)
        return -1;
    partition **cur = atomic_load(&tp->parts);
    if (cur[p->index])
        return -1; /* hosted already */
    p->topic = tp;
    __atomic_store_n(&cur[p->index], p, __ATOMIC_RELEASE);
    return 0;
}

void topics_keep_dropped(topics *t, kp_uuid id, int32_t index)
{
    pthread_mutex_lock(&t->drops_lock);
    for (topic *tp = t->drops; tp; tp = tp->next_drop)
        if (tp->dropped == index && memcmp(tp->id.b, id.b, 16) == 0)
            tp->drop_kept = true;
    pthread_mutex_unlock(&t->drops_lock);
}

bool topic_name_valid(const char *name, int len, const char **why)
{
    if (len <= 0) {
        *why = "Topic name is illegal, it can't be empty";
        return false;
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
        *why = "Topic name cannot be \".\" or \"..\"";
        return false;
    }
    if (len > 249) {
        *why = "Topic name is illegal, it can't be longer than 249 characters";
        return false;
    }
    for (int i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            *why = "Topic name contains a character other than ASCII alphanumerics, '.', '_' and '-'";
            return false;
        }
    }
    return true;
}
