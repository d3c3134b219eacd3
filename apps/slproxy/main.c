/* slproxy: a reverse proxy on sltcp whose client connections survive its
 * own crashes and its back ends' (docs/slproxy.md). Command line, signals,
 * stats and the event loop; the relay is in proxy.c. */
#include "appcommon.h"
#include "appopts.h"
#include "keyfile.h"
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

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
"usage: slproxy --dev packet:IFACE|tap:NAME --addr A.B.C.D/LEN --port N\n"
"               --backend HOST:PORT [--backend HOST:PORT ...] [options]\n"
"\n"
"Reverse proxy on the sltcp user-space TCP/IP stack in front of unmodified\n"
"servers (kernel TCP). With --store, client connections survive a crash of\n"
"slproxy and of a back end: the rest of a response is fetched again with\n"
"Range/If-Range and spliced in (docs/slproxy.md).\n"
"\n"
"required:\n"
APP_STACK_HELP_REQUIRED
"  --port N                      TCP port to listen on (1-65535)\n"
"  --backend IP:PORT             a back-end server (repeatable, up to 16)\n"
"options:\n"
"  --mode http|tcp               http (default); tcp is not built yet\n"
APP_STACK_HELP_OPTIONS
"  --max-conns N                 client connection limit\n"
"  --health-interval MS          between health checks of a back end (default 1000)\n"
"  --backend-timeout MS          connect, response and recovery fetch timeout\n"
"                                (default 5000)\n"
"  --stats-file PATH             write counters here on SIGUSR1 and at exit\n"
"  --ready-file PATH             created once listening (removed at exit)\n"
"externalized state (client connections survive kill -9 and restarts):\n"
"  --store mem|shm:NAME|redis://HOST:PORT\n"
"  --durability off|async|sync   (default sync with --store)\n"
"  --store-key FILE              32-byte secret sealing every record (a regular\n"
"                                file of ours, mode 0600)\n"
"  --state-dir DIR               without --store-key: the key is DIR/store.key,\n"
"                                made on first start (default " STATE_DIR_DEFAULT ")\n"
"  On SIGTERM with --store, open client connections are left in the store for\n"
"  the next instance.\n"
"  --quiet                       log errors only\n"
"  --help                        this text\n"
"\n"
"Exit status: 0 after a clean stop, 1 on a runtime error, 2 on a usage error.\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "slproxy: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}

static void write_stats_file(const char *path, sl_stack *s, const struct proxy *px)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    sl_stats_dump(s, fd, 0);
    proxy_dump_stats(px, fd);
    close(fd);
    if (rename(tmp, path) < 0)
        fprintf(stderr, "slproxy: rename %s: %s\n", path, strerror(errno));
}

enum {
    O_PORT = 256, O_BACKEND, O_MODE, O_MAXCONNS, O_HINT, O_BTIMEOUT, O_STATS, O_READY,
    O_STORE, O_DURABILITY, O_STOREKEY, O_STATEDIR, O_QUIET, O_HELP
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        APP_STACK_OPTIONS,
        {"port", required_argument, NULL, O_PORT},
        {"backend", required_argument, NULL, O_BACKEND},
        {"mode", required_argument, NULL, O_MODE},
        {"max-conns", required_argument, NULL, O_MAXCONNS},
        {"health-interval", required_argument, NULL, O_HINT},
        {"backend-timeout", required_argument, NULL, O_BTIMEOUT},
        {"stats-file", required_argument, NULL, O_STATS},
        {"ready-file", required_argument, NULL, O_READY},
        {"store", required_argument, NULL, O_STORE},
        {"durability", required_argument, NULL, O_DURABILITY},
        {"store-key", required_argument, NULL, O_STOREKEY},
        {"state-dir", required_argument, NULL, O_STATEDIR},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    static struct proxy px;
    struct sl_config cfg;
    const char *stats_file = NULL, *ready_file = NULL, *key_file = NULL;
    const char *state_dir = STATE_DIR_DEFAULT;
    uint8_t store_key[STORE_KEY_LEN];
    char err[256];
    int durability = -1, c, exit_code = 0;
    uint32_t port = 0, v;

    memset(&cfg, 0, sizeof(cfg));
    cfg.cc = SL_CC_NEWRENO;
    px.be.interval_ms = 1000;
    px.be.timeout_ms = 5000;
    px.max_conns = 65536;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_PORT:
            if (app_parse_u32(optarg, 1, 65535, &port) < 0)
                return bad_usage("--port: expected 1-65535, got '%s'", optarg);
            break;
        case O_BACKEND:
            if (backend_add(&px.be, optarg) < 0)
                return bad_usage("--backend: expected IP:PORT (at most 16), got '%s'", optarg);
            break;
        case O_MODE:
            if (strcmp(optarg, "tcp") == 0) {
                fprintf(stderr, "slproxy: --mode tcp is not built yet: only --mode http\n");
                return 2;
            }
            if (strcmp(optarg, "http") != 0)
                return bad_usage("--mode: expected http or tcp, got '%s'", optarg);
            break;
        case O_MAXCONNS:
            if (app_parse_u32(optarg, 1, UINT32_MAX, &v) < 0)
                return bad_usage("--max-conns: expected a positive number, got '%s'", optarg);
            cfg.max_conns = v;
            px.max_conns = v;
            break;
        case O_HINT:
            if (app_parse_u32(optarg, 10, 3600000, &px.be.interval_ms) < 0)
                return bad_usage("--health-interval: expected 10-3600000 ms, got '%s'", optarg);
            break;
        case O_BTIMEOUT:
            if (app_parse_u32(optarg, 10, 3600000, &px.be.timeout_ms) < 0)
                return bad_usage("--backend-timeout: expected 10-3600000 ms, got '%s'", optarg);
            break;
        case O_STATS:
            stats_file = optarg;
            break;
        case O_READY:
            ready_file = optarg;
            break;
        case O_STORE:
            cfg.store = optarg;
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
        case O_QUIET:
            px.quiet = 1;
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
    if (!port)
        return bad_usage("%s", "--port is required");
    if (px.be.n == 0)
        return bad_usage("%s", "at least one --backend IP:PORT is required");
    if (durability > SL_DUR_OFF && !cfg.store)
        return bad_usage("%s", "--durability async|sync needs --store");
    if (durability < 0)
        durability = cfg.store ? SL_DUR_SYNC : SL_DUR_OFF;
    if (cfg.store) { /* the key sealing records: a file, the state directory's, or (mem:) random */
        char kerr[PATH_MAX + 128];
        int created = 0, krc;
        if (key_file)
            krc = key_load(key_file, store_key, kerr, sizeof(kerr));
        else if (strncmp(cfg.store, "mem:", 4) == 0) {
            krc = getrandom(store_key, sizeof(store_key), 0) == sizeof(store_key) ? 0 : -1;
            snprintf(kerr, sizeof(kerr), "getrandom: %s", strerror(errno));
        } else
            krc = key_state(state_dir, store_key, &created, kerr, sizeof(kerr));
        if (krc < 0) {
            fprintf(stderr, "slproxy: %s\n", kerr);
            return 1;
        }
        if (created && !px.quiet)
            fprintf(stderr, "slproxy: made a new store key in %s/%s\n", state_dir, STATE_KEY_NAME);
        cfg.store_key = store_key;
    }

    app_signals(on_stop);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    int rc = sl_stack_create(&cfg, &px.s, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "slproxy: %s\n", err);
        return 1;
    }
    px.durable = durability != SL_DUR_OFF;
    struct sl_listen_opts lo;
    memset(&lo, 0, sizeof(lo));
    lo.durability = (enum sl_durability)durability;
    if (px.durable) {
        lo.commit = 1;
        lo.ref_read = proxy_ref_read;
        lo.on_restore = proxy_on_restore;
    }
    rc = sl_listen(px.s, (uint16_t)port, &lo, proxy_listen_cb, &px, &px.l);
    if (rc < 0) {
        fprintf(stderr, "slproxy: listen on port %u: %s\n", port, sl_strerror(rc));
        sl_stack_destroy(px.s);
        return 1;
    }
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (f) {
            fprintf(f, "%u\n", port);
            fclose(f);
        }
    }
    if (!px.quiet)
        fprintf(stderr, "slproxy: listening on port %u, %u back end(s), durability %s\n", port,
                px.be.n, durability == SL_DUR_SYNC ? "sync" : durability ? "async" : "off");

    struct pollfd *pfd = NULL;
    struct pconn **who = NULL;
    unsigned cap = 0;
    while (!g_stop) {
        if ((rc = sl_run(px.s, 0)) < 0) {
            fprintf(stderr, "slproxy: %s\n", sl_strerror(rc));
            exit_code = 1;
            break;
        }
        proxy_after_run(&px);
        unsigned need = px.nconns + PX_MAX_BACKENDS + 1;
        if (need > cap) {
            cap = need * 2;
            pfd = realloc(pfd, cap * sizeof(*pfd));
            who = realloc(who, cap * sizeof(*who));
            if (!pfd || !who) {
                fprintf(stderr, "slproxy: out of memory\n");
                exit_code = 1;
                break;
            }
        }
        int to = -1;
        int dfd = sl_poll_fd(px.s, &to);
        pfd[0] = (struct pollfd){dfd, POLLIN, 0};
        uint64_t now = px_now_us();
        unsigned nh = backend_poll_add(&px.be, pfd + 1, PX_MAX_BACKENDS, now, &to);
        unsigned np = proxy_poll_add(&px, pfd + 1 + nh, who + 1 + nh, cap - 1 - nh, &to);
        if (to < 0 || to > 1000)
            to = 1000;
        if (dfd < 0 && to > 1)
            to = 1;
        if (poll(pfd, 1 + nh + np, to) < 0 && errno != EINTR) {
            fprintf(stderr, "slproxy: poll: %s\n", strerror(errno));
            exit_code = 1;
            break;
        }
        now = px_now_us();
        backend_health_run(&px.be, pfd + 1, nh, now, px.quiet);
        proxy_poll_run(&px, pfd + 1 + nh, who + 1 + nh, np);
        if (g_dump) {
            g_dump = 0;
            if (stats_file)
                write_stats_file(stats_file, px.s, &px);
        }
    }
    /* With a store, client connections are left there for the next
     * instance (a restart); without, they are closed. */
    proxy_shutdown(&px, !px.durable);
    if (!px.durable)
        for (int i = 0; i < 50 && px.nconns; i++)
            sl_run(px.s, 10);
    if (stats_file)
        write_stats_file(stats_file, px.s, &px);
    if (ready_file)
        unlink(ready_file);
    sl_stack_destroy(px.s);
    free(pfd);
    free(who);
    return exit_code;
}
