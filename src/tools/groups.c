/*
 * groups.c - `gregor groups`, the counterpart of kafka-consumer-groups.sh:
 * list groups, describe them (offsets and lag, members, state), reset a
 * group's committed offsets (a plan by default, applied with --execute),
 * delete groups and delete committed offsets. Flags are Kafka's; the action
 * may also be given as a word (`gregor groups describe --group G`).
 *
 * Everything goes through librdkafka's admin API (ListGroups,
 * DescribeGroups, OffsetFetch, OffsetCommit, DeleteGroups, OffsetDelete)
 * and rd_kafka_offsets_for_times (ListOffsets with -2 earliest, -1 latest
 * or a timestamp). One client, one result queue; every wait is bounded by
 * --timeout-ms. Single-threaded: runs on the main thread only.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "tools/common.h"
#include "tools/tools.h"

#define CMD "groups"
#define GRP_ARGS_MAX 1024        /* --group / --topic options on one command line */
#define GRP_PARTS_PER_TOPIC_MAX 100000

typedef enum grp_action {
    GRP_ACT_NONE,
    GRP_ACT_LIST,
    GRP_ACT_DESCRIBE,
    GRP_ACT_RESET,
    GRP_ACT_DELETE,
    GRP_ACT_DELETE_OFFSETS,
} grp_action;

typedef enum grp_reset_kind {
    GRP_RESET_NONE,
    GRP_RESET_EARLIEST,
    GRP_RESET_LATEST,
    GRP_RESET_CURRENT,
    GRP_RESET_OFFSET,   /* reset_value: the offset */
    GRP_RESET_SHIFT,    /* reset_value: the shift, may be negative */
    GRP_RESET_DATETIME, /* reset_value: a timestamp in ms */
    GRP_RESET_DURATION, /* reset_value: a duration in ms, counted back from now */
} grp_reset_kind;

typedef struct grp_args {
    tool_opts o;
    grp_action action;
    const char *groups[GRP_ARGS_MAX];
    int groups_n;
    bool all_groups;
    const char *topics[GRP_ARGS_MAX]; /* "T" or "T:0,1" */
    int topics_n;
    bool all_topics;
    bool members, verbose, offsets, state;
    const char *state_filter; /* --list --state S1,S2; NULL: any */
    grp_reset_kind reset;
    int reset_kinds_n;        /* more than one is a usage error */
    int64_t reset_value;
    bool dry_run, execute;
} grp_args;

typedef struct grp_ctx {
    grp_args *a;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    bool json_first; /* no object written yet in the JSON array */
} grp_ctx;

/* ---------------------------------------------------------------- helpers */

/* "NAME: text" for a Kafka error code, without librdkafka's "Broker: ". */
static const char *grp_err_text(rd_kafka_resp_err_t err, char *buf, size_t n)
{
    const char *s = rd_kafka_err2str(err);
    if (strncmp(s, "Broker: ", 8) == 0)
        s += 8;
    snprintf(buf, n, "%s: %s", rd_kafka_err2name(err), s);
    return buf;
}

/* The same for an error object: "NAME: text". */
static const char *grp_error_text(const rd_kafka_error_t *e, char *buf, size_t n)
{
    const char *s = rd_kafka_error_string(e);
    if (strncmp(s, "Broker: ", 8) == 0)
        s += 8;
    snprintf(buf, n, "%s: %s", rd_kafka_err2name(rd_kafka_error_code(e)), s);
    return buf;
}

static void grp_json_sep(grp_ctx *c)
{
    fputs(c->json_first ? "\n  " : ",\n  ", stdout);
    c->json_first = false;
}

static void grp_json_key_str(const char *key, const char *v, bool comma)
{
    printf("\"%s\": ", key);
    if (v)
        tool_json_str(stdout, v);
    else
        fputs("null", stdout);
    if (comma)
        fputs(", ", stdout);
}

static void grp_json_key_off(const char *key, int64_t v, bool comma)
{
    if (v < 0)
        printf("\"%s\": null%s", key, comma ? ", " : "");
    else
        printf("\"%s\": %" PRId64 "%s", key, v, comma ? ", " : "");
}

static const char *grp_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* A non-negative number as text, "-" for a negative one (none). */
static const char *grp_num(int64_t v, char buf[24])
{
    if (v < 0)
        return "-";
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

/* librdkafka's destroy does not take NULL. */
static void grp_parts_free(rd_kafka_topic_partition_list_t *l)
{
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
}

/* Wait for the result of the one admin call queued on c->q, at most
 * --timeout-ms plus a margin. NULL after printing why: a timeout, Ctrl-C,
 * or an error of the whole call (a broker error shown as "NAME: text",
 * prefixed by `fail_prefix` when given, else by "<what> failed: "). */
static rd_kafka_event_t *grp_admin_wait_as(grp_ctx *c, rd_kafka_event_type_t type, const char *what,
                                           const char *fail_prefix)
{
    int64_t deadline_ms = clock_mono_ms() + c->a->o.timeout_ms + 3000;
    char buf[256];
    while (!tool_stop && clock_mono_ms() < deadline_ms) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(c->q, 100);
        if (!ev)
            continue;
        rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
        if (rd_kafka_event_type(ev) == type && !err)
            return ev;
        const char *why = err > 0 ? grp_err_text(err, buf, sizeof(buf)) : rd_kafka_event_error_string(ev);
        if (fail_prefix)
            fprintf(stderr, "%s%s\n", fail_prefix, why ? why : "unexpected answer");
        else
            tool_err(CMD, "%s failed: %s", what, why ? why : "unexpected answer");
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    tool_err(CMD, "%s: %s", what, tool_stop ? "interrupted" : "no answer from the broker in time");
    return NULL;
}

static rd_kafka_event_t *grp_admin_wait(grp_ctx *c, rd_kafka_event_type_t type, const char *what)
{
    return grp_admin_wait_as(c, type, what, NULL);
}

static rd_kafka_AdminOptions_t *grp_admin_options(grp_ctx *c, rd_kafka_admin_op_t op)
{
    return tool_admin_options(c->rk, op, &c->a->o);
}

/* Offsets at `ts` (-2 earliest, -1 latest, else a timestamp in ms) for
 * every partition of `parts`. Returns a new list (owned by the caller) or
 * NULL after printing why. A timestamp past the last record gives -1. */
static rd_kafka_topic_partition_list_t *grp_offsets_at(grp_ctx *c, const rd_kafka_topic_partition_list_t *parts,
                                                       int64_t ts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = ts;
    if (l->cnt == 0)
        return l;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c->rk, l, c->a->o.timeout_ms);
    char buf[256];
    if (err) {
        tool_err(CMD, "cannot list offsets: %s", grp_err_text(err, buf, sizeof(buf)));
        rd_kafka_topic_partition_list_destroy(l);
        return NULL;
    }
    for (int i = 0; i < l->cnt; i++) {
        if (l->elems[i].err) {
            tool_err(CMD, "cannot list offsets of %s-%" PRId32 ": %s", l->elems[i].topic, l->elems[i].partition,
                     grp_err_text(l->elems[i].err, buf, sizeof(buf)));
            rd_kafka_topic_partition_list_destroy(l);
            return NULL;
        }
    }
    return l;
}

static int64_t grp_offset_of(const rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_t *p =
        l ? rd_kafka_topic_partition_list_find((rd_kafka_topic_partition_list_t *)l, topic, partition) : NULL;
    return p ? p->offset : -1;
}

/* The group's committed offsets (all partitions), sorted; NULL on error. */
static rd_kafka_topic_partition_list_t *grp_committed(grp_ctx *c, const char *group)
{
    char ebuf[256];
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_AdminOptions_t *opt = grp_admin_options(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(c->rk, &req, 1, opt, c->q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_event_t *ev = grp_admin_wait(c, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, "OffsetFetch");
    if (!ev)
        return NULL;
    size_t n = 0;
    const rd_kafka_group_result_t **gr =
        rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    rd_kafka_topic_partition_list_t *out = NULL;
    if (n == 1 && rd_kafka_group_result_error(gr[0])) {
        tool_err(CMD, "cannot fetch the offsets of group '%s': %s", group,
                 grp_error_text(rd_kafka_group_result_error(gr[0]), ebuf, sizeof(ebuf)));
    } else {
        out = rd_kafka_topic_partition_list_new(16);
        const rd_kafka_topic_partition_list_t *l = n == 1 ? rd_kafka_group_result_partitions(gr[0]) : NULL;
        for (int i = 0; l && i < l->cnt; i++)
            if (l->elems[i].offset >= 0 && !l->elems[i].err)
                rd_kafka_topic_partition_list_add(out, l->elems[i].topic, l->elems[i].partition)->offset =
                    l->elems[i].offset;
        rd_kafka_topic_partition_list_sort(out, NULL, NULL);
    }
    rd_kafka_event_destroy(ev);
    return out;
}

/* Describe `n` groups; the event owns the descriptions. NULL on error. */
static rd_kafka_event_t *grp_describe(grp_ctx *c, const char **groups, size_t n)
{
    rd_kafka_AdminOptions_t *opt = grp_admin_options(c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_DescribeConsumerGroups(c->rk, groups, n, opt, c->q);
    rd_kafka_AdminOptions_destroy(opt);
    return grp_admin_wait(c, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, "DescribeGroups");
}

static const rd_kafka_ConsumerGroupDescription_t **grp_descs(rd_kafka_event_t *ev, size_t *n)
{
    return rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), n);
}

/* Partitions of one topic from a metadata request for all topics (which
 * never auto-creates). -1 when the topic does not exist or on error. */
static int grp_topic_partitions(grp_ctx *c, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 1, NULL, &md, c->a->o.timeout_ms);
    char buf[256];
    if (err) {
        tool_err(CMD, "cannot fetch metadata: %s", grp_err_text(err, buf, sizeof(buf)));
        return -1;
    }
    int n = -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (n < 0)
        tool_err(CMD, "topic '%s' does not exist", topic);
    return n;
}

/* Add the partitions named by a --topic value ("T" or "T:0,1,2") to `l`. */
static int grp_topic_spec_add(grp_ctx *c, const char *spec, rd_kafka_topic_partition_list_t *l)
{
    const char *colon = strchr(spec, ':');
    if (!colon) {
        int n = grp_topic_partitions(c, spec);
        for (int p = 0; p < n && p < GRP_PARTS_PER_TOPIC_MAX; p++)
            rd_kafka_topic_partition_list_add(l, spec, p);
        return n < 0 ? -1 : 0;
    }
    char topic[512];
    size_t tn = (size_t)(colon - spec);
    if (tn == 0 || tn >= sizeof(topic)) {
        tool_err(CMD, "bad --topic value '%s' (expected TOPIC or TOPIC:P1,P2)", spec);
        return -1;
    }
    memcpy(topic, spec, tn);
    topic[tn] = '\0';
    for (const char *s = colon + 1;;) {
        char *end;
        errno = 0;
        long p = strtol(s, &end, 10);
        if (end == s || errno || p < 0 || p > INT32_MAX || (*end != ',' && *end != '\0')) {
            tool_err(CMD, "bad partition list in --topic '%s'", spec);
            return -1;
        }
        if (!rd_kafka_topic_partition_list_find(l, topic, (int32_t)p))
            rd_kafka_topic_partition_list_add(l, topic, (int32_t)p);
        if (*end == '\0')
            break;
        s = end + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------- list */

static bool grp_state_matches(const char *filter, const char *state)
{
    if (!filter)
        return true;
    size_t sl = strlen(state);
    for (const char *s = filter; *s;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        while (n > 0 && isspace((unsigned char)*s))
            s++, n--;
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            n--;
        if (n == sl && strncasecmp(s, state, n) == 0)
            return true;
        if (!comma)
            break;
        s = comma + 1;
    }
    return false;
}

static int grp_check_state_filter(const char *filter)
{
    static const char *const known[] = { "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty" };
    for (const char *s = filter; s && *s;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        bool ok = false;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            ok |= strlen(known[k]) == n && strncasecmp(known[k], s, n) == 0;
        if (!ok) {
            tool_err(CMD, "--state: '%.*s' is not a group state (PreparingRebalance, CompletingRebalance, "
                          "Stable, Dead, Empty)", (int)n, s);
            return -1;
        }
        s = comma ? comma + 1 : s + n;
    }
    return 0;
}

static int grp_name_cmp(const void *x, const void *y)
{
    const rd_kafka_ConsumerGroupListing_t *const *a = x, *const *b = y;
    return strcmp(rd_kafka_ConsumerGroupListing_group_id(*a), rd_kafka_ConsumerGroupListing_group_id(*b));
}

/* Calls `each(c, group, state)` per listed group, sorted by name, that
 * passes the --state filter. Returns 0, or 1 after printing why. */
static int grp_list_each(grp_ctx *c, void (*each)(grp_ctx *, const char *, const char *, void *), void *arg)
{
    char ebuf[256];
    rd_kafka_AdminOptions_t *opt = grp_admin_options(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(c->rk, opt, c->q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_event_t *ev = grp_admin_wait(c, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, "ListGroups");
    if (!ev)
        return 1;
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t nerr = 0, n = 0;
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    const rd_kafka_ConsumerGroupListing_t **gl = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    int rc = 0;
    if (nerr > 0) {
        tool_err(CMD, "ListGroups failed: %s", grp_error_text(errs[0], ebuf, sizeof(ebuf)));
        rc = 1;
    }
    const rd_kafka_ConsumerGroupListing_t **sorted = calloc(n ? n : 1, sizeof(*sorted));
    if (!sorted) {
        rd_kafka_event_destroy(ev);
        return 1;
    }
    memcpy(sorted, gl, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), grp_name_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(sorted[i]));
        if (grp_state_matches(c->a->state_filter, state))
            each(c, rd_kafka_ConsumerGroupListing_group_id(sorted[i]), state, arg);
    }
    free(sorted);
    rd_kafka_event_destroy(ev);
    return rc;
}

static void grp_list_one(grp_ctx *c, const char *group, const char *state, void *arg)
{
    tool_table *t = arg;
    if (c->a->o.json) {
        grp_json_sep(c);
        fputs("{", stdout);
        grp_json_key_str("group", group, true);
        grp_json_key_str("state", state, false);
        fputs("}", stdout);
    } else if (t) {
        tool_table_add(t, (const char *const[]){ group, state });
    } else {
        printf("%s\n", group);
    }
}

/* --list: names one a line; with --state a GROUP STATE table (Kafka's). */
static int grp_cmd_list(grp_ctx *c)
{
    static const char *const hdr[] = { "GROUP", "STATE" };
    tool_table *t = c->a->state && !c->a->o.json ? tool_table_new(2, hdr) : NULL;
    if (c->a->o.json)
        fputs("[", stdout);
    int rc = grp_list_each(c, grp_list_one, t);
    if (c->a->o.json)
        fputs(c->json_first ? "]\n" : "\n]\n", stdout);
    if (t && rc == 0)
        tool_table_print(t, stdout);
    tool_table_free(t);
    return rc;
}

static void grp_collect_name(grp_ctx *c, const char *group, const char *state, void *arg)
{
    (void)state;
    grp_args *a = arg;
    if (a->groups_n < GRP_ARGS_MAX)
        a->groups[a->groups_n++] = strdup(group);
}

/* --------------------------------------------------------------- describe */

typedef struct grp_row {
    const char *topic; /* borrowed from a partition list */
    int32_t partition;
    int64_t current, log_end; /* -1: none */
    const rd_kafka_MemberDescription_t *member; /* NULL: not assigned */
} grp_row;

static int grp_row_cmp(const void *x, const void *y)
{
    const grp_row *a = x, *b = y;
    if (!a->topic || !b->topic)
        return a->topic ? -1 : b->topic ? 1 : 0;
    int r = strcmp(a->topic, b->topic);
    return r ? r : (a->partition > b->partition) - (a->partition < b->partition);
}

/* "Consumer group 'G' ..." notes as Kafka prints them. False when the group
 * does not exist (nothing else to show). */
static bool grp_state_note(const rd_kafka_ConsumerGroupDescription_t *d)
{
    char ebuf[256];
    const char *g = rd_kafka_ConsumerGroupDescription_group_id(d);
    const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(d);
    if (e && rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
        tool_err(CMD, "cannot describe group '%s': %s", g, grp_error_text(e, ebuf, sizeof(ebuf)));
        return false;
    }
    switch (e ? RD_KAFKA_CONSUMER_GROUP_STATE_DEAD : rd_kafka_ConsumerGroupDescription_state(d)) {
    case RD_KAFKA_CONSUMER_GROUP_STATE_DEAD:
        fflush(stdout);
        fprintf(stderr, "Error: Consumer group '%s' does not exist.\n", g);
        return false;
    case RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY:
        fflush(stdout);
        fprintf(stderr, "\nConsumer group '%s' has no active members.\n", g);
        break;
    case RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE:
    case RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE:
        fflush(stdout);
        fprintf(stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", g);
        break;
    default:
        break;
    }
    return true;
}

/* One row per assigned partition, per member without partitions, and per
 * committed partition nobody is assigned. *n_out rows; free() the array. */
static grp_row *grp_rows_build(const rd_kafka_ConsumerGroupDescription_t *d, const rd_kafka_topic_partition_list_t *committed,
                               size_t *n_out)
{
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d), cap = (size_t)committed->cnt + nm;
    for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        cap += (size_t)rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m))->cnt;
    }
    grp_row *rows = calloc(cap ? cap : 1, sizeof(*rows));
    size_t n = 0;
    for (size_t i = 0; rows && i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *a =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
        for (int k = 0; k < a->cnt; k++)
            rows[n++] = (grp_row){ a->elems[k].topic, a->elems[k].partition,
                                   grp_offset_of(committed, a->elems[k].topic, a->elems[k].partition), -1, m };
        if (a->cnt == 0)
            rows[n++] = (grp_row){ NULL, -1, -1, -1, m };
    }
    for (int k = 0; rows && k < committed->cnt; k++) {
        bool assigned = false;
        for (size_t r = 0; r < n && !assigned; r++)
            assigned = rows[r].topic && rows[r].partition == committed->elems[k].partition &&
                       strcmp(rows[r].topic, committed->elems[k].topic) == 0;
        if (!assigned)
            rows[n++] = (grp_row){ committed->elems[k].topic, committed->elems[k].partition,
                                   committed->elems[k].offset, -1, NULL };
    }
    if (rows)
        qsort(rows, n, sizeof(*rows), grp_row_cmp);
    *n_out = n;
    return rows;
}

/* Fill each row's log-end offset. 0, or 1 after printing why. */
static int grp_rows_log_end(grp_ctx *c, grp_row *rows, size_t n)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)n + 1);
    for (size_t i = 0; i < n; i++)
        if (rows[i].topic)
            rd_kafka_topic_partition_list_add(parts, rows[i].topic, rows[i].partition);
    rd_kafka_topic_partition_list_t *leo = grp_offsets_at(c, parts, RD_KAFKA_OFFSET_END);
    rd_kafka_topic_partition_list_destroy(parts);
    if (!leo)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (rows[i].topic)
            rows[i].log_end = grp_offset_of(leo, rows[i].topic, rows[i].partition);
    rd_kafka_topic_partition_list_destroy(leo);
    return 0;
}

static void grp_row_emit(grp_ctx *c, tool_table *t, const char *group, const grp_row *r)
{
    const rd_kafka_MemberDescription_t *m = r->member;
    const char *cid = m ? rd_kafka_MemberDescription_consumer_id(m) : NULL;
    const char *host = m ? rd_kafka_MemberDescription_host(m) : NULL;
    const char *client = m ? rd_kafka_MemberDescription_client_id(m) : NULL;
    int64_t lag = r->current >= 0 && r->log_end >= 0 ? r->log_end - r->current : -1;
    if (c->a->o.json) {
        grp_json_sep(c);
        fputs("{", stdout);
        grp_json_key_str("group", group, true);
        grp_json_key_str("topic", r->topic, true);
        if (r->topic)
            printf("\"partition\": %" PRId32 ", ", r->partition);
        else
            fputs("\"partition\": null, ", stdout);
        grp_json_key_off("current_offset", r->current, true);
        grp_json_key_off("log_end_offset", r->log_end, true);
        grp_json_key_off("lag", lag, true);
        grp_json_key_str("consumer_id", cid, true);
        grp_json_key_str("host", host, true);
        grp_json_key_str("client_id", client, false);
        fputs("}", stdout);
        return;
    }
    char b[4][24];
    tool_table_addf(t, 0, "%s", group);
    tool_table_addf(t, 1, "%s", grp_dash(r->topic));
    tool_table_addf(t, 2, "%s", grp_num(r->topic ? r->partition : -1, b[0]));
    tool_table_addf(t, 3, "%s", grp_num(r->current, b[1]));
    tool_table_addf(t, 4, "%s", grp_num(r->log_end, b[2]));
    tool_table_addf(t, 5, "%s", grp_num(lag, b[3]));
    tool_table_addf(t, 6, "%s", grp_dash(cid));
    tool_table_addf(t, 7, "%s", grp_dash(host));
    tool_table_addf(t, 8, "%s", grp_dash(client));
    tool_table_row_end(t);
}

/* The default view: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
 * CONSUMER-ID HOST CLIENT-ID. */
static int grp_view_offsets(grp_ctx *c, const rd_kafka_ConsumerGroupDescription_t *d)
{
    static const char *const hdr[] = { "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                                       "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID" };
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_topic_partition_list_t *committed = grp_committed(c, group);
    if (!committed)
        return 1;
    size_t n = 0;
    grp_row *rows = grp_rows_build(d, committed, &n);
    int rc = rows ? grp_rows_log_end(c, rows, n) : 1;
    if (rc == 0 && n > 0) {
        tool_table *t = c->a->o.json ? NULL : tool_table_new(9, hdr);
        for (size_t i = 0; i < n; i++)
            grp_row_emit(c, t, group, &rows[i]);
        if (t) {
            printf("\n");
            tool_table_print(t, stdout);
        }
        tool_table_free(t);
    }
    free(rows);
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

/* "t1(0,1),t2(3)" for a member's assignment, "-" when empty. */
static void grp_assignment_str(const rd_kafka_topic_partition_list_t *a, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < a->cnt && used + 1 < n; i++) {
        bool new_topic = i == 0 || strcmp(a->elems[i].topic, a->elems[i - 1].topic) != 0;
        bool last_of_topic = i + 1 == a->cnt || strcmp(a->elems[i].topic, a->elems[i + 1].topic) != 0;
        int w = snprintf(buf + used, n - used, "%s%s%s%" PRId32 "%s", new_topic && i ? "," : "",
                         new_topic ? a->elems[i].topic : "", new_topic ? "(" : ",", a->elems[i].partition,
                         last_of_topic ? ")" : "");
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used >= n && n > 4)
        strcpy(buf + n - 4, "...");
    if (!buf[0])
        snprintf(buf, n, "-");
}

static void grp_member_emit(grp_ctx *c, tool_table *t, const char *group, const rd_kafka_MemberDescription_t *m)
{
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_copy(
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m)));
    rd_kafka_topic_partition_list_sort(a, NULL, NULL);
    const char *inst = rd_kafka_MemberDescription_group_instance_id(m);
    if (c->a->o.json) {
        grp_json_sep(c);
        fputs("{", stdout);
        grp_json_key_str("group", group, true);
        grp_json_key_str("consumer_id", rd_kafka_MemberDescription_consumer_id(m), true);
        grp_json_key_str("group_instance_id", inst && *inst ? inst : NULL, true);
        grp_json_key_str("host", rd_kafka_MemberDescription_host(m), true);
        grp_json_key_str("client_id", rd_kafka_MemberDescription_client_id(m), true);
        printf("\"partitions\": %d, \"assignment\": [", a->cnt);
        for (int i = 0; i < a->cnt; i++) {
            printf("%s{\"topic\": ", i ? ", " : "");
            tool_json_str(stdout, a->elems[i].topic);
            printf(", \"partition\": %" PRId32 "}", a->elems[i].partition);
        }
        fputs("]}", stdout);
    } else {
        int col = 0;
        tool_table_addf(t, col++, "%s", group);
        tool_table_addf(t, col++, "%s", grp_dash(rd_kafka_MemberDescription_consumer_id(m)));
        if (c->a->verbose)
            tool_table_addf(t, col++, "%s", grp_dash(inst));
        tool_table_addf(t, col++, "%s", grp_dash(rd_kafka_MemberDescription_host(m)));
        tool_table_addf(t, col++, "%s", grp_dash(rd_kafka_MemberDescription_client_id(m)));
        tool_table_addf(t, col++, "%d", a->cnt);
        if (c->a->verbose) {
            char buf[4096];
            grp_assignment_str(a, buf, sizeof(buf));
            tool_table_addf(t, col++, "%s", buf);
        }
        tool_table_row_end(t);
    }
    rd_kafka_topic_partition_list_destroy(a);
}

/* --members: GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS; --verbose adds
 * GROUP-INSTANCE-ID and ASSIGNMENT, as Kafka does. */
static int grp_view_members(grp_ctx *c, const rd_kafka_ConsumerGroupDescription_t *d)
{
    static const char *const hdr[] = { "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS" };
    static const char *const hdr_v[] = { "GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST",
                                         "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT" };
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    if (nm == 0)
        return 0;
    tool_table *t = c->a->o.json ? NULL : c->a->verbose ? tool_table_new(7, hdr_v) : tool_table_new(5, hdr);
    for (size_t i = 0; i < nm; i++)
        grp_member_emit(c, t, rd_kafka_ConsumerGroupDescription_group_id(d),
                        rd_kafka_ConsumerGroupDescription_member(d, i));
    if (t) {
        printf("\n");
        tool_table_print(t, stdout);
    }
    tool_table_free(t);
    return 0;
}

/* --state: GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS. */
static int grp_view_state(grp_ctx *c, const rd_kafka_ConsumerGroupDescription_t *d)
{
    static const char *const hdr[] = { "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS" };
    const rd_kafka_Node_t *node = rd_kafka_ConsumerGroupDescription_coordinator(d);
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    const char *strategy = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    const char *state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d));
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    if (c->a->o.json) {
        grp_json_sep(c);
        fputs("{", stdout);
        grp_json_key_str("group", group, true);
        if (node) {
            printf("\"coordinator\": {\"id\": %d, \"host\": ", rd_kafka_Node_id(node));
            tool_json_str(stdout, rd_kafka_Node_host(node));
            printf(", \"port\": %u}, ", (unsigned)rd_kafka_Node_port(node));
        } else {
            fputs("\"coordinator\": null, ", stdout);
        }
        grp_json_key_str("assignment_strategy", strategy ? strategy : "", true);
        grp_json_key_str("state", state, true);
        printf("\"members\": %zu}", nm);
        return 0;
    }
    tool_table *t = tool_table_new(5, hdr);
    tool_table_addf(t, 0, "%s", group);
    if (node)
        tool_table_addf(t, 1, "%s:%u (%d)", rd_kafka_Node_host(node), (unsigned)rd_kafka_Node_port(node),
                        rd_kafka_Node_id(node));
    else
        tool_table_addf(t, 1, "-");
    tool_table_addf(t, 2, "%s", strategy ? strategy : "");
    tool_table_addf(t, 3, "%s", state);
    tool_table_addf(t, 4, "%zu", nm);
    tool_table_row_end(t);
    printf("\n");
    tool_table_print(t, stdout);
    tool_table_free(t);
    return 0;
}

static int grp_cmd_describe(grp_ctx *c)
{
    grp_args *a = c->a;
    if (a->all_groups && grp_list_each(c, grp_collect_name, a) != 0)
        return 1;
    if (a->groups_n == 0) {
        if (a->o.json)
            fputs("[]\n", stdout);
        return 0;
    }
    rd_kafka_event_t *ev = grp_describe(c, a->groups, (size_t)a->groups_n);
    if (!ev)
        return 1;
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **ds = grp_descs(ev, &n);
    int rc = 0;
    if (a->o.json)
        fputs("[", stdout);
    for (size_t i = 0; i < n; i++) {
        if (!grp_state_note(ds[i])) {
            rc = 1;
            continue;
        }
        int r = a->members ? grp_view_members(c, ds[i]) : a->state ? grp_view_state(c, ds[i])
                                                                   : grp_view_offsets(c, ds[i]);
        rc |= r;
    }
    if (a->o.json)
        fputs(c->json_first ? "]\n" : "\n]\n", stdout);
    rd_kafka_event_destroy(ev);
    return rc;
}

/* ------------------------------------------------------------------ reset */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no time zone involved. */
static int64_t grp_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:mm:SS[.sss][Z|+HH:MM|-HHMM|+HH]" as epoch ms; UTC when no
 * zone is given. -1 when it does not parse. */
static int64_t grp_parse_datetime(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
        return -1;
    const char *p = s + n;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int64_t zone_s = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int zh = 0, zm = 0, zn = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &zh, &zm, &zn) == 2 && zn == 5) {
        } else if (sscanf(p + 1, "%2d%2d%n", &zh, &zm, &zn) == 2 && zn == 4) {
        } else if (sscanf(p + 1, "%2d%n", &zh, &zn) == 1 && zn == 2) {
            zm = 0;
        } else {
            return -1;
        }
        zone_s = (int64_t)(zh * 3600 + zm * 60) * (*p == '-' ? -1 : 1);
        p += 1 + zn;
    }
    if (*p)
        return -1;
    int64_t days = grp_days_from_civil(y, mo, d);
    return ((days * 86400 + h * 3600 + mi * 60 + sec) - zone_s) * 1000 + ms;
}

/* ISO-8601 duration "PnDTnHnMn.nS" (Java's Duration.parse) as ms; -1 if bad. */
static int64_t grp_parse_duration(const char *s)
{
    const char *p = s;
    if (*p == '+')
        p++;
    if (*p != 'P' && *p != 'p')
        return -1;
    p++;
    bool in_time = false, any = false;
    double total_ms = 0;
    while (*p) {
        if ((*p == 'T' || *p == 't') && !in_time) {
            in_time = true;
            p++;
            continue;
        }
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0)
            return -1;
        char unit = (char)toupper((unsigned char)*end);
        double mult = !in_time && unit == 'D' ? 86400e3 : in_time && unit == 'H' ? 3600e3
                    : in_time && unit == 'M' ? 60e3 : in_time && unit == 'S' ? 1e3 : -1;
        if (mult < 0)
            return -1;
        total_ms += v * mult;
        any = true;
        p = end + 1;
    }
    return any && total_ms < 9.2e18 ? (int64_t)total_ms : -1;
}

/* The partitions a reset or delete-offsets works on: --all-topics (the
 * group's committed partitions) or every --topic. NULL after an error. */
static rd_kafka_topic_partition_list_t *grp_scope(grp_ctx *c, const rd_kafka_topic_partition_list_t *committed)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    if (c->a->all_topics && committed) {
        for (int i = 0; i < committed->cnt; i++)
            rd_kafka_topic_partition_list_add(l, committed->elems[i].topic, committed->elems[i].partition);
    }
    for (int i = 0; i < c->a->topics_n; i++) {
        if (grp_topic_spec_add(c, c->a->topics[i], l) != 0) {
            rd_kafka_topic_partition_list_destroy(l);
            return NULL;
        }
    }
    rd_kafka_topic_partition_list_sort(l, NULL, NULL);
    return l;
}

/* Clamp a wanted offset into [earliest, latest] as Kafka does, saying so. */
static int64_t grp_clamp(const rd_kafka_topic_partition_t *p, int64_t want, int64_t lo, int64_t hi)
{
    if (want < lo) {
        fprintf(stderr, "New offset (%" PRId64 ") is lower than earliest offset for topic partition %s-%" PRId32
                        ". Value will be set to %" PRId64 "\n", want, p->topic, p->partition, lo);
        return lo;
    }
    if (want > hi) {
        fprintf(stderr, "New offset (%" PRId64 ") is higher than latest offset for topic partition %s-%" PRId32
                        ". Value will be set to %" PRId64 "\n", want, p->topic, p->partition, hi);
        return hi;
    }
    return want;
}

/* Set each partition's offset in `plan` to its new value. 0 or 1. */
static int grp_plan_offsets(grp_ctx *c, rd_kafka_topic_partition_list_t *plan,
                            const rd_kafka_topic_partition_list_t *committed)
{
    rd_kafka_topic_partition_list_t *lo = grp_offsets_at(c, plan, RD_KAFKA_OFFSET_BEGINNING);
    rd_kafka_topic_partition_list_t *hi = lo ? grp_offsets_at(c, plan, RD_KAFKA_OFFSET_END) : NULL;
    rd_kafka_topic_partition_list_t *at = NULL;
    grp_reset_kind k = c->a->reset;
    int rc = hi ? 0 : 1;
    if (rc == 0 && (k == GRP_RESET_DATETIME || k == GRP_RESET_DURATION)) {
        int64_t ts = k == GRP_RESET_DATETIME ? c->a->reset_value : clock_now_ms() - c->a->reset_value;
        at = grp_offsets_at(c, plan, ts < 0 ? 0 : ts);
        rc = at ? 0 : 1;
    }
    for (int i = 0; rc == 0 && i < plan->cnt; i++) {
        rd_kafka_topic_partition_t *p = &plan->elems[i];
        int64_t e = lo->elems[i].offset, l = hi->elems[i].offset, cur = grp_offset_of(committed, p->topic, p->partition);
        switch (k) {
        case GRP_RESET_EARLIEST: p->offset = e; break;
        case GRP_RESET_LATEST: p->offset = l; break;
        case GRP_RESET_CURRENT: p->offset = cur >= 0 ? cur : l; break;
        case GRP_RESET_OFFSET: p->offset = grp_clamp(p, c->a->reset_value, e, l); break;
        case GRP_RESET_SHIFT:
            if (cur < 0) {
                tool_err(CMD, "cannot shift the offset of %s-%" PRId32 ": the group has no committed offset there",
                         p->topic, p->partition);
                rc = 1;
                break;
            }
            p->offset = grp_clamp(p, cur + c->a->reset_value, e, l);
            break;
        case GRP_RESET_DATETIME:
        case GRP_RESET_DURATION: p->offset = at->elems[i].offset >= 0 ? at->elems[i].offset : l; break;
        case GRP_RESET_NONE: rc = 1; break;
        }
    }
    grp_parts_free(lo);
    grp_parts_free(hi);
    grp_parts_free(at);
    return rc;
}

static void grp_plan_print(grp_ctx *c, const char *group, const rd_kafka_topic_partition_list_t *plan)
{
    static const char *const hdr[] = { "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET" };
    if (c->a->o.json) {
        for (int i = 0; i < plan->cnt; i++) {
            grp_json_sep(c);
            fputs("{", stdout);
            grp_json_key_str("group", group, true);
            grp_json_key_str("topic", plan->elems[i].topic, true);
            printf("\"partition\": %" PRId32 ", \"new_offset\": %" PRId64 "}", plan->elems[i].partition,
                   plan->elems[i].offset);
        }
        return;
    }
    tool_table *t = tool_table_new(4, hdr);
    for (int i = 0; i < plan->cnt; i++) {
        tool_table_addf(t, 0, "%s", group);
        tool_table_addf(t, 1, "%s", plan->elems[i].topic);
        tool_table_addf(t, 2, "%" PRId32, plan->elems[i].partition);
        tool_table_addf(t, 3, "%" PRId64, plan->elems[i].offset);
        tool_table_row_end(t);
    }
    printf("\n");
    tool_table_print(t, stdout);
    tool_table_free(t);
}

/* Commit the plan (OffsetCommit as a simple, generation-less member). */
static int grp_plan_execute(grp_ctx *c, const char *group, const rd_kafka_topic_partition_list_t *plan)
{
    char ebuf[256];
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, plan);
    rd_kafka_AdminOptions_t *opt = grp_admin_options(c, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(c->rk, &req, 1, opt, c->q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_event_t *ev = grp_admin_wait(c, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, "OffsetCommit");
    if (!ev)
        return 1;
    size_t n = 0;
    const rd_kafka_group_result_t **gr =
        rd_kafka_AlterConsumerGroupOffsets_result_groups(rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    int rc = 0;
    char buf[256];
    if (n != 1 || rd_kafka_group_result_error(gr[0])) {
        tool_err(CMD, "cannot reset the offsets of group '%s': %s", group,
                 n == 1 ? grp_error_text(rd_kafka_group_result_error(gr[0]), ebuf, sizeof(ebuf)) : "no result");
        rc = 1;
    }
    const rd_kafka_topic_partition_list_t *l = rc == 0 ? rd_kafka_group_result_partitions(gr[0]) : NULL;
    for (int i = 0; l && i < l->cnt; i++) {
        if (l->elems[i].err) {
            tool_err(CMD, "cannot reset %s-%" PRId32 " of group '%s': %s", l->elems[i].topic, l->elems[i].partition,
                     group, grp_err_text(l->elems[i].err, buf, sizeof(buf)));
            rc = 1;
        }
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* Kafka resets only groups without members (Empty, or not there yet). */
static int grp_check_inactive(grp_ctx *c, const char *group)
{
    char ebuf[256];
    rd_kafka_event_t *ev = grp_describe(c, &group, 1);
    if (!ev)
        return 1;
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **ds = grp_descs(ev, &n);
    int rc = 0;
    if (n == 1 && !rd_kafka_ConsumerGroupDescription_error(ds[0])) {
        rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(ds[0]);
        if (st != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY && st != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
            fprintf(stderr, "Error: Assignments can only be reset if the group '%s' is inactive, but the "
                            "current state is %s.\n", group, rd_kafka_consumer_group_state_name(st));
            rc = 1;
        }
    } else if (n == 1 && rd_kafka_error_code(rd_kafka_ConsumerGroupDescription_error(ds[0])) !=
                             RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
        tool_err(CMD, "cannot describe group '%s': %s", group,
                 grp_error_text(rd_kafka_ConsumerGroupDescription_error(ds[0]), ebuf, sizeof(ebuf)));
        rc = 1;
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static int grp_reset_one(grp_ctx *c, const char *group)
{
    if (grp_check_inactive(c, group) != 0)
        return 1;
    rd_kafka_topic_partition_list_t *committed = grp_committed(c, group);
    if (!committed)
        return 1;
    rd_kafka_topic_partition_list_t *plan = grp_scope(c, committed);
    int rc = plan ? grp_plan_offsets(c, plan, committed) : 1;
    if (rc == 0 && c->a->execute && plan->cnt > 0)
        rc = grp_plan_execute(c, group, plan);
    if (rc == 0)
        grp_plan_print(c, group, plan);
    if (plan)
        rd_kafka_topic_partition_list_destroy(plan);
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

static int grp_cmd_reset(grp_ctx *c)
{
    grp_args *a = c->a;
    if (!a->dry_run && !a->execute)
        fprintf(stderr, "WARN: No action will be performed as the --execute option is missing. "
                        "In a future major release, the default behavior of this command will be to prompt "
                        "the user before executing the reset rather than doing a dry run. You should add the "
                        "--dry-run option explicitly if you are scripting this command and want to keep the "
                        "current default behavior without prompting.\n");
    if (a->all_groups && grp_list_each(c, grp_collect_name, a) != 0)
        return 1;
    int rc = 0;
    if (a->o.json)
        fputs("[", stdout);
    for (int i = 0; i < a->groups_n; i++)
        rc |= grp_reset_one(c, a->groups[i]);
    if (a->o.json)
        fputs(c->json_first ? "]\n" : "\n]\n", stdout);
    return rc;
}

/* ----------------------------------------------------------------- delete */

static void grp_delete_report(grp_ctx *c, const rd_kafka_group_result_t **gr, size_t n)
{
    char ebuf[256];
    char line[2048];
    size_t used = 0;
    int failed = 0;
    line[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
        if (e) {
            if (failed++ == 0)
                fprintf(stderr, "Error: Deletion of some consumer groups failed:\n");
            fprintf(stderr, "* Group '%s' could not be deleted due to: %s\n", rd_kafka_group_result_name(gr[i]),
                    grp_error_text(e, ebuf, sizeof(ebuf)));
        } else if (used < sizeof(line)) {
            int w = snprintf(line + used, sizeof(line) - used, "%s'%s'", used ? ", " : "",
                             rd_kafka_group_result_name(gr[i]));
            used += w > 0 ? (size_t)w : 0;
        }
    }
    if (failed == 0)
        printf("Deletion of requested consumer groups (%s) was successful.\n", line);
    else if (used > 0)
        printf("\nThese consumer groups were deleted successfully: %s\n", line);
}

static int grp_cmd_delete(grp_ctx *c)
{
    char ebuf[256];
    grp_args *a = c->a;
    if (a->all_groups && grp_list_each(c, grp_collect_name, a) != 0)
        return 1;
    if (a->groups_n == 0) {
        if (a->o.json)
            fputs("[]\n", stdout);
        return 0;
    }
    rd_kafka_DeleteGroup_t *del[GRP_ARGS_MAX];
    for (int i = 0; i < a->groups_n; i++)
        del[i] = rd_kafka_DeleteGroup_new(a->groups[i]);
    rd_kafka_AdminOptions_t *opt = grp_admin_options(c, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(c->rk, del, (size_t)a->groups_n, opt, c->q);
    rd_kafka_DeleteGroup_destroy_array(del, (size_t)a->groups_n);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_event_t *ev = grp_admin_wait(c, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, "DeleteGroups");
    if (!ev)
        return 1;
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        rc |= rd_kafka_group_result_error(gr[i]) ? 1 : 0;
    if (a->o.json) {
        fputs("[", stdout);
        for (size_t i = 0; i < n; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
            grp_json_sep(c);
            fputs("{", stdout);
            grp_json_key_str("group", rd_kafka_group_result_name(gr[i]), true);
            grp_json_key_str("error", e ? grp_error_text(e, ebuf, sizeof(ebuf)) : NULL, false);
            fputs("}", stdout);
        }
        fputs(n ? "\n]\n" : "]\n", stdout);
    } else {
        grp_delete_report(c, gr, n);
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static void grp_delete_offsets_print(grp_ctx *c, const rd_kafka_topic_partition_list_t *l)
{
    static const char *const hdr[] = { "TOPIC", "PARTITION", "STATUS" };
    char buf[256];
    if (c->a->o.json) {
        fputs("[", stdout);
        for (int i = 0; i < l->cnt; i++) {
            grp_json_sep(c);
            fputs("{", stdout);
            grp_json_key_str("topic", l->elems[i].topic, true);
            printf("\"partition\": %" PRId32 ", ", l->elems[i].partition);
            grp_json_key_str("error", l->elems[i].err ? grp_err_text(l->elems[i].err, buf, sizeof(buf)) : NULL, false);
            fputs("}", stdout);
        }
        fputs(l->cnt ? "\n]\n" : "]\n", stdout);
        return;
    }
    tool_table *t = tool_table_new(3, hdr);
    for (int i = 0; i < l->cnt; i++) {
        tool_table_addf(t, 0, "%s", l->elems[i].topic);
        tool_table_addf(t, 1, "%" PRId32, l->elems[i].partition);
        if (l->elems[i].err)
            tool_table_addf(t, 2, "Error: %s", grp_err_text(l->elems[i].err, buf, sizeof(buf)));
        else
            tool_table_addf(t, 2, "Successful");
        tool_table_row_end(t);
    }
    printf("\n");
    tool_table_print(t, stdout);
    tool_table_free(t);
}

/* --delete-offsets --group G --topic T[:p,...]: OffsetDelete. */
static int grp_cmd_delete_offsets(grp_ctx *c)
{
    char ebuf[256];
    const char *group = c->a->groups[0];
    rd_kafka_topic_partition_list_t *parts = grp_scope(c, NULL);
    if (!parts)
        return 1;
    rd_kafka_DeleteConsumerGroupOffsets_t *req = rd_kafka_DeleteConsumerGroupOffsets_new(group, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_AdminOptions_t *opt = grp_admin_options(c, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS);
    rd_kafka_DeleteConsumerGroupOffsets(c->rk, &req, 1, opt, c->q);
    rd_kafka_DeleteConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_event_t *ev = grp_admin_wait_as(c, RD_KAFKA_EVENT_DELETECONSUMERGROUPOFFSETS_RESULT, "OffsetDelete",
                                             "Error: Encounter some unknown error: ");
    if (!ev)
        return 1;
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
        rd_kafka_event_DeleteConsumerGroupOffsets_result(ev), &n);
    int rc = 0;
    if (n != 1 || rd_kafka_group_result_error(gr[0])) {
        fprintf(stderr, "Error: Encounter some unknown error: %s\n",
                n == 1 ? grp_error_text(rd_kafka_group_result_error(gr[0]), ebuf, sizeof(ebuf)) : "no result");
        rc = 1;
    } else {
        const rd_kafka_topic_partition_list_t *l = rd_kafka_group_result_partitions(gr[0]);
        for (int i = 0; l && i < l->cnt; i++)
            rc |= l->elems[i].err ? 1 : 0;
        if (rc)
            fprintf(stderr, "Error: Encounter some partition level error, see the follow-up details:\n");
        else if (!c->a->o.json)
            printf("Request succeed for deleting offsets with topic %.*s group %s\n",
                   (int)strcspn(c->a->topics[0], ":"), c->a->topics[0], group);
        if (l)
            grp_delete_offsets_print(c, l);
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* ------------------------------------------------------------ arguments */

static void grp_usage(FILE *f)
{
    fprintf(f,
            "usage: gregor groups [list|describe|reset-offsets|delete|delete-offsets] [options]\n"
            "  (the same as kafka-consumer-groups.sh; the action can also be a flag)\n"
            "  --list [--state [S1,S2]]              group names; with --state a GROUP STATE table\n"
            "  --describe --group G | --all-groups   committed offsets, log-end offsets and lag\n"
            "      [--members [--verbose]]           members and their partitions instead\n"
            "      [--state]                         coordinator, assignor, state, member count instead\n"
            "  --reset-offsets --group G (--topic T[:P,...] ... | --all-topics)\n"
            "      --to-earliest | --to-latest | --to-current | --to-offset N | --shift-by N\n"
            "      | --to-datetime YYYY-MM-DDTHH:mm:SS.sss[Z|+HH:MM] (UTC without a zone)\n"
            "      | --by-duration PnDTnHnMnS\n"
            "      [--dry-run (default: print the plan) | --execute (commit it; group must be inactive)]\n"
            "  --delete --group G [--group G2]...    delete groups without members\n"
            "  --delete-offsets --group G --topic T[:P,...]\n"
            "common: --bootstrap-server HOST:PORT (localhost:9092)  --command-config FILE\n"
            "        --timeout-ms N (10000; --timeout is an alias)  --output table|json  --help\n"
            "exit: 0 ok, 1 failure, 2 usage error\n"
            "example:\n"
            "  gregor groups --bootstrap-server localhost:9092 --describe --group my-group\n"
            "  gregor groups reset-offsets --group my-group --topic orders --to-earliest --execute\n");
}

/* Does arg name option `name`, as "--name" or "--name=value"? */
static grp_action grp_action_word(const char *s)
{
    static const struct { const char *name; grp_action act; } words[] = {
        { "list", GRP_ACT_LIST }, { "describe", GRP_ACT_DESCRIBE }, { "reset-offsets", GRP_ACT_RESET },
        { "delete", GRP_ACT_DELETE }, { "delete-offsets", GRP_ACT_DELETE_OFFSETS },
    };
    if (strncmp(s, "--", 2) == 0)
        s += 2;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(s, words[i].name) == 0)
            return words[i].act;
    return GRP_ACT_NONE;
}

static int grp_parse_int64(const char *flag, const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || end == v || *end) {
        tool_err(CMD, "%s needs an integer, got '%s'", flag, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

/* A reset kind: --to-earliest etc. 1 if `s` is one, 0 if not, -1 on a bad value. */
static int grp_parse_reset_kind(grp_args *a, int argc, char **argv, int *i)
{
    static const struct { const char *flag; grp_reset_kind kind; } kinds[] = {
        { "--to-earliest", GRP_RESET_EARLIEST }, { "--to-latest", GRP_RESET_LATEST },
        { "--to-current", GRP_RESET_CURRENT }, { "--to-offset", GRP_RESET_OFFSET },
        { "--shift-by", GRP_RESET_SHIFT }, { "--to-datetime", GRP_RESET_DATETIME },
        { "--by-duration", GRP_RESET_DURATION },
    };
    const char *s = argv[*i];
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        if (!tool_opt_is(s, kinds[k].flag))
            continue;
        a->reset = kinds[k].kind;
        a->reset_kinds_n++;
        if (a->reset == GRP_RESET_OFFSET || a->reset == GRP_RESET_SHIFT)
            return grp_parse_int64(kinds[k].flag, tool_arg_value(argc, argv, i), &a->reset_value) == 0 ? 1 : -1;
        if (a->reset == GRP_RESET_DATETIME || a->reset == GRP_RESET_DURATION) {
            const char *v = tool_arg_value(argc, argv, i);
            if (!v)
                return -1;
            a->reset_value = a->reset == GRP_RESET_DATETIME ? grp_parse_datetime(v) : grp_parse_duration(v);
            if (a->reset_value < 0) {
                tool_err(CMD, "%s: cannot parse '%s' (expected %s)", kinds[k].flag, v,
                         a->reset == GRP_RESET_DATETIME ? "YYYY-MM-DDTHH:mm:SS.sss, optionally with Z or +HH:MM"
                                                        : "an ISO-8601 duration such as PT1H30M or P1DT2H");
                return -1;
            }
        }
        return 1;
    }
    return 0;
}

static int grp_set_action(grp_args *a, grp_action act)
{
    if (a->action != GRP_ACT_NONE && a->action != act) {
        tool_err(CMD, "give one of --list, --describe, --reset-offsets, --delete, --delete-offsets");
        return -1;
    }
    a->action = act;
    return 0;
}

/* One option at argv[*i]: 0 consumed, -1 usage error. */
static int grp_parse_one(grp_args *a, int argc, char **argv, int *i)
{
    const char *s = argv[*i];
    int r = tool_opts_parse(&a->o, argc, argv, i);
    if (r != 0)
        return r > 0 ? 0 : -1;
    grp_action act = grp_action_word(s);
    if (act != GRP_ACT_NONE && (s[0] == '-' || a->action == GRP_ACT_NONE))
        return grp_set_action(a, act);
    if ((r = grp_parse_reset_kind(a, argc, argv, i)) != 0)
        return r > 0 ? 0 : -1;
    if (tool_opt_is(s, "--group") || tool_opt_is(s, "--topic")) {
        const char *v = tool_arg_value(argc, argv, i);
        bool g = s[2] == 'g';
        if (!v || (g ? a->groups_n : a->topics_n) >= GRP_ARGS_MAX)
            return -1;
        if (g)
            a->groups[a->groups_n++] = v;
        else
            a->topics[a->topics_n++] = v;
        return 0;
    }
    if (tool_opt_is(s, "--state")) {
        a->state = true;
        if (s[7] == '=')
            a->state_filter = s + 8;
        else if (*i + 1 < argc && argv[*i + 1][0] != '-' && grp_action_word(argv[*i + 1]) == GRP_ACT_NONE)
            a->state_filter = argv[++*i];
        return 0;
    }
    bool *flag = strcmp(s, "--all-groups") == 0 ? &a->all_groups : strcmp(s, "--all-topics") == 0 ? &a->all_topics
               : strcmp(s, "--members") == 0 ? &a->members : strcmp(s, "--verbose") == 0 ? &a->verbose
               : strcmp(s, "--offsets") == 0 ? &a->offsets : strcmp(s, "--dry-run") == 0 ? &a->dry_run
               : strcmp(s, "--execute") == 0 ? &a->execute : NULL;
    if (flag) {
        *flag = true;
        return 0;
    }
    tool_err(CMD, "unknown option '%s' (see --help)", s);
    return -1;
}

/* Cross-option checks, with Kafka's wording where it has one. */
static int grp_check_args(grp_args *a)
{
    const char *act = a->action == GRP_ACT_DESCRIBE ? "describe" : a->action == GRP_ACT_RESET ? "reset-offsets"
                    : a->action == GRP_ACT_DELETE ? "delete" : "delete-offsets";
    if (a->action == GRP_ACT_NONE) {
        tool_err(CMD, "give one of --list, --describe, --reset-offsets, --delete, --delete-offsets (see --help)");
        return -1;
    }
    if (a->action == GRP_ACT_LIST)
        return a->state_filter ? grp_check_state_filter(a->state_filter) : 0;
    if (a->action != GRP_ACT_DELETE_OFFSETS && a->groups_n == 0 && !a->all_groups) {
        tool_err(CMD, "Option [%s] takes one of these options: [all-groups], [group]", act);
        return -1;
    }
    if (a->action == GRP_ACT_DESCRIBE && (a->members + a->state + a->offsets) > 1) {
        tool_err(CMD, "Option [describe] takes at most one of these options: [members], [offsets], [state]");
        return -1;
    }
    if (a->action == GRP_ACT_RESET) {
        if (a->topics_n == 0 && !a->all_topics) {
            tool_err(CMD, "Option [reset-offsets] takes one of these options: [all-topics], [topic]");
            return -1;
        }
        if (a->reset_kinds_n != 1) {
            tool_err(CMD, "Option [reset-offsets] takes exactly one of these options: [to-offset], [to-datetime], "
                          "[by-duration], [to-earliest], [to-latest], [shift-by], [to-current]");
            return -1;
        }
        if (a->dry_run && a->execute) {
            tool_err(CMD, "Option [reset-offsets] takes at most one of these options: [dry-run], [execute]");
            return -1;
        }
    }
    if (a->action == GRP_ACT_DELETE_OFFSETS && (a->groups_n != 1 || a->topics_n == 0)) {
        tool_err(CMD, "Option [delete-offsets] takes the [group] and [topic] options (one group)");
        return -1;
    }
    return 0;
}

/* Parse argv into a; 0 ok, 1 --help printed, -1 usage error. */
static int grp_parse_args(grp_args *a, int argc, char **argv)
{
    tool_opts_init(&a->o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            grp_usage(stdout);
            return 1;
        }
        if (grp_parse_one(a, argc, argv, &i) != 0)
            return -1;
    }
    return grp_check_args(a);
}

int tool_groups_main(int argc, char **argv)
{
    static grp_args a; /* large arrays: not on the stack */
    memset(&a, 0, sizeof(a));
    int r = grp_parse_args(&a, argc, argv);
    if (r != 0)
        return r > 0 ? 0 : 2;
    tool_install_signals();
    rd_kafka_t *rk = tool_admin_new(&a.o);
    if (!rk)
        return 1;
    grp_ctx c = { .a = &a, .rk = rk, .q = rd_kafka_queue_new(rk), .json_first = true };
    int groups_given = a.groups_n;
    switch (a.action) {
    case GRP_ACT_LIST: r = grp_cmd_list(&c); break;
    case GRP_ACT_DESCRIBE: r = grp_cmd_describe(&c); break;
    case GRP_ACT_RESET: r = grp_cmd_reset(&c); break;
    case GRP_ACT_DELETE: r = grp_cmd_delete(&c); break;
    case GRP_ACT_DELETE_OFFSETS: r = grp_cmd_delete_offsets(&c); break;
    case GRP_ACT_NONE: r = 2; break;
    }
    for (int i = groups_given; i < a.groups_n; i++)
        free((char *)a.groups[i]); /* names collected by --all-groups */
    rd_kafka_queue_destroy(c.q);
    rd_kafka_destroy(rk);
    return r;
}
