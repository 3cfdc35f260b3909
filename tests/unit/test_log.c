/*
 * test_log.c - glog line format, level and debug filtering, truncation,
 * whole lines under concurrency; and the clock's basic promises.
 * fd 2 is redirected to a temp file for the checks and restored after;
 * CHECK's own reports keep going to the real stderr.
 */
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"

#define CAPTURE_BYTES_MAX (1 << 20)

static char capture_path[] = "/tmp/gregor_test_log_XXXXXX";
static int capture_fd = -1, saved_stderr = -1;
static FILE *orig_stderr_file;
static char captured[CAPTURE_BYTES_MAX];

static void capture_begin(void)
{
    capture_fd = mkstemp(capture_path);
    CHECK(capture_fd >= 0);
    saved_stderr = dup(STDERR_FILENO);
    dup2(capture_fd, STDERR_FILENO);
    /* CHECK reports through stdio's stderr: point it at the real one
     * (glibc allows assigning stderr) so failures are not captured. */
    orig_stderr_file = stderr;
    stderr = fdopen(dup(saved_stderr), "w");
    setvbuf(stderr, NULL, _IONBF, 0);
}

/* Everything written since the last call, NUL-terminated, in captured. */
static size_t capture_take(void)
{
    off_t end = lseek(capture_fd, 0, SEEK_END);
    ssize_t n = pread(capture_fd, captured, sizeof captured - 1, 0);
    CHECK(n >= 0 && n == end);
    captured[n < 0 ? 0 : n] = '\0';
    CHECK(ftruncate(capture_fd, 0) == 0);
    lseek(capture_fd, 0, SEEK_SET);
    return n < 0 ? 0 : (size_t)n;
}

static void capture_end(void)
{
    fclose(stderr);
    stderr = orig_stderr_file;
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    close(capture_fd);
    unlink(capture_path);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL [subsys] msg" */
static bool line_ok(const char *line, const char *level5, const char *subsys, const char *msg)
{
    int y, mo, d, h, mi, s, ms;
    char z;
    if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z) != 8)
        return false;
    if (z != 'Z' || y < 2020 || mo < 1 || mo > 12 || line[4] != '-' || line[10] != 'T' ||
        line[19] != '.' || line[24] != ' ')
        return false;
    char want[512];
    snprintf(want, sizeof want, "%s [%s] %s\n", level5, subsys, msg);
    return strncmp(line + 25, want, strlen(want)) == 0;
}

static void test_format_and_levels(void)
{
    glog_set_level(GLOG_INFO);
    glog(GLOG_INFO, "net", "conn %d closed: %s", 12, "peer reset");
    capture_take();
    CHECK(line_ok(captured, "INFO ", "net", "conn 12 closed: peer reset"));
    CHECK_EQ_I64(count_lines(captured), 1);

    glog(GLOG_ERROR, "log", "fsync failed");
    glog(GLOG_WARN, "log", "slow\n"); /* trailing newline not doubled */
    glog(GLOG_DEBUG, "log", "dropped");
    capture_take();
    CHECK_EQ_I64(count_lines(captured), 2);
    CHECK(line_ok(captured, "ERROR", "log", "fsync failed"));
    CHECK(line_ok(strchr(captured, '\n') + 1, "WARN ", "log", "slow"));

    glog_set_level(GLOG_ERROR);
    glog(GLOG_WARN, "log", "dropped");
    CHECK_EQ_I64(capture_take(), 0);
    CHECK_EQ_I64(glog_get_level(), GLOG_ERROR);
    glog_set_level(99);
    CHECK_EQ_I64(glog_get_level(), GLOG_DEBUG);
    CHECK(glog_debug_enabled("anything"));
    glog_set_level(GLOG_INFO);

    errno = EAGAIN;
    glog(GLOG_INFO, "x", "keeps errno");
    CHECK_EQ_I64(errno, EAGAIN);
    capture_take();
}

static void test_debug_spec(void)
{
    CHECK_EQ_I64(glog_set_debug(NULL), -1);
    CHECK_EQ_I64(glog_set_debug(""), -1);
    CHECK_EQ_I64(glog_set_debug(","), -1);
    CHECK_EQ_I64(glog_set_debug("net,,log"), -1);
    CHECK_EQ_I64(glog_set_debug("net,"), -1);
    CHECK_EQ_I64(glog_set_debug("Net"), -1);
    CHECK_EQ_I64(glog_set_debug("a-very-long-subsystem-name-over-31"), -1);
    CHECK(!glog_debug_enabled("net"));

    CHECK_EQ_I64(glog_set_debug("net, log ,group"), 0);
    CHECK(glog_debug_enabled("net"));
    CHECK(glog_debug_enabled("log"));
    CHECK(glog_debug_enabled("group"));
    CHECK(!glog_debug_enabled("raft"));
    CHECK(!glog_debug_enabled("ne"));
    CHECK_EQ_I64(glog_set_debug("bad spec!"), -1); /* keeps the old set */
    CHECK(glog_debug_enabled("net"));

    glog(GLOG_DEBUG, "net", "seen %d", 1);
    glog(GLOG_DEBUG, "raft", "not seen");
    capture_take();
    CHECK_EQ_I64(count_lines(captured), 1);
    CHECK(line_ok(captured, "DEBUG", "net", "seen 1"));

    CHECK_EQ_I64(glog_set_debug("all"), 0);
    CHECK(glog_debug_enabled("raft"));
    CHECK_EQ_I64(glog_set_debug("none"), 0);
    CHECK(!glog_debug_enabled("net"));

    char many[40 * 4] = "";
    for (int i = 0; i < 33; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "s%d,", i);
    many[strlen(many) - 1] = '\0';
    CHECK_EQ_I64(glog_set_debug(many), -1); /* 33 names */
}

static void test_truncation(void)
{
    static char big[5000];
    memset(big, 'x', sizeof big - 1);
    glog(GLOG_INFO, "net", "%s", big);
    size_t n = capture_take();
    CHECK_EQ_I64(n, GLOG_LINE_BYTES_MAX);
    CHECK(n >= 4 && memcmp(captured + n - 4, "...\n", 4) == 0);
    CHECK_EQ_I64(count_lines(captured), 1);

    static char subsys[3000];
    memset(subsys, 's', sizeof subsys - 1);
    glog(GLOG_WARN, subsys, "m");
    n = capture_take();
    CHECK(n <= GLOG_LINE_BYTES_MAX && n > 0 && captured[n - 1] == '\n');
    CHECK_EQ_I64(count_lines(captured), 1);
}

#define THREADS 4
#define LINES_PER_THREAD 500

static void *log_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_THREAD; i++)
        glog(GLOG_INFO, "t", "thread %d line %d %0200d", id, i, 0);
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, log_thread, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    capture_take();
    CHECK_EQ_I64(count_lines(captured), THREADS * LINES_PER_THREAD);
    int bad = 0;
    for (char *line = captured; *line; line = strchr(line, '\n') + 1) {
        int id, i;
        if (sscanf(line + 25, "INFO  [t] thread %d line %d", &id, &i) != 2 ||
            strchr(line, '\n') - line != 25 + 10 + 16 + 200 + (i >= 10) + (i >= 100))
            bad++;
    }
    CHECK_EQ_I64(bad, 0);
}

static void test_clock(void)
{
    int64_t now = clock_now_ms();
    CHECK(now > 1577836800000LL); /* after 2020-01-01 */
    int64_t a = clock_mono_ns(), b = clock_mono_ns();
    CHECK(b >= a);
    int64_t ms = clock_mono_ms();
    CHECK(ms >= a / 1000000);
    usleep(2000);
    CHECK(clock_mono_ms() - ms >= 1);
}

/* At most GLOG_LIMIT_LINES lines a window; the next printed line counts
 * the ones dropped; a line filtered out by level is neither. */
static void test_limited(void)
{
    glog_set_level(GLOG_INFO);
    capture_take();
    static glog_limit lim = GLOG_LIMIT_INIT;
    lim.window_ms = 200;
    int printed = 0;
    for (int i = 0; i < 100; i++)
        printed += glog_limited(&lim, GLOG_WARN, "net", "refusing connection %d", i);
    CHECK_EQ_I64(printed, GLOG_LIMIT_LINES);
    capture_take();
    CHECK_EQ_I64(count_lines(captured), GLOG_LIMIT_LINES);
    CHECK(line_ok(captured, "WARN ", "net", "refusing connection 0"));
    CHECK(strstr(captured, "more like this") == NULL);
    CHECK(!glog_limited(&lim, GLOG_DEBUG, "net", "filtered by level"));
    usleep(250 * 1000);
    CHECK(glog_limited(&lim, GLOG_WARN, "net", "refusing connection %d", 100));
    capture_take();
    CHECK_EQ_I64(count_lines(captured), 1);
    CHECK(line_ok(captured, "WARN ", "net",
                  "refusing connection 100 (and 95 more like this since the last such line)"));
    /* A quiet window: the next line carries no count. */
    usleep(250 * 1000);
    CHECK(glog_limited(&lim, GLOG_WARN, "net", "again"));
    capture_take();
    CHECK(line_ok(captured, "WARN ", "net", "again"));
    CHECK(strstr(captured, "more like") == NULL);
}

/* Control bytes and invalid UTF-8 are escaped; valid UTF-8 is kept. */
static void test_escaping(void)
{
    glog_set_level(GLOG_INFO);
    capture_take();
    glog(GLOG_WARN, "log", "bad version '%s'", "a\x1b[2Jb\x01\xff\xc3");
    capture_take();
    CHECK(line_ok(captured, "WARN ", "log", "bad version 'a\\x1b[2Jb\\x01\\xff\\xc3'"));
    glog(GLOG_INFO, "log", "topic caf\xc3\xa9 \xe2\x82\xac ok");
    capture_take();
    CHECK(line_ok(captured, "INFO ", "log", "topic caf\xc3\xa9 \xe2\x82\xac ok"));
    /* A long line of bad bytes is cut, still one line. */
    static char bad[1500];
    memset(bad, 0x01, sizeof bad - 1);
    glog(GLOG_INFO, "log", "%s", bad);
    size_t n = capture_take();
    CHECK_EQ_I64(count_lines(captured), 1);
    CHECK(n <= GLOG_LINE_BYTES_MAX);
    CHECK(strstr(captured, "...\n") != NULL);
}

int main(void)
{
    capture_begin();
    test_format_and_levels();
    test_escaping();
    test_limited();
    test_debug_spec();
    test_truncation();
    test_threads();
    capture_end();
    test_clock();
    TEST_REPORT();
}
