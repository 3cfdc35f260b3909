/*
 * test_crc32c.c - CRC-32C: published check values, hardware path against the
 * slice-by-8 path at every alignment and many lengths, and incremental use.
 */
#include "base/crc32c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define BIG_BYTES (1u << 20)

static void test_vectors(void)
{
    CHECK_EQ_I64(crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_I64(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_I64(crc32c(0, "", 0), 0);
    CHECK_EQ_I64(crc32c_sw(0, NULL, 0), 0);
    CHECK_EQ_I64(crc32c(0, "a", 1), 0xC1D04330u);

    /* RFC 3720 (iSCSI) B.4 vectors. */
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    CHECK_EQ_I64(crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    CHECK_EQ_I64(crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    CHECK_EQ_I64(crc32c(0, buf, 32), 0x46DD794Eu);
    CHECK_EQ_I64(crc32c_sw(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    CHECK_EQ_I64(crc32c(0, buf, 32), 0x113FDB5Cu);
}

/* Deterministic filler (xorshift64) so failures reproduce. */
static void fill_random(uint8_t *p, size_t n)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void test_hw_equals_sw(const uint8_t *big)
{
    int mismatches = 0;
    for (size_t align = 0; align < 16; align++)
        for (size_t n = 0; n <= 300; n++)
            if (crc32c(0, big + align, n) != crc32c_sw(0, big + align, n))
                mismatches++;
    CHECK_EQ_I64(mismatches, 0);
    /* Around the three-lane block sizes of the hardware path (3 x 256 and
     * 3 x 8192 bytes) and their multiples, at every alignment mod 8. */
    static const size_t edges[] = { 768, 1536, 2304, 24576, 49152, 24576 + 768, 73728 };
    mismatches = 0;
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        for (size_t align = 0; align < 8; align++)
            for (size_t n = edges[e] - 9; n <= edges[e] + 9 && n + align <= BIG_BYTES; n++)
                if (crc32c(0x12345678u, big + align, n) != crc32c_sw(0x12345678u, big + align, n))
                    mismatches++;
    CHECK_EQ_I64(mismatches, 0);
    CHECK_EQ_I64(crc32c(0, big, BIG_BYTES), crc32c_sw(0, big, BIG_BYTES));
    CHECK_EQ_I64(crc32c(0, big + 3, BIG_BYTES - 3), crc32c_sw(0, big + 3, BIG_BYTES - 3));
}

static void test_incremental(const uint8_t *big)
{
    uint32_t whole = crc32c(0, big, BIG_BYTES);
    static const size_t cuts[] = { 0, 1, 7, 8, 9, 61, 4096, 65537, BIG_BYTES - 1, BIG_BYTES };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t k = cuts[i];
        uint32_t c = crc32c(0, big, k);
        CHECK_EQ_I64(crc32c(c, big + k, BIG_BYTES - k), whole);
        uint32_t s = crc32c_sw(0, big, k);
        CHECK_EQ_I64(crc32c_sw(s, big + k, BIG_BYTES - k), whole);
    }
    /* Many small uneven pieces. */
    uint32_t c = 0;
    size_t pos = 0, step = 1;
    while (pos < BIG_BYTES) {
        size_t n = step < BIG_BYTES - pos ? step : BIG_BYTES - pos;
        c = crc32c(c, big + pos, n);
        pos += n;
        step = step * 3 % 1031 + 1;
    }
    CHECK_EQ_I64(c, whole);
}

int main(void)
{
    crc32c_init();
    crc32c_init(); /* idempotent */
    test_vectors();

    uint8_t *big = malloc(BIG_BYTES + 16);
    CHECK(big != NULL);
    if (!big)
        TEST_REPORT();
    fill_random(big, BIG_BYTES + 16);
    test_hw_equals_sw(big);
    test_incremental(big);
    free(big);
    TEST_REPORT();
}
