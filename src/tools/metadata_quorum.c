/*
 * metadata_quorum.c - `gregor metadata-quorum`, the counterpart of
 * kafka-metadata-quorum.sh (org.apache.kafka.tools.MetadataQuorumCommand of
 * Apache Kafka 4.4.0):
 *
 *   (--bootstrap-server H:P | --bootstrap-controller H:P) [--command-config F]
 *       describe --status | --replication [--human-readable]
 *       add-controller [--dry-run]                     (refused, see below)
 *       remove-controller -i ID -d DIR [--dry-run] [--unregister]
 *
 * Output is Kafka's, byte for byte: --status's aligned "Key:   value" lines
 * with the voters and observers as JSON-ish lists, --replication's table of
 * ToolsUtils.prettyPrintTable (each cell padded to its column's width and
 * followed by a tab), "N ms ago" with --human-readable. Errors are Kafka's
 * too: the argument parser's usage and "kafka-metadata-quorum: error: ..."
 * lines (argparse4j's, wrapped and justified at 75 columns), the tool's own
 * sentences, and for a failed request the first line Kafka prints,
 * "org.apache.kafka.common.errors.<Exception>: <message>" (Kafka follows it
 * with a Java stack trace, which we do not imitate). Exit status 0 or 1.
 *
 * The requests are our own, over a plain socket, as Kafka's admin client
 * makes them: ApiVersions first (a node that does not list DescribeQuorum
 * gets Kafka's "The node does not support DESCRIBE_QUORUM"); with
 * --bootstrap-server, DescribeCluster for the cluster id and DescribeQuorum
 * to the bootstrap broker (which forwards it to the active controller); with
 * --bootstrap-controller, DescribeCluster with endpoint type 2 for the
 * controllers and the active one, then DescribeQuorum to the active
 * controller. A node that cannot be reached is tried again until
 * default.api.timeout.ms (60000, or from --command-config) has passed, then
 * Kafka's "Timed out waiting for a node assignment" is printed. The requests
 * use the generated codecs (tool_raw_request_at); tool_flexible_request, for
 * requests the schema lacks, is here for cluster.c's DescribeCluster v2.
 *
 * add-controller and remove-controller (KIP-853, AddRaftVoter and
 * RemoveRaftVoter) are parsed and checked as Kafka does; remove-controller
 * --dry-run prints Kafka's lines (it contacts no one); anything that would
 * change the voter set is refused: Gregor's quorum is static.
 * Main thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "kafka_msgs.h"
#include "tools/common.h"
#include "proto/kerrors.h"
#include "tools/tools.h"

#define PROG "kafka-metadata-quorum"
#define MQ_WIDTH 75                   /* argparse4j's format width */
#define MQ_ARENA_MAX (64u << 20)
#define MQ_FRAME_MAX (64 * 1024 * 1024)
#define MQ_DQ_MAX_VERSION 2
#define MQ_CLUSTER_METADATA "__cluster_metadata"

/* Errors.forCode(code).exception(message).toString() (kerrors.h). */
static void mq_exception_text(int16_t code, kp_str msg, char *buf, size_t len)
{
    kerr_exception(code, msg.len >= 0 ? msg.ptr : NULL, msg.len > 0 ? (size_t)msg.len : 0, buf, len);
}

/* ---- argparse4j's error output ---- */

/* Where java.text.BreakIterator.getLineInstance() allows a line break
 * before s[i] (0 < i < n), as far as command-line words need it: after a
 * run of spaces; after a run of dashes ("--" | "bootstrap-" | "controller")
 * unless a digit follows a sign ("-1"); after closing punctuation
 * (.,:;!?%)]}) unless more follows or a digit continues a number ("1.5");
 * never next to a quote. The JDK's rules have more cases (CJK, '"' at
 * either end of a word) that these messages do not meet. */
static int mq_cls(char c)
{
    if (c == ' ')
        return 'S';
    if (c == '-')
        return 'D';
    if (strchr("!%),.:;?]}", c))
        return 'P';
    if (strchr("([{$", c))
        return 'O';
    if (c == '\'' || c == '"')
        return 'Q';
    if (c >= '0' && c <= '9')
        return '9';
    return 'a';
}

static bool mq_break_before(const char *s, size_t i)
{
    if (s[i] == '\n')
        return false;
    int a = mq_cls(s[i - 1]), b = mq_cls(s[i]);
    if (b == 'S')
        return false;
    if (a == 'S')
        return true;
    if (a == 'Q' || b == 'Q' || a == 'O')
        return false;
    if (a == 'D') {
        if (b == 'D')
            return false;
        if (b == '9') {
            size_t j = i - 1;
            while (j > 0 && s[j] == '-')
                j--;
            if (s[j] == '-')
                return false; /* the dashes start the string: a sign */
            int c = mq_cls(s[j]);
            return c == 'a' || c == '9';
        }
        return true;
    }
    if (b == 'D')
        return a == 'P';
    if (a == 'P') {
        if (b == 'P')
            return false;
        if (b == '9' && (s[i - 1] == '.' || s[i - 1] == ',') && i >= 2 && mq_cls(s[i - 2]) == '9')
            return false;
        return true;
    }
    return b == 'O';
}

/* argparse4j's TextHelper.adjustSpace: trim the line, then widen its runs
 * of spaces (the middle ones first) until it is width columns wide. */
static void mq_put_justified(FILE *f, const char *line, size_t n, int width)
{
    while (n > 0 && line[0] == ' ')
        line++, n--;
    while (n > 0 && line[n - 1] == ' ')
        n--;
    int blocks = 0;
    for (size_t i = 0; i < n; i++)
        if (line[i] == ' ' && (i == 0 || line[i - 1] != ' '))
            blocks++;
    int need = width - (int)n;
    if (blocks == 0 || need <= 0) {
        fwrite(line, 1, n, f);
        return;
    }
    int each = need / blocks, rem = need % blocks;
    int rem_start = (blocks - rem + 1) / 2, rem_end = rem_start + rem;
    int b = 0;
    for (size_t i = 0; i < n; i++) {
        if (line[i] == ' ' && (i == 0 || line[i - 1] != ' ')) {
            int add = each + (rem_start <= b && b < rem_end ? 1 : 0);
            for (int k = 0; k < add; k++)
                fputc(' ', f);
            b++;
        }
        fputc(line[i], f);
    }
}

/* argparse4j's TextHelper.wrap(s, 75, 0, "", "") of s, which ends with its
 * newline (argparse4j wraps "%s: error: %s%n", the newline counted in the
 * last word's width). A word that does not fit ends the line, justified; a
 * word wider than a line gets an empty line before it, as in argparse4j. */
static void mq_put_wrapped(FILE *f, const char *s)
{
    size_t n = strlen(s), seg = 0, line = 0;
    int width = 0;
    while (seg < n) {
        size_t end = seg + 1;
        while (end < n && !mq_break_before(s, end))
            end++;
        int w = (int)(end - seg);
        width += w;
        if (width > MQ_WIDTH) {
            mq_put_justified(f, s + line, seg - line, MQ_WIDTH);
            fputc('\n', f);
            line = seg;
            width = w;
        }
        seg = end;
    }
    fwrite(s + line, 1, n - line, f);
}

static const char mq_usage_main[] =
    "usage: kafka-metadata-quorum [-h] [--command-config COMMAND_CONFIG]\n"
    "                             (--bootstrap-server BOOTSTRAP_SERVER |\n"
    "                             --bootstrap-controller BOOTSTRAP_CONTROLLER)\n"
    "                             {describe,add-controller,remove-controller}\n"
    "                             ...\n";

#define MQ_SUB_USAGE_HEAD                                                   \
    "usage: kafka-metadata-quorum (--bootstrap-server BOOTSTRAP_SERVER |\n" \
    "                             --bootstrap-controller BOOTSTRAP_CONTROLLER)\n"

static const char mq_usage_describe[] =
    MQ_SUB_USAGE_HEAD
    "                             describe [-h] [--status] [--replication]\n"
    "                             [--human-readable]\n";

static const char mq_usage_add[] =
    MQ_SUB_USAGE_HEAD
    "                             add-controller [-h] [--dry-run]\n";

static const char mq_usage_remove[] =
    MQ_SUB_USAGE_HEAD
    "                             remove-controller [-h]\n"
    "                             --controller-id CONTROLLER_ID\n"
    "                             --controller-directory-id CONTROLLER_DIRECTORY_ID\n"
    "                             [--dry-run] [--unregister]\n";

static const char mq_help_main[] =
    "\n"
    "This tool describes kraft metadata quorum status.\n"
    "\n"
    "positional arguments:\n"
    "  {describe,add-controller,remove-controller}\n"
    "    describe             Describe the metadata quorum info\n"
    "    add-controller       Add a controller to the KRaft controller cluster\n"
    "    remove-controller    Remove a  controller  from  the  KRaft  controller\n"
    "                         cluster\n"
    "\n"
    "optional arguments:\n"
    "  -h, --help             show this help message and exit\n"
    "  --bootstrap-server BOOTSTRAP_SERVER\n"
    "                         A comma-separated list of  host:port  pairs to use\n"
    "                         for  establishing  the  connection  to  the  Kafka\n"
    "                         cluster.\n"
    "  --bootstrap-controller BOOTSTRAP_CONTROLLER\n"
    "                         A comma-separated list of  host:port  pairs to use\n"
    "                         for  establishing  the  connection  to  the  Kafka\n"
    "                         controllers.\n"
    "  --command-config COMMAND_CONFIG\n"
    "                         Property file containing configs  to  be passed to\n"
    "                         Admin Client.  For  add-controller,  the  file  is\n"
    "                         used to specify the controller properties as well.\n";

static const char mq_help_describe[] =
    "\n"
    "optional arguments:\n"
    "  -h, --help             show this help message and exit\n"
    "\n"
    "Status:\n"
    "  --status               A short  summary  of  the  quorum  status  and the\n"
    "                         other  provides  detailed  information  about  the\n"
    "                         status of replication.\n"
    "\n"
    "Replication:\n"
    "  --replication          Detailed   information   about   the   status   of\n"
    "                         replication\n"
    "  --human-readable       Human-readable output\n";

static const char mq_help_add[] =
    "\n"
    "optional arguments:\n"
    "  -h, --help             show this help message and exit\n"
    "  --dry-run              True if we should  print  what  would be done, but\n"
    "                         not do it.\n";

static const char mq_help_remove[] =
    "\n"
    "optional arguments:\n"
    "  -h, --help             show this help message and exit\n"
    "  --controller-id CONTROLLER_ID, -i CONTROLLER_ID\n"
    "                         The id of the controller to remove.\n"
    "  --controller-directory-id CONTROLLER_DIRECTORY_ID, -d CONTROLLER_DIRECTORY_ID\n"
    "                         The directory ID of the controller to remove.\n"
    "  --dry-run              True if we should  print  what  would be done, but\n"
    "                         not do it.\n"
    "  --unregister           If  set,  also  unregister  the  controller  after\n"
    "                         successfully removing it from the voter set.\n";

/* The usage, then "kafka-metadata-quorum: error: <message>" wrapped as
 * argparse4j wraps it; exit status 1, as Kafka's tool returns. */
static int mq_arg_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int mq_arg_error(const char *usage, const char *fmt, ...)
{
    char msg[2048];
    int k = snprintf(msg, sizeof msg, PROG ": error: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k - 1, fmt, ap);
    va_end(ap);
    strcat(msg, "\n");
    fputs(usage, stderr);
    mq_put_wrapped(stderr, msg);
    return 1;
}

/* argparse4j's Damerau-Levenshtein distance from a to b with git's costs
 * (help.c): swap 0, substitution 2, insertion 1, deletion 4. */
static int mq_levenshtein(const char *a, const char *b)
{
    enum { SWAP = 0, SUB = 2, ADD = 1, DEL = 4, MAXLEN = 256 };
    size_t alen = strlen(a), blen = strlen(b);
    if (alen >= MAXLEN || blen >= MAXLEN)
        return 1 << 20;
    int rows[3][MAXLEN + 1];
    int *d0 = rows[0], *d1 = rows[1], *d2 = rows[2];
    for (size_t j = 0; j <= blen; j++)
        d1[j] = (int)j;
    for (size_t i = 1; i <= alen; i++) {
        d0[0] = (int)i;
        for (size_t j = 1; j <= blen; j++) {
            d0[j] = d1[j - 1] + (a[i - 1] == b[j - 1] ? 0 : SUB);
            if (i >= 2 && j >= 2 && a[i - 1] != b[j - 1] && a[i - 2] == b[j - 1] && a[i - 1] == b[j - 2]) {
                int v = d2[j - 2] + SWAP;
                if (v < d0[j])
                    d0[j] = v;
            }
            int v = d1[j] + DEL < d0[j - 1] + ADD ? d1[j] + DEL : d0[j - 1] + ADD;
            if (v < d0[j])
                d0[j] = v;
        }
        int *t = d2;
        d2 = d1;
        d1 = d0;
        d0 = t;
    }
    return d1[blen];
}

/* argparse4j's "Did you mean:" after an unknown flag or command: the
 * subjects (flags, or command names) whose body starts with body (0) or is
 * nearest to it, all those at the least distance, in string order; nothing
 * when the least distance is 7 or more. */
static void mq_did_you_mean(const char *body, const char *const *subjects, int n)
{
    int dist[16];
    int best = 1 << 30;
    for (int k = 0; k < n && k < 16; k++) {
        const char *sb = subjects[k];
        while (*sb == '-')
            sb++;
        dist[k] = strncmp(sb, body, strlen(body)) == 0 ? 0 : mq_levenshtein(body, sb);
        if (dist[k] < best)
            best = dist[k];
    }
    if (n == 0 || best >= 7)
        return;
    fputs("\nDid you mean:\n", stderr);
    const char *last = NULL;
    for (;;) { /* the subjects at the least distance, in string order */
        const char *next = NULL;
        for (int k = 0; k < n && k < 16; k++)
            if (dist[k] == best && (!last || strcmp(subjects[k], last) > 0) &&
                (!next || strcmp(subjects[k], next) < 0))
                next = subjects[k];
        if (!next)
            break;
        fprintf(stderr, "\t%s\n", next);
        last = next;
    }
}

/* The tool's own one-line errors (Kafka's TerseException): exit status 1. */
static int mq_terse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int mq_terse(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* ---- the command line, parsed as argparse4j parses Kafka's ---- */

enum mq_command { MQ_NONE, MQ_DESCRIBE, MQ_ADD, MQ_REMOVE };

typedef struct mq_args {
    const char *bootstrap_server;
    const char *bootstrap_controller;
    const char *command_config;
    int command;
    bool status, replication, human_readable, dry_run, unregister;
    const char *controller_id;           /* remove-controller -i, as given */
    const char *controller_directory_id; /* remove-controller -d */
} mq_args;

typedef struct mq_opt {
    const char *name;  /* long form */
    const char *alias; /* short form or NULL */
    const char *shown; /* how argparse4j names it in messages */
    bool takes_value;
} mq_opt;

enum mq_parse_rc { MQ_PARSED = -1, MQ_HELP_SHOWN = 0 };

/* A word that argparse4j takes for an option rather than a value: it starts
 * with '-', and is neither "-" nor a negative number ("-1", "-2.5", "-.5"). */
static bool mq_is_flag(const char *w)
{
    if (w[0] != '-' || w[1] == '\0')
        return false;
    /* argparse4j's negative number: -\d+ or -\d*\.\d+ */
    const char *p = w + 1;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '\0')
        return false;
    if (*p != '.' || !p[1])
        return true;
    for (p++; *p; p++)
        if (*p < '0' || *p > '9')
            return true;
    return false;
}

/* argv[*i] among opts: exact, "--name=value", or a unique prefix of a long
 * name. Returns the index, or -1 after printing the error (usage): unknown
 * option, ambiguous prefix, missing value. *value gets the value. */
static int mq_match(const mq_opt *opts, int nopts, const char *usage, int argc, char **argv,
                    int *i, const char **value, int *rc)
{
    const char *arg = argv[*i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int found = -1;
    for (int k = 0; k < nopts; k++)
        if ((strlen(opts[k].name) == len && strncmp(opts[k].name, arg, len) == 0) ||
            (opts[k].alias && strcmp(opts[k].alias, arg) == 0))
            found = k;
    if (found < 0 && strncmp(arg, "--", 2) == 0 && len > 2) {
        /* a prefix: unique, or "ambiguous option" naming the candidates in
         * alphabetical order, as argparse4j does */
        const char *cands[8];
        int nc = 0;
        for (int k = 0; k < nopts; k++)
            if (strncmp(opts[k].name, arg, len) == 0 && nc < 8)
                cands[nc++] = opts[k].name, found = k;
        if (nc > 1) {
            for (int x = 0; x < nc; x++)
                for (int y = x + 1; y < nc; y++)
                    if (strcmp(cands[y], cands[x]) < 0) {
                        const char *t = cands[x];
                        cands[x] = cands[y];
                        cands[y] = t;
                    }
            char list[512] = "";
            for (int x = 0; x < nc; x++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", x ? ", " : "", cands[x]);
            *rc = mq_arg_error(usage, "ambiguous option: %.*s could match %s", (int)len, arg, list);
            return -1;
        }
    }
    if (found < 0) {
        *rc = mq_arg_error(usage, "unrecognized arguments: '%s'", arg);
        const char *body = arg;
        while (*body == '-')
            body++;
        if (strlen(body) >= 2) {
            const char *flags[16];
            int nf = 0;
            for (int k = 0; k < nopts && nf < 16; k++)
                flags[nf++] = opts[k].name; /* the short forms have one-letter bodies */
            mq_did_you_mean(body, flags, nf);
        }
        return -1;
    }
    *value = NULL;
    if (opts[found].takes_value) {
        if (eq) {
            *value = eq + 1;
        } else if (*i + 1 < argc && !mq_is_flag(argv[*i + 1])) {
            *value = argv[++*i];
        } else {
            *rc = mq_arg_error(usage, "argument %s: expected one argument", opts[found].shown);
            return -1;
        }
    } else if (eq) {
        *rc = mq_arg_error(usage, "argument %s: ignore implicit argument '%s'", opts[found].shown, eq + 1);
        return -1;
    }
    return found;
}

/* Everything after the subcommand word. */
static int mq_parse_sub(mq_args *a, int argc, char **argv, int i)
{
    static const mq_opt describe_opts[] = {
        { "--help", "-h", "-h/--help", false },
        { "--status", NULL, "--status", false },
        { "--replication", NULL, "--replication", false },
        { "--human-readable", NULL, "--human-readable", false },
    };
    static const mq_opt add_opts[] = {
        { "--help", "-h", "-h/--help", false },
        { "--dry-run", NULL, "--dry-run", false },
    };
    static const mq_opt remove_opts[] = {
        { "--help", "-h", "-h/--help", false },
        { "--controller-id", "-i", "--controller-id/-i", true },
        { "--controller-directory-id", "-d", "--controller-directory-id/-d", true },
        { "--dry-run", NULL, "--dry-run", false },
        { "--unregister", NULL, "--unregister", false },
    };
    const mq_opt *opts;
    int nopts;
    const char *usage, *help;
    if (a->command == MQ_DESCRIBE)
        opts = describe_opts, nopts = 4, usage = mq_usage_describe, help = mq_help_describe;
    else if (a->command == MQ_ADD)
        opts = add_opts, nopts = 2, usage = mq_usage_add, help = mq_help_add;
    else
        opts = remove_opts, nopts = 5, usage = mq_usage_remove, help = mq_help_remove;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (!mq_is_flag(arg)) {
            /* no positional arguments here: this one and all after it */
            char rest[2048] = "";
            for (int k = i; k < argc; k++)
                snprintf(rest + strlen(rest), sizeof rest - strlen(rest), "%s%s", k > i ? " " : "", argv[k]);
            return mq_arg_error(usage, "unrecognized arguments: '%s'", rest);
        }
        const char *v;
        int rc = 1;
        int k = mq_match(opts, nopts, usage, argc, argv, &i, &v, &rc);
        if (k < 0)
            return rc;
        const char *name = opts[k].name;
        if (strcmp(name, "--help") == 0) {
            fputs(usage, stdout);
            fputs(help, stdout);
            return MQ_HELP_SHOWN;
        } else if (strcmp(name, "--status") == 0) {
            a->status = true;
        } else if (strcmp(name, "--replication") == 0) {
            a->replication = true;
        } else if (strcmp(name, "--human-readable") == 0) {
            a->human_readable = true;
        } else if (strcmp(name, "--dry-run") == 0) {
            a->dry_run = true;
        } else if (strcmp(name, "--unregister") == 0) {
            a->unregister = true;
        } else if (strcmp(name, "--controller-id") == 0) {
            int64_t id;
            if (tool_parse_int64(v, &id) < 0 || id < INT32_MIN || id > INT32_MAX)
                return mq_arg_error(usage, "argument --controller-id/-i: could not convert '%s' to Integer "
                                           "(For input string: \"%s\")", v, v);
            a->controller_id = v;
        } else if (strcmp(name, "--controller-directory-id") == 0) {
            a->controller_directory_id = v;
        }
    }
    if (a->command == MQ_REMOVE) {
        /* argparse4j reports the last missing required argument */
        if (!a->controller_directory_id)
            return mq_arg_error(usage, "argument --controller-directory-id/-d is required");
        if (!a->controller_id)
            return mq_arg_error(usage, "argument --controller-id/-i is required");
    }
    return MQ_PARSED;
}

static int mq_parse(mq_args *a, int argc, char **argv)
{
    static const mq_opt main_opts[] = {
        { "--help", "-h", "-h/--help", false },
        { "--bootstrap-server", NULL, "--bootstrap-server", true },
        { "--bootstrap-controller", NULL, "--bootstrap-controller", true },
        { "--command-config", NULL, "--command-config", true },
    };
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!mq_is_flag(arg)) {
            /* the command, or a unique prefix of one (argparse4j's
             * abbreviations; the three have no common prefix) */
            static const char *const cmds[] = { "describe", "add-controller", "remove-controller" };
            size_t len = strlen(arg);
            for (int k = 0; k < 3 && len > 0; k++)
                if (strncmp(cmds[k], arg, len) == 0)
                    a->command = k == 0 ? MQ_DESCRIBE : k == 1 ? MQ_ADD : MQ_REMOVE;
            if (a->command == MQ_NONE) {
                int rc = mq_arg_error(mq_usage_main, "invalid choice: '%s' (choose from 'describe', "
                                                     "'add-controller', 'remove-controller')", arg);
                mq_did_you_mean(arg, cmds, 3);
                return rc;
            }
            int rc = mq_parse_sub(a, argc, argv, i + 1);
            if (rc != MQ_PARSED)
                return rc;
            break;
        }
        const char *v;
        int rc = 1;
        int k = mq_match(main_opts, 4, mq_usage_main, argc, argv, &i, &v, &rc);
        if (k < 0)
            return rc;
        if (k == 0) {
            fputs(mq_usage_main, stdout);
            fputs(mq_help_main, stdout);
            return MQ_HELP_SHOWN;
        } else if (k == 1) {
            if (a->bootstrap_controller)
                return mq_arg_error(mq_usage_main, "argument --bootstrap-server: not allowed with argument "
                                                   "--bootstrap-controller");
            a->bootstrap_server = v;
        } else if (k == 2) {
            if (a->bootstrap_server)
                return mq_arg_error(mq_usage_main, "argument --bootstrap-controller: not allowed with "
                                                   "argument --bootstrap-server");
            a->bootstrap_controller = v;
        } else {
            a->command_config = v;
        }
    }
    if (a->command == MQ_NONE)
        return mq_arg_error(mq_usage_main, "too few arguments");
    if (!a->bootstrap_server && !a->bootstrap_controller)
        return mq_arg_error(mq_usage_main, "one of the arguments --bootstrap-server --bootstrap-controller "
                                           "is required");
    return MQ_PARSED;
}

/* ---- client settings from --command-config ---- */

typedef struct mq_conf {
    int64_t api_timeout_ms;     /* default.api.timeout.ms: bound on the whole call */
    int64_t request_timeout_ms; /* request.timeout.ms: bound on one request */
} mq_conf;

static char *mq_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Kafka's tool says "Properties file F does not exist." for a missing file;
 * of the admin client's properties, the timeouts matter here, and a
 * security.protocol other than PLAINTEXT is refused (plaintext only). */
static int mq_load_conf(const char *path, mq_conf *c)
{
    c->api_timeout_ms = 60000;
    c->request_timeout_ms = 30000;
    if (!path)
        return 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return mq_terse("Properties file %s does not exist.", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return mq_terse("%s (%s)", path, strerror(errno));
    char line[4096];
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = mq_trim(line);
        if (*s == '\0' || *s == '#' || *s == '!')
            continue;
        char *sep = s + strcspn(s, "=:");
        if (*sep == '\0')
            continue;
        *sep = '\0';
        char *key = mq_trim(s), *val = mq_trim(sep + 1);
        int64_t v;
        if (strcmp(key, "default.api.timeout.ms") == 0 || strcmp(key, "request.timeout.ms") == 0) {
            if (tool_parse_int64(val, &v) < 0 || v < 0 || v > INT32_MAX) {
                rc = mq_terse("Invalid value %s for configuration %s: Not a number of type INT", val, key);
                break;
            }
            if (key[0] == 'd')
                c->api_timeout_ms = v;
            else
                c->request_timeout_ms = v;
        } else if (strcmp(key, "security.protocol") == 0 && strcasecmp(val, "PLAINTEXT") != 0) {
            tool_err("metadata-quorum", "security.protocol=%s is not supported (plaintext only)", val);
            rc = 1;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* ---- nodes and requests ---- */

typedef struct mq_node {
    char host[256];
    int32_t port;
} mq_node;

/* "host:port,host:port" (IPv6 in brackets); -1 on an entry without a port,
 * which Kafka's admin client refuses too, -2 on a list without entries. */
static int mq_parse_nodes(const char *list, mq_node *nodes, int max, int *n)
{
    *n = 0;
    const char *p = list;
    while (*p && *n < max) {
        size_t len = strcspn(p, ",");
        char ent[300];
        if (len >= sizeof ent)
            return -1;
        memcpy(ent, p, len);
        ent[len] = '\0';
        p += len + (p[len] == ',');
        char *s = mq_trim(ent);
        if (*s == '\0')
            continue;
        char *colon = strrchr(s, ':');
        if (!colon || colon == s || !colon[1])
            return -1;
        *colon = '\0';
        int64_t port;
        if (tool_parse_int64(colon + 1, &port) < 0 || port < 0 || port > 65535)
            return -1;
        if (s[0] == '[' && s[strlen(s) - 1] == ']') {
            s[strlen(s) - 1] = '\0';
            s++;
        }
        snprintf(nodes[*n].host, sizeof nodes[*n].host, "%s", s);
        nodes[*n].port = (int32_t)port;
        (*n)++;
    }
    return *n > 0 ? 0 : -2;
}

typedef struct mq_ctx {
    const mq_args *a;
    mq_conf conf;
    int64_t deadline_ms;
    arena ar;
    mq_node nodes[64]; /* the bootstrap list */
    int nnodes;
} mq_ctx;

/* Options for one request to a node: bounded by request.timeout.ms and by
 * what is left of default.api.timeout.ms. */
static tool_opts mq_opts(mq_ctx *c)
{
    tool_opts o;
    tool_opts_init(&o);
    int64_t left = c->deadline_ms - clock_mono_ms();
    if (left > c->conf.request_timeout_ms)
        left = c->conf.request_timeout_ms;
    o.timeout_ms = left < 1 ? 1 : (int)left;
    return o;
}

static bool mq_expired(mq_ctx *c)
{
    return tool_stop || clock_mono_ms() >= c->deadline_ms;
}

/* Wait before the next attempt (Kafka's admin client backs off 100 ms
 * doubling to 1 s); false once the deadline has passed. */
static bool mq_backoff(mq_ctx *c, int *backoff_ms)
{
    int64_t left = c->deadline_ms - clock_mono_ms();
    if (tool_stop || left <= 0)
        return false;
    int ms = *backoff_ms < left ? *backoff_ms : (int)left;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    *backoff_ms = *backoff_ms * 2 > 1000 ? 1000 : *backoff_ms * 2;
    return !mq_expired(c);
}

static int mq_api_versions(mq_ctx *c, const mq_node *n, kp_api_versions_resp *av)
{
    kp_api_versions_req req;
    char err[512];
    kp_api_versions_req_init(&req);
    req.client_software_name = kp_str_c("gregor-tools");
    req.client_software_version = kp_str_c("1.0");
    tool_opts o = mq_opts(c);
    if (tool_raw_request_at(&o, n->host, n->port, KP_API_API_VERSIONS, 3, &req, av, &c->ar, err,
                            sizeof err) < 0)
        return -1;
    return av->error_code ? -1 : 0;
}

/* The highest version of key that the node and we both speak, or -1. */
static int mq_version(const kp_api_versions_resp *av, int16_t key, int16_t ours_min, int16_t ours_max)
{
    for (int32_t k = 0; k < av->api_keys_n; k++) {
        const kp_api_versions_resp_api_version *v = &av->api_keys[k];
        if (v->api_key != key)
            continue;
        int16_t hi = v->max_version < ours_max ? v->max_version : ours_max;
        return hi >= v->min_version && hi >= ours_min ? hi : -1;
    }
    return -1;
}

/* ---- DescribeQuorum (key 55) ---- */

/* A voter or an observer (two structs of the same shape in the codec). */
typedef struct mq_replica {
    int32_t id;
    kp_uuid directory_id;  /* v2+; zero before */
    int64_t log_end_offset;
    int64_t last_fetch_ts; /* v1+; -1 when unknown */
    int64_t last_caught_up_ts;
} mq_replica;

/* What Kafka's admin client keeps of the answer: the first topic's first
 * partition (more is an error it reports, and so do we, from the counts),
 * and the nodes' listeners (v2). */
typedef struct mq_quorum {
    int16_t error_code;
    kp_str error_message;
    int32_t topics_n;
    kp_str topic_name;
    int32_t partitions_n;
    int32_t partition_index;
    int16_t partition_error;
    kp_str partition_error_message;
    int32_t leader_id;
    int32_t leader_epoch;
    int64_t high_watermark;
    mq_replica *voters, *observers;
    int32_t voters_n, observers_n;
    const kp_describe_quorum_resp_node *nodes;
    int32_t nodes_n;
} mq_quorum;

static int mq_connect(const mq_node *n, int64_t deadline_ms)
{
    char port[16];
    snprintf(port, sizeof port, "%d", n->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(n->host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            int64_t left = deadline_ms - clock_mono_ms();
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (left > 0 && poll(&pfd, 1, (int)left) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                rc = 0;
        }
        if (rc < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int mq_io(int fd, void *buf, size_t len, bool writing, int64_t deadline_ms)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t k = writing ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (k > 0) {
            p += k;
            len -= (size_t)k;
            continue;
        }
        if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return -1;
        struct pollfd pfd = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
        int64_t left = deadline_ms - clock_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
    }
    return 0;
}

int tool_flexible_request(const char *host, int32_t port, int timeout_ms, int16_t api_key,
                          int16_t version, void (*encode)(kp_writer *w, const void *req),
                          const void *req, arena *a, kp_reader *body)
{
    const int32_t corr = 0x67726567; /* "greg" */
    int64_t deadline = clock_mono_ms() + timeout_ms;
    mq_node n;
    snprintf(n.host, sizeof n.host, "%s", host);
    n.port = port;
    kp_writer w;
    kp_writer_init(&w);
    kp_write_int32(&w, 0); /* frame length, patched below */
    /* request header v2: key, version, correlation id, client id, tags */
    kp_write_int16(&w, api_key);
    kp_write_int16(&w, version);
    kp_write_int32(&w, corr);
    kp_write_string(&w, kp_str_c("gregor-tools"), false);
    kp_write_uvarint(&w, 0);
    encode(&w, req);
    kp_writer_patch_int32(&w, 0, (int32_t)(w.len - 4));
    int rc = -1;
    int fd = w.err ? -1 : mq_connect(&n, deadline);
    if (fd < 0)
        goto out;
    uint8_t lenbuf[4];
    if (mq_io(fd, w.buf, w.len, true, deadline) < 0 || mq_io(fd, lenbuf, 4, false, deadline) < 0)
        goto out_fd;
    int32_t flen = (int32_t)((uint32_t)lenbuf[0] << 24 | (uint32_t)lenbuf[1] << 16 |
                             (uint32_t)lenbuf[2] << 8 | lenbuf[3]);
    if (flen < 4 || flen > MQ_FRAME_MAX)
        goto out_fd;
    uint8_t *frame = arena_alloc(a, (size_t)flen);
    if (!frame || mq_io(fd, frame, (size_t)flen, false, deadline) < 0)
        goto out_fd;
    kp_reader_init(body, frame, (size_t)flen, a);
    /* response header v1: correlation id, tags */
    if (kp_read_int32(body) != corr)
        goto out_fd;
    kp_skip_tagged(body);
    if (body->err == 0)
        rc = 0;
out_fd:
    close(fd);
out:
    kp_writer_deinit(&w);
    return rc;
}

#define MQ_COPY_REPLICAS(dst, src, n)                                   \
    do {                                                                \
        for (int32_t k_ = 0; k_ < (n); k_++) {                          \
            (dst)[k_].id = (src)[k_].replica_id;                        \
            (dst)[k_].directory_id = (src)[k_].replica_directory_id;    \
            (dst)[k_].log_end_offset = (src)[k_].log_end_offset;        \
            (dst)[k_].last_fetch_ts = (src)[k_].last_fetch_timestamp;   \
            (dst)[k_].last_caught_up_ts = (src)[k_].last_caught_up_timestamp; \
        }                                                               \
    } while (0)

/* DescribeQuorum for __cluster_metadata-0 to node n at version ver (the
 * generated codecs). 0, or -1 when the node did not answer (or answered
 * garbage). */
static int mq_describe_quorum(mq_ctx *c, const mq_node *n, int16_t ver, mq_quorum *q)
{
    kp_describe_quorum_req req;
    kp_describe_quorum_req_topic topic;
    kp_describe_quorum_req_partition part;
    kp_describe_quorum_resp resp;
    char err[512];
    kp_describe_quorum_req_init(&req);
    kp_describe_quorum_req_topic_init(&topic);
    kp_describe_quorum_req_partition_init(&part);
    part.partition_index = 0;
    topic.topic_name = kp_str_c(MQ_CLUSTER_METADATA);
    topic.partitions = &part;
    topic.partitions_n = 1;
    req.topics = &topic;
    req.topics_n = 1;
    tool_opts o = mq_opts(c);
    if (tool_raw_request_at(&o, n->host, n->port, KP_API_DESCRIBE_QUORUM, ver, &req, &resp, &c->ar, err,
                            sizeof err) < 0)
        return -1;
    memset(q, 0, sizeof *q);
    q->error_code = resp.error_code;
    q->error_message = resp.error_message;
    q->topics_n = resp.topics_n;
    q->nodes = resp.nodes;
    q->nodes_n = resp.nodes_n;
    if (resp.topics_n < 1)
        return 0;
    const kp_describe_quorum_resp_topic *t = &resp.topics[0];
    q->topic_name = t->topic_name;
    q->partitions_n = t->partitions_n;
    if (t->partitions_n < 1)
        return 0;
    const kp_describe_quorum_resp_partition *p = &t->partitions[0];
    q->partition_index = p->partition_index;
    q->partition_error = p->error_code;
    q->partition_error_message = p->error_message;
    q->leader_id = p->leader_id;
    q->leader_epoch = p->leader_epoch;
    q->high_watermark = p->high_watermark;
    q->voters_n = p->current_voters_n > 0 ? p->current_voters_n : 0;
    q->observers_n = p->observers_n > 0 ? p->observers_n : 0;
    q->voters = arena_alloc(&c->ar, sizeof *q->voters * (size_t)(q->voters_n + 1));
    q->observers = arena_alloc(&c->ar, sizeof *q->observers * (size_t)(q->observers_n + 1));
    if (!q->voters || !q->observers)
        return -1;
    MQ_COPY_REPLICAS(q->voters, p->current_voters, q->voters_n);
    MQ_COPY_REPLICAS(q->observers, p->observers, q->observers_n);
    return 0;
}

/* ---- describe ---- */

static int64_t mq_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A failed call, as Kafka's tool prints it: the exception's toString(). */
static int mq_fail_code(int16_t code, kp_str msg)
{
    char buf[2048];
    mq_exception_text(code, msg, buf, sizeof buf);
    fprintf(stderr, "%s\n", buf);
    return 1;
}

static int mq_fail_timeout(const char *call)
{
    fprintf(stderr, "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node "
                    "assignment. Call: %s\n", call);
    return 1;
}

static int mq_fail_unsupported(const char *api)
{
    fprintf(stderr, "org.apache.kafka.common.errors.UnsupportedVersionException: The node does not "
                    "support %s\n", api);
    return 1;
}

static const kp_describe_quorum_resp_node *mq_find_node(const mq_quorum *q, int32_t id)
{
    for (int32_t k = 0; k < q->nodes_n; k++)
        if (q->nodes[k].node_id == id)
            return &q->nodes[k];
    return NULL;
}

static bool mq_uuid_zero(const kp_uuid *u)
{
    for (int k = 0; k < 16; k++)
        if (u->b[k])
            return false;
    return true;
}

/* MetadataQuorumCommand.printReplicaState: [{"id": 1, "directoryId": "...",
 * "endpoints": ["CONTROLLER://host:port"]}, ...] */
static void mq_print_replicas(const mq_quorum *q, const mq_replica *rs, int32_t n)
{
    putchar('[');
    for (int32_t k = 0; k < n; k++) {
        printf("%s{\"id\": %d", k ? ", " : "", rs[k].id);
        if (!mq_uuid_zero(&rs[k].directory_id)) {
            char u[23];
            tool_uuid_str(rs[k].directory_id.b, u);
            printf(", \"directoryId\": \"%s\"", u);
        }
        const kp_describe_quorum_resp_node *nd = mq_find_node(q, rs[k].id);
        if (nd && nd->listeners_n > 0) {
            printf(", \"endpoints\": [");
            for (int32_t l = 0; l < nd->listeners_n; l++) {
                const kp_describe_quorum_resp_listener *e = &nd->listeners[l];
                bool v6 = memchr(e->host.ptr, ':', (size_t)(e->host.len > 0 ? e->host.len : 0)) != NULL;
                printf("%s\"%.*s://%s%.*s%s:%u\"", l ? ", " : "", (int)(e->name.len > 0 ? e->name.len : 0),
                       e->name.ptr ? e->name.ptr : "", v6 ? "[" : "",
                       (int)(e->host.len > 0 ? e->host.len : 0), e->host.ptr ? e->host.ptr : "",
                       v6 ? "]" : "", (unsigned)e->port);
            }
            putchar(']');
        }
        putchar('}');
    }
    putchar(']');
}

static const mq_replica *mq_leader(const mq_quorum *q)
{
    for (int32_t k = 0; k < q->voters_n; k++)
        if (q->voters[k].id == q->leader_id)
            return &q->voters[k];
    return NULL;
}

static int mq_print_status(const mq_quorum *q, kp_str cluster_id)
{
    const mq_replica *leader = mq_leader(q);
    if (!leader) /* Optional.get() of Kafka's tool */
        return mq_terse("No value present");
    const mq_replica *lag = &q->voters[0]; /* Stream.min: the first of the least */
    for (int32_t k = 1; k < q->voters_n; k++)
        if (q->voters[k].log_end_offset < lag->log_end_offset)
            lag = &q->voters[k];
    int64_t lag_time;
    if (leader == lag)
        lag_time = 0;
    else if (leader->last_caught_up_ts != -1 && lag->last_caught_up_ts != -1)
        lag_time = leader->last_caught_up_ts - lag->last_caught_up_ts;
    else
        lag_time = -1;
    if (cluster_id.len >= 0)
        printf("ClusterId:              %.*s\n", (int)cluster_id.len, cluster_id.ptr ? cluster_id.ptr : "");
    else
        printf("ClusterId:              null\n");
    printf("LeaderId:               %d\n", q->leader_id);
    printf("LeaderEpoch:            %d\n", q->leader_epoch);
    printf("HighWatermark:          %" PRId64 "\n", q->high_watermark);
    printf("MaxFollowerLag:         %" PRId64 "\n", leader->log_end_offset - lag->log_end_offset);
    printf("MaxFollowerLagTimeMs:   %" PRId64 "\n", lag_time);
    printf("CurrentVoters:          ");
    mq_print_replicas(q, q->voters, q->voters_n);
    printf("\nCurrentObservers:       ");
    mq_print_replicas(q, q->observers, q->observers_n);
    printf("\n");
    return 0;
}

/* --replication's rows: 7 cells each, strings in the arena. */
typedef struct mq_table {
    char **cells; /* nrows * 7, the header first */
    int nrows, cap;
    arena *ar;
} mq_table;

#define MQ_COLS 7

static int mq_table_add(mq_table *t, char *const cells[MQ_COLS])
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **nc = arena_alloc(t->ar, sizeof *nc * (size_t)cap * MQ_COLS);
        if (!nc)
            return -1;
        if (t->nrows)
            memcpy(nc, t->cells, sizeof *nc * (size_t)t->nrows * MQ_COLS);
        t->cells = nc;
        t->cap = cap;
    }
    for (int c = 0; c < MQ_COLS; c++) {
        size_t n = strlen(cells[c]);
        char *s = arena_strndup(t->ar, cells[c], n);
        if (!s)
            return -1;
        t->cells[t->nrows * MQ_COLS + c] = s;
    }
    t->nrows++;
    return 0;
}

/* One timestamp cell: the value, "-1" when unknown, or "N ms ago"; -1
 * after Kafka's message when the timestamp is not in (epoch, now]. */
static int mq_ts_cell(int64_t ts, bool human, const char *desc, char *out, size_t len)
{
    if (ts == -1) {
        snprintf(out, len, "-1");
    } else if (!human) {
        snprintf(out, len, "%" PRId64, ts);
    } else {
        int64_t now = mq_wall_ms();
        if (!(ts > 0 && ts <= now)) {
            fprintf(stderr, "Error while computing relative time, possible drift in system clock.\n"
                            "Current timestamp is %" PRId64 ", %s timestamp is %" PRId64 "\n",
                    now, desc, ts);
            return -1;
        }
        snprintf(out, len, "%" PRId64 " ms ago", now - ts);
    }
    return 0;
}

/* MetadataQuorumCommand.quorumInfoToRows for the replicas of rs (all of
 * them, or all but the leader). */
static int mq_rows(mq_table *t, const mq_replica *leader, const mq_replica *rs, int32_t n,
                   bool skip_leader, const char *status, bool human)
{
    for (int32_t k = 0; k < n; k++) {
        if (skip_leader && rs[k].id == leader->id)
            continue;
        char id[16], dir[23], leo[24], lag[24], fetch[48], caught[48];
        snprintf(id, sizeof id, "%d", rs[k].id);
        tool_uuid_str(rs[k].directory_id.b, dir);
        snprintf(leo, sizeof leo, "%" PRId64, rs[k].log_end_offset);
        snprintf(lag, sizeof lag, "%" PRId64, leader->log_end_offset - rs[k].log_end_offset);
        if (mq_ts_cell(rs[k].last_fetch_ts, human, "last fetch", fetch, sizeof fetch) < 0 ||
            mq_ts_cell(rs[k].last_caught_up_ts, human, "last caught up", caught, sizeof caught) < 0)
            return -1;
        char *cells[MQ_COLS] = { id, dir, leo, lag, fetch, caught, (char *)status };
        if (mq_table_add(t, cells) < 0)
            return -1;
    }
    return 0;
}

/* ToolsUtils.prettyPrintTable: every cell padded to its column's width
 * (the header's included) and followed by a tab. The cells are ASCII. */
static void mq_table_print(const mq_table *t)
{
    int width[MQ_COLS] = { 0 };
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < MQ_COLS; c++) {
            int w = (int)strlen(t->cells[r * MQ_COLS + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < MQ_COLS; c++)
            printf("%-*s\t", width[c], t->cells[r * MQ_COLS + c]);
        putchar('\n');
    }
}

static int mq_print_replication(mq_ctx *c, const mq_quorum *q, bool human)
{
    const mq_replica *leader = mq_leader(q);
    if (!leader)
        return mq_terse("No value present");
    mq_table t = { .ar = &c->ar };
    static char *const hdr[MQ_COLS] = { "NodeId", "DirectoryId", "LogEndOffset", "Lag",
                                        "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status" };
    if (mq_table_add(&t, hdr) < 0 ||
        mq_rows(&t, leader, leader, 1, false, "Leader", human) < 0 ||
        mq_rows(&t, leader, q->voters, q->voters_n, true, "Follower", human) < 0 ||
        mq_rows(&t, leader, q->observers, q->observers_n, false, "Observer", human) < 0)
        return 1;
    mq_table_print(&t);
    return 0;
}

/* The cluster id (and, with --bootstrap-controller, the controllers and the
 * active one) from node n's DescribeCluster. 0; 1 after printing the
 * error; -1 when the node did not answer (try again). */
static int mq_describe_cluster(mq_ctx *c, const mq_node *n, const kp_api_versions_resp *av,
                               bool controllers, kp_describe_cluster_resp *dc)
{
    int ver = mq_version(av, KP_API_DESCRIBE_CLUSTER, 0, 1);
    char err[512];
    tool_opts o = mq_opts(c);
    if (ver < 0 || (controllers && ver < 1)) {
        if (controllers)
            return mq_fail_unsupported("DESCRIBE_CLUSTER");
        /* Kafka's admin client asks Metadata for the cluster id then */
        kp_metadata_req mreq;
        kp_metadata_resp md;
        kp_metadata_req_init(&mreq);
        mreq.topics = NULL;
        mreq.topics_n = 0;
        int mver = mq_version(av, KP_API_METADATA, 0, 12);
        if (mver < 0)
            return mq_fail_unsupported("METADATA");
        if (tool_raw_request_at(&o, n->host, n->port, KP_API_METADATA, (int16_t)mver, &mreq, &md, &c->ar,
                                err, sizeof err) < 0)
            return -1;
        kp_describe_cluster_resp_init(dc);
        dc->cluster_id = md.cluster_id;
        dc->controller_id = md.controller_id;
        return 0;
    }
    kp_describe_cluster_req req;
    kp_describe_cluster_req_init(&req);
    req.endpoint_type = controllers ? 2 : 1;
    if (tool_raw_request_at(&o, n->host, n->port, KP_API_DESCRIBE_CLUSTER, (int16_t)ver, &req, dc, &c->ar,
                            err, sizeof err) < 0)
        return -1;
    if (dc->error_code)
        return mq_fail_code(dc->error_code, dc->error_message);
    return 0;
}

/* DescribeQuorum's answer as Kafka's admin client checks it; 0, or 1 after
 * printing the error. */
static int mq_check_quorum(const mq_quorum *q)
{
    char msg[512];
    if (q->error_code)
        return mq_fail_code(q->error_code, q->error_message);
    if (q->topics_n != 1)
        snprintf(msg, sizeof msg, "DescribeMetadataQuorum received %d topics when 1 was expected", q->topics_n);
    else if (!kp_str_eq(q->topic_name, MQ_CLUSTER_METADATA))
        snprintf(msg, sizeof msg, "DescribeMetadataQuorum received a topic with name %.*s when %s was expected",
                 (int)(q->topic_name.len > 0 ? q->topic_name.len : 0), q->topic_name.ptr ? q->topic_name.ptr : "",
                 MQ_CLUSTER_METADATA);
    else if (q->partitions_n != 1)
        snprintf(msg, sizeof msg, "DescribeMetadataQuorum received a topic %s with %d partitions when 1 was "
                 "expected", MQ_CLUSTER_METADATA, q->partitions_n);
    else if (q->partition_index != 0)
        snprintf(msg, sizeof msg, "DescribeMetadataQuorum received a single partition with index %d when 0 was "
                 "expected", q->partition_index);
    else if (q->partition_error)
        return mq_fail_code(q->partition_error, q->partition_error_message);
    else
        return 0;
    return mq_fail_code(-1, kp_str_c(msg));
}

static int mq_describe(mq_ctx *c)
{
    const mq_args *a = c->a;
    bool ctl = a->bootstrap_controller != NULL;
    /* the first call Kafka's tool makes: describeCluster ("listNodes") for
     * --status, describeMetadataQuorum for --replication */
    const char *call = a->status ? "listNodes" : "describeMetadataQuorum";
    const mq_node *nodes = c->nodes;
    int nn = c->nnodes;
    int backoff = 100;
    for (int attempt = 0;; attempt++) {
        if (attempt > 0 && !mq_backoff(c, &backoff))
            return mq_fail_timeout(call);
        for (int k = 0; k < nn; k++) {
            const mq_node *n = &nodes[k];
            kp_api_versions_resp av;
            kp_describe_cluster_resp dc;
            kp_describe_cluster_resp_init(&dc);
            dc.cluster_id.len = -1;
            if (mq_api_versions(c, n, &av) < 0)
                continue;
            if (ctl || a->status) {
                int rc = mq_describe_cluster(c, n, &av, ctl, &dc);
                if (rc > 0)
                    return rc;
                if (rc < 0)
                    continue;
            }
            /* with --bootstrap-controller, DescribeQuorum goes to the
             * active controller */
            mq_node target = *n;
            kp_api_versions_resp tav = av;
            if (ctl) {
                bool found = false;
                for (int32_t b = 0; b < dc.brokers_n; b++)
                    if (dc.brokers[b].broker_id == dc.controller_id) {
                        snprintf(target.host, sizeof target.host, "%.*s", (int)dc.brokers[b].host.len,
                                 dc.brokers[b].host.ptr);
                        target.port = dc.brokers[b].port;
                        found = true;
                    }
                if (!found || mq_api_versions(c, &target, &tav) < 0)
                    continue;
            }
            int ver = mq_version(&tav, KP_API_DESCRIBE_QUORUM, 0, MQ_DQ_MAX_VERSION);
            if (ver < 0)
                return mq_fail_unsupported("DESCRIBE_QUORUM");
            mq_quorum q;
            if (mq_describe_quorum(c, &target, (int16_t)ver, &q) < 0)
                continue;
            if (q.error_code == 41 /* NOT_CONTROLLER: the admin client asks again */ && !mq_expired(c))
                continue;
            if (mq_check_quorum(&q))
                return 1;
            return a->status ? mq_print_status(&q, dc.cluster_id)
                             : mq_print_replication(c, &q, a->human_readable);
        }
        if (mq_expired(c))
            return mq_fail_timeout(call);
    }
}

/* ---- add-controller, remove-controller ---- */

/* org.apache.kafka.common.Uuid.fromString's checks: 0, or -1 with its
 * message in msg. */
static int mq_uuid_from_string(const char *s, uint8_t out[16], char *msg, size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    if (n > 24) {
        snprintf(msg, len, "Input string with prefix `%.24s` is too long to be decoded as a base64 UUID", s);
        return -1;
    }
    while (n > 0 && s[n - 1] == '=')
        n--;
    uint8_t buf[24];
    size_t nb = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(b64, s[i]);
        if (!p || !s[i]) {
            snprintf(msg, len, "Illegal base64 character %x", (unsigned char)s[i]);
            return -1;
        }
        acc = acc << 6 | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[nb++] = (uint8_t)(acc >> bits);
        }
    }
    if (n % 4 == 1) {
        snprintf(msg, len, "Last unit does not have enough valid bits");
        return -1;
    }
    if (nb != 16) {
        snprintf(msg, len, "Input string `%s` decoded as %zu bytes, which is not equal to the expected 16 "
                 "bytes of a base64-encoded UUID", s, nb);
        return -1;
    }
    memcpy(out, buf, 16);
    return 0;
}

static int mq_remove_controller(const mq_args *a)
{
    int64_t id;
    tool_parse_int64(a->controller_id, &id); /* checked by the parser */
    if (id < 0)
        return mq_terse("Invalid negative --controller-id: %" PRId64, id);
    uint8_t dir[16];
    char msg[256], u[23];
    if (mq_uuid_from_string(a->controller_directory_id, dir, msg, sizeof msg) < 0)
        return mq_terse("Failed to parse --controller-directory-id: %s", msg);
    if (!a->dry_run) {
        tool_err("metadata-quorum", "remove-controller is not supported: Gregor's controller quorum is "
                 "static (controller.quorum.voters); RemoveRaftVoter (KIP-853) is not served");
        return 1;
    }
    tool_uuid_str(dir, u);
    printf("DRY RUN of removing KRaft controller %" PRId64 " with directory id %s\n", id, u);
    if (a->unregister)
        printf("DRY RUN of unregistering KRaft controller %" PRId64 "\n", id);
    return 0;
}

int tool_metadata_quorum_main(int argc, char **argv)
{
    mq_args a;
    tool_set_cmd("metadata-quorum");
    int rc = mq_parse(&a, argc, argv);
    if (rc != MQ_PARSED)
        return rc;
    mq_ctx c;
    memset(&c, 0, sizeof c);
    c.a = &a;
    if (mq_load_conf(a.command_config, &c.conf))
        return 1;
    /* Kafka's tool creates its admin client here, which checks the list */
    const char *list = a.bootstrap_controller ? a.bootstrap_controller : a.bootstrap_server;
    int prc = mq_parse_nodes(list, c.nodes, 64, &c.nnodes);
    if (prc == -2)
        return mq_terse("Configuration '%s' values must not be empty.",
                        a.bootstrap_controller ? "bootstrap.controllers" : "bootstrap.servers");
    if (prc < 0)
        return mq_terse("Failed to create new KafkaAdminClient");
    if (a.command == MQ_ADD) {
        if (!a.command_config)
            return mq_terse("You must supply the configuration file of the controller you are adding "
                            "when using add-controller.");
        tool_err("metadata-quorum", "add-controller is not supported: Gregor's controller quorum is "
                 "static (controller.quorum.voters); AddRaftVoter (KIP-853) is not served");
        return 1;
    }
    if (a.command == MQ_REMOVE)
        return mq_remove_controller(&a);
    if (a.status && a.replication)
        return mq_terse("Only one of --status or --replication should be specified with describe sub-command");
    if (a.status && a.human_readable)
        return mq_terse("The option --human-readable is only supported along with --replication");
    if (!a.status && !a.replication)
        return mq_terse("One of --status or --replication must be specified with describe sub-command");
    tool_install_signals();
    arena_init(&c.ar, MQ_ARENA_MAX);
    c.deadline_ms = clock_mono_ms() + c.conf.api_timeout_ms;
    rc = mq_describe(&c);
    arena_deinit(&c.ar);
    return rc;
}
