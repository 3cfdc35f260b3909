/*
 * test_epochs.c - the leader-epoch cache (src/cluster/epochs.c) against
 * Kafka 4.4's LeaderEpochFileCache rules and leader-epoch-checkpoint file:
 * - the cases of Kafka's LeaderEpochFileCacheTest.java that matter, as
 *   facts: assign (same epoch later start ignored, earlier start replaces,
 *   lower epoch truncates the newer ones, start offsets forced monotonic),
 *   endOffsetFor (undefined, latest -> log end, below the first epoch,
 *   between epochs), truncateFromEnd / truncateFromStart, epochForOffset;
 * - a model-based random test: random assign / truncations / queries
 *   against a plain per-epoch table that follows the Java code's TreeMap
 *   operations literally, with save/load round trips on the way;
 * - the file: byte-exact format, save/load round trip (no .tmp left over),
 *   missing/empty files, CRLF and tabs (Java's readLine and \s+), and
 *   malformed or torn files refused with Kafka's messages, the cache left
 *   as it was;
 * - files written by a real Apache Kafka 4.4.0 broker, and the rebuild
 *   from that broker's batch headers giving the same entries.
 */
#include "cluster/epochs.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* Compares the cache with a list of (epoch, start) pairs. */
static int same(const epochs *e, int n, const int64_t *pairs)
{
    if (epochs_n(e) != n)
        return 0;
    for (int i = 0; i < n; i++) {
        int32_t ep;
        int64_t st;
        epochs_get(e, i, &ep, &st);
        if (ep != pairs[2 * i] || st != pairs[2 * i + 1])
            return 0;
    }
    return 1;
}
#define SAME(e, ...) \
    same((e), (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t) / 2), (int64_t[]){ __VA_ARGS__ })

/* endOffsetFor as "epoch:offset" checked in one CHECK. */
static int eof_is(const epochs *e, int32_t req, int64_t leo, int32_t want_ep, int64_t want_off)
{
    int32_t ep = 12345;
    int64_t off = epochs_end_offset_for(e, req, leo, &ep);
    if (ep != want_ep || off != want_off)
        fprintf(stderr, "  endOffsetFor(%d, %" PRId64 ") = (%d, %" PRId64 "), want (%d, %" PRId64 ")\n", req, leo,
                ep, off, want_ep, want_off);
    return ep == want_ep && off == want_off;
}

static epochs *fresh(void)
{
    return epochs_new();
}

/* ---------------------------------------------------- Kafka's cases */

static void test_assign(void)
{
    epochs *e = fresh();
    /* shouldAddEpochAndMessageOffsetToCache */
    CHECK_EQ_I64(epochs_assign(e, 2, 10), 1);
    CHECK_EQ_I64(epochs_latest(e), 2);
    CHECK(SAME(e, 2, 10));
    CHECK(eof_is(e, 2, 11, 2, 11));

    /* shouldNotOverwriteLogEndOffsetForALeaderEpochOnceItHasBeenAssigned,
     * shouldNotUpdateEpochAndStartOffsetIfItDidNotChange: a later start
     * for the latest epoch changes nothing. */
    epochs_clear(e);
    epochs_assign(e, 2, 9);
    CHECK_EQ_I64(epochs_assign(e, 2, 10), 0);
    CHECK_EQ_I64(epochs_assign(e, 2, 9), 0);
    CHECK(SAME(e, 2, 9));

    /* shouldTruncateIfMatchingEpochButEarlierStartingOffset: the same
     * epoch starting earlier replaces it, and drops the entries starting
     * at or after the new start. */
    epochs_clear(e);
    epochs_assign(e, 5, 11);
    epochs_assign(e, 6, 12);
    epochs_assign(e, 7, 13);
    CHECK_EQ_I64(epochs_assign(e, 7, 12), 1);
    CHECK(SAME(e, 5, 11, 7, 12));
    CHECK(eof_is(e, 5, 0, 5, 12));
    CHECK(eof_is(e, 6, 0, 5, 12));

    /* shouldEnforceMonotonicallyIncreasingStartOffsets */
    epochs_clear(e);
    epochs_assign(e, 2, 9);
    epochs_assign(e, 3, 9);
    CHECK(SAME(e, 3, 9));

    /* shouldEnforceMonotonicallyIncreasingEpochs: a lower epoch is not
     * ignored: it removes the entries with a greater or equal epoch. */
    epochs_clear(e);
    epochs_assign(e, 1, 5);
    epochs_assign(e, 2, 6);
    CHECK_EQ_I64(epochs_assign(e, 1, 7), 1);
    CHECK_EQ_I64(epochs_latest(e), 1);
    CHECK(SAME(e, 1, 7));
    CHECK(eof_is(e, 1, 8, 1, 8));
    CHECK(eof_is(e, 2, 8, -1, -1));

    /* shouldEnforceOffsetsIncreaseMonotonically */
    epochs_clear(e);
    epochs_assign(e, 2, 6);
    epochs_assign(e, 3, 5);
    CHECK(SAME(e, 3, 5));

    /* A lower epoch with a higher start: everything from it up goes. */
    epochs_clear(e);
    epochs_assign(e, 1, 0);
    epochs_assign(e, 3, 10);
    epochs_assign(e, 5, 20);
    CHECK_EQ_I64(epochs_assign(e, 4, 30), 1);
    CHECK(SAME(e, 1, 0, 3, 10, 4, 30));

    /* Negative arguments: Kafka throws IllegalArgumentException. */
    CHECK_EQ_I64(epochs_assign(e, -1, 40), -1);
    CHECK_EQ_I64(epochs_assign(e, 6, -1), -1);
    CHECK(SAME(e, 1, 0, 3, 10, 4, 30));

    /* shouldIncreaseAndTrackEpochsAsFollowerReceivesManyMessages */
    epochs_clear(e);
    for (int64_t o = 0; o < 9; o++)
        epochs_assign(e, (int32_t)(o / 3), o);
    CHECK(SAME(e, 0, 0, 1, 3, 2, 6));
    CHECK(eof_is(e, 2, 9, 2, 9));
    CHECK(eof_is(e, 0, 9, 0, 3));
    CHECK(eof_is(e, 1, 9, 1, 6));

    /* shouldIncreaseAndTrackEpochsAsLeadersChangeManyTimes: two epochs at
     * the same offset, the older one is replaced. */
    epochs_clear(e);
    epochs_assign(e, 0, 0);
    epochs_assign(e, 1, 0);
    CHECK(SAME(e, 1, 0));
    CHECK(eof_is(e, 1, 0, 1, 0));
    CHECK(eof_is(e, 0, 0, 0, 0));
    CHECK(eof_is(e, 1, 5, 1, 5));
    CHECK(eof_is(e, 0, 5, 0, 0));
    epochs_assign(e, 2, 5);
    CHECK(eof_is(e, 2, 10, 2, 10));
    CHECK(eof_is(e, 1, 10, 1, 5));
    CHECK(eof_is(e, 0, 10, 0, 0));
    epochs_free(e);
}

static void test_end_offset_for(void)
{
    epochs *e = fresh();
    /* shouldReturnUnsupportedIfNoEpochRecorded, ...OfEmptyCache */
    CHECK(eof_is(e, 0, 0, -1, -1));
    CHECK(eof_is(e, 7, 0, -1, -1));
    CHECK(eof_is(e, -1, 73, -1, -1));

    /* shouldReturnLogEndOffsetIfLatestEpochRequested */
    epochs_assign(e, 2, 11);
    epochs_assign(e, 2, 12);
    CHECK(eof_is(e, 2, 14, 2, 14));

    /* shouldReturnUndefinedOffsetIfUndefinedEpochRequested */
    epochs_assign(e, 3, 12);
    CHECK(eof_is(e, -1, 0, -1, -1));

    /* shouldReturnInvalidOffsetIfEpochIsRequestedWhichIsNotCurrentlyTracked:
     * above the latest epoch. */
    epochs_clear(e);
    epochs_assign(e, 2, 100);
    CHECK(eof_is(e, 3, 100, -1, -1));

    /* shouldReturnFirstEpochIfRequestedEpochLessThanFirstEpoch: below the
     * first epoch, the requested epoch with the first start offset (not
     * UNDEFINED, whatever the Java doc comment says). */
    epochs_clear(e);
    epochs_assign(e, 5, 11);
    epochs_assign(e, 6, 12);
    epochs_assign(e, 7, 13);
    CHECK(eof_is(e, 4, 0, 4, 11));
    CHECK(eof_is(e, 0, 0, 0, 11));
    /* Only -1 is "undefined": another negative epoch is below the first. */
    CHECK(eof_is(e, -2, 0, -2, 11));

    /* shouldGetFirstOffsetOfSubsequentEpochWhenOffsetRequestedForPreviousEpoch */
    epochs_clear(e);
    int64_t seq[][2] = { { 1, 11 }, { 1, 12 }, { 2, 13 }, { 2, 14 }, { 3, 15 }, { 3, 16 } };
    for (int i = 0; i < 6; i++)
        epochs_assign(e, (int32_t)seq[i][0], seq[i][1]);
    CHECK(eof_is(e, 2, 17, 2, 15));

    /* shouldReturnNextAvailableEpochIfThereIsNoExactEpochForTheOneRequested:
     * a gap answers the largest epoch below, ending at the next start. */
    epochs_clear(e);
    epochs_assign(e, 0, 10);
    epochs_assign(e, 2, 13);
    epochs_assign(e, 4, 17);
    CHECK(eof_is(e, 1, 0, 0, 13));
    CHECK(eof_is(e, 2, 0, 2, 17));
    CHECK(eof_is(e, 3, 0, 2, 17));
    CHECK(eof_is(e, 4, 99, 4, 99));
    CHECK(eof_is(e, 5, 99, -1, -1));
    /* epoch_out may be NULL */
    CHECK_EQ_I64(epochs_end_offset_for(e, 1, 0, NULL), 13);
    epochs_free(e);
}

static epochs *two_three_four(void)
{
    epochs *e = fresh();
    epochs_assign(e, 2, 6);
    epochs_assign(e, 3, 8);
    epochs_assign(e, 4, 11);
    return e;
}

static void test_truncate(void)
{
    epochs *e;
    /* shouldDropEntriesOnEpochBoundaryWhenRemovingLatestEntries */
    e = two_three_four();
    CHECK_EQ_I64(epochs_truncate_from_end(e, 8), 2);
    CHECK(SAME(e, 2, 6));
    epochs_free(e);
    /* shouldDropEntriesBetweenEpochBoundaryWhenRemovingNewest */
    e = two_three_four();
    CHECK_EQ_I64(epochs_truncate_from_end(e, 9), 1);
    CHECK_EQ_I64(epochs_latest(e), 3);
    CHECK(SAME(e, 2, 6, 3, 8));
    epochs_free(e);
    /* beyond the latest start: nothing */
    e = two_three_four();
    CHECK_EQ_I64(epochs_truncate_from_end(e, 12), 0);
    CHECK(SAME(e, 2, 6, 3, 8, 4, 11));
    /* shouldNotResetEpochHistoryTailIfUndefinedPassed */
    CHECK_EQ_I64(epochs_truncate_from_end(e, -1), 0);
    CHECK_EQ_I64(epochs_n(e), 3);
    /* to the very start: everything */
    CHECK_EQ_I64(epochs_truncate_from_end(e, 0), 3);
    CHECK_EQ_I64(epochs_n(e), 0);
    CHECK_EQ_I64(epochs_latest(e), -1);
    /* shouldClearLatestOnEmptyCache */
    CHECK_EQ_I64(epochs_truncate_from_end(e, 7), 0);
    epochs_free(e);

    /* testPreviousEpoch's sequence: truncating 2,4,10 at 18 keeps 2,4. */
    e = fresh();
    epochs_assign(e, 2, 10);
    epochs_assign(e, 4, 15);
    epochs_assign(e, 10, 20);
    epochs_truncate_from_end(e, 18);
    CHECK(SAME(e, 2, 10, 4, 15));
    epochs_free(e);

    /* shouldPreserveResetOffsetOnClearEarliestIfOneExists */
    e = two_three_four();
    CHECK_EQ_I64(epochs_truncate_from_start(e, 8), 2);
    CHECK(SAME(e, 3, 8, 4, 11));
    epochs_free(e);
    /* shouldNotClearAnythingIfOffsetTooEarly */
    e = two_three_four();
    CHECK_EQ_I64(epochs_truncate_from_start(e, 1), 0);
    CHECK(SAME(e, 2, 6, 3, 8, 4, 11));
    /* shouldNotResetEpochHistoryHeadIfUndefinedPassed */
    CHECK_EQ_I64(epochs_truncate_from_start(e, -1), 0);
    CHECK(SAME(e, 2, 6, 3, 8, 4, 11));
    /* shouldNotClearAnythingIfOffsetIsFirstOffset (rewrites 2@6 as 2@6) */
    epochs_truncate_from_start(e, 6);
    CHECK(SAME(e, 2, 6, 3, 8, 4, 11));
    epochs_free(e);
    /* shouldRetainLatestEpochOnClearAllEarliest */
    e = two_three_four();
    epochs_truncate_from_start(e, 11);
    CHECK(SAME(e, 4, 11));
    epochs_free(e);
    /* shouldUpdateOffsetBetweenEpochBoundariesOnClearEarliest */
    e = two_three_four();
    epochs_truncate_from_start(e, 9);
    CHECK(SAME(e, 3, 9, 4, 11));
    epochs_free(e);
    /* shouldRetainLatestEpochOnClearAllEarliestAndUpdateItsOffset */
    e = two_three_four();
    CHECK_EQ_I64(epochs_truncate_from_start(e, 15), 3);
    CHECK(SAME(e, 4, 15));
    epochs_free(e);
    /* shouldUpdateOffsetBetweenFirstTwoEpochBoundariesOnClearEarliest */
    e = fresh();
    epochs_assign(e, 0, 0);
    epochs_assign(e, 1, 7);
    epochs_assign(e, 2, 10);
    epochs_truncate_from_start(e, 5);
    CHECK(SAME(e, 0, 5, 1, 7, 2, 10));
    /* shouldClearEarliestOnEmptyCache */
    epochs_clear(e);
    CHECK_EQ_I64(epochs_truncate_from_start(e, 7), 0);
    CHECK_EQ_I64(epochs_n(e), 0);
    epochs_free(e);
}

static void test_epoch_for(void)
{
    /* shouldFetchEpochForGivenOffset */
    epochs *e = fresh();
    CHECK_EQ_I64(epochs_epoch_for(e, 0), -1);
    epochs_assign(e, 0, 10);
    epochs_assign(e, 1, 20);
    epochs_assign(e, 5, 30);
    CHECK_EQ_I64(epochs_epoch_for(e, 25), 1);
    CHECK_EQ_I64(epochs_epoch_for(e, 20), 1);
    CHECK_EQ_I64(epochs_epoch_for(e, 30), 5);
    CHECK_EQ_I64(epochs_epoch_for(e, 50), 5);
    CHECK_EQ_I64(epochs_epoch_for(e, 5), -1);
    CHECK_EQ_I64(epochs_epoch_for(e, 19), 0);
    /* testGetEpochEntry */
    CHECK_EQ_I64(epochs_start_of(e, 1), 20);
    CHECK_EQ_I64(epochs_start_of(e, 5), 30);
    CHECK_EQ_I64(epochs_start_of(e, 3), -1);
    epochs_free(e);
}

/* ---------------------------------------------------- the model */

/* The Java TreeMap<Integer, EpochEntry> as a table indexed by epoch
 * (epochs 0..MAXE-1), each operation written the way the Java code walks
 * the map, independent of epochs.c's array. */
#define MAXE 24
typedef struct {
    int has[MAXE];
    int64_t start[MAXE];
} model;

static int m_last(const model *m)
{
    for (int k = MAXE - 1; k >= 0; k--)
        if (m->has[k])
            return k;
    return -1;
}

static int m_assign(model *m, int ep, int64_t so)
{
    int l = m_last(m);
    if (l >= 0 && !(ep != l || so < m->start[l]))
        return 0;
    /* descendingMap iterator, removeWhileMatching */
    for (int k = MAXE - 1; k >= 0; k--) {
        if (!m->has[k])
            continue;
        if (k >= ep || m->start[k] >= so)
            m->has[k] = 0;
        else
            break;
    }
    m->has[ep] = 1;
    m->start[ep] = so;
    return 1;
}

static int64_t m_end_offset_for(const model *m, int req, int64_t leo, int *ep_out)
{
    int l = m_last(m);
    if (req == -1) {
        *ep_out = -1;
        return -1;
    }
    if (l >= 0 && l == req) {
        *ep_out = req;
        return leo;
    }
    int higher = -1, floor = -1;
    for (int k = 0; k < MAXE; k++)
        if (m->has[k] && k > req) {
            higher = k;
            break;
        }
    for (int k = MAXE - 1; k >= 0; k--)
        if (m->has[k] && k <= req) {
            floor = k;
            break;
        }
    if (higher < 0) {
        *ep_out = -1;
        return -1;
    }
    *ep_out = floor < 0 ? req : floor;
    return m->start[higher];
}

static int m_truncate_from_end(model *m, int64_t end)
{
    int l = m_last(m), removed = 0;
    if (!(end >= 0 && l >= 0 && m->start[l] >= end))
        return 0;
    for (int k = MAXE - 1; k >= 0; k--) {
        if (!m->has[k])
            continue;
        if (m->start[k] >= end) {
            m->has[k] = 0;
            removed++;
        } else
            break;
    }
    return removed;
}

static int m_truncate_from_start(model *m, int64_t so)
{
    int removed = 0, lastk = -1;
    for (int k = 0; k < MAXE; k++) {
        if (!m->has[k])
            continue;
        if (m->start[k] <= so) {
            m->has[k] = 0;
            removed++;
            lastk = k;
        } else
            break;
    }
    if (lastk >= 0) {
        m->has[lastk] = 1;
        m->start[lastk] = so;
    }
    return removed;
}

static int m_epoch_for(const model *m, int64_t off)
{
    int prev = -1;
    for (int k = 0; k < MAXE; k++) {
        if (!m->has[k])
            continue;
        if (m->start[k] == off)
            return k;
        if (m->start[k] > off)
            return prev;
        prev = k;
    }
    return prev;
}

static int m_same(const model *m, const epochs *e)
{
    int i = 0;
    for (int k = 0; k < MAXE; k++) {
        if (!m->has[k])
            continue;
        if (i >= epochs_n(e))
            return 0;
        int32_t ep;
        int64_t st;
        epochs_get(e, i++, &ep, &st);
        if (ep != k || st != m->start[k])
            return 0;
    }
    return i == epochs_n(e);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure repeats */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static int64_t rr(int64_t n)
{
    return (int64_t)(rnd() % (uint64_t)n);
}

static void test_model(const char *dir)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/model-checkpoint", dir);
    int bad = 0;
    long ops = 0;
    for (int run = 0; run < 400 && bad < 5; run++) {
        model m;
        memset(&m, 0, sizeof m);
        epochs *e = fresh();
        int64_t leo = 0;
        for (int step = 0; step < 200 && bad < 5; step++, ops++) {
            int op = (int)rr(100);
            int ok = 1;
            if (op < 45) {
                /* assign: mostly the leader moving forward, sometimes a
                 * stale or repeated epoch, sometimes an earlier offset */
                int ep = (int)rr(MAXE);
                int64_t so = rr(4) == 0 ? rr(leo + 1) : leo + rr(3);
                int a = m_assign(&m, ep, so), b = epochs_assign(e, ep, so);
                ok = a == b;
                if (so >= leo)
                    leo = so + 1;
            } else if (op < 55) {
                int64_t off = rr(leo + 3) - 1;
                ok = m_truncate_from_end(&m, off) == epochs_truncate_from_end(e, off);
            } else if (op < 62) {
                int64_t off = rr(leo + 3) - 1;
                ok = m_truncate_from_start(&m, off) == epochs_truncate_from_start(e, off);
            } else if (op < 82) {
                int req = (int)rr(MAXE + 2) - 2;
                int mep;
                int32_t eep;
                int64_t mo = m_end_offset_for(&m, req, leo, &mep);
                int64_t eo = epochs_end_offset_for(e, req, leo, &eep);
                ok = mo == eo && mep == eep;
            } else if (op < 99) {
                int64_t off = rr(leo + 3) - 1;
                ok = m_epoch_for(&m, off) == epochs_epoch_for(e, off);
                ok = ok && epochs_latest(e) == m_last(&m);
            } else {
                /* the file (1% of the steps: each save is two fsyncs): what
                 * is saved loads back equal */
                epochs *back = fresh();
                epochs_assign(back, 1, 1); /* replaced by the load */
                ok = epochs_save(e, path, err, sizeof err) == 0 && epochs_load(back, path, err, sizeof err) == 0 &&
                     m_same(&m, back);
                epochs_free(back);
            }
            ok = ok && m_same(&m, e);
            /* Kafka's invariant: epochs and starts strictly increasing. */
            for (int i = 1; ok && i < epochs_n(e); i++) {
                int32_t e0, e1;
                int64_t s0, s1;
                epochs_get(e, i - 1, &e0, &s0);
                epochs_get(e, i, &e1, &s1);
                ok = e0 < e1 && s0 < s1;
            }
            if (!ok) {
                bad++;
                fprintf(stderr, "model mismatch: run %d step %d op %d\n", run, step, op);
            }
        }
        epochs_free(e);
    }
    CHECK_EQ_I64(bad, 0);
    CHECK(ops >= 80000);
}

/* ---------------------------------------------------- the file */

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(text, 1, len, f) == len);
    fclose(f);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = malloc(65536);
    *len = fread(b, 1, 65535, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

/* Loads text from a file; returns load's result, the message in err. */
static int load_text(epochs *e, const char *path, const char *text, char *err, size_t errlen)
{
    write_file(path, text, strlen(text));
    err[0] = 0;
    return epochs_load(e, path, err, errlen);
}

/* A malformed text must be refused with exactly this message (%s: the
 * path), leaving the cache (2@6, 3@8, 4@11) as it was. */
static void refused(const char *path, const char *text, const char *fmt)
{
    char err[512], want[1024];
    epochs *e = two_three_four();
    int rc = load_text(e, path, text, err, sizeof err);
    snprintf(want, sizeof want, fmt, path, path);
    CHECK_EQ_I64(rc, -1);
    if (strcmp(err, want) != 0)
        fprintf(stderr, "  got  '%s'\n  want '%s'\n", err, want);
    CHECK(strcmp(err, want) == 0);
    CHECK(SAME(e, 2, 6, 3, 8, 4, 11));
    epochs_free(e);
}

static void test_file(const char *dir)
{
    char path[512], tmp[520], err[512];
    snprintf(path, sizeof path, "%s/" EPOCHS_FILE_NAME, dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    /* Save: Kafka's exact bytes, nothing left in .tmp. */
    epochs *e = two_three_four();
    CHECK_EQ_I64(epochs_save(e, path, err, sizeof err), 0);
    size_t len;
    char *got = read_text(path, &len);
    CHECK(got && strcmp(got, "0\n3\n2 6\n3 8\n4 11\n") == 0);
    free(got);
    CHECK(access(tmp, F_OK) != 0);
    /* ... and back. */
    epochs *back = fresh();
    CHECK_EQ_I64(epochs_load(back, path, err, sizeof err), 0);
    CHECK(SAME(back, 2, 6, 3, 8, 4, 11));
    /* An empty cache saves as "0\n0\n" and loads empty. */
    epochs_clear(e);
    CHECK_EQ_I64(epochs_save(e, path, err, sizeof err), 0);
    got = read_text(path, &len);
    CHECK(got && strcmp(got, "0\n0\n") == 0);
    free(got);
    CHECK_EQ_I64(epochs_load(back, path, err, sizeof err), 0);
    CHECK_EQ_I64(epochs_n(back), 0);
    /* Extreme values survive. */
    epochs_assign(e, INT32_MAX - 1, 0);
    epochs_assign(e, INT32_MAX, INT64_MAX);
    CHECK_EQ_I64(epochs_save(e, path, err, sizeof err), 0);
    CHECK_EQ_I64(epochs_load(back, path, err, sizeof err), 0);
    CHECK(SAME(back, INT32_MAX - 1, 0, INT32_MAX, INT64_MAX));
    /* Saving where the directory is missing fails with a message. */
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/no-such-dir/" EPOCHS_FILE_NAME, dir);
    err[0] = 0;
    CHECK_EQ_I64(epochs_save(e, nodir, err, sizeof err), -1);
    CHECK(strstr(err, "Error while writing to checkpoint file") != NULL);
    epochs_free(e);

    /* A missing file: an empty cache (Kafka creates the file empty). */
    unlink(path);
    epochs_assign(back, 9, 9);
    CHECK_EQ_I64(epochs_load(back, path, err, sizeof err), 0);
    CHECK_EQ_I64(epochs_n(back), 0);
    /* Empty file, version only: no entries (CheckpointReadBuffer.read). */
    CHECK_EQ_I64(load_text(back, path, "", err, sizeof err), 0);
    CHECK_EQ_I64(epochs_n(back), 0);
    CHECK_EQ_I64(load_text(back, path, "0\n", err, sizeof err), 0);
    CHECK_EQ_I64(epochs_n(back), 0);
    CHECK_EQ_I64(load_text(back, path, "0", err, sizeof err), 0);
    CHECK_EQ_I64(epochs_n(back), 0);
    /* readLine's terminators (\r\n, \r, none at the end), \s+ between the
     * two numbers, blanks at the end of a line (split drops them), a sign. */
    CHECK_EQ_I64(load_text(back, path, "0\r\n3\r\n1 0\r2\t\t5\n+3 9  ", err, sizeof err), 0);
    CHECK(SAME(back, 1, 0, 2, 5, 3, 9));
    /* The file goes through assign, as in Kafka's constructor: entries out
     * of order are cut the way assign cuts them. */
    CHECK_EQ_I64(load_text(back, path, "0\n2\n5 10\n3 20\n", err, sizeof err), 0);
    CHECK(SAME(back, 3, 20));
    CHECK_EQ_I64(load_text(back, path, "0\n3\n1 0\n1 5\n2 3\n", err, sizeof err), 0);
    CHECK(SAME(back, 1, 0, 2, 3));
    epochs_free(back);

    /* Refused, with CheckpointFile's messages. */
    refused(path, "1\n0\n", "Unrecognised version:1, expected version: 0 in checkpoint file at: %s");
    refused(path, "x\n0\n", "Malformed line in checkpoint file [%s]: x");
    refused(path, "0\nthree\n", "Malformed line in checkpoint file [%s]: three");
    refused(path, " 0\n0\n", "Malformed line in checkpoint file [%s]:  0");
    /* Torn: the last line cut in the middle, or lines missing. */
    refused(path, "0\n3\n0 0\n2 5\n4", "Malformed line in checkpoint file [%s]: 4");
    refused(path, "0\n3\n0 0\n2 5\n", "Expected [3] entries in checkpoint file [%s], but found only [2]");
    refused(path, "0\n3\n", "Expected [3] entries in checkpoint file [%s], but found only [0]");
    refused(path, "0\n1\n0 0\n2 5\n", "Expected [1] entries in checkpoint file [%s], but found only [2]");
    refused(path, "0\n2\n0 0\n\n2 5\n", "Malformed line in checkpoint file [%s]: ");
    refused(path, "0\n1\n1 2 3\n", "Malformed line in checkpoint file [%s]: 1 2 3");
    refused(path, "0\n1\n 1 2\n", "Malformed line in checkpoint file [%s]:  1 2");
    refused(path, "0\n1\n1 0x10\n", "Malformed line in checkpoint file [%s]: 1 0x10");
    refused(path, "0\n1\n2147483648 0\n", "Malformed line in checkpoint file [%s]: 2147483648 0");
    refused(path, "0\n1\n1 9223372036854775808\n", "Malformed line in checkpoint file [%s]: 1 9223372036854775808");
    refused(path, "0\n1\n1 -\n", "Malformed line in checkpoint file [%s]: 1 -");
    refused(path, "0\n-1\n", "Negative entry count [-1] in checkpoint file [%s]");
    refused(path, "0\n1\n-1 5\n",
            "Received invalid partition leader epoch entry EpochEntry[epoch=-1, startOffset=5] in checkpoint file "
            "[%s]");
    refused(path, "0\n1\n3 -5\n",
            "Received invalid partition leader epoch entry EpochEntry[epoch=3, startOffset=-5] in checkpoint file "
            "[%s]");
    /* A NUL byte in a line (a torn write of zeroes) is shown escaped. */
    {
        static const char zeros[] = "0\n1\n3 \0\0\n";
        char perr[512], want[1024];
        write_file(path, zeros, sizeof zeros - 1);
        epochs *z = two_three_four();
        CHECK_EQ_I64(epochs_load(z, path, perr, sizeof perr), -1);
        snprintf(want, sizeof want, "Malformed line in checkpoint file [%s]: 3 \\x00\\x00", path);
        CHECK(strcmp(perr, want) == 0);
        CHECK(SAME(z, 2, 6, 3, 8, 4, 11));
        epochs_free(z);
    }
    /* A directory where the file should be: an error, not "empty". */
    unlink(path);
    CHECK(mkdir(path, 0755) == 0);
    epochs *d = fresh();
    err[0] = 0;
    CHECK_EQ_I64(epochs_load(d, path, err, sizeof err), -1);
    CHECK(strstr(err, "Error while reading checkpoint file") != NULL);
    epochs_free(d);
    rmdir(path);
}

/* ---------------------------------------------------- real Kafka */

/*
 * Written by Apache Kafka 4.4.0 (one combined-mode KRaft node started with
 * tests/reference/kafkaref.py, 2026-12-06): topic t with one partition,
 * 5 records produced with kafka-python, the node restarted (SIGTERM +
 * launch) and 3 records produced, restarted again and 4 produced. Each
 * restart moved the leader epoch up by 2. <data>/t-0/leader-epoch-checkpoint
 * after the last clean stop:
 */
static const char KAFKA_T0[] = "0\n3\n0 0\n2 5\n4 8\n";
/* ... and <data>/__cluster_metadata-0/leader-epoch-checkpoint of that run. */
static const char KAFKA_META[] = "0\n3\n1 0\n2 26\n3 43\n";
/* The batch headers of that t-0 log (DumpLogSegments of
 * 00000000000000000000.log): (partitionLeaderEpoch, baseOffset), one record
 * per batch. */
static const int KAFKA_T0_BATCHES[][2] = { { 0, 0 }, { 0, 1 }, { 0, 2 },  { 0, 3 },  { 0, 4 },  { 2, 5 },
                                           { 2, 6 }, { 2, 7 }, { 4, 8 },  { 4, 9 },  { 4, 10 }, { 4, 11 } };

static void test_real_kafka(const char *dir)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/" EPOCHS_FILE_NAME, dir);
    epochs *e = fresh();
    CHECK_EQ_I64(load_text(e, path, KAFKA_T0, err, sizeof err), 0);
    CHECK(SAME(e, 0, 0, 2, 5, 4, 8));
    CHECK_EQ_I64(epochs_latest(e), 4);
    /* What OffsetForLeaderEpoch answers on that partition (log end 12). */
    CHECK(eof_is(e, 0, 12, 0, 5));
    CHECK(eof_is(e, 1, 12, 0, 5));
    CHECK(eof_is(e, 3, 12, 2, 8));
    CHECK(eof_is(e, 4, 12, 4, 12));
    CHECK_EQ_I64(epochs_epoch_for(e, 7), 2);
    /* Saved again, it is the same bytes. */
    size_t len;
    char *text = epochs_format(e, &len);
    CHECK(text && len == sizeof KAFKA_T0 - 1 && memcmp(text, KAFKA_T0, len) == 0);
    free(text);

    /* The rebuild from the log's batch headers gives the same entries. */
    epochs_rebuild_begin(e);
    CHECK_EQ_I64(epochs_n(e), 0);
    int started = 0;
    for (size_t i = 0; i < sizeof KAFKA_T0_BATCHES / sizeof KAFKA_T0_BATCHES[0]; i++)
        started += epochs_rebuild_batch(e, KAFKA_T0_BATCHES[i][0], KAFKA_T0_BATCHES[i][1]);
    CHECK_EQ_I64(started, 3);
    CHECK(SAME(e, 0, 0, 2, 5, 4, 8));
    /* LogSegment.recover's rule: no epoch (-1, an old client's batch) and
     * an epoch not above the latest change nothing. */
    CHECK_EQ_I64(epochs_rebuild_batch(e, -1, 12), 0);
    CHECK_EQ_I64(epochs_rebuild_batch(e, 3, 12), 0);
    CHECK_EQ_I64(epochs_rebuild_batch(e, 4, 12), 0);
    CHECK(SAME(e, 0, 0, 2, 5, 4, 8));
    CHECK_EQ_I64(epochs_rebuild_batch(e, 6, 12), 1);
    CHECK(SAME(e, 0, 0, 2, 5, 4, 8, 6, 12));

    CHECK_EQ_I64(load_text(e, path, KAFKA_META, err, sizeof err), 0);
    CHECK(SAME(e, 1, 0, 2, 26, 3, 43));
    text = epochs_format(e, &len);
    CHECK(text && len == sizeof KAFKA_META - 1 && memcmp(text, KAFKA_META, len) == 0);
    free(text);
    epochs_free(e);
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[1024];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    char dir[] = "/tmp/test_epochs.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_assign();
    test_end_offset_for();
    test_truncate();
    test_epoch_for();
    test_file(dir);
    test_real_kafka(dir);
    test_model(dir);
    rm_tree(dir);
    TEST_REPORT();
}
