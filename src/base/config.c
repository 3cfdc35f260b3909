/*
 * config.c - see config.h. Parsing follows java.util.Properties closely
 * enough for server.properties files written for Kafka: separators '=' ':'
 * or whitespace, comments '#' and '!', trailing-backslash continuations,
 * and the escapes \t \n \r \f \\ \= \: \uXXXX (written out as UTF-8; a
 * \u not followed by four hex digits is refused, as Java refuses it).
 *
 * Values of booleans and of keys with a list of choices are matched without
 * regard to case but stored in the table's spelling ("TRUE" -> "true",
 * "logappendtime" -> "LogAppendTime"), so code that compares the stored
 * string with strcmp sees what validation accepted.
 */
#include "base/config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int config_set_init(config_set *cs, const config_def *defs, int n)
{
    cs->defs = defs;
    cs->n = n;
    cs->values = calloc((size_t)n, sizeof(*cs->values));
    if (!cs->values)
        return -1;
    for (int i = 0; i < n; i++) {
        char err[256];
        cs->values[i].source = CONFIG_SOURCE_DEFAULT;
        if (!defs[i].default_value)
            continue;
        if (config_validate(&defs[i], defs[i].default_value, &cs->values[i].num, err, sizeof(err)) != 0) {
            fprintf(stderr, "config table bug: %s\n", err);
            abort();
        }
        cs->values[i].str = strdup(defs[i].default_value);
        if (!cs->values[i].str)
            return -1;
    }
    return 0;
}

void config_set_deinit(config_set *cs)
{
    if (!cs->values)
        return;
    for (int i = 0; i < cs->n; i++)
        free(cs->values[i].str);
    free(cs->values);
    cs->values = NULL;
}

int config_set_copy(config_set *dst, const config_set *src)
{
    dst->defs = src->defs;
    dst->n = src->n;
    dst->values = calloc((size_t)src->n, sizeof(*dst->values));
    if (!dst->values)
        return -1;
    for (int i = 0; i < src->n; i++) {
        dst->values[i] = src->values[i];
        if (src->values[i].str && !(dst->values[i].str = strdup(src->values[i].str))) {
            config_set_deinit(dst);
            return -1;
        }
    }
    return 0;
}

int config_find(const config_def *defs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(defs[i].name, name) == 0)
            return i;
    return -1;
}

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int config_validate(const config_def *def, const char *value, int64_t *num_out,
                    char *err, size_t errlen)
{
    int64_t num = 0;
    switch (def->type) {
    case CONFIG_BOOLEAN:
        if (strcasecmp(value, "true") == 0)
            num = 1;
        else if (strcasecmp(value, "false") == 0)
            num = 0;
        else {
            snprintf(err, errlen, "invalid value '%s' for %s: expected true or false", value, def->name);
            return -1;
        }
        break;
    case CONFIG_INT:
    case CONFIG_SHORT:
    case CONFIG_LONG:
        if (parse_int64(value, &num) != 0) {
            snprintf(err, errlen, "invalid value '%s' for %s: not an integer", value, def->name);
            return -1;
        }
        if (num < def->min || num > def->max) {
            snprintf(err, errlen, "invalid value %lld for %s: must be in [%lld, %lld]",
                     (long long)num, def->name, (long long)def->min, (long long)def->max);
            return -1;
        }
        break;
    case CONFIG_DOUBLE: {
        char *end;
        double d = strtod(value, &end);
        while (end != value && (*end == ' ' || *end == '\t'))
            end++;
        if (end == value || *end || !isfinite(d)) {
            snprintf(err, errlen, "invalid value '%s' for %s: not a number", value, def->name);
            return -1;
        }
        /* min == max: no range (Kafka's Double.MAX_VALUE defaults). */
        if (def->min != def->max && (d < (double)def->min || d > (double)def->max)) {
            snprintf(err, errlen, "invalid value '%s' for %s: must be in [%lld, %lld]",
                     value, def->name, (long long)def->min, (long long)def->max);
            return -1;
        }
        /* (int64_t)d is undefined past the int64 range; 2^63 itself passes
         * a check against (double)INT64_MAX, hence the explicit bounds. */
        num = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
        break;
    }
    default:
        if (def->choices) {
            const char *const *c = def->choices;
            for (; *c; c++)
                if (strcasecmp(*c, value) == 0)
                    break;
            if (!*c) {
                snprintf(err, errlen, "invalid value '%s' for %s: must be one of", value, def->name);
                for (c = def->choices; *c; c++) {
                    size_t l = strlen(err);
                    snprintf(err + l, errlen - l, " %s", *c);
                }
                return -1;
            }
        }
        break;
    }
    if (num_out)
        *num_out = num;
    return 0;
}

/*
 * The spelling to store for an accepted value: the table's for booleans and
 * choices (matched case-insensitively by config_validate), else value itself.
 * Borrowed from def or value.
 */
static const char *config_canonical(const config_def *def, const char *value, int64_t num)
{
    if (def->type == CONFIG_BOOLEAN)
        return num ? "true" : "false";
    if (def->choices && def->type != CONFIG_INT && def->type != CONFIG_SHORT &&
        def->type != CONFIG_LONG && def->type != CONFIG_DOUBLE)
        for (const char *const *c = def->choices; *c; c++)
            if (strcasecmp(*c, value) == 0)
                return *c;
    return value;
}

int config_set_value(config_set *cs, const char *key, const char *value,
                     int source, char *err, size_t errlen)
{
    int idx = config_find(cs->defs, cs->n, key);
    if (idx < 0) {
        snprintf(err, errlen, "unknown configuration key '%s'", key);
        return -1;
    }
    int64_t num = 0;
    if (config_validate(&cs->defs[idx], value, &num, err, errlen) != 0)
        return -1;
    char *copy = strdup(config_canonical(&cs->defs[idx], value, num));
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(cs->values[idx].str);
    cs->values[idx].str = copy;
    cs->values[idx].num = num;
    cs->values[idx].source = source;
    return 0;
}

int config_reset(config_set *cs, const char *key)
{
    int idx = config_find(cs->defs, cs->n, key);
    if (idx < 0)
        return -1;
    const config_def *d = &cs->defs[idx];
    char *copy = NULL;
    if (d->default_value && !(copy = strdup(d->default_value)))
        return -1;
    free(cs->values[idx].str);
    cs->values[idx].str = copy;
    cs->values[idx].num = 0;
    if (d->default_value)
        config_validate(d, d->default_value, &cs->values[idx].num, NULL, 0);
    cs->values[idx].source = CONFIG_SOURCE_DEFAULT;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * Unescape s[0..n) into dst, which must hold n bytes (the output is never
 * longer than the input: \uXXXX, 6 bytes, becomes at most 3 of UTF-8).
 * Returns the output length, or -1 for a malformed \uXXXX. \u0000 becomes
 * '?' because a NUL would cut the C string short; so do UTF-16 surrogates,
 * which have no UTF-8 form of their own (characters past U+FFFF are rare
 * enough in a server.properties not to combine pairs).
 */
static long unescape_into(char *dst, const char *s, size_t n)
{
    size_t dlen = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            dst[dlen++] = c;
            continue;
        }
        c = s[++i];
        if (c == 't') c = '\t';
        else if (c == 'n') c = '\n';
        else if (c == 'r') c = '\r';
        else if (c == 'f') c = '\f';
        else if (c == 'u') {
            unsigned v = 0;
            for (int d = 1; d <= 4; d++) {
                int h = i + (size_t)d < n ? hex_digit(s[i + (size_t)d]) : -1;
                if (h < 0)
                    return -1;
                v = v << 4 | (unsigned)h;
            }
            i += 4;
            if (v == 0 || (v >= 0xD800 && v <= 0xDFFF)) {
                dst[dlen++] = '?'; /* NUL, or half a surrogate pair */
            } else if (v < 0x80) {
                dst[dlen++] = (char)v;
            } else if (v < 0x800) {
                dst[dlen++] = (char)(0xC0 | v >> 6);
                dst[dlen++] = (char)(0x80 | (v & 0x3F));
            } else {
                dst[dlen++] = (char)(0xE0 | v >> 12);
                dst[dlen++] = (char)(0x80 | (v >> 6 & 0x3F));
                dst[dlen++] = (char)(0x80 | (v & 0x3F));
            }
            continue;
        }
        dst[dlen++] = c;
    }
    return (long)dlen;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\f'; }

int config_load_properties(config_set *cs, const char *text, const char *origin,
                           int source, char *err, size_t errlen)
{
    size_t total = strlen(text);
    char *logical = malloc(total + 1);
    if (!logical) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *p = text, *end = text + total;
    int lineno = 0, rc = 0;
    while (p < end && rc == 0) {
        /* Gather one logical line (joining continuations). */
        size_t llen = 0;
        int first_line = ++lineno;
        for (;;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            const char *ls = p;
            p = nl ? nl + 1 : end;
            while (ls < le && is_ws(*ls))
                ls++;
            if (llen == 0 && ls < le && (*ls == '#' || *ls == '!'))
                break;
            const char *te = le;
            if (te > ls && te[-1] == '\r')
                te--;
            size_t bs = 0;
            while (te - (ptrdiff_t)bs > ls && te[-1 - (ptrdiff_t)bs] == '\\')
                bs++;
            int cont = bs % 2 == 1;
            memcpy(logical + llen, ls, (size_t)(te - ls - cont));
            llen += (size_t)(te - ls - cont);
            if (!cont || p >= end)
                break;
            lineno++;
        }
        logical[llen] = '\0';
        if (llen == 0)
            continue;
        /* Split key / value on the first unescaped '=', ':' or whitespace. */
        size_t k = 0;
        while (k < llen && !(logical[k] == '=' || logical[k] == ':' || is_ws(logical[k]))) {
            if (logical[k] == '\\')
                k++;
            k++;
        }
        if (k > llen)
            k = llen;
        size_t v = k;
        while (v < llen && is_ws(logical[v]))
            v++;
        if (v < llen && (logical[v] == '=' || logical[v] == ':'))
            v++;
        while (v < llen && is_ws(logical[v]))
            v++;
        char *key = malloc(k + 1), *val = malloc(llen - v + 1);
        if (!key || !val) {
            free(key);
            free(val);
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        long kl = unescape_into(key, logical, k);
        long vl = unescape_into(val, logical + v, llen - v);
        char msg[512];
        if (kl < 0 || vl < 0) {
            snprintf(err, errlen, "%s:%d: malformed \\uXXXX escape in the %s", origin, first_line,
                     kl < 0 ? "key" : "value");
            free(key);
            free(val);
            rc = -1;
            break;
        }
        key[kl] = '\0';
        while (vl > 0 && is_ws(val[vl - 1]))
            vl--;
        val[vl] = '\0';
        if (config_set_value(cs, key, val, source, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", origin, first_line, msg);
            rc = -1;
        }
        free(key);
        free(val);
    }
    free(logical);
    return rc;
}

int config_load_file(config_set *cs, const char *path, int source, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            if (cap > (16u << 20)) {
                snprintf(err, errlen, "config file %s is larger than 16 MiB", path);
                free(buf);
                fclose(f);
                return -1;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int read_failed = ferror(f);
    int read_errno = errno;
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory reading %s", path);
        return -1;
    }
    /* fopen succeeds on a directory and fread then fails: without this
     * check `gregor server /etc` would run on the defaults. */
    if (read_failed) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(read_errno));
        free(buf);
        return -1;
    }
    /* A NUL would end the text early and drop every later line unread. */
    if (memchr(buf, '\0', len)) {
        snprintf(err, errlen, "config file %s contains a NUL byte", path);
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    int rc = config_load_properties(cs, buf, path, source, err, errlen);
    free(buf);
    return rc;
}

int64_t config_get_num(const config_set *cs, int idx) { return cs->values[idx].num; }
const char *config_get_str(const config_set *cs, int idx) { return cs->values[idx].str; }
const config_value *config_get(const config_set *cs, int idx) { return &cs->values[idx]; }
