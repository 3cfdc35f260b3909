/*
 * javaorder.c - Java's hash codes and HashMap iteration order (javaorder.h).
 *
 * Why the tools emulate Java's iteration order: Kafka's tools print lists in
 * the order of the Java HashMaps and HashSets they build, and our tools match
 * their output byte for byte, so they must put things in that order too.
 * One copy, shared by log-dirs, delete-records and dump-log.
 */
#include <stdlib.h>
#include <string.h>

#include "tools/javaorder.h"

int32_t jo_string_hash(const char *s, size_t n)
{
    uint32_t h = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp = 0xFFFD;
        size_t len = 1;
        unsigned char c = p[i];
        if (c < 0x80) {
            cp = c;
        } else {
            size_t want = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            if (want && i + want <= n) {
                uint32_t v = c & (want == 2 ? 0x1F : want == 3 ? 0x0F : 0x07);
                size_t k;
                for (k = 1; k < want && (p[i + k] & 0xC0) == 0x80; k++)
                    v = (v << 6) | (p[i + k] & 0x3F);
                if (k == want && !(want == 2 && v < 0x80) && !(want == 3 && v < 0x800) &&
                    !(want == 4 && v < 0x10000) && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
                    cp = v;
                    len = want;
                }
            }
        }
        if (cp >= 0x10000) {
            /* a surrogate pair: two UTF-16 code units */
            h = 31 * h + (0xD800 + ((cp - 0x10000) >> 10));
            h = 31 * h + (0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
        i += len;
    }
    return (int32_t)h;
}

int32_t jo_tp_hash(const char *topic, size_t n, int32_t partition)
{
    /* TopicPartition.hashCode: 31 * (31 + partition) + topic.hashCode() */
    uint32_t r = 31u + (uint32_t)partition;
    return (int32_t)(31u * r + (uint32_t)jo_string_hash(topic, n));
}

size_t jo_table_size_for(size_t c)
{
    size_t n = 1;
    while (n < c)
        n <<= 1;
    return n;
}

size_t jo_copy_table_size(size_t n)
{
    /* HashSet(Collection c): new HashMap<>(Math.max((int) (c.size() / .75f) + 1, 16)) */
    size_t want = (size_t)((float)n / .75f) + 1;
    return jo_table_size_for(want > 16 ? want : 16);
}

/* HashMap.hash: the high half of the hash code folded into the low one. */
static uint32_t jo_spread(int32_t hash)
{
    uint32_t h = (uint32_t)hash;
    return h ^ (h >> 16);
}

typedef struct jo_key {
    uint32_t bucket;
    size_t pos;
} jo_key;

/* by bucket, then in insertion order */
static int jo_key_cmp(const void *x, const void *y)
{
    const jo_key *a = x, *b = y;
    if (a->bucket != b->bucket)
        return a->bucket < b->bucket ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

int jo_put_order(const int32_t *hash, size_t n, size_t cap0, size_t *out)
{
    size_t cap = cap0 ? cap0 : 1;
    while (n > cap * 3 / 4)
        cap <<= 1;
    jo_key *k = malloc(sizeof *k * (n ? n : 1));
    if (!k)
        return -1;
    for (size_t i = 0; i < n; i++) {
        k[i].bucket = jo_spread(hash[i]) & (uint32_t)(cap - 1);
        k[i].pos = i;
    }
    qsort(k, n, sizeof *k, jo_key_cmp);
    for (size_t i = 0; i < n; i++)
        out[i] = k[i].pos;
    free(k);
    return 0;
}

int jo_put_reorder(void *v, size_t size, size_t n, const int32_t *hash, size_t cap0)
{
    size_t *ord = malloc(sizeof *ord * (n ? n : 1));
    unsigned char *tmp = malloc(size * (n ? n : 1));
    if (!ord || !tmp || jo_put_order(hash, n, cap0, ord) < 0) {
        free(ord);
        free(tmp);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(tmp + i * size, (unsigned char *)v + ord[i] * size, size);
    memcpy(v, tmp, size * n);
    free(ord);
    free(tmp);
    return 0;
}

/* by bucket, the newest first within a bucket */
static int jo_key_cmp_newest(const void *x, const void *y)
{
    const jo_key *a = x, *b = y;
    if (a->bucket != b->bucket)
        return a->bucket < b->bucket ? -1 : 1;
    return (a->pos < b->pos) - (a->pos > b->pos);
}

int jo_compute_if_absent_order(const int32_t *hash, const int *calls, size_t n, size_t *out)
{
    jo_key *k = malloc(sizeof *k * (n ? n : 1));
    uint32_t *h = malloc(sizeof *h * (n ? n : 1));
    if (!k || !h) {
        free(k);
        free(h);
        return -1;
    }
    size_t cap = 16, threshold = 12;
    for (size_t i = 0; i < n; i++) {
        h[i] = jo_spread(hash[i]);
        if (i > threshold) { /* the size before this call is i */
            cap *= 2;
            threshold *= 2;
        }
        size_t bin = 0;
        for (size_t j = 0; j < i; j++)
            bin += (h[j] & (cap - 1)) == (h[i] & (cap - 1));
        if (bin >= 7 && cap < 64) { /* treeifyBin on a small table resizes instead */
            cap *= 2;
            threshold *= 2;
        }
        /* the key's next call starts with size i + 1; one check is enough:
         * after a doubling i + 1 cannot pass the new threshold */
        if (calls[i] > 1 && i + 1 > threshold) {
            cap *= 2;
            threshold *= 2;
        }
    }
    for (size_t i = 0; i < n; i++) {
        k[i].bucket = h[i] & (uint32_t)(cap - 1);
        k[i].pos = i;
    }
    if (n > 1)
        qsort(k, n, sizeof *k, jo_key_cmp_newest);
    for (size_t i = 0; i < n; i++)
        out[i] = k[i].pos;
    free(k);
    free(h);
    return 0;
}
