/* Command-line options every sltcp application shares (slhttpd, slclient,
 * slproxy): the device, addresses, congestion control, buffers, offloads
 * and impairment filling a struct sl_config; the listening port, the
 * connection limit, the stats and ready files; the store, its durability
 * and its key. Each application puts the groups it takes in its option
 * table and hands the rest to its own handler (app_parse). */
#ifndef SL_APPOPTS_H
#define SL_APPOPTS_H

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include <sltcp/sltcp.h>

#include "keyfile.h"

enum {
    APP_O_DEV = 0x1000,
    APP_O_ADDR,
    APP_O_GATEWAY,
    APP_O_IMPAIR,
    APP_O_CC,
    APP_O_SNDBUF,
    APP_O_RCVBUF,
    APP_O_NOGSO,
    APP_O_RXRING,
    APP_O_PORT,
    APP_O_MAXCONNS,
    APP_O_STATS,
    APP_O_READY,
    APP_O_STORE,
    APP_O_DURABILITY,
    APP_O_STOREKEY,
    APP_O_STATEDIR,
    APP_O_QUIET,
    APP_O_VERBOSE,
    APP_O_HELP,
};

/* An application's own struct option entries. */
#define APP_ARG(name, code) {name, required_argument, NULL, code}
#define APP_FLAG(name, code) {name, no_argument, NULL, code}

/* The struct option entries, by group, to put first in an application's
 * table. Every application: */
#define APP_STACK_OPTIONS                             \
    APP_ARG("dev", APP_O_DEV),                        \
    APP_ARG("addr", APP_O_ADDR),                      \
    APP_ARG("gateway", APP_O_GATEWAY),                \
    APP_ARG("impair", APP_O_IMPAIR),                  \
    APP_ARG("cc", APP_O_CC),                          \
    APP_ARG("sndbuf", APP_O_SNDBUF),                  \
    APP_ARG("rcvbuf", APP_O_RCVBUF),                  \
    APP_FLAG("no-gso", APP_O_NOGSO),                  \
    APP_ARG("rx-ring", APP_O_RXRING),                 \
    APP_ARG("stats-file", APP_O_STATS),               \
    APP_FLAG("quiet", APP_O_QUIET),                   \
    APP_FLAG("help", APP_O_HELP)
/* The servers (slhttpd, slproxy): */
#define APP_SERVER_OPTIONS                            \
    APP_ARG("port", APP_O_PORT),                      \
    APP_ARG("max-conns", APP_O_MAXCONNS),             \
    APP_ARG("ready-file", APP_O_READY),               \
    APP_ARG("store", APP_O_STORE),                    \
    APP_ARG("durability", APP_O_DURABILITY),          \
    APP_ARG("store-key", APP_O_STOREKEY),             \
    APP_ARG("state-dir", APP_O_STATEDIR)
#define APP_VERBOSE_OPTION APP_FLAG("verbose", APP_O_VERBOSE)

/* Their --help lines. */
#define APP_STACK_HELP_REQUIRED                                                     \
    "  --dev packet:IFACE|tap:NAME   network device to own\n"                       \
    "  --addr A.B.C.D/LEN            our IPv4 address and prefix length\n"
#define APP_STACK_HELP_OPTIONS                                                      \
    "  --gateway IP                  default gateway\n"                             \
    "  --impair loss=P,dup=P,reorder=P,delay=MS,ce=P,seed=N\n"                           \
    "                                impair our own packets (testing)\n"            \
    "  --cc newreno|cubic            congestion control (default newreno)\n"        \
    "  --sndbuf BYTES, --rcvbuf BYTES  per-connection buffers (power of two)\n"     \
    "  --no-gso                      don't use TSO/GSO on transmit\n"                \
    "  --rx-ring FRAMES              receive ring slots (packet:), about three per\n" \
    "                                connection opening at once (default 32768)\n"
#define APP_HELP_PORT \
    "  --port N                      TCP port to listen on (1-65535)\n"
#define APP_HELP_STATS \
    "  --stats-file PATH             write counters here on SIGUSR1 and at exit\n"
#define APP_HELP_READY \
    "  --ready-file PATH             created once listening (removed at exit)\n"
#define APP_HELP_STORE                                                              \
    "  --store mem|shm:NAME|redis://HOST:PORT\n"                                    \
    "                                where connection state lives (shm: the\n"      \
    "                                embedded default for one host, e.g.\n"           \
    "                                shm:NAME?slots=65536; redis: across hosts)\n"  \
    "  --durability off|async|sync   off: plain stack; async: state written once\n" \
    "                                per loop iteration, output not held; sync\n"   \
    "                                (default with --store): no segment leaves\n"   \
    "                                before its state is in the store\n"            \
    "  --store-key FILE              32-byte secret sealing every record (HMAC);\n" \
    "                                all instances sharing a store need the same\n" \
    "                                key. The file must be owned by this user with\n" \
    "                                mode 0600 (no group/other access)\n"           \
    "  --state-dir DIR               without --store-key: the key is DIR/store.key,\n" \
    "                                made (random, 0600) on first start and reused\n" \
    "                                after (default " STATE_DIR_DEFAULT ")\n"
#define APP_HELP_HELP "  --help                        this text\n"

/* What the shared options fill. */
struct app_opts {
    const char *prog;               /* in messages: "slhttpd: ..." */
    void (*usage)(FILE *f);         /* the --help text */
    struct sl_config cfg;
    uint32_t port;                  /* --port; 0 if not given */
    const char *stats_file, *ready_file;
    const char *key_file, *state_dir;
    int durability;                 /* --durability (enum sl_durability), -1 if not given */
    int quiet, verbose;
    uint8_t store_key[STORE_KEY_LEN];
};

/* An application's own options: 0 when `c` (a value of its own enum,
 * below APP_O_DEV) was taken, else the exit status after app_bad_usage. */
typedef int (*app_own_opt)(int c, const char *arg, struct app_opts *o, void *user);

/* Before app_parse: the defaults (cc newreno, no durability given, the
 * default state directory). */
void app_opts_init(struct app_opts *o, const char *prog, void (*usage)(FILE *f));
#define APP_GO (-1)
/* Runs getopt_long over argv with `opts`: the shared options fill o, the
 * others go to own(). Then checks nothing is left over and --dev and
 * --addr were given. APP_GO to go on, else the exit status for main: 0
 * after --help (usage on stdout), 2 after a usage error (the message and
 * usage on stderr). */
int app_parse(struct app_opts *o, int argc, char **argv, const struct option *opts,
              app_own_opt own, void *user);
/* Prints "PROG: " fmt (with arg) and the usage on stderr: returns 2. */
int app_bad_usage(const struct app_opts *o, const char *fmt, const char *arg);
/* After app_parse, for the servers: --durability needs --store (else 2)
 * and defaults to sync with one, off without; the store's key is loaded:
 * --store-key FILE, the state directory's own, or (mem:, nothing to share)
 * random (else 1). 0 when done. */
int app_store_setup(struct app_opts *o);

/* One getopt result `c` with argument `arg`: 1 if it was a shared option
 * (o updated), 0 if not one of them, -1 for a bad value (the reason,
 * naming the option, in err). */
int app_shared_opt(int c, const char *arg, struct app_opts *o, char *err, size_t errlen);

/* Set by SIGINT/SIGTERM, and by SIGUSR1 (app_dump) if asked for. */
extern volatile sig_atomic_t app_stop, app_dump;
/* SIGINT and SIGTERM set app_stop (no SA_RESTART: a blocking wait returns);
 * with `usr1`, SIGUSR1 sets app_dump; SIGPIPE is ignored. */
void app_signals(int usr1);
/* sl_stack_create with o->cfg; a message on stderr on failure. */
int app_stack_create(const struct app_opts *o, sl_stack **s);
/* Writes sl_stats_dump, then more(user, fd) if given, to o->stats_file
 * atomically (a temporary file renamed). */
void app_write_stats(const struct app_opts *o, sl_stack *s, void (*more)(void *user, int fd),
                     void *user);
/* Writes "PORT\n" to o->ready_file atomically (if one was given); a
 * message on stderr on failure. */
void app_write_ready(const struct app_opts *o);

#endif
