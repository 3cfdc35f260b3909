/*
 * test_config.c - the properties parser and typed config sets (base/config),
 * the broker key table and its fallbacks (broker/broker_config), and the
 * effective topic values with their sources (broker/topic_config).
 *
 * Parsing tests run against a small table of their own so they do not depend
 * on which broker keys exist; the broker and topic tests use the real tables.
 * The shipped config/server.properties and the body of Kafka's own
 * config/kraft/server.properties must both load.
 */
#include "base/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker_config.h"
#include "broker/topic_config.h"
#include "check.h"

#define ERR_BYTES 512

static const char *const color_choices[] = { "red", "Green", NULL };

enum { T_S, T_S2, T_INT, T_LONG, T_BOOL, T_COLOR, T_RATIO, T_NULLABLE, T_COUNT };

static const config_def test_defs[T_COUNT] = {
    { "s", CONFIG_STRING, "dflt", 0, 0, NULL, 0, "a string" },
    { "a.b", CONFIG_STRING, "", 0, 0, NULL, 0, "another string" },
    { "n.int", CONFIG_INT, "7", -1, 100, NULL, 0, "an int in [-1, 100]" },
    { "n.long", CONFIG_LONG, "0", 0, 9223372036854775807LL, NULL, 0, "a long" },
    { "flag", CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, "a boolean" },
    { "color", CONFIG_STRING, "red", 0, 0, color_choices, 0, "a choice" },
    { "ratio", CONFIG_DOUBLE, "0.5", 0, 1, NULL, 0, "a double in [0, 1]" },
    { "maybe", CONFIG_LONG, NULL, 0, 1000, NULL, CONFIG_F_NULLABLE, "null by default" },
};

static char err[ERR_BYTES];

/* Load text into a fresh set of the test table; returns the result. */
static int load(config_set *cs, const char *text)
{
    err[0] = '\0';
    CHECK(config_set_init(cs, test_defs, T_COUNT) == 0);
    return config_load_properties(cs, text, "t.properties", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err));
}

static int str_is(const config_set *cs, int idx, const char *want)
{
    const char *s = config_get_str(cs, idx);
    if (s && want && strcmp(s, want) == 0)
        return 1;
    if (!s && !want)
        return 1;
    fprintf(stderr, "  value of %s is [%s], expected [%s]\n", cs->defs[idx].name,
            s ? s : "(null)", want ? want : "(null)");
    return 0;
}

static int err_has(const char *needle)
{
    if (strstr(err, needle))
        return 1;
    fprintf(stderr, "  error [%s] does not contain [%s]\n", err, needle);
    return 0;
}

static void test_defaults(void)
{
    config_set cs;
    CHECK(config_set_init(&cs, test_defs, T_COUNT) == 0);
    CHECK(str_is(&cs, T_S, "dflt"));
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 7);
    CHECK_EQ_I64(config_get_num(&cs, T_BOOL), 0);
    CHECK_EQ_I64(config_get_num(&cs, T_RATIO), 0); /* doubles keep their integer part */
    CHECK(str_is(&cs, T_NULLABLE, NULL));
    for (int i = 0; i < T_COUNT; i++)
        CHECK_EQ_I64(config_get(&cs, i)->source, CONFIG_SOURCE_DEFAULT);
    CHECK_EQ_I64(config_find(test_defs, T_COUNT, "n.int"), T_INT);
    CHECK_EQ_I64(config_find(test_defs, T_COUNT, "n.in"), -1);
    CHECK_EQ_I64(config_find(test_defs, T_COUNT, "N.INT"), -1); /* keys are case-sensitive */
    config_set_deinit(&cs);
    config_set_deinit(&cs); /* a second deinit is harmless */
}

static void test_separators_and_comments(void)
{
    config_set cs;
    CHECK(load(&cs,
               "# a comment\n"
               "! also a comment\n"
               "   # indented comment\n"
               "\t! indented bang comment\n"
               "\n"
               "   \n"
               "s=one\n"
               "a.b: two\n"
               "n.int 42\n"
               "n.long = 9\n"
               "color :Green\n") == 0);
    CHECK(str_is(&cs, T_S, "one"));
    CHECK(str_is(&cs, T_S2, "two"));
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 42);
    CHECK_EQ_I64(config_get_num(&cs, T_LONG), 9);
    CHECK(str_is(&cs, T_COLOR, "Green"));
    CHECK_EQ_I64(config_get(&cs, T_S)->source, CONFIG_SOURCE_STATIC_BROKER);
    CHECK_EQ_I64(config_get(&cs, T_BOOL)->source, CONFIG_SOURCE_DEFAULT);
    config_set_deinit(&cs);

    /* Only the first separator splits; later ones belong to the value. A
     * '#' after the start of a line is not a comment. */
    CHECK(load(&cs, "s=a=b:c d\na.b:x=y # not a comment\n") == 0);
    CHECK(str_is(&cs, T_S, "a=b:c d"));
    CHECK(str_is(&cs, T_S2, "x=y # not a comment"));
    config_set_deinit(&cs);

    /* Whitespace: leading on the line, around the separator, and trailing
     * (trimmed from values, as Kafka trims them). Tabs and form feeds too. */
    CHECK(load(&cs, "   s   =   spaced out   \n\t a.b\t:\tt\t\n\fn.int\f\f5\n") == 0);
    CHECK(str_is(&cs, T_S, "spaced out"));
    CHECK(str_is(&cs, T_S2, "t"));
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 5);
    config_set_deinit(&cs);

    /* The last assignment of a key wins; no trailing newline is fine. */
    CHECK(load(&cs, "s=first\ns=second") == 0);
    CHECK(str_is(&cs, T_S, "second"));
    config_set_deinit(&cs);

    /* An empty text or one of only comments assigns nothing. */
    CHECK(load(&cs, "") == 0);
    CHECK(str_is(&cs, T_S, "dflt"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "# s=x\n!s=y\n") == 0);
    CHECK(str_is(&cs, T_S, "dflt"));
    config_set_deinit(&cs);
}

static void test_crlf(void)
{
    config_set cs;
    CHECK(load(&cs, "# comment\r\ns=windows\r\nn.int=3\r\n\r\nflag = true \r\n") == 0);
    CHECK(str_is(&cs, T_S, "windows"));
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 3);
    CHECK_EQ_I64(config_get_num(&cs, T_BOOL), 1);
    config_set_deinit(&cs);

    /* A continuation before CRLF still continues. */
    CHECK(load(&cs, "s=a\\\r\n   b\r\n") == 0);
    CHECK(str_is(&cs, T_S, "ab"));
    config_set_deinit(&cs);
}

static void test_continuations(void)
{
    config_set cs;
    /* Leading whitespace of continuation lines is dropped, as in Java. */
    CHECK(load(&cs, "s=one, \\\n    two, \\\n\tthree\nn.int=1\n") == 0);
    CHECK(str_is(&cs, T_S, "one, two, three"));
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 1);
    config_set_deinit(&cs);

    /* A continuation may split the key, and may end the file. */
    CHECK(load(&cs, "n.\\\n  int=12\ns=last\\") == 0);
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 12);
    CHECK(str_is(&cs, T_S, "last"));
    config_set_deinit(&cs);

    /* An even number of backslashes is escaped backslashes, not a
     * continuation: the next line is its own entry. */
    CHECK(load(&cs, "s=c:\\\\\\\\\na.b=next\n") == 0);
    CHECK(str_is(&cs, T_S, "c:\\\\"));
    CHECK(str_is(&cs, T_S2, "next"));
    config_set_deinit(&cs);

    /* A comment ending in a backslash does not swallow the next line. */
    CHECK(load(&cs, "# comment \\\ns=kept\n") == 0);
    CHECK(str_is(&cs, T_S, "kept"));
    config_set_deinit(&cs);

    /* A continued line starting with '#' is value, not comment. */
    CHECK(load(&cs, "s=x\\\n#y\n") == 0);
    CHECK(str_is(&cs, T_S, "x#y"));
    config_set_deinit(&cs);

    /* A backslash followed by spaces is no continuation (and is trimmed
     * along with them: "a\ " unescapes to "a " and the space goes). */
    CHECK(load(&cs, "s=a\\  \na.b=b\n") == 0);
    CHECK(str_is(&cs, T_S, "a"));
    CHECK(str_is(&cs, T_S2, "b"));
    config_set_deinit(&cs);
}

static void test_escapes(void)
{
    config_set cs;
    CHECK(load(&cs, "s=tab\\there\\nnl\\\\bs\\rcr\\fff\\qq\n") == 0);
    CHECK(str_is(&cs, T_S, "tab\there\nnl\\bs\rcr\fffqq"));
    config_set_deinit(&cs);

    /* \uXXXX: ASCII as itself, others as UTF-8, upper or lower hex digits. */
    CHECK(load(&cs, "s=\\u0041\\u007a-\\u00e9-\\u20AC-\\u00E9\n") == 0);
    CHECK(str_is(&cs, T_S, "Az-\xc3\xa9-\xe2\x82\xac-\xc3\xa9"));
    config_set_deinit(&cs);

    /* \u0000 cannot live in a C string, a lone surrogate has no UTF-8
     * form: both become '?'. */
    CHECK(load(&cs, "s=a\\u0000b\\ud83dc\n") == 0);
    CHECK(str_is(&cs, T_S, "a?b?c"));
    config_set_deinit(&cs);

    /* Escaped separators and spaces stay in the key. */
    CHECK(load(&cs, "a\\.b=dot\n") == 0);
    CHECK(str_is(&cs, T_S2, "dot"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "x\\=y=1\n") != 0);
    CHECK(err_has("'x=y'"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "x\\:y\\ z=1\n") != 0);
    CHECK(err_has("'x:y z'"));
    config_set_deinit(&cs);

    /* A value may start with an escaped separator. */
    CHECK(load(&cs, "s=\\=start\n") == 0);
    CHECK(str_is(&cs, T_S, "=start"));
    config_set_deinit(&cs);

    /* A \u without four hex digits is refused, like Java's
     * "Malformed \uxxxx encoding", with file and line. */
    CHECK(load(&cs, "s=ok\ns=\\u12g4\n") != 0);
    CHECK(err_has("t.properties:2:"));
    CHECK(err_has("malformed"));
    CHECK(str_is(&cs, T_S, "ok"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "s=\\u12") != 0);
    CHECK(err_has("malformed"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "\\uzzzz=1") != 0);
    CHECK(err_has("in the key"));
    config_set_deinit(&cs);
}

static void test_empty_values(void)
{
    config_set cs;
    CHECK(load(&cs, "s=\na.b\ncolor=red\n") == 0);
    CHECK(str_is(&cs, T_S, ""));
    CHECK(str_is(&cs, T_S2, ""));
    CHECK_EQ_I64(config_get(&cs, T_S)->source, CONFIG_SOURCE_STATIC_BROKER);
    config_set_deinit(&cs);

    /* An empty value is no number, boolean or choice. */
    CHECK(load(&cs, "n.int=\n") != 0);
    CHECK(err_has("n.int"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "flag=   \n") != 0);
    CHECK(err_has("flag"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "color:\n") != 0);
    CHECK(err_has("color"));
    config_set_deinit(&cs);
    CHECK(load(&cs, "maybe=\n") != 0);
    CHECK(err_has("maybe"));
    config_set_deinit(&cs);
}

static void test_unknown_key(void)
{
    config_set cs;
    CHECK(load(&cs, "# header\n\ns=1\nno.such.key=3\nn.int=4\n") != 0);
    CHECK(err_has("t.properties:4:"));
    CHECK(err_has("no.such.key"));
    CHECK(err_has("unknown"));
    /* Loading stops at the bad line: earlier lines applied, later not. */
    CHECK(str_is(&cs, T_S, "1"));
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 7);
    config_set_deinit(&cs);

    CHECK(config_set_init(&cs, test_defs, T_COUNT) == 0);
    CHECK(config_set_value(&cs, "S", "x", CONFIG_SOURCE_TOPIC, err, sizeof(err)) != 0);
    CHECK(err_has("'S'"));
    CHECK(str_is(&cs, T_S, "dflt"));
    config_set_deinit(&cs);
}

static void test_invalid_values(void)
{
    static const struct {
        const char *text;
        const char *needles[3];
    } cases[] = {
        { "n.int=abc", { "n.int", "'abc'", "not an integer" } },
        { "n.int=12abc", { "n.int", "not an integer", NULL } },
        { "n.int=0x10", { "n.int", "not an integer", NULL } },
        { "n.int=1.5", { "n.int", "not an integer", NULL } },
        { "n.int=101", { "n.int", "101", "[-1, 100]" } },
        { "n.int=-2", { "n.int", "-2", "[-1, 100]" } },
        { "n.long=-1", { "n.long", "must be in", NULL } },
        { "n.long=9223372036854775808", { "n.long", "not an integer", NULL } },
        { "flag=yes", { "flag", "'yes'", "true or false" } },
        { "flag=1", { "flag", "true or false", NULL } },
        { "color=blue", { "color", "'blue'", "red Green" } },
        { "ratio=1.5", { "ratio", "must be in", NULL } },
        { "ratio=-0.1", { "ratio", "must be in", NULL } },
        { "ratio=nan", { "ratio", "not a number", NULL } },
        { "ratio=inf", { "ratio", "not a number", NULL } },
        { "ratio=1e300", { "ratio", "must be in", NULL } },
        { "ratio=half", { "ratio", "not a number", NULL } },
        { "maybe=1001", { "maybe", "[0, 1000]", NULL } },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_set cs;
        char text[128];
        snprintf(text, sizeof(text), "# line 1\n%s\n", cases[i].text);
        int rc = load(&cs, text);
        CHECK(rc != 0);
        if (rc == 0)
            fprintf(stderr, "  accepted: %s\n", cases[i].text);
        CHECK(err_has("t.properties:2: "));
        for (int j = 0; j < 3 && cases[i].needles[j]; j++)
            CHECK(err_has(cases[i].needles[j]));
        /* A refused value leaves the old one in place. */
        CHECK_EQ_I64(config_get(&cs, T_INT)->source, CONFIG_SOURCE_DEFAULT);
        config_set_deinit(&cs);
    }

    /* config_validate alone checks without storing. */
    int64_t num = -5;
    CHECK(config_validate(&test_defs[T_INT], "100", &num, err, sizeof(err)) == 0);
    CHECK_EQ_I64(num, 100);
    CHECK(config_validate(&test_defs[T_INT], "-1", NULL, err, sizeof(err)) == 0);
    CHECK(config_validate(&test_defs[T_INT], "100000000000000000000", &num, err, sizeof(err)) != 0);
    CHECK(err_has("n.int"));
    CHECK(config_validate(&test_defs[T_RATIO], "0.75", &num, err, sizeof(err)) == 0);
    CHECK_EQ_I64(num, 0);
    CHECK(config_validate(&test_defs[T_RATIO], "1", &num, err, sizeof(err)) == 0);
    CHECK_EQ_I64(num, 1);
}

static void test_accepted_spellings(void)
{
    config_set cs;
    /* Booleans and choices match without regard to case and are stored in
     * the table's spelling; integers take a sign and surrounding blanks. */
    CHECK(load(&cs, "flag=TRUE\ncolor=green\nn.int=+5\nn.long=  9223372036854775807\nratio=1.0\n") == 0);
    CHECK(str_is(&cs, T_BOOL, "true"));
    CHECK_EQ_I64(config_get_num(&cs, T_BOOL), 1);
    CHECK(str_is(&cs, T_COLOR, "Green"));
    CHECK_EQ_I64(config_get_num(&cs, T_INT), 5);
    CHECK_EQ_I64(config_get_num(&cs, T_LONG), 9223372036854775807LL);
    CHECK_EQ_I64(config_get_num(&cs, T_RATIO), 1);
    CHECK(config_set_value(&cs, "flag", "False", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(str_is(&cs, T_BOOL, "false"));
    CHECK_EQ_I64(config_get_num(&cs, T_BOOL), 0);
    CHECK_EQ_I64(config_get(&cs, T_BOOL)->source, CONFIG_SOURCE_TOPIC);
    CHECK(config_set_value(&cs, "color", "RED", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(str_is(&cs, T_COLOR, "red"));
    config_set_deinit(&cs);
}

static void test_line_numbers(void)
{
    config_set cs;
    /* Continuations count their physical lines; CRLF counts once. */
    CHECK(load(&cs, "s=a\\\n  b\\\n  c\r\n\r\n# x\nn.int=999\n") != 0);
    CHECK(err_has("t.properties:6: "));
    config_set_deinit(&cs);

    /* A bad continued entry is reported at its first line. */
    CHECK(load(&cs, "s=a\nn.int=1\\\n  2\\\n  x\n") != 0);
    CHECK(err_has("t.properties:2: "));
    CHECK(err_has("'12x'"));
    config_set_deinit(&cs);
}

static void test_copy_and_reset(void)
{
    config_set a, b;
    CHECK(load(&a, "s=orig\nn.int=9\nmaybe=5\n") == 0);
    CHECK(config_set_copy(&b, &a) == 0);
    CHECK(str_is(&b, T_S, "orig"));
    CHECK_EQ_I64(config_get_num(&b, T_INT), 9);
    CHECK_EQ_I64(config_get(&b, T_INT)->source, CONFIG_SOURCE_STATIC_BROKER);
    CHECK_EQ_I64(config_get(&b, T_BOOL)->source, CONFIG_SOURCE_DEFAULT);
    CHECK(config_get_str(&b, T_S) != config_get_str(&a, T_S)); /* own strings */

    /* The copy is independent both ways. */
    CHECK(config_set_value(&b, "s", "changed", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(str_is(&a, T_S, "orig"));
    CHECK(config_set_value(&a, "n.int", "10", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK_EQ_I64(config_get_num(&b, T_INT), 9);
    config_set_deinit(&a);
    CHECK(str_is(&b, T_S, "changed")); /* survives the source's deinit */

    /* Reset: default string, number and source come back. */
    CHECK(config_reset(&b, "n.int") == 0);
    CHECK_EQ_I64(config_get_num(&b, T_INT), 7);
    CHECK(str_is(&b, T_INT, "7"));
    CHECK_EQ_I64(config_get(&b, T_INT)->source, CONFIG_SOURCE_DEFAULT);
    CHECK(config_reset(&b, "maybe") == 0); /* null default: back to null */
    CHECK(str_is(&b, T_NULLABLE, NULL));
    CHECK_EQ_I64(config_get(&b, T_NULLABLE)->source, CONFIG_SOURCE_DEFAULT);
    CHECK(config_reset(&b, "s") == 0);
    CHECK(str_is(&b, T_S, "dflt"));
    CHECK(config_reset(&b, "s") == 0); /* resetting a default is fine */
    CHECK(config_reset(&b, "nope") == -1);
    config_set_deinit(&b);
}

/* Write text to a fresh temp file; returns its path (static buffer). */
static const char *write_temp(const char *text, size_t len)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/gregor_test_config_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return path;
    CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
    return path;
}

static void test_load_file(void)
{
    config_set cs;
    CHECK(config_set_init(&cs, test_defs, T_COUNT) == 0);
    const char *text = "s=from file\n\nn.int=bad\n";
    const char *path = write_temp(text, strlen(text));
    CHECK(config_load_file(&cs, path, CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) != 0);
    char want[96];
    snprintf(want, sizeof(want), "%s:3: ", path);
    CHECK(err_has(want));
    CHECK(err_has("n.int"));
    CHECK(str_is(&cs, T_S, "from file"));
    unlink(path);

    /* A file bigger than the reader's first buffer. */
    size_t big_len = 100000;
    char *big = malloc(big_len + 1);
    CHECK(big != NULL);
    if (big) {
        memset(big, '#', big_len);
        for (size_t i = 80; i < big_len; i += 81)
            big[i] = '\n';
        const char *tail = "\ns=end of big\n";
        memcpy(big + big_len - strlen(tail), tail, strlen(tail));
        path = write_temp(big, big_len);
        CHECK(config_load_file(&cs, path, CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
        CHECK(str_is(&cs, T_S, "end of big"));
        unlink(path);
        free(big);
    }

    /* A NUL would silently end the text: refused. */
    path = write_temp("s=a\n\0n.int=5\n", 13);
    CHECK(config_load_file(&cs, path, CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) != 0);
    CHECK(err_has("NUL"));
    unlink(path);

    CHECK(config_load_file(&cs, "/nonexistent/gregor.properties", CONFIG_SOURCE_STATIC_BROKER,
                           err, sizeof(err)) != 0);
    CHECK(err_has("/nonexistent/gregor.properties"));

    /* A directory opens but cannot be read: an error, not an empty config. */
    CHECK(config_load_file(&cs, "/tmp", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) != 0);
    CHECK(err_has("/tmp"));
    config_set_deinit(&cs);
}

static int broker_load(config_set *cs, const char *text)
{
    err[0] = '\0';
    CHECK(config_set_init(cs, broker_config_defs, BCFG_COUNT) == 0);
    return config_load_properties(cs, text, "server.properties", CONFIG_SOURCE_STATIC_BROKER,
                                  err, sizeof(err));
}

static void test_broker_table(void)
{
    /* Every default parses (config_set_init aborts otherwise), names are
     * unique, and every entry has a doc. */
    for (int i = 0; i < BCFG_COUNT; i++) {
        CHECK(broker_config_defs[i].doc && broker_config_defs[i].doc[0]);
        CHECK_EQ_I64(config_find(broker_config_defs, BCFG_COUNT, broker_config_defs[i].name), i);
    }
    for (int i = 0; i < TCFG_COUNT; i++) {
        CHECK(topic_config_defs[i].doc && topic_config_defs[i].doc[0]);
        CHECK_EQ_I64(config_find(topic_config_defs, TCFG_COUNT, topic_config_defs[i].name), i);
        int syn = topic_config_synonym[i];
        CHECK(syn >= -1 && syn < BCFG_COUNT);
        /* A synonym has the same type as the topic key. */
        if (syn >= 0)
            CHECK_EQ_I64(broker_config_defs[syn].type, topic_config_defs[i].type);
    }
    config_set cs;
    CHECK(broker_load(&cs, "") == 0);
    CHECK_EQ_I64(config_get_num(&cs, BCFG_LOG_FLUSH_INTERVAL_MESSAGES), 1);
    CHECK_EQ_I64(config_get_num(&cs, BCFG_LOG_SEGMENT_BYTES), 1073741824);
    CHECK(strcmp(broker_config_log_dir(&cs), "/tmp/kraft-combined-logs") == 0);
    config_set_deinit(&cs);

    /* log.dirs wins over log.dir; an empty log.dirs falls back. */
    CHECK(broker_load(&cs, "log.dir=/a\nlog.dirs=/b\n") == 0);
    CHECK(strcmp(broker_config_log_dir(&cs), "/b") == 0);
    config_set_deinit(&cs);
    CHECK(broker_load(&cs, "log.dir=/a\nlog.dirs=\n") == 0);
    CHECK(strcmp(broker_config_log_dir(&cs), "/a") == 0);
    config_set_deinit(&cs);

    /* Real keys refused with their names. */
    CHECK(broker_load(&cs, "num.partitions=0\n") != 0);
    CHECK(err_has("server.properties:1: "));
    CHECK(err_has("num.partitions"));
    config_set_deinit(&cs);
    CHECK(broker_load(&cs, "auto.create.topics.enable=maybe\n") != 0);
    CHECK(err_has("auto.create.topics.enable"));
    config_set_deinit(&cs);
    CHECK(broker_load(&cs, "log.message.timestamp.type=WallClock\n") != 0);
    CHECK(err_has("log.message.timestamp.type"));
    CHECK(err_has("CreateTime LogAppendTime"));
    config_set_deinit(&cs);
    CHECK(broker_load(&cs, "log.retention.hour=1\n") != 0);
    CHECK(err_has("'log.retention.hour'"));
    config_set_deinit(&cs);

    /* Choices are stored in Kafka's spelling, which the produce path
     * compares with strcmp. */
    CHECK(broker_load(&cs, "log.message.timestamp.type=logappendtime\n") == 0);
    CHECK(strcmp(config_get_str(&cs, BCFG_LOG_MESSAGE_TIMESTAMP_TYPE), "LogAppendTime") == 0);
    config_set_deinit(&cs);
}

static void test_broker_fallbacks(void)
{
    static const struct {
        const char *text;
        int64_t retention_ms;
    } retention[] = {
        { "", 168LL * 3600000 },
        { "log.retention.hours=1\n", 3600000 },
        { "log.retention.hours=-1\n", -1 },
        { "log.retention.minutes=5\n", 300000 },
        { "log.retention.minutes=5\nlog.retention.hours=1\n", 300000 },
        { "log.retention.minutes=-1\nlog.retention.hours=1\n", -1 },
        { "log.retention.ms=1234\nlog.retention.minutes=5\nlog.retention.hours=1\n", 1234 },
        { "log.retention.ms=-1\nlog.retention.hours=1\n", -1 },
        { "log.retention.ms=0\n", 0 },
        { "log.retention.hours=2147483647\n", 2147483647LL * 3600000 },
    };
    for (size_t i = 0; i < sizeof(retention) / sizeof(retention[0]); i++) {
        config_set cs;
        CHECK(broker_load(&cs, retention[i].text) == 0);
        CHECK_EQ_I64(broker_config_retention_ms(&cs), retention[i].retention_ms);
        config_set_deinit(&cs);
    }

    config_set cs;
    CHECK(broker_load(&cs, "") == 0);
    CHECK_EQ_I64(broker_config_roll_ms(&cs), 168LL * 3600000);
    CHECK(config_set_value(&cs, "log.roll.hours", "2", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
    CHECK_EQ_I64(broker_config_roll_ms(&cs), 2 * 3600000);
    CHECK(config_set_value(&cs, "log.roll.ms", "5000", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
    CHECK_EQ_I64(broker_config_roll_ms(&cs), 5000);
    CHECK(config_reset(&cs, "log.roll.ms") == 0);
    CHECK_EQ_I64(broker_config_roll_ms(&cs), 2 * 3600000);
    CHECK(config_set_value(&cs, "log.roll.ms", "0", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) != 0);
    CHECK(err_has("log.roll.ms"));

    /* Retention ms reset back to null falls back again. */
    CHECK(config_set_value(&cs, "log.retention.ms", "77", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
    CHECK_EQ_I64(broker_config_retention_ms(&cs), 77);
    CHECK(config_reset(&cs, "log.retention.ms") == 0);
    CHECK_EQ_I64(broker_config_retention_ms(&cs), 168LL * 3600000);
    config_set_deinit(&cs);
}

static int topic_value_is(const config_set *ov, const config_set *broker, int idx,
                          const char *want, int want_source)
{
    int src = -1;
    const char *v = topic_config_value(ov, broker, idx, &src);
    int ok = v && strcmp(v, want) == 0 && src == want_source;
    if (!ok)
        fprintf(stderr, "  %s = [%s] source %d, expected [%s] source %d\n", topic_config_defs[idx].name,
                v ? v : "(null)", src, want, want_source);
    return ok;
}

static void test_topic_values(void)
{
    config_set broker, ov;
    CHECK(broker_load(&broker, "") == 0);
    CHECK(topic_config_overrides_init(&ov) == 0);

    /* Nothing set anywhere: defaults, source 5. */
    CHECK(topic_value_is(&ov, &broker, TCFG_SEGMENT_BYTES, "1073741824", CONFIG_SOURCE_DEFAULT));
    CHECK(topic_value_is(&ov, &broker, TCFG_RETENTION_MS, "604800000", CONFIG_SOURCE_DEFAULT));
    CHECK(topic_value_is(&ov, &broker, TCFG_SEGMENT_MS, "604800000", CONFIG_SOURCE_DEFAULT));
    CHECK(topic_value_is(&ov, &broker, TCFG_CLEANUP_POLICY, "delete", CONFIG_SOURCE_DEFAULT));
    CHECK(topic_value_is(&ov, &broker, TCFG_FLUSH_MESSAGES, "1", CONFIG_SOURCE_DEFAULT));
    /* No broker synonym, or a null broker value: the built-in default. */
    CHECK(topic_value_is(&ov, &broker, TCFG_PREALLOCATE, "false", CONFIG_SOURCE_DEFAULT));
    CHECK(topic_value_is(&ov, &broker, TCFG_FLUSH_MS, "9223372036854775807", CONFIG_SOURCE_DEFAULT));
    CHECK(topic_value_is(&ov, &broker, TCFG_MIN_CLEANABLE_DIRTY_RATIO, "0.5", CONFIG_SOURCE_DEFAULT));
    /* NULL overrides means "no overrides". */
    CHECK(topic_value_is(NULL, &broker, TCFG_SEGMENT_BYTES, "1073741824", CONFIG_SOURCE_DEFAULT));
    for (int i = 0; i < TCFG_COUNT; i++) {
        int src;
        CHECK(topic_config_value(&ov, &broker, i, &src) != NULL);
        CHECK(!topic_config_is_set(&ov, i));
    }

    /* Broker file values: source 4. */
    CHECK(config_load_properties(&broker,
                                 "log.segment.bytes=65536\nlog.retention.minutes=3\nlog.roll.hours=1\n"
                                 "log.flush.interval.ms=250\n",
                                 "server.properties", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
    CHECK(topic_value_is(&ov, &broker, TCFG_SEGMENT_BYTES, "65536", CONFIG_SOURCE_STATIC_BROKER));
    CHECK(topic_value_is(&ov, &broker, TCFG_RETENTION_MS, "180000", CONFIG_SOURCE_STATIC_BROKER));
    CHECK(topic_value_is(&ov, &broker, TCFG_SEGMENT_MS, "3600000", CONFIG_SOURCE_STATIC_BROKER));
    CHECK(topic_value_is(&ov, &broker, TCFG_FLUSH_MS, "250", CONFIG_SOURCE_STATIC_BROKER));
    CHECK(topic_value_is(&ov, &broker, TCFG_CLEANUP_POLICY, "delete", CONFIG_SOURCE_DEFAULT));
    CHECK(config_set_value(&broker, "log.retention.ms", "-1", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
    CHECK(topic_value_is(&ov, &broker, TCFG_RETENTION_MS, "-1", CONFIG_SOURCE_STATIC_BROKER));

    /* Topic overrides: source 1, over whatever the broker says. */
    CHECK(config_set_value(&ov, "retention.ms", "1000", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(config_set_value(&ov, "segment.bytes", "1024", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(config_set_value(&ov, "cleanup.policy", "compact", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(config_set_value(&ov, "preallocate", "TRUE", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(topic_config_is_set(&ov, TCFG_RETENTION_MS));
    CHECK(topic_value_is(&ov, &broker, TCFG_RETENTION_MS, "1000", CONFIG_SOURCE_TOPIC));
    CHECK(topic_value_is(&ov, &broker, TCFG_SEGMENT_BYTES, "1024", CONFIG_SOURCE_TOPIC));
    CHECK(topic_value_is(&ov, &broker, TCFG_CLEANUP_POLICY, "compact", CONFIG_SOURCE_TOPIC));
    CHECK(topic_value_is(&ov, &broker, TCFG_PREALLOCATE, "true", CONFIG_SOURCE_TOPIC));
    CHECK_EQ_I64(topic_config_num(&ov, &broker, TCFG_PREALLOCATE), 1);
    CHECK_EQ_I64(topic_config_num(&ov, &broker, TCFG_RETENTION_MS), 1000);
    /* What the log is told: compact only means no retention. */
    log_config lc;
    topic_config_log(&ov, &broker, &lc);
    CHECK(!lc.delete_policy && lc.retention_ms == 1000 && lc.segment_bytes == 1024);
    CHECK(config_set_value(&ov, "cleanup.policy", "compact,delete", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    topic_config_log(&ov, &broker, &lc);
    CHECK(lc.delete_policy);
    CHECK(config_set_value(&ov, "cleanup.policy", "compact", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);

    /* Topic keys are validated with their own bounds and choices. */
    CHECK(config_set_value(&ov, "segment.bytes", "13", CONFIG_SOURCE_TOPIC, err, sizeof(err)) != 0);
    CHECK(err_has("segment.bytes"));
    CHECK(config_set_value(&ov, "compression.type", "brotli", CONFIG_SOURCE_TOPIC, err, sizeof(err)) != 0);
    CHECK(err_has("compression.type"));
    CHECK(config_set_value(&ov, "message.timestamp.type", "logappendtime", CONFIG_SOURCE_TOPIC,
                           err, sizeof(err)) == 0);
    CHECK(topic_value_is(&ov, &broker, TCFG_MESSAGE_TIMESTAMP_TYPE, "LogAppendTime", CONFIG_SOURCE_TOPIC));
    CHECK(config_set_value(&ov, "min.cleanable.dirty.ratio", "2", CONFIG_SOURCE_TOPIC, err, sizeof(err)) != 0);
    CHECK(err_has("min.cleanable.dirty.ratio"));
    CHECK(config_set_value(&ov, "log.retention.ms", "5", CONFIG_SOURCE_TOPIC, err, sizeof(err)) != 0);
    CHECK(err_has("'log.retention.ms'"));

    /* Deleting an override (config_reset) falls back to the broker. */
    CHECK(config_reset(&ov, "segment.bytes") == 0);
    CHECK(!topic_config_is_set(&ov, TCFG_SEGMENT_BYTES));
    CHECK(topic_value_is(&ov, &broker, TCFG_SEGMENT_BYTES, "65536", CONFIG_SOURCE_STATIC_BROKER));

    config_set_deinit(&ov);
    config_set_deinit(&broker);
}

static void test_topic_log(void)
{
    config_set broker, ov;
    log_config lc, dflt;
    log_config_defaults(&dflt);

    /* Defaults everywhere give the storage layer's own defaults. */
    CHECK(broker_load(&broker, "") == 0);
    CHECK(topic_config_overrides_init(&ov) == 0);
    topic_config_log(&ov, &broker, &lc);
    CHECK_EQ_I64(lc.segment_bytes, dflt.segment_bytes);
    CHECK_EQ_I64(lc.segment_ms, dflt.segment_ms);
    CHECK_EQ_I64(lc.index_interval_bytes, dflt.index_interval_bytes);
    CHECK_EQ_I64(lc.segment_index_bytes, dflt.segment_index_bytes);
    CHECK_EQ_I64(lc.retention_ms, dflt.retention_ms);
    CHECK_EQ_I64(lc.retention_bytes, dflt.retention_bytes);

    /* Broker keys, then topic overrides on top of some of them. */
    CHECK(config_load_properties(&broker,
                                 "log.segment.bytes=1048576\nlog.roll.ms=60000\nlog.index.interval.bytes=100\n"
                                 "log.index.size.max.bytes=4096\nlog.retention.hours=2\nlog.retention.bytes=999\n",
                                 "server.properties", CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
    topic_config_log(&ov, &broker, &lc);
    CHECK_EQ_I64(lc.segment_bytes, 1048576);
    CHECK_EQ_I64(lc.segment_ms, 60000);
    CHECK_EQ_I64(lc.index_interval_bytes, 100);
    CHECK_EQ_I64(lc.segment_index_bytes, 4096);
    CHECK_EQ_I64(lc.retention_ms, 2 * 3600000);
    CHECK_EQ_I64(lc.retention_bytes, 999);

    CHECK(config_set_value(&ov, "segment.bytes", "2048", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(config_set_value(&ov, "segment.ms", "10", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(config_set_value(&ov, "retention.ms", "-1", CONFIG_SOURCE_TOPIC, err, sizeof(err)) == 0);
    CHECK(config_set_value(&ov, "retention.bytes", "9223372036854775807", CONFIG_SOURCE_TOPIC,
                           err, sizeof(err)) == 0);
    topic_config_log(&ov, &broker, &lc);
    CHECK_EQ_I64(lc.segment_bytes, 2048);
    CHECK_EQ_I64(lc.segment_ms, 10);
    CHECK_EQ_I64(lc.index_interval_bytes, 100);
    CHECK_EQ_I64(lc.segment_index_bytes, 4096);
    CHECK_EQ_I64(lc.retention_ms, -1);
    CHECK_EQ_I64(lc.retention_bytes, 9223372036854775807LL);
    config_set_deinit(&ov);
    config_set_deinit(&broker);
}

/*
 * The body of Kafka 3.x's config/kraft/server.properties (comments cut
 * short). A file written for Kafka must load as it is.
 */
static const char kafka_kraft_properties[] =
    "############################# Server Basics #############################\n"
    "\n"
    "# The role of this server. Setting this puts us in KRaft mode\n"
    "process.roles=broker,controller\n"
    "\n"
    "# The node id associated with this instance's roles\n"
    "node.id=1\n"
    "\n"
    "# The connect string for the controller quorum\n"
    "controller.quorum.voters=1@localhost:9093\n"
    "\n"
    "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"
    "inter.broker.listener.name=PLAINTEXT\n"
    "advertised.listeners=PLAINTEXT://localhost:9092\n"
    "controller.listener.names=CONTROLLER\n"
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
    "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n"
    "num.network.threads=3\n"
    "num.io.threads=8\n"
    "socket.send.buffer.bytes=102400\n"
    "socket.receive.buffer.bytes=102400\n"
    "socket.request.max.bytes=104857600\n"
    "log.dirs=/tmp/kraft-combined-logs\n"
    "num.partitions=1\n"
    "num.recovery.threads.per.data.dir=1\n"
    "offsets.topic.replication.factor=1\n"
    "transaction.state.log.replication.factor=1\n"
    "transaction.state.log.min.isr=1\n"
    "#log.flush.interval.messages=10000\n"
    "#log.flush.interval.ms=1000\n"
    "log.retention.hours=168\n"
    "#log.retention.bytes=1073741824\n"
    "log.segment.bytes=1073741824\n"
    "log.retention.check.interval.ms=300000\n";

static void test_shipped_configs(void)
{
    config_set cs;
    CHECK(broker_load(&cs, kafka_kraft_properties) == 0);
    if (err[0])
        fprintf(stderr, "  kafka's server.properties: %s\n", err);
    CHECK_EQ_I64(config_get_num(&cs, BCFG_NUM_NETWORK_THREADS), 3);
    config_set_deinit(&cs);

    /* config/server.properties, found from this file's path so the test
     * also works when not run from the repository root. */
    char path[4096];
    const char *self = __FILE__, *tail = strstr(self, "tests/unit/test_config.c");
    int prefix = tail ? (int)(tail - self) : 0;
    snprintf(path, sizeof(path), "%.*sconfig/server.properties", prefix, self);
    CHECK(config_set_init(&cs, broker_config_defs, BCFG_COUNT) == 0);
    err[0] = '\0';
    CHECK(config_load_file(&cs, path, CONFIG_SOURCE_STATIC_BROKER, err, sizeof(err)) == 0);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    CHECK(strcmp(broker_config_log_dir(&cs), "data") == 0);
    CHECK(str_is(&cs, BCFG_ADVERTISED_LISTENERS, "PLAINTEXT://localhost:9092"));
    CHECK(str_is(&cs, BCFG_LISTENERS, "PLAINTEXT://:9092"));
    CHECK_EQ_I64(config_get_num(&cs, BCFG_NODE_ID), 1);
    CHECK_EQ_I64(config_get_num(&cs, BCFG_LOG_FLUSH_INTERVAL_MESSAGES), 1);
    CHECK_EQ_I64(broker_config_retention_ms(&cs), 168LL * 3600000);
    config_set_deinit(&cs);
}

int main(void)
{
    test_defaults();
    test_separators_and_comments();
    test_crlf();
    test_continuations();
    test_escapes();
    test_empty_values();
    test_unknown_key();
    test_invalid_values();
    test_accepted_spellings();
    test_line_numbers();
    test_copy_and_reset();
    test_load_file();
    test_broker_table();
    test_broker_fallbacks();
    test_topic_values();
    test_topic_log();
    test_shipped_configs();
    TEST_REPORT();
}
