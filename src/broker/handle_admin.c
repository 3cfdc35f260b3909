/*
 * handle_admin.c - CreateTopics, DeleteTopics, CreatePartitions and
 * DescribeConfigs. The controller decides each change and writes it to
 * the metadata log (metadata/metalog.h); the answer waits until the records
 * are committed (durable) and applied, so an acknowledged topic survives a
 * power cut and is there for the client's next request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "proto/kerrors.h"
#include "broker/topic_config.h"
#include "group/coordinator.h"
#include "metadata/metalog.h"

/* ---- answering after the metadata change is applied ---- */

typedef void (*admin_encode_fn)(broker *b, req *rq, void *resp);

typedef struct admin_wait {
    broker *b;
    req *rq;
    admin_encode_fn encode;
    void *resp;
} admin_wait;

static void admin_send(broker *b, req *rq, admin_encode_fn encode, void *resp)
{
    conn_resp_begin(rq);
    encode(b, rq, resp);
    conn_req_complete(rq);
}

#define ADMIN_RETRY_DEADLINE_MS 30000

static void admin_applied(reactor *r, void *arg, int rc)
{
    (void)r;
    admin_wait *w = arg;
    req *rq = w->rq;
    if (rc == METALOG_NOT_CONTROLLER) {
        /* This controller lost its leadership before the records were
         * committed: they may never be. The request runs again - forwarded
         * to the new controller, or here once this node leads again - and
         * is never answered as done meanwhile. */
        if (atomic_load(&w->b->shutting_down) || clock_mono_ms() - rq->recv_ms > ADMIN_RETRY_DEADLINE_MS) {
            broker_bad_request(rq, "the controller lost its leadership before the change was committed");
            return;
        }
        glog(GLOG_INFO, "meta", "%s: the controller lost its leadership before the change was committed; "
             "trying it again", kp_api_find(rq->hdr.api_key)->name);
        rq->body.pos = rq->body_start;
        broker_api_find(rq->hdr.api_key)->handle(w->b, rq);
        return;
    }
    if (rc != LOG_OK)
        glog(GLOG_ERROR, "meta", "metadata log fsync failed; the change may not survive a power cut");
    admin_send(w->b, rq, w->encode, w->resp);
}

/* Answer once the records up to wait_offset are committed and applied (the
 * topic table shows them); at once when nothing was written. */
static void admin_answer(broker *b, req *rq, int64_t wait_offset, admin_encode_fn encode, void *resp)
{
    if (wait_offset < 0) {
        admin_send(b, rq, encode, resp);
        return;
    }
    admin_wait *w = arena_alloc(&rq->arena, sizeof(*w));
    w->b = b;
    w->rq = rq;
    w->encode = encode;
    w->resp = resp;
    metalog_wait_applied(b->meta, wait_offset, conn_reactor(rq->conn), admin_applied, w);
}

void broker_answer_applied(broker *b, req *rq, int64_t wait_offset, broker_encode_fn encode, void *resp)
{
    admin_answer(b, rq, wait_offset, encode, resp);
}

static kp_str fmt_msg(req *rq, const char *msg) { return msg && *msg ? arena_kstr(&rq->arena, msg) : KP_STR_NULL; }

/* ---- CreateTopics ---- */

static void describe_created(broker *b, req *rq, kp_create_topics_resp_topic *tr)
{
    topic *tp = topics_get(b->topics, tr->name.ptr, tr->name.len);
    if (!tp)
        return;
    tr->topic_id = tp->id;
    tr->num_partitions = topic_nparts(tp);
    metalog_read_lock(b->meta);
    const mi_topic *mt = mimage_topic_by_id(metalog_image(b->meta), tp->id);
    tr->replication_factor = (int16_t)(mt && mt->nparts > 0 ? mt->parts[0].nreplicas : 1);
    metalog_read_unlock(b->meta);
    tr->configs = arena_alloc(&rq->arena, sizeof(*tr->configs) * TCFG_COUNT);
    tr->configs_n = tr->configs ? TCFG_COUNT : 0;
    topics_read_lock(b->topics);
    for (int i = 0; i < tr->configs_n; i++) {
        kp_create_topics_resp_config *c = &tr->configs[i];
        int src;
        kp_create_topics_resp_config_init(c);
        c->name = kp_str_c(topic_config_defs[i].name);
        c->value = arena_kstr(&rq->arena, topic_config_value(&tp->overrides, &b->cfg, i, &src));
        c->config_source = (int8_t)src;
        c->read_only = false;
        c->is_sensitive = false;
    }
    topics_read_unlock(b->topics);
    topic_unref(tp);
}

typedef struct create_resp {
    kp_create_topics_resp resp;
    bool validate_only;
} create_resp;

/* After the apply: the created topics as the table has them (v5+). */
static void enc_create_topics(broker *b, req *rq, void *arg)
{
    create_resp *cr = arg;
    int16_t ver = rq->hdr.api_version;
    for (int i = 0; ver >= 5 && !cr->validate_only && i < cr->resp.topics_n; i++)
        if (cr->resp.topics[i].error_code == KERR_NONE)
            describe_created(b, rq, &cr->resp.topics[i]);
    kp_create_topics_resp_encode(&rq->out, ver, &cr->resp);
}

static int16_t check_new_topic(broker *b, const kp_create_topics_req_topic *rt, int32_t *nparts,
                               int16_t *rf, char *msg, size_t msglen)
{
    const char *why;
    if (!topic_name_valid(rt->name.ptr, rt->name.len, &why)) {
        snprintf(msg, msglen, "%s", why);
        return KERR_INVALID_TOPIC_EXCEPTION;
    }
    if (rt->assignments_n > 0) {
        if (rt->num_partitions != -1 || rt->replication_factor != -1) {
            snprintf(msg, msglen, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.");
            return KERR_INVALID_REQUEST;
        }
        for (int i = 0; i < rt->assignments_n; i++)
            if (rt->assignments[i].partition_index != i) {
                snprintf(msg, msglen, "Partitions should be sequentially numbered from 0: the assignments name partition %d at position %d.",
                         rt->assignments[i].partition_index, i);
                return KERR_INVALID_REPLICA_ASSIGNMENT;
            }
        *nparts = rt->assignments_n;
        *rf = -1; /* the assignments say */
        return KERR_NONE;
    }
    *nparts = rt->num_partitions == -1 ? (int32_t)config_get_num(&b->cfg, BCFG_NUM_PARTITIONS) : rt->num_partitions;
    *rf = rt->replication_factor == -1 ? (int16_t)config_get_num(&b->cfg, BCFG_DEFAULT_REPLICATION_FACTOR)
                                       : rt->replication_factor;
    if (*nparts <= 0) {
        snprintf(msg, msglen, "Number of partitions must be larger than 0.");
        return KERR_INVALID_PARTITIONS;
    }
    if (*nparts > 100000) {
        snprintf(msg, msglen, "Number of partitions %d is more than this broker serves per topic (100000).", *nparts);
        return KERR_INVALID_PARTITIONS;
    }
    if (*rf <= 0) {
        snprintf(msg, msglen, "Replication factor must be larger than 0.");
        return KERR_INVALID_REPLICATION_FACTOR;
    }
    return KERR_NONE; /* the controller checks the factor against the brokers */
}

void handle_create_topics(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    int16_t ver = rq->hdr.api_version;
    kp_create_topics_req body;
    kp_create_topics_req_init(&body);
    if (kp_create_topics_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    create_resp *cr = arena_alloc(&rq->arena, sizeof(*cr));
    kp_create_topics_resp *resp = &cr->resp;
    kp_create_topics_resp_init(resp);
    cr->validate_only = body.validate_only;
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    resp->topics = arena_alloc(&rq->arena, sizeof(*resp->topics) * (size_t)(nt ? nt : 1));
    resp->topics_n = nt;
    int64_t wait = -1;
    for (int i = 0; i < nt; i++) {
        kp_create_topics_req_topic *rt = &body.topics[i];
        kp_create_topics_resp_topic *tr = &resp->topics[i];
        kp_create_topics_resp_topic_init(tr);
        tr->name = rt->name;
        char msg[400] = "";
        int32_t nparts = 0;
        int16_t rf = 0;
        bool dup = false;
        for (int j = 0; j < nt; j++)
            if (j != i && body.topics[j].name.len == rt->name.len &&
                memcmp(body.topics[j].name.ptr, rt->name.ptr, (size_t)rt->name.len) == 0)
                dup = true;
        int16_t code = dup ? KERR_INVALID_REQUEST : check_new_topic(b, rt, &nparts, &rf, msg, sizeof(msg));
        if (dup)
            snprintf(msg, sizeof(msg), "Create topics request from client contains multiple entries for the same topic.");
        char *name = arena_strndup(&rq->arena, rt->name.ptr, rt->name.len > 0 ? (size_t)rt->name.len : 0);
        int nc = rt->configs_n > 0 ? rt->configs_n : 0;
        ctl_config *cfgs = arena_alloc(&rq->arena, sizeof(*cfgs) * (size_t)(nc ? nc : 1));
        for (int j = 0; j < nc && cfgs; j++) {
            kp_create_topics_req_config *c = &rt->configs[j];
            cfgs[j].name = arena_strndup(&rq->arena, c->name.ptr, c->name.len > 0 ? (size_t)c->name.len : 0);
            cfgs[j].value = c->value.len >= 0 ? arena_strndup(&rq->arena, c->value.ptr, (size_t)c->value.len) : NULL;
        }
        if (code == KERR_NONE)
            code = metalog_check_configs(cfgs, nc, msg, sizeof(msg));
        if (code == KERR_NONE)
            code = broker_fd_budget(b, nparts, msg, sizeof(msg));
        if (code == KERR_NONE) {
            topic *tp = topics_get(b->topics, rt->name.ptr, rt->name.len);
            if (tp) {
                topic_unref(tp);
                code = KERR_TOPIC_ALREADY_EXISTS;
                snprintf(msg, sizeof(msg), "Topic '%s' already exists.", name);
            }
        }
        ctl_assignment *asg = NULL;
        if (code == KERR_NONE && rt->assignments_n > 0) {
            asg = arena_alloc(&rq->arena, sizeof(*asg) * (size_t)rt->assignments_n);
            for (int j = 0; asg && j < rt->assignments_n; j++)
                asg[j] = (ctl_assignment){ rt->assignments[j].broker_ids,
                                           rt->assignments[j].broker_ids_n > 0 ? rt->assignments[j].broker_ids_n : 0 };
        }
        if (code == KERR_NONE) {
            kp_uuid id;
            int64_t end;
            code = metalog_create_topic(b->meta, name, nparts, rf, asg, cfgs, nc, body.validate_only, &id, &end,
                                        msg, sizeof(msg));
            if (code == KERR_NONE && end >= 0)
                wait = end;
            if (rf < 0 && asg)
                rf = (int16_t)asg[0].n;
        }
        tr->error_code = code;
        tr->error_message = fmt_msg(rq, msg);
        if (code == KERR_NONE && ver >= 5 && body.validate_only) {
            tr->num_partitions = nparts;
            tr->replication_factor = rf;
            tr->configs_n = 0;
        }
    }
    admin_answer(b, rq, wait, enc_create_topics, cr);
}

/* ---- DeleteTopics ---- */

static void enc_delete_topics(broker *b, req *rq, void *resp)
{
    kp_delete_topics_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

static int16_t delete_one(broker *b, topic *tp, int64_t *wait)
{
    if (!config_get_num(&b->cfg, BCFG_DELETE_TOPIC_ENABLE))
        return KERR_TOPIC_DELETION_DISABLED;
    int64_t end;
    char msg[256];
    int16_t code = metalog_delete_topic(b->meta, tp->id, &end, msg, sizeof msg);
    if (code == KERR_NONE)
        *wait = end; /* the publisher drops the topic and its group offsets */
    else if (code == KERR_UNKNOWN_TOPIC_ID)
        code = KERR_UNKNOWN_TOPIC_OR_PARTITION; /* deleted by a request just before */
    return code;
}

void handle_delete_topics(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    int16_t ver = rq->hdr.api_version;
    kp_delete_topics_req body;
    kp_delete_topics_req_init(&body);
    if (kp_delete_topics_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_delete_topics_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    kp_delete_topics_resp_init(resp);
    int n = ver >= 6 ? body.topics_n : body.topic_names_n;
    if (n < 0)
        n = 0;
    resp->responses = arena_alloc(&rq->arena, sizeof(*resp->responses) * (size_t)(n ? n : 1));
    resp->responses_n = n;
    int64_t wait = -1;
    for (int i = 0; i < n; i++) {
        kp_delete_topics_resp_topic *tr = &resp->responses[i];
        kp_delete_topics_resp_topic_init(tr);
        topic *tp;
        if (ver >= 6) {
            kp_delete_topics_req_topic *rt = &body.topics[i];
            tr->name = rt->name;
            tr->topic_id = rt->topic_id;
            tp = rt->name.len >= 0 ? topics_get(b->topics, rt->name.ptr, rt->name.len)
                                   : topics_get_by_id(b->topics, rt->topic_id);
            if (!tp) {
                tr->error_code = rt->name.len >= 0 ? KERR_UNKNOWN_TOPIC_OR_PARTITION : KERR_UNKNOWN_TOPIC_ID;
                tr->error_message = kp_str_c(kerr_message(tr->error_code));
                continue;
            }
        } else {
            tr->name = body.topic_names[i];
            tp = topics_get(b->topics, tr->name.ptr, tr->name.len);
            if (!tp) {
                tr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                tr->error_message = kp_str_c(kerr_message(tr->error_code));
                continue;
            }
        }
        tr->name = arena_kstr(&rq->arena, tp->name);
        tr->topic_id = tp->id;
        tr->error_code = delete_one(b, tp, &wait);
        topic_unref(tp);
    }
    admin_answer(b, rq, wait, enc_delete_topics, resp);
}

/* ---- CreatePartitions ---- */

static void enc_create_partitions(broker *b, req *rq, void *resp)
{
    kp_create_partitions_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

void handle_create_partitions(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    int16_t ver = rq->hdr.api_version;
    kp_create_partitions_req body;
    kp_create_partitions_req_init(&body);
    if (kp_create_partitions_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_create_partitions_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    kp_create_partitions_resp_init(resp);
    int n = body.topics_n > 0 ? body.topics_n : 0;
    resp->results = arena_alloc(&rq->arena, sizeof(*resp->results) * (size_t)(n ? n : 1));
    resp->results_n = n;
    int64_t wait = -1;
    for (int i = 0; i < n; i++) {
        kp_create_partitions_req_topic *rt = &body.topics[i];
        kp_create_partitions_resp_topic *tr = &resp->results[i];
        kp_create_partitions_resp_topic_init(tr);
        tr->name = rt->name;
        char msg[300] = "";
        topic *tp = topics_get(b->topics, rt->name.ptr, rt->name.len);
        if (!tp) {
            tr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION; /* with no message, as Kafka */
            tr->error_message = KP_STR_NULL;
            continue;
        }
        int32_t cur = topic_nparts(tp);
        int16_t code = KERR_NONE;
        if (rt->count <= cur) {
            /* Kafka 4's words (ReplicationControlManager) */
            if (rt->count == cur)
                snprintf(msg, sizeof(msg), "Topic already has %d partition(s).", cur);
            else
                snprintf(msg, sizeof(msg), "The topic %.*s currently has %d partition(s); %d would not be an increase.",
                         rt->name.len, rt->name.ptr, cur, rt->count);
            code = KERR_INVALID_PARTITIONS;
        } else if (rt->count > 100000) {
            snprintf(msg, sizeof(msg), "Number of partitions %d is more than this broker serves per topic (100000).", rt->count);
            code = KERR_INVALID_PARTITIONS;
        } else if (rt->assignments_n >= 0 && rt->assignments_n != rt->count - cur) {
            snprintf(msg, sizeof(msg), "Increasing the number of partitions by %d but %d assignments provided.",
                     rt->count - cur, rt->assignments_n);
            code = KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (code == KERR_NONE)
            code = broker_fd_budget(b, rt->count - cur, msg, sizeof(msg));
        if (code == KERR_NONE) {
            int na = rt->assignments_n > 0 ? rt->assignments_n : 0;
            ctl_assignment *asg = na ? arena_alloc(&rq->arena, sizeof(*asg) * (size_t)na) : NULL;
            for (int j = 0; asg && j < na; j++)
                asg[j] = (ctl_assignment){ rt->assignments[j].broker_ids,
                                           rt->assignments[j].broker_ids_n > 0 ? rt->assignments[j].broker_ids_n : 0 };
            int64_t end;
            code = metalog_create_partitions(b->meta, tp->name, rt->count, asg, na, body.validate_only, &end, msg,
                                             sizeof(msg));
            if (code == KERR_NONE && end >= 0)
                wait = end;
        }
        topic_unref(tp);
        tr->error_code = code;
        tr->error_message = fmt_msg(rq, msg);
    }
    admin_answer(b, rq, wait, enc_create_partitions, resp);
}

/* ---- DescribeConfigs ---- */

#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4
#define RESOURCE_BROKER_LOGGER 8

static bool wanted(const kp_describe_configs_req_resource *res, const char *name)
{
    if (res->configuration_keys_n < 0)
        return true;
    for (int i = 0; i < res->configuration_keys_n; i++)
        if (kp_str_eq(res->configuration_keys[i], name))
            return true;
    return false;
}

static void add_synonym(req *rq, kp_describe_configs_resp_config *c, const char *name, const char *value, int8_t source)
{
    kp_describe_configs_resp_synonym *s = &c->synonyms[c->synonyms_n++];
    kp_describe_configs_resp_synonym_init(s);
    s->name = kp_str_c(name);
    s->value = arena_kstr(&rq->arena, value);
    s->source = source;
}

static void describe_topic(broker *b, req *rq, const kp_describe_configs_req *body,
                           const kp_describe_configs_req_resource *res, kp_describe_configs_resp_result *out)
{
    topic *tp = topics_get(b->topics, res->resource_name.ptr, res->resource_name.len);
    if (!tp) {
        out->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        out->error_message = kp_str_c("The topic does not exist.");
        out->configs_n = 0;
        return;
    }
    out->configs = arena_alloc(&rq->arena, sizeof(*out->configs) * TCFG_COUNT);
    out->configs_n = 0;
    topics_read_lock(b->topics);
    for (int i = 0; i < TCFG_COUNT && out->configs; i++) {
        const config_def *d = &topic_config_defs[i];
        if (!wanted(res, d->name))
            continue;
        kp_describe_configs_resp_config *c = &out->configs[out->configs_n++];
        kp_describe_configs_resp_config_init(c);
        int src;
        const char *v = topic_config_value(&tp->overrides, &b->cfg, i, &src);
        c->name = kp_str_c(d->name);
        c->value = arena_kstr(&rq->arena, v);
        c->read_only = false;
        c->config_source = (int8_t)src;
        c->is_sensitive = false;
        c->config_type = (int8_t)d->type;
        c->documentation = body->include_documentation ? kp_str_c(d->doc) : KP_STR_NULL;
        c->synonyms_n = 0;
        if (body->include_synonyms) {
            c->synonyms = arena_alloc(&rq->arena, sizeof(*c->synonyms) * 2);
            if (c->synonyms && src == CONFIG_SOURCE_TOPIC)
                add_synonym(rq, c, d->name, v, CONFIG_SOURCE_TOPIC);
            int syn = topic_config_synonym[i];
            if (c->synonyms && syn >= 0) {
                const config_value *bv = config_get(&b->cfg, syn);
                if (bv->str)
                    add_synonym(rq, c, broker_config_defs[syn].name, bv->str,
                                bv->source == CONFIG_SOURCE_DEFAULT ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_STATIC_BROKER);
            }
        }
    }
    topics_read_unlock(b->topics);
    topic_unref(tp);
}

static void describe_broker(broker *b, req *rq, const kp_describe_configs_req *body,
                            const kp_describe_configs_req_resource *res, kp_describe_configs_resp_result *out)
{
    char id[16];
    snprintf(id, sizeof(id), "%d", b->node_id);
    if (res->resource_name.len > 0 && !kp_str_eq(res->resource_name, id)) {
        out->error_code = KERR_INVALID_REQUEST;
        out->error_message = kp_str_c("Unexpected broker id: only this broker's id (or an empty name) is served.");
        out->configs_n = 0;
        return;
    }
    out->configs = arena_alloc(&rq->arena, sizeof(*out->configs) * BCFG_COUNT);
    out->configs_n = 0;
    for (int i = 0; i < BCFG_COUNT && out->configs; i++) {
        const config_def *d = &broker_config_defs[i];
        if (!wanted(res, d->name))
            continue;
        const config_value *v = config_get(&b->cfg, i);
        kp_describe_configs_resp_config *c = &out->configs[out->configs_n++];
        kp_describe_configs_resp_config_init(c);
        c->name = kp_str_c(d->name);
        c->is_sensitive = d->type == CONFIG_PASSWORD;
        c->value = c->is_sensitive ? KP_STR_NULL : arena_kstr(&rq->arena, v->str);
        c->read_only = true; /* no dynamic broker configs yet */
        c->config_source = (int8_t)v->source;
        c->config_type = (int8_t)d->type;
        c->documentation = body->include_documentation ? kp_str_c(d->doc) : KP_STR_NULL;
        c->synonyms_n = 0;
        if (body->include_synonyms && v->str) {
            c->synonyms = arena_alloc(&rq->arena, sizeof(*c->synonyms));
            if (c->synonyms)
                add_synonym(rq, c, d->name, v->str, (int8_t)v->source);
        }
    }
}

void handle_describe_configs(broker *b, req *rq)
{
    int16_t ver = rq->hdr.api_version;
    kp_describe_configs_req body;
    kp_describe_configs_req_init(&body);
    if (kp_describe_configs_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_describe_configs_resp resp;
    kp_describe_configs_resp_init(&resp);
    int n = body.resources_n > 0 ? body.resources_n : 0;
    resp.results = arena_alloc(&rq->arena, sizeof(*resp.results) * (size_t)(n ? n : 1));
    resp.results_n = resp.results ? n : 0;
    for (int i = 0; i < resp.results_n; i++) {
        kp_describe_configs_req_resource *res = &body.resources[i];
        kp_describe_configs_resp_result *out = &resp.results[i];
        kp_describe_configs_resp_result_init(out);
        out->resource_type = res->resource_type;
        out->resource_name = res->resource_name;
        out->error_message = KP_STR(""); /* Kafka's, when all went well */
        if (res->resource_type == RESOURCE_TOPIC)
            describe_topic(b, rq, &body, res, out);
        else if (res->resource_type == RESOURCE_BROKER)
            describe_broker(b, rq, &body, res, out);
        else {
            out->error_code = KERR_INVALID_REQUEST;
            out->error_message = kp_str_c("Only TOPIC and BROKER config resources are served.");
            out->configs_n = 0;
        }
        /* v0 (Kafka 3.9 served it) says is_default instead of the source. */
        for (int j = 0; ver == 0 && j < out->configs_n; j++)
            out->configs[j].is_default = out->configs[j].config_source == CONFIG_SOURCE_DEFAULT;
    }
    conn_resp_begin(rq);
    kp_describe_configs_resp_encode(&rq->out, ver, &resp);
    conn_req_complete(rq);
}

/* ---- AlterConfigs / IncrementalAlterConfigs ---- */

#define OP_SET 0
#define OP_DELETE 1
#define OP_APPEND 2
#define OP_SUBTRACT 3

/* Kafka's replication throttles (kafka-reassign-partitions.sh --throttle
 * sets them, --verify and --cancel delete them). Gregor does not throttle
 * replication: setting one is refused in words; deleting one, which was
 * never set, succeeds as Kafka's delete of an unset config does. */
static const char *const broker_throttles[] = { "leader.replication.throttled.rate",
                                                "follower.replication.throttled.rate",
                                                "replica.alter.log.dirs.io.max.bytes.per.second" };
static const char *const topic_throttles[] = { "leader.replication.throttled.replicas",
                                               "follower.replication.throttled.replicas" };

static bool is_throttle(kp_str name, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++)
        if (kp_str_eq(name, keys[i]))
            return true;
    return false;
}

/* One resource's outcome, shared by both APIs' responses. */
typedef struct alter_result {
    int16_t error_code;
    kp_str error_message;
} alter_result;

/* The topic's overrides after applying ops; fills cfgs (arena) and *n. */
static int16_t alter_plan(broker *b, req *rq, topic *tp, bool replace_all, const kp_str *names,
                          const kp_str *values, const int8_t *ops, int nops, ctl_config **out,
                          int *nout, char *msg, size_t msglen)
{
    ctl_config *cfgs = arena_alloc(&rq->arena, sizeof(*cfgs) * (size_t)(nops + TCFG_COUNT + 1));
    int n = 0;
    if (!cfgs)
        return KERR_UNKNOWN_SERVER_ERROR;
    topics_read_lock(b->topics);
    if (replace_all) {
        /* AlterConfigs: every current override not named again is removed */
        for (int i = 0; i < TCFG_COUNT; i++) {
            bool named = false;
            for (int j = 0; j < nops && !named; j++)
                named = kp_str_eq(names[j], topic_config_defs[i].name);
            if (topic_config_is_set(&tp->overrides, i) && !named)
                cfgs[n++] = (ctl_config){ topic_config_defs[i].name, NULL };
        }
    }
    int16_t code = KERR_NONE;
    for (int j = 0; j < nops && code == KERR_NONE; j++) {
        char *name = arena_strndup(&rq->arena, names[j].ptr, names[j].len > 0 ? (size_t)names[j].len : 0);
        char *value = values[j].len >= 0 ? arena_strndup(&rq->arena, values[j].ptr, (size_t)values[j].len) : NULL;
        int op = ops ? ops[j] : OP_SET;
        if (is_throttle(names[j], topic_throttles, 2)) {
            if (op == OP_DELETE)
                continue; /* never set: nothing to delete */
            snprintf(msg, msglen, "Replication throttling (%s) is not supported by Gregor yet", name);
            code = KERR_INVALID_CONFIG;
            break;
        }
        int idx = config_find(topic_config_defs, TCFG_COUNT, name);
        if (idx < 0) {
            snprintf(msg, msglen, "Unknown topic config name: %s", name);
            code = KERR_INVALID_CONFIG;
            break;
        }
        if (op == OP_DELETE) {
            cfgs[n++] = (ctl_config){ name, NULL };
        } else if (op == OP_SET) {
            cfgs[n++] = (ctl_config){ name, value };
        } else if ((op == OP_APPEND || op == OP_SUBTRACT) && topic_config_defs[idx].type == CONFIG_LIST && value) {
            int src;
            const char *cur = topic_config_value(&tp->overrides, &b->cfg, idx, &src);
            size_t cap = (cur ? strlen(cur) : 0) + strlen(value) + 2;
            char *nv = arena_alloc(&rq->arena, cap);
            if (!nv) {
                code = KERR_UNKNOWN_SERVER_ERROR;
                break;
            }
            if (op == OP_APPEND) {
                snprintf(nv, cap, "%s%s%s", cur && *cur ? cur : "", cur && *cur ? "," : "", value);
            } else {
                /* keep every item of cur that is not value */
                size_t vl = strlen(value), w = 0;
                for (const char *p = cur ? cur : ""; *p;) {
                    const char *c = strchr(p, ',');
                    size_t l = c ? (size_t)(c - p) : strlen(p);
                    if (!(l == vl && strncmp(p, value, l) == 0)) {
                        w += (size_t)snprintf(nv + w, cap - w, "%s%.*s", w ? "," : "", (int)l, p);
                    }
                    p = c ? c + 1 : p + l;
                }
                nv[w] = '\0';
            }
            cfgs[n++] = (ctl_config){ name, nv };
        } else {
            snprintf(msg, msglen, "Config operation %d is not valid for %s", op, name);
            code = KERR_INVALID_CONFIG;
        }
    }
    topics_read_unlock(b->topics);
    *out = cfgs;
    *nout = n;
    return code;
}

static void alter_resource(broker *b, req *rq, int8_t type, kp_str rname, const kp_str *names,
                           const kp_str *values, const int8_t *ops, int nops, bool replace_all,
                           bool validate_only, alter_result *res, int64_t *wait)
{
    char msg[300] = "";
    res->error_code = KERR_NONE;
    res->error_message = KP_STR_NULL;
    bool vacuous = type == RESOURCE_BROKER && ops;
    for (int j = 0; vacuous && j < nops; j++)
        vacuous = ops[j] == OP_DELETE && is_throttle(names[j], broker_throttles, 3);
    if (vacuous)
        return; /* deleting throttles that were never set: done */
    if (type != RESOURCE_TOPIC) {
        res->error_code = KERR_INVALID_REQUEST;
        res->error_message = kp_str_c(type == RESOURCE_BROKER ? "Dynamic broker configs are not supported yet; set them in server.properties."
                                                             : "Only TOPIC and BROKER config resources are served.");
        return;
    }
    topic *tp = topics_get(b->topics, rname.ptr, rname.len);
    if (!tp) {
        res->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        res->error_message = kp_str_c("The topic does not exist.");
        return;
    }
    ctl_config *cfgs;
    int n;
    int16_t code = alter_plan(b, rq, tp, replace_all, names, values, ops, nops, &cfgs, &n, msg, sizeof(msg));
    if (code == KERR_NONE)
        code = metalog_check_configs(cfgs, n, msg, sizeof(msg));
    if (code == KERR_NONE && !validate_only && n > 0) {
        int64_t end;
        code = metalog_set_topic_configs(b->meta, tp->name, cfgs, n, &end, msg, sizeof(msg));
        if (code == KERR_NONE && end > *wait)
            *wait = end;
    }
    topic_unref(tp);
    res->error_code = code;
    res->error_message = fmt_msg(rq, msg);
}

static void enc_alter_configs(broker *b, req *rq, void *resp)
{
    kp_alter_configs_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

void handle_alter_configs(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    kp_alter_configs_req body;
    kp_alter_configs_req_init(&body);
    if (kp_alter_configs_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_alter_configs_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    kp_alter_configs_resp_init(resp);
    int n = body.resources_n > 0 ? body.resources_n : 0;
    resp->responses = arena_alloc(&rq->arena, sizeof(*resp->responses) * (size_t)(n ? n : 1));
    resp->responses_n = resp->responses ? n : 0;
    int64_t wait = -1;
    for (int i = 0; i < resp->responses_n; i++) {
        kp_alter_configs_req_resource *res = &body.resources[i];
        int nc = res->configs_n > 0 ? res->configs_n : 0;
        kp_str *names = arena_alloc(&rq->arena, sizeof(kp_str) * (size_t)(nc ? nc : 1));
        kp_str *values = arena_alloc(&rq->arena, sizeof(kp_str) * (size_t)(nc ? nc : 1));
        for (int j = 0; j < nc && names && values; j++) {
            names[j] = res->configs[j].name;
            values[j] = res->configs[j].value;
        }
        alter_result ar;
        alter_resource(b, rq, res->resource_type, res->resource_name, names, values, NULL, nc, true,
                       body.validate_only, &ar, &wait);
        kp_alter_configs_resp_resource *out = &resp->responses[i];
        kp_alter_configs_resp_resource_init(out);
        out->error_code = ar.error_code;
        out->error_message = ar.error_message;
        out->resource_type = res->resource_type;
        out->resource_name = res->resource_name;
    }
    admin_answer(b, rq, wait, enc_alter_configs, resp);
}

static void enc_incremental_alter_configs(broker *b, req *rq, void *resp)
{
    kp_incremental_alter_configs_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

void handle_incremental_alter_configs(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    kp_incremental_alter_configs_req body;
    kp_incremental_alter_configs_req_init(&body);
    if (kp_incremental_alter_configs_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_incremental_alter_configs_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    kp_incremental_alter_configs_resp_init(resp);
    int n = body.resources_n > 0 ? body.resources_n : 0;
    resp->responses = arena_alloc(&rq->arena, sizeof(*resp->responses) * (size_t)(n ? n : 1));
    resp->responses_n = resp->responses ? n : 0;
    int64_t wait = -1;
    for (int i = 0; i < resp->responses_n; i++) {
        kp_incremental_alter_configs_req_resource *res = &body.resources[i];
        int nc = res->configs_n > 0 ? res->configs_n : 0;
        kp_str *names = arena_alloc(&rq->arena, sizeof(kp_str) * (size_t)(nc ? nc : 1));
        kp_str *values = arena_alloc(&rq->arena, sizeof(kp_str) * (size_t)(nc ? nc : 1));
        int8_t *ops = arena_alloc(&rq->arena, (size_t)(nc ? nc : 1));
        for (int j = 0; j < nc && names && values && ops; j++) {
            names[j] = res->configs[j].name;
            values[j] = res->configs[j].value;
            ops[j] = res->configs[j].config_operation;
        }
        alter_result ar;
        alter_resource(b, rq, res->resource_type, res->resource_name, names, values, ops, nc, false,
                       body.validate_only, &ar, &wait);
        kp_incremental_alter_configs_resp_resource *out = &resp->responses[i];
        kp_incremental_alter_configs_resp_resource_init(out);
        out->error_code = ar.error_code;
        out->error_message = ar.error_message;
        out->resource_type = res->resource_type;
        out->resource_name = res->resource_name;
    }
    admin_answer(b, rq, wait, enc_incremental_alter_configs, resp);
}

/* ---- ElectLeaders (KIP-460) ---- */

static void enc_elect_leaders(broker *b, req *rq, void *resp)
{
    kp_elect_leaders_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

void handle_elect_leaders(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    int16_t ver = rq->hdr.api_version;
    kp_elect_leaders_req body;
    kp_elect_leaders_req_init(&body);
    if (kp_elect_leaders_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_elect_leaders_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    kp_elect_leaders_resp_init(resp);
    bool unclean = ver >= 1 && body.election_type == 1;
    int64_t wait = -1;
    bool all = body.topic_partitions_n < 0;
    if (all) {
        /* null: every partition (kafka-leader-election.sh --all-topic-partitions) */
        metalog_read_lock(b->meta);
        const mimage *im = metalog_image(b->meta);
        int nt = im->ntopics;
        kp_elect_leaders_req_topic_partitions *every = arena_alloc(&rq->arena, sizeof(*every) * (size_t)(nt ? nt : 1));
        for (int i = 0; every && i < nt; i++) {
            const mi_topic *t = im->by_name[i];
            kp_elect_leaders_req_topic_partitions_init(&every[i]);
            every[i].topic = arena_kstr(&rq->arena, t->name);
            every[i].partitions = arena_alloc(&rq->arena, sizeof(int32_t) * (size_t)(t->nparts ? t->nparts : 1));
            for (int32_t k = 0; every[i].partitions && k < t->nparts; k++)
                every[i].partitions[k] = k;
            every[i].partitions_n = every[i].partitions ? t->nparts : 0;
        }
        metalog_read_unlock(b->meta);
        body.topic_partitions = every;
        body.topic_partitions_n = every ? nt : 0;
    }
    int nt = body.topic_partitions_n;
    resp->replica_election_results = arena_alloc(&rq->arena, sizeof(*resp->replica_election_results) *
                                                                 (size_t)(nt ? nt : 1));
    resp->replica_election_results_n = resp->replica_election_results ? nt : 0;
    for (int i = 0; i < resp->replica_election_results_n; i++) {
        kp_elect_leaders_req_topic_partitions *rt = &body.topic_partitions[i];
        kp_elect_leaders_resp_replica_election_result *tr = &resp->replica_election_results[i];
        kp_elect_leaders_resp_replica_election_result_init(tr);
        tr->topic = rt->topic;
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        tr->partition_result = arena_alloc(&rq->arena, sizeof(*tr->partition_result) * (size_t)(np ? np : 1));
        tr->partition_result_n = tr->partition_result ? np : 0;
        topic *tp = topics_get(b->topics, rt->topic.ptr, rt->topic.len);
        int kept = 0;
        for (int j = 0; j < tr->partition_result_n; j++) {
            kp_elect_leaders_resp_partition_result *pr = &tr->partition_result[kept++];
            kp_elect_leaders_resp_partition_result_init(pr);
            pr->partition_id = rt->partitions[j];
            char msg[300] = "";
            int64_t end = -1;
            if (tp)
                pr->error_code = metalog_elect_leader(b->meta, tp->id, rt->partitions[j], unclean, &end, msg,
                                                      sizeof msg);
            else {
                pr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                snprintf(msg, sizeof msg, "No such topic as %.*s", rt->topic.len > 0 ? rt->topic.len : 0,
                         rt->topic.ptr);
            }
            if (pr->error_code == KERR_ELECTION_NOT_NEEDED)
                snprintf(msg, sizeof msg, "%s", kerr_message(KERR_ELECTION_NOT_NEEDED));
            pr->error_message = fmt_msg(rq, msg);
            if (end > wait)
                wait = end;
            if (all && pr->error_code == KERR_ELECTION_NOT_NEEDED)
                kept--; /* all partitions asked: Kafka leaves these out */
        }
        tr->partition_result_n = kept;
        topic_unref(tp);
    }
    if (all) { /* and topics left with nothing to say */
        int k = 0;
        for (int i = 0; i < resp->replica_election_results_n; i++)
            if (resp->replica_election_results[i].partition_result_n > 0)
                resp->replica_election_results[k++] = resp->replica_election_results[i];
        resp->replica_election_results_n = k;
    }
    admin_answer(b, rq, wait, enc_elect_leaders, resp);
}

/* ---- AlterPartitionReassignments, ListPartitionReassignments (KIP-455) ---- */

static void enc_alter_reassignments(broker *b, req *rq, void *resp)
{
    kp_alter_partition_reassignments_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

void handle_alter_partition_reassignments(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    int16_t ver = rq->hdr.api_version;
    kp_alter_partition_reassignments_req body;
    kp_alter_partition_reassignments_req_init(&body);
    if (kp_alter_partition_reassignments_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_alter_partition_reassignments_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    kp_alter_partition_reassignments_resp_init(resp);
    resp->error_message = KP_STR_NULL; /* Kafka's, when all went well */
    resp->allow_replication_factor_change = body.allow_replication_factor_change;
    int nt = body.topics_n > 0 ? body.topics_n : 0;
    resp->responses = arena_alloc(&rq->arena, sizeof(*resp->responses) * (size_t)(nt ? nt : 1));
    resp->responses_n = resp->responses ? nt : 0;
    int64_t wait = -1;
    for (int i = 0; i < resp->responses_n; i++) {
        kp_alter_partition_reassignments_req_topic *rt = &body.topics[i];
        kp_alter_partition_reassignments_resp_topic *tr = &resp->responses[i];
        kp_alter_partition_reassignments_resp_topic_init(tr);
        tr->name = rt->name;
        int np = rt->partitions_n > 0 ? rt->partitions_n : 0;
        tr->partitions = arena_alloc(&rq->arena, sizeof(*tr->partitions) * (size_t)(np ? np : 1));
        tr->partitions_n = tr->partitions ? np : 0;
        topic *tp = topics_get(b->topics, rt->name.ptr, rt->name.len);
        for (int j = 0; j < tr->partitions_n; j++) {
            kp_alter_partition_reassignments_req_partition *rp = &rt->partitions[j];
            kp_alter_partition_reassignments_resp_partition *pr = &tr->partitions[j];
            kp_alter_partition_reassignments_resp_partition_init(pr);
            pr->partition_index = rp->partition_index;
            char msg[300] = "";
            int64_t end = -1;
            if (!tp || !topic_has_partition(tp, rp->partition_index)) {
                pr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                snprintf(msg, sizeof msg, "%s", kerr_message(KERR_UNKNOWN_TOPIC_OR_PARTITION));
            } else
                pr->error_code = metalog_reassign(b->meta, tp->id, rp->partition_index,
                                                  rp->replicas_n >= 0 ? rp->replicas : NULL,
                                                  rp->replicas_n > 0 ? rp->replicas_n : 0,
                                                  body.allow_replication_factor_change, &end, msg, sizeof msg);
            pr->error_message = fmt_msg(rq, msg);
            if (end > wait)
                wait = end;
        }
        topic_unref(tp);
    }
    admin_answer(b, rq, wait, enc_alter_reassignments, resp);
}

static void enc_list_reassignments(broker *b, req *rq, void *resp)
{
    kp_list_partition_reassignments_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

static int32_t *arena_ints(req *rq, const int32_t *v, int n)
{
    int32_t *d = arena_alloc(&rq->arena, sizeof(*d) * (size_t)(n ? n : 1));
    if (d && n > 0)
        memcpy(d, v, sizeof(*d) * (size_t)n);
    return d;
}

/* One partition's reassignment into tr (when there is one). */
static void list_one(req *rq, const mi_topic *t, int32_t index, kp_list_partition_reassignments_resp_topic *tr)
{
    if (index < 0 || index >= t->nparts)
        return;
    const mi_partition *mp = &t->parts[index];
    if (mp->nadding == 0 && mp->nremoving == 0)
        return;
    kp_list_partition_reassignments_resp_partition *pr = &tr->partitions[tr->partitions_n++];
    kp_list_partition_reassignments_resp_partition_init(pr);
    pr->partition_index = index;
    pr->replicas = arena_ints(rq, mp->replicas, mp->nreplicas);
    pr->replicas_n = pr->replicas ? mp->nreplicas : 0;
    pr->adding_replicas = arena_ints(rq, mp->adding, mp->nadding);
    pr->adding_replicas_n = pr->adding_replicas ? mp->nadding : 0;
    pr->removing_replicas = arena_ints(rq, mp->removing, mp->nremoving);
    pr->removing_replicas_n = pr->removing_replicas ? mp->nremoving : 0;
}

/* Kafka's controller answers from its image; this is the committed one.
 * A null topic list: every partition being reassigned. An unknown topic
 * or partition is left out, as Kafka leaves it out. */
void handle_list_partition_reassignments(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return;
    kp_list_partition_reassignments_req body;
    kp_list_partition_reassignments_req_init(&body);
    if (kp_list_partition_reassignments_req_decode(&rq->body, rq->hdr.api_version, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    kp_list_partition_reassignments_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    kp_list_partition_reassignments_resp_init(resp);
    resp->error_message = KP_STR_NULL; /* Kafka's, when all went well */
    metalog_read_lock(b->meta);
    const mimage *im = metalog_image(b->meta);
    bool all = body.topics_n < 0;
    int nt = all ? im->ntopics : body.topics_n;
    resp->topics = arena_alloc(&rq->arena, sizeof(*resp->topics) * (size_t)(nt ? nt : 1));
    int kept = 0;
    for (int i = 0; resp->topics && i < nt; i++) {
        const mi_topic *t = all ? im->by_name[i]
                                : mimage_topic(im, body.topics[i].name.ptr, body.topics[i].name.len);
        if (!t)
            continue;
        int np = all ? t->nparts : body.topics[i].partition_indexes_n;
        kp_list_partition_reassignments_resp_topic *tr = &resp->topics[kept];
        kp_list_partition_reassignments_resp_topic_init(tr);
        tr->name = arena_kstr(&rq->arena, t->name);
        tr->partitions = arena_alloc(&rq->arena, sizeof(*tr->partitions) * (size_t)(np > 0 ? np : 1));
        tr->partitions_n = 0;
        for (int j = 0; tr->partitions && j < np; j++)
            list_one(rq, t, all ? j : body.topics[i].partition_indexes[j], tr);
        if (tr->partitions_n > 0)
            kept++;
    }
    resp->topics_n = kept;
    metalog_read_unlock(b->meta);
    admin_send(b, rq, enc_list_reassignments, resp);
}
