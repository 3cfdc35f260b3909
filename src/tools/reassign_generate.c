/*
 * reassign_generate.c - `gregor reassign-partitions --generate`: Kafka's
 * parseGenerateAssignmentArgs (the broker list, then the topics file, with
 * Kafka's sentences), the topics' current assignment and the brokers from
 * Metadata, their log directories (DescribeLogDirs, as Kafka 4.4 prints
 * them), and a proposal by Kafka 4.4's placement, the controller's
 * StripedReplicaPlacer (racks in turn, each rack's brokers from a random
 * offset, reshuffled once every broker led a partition; drawn with
 * random(): the proposal is as valid as Kafka's and as different from run
 * to run).
 * Printed as Kafka prints it: "Current partition replica assignment",
 * the JSON, a blank line, "Proposed partition reassignment configuration",
 * the JSON. Main thread only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/javaorder.h"
#include "tools/reassign.h"

#define CMD RP_CMD

/* ---- --generate ---- */

typedef struct rp_broker {
    int32_t id;
    const char *rack; /* NULL: none */
    size_t rack_len;
} rp_broker;

/* Kafka's OptionalStringComparator: no rack first, then String order
 * (rack names are compared as bytes), then broker id for a stable sort. */
static int rp_rack_cmp(const void *pa, const void *pb)
{
    const rp_broker *a = pa, *b = pb;
    if (!a->rack || !b->rack) {
        if (!a->rack != !b->rack)
            return a->rack ? 1 : -1;
    } else {
        size_t n = a->rack_len < b->rack_len ? a->rack_len : b->rack_len;
        int r = memcmp(a->rack, b->rack, n);
        if (r)
            return r;
        if (a->rack_len != b->rack_len)
            return a->rack_len < b->rack_len ? -1 : 1;
    }
    return a->id < b->id ? -1 : a->id > b->id;
}

static bool rp_rack_eq(const rp_broker *a, const rp_broker *b)
{
    if (!a->rack || !b->rack)
        return !a->rack && !b->rack;
    return a->rack_len == b->rack_len && memcmp(a->rack, b->rack, a->rack_len) == 0;
}

/* Java's Random.nextInt(bound), as far as a placement needs it. */
static size_t rp_next_int(size_t bound)
{
    return bound ? (size_t)random() % bound : 0;
}

/* Collections.shuffle(list, random) */
static void rp_shuffle(int32_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rp_next_int(i);
        int32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* StripedReplicaPlacer.BrokerList: a rack's (unfenced) brokers, sorted by
 * id, walked from a random offset that moves on with each epoch. */
typedef struct rp_rack {
    int32_t *brokers;
    size_t n, index, offset;
    int epoch;
} rp_rack;

static int64_t rp_rack_next(rp_rack *r, int epoch)
{
    if (!r->n)
        return -1;
    if (r->epoch != epoch) {
        r->epoch = epoch;
        r->index = 0;
        r->offset = (r->offset + 1) % r->n;
    }
    if (r->index >= r->n)
        return -1;
    int32_t b = r->brokers[(r->index + r->offset) % r->n];
    r->index++;
    return b;
}

/* StripedReplicaPlacer.RackList: the racks in OptionalStringComparator
 * order (shuffled once every broker led a partition), a rotating offset. */
typedef struct rp_racks {
    rp_rack *racks;
    size_t nracks, nbrokers, offset;
    int epoch;
} rp_racks;

static void rp_racks_init(rp_ctx *c, rp_racks *l, const rp_broker *b, size_t nb)
{
    rp_broker *s = rp_alloc(c, sizeof *s * nb);
    memcpy(s, b, sizeof *s * nb);
    if (nb > 1)
        qsort(s, nb, sizeof *s, rp_rack_cmp);
    memset(l, 0, sizeof *l);
    l->racks = rp_alloc(c, sizeof *l->racks * nb);
    l->nbrokers = nb;
    for (size_t i = 0; i < nb; i++) {
        if (i == 0 || !rp_rack_eq(&s[i], &s[i - 1])) {
            l->racks[l->nracks].brokers = rp_alloc(c, sizeof(int32_t) * nb);
            l->nracks++;
        }
        rp_rack *r = &l->racks[l->nracks - 1];
        r->brokers[r->n++] = s[i].id;
    }
    for (size_t i = 0; i < l->nracks; i++)
        l->racks[i].offset = rp_next_int(l->racks[i].n);
    l->offset = rp_next_int(l->nracks);
}

/* RackList.place: one partition's replicas into out[0..rf). */
static void rp_racks_place(rp_racks *l, size_t rf, int32_t *out)
{
    if ((size_t)l->epoch == l->nbrokers && l->nbrokers > 1) {
        for (size_t i = l->nracks; i > 1; i--) {
            size_t j = rp_next_int(i);
            rp_rack t = l->racks[i - 1];
            l->racks[i - 1] = l->racks[j];
            l->racks[j] = t;
        }
        for (size_t i = 0; i < l->nracks; i++)
            rp_shuffle(l->racks[i].brokers, l->racks[i].n);
        l->epoch = 0;
    }
    if (l->offset == l->nracks)
        l->offset = 0;
    size_t k = 0;
    int64_t first = (int64_t)l->offset;
    for (;;) {
        int64_t r = rp_rack_next(&l->racks[first], l->epoch);
        if (r >= 0) {
            out[k++] = (int32_t)r;
            break;
        }
        if ((size_t)++first == l->nracks)
            first = 0;
    }
    size_t idx = l->offset;
    while (k < rf) {
        int64_t r = -1;
        do {
            if ((int64_t)idx == first)
                first = -1;
            else
                r = rp_rack_next(&l->racks[idx], l->epoch);
            if (++idx == l->nracks)
                idx = 0;
        } while (r < 0);
        out[k++] = (int32_t)r;
    }
    l->epoch++;
    l->offset++;
}

/* Kafka 4.4's placement for --generate: StripedReplicaPlacer.place for
 * partitions 0..np-1 over the usable brokers b (all unfenced), out[p]
 * getting rf brokers. 0, or -1 after Kafka's sentence. */
static int rp_assign(rp_ctx *c, const rp_broker *b, size_t nb, size_t np, size_t rf, int32_t **out)
{
    rp_racks l;
    rp_racks_init(c, &l, b, nb);
    if (rf == 0)
        return rp_fail("Invalid replication factor %zu: the replication factor must be positive.", rf), -1;
    if (nb == 0)
        return rp_fail("All brokers are currently fenced, or have all their log directories cordoned."), -1;
    if (rf > nb)
        return rp_fail("The target replication factor of %zu cannot be reached because only %zu broker(s) are "
                       "registered or some brokers have all their log directories cordoned.", rf, nb), -1;
    for (size_t p = 0; p < np; p++) {
        out[p] = rp_alloc(c, sizeof **out * rf);
        rp_racks_place(&l, rf, out[p]);
    }
    return 0;
}

/* Kafka's parseGenerateAssignmentArgs: the broker list, then the topics. */
static int rp_parse_generate(rp_ctx *c, const char *path, const char *list, int32_t **ids, size_t *nids,
                             rp_tp **topics, size_t *ntopics)
{
    size_t cap = 1;
    for (const char *s = list; *s; s++)
        cap += *s == ',';
    *ids = rp_alloc(c, sizeof **ids * cap);
    *nids = 0;
    /* String.split(","): trailing empty strings dropped ("" stays one) */
    size_t len = strlen(list);
    while (len && list[len - 1] == ',')
        len--;
    size_t pos = 0;
    while (len && pos <= len) {
        const char *s = list + pos;
        size_t wl = strcspn(s, ",");
        if (pos + wl > len)
            wl = len - pos;
        char word[64];
        int64_t v = 0;
        bool ok = wl > 0 && wl < sizeof word;
        if (ok) {
            memcpy(word, s, wl);
            word[wl] = 0;
            /* Integer.parseInt: an optional sign, then digits */
            const char *digits = word[0] == '+' || word[0] == '-' ? word + 1 : word;
            ok = *digits && strspn(digits, "0123456789") == strlen(digits) &&
                 tool_parse_int64(word[0] == '+' ? word + 1 : word, &v) == 0 && v >= INT32_MIN && v <= INT32_MAX;
        }
        if (!ok)
            return rp_fail("For input string: \"%.*s\"", (int)wl, s), -1;
        (*ids)[(*nids)++] = (int32_t)v;
        pos += wl + 1;
    }
    if (!*list)
        return rp_fail("For input string: \"\""), -1;
    int32_t *d = rp_alloc(c, sizeof *d * *nids);
    size_t nd = 0;
    for (size_t i = 0; i < *nids; i++)
        for (size_t j = 0; j < i; j++)
            if ((*ids)[j] == (*ids)[i]) {
                d[nd++] = (*ids)[i];
                break;
            }
    nd = rp_int_unique(d, nd);
    if (nd) {
        rp_int_java_order(d, nd);
        tj_buf b = { .cmd = CMD };
        rp_buf_ints(&b, d, nd, true);
        rp_fail("Broker list contains duplicate entries: %s", b.p);
        free(b.p);
        return -1;
    }
    int invalid;
    const tj_json *js = rp_read_json(c, path, &invalid);
    if (!js) {
        if (invalid == RP_JSON_MISSING)
            rp_fail("Expected JSON object, received "); /* Jackson's MissingNode */
        else if (invalid != RP_JSON_OK)
            rp_fail("The input string is not a valid JSON");
        return -1;
    }
    if (rp_json_version(js) < 0)
        return -1;
    const tj_json *t = tj_get(js, "topics");
    *ntopics = 0;
    *topics = rp_alloc(c, sizeof **topics * (t ? t->n : 1));
    if (!t)
        return 0;
    if (t->type != TJ_ARR)
        return rp_fail_node("Expected JSON array, received ", t);
    for (size_t k = 0; k < t->n; k++) {
        const tj_json *e = t->items[k];
        if (e->type != TJ_OBJ)
            return rp_fail_node("Expected JSON object, received ", e);
        const tj_json *name = tj_get(e, "topic");
        if (!name)
            return rp_fail("No such field exists: `topic`"), -1;
        if (name->type != TJ_STR)
            return rp_fail_node("Expected `String` value, received ", name);
        (*topics)[k].topic = name->s;
        (*topics)[k].topic_len = name->slen;
    }
    *ntopics = t->n;
    /* duplicate topics: a HashSet<String> */
    rp_tp *dups = rp_alloc(c, sizeof *dups * *ntopics);
    nd = 0;
    for (size_t i = 0; i < *ntopics; i++) {
        bool earlier = false, listed = false;
        for (size_t j = 0; j < i && !earlier; j++)
            earlier = (*topics)[j].topic_len == (*topics)[i].topic_len &&
                      memcmp((*topics)[j].topic, (*topics)[i].topic, (*topics)[i].topic_len) == 0;
        for (size_t j = 0; j < nd && !listed; j++)
            listed = dups[j].topic_len == (*topics)[i].topic_len &&
                     memcmp(dups[j].topic, (*topics)[i].topic, (*topics)[i].topic_len) == 0;
        if (earlier && !listed)
            dups[nd++] = (*topics)[i];
    }
    if (nd) {
        int32_t *hash = rp_alloc(c, sizeof *hash * nd);
        for (size_t i = 0; i < nd; i++)
            hash[i] = jo_string_hash(dups[i].topic, dups[i].topic_len);
        if (jo_put_reorder(dups, sizeof *dups, nd, hash, 16) < 0)
            return rp_fail("out of memory"), -1;
        tj_buf b = { .cmd = CMD };
        tj_buf_str(&b, "[");
        for (size_t i = 0; i < nd; i++) {
            if (i)
                tj_buf_str(&b, ", ");
            tj_buf_add(&b, dups[i].topic, dups[i].topic_len);
        }
        tj_buf_str(&b, "]");
        rp_fail("List of topics to reassign contains duplicate entries: %s", b.p);
        free(b.p);
        return -1;
    }
    return 0;
}

int rp_generate(rp_ctx *c, const char *path, const char *broker_list, bool rack_aware)
{
    int32_t *ids;
    size_t nids, nt;
    rp_tp *topics;
    if (rp_parse_generate(c, path, broker_list, &ids, &nids, &topics, &nt) < 0)
        return 1;
    /* the current assignment of each topic (a HashSet of the names) */
    int32_t *hash = rp_alloc(c, sizeof *hash * nt);
    for (size_t i = 0; i < nt; i++)
        hash[i] = jo_string_hash(topics[i].topic, topics[i].topic_len);
    if (jo_put_reorder(topics, sizeof *topics, nt, hash, jo_copy_table_size(nt)) < 0)
        return rp_fail("out of memory");
    const char **names = rp_alloc(c, sizeof *names * nt);
    size_t *lens = rp_alloc(c, sizeof *lens * nt);
    for (size_t i = 0; i < nt; i++) {
        names[i] = topics[i].topic;
        lens[i] = topics[i].topic_len;
    }
    kp_metadata_resp md;
    if (rp_metadata(c, names, lens, nt, &md) < 0)
        return 1;
    size_t ncur = 0;
    for (size_t i = 0; i < nt; i++) {
        const kp_metadata_resp_topic *t = rp_md_topic(&md, names[i], lens[i]);
        if (rp_topic_error(t, names[i], lens[i]))
            return 1;
        ncur += (size_t)t->partitions_n;
    }
    rp_tp *cur = rp_alloc(c, sizeof *cur * ncur), *prop = rp_alloc(c, sizeof *prop * ncur);
    size_t k = 0;
    for (size_t i = 0; i < nt; i++) {
        const kp_metadata_resp_topic *t = rp_md_topic(&md, names[i], lens[i]);
        for (int32_t p = 0; p < t->partitions_n; p++) {
            cur[k].topic = names[i];
            cur[k].topic_len = lens[i];
            cur[k].partition = t->partitions[p].partition_index;
            cur[k].replicas = t->partitions[p].replica_nodes;
            cur[k].replicas_n = (size_t)(t->partitions[p].replica_nodes_n > 0 ? t->partitions[p].replica_nodes_n : 0);
            k++;
        }
    }
    if (rp_log_dirs(c, &md, cur, ncur) < 0)
        return 1;
    /* the brokers of the list the cluster has, in the cluster's order */
    rp_broker *b = rp_alloc(c, sizeof *b * (size_t)(md.brokers_n > 0 ? md.brokers_n : 1));
    size_t nb = 0, rackless = 0;
    for (int32_t i = 0; i < md.brokers_n; i++) {
        const kp_metadata_resp_broker *mb = &md.brokers[i];
        bool listed = false;
        for (size_t j = 0; j < nids && !listed; j++)
            listed = ids[j] == mb->node_id;
        if (!listed)
            continue;
        b[nb].id = mb->node_id;
        if (rack_aware && mb->rack.len >= 0 && mb->rack.ptr) {
            b[nb].rack = mb->rack.ptr;
            b[nb].rack_len = (size_t)mb->rack.len;
        } else {
            rackless++;
        }
        nb++;
    }
    if (rack_aware && rackless != 0 && rackless != nb)
        return rp_fail("Not all brokers have rack information. Add --disable-rack-aware in command line to make "
                       "replica assignment without rack information.");
    size_t np = 0;
    for (size_t i = 0; i < nt; i++) {
        const kp_metadata_resp_topic *t = rp_md_topic(&md, names[i], lens[i]);
        size_t n = (size_t)t->partitions_n, rf = 0;
        if (!n)
            continue;
        /* the replication factor of the topic's first partition */
        const kp_metadata_resp_partition *p0 = rp_md_partition(t, 0);
        rf = (size_t)((p0 ? p0 : &t->partitions[0])->replica_nodes_n);
        int32_t **out = rp_alloc(c, sizeof *out * n);
        if (rp_assign(c, b, nb, n, rf, out) < 0)
            return 1;
        for (size_t p = 0; p < n; p++) {
            prop[np].topic = names[i];
            prop[np].topic_len = lens[i];
            prop[np].partition = (int32_t)p;
            prop[np].replicas = out[p];
            prop[np].replicas_n = rf;
            np++;
        }
    }
    printf("Current partition replica assignment\n");
    rp_print_json(cur, ncur);
    printf("\n\nProposed partition reassignment configuration\n");
    rp_print_json(prop, np);
    printf("\n");
    fflush(stdout);
    return 0;
}

