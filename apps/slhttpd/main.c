/* slhttpd: HTTP/1.1 static file server on sltcp. Command line, signals,
 * stats and the event loop; the HTTP work is in server.c. */
#include "appcommon.h"
#include "appopts.h"
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sltcp/sltcp.h>

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
APP_HELP_PORT
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
APP_HELP_STATS
"                                (default at exit: stderr)\n"
APP_HELP_READY
"externalized state (connections survive kill -9, restarts and moves):\n"
APP_HELP_STORE
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
APP_HELP_HELP
"\n"
"Signals: SIGINT/SIGTERM stop cleanly and dump stats; SIGUSR1 writes the\n"
"stats file. Exit status: 0 after a clean stop, 1 on a runtime error,\n"
"2 on a usage error.\n");
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


static void dump_server(void *user, int fd)
{
    server_dump_stats(user, fd);
}

/* The stats: to the stats file if there is one, else on stderr. */
static void write_stats(const struct app_opts *o, sl_stack *s, struct server *srv)
{
    if (o->stats_file != NULL) {
        app_write_stats(o, s, dump_server, srv);
        return;
    }
    sl_stats_dump(s, STDERR_FILENO, 0);
    server_dump_stats(srv, STDERR_FILENO);
}

enum {
    O_ROOT = 256, O_NOECN, O_IDLE, O_BACKLOG, O_NOCOOKIES, O_MAXMEM, O_SPOOL, O_EVICT,
    O_MAXUPLOAD, O_QUOTA, O_PARTTIMEOUT, O_USER, O_TTL
};

/* What slhttpd's own options fill. */
struct own {
    struct server_opts so;
    const char *root_arg, *spool_arg, *user;
};

static int own_opt(int c, const char *arg, struct app_opts *o, void *user)
{
    struct own *w = user;
    const char *what = NULL;
    uint32_t v;
    switch (c) {
    case O_ROOT:
        w->root_arg = arg;
        break;
    case O_BACKLOG:
        if (app_parse_u32(arg, 1, UINT32_MAX, &w->so.backlog) < 0)
            what = "--backlog: expected a positive number, got '%s'";
        break;
    case O_NOCOOKIES:
        w->so.no_syncookies = 1;
        break;
    case O_MAXMEM:
        if (parse_size(arg, &o->cfg.max_buf_bytes) < 0)
            what = "--max-mem: expected bytes, optionally with K, M or G, got '%s'";
        break;
    case O_MAXUPLOAD:
        if (parse_size(arg, &w->so.max_upload) < 0)
            what = "--max-upload: expected bytes, optionally with K, M or G, got '%s'";
        break;
    case O_QUOTA:
        if (parse_size(arg, &w->so.spool_quota) < 0)
            what = "--spool-quota: expected bytes, optionally with K, M or G, got '%s'";
        break;
    case O_PARTTIMEOUT:
        if (app_parse_u32(arg, 0, 86400 * 365, &w->so.part_timeout_s) < 0)
            what = "--part-timeout: expected seconds, got '%s'";
        break;
    case O_USER:
        w->user = arg;
        break;
    case O_NOECN:
        o->cfg.no_ecn = 1;
        break;
    case O_TTL:
        if (app_parse_u32(arg, 1, 255, &v) < 0)
            what = "--ttl: expected 1..255, got '%s'";
        else
            o->cfg.ttl = (uint8_t)v;
        break;
    case O_IDLE:
        if (app_parse_u32(arg, 0, 86400 * 365, &w->so.idle_timeout_s) < 0)
            what = "--idle-timeout: expected seconds, got '%s'";
        break;
    case O_SPOOL:
        w->spool_arg = arg;
        break;
    default: /* O_EVICT */
        if (app_parse_u32(arg, 0, 86400000, &w->so.evict_idle_ms) < 0)
            what = "--evict-idle: expected milliseconds, got '%s'";
        break;
    }
    return what != NULL ? app_bad_usage(o, what, arg) : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        APP_STACK_OPTIONS,
        APP_SERVER_OPTIONS,
        APP_VERBOSE_OPTION,
        APP_ARG("root", O_ROOT),
        APP_ARG("backlog", O_BACKLOG),
        APP_FLAG("no-syncookies", O_NOCOOKIES),
        APP_ARG("max-mem", O_MAXMEM),
        APP_FLAG("no-ecn", O_NOECN),
        APP_ARG("idle-timeout", O_IDLE),
        APP_ARG("max-upload", O_MAXUPLOAD),
        APP_ARG("spool-quota", O_QUOTA),
        APP_ARG("part-timeout", O_PARTTIMEOUT),
        APP_ARG("user", O_USER),
        APP_ARG("spool", O_SPOOL),
        APP_ARG("evict-idle", O_EVICT),
        APP_ARG("ttl", O_TTL),
        {NULL, 0, NULL, 0},
    };
    static struct app_opts o;
    struct own w;
    struct server_opts *so = &w.so;
    struct passwd *pw = NULL;
    char root[PATH_MAX], spool[PATH_MAX];
    int rc, exit_code = 0;
    sl_stack *s = NULL;
    struct server *srv = NULL;
    struct stat st;
    uint64_t last_tick;

    app_opts_init(&o, "slhttpd", usage);
    memset(&w, 0, sizeof(w));
    so->idle_timeout_s = 60;
    so->max_upload = 1ull << 30;
    so->spool_quota = 10ull << 30;
    so->part_timeout_s = 3600;
    if ((rc = app_parse(&o, argc, argv, opts, own_opt, &w)) != APP_GO)
        return rc;
    if (o.port == 0)
        return app_bad_usage(&o, "%s", "--port is required");
    if (w.root_arg == NULL)
        return app_bad_usage(&o, "%s", "--root is required");
    if (realpath(w.root_arg, root) == NULL || stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
        return app_bad_usage(&o, "--root: '%s' is not a directory", w.root_arg);
    so->root = root;
    so->max_conns = o.cfg.max_conns;
    so->quiet = o.quiet;
    so->verbose = o.verbose && !o.quiet;
    if (so->evict_idle_ms && o.cfg.store == NULL)
        return app_bad_usage(&o, "%s", "--evict-idle needs --store");
    if ((rc = app_store_setup(&o)) != 0)
        return rc;
    so->durability = o.durability;
    if (w.spool_arg != NULL) {
        size_t rl = strlen(root);
        if (realpath(w.spool_arg, spool) == NULL || stat(spool, &st) < 0 || !S_ISDIR(st.st_mode))
            return app_bad_usage(&o, "--spool: '%s' is not a directory", w.spool_arg);
        if (strncmp(spool, root, rl) == 0 && (spool[rl] == '\0' || spool[rl] == '/' || rl == 1))
            return app_bad_usage(&o, "--spool: '%s' is the root or inside it (an upload would be "
                                 "served, and could replace a file being served)", w.spool_arg);
        so->spool = spool;
    }
    if (w.user != NULL && (pw = getpwnam(w.user)) == NULL)
        return app_bad_usage(&o, "--user: no user '%s'", w.user);

    app_signals(1);
    if (o.ready_file != NULL)
        unlink(o.ready_file);
    /* Connection buffers (tens to hundreds of KB) always come from their
     * own mappings, returned to the system when freed: glibc's dynamic
     * threshold would otherwise move them into the heap after the first
     * frees, where freed buffers stay resident (memory must not creep
     * under a SYN flood or after idle eviction). */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);

    if (app_stack_create(&o, &s) < 0)
        return 1;
    if (server_start(s, (uint16_t)o.port, so, &srv) < 0) {
        sl_stack_destroy(s);
        return 1;
    }
    if (pw != NULL && drop_privileges(pw) < 0) {
        sl_stack_destroy(s);
        server_free(srv);
        return 1;
    }
    app_write_ready(&o);
    if (!so->quiet)
        fprintf(stderr, "slhttpd: listening on %u.%u.%u.%u:%u (%s), root %s, cc %s\n",
                o.cfg.addr >> 24, (o.cfg.addr >> 16) & 255, (o.cfg.addr >> 8) & 255,
                o.cfg.addr & 255, o.port, o.cfg.dev, root,
                o.cfg.cc == SL_CC_CUBIC ? "cubic" : "newreno");

    last_tick = sl_now_us(s);
    while (!app_stop) {
        uint64_t now;
        rc = sl_run(s, 100);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
            fprintf(stderr, "slhttpd: sl_run: %s\n", sl_strerror(rc));
            exit_code = 1;
            break;
        }
        if (app_dump) {
            app_dump = 0;
            write_stats(&o, s, srv);
        }
        now = sl_now_us(s);
        if (now - last_tick >= 1000000) {
            last_tick = now;
            server_tick(srv);
        }
    }

    if (!so->quiet)
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
    write_stats(&o, s, srv);
    sl_stack_destroy(s);
    server_free(srv);
    if (o.ready_file != NULL)
        unlink(o.ready_file);
    return exit_code;
}
