/*
 * reassign_generate.c - `gregor reassign-partitions --generate`: Kafka's
 * parseGenerateAssignmentArgs (the broker list, then the topics file, with
 * Kafka's sentences), the topics' current assignment and the brokers from
 * Metadata, and a proposal by Kafka's AdminUtils.assignReplicasToBrokers
 * (rack-aware round robin from a random start, drawn with random(): the
 * proposal is as valid as Kafka's and as different from run to run).
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

static int rp_replica_index(int first, int shift, int k, int n)
{
    int64_t s = 1 + ((int64_t)shift + k) % (n - 1);
    return (int)(((int64_t)first + s) % n);
}

static bool rp_rack_eq(const rp_broker *a, const rp_broker *b)
{
    return a->rack_len == b->rack_len && memcmp(a->rack, b->rack, a->rack_len) == 0;
}

static int rp_rack_cmp(const void *pa, const void *pb)
{
    const rp_broker *a = pa, *b = pb;
    size_t n = a->rack_len < b->rack_len ? a->rack_len : b->rack_len;
    int r = memcmp(a->rack, b->rack, n);
    if (r)
        return r;
    if (a->rack_len != b->rack_len)
        return a->rack_len < b->rack_len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* AdminUtils.getRackAlternatedBrokerList: racks sorted, brokers of a rack
 * by id, one from each rack in turn. arranged has nb entries. */
static void rp_rack_alternate(rp_ctx *c, const rp_broker *b, size_t nb, rp_broker *arranged)
{
    rp_broker *s = rp_alloc(c, sizeof *s * nb);
    memcpy(s, b, sizeof *s * nb);
    qsort(s, nb, sizeof *s, rp_rack_cmp);
    size_t *start = rp_alloc(c, sizeof *start * nb), *next = rp_alloc(c, sizeof *next * nb);
    size_t *end = rp_alloc(c, sizeof *end * nb);
    size_t nr = 0;
    for (size_t i = 0; i < nb; i++)
        if (i == 0 || !rp_rack_eq(&s[i], &s[i - 1])) {
            start[nr] = next[nr] = i;
            if (nr)
                end[nr - 1] = i;
            nr++;
        }
    end[nr - 1] = nb;
    size_t k = 0, r = 0;
    while (k < nb) {
        if (next[r] < end[r])
            arranged[k++] = s[next[r]++];
        r = (r + 1) % nr;
    }
}

/* AdminUtils.assignReplicasToBrokers for partitions 0..np-1 with a random
 * start: out[p] gets rf brokers. 0, or -1 after Kafka's sentence. */
static int rp_assign(rp_ctx *c, const rp_broker *b, size_t nb, size_t np, size_t rf, int32_t **out)
{
    if (np == 0)
        return rp_fail("Number of partitions must be larger than 0."), -1;
    if (rf == 0)
        return rp_fail("Replication factor must be larger than 0."), -1;
    if (rf > nb)
        return rp_fail("Replication factor: %zu larger than available brokers: %zu.", rf, nb), -1;
    bool racks = false;
    for (size_t i = 0; i < nb; i++)
        racks |= b[i].rack != NULL;
    rp_broker *list = rp_alloc(c, sizeof *list * nb);
    size_t nracks = 1;
    if (racks) {
        rp_rack_alternate(c, b, nb, list);
        rp_broker *s = rp_alloc(c, sizeof *s * nb);
        memcpy(s, b, sizeof *s * nb);
        qsort(s, nb, sizeof *s, rp_rack_cmp);
        nracks = 0;
        for (size_t i = 0; i < nb; i++)
            nracks += i == 0 || !rp_rack_eq(&s[i], &s[i - 1]);
    } else {
        memcpy(list, b, sizeof *list * nb);
    }
    int n = (int)nb;
    int start = (int)(random() % n), shift = (int)(random() % n);
    bool *rack_used = rp_alloc(c, sizeof *rack_used * nb), *broker_used = rp_alloc(c, sizeof *broker_used * nb);
    for (size_t p = 0; p < np; p++) {
        if (p > 0 && p % nb == 0)
            shift++;
        int first = (int)((p + (size_t)start) % nb);
        out[p] = rp_alloc(c, sizeof **out * rf);
        out[p][0] = list[first].id;
        if (!racks) {
            for (size_t j = 0; j + 1 < rf; j++)
                out[p][j + 1] = list[rp_replica_index(first, shift, (int)j, n)].id;
            continue;
        }
        memset(rack_used, 0, sizeof *rack_used * nb);
        memset(broker_used, 0, sizeof *broker_used * nb);
        size_t racks_used = 0, brokers_used = 1;
        broker_used[first] = true;
        for (int i = 0; i < n; i++)
            if (rp_rack_eq(&list[i], &list[first]))
                rack_used[i] = true;
        racks_used = 1;
        int k = 0;
        for (size_t j = 0; j + 1 < rf; j++) {
            for (;;) {
                int idx = rp_replica_index(first, shift * (int)nracks, k, n);
                k++;
                if ((!rack_used[idx] || racks_used == nracks) && (!broker_used[idx] || brokers_used == nb)) {
                    out[p][j + 1] = list[idx].id;
                    if (!rack_used[idx]) {
                        racks_used++;
                        for (int i = 0; i < n; i++)
                            if (rp_rack_eq(&list[i], &list[idx]))
                                rack_used[i] = true;
                    }
                    if (!broker_used[idx]) {
                        broker_used[idx] = true;
                        brokers_used++;
                    }
                    break;
                }
            }
        }
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
    bool invalid;
    const tj_json *js = rp_read_json(c, path, &invalid);
    if (!js) {
        if (invalid)
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

