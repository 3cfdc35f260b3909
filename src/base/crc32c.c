/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Two paths compute the same function:
 *   - crc32c_sw: slice-by-8 over eight 256-entry tables, portable C with
 *     explicit byte loads (no endianness or alignment assumption);
 *   - crc32c_hw (x86_64 only): the SSE4.2 crc32 instruction, 8 bytes a step
 *     on three interleaved lanes for long buffers, compiled with a target
 *     attribute so the rest of the build needs no -msse4.2, and chosen only
 *     when the CPU reports SSE4.2.
 *
 * Init: the tables and the CPU check are done once under pthread_once, so
 * crc32c() may be called from any thread without calling crc32c_init first.
 * After init the tables are read-only; nothing here takes a lock.
 *
 * The running value convention is zlib's: start with 0, and the value
 * returned for a prefix may be passed back in to continue with the rest
 * (pre- and post-inversion happen inside each call).
 */
#include "base/crc32c.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_X86 1
#include <nmmintrin.h>
#else
#define CRC32C_HAVE_X86 0
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static bool crc32c_use_hw;
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
#if CRC32C_HAVE_X86
#define LANE_LONG 8192          /* see crc32c_hw */
#define LANE_SHORT 256
static uint32_t lane_long[4][256];
static uint32_t lane_short[4][256];
static void lane_tables_build(uint32_t tab[4][256], size_t zeros);
#endif

static void crc32c_tables_build(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[0][n] = c;
    }
    /* table[k][n]: the CRC of byte n followed by k zero bytes. */
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc32c_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[k][n] = c;
        }
    }
    /* Spot check against the published table: entry 1 and entry 128. */
    assert(crc32c_table[0][1] == 0xF26B8303u);
    assert(crc32c_table[0][128] == CRC32C_POLY);
}

static void crc32c_init_once(void)
{
    crc32c_tables_build();
#if CRC32C_HAVE_X86
    __builtin_cpu_init();
    crc32c_use_hw = __builtin_cpu_supports("sse4.2") != 0;
    lane_tables_build(lane_long, LANE_LONG);
    lane_tables_build(lane_short, LANE_SHORT);
#else
    crc32c_use_hw = false;
#endif
}

void crc32c_init(void)
{
    int rc = pthread_once(&crc32c_once, crc32c_init_once);
    assert(rc == 0);
    (void)rc;
}

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    crc32c_init();
    const uint8_t *p = buf;
    const uint32_t (*t)[256] = (const uint32_t (*)[256])crc32c_table;
    uint32_t c = ~crc;

    while (len >= 8) {
        uint32_t lo = c ^ load_le32(p);
        uint32_t hi = load_le32(p + 4);
        c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
            t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
            t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#if CRC32C_HAVE_X86
/*
 * The crc32 instruction has a latency of three cycles and a throughput of
 * one per cycle, so one dependency chain uses a third of it. Long buffers
 * are cut into three lanes of LANE_LONG (then LANE_SHORT) bytes whose CRCs
 * run interleaved and are then combined: crc(A||B) = shift(crc(A), |B|) ^
 * crc(B) for the raw register, where shift appends |B| zero bytes. shift is
 * linear over GF(2), so it is four table lookups: lane_long[k][n] is the
 * register after feeding LANE_LONG zero bytes to the register n << 8k.
 */

/* The raw register after n zero bytes, starting from reg (bytewise table). */
static uint32_t raw_zeros(uint32_t reg, size_t n)
{
    while (n--)
        reg = crc32c_table[0][reg & 0xff] ^ (reg >> 8);
    return reg;
}

static void lane_tables_build(uint32_t tab[4][256], size_t zeros)
{
    uint32_t basis[32];
    for (int b = 0; b < 32; b++)
        basis[b] = raw_zeros(1u << b, zeros);
    for (int k = 0; k < 4; k++)
        for (uint32_t n = 0; n < 256; n++) {
            uint32_t v = 0;
            for (int b = 0; b < 8; b++)
                if (n & (1u << b))
                    v ^= basis[8 * k + b];
            tab[k][n] = v;
        }
}

static inline uint32_t lane_shift(uint32_t tab[4][256], uint32_t reg)
{
    return tab[0][reg & 0xff] ^ tab[1][(reg >> 8) & 0xff] ^ tab[2][(reg >> 16) & 0xff] ^
           tab[3][reg >> 24];
}

__attribute__((target("sse4.2")))
static inline uint64_t hw_lanes(uint64_t c0, const uint8_t **pp, size_t *lenp, size_t lane,
                                uint32_t tab[4][256])
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * lane) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < lane; i += 8) {
            uint64_t w0, w1, w2;
            __builtin_memcpy(&w0, p + i, 8);
            __builtin_memcpy(&w1, p + lane + i, 8);
            __builtin_memcpy(&w2, p + 2 * lane + i, 8);
            c0 = _mm_crc32_u64(c0, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        c0 = lane_shift(tab, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = lane_shift(tab, (uint32_t)c0) ^ (uint32_t)c2;
        p += 3 * lane;
        len -= 3 * lane;
    }
    *pp = p;
    *lenp = len;
    return c0;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = (uint32_t)~crc;

    /* Align to 8 so the 8-byte steps are aligned loads. */
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    c = hw_lanes(c, &p, &len, LANE_LONG, lane_long);
    c = hw_lanes(c, &p, &len, LANE_SHORT, lane_short);
    while (len >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    return ~(uint32_t)c;
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    crc32c_init();
#if CRC32C_HAVE_X86
    if (crc32c_use_hw)
        return crc32c_hw(crc, buf, len);
#endif
    return crc32c_sw(crc, buf, len);
}
