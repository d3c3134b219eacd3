/* slsteer: drive the steering data plane (src/fleet/steer.h) by hand or
 * from scripts. Every change goes through the control library into the
 * pinned maps under /sys/fs/bpf/sltcp/NAME/; programs attached here stay
 * attached after slsteer exits. Interfaces are looked up in the network
 * namespace slsteer runs in (use `nsenter --net=...`, which keeps the
 * bpffs mount, rather than `ip netns exec`, which remounts /sys). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fleet/steer.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: slsteer COMMAND NAME [ARGS]   (NAME: the steering's pin directory\n"
"                                      /sys/fs/bpf/sltcp/NAME)\n"
"  init NAME                     load the programs, create (or keep) the pinned maps\n"
"  attach NAME IFACE [PROG] [--skb]\n"
"                                attach PROG (xdp_steer, default; xdp_decap; xdp_pass)\n"
"                                to IFACE; stays attached after exit\n"
"  detach IFACE [--skb]          remove the XDP program of IFACE\n"
"  service NAME ADDR[:PORT] [TUNNEL_SRC]\n"
"                                the service address (port 0 or none = every port)\n"
"                                and the outer source address of IP-in-IP\n"
"  instances NAME [SPEC...]      replace the instance list and recompute the Maglev\n"
"                                table. SPEC, comma-separated key=value:\n"
"                                  slot=N,name=S[,weight=W],local=IFACE,mac=MAC\n"
"                                  slot=N,name=S[,weight=W],remote=HOSTADDR,via=IFACE,mac=NEXTHOP_MAC\n"
"  override NAME CADDR:CPORT SADDR:SPORT SLOT   send one flow to SLOT\n"
"  override-del NAME CADDR:CPORT SADDR:SPORT\n"
"  lookup NAME CADDR:CPORT SADDR:SPORT          where the flow goes now\n"
"  stats NAME [--json]           per-instance packets/bytes and the global counters\n"
"  unpin NAME                    remove the pinned maps\n"
"Exit: 0 ok, 1 failure, 2 bad usage.\n");
}

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "slsteer: %s '%s'\n", what, arg ? arg : "");
    usage(stderr);
    return 2;
}

static int fail(const char *what, int r)
{
    fprintf(stderr, "slsteer: %s: %s\n", what, strerror(r < 0 ? -r : r));
    return 1;
}

static int parse_addr(const char *s, uint32_t *a)
{
    struct in_addr in;
    if (inet_pton(AF_INET, s, &in) != 1)
        return -1;
    *a = ntohl(in.s_addr);
    return 0;
}

static int parse_ep(const char *s, uint32_t *a, uint16_t *port, int need_port)
{
    char buf[64];
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    char *c = strchr(buf, ':');
    *port = 0;
    if (c) {
        *c = '\0';
        char *end;
        long p = strtol(c + 1, &end, 10);
        if (*end || p < 0 || p > 65535)
            return -1;
        *port = (uint16_t)p;
    } else if (need_port) {
        return -1;
    }
    return parse_addr(buf, a);
}

static int parse_mac(const char *s, uint8_t m[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255)
            return -1;
        m[i] = (uint8_t)v[i];
    }
    return 0;
}

static int if_mac(const char *ifname, uint8_t m[6])
{
    struct ifreq r;
    memset(&r, 0, sizeof(r));
    if (strlen(ifname) >= sizeof(r.ifr_name))
        return -ENAMETOOLONG;
    strcpy(r.ifr_name, ifname);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = ioctl(fd, SIOCGIFHWADDR, &r) < 0 ? -errno : 0;
    close(fd);
    if (rc == 0)
        memcpy(m, r.ifr_hwaddr.sa_data, 6);
    return rc;
}

/* One instance SPEC; names point into spec (modified in place). */
static int parse_spec(char *spec, struct sl_steer_instance *in, const char **err)
{
    memset(in, 0, sizeof(*in));
    in->weight = 1;
    in->slot = SL_STEER_MAX_INST;
    const char *local = NULL, *via = NULL;
    int have_mac = 0;
    for (char *save = NULL, *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *v = strchr(kv, '=');
        if (!v)
            return *err = "expected key=value in", -1;
        *v++ = '\0';
        char *end;
        if (!strcmp(kv, "slot")) {
            unsigned long n = strtoul(v, &end, 10);
            if (*end || *v == '\0' || n >= SL_STEER_MAX_INST)
                return *err = "slot: expected 0..63, got", -1;
            in->slot = (uint32_t)n;
        } else if (!strcmp(kv, "name")) {
            in->name = v;
        } else if (!strcmp(kv, "weight")) {
            unsigned long n = strtoul(v, &end, 10);
            if (*end || *v == '\0' || n > 1000)
                return *err = "weight: expected 0..1000, got", -1;
            in->weight = (uint32_t)n;
        } else if (!strcmp(kv, "local")) {
            local = v;
            in->kind = SL_STEER_INST_LOCAL;
        } else if (!strcmp(kv, "remote")) {
            if (parse_addr(v, &in->host_addr) < 0)
                return *err = "remote: expected an IPv4 address, got", -1;
            in->kind = SL_STEER_INST_REMOTE;
        } else if (!strcmp(kv, "via")) {
            via = v;
        } else if (!strcmp(kv, "mac")) {
            if (parse_mac(v, in->dmac) < 0)
                return *err = "mac: expected aa:bb:cc:dd:ee:ff, got", -1;
            have_mac = 1;
        } else {
            return *err = "unknown key", -1;
        }
    }
    if (in->slot == SL_STEER_MAX_INST || !in->name || !in->kind || !have_mac)
        return *err = "a SPEC needs slot, name, mac and local or remote:", -1;
    const char *egress = in->kind == SL_STEER_INST_LOCAL ? local : via;
    if (!egress)
        return *err = "remote needs via=IFACE:", -1;
    in->ifindex = if_nametoindex(egress);
    if (in->ifindex == 0 || if_mac(egress, in->smac) < 0)
        return *err = "no such interface in this network namespace:", -1;
    return 0;
}

static int open_or_fail(const char *name, struct sl_steer **s)
{
    char err[256];
    int r = sl_steer_open(name, s, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "slsteer: %s (run `slsteer init %s` first)\n", err, name);
    return r;
}

static int tuple_args(char **argv, struct sl_steer_tuple *t)
{
    if (parse_ep(argv[0], &t->caddr, &t->cport, 1) < 0)
        return bad("expected CLIENT_ADDR:PORT, got", argv[0]);
    if (parse_ep(argv[1], &t->saddr, &t->sport, 1) < 0)
        return bad("expected SERVICE_ADDR:PORT, got", argv[1]);
    return 0;
}

static int cmd_stats(struct sl_steer *s, int json)
{
    printf(json ? "{\"instances\":[" : "slot packets bytes\n");
    int first = 1;
    for (uint32_t i = 0; i < SL_STEER_MAX_INST; i++) {
        uint64_t p, b;
        if (sl_steer_stats(s, i, &p, &b) < 0 || (p == 0 && b == 0))
            continue;
        if (json)
            printf("%s{\"slot\":%u,\"packets\":%llu,\"bytes\":%llu}", first ? "" : ",", i,
                   (unsigned long long)p, (unsigned long long)b);
        else
            printf("%u %llu %llu\n", i, (unsigned long long)p, (unsigned long long)b);
        first = 0;
    }
    printf(json ? "],\"counters\":{" : "counter value\n");
    for (unsigned c = 0; c < SL_STEER_C_MAX; c++) {
        uint64_t v = 0;
        sl_steer_counter(s, c, &v);
        if (json)
            printf("%s\"%s\":%llu", c ? "," : "", sl_steer_counter_name(c), (unsigned long long)v);
        else
            printf("%s %llu\n", sl_steer_counter_name(c), (unsigned long long)v);
    }
    if (json)
        printf("}}\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 3)
        return bad("missing command or name", argc > 1 ? argv[1] : "");
    const char *cmd = argv[1], *name = argv[2];
    struct sl_steer *s = NULL;
    char err[256];
    int r;

    if (!strcmp(cmd, "detach")) {
        uint32_t fl = argc > 3 && !strcmp(argv[3], "--skb") ? XDP_FLAGS_SKB_MODE : 0;
        unsigned ifi = if_nametoindex(name);
        if (!ifi)
            return bad("no such interface", name);
        r = sl_steer_detach((int)ifi, fl);
        return r < 0 ? fail("detach", r) : 0;
    }
    if (!strcmp(cmd, "unpin")) {
        r = sl_steer_unpin(name);
        return r < 0 ? fail("unpin", r) : 0;
    }
    if (!strcmp(cmd, "init") || !strcmp(cmd, "attach")) {
        const char *ifname = NULL, *prog = "xdp_steer";
        uint32_t fl = 0;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "--skb"))
                fl = XDP_FLAGS_SKB_MODE;
            else if (!ifname)
                ifname = argv[i];
            else
                prog = argv[i];
        }
        if (!strcmp(cmd, "attach") && !ifname)
            return bad("attach needs an interface", "");
        if (!strcmp(cmd, "init") && ifname)
            return bad("init takes no further arguments, got", ifname);
        if (strcmp(prog, "xdp_steer") && strcmp(prog, "xdp_decap") && strcmp(prog, "xdp_pass"))
            return bad("unknown program (xdp_steer, xdp_decap, xdp_pass)", prog);
        unsigned ifi = ifname ? if_nametoindex(ifname) : 0;
        if (ifname && !ifi)
            return bad("no such interface in this network namespace", ifname);
        r = sl_steer_load(name, &s, err, sizeof(err));
        if (r < 0) {
            fprintf(stderr, "slsteer: %s\n", err);
            return 1;
        }
        if (ifname) {
            r = sl_steer_attach(s, prog, (int)ifi, fl);
            if (r < 0) {
                sl_steer_close(s);
                return fail("attach", r);
            }
        }
        sl_steer_close(s);
        return 0;
    }

    if (!strcmp(cmd, "service")) {
        uint32_t a, tun = 0;
        uint16_t port;
        if (argc < 4 || argc > 5 || parse_ep(argv[3], &a, &port, 0) < 0)
            return bad("service: expected ADDR[:PORT] [TUNNEL_SRC], got", argc > 3 ? argv[3] : "");
        if (argc == 5 && parse_addr(argv[4], &tun) < 0)
            return bad("service: expected a tunnel source address, got", argv[4]);
        if (open_or_fail(name, &s) < 0)
            return 1;
        r = sl_steer_set_service(s, a, port, tun);
    } else if (!strcmp(cmd, "instances")) {
        int n = argc - 3;
        if (n > (int)SL_STEER_MAX_INST)
            return bad("too many instances", "");
        struct sl_steer_instance v[SL_STEER_MAX_INST];
        for (int i = 0; i < n; i++) {
            const char *why = NULL;
            char *copy = strdup(argv[3 + i]);
            if (!copy || parse_spec(argv[3 + i], &v[i], &why) < 0) {
                r = bad(why ? why : "out of memory", copy);
                free(copy);
                return r;
            }
            free(copy);
        }
        if (open_or_fail(name, &s) < 0)
            return 1;
        r = sl_steer_set_instances(s, v, (size_t)n);
    } else if (!strcmp(cmd, "override") || !strcmp(cmd, "override-del") ||
               !strcmp(cmd, "lookup")) {
        int want = !strcmp(cmd, "override") ? 6 : 5;
        if (argc != want)
            return bad("wrong number of arguments for", cmd);
        struct sl_steer_tuple t;
        if ((r = tuple_args(argv + 3, &t)) != 0)
            return r;
        uint32_t slot = 0;
        if (want == 6) {
            char *end;
            unsigned long n = strtoul(argv[5], &end, 10);
            if (*end || *argv[5] == '\0' || n >= SL_STEER_MAX_INST)
                return bad("slot: expected 0..63, got", argv[5]);
            slot = (uint32_t)n;
        }
        if (open_or_fail(name, &s) < 0)
            return 1;
        if (!strcmp(cmd, "override")) {
            r = sl_steer_override_set(s, &t, slot);
        } else if (!strcmp(cmd, "override-del")) {
            r = sl_steer_override_del(s, &t);
        } else {
            int ov = 0;
            r = sl_steer_lookup(s, &t, &slot, &ov);
            if (r == 0)
                printf("slot %u%s (bucket %u)\n", slot, ov ? " override" : "", sl_steer_bucket(&t));
        }
    } else if (!strcmp(cmd, "stats")) {
        int json = argc > 3 && !strcmp(argv[3], "--json");
        if (argc > 4 || (argc == 4 && !json))
            return bad("stats: unknown argument", argv[3]);
        if (open_or_fail(name, &s) < 0)
            return 1;
        r = cmd_stats(s, json);
    } else {
        return bad("unknown command", cmd);
    }
    sl_steer_close(s);
    return r < 0 ? fail(cmd, r) : 0;
}
