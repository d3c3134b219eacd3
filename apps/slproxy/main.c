/* slproxy: a reverse proxy on sltcp whose client connections survive its
 * own crashes and its back ends' (docs/slproxy.md). Command line, signals,
 * stats and the event loop; the relay is in proxy.c. */
#include "appcommon.h"
#include "appopts.h"
#include "proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
APP_HELP_PORT
"  --backend IP:PORT             a back-end server (repeatable, up to 16)\n"
"options:\n"
"  --mode http|tcp               http (default); tcp is not built yet\n"
APP_STACK_HELP_OPTIONS
"  --max-conns N                 client connection limit\n"
"  --health-interval MS          between health checks of a back end (default 1000)\n"
"  --backend-timeout MS          connect, response and recovery fetch timeout\n"
"                                (default 5000)\n"
APP_HELP_STATS
APP_HELP_READY
"externalized state (client connections survive kill -9 and restarts):\n"
APP_HELP_STORE
"  On SIGTERM with --store, open client connections are left in the store for\n"
"  the next instance.\n"
"  --quiet                       log errors only\n"
APP_HELP_HELP
"\n"
"Exit status: 0 after a clean stop, 1 on a runtime error, 2 on a usage error.\n");
}

static void dump_proxy(void *user, int fd)
{
    proxy_dump_stats(user, fd);
}

enum { O_BACKEND = 256, O_MODE, O_HINT, O_BTIMEOUT };

static int own_opt(int c, const char *arg, struct app_opts *o, void *user)
{
    struct proxy *px = user;
    switch (c) {
    case O_BACKEND:
        if (backend_add(&px->be, arg) < 0)
            return app_bad_usage(o, "--backend: expected IP:PORT (at most 16), got '%s'", arg);
        return 0;
    case O_MODE:
        if (strcmp(arg, "tcp") == 0) {
            fprintf(stderr, "slproxy: --mode tcp is not built yet: only --mode http\n");
            return 2;
        }
        if (strcmp(arg, "http") != 0)
            return app_bad_usage(o, "--mode: expected http or tcp, got '%s'", arg);
        return 0;
    case O_HINT:
        if (app_parse_u32(arg, 10, 3600000, &px->be.interval_ms) < 0)
            return app_bad_usage(o, "--health-interval: expected 10-3600000 ms, got '%s'", arg);
        return 0;
    default: /* O_BTIMEOUT */
        if (app_parse_u32(arg, 10, 3600000, &px->be.timeout_ms) < 0)
            return app_bad_usage(o, "--backend-timeout: expected 10-3600000 ms, got '%s'", arg);
        return 0;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        APP_STACK_OPTIONS,
        APP_SERVER_OPTIONS,
        APP_ARG("backend", O_BACKEND),
        APP_ARG("mode", O_MODE),
        APP_ARG("health-interval", O_HINT),
        APP_ARG("backend-timeout", O_BTIMEOUT),
        {NULL, 0, NULL, 0},
    };
    static struct proxy px;
    static struct app_opts o;
    int exit_code = 0, rc;

    app_opts_init(&o, "slproxy", usage);
    px.be.interval_ms = 1000;
    px.be.timeout_ms = 5000;
    if ((rc = app_parse(&o, argc, argv, opts, own_opt, &px)) != APP_GO)
        return rc;
    if (!o.port)
        return app_bad_usage(&o, "%s", "--port is required");
    if (px.be.n == 0)
        return app_bad_usage(&o, "%s", "at least one --backend IP:PORT is required");
    if ((rc = app_store_setup(&o)) != 0)
        return rc;
    px.max_conns = o.cfg.max_conns ? o.cfg.max_conns : 65536;
    px.quiet = o.quiet;

    app_signals(1);
    if (app_stack_create(&o, &px.s) < 0)
        return 1;
    px.durable = o.durability != SL_DUR_OFF;
    struct sl_listen_opts lo;
    memset(&lo, 0, sizeof(lo));
    lo.durability = (enum sl_durability)o.durability;
    if (px.durable) {
        lo.commit = 1;
        lo.ref_read = proxy_ref_read;
        lo.on_restore = proxy_on_restore;
    }
    rc = sl_listen(px.s, (uint16_t)o.port, &lo, proxy_listen_cb, &px, &px.l);
    if (rc < 0) {
        fprintf(stderr, "slproxy: listen on port %u: %s\n", o.port, sl_strerror(rc));
        sl_stack_destroy(px.s);
        return 1;
    }
    app_write_ready(&o);
    if (!px.quiet)
        fprintf(stderr, "slproxy: listening on port %u, %u back end(s), durability %s\n", o.port,
                px.be.n, o.durability == SL_DUR_SYNC ? "sync" : o.durability ? "async" : "off");

    struct pollfd *pfd = NULL;
    struct pconn **who = NULL;
    unsigned cap = 0;
    while (!app_stop) {
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
        uint64_t now = app_now_us();
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
        now = app_now_us();
        backend_health_run(&px.be, pfd + 1, nh, now, px.quiet);
        proxy_poll_run(&px, pfd + 1 + nh, who + 1 + nh, np);
        if (app_dump) {
            app_dump = 0;
            if (o.stats_file)
                app_write_stats(&o, px.s, dump_proxy, &px);
        }
    }
    /* With a store, client connections are left there for the next
     * instance (a restart); without, they are closed. */
    proxy_shutdown(&px, !px.durable);
    if (!px.durable)
        for (int i = 0; i < 50 && px.nconns; i++)
            sl_run(px.s, 10);
    if (o.stats_file)
        app_write_stats(&o, px.s, dump_proxy, &px);
    if (o.ready_file)
        unlink(o.ready_file);
    sl_stack_destroy(px.s);
    free(pfd);
    free(who);
    return exit_code;
}
