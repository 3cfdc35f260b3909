/*
 * test_client.c - the outbound connection (src/net/client.c) against a real
 * `gregor server` process and against scripted peers in this process.
 *
 * Proves:
 *  - against gregor (the binary beside this test's directory: $(O)/gregor):
 *    the ApiVersions handshake (v3) learns the peer's ranges; ApiVersions
 *    and Metadata answer and decode; 20 pipelined requests with 5 in
 *    flight complete once each, in order; a version the peer does not
 *    advertise fails before it is sent; a server killed with requests in
 *    flight fails each of them once (disconnected), requests sent while it
 *    is down wait, the client reconnects with Kafka's exponential backoff
 *    and sends them once the server is back on the same port; a server
 *    that stops answering times a request out (once) and the connection
 *    is replaced;
 *  - against scripted peers: a peer that accepts and never answers ->
 *    timed out; garbage (a bad frame size, a wrong correlation id) -> the
 *    connection is closed with the reason logged and the next connection
 *    works; ApiVersions UNSUPPORTED_VERSION -> retried at the peer's
 *    newest, or v0; a connect that gets no answer times out; the bounded
 *    queue refuses with QUEUE_FULL; with fail_unsent_on_failure, requests
 *    not yet written fail (disconnected) once a connect is refused;
 *    client_close (also from inside a callback) fails what is left, once.
 *
 * `test_client --bootstrap HOST:PORT` runs only the interoperability part
 * against a broker that is already running (tests/integration/
 * test_outbound_client.py: Gregor, and Apache Kafka 4.4 with --broker=kafka):
 * handshake, ApiVersions, Metadata, pipelining, unadvertised versions.
 *
 * Every wait is bounded; the server is killed on every exit path.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"
#include "kafka_msgs.h"
#include "net/client.h"
#include "net/reactor.h"
#include "proto/codec.h"

static reactor *R;

/* ------------------------------------------------ running on the reactor */

typedef struct call {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} call;

static void call_tramp(reactor *r, void *arg)
{
    call *k = arg;
    k->fn(k->arg);
    pthread_mutex_lock(&k->lock);
    k->done = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
}

/* Run fn(arg) on the reactor thread and wait for it. */
static void on_reactor(void (*fn)(void *), void *arg)
{
    call k = { fn, arg, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };
    reactor_post(R, call_tramp, &k);
    pthread_mutex_lock(&k.lock);
    while (!k.done)
        pthread_cond_wait(&k.cond, &k.lock);
    pthread_mutex_unlock(&k.lock);
}

/* ------------------------------------------------------ request outcomes */

#define MAXREQ 64

typedef struct outcome {
    atomic_int calls;        /* callbacks received: must end at exactly 1 */
    atomic_int status;
    int64_t sent_ms, done_ms;
    int order;               /* completion order */
    uint8_t body[4096];
    size_t body_len;
    char reason[256];
} outcome;

static outcome out[MAXREQ];
static atomic_int completions;
static client *close_in_callback; /* set: the callback closes this client */

static void on_response(client *c, const client_response *r, void *arg)
{
    outcome *o = arg;
    o->done_ms = clock_mono_ms();
    o->order = atomic_fetch_add(&completions, 1);
    o->body_len = r->body_len < sizeof(o->body) ? r->body_len : sizeof(o->body);
    if (r->status == CLIENT_OK && o->body_len)
        memcpy(o->body, r->body, o->body_len);
    snprintf(o->reason, sizeof(o->reason), "%s", r->reason ? r->reason : "");
    atomic_store(&o->status, r->status);
    atomic_fetch_add(&o->calls, 1);
    if (close_in_callback == c) {
        close_in_callback = NULL;
        client_close(c);
    }
}

static void reset_outcomes(void)
{
    memset(out, 0, sizeof(out));
    atomic_store(&completions, 0);
}

/* Wait until out[i].calls >= 1 for i in [from, to), or timeout. */
static bool wait_calls(int from, int to, int timeout_ms)
{
    int64_t end = clock_mono_ms() + timeout_ms;
    for (;;) {
        int i = from;
        while (i < to && atomic_load(&out[i].calls) >= 1)
            i++;
        if (i == to)
            return true;
        if (clock_mono_ms() > end)
            return false;
        usleep(2000);
    }
}

typedef struct sendop {
    client *c;
    int16_t key, ver;
    const void *msg;
    int idx;
    int rc;
} sendop;

static void do_send(void *arg)
{
    sendop *s = arg;
    out[s->idx].sent_ms = clock_mono_ms();
    s->rc = client_send_msg(s->c, s->key, s->ver, s->msg, on_response, &out[s->idx]);
}

static int send_msg(client *c, int16_t key, int16_t ver, const void *msg, int idx)
{
    sendop s = { c, key, ver, msg, idx, 0 };
    on_reactor(do_send, &s);
    return s.rc;
}

static int send_metadata(client *c, int idx)
{
    static kp_metadata_req md;
    kp_metadata_req_init(&md);
    md.topics_n = -1; /* all topics */
    return send_msg(c, KP_API_METADATA, 12, &md, idx);
}

typedef struct info {
    client *c;
    bool ready;
    int16_t versions[4];
    int16_t keys[4];
    client_stats stats;
    char last_error[256];
} info;

static void do_info(void *arg)
{
    info *i = arg;
    i->ready = client_ready(i->c);
    for (int k = 0; k < 4; k++)
        i->versions[k] = client_version(i->c, i->keys[k]);
    client_get_stats(i->c, &i->stats);
    snprintf(i->last_error, sizeof(i->last_error), "%s", client_last_error(i->c));
}

static info get_info(client *c)
{
    info i = { .c = c, .keys = { KP_API_METADATA, KP_API_FETCH, KP_API_VOTE, KP_API_API_VERSIONS } };
    on_reactor(do_info, &i);
    return i;
}

static bool wait_ready(client *c, bool want, int timeout_ms)
{
    int64_t end = clock_mono_ms() + timeout_ms;
    while (clock_mono_ms() <= end) {
        if (get_info(c).ready == want)
            return true;
        usleep(5000);
    }
    return false;
}

static atomic_int state_ready, state_lost;

static void on_state(client *c, bool ready, void *arg)
{
    atomic_fetch_add(ready ? &state_ready : &state_lost, 1);
}

static void do_close(void *arg)
{
    client_close(arg);
}

static client *new_client(int port, const client_options *o)
{
    return client_new(R, "127.0.0.1", port, "gregor-test-client", o);
}

/* --------------------------------------------------------- gregor server */

static char gregor_bin[PATH_MAX];
static char server_dir[PATH_MAX];
static pid_t server_pid = -1;

static void server_kill(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL); /* kills a stopped process too (no SIGCONT: it would answer) */
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

static void at_exit_kill(void)
{
    server_kill();
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("free_port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* SIGSTOP the server and wait until it is stopped: it reads nothing more. */
static void server_stop_signal(void)
{
    int st;
    kill(server_pid, SIGSTOP);
    CHECK(waitpid(server_pid, &st, WUNTRACED) == server_pid && WIFSTOPPED(st));
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static bool server_start(int port)
{
    char logs[PATH_MAX + 16], listeners[64], log_path[PATH_MAX + 16];
    snprintf(logs, sizeof(logs), "log.dirs=%s/data", server_dir);
    snprintf(listeners, sizeof(listeners), "listeners=PLAINTEXT://127.0.0.1:%d", port);
    snprintf(log_path, sizeof(log_path), "%s/server.log", server_dir);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(gregor_bin, gregor_bin, "server", "--override", logs, "--override", listeners,
              (char *)NULL);
        _exit(127);
    }
    server_pid = pid;
    int64_t end = clock_mono_ms() + 30000;
    while (clock_mono_ms() < end) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            server_pid = -1;
            fprintf(stderr, "gregor server exited at start-up; see %s\n", log_path);
            return false;
        }
        if (port_open(port))
            return true;
        usleep(20000);
    }
    fprintf(stderr, "gregor server not listening on %d after 30 s\n", port);
    return false;
}

/* Decode out[i]'s body as a kp_<api>_resp at version v. */
static int decode_body(int i, const kp_api_info *api, int16_t v, arena *a, void *msg)
{
    kp_reader r;
    kp_reader_init(&r, out[i].body, out[i].body_len, a);
    if (api->resp_decode(&r, v, msg) != 0 || kp_reader_left(&r) != 0)
        return -1;
    return 0;
}

static void test_real_server(void)
{
    int port = free_port();
    if (!server_start(port)) {
        CHECK(!"gregor server started");
        return;
    }
    reset_outcomes();
    client_options o;
    client_options_init(&o);
    o.request_timeout_ms = 10000;
    o.seed = 42;
    o.on_state = on_state;
    client *c = new_client(port, &o);
    CHECK(c != NULL);
    CHECK(wait_ready(c, true, 10000));
    info in = get_info(c);
    CHECK_EQ_I64(in.versions[0], 13);  /* Metadata: both 13 */
    CHECK_EQ_I64(in.versions[1], 18);  /* Fetch: both 18 */
    CHECK_EQ_I64(in.versions[2], -1);  /* Vote: not advertised */
    CHECK_EQ_I64(in.versions[3], 5);
    CHECK_EQ_I64(in.stats.api_versions_version, 3); /* what the client sends first */
    CHECK_EQ_I64(in.stats.ready, 1);

    /* ApiVersions and Metadata, decoded. */
    kp_api_versions_req av;
    kp_api_versions_req_init(&av);
    av.client_software_name = kp_str_c("gregor-test");
    av.client_software_version = kp_str_c("1");
    CHECK_EQ_I64(send_msg(c, KP_API_API_VERSIONS, 3, &av, 0), 0);
    CHECK_EQ_I64(send_metadata(c, 1), 0);
    CHECK(wait_calls(0, 2, 10000));
    CHECK_EQ_I64(out[0].status, CLIENT_OK);
    CHECK_EQ_I64(out[1].status, CLIENT_OK);
    arena a;
    arena_init(&a, 1 << 22);
    kp_api_versions_resp avr;
    CHECK_EQ_I64(decode_body(0, kp_api_find(KP_API_API_VERSIONS), 3, &a, &avr), 0);
    CHECK_EQ_I64(avr.error_code, 0);
    bool md_listed = false;
    for (int32_t i = 0; i < avr.api_keys_n; i++)
        if (avr.api_keys[i].api_key == KP_API_METADATA)
            md_listed = avr.api_keys[i].min_version == 0 && avr.api_keys[i].max_version == 13;
    CHECK(md_listed);
    kp_metadata_resp mr;
    CHECK_EQ_I64(decode_body(1, kp_api_find(KP_API_METADATA), 12, &a, &mr), 0);
    CHECK_EQ_I64(mr.brokers_n, 1);
    if (mr.brokers_n == 1)
        CHECK_EQ_I64(mr.brokers[0].port, port);
    arena_deinit(&a);

    /* 20 pipelined, at most 5 in flight: each answered once, in order. */
    reset_outcomes();
    for (int i = 0; i < 20; i++)
        CHECK_EQ_I64(send_metadata(c, i), 0);
    CHECK(wait_calls(0, 20, 10000));
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_I64(out[i].status, CLIENT_OK);
        CHECK_EQ_I64(out[i].order, i);
    }

    /* A version gregor does not advertise fails without being sent. */
    reset_outcomes();
    kp_vote_req vote;
    kp_vote_req_init(&vote);
    CHECK_EQ_I64(send_msg(c, KP_API_VOTE, 1, &vote, 0), 0);
    CHECK_EQ_I64(send_metadata(c, 1), 0);
    CHECK(wait_calls(0, 2, 10000));
    CHECK_EQ_I64(out[0].status, CLIENT_ERR_UNSUPPORTED);
    CHECK(strstr(out[0].reason, "does not serve Vote") != NULL);
    CHECK_EQ_I64(out[1].status, CLIENT_OK); /* the connection lives on */
    /* InitProducerId v6 is in our codecs only: refused before sending too. */
    kp_init_producer_id_req iq;
    kp_init_producer_id_req_init(&iq);
    CHECK_EQ_I64(send_msg(c, KP_API_INIT_PRODUCER_ID, 6, &iq, 2), 0);
    CHECK(wait_calls(2, 3, 10000));
    CHECK_EQ_I64(out[2].status, CLIENT_ERR_UNSUPPORTED);
    CHECK(strstr(out[2].reason, "serves InitProducerId v0-v5, not v6") != NULL);
    CHECK_EQ_I64(get_info(c).stats.failures, 0);

    /* Kill the server with 3 requests in flight: each fails once. */
    reset_outcomes();
    server_stop_signal();
    for (int i = 0; i < 3; i++)
        CHECK_EQ_I64(send_metadata(c, i), 0);
    usleep(200000);
    CHECK_EQ_I64(atomic_load(&completions), 0);
    server_kill();
    CHECK(wait_calls(0, 3, 10000));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_I64(out[i].status, CLIENT_ERR_DISCONNECTED);
        CHECK(strstr(out[i].reason, "connection to 127.0.0.1:") != NULL);
    }
    /* Sent while it is down: they wait (10 s request timeout). */
    for (int i = 3; i < 5; i++)
        CHECK_EQ_I64(send_metadata(c, i), 0);
    usleep(1500000);
    in = get_info(c);
    CHECK(!in.ready);
    /* Backoffs: 50 * 2^n ms +-20%, capped at 1000 (Kafka's defaults). */
    CHECK(in.stats.n_backoffs >= 4);
    for (int i = 0; i < in.stats.n_backoffs; i++) {
        int32_t term = 50 << (i < 5 ? i : 5);
        if (term > 1000)
            term = 1000;
        int32_t lo = term * 8 / 10, hi = term * 12 / 10 > 1000 ? 1000 : term * 12 / 10;
        if (in.stats.backoffs_ms[i] < lo || in.stats.backoffs_ms[i] > hi)
            fprintf(stderr, "backoff %d: %d ms, want %d-%d\n", i, in.stats.backoffs_ms[i], lo, hi);
        CHECK(in.stats.backoffs_ms[i] >= lo && in.stats.backoffs_ms[i] <= hi);
    }
    CHECK(in.stats.connect_attempts >= 4 && in.stats.connect_attempts <= 9);
    CHECK(strstr(in.last_error, "connect") != NULL); /* refused */
    CHECK_EQ_I64(atomic_load(&out[3].calls) + atomic_load(&out[4].calls), 0);
    /* Back on the same port: the waiting requests go out and succeed. */
    if (!server_start(port)) {
        CHECK(!"gregor server restarted");
        on_reactor(do_close, c);
        return;
    }
    CHECK(wait_calls(3, 5, 10000));
    CHECK_EQ_I64(out[3].status, CLIENT_OK);
    CHECK_EQ_I64(out[4].status, CLIENT_OK);
    in = get_info(c);
    CHECK(in.ready);
    CHECK_EQ_I64(in.stats.ready, 2);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_I64(atomic_load(&out[i].calls), 1);
    /* on_state: ready, lost, ready again. */
    CHECK_EQ_I64(atomic_load(&state_ready), 2);
    CHECK_EQ_I64(atomic_load(&state_lost), 1);

    /* A server that stops answering: timed out once, connection replaced. */
    reset_outcomes();
    client_options o2 = o;
    o2.request_timeout_ms = 800;
    o2.on_state = NULL;
    client *c2 = new_client(port, &o2);
    CHECK(wait_ready(c2, true, 10000));
    server_stop_signal();
    CHECK_EQ_I64(send_metadata(c2, 0), 0);
    CHECK(wait_calls(0, 1, 10000));
    CHECK_EQ_I64(out[0].status, CLIENT_ERR_TIMED_OUT);
    int64_t took = out[0].done_ms - out[0].sent_ms;
    if (took < 800 || took >= 5000)
        fprintf(stderr, "timed out after %lld ms\n", (long long)took);
    CHECK(took >= 800 && took < 5000);
    CHECK(strstr(out[0].reason, "no response within 800 ms") != NULL);
    kill(server_pid, SIGCONT);
    CHECK(wait_ready(c2, true, 10000));
    CHECK_EQ_I64(get_info(c2).stats.ready, 2);
    CHECK_EQ_I64(send_metadata(c2, 1), 0);
    CHECK(wait_calls(1, 2, 10000));
    CHECK_EQ_I64(out[1].status, CLIENT_OK);
    CHECK_EQ_I64(atomic_load(&out[0].calls), 1);

    on_reactor(do_close, c2);
    on_reactor(do_close, c);
    server_kill();
}

/* ------------------------------------------------------- scripted peers */

enum peer_mode { P_OK, P_SILENT, P_GARBAGE, P_WRONG_CORR, P_AV_OLD, P_AV_ANCIENT };

typedef struct peer {
    int lfd, port;
    enum peer_mode script[8];
    int nscript;
    atomic_int accepted;
    atomic_int av_versions[8]; /* ApiVersions versions received, in order */
    atomic_int n_av;
    atomic_bool stop;
    pthread_t thread;
} peer;

static int read_full(int fd, uint8_t *p, size_t n, peer *pr)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (atomic_load(&pr->stop))
            return -1;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        ssize_t k = read(fd, p + got, n - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static void write_frame(int fd, kp_writer *w)
{
    kp_writer_patch_int32(w, 0, (int32_t)(w->len - 4));
    ssize_t n = write(fd, w->buf, w->len);
    (void)n;
}

/* The answer to ApiVersions v(ver): ApiVersions 0-3 and Metadata 0-12. */
static void answer_api_versions(int fd, int32_t corr, int16_t ver, int16_t av_max, bool list_av,
                                int16_t error)
{
    kp_api_versions_resp r;
    kp_api_versions_resp_init(&r);
    kp_api_versions_resp_api_version keys[2] = { { KP_API_API_VERSIONS, 0, av_max },
                                                 { KP_API_METADATA, 0, 12 } };
    r.error_code = error;
    r.api_keys = list_av ? keys : keys + 1;
    r.api_keys_n = list_av ? 2 : 1;
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int32(&w, 0);
    kp_write_int32(&w, corr);
    kp_api_versions_resp_encode(&w, ver, &r);
    write_frame(fd, &w);
    kp_writer_deinit(&w);
}

static void serve_conn(peer *pr, int fd, enum peer_mode mode)
{
    for (;;) {
        uint8_t hdr[4];
        if (read_full(fd, hdr, 4, pr) != 0)
            return;
        int32_t size = (int32_t)((uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3]);
        if (size < 8 || size > (1 << 20))
            return;
        uint8_t *f = malloc((size_t)size);
        if (read_full(fd, f, (size_t)size, pr) != 0) {
            free(f);
            return;
        }
        int16_t key = (int16_t)(f[0] << 8 | f[1]);
        int16_t ver = (int16_t)(f[2] << 8 | f[3]);
        int32_t corr = (int32_t)((uint32_t)f[4] << 24 | f[5] << 16 | f[6] << 8 | f[7]);
        free(f);
        if (key == KP_API_API_VERSIONS) {
            int n = atomic_fetch_add(&pr->n_av, 1);
            if (n < 8)
                atomic_store(&pr->av_versions[n], ver);
        }
        if (mode == P_SILENT)
            continue;
        if (mode == P_GARBAGE) {
            static const uint8_t junk[] = "\xff\xff\xff\xffHTTP/1.1 400 Bad Request\r\n\r\n";
            ssize_t n = write(fd, junk, sizeof(junk) - 1);
            (void)n;
            continue;
        }
        if (mode == P_WRONG_CORR) {
            kp_writer w;
            kp_writer_init(&w);
            kp_write_int32(&w, 0);
            kp_write_int32(&w, corr + 1000);
            kp_write_int16(&w, 0);
            write_frame(fd, &w);
            kp_writer_deinit(&w);
            continue;
        }
        if (key == KP_API_API_VERSIONS) {
            if (mode == P_AV_OLD && ver > 2)
                answer_api_versions(fd, corr, 0, 2, true, KERR_UNSUPPORTED_VERSION);
            else if (mode == P_AV_ANCIENT && ver > 0)
                answer_api_versions(fd, corr, 0, 0, false, KERR_UNSUPPORTED_VERSION);
            else
                answer_api_versions(fd, corr, ver, mode == P_AV_OLD ? 2 : mode == P_AV_ANCIENT ? 0 : 3,
                                    true, 0);
            continue;
        }
        /* Anything else: an empty (header-only) answer, flexible header
         * for Metadata v9+. */
        kp_writer w;
        kp_writer_init(&w);
        kp_write_int32(&w, 0);
        kp_write_int32(&w, corr);
        if (key == KP_API_METADATA && ver >= 9)
            kp_write_uvarint(&w, 0);
        write_frame(fd, &w);
        kp_writer_deinit(&w);
    }
}

static void *peer_main(void *arg)
{
    peer *pr = arg;
    while (!atomic_load(&pr->stop)) {
        struct pollfd pfd = { pr->lfd, POLLIN, 0 };
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(pr->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int n = atomic_fetch_add(&pr->accepted, 1);
        enum peer_mode mode = pr->script[n < pr->nscript ? n : pr->nscript - 1];
        serve_conn(pr, fd, mode);
        close(fd);
    }
    return NULL;
}

static void peer_start(peer *pr, const enum peer_mode *script, int n)
{
    memset(pr, 0, sizeof(*pr));
    memcpy(pr->script, script, sizeof(*script) * (size_t)n);
    pr->nscript = n;
    pr->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (bind(pr->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(pr->lfd, 16) != 0 ||
        getsockname(pr->lfd, (struct sockaddr *)&a, &len) != 0) {
        perror("peer");
        exit(2);
    }
    pr->port = ntohs(a.sin_port);
    pthread_create(&pr->thread, NULL, peer_main, pr);
}

static void peer_stop(peer *pr)
{
    atomic_store(&pr->stop, true);
    pthread_join(pr->thread, NULL);
    close(pr->lfd);
}

static void test_silent_peer(void)
{
    peer pr;
    enum peer_mode s[] = { P_SILENT };
    peer_start(&pr, s, 1);
    reset_outcomes();
    client_options o;
    client_options_init(&o);
    o.request_timeout_ms = 500;
    client *c = new_client(pr.port, &o);
    CHECK_EQ_I64(send_metadata(c, 0), 0);
    CHECK(wait_calls(0, 1, 5000));
    CHECK_EQ_I64(out[0].status, CLIENT_ERR_TIMED_OUT);
    int64_t took = out[0].done_ms - out[0].sent_ms;
    CHECK(took >= 500 && took < 3000);
    CHECK(strstr(out[0].reason, "not sent within 500 ms") != NULL);
    /* The handshake itself timed out: the connection was dropped. */
    int64_t end = clock_mono_ms() + 5000;
    while (get_info(c).stats.failures < 1 && clock_mono_ms() < end)
        usleep(5000);
    info in = get_info(c);
    CHECK(in.stats.failures >= 1);
    CHECK(strstr(in.last_error, "ApiVersions v3 (correlation id 0) got no response within 500 ms") !=
          NULL);
    CHECK(!in.ready);
    on_reactor(do_close, c);
    usleep(50000);
    CHECK_EQ_I64(atomic_load(&out[0].calls), 1);
    peer_stop(&pr);
}

/* First connection misbehaves, the second is fine: the request sent at
 * the start waits and succeeds once. */
static void test_bad_then_good(enum peer_mode bad, const char *want_error)
{
    peer pr;
    enum peer_mode s[] = { bad, P_OK };
    peer_start(&pr, s, 2);
    reset_outcomes();
    client_options o;
    client_options_init(&o);
    o.request_timeout_ms = 5000;
    client *c = new_client(pr.port, &o);
    CHECK_EQ_I64(send_metadata(c, 0), 0);
    CHECK(wait_calls(0, 1, 6000));
    CHECK_EQ_I64(out[0].status, CLIENT_OK);
    CHECK_EQ_I64(out[0].body_len, 0);
    info in = get_info(c);
    CHECK(in.ready);
    CHECK_EQ_I64(in.stats.failures, 1);
    CHECK_EQ_I64(in.stats.ready, 1);
    CHECK_EQ_I64(atomic_load(&pr.accepted), 2);
    if (!strstr(in.last_error, want_error))
        fprintf(stderr, "last error: %s\n", in.last_error);
    CHECK(strstr(in.last_error, want_error) != NULL);
    on_reactor(do_close, c);
    usleep(20000);
    CHECK_EQ_I64(atomic_load(&out[0].calls), 1);
    peer_stop(&pr);
}

static void test_api_versions_fallback(enum peer_mode mode, int16_t want)
{
    peer pr;
    enum peer_mode s[] = { mode };
    peer_start(&pr, s, 1);
    reset_outcomes();
    client *c = new_client(pr.port, NULL);
    CHECK(wait_ready(c, true, 5000));
    info in = get_info(c);
    CHECK_EQ_I64(in.stats.api_versions_version, want);
    CHECK_EQ_I64(in.versions[0], 12);
    CHECK_EQ_I64(in.stats.failures, 0);
    CHECK_EQ_I64(atomic_load(&pr.n_av), 2);
    CHECK_EQ_I64(atomic_load(&pr.av_versions[0]), 3);
    CHECK_EQ_I64(atomic_load(&pr.av_versions[1]), want);
    CHECK_EQ_I64(send_metadata(c, 0), 0);
    CHECK(wait_calls(0, 1, 5000));
    CHECK_EQ_I64(out[0].status, CLIENT_OK);
    on_reactor(do_close, c);
    peer_stop(&pr);
}

typedef struct qfull {
    client *c;
    int rcs[4];
} qfull;

static void do_queue_full(void *arg)
{
    qfull *q = arg;
    kp_metadata_req md;
    kp_metadata_req_init(&md);
    for (int i = 0; i < 4; i++) {
        out[i].sent_ms = clock_mono_ms();
        q->rcs[i] = client_send_msg(q->c, KP_API_METADATA, 12, &md, on_response, &out[i]);
    }
    client_close(q->c); /* the three queued fail now, once */
    q->rcs[3] = q->rcs[3] * 100 + atomic_load(&completions);
    /* and a closed client refuses */
}

static void test_queue_full_and_close(void)
{
    reset_outcomes();
    client_options o;
    client_options_init(&o);
    o.max_queued = 3;
    int port = free_port(); /* nothing listens there */
    qfull q = { new_client(port, &o), { 0 } };
    on_reactor(do_queue_full, &q);
    CHECK_EQ_I64(q.rcs[0], 0);
    CHECK_EQ_I64(q.rcs[1], 0);
    CHECK_EQ_I64(q.rcs[2], 0);
    CHECK_EQ_I64(q.rcs[3], CLIENT_ERR_QUEUE_FULL * 100 + 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_I64(atomic_load(&out[i].calls), 1);
        CHECK_EQ_I64(out[i].status, CLIENT_ERR_CLOSED);
    }
    CHECK_EQ_I64(atomic_load(&out[3].calls), 0);
}

static void do_send_8(void *arg)
{
    qfull *q = arg;
    kp_metadata_req md;
    kp_metadata_req_init(&md);
    md.topics_n = -1;
    for (int i = 0; i < 8; i++) {
        int rc = client_send_msg(q->c, KP_API_METADATA, 12, &md, on_response, &out[i]);
        q->rcs[i % 4] |= rc;
    }
}

/* fail_unsent_on_failure (the transaction marker channel's connections):
 * requests not yet written fail with DISCONNECTED as soon as a connect is
 * refused, as Kafka's InterBrokerSendThread fails them; without it they
 * wait for the next connection until their deadline. */
static void test_fail_unsent(void)
{
    reset_outcomes();
    int port = free_port(); /* nothing listens there */
    client_options o;
    client_options_init(&o);
    o.request_timeout_ms = 10000;
    client *waits = new_client(port, &o);
    o.fail_unsent_on_failure = true;
    client *fails = new_client(port, &o);
    CHECK_EQ_I64(send_metadata(waits, 0), 0);
    CHECK_EQ_I64(send_metadata(fails, 1), 0);
    CHECK_EQ_I64(send_metadata(fails, 2), 0);
    CHECK(wait_calls(1, 3, 3000));
    for (int i = 1; i < 3; i++) {
        CHECK_EQ_I64(atomic_load(&out[i].calls), 1);
        CHECK_EQ_I64(out[i].status, CLIENT_ERR_DISCONNECTED);
        CHECK(out[i].done_ms - out[i].sent_ms < 3000);
        if (!strstr(out[i].reason, "(not sent)") || !strstr(out[i].reason, "connect"))
            fprintf(stderr, "reason: %s\n", out[i].reason);
        CHECK(strstr(out[i].reason, "(not sent)") != NULL);
        CHECK(strstr(out[i].reason, "connect") != NULL);
    }
    /* sent after the failure: failed at the next refused connect */
    CHECK_EQ_I64(send_metadata(fails, 3), 0);
    CHECK(wait_calls(3, 4, 3000));
    CHECK_EQ_I64(out[3].status, CLIENT_ERR_DISCONNECTED);
    info in = get_info(fails);
    CHECK(!in.ready && in.stats.failures >= 2);
    /* the default: still waiting for a connection */
    CHECK_EQ_I64(atomic_load(&out[0].calls), 0);
    on_reactor(do_close, waits);
    on_reactor(do_close, fails);
    CHECK(wait_calls(0, 1, 3000));
    CHECK_EQ_I64(out[0].status, CLIENT_ERR_CLOSED);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_I64(atomic_load(&out[i].calls), 1);
}

/* A listener that never accepts, its backlog full: the next connect gets
 * no SYN-ACK and times out (socket.connection.setup.timeout.ms). */
static void test_connect_timeout(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 0) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) != 0) {
        perror("listener");
        exit(2);
    }
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int rc = connect(fill[i], (struct sockaddr *)&a, sizeof(a));
        (void)rc;
    }
    usleep(100000);
    reset_outcomes();
    client_options o;
    client_options_init(&o);
    o.connect_timeout_ms = 300;
    o.request_timeout_ms = 5000;
    client *c = new_client(ntohs(a.sin_port), &o);
    int64_t end = clock_mono_ms() + 5000;
    while (get_info(c).stats.failures < 1 && clock_mono_ms() < end)
        usleep(5000);
    info in = get_info(c);
    CHECK(in.stats.failures >= 1);
    if (!strstr(in.last_error, "connect timed out after 300 ms"))
        fprintf(stderr, "last error: %s\n", in.last_error);
    CHECK(strstr(in.last_error, "connect timed out after 300 ms") != NULL);
    CHECK(!in.ready);
    on_reactor(do_close, c);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

static void test_close_in_callback(void)
{
    peer pr;
    enum peer_mode s[] = { P_OK };
    peer_start(&pr, s, 1);
    reset_outcomes();
    client *c = new_client(pr.port, NULL);
    CHECK(wait_ready(c, true, 5000));
    close_in_callback = c;
    /* 5 in flight, 3 waiting, sent at once (in one reactor turn, before
     * any answer): the first answer closes the client. */
    qfull q = { c, { 0 } };
    on_reactor(do_send_8, &q);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_I64(q.rcs[i], 0);
    CHECK(wait_calls(0, 8, 5000));
    CHECK_EQ_I64(out[0].status, CLIENT_OK);
    for (int i = 1; i < 8; i++)
        CHECK_EQ_I64(out[i].status, CLIENT_ERR_CLOSED);
    usleep(100000);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_I64(atomic_load(&out[i].calls), 1);
    peer_stop(&pr);
}

/* Against any running broker: what the client needs of the Kafka protocol. */
static void test_interop(const char *host, int port)
{
    reset_outcomes();
    client_options o;
    client_options_init(&o);
    o.request_timeout_ms = 20000;
    client *c = client_new(R, host, port, "gregor-test-client", &o);
    CHECK(c != NULL);
    if (!c)
        return;
    if (!wait_ready(c, true, 30000)) {
        CHECK(!"ready within 30 s");
        fprintf(stderr, "last error: %s\n", get_info(c).last_error);
        on_reactor(do_close, c);
        return;
    }
    info in = get_info(c);
    CHECK_EQ_I64(in.stats.api_versions_version, 3);
    CHECK_EQ_I64(in.versions[0], 13);  /* Metadata: Gregor and Kafka 4.4 serve 13 */
    CHECK_EQ_I64(in.versions[1], 18);  /* Fetch: both 18 */
    CHECK_EQ_I64(in.versions[2], -1);  /* Vote: controllers only */
    printf("interop %s:%d: Metadata v%d, Fetch v%d, ApiVersions v%d\n", host, port,
           in.versions[0], in.versions[1], in.stats.api_versions_version);

    kp_api_versions_req av;
    kp_api_versions_req_init(&av);
    av.client_software_name = kp_str_c("gregor-test");
    av.client_software_version = kp_str_c("1");
    CHECK_EQ_I64(send_msg(c, KP_API_API_VERSIONS, 3, &av, 0), 0);
    CHECK_EQ_I64(send_metadata(c, 1), 0);
    kp_vote_req vote;
    kp_vote_req_init(&vote);
    CHECK_EQ_I64(send_msg(c, KP_API_VOTE, 1, &vote, 2), 0);
    CHECK(wait_calls(0, 3, 20000));
    CHECK_EQ_I64(out[0].status, CLIENT_OK);
    CHECK_EQ_I64(out[1].status, CLIENT_OK);
    CHECK_EQ_I64(out[2].status, CLIENT_ERR_UNSUPPORTED);
    arena a;
    arena_init(&a, 1 << 22);
    kp_api_versions_resp avr;
    CHECK_EQ_I64(decode_body(0, kp_api_find(KP_API_API_VERSIONS), 3, &a, &avr), 0);
    CHECK_EQ_I64(avr.error_code, 0);
    CHECK(avr.api_keys_n >= 20);
    kp_metadata_resp mr;
    CHECK_EQ_I64(decode_body(1, kp_api_find(KP_API_METADATA), 12, &a, &mr), 0);
    CHECK(mr.brokers_n >= 1);
    bool listed = false;
    for (int32_t i = 0; i < mr.brokers_n; i++)
        listed = listed || mr.brokers[i].port == port;
    CHECK(listed);
    CHECK(mr.cluster_id.len > 0);
    arena_deinit(&a);

    reset_outcomes();
    for (int i = 0; i < 20; i++)
        CHECK_EQ_I64(send_metadata(c, i), 0);
    CHECK(wait_calls(0, 20, 20000));
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_I64(out[i].status, CLIENT_OK);
        CHECK_EQ_I64(out[i].order, i);
    }
    CHECK_EQ_I64(get_info(c).stats.failures, 0);
    on_reactor(do_close, c);
    usleep(20000);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_I64(atomic_load(&out[i].calls), 1);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "--bootstrap") == 0) {
        char host[256];
        int port = 0;
        const char *colon = strrchr(argv[2], ':');
        if (!colon || colon - argv[2] >= (long)sizeof(host) || (port = atoi(colon + 1)) <= 0) {
            fprintf(stderr, "usage: test_client [--bootstrap HOST:PORT]\n");
            return 2;
        }
        memcpy(host, argv[2], (size_t)(colon - argv[2]));
        host[colon - argv[2]] = 0;
        R = reactor_new(0);
        reactor_start(R);
        test_interop(host, port);
        reactor_stop_join(R);
        reactor_free(R);
        TEST_REPORT();
    }
    char self[PATH_MAX];
    snprintf(self, sizeof(self), "%s", argv[0]);
    /* $(O)/tests/test_client -> $(O)/gregor */
    snprintf(gregor_bin, sizeof(gregor_bin), "%s/../gregor", dirname(self));
    if (access(gregor_bin, X_OK) != 0) {
        fprintf(stderr, "test_client: %s not found: build the server first (make O=...)\n",
                gregor_bin);
        return 1;
    }
    snprintf(server_dir, sizeof(server_dir), "/tmp/gregor-test-client-%d", (int)getpid());
    mkdir(server_dir, 0755);
    atexit(at_exit_kill);
    R = reactor_new(0);
    reactor_start(R);

    test_silent_peer();
    test_bad_then_good(P_GARBAGE, "bad response frame size -1 (4 to 104857600): not a Kafka response");
    test_bad_then_good(P_WRONG_CORR, "response correlation id 1000, expected 0");
    test_api_versions_fallback(P_AV_OLD, 2);
    test_api_versions_fallback(P_AV_ANCIENT, 0);
    test_queue_full_and_close();
    test_close_in_callback();
    test_connect_timeout();
    test_fail_unsent();
    test_real_server();

    reactor_stop_join(R);
    reactor_free(R);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", server_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", server_dir);
    TEST_REPORT();
}
