/*
 * group.c - one classic consumer group as a pure state machine (group.h).
 *
 * Owns the members (kept in join order), the member ids handed out with
 * MEMBER_ID_REQUIRED that have not come back yet ("pending"), the parked
 * JoinGroup/SyncGroup tokens and the join-phase timer. Runs on whichever
 * thread owns the group; the caller serialises calls. No I/O, no locks, no
 * clock reads, no globals. Kafka's classic GroupCoordinator semantics; the
 * state diagram and transition table are in docs/groups-state-machine.md.
 *
 * Invariants (grp_check asserts them after every mutating call):
 *  1. Empty and Dead have no members, no leader and no selected protocol;
 *     Dead has no pending ids either.
 *  2. A parked join exists only in PreparingRebalance, a parked sync only in
 *     CompletingRebalance; PreparingRebalance always has members.
 *  3. CompletingRebalance and Stable have a leader and a selected protocol
 *     that every member supports.
 *  4. The leader, when set, is a member.
 *  5. join_deadline_ms is set (not INT64_MAX) exactly in PreparingRebalance.
 *  6. All members share at least one protocol (a join that would break this
 *     is refused with INCONSISTENT_GROUP_PROTOCOL).
 *  7. Member ids are unique across members and pending ids; instance ids are
 *     unique across members.
 *
 * Memory: action payloads point into the group. Whatever the group lets go of
 * during a call (a removed member, a replaced member id, old metadata, the
 * leader's member list) goes on a deferred-free list that is emptied at the
 * start of the next mutating call; that is what makes "valid until the next
 * call into this group" hold. Lookups are linear: groups are small (bounded
 * by group.max.size) and a scan keeps join order for free.
 */
#include "group/group.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRP_ERR_NON_EMPTY_GROUP 68
#define GRP_UUID_CHARS 36 /* 8-4-4-4-12 hex digits */

typedef struct grp_proto_own {
    grp_str name;                /* owned, like every grp_str below */
    uint8_t *meta;
    int32_t meta_len;
} grp_proto_own;

typedef struct grp_member {
    grp_str member_id;
    grp_str instance_id;         /* null when dynamic */
    grp_str client_id;
    grp_str client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    grp_proto_own *protos;       /* the member's order of preference */
    int nprotos;
    uint8_t *assign;             /* last assignment from the leader (NULL, 0: none) */
    int32_t assign_len;
    bool join_parked;            /* join_token waits for the join phase to end */
    void *join_token;
    bool sync_parked;            /* sync_token waits for the leader's SyncGroup */
    void *sync_token;
    int64_t session_deadline_ms; /* removed at this time, unless join_parked */
} grp_member;

typedef struct grp_pending {
    grp_str member_id;           /* handed out with MEMBER_ID_REQUIRED */
    int64_t deadline_ms;         /* forgotten if the client has not rejoined by then */
} grp_pending;

struct grp {
    grp_str group_id;
    grp_limits lim;
    int state;
    int64_t state_ts_ms;         /* when the state last changed (metadata record) */
    int32_t generation;
    grp_str protocol_type;       /* null until a member joins; kept when Empty */
    grp_str protocol_name;       /* selected protocol; null when Empty */
    grp_member *leader;
    grp_member **members;        /* join order */
    int nmembers, members_cap;
    grp_pending *pending;
    int npending, pending_cap;
    int64_t join_deadline_ms;    /* end of the join phase; INT64_MAX outside it */
    bool delay_phase;            /* the join phase is group.initial.rebalance.delay */
    bool delay_member_added;     /* a new member joined during this delay step */
    int32_t delay_remaining_ms;  /* how much further the delay may be extended */
    uint64_t id_seed;            /* member id generator: hash of the group id */
    uint64_t id_seq;             /* ... and a counter */
    void **deferred;             /* freed at the start of the next mutating call */
    int ndeferred, deferred_cap;
    grp_member_view *views;      /* grp_members' result */
    int views_cap;
    grp_snapshot_member *snap;   /* grp_snapshot_get's result */
    int snap_cap;
};

/* ---- memory ---- */

static void *grp_xalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "group: out of memory allocating %zu bytes\n", n);
        abort(); /* dropping a parked token would hang a client forever */
    }
    return p;
}

/* Grow v (elements of sz bytes, capacity *cap) to hold need elements. */
static void *grp_grow(void *v, int *cap, int need, size_t sz)
{
    assert(need >= 0 && sz > 0);
    if (need <= *cap)
        return v;
    int ncap = *cap > 0 ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(v, (size_t)ncap * sz);
    if (!nv) {
        fprintf(stderr, "group: out of memory growing an array to %d\n", ncap);
        abort();
    }
    *cap = ncap;
    return nv;
}

/* An owned copy of s (null stays null), NUL-terminated after its bytes. */
static grp_str grp_sdup(grp_str s)
{
    if (s.len < 0)
        return GRP_STR_NULL;
    char *d = grp_xalloc((size_t)s.len + 1);
    if (s.len > 0)
        memcpy(d, s.ptr, (size_t)s.len);
    return (grp_str){ d, s.len };
}

/* As grp_sdup, but null becomes "" (member ids, client ids, hosts). */
static grp_str grp_sdup_nn(grp_str s)
{
    return grp_sdup(s.len < 0 ? (grp_str){ "", 0 } : s);
}

static grp_str grp_nn(grp_str s)
{
    return s.len < 0 ? (grp_str){ "", 0 } : s;
}

static uint8_t *grp_xmemdup(const uint8_t *p, int32_t n)
{
    assert(n >= 0);
    if (n == 0)
        return NULL;
    uint8_t *d = grp_xalloc((size_t)n);
    memcpy(d, p, (size_t)n);
    return d;
}

static void grp_defer_free(grp *g, void *p)
{
    if (!p)
        return;
    g->deferred = grp_grow(g->deferred, &g->deferred_cap, g->ndeferred + 1, sizeof(void *));
    g->deferred[g->ndeferred++] = p;
}

/* Memory that lives until the next mutating call (action payloads). */
static void *grp_scratch(grp *g, size_t n)
{
    void *p = grp_xalloc(n);
    grp_defer_free(g, p);
    return p;
}

static grp_str grp_scratch_strdup(grp *g, grp_str s)
{
    grp_str d = grp_sdup_nn(s);
    grp_defer_free(g, (void *)d.ptr);
    return d;
}

static void grp_defer_str(grp *g, grp_str s)
{
    grp_defer_free(g, (void *)s.ptr);
}

/* Start of every mutating call: the previous call's payloads expire. */
static void grp_call_begin(grp *g)
{
    assert(g->ndeferred >= 0 && g->ndeferred <= g->deferred_cap);
    for (int i = 0; i < g->ndeferred; i++)
        free(g->deferred[i]);
    g->ndeferred = 0;
}

static void grp_member_defer(grp *g, grp_member *m)
{
    grp_defer_str(g, m->member_id);
    grp_defer_str(g, m->instance_id);
    grp_defer_str(g, m->client_id);
    grp_defer_str(g, m->client_host);
    for (int i = 0; i < m->nprotos; i++) {
        grp_defer_str(g, m->protos[i].name);
        grp_defer_free(g, m->protos[i].meta);
    }
    grp_defer_free(g, m->protos);
    grp_defer_free(g, m->assign);
    grp_defer_free(g, m);
}

/* ---- small helpers ---- */

bool grp_str_eq(grp_str a, grp_str b)
{
    if (a.len < 0 || b.len < 0)
        return a.len < 0 && b.len < 0;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

bool grp_str_is(grp_str a, const char *s)
{
    return s && a.len >= 0 && grp_str_eq(a, grp_str_c(s));
}

static bool grp_bytes_eq(const uint8_t *a, int32_t alen, grp_bytes b)
{
    if (alen != b.len)
        return false;
    return alen == 0 || memcmp(a, b.ptr, (size_t)alen) == 0;
}

static void grp_state_set(grp *g, int state, int64_t now_ms)
{
    assert(state >= GRP_EMPTY && state <= GRP_DEAD);
    g->state = state;
    g->state_ts_ms = now_ms;
}

static grp_member *grp_member_find(const grp *g, grp_str member_id)
{
    for (int i = 0; i < g->nmembers; i++) {
        if (grp_str_eq(g->members[i]->member_id, grp_nn(member_id)))
            return g->members[i];
    }
    return NULL;
}

static int grp_member_index(const grp *g, const grp_member *m)
{
    for (int i = 0; i < g->nmembers; i++) {
        if (g->members[i] == m)
            return i;
    }
    return -1;
}

static grp_member *grp_member_by_instance(const grp *g, grp_str instance_id)
{
    if (instance_id.len < 0)
        return NULL;
    for (int i = 0; i < g->nmembers; i++) {
        if (grp_str_eq(g->members[i]->instance_id, instance_id))
            return g->members[i];
    }
    return NULL;
}

static int grp_pending_index(const grp *g, grp_str member_id)
{
    for (int i = 0; i < g->npending; i++) {
        if (grp_str_eq(g->pending[i].member_id, grp_nn(member_id)))
            return i;
    }
    return -1;
}

/* Remove pending slot i; returns its member id, now owned by the caller. */
static grp_str grp_pending_take(grp *g, int i)
{
    assert(i >= 0 && i < g->npending);
    grp_str id = g->pending[i].member_id;
    memmove(&g->pending[i], &g->pending[i + 1], (size_t)(g->npending - i - 1) * sizeof(*g->pending));
    g->npending--;
    return id;
}

/*
 * Static membership fencing (KIP-345): a request is fenced when its instance
 * id now belongs to another member id (a newer incarnation replaced it), or
 * when a known member id claims an instance id that is not its own.
 */
static bool grp_fenced(const grp *g, grp_str member_id, grp_str instance_id)
{
    if (instance_id.len < 0)
        return false;
    const grp_member *owner = grp_member_by_instance(g, instance_id);
    if (owner)
        return !grp_str_eq(owner->member_id, grp_nn(member_id));
    const grp_member *m = grp_member_find(g, member_id);
    return m && !grp_str_eq(m->instance_id, instance_id);
}

static int32_t grp_rebalance_timeout_ms(const grp *g)
{
    int32_t t = 0;
    for (int i = 0; i < g->nmembers; i++) {
        if (g->members[i]->rebalance_timeout_ms > t)
            t = g->members[i]->rebalance_timeout_ms;
    }
    return t;
}

static void grp_session_refresh(grp_member *m, int64_t now_ms)
{
    assert(m->session_timeout_ms >= 0);
    m->session_deadline_ms = now_ms + m->session_timeout_ms;
}

/* ---- protocols ---- */

static const grp_proto_own *grp_member_proto(const grp_member *m, grp_str name)
{
    for (int i = 0; i < m->nprotos; i++) {
        if (grp_str_eq(m->protos[i].name, name))
            return &m->protos[i];
    }
    return NULL;
}

static grp_bytes grp_member_meta(const grp_member *m, grp_str protocol_name)
{
    const grp_proto_own *p = protocol_name.len >= 0 ? grp_member_proto(m, protocol_name) : NULL;
    grp_bytes b = { NULL, 0 };
    if (p) {
        b.ptr = p->meta;
        b.len = p->meta_len;
    }
    return b;
}

/* Does every member except skip (may be NULL) support protocol name? */
static bool grp_all_support(const grp *g, grp_str name, const grp_member *skip)
{
    for (int i = 0; i < g->nmembers; i++) {
        if (g->members[i] != skip && !grp_member_proto(g->members[i], name))
            return false;
    }
    return true;
}

static bool grp_req_protocols_equal(const grp_member *m, const grp_join_req *req)
{
    if (m->nprotos != req->nprotocols)
        return false;
    for (int i = 0; i < m->nprotos; i++) {
        if (!grp_str_eq(m->protos[i].name, req->protocols[i].name) ||
            !grp_bytes_eq(m->protos[i].meta, m->protos[i].meta_len, req->protocols[i].metadata))
            return false;
    }
    return true;
}

/*
 * May req join next to the other members (self, when rejoining or being
 * replaced, does not count)? Same protocol type as the group while it has
 * members, and one of its protocols supported by all the others. This keeps
 * invariant 6, so grp_protocol_select always finds a candidate.
 */
static bool grp_join_compatible(const grp *g, const grp_join_req *req, const grp_member *self)
{
    if (g->nmembers > 0 && !grp_str_eq(g->protocol_type, req->protocol_type))
        return false;
    if (g->nmembers - (self ? 1 : 0) == 0)
        return true;
    for (int i = 0; i < req->nprotocols; i++) {
        if (grp_all_support(g, req->protocols[i].name, self))
            return true;
    }
    return false;
}

static void grp_member_set_protocols(grp *g, grp_member *m, const grp_join_req *req)
{
    assert(req->nprotocols > 0);
    for (int i = 0; i < m->nprotos; i++) {
        grp_defer_str(g, m->protos[i].name);
        grp_defer_free(g, m->protos[i].meta);
    }
    grp_defer_free(g, m->protos);
    m->protos = grp_xalloc((size_t)req->nprotocols * sizeof(*m->protos));
    m->nprotos = req->nprotocols;
    for (int i = 0; i < m->nprotos; i++) {
        m->protos[i].name = grp_sdup(req->protocols[i].name);
        m->protos[i].meta = grp_xmemdup(req->protocols[i].metadata.ptr, req->protocols[i].metadata.len);
        m->protos[i].meta_len = req->protocols[i].metadata.len;
    }
}

/*
 * Kafka's vote: the candidates are the protocols every member supports; each
 * member votes for the first candidate in its own order of preference; the
 * most votes win. Ties go to the candidate the first member (join order)
 * prefers, so the outcome is deterministic (Kafka's maxBy over a map is not).
 */
static grp_str grp_protocol_select(const grp *g)
{
    assert(g->nmembers > 0);
    const grp_member *first = g->members[0];
    int *votes = grp_xalloc((size_t)first->nprotos * sizeof(int));
    bool *cand = grp_xalloc((size_t)first->nprotos * sizeof(bool));
    for (int c = 0; c < first->nprotos; c++)
        cand[c] = grp_all_support(g, first->protos[c].name, NULL);
    for (int i = 0; i < g->nmembers; i++) {
        const grp_member *m = g->members[i];
        for (int p = 0; p < m->nprotos; p++) {
            int c = 0;
            while (c < first->nprotos && !grp_str_eq(first->protos[c].name, m->protos[p].name))
                c++;
            if (c < first->nprotos && cand[c]) {
                votes[c]++;
                break;
            }
        }
    }
    int best = -1;
    for (int c = 0; c < first->nprotos; c++) {
        if (cand[c] && (best < 0 || votes[c] > votes[best]))
            best = c;
    }
    free(votes);
    free(cand);
    assert(best >= 0); /* invariant 6 */
    return first->protos[best].name;
}

/* ---- member ids ---- */

static uint64_t grp_mix64(uint64_t x)
{
    /* splitmix64's finaliser: every input bit affects every output bit */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static bool grp_id_in_use(const grp *g, grp_str id)
{
    return grp_member_find(g, id) || grp_pending_index(g, id) >= 0;
}

/* Kafka's prefix of a new member id (ClassicGroup.generateMemberId): the
 * group instance id of a static member, else the client id. */
static grp_str grp_member_id_prefix(const grp_join_req *req)
{
    return req->group_instance_id.len >= 0 ? req->group_instance_id : req->client_id;
}

/*
 * "<prefix>-<uuid>" (grp_member_id_prefix), like Kafka, but derived from the group id, now_ms and
 * a counter instead of a random source, so tests replay exactly. now_ms keeps
 * ids from repeating after a restart resets the counter (a stale client
 * holding an old id must not pass for a new member).
 */
static grp_str grp_member_id_new(grp *g, grp_str client_id, int64_t now_ms)
{
    grp_str cid = grp_nn(client_id);
    size_t n = (size_t)cid.len + 1 + GRP_UUID_CHARS + 1;
    char *id = grp_xalloc(n);
    if (cid.len > 0)
        memcpy(id, cid.ptr, (size_t)cid.len); /* the client id's bytes, NULs and all */
    grp_str r = { id, (int32_t)(n - 1) };
    do {
        uint64_t hi = grp_mix64(grp_mix64(g->id_seed ^ (uint64_t)now_ms) + ++g->id_seq);
        uint64_t lo = grp_mix64(hi ^ 0x9e3779b97f4a7c15ULL);
        int len = snprintf(id + cid.len, n - (size_t)cid.len, "-%08" PRIx32 "-%04x-%04x-%04x-%012" PRIx64,
                           (uint32_t)(hi >> 32), (unsigned)((hi >> 16) & 0xffff),
                           (unsigned)(0x4000 | (hi & 0x0fff)),           /* version 4 */
                           (unsigned)(0x8000 | ((lo >> 48) & 0x3fff)),   /* RFC 4122 variant */
                           (uint64_t)(lo & 0xffffffffffffULL));
        assert(len == GRP_UUID_CHARS + 1);
    } while (grp_id_in_use(g, r));
    return r;
}

/* ---- actions ---- */

static grp_action *grp_act_push(grp_actions *out, int kind)
{
    out->v = grp_grow(out->v, &out->cap, out->n + 1, sizeof(*out->v));
    grp_action *a = &out->v[out->n++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    return a;
}

void grp_actions_reset(grp_actions *a)
{
    a->n = 0;
}

void grp_actions_free(grp_actions *a)
{
    if (!a)
        return;
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static void grp_view_fill(const grp *g, const grp_member *m, grp_member_view *v)
{
    v->member_id = m->member_id;
    v->group_instance_id = m->instance_id;
    v->client_id = m->client_id;
    v->client_host = m->client_host;
    v->metadata = grp_member_meta(m, g->protocol_name);
    v->assignment.ptr = m->assign;
    v->assignment.len = m->assign_len;
}

/* member_id must stay valid until the next call (group-owned or scratch). */
static void grp_emit_join_error(grp_actions *out, void *token, int16_t err, grp_str member_id)
{
    assert(err != GRP_OK && member_id.len >= 0);
    grp_action *a = grp_act_push(out, GRP_ACT_JOIN_RESPONSE);
    a->token = token;
    a->error = err;
    a->generation_id = -1;
    a->protocol_type = GRP_STR_NULL;
    a->protocol_name = GRP_STR_NULL;
    a->leader_id = (grp_str){ "", 0 };
    a->member_id = member_id;
}

static void grp_emit_join_ok(grp *g, grp_actions *out, void *token, const grp_member *m,
                             grp_str leader_id, bool with_members, bool skip_assignment)
{
    assert(g->protocol_name.len >= 0 && leader_id.len >= 0);
    assert(g->state == GRP_COMPLETING_REBALANCE || g->state == GRP_STABLE);
    grp_action *a = grp_act_push(out, GRP_ACT_JOIN_RESPONSE);
    a->token = token;
    a->generation_id = g->generation;
    a->protocol_type = g->protocol_type;
    a->protocol_name = g->protocol_name;
    a->leader_id = leader_id;
    a->member_id = m->member_id;
    a->skip_assignment = skip_assignment;
    if (with_members) {
        grp_member_view *v = grp_scratch(g, (size_t)g->nmembers * sizeof(*v));
        for (int i = 0; i < g->nmembers; i++)
            grp_view_fill(g, g->members[i], &v[i]);
        a->members = v;
        a->nmembers = g->nmembers;
    }
}

/* m is NULL on error. */
static void grp_emit_sync(const grp *g, grp_actions *out, void *token, int16_t err, const grp_member *m)
{
    assert((err == GRP_OK) == (m != NULL));
    grp_action *a = grp_act_push(out, GRP_ACT_SYNC_RESPONSE);
    a->token = token;
    a->error = err;
    a->protocol_type = a->protocol_name = a->leader_id = a->member_id = GRP_STR_NULL;
    if (m) {
        a->protocol_type = g->protocol_type;
        a->protocol_name = g->protocol_name;
        a->assignment.ptr = m->assign;
        a->assignment.len = m->assign_len;
    }
}

static void grp_emit_persist(grp_actions *out)
{
    grp_action *a = grp_act_push(out, GRP_ACT_PERSIST);
    a->protocol_type = a->protocol_name = a->leader_id = a->member_id = GRP_STR_NULL;
}

static void grp_emit_removed(grp_actions *out, grp_str member_id, const char *reason)
{
    grp_action *a = grp_act_push(out, GRP_ACT_MEMBER_REMOVED);
    a->protocol_type = a->protocol_name = a->leader_id = GRP_STR_NULL;
    a->member_id = member_id;
    a->reason = reason;
}

/* Answer every parked sync with err (a new rebalance made them moot). */
static void grp_syncs_fail(grp *g, int16_t err, grp_actions *out)
{
    for (int i = 0; i < g->nmembers; i++) {
        grp_member *m = g->members[i];
        if (m->sync_parked) {
            m->sync_parked = false;
            grp_emit_sync(g, out, m->sync_token, err, NULL);
        }
    }
}

/* ---- invariants ---- */

static void grp_check_member(const grp *g, const grp_member *m)
{
    assert(m->member_id.len > 0 && m->member_id.ptr[m->member_id.len] == '\0' && m->nprotos > 0);
    assert(!m->join_parked || g->state == GRP_PREPARING_REBALANCE);
    assert(!m->sync_parked || g->state == GRP_COMPLETING_REBALANCE);
    if (g->state == GRP_COMPLETING_REBALANCE || g->state == GRP_STABLE)
        assert(grp_member_proto(m, g->protocol_name));
    assert(m->instance_id.len < 0 || grp_member_by_instance(g, m->instance_id) == m);
    assert(grp_member_find(g, m->member_id) == m && grp_pending_index(g, m->member_id) < 0);
}

static void grp_check(const grp *g)
{
    assert(g->generation >= 0);
    assert(g->nmembers >= 0 && (g->nmembers == 0 || g->nmembers <= g->members_cap));
    assert((g->state == GRP_PREPARING_REBALANCE) == (g->join_deadline_ms != INT64_MAX));
    if (g->state == GRP_EMPTY || g->state == GRP_DEAD)
        assert(g->nmembers == 0 && g->protocol_name.len < 0 && !g->leader);
    assert(g->state != GRP_DEAD || g->npending == 0);
    assert(g->state != GRP_PREPARING_REBALANCE || g->nmembers > 0);
    if (g->state == GRP_COMPLETING_REBALANCE || g->state == GRP_STABLE)
        assert(g->leader && g->protocol_name.len > 0);
    assert(!g->leader || grp_member_index(g, g->leader) >= 0);
    assert(!g->delay_phase || g->state == GRP_PREPARING_REBALANCE);
    for (int i = 0; i < g->nmembers; i++)
        grp_check_member(g, g->members[i]);
    if (g->nmembers > 0)
        assert(grp_protocol_select(g).len > 0);
}

/* ---- membership changes ---- */

static grp_member *grp_member_new(const grp_join_req *req, grp_str member_id /* transferred */)
{
    grp_member *m = grp_xalloc(sizeof(*m));
    m->member_id = member_id;
    m->instance_id = grp_sdup(req->group_instance_id);
    m->client_id = grp_sdup_nn(req->client_id);
    m->client_host = grp_sdup_nn(req->client_host);
    m->session_timeout_ms = req->session_timeout_ms;
    /* v0 has no rebalance timeout: the session timeout stands in (as in Kafka) */
    m->rebalance_timeout_ms = req->rebalance_timeout_ms > 0 ? req->rebalance_timeout_ms
                                                            : req->session_timeout_ms;
    return m;
}

static void grp_member_set_timeouts(grp_member *m, const grp_join_req *req)
{
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms > 0 ? req->rebalance_timeout_ms
                                                            : req->session_timeout_ms;
}

/*
 * Take m out of the group: its parked requests get UNKNOWN_MEMBER_ID, the
 * leadership passes to the first remaining member (as Kafka does). The
 * caller decides what the group does next (grp_member_gone).
 */
static void grp_member_remove(grp *g, grp_member *m, const char *reason, grp_actions *out)
{
    int i = grp_member_index(g, m);
    assert(i >= 0);
    if (m->join_parked)
        grp_emit_join_error(out, m->join_token, GRP_ERR_UNKNOWN_MEMBER_ID, m->member_id);
    if (m->sync_parked)
        grp_emit_sync(g, out, m->sync_token, GRP_ERR_UNKNOWN_MEMBER_ID, NULL);
    m->join_parked = m->sync_parked = false;
    grp_emit_removed(out, m->member_id, reason);
    memmove(&g->members[i], &g->members[i + 1], (size_t)(g->nmembers - i - 1) * sizeof(*g->members));
    g->nmembers--;
    if (g->leader == m)
        g->leader = g->nmembers > 0 ? g->members[0] : NULL;
    grp_member_defer(g, m); /* its strings are in the actions just emitted */
}

/* ---- the join phase ---- */

static void grp_become_empty(grp *g, int64_t now_ms, grp_actions *out)
{
    assert(g->nmembers == 0 && g->state != GRP_DEAD);
    g->generation++;
    grp_defer_str(g, g->protocol_name);
    g->protocol_name = GRP_STR_NULL;
    g->leader = NULL;
    grp_state_set(g, GRP_EMPTY, now_ms);
    g->join_deadline_ms = INT64_MAX;
    g->delay_phase = false;
    grp_emit_persist(out);
}

/*
 * Enter PreparingRebalance. From CompletingRebalance the parked syncs are
 * answered REBALANCE_IN_PROGRESS so those clients rejoin. From Empty the join
 * phase is group.initial.rebalance.delay.ms (Kafka's InitialDelayedJoin), so
 * a starting fleet of consumers lands in one generation, not one per member.
 */
static void grp_rebalance_prepare(grp *g, int64_t now_ms, grp_actions *out)
{
    assert(g->state == GRP_EMPTY || g->state == GRP_COMPLETING_REBALANCE || g->state == GRP_STABLE);
    if (g->state == GRP_COMPLETING_REBALANCE)
        grp_syncs_fail(g, GRP_ERR_REBALANCE_IN_PROGRESS, out);
    int32_t rebalance_ms = grp_rebalance_timeout_ms(g);
    int32_t delay_ms = g->lim.initial_rebalance_delay_ms;
    bool delay = g->state == GRP_EMPTY && delay_ms > 0;
    grp_state_set(g, GRP_PREPARING_REBALANCE, now_ms);
    g->delay_phase = delay;
    g->delay_member_added = false;
    if (delay) {
        g->delay_remaining_ms = rebalance_ms > delay_ms ? rebalance_ms - delay_ms : 0;
        g->join_deadline_ms = now_ms + delay_ms;
    } else {
        g->join_deadline_ms = now_ms + rebalance_ms;
    }
}

/* Dynamic members that did not rejoin in time are dropped. Static ones stay
 * (KIP-345): their session timer decides, so a bounce costs no shuffle. */
static void grp_members_drop_unjoined(grp *g, grp_actions *out)
{
    for (int i = 0; i < g->nmembers;) {
        grp_member *m = g->members[i];
        if (!m->join_parked && m->instance_id.len < 0)
            grp_member_remove(g, m, "did not rejoin before the rebalance timeout", out);
        else
            i++;
    }
}

/* Keep the old leader if it rejoined, else the first member that did. */
static bool grp_leader_elect(grp *g)
{
    if (g->leader && g->leader->join_parked)
        return true;
    for (int i = 0; i < g->nmembers; i++) {
        if (g->members[i]->join_parked) {
            g->leader = g->members[i];
            return true;
        }
    }
    return false;
}

/* The join phase is over: next generation, or Empty when nobody is left. */
static void grp_join_complete(grp *g, int64_t now_ms, grp_actions *out)
{
    assert(g->state == GRP_PREPARING_REBALANCE);
    grp_members_drop_unjoined(g, out);
    if (g->nmembers == 0) {
        grp_become_empty(g, now_ms, out);
        return;
    }
    if (!grp_leader_elect(g)) {
        /* Only static members that have not rejoined are left: wait another
         * round; their sessions expire them if they are really gone. */
        g->delay_phase = false;
        g->join_deadline_ms = now_ms + grp_rebalance_timeout_ms(g);
        return;
    }
    assert(g->generation < INT32_MAX);
    g->generation++;
    grp_str name = grp_protocol_select(g);
    grp_defer_str(g, g->protocol_name);
    g->protocol_name = grp_sdup(name);
    grp_state_set(g, GRP_COMPLETING_REBALANCE, now_ms);
    g->join_deadline_ms = INT64_MAX;
    g->delay_phase = false;
    for (int i = 0; i < g->nmembers; i++) {
        grp_member *m = g->members[i];
        if (!m->join_parked)
            continue;
        m->join_parked = false;
        grp_session_refresh(m, now_ms);
        grp_emit_join_ok(g, out, m->join_token, m, g->leader->member_id, m == g->leader, false);
    }
}

static bool grp_all_joined(const grp *g)
{
    for (int i = 0; i < g->nmembers; i++) {
        if (!g->members[i]->join_parked)
            return false;
    }
    return true;
}

/* Kafka's DelayedJoin.tryComplete: done early when every member and every
 * pending id has (re)joined. The initial delay never ends early. */
static void grp_join_maybe_complete(grp *g, int64_t now_ms, grp_actions *out)
{
    if (g->state != GRP_PREPARING_REBALANCE)
        return;
    if (g->nmembers > 0 && (g->delay_phase || g->npending > 0 || !grp_all_joined(g)))
        return;
    grp_join_complete(g, now_ms, out);
}

/* The join deadline passed. The initial delay is extended while new members
 * keep arriving, up to the rebalance timeout (InitialDelayedJoin.onComplete). */
static void grp_join_deadline_fire(grp *g, int64_t now_ms, grp_actions *out)
{
    assert(g->state == GRP_PREPARING_REBALANCE && now_ms >= g->join_deadline_ms);
    if (g->delay_phase && g->delay_member_added && g->delay_remaining_ms > 0) {
        int32_t d = g->lim.initial_rebalance_delay_ms;
        if (d > g->delay_remaining_ms)
            d = g->delay_remaining_ms;
        g->delay_member_added = false;
        g->delay_remaining_ms -= d;
        g->join_deadline_ms = now_ms + d;
        return;
    }
    grp_join_complete(g, now_ms, out);
}

/* A parked join answered by a newer one from the same member (a client that
 * reconnected) gets REBALANCE_IN_PROGRESS: it is obsolete, but every token is
 * answered exactly once. */
static void grp_join_park(grp_member *m, void *token, grp_actions *out)
{
    if (m->join_parked)
        grp_emit_join_error(out, m->join_token, GRP_ERR_REBALANCE_IN_PROGRESS, m->member_id);
    m->join_parked = true;
    m->join_token = token;
}

/* Put m's join into the join phase, starting one if needed. */
static void grp_join_enter(grp *g, grp_member *m, void *token, int64_t now_ms, grp_actions *out)
{
    assert(g->state != GRP_DEAD);
    if (g->state != GRP_PREPARING_REBALANCE)
        grp_rebalance_prepare(g, now_ms, out);
    grp_join_park(m, token, out);
    grp_join_maybe_complete(g, now_ms, out);
}

/* After a member left or expired. */
static void grp_member_gone(grp *g, int64_t now_ms, grp_actions *out)
{
    assert(g->state != GRP_EMPTY && g->state != GRP_DEAD);
    if (g->state == GRP_STABLE || g->state == GRP_COMPLETING_REBALANCE)
        grp_rebalance_prepare(g, now_ms, out);
    grp_join_maybe_complete(g, now_ms, out);
}

/* ---- JoinGroup ---- */

static int16_t grp_join_check_request(const grp *g, const grp_join_req *req)
{
    if (g->state == GRP_DEAD)
        return GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (req->session_timeout_ms < g->lim.session_timeout_ms_min ||
        req->session_timeout_ms > g->lim.session_timeout_ms_max)
        return GRP_ERR_INVALID_SESSION_TIMEOUT;
    if (req->protocol_type.len <= 0 || req->nprotocols <= 0 || !req->protocols)
        return GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    for (int i = 0; i < req->nprotocols; i++) {
        const grp_protocol *p = &req->protocols[i];
        if (p->name.len <= 0 || p->metadata.len < 0 || (p->metadata.len > 0 && !p->metadata.ptr))
            return GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    }
    return GRP_OK;
}

static void grp_member_add(grp *g, const grp_join_req *req, grp_str member_id /* transferred */,
                           int64_t now_ms, grp_actions *out)
{
    assert(!grp_id_in_use(g, member_id));
    assert(!grp_member_by_instance(g, req->group_instance_id));
    grp_member *m = grp_member_new(req, member_id);
    grp_member_set_protocols(g, m, req);
    if (g->nmembers == 0) {
        grp_defer_str(g, g->protocol_type);
        g->protocol_type = grp_sdup(req->protocol_type);
    }
    g->members = grp_grow(g->members, &g->members_cap, g->nmembers + 1, sizeof(*g->members));
    g->members[g->nmembers++] = m;
    grp_session_refresh(m, now_ms);
    if (g->state == GRP_PREPARING_REBALANCE && g->delay_phase)
        g->delay_member_added = true;
    grp_join_enter(g, m, req->token, now_ms, out);
}

/* A member id handed out with MEMBER_ID_REQUIRED comes back. */
static void grp_join_pending(grp *g, const grp_join_req *req, int p, int64_t now_ms, grp_actions *out)
{
    int16_t err = GRP_OK;
    if (grp_member_by_instance(g, req->group_instance_id))
        err = GRP_ERR_FENCED_INSTANCE_ID;
    else if (!grp_join_compatible(g, req, NULL))
        err = GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    else if (g->nmembers >= g->lim.group_size_max)
        err = GRP_ERR_GROUP_MAX_SIZE_REACHED;
    if (err != GRP_OK) {
        grp_emit_join_error(out, req->token, err, g->pending[p].member_id);
        return;
    }
    grp_member_add(g, req, grp_pending_take(g, p), now_ms, out);
}

/*
 * KIP-345/KIP-814: a restarted static member with unchanged metadata takes
 * its old place without a rebalance. The record is persisted (the member id
 * changed). A v9+ leader is told to skip the assignment but sees the members;
 * an older client cannot skip, so it is named a follower (the old leader id).
 */
static void grp_join_static_stable(grp *g, grp_member *m, const grp_join_req *req,
                                   grp_str old_id, grp_actions *out)
{
    assert(g->state == GRP_STABLE);
    bool is_leader = m == g->leader;
    grp_emit_persist(out);
    if (req->version >= 9)
        grp_emit_join_ok(g, out, req->token, m, g->leader->member_id, is_leader, is_leader);
    else
        grp_emit_join_ok(g, out, req->token, m, is_leader ? old_id : g->leader->member_id, false, false);
}

/* A known instance id with no member id: a new incarnation of a static
 * member replaces the old one, whose member id is fenced from now on. */
static void grp_join_static_replace(grp *g, grp_member *m, const grp_join_req *req,
                                    int64_t now_ms, grp_actions *out)
{
    if (!grp_join_compatible(g, req, m)) {
        grp_emit_join_error(out, req->token, GRP_ERR_INCONSISTENT_GROUP_PROTOCOL, (grp_str){ "", 0 });
        return;
    }
    grp_str old_id = m->member_id;
    if (m->join_parked)
        grp_emit_join_error(out, m->join_token, GRP_ERR_FENCED_INSTANCE_ID, old_id);
    if (m->sync_parked)
        grp_emit_sync(g, out, m->sync_token, GRP_ERR_FENCED_INSTANCE_ID, NULL);
    m->join_parked = m->sync_parked = false;
    m->member_id = grp_member_id_new(g, grp_member_id_prefix(req), now_ms);
    grp_defer_str(g, old_id);
    grp_member_set_timeouts(m, req);
    grp_session_refresh(m, now_ms);
    bool same = grp_req_protocols_equal(m, req);
    if (!same)
        grp_member_set_protocols(g, m, req);
    /* Kafka: in Stable, new metadata alone does not rebalance (the Java
     * consumer's subscription bytes change at every restart: owned
     * partitions, generation); only a change of the selected protocol does. */
    if (g->state == GRP_STABLE && grp_str_eq(grp_protocol_select(g), g->protocol_name)) {
        grp_join_static_stable(g, m, req, old_id, out);
        return;
    }
    /* In CompletingRebalance the leader may already be assigning to the old
     * member id, so even an unchanged member forces a new round (Kafka). */
    grp_join_enter(g, m, req->token, now_ms, out);
}

static void grp_join_unknown(grp *g, const grp_join_req *req, int64_t now_ms, grp_actions *out)
{
    grp_str inst = req->group_instance_id;
    grp_member *old = grp_member_by_instance(g, inst);
    if (old) {
        grp_join_static_replace(g, old, req, now_ms, out);
        return;
    }
    int16_t err = GRP_OK;
    if (!grp_join_compatible(g, req, NULL))
        err = GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    else if (g->nmembers + g->npending >= g->lim.group_size_max)
        err = GRP_ERR_GROUP_MAX_SIZE_REACHED; /* pending ids hold a seat: bounds them too */
    if (err != GRP_OK) {
        grp_emit_join_error(out, req->token, err, (grp_str){ "", 0 });
        return;
    }
    grp_str id = grp_member_id_new(g, grp_member_id_prefix(req), now_ms);
    if (req->version >= 4 && inst.len < 0) {
        /* KIP-394: hand the id out first; a client that never sees this
         * response leaves only a pending id behind, which expires. */
        g->pending = grp_grow(g->pending, &g->pending_cap, g->npending + 1, sizeof(*g->pending));
        g->pending[g->npending].member_id = id;
        g->pending[g->npending].deadline_ms = now_ms + req->session_timeout_ms;
        g->npending++;
        grp_emit_join_error(out, req->token, GRP_ERR_MEMBER_ID_REQUIRED, id);
        return;
    }
    grp_member_add(g, req, id, now_ms, out);
}

/*
 * A member rejoins. With identical metadata, a follower in Stable or anyone
 * in CompletingRebalance is retrying a join whose response was lost: answer
 * with the current generation. The leader rejoining in Stable is how a
 * consumer asks for a rebalance (e.g. partitions were added), so that and
 * changed metadata start one, as in Kafka.
 */
static void grp_join_existing(grp *g, grp_member *m, const grp_join_req *req, int64_t now_ms,
                              grp_actions *out)
{
    bool same = grp_req_protocols_equal(m, req);
    grp_member_set_timeouts(m, req);
    grp_session_refresh(m, now_ms);
    bool answer_now = same && (g->state == GRP_COMPLETING_REBALANCE ||
                               (g->state == GRP_STABLE && m != g->leader));
    if (answer_now) {
        grp_emit_join_ok(g, out, req->token, m, g->leader->member_id, m == g->leader, false);
        return;
    }
    if (!same)
        grp_member_set_protocols(g, m, req);
    grp_join_enter(g, m, req->token, now_ms, out);
}

static void grp_join_known(grp *g, const grp_join_req *req, grp_str member_id, int64_t now_ms,
                           grp_actions *out)
{
    int p = grp_pending_index(g, member_id);
    if (p >= 0) {
        grp_join_pending(g, req, p, now_ms, out);
        return;
    }
    grp_member *m = grp_member_find(g, member_id);
    int16_t err = GRP_OK;
    if (grp_fenced(g, member_id, req->group_instance_id))
        err = GRP_ERR_FENCED_INSTANCE_ID;
    else if (!m)
        err = GRP_ERR_UNKNOWN_MEMBER_ID;
    else if (!grp_join_compatible(g, req, m))
        err = GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (err != GRP_OK) {
        grp_emit_join_error(out, req->token, err, grp_scratch_strdup(g, member_id));
        return;
    }
    grp_join_existing(g, m, req, now_ms, out);
}

void grp_join(grp *g, const grp_join_req *req, int64_t now_ms, grp_actions *out)
{
    assert(g && req && out);
    grp_call_begin(g);
    grp_str member_id = grp_nn(req->member_id);
    int16_t err = grp_join_check_request(g, req);
    if (err != GRP_OK)
        grp_emit_join_error(out, req->token, err, grp_scratch_strdup(g, member_id));
    else if (member_id.len == 0)
        grp_join_unknown(g, req, now_ms, out);
    else
        grp_join_known(g, req, member_id, now_ms, out);
    grp_check(g);
}

/* ---- SyncGroup ---- */

static int16_t grp_sync_check(const grp *g, const grp_sync_req *req, grp_member **mp)
{
    grp_str member_id = grp_nn(req->member_id);
    if (g->state == GRP_DEAD)
        return GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (grp_fenced(g, member_id, req->group_instance_id))
        return GRP_ERR_FENCED_INSTANCE_ID;
    grp_member *m = grp_member_find(g, member_id);
    if (!m)
        return GRP_ERR_UNKNOWN_MEMBER_ID;
    if (req->generation_id != g->generation)
        return GRP_ERR_ILLEGAL_GENERATION;
    if (req->protocol_type.len >= 0 && !grp_str_eq(req->protocol_type, g->protocol_type))
        return GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (req->protocol_name.len >= 0 && !grp_str_eq(req->protocol_name, g->protocol_name))
        return GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (g->state == GRP_PREPARING_REBALANCE)
        return GRP_ERR_REBALANCE_IN_PROGRESS;
    assert(g->state == GRP_COMPLETING_REBALANCE || g->state == GRP_STABLE);
    *mp = m;
    return GRP_OK;
}

/* The leader's assignment: store it (absent members get nothing), persist,
 * answer every parked sync, Stable. */
static void grp_sync_complete(grp *g, const grp_sync_req *req, int64_t now_ms, grp_actions *out)
{
    assert(g->state == GRP_COMPLETING_REBALANCE && req->nassign >= 0);
    for (int i = 0; i < g->nmembers; i++) {
        grp_defer_free(g, g->members[i]->assign);
        g->members[i]->assign = NULL;
        g->members[i]->assign_len = 0;
    }
    for (int i = 0; i < req->nassign; i++) {
        grp_member *m = req->assign_member_ids[i].len >= 0 ? grp_member_find(g, req->assign_member_ids[i]) : NULL;
        grp_bytes b = req->assign_bytes[i];
        if (!m || b.len < 0 || (b.len > 0 && !b.ptr))
            continue; /* a member the leader should not know of, or junk: ignore */
        grp_defer_free(g, m->assign); /* a duplicate entry: the last one wins */
        m->assign = grp_xmemdup(b.ptr, b.len);
        m->assign_len = b.len;
    }
    grp_state_set(g, GRP_STABLE, now_ms);
    grp_emit_persist(out);
    for (int i = 0; i < g->nmembers; i++) {
        grp_member *m = g->members[i];
        if (!m->sync_parked)
            continue;
        m->sync_parked = false;
        grp_session_refresh(m, now_ms);
        grp_emit_sync(g, out, m->sync_token, GRP_OK, m);
    }
}

void grp_sync(grp *g, const grp_sync_req *req, int64_t now_ms, grp_actions *out)
{
    assert(g && req && out);
    grp_call_begin(g);
    grp_member *m = NULL;
    int16_t err = grp_sync_check(g, req, &m);
    if (err != GRP_OK) {
        grp_emit_sync(g, out, req->token, err, NULL);
    } else if (g->state == GRP_STABLE) {
        grp_session_refresh(m, now_ms);
        grp_emit_sync(g, out, req->token, GRP_OK, m);
    } else {
        grp_session_refresh(m, now_ms);
        if (m->sync_parked) /* superseded by a retry: see grp_join_park */
            grp_emit_sync(g, out, m->sync_token, GRP_ERR_REBALANCE_IN_PROGRESS, NULL);
        m->sync_parked = true;
        m->sync_token = req->token;
        if (m == g->leader)
            grp_sync_complete(g, req, now_ms, out);
    }
    grp_check(g);
}

/* ---- Heartbeat, LeaveGroup, commits ---- */

int16_t grp_heartbeat(grp *g, grp_str member_id, grp_str group_instance_id,
                      int32_t generation_id, int64_t now_ms, grp_actions *out)
{
    assert(g && out);
    grp_call_begin(g);
    member_id = grp_nn(member_id);
    if (g->state == GRP_DEAD)
        return GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (grp_fenced(g, member_id, group_instance_id))
        return GRP_ERR_FENCED_INSTANCE_ID;
    grp_member *m = grp_member_find(g, member_id);
    if (!m)
        return GRP_ERR_UNKNOWN_MEMBER_ID;
    if (generation_id != g->generation)
        return GRP_ERR_ILLEGAL_GENERATION;
    /* The session is refreshed even when the answer is "rejoin": the member
     * is alive, and it gets the rebalance timeout to come back. */
    grp_session_refresh(m, now_ms);
    if (g->state == GRP_PREPARING_REBALANCE)
        return GRP_ERR_REBALANCE_IN_PROGRESS;
    assert(g->state == GRP_COMPLETING_REBALANCE || g->state == GRP_STABLE);
    return GRP_OK;
}

int16_t grp_leave(grp *g, grp_str member_id, grp_str group_instance_id, int64_t now_ms,
                  grp_actions *out)
{
    assert(g && out);
    grp_call_begin(g);
    member_id = grp_nn(member_id);
    if (g->state == GRP_DEAD)
        return GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    grp_member *m;
    if (member_id.len == 0) {
        m = grp_member_by_instance(g, group_instance_id);
    } else {
        int p = grp_pending_index(g, member_id);
        if (p >= 0) {
            grp_str id = grp_pending_take(g, p);
            grp_emit_removed(out, id, "pending member left the group");
            grp_defer_str(g, id);
            grp_join_maybe_complete(g, now_ms, out); /* it may have been all we waited for */
            grp_check(g);
            return GRP_OK;
        }
        if (grp_fenced(g, member_id, group_instance_id))
            return GRP_ERR_FENCED_INSTANCE_ID;
        m = grp_member_find(g, member_id);
    }
    if (!m)
        return GRP_ERR_UNKNOWN_MEMBER_ID;
    grp_member_remove(g, m, "left the group", out);
    grp_member_gone(g, now_ms, out);
    grp_check(g);
    return GRP_OK;
}

int16_t grp_validate_commit(grp *g, grp_str member_id, grp_str group_instance_id,
                            int32_t generation_id, int64_t now_ms)
{
    assert(g);
    member_id = grp_nn(member_id);
    /* The order of checks is Kafka's (validateOffsetCommit). */
    if (generation_id < 0 && g->nmembers == 0)
        return GRP_OK; /* a simple consumer (assign(), admin tools) on a memberless group */
    if (g->state == GRP_DEAD)
        return GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (grp_fenced(g, member_id, group_instance_id))
        return GRP_ERR_FENCED_INSTANCE_ID;
    if (g->state == GRP_COMPLETING_REBALANCE)
        return GRP_ERR_REBALANCE_IN_PROGRESS; /* the assignment is about to change */
    grp_member *m = grp_member_find(g, member_id);
    if (!m)
        return GRP_ERR_UNKNOWN_MEMBER_ID; /* also a simple consumer under live members */
    if (generation_id != g->generation)
        return GRP_ERR_ILLEGAL_GENERATION;
    /* Stable, or PreparingRebalance: the member may commit what it consumed
     * in the current generation before it rejoins. */
    grp_session_refresh(m, now_ms);
    return GRP_OK;
}

/* ---- time ---- */

int64_t grp_next_deadline_ms(const grp *g)
{
    int64_t d = INT64_MAX;
    for (int i = 0; i < g->nmembers; i++) {
        const grp_member *m = g->members[i];
        if (!m->join_parked && m->session_deadline_ms < d)
            d = m->session_deadline_ms;
    }
    for (int i = 0; i < g->npending; i++) {
        if (g->pending[i].deadline_ms < d)
            d = g->pending[i].deadline_ms;
    }
    if (g->join_deadline_ms < d)
        d = g->join_deadline_ms; /* INT64_MAX outside PreparingRebalance */
    return d;
}

static void grp_pending_expire(grp *g, int64_t now_ms, grp_actions *out)
{
    bool changed = false;
    for (int i = 0; i < g->npending;) {
        if (g->pending[i].deadline_ms > now_ms) {
            i++;
            continue;
        }
        grp_str id = grp_pending_take(g, i);
        grp_emit_removed(out, id, "pending member did not rejoin before its session timeout");
        grp_defer_str(g, id);
        changed = true;
    }
    if (changed)
        grp_join_maybe_complete(g, now_ms, out);
}

/* Members parked in a join do not expire: they are waiting on us (Kafka). */
static grp_member *grp_member_expired(const grp *g, int64_t now_ms)
{
    for (int i = 0; i < g->nmembers; i++) {
        grp_member *m = g->members[i];
        if (!m->join_parked && m->session_deadline_ms <= now_ms)
            return m;
    }
    return NULL;
}

void grp_tick(grp *g, int64_t now_ms, grp_actions *out)
{
    assert(g && out);
    grp_call_begin(g);
    if (g->state == GRP_DEAD)
        return;
    grp_pending_expire(g, now_ms, out);
    grp_member *m;
    /* one at a time: each removal can complete a join, which refreshes others */
    while ((m = grp_member_expired(g, now_ms)) != NULL) {
        grp_member_remove(g, m, "session timeout expired", out);
        grp_member_gone(g, now_ms, out);
    }
    if (g->state == GRP_PREPARING_REBALANCE && now_ms >= g->join_deadline_ms)
        grp_join_deadline_fire(g, now_ms, out);
    grp_check(g);
}

/* ---- lifecycle and queries ---- */

grp *grp_new(grp_str group_id, const grp_limits *lim)
{
    assert(group_id.len >= 0 && lim);
    if (lim->session_timeout_ms_min < 0 || lim->session_timeout_ms_min > lim->session_timeout_ms_max ||
        lim->group_size_max < 1 || lim->initial_rebalance_delay_ms < 0)
        return NULL;
    grp *g = grp_xalloc(sizeof(*g));
    g->group_id = grp_sdup(group_id);
    g->lim = *lim;
    g->state = GRP_EMPTY;
    g->protocol_type = g->protocol_name = GRP_STR_NULL;
    g->join_deadline_ms = INT64_MAX;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a of the group id */
    for (int32_t i = 0; i < group_id.len; i++)
        h = (h ^ (uint8_t)group_id.ptr[i]) * 0x100000001b3ULL;
    g->id_seed = h;
    grp_check(g);
    return g;
}

/* Parked tokens are dropped unanswered: the caller owns what they point to. */
void grp_free(grp *g)
{
    if (!g)
        return;
    grp_call_begin(g);
    for (int i = 0; i < g->nmembers; i++)
        grp_member_defer(g, g->members[i]);
    for (int i = 0; i < g->npending; i++)
        grp_defer_str(g, g->pending[i].member_id);
    grp_call_begin(g);
    free(g->deferred);
    free(g->members);
    free(g->pending);
    free(g->views);
    free(g->snap);
    free((void *)g->protocol_type.ptr);
    free((void *)g->protocol_name.ptr);
    free((void *)g->group_id.ptr);
    free(g);
}

const char *grp_state_name(int state)
{
    switch (state) {
    case GRP_EMPTY: return "Empty";
    case GRP_PREPARING_REBALANCE: return "PreparingRebalance";
    case GRP_COMPLETING_REBALANCE: return "CompletingRebalance";
    case GRP_STABLE: return "Stable";
    case GRP_DEAD: return "Dead";
    default: return "Unknown";
    }
}

grp_str grp_id(const grp *g) { return g->group_id; }
int grp_state(const grp *g) { return g->state; }
int32_t grp_generation(const grp *g) { return g->generation; }
grp_str grp_protocol_type(const grp *g) { return g->protocol_type; }
grp_str grp_protocol_name(const grp *g) { return g->protocol_name; }
grp_str grp_leader(const grp *g) { return g->leader ? g->leader->member_id : GRP_STR_NULL; }
int grp_member_count(const grp *g) { return g->nmembers; }

bool grp_has_member(const grp *g, grp_str member_id)
{
    return member_id.len >= 0 && grp_member_find(g, member_id) != NULL;
}

const grp_member_view *grp_members(grp *g, int *n)
{
    assert(g && n);
    g->views = grp_grow(g->views, &g->views_cap, g->nmembers, sizeof(*g->views));
    for (int i = 0; i < g->nmembers; i++)
        grp_view_fill(g, g->members[i], &g->views[i]);
    *n = g->nmembers;
    return g->views;
}

int16_t grp_delete(grp *g)
{
    assert(g);
    if (g->state != GRP_EMPTY && g->state != GRP_DEAD)
        return GRP_ERR_NON_EMPTY_GROUP;
    grp_call_begin(g);
    for (int i = 0; i < g->npending; i++)
        grp_defer_str(g, g->pending[i].member_id);
    g->npending = 0;
    g->state = GRP_DEAD;
    grp_check(g);
    return GRP_OK;
}

/* ---- persistence ---- */

void grp_snapshot_get(grp *g, grp_snapshot *out)
{
    assert(g && out);
    g->snap = grp_grow(g->snap, &g->snap_cap, g->nmembers, sizeof(*g->snap));
    for (int i = 0; i < g->nmembers; i++) {
        const grp_member *m = g->members[i];
        grp_snapshot_member *s = &g->snap[i];
        s->member_id = m->member_id;
        s->group_instance_id = m->instance_id;
        s->client_id = m->client_id;
        s->client_host = m->client_host;
        s->rebalance_timeout_ms = m->rebalance_timeout_ms;
        s->session_timeout_ms = m->session_timeout_ms;
        s->subscription = grp_member_meta(m, g->protocol_name);
        s->assignment.ptr = m->assign;
        s->assignment.len = m->assign_len;
    }
    out->protocol_type = grp_nn(g->protocol_type);
    out->generation = g->generation;
    out->protocol_name = g->protocol_name;
    out->leader = grp_leader(g);
    out->current_state_timestamp_ms = g->state_ts_ms;
    out->members = g->snap;
    out->nmembers = g->nmembers;
}

static bool grp_bytes_valid(grp_bytes b)
{
    return b.len >= 0 && (b.len == 0 || b.ptr);
}

static bool grp_snapshot_member_valid(const grp_snapshot *s, int i)
{
    const grp_snapshot_member *m = &s->members[i];
    if (m->member_id.len <= 0 || m->session_timeout_ms <= 0 || m->rebalance_timeout_ms <= 0 ||
        !grp_bytes_valid(m->subscription) || !grp_bytes_valid(m->assignment))
        return false;
    for (int j = 0; j < i; j++) {
        if (grp_str_eq(s->members[j].member_id, m->member_id))
            return false;
        if (m->group_instance_id.len >= 0 && grp_str_eq(s->members[j].group_instance_id, m->group_instance_id))
            return false;
    }
    return true;
}

/* The record comes from disk: check everything before touching the group. */
static bool grp_snapshot_valid(const grp_snapshot *s)
{
    if (s->generation < 0 || s->nmembers < 0 || (s->nmembers > 0 && !s->members))
        return false;
    if (s->nmembers == 0)
        return true;
    if (s->protocol_type.len <= 0 || s->protocol_name.len <= 0 || s->leader.len < 0)
        return false;
    bool leader_found = false;
    for (int i = 0; i < s->nmembers; i++) {
        if (!grp_snapshot_member_valid(s, i))
            return false;
        leader_found = leader_found || grp_str_eq(s->members[i].member_id, s->leader);
    }
    return leader_found;
}

static grp_member *grp_member_restore(const grp_snapshot *s, const grp_snapshot_member *sm, int64_t now_ms)
{
    grp_member *m = grp_xalloc(sizeof(*m));
    m->member_id = grp_sdup(sm->member_id);
    m->instance_id = grp_sdup(sm->group_instance_id);
    m->client_id = grp_sdup_nn(sm->client_id);
    m->client_host = grp_sdup_nn(sm->client_host);
    m->session_timeout_ms = sm->session_timeout_ms;
    m->rebalance_timeout_ms = sm->rebalance_timeout_ms;
    m->protos = grp_xalloc(sizeof(*m->protos));
    m->nprotos = 1; /* the record keeps only the selected protocol's metadata */
    m->protos[0].name = grp_sdup(s->protocol_name);
    m->protos[0].meta = grp_xmemdup(sm->subscription.ptr, sm->subscription.len);
    m->protos[0].meta_len = sm->subscription.len;
    m->assign = grp_xmemdup(sm->assignment.ptr, sm->assignment.len);
    m->assign_len = sm->assignment.len;
    grp_session_refresh(m, now_ms); /* members that are gone time out */
    return m;
}

/* Returns 0, or -1 (group untouched) if the snapshot is invalid or the group
 * has requests in flight (restore is for loading, not for live groups). */
int grp_restore(grp *g, const grp_snapshot *s, int64_t now_ms)
{
    assert(g && s);
    if (!grp_snapshot_valid(s))
        return -1;
    for (int i = 0; i < g->nmembers; i++) {
        if (g->members[i]->join_parked || g->members[i]->sync_parked)
            return -1;
    }
    grp_call_begin(g);
    for (int i = 0; i < g->nmembers; i++)
        grp_member_defer(g, g->members[i]);
    for (int i = 0; i < g->npending; i++)
        grp_defer_str(g, g->pending[i].member_id);
    g->nmembers = g->npending = 0;
    g->leader = NULL;
    grp_defer_str(g, g->protocol_type);
    grp_defer_str(g, g->protocol_name);
    g->protocol_type = s->protocol_type.len > 0 ? grp_sdup(s->protocol_type) : GRP_STR_NULL;
    g->protocol_name = s->nmembers > 0 ? grp_sdup(s->protocol_name) : GRP_STR_NULL;
    g->generation = s->generation;
    g->members = grp_grow(g->members, &g->members_cap, s->nmembers, sizeof(*g->members));
    for (int i = 0; i < s->nmembers; i++) {
        g->members[g->nmembers++] = grp_member_restore(s, &s->members[i], now_ms);
        if (grp_str_eq(s->members[i].member_id, s->leader))
            g->leader = g->members[i];
    }
    g->state = s->nmembers > 0 ? GRP_STABLE : GRP_EMPTY;
    g->state_ts_ms = s->current_state_timestamp_ms >= 0 ? s->current_state_timestamp_ms : now_ms;
    g->join_deadline_ms = INT64_MAX;
    g->delay_phase = false;
    grp_check(g);
    return 0;
}

/* ---- shutdown ---- */

void grp_abort_pending(grp *g, int16_t error, grp_actions *out)
{
    grp_call_begin(g);
    for (int i = 0; i < g->nmembers; i++) {
        grp_member *m = g->members[i];
        if (m->join_parked)
            grp_emit_join_error(out, m->join_token, error, m->member_id);
        if (m->sync_parked)
            grp_emit_sync(g, out, m->sync_token, error, NULL);
        m->join_parked = m->sync_parked = false;
    }
}
