/*
 * storage.c - `gregor storage`, after kafka-storage.sh: `random-uuid`
 * prints a new cluster id; `format` writes meta.properties into the log
 * directory of a server.properties, so that the broker starts with that
 * cluster id (it reads the file at start-up and writes one only when it is
 * missing); `info` prints what a log directory holds.
 *
 * The config is read with the broker's own table (broker_config.h), so a
 * file the broker would refuse is refused here too, with the same message.
 * meta.properties is written as every checkpoint is: temp file, fsync,
 * rename, fsync of the directory. No broker is contacted. Main thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "broker/broker_config.h"
#include "tools/common.h"
#include "tools/tools.h"

#define STORAGE_PATH_MAX 4096

static void storage_usage(FILE *f)
{
    fprintf(f,
        "Usage: gregor storage <command> [options]\n"
        "  random-uuid                          print a new cluster id\n"
        "  format -t UUID -c server.properties  write meta.properties into the log directory\n"
        "         [--ignore-formatted | -g]     (an already formatted directory is then not an error)\n"
        "  info -c server.properties            print the log directory's meta.properties\n"
        "Options: --cluster-id (-t), --config (-c), --output table|json, --help\n"
        "Example:\n"
        "  gregor storage format -t \"$(gregor storage random-uuid)\" -c config/server.properties\n");
}

static int storage_random_uuid(bool json)
{
    uint8_t b[16];
    char s[23];
    if (tool_uuid_random(b) < 0) {
        tool_err("storage", "cannot read /dev/urandom: %s", strerror(errno));
        return 1;
    }
    tool_uuid_str(b, s);
    if (json)
        printf("{\"uuid\":\"%s\"}\n", s);
    else
        printf("%s\n", s);
    return 0;
}

/* mkdir -p */
static int storage_mkdirs(const char *dir)
{
    char path[STORAGE_PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int storage_fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* tmp, fsync, rename, fsync dir. -1 with errno and *what set. */
static int storage_write_atomic(const char *dir, const char *text, const char **what)
{
    char path[STORAGE_PATH_MAX + 32], tmp[STORAGE_PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/meta.properties", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    *what = "write";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)n;
    }
    *what = "fsync";
    if (fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    *what = "rename";
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    *what = "fsync the directory of";
    return storage_fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

/* The broker's view of a server.properties: node.id and the log directory
 * (copied into dir). */
static int storage_read_config(const char *config, int64_t *node_id, char *dir, size_t dirlen)
{
    config_set cs;
    char err[512];
    if (config_set_init(&cs, broker_config_defs, BCFG_COUNT) != 0) {
        tool_err("storage", "out of memory");
        return -1;
    }
    int rc = -1;
    if (config_load_file(&cs, config, CONFIG_SOURCE_STATIC_BROKER, err, sizeof err) != 0) {
        tool_err("storage", "%s", err);
        goto out;
    }
    *node_id = config_get_num(&cs, BCFG_NODE_ID);
    const char *d = broker_config_log_dir(&cs);
    if (!d || !*d) {
        tool_err("storage", "%s names no log directory (log.dirs or log.dir)", config);
        goto out;
    }
    if (strchr(d, ',')) {
        tool_err("storage", "%s: gregor serves one log directory, not %s", config, d);
        goto out;
    }
    if (snprintf(dir, dirlen, "%s", d) >= (int)dirlen) {
        tool_err("storage", "log directory path too long");
        goto out;
    }
    rc = 0;
out:
    config_set_deinit(&cs);
    return rc;
}

static int storage_format(const char *uuid, const char *config, bool ignore_formatted, bool json)
{
    uint8_t b[16], dirb[16];
    char dir[STORAGE_PATH_MAX], meta[STORAGE_PATH_MAX + 32], dirid[23], text[512];
    int64_t node_id;
    if (tool_uuid_parse(uuid, b) < 0) {
        tool_err("storage", "Cluster ID string %s does not appear to be a valid UUID "
                 "(22 base64url characters, e.g. from gregor storage random-uuid)", uuid);
        return 1;
    }
    if (storage_read_config(config, &node_id, dir, sizeof dir) < 0)
        return 1;
    snprintf(meta, sizeof meta, "%s/meta.properties", dir);
    if (access(meta, F_OK) == 0) {
        if (!ignore_formatted) {
            tool_err("storage", "Log directory %s is already formatted. Use --ignore-formatted to "
                     "ignore this directory and format the others.", dir);
            return 1;
        }
        if (json)
            printf("{\"formatted\":false,\"log_dir\":");
        if (json) {
            tool_json_str(stdout, dir);
            printf(",\"reason\":\"already formatted\"}\n");
        } else {
            printf("All of the log directories are already formatted.\n");
        }
        return 0;
    }
    if (storage_mkdirs(dir) != 0) {
        tool_err("storage", "cannot create log directory %s: %s", dir, strerror(errno));
        return 1;
    }
    if (tool_uuid_random(dirb) < 0) {
        tool_err("storage", "cannot read /dev/urandom: %s", strerror(errno));
        return 1;
    }
    tool_uuid_str(dirb, dirid);
    snprintf(text, sizeof text,
             "#\n#Written by gregor storage format\nversion=1\nnode.id=%lld\ncluster.id=%s\ndirectory.id=%s\n",
             (long long)node_id, uuid, dirid);
    const char *what = "";
    if (storage_write_atomic(dir, text, &what) != 0) {
        tool_err("storage", "cannot %s %s: %s", what, meta, strerror(errno));
        return 1;
    }
    if (json) {
        printf("{\"formatted\":true,\"log_dir\":");
        tool_json_str(stdout, dir);
        printf(",\"cluster_id\":\"%s\",\"node_id\":%lld,\"directory_id\":\"%s\"}\n", uuid,
               (long long)node_id, dirid);
    } else {
        printf("Formatting %s with cluster.id %s and node.id %lld.\n", dir, uuid, (long long)node_id);
    }
    return 0;
}

static int storage_info(const char *config, bool json)
{
    char dir[STORAGE_PATH_MAX], meta[STORAGE_PATH_MAX + 32], line[1024];
    int64_t node_id;
    if (storage_read_config(config, &node_id, dir, sizeof dir) < 0)
        return 1;
    snprintf(meta, sizeof meta, "%s/meta.properties", dir);
    FILE *f = fopen(meta, "r");
    if (!f) {
        tool_err("storage", "%s: %s (not formatted yet?)", meta, strerror(errno));
        return 1;
    }
    if (json) {
        printf("{\"log_dir\":");
        tool_json_str(stdout, dir);
        printf(",\"meta_properties\":{");
    } else {
        printf("Found log directory:\n  %s\n\nFound metadata: {", dir);
    }
    bool first = true;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = '\0';
        if (json) {
            printf("%s", first ? "" : ",");
            tool_json_str(stdout, line);
            printf(":");
            tool_json_str(stdout, eq + 1);
        } else {
            printf("%s%s=%s", first ? "" : ", ", line, eq + 1);
        }
        first = false;
    }
    fclose(f);
    printf(json ? "}}\n" : "}\n");
    return 0;
}

int tool_storage_main(int argc, char **argv)
{
    tool_opts o;
    const char *cmd = NULL, *uuid = NULL, *config = NULL;
    bool ignore_formatted = false;
    tool_set_cmd("storage");
    tool_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = tool_opts_parse(&o, argc, argv, &i);
        if (rc < 0)
            return 2;
        if (rc > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            storage_usage(stdout);
            return 0;
        } else if (tool_opt_is(arg, "--cluster-id") || strcmp(arg, "-t") == 0) {
            if (!(uuid = tool_arg_value(argc, argv, &i)))
                return 2;
        } else if (tool_opt_is(arg, "--config") || strcmp(arg, "-c") == 0) {
            if (!(config = tool_arg_value(argc, argv, &i)))
                return 2;
        } else if (strcmp(arg, "--ignore-formatted") == 0 || strcmp(arg, "-g") == 0) {
            ignore_formatted = true;
        } else if (tool_opt_is(arg, "--release-version") || strcmp(arg, "-r") == 0) {
            /* Kafka's metadata.version: a single node has nothing to agree on */
            if (!tool_arg_value(argc, argv, &i))
                return 2;
        } else if (strcmp(arg, "--standalone") == 0 || strcmp(arg, "-s") == 0 ||
                   strcmp(arg, "--no-initial-controllers") == 0 || strcmp(arg, "-N") == 0) {
            /* KIP-853 quorum bootstrap: a single node is its own quorum */
        } else if (arg[0] != '-' && !cmd) {
            cmd = arg;
        } else {
            tool_err("storage", "unknown option %s (see gregor storage --help)", arg);
            return 2;
        }
    }
    if (!cmd) {
        tool_err("storage", "a command is required: random-uuid, format or info (see --help)");
        return 2;
    }
    if (strcmp(cmd, "random-uuid") == 0)
        return storage_random_uuid(o.json);
    if (strcmp(cmd, "format") == 0) {
        if (!uuid || !config) {
            tool_err("storage", "format needs --cluster-id (-t) UUID and --config (-c) FILE");
            return 2;
        }
        return storage_format(uuid, config, ignore_formatted, o.json);
    }
    if (strcmp(cmd, "info") == 0) {
        if (!config) {
            tool_err("storage", "info needs --config (-c) FILE");
            return 2;
        }
        return storage_info(config, o.json);
    }
    tool_err("storage", "unknown command %s: random-uuid, format or info", cmd);
    return 2;
}
