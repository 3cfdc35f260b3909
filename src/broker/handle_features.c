/*
 * handle_features.c - the finalized features (KIP-584) as clients see them:
 * the features part of ApiVersions (v3+), and UpdateFeatures, which
 * Kafka's `kafka-features.sh upgrade|downgrade|disable` sends.
 *
 * ApiVersions reads the levels the publisher last stored
 * (broker_finalized_features, publisher.c): no lock, so the answer costs
 * what it cost before. UpdateFeatures is decided by the active controller
 * (controller_update_features) like every metadata change: a broker whose
 * controller is elsewhere forwards it, and the answer waits until the
 * FeatureLevelRecord is committed and applied, so the client's next
 * ApiVersions shows the new level. Reactor threads.
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker.h"
#include "controller/features.h"
#include "metadata/metalog.h"

/* ---- ApiVersions ---- */

void broker_api_versions_features(broker *b, req *rq, int16_t ver, kp_api_versions_resp *resp)
{
    if (ver < 3 || resp->error_code != KERR_NONE)
        return; /* v0-2 have no features; Kafka's error answers carry none */
    const feature_def *defs;
    int n = features_known(&defs);
    resp->supported_features = arena_alloc(&rq->arena, sizeof(*resp->supported_features) * (size_t)n);
    resp->supported_features_n = 0;
    for (int i = 0; i < n && resp->supported_features; i++) {
        /* Kafka leaves out of v3 a feature whose range starts at 0 (its
         * JSON: "in v0-v3, features with MinSupportedVersion = 0 are
         * omitted"; older clients refuse such a range); Kafka 4.4's v3
         * answer lists metadata.version alone. */
        if (ver == 3 && defs[i].level_min == 0)
            continue;
        kp_api_versions_resp_supported_feature *sf = &resp->supported_features[resp->supported_features_n++];
        kp_api_versions_resp_supported_feature_init(sf);
        sf->name = kp_str_c(defs[i].name);
        sf->min_version = defs[i].level_min;
        sf->max_version = defs[i].level_max;
    }
    int16_t txn_version;
    broker_finalized_features(b, &txn_version, &resp->finalized_features_epoch);
    /* A feature at level 0 is not finalized: Kafka lists it in neither. */
    resp->finalized_features_n = 0;
    if (txn_version > 0 && (resp->finalized_features = arena_alloc(&rq->arena, sizeof(*resp->finalized_features)))) {
        kp_api_versions_resp_finalized_feature *ff = &resp->finalized_features[resp->finalized_features_n++];
        kp_api_versions_resp_finalized_feature_init(ff);
        ff->name = kp_str_c(MI_FEATURE_TRANSACTION_VERSION);
        ff->max_version_level = txn_version;
        ff->min_version_level = txn_version; /* Kafka 4 sends the level as both */
    }
}

/* ---- UpdateFeatures ---- */

static void enc_update_features(broker *b, req *rq, void *resp)
{
    (void)b;
    kp_update_features_resp_encode(&rq->out, rq->hdr.api_version, resp);
}

#define UF_PREFIX "The update failed for all features since the following feature had an error: "

void handle_update_features(broker *b, req *rq)
{
    if (broker_controller_elsewhere(b) && broker_forward(b, rq))
        return; /* the active controller answers */
    int16_t ver = rq->hdr.api_version;
    kp_update_features_req body;
    kp_update_features_req_init(&body);
    if (kp_update_features_req_decode(&rq->body, ver, &body) != 0) {
        broker_bad_request(rq, kp_err_str(rq->body.err));
        return;
    }
    int n = body.feature_updates_n > 0 ? body.feature_updates_n : 0;
    ctl_feature_update *u = arena_alloc(&rq->arena, sizeof(*u) * (size_t)(n ? n : 1));
    kp_update_features_resp *resp = arena_alloc(&rq->arena, sizeof(*resp));
    if (!u || !resp) {
        broker_bad_request(rq, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const kp_update_features_req_feature_update_key *k = &body.feature_updates[i];
        /* v0's allow_downgrade is not read by Kafka 4.4 either: a v0
         * downgrade is refused as an upgrade's would be. */
        u[i] = (ctl_feature_update){ k->feature.ptr, k->feature.len > 0 ? k->feature.len : 0, k->max_version_level,
                                     ver == 0 ? FEATURE_UPGRADE : k->upgrade_type };
    }
    char msg[512] = "";
    int64_t wait = -1;
    int16_t code = metalog_update_features(b->meta, u, n, body.validate_only, &wait, msg, sizeof msg);
    kp_update_features_resp_init(resp);
    resp->error_code = code;
    resp->error_message = KP_STR_NULL;
    resp->results_n = 0;
    if (code == KERR_INVALID_UPDATE_VERSION) {
        /* one feature refused refuses the request, as Kafka 4.4 answers it */
        char *m = arena_alloc(&rq->arena, sizeof(UF_PREFIX) + strlen(msg));
        if (m) {
            memcpy(m, UF_PREFIX, sizeof(UF_PREFIX) - 1);
            memcpy(m + sizeof(UF_PREFIX) - 1, msg, strlen(msg) + 1);
        }
        resp->error_message = m ? kp_str_c(m) : KP_STR_NULL;
    } else if (code != KERR_NONE) {
        resp->error_message = msg[0] ? arena_kstr(&rq->arena, msg) : KP_STR_NULL;
    } else if (ver <= 1 && n > 0) {
        /* v0-1: a result per update, Kafka's ApiError.NONE message and all */
        resp->results = arena_alloc(&rq->arena, sizeof(*resp->results) * (size_t)n);
        for (int i = 0; i < n && resp->results; i++) {
            kp_update_features_resp_updatable_feature_result *r = &resp->results[resp->results_n++];
            kp_update_features_resp_updatable_feature_result_init(r);
            r->feature = body.feature_updates[i].feature;
            r->error_code = KERR_NONE;
            r->error_message = kp_str_c("NONE");
        }
    }
    broker_answer_applied(b, rq, wait, enc_update_features, resp);
}
