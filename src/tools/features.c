/*
 * features.c - `gregor features`, the counterpart of kafka-features.sh
 * (org.apache.kafka.tools.FeatureCommand of Apache Kafka 4.4.0):
 *
 *   [--bootstrap-server H:P] [--timeout-ms N] [--output json]
 *       describe
 *       upgrade   --feature NAME=LEVEL ... [--dry-run]
 *       downgrade --feature NAME=LEVEL ... [--unsafe] [--dry-run]
 *       disable   --feature NAME ... [--unsafe] [--dry-run]
 *
 * Output is Kafka's: describe prints, sorted by name, every feature the
 * broker supports with its finalized level (0 when not finalized) and the
 * finalized epoch ("-" when the broker has none) in Kafka's padded columns;
 * an update prints one line per feature, sorted by name ("X was upgraded
 * to N.", "X can be downgraded to N." with --dry-run, "X was disabled.",
 * "Could not upgrade X to N. <the broker's message>"), then, when any
 * failed, "K out of M operation(s) failed." on stderr and exit 1. A
 * feature=level Kafka's tool cannot parse gets its sentence and exit 1.
 *
 * Requests, over a plain socket with the generated codecs: ApiVersions v4
 * (v3 leaves out the features whose range starts at 0) and UpdateFeatures
 * at the highest version both sides have (--dry-run: validate_only, v1+).
 * An upgrade is upgrade type 1, a downgrade or disable 2 (safe) or, with
 * --unsafe, 3, as Kafka's tool sends them.
 *
 * Not here: --release-version and --metadata (they set metadata.version
 * and every feature of a Kafka release; Gregor implements
 * transaction.version only), version-mapping and feature-dependencies
 * (Kafka's own tables of its releases): refused with a one-line reason.
 * Against Kafka, metadata.version is printed as its level number where
 * Kafka's tool prints the release name (4.4-IV2). Main thread only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs.h"
#include "proto/kerrors.h"
#include "tools/common.h"
#include "tools/tools.h"

#define FEATURES_MAX 64

enum feat_op { FO_NONE, FO_DESCRIBE, FO_UPGRADE, FO_DOWNGRADE, FO_DISABLE };

typedef struct feat_update {
    const char *name;   /* points into argv, or a copy in the arena */
    int16_t level;
    int16_t code;       /* the answer */
    const char *msg;    /* its message (failures) */
} feat_update;

static void features_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor features [options] describe | upgrade | downgrade | disable\n"
        "  describe                                  the supported and finalized features\n"
        "  upgrade   --feature NAME=LEVEL [--dry-run]\n"
        "  downgrade --feature NAME=LEVEL [--unsafe] [--dry-run]\n"
        "  disable   --feature NAME [--unsafe] [--dry-run]   (the same as a downgrade to 0)\n"
        "  --feature may be given several times. Gregor implements transaction.version (levels 0-2).\n"
        "Common options:\n"
        "  --bootstrap-server HOST:PORT  (default localhost:9092)\n"
        "  --timeout-ms N                bound on every wait (default 10000)\n"
        "  --output table|json           (default table)\n"
        "  --help\n"
        "Example:\n"
        "  gregor features --bootstrap-server localhost:9092 downgrade --feature transaction.version=1\n");
}

static int cmp_name(const void *x, const void *y)
{
    return strcmp(((const feat_update *)x)->name, ((const feat_update *)y)->name);
}

/* Kafka's FeatureCommand.parseNameAndLevel, with its sentences. 0, or -1
 * after printing one. */
static int parse_feature(arena *a, const char *arg, feat_update *u)
{
    const char *eq = strchr(arg, '=');
    if (!eq) {
        fprintf(stderr, "Can't parse feature=level string %s: equals sign not found.\n", arg);
        return -1;
    }
    int64_t level;
    if (tool_parse_int64(eq + 1, &level) < 0 || level < INT16_MIN || level > INT16_MAX) {
        fprintf(stderr, "Can't parse feature=level string %s: unable to parse %s as a short.\n", arg, eq + 1);
        return -1;
    }
    if (eq == arg) {
        fprintf(stderr, "Provided feature can not be empty.\n");
        return -1;
    }
    if (level < 0) {
        fprintf(stderr, "Cannot specify a negative version level.\n");
        return -1;
    }
    u->name = arena_strndup(a, arg, (size_t)(eq - arg));
    u->level = (int16_t)level;
    return u->name ? 0 : -1;
}

static const char *level_str(int16_t v, char *buf, size_t len)
{
    snprintf(buf, len, "%d", v);
    return buf;
}

/* One supported feature: its name as a C string (in the arena) and where
 * the answer has it, sorted by name as Kafka's tool prints them. */
typedef struct feat_row {
    const char *name;
    int index;
} feat_row;

static int cmp_row(const void *x, const void *y)
{
    return strcmp(((const feat_row *)x)->name, ((const feat_row *)y)->name);
}

static int16_t finalized_level(const kp_api_versions_resp *av, kp_str name)
{
    for (int k = 0; k < av->finalized_features_n; k++)
        if (av->finalized_features[k].name.len == name.len &&
            memcmp(av->finalized_features[k].name.ptr, name.ptr, (size_t)(name.len > 0 ? name.len : 0)) == 0)
            return av->finalized_features[k].max_version_level;
    return 0;
}

static int features_describe(const tool_opts *o, const kp_api_versions_resp *av, arena *a)
{
    int n = av->supported_features_n > 0 ? av->supported_features_n : 0;
    feat_row *rows = arena_alloc(a, sizeof(*rows) * (size_t)(n ? n : 1));
    if (!rows)
        return 1;
    for (int i = 0; i < n; i++) {
        kp_str s = av->supported_features[i].name;
        rows[i].name = arena_strndup(a, s.ptr ? s.ptr : "", (size_t)(s.len > 0 ? s.len : 0));
        rows[i].index = i;
        if (!rows[i].name)
            return 1;
    }
    qsort(rows, (size_t)n, sizeof(*rows), cmp_row);
    char ep[24];
    snprintf(ep, sizeof ep, "%lld", (long long)av->finalized_features_epoch);
    bool has_epoch = av->finalized_features_epoch >= 0;
    if (o->json)
        printf("[");
    for (int i = 0; i < n; i++) {
        const kp_api_versions_resp_supported_feature *sf = &av->supported_features[rows[i].index];
        int16_t fin = finalized_level(av, sf->name);
        if (o->json) {
            printf("%s{\"feature\":", i ? "," : "");
            tool_json_str(stdout, rows[i].name);
            printf(",\"supportedMinVersion\":%d,\"supportedMaxVersion\":%d,\"finalizedVersionLevel\":%d,"
                   "\"epoch\":%s}", sf->min_version, sf->max_version, fin, has_epoch ? ep : "null");
            continue;
        }
        char lo[8], hi[8], lv[8];
        printf("Feature: %-40s  SupportedMinVersion: %-15s  SupportedMaxVersion: %-15s  "
               "FinalizedVersionLevel: %-15s  Epoch: %s\n", rows[i].name,
               level_str(sf->min_version, lo, sizeof lo), level_str(sf->max_version, hi, sizeof hi),
               level_str(fin, lv, sizeof lv), has_epoch ? ep : "-");
    }
    if (o->json)
        printf("]\n");
    return 0;
}

/* Send the updates; fills each one's code and message. 0, or -1 after a
 * message when no answer came. */
static int features_send(const tool_opts *o, const kp_api_versions_resp *av, arena *a, feat_update *u, int n,
                         int8_t upgrade_type, bool dry_run)
{
    int16_t ver;
    if (tool_api_version_or_err(o, av, KP_API_UPDATE_FEATURES, &ver) < 0)
        return -1;
    if (dry_run && ver < 1) {
        tool_err(tool_cmd(), "the broker at %s cannot validate an update without making it (UpdateFeatures v0)",
                 o->bootstrap);
        return -1;
    }
    kp_update_features_req req;
    kp_update_features_req_init(&req);
    req.timeout_ms = o->timeout_ms;
    req.validate_only = dry_run;
    req.feature_updates = arena_alloc(a, sizeof(*req.feature_updates) * (size_t)n);
    if (!req.feature_updates)
        return -1;
    req.feature_updates_n = n;
    for (int i = 0; i < n; i++) {
        kp_update_features_req_feature_update_key *k = &req.feature_updates[i];
        kp_update_features_req_feature_update_key_init(k);
        k->feature = kp_str_c(u[i].name);
        k->max_version_level = u[i].level;
        k->upgrade_type = upgrade_type;
        k->allow_downgrade = upgrade_type != 1;
    }
    kp_update_features_resp resp;
    char err[512];
    if (tool_raw_request(o, KP_API_UPDATE_FEATURES, ver, &req, &resp, a, err, sizeof err) < 0) {
        tool_err(tool_cmd(), "%s", err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        /* a top-level error is every feature's (Kafka's admin client) */
        int16_t code = resp.error_code;
        kp_str msg = resp.error_message;
        for (int k = 0; code == KERR_NONE && k < resp.results_n; k++)
            if (kp_str_eq(resp.results[k].feature, u[i].name) && resp.results[k].error_code != KERR_NONE) {
                code = resp.results[k].error_code;
                msg = resp.results[k].error_message;
            }
        u[i].code = code;
        u[i].msg = msg.len >= 0 ? arena_strndup(a, msg.ptr, (size_t)msg.len) : kerr_message(code);
    }
    return 0;
}

static int features_print(const tool_opts *o, enum feat_op op, feat_update *u, int n, bool dry_run)
{
    static const char *const verb[] = { "", "", "upgrade", "downgrade", "disable" };
    static const char *const done[] = { "", "", "upgraded", "downgraded", "disabled" };
    qsort(u, (size_t)n, sizeof(*u), cmp_name);
    int failed = 0;
    if (o->json)
        printf("[");
    for (int i = 0; i < n; i++) {
        failed += u[i].code != KERR_NONE;
        if (o->json) {
            printf("%s{\"feature\":", i ? "," : "");
            tool_json_str(stdout, u[i].name);
            printf(",\"level\":%d,\"error\":", u[i].level);
            if (u[i].code == KERR_NONE)
                printf("null");
            else
                tool_json_str(stdout, u[i].msg ? u[i].msg : "");
            printf("}");
        } else if (u[i].code != KERR_NONE && op == FO_DISABLE) {
            printf("Could not disable %s. %s\n", u[i].name, u[i].msg ? u[i].msg : "");
        } else if (u[i].code != KERR_NONE) {
            printf("Could not %s %s to %d. %s\n", verb[op], u[i].name, u[i].level, u[i].msg ? u[i].msg : "");
        } else if (op == FO_DISABLE) {
            printf("%s %s disabled.\n", u[i].name, dry_run ? "can be" : "was");
        } else if (dry_run) {
            printf("%s can be %s to %d.\n", u[i].name, done[op], u[i].level);
        } else {
            printf("%s was %s to %d.\n", u[i].name, done[op], u[i].level);
        }
    }
    if (o->json)
        printf("]\n");
    fflush(stdout);
    if (failed)
        fprintf(stderr, "%d out of %d operation(s) failed.\n", failed, n);
    return failed ? 1 : 0;
}

static int features_refuse(const char *what)
{
    tool_err(tool_cmd(), "%s: Gregor implements the transaction.version feature only; use --feature "
             "transaction.version=LEVEL", what);
    return 1;
}

int tool_features_main(int argc, char **argv)
{
    tool_opts o;
    tool_set_cmd("features");
    tool_opts_init(&o);
    enum feat_op op = FO_NONE;
    bool dry_run = false, unsafe = false;
    const char *specs[FEATURES_MAX];
    int nspecs = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int rc = tool_opts_parse(&o, argc, argv, &i);
        if (rc < 0)
            return 2;
        if (rc > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            features_usage(stdout);
            return 0;
        } else if (op == FO_NONE && strcmp(arg, "describe") == 0) {
            op = FO_DESCRIBE;
        } else if (op == FO_NONE && strcmp(arg, "upgrade") == 0) {
            op = FO_UPGRADE;
        } else if (op == FO_NONE && strcmp(arg, "downgrade") == 0) {
            op = FO_DOWNGRADE;
        } else if (op == FO_NONE && strcmp(arg, "disable") == 0) {
            op = FO_DISABLE;
        } else if (op == FO_NONE && (strcmp(arg, "version-mapping") == 0 || strcmp(arg, "feature-dependencies") == 0)) {
            tool_err("features", "%s: Kafka's tables of its releases; Gregor has one feature, transaction.version "
                     "(levels 0-2)", arg);
            return 1;
        } else if (op > FO_DESCRIBE && tool_opt_is(arg, "--feature")) {
            if (!(v = tool_arg_value(argc, argv, &i)))
                return 2;
            if (nspecs == FEATURES_MAX) {
                tool_err("features", "at most %d features at once", FEATURES_MAX);
                return 2;
            }
            specs[nspecs++] = v;
        } else if (op > FO_DESCRIBE && strcmp(arg, "--dry-run") == 0) {
            dry_run = true;
        } else if ((op == FO_DOWNGRADE || op == FO_DISABLE) && strcmp(arg, "--unsafe") == 0) {
            unsafe = true;
        } else if ((op == FO_UPGRADE || op == FO_DOWNGRADE) &&
                   (tool_opt_is(arg, "--release-version") || tool_opt_is(arg, "--metadata"))) {
            return features_refuse(arg);
        } else {
            tool_err("features", "unknown argument %s (see gregor features --help)", arg);
            return 2;
        }
    }
    if (op == FO_NONE) {
        tool_err("features", "describe, upgrade, downgrade or disable (see gregor features --help)");
        return 2;
    }
    arena a;
    arena_init(&a, 1u << 20);
    int rc = 1;
    feat_update u[FEATURES_MAX];
    memset(u, 0, sizeof u);
    for (int i = 0; i < nspecs; i++) {
        if (op == FO_DISABLE) {
            u[i].name = specs[i];
            u[i].level = 0;
        } else if (parse_feature(&a, specs[i], &u[i]) < 0) {
            goto out;
        }
        for (int k = 0; k < i; k++)
            if (strcmp(u[k].name, u[i].name) == 0) {
                fprintf(stderr, "Feature %s was specified more than once.\n", u[i].name);
                goto out;
            }
    }
    if (op != FO_DESCRIBE && nspecs == 0) {
        static const char *const what[] = { "", "", "upgrade", "downgrade", "disable" };
        fprintf(stderr, "You must specify at least one feature to %s\n", what[op]);
        goto out;
    }
    kp_api_versions_req req;
    kp_api_versions_req_init(&req);
    req.client_software_name = kp_str_c("gregor-tools");
    req.client_software_version = kp_str_c("1.0");
    kp_api_versions_resp av;
    char err[512];
    if (tool_raw_request(&o, KP_API_API_VERSIONS, 4, &req, &av, &a, err, sizeof err) < 0) {
        tool_err("features", "%s", err);
        goto out;
    }
    if (av.error_code) {
        tool_err("features", "ApiVersions v4: %s", kerr_name(av.error_code));
        goto out;
    }
    if (op == FO_DESCRIBE) {
        rc = features_describe(&o, &av, &a);
        goto out;
    }
    int8_t type = op == FO_UPGRADE ? 1 : unsafe ? 3 : 2;
    if (features_send(&o, &av, &a, u, nspecs, type, dry_run) < 0)
        goto out;
    rc = features_print(&o, op, u, nspecs, dry_run);
out:
    arena_deinit(&a);
    return rc;
}
