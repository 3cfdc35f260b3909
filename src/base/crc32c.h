/*
 * crc32c.h - CRC-32C (Castagnoli), as record batch v2 uses.
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * start-up), a slice-by-8 table otherwise. Thread-safe after crc32c_init.
 */
#ifndef GREGOR_BASE_CRC32C_H
#define GREGOR_BASE_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* Idempotent; called lazily by crc32c() too. */
void crc32c_init(void);
/* crc is the running value: start with 0. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable path, exposed so tests can compare both. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
#endif
