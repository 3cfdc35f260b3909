/*
 * fuzz_snapfile.c - libFuzzer target for metadata snapshots: the bytes a
 * follower downloads from the leader with FetchSnapshot and then loads.
 *
 * The first input byte picks a mode; the rest is the snapshot file.
 *   even: the bytes as they are (framing, CRC and layout checks);
 *   odd:  every batch's CRC is rewritten to match, so the fuzzer gets past
 *         the CRCs into the header/footer rules and the records.
 * The file is read with snapfile_read, and every data record it yields is
 * applied to a metadata image (mimage_apply: Kafka's record frames from an
 * untrusted peer), which must stay consistent: writing it back as records
 * and applying those to a fresh image gives an equal image.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "controller/image.h"
#include "metadata/snapfile.h"
#include "proto/batch.h"

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Rewrite each whole batch's CRC (offset 17, over bytes 21..end). */
static void crc_fix_all(uint8_t *p, size_t len)
{
    size_t pos = 0;
    while (pos + 21 <= len) {
        uint32_t blen = rd32(p + pos + 8);
        if (blen < 9 || blen > len - pos - 12)
            return;
        size_t end = pos + 12 + blen;
        uint32_t c = crc32c(0, p + pos + 21, end - pos - 21);
        p[pos + 17] = (uint8_t)(c >> 24);
        p[pos + 18] = (uint8_t)(c >> 16);
        p[pos + 19] = (uint8_t)(c >> 8);
        p[pos + 20] = (uint8_t)c;
        pos = end;
    }
}

static int apply(void *ctx, const uint8_t *val, int32_t len)
{
    char err[256];
    mimage_apply(ctx, val, len, NULL, err, sizeof err); /* a bad frame is refused, never fatal */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);
    if (data[0] & 1)
        crc_fix_all(buf, len);
    int fd = memfd_create("snap", MFD_CLOEXEC);
    if (fd < 0 || (len && write(fd, buf, len) != (ssize_t)len)) {
        if (fd >= 0)
            close(fd);
        free(buf);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    mimage im;
    mimage_init(&im);
    if (snapfile_read(path, apply, &im, err, sizeof err) == 0) {
        mrec_list recs;
        mrec_list_init(&recs);
        mimage_write(&im, &recs);
        mimage again;
        mimage_init(&again);
        for (int i = 0; i < recs.n; i++) {
            int32_t l;
            const uint8_t *v = mrec_get(&recs, i, &l);
            if (mimage_apply(&again, v, l, NULL, err, sizeof err) != 0)
            {   fprintf(stderr, "re-apply: %s\n", err); abort(); } /* the image wrote a record it cannot read back */
        }
        if (!recs.oom && !mimage_equal(&im, &again))
            abort();
        mimage_deinit(&again);
        mrec_list_deinit(&recs);
    }
    mimage_deinit(&im);
    close(fd);
    free(buf);
    return 0;
}
