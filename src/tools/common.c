/*
 * common.c - what every `gregor` tool shares (see common.h): the common
 * options, librdkafka configuration with its log noise silenced, the bounded
 * reachability check, aligned tables, JSON strings, Ctrl-C, and one raw
 * request over a plain socket for what librdkafka 2.0 cannot ask.
 *
 * Threads: everything runs on the tool's main thread except the librdkafka
 * callbacks (log_cb on librdkafka's threads; error_cb from rd_kafka_poll or
 * librdkafka's background thread), which only touch the last-error buffer
 * under its mutex.
 */
#include "base/clock.h"
#include "tools/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kafka_msgs.h"
#include "proto/codec.h"

#define TOOL_RESP_BYTES_MAX (64 * 1024 * 1024) /* bound on a raw response frame */
#define TOOL_TABLE_COLS_MAX 64

volatile sig_atomic_t tool_stop;

static const char *tool_cmd_name = "gregor";
static pthread_mutex_t tool_err_lock = PTHREAD_MUTEX_INITIALIZER;
static char tool_err_last[512];
static bool tool_log_debug; /* "debug" was set: let librdkafka's log through */

void tool_set_cmd(const char *cmd)
{
    if (cmd && *cmd)
        tool_cmd_name = cmd;
}

const char *tool_cmd(void)
{
    return tool_cmd_name;
}

void tool_err(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one line, whatever the broker or librdkafka put in the message */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (cmd && strcmp(cmd, "gregor") != 0)
        fprintf(stderr, "gregor %s: %s\n", cmd, msg);
    else
        fprintf(stderr, "gregor: %s\n", msg);
}

/* ---- options ---- */

void tool_opts_init(tool_opts *o)
{
    memset(o, 0, sizeof *o);
    o->bootstrap = "localhost:9092";
    o->command_config = NULL;
    o->timeout_ms = 10000;
    o->json = false;
}

int tool_parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Does argv[i] name option `name`, as "--name" or "--name=value"? */
bool tool_opt_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

const char *tool_arg_value(int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    if (arg[0] == '-' && eq)
        return eq + 1;
    if (*i + 1 >= argc) {
        tool_err(tool_cmd_name, "option %s needs a value", arg);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

int tool_opts_parse(tool_opts *o, int argc, char **argv, int *i)
{
    if (argc > 0 && argv[0])
        tool_set_cmd(argv[0]);
    const char *arg = argv[*i];
    const char *v;
    if (tool_opt_is(arg, "--bootstrap-server") || tool_opt_is(arg, "--bootstrap-servers") ||
        tool_opt_is(arg, "--broker-list")) {
        if (!(v = tool_arg_value(argc, argv, i)))
            return -1;
        if (!*v) {
            tool_err(tool_cmd_name, "--bootstrap-server needs HOST:PORT");
            return -1;
        }
        o->bootstrap = v;
        return 1;
    }
    if (tool_opt_is(arg, "--command-config")) {
        if (!(v = tool_arg_value(argc, argv, i)))
            return -1;
        o->command_config = v;
        return 1;
    }
    if (tool_opt_is(arg, "--timeout-ms")) {
        int64_t n;
        if (!(v = tool_arg_value(argc, argv, i)))
            return -1;
        if (tool_parse_int64(v, &n) < 0 || n < 1 || n > INT_MAX) {
            tool_err(tool_cmd_name, "%s: not a positive number of milliseconds: %s", arg, v);
            return -1;
        }
        o->timeout_ms = (int)n;
        return 1;
    }
    if (tool_opt_is(arg, "--output")) {
        if (!(v = tool_arg_value(argc, argv, i)))
            return -1;
        if (strcmp(v, "json") == 0)
            o->json = true;
        else if (strcmp(v, "table") == 0 || strcmp(v, "text") == 0)
            o->json = false;
        else {
            tool_err(tool_cmd_name, "--output must be table or json, not %s", v);
            return -1;
        }
        return 1;
    }
    if (strcmp(arg, "--json") == 0) {
        o->json = true;
        return 1;
    }
    return 0;
}

/* ---- librdkafka configuration ---- */

static void tool_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= LOG_CRIT || tool_log_debug)
        fprintf(stderr, "%%%d|%s| %s\n", level, fac, buf);
}

static void tool_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    pthread_mutex_lock(&tool_err_lock);
    snprintf(tool_err_last, sizeof tool_err_last, "%s",
             reason && *reason ? reason : rd_kafka_err2str((rd_kafka_resp_err_t)err));
    pthread_mutex_unlock(&tool_err_lock);
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        tool_stop = 1;
}

const char *tool_last_error(void)
{
    static char copy[sizeof tool_err_last];
    pthread_mutex_lock(&tool_err_lock);
    memcpy(copy, tool_err_last, sizeof copy);
    pthread_mutex_unlock(&tool_err_lock);
    return copy;
}

int tool_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        tool_err(tool_cmd_name, "client property %s=%s: %s", key, value, errstr);
        return -1;
    }
    if (strcmp(key, "debug") == 0 && *value)
        tool_log_debug = true;
    return 0;
}

/* Java client properties that mean nothing to librdkafka; skipped so a
 * command-config written for kafka-*.sh works unchanged. */
static bool tool_prop_java_only(const char *key)
{
    static const char *const keys[] = {
        "key.serializer", "value.serializer", "key.deserializer", "value.deserializer",
        "default.api.timeout.ms", "retry.backoff.max.ms", "interceptor.classes",
        "metric.reporters", "sasl.jaas.config", "sasl.login.callback.handler.class",
        "sasl.client.callback.handler.class", "ssl.truststore.type", "ssl.keystore.type",
        "ssl.truststore.location", "ssl.truststore.password", "ssl.keystore.location",
        "ssl.keystore.password", "ssl.key.password", "ssl.protocol",
        "ssl.enabled.protocols", NULL,
    };
    for (int k = 0; keys[k]; k++)
        if (strcmp(key, keys[k]) == 0)
            return true;
    return false;
}

static char *tool_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int tool_conf_apply(rd_kafka_conf_t *conf, const char *key, const char *value, const char *where)
{
    if (tool_prop_java_only(key))
        return 0;
    char errstr[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr);
    if (res == RD_KAFKA_CONF_UNKNOWN) {
        fprintf(stderr, "gregor %s: warning: %s: ignoring unknown property %s\n", tool_cmd_name, where, key);
        return 0;
    }
    if (res != RD_KAFKA_CONF_OK) {
        tool_err(tool_cmd_name, "%s: %s=%s: %s", where, key, value, errstr);
        return -1;
    }
    if (strcmp(key, "debug") == 0 && *value)
        tool_log_debug = true;
    return 0;
}

int tool_conf_apply_kv(rd_kafka_conf_t *conf, const char *kv, const char *flag)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", kv);
    char *eq = strchr(buf, '=');
    if (!eq) {
        tool_err(tool_cmd_name, "%s %s: expected key=value", flag, kv);
        return -1;
    }
    *eq = '\0';
    return tool_conf_apply(conf, buf, eq + 1, flag);
}

int tool_conf_load_file(rd_kafka_conf_t *conf, const char *path, const char *flag)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        tool_err(tool_cmd_name, "%s %s: %s", flag, path, strerror(errno));
        return -1;
    }
    char line[8192], where[4200];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = tool_trim(line);
        if (!*s || *s == '#' || *s == '!')
            continue;
        size_t k = strcspn(s, "=:");
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (s[k] == '\0') {
            tool_err(tool_cmd_name, "%s: expected key=value", where);
            rc = -1;
            break;
        }
        s[k] = '\0';
        rc = tool_conf_apply(conf, tool_trim(s), tool_trim(s + k + 1), where);
    }
    fclose(f);
    return rc;
}

rd_kafka_conf_t *tool_conf_new(const tool_opts *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char ms[32], setup_ms[32];
    snprintf(ms, sizeof ms, "%d", o->timeout_ms < 10 ? 10 : o->timeout_ms);
    /* librdkafka refuses a connection-setup timeout under 1 s; a shorter
     * --timeout-ms still bounds the whole run through socket.timeout.ms. */
    snprintf(setup_ms, sizeof setup_ms, "%d", o->timeout_ms < 1000 ? 1000 : o->timeout_ms);
    rd_kafka_conf_set_log_cb(conf, tool_log_cb);
    rd_kafka_conf_set_error_cb(conf, tool_error_cb);
    if (tool_conf_set(conf, "bootstrap.servers", o->bootstrap) < 0 ||
        tool_conf_set(conf, "client.id", "gregor-tools") < 0 ||
        tool_conf_set(conf, "socket.timeout.ms", ms) < 0 ||
        tool_conf_set(conf, "socket.connection.setup.timeout.ms", setup_ms) < 0 ||
        tool_conf_set(conf, "log.connection.close", "false") < 0)
        goto out_fail;
    if (o->command_config && tool_conf_load_file(conf, o->command_config, "--command-config") < 0)
        goto out_fail;
    return conf;
out_fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *tool_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char errstr[512];
    if (!conf)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new consumes it only on success */
        tool_err(tool_cmd_name, "cannot create a client: %s", errstr);
        return NULL;
    }
    return rk;
}

int tool_check_reachable(rd_kafka_t *rk, const tool_opts *o)
{
    const struct rd_kafka_metadata *md = NULL;
    /* all_topics=0 with no topic: brokers only, never auto-creates */
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, o->timeout_ms);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
        return 0;
    }
    rd_kafka_poll(rk, 0); /* serve error_cb for the reason */
    const char *why = tool_last_error();
    tool_err(tool_cmd_name, "cannot reach the broker at %s within %d ms: %s", o->bootstrap,
             o->timeout_ms, *why ? why : rd_kafka_err2str(err));
    return 1;
}

/* ---- signals ---- */

static void tool_on_signal(int sig)
{
    (void)sig;
    tool_stop = 1;
}

void tool_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tool_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- aligned tables ---- */

struct tool_table {
    int ncols;
    char **cells;     /* rows * ncols, row 0 = headers; owned */
    int rows, cap;    /* rows includes the header row */
    char **pending;   /* the row being built with tool_table_addf; owned */
};

static char *tool_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fprintf(stderr, "gregor: out of memory\n");
        exit(1);
    }
    return d;
}

static void tool_table_push(tool_table *t, char **row)
{
    if (t->rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = realloc(t->cells, (size_t)t->cap * (size_t)t->ncols * sizeof(char *));
        if (!t->cells) {
            fprintf(stderr, "gregor: out of memory\n");
            exit(1);
        }
    }
    memcpy(&t->cells[(size_t)t->rows * (size_t)t->ncols], row, (size_t)t->ncols * sizeof(char *));
    t->rows++;
}

tool_table *tool_table_new(int ncols, const char *const *headers)
{
    if (ncols < 1 || ncols > TOOL_TABLE_COLS_MAX)
        abort();
    tool_table *t = calloc(1, sizeof *t);
    char *row[TOOL_TABLE_COLS_MAX];
    if (!t)
        abort();
    t->ncols = ncols;
    t->pending = calloc((size_t)ncols, sizeof(char *));
    if (!t->pending)
        abort();
    for (int c = 0; c < ncols; c++)
        row[c] = tool_strdup(headers ? headers[c] : "");
    tool_table_push(t, row);
    return t;
}

void tool_table_add(tool_table *t, const char *const *cells)
{
    char *row[TOOL_TABLE_COLS_MAX];
    for (int c = 0; c < t->ncols; c++)
        row[c] = tool_strdup(cells[c]);
    tool_table_push(t, row);
}

void tool_table_addf(tool_table *t, int col, const char *fmt, ...)
{
    if (col < 0 || col >= t->ncols)
        abort();
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s) {
        fprintf(stderr, "gregor: out of memory\n");
        exit(1);
    }
    free(t->pending[col]);
    t->pending[col] = s;
}

void tool_table_row_end(tool_table *t)
{
    char *row[TOOL_TABLE_COLS_MAX];
    for (int c = 0; c < t->ncols; c++) {
        row[c] = t->pending[c] ? t->pending[c] : tool_strdup("");
        t->pending[c] = NULL;
    }
    tool_table_push(t, row);
}

/* Display width: UTF-8 code points, not bytes. */
static int tool_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void tool_table_print(tool_table *t, FILE *f)
{
    int width[TOOL_TABLE_COLS_MAX] = { 0 };
    for (int r = 0; r < t->rows; r++)
        for (int c = 0; c < t->ncols; c++) {
            int w = tool_width(t->cells[(size_t)r * (size_t)t->ncols + (size_t)c]);
            if (w > width[c])
                width[c] = w;
        }
    for (int r = 0; r < t->rows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            if (c == t->ncols - 1) {
                fputs(s, f);
            } else {
                fputs(s, f);
                for (int pad = width[c] - tool_width(s) + 2; pad > 0; pad--)
                    fputc(' ', f);
            }
        }
        fputc('\n', f);
    }
}

void tool_table_free(tool_table *t)
{
    if (!t)
        return;
    for (size_t k = 0; k < (size_t)t->rows * (size_t)t->ncols; k++)
        free(t->cells[k]);
    for (int c = 0; c < t->ncols; c++)
        free(t->pending[c]);
    free(t->pending);
    free(t->cells);
    free(t);
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t tool_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void tool_json_strn(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            i++;
        } else if (c == '\n') { fputs("\\n", f); i++; }
        else if (c == '\r') { fputs("\\r", f); i++; }
        else if (c == '\t') { fputs("\\t", f); i++; }
        else if (c < 0x20 || c == 0x7F) { fprintf(f, "\\u%04x", c); i++; }
        else if (c < 0x80) { fputc(c, f); i++; }
        else {
            size_t len = tool_utf8_len(p + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", f);
                i++;
            } else {
                fwrite(p + i, 1, len, f);
                i += len;
            }
        }
    }
    fputc('"', f);
}

void tool_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    tool_json_strn(f, s, strlen(s));
}

/* ---- one raw request over a plain socket ---- */

static int tool_left_ms(int64_t deadline_ms)
{
    int64_t left = deadline_ms - clock_mono_ms();
    return left < 0 ? 0 : (int)left;
}

/* Split the first entry of a bootstrap list ("[PLAINTEXT://]host:port,...",
 * IPv6 as [::1]:9092) into host and port. */
static int tool_bootstrap_first(const char *list, char *host, size_t hostlen, char *port,
                                size_t portlen)
{
    char first[512];
    size_t n = strcspn(list, ",");
    if (n == 0 || n >= sizeof first)
        return -1;
    memcpy(first, list, n);
    first[n] = '\0';
    char *s = tool_trim(first);
    char *scheme = strstr(s, "://");
    if (scheme)
        s = scheme + 3;
    char *colon;
    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close)
            return -1;
        *close = '\0';
        snprintf(host, hostlen, "%s", s + 1);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(s, ':');
        if (colon)
            *colon = '\0';
        snprintf(host, hostlen, "%s", s);
    }
    snprintf(port, portlen, "%s", colon && colon[1] ? colon + 1 : "9092");
    return *host ? 0 : -1;
}

static int tool_connect(const tool_opts *o, int64_t deadline_ms, char *err, size_t errlen)
{
    char host[256], port[32];
    if (tool_bootstrap_first(o->bootstrap, host, sizeof host, port, sizeof port) < 0) {
        snprintf(err, errlen, "bad --bootstrap-server %s", o->bootstrap);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    snprintf(err, errlen, "cannot reach the broker at %s:%s", host, port);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            rc = poll(&pfd, 1, tool_left_ms(deadline_ms));
            if (rc == 0) {
                snprintf(err, errlen, "cannot reach the broker at %s:%s: connect timed out", host, port);
                rc = -1;
            } else if (rc > 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr) {
                    snprintf(err, errlen, "cannot reach the broker at %s:%s: %s", host, port,
                             strerror(soerr));
                    rc = -1;
                } else {
                    rc = 0;
                }
            }
        } else if (rc < 0) {
            snprintf(err, errlen, "cannot reach the broker at %s:%s: %s", host, port, strerror(errno));
        }
        if (rc == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int tool_io_all(int fd, void *buf, size_t len, bool writing, int64_t deadline_ms,
                       char *err, size_t errlen)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0 && !writing) {
            snprintf(err, errlen, "the broker closed the connection");
            return -1;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, errlen, "%s: %s", writing ? "send" : "receive", strerror(errno));
            return -1;
        }
        struct pollfd pfd = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
        int left = tool_left_ms(deadline_ms);
        if (left == 0 || poll(&pfd, 1, left) == 0) {
            snprintf(err, errlen, "no answer from the broker within the timeout");
            return -1;
        }
    }
    return 0;
}

int tool_raw_request(const tool_opts *o, int16_t api_key, int16_t version, void *req_struct,
                     void *resp_struct, arena *a, char *err, size_t errlen)
{
    const kp_api_info *api = kp_api_find(api_key);
    if (!api || version < api->min_version || version > api->max_version) {
        snprintf(err, errlen, "API %d v%d is not in our schema", api_key, version);
        return -1;
    }
    int64_t deadline_ms = clock_mono_ms() + o->timeout_ms;
    const int32_t correlation_id = 0x67726567; /* "greg" */
    int rc = -1;
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int32(&w, 0); /* frame length, patched below */
    kp_req_header h = { api_key, version, correlation_id, kp_str_c("gregor-tools") };
    kp_req_header_encode(&w, &h);
    api->req_encode(&w, version, req_struct);
    if (w.err || w.nchunks) {
        snprintf(err, errlen, "cannot encode the request: %s", kp_err_str(w.err));
        goto out_writer;
    }
    kp_writer_patch_int32(&w, 0, (int32_t)(w.len - 4));

    int fd = tool_connect(o, deadline_ms, err, errlen);
    if (fd < 0)
        goto out_writer;
    if (tool_io_all(fd, w.buf, w.len, true, deadline_ms, err, errlen) < 0)
        goto out_fd;
    uint8_t lenbuf[4];
    if (tool_io_all(fd, lenbuf, 4, false, deadline_ms, err, errlen) < 0)
        goto out_fd;
    int32_t frame_len = (int32_t)((uint32_t)lenbuf[0] << 24 | (uint32_t)lenbuf[1] << 16 |
                                  (uint32_t)lenbuf[2] << 8 | lenbuf[3]);
    if (frame_len < 4 || frame_len > TOOL_RESP_BYTES_MAX) {
        snprintf(err, errlen, "bad response frame length %d", frame_len);
        goto out_fd;
    }
    uint8_t *frame = arena_alloc(a, (size_t)frame_len);
    if (!frame) {
        snprintf(err, errlen, "response of %d bytes is over the memory limit", frame_len);
        goto out_fd;
    }
    if (tool_io_all(fd, frame, (size_t)frame_len, false, deadline_ms, err, errlen) < 0)
        goto out_fd;

    kp_reader r;
    kp_reader_init(&r, frame, (size_t)frame_len, a);
    int32_t got_id = 0;
    kp_resp_header_decode(&r, kp_resp_header_version(api_key, version), &got_id);
    if (r.err || got_id != correlation_id) {
        snprintf(err, errlen, "bad response header (correlation id %d)", got_id);
        goto out_fd;
    }
    api->resp_init(resp_struct);
    if (api->resp_decode(&r, version, resp_struct) != 0 || r.err) {
        snprintf(err, errlen, "cannot decode the %s v%d response: %s", api->name, version,
                 kp_err_str(r.err));
        goto out_fd;
    }
    rc = 0;
out_fd:
    close(fd);
out_writer:
    kp_writer_deinit(&w);
    return rc;
}

int tool_raw_request_at(const tool_opts *o, const char *host, int32_t port, int16_t api_key,
                        int16_t version, void *req_struct, void *resp_struct, arena *a,
                        char *err, size_t errlen)
{
    if (!host)
        return tool_raw_request(o, api_key, version, req_struct, resp_struct, a, err, errlen);
    /* the whole address, however long the advertised host */
    const char *fmt = strchr(host, ':') ? "[%s]:%d" : "%s:%d";
    int len = snprintf(NULL, 0, fmt, host, port);
    char *addr = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!addr) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(addr, (size_t)len + 1, fmt, host, port);
    tool_opts to = *o;
    to.bootstrap = addr;
    int rc = tool_raw_request(&to, api_key, version, req_struct, resp_struct, a, err, errlen);
    free(addr);
    return rc;
}

int tool_api_versions(const tool_opts *o, kp_api_versions_resp *av, arena *a)
{
    kp_api_versions_req req;
    char err[512];
    kp_api_versions_req_init(&req);
    req.client_software_name = kp_str_c("gregor-tools");
    req.client_software_version = kp_str_c("1.0");
    if (tool_raw_request(o, KP_API_API_VERSIONS, 3, &req, av, a, err, sizeof err) < 0) {
        tool_err(tool_cmd(), "%s", err);
        return -1;
    }
    if (av->error_code) {
        tool_err(tool_cmd(), "ApiVersions: %s", kerr_name(av->error_code));
        return -1;
    }
    return 0;
}

int tool_api_version(const kp_api_versions_resp *av, int16_t api_key, int16_t *out)
{
    const kp_api_info *api = kp_api_find(api_key);
    for (int32_t i = 0; api && i < av->api_keys_n; i++) {
        const kp_api_versions_resp_api_version *v = &av->api_keys[i];
        if (v->api_key != api_key)
            continue;
        int16_t hi = v->max_version < api->max_version ? v->max_version : api->max_version;
        int16_t lo = v->min_version > api->min_version ? v->min_version : api->min_version;
        if (hi < lo)
            return -1;
        *out = hi;
        return 0;
    }
    return -1;
}

int tool_api_version_or_err(const tool_opts *o, const kp_api_versions_resp *av, int16_t api_key,
                            int16_t *out)
{
    if (tool_api_version(av, api_key, out) == 0)
        return 0;
    const kp_api_info *api = kp_api_find(api_key);
    tool_err(tool_cmd(), "the broker at %s does not serve %s", o->bootstrap,
             api ? api->name : "this request");
    return -1;
}

/* ---- admin calls ---- */

rd_kafka_t *tool_admin_new(const tool_opts *o)
{
    rd_kafka_conf_t *conf = tool_conf_new(o);
    if (!conf)
        return NULL;
    rd_kafka_t *rk = tool_client_new(RD_KAFKA_PRODUCER, conf);
    if (!rk)
        return NULL;
    if (tool_check_reachable(rk, o) != 0) {
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

rd_kafka_AdminOptions_t *tool_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                            const tool_opts *o)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, op);
    if (!opts) {
        tool_err(tool_cmd_name, "cannot create admin options");
        return NULL;
    }
    if (rd_kafka_AdminOptions_set_request_timeout(opts, o->timeout_ms, errstr, sizeof errstr)) {
        tool_err(tool_cmd_name, "%s", errstr);
        rd_kafka_AdminOptions_destroy(opts);
        return NULL;
    }
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(opts, o->timeout_ms, errstr, sizeof errstr);
    return opts;
}

rd_kafka_event_t *tool_admin_wait(rd_kafka_queue_t *q, const tool_opts *o)
{
    int64_t deadline_ms = clock_mono_ms() + o->timeout_ms + 3000;
    while (!tool_stop) {
        int left = tool_left_ms(deadline_ms);
        if (left == 0) {
            tool_err(tool_cmd_name, "no answer from the broker at %s within %d ms", o->bootstrap,
                     o->timeout_ms);
            return NULL;
        }
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left < 100 ? left : 100);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR ||
            rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *why = rd_kafka_event_error_string(ev);
            if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT && *tool_last_error())
                why = tool_last_error();
            tool_err(tool_cmd_name, "%s", why ? why : rd_kafka_err2str(rd_kafka_event_error(ev)));
            rd_kafka_event_destroy(ev);
            return NULL;
        }
        return ev;
    }
    tool_err(tool_cmd_name, "interrupted");
    return NULL;
}

/* ---- Uuids ---- */

static const char tool_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void tool_uuid_str(const uint8_t b[16], char out[23])
{
    int bit = 0;
    for (int i = 0; i < 22; i++) {
        int v = 0;
        for (int k = 0; k < 6; k++, bit++)
            v = (v << 1) | (bit < 128 ? (b[bit / 8] >> (7 - bit % 8)) & 1 : 0);
        out[i] = tool_b64url[v];
    }
    out[22] = '\0';
}

int tool_uuid_parse(const char *s, uint8_t b[16])
{
    if (!s || strlen(s) != 22)
        return -1;
    memset(b, 0, 16);
    int bit = 0;
    for (int i = 0; i < 22; i++) {
        const char *p = strchr(tool_b64url, s[i]);
        if (!p || !s[i])
            return -1;
        int v = (int)(p - tool_b64url);
        for (int k = 5; k >= 0; k--, bit++) {
            int one = (v >> k) & 1;
            if (bit < 128)
                b[bit / 8] |= (uint8_t)(one << (7 - bit % 8));
            else if (one)
                return -1; /* the 4 padding bits must be zero */
        }
    }
    return 0;
}

int tool_uuid_random(uint8_t b[16])
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    for (int tries = 0; tries < 100; tries++) {
        if (read(fd, b, 16) != 16) {
            close(fd);
            return -1;
        }
        /* Kafka's Uuid.randomUuid: version 4 bits, and never the zero Uuid,
         * the metadata topic's id (1) or one printed with a leading '-' */
        b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
        b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
        char str[23];
        tool_uuid_str(b, str);
        if (str[0] != '-')
            break;
    }
    close(fd);
    return 0;
}
