/* Command-line options every sltcp application shares (slhttpd, slclient):
 * the device, addresses, congestion control, buffers, offloads and
 * impairment, all filling a struct sl_config. */
#ifndef SL_APPOPTS_H
#define SL_APPOPTS_H

#include <getopt.h>
#include <stddef.h>

#include <sltcp/sltcp.h>

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
};

/* The struct option entries, to put first in an application's table. */
#define APP_STACK_OPTIONS                                             \
    {"dev", required_argument, NULL, APP_O_DEV},                      \
    {"addr", required_argument, NULL, APP_O_ADDR},                    \
    {"gateway", required_argument, NULL, APP_O_GATEWAY},              \
    {"impair", required_argument, NULL, APP_O_IMPAIR},                \
    {"cc", required_argument, NULL, APP_O_CC},                        \
    {"sndbuf", required_argument, NULL, APP_O_SNDBUF},                \
    {"rcvbuf", required_argument, NULL, APP_O_RCVBUF},                \
    {"no-gso", no_argument, NULL, APP_O_NOGSO},                       \
    {"rx-ring", required_argument, NULL, APP_O_RXRING}

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

/* One getopt result `c` with argument `arg`: 1 if it was a shared option
 * (cfg updated), 0 if not one of them, -1 for a bad value (the reason,
 * naming the option, in err). */
int app_stack_opt(int c, const char *arg, struct sl_config *cfg, char *err, size_t errlen);
/* For getopt's other results: 1 if `c` was a shared option, else -1 with
 * the message for a bad value, an unknown option or a missing value. */
int app_opt_other(int c, const char *arg, struct sl_config *cfg, int argc, char **argv,
                  char *err, size_t errlen);
/* SIGINT and SIGTERM call `stop` (no SA_RESTART: a blocking wait returns);
 * SIGPIPE is ignored. */
void app_signals(void (*stop)(int));
/* After getopt: -1 with the message if an argument is left over or --dev
 * or --addr is missing, else 0. */
int app_opt_finish(const struct sl_config *cfg, int argc, char **argv, char *err, size_t errlen);

#endif
