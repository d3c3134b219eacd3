/* Options shared by the sltcp applications. See appopts.h. */
#include "appopts.h"

#include "appcommon.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int app_stack_opt(int c, const char *arg, struct sl_config *cfg, char *err, size_t errlen)
{
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
    default:
        return 0;
    }
}

int app_opt_other(int c, const char *arg, struct sl_config *cfg, int argc, char **argv,
                  char *err, size_t errlen)
{
    int rc = app_stack_opt(c, arg, cfg, err, errlen);
    if (rc != 0)
        return rc;
    if (optind > 0 && optind - 1 < argc)
        snprintf(err, errlen, "bad option or missing value: '%s'", argv[optind - 1]);
    else
        snprintf(err, errlen, "bad option");
    return -1;
}

void app_signals(void (*stop)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int app_opt_finish(const struct sl_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    if (optind < argc)
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
    else if (cfg->dev == NULL)
        snprintf(err, errlen, "--dev is required");
    else if (cfg->addr == 0)
        snprintf(err, errlen, "--addr is required");
    else
        return 0;
    return -1;
}
