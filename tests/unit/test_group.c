/*
 * test_group.c - the classic consumer group state machine (group/group).
 *
 * Drives a grp with a fake clock (now_ms) and records every action. Each
 * request token is a tok slot; collect() copies the answer into it and
 * checks no token is answered twice, and finish() runs the clock until the
 * group is empty and checks every token of the test was answered exactly
 * once. The last test is a seeded random walk that checks the group's
 * invariants after every step.
 */
#include "group/group.h"
#include "group/coordinator.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define STR_MAX 96

/* C strings in, the machine's grp_str out (NUL-terminated; null: NULL). */
#define S(x) grp_str_c(x)
static const char *C(grp_str s)
{
    return s.len < 0 ? NULL : s.ptr;
}
#define MEMBERS_MAX 8
#define TOKS_MAX 2048
#define SESSION_MS 10000
#define REBALANCE_MS 30000

/* ---- harness: clock, tokens, actions ---- */

typedef struct tok {
    int answered;
    int kind;
    int16_t err;
    int32_t gen;
    bool skip;
    char member_id[STR_MAX];
    char leader[STR_MAX];
    char proto[STR_MAX];
    int nmembers;
    char members[MEMBERS_MAX][STR_MAX];
    char meta[MEMBERS_MAX][STR_MAX];
    char assign[STR_MAX];
} tok;

static int64_t now_ms = 1000000;
static grp_actions acts;
static tok toks[TOKS_MAX];
static int ntoks, test_tok_first;
static int npersist, nremoved;
static char removed_id[STR_MAX], removed_reason[STR_MAX];

static void copy_str(char *dst, const char *s)
{
    snprintf(dst, STR_MAX, "%s", s ? s : "(null)");
}

static void copy_bytes(char *dst, grp_bytes b)
{
    int n = b.len < STR_MAX - 1 ? b.len : STR_MAX - 1;
    if (n > 0)
        memcpy(dst, b.ptr, (size_t)n);
    dst[n > 0 ? n : 0] = '\0';
}

static tok *tok_new(void)
{
    if (ntoks >= TOKS_MAX) {
        fprintf(stderr, "test_group: TOKS_MAX too small\n");
        exit(2);
    }
    tok *t = &toks[ntoks++];
    memset(t, 0, sizeof(*t));
    return t;
}

static void tok_record(tok *t, const grp_action *a)
{
    t->kind = a->kind;
    t->err = a->error;
    t->gen = a->generation_id;
    t->skip = a->skip_assignment;
    copy_str(t->member_id, C(a->member_id));
    copy_str(t->leader, C(a->leader_id));
    copy_str(t->proto, C(a->protocol_name));
    t->nmembers = a->nmembers;
    CHECK(a->nmembers <= MEMBERS_MAX);
    for (int i = 0; i < a->nmembers && i < MEMBERS_MAX; i++) {
        copy_str(t->members[i], C(a->members[i].member_id));
        copy_bytes(t->meta[i], a->members[i].metadata);
    }
    copy_bytes(t->assign, a->assignment);
    if (a->kind == GRP_ACT_JOIN_RESPONSE && a->error == GRP_OK)
        CHECK(C(a->protocol_type) && C(a->protocol_name) && C(a->leader_id));
}

/* Take the actions of the last call (payloads are only valid until the next). */
static void collect(void)
{
    for (int i = 0; i < acts.n; i++) {
        const grp_action *a = &acts.v[i];
        if (a->kind == GRP_ACT_JOIN_RESPONSE || a->kind == GRP_ACT_SYNC_RESPONSE) {
            tok *t = a->token;
            CHECK(t >= toks && t < toks + ntoks);
            CHECK_EQ_I64(t->answered, 0); /* exactly once */
            t->answered++;
            tok_record(t, a);
        } else if (a->kind == GRP_ACT_PERSIST) {
            npersist++;
        } else {
            CHECK_EQ_I64(a->kind, GRP_ACT_MEMBER_REMOVED);
            nremoved++;
            copy_str(removed_id, C(a->member_id));
            copy_str(removed_reason, a->reason);
        }
    }
    grp_actions_reset(&acts);
}

static grp *grp_make(int32_t delay_ms, int32_t size_max)
{
    grp_limits lim = { 6000, 1800000, size_max, delay_ms };
    grp *g = grp_new(S("g1"), &lim);
    CHECK(g != NULL);
    return g;
}

/* Tick at every deadline up to now + ms, then at now + ms. */
static void advance(grp *g, int64_t ms)
{
    int64_t target = now_ms + ms;
    for (int i = 0; i < 10000; i++) {
        int64_t d = grp_next_deadline_ms(g);
        if (d > target)
            break;
        if (d > now_ms)
            now_ms = d;
        grp_tick(g, now_ms, &acts);
        collect();
        CHECK(grp_next_deadline_ms(g) > now_ms); /* a tick leaves nothing overdue */
    }
    now_ms = target;
    grp_tick(g, now_ms, &acts);
    collect();
}

/* Let every timer run out; everything must end answered and the group empty. */
static void finish(grp *g)
{
    for (int i = 0; i < 1000 && grp_next_deadline_ms(g) != INT64_MAX; i++) {
        int64_t d = grp_next_deadline_ms(g);
        now_ms = d > now_ms ? d : now_ms;
        grp_tick(g, now_ms, &acts);
        collect();
    }
    CHECK(grp_next_deadline_ms(g) == INT64_MAX);
    CHECK(grp_state(g) == GRP_EMPTY || grp_state(g) == GRP_DEAD);
    for (int i = test_tok_first; i < ntoks; i++) {
        if (toks[i].answered != 1)
            fprintf(stderr, "  token %d answered %d times\n", i, toks[i].answered);
        CHECK_EQ_I64(toks[i].answered, 1);
    }
    grp_free(g);
    test_tok_first = ntoks;
    now_ms += 1000000;
}

/* ---- request builders ---- */

typedef struct jreq {
    int16_t version;
    const char *member_id;
    const char *inst;
    const char *client;
    int32_t session_ms;
    int32_t rebalance_ms;
    const char *ptype;
    const char *protos; /* "name=meta,name=meta" */
} jreq;

static jreq J(const char *member_id, const char *protos)
{
    jreq r = { 5, member_id, NULL, "c", SESSION_MS, REBALANCE_MS, "consumer", protos };
    return r;
}

static void join_send(grp *g, jreq r, void *token)
{
    grp_protocol pv[8];
    char buf[256];
    int n = 0;
    snprintf(buf, sizeof(buf), "%s", r.protos ? r.protos : "");
    char *save = NULL;
    for (char *p = strtok_r(buf, ",", &save); p && n < 8; p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '=');
        const char *meta = "";
        if (eq) {
            *eq = '\0';
            meta = eq + 1;
        }
        pv[n].name = S(p);
        pv[n].metadata.ptr = (const uint8_t *)meta;
        pv[n].metadata.len = (int32_t)strlen(meta);
        n++;
    }
    grp_join_req q = {
        .token = token, .version = r.version, .member_id = S(r.member_id),
        .group_instance_id = S(r.inst), .client_id = S(r.client), .client_host = S("/10.0.0.1"),
        .session_timeout_ms = r.session_ms, .rebalance_timeout_ms = r.rebalance_ms,
        .protocol_type = S(r.ptype), .protocols = pv, .nprotocols = n, .reason = NULL,
    };
    grp_join(g, &q, now_ms, &acts);
}

static tok *join_r(grp *g, jreq r)
{
    tok *t = tok_new();
    join_send(g, r, t);
    collect();
    return t;
}

static tok *join(grp *g, const char *member_id, const char *protos)
{
    return join_r(g, J(member_id, protos));
}

/* A v4+ newcomer: MEMBER_ID_REQUIRED, then the rejoin (returned). */
static tok *join_new(grp *g, jreq r, char *id_out)
{
    r.member_id = "";
    tok *t1 = join_r(g, r);
    CHECK_EQ_I64(t1->answered, 1);
    CHECK_EQ_I64(t1->err, GRP_ERR_MEMBER_ID_REQUIRED);
    copy_str(id_out, t1->member_id);
    r.member_id = id_out;
    return join_r(g, r);
}

static void sync_send(grp *g, const char *member_id, const char *inst, int32_t gen, const char *ptype,
                      const char *pname, int n, const char *const *ids, const char *const *assigns,
                      void *token)
{
    grp_bytes b[MEMBERS_MAX];
    grp_str sid[MEMBERS_MAX];
    for (int i = 0; i < n; i++) {
        b[i].ptr = (const uint8_t *)assigns[i];
        b[i].len = (int32_t)strlen(assigns[i]);
        sid[i] = S(ids[i]);
    }
    grp_sync_req q = { token, S(member_id), S(inst), gen, S(ptype), S(pname), sid, b, n };
    grp_sync(g, &q, now_ms, &acts);
}

static tok *sync_full(grp *g, const char *member_id, int32_t gen, const char *ptype, const char *pname,
                      int n, const char *const *ids, const char *const *assigns)
{
    tok *t = tok_new();
    sync_send(g, member_id, NULL, gen, ptype, pname, n, ids, assigns, t);
    collect();
    return t;
}

static tok *sync_m(grp *g, const char *member_id, int32_t gen)
{
    return sync_full(g, member_id, gen, NULL, NULL, 0, NULL, NULL);
}

static int16_t hb(grp *g, const char *member_id, const char *inst, int32_t gen)
{
    int16_t e = grp_heartbeat(g, S(member_id), S(inst), gen, now_ms, &acts);
    collect();
    return e;
}

static int16_t leave(grp *g, const char *member_id, const char *inst)
{
    int16_t e = grp_leave(g, S(member_id), S(inst), now_ms, &acts);
    collect();
    return e;
}

/*
 * Build a Stable group of n members (v3 joins, or v5 for static ones), one
 * rebalance per newcomer, then the leader assigns "a<i>" to member i.
 * Returns the generation; ids[i] gets member i's id.
 */
static int32_t form_stable(grp *g, int n, const char *const *protos, const char *const *insts,
                           char ids[][STR_MAX])
{
    for (int k = 0; k < n; k++) {
        jreq r = J("", protos[k]);
        r.inst = insts ? insts[k] : NULL;
        r.version = r.inst ? 5 : 3;
        tok *t = join_r(g, r);
        for (int j = 0; j < k; j++)
            join(g, ids[j], protos[j]);
        CHECK_EQ_I64(t->answered, 1);
        CHECK_EQ_I64(t->err, GRP_OK);
        copy_str(ids[k], t->member_id);
    }
    CHECK_EQ_I64(grp_state(g), GRP_COMPLETING_REBALANCE);
    int32_t gen = grp_generation(g);
    const char *idv[MEMBERS_MAX];
    char av[MEMBERS_MAX][16];
    const char *avp[MEMBERS_MAX];
    tok *ts[MEMBERS_MAX];
    int leader = -1;
    for (int i = 0; i < n; i++) {
        idv[i] = ids[i];
        snprintf(av[i], sizeof(av[i]), "a%d", i);
        avp[i] = av[i];
        if (strcmp(C(grp_leader(g)), ids[i]) == 0)
            leader = i;
    }
    CHECK(leader >= 0);
    for (int i = 0; i < n; i++) {
        if (i != leader)
            ts[i] = sync_m(g, ids[i], gen);
    }
    ts[leader] = sync_full(g, ids[leader], gen, NULL, NULL, n, idv, avp);
    for (int i = 0; i < n; i++) {
        CHECK_EQ_I64(ts[i]->answered, 1);
        CHECK_EQ_I64(ts[i]->err, GRP_OK);
        CHECK(strcmp(ts[i]->assign, av[i]) == 0);
    }
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    return gen;
}

static const char *const PROTO_A[] = { "range=A", "range=B", "range=C", "range=D", "range=E" };

static bool uuid_like(const char *s)
{
    if (strlen(s) != 36 || s[14] != '4')
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (dash ? s[i] != '-' : !hex)
            return false;
    }
    return true;
}

/* ---- scenario tests ---- */

static void test_state_names(void)
{
    CHECK(strcmp(grp_state_name(GRP_EMPTY), "Empty") == 0);
    CHECK(strcmp(grp_state_name(GRP_PREPARING_REBALANCE), "PreparingRebalance") == 0);
    CHECK(strcmp(grp_state_name(GRP_COMPLETING_REBALANCE), "CompletingRebalance") == 0);
    CHECK(strcmp(grp_state_name(GRP_STABLE), "Stable") == 0);
    CHECK(strcmp(grp_state_name(GRP_DEAD), "Dead") == 0);
    grp_limits bad = { 7000, 6000, 10, 0 };
    CHECK(grp_new(S("x"), &bad) == NULL); /* min above max */
    grp_free(NULL);
}

static void test_join_single_v3(void)
{
    grp *g = grp_make(0, INT32_MAX);
    CHECK(strcmp(C(grp_id(g)), "g1") == 0);
    CHECK(C(grp_protocol_type(g)) == NULL && C(grp_leader(g)) == NULL);
    jreq r = J("", "range=A");
    r.version = 3;
    tok *t = join_r(g, r);
    CHECK_EQ_I64(t->answered, 1);
    CHECK_EQ_I64(t->err, GRP_OK);
    CHECK_EQ_I64(t->gen, 1);
    CHECK_EQ_I64((long long)strlen(t->member_id), 2 + 36);
    CHECK(strncmp(t->member_id, "c-", 2) == 0 && uuid_like(t->member_id + 2));
    CHECK(strcmp(t->leader, t->member_id) == 0);
    CHECK(strcmp(t->proto, "range") == 0);
    CHECK_EQ_I64(t->nmembers, 1);
    CHECK(strcmp(t->members[0], t->member_id) == 0 && strcmp(t->meta[0], "A") == 0);
    CHECK_EQ_I64(grp_state(g), GRP_COMPLETING_REBALANCE);
    CHECK(strcmp(C(grp_protocol_type(g)), "consumer") == 0);
    CHECK(strcmp(C(grp_protocol_name(g)), "range") == 0);
    CHECK(grp_has_member(g, S(t->member_id)) && !grp_has_member(g, S("nope")) && !grp_has_member(g, S(NULL)));
    char id[STR_MAX];
    copy_str(id, t->member_id);
    CHECK_EQ_I64(hb(g, id, NULL, 1), GRP_OK);
    int p0 = npersist;
    const char *ids[] = { id };
    const char *as[] = { "P0" };
    tok *s = sync_full(g, id, 1, "consumer", "range", 1, ids, as);
    CHECK_EQ_I64(s->err, GRP_OK);
    CHECK(strcmp(s->assign, "P0") == 0);
    CHECK_EQ_I64(npersist, p0 + 1);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    tok *s2 = sync_m(g, id, 1); /* Stable: answered at once */
    CHECK_EQ_I64(s2->answered, 1);
    CHECK(strcmp(s2->assign, "P0") == 0);
    int n = 0;
    const grp_member_view *v = grp_members(g, &n);
    CHECK_EQ_I64(n, 1);
    CHECK(strcmp(C(v[0].client_id), "c") == 0 && strcmp(C(v[0].client_host), "/10.0.0.1") == 0);
    CHECK(C(v[0].group_instance_id) == NULL && v[0].assignment.len == 2 && v[0].metadata.len == 1);
    finish(g);
}

static void test_member_id_required(void)
{
    grp *g = grp_make(0, INT32_MAX);
    jreq r = J("", "range=A");
    r.client = "consumer-1";
    tok *t1 = join_r(g, r);
    CHECK_EQ_I64(t1->err, GRP_ERR_MEMBER_ID_REQUIRED);
    CHECK_EQ_I64(t1->gen, -1);
    CHECK(strcmp(t1->leader, "") == 0 && strcmp(t1->proto, "(null)") == 0);
    CHECK(strncmp(t1->member_id, "consumer-1-", 11) == 0 && uuid_like(t1->member_id + 11));
    CHECK_EQ_I64(grp_state(g), GRP_EMPTY);
    CHECK_EQ_I64(grp_member_count(g), 0);
    CHECK_EQ_I64(grp_next_deadline_ms(g), now_ms + SESSION_MS); /* the pending id expires */
    r.member_id = t1->member_id;
    tok *t2 = join_r(g, r);
    CHECK_EQ_I64(t2->err, GRP_OK);
    CHECK_EQ_I64(t2->gen, 1);
    CHECK(strcmp(t2->member_id, t1->member_id) == 0);
    tok *t3 = join(g, "nope", "range=A");
    CHECK_EQ_I64(t3->err, GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK(strcmp(t3->member_id, "nope") == 0);

    /* a pending id that never comes back expires */
    tok *t4 = join(g, "", "range=A");
    CHECK_EQ_I64(t4->err, GRP_ERR_MEMBER_ID_REQUIRED);
    int r0 = nremoved;
    advance(g, SESSION_MS / 2);
    CHECK_EQ_I64(hb(g, t2->member_id, NULL, 1), GRP_OK);
    advance(g, SESSION_MS / 2);
    CHECK_EQ_I64(nremoved, r0 + 1);
    CHECK(strcmp(removed_id, t4->member_id) == 0);
    CHECK(strstr(removed_reason, "pending") != NULL);
    tok *t5 = join(g, t4->member_id, "range=A");
    CHECK_EQ_I64(t5->err, GRP_ERR_UNKNOWN_MEMBER_ID);
    finish(g);

    /* ids are deterministic: same group id and time give the same id */
    grp *ga = grp_make(0, INT32_MAX), *gb = grp_make(0, INT32_MAX);
    grp_limits lim = { 6000, 1800000, INT32_MAX, 0 };
    grp *gc = grp_new(S("other"), &lim);
    tok *ta = join(ga, "", "range=A"), *tb = join(gb, "", "range=A"), *tc = join(gc, "", "range=A");
    tok *ta2 = join(ga, "", "range=A");
    CHECK(strcmp(ta->member_id, tb->member_id) == 0);
    CHECK(strcmp(ta->member_id, tc->member_id) != 0);
    CHECK(strcmp(ta->member_id, ta2->member_id) != 0);
    grp_free(gc);
    grp_free(gb);
    finish(ga);
}

static void test_two_members(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char a[STR_MAX], b[STR_MAX];
    tok *ja = join_new(g, J("", "range=A"), a);
    CHECK_EQ_I64(ja->err, GRP_OK);
    CHECK_EQ_I64(ja->gen, 1);
    tok *sa = sync_full(g, a, 1, NULL, NULL, 1, (const char *[]){ a }, (const char *[]){ "all" });
    CHECK_EQ_I64(sa->err, GRP_OK);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);

    tok *jb = join_new(g, J("", "range=B"), b);
    CHECK_EQ_I64(jb->answered, 0); /* parked until A rejoins */
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    CHECK_EQ_I64(grp_member_count(g), 2);
    CHECK_EQ_I64(hb(g, a, NULL, 1), GRP_ERR_REBALANCE_IN_PROGRESS);
    tok *sx = sync_m(g, a, 1);
    CHECK_EQ_I64(sx->err, GRP_ERR_REBALANCE_IN_PROGRESS);
    tok *ja2 = join(g, a, "range=A");
    CHECK_EQ_I64(ja2->answered, 1);
    CHECK_EQ_I64(jb->answered, 1);
    CHECK_EQ_I64(ja2->gen, 2);
    CHECK_EQ_I64(jb->gen, 2);
    CHECK(strcmp(ja2->leader, a) == 0 && strcmp(jb->leader, a) == 0);
    CHECK_EQ_I64(ja2->nmembers, 2);
    CHECK_EQ_I64(jb->nmembers, 0);
    CHECK(strcmp(ja2->members[0], a) == 0 && strcmp(ja2->members[1], b) == 0);
    CHECK(strcmp(ja2->meta[1], "B") == 0);

    tok *sb = sync_m(g, b, 2);
    CHECK_EQ_I64(sb->answered, 0); /* waits for the leader */
    int p0 = npersist;
    tok *sa2 = sync_full(g, a, 2, NULL, NULL, 3, (const char *[]){ a, b, "stranger" },
                         (const char *[]){ "p0", "p1", "zz" });
    CHECK_EQ_I64(npersist, p0 + 1);
    CHECK(sa2->err == GRP_OK && strcmp(sa2->assign, "p0") == 0);
    CHECK(sb->answered == 1 && sb->err == GRP_OK && strcmp(sb->assign, "p1") == 0);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    CHECK_EQ_I64(hb(g, b, NULL, 2), GRP_OK);
    finish(g);
}

/* The join phase also waits for ids handed out with MEMBER_ID_REQUIRED
 * (Kafka's hasAllMembersJoined), until they rejoin or expire. */
static void test_pending_holds_join_phase(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[1][STR_MAX];
    int32_t gen = form_stable(g, 1, PROTO_A, NULL, ids);
    tok *pb = join(g, "", "range=B");
    CHECK_EQ_I64(pb->err, GRP_ERR_MEMBER_ID_REQUIRED);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE); /* a pending id alone changes nothing */
    tok *ja = join(g, ids[0], PROTO_A[0]);
    CHECK_EQ_I64(ja->answered, 0);
    tok *jb = join(g, pb->member_id, "range=B");
    CHECK(ja->answered && jb->answered && ja->gen == gen + 1 && ja->nmembers == 2);
    sync_full(g, ids[0], gen + 1, NULL, NULL, 0, NULL, NULL);
    /* the pending id never comes back: its expiry ends the wait */
    tok *pc = join(g, "", "range=C");
    jreq r = J(ids[0], PROTO_A[0]);
    r.rebalance_ms = 60000;
    tok *ja2 = join_r(g, r);
    tok *jb2 = join(g, jb->member_id, "range=B");
    CHECK(ja2->answered == 0 && jb2->answered == 0);
    advance(g, SESSION_MS - 1);
    CHECK_EQ_I64(ja2->answered, 0);
    advance(g, 1);
    CHECK(ja2->answered && jb2->answered && ja2->gen == gen + 2 && ja2->nmembers == 2);
    CHECK_EQ_I64(join(g, pc->member_id, "range=C")->err, GRP_ERR_UNKNOWN_MEMBER_ID);
    finish(g);
}

/* Three members, and Kafka's protocol vote. */
static void test_protocol_selection(void)
{
    char ids[3][STR_MAX];
    /* only rr is common to all: it wins whatever the preferences */
    grp *g = grp_make(0, INT32_MAX);
    const char *const p1[] = { "range=a1,rr=a2", "rr=b2,range=b1", "rr=c2" };
    form_stable(g, 3, p1, NULL, ids);
    CHECK(strcmp(C(grp_protocol_name(g)), "rr") == 0);
    int n;
    const grp_member_view *v = grp_members(g, &n);
    CHECK_EQ_I64(n, 3);
    CHECK(v[0].metadata.len == 2 && memcmp(v[0].metadata.ptr, "a2", 2) == 0);
    CHECK(v[2].metadata.len == 2 && memcmp(v[2].metadata.ptr, "c2", 2) == 0);
    finish(g);

    /* both common: range has two first-choice votes against one */
    g = grp_make(0, INT32_MAX);
    const char *const p2[] = { "range=a1,rr=a2", "range=b1,rr=b2", "rr=c2,range=c1" };
    form_stable(g, 3, p2, NULL, ids);
    CHECK(strcmp(C(grp_protocol_name(g)), "range") == 0);
    finish(g);

    /* a tie goes to the first member's preference */
    g = grp_make(0, INT32_MAX);
    const char *const p3[] = { "rr=a2,range=a1", "range=b1,rr=b2" };
    form_stable(g, 2, p3, NULL, ids);
    CHECK(strcmp(C(grp_protocol_name(g)), "rr") == 0);
    /* the leader's member list carries the selected protocol's metadata */
    tok *jl = join(g, ids[0], "rr=a2,range=a1"); /* leader rejoin in Stable: rebalance */
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    tok *jf = join(g, ids[1], "range=b1,rr=b2");
    CHECK(jl->answered && jf->answered);
    CHECK(strcmp(jl->meta[0], "a2") == 0 && strcmp(jl->meta[1], "b2") == 0);
    finish(g);
}

static void test_leave(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[3][STR_MAX];
    int32_t gen = form_stable(g, 3, PROTO_A, NULL, ids);
    CHECK_EQ_I64(leave(g, "nobody", NULL), GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(leave(g, ids[2], NULL), GRP_OK);
    CHECK(strcmp(removed_id, ids[2]) == 0);
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    CHECK_EQ_I64(grp_member_count(g), 2);
    tok *j1 = join(g, ids[1], PROTO_A[1]);
    CHECK_EQ_I64(j1->answered, 0);
    /* a member leaving with its join parked gets it answered */
    CHECK_EQ_I64(leave(g, ids[1], NULL), GRP_OK);
    CHECK_EQ_I64(j1->answered, 1);
    CHECK_EQ_I64(j1->err, GRP_ERR_UNKNOWN_MEMBER_ID);
    tok *j0 = join(g, ids[0], PROTO_A[0]);
    CHECK(j0->answered && j0->err == GRP_OK && j0->gen == gen + 1 && j0->nmembers == 1);
    /* the last leave empties the group */
    int p0 = npersist;
    CHECK_EQ_I64(leave(g, ids[0], NULL), GRP_OK);
    CHECK_EQ_I64(grp_state(g), GRP_EMPTY);
    CHECK_EQ_I64(grp_generation(g), gen + 2);
    CHECK_EQ_I64(npersist, p0 + 1);
    CHECK(C(grp_leader(g)) == NULL && C(grp_protocol_name(g)) == NULL);
    CHECK(strcmp(C(grp_protocol_type(g)), "consumer") == 0); /* kept for the offsets */

    /* leave of a pending id, and by instance id */
    tok *tp = join(g, "", "range=A");
    CHECK_EQ_I64(leave(g, tp->member_id, NULL), GRP_OK);
    CHECK_EQ_I64(join(g, tp->member_id, "range=A")->err, GRP_ERR_UNKNOWN_MEMBER_ID);
    char sids[2][STR_MAX];
    const char *const insts[] = { "i0", "i1" };
    form_stable(g, 2, PROTO_A, insts, sids);
    CHECK_EQ_I64(leave(g, "", "nosuch"), GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(leave(g, sids[0], "i1"), GRP_ERR_FENCED_INSTANCE_ID);
    CHECK_EQ_I64(leave(g, "", "i1"), GRP_OK);
    CHECK(!grp_has_member(g, S(sids[1])));
    finish(g);

    /* a follower leaving with its sync parked gets it answered */
    g = grp_make(0, INT32_MAX);
    gen = form_stable(g, 2, PROTO_A, NULL, ids);
    join(g, ids[0], PROTO_A[0]);
    join(g, ids[1], PROTO_A[1]);
    tok *s1 = sync_m(g, ids[1], gen + 1);
    CHECK_EQ_I64(s1->answered, 0);
    CHECK_EQ_I64(leave(g, ids[1], NULL), GRP_OK);
    CHECK(s1->answered == 1 && s1->err == GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    finish(g);
}

static void test_heartbeat_states(void)
{
    grp *g = grp_make(0, INT32_MAX);
    CHECK_EQ_I64(hb(g, "x", NULL, 0), GRP_ERR_UNKNOWN_MEMBER_ID); /* Empty */
    char a[STR_MAX], b[STR_MAX];
    tok *ja = join_new(g, J("", "range=A"), a);
    CHECK_EQ_I64(ja->gen, 1);
    CHECK_EQ_I64(hb(g, a, NULL, 1), GRP_OK); /* CompletingRebalance */
    CHECK_EQ_I64(hb(g, a, NULL, 0), GRP_ERR_ILLEGAL_GENERATION);
    sync_full(g, a, 1, NULL, NULL, 1, (const char *[]){ a }, (const char *[]){ "x" });
    CHECK_EQ_I64(hb(g, a, NULL, 1), GRP_OK); /* Stable */
    CHECK_EQ_I64(hb(g, a, NULL, 7), GRP_ERR_ILLEGAL_GENERATION);
    CHECK_EQ_I64(hb(g, "", NULL, 1), GRP_ERR_UNKNOWN_MEMBER_ID);
    join_new(g, J("", "range=B"), b);
    /* PreparingRebalance: "rejoin", but the session is kept alive */
    for (int i = 0; i < 5; i++) {
        now_ms += SESSION_MS / 2;
        CHECK_EQ_I64(hb(g, a, NULL, 1), GRP_ERR_REBALANCE_IN_PROGRESS);
        grp_tick(g, now_ms, &acts);
        collect();
        CHECK(grp_has_member(g, S(a)));
    }
    finish(g);
}

static void test_session_expiry(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX];
    int32_t gen = form_stable(g, 2, PROTO_A, NULL, ids);
    int64_t t0 = now_ms;
    CHECK_EQ_I64(grp_next_deadline_ms(g), t0 + SESSION_MS);
    advance(g, 6000);
    CHECK_EQ_I64(hb(g, ids[0], NULL, gen), GRP_OK);
    int r0 = nremoved;
    advance(g, SESSION_MS - 6000 - 1);
    CHECK_EQ_I64(grp_member_count(g), 2); /* one ms early: still there */
    advance(g, 1);
    CHECK_EQ_I64(nremoved, r0 + 1);
    CHECK(strcmp(removed_id, ids[1]) == 0);
    CHECK(strstr(removed_reason, "session") != NULL);
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    tok *j = join(g, ids[0], PROTO_A[0]);
    CHECK(j->answered && j->gen == gen + 1 && j->nmembers == 1);
    finish(g);
}

/* Members that do not rejoin within the rebalance timeout are dropped. */
static void test_rebalance_timeout(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[3][STR_MAX];
    int32_t gen = form_stable(g, 2, PROTO_A, NULL, ids);
    jreq r = J("", "range=C");
    r.version = 3;
    tok *jc = join_r(g, r); /* a newcomer: rebalance */
    int64_t t0 = now_ms;
    CHECK_EQ_I64(grp_next_deadline_ms(g), t0 + SESSION_MS); /* sessions first */
    tok *ja = join(g, ids[0], PROTO_A[0]);
    int r0 = nremoved;
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_I64(hb(g, ids[1], NULL, gen), GRP_ERR_REBALANCE_IN_PROGRESS);
        advance(g, 5000);
    }
    CHECK_EQ_I64(ja->answered, 1); /* at t0 + 30000 */
    CHECK_EQ_I64(now_ms, t0 + REBALANCE_MS);
    CHECK_EQ_I64(nremoved, r0 + 1);
    CHECK(strstr(removed_reason, "rejoin") != NULL);
    CHECK(!grp_has_member(g, S(ids[1])));
    CHECK(ja->gen == gen + 1 && jc->gen == gen + 1);
    CHECK(strcmp(ja->leader, ids[0]) == 0 && ja->nmembers == 2); /* the old leader kept */
    finish(g);

    /* the leader does not rejoin: the first member that did leads */
    g = grp_make(0, INT32_MAX);
    gen = form_stable(g, 3, PROTO_A, NULL, ids);
    CHECK(strcmp(C(grp_leader(g)), ids[0]) == 0);
    CHECK_EQ_I64(leave(g, ids[1], NULL), GRP_OK);
    tok *j2 = join(g, ids[2], PROTO_A[2]);
    advance(g, REBALANCE_MS);
    CHECK(j2->answered && j2->err == GRP_OK && j2->gen == gen + 1);
    CHECK(strcmp(j2->leader, ids[2]) == 0 && j2->nmembers == 1);
    finish(g);
}

static void test_initial_delay(void)
{
    grp *g = grp_make(3000, INT32_MAX);
    char a[STR_MAX], b[STR_MAX];
    jreq r = J("", "range=A");
    r.rebalance_ms = 10000;
    int64_t t0 = now_ms;
    tok *ja = join_new(g, r, a);
    CHECK_EQ_I64(ja->answered, 0); /* alone, but the delay runs */
    CHECK_EQ_I64(grp_next_deadline_ms(g), t0 + 3000);
    advance(g, 1000);
    r.protos = "range=B";
    tok *jb = join_new(g, r, b);
    CHECK_EQ_I64(jb->answered, 0);
    advance(g, 2000); /* t0 + 3000: a newcomer arrived, extend by 3000 */
    CHECK(ja->answered == 0 && jb->answered == 0);
    CHECK_EQ_I64(grp_next_deadline_ms(g), t0 + 6000);
    advance(g, 3000);
    CHECK(ja->answered && jb->answered);
    CHECK(ja->gen == 1 && jb->gen == 1 && ja->nmembers == 2);
    finish(g);

    /* extensions stop at the rebalance timeout (5000) */
    g = grp_make(3000, INT32_MAX);
    r = J("", "range=A");
    r.version = 3;
    r.rebalance_ms = 5000;
    t0 = now_ms;
    tok *t1 = join_r(g, r);
    advance(g, 1000);
    tok *t2 = join_r(g, r);
    advance(g, 2000);
    CHECK_EQ_I64(grp_next_deadline_ms(g), t0 + 5000); /* min(3000, 5000 - 3000) */
    advance(g, 1000);
    tok *t3 = join_r(g, r); /* joins during the extension; none is left */
    advance(g, 999);
    CHECK_EQ_I64(t1->answered, 0);
    advance(g, 1);
    CHECK(t1->answered && t2->answered && t3->answered);
    CHECK_EQ_I64(t1->nmembers, 3);
    CHECK_EQ_I64(now_ms, t0 + 5000);
    finish(g);
}

static void test_static_members(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX], old_a[STR_MAX], new_a[STR_MAX];
    const char *const insts[] = { "ia", "ib" };
    int32_t gen = form_stable(g, 2, PROTO_A, insts, ids);
    CHECK(strcmp(C(grp_leader(g)), ids[0]) == 0);
    copy_str(old_a, ids[0]);

    /* the leader restarts (v9): same place, no rebalance, skip_assignment */
    int p0 = npersist;
    jreq r = J("", PROTO_A[0]);
    r.inst = "ia";
    r.version = 9;
    tok *t = join_r(g, r);
    CHECK(t->answered && t->err == GRP_OK);
    CHECK_EQ_I64(t->gen, gen);
    CHECK(strcmp(t->member_id, old_a) != 0);
    copy_str(new_a, t->member_id);
    CHECK(strcmp(t->leader, new_a) == 0 && t->skip && t->nmembers == 2);
    CHECK_EQ_I64(npersist, p0 + 1);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    CHECK(strcmp(C(grp_leader(g)), new_a) == 0);
    int n;
    const grp_member_view *v = grp_members(g, &n);
    CHECK(n == 2 && strcmp(C(v[0].member_id), new_a) == 0 && v[0].assignment.len == 2);
    CHECK(strcmp(C(v[0].group_instance_id), "ia") == 0);
    /* the old incarnation is fenced */
    CHECK_EQ_I64(hb(g, old_a, "ia", gen), GRP_ERR_FENCED_INSTANCE_ID);
    CHECK_EQ_I64(hb(g, old_a, NULL, gen), GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(hb(g, new_a, "ia", gen), GRP_OK);
    CHECK_EQ_I64(join_r(g, (jreq){ 5, old_a, "ia", "c", SESSION_MS, REBALANCE_MS, "consumer", PROTO_A[0] })->err,
                 GRP_ERR_FENCED_INSTANCE_ID);
    CHECK_EQ_I64(grp_validate_commit(g, S(old_a), S("ia"), gen, now_ms), GRP_ERR_FENCED_INSTANCE_ID);
    tok *sf = tok_new();
    sync_send(g, old_a, "ia", gen, NULL, NULL, 0, NULL, NULL, sf);
    collect();
    CHECK_EQ_I64(sf->err, GRP_ERR_FENCED_INSTANCE_ID);

    /* a follower restarts (v8): no member list, no skip */
    r = J("", PROTO_A[1]);
    r.inst = "ib";
    r.version = 8;
    t = join_r(g, r);
    CHECK(t->err == GRP_OK && t->gen == gen && !t->skip && t->nmembers == 0);
    CHECK(strcmp(t->leader, new_a) == 0);
    copy_str(ids[1], t->member_id);

    /* the leader restarts with a pre-v9 client: it is told the old id leads */
    r = J("", PROTO_A[0]);
    r.inst = "ia";
    t = join_r(g, r);
    CHECK(t->err == GRP_OK && !t->skip && t->nmembers == 0);
    CHECK(strcmp(t->leader, new_a) == 0 && strcmp(t->member_id, new_a) != 0);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    finish(g);
}

/* Fencing, static restarts that keep a Stable group, and restarts that wait in a rebalance. */
static void test_static_fencing(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX], new_a[STR_MAX];
    const char *const insts[] = { "ia", "ib" };
    int32_t gen = form_stable(g, 2, PROTO_A, insts, ids);
    copy_str(new_a, ids[0]);
    /* a known member id claiming another instance id is fenced */
    jreq r = J(new_a, PROTO_A[0]);
    r.inst = "ib";
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_FENCED_INSTANCE_ID);
    r.inst = "zz";
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_FENCED_INSTANCE_ID);

    /* a restart with changed metadata but the same selected protocol keeps
     * the group Stable (Kafka; the Java consumer's metadata changes at every
     * restart): answered at once, same generation */
    r = J("", "range=B2");
    r.inst = "ib";
    tok *t0 = join_r(g, r);
    CHECK(t0->answered && t0->err == GRP_OK && t0->gen == gen);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    /* a new member starts a rebalance; a restart meanwhile waits in it */
    jreq rc = J("", "range=C");
    rc.inst = "ic";
    tok *tc = join_r(g, rc);
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    tok *t = join_r(g, r);
    CHECK_EQ_I64(t->answered, 0);
    /* and another restart while it waits: the parked join is fenced */
    tok *t2 = join_r(g, r);
    CHECK(t->answered && t->err == GRP_ERR_FENCED_INSTANCE_ID);
    tok *ja = join(g, new_a, PROTO_A[0]);
    CHECK(ja->answered && t2->answered && tc->answered && t2->gen == gen + 1);
    /* in CompletingRebalance a restart forces another round; its parked sync is fenced */
    tok *sb = sync_m(g, t2->member_id, gen + 1);
    CHECK_EQ_I64(sb->answered, 0);
    tok *t3 = join_r(g, r);
    CHECK(sb->answered && sb->err == GRP_ERR_FENCED_INSTANCE_ID);
    CHECK(t3->answered == 0 && grp_state(g) == GRP_PREPARING_REBALANCE);
    finish(g);
}

/* Static members that do not rejoin stay until their session expires. */
static void test_static_kept_through_rebalance(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[3][STR_MAX];
    const char *const insts[] = { NULL, "ib" };
    int32_t gen = form_stable(g, 2, PROTO_A, insts, ids);
    jreq r = J("", "range=C");
    r.version = 3;
    r.session_ms = 60000; /* outlives the static member's session */
    tok *jc = join_r(g, r);
    r = J(ids[0], PROTO_A[0]);
    r.session_ms = 60000;
    tok *ja = join_r(g, r);
    for (int i = 0; i < 6; i++) {
        advance(g, 5000);
        hb(g, ids[1], "ib", gen);
    }
    CHECK(ja->answered && jc->answered);
    CHECK(grp_has_member(g, S(ids[1])));
    CHECK_EQ_I64(ja->nmembers, 3); /* the leader assigns to it as well */
    CHECK_EQ_I64(hb(g, ids[1], "ib", gen), GRP_ERR_ILLEGAL_GENERATION);
    int r0 = nremoved;
    advance(g, SESSION_MS);
    CHECK(!grp_has_member(g, S(ids[1])) && nremoved == r0 + 1);
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    finish(g);
}

static void test_group_max_size(void)
{
    grp *g = grp_make(0, 2);
    char ids[2][STR_MAX];
    int32_t gen = form_stable(g, 2, PROTO_A, NULL, ids);
    jreq r = J("", "range=C");
    r.version = 3;
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_GROUP_MAX_SIZE_REACHED);
    r.version = 5;
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_GROUP_MAX_SIZE_REACHED);
    r.inst = "new-static";
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_GROUP_MAX_SIZE_REACHED);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    tok *t = join(g, ids[1], PROTO_A[1]); /* members are still welcome */
    CHECK(t->answered && t->gen == gen);
    CHECK_EQ_I64(leave(g, ids[1], NULL), GRP_OK);
    /* a pending id holds a seat */
    tok *p = join(g, "", "range=C");
    CHECK_EQ_I64(p->err, GRP_ERR_MEMBER_ID_REQUIRED);
    CHECK_EQ_I64(join(g, "", "range=D")->err, GRP_ERR_GROUP_MAX_SIZE_REACHED);
    tok *jp = join(g, p->member_id, "range=C");
    CHECK_EQ_I64(jp->answered, 0);
    CHECK_EQ_I64(grp_member_count(g), 2);
    finish(g);
}

static void test_invalid_session_timeout(void)
{
    grp *g = grp_make(0, INT32_MAX);
    const int32_t bad[] = { 5999, 1800001, 0, -1 };
    for (int i = 0; i < 4; i++) {
        jreq r = J("", "range=A");
        r.session_ms = bad[i];
        tok *t = join_r(g, r);
        CHECK(t->answered == 1 && t->err == GRP_ERR_INVALID_SESSION_TIMEOUT);
    }
    CHECK_EQ_I64(grp_next_deadline_ms(g), INT64_MAX); /* nothing was registered */
    jreq r = J("", "range=A");
    r.session_ms = 6000;
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_MEMBER_ID_REQUIRED);
    r.session_ms = 1800000;
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_MEMBER_ID_REQUIRED);
    finish(g);
}

static void test_inconsistent_protocol(void)
{
    grp *g = grp_make(0, INT32_MAX);
    CHECK_EQ_I64(join(g, "", "")->err, GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    jreq r = J("", "range=A");
    r.ptype = "";
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    char ids[2][STR_MAX];
    const char *const p[] = { "range=A,rr=A", "rr=B" };
    int32_t gen = form_stable(g, 2, p, NULL, ids);
    r = J("", "range=C");
    r.version = 3;
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_INCONSISTENT_GROUP_PROTOCOL); /* B lacks range */
    r.protos = "rr=C";
    r.ptype = "connect";
    CHECK_EQ_I64(join_r(g, r)->err, GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    /* a member may not move to protocols the others lack */
    CHECK_EQ_I64(join(g, ids[1], "sticky=B")->err, GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    CHECK_EQ_I64(sync_full(g, ids[0], gen, NULL, "range", 0, NULL, NULL)->err,
                 GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    CHECK_EQ_I64(sync_full(g, ids[0], gen, "connect", NULL, 0, NULL, NULL)->err,
                 GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    CHECK_EQ_I64(sync_full(g, ids[0], gen, "consumer", "rr", 0, NULL, NULL)->err, GRP_OK);
    finish(g);
}

static void test_illegal_generation_and_unknown(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX];
    int32_t gen = form_stable(g, 2, PROTO_A, NULL, ids);
    CHECK_EQ_I64(sync_m(g, ids[1], gen - 1)->err, GRP_ERR_ILLEGAL_GENERATION);
    CHECK_EQ_I64(sync_m(g, ids[1], gen + 1)->err, GRP_ERR_ILLEGAL_GENERATION);
    CHECK_EQ_I64(hb(g, ids[1], NULL, gen + 1), GRP_ERR_ILLEGAL_GENERATION);
    CHECK_EQ_I64(sync_m(g, "ghost", gen)->err, GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(hb(g, "ghost", NULL, gen), GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(join(g, "ghost", PROTO_A[0])->err, GRP_ERR_UNKNOWN_MEMBER_ID);
    finish(g);
}

static void test_rebalance_in_progress(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX];
    int32_t gen = form_stable(g, 2, PROTO_A, NULL, ids);
    tok *j0 = join(g, ids[0], PROTO_A[0]); /* the leader asks for a rebalance */
    CHECK_EQ_I64(grp_state(g), GRP_PREPARING_REBALANCE);
    CHECK_EQ_I64(sync_m(g, ids[1], gen)->err, GRP_ERR_REBALANCE_IN_PROGRESS);
    tok *j1 = join(g, ids[1], PROTO_A[1]);
    CHECK(j0->answered && j1->answered && j1->gen == gen + 1);
    tok *s1 = sync_m(g, ids[1], gen + 1);
    CHECK_EQ_I64(s1->answered, 0);
    /* a newcomer in CompletingRebalance: parked syncs are told to rejoin */
    jreq r = J("", "range=C");
    r.version = 3;
    tok *jc = join_r(g, r);
    CHECK(s1->answered && s1->err == GRP_ERR_REBALANCE_IN_PROGRESS);
    CHECK(jc->answered == 0 && grp_state(g) == GRP_PREPARING_REBALANCE);
    finish(g);
}

/* A join retried while still parked (a reconnect) supersedes the first. */
static void test_duplicate_requests(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX];
    int32_t gen = form_stable(g, 2, PROTO_A, NULL, ids);
    tok *j0 = join(g, ids[0], PROTO_A[0]);
    tok *j0b = join(g, ids[0], PROTO_A[0]);
    CHECK(j0->answered && j0->err == GRP_ERR_REBALANCE_IN_PROGRESS);
    CHECK_EQ_I64(j0b->answered, 0);
    tok *j1 = join(g, ids[1], PROTO_A[1]);
    CHECK(j0b->answered && j0b->err == GRP_OK && j1->answered);
    tok *s1 = sync_m(g, ids[1], gen + 1);
    tok *s1b = sync_m(g, ids[1], gen + 1);
    CHECK(s1->answered && s1->err == GRP_ERR_REBALANCE_IN_PROGRESS && !s1b->answered);
    finish(g);
}

/* In CompletingRebalance an unchanged rejoin is a lost response: resend it. */
static void test_completing_retry(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX];
    int32_t gen = form_stable(g, 2, PROTO_A, NULL, ids);
    join(g, ids[0], PROTO_A[0]);
    join(g, ids[1], PROTO_A[1]);
    CHECK_EQ_I64(grp_state(g), GRP_COMPLETING_REBALANCE);
    tok *s0 = sync_m(g, ids[1], gen + 1);
    tok *r1 = join(g, ids[1], PROTO_A[1]);
    CHECK(r1->answered && r1->err == GRP_OK && r1->gen == gen + 1 && r1->nmembers == 0);
    tok *r0 = join(g, ids[0], PROTO_A[0]);
    CHECK(r0->answered && r0->gen == gen + 1 && r0->nmembers == 2);
    CHECK_EQ_I64(grp_state(g), GRP_COMPLETING_REBALANCE);
    CHECK_EQ_I64(s0->answered, 0);
    /* changed metadata: a new round */
    tok *r1c = join(g, ids[1], "range=NEW");
    CHECK(r1c->answered == 0 && s0->answered && s0->err == GRP_ERR_REBALANCE_IN_PROGRESS);
    tok *r0b = join(g, ids[0], PROTO_A[0]);
    CHECK(r0b->answered && r0b->gen == gen + 2 && strcmp(r0b->meta[1], "NEW") == 0);
    /* Stable: a follower's unchanged rejoin is answered at once */
    sync_full(g, ids[0], gen + 2, NULL, NULL, 2, (const char *[]){ ids[0], ids[1] }, (const char *[]){ "x", "y" });
    tok *f = join(g, ids[1], "range=NEW");
    CHECK(f->answered && f->gen == gen + 2 && grp_state(g) == GRP_STABLE);
    finish(g);
}

static void test_commit_validation(void)
{
    grp *g = grp_make(0, INT32_MAX);
    CHECK_EQ_I64(grp_validate_commit(g, S(""), S(NULL), -1, now_ms), GRP_OK);
    CHECK_EQ_I64(grp_validate_commit(g, S("x"), S(NULL), 3, now_ms), GRP_ERR_UNKNOWN_MEMBER_ID);
    char ids[2][STR_MAX];
    const char *const insts[] = { NULL, "ib" };
    int32_t gen = form_stable(g, 2, PROTO_A, insts, ids);
    /* a simple consumer under live members is an unknown member (Kafka's order of checks) */
    CHECK_EQ_I64(grp_validate_commit(g, S(""), S(NULL), -1, now_ms), GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[0]), S(NULL), gen, now_ms), GRP_OK);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[0]), S(NULL), gen - 1, now_ms), GRP_ERR_ILLEGAL_GENERATION);
    CHECK_EQ_I64(grp_validate_commit(g, S("zz"), S(NULL), gen, now_ms), GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[0]), S("ib"), gen, now_ms), GRP_ERR_FENCED_INSTANCE_ID);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[1]), S("ib"), gen, now_ms), GRP_OK);
    /* a commit keeps the session alive */
    advance(g, SESSION_MS - 1);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[0]), S(NULL), gen, now_ms), GRP_OK);
    CHECK_EQ_I64(hb(g, ids[1], NULL, gen), GRP_OK);
    advance(g, SESSION_MS - 1);
    CHECK_EQ_I64(grp_member_count(g), 2);
    /* PreparingRebalance: the current generation may still commit */
    join(g, ids[0], PROTO_A[0]);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[1]), S(NULL), gen, now_ms), GRP_OK);
    join(g, ids[1], PROTO_A[1]);
    /* CompletingRebalance: wait for the assignment */
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[1]), S(NULL), gen + 1, now_ms), GRP_ERR_REBALANCE_IN_PROGRESS);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[1]), S(NULL), gen, now_ms), GRP_ERR_REBALANCE_IN_PROGRESS);
    finish(g);
}

static void test_delete_and_dead(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[1][STR_MAX];
    int32_t gen = form_stable(g, 1, PROTO_A, NULL, ids);
    CHECK_EQ_I64(grp_delete(g), 68);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    CHECK_EQ_I64(leave(g, ids[0], NULL), GRP_OK);
    tok *p = join(g, "", "range=A"); /* a pending id goes with the group */
    CHECK_EQ_I64(p->err, GRP_ERR_MEMBER_ID_REQUIRED);
    CHECK_EQ_I64(grp_delete(g), 0);
    CHECK_EQ_I64(grp_state(g), GRP_DEAD);
    CHECK_EQ_I64(grp_next_deadline_ms(g), INT64_MAX);
    CHECK_EQ_I64(grp_delete(g), 0);
    CHECK_EQ_I64(join(g, "", "range=A")->err, GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_I64(join(g, p->member_id, "range=A")->err, GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_I64(sync_m(g, ids[0], gen)->err, GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_I64(hb(g, ids[0], NULL, gen), GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_I64(leave(g, ids[0], NULL), GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_I64(grp_validate_commit(g, S(""), S(NULL), -1, now_ms), GRP_OK);
    CHECK_EQ_I64(grp_validate_commit(g, S(ids[0]), S(NULL), gen, now_ms), GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    finish(g);
}

static void test_next_deadline(void)
{
    grp *g = grp_make(0, INT32_MAX);
    CHECK_EQ_I64(grp_next_deadline_ms(g), INT64_MAX);
    char ids[2][STR_MAX];
    form_stable(g, 2, PROTO_A, NULL, ids);
    int64_t t0 = now_ms;
    CHECK_EQ_I64(grp_next_deadline_ms(g), t0 + SESSION_MS);
    advance(g, 1000);
    jreq r = J(ids[0], PROTO_A[0]);
    r.session_ms = 20000;
    join_r(g, r); /* parked: its session no longer counts; the join phase does */
    hb(g, ids[1], NULL, grp_generation(g));
    CHECK_EQ_I64(grp_next_deadline_ms(g), now_ms + SESSION_MS);
    r = J("", "range=Z");
    r.session_ms = 7000;
    join_r(g, r); /* a pending id, expiring first */
    CHECK_EQ_I64(grp_next_deadline_ms(g), now_ms + 7000);
    finish(g);
}

/* snapshot -> restore reproduces the group; sessions restart from load time. */
static void test_snapshot_restore(void)
{
    grp *g = grp_make(0, INT32_MAX);
    char ids[2][STR_MAX];
    const char *const insts[] = { NULL, "ib" };
    const char *const p[] = { "range=A,rr=X", "range=B" };
    int32_t gen = form_stable(g, 2, p, insts, ids);
    grp_snapshot s;
    grp_snapshot_get(g, &s);
    CHECK(strcmp(C(s.protocol_type), "consumer") == 0 && strcmp(C(s.protocol_name), "range") == 0);
    CHECK(s.generation == gen && s.nmembers == 2 && strcmp(C(s.leader), ids[0]) == 0);
    CHECK(s.current_state_timestamp_ms == now_ms);
    CHECK(s.members[1].subscription.len == 1 && s.members[1].subscription.ptr[0] == 'B');
    CHECK(strcmp(C(s.members[1].group_instance_id), "ib") == 0);
    CHECK(s.members[0].session_timeout_ms == SESSION_MS && s.members[0].rebalance_timeout_ms == REBALANCE_MS);

    now_ms += 50000;
    grp_limits lim = { 6000, 1800000, INT32_MAX, 0 };
    grp *h = grp_new(S("g1"), &lim);
    CHECK_EQ_I64(grp_restore(h, &s, now_ms), 0);
    grp_snapshot s2;
    grp_snapshot_get(h, &s2);
    CHECK(strcmp(C(s2.protocol_type), C(s.protocol_type)) == 0 && strcmp(C(s2.protocol_name), C(s.protocol_name)) == 0);
    CHECK(s2.generation == s.generation && strcmp(C(s2.leader), C(s.leader)) == 0);
    CHECK(s2.current_state_timestamp_ms == s.current_state_timestamp_ms);
    CHECK_EQ_I64(s2.nmembers, s.nmembers);
    for (int i = 0; i < s.nmembers && i < s2.nmembers; i++) {
        const grp_snapshot_member *a = &s.members[i], *b = &s2.members[i];
        CHECK(strcmp(C(a->member_id), C(b->member_id)) == 0 && strcmp(C(a->client_id), C(b->client_id)) == 0);
        CHECK(strcmp(C(a->client_host), C(b->client_host)) == 0);
        CHECK((C(a->group_instance_id) == NULL) == (C(b->group_instance_id) == NULL));
        CHECK(a->session_timeout_ms == b->session_timeout_ms && a->rebalance_timeout_ms == b->rebalance_timeout_ms);
        CHECK(a->subscription.len == b->subscription.len &&
              memcmp(a->subscription.ptr, b->subscription.ptr, (size_t)a->subscription.len) == 0);
        CHECK(a->assignment.len == b->assignment.len &&
              memcmp(a->assignment.ptr, b->assignment.ptr, (size_t)a->assignment.len) == 0);
    }
    grp_free(g); /* s borrowed from g: compared above, now gone */
    CHECK_EQ_I64(grp_state(h), GRP_STABLE);
    CHECK_EQ_I64(grp_next_deadline_ms(h), now_ms + SESSION_MS);
    CHECK_EQ_I64(hb(h, ids[0], NULL, gen), GRP_OK);
    tok *ss = sync_m(h, ids[1], gen);
    CHECK(ss->err == GRP_OK && strcmp(ss->assign, "a1") == 0);
    /* the static member restarts without a rebalance after the reload */
    jreq r = J("", "range=B");
    r.inst = "ib";
    tok *t = join_r(h, r);
    CHECK(t->err == GRP_OK && t->gen == gen && grp_state(h) == GRP_STABLE);
    /* invalid records leave the group alone */
    grp_snapshot bad;
    grp_snapshot_get(h, &bad);
    bad.leader = S("nobody");
    CHECK_EQ_I64(grp_restore(h, &bad, now_ms), -1);
    bad.leader = s2.leader;
    bad.generation = -5;
    CHECK_EQ_I64(grp_restore(h, &bad, now_ms), -1);
    grp_snapshot_member dup[2] = { bad.members[0], bad.members[0] };
    grp_snapshot_get(h, &bad);
    bad.members = dup;
    CHECK_EQ_I64(grp_restore(h, &bad, now_ms), -1);
    CHECK_EQ_I64(grp_member_count(h), 2);
    /* nobody heartbeats: both time out, the group empties */
    int r0 = nremoved;
    advance(h, SESSION_MS);
    CHECK_EQ_I64(nremoved, r0 + 2);
    CHECK_EQ_I64(grp_state(h), GRP_EMPTY);
    /* an Empty record */
    grp_snapshot e;
    grp_snapshot_get(h, &e);
    CHECK(e.nmembers == 0 && grp_str_null(e.protocol_name) && grp_str_null(e.leader));
    grp *k = grp_new(S("g1"), &lim);
    CHECK_EQ_I64(grp_restore(k, &e, now_ms), 0);
    CHECK(grp_state(k) == GRP_EMPTY && grp_generation(k) == grp_generation(h));
    grp_free(k);
    finish(h);
}

/* ---- strings byte for byte ---- */

#define BS(lit) ((grp_str){ (lit), (int32_t)sizeof(lit) - 1 })

static bool str_is(grp_str a, grp_str b)
{
    return a.len == b.len && a.len >= 0 && memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}

/* The action of the last call for token t (group-owned strings). */
static const grp_action *act_for(void *t)
{
    for (int i = 0; i < acts.n; i++)
        if (acts.v[i].token == t && (acts.v[i].kind == GRP_ACT_JOIN_RESPONSE || acts.v[i].kind == GRP_ACT_SYNC_RESPONSE))
            return &acts.v[i];
    return NULL;
}

/*
 * Group ids, client ids (so member ids), instance ids, protocol types and
 * names, metadata and assignments holding NUL and 0xff bytes: every byte
 * kept, told apart from the same bytes cut at the NUL, through join, sync,
 * heartbeat, commit checks, snapshot and restore.
 */
static void test_bytes_round_trip(void)
{
    grp_limits lim = { 6000, 1800000, INT32_MAX, 0 };
    grp_str gid = BS("g\0\xffx");
    grp *g = grp_new(gid, &lim);
    CHECK(g && str_is(grp_id(g), gid));
    static const uint8_t meta_a[] = { 'A', 0, 0xff, 'a' }, meta_b[] = { 0, 0xff };
    grp_protocol pa[] = { { BS("ra\0nge"), { meta_a, 4 } } };
    grp_protocol pb[] = { { BS("ra\0nge"), { meta_b, 2 } }, { BS("ra"), { meta_b, 2 } } };
    tok *ta = tok_new(), *tb = tok_new(), *tz = tok_new();
    grp_join_req ja = {
        .token = ta, .version = 5, .member_id = BS(""), .group_instance_id = BS("i\0a"), .client_id = BS("c\0\xff"),
        .client_host = BS("/10.0.0.1"), .session_timeout_ms = SESSION_MS, .rebalance_timeout_ms = REBALANCE_MS,
        .protocol_type = BS("con\0sumer\xff"), .protocols = pa, .nprotocols = 1,
    };
    grp_join(g, &ja, now_ms, &acts);
    const grp_action *a = act_for(ta);
    CHECK(a && a->error == GRP_OK);
    /* a static member's id is "<instance id>-<uuid>" (Kafka), NUL included */
    CHECK(a && a->member_id.len == 3 + 1 + 36 && memcmp(a->member_id.ptr, "i\0a-", 4) == 0 &&
          uuid_like(a->member_id.ptr + 4));
    CHECK(a && str_is(a->protocol_name, BS("ra\0nge")) && str_is(a->protocol_type, BS("con\0sumer\xff")));
    CHECK(a && a->nmembers == 1 && a->members[0].metadata.len == 4 &&
          memcmp(a->members[0].metadata.ptr, meta_a, 4) == 0);
    char ida[64];
    int32_t ida_len = a ? a->member_id.len : 0;
    memcpy(ida, a ? a->member_id.ptr : "", (size_t)ida_len);
    collect();
    grp_str mida = { ida, ida_len };
    /* an instance id equal up to its NUL is another instance; the protocol
     * type must match byte for byte */
    grp_join_req jz = ja;
    jz.token = tz;
    jz.group_instance_id = BS("i\0b");
    jz.protocol_type = BS("con");
    grp_join(g, &jz, now_ms, &acts);
    CHECK(act_for(tz) && act_for(tz)->error == GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    collect();
    grp_join_req jb = ja;
    jb.token = tb;
    jb.group_instance_id = BS("i\0b");
    jb.protocols = pb;
    jb.nprotocols = 2;
    grp_join(g, &jb, now_ms, &acts); /* a new static member: a rebalance */
    collect();
    tok *ta2 = tok_new();
    grp_join_req ja2 = ja;
    ja2.token = ta2;
    ja2.member_id = mida;
    grp_join(g, &ja2, now_ms, &acts);
    CHECK(act_for(ta2) && act_for(tb));
    a = act_for(tb);
    char idb[64];
    int32_t idb_len = a ? a->member_id.len : 0;
    memcpy(idb, a ? a->member_id.ptr : "", (size_t)idb_len);
    grp_str midb = { idb, idb_len };
    CHECK(idb_len == ida_len && memcmp(idb, "i\0b-", 4) == 0);
    CHECK(str_is(grp_protocol_name(g), BS("ra\0nge"))); /* both support it; "ra" is another protocol */
    int32_t gen = grp_generation(g);
    collect();
    CHECK_EQ_I64(grp_state(g), GRP_COMPLETING_REBALANCE);
    /* a dynamic member's: "<client id>-<uuid>", the client id's NUL and 0xff kept */
    tok *td = tok_new();
    grp_join_req jd = ja;
    jd.token = td;
    jd.group_instance_id = GRP_STR_NULL;
    grp_join(g, &jd, now_ms, &acts);
    a = act_for(td);
    CHECK(a && a->error == GRP_ERR_MEMBER_ID_REQUIRED && a->member_id.len == 3 + 1 + 36 &&
          memcmp(a->member_id.ptr, "c\0\xff-", 4) == 0 && uuid_like(a->member_id.ptr + 4));
    collect();
    /* the member id cut at its NUL is nobody */
    CHECK_EQ_I64(grp_heartbeat(g, (grp_str){ ida, 1 }, GRP_STR_NULL, gen, now_ms, &acts), GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_I64(grp_heartbeat(g, mida, BS("i"), gen, now_ms, &acts), GRP_ERR_FENCED_INSTANCE_ID);
    CHECK_EQ_I64(grp_heartbeat(g, mida, BS("i\0a"), gen, now_ms, &acts), GRP_OK);
    collect();
    /* the leader's assignment, keyed by member ids with NULs */
    bool a_leads = str_is(grp_leader(g), mida);
    static const uint8_t as_a[] = { 0, 1, 0xff }, as_b[] = { 0xff, 0 };
    grp_str sid[] = { mida, midb };
    grp_bytes sb[] = { { as_a, 3 }, { as_b, 2 } };
    tok *sf = tok_new(), *sl = tok_new();
    grp_sync_req follower = { sf, a_leads ? midb : mida, a_leads ? BS("i\0b") : BS("i\0a"), gen,
                              BS("con\0sumer\xff"), BS("ra\0nge"), NULL, NULL, 0 };
    grp_sync(g, &follower, now_ms, &acts);
    collect();
    grp_sync_req leader = { sl, a_leads ? mida : midb, a_leads ? BS("i\0a") : BS("i\0b"), gen,
                            BS("con\0sumer\xff"), BS("ra\0nge"), sid, sb, 2 };
    grp_sync(g, &leader, now_ms, &acts);
    collect();
    CHECK(sf->answered == 1 && sf->err == GRP_OK && sl->answered == 1 && sl->err == GRP_OK);
    CHECK_EQ_I64(grp_state(g), GRP_STABLE);
    /* a protocol name equal up to its NUL is another protocol */
    tok *sx = tok_new();
    grp_sync_req wrong = { sx, mida, BS("i\0a"), gen, GRP_STR_NULL, BS("ra"), NULL, NULL, 0 };
    grp_sync(g, &wrong, now_ms, &acts);
    collect();
    CHECK_EQ_I64(sx->err, GRP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    CHECK_EQ_I64(grp_validate_commit(g, mida, BS("i\0a"), gen, now_ms), GRP_OK);
    CHECK_EQ_I64(grp_validate_commit(g, (grp_str){ ida, 3 }, GRP_STR_NULL, gen, now_ms), GRP_ERR_UNKNOWN_MEMBER_ID);
    int n;
    const grp_member_view *v = grp_members(g, &n);
    CHECK(n == 2 && str_is(v[0].client_id, BS("c\0\xff")) && str_is(v[0].group_instance_id, BS("i\0a")));
    CHECK(str_is(v[0].member_id, mida) && v[0].assignment.len == 3 && memcmp(v[0].assignment.ptr, as_a, 3) == 0);
    /* snapshot -> restore keeps every byte */
    grp_snapshot s;
    grp_snapshot_get(g, &s);
    CHECK(str_is(s.protocol_type, BS("con\0sumer\xff")) && str_is(s.protocol_name, BS("ra\0nge")));
    CHECK(s.nmembers == 2 && str_is(s.members[1].group_instance_id, BS("i\0b")) && str_is(s.members[1].member_id, midb));
    grp *h = grp_new(gid, &lim);
    CHECK_EQ_I64(grp_restore(h, &s, now_ms), 0);
    grp_snapshot s2;
    grp_snapshot_get(h, &s2);
    CHECK(str_is(s2.protocol_type, s.protocol_type) && str_is(s2.protocol_name, s.protocol_name) &&
          str_is(s2.leader, s.leader));
    for (int i = 0; i < 2 && s2.nmembers == 2; i++) {
        CHECK(str_is(s2.members[i].member_id, s.members[i].member_id));
        CHECK(str_is(s2.members[i].group_instance_id, s.members[i].group_instance_id));
        CHECK(str_is(s2.members[i].client_id, BS("c\0\xff")) && str_is(s2.members[i].client_host, BS("/10.0.0.1")));
        CHECK(s2.members[i].subscription.len == s.members[i].subscription.len &&
              memcmp(s2.members[i].subscription.ptr, s.members[i].subscription.ptr,
                     (size_t)s.members[i].subscription.len) == 0);
    }
    CHECK_EQ_I64(grp_heartbeat(h, midb, BS("i\0b"), gen, now_ms, &acts), GRP_OK);
    CHECK_EQ_I64(grp_heartbeat(h, (grp_str){ idb, 1 }, GRP_STR_NULL, gen, now_ms, &acts), GRP_ERR_UNKNOWN_MEMBER_ID);
    collect();
    grp_free(h);
    CHECK_EQ_I64(grp_leave(g, mida, BS("i\0a"), now_ms, &acts), GRP_OK);
    collect(); /* the actions borrow from the machine until its next call */
    CHECK_EQ_I64(grp_leave(g, BS(""), BS("i\0b"), now_ms, &acts), GRP_OK);
    collect();
    finish(g);
}

/* Java's decoding of request strings (what Kafka keeps and hashes), checked
 * against JDK 17's String(bytes, UTF_8) on 30,000 random inputs once; these
 * are its answers for the interesting cases. */
static void test_java_utf8(void)
{
    static const struct { const char *in; int in_len; const char *out; int out_len; } cases[] = {
        { "Hello\0world!", 12, "Hello\0world!", 12 },
        { "Hello\0world!\xff", 13, "Hello\0world!\xef\xbf\xbd", 15 },
        { "g\0x", 3, "g\0x", 3 },
        { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9 },
        { "\xc3\x28", 2, "\xef\xbf\xbd(", 4 },
        { "\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6 },          /* overlong NUL: two */
        { "\xe2\x82\x28", 3, "\xef\xbf\xbd(", 4 },                 /* one for the two bytes */
        { "\xe2\x82", 2, "\xef\xbf\xbd", 3 },                      /* truncated at the end: one */
        { "\xed\xa0\x80", 3, "\xef\xbf\xbd", 3 },                  /* a surrogate: one */
        { "\xf0\x9f\x98", 3, "\xef\xbf\xbd", 3 },
        { "\xf0\x9f\x28", 3, "\xef\xbf\xbd(", 4 },
        { "\xf5\x80\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12 },
        { "\x80\xbf\xfe", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        int32_t n = coord_java_utf8(cases[i].in, cases[i].in_len, out);
        CHECK_EQ_I64(n, cases[i].out_len);
        CHECK(n == cases[i].out_len && memcmp(out, cases[i].out, (size_t)n) == 0);
        bool same = cases[i].in_len == cases[i].out_len && memcmp(cases[i].in, cases[i].out, (size_t)n) == 0;
        CHECK(coord_java_utf8_same(cases[i].in, cases[i].in_len) == same);
        /* the partition is that of the decoded string */
        CHECK_EQ_I64(coord_partition_for(cases[i].in, cases[i].in_len, 50), coord_partition_for(out, n, 50));
    }
    /* JDK 17: abs("g\0x".hashCode()) % 1000003, and of "g\uFFFDx", "\u00e9", "\U0001F600" */
    CHECK_EQ_I64(coord_partition_for("g\0x", 3, 1000003), 99103); /* not "g"'s: the NUL counts */
    CHECK_EQ_I64(coord_partition_for("g", 1, 1000003), 103);
    CHECK_EQ_I64(coord_partition_for("g\xffx", 3, 50), coord_partition_for("g\xef\xbf\xbdx", 5, 50));
    CHECK_EQ_I64(coord_partition_for("\xc3\xa9", 2, 1000), 233);
    CHECK_EQ_I64(coord_partition_for("\xf0\x9f\x98\x80", 4, 2000000000), 31 * 0xd83d + 0xde00);
}

/* ---- randomized walk ---- */

#define R_CLIENTS 6
#define R_TOKS 40000
#define R_SIZE_MAX 5

typedef struct rtok {
    int answered;
    int client;
} rtok;

typedef struct rclient {
    char id[STR_MAX];
    int32_t gen;
    const char *inst;
} rclient;

static rtok rtoks[R_TOKS];
static int nrtoks;
static rclient rcl[R_CLIENTS];
static uint64_t rng;
static long rbad;
static uint64_t rseed;
static int rstep;

#define RCHECK(cond) do { \
    if (!(cond) && rbad++ < 10) \
        fprintf(stderr, "random seed %llu step %d: %s failed\n", (unsigned long long)rseed, rstep, #cond); \
} while (0)

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static int rnd_n(int n)
{
    return (int)(rnd() % (uint32_t)n);
}

static rtok *rtok_new(int client)
{
    if (nrtoks >= R_TOKS) {
        fprintf(stderr, "test_group: R_TOKS too small\n");
        exit(2);
    }
    rtok *t = &rtoks[nrtoks++];
    t->answered = 0;
    t->client = client;
    return t;
}

/* The clients learn from answers roughly as real ones do. */
static void rcollect(void)
{
    for (int i = 0; i < acts.n; i++) {
        const grp_action *a = &acts.v[i];
        if (a->kind != GRP_ACT_JOIN_RESPONSE && a->kind != GRP_ACT_SYNC_RESPONSE)
            continue;
        rtok *t = a->token;
        RCHECK(t >= rtoks && t < rtoks + nrtoks);
        RCHECK(t->answered == 0);
        t->answered++;
        if (a->kind != GRP_ACT_JOIN_RESPONSE)
            continue;
        rclient *c = &rcl[t->client];
        if (a->error == GRP_OK || a->error == GRP_ERR_MEMBER_ID_REQUIRED) {
            copy_str(c->id, C(a->member_id));
            c->gen = a->generation_id;
        } else if ((a->error == GRP_ERR_UNKNOWN_MEMBER_ID || a->error == GRP_ERR_FENCED_INSTANCE_ID) &&
                   strcmp(C(a->member_id), c->id) == 0) {
            c->id[0] = '\0';
        }
        if (a->error == GRP_OK && a->nmembers > 0)
            RCHECK(strcmp(C(a->leader_id), C(a->member_id)) == 0);
    }
    grp_actions_reset(&acts);
}

static void r_join(grp *g, int c)
{
    static const char *const sets[] = { "range=A,rr=B", "rr=C,range=D", "range=E", "sticky=F" };
    static const int16_t versions[] = { 3, 5, 9 };
    jreq r = J(rnd_n(10) ? rcl[c].id : "", sets[rnd_n(4)]);
    r.version = versions[rnd_n(3)];
    r.inst = rnd_n(20) ? rcl[c].inst : (rnd_n(2) ? "s0" : NULL);
    r.session_ms = 6000 + rnd_n(6000);
    r.rebalance_ms = 5000 + rnd_n(15000);
    join_send(g, r, rtok_new(c));
}

static void r_sync(grp *g, int c)
{
    char idbuf[MEMBERS_MAX][STR_MAX];
    const char *ids[MEMBERS_MAX], *assigns[MEMBERS_MAX];
    int n = 0;
    const char *leader = C(grp_leader(g));
    if (leader && strcmp(leader, rcl[c].id) == 0) {
        /* a leader assigns something to every member it knows */
        int nm;
        const grp_member_view *v = grp_members(g, &nm);
        for (n = 0; n < nm && n < MEMBERS_MAX; n++) {
            copy_str(idbuf[n], C(v[n].member_id));
            ids[n] = idbuf[n];
            assigns[n] = "part";
        }
    }
    int32_t gen = rnd_n(10) ? rcl[c].gen : rnd_n(5);
    const char *pname = rnd_n(20) ? NULL : "rr";
    sync_send(g, rcl[c].id, rnd_n(10) ? rcl[c].inst : NULL, gen, NULL, pname, n, ids, assigns, rtok_new(c));
}

static void r_misc(grp **gp, int op, int c, int32_t *gen_last)
{
    grp *g = *gp;
    rclient *cl = &rcl[c];
    if (op < 60) {
        int16_t e = grp_heartbeat(g, S(rnd_n(10) ? cl->id : "bogus"), S(cl->inst), cl->gen, now_ms, &acts);
        if (e == GRP_ERR_UNKNOWN_MEMBER_ID)
            cl->id[0] = '\0';
    } else if (op < 65) {
        grp_leave(g, S(cl->id), S(rnd_n(3) ? NULL : cl->inst), now_ms, &acts);
    } else if (op < 70) {
        int16_t e = grp_validate_commit(g, S(rnd_n(5) ? cl->id : ""), S(cl->inst), rnd_n(5) ? cl->gen : -1, now_ms);
        RCHECK(e == GRP_OK || e == GRP_ERR_ILLEGAL_GENERATION || e == GRP_ERR_UNKNOWN_MEMBER_ID ||
               e == GRP_ERR_FENCED_INSTANCE_ID || e == GRP_ERR_REBALANCE_IN_PROGRESS ||
               e == GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    } else if (op < 95) {
        now_ms += rnd_n(3000);
        grp_tick(g, now_ms, &acts);
        RCHECK(grp_next_deadline_ms(g) > now_ms);
    } else if (op < 98 && (grp_state(g) == GRP_STABLE || grp_state(g) == GRP_EMPTY)) {
        /* a coordinator failover: reload from the record */
        grp_snapshot s;
        grp_snapshot_get(g, &s);
        grp_limits lim = { 6000, 30000, R_SIZE_MAX, 2000 };
        grp *h = grp_new(S("rnd"), &lim);
        RCHECK(grp_restore(h, &s, now_ms) == 0);
        RCHECK(grp_generation(h) == grp_generation(g) && grp_state(h) == grp_state(g));
        RCHECK(grp_member_count(h) == grp_member_count(g));
        grp_free(g);
        *gp = h;
    } else if (grp_delete(g) == 0) {
        grp_limits lim = { 6000, 30000, R_SIZE_MAX, 2000 };
        grp_free(g);
        *gp = grp_new(S("rnd"), &lim); /* the coordinator makes a new one */
        *gen_last = 0;
    }
}

static void r_check(grp *g, int32_t *gen_last)
{
    int st = grp_state(g);
    RCHECK(st >= GRP_EMPTY && st <= GRP_DEAD);
    RCHECK(grp_generation(g) >= *gen_last);
    *gen_last = grp_generation(g);
    const char *leader = C(grp_leader(g));
    RCHECK(!leader || grp_has_member(g, S(leader)));
    if (st == GRP_COMPLETING_REBALANCE || st == GRP_STABLE)
        RCHECK(leader && C(grp_protocol_name(g)));
    if (st == GRP_EMPTY || st == GRP_DEAD)
        RCHECK(grp_member_count(g) == 0);
    int n;
    const grp_member_view *v = grp_members(g, &n);
    RCHECK(n <= R_SIZE_MAX);
    for (int i = 0; i < n; i++) {
        RCHECK(C(v[i].member_id) && C(v[i].member_id)[0]);
        if (st == GRP_STABLE)
            RCHECK(v[i].assignment.len > 0); /* Stable: everyone has an assignment */
    }
}

static void test_random_seed(uint64_t seed, int steps)
{
    rseed = rng = seed;
    rbad = 0;
    nrtoks = 0;
    grp_limits lim = { 6000, 30000, R_SIZE_MAX, 2000 };
    grp *g = grp_new(S("rnd"), &lim);
    for (int i = 0; i < R_CLIENTS; i++) {
        rcl[i].id[0] = '\0';
        rcl[i].gen = -1;
        rcl[i].inst = i == 0 ? "s0" : i == 1 ? "s1" : NULL;
    }
    int32_t gen_last = 0;
    int states_seen[GRP_DEAD + 1] = { 0 };
    for (rstep = 0; rstep < steps; rstep++) {
        int op = rnd_n(100), c = rnd_n(R_CLIENTS);
        if (op < 25)
            r_join(g, c);
        else if (op < 40)
            r_sync(g, c);
        else
            r_misc(&g, op, c, &gen_last);
        rcollect();
        r_check(g, &gen_last);
        states_seen[grp_state(g)]++;
    }
    /* no more requests: every timer runs out and every token is answered */
    for (int i = 0; i < 1000 && grp_next_deadline_ms(g) != INT64_MAX; i++) {
        int64_t d = grp_next_deadline_ms(g);
        now_ms = d > now_ms ? d : now_ms;
        grp_tick(g, now_ms, &acts);
        rcollect();
        r_check(g, &gen_last);
    }
    RCHECK(grp_state(g) == GRP_EMPTY || grp_state(g) == GRP_DEAD);
    long unanswered = 0;
    for (int i = 0; i < nrtoks; i++)
        unanswered += rtoks[i].answered != 1;
    CHECK_EQ_I64(unanswered, 0);
    CHECK_EQ_I64(rbad, 0);
    /* the walk must have reached the interesting states */
    CHECK(states_seen[GRP_PREPARING_REBALANCE] > 0 && states_seen[GRP_COMPLETING_REBALANCE] > 0);
    CHECK(states_seen[GRP_STABLE] > 0);
    grp_free(g);
}

static void test_random(void)
{
    for (uint64_t seed = 1; seed <= 40; seed++)
        test_random_seed(seed * 0x9e3779b97f4a7c15ULL, 10000);
}

int main(void)
{
    test_state_names();
    test_join_single_v3();
    test_member_id_required();
    test_two_members();
    test_pending_holds_join_phase();
    test_protocol_selection();
    test_leave();
    test_heartbeat_states();
    test_session_expiry();
    test_rebalance_timeout();
    test_initial_delay();
    test_static_members();
    test_static_fencing();
    test_static_kept_through_rebalance();
    test_group_max_size();
    test_invalid_session_timeout();
    test_inconsistent_protocol();
    test_illegal_generation_and_unknown();
    test_rebalance_in_progress();
    test_duplicate_requests();
    test_completing_retry();
    test_commit_validation();
    test_delete_and_dead();
    test_next_deadline();
    test_snapshot_restore();
    test_bytes_round_trip();
    test_java_utf8();
    test_random();
    grp_actions_free(&acts);
    TEST_REPORT();
}
