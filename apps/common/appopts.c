/* Options shared by the sltcp applications. See appopts.h. */
#include "appopts.h"

#include "appcommon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int app_shared_opt(int c, const char *arg, struct app_opts *o, char *err, size_t errlen)
{
    struct sl_config *cfg = &o->cfg;
    uint32_t v;
    switch (c) {
    case APP_O_DEV:
        if ((strncmp(arg, "packet:", 7) != 0 && strncmp(arg, "tap:", 4) != 0) ||
            strchr(arg, ':')[1] == '\0') {
            snprintf(err, errlen, "--dev: expected packet:IFACE or tap:NAME, got '%s'", arg);
            return -1;
        }
        cfg->dev = arg;
        return 1;
    case APP_O_ADDR:
        if (app_parse_cidr(arg, &cfg->addr, &cfg->prefix_len) < 0 || cfg->addr == 0) {
            snprintf(err, errlen, "--addr: expected A.B.C.D/LEN, got '%s'", arg);
            return -1;
        }
        return 1;
    case APP_O_GATEWAY:
        if (app_parse_ip(arg, &cfg->gateway) < 0) {
            snprintf(err, errlen, "--gateway: expected A.B.C.D, got '%s'", arg);
            return -1;
        }
        return 1;
    case APP_O_IMPAIR:
        if (!app_impair_ok(arg)) {
            snprintf(err, errlen, "--impair: expected loss=P,dup=P,reorder=P,delay=MS,ce=P,seed=N "
                     "(P: percent 0-100), got '%s'", arg);
            return -1;
        }
        cfg->impair = arg;
        return 1;
    case APP_O_CC:
        if (strcmp(arg, "newreno") == 0)
            cfg->cc = SL_CC_NEWRENO;
        else if (strcmp(arg, "cubic") == 0)
            cfg->cc = SL_CC_CUBIC;
        else {
            snprintf(err, errlen, "--cc: expected newreno or cubic, got '%s'", arg);
            return -1;
        }
        return 1;
    case APP_O_SNDBUF:
    case APP_O_RCVBUF:
        if (app_parse_u32(arg, 4096, 1u << 30, &v) < 0 || (v & (v - 1)) != 0) {
            snprintf(err, errlen, "--sndbuf/--rcvbuf: expected a power of two 4096..2^30, got '%s'",
                     arg);
            return -1;
        }
        if (c == APP_O_SNDBUF)
            cfg->sndbuf = v;
        else
            cfg->rcvbuf = v;
        return 1;
    case APP_O_NOGSO:
        cfg->no_gso = 1;
        return 1;
    case APP_O_RXRING:
        if (app_parse_u32(arg, 64, 1u << 20, &v) < 0) {
            snprintf(err, errlen, "--rx-ring: expected 64..1048576 frames, got '%s'", arg);
            return -1;
        }
        cfg->rx_ring = v;
        return 1;
    case APP_O_PORT:
        if (app_parse_u32(arg, 1, 65535, &o->port) < 0) {
            snprintf(err, errlen, "--port: expected 1-65535, got '%s'", arg);
            return -1;
        }
        return 1;
    case APP_O_MAXCONNS:
        if (app_parse_u32(arg, 1, UINT32_MAX, &cfg->max_conns) < 0) {
            snprintf(err, errlen, "--max-conns: expected a positive number, got '%s'", arg);
            return -1;
        }
        return 1;
    case APP_O_STATS:
        o->stats_file = arg;
        return 1;
    case APP_O_READY:
        o->ready_file = arg;
        return 1;
    case APP_O_STORE:
        if (strcmp(arg, "mem") != 0 && strncmp(arg, "mem:", 4) != 0 &&
            strncmp(arg, "shm:", 4) != 0 && strncmp(arg, "redis://", 8) != 0) {
            snprintf(err, errlen, "--store: expected mem, shm:NAME or redis://HOST:PORT, got '%s'",
                     arg);
            return -1;
        }
        cfg->store = strcmp(arg, "mem") == 0 ? "mem:" : arg;
        return 1;
    case APP_O_DURABILITY:
        if (strcmp(arg, "off") == 0)
            o->durability = SL_DUR_OFF;
        else if (strcmp(arg, "async") == 0)
            o->durability = SL_DUR_ASYNC;
        else if (strcmp(arg, "sync") == 0)
            o->durability = SL_DUR_SYNC;
        else {
            snprintf(err, errlen, "--durability: expected off, async or sync, got '%s'", arg);
            return -1;
        }
        return 1;
    case APP_O_STOREKEY:
        o->key_file = arg;
        return 1;
    case APP_O_STATEDIR:
        o->state_dir = arg;
        return 1;
    case APP_O_QUIET:
        o->quiet = 1;
        return 1;
    case APP_O_VERBOSE:
        o->verbose = 1;
        return 1;
    default:
        return 0;
    }
}

void app_opts_init(struct app_opts *o, const char *prog, void (*usage)(FILE *f))
{
    memset(o, 0, sizeof(*o));
    o->prog = prog;
    o->usage = usage;
    o->cfg.cc = SL_CC_NEWRENO;
    o->durability = -1;
    o->state_dir = STATE_DIR_DEFAULT;
}

int app_bad_usage(const struct app_opts *o, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", o->prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    o->usage(stderr);
    return 2;
}

int app_parse(struct app_opts *o, int argc, char **argv, const struct option *opts,
              app_own_opt own, void *user)
{
    char err[256];
    int c, rc;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == APP_O_HELP) {
            o->usage(stdout);
            return 0;
        }
        rc = app_shared_opt(c, optarg, o, err, sizeof(err));
        if (rc < 0)
            return app_bad_usage(o, "%s", err);
        if (rc > 0)
            continue;
        if (c >= 256 && c < APP_O_DEV) {
            if ((rc = own(c, optarg, o, user)) != 0)
                return rc;
            continue;
        }
        if (optind > 0 && optind - 1 < argc)
            return app_bad_usage(o, "bad option or missing value: '%s'", argv[optind - 1]);
        return app_bad_usage(o, "%s", "bad option");
    }
    if (optind < argc)
        return app_bad_usage(o, "unexpected argument '%s'", argv[optind]);
    if (o->cfg.dev == NULL)
        return app_bad_usage(o, "%s", "--dev is required");
    if (o->cfg.addr == 0)
        return app_bad_usage(o, "%s", "--addr is required");
    return APP_GO;
}

int app_store_setup(struct app_opts *o)
{
    char err[PATH_MAX + 128];
    int created = 0, rc;
    if (o->durability > SL_DUR_OFF && o->cfg.store == NULL)
        return app_bad_usage(o, "%s", "--durability async|sync needs --store");
    if (o->durability < 0)
        o->durability = o->cfg.store ? SL_DUR_SYNC : SL_DUR_OFF;
    if (o->cfg.store == NULL)
        return 0;
    if (o->key_file != NULL)
        rc = key_load(o->key_file, o->store_key, err, sizeof(err));
    else if (strncmp(o->cfg.store, "mem:", 4) == 0) {
        rc = getrandom(o->store_key, STORE_KEY_LEN, 0) == STORE_KEY_LEN ? 0 : -1;
        if (rc < 0)
            snprintf(err, sizeof(err), "getrandom: %s", strerror(errno));
    } else
        rc = key_state(o->state_dir, o->store_key, &created, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", o->prog, err);
        return 1;
    }
    if (created && !o->quiet)
        fprintf(stderr, "%s: made a new store key in %s/%s\n", o->prog, o->state_dir,
                STATE_KEY_NAME);
    o->cfg.store_key = o->store_key;
    return 0;
}

volatile sig_atomic_t app_stop, app_dump;

static void on_stop(int sig)
{
    (void)sig;
    app_stop = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    app_dump = 1;
}

void app_signals(int usr1)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (usr1) {
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int app_stack_create(const struct app_opts *o, sl_stack **s)
{
    char err[256];
    int rc;
    err[0] = '\0';
    rc = sl_stack_create(&o->cfg, s, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s: %s\n", o->prog, o->cfg.dev, err[0] ? err : sl_strerror(rc));
        return -1;
    }
    return 0;
}

/* Opens PATH.tmp for writing into *tmp: the descriptor, or -1 (said). */
static int open_tmp(const struct app_opts *o, const char *path, char *tmp, size_t tmplen)
{
    int fd;
    if ((size_t)snprintf(tmp, tmplen, "%s.tmp", path) >= tmplen) {
        fprintf(stderr, "%s: %s: name too long\n", o->prog, path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fprintf(stderr, "%s: %s: %s\n", o->prog, tmp, strerror(errno));
    return fd;
}

static void close_rename(const struct app_opts *o, int fd, const char *tmp, const char *path)
{
    if (close(fd) != 0 || rename(tmp, path) < 0)
        fprintf(stderr, "%s: cannot write %s: %s\n", o->prog, path, strerror(errno));
}

void app_write_stats(const struct app_opts *o, sl_stack *s, void (*more)(void *user, int fd),
                     void *user)
{
    char tmp[PATH_MAX];
    int fd = open_tmp(o, o->stats_file, tmp, sizeof(tmp));
    if (fd < 0)
        return;
    sl_stats_dump(s, fd, 0);
    if (more != NULL)
        more(user, fd);
    close_rename(o, fd, tmp, o->stats_file);
}

void app_write_ready(const struct app_opts *o)
{
    char tmp[PATH_MAX];
    int fd;
    if (o->ready_file == NULL || (fd = open_tmp(o, o->ready_file, tmp, sizeof(tmp))) < 0)
        return;
    dprintf(fd, "%u\n", o->port);
    close_rename(o, fd, tmp, o->ready_file);
}
