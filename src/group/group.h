/*
 * group.h - one classic consumer group as a pure state machine.
 *
 * States (Kafka's): EMPTY, PREPARING_REBALANCE, COMPLETING_REBALANCE, STABLE,
 * DEAD. The machine takes requests (join, sync, heartbeat, leave, commit
 * checks) and the passage of time, and emits actions: responses to pending
 * requests, and "persist" requests for the group's metadata record. It does
 * no I/O, takes no locks and reads no clock: the caller passes now_ms and
 * executes the actions (coordinator.c). That makes it testable with a fake
 * clock and drivable by a simulator.
 *
 * Pending requests are named by opaque tokens (void *) the caller supplies;
 * every token passed in is answered exactly once through an action, possibly
 * much later (a JoinGroup waits for the rebalance).
 *
 * Memory: a grp owns copies of everything it keeps (member ids, metadata and
 * assignment bytes). Every string is a grp_str: Kafka strings may hold any
 * byte, NUL included, and each one round-trips exactly. Action payloads borrow from the group and are valid
 * until the next call into this group; the caller copies what it keeps.
 */
#ifndef GREGOR_GROUP_GROUP_H
#define GREGOR_GROUP_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum grp_state {
    GRP_EMPTY = 0,
    GRP_PREPARING_REBALANCE,
    GRP_COMPLETING_REBALANCE,
    GRP_STABLE,
    GRP_DEAD,
};
const char *grp_state_name(int state); /* "Empty", "PreparingRebalance", ... as Kafka prints */

/* Kafka error codes the machine produces (values are Kafka's). */
enum grp_error {
    GRP_OK = 0,
    GRP_ERR_UNKNOWN_MEMBER_ID = 25,
    GRP_ERR_ILLEGAL_GENERATION = 22,
    GRP_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    GRP_ERR_INVALID_SESSION_TIMEOUT = 26,
    GRP_ERR_REBALANCE_IN_PROGRESS = 27,
    GRP_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    GRP_ERR_MEMBER_ID_REQUIRED = 79,
    GRP_ERR_GROUP_MAX_SIZE_REACHED = 81,
    GRP_ERR_FENCED_INSTANCE_ID = 82,
    GRP_ERR_UNKNOWN_SERVER_ERROR = -1,
};

typedef struct grp_limits {
    int32_t session_timeout_ms_min;     /* group.min.session.timeout.ms, 6000 */
    int32_t session_timeout_ms_max;     /* group.max.session.timeout.ms, 1800000 */
    int32_t group_size_max;             /* group.max.size, INT32_MAX */
    int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms, 3000 */
} grp_limits;

typedef struct grp_bytes {
    const uint8_t *ptr;
    int32_t len;
} grp_bytes;

/*
 * A Kafka string, byte for byte: len bytes at ptr, any of them NUL; len -1
 * is null (the codec's kp_str has the same layout). Strings the machine
 * hands out (views, actions, snapshots) are also NUL-terminated at ptr[len]
 * so that logs can print them (up to a first embedded NUL).
 */
typedef struct grp_str {
    const char *ptr;
    int32_t len;
} grp_str;
#define GRP_STR_NULL ((grp_str){ NULL, -1 })
static inline grp_str grp_str_c(const char *s)
{
    grp_str r = { s, s ? (int32_t)__builtin_strlen(s) : -1 };
    return r;
}
static inline bool grp_str_null(grp_str s) { return s.len < 0; }
/* Byte-wise equality; null equals only null. */
bool grp_str_eq(grp_str a, grp_str b);
/* Equality with a C string (null never equals). */
bool grp_str_is(grp_str a, const char *s);

typedef struct grp_protocol {
    grp_str name;
    grp_bytes metadata;
} grp_protocol;

/* A member as reported in JoinGroup (leader's member list) and DescribeGroups. */
typedef struct grp_member_view {
    grp_str member_id;
    grp_str group_instance_id;      /* null when dynamic */
    grp_str client_id;
    grp_str client_host;
    grp_bytes metadata;             /* for the selected protocol */
    grp_bytes assignment;           /* last assignment (empty before sync) */
} grp_member_view;

typedef struct grp_join_req {
    void *token;
    int16_t version;                 /* JoinGroup version: v4+ gets MEMBER_ID_REQUIRED */
    grp_str member_id;               /* "" (or null) for a new member */
    grp_str group_instance_id;       /* null when dynamic */
    grp_str client_id;
    grp_str client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;    /* v0: equal to session_timeout_ms */
    grp_str protocol_type;
    const grp_protocol *protocols;
    int nprotocols;
    const char *reason;              /* may be NULL */
} grp_join_req;

typedef struct grp_sync_req {
    void *token;
    grp_str member_id;
    grp_str group_instance_id;
    int32_t generation_id;
    grp_str protocol_type;           /* v5+: may be null */
    grp_str protocol_name;           /* v5+: may be null */
    const grp_str *assign_member_ids; /* the leader's assignments, else n = 0 */
    const grp_bytes *assign_bytes;
    int nassign;
} grp_sync_req;

enum grp_action_kind {
    GRP_ACT_JOIN_RESPONSE = 1,
    GRP_ACT_SYNC_RESPONSE,
    GRP_ACT_PERSIST,          /* write the group's metadata record (see grp_snapshot) */
    GRP_ACT_MEMBER_REMOVED,   /* informational: who left and why (for the log) */
};

typedef struct grp_action {
    int kind;
    void *token;               /* JOIN/SYNC responses */
    int16_t error;
    /* JOIN_RESPONSE */
    int32_t generation_id;
    grp_str protocol_type;
    grp_str protocol_name;     /* null on error */
    grp_str leader_id;
    grp_str member_id;
    bool skip_assignment;      /* v9+: static leader rejoining, keep assignment */
    const grp_member_view *members; /* only for the leader, else n = 0 */
    int nmembers;
    /* SYNC_RESPONSE */
    grp_bytes assignment;
    /* MEMBER_REMOVED */
    const char *reason;
} grp_action;

/* Actions accumulate here; the caller resets n between calls. */
typedef struct grp_actions {
    grp_action *v;
    int n, cap;
} grp_actions;
void grp_actions_reset(grp_actions *a);
void grp_actions_free(grp_actions *a);

typedef struct grp grp;

grp *grp_new(grp_str group_id, const grp_limits *lim);
void grp_free(grp *g);
grp_str grp_id(const grp *g);
int grp_state(const grp *g);
int32_t grp_generation(const grp *g);
grp_str grp_protocol_type(const grp *g);  /* null when none */
grp_str grp_protocol_name(const grp *g);  /* null when none */
grp_str grp_leader(const grp *g);         /* null when none */
int grp_member_count(const grp *g);
/* Members in join order (for DescribeGroups); n set to the count. Borrowed. */
const grp_member_view *grp_members(grp *g, int *n);
bool grp_has_member(const grp *g, grp_str member_id);

/*
 * Requests. Each answers its token through *out, now or later. A heartbeat
 * and a leave are answered at once with the returned error code (no token).
 */
void grp_join(grp *g, const grp_join_req *req, int64_t now_ms, grp_actions *out);
void grp_sync(grp *g, const grp_sync_req *req, int64_t now_ms, grp_actions *out);
int16_t grp_heartbeat(grp *g, grp_str member_id, grp_str group_instance_id,
                      int32_t generation_id, int64_t now_ms, grp_actions *out);
/* LeaveGroup for one member (by member id, or by instance id when member_id is ""). */
int16_t grp_leave(grp *g, grp_str member_id, grp_str group_instance_id,
                  int64_t now_ms, grp_actions *out);
/*
 * May a commit for this generation go ahead? Generation -1 with an empty
 * member id is a simple consumer's commit, allowed only when the group has
 * no members (Empty or Dead). Returns 0 or the error code.
 */
int16_t grp_validate_commit(grp *g, grp_str member_id, grp_str group_instance_id,
                            int32_t generation_id, int64_t now_ms);

/* Time: the earliest deadline in the group (INT64_MAX if none), and the
 * step that expires sessions, ends join phases and fires the initial delay. */
int64_t grp_next_deadline_ms(const grp *g);
void grp_tick(grp *g, int64_t now_ms, grp_actions *out);

/* Shutdown (or losing the coordinator role): answer every parked JoinGroup
 * and SyncGroup with error (NOT_COORDINATOR), leaving the members in place. */
void grp_abort_pending(grp *g, int16_t error, grp_actions *out);

/* DeleteGroups: only an Empty group may go; it becomes Dead. Returns 0 or
 * NON_EMPTY_GROUP (68). */
int16_t grp_delete(grp *g);

/*
 * Persistence. grp_snapshot describes what to write as the GroupMetadata
 * value (protocol type, generation, protocol, leader, members with their
 * metadata and assignment); grp_restore rebuilds a group from such a value
 * at load time: a Stable/Empty group with those members, each given a fresh
 * session deadline (now + session timeout) so dead members time out.
 */
typedef struct grp_snapshot_member {
    grp_str member_id;
    grp_str group_instance_id;
    grp_str client_id;
    grp_str client_host;
    int32_t rebalance_timeout_ms;
    int32_t session_timeout_ms;
    grp_bytes subscription;   /* metadata of the selected protocol */
    grp_bytes assignment;
} grp_snapshot_member;

typedef struct grp_snapshot {
    grp_str protocol_type;       /* "" when none */
    int32_t generation;
    grp_str protocol_name;       /* null when none */
    grp_str leader;              /* null when none */
    int64_t current_state_timestamp_ms;
    const grp_snapshot_member *members;
    int nmembers;
} grp_snapshot;

/* Borrowed view, valid until the next call into g. */
void grp_snapshot_get(grp *g, grp_snapshot *out);
int grp_restore(grp *g, const grp_snapshot *s, int64_t now_ms);

#endif
