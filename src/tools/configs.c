/*
 * configs.c - `gregor configs`: describe and alter topic and broker configs,
 * with kafka-configs.sh's flags and output.
 *
 * librdkafka 2.0 has only the non-incremental AlterConfigs, which replaces
 * every override of the resource. An alter therefore reads the current
 * overrides (DescribeConfigs, source DYNAMIC_*), applies --delete-config and
 * --add-config to that set, and sends the whole result. Two concurrent
 * alters of one resource can lose one another's change; Kafka's own tool
 * had the same race before IncrementalAlterConfigs. Main thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "tools/common.h"
#include "tools/tools.h"

#define CONFIGS_KV_MAX 1024
#define CONFIGS_SPEC_MAX 64

enum configs_action { CA_NONE, CA_DESCRIBE, CA_ALTER };
enum configs_entity { CE_NONE, CE_TOPIC, CE_BROKER };

typedef struct configs_kv {
    char *key[CONFIGS_KV_MAX];   /* owned */
    char *value[CONFIGS_KV_MAX]; /* owned; NULL for a key only */
    int n;
} configs_kv;

typedef struct configs_args {
    tool_opts o;
    int action;
    int entity;
    const char *name;         /* --entity-name; NULL: every one */
    bool entity_default;      /* --entity-default (brokers) */
    bool all;                 /* --all */
    const char *adds[CONFIGS_SPEC_MAX];    /* --add-config values, borrowed */
    int adds_n;
    const char *deletes[CONFIGS_SPEC_MAX]; /* --delete-config values, borrowed */
    int deletes_n;
} configs_args;

static void configs_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor configs <action> [options]\n"
        "Actions (positional, or --describe / --alter like kafka-configs.sh):\n"
        "  describe  --entity-type topics|brokers [--entity-name N] [--all]\n"
        "  alter     --entity-type topics|brokers --entity-name N\n"
        "            [--add-config k=v,k2=[a,b]] [--delete-config k,k2]\n"
        "Shorthands: --topic T (= --entity-type topics --entity-name T), --broker N.\n"
        "Without --all, describe shows only the overrides (Kafka's dynamic configs).\n"
        "Common options:\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --command-config FILE         client properties\n"
        "  --timeout-ms N                bound on every wait (default 10000)\n"
        "  --output table|json           (default table)\n"
        "  --help\n"
        "Example:\n"
        "  gregor configs alter --topic orders --add-config retention.ms=3600000,cleanup.policy=delete\n");
}

static void configs_kv_free(configs_kv *kv)
{
    for (int k = 0; k < kv->n; k++) {
        free(kv->key[k]);
        free(kv->value[k]);
    }
    kv->n = 0;
}

static int configs_kv_find(const configs_kv *kv, const char *key)
{
    for (int k = 0; k < kv->n; k++)
        if (strcmp(kv->key[k], key) == 0)
            return k;
    return -1;
}

/* Set key (value may be NULL); replaces an existing entry. */
static int configs_kv_set(configs_kv *kv, const char *key, size_t keylen, const char *value, size_t vlen)
{
    char *k = strndup(key, keylen);
    char *v = value ? strndup(value, vlen) : NULL;
    if (!k || (value && !v))
        abort();
    int at = configs_kv_find(kv, k);
    if (at >= 0) {
        free(kv->value[at]);
        kv->value[at] = v;
        free(k);
        return 0;
    }
    if (kv->n == CONFIGS_KV_MAX) {
        tool_err("configs", "more than %d configs", CONFIGS_KV_MAX);
        free(k);
        free(v);
        return -1;
    }
    kv->key[kv->n] = k;
    kv->value[kv->n] = v;
    kv->n++;
    return 0;
}

static void configs_kv_del(configs_kv *kv, int at)
{
    free(kv->key[at]);
    free(kv->value[at]);
    kv->key[at] = kv->key[kv->n - 1];
    kv->value[at] = kv->value[kv->n - 1];
    kv->n--;
}

/*
 * Kafka's --add-config syntax: k=v pairs separated by commas, where a value
 * in square brackets may hold commas (k=[a,b] sets "a,b").
 */
static int configs_parse_adds(const char *spec, configs_kv *out)
{
    const char *p = spec;
    while (*p) {
        const char *start = p;
        int depth = 0;
        while (*p && (depth > 0 || *p != ',')) {
            if (*p == '[')
                depth++;
            else if (*p == ']' && depth > 0)
                depth--;
            p++;
        }
        size_t len = (size_t)(p - start);
        const char *eq = memchr(start, '=', len);
        if (len > 0) {
            if (!eq || eq == start) {
                tool_err("configs", "--add-config: expected key=value, not %.*s", (int)len, start);
                return -1;
            }
            const char *v = eq + 1;
            size_t vlen = len - (size_t)(v - start);
            if (vlen >= 2 && v[0] == '[' && v[vlen - 1] == ']') {
                v++;
                vlen -= 2;
            }
            if (configs_kv_set(out, start, (size_t)(eq - start), v, vlen) < 0)
                return -1;
        }
        if (*p == ',')
            p++;
    }
    return 0;
}

static int configs_parse_deletes(const char *spec, configs_kv *out)
{
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len > 0 && configs_kv_set(out, p, len, NULL, 0) < 0)
            return -1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int configs_set_entity(configs_args *a, const char *type)
{
    int e = CE_NONE;
    if (strcmp(type, "topics") == 0 || strcmp(type, "topic") == 0)
        e = CE_TOPIC;
    else if (strcmp(type, "brokers") == 0 || strcmp(type, "broker") == 0)
        e = CE_BROKER;
    else {
        tool_err("configs", "--entity-type %s is not supported (topics or brokers)", type);
        return -1;
    }
    if (a->entity != CE_NONE && a->entity != e) {
        tool_err("configs", "conflicting entity types");
        return -1;
    }
    a->entity = e;
    return 0;
}

static int configs_set_action(configs_args *a, int act)
{
    if (a->action != CA_NONE && a->action != act) {
        tool_err("configs", "only one of describe and alter");
        return -1;
    }
    a->action = act;
    return 0;
}

/* 0 parsed, 1 --help, 2 usage error, 3 a request we cannot make. */
static int configs_parse(configs_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    tool_opts_init(&a->o);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int rc = tool_opts_parse(&a->o, argc, argv, &i);
        if (rc < 0)
            return 2;
        if (rc > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strcmp(arg, "describe") == 0 || strcmp(arg, "--describe") == 0) {
            if (configs_set_action(a, CA_DESCRIBE) < 0)
                return 2;
        } else if (strcmp(arg, "alter") == 0 || strcmp(arg, "--alter") == 0) {
            if (configs_set_action(a, CA_ALTER) < 0)
                return 2;
        } else if (tool_opt_is(arg, "--entity-type")) {
            if (!(v = tool_arg_value(argc, argv, &i)) || configs_set_entity(a, v) < 0)
                return 2;
        } else if (tool_opt_is(arg, "--entity-name")) {
            if (!(a->name = tool_arg_value(argc, argv, &i)))
                return 2;
        } else if (strcmp(arg, "--entity-default") == 0) {
            a->entity_default = true;
        } else if (tool_opt_is(arg, "--topic")) {
            if (!(a->name = tool_arg_value(argc, argv, &i)) || configs_set_entity(a, "topics") < 0)
                return 2;
        } else if (tool_opt_is(arg, "--broker")) {
            if (!(a->name = tool_arg_value(argc, argv, &i)) || configs_set_entity(a, "brokers") < 0)
                return 2;
        } else if (strcmp(arg, "--broker-defaults") == 0) {
            a->entity_default = true;
            if (configs_set_entity(a, "brokers") < 0)
                return 2;
        } else if (strcmp(arg, "--all") == 0) {
            a->all = true;
        } else if (tool_opt_is(arg, "--add-config")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            if (a->adds_n == CONFIGS_SPEC_MAX) {
                tool_err("configs", "too many --add-config options");
                return 2;
            }
            a->adds[a->adds_n++] = v;
        } else if (tool_opt_is(arg, "--delete-config")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            if (a->deletes_n == CONFIGS_SPEC_MAX) {
                tool_err("configs", "too many --delete-config options");
                return 2;
            }
            a->deletes[a->deletes_n++] = v;
        } else {
            tool_err("configs", "unknown option %s (see gregor configs --help)", arg);
            return 2;
        }
    }
    if (a->action == CA_NONE) {
        tool_err("configs", "one of describe and alter is required (see --help)");
        return 2;
    }
    if (a->entity == CE_NONE) {
        tool_err("configs", "--entity-type topics|brokers (or --topic / --broker) is required");
        return 2;
    }
    if (a->entity_default && a->entity != CE_BROKER) {
        tool_err("configs", "--entity-default is only for --entity-type brokers");
        return 2;
    }
    if (a->entity_default) {
        tool_err("configs", "--entity-default is not supported: librdkafka 2.0 cannot name the "
                 "cluster-wide broker default (an empty resource name)");
        return 3;
    }
    if (a->entity_default && a->name) {
        tool_err("configs", "--entity-name and --entity-default cannot both be given");
        return 2;
    }
    if (a->action == CA_ALTER) {
        if (!a->name && !a->entity_default) {
            tool_err("configs", "alter needs --entity-name (or --topic / --broker)");
            return 2;
        }
        if (a->adds_n == 0 && a->deletes_n == 0) {
            tool_err("configs", "alter needs --add-config or --delete-config");
            return 2;
        }
    }
    if (a->entity == CE_BROKER && a->name) {
        int64_t id;
        if (tool_parse_int64(a->name, &id) < 0 || id < 0) {
            tool_err("configs", "broker names are node ids: %s is not one", a->name);
            return 2;
        }
    }
    return 0;
}

/* ---- describe ---- */

/* The DescribeConfigs result for the named resources; NULL after a message.
 * Owned: rd_kafka_event_destroy. */
static rd_kafka_event_t *configs_fetch(rd_kafka_t *rk, const configs_args *a, const char *const *names,
                                       int n)
{
    rd_kafka_ResourceType_t type = a->entity == CE_TOPIC ? RD_KAFKA_RESOURCE_TOPIC : RD_KAFKA_RESOURCE_BROKER;
    rd_kafka_ConfigResource_t **res = calloc((size_t)n + 1, sizeof *res);
    if (!res)
        abort();
    for (int k = 0; k < n; k++) {
        res[k] = rd_kafka_ConfigResource_new(type, names[k]);
        if (!res[k]) {
            /* librdkafka 2.0 refuses an empty name: no cluster-wide default */
            tool_err("configs", "librdkafka cannot address %s resource '%s'",
                     a->entity == CE_TOPIC ? "topic" : "broker", names[k]);
            rd_kafka_ConfigResource_destroy_array(res, (size_t)k);
            free(res);
            return NULL;
        }
    }
    rd_kafka_event_t *ev = NULL;
    rd_kafka_AdminOptions_t *opts = tool_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, &a->o);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (opts) {
        rd_kafka_DescribeConfigs(rk, res, (size_t)n, opts, q);
        ev = tool_admin_wait(q, &a->o);
        rd_kafka_AdminOptions_destroy(opts);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy_array(res, (size_t)n);
    free(res);
    return ev;
}

/* Is entry an override of this kind of resource (what Kafka's describe
 * shows without --all, and what a non-incremental alter must resend)? */
static bool configs_is_override(const configs_args *a, const rd_kafka_ConfigEntry_t *e)
{
    rd_kafka_ConfigSource_t src = rd_kafka_ConfigEntry_source(e);
    if (a->entity == CE_TOPIC)
        return src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
    if (a->entity_default)
        return src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG;
    return src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG;
}

static void configs_header(const configs_args *a, const char *name)
{
    if (a->entity_default)
        printf("%s configs for brokers in the cluster are:\n", a->all ? "All default" : "Default");
    else
        printf("%s configs for %s %s are:\n", a->all ? "All" : "Dynamic",
               a->entity == CE_TOPIC ? "topic" : "broker", name);
}

static void configs_entry_text(const rd_kafka_ConfigEntry_t *e)
{
    const char *v = rd_kafka_ConfigEntry_value(e);
    bool sensitive = rd_kafka_ConfigEntry_is_sensitive(e);
    printf("  %s=%s sensitive=%s synonyms={", rd_kafka_ConfigEntry_name(e),
           sensitive || !v ? "null" : v, sensitive ? "true" : "false");
    size_t sn = 0;
    const rd_kafka_ConfigEntry_t **syn = rd_kafka_ConfigEntry_synonyms(e, &sn);
    for (size_t s = 0; s < sn; s++) {
        const char *sv = rd_kafka_ConfigEntry_value(syn[s]);
        printf("%s%s:%s=%s", s ? ", " : "", rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(syn[s])),
               rd_kafka_ConfigEntry_name(syn[s]), sensitive || !sv ? "null" : sv);
    }
    printf("}\n");
}

static void configs_entry_json(const rd_kafka_ConfigEntry_t *e, bool first)
{
    const char *v = rd_kafka_ConfigEntry_value(e);
    bool sensitive = rd_kafka_ConfigEntry_is_sensitive(e);
    printf("%s{\"name\":", first ? "" : ",");
    tool_json_str(stdout, rd_kafka_ConfigEntry_name(e));
    printf(",\"value\":");
    tool_json_str(stdout, sensitive ? NULL : v);
    printf(",\"source\":\"%s\",\"sensitive\":%s,\"read_only\":%s,\"synonyms\":[",
           rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(e)), sensitive ? "true" : "false",
           rd_kafka_ConfigEntry_is_read_only(e) ? "true" : "false");
    size_t sn = 0;
    const rd_kafka_ConfigEntry_t **syn = rd_kafka_ConfigEntry_synonyms(e, &sn);
    for (size_t s = 0; s < sn; s++) {
        printf("%s{\"name\":", s ? "," : "");
        tool_json_str(stdout, rd_kafka_ConfigEntry_name(syn[s]));
        printf(",\"value\":");
        tool_json_str(stdout, sensitive ? NULL : rd_kafka_ConfigEntry_value(syn[s]));
        printf(",\"source\":\"%s\"}", rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(syn[s])));
    }
    printf("]}");
}

static int configs_cmp_entry(const void *x, const void *y)
{
    const rd_kafka_ConfigEntry_t *const *p = x, *const *q = y;
    return strcmp(rd_kafka_ConfigEntry_name(*p), rd_kafka_ConfigEntry_name(*q));
}

/* The names to describe: the one given, or every topic / broker. */
static int configs_names(rd_kafka_t *rk, const configs_args *a, char ***names_out)
{
    char **names = NULL;
    int n = 0;
    if (a->name || a->entity_default) {
        names = calloc(1, sizeof *names);
        if (!names || !(names[0] = strdup(a->name ? a->name : "")))
            abort();
        *names_out = names;
        return 1;
    }
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, a->entity == CE_TOPIC, NULL, &md, a->o.timeout_ms);
    if (err) {
        tool_err("configs", "cannot get metadata from %s: %s", a->o.bootstrap, rd_kafka_err2str(err));
        return -1;
    }
    int cnt = a->entity == CE_TOPIC ? md->topic_cnt : md->broker_cnt;
    names = calloc((size_t)cnt + 1, sizeof *names);
    if (!names)
        abort();
    for (int k = 0; k < cnt; k++) {
        char buf[32];
        const char *nm;
        if (a->entity == CE_TOPIC) {
            if (md->topics[k].err)
                continue;
            nm = md->topics[k].topic;
        } else {
            snprintf(buf, sizeof buf, "%d", md->brokers[k].id);
            nm = buf;
        }
        if (!(names[n++] = strdup(nm)))
            abort();
    }
    rd_kafka_metadata_destroy(md);
    *names_out = names;
    return n;
}

static int configs_cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int configs_describe(rd_kafka_t *rk, const configs_args *a)
{
    char **names = NULL;
    int n = configs_names(rk, a, &names);
    if (n < 0)
        return 1;
    qsort(names, (size_t)n, sizeof *names, configs_cmp_str);
    int rc = 0;
    rd_kafka_event_t *ev = n > 0 ? configs_fetch(rk, a, (const char *const *)names, n) : NULL;
    if (n > 0 && !ev) {
        rc = 1;
        goto out;
    }
    size_t rn = 0;
    const rd_kafka_ConfigResource_t **rr =
        ev ? rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &rn) : NULL;
    if (a->o.json)
        printf("[");
    for (int k = 0; k < n; k++) {
        const rd_kafka_ConfigResource_t *res = NULL;
        for (size_t r = 0; r < rn && !res; r++)
            if (strcmp(rd_kafka_ConfigResource_name(rr[r]), names[k]) == 0)
                res = rr[r];
        if (!res) {
            tool_err("configs", "no answer for %s", names[k]);
            rc = 1;
            continue;
        }
        if (rd_kafka_ConfigResource_error(res)) {
            const char *msg = rd_kafka_ConfigResource_error_string(res);
            tool_err("configs", "%s %s: %s", a->entity == CE_TOPIC ? "topic" : "broker", names[k],
                     msg && *msg ? msg : rd_kafka_err2str(rd_kafka_ConfigResource_error(res)));
            rc = 1;
            continue;
        }
        size_t cn = 0;
        const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(res, &cn);
        const rd_kafka_ConfigEntry_t **sorted = calloc(cn + 1, sizeof *sorted);
        if (!sorted)
            abort();
        size_t sn = 0;
        for (size_t c = 0; c < cn; c++)
            if (a->all || configs_is_override(a, ce[c]))
                sorted[sn++] = ce[c];
        qsort(sorted, sn, sizeof *sorted, configs_cmp_entry);
        if (a->o.json) {
            printf("%s{\"entity_type\":\"%s\",\"entity_name\":", k ? "," : "",
                   a->entity == CE_TOPIC ? "topics" : "brokers");
            tool_json_str(stdout, names[k]);
            printf(",\"configs\":[");
            for (size_t c = 0; c < sn; c++)
                configs_entry_json(sorted[c], c == 0);
            printf("]}");
        } else {
            configs_header(a, names[k]);
            for (size_t c = 0; c < sn; c++)
                configs_entry_text(sorted[c]);
        }
        free(sorted);
    }
    if (a->o.json)
        printf("]\n");
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    for (int k = 0; k < n; k++)
        free(names[k]);
    free(names);
    return rc;
}

/* ---- alter ---- */

/* The current overrides of the one resource, into cur. */
static int configs_current(rd_kafka_t *rk, const configs_args *a, const char *name, configs_kv *cur)
{
    rd_kafka_event_t *ev = configs_fetch(rk, a, &name, 1);
    if (!ev)
        return -1;
    int rc = -1;
    size_t rn = 0;
    const rd_kafka_ConfigResource_t **rr =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &rn);
    if (rn != 1) {
        tool_err("configs", "no answer for %s", name);
        goto out;
    }
    if (rd_kafka_ConfigResource_error(rr[0])) {
        const char *msg = rd_kafka_ConfigResource_error_string(rr[0]);
        tool_err("configs", "%s", msg && *msg ? msg : rd_kafka_err2str(rd_kafka_ConfigResource_error(rr[0])));
        goto out;
    }
    size_t cn = 0;
    const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rr[0], &cn);
    for (size_t c = 0; c < cn; c++) {
        if (!configs_is_override(a, ce[c]))
            continue;
        const char *k = rd_kafka_ConfigEntry_name(ce[c]), *v = rd_kafka_ConfigEntry_value(ce[c]);
        if (rd_kafka_ConfigEntry_is_sensitive(ce[c]) || !v) {
            /* a non-incremental alter would have to resend it, unseen */
            tool_err("configs", "%s is sensitive: librdkafka 2.0 cannot alter this resource without "
                     "resetting it", k);
            goto out;
        }
        if (configs_kv_set(cur, k, strlen(k), v, strlen(v)) < 0)
            goto out;
    }
    rc = 0;
out:
    rd_kafka_event_destroy(ev);
    return rc;
}

static int configs_send(rd_kafka_t *rk, const configs_args *a, const char *name, const configs_kv *set)
{
    rd_kafka_ResourceType_t type = a->entity == CE_TOPIC ? RD_KAFKA_RESOURCE_TOPIC : RD_KAFKA_RESOURCE_BROKER;
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, name);
    int rc = -1;
    if (!res) {
        tool_err("configs", "librdkafka cannot address resource '%s'", name);
        return -1;
    }
    for (int k = 0; k < set->n; k++) {
        if (rd_kafka_ConfigResource_set_config(res, set->key[k], set->value[k])) {
            tool_err("configs", "cannot set %s", set->key[k]);
            rd_kafka_ConfigResource_destroy(res);
            return -1;
        }
    }
    rd_kafka_AdminOptions_t *opts = tool_admin_options(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, &a->o);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (opts) {
        rd_kafka_AlterConfigs(rk, &res, 1, opts, q);
        rd_kafka_event_t *ev = tool_admin_wait(q, &a->o);
        if (ev) {
            size_t rn = 0;
            const rd_kafka_ConfigResource_t **rr =
                rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &rn);
            if (rn != 1) {
                tool_err("configs", "no answer for %s", name);
            } else if (rd_kafka_ConfigResource_error(rr[0])) {
                const char *msg = rd_kafka_ConfigResource_error_string(rr[0]);
                tool_err("configs", "%s", msg && *msg ? msg
                                              : rd_kafka_err2str(rd_kafka_ConfigResource_error(rr[0])));
            } else {
                rc = 0;
            }
            rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opts);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return rc;
}

static int configs_alter(rd_kafka_t *rk, const configs_args *a)
{
    static configs_kv adds, dels, cur;
    const char *name = a->name ? a->name : "";
    int rc = 1;
    for (int k = 0; k < a->adds_n; k++)
        if (configs_parse_adds(a->adds[k], &adds) < 0)
            goto out;
    for (int k = 0; k < a->deletes_n; k++)
        if (configs_parse_deletes(a->deletes[k], &dels) < 0)
            goto out;
    if (configs_current(rk, a, name, &cur) < 0)
        goto out;
    /* Kafka: deleting a config that is not set fails the whole command */
    char missing[1024] = "";
    for (int k = 0; k < dels.n; k++)
        if (configs_kv_find(&cur, dels.key[k]) < 0)
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
                     missing[0] ? "," : "", dels.key[k]);
    if (missing[0]) {
        tool_err("configs", "Invalid config(s): %s", missing);
        goto out;
    }
    for (int k = 0; k < dels.n; k++)
        configs_kv_del(&cur, configs_kv_find(&cur, dels.key[k]));
    for (int k = 0; k < adds.n; k++)
        if (configs_kv_set(&cur, adds.key[k], strlen(adds.key[k]), adds.value[k], strlen(adds.value[k])) < 0)
            goto out;
    if (configs_send(rk, a, name, &cur) < 0)
        goto out;
    if (a->o.json) {
        printf("{\"entity_type\":\"%s\",\"entity_name\":", a->entity == CE_TOPIC ? "topics" : "brokers");
        tool_json_str(stdout, name);
        printf(",\"altered\":true}\n");
    } else if (a->entity_default) {
        printf("Completed updating default config for brokers in the cluster.\n");
    } else {
        printf("Completed updating config for %s %s.\n", a->entity == CE_TOPIC ? "topic" : "broker", name);
    }
    rc = 0;
out:
    configs_kv_free(&adds);
    configs_kv_free(&dels);
    configs_kv_free(&cur);
    return rc;
}

int tool_configs_main(int argc, char **argv)
{
    configs_args a;
    tool_set_cmd("configs");
    int prc = configs_parse(&a, argc, argv);
    if (prc == 1) {
        configs_usage(stdout);
        return 0;
    }
    if (prc != 0)
        return prc == 3 ? 1 : 2;
    tool_install_signals();
    rd_kafka_t *rk = tool_admin_new(&a.o);
    if (!rk)
        return 1;
    int rc = a.action == CA_DESCRIBE ? configs_describe(rk, &a) : configs_alter(rk, &a);
    rd_kafka_destroy(rk);
    return rc;
}
