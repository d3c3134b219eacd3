/* slhttpd: HTTP/1.1 static file server on sltcp. Command line, signals,
 * stats and the event loop; the HTTP work is in server.c. */
#include "appcommon.h"
#include "appopts.h"
#include "keyfile.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sltcp/sltcp.h>

static volatile sig_atomic_t g_stop, g_dump;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    g_dump = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: slhttpd --dev packet:IFACE|tap:NAME --addr A.B.C.D/LEN [--gateway IP]\n"
"               --port N --root DIR [options]\n"
"\n"
"HTTP/1.1 static file server (GET, HEAD, keep-alive, single byte ranges) on\n"
"the sltcp user-space TCP/IP stack.\n"
"\n"
"required:\n"
APP_STACK_HELP_REQUIRED
"  --port N                      TCP port to listen on (1-65535)\n"
"  --root DIR                    document root; '/' serves DIR/index.html\n"
"options:\n"
APP_STACK_HELP_OPTIONS
"  --max-conns N                 connection limit (stack and server)\n"
"  --backlog N                   half-open + unaccepted connections (default 1024);\n"
"                                beyond it SYNs are answered with SYN cookies\n"
"  --no-syncookies               drop SYNs beyond the backlog instead\n"
"  --max-mem BYTES[K|M|G]        budget for all connection buffers; beyond it\n"
"                                (or --max-conns) new connections get a RST\n"
"  --no-ecn                      answer SYNs that ask for ECN without it (RFC 3168)\n"
"  --ttl N                       IPv4 TTL of every segment, 1-255 (default 64)\n"
"  --idle-timeout S              close idle/stalled connections after S seconds\n"
"                                (default 60, 0 = never)\n"
"  --stats-file PATH             write counters here on SIGUSR1 and at exit\n"
"                                (default at exit: stderr)\n"
"  --ready-file PATH             created once listening (removed at exit)\n"
"externalized state (connections survive kill -9, restarts and moves):\n"
"  --store mem|shm:NAME|redis://HOST:PORT\n"
"                                where connection state lives (shm: the\n"
"                                embedded default for one host, e.g.\n"
"                                shm:slhttpd?slots=65536; redis: across hosts)\n"
"  --durability off|async|sync   off: plain stack; async: state written once\n"
"                                per loop iteration, output not held; sync\n"
"                                (default with --store): no segment leaves\n"
"                                before its state is in the store\n"
"  --store-key FILE              32-byte secret sealing every record (HMAC);\n"
"                                all instances sharing a store need the same\n"
"                                key. The file must be owned by this user with\n"
"                                mode 0600 (no group/other access)\n"
"  --state-dir DIR               without --store-key: the key is DIR/store.key,\n"
"                                made (random, 0600) on first start and reused\n"
"                                after (default " STATE_DIR_DEFAULT ")\n"
"  --evict-idle MS               move connections idle for MS out of memory\n"
"                                into the store; their next segment brings\n"
"                                them back (default 0: never)\n"
"  --spool DIR                   accept PUT /NAME into DIR (.NAME.ID.part until\n"
"                                complete, then renamed; resumes across kills);\n"
"                                DIR must not be the root or inside it\n"
"  --max-upload BYTES[K|M|G]     largest PUT body (default 1G; larger: 413)\n"
"  --spool-quota BYTES[K|M|G]    spool files plus uploads in progress (default\n"
"                                10G; beyond: 507)\n"
"  --part-timeout S              remove parts nobody wrote for S seconds\n"
"                                (default 3600, 0 = never)\n"
"  --user NAME                   after opening the device, the store and the\n"
"                                directories, run as user NAME (and its group)\n"
"  On SIGTERM with --store, open connections are left in the store for the\n"
"  next instance instead of being closed (a restart or deploy).\n"
"  --quiet                       log errors only\n"
"  --verbose                     log every request\n"
"  --help                        this text\n"
"\n"
"Signals: SIGINT/SIGTERM stop cleanly and dump stats; SIGUSR1 writes the\n"
"stats file. Exit status: 0 after a clean stop, 1 on a runtime error,\n"
"2 on a usage error.\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "slhttpd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}


/* The store's key: --store-key FILE, else the state directory's own key
 * (mem: keeps no state across processes: a random key in memory). */
static int load_store_key(const char *store, const char *key_file, const char *state_dir,
                          int quiet, uint8_t key[STORE_KEY_LEN])
{
    char err[PATH_MAX + 128];
    int created = 0, rc;
    if (key_file != NULL)
        rc = key_load(key_file, key, err, sizeof(err));
    else if (strncmp(store, "mem:", 4) == 0) {
        rc = getrandom(key, STORE_KEY_LEN, 0) == STORE_KEY_LEN ? 0 : -1;
        if (rc < 0)
            snprintf(err, sizeof(err), "getrandom: %s", strerror(errno));
    } else
        rc = key_state(state_dir, key, &created, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "slhttpd: %s\n", err);
        return -1;
    }
    if (created && !quiet)
        fprintf(stderr, "slhttpd: made a new store key in %s/%s\n", state_dir, STATE_KEY_NAME);
    return 0;
}

/* BYTES with an optional K, M or G suffix (binary), > 0. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long m;
    unsigned shift = 0;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    m = strtoull(s, &end, 10);
    if (errno || end == s || m == 0)
        return -1;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end || m > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)m << shift;
    return 0;
}

/* After the device, the store, the key and the directories are open:
 * become `pw` for good (groups, gid, uid; no way back, no new privileges). */
static int drop_privileges(const struct passwd *pw)
{
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        fprintf(stderr, "slhttpd: --user %s: %s\n", pw->pw_name, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        fprintf(stderr, "slhttpd: --user %s: root privileges could be regained\n", pw->pw_name);
        return -1;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return 0;
}


/* Writes the stats to `path` atomically (temp file + rename). */
static void write_stats_file(const char *path, sl_stack *s, struct server *srv)
{
    char tmp[PATH_MAX];
    int fd;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "slhttpd: %s: %s\n", tmp, strerror(errno));
        return;
    }
    sl_stats_dump(s, fd, 0);
    if (srv != NULL)
        server_dump_stats(srv, fd);
    close(fd);
    if (rename(tmp, path) < 0)
        fprintf(stderr, "slhttpd: rename %s: %s\n", path, strerror(errno));
}

static int write_ready_file(const char *path, uint16_t port)
{
    char tmp[PATH_MAX];
    FILE *f;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -1;
    f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0 || rename(tmp, path) < 0)
        return -1;
    return 0;
}

enum {
    O__FIRST = 256, O_PORT, O_ROOT, O_MAXCONNS, O_STATS,
    O_READY, O_NOECN, O_QUIET, O_VERBOSE, O_IDLE, O_HELP, O_BACKLOG,
    O_NOCOOKIES, O_MAXMEM, O_STORE, O_DURABILITY, O_STOREKEY, O_SPOOL, O_EVICT,
    O_STATEDIR, O_MAXUPLOAD, O_QUOTA, O_PARTTIMEOUT, O_USER, O_TTL
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        APP_STACK_OPTIONS,
        {"port", required_argument, NULL, O_PORT},
        {"root", required_argument, NULL, O_ROOT},
        {"max-conns", required_argument, NULL, O_MAXCONNS},
        {"backlog", required_argument, NULL, O_BACKLOG},
        {"no-syncookies", no_argument, NULL, O_NOCOOKIES},
        {"max-mem", required_argument, NULL, O_MAXMEM},
        {"stats-file", required_argument, NULL, O_STATS},
        {"ready-file", required_argument, NULL, O_READY},
        {"no-ecn", no_argument, NULL, O_NOECN},
        {"quiet", no_argument, NULL, O_QUIET},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"help", no_argument, NULL, O_HELP},
        {"store", required_argument, NULL, O_STORE},
        {"durability", required_argument, NULL, O_DURABILITY},
        {"store-key", required_argument, NULL, O_STOREKEY},
        {"state-dir", required_argument, NULL, O_STATEDIR},
        {"max-upload", required_argument, NULL, O_MAXUPLOAD},
        {"spool-quota", required_argument, NULL, O_QUOTA},
        {"part-timeout", required_argument, NULL, O_PARTTIMEOUT},
        {"user", required_argument, NULL, O_USER},
        {"spool", required_argument, NULL, O_SPOOL},
        {"evict-idle", required_argument, NULL, O_EVICT},
        {"ttl", required_argument, NULL, O_TTL},
        {NULL, 0, NULL, 0},
    };
    struct sl_config cfg;
    struct server_opts so;
    const char *root_arg = NULL, *stats_file = NULL, *ready_file = NULL;
    const char *key_file = NULL, *spool_arg = NULL, *state_dir = STATE_DIR_DEFAULT;
    const char *user = NULL;
    struct passwd *pw = NULL;
    char root[PATH_MAX], spool[PATH_MAX], err[256];
    uint8_t store_key[32];
    int durability = -1;
    uint32_t port = 0, v;
    int c, rc, exit_code = 0;
    sl_stack *s = NULL;
    struct server *srv = NULL;
    struct sigaction sa;
    struct stat st;
    uint64_t last_tick;

    memset(&cfg, 0, sizeof(cfg));
    memset(&so, 0, sizeof(so));
    so.idle_timeout_s = 60;
    so.max_upload = 1ull << 30;
    so.spool_quota = 10ull << 30;
    so.part_timeout_s = 3600;
    cfg.cc = SL_CC_NEWRENO;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_PORT:
            if (app_parse_u32(optarg, 1, 65535, &port) < 0)
                return bad_usage("--port: expected 1-65535, got '%s'", optarg);
            break;
        case O_ROOT:
            root_arg = optarg;
            break;
        case O_MAXCONNS:
            if (app_parse_u32(optarg, 1, UINT32_MAX, &v) < 0)
                return bad_usage("--max-conns: expected a positive number, got '%s'", optarg);
            cfg.max_conns = v;
            so.max_conns = v;
            break;
        case O_BACKLOG:
            if (app_parse_u32(optarg, 1, UINT32_MAX, &v) < 0)
                return bad_usage("--backlog: expected a positive number, got '%s'", optarg);
            so.backlog = v;
            break;
        case O_NOCOOKIES:
            so.no_syncookies = 1;
            break;
        case O_MAXMEM:
            if (parse_size(optarg, &cfg.max_buf_bytes) < 0)
                return bad_usage("--max-mem: expected bytes, optionally with K, M or G, got '%s'", optarg);
            break;
        case O_MAXUPLOAD:
            if (parse_size(optarg, &so.max_upload) < 0)
                return bad_usage("--max-upload: expected bytes, optionally with K, M or G, got '%s'", optarg);
            break;
        case O_QUOTA:
            if (parse_size(optarg, &so.spool_quota) < 0)
                return bad_usage("--spool-quota: expected bytes, optionally with K, M or G, got '%s'", optarg);
            break;
        case O_PARTTIMEOUT:
            if (app_parse_u32(optarg, 0, 86400 * 365, &v) < 0)
                return bad_usage("--part-timeout: expected seconds, got '%s'", optarg);
            so.part_timeout_s = v;
            break;
        case O_USER:
            user = optarg;
            break;
        case O_STATS:
            stats_file = optarg;
            break;
        case O_READY:
            ready_file = optarg;
            break;
        case O_NOECN:
            cfg.no_ecn = 1;
            break;
        case O_TTL:
            if (app_parse_u32(optarg, 1, 255, &v) < 0)
                return bad_usage("--ttl: expected 1..255, got '%s'", optarg);
            cfg.ttl = (uint8_t)v;
            break;
        case O_QUIET:
            so.quiet = 1;
            break;
        case O_VERBOSE:
            so.verbose = 1;
            break;
        case O_IDLE:
            if (app_parse_u32(optarg, 0, 86400 * 365, &v) < 0)
                return bad_usage("--idle-timeout: expected seconds, got '%s'", optarg);
            so.idle_timeout_s = v;
            break;
        case O_STORE:
            if (strcmp(optarg, "mem") != 0 && strncmp(optarg, "mem:", 4) != 0 &&
                strncmp(optarg, "shm:", 4) != 0 && strncmp(optarg, "redis://", 8) != 0)
                return bad_usage("--store: expected mem, shm:NAME or redis://HOST:PORT, got '%s'",
                                 optarg);
            cfg.store = strcmp(optarg, "mem") == 0 ? "mem:" : optarg;
            break;
        case O_DURABILITY:
            if (strcmp(optarg, "off") == 0)
                durability = SL_DUR_OFF;
            else if (strcmp(optarg, "async") == 0)
                durability = SL_DUR_ASYNC;
            else if (strcmp(optarg, "sync") == 0)
                durability = SL_DUR_SYNC;
            else
                return bad_usage("--durability: expected off, async or sync, got '%s'", optarg);
            break;
        case O_STOREKEY:
            key_file = optarg;
            break;
        case O_STATEDIR:
            state_dir = optarg;
            break;
        case O_SPOOL:
            spool_arg = optarg;
            break;
        case O_EVICT:
            if (app_parse_u32(optarg, 0, 86400000, &v) < 0)
                return bad_usage("--evict-idle: expected milliseconds, got '%s'", optarg);
            so.evict_idle_ms = v;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            if (app_opt_other(c, optarg, &cfg, argc, argv, err, sizeof(err)) > 0)
                break;
            return bad_usage("%s", err);
        }
    }
    if (app_opt_finish(&cfg, argc, argv, err, sizeof(err)) < 0)
        return bad_usage("%s", err);
    if (port == 0)
        return bad_usage("%s", "--port is required");
    if (root_arg == NULL)
        return bad_usage("%s", "--root is required");
    if (realpath(root_arg, root) == NULL || stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
        return bad_usage("--root: '%s' is not a directory", root_arg);
    so.root = root;
    if (so.evict_idle_ms && cfg.store == NULL)
        return bad_usage("%s", "--evict-idle needs --store");
    if (durability > SL_DUR_OFF && cfg.store == NULL)
        return bad_usage("%s", "--durability async|sync needs --store");
    if (durability < 0)
        durability = cfg.store ? SL_DUR_SYNC : SL_DUR_OFF;
    so.durability = durability;
    if (cfg.store != NULL && load_store_key(cfg.store, key_file, state_dir, so.quiet,
                                            store_key) < 0)
        return 1;
    cfg.store_key = store_key;
    if (spool_arg != NULL) {
        size_t rl = strlen(root);
        if (realpath(spool_arg, spool) == NULL || stat(spool, &st) < 0 || !S_ISDIR(st.st_mode))
            return bad_usage("--spool: '%s' is not a directory", spool_arg);
        if (strncmp(spool, root, rl) == 0 && (spool[rl] == '\0' || spool[rl] == '/' || rl == 1))
            return bad_usage("--spool: '%s' is the root or inside it (an upload would be "
                             "served, and could replace a file being served)", spool_arg);
        so.spool = spool;
    }
    if (so.quiet)
        so.verbose = 0;
    if (user != NULL && (pw = getpwnam(user)) == NULL)
        return bad_usage("--user: no user '%s'", user);

    memset(&sa, 0, sizeof(sa));
    app_signals(on_stop);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    if (ready_file != NULL)
        unlink(ready_file);
    /* Connection buffers (tens to hundreds of KB) always come from their
     * own mappings, returned to the system when freed: glibc's dynamic
     * threshold would otherwise move them into the heap after the first
     * frees, where freed buffers stay resident (memory must not creep
     * under a SYN flood or after idle eviction). */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);

    err[0] = '\0';
    rc = sl_stack_create(&cfg, &s, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "slhttpd: %s: %s\n", cfg.dev, err[0] ? err : sl_strerror(rc));
        return 1;
    }
    if (server_start(s, (uint16_t)port, &so, &srv) < 0) {
        sl_stack_destroy(s);
        return 1;
    }
    if (pw != NULL && drop_privileges(pw) < 0) {
        sl_stack_destroy(s);
        server_free(srv);
        return 1;
    }
    if (ready_file != NULL && write_ready_file(ready_file, (uint16_t)port) < 0)
        fprintf(stderr, "slhttpd: cannot write ready file %s: %s\n", ready_file,
                strerror(errno));
    if (!so.quiet)
        fprintf(stderr, "slhttpd: listening on %u.%u.%u.%u:%u (%s), root %s, cc %s\n",
                cfg.addr >> 24, (cfg.addr >> 16) & 255, (cfg.addr >> 8) & 255, cfg.addr & 255,
                port, cfg.dev, root, cfg.cc == SL_CC_CUBIC ? "cubic" : "newreno");

    last_tick = sl_now_us(s);
    while (!g_stop) {
        uint64_t now;
        rc = sl_run(s, 100);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
            fprintf(stderr, "slhttpd: sl_run: %s\n", sl_strerror(rc));
            exit_code = 1;
            break;
        }
        if (g_dump) {
            g_dump = 0;
            if (stats_file != NULL)
                write_stats_file(stats_file, s, srv);
            else {
                sl_stats_dump(s, STDERR_FILENO, 0);
                server_dump_stats(srv, STDERR_FILENO);
            }
        }
        now = sl_now_us(s);
        if (now - last_tick >= 1000000) {
            last_tick = now;
            server_tick(srv);
        }
    }

    if (!so.quiet)
        fprintf(stderr, "slhttpd: stopping (%u connections open)\n", server_conns(srv));
    /* Close everything, then give queued data and FINs a moment to leave
     * (at most a second: connections in TIME_WAIT also count). */
    server_stop(srv);
    {
        uint64_t start = sl_now_us(s);
        do {
            rc = sl_run(s, 50);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN)
                break;
        } while (sl_conn_count(s) > 0 && sl_now_us(s) - start < 1000000);
    }
    if (stats_file != NULL) {
        write_stats_file(stats_file, s, srv);
    } else {
        sl_stats_dump(s, STDERR_FILENO, 0);
        server_dump_stats(srv, STDERR_FILENO);
    }
    sl_stack_destroy(s);
    server_free(srv);
    if (ready_file != NULL)
        unlink(ready_file);
    return exit_code;
}
