/*
 * raftwire.h - the Raft core's messages (raft/raft.h) on Kafka's wire.
 *
 * KRaft speaks Kafka RPCs for one partition, __cluster_metadata-0 (topic id
 * RAFTWIRE_TOPIC_ID, Kafka's Uuid.METADATA_TOPIC_ID): Vote, BeginQuorumEpoch,
 * EndQuorumEpoch, Fetch and FetchSnapshot requests and responses map one to
 * one onto raft_msg. Requests carry the cluster id and the sender's node id
 * (Vote's CandidateId, BeginQuorumEpoch's LeaderId, EndQuorumEpoch's
 * LeaderId, Fetch's ReplicaState.ReplicaId, FetchSnapshot's ReplicaId).
 * Fetch records are the log's record batches; a raft_entry's payload is one
 * whole batch whose base offset and partition leader epoch are written from
 * the entry when encoded (the CRC does not cover them), and read back into
 * the entry when decoded.
 *
 * Pure: encoders append to a kp_writer, decoders read from a kp_reader whose
 * arena holds what the decoded message points to (entries, payloads).
 */
#ifndef GREGOR_METADATA_RAFTWIRE_H
#define GREGOR_METADATA_RAFTWIRE_H

#include <stdint.h>

#include "proto/codec.h"
#include "raft/raft.h"

#define RAFTWIRE_TOPIC "__cluster_metadata"
extern const kp_uuid RAFTWIRE_TOPIC_ID; /* 00000000-0000-0000-0000-000000000001 */

/* The API key of a message type (a request and its response share one). */
int16_t raftwire_api_key(int msg_type);
/* The newest version of api_key the codecs here write. */
int16_t raftwire_max_version(int16_t api_key);

/*
 * A request from node `from` (a voter, or an observer for Fetch). version:
 * what the peer takes (client_version). 0, or -1 when the type is not a
 * request or the version cannot carry it.
 */
int raftwire_encode_request(const raft_msg *m, int32_t from, const char *cluster_id, int16_t version,
                            kp_writer *w);
/*
 * Decode a request body of api_key/version: *out and *from (the sender) set;
 * cluster_id_out (may be NULL) gets the request's cluster id or "" when
 * null. 0, -1 when it does not decode or is not for __cluster_metadata-0
 * (err says why; the caller answers with an error, not with a raft step).
 */
int raftwire_decode_request(int16_t api_key, int16_t version, kp_reader *r, raft_msg *out, int32_t *from,
                            char *cluster_id_out, size_t cluster_id_len, char *err, size_t errlen);

/* A response (the core's SEND of a *_RESP message). For FETCH_SNAPSHOT_RESP
 * the chunk bytes are taken from m->u.snap_resp.chunk (the glue fills it). */
int raftwire_encode_response(const raft_msg *m, int16_t api_key, int16_t version, kp_writer *w);
/*
 * Decode a response body into *out. For FETCH_RESP the caller then sets
 * req_fetch_offset / req_last_fetched_epoch from its request. A response
 * with a top-level error (e.g. INCONSISTENT_CLUSTER_ID, or no partition
 * data) becomes the message with that error. 0, or -1 when it does not
 * decode.
 */
int raftwire_decode_response(int16_t api_key, int16_t version, kp_reader *r, raft_msg *out, char *err,
                             size_t errlen);

/*
 * An error answer to a request that could not be stepped (bad cluster id,
 * not a controller, ...): the api's response with `error` at the top level
 * and in its one partition.
 */
void raftwire_encode_error(int16_t api_key, int16_t version, int16_t error, kp_writer *w);

#endif
