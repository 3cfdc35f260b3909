/*
 * batch.h - record batch v2 (magic 2): in-place validation and field access.
 *
 * Layout (big-endian), offsets from the batch start:
 *   0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32
 *  16 magic int8 | 17 crc uint32 (CRC32C of bytes 21..end) | 21 attributes int16
 *  23 lastOffsetDelta int32 | 27 baseTimestamp int64 | 35 maxTimestamp int64
 *  43 producerId int64 | 51 producerEpoch int16 | 53 baseSequence int32
 *  57 records count int32 | 61 records...
 * batchLength counts the bytes after the batchLength field (total = 12 + batchLength).
 *
 * Batches stay bytes: the broker validates them where they lie in the request
 * buffer, patches baseOffset and partitionLeaderEpoch (neither is covered by
 * the CRC) and writes the same bytes to disk.
 */
#ifndef GREGOR_PROTO_BATCH_H
#define GREGOR_PROTO_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BATCH_HEADER_BYTES 61
#define BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */

enum batch_err {
    BATCH_OK = 0,
    BATCH_ERR_SHORT,       /* fewer bytes than the header or batchLength says */
    BATCH_ERR_MAGIC,       /* magic is not 2 */
    BATCH_ERR_CRC,         /* CRC32C mismatch */
    BATCH_ERR_LENGTH,      /* batchLength smaller than a header */
    BATCH_ERR_COUNT,       /* record count disagrees with lastOffsetDelta */
    BATCH_ERR_RECORDS,     /* a record does not parse, or the records do not fill the batch */
    BATCH_ERR_EMPTY,       /* no batch at all */
    BATCH_ERR_CODEC,       /* compression codec 5..7, which Kafka does not define */
    BATCH_ERR_DECOMPRESS,  /* the compressed records do not decompress */
    BATCH_ERR_NOMEM,       /* no memory to check the compressed records */
};

const char *batch_err_str(int err);

/* Summary of one batch, filled by batch_validate. */
typedef struct batch_info {
    int32_t total_bytes;        /* 12 + batchLength */
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
    int64_t min_ts_delta;       /* batch_validate only: the records' smallest */
    int64_t max_ts_delta;       /*   and largest timestamp delta */
    const char *detail;         /* static; BATCH_ERR_DECOMPRESS: what the codec said */
} batch_info;

#define BATCH_ATTR_COMPRESSION_MASK 0x07
#define BATCH_ATTR_TIMESTAMP_TYPE   0x08 /* 1 = LogAppendTime */
#define BATCH_ATTR_TRANSACTIONAL    0x10
#define BATCH_ATTR_CONTROL          0x20
#define BATCH_ATTR_DELETE_HORIZON   0x40 /* KIP-534: baseTimestamp is the delete horizon */

/*
 * Validate one batch at p (at most len bytes available): magic, lengths, CRC,
 * record count == lastOffsetDelta + 1, and that the records (decompressed,
 * for a compressed batch) parse and their count matches. Returns BATCH_OK or
 * an error; on BATCH_ERR_DECOMPRESS out->detail (when out is given) says
 * what the codec found.
 */
int batch_validate(const uint8_t *p, size_t len, batch_info *out);

/*
 * Header-only check used when scanning a log at recovery: lengths and CRC but
 * no record walk. Returns BATCH_OK or an error.
 */
int batch_check_crc(const uint8_t *p, size_t len, batch_info *out);

/* Accessors on a batch already validated. */
/* The header's fields into out (no check; p holds at least BATCH_HEADER_BYTES). */
void batch_peek(const uint8_t *p, batch_info *out);
/* A control batch's record type (Kafka's ControlRecordType: 0 ABORT,
 * 1 COMMIT), or -1 when p (len bytes, the header and at least the first
 * record's key) is not a readable control batch. */
#define BATCH_CONTROL_ABORT 0
#define BATCH_CONTROL_COMMIT 1
int batch_control_type(const uint8_t *p, size_t len);
int64_t batch_base_offset(const uint8_t *p);
int32_t batch_length(const uint8_t *p); /* the batchLength field */
int32_t batch_leader_epoch(const uint8_t *p); /* partitionLeaderEpoch */
void batch_set_base_offset(uint8_t *p, int64_t off);
void batch_set_leader_epoch(uint8_t *p, int32_t epoch);
/* A batch built or rewritten in place (total bytes from p): set its
 * batchLength and recompute its CRC. */
void batch_seal(uint8_t *p, size_t total);
/* Set maxTimestamp and the LogAppendTime bit, recomputing the CRC. */
void batch_set_log_append_time(uint8_t *p, int64_t ts_ms);

#endif

