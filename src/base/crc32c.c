/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Two paths compute the same function:
 *   - crc32c_sw: slice-by-8 over eight 256-entry tables, portable C with
 *     explicit byte loads (no endianness or alignment assumption);
 *   - crc32c_hw (x86_64 only): the SSE4.2 crc32 instruction, 8 bytes a step,
 *     compiled with a target attribute so the rest of the build needs no
 *     -msse4.2, and chosen only when the CPU reports SSE4.2.
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
