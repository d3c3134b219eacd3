/* A program built against an installed sltcp the way any user builds one:
 *   cc hello_sltcp.c $(pkg-config --cflags --libs sltcp)
 * It includes only <sltcp/sltcp.h> and uses only exported functions. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sltcp/sltcp.h>

/* an outside device that never receives and drops what it is sent */
static int sent, destroyed;
static int null_recv(void *ctx, void *buf, size_t cap) { return 0; }
static int null_send(void *ctx, const void *frame, size_t len) { sent++; return 0; }
static void null_destroy(void *ctx) { destroyed++; }
static uint64_t fixed_clock(void *arg) { return *(uint64_t *)arg; }

int main(void)
{
    int fail = 0;
    /* a stack without a device is refused with a reason */
    struct sl_config cfg = {.addr = 0xc6120101, .prefix_len = 24};
    sl_stack *s = NULL;
    char err[128] = "";
    int r = sl_stack_create(&cfg, &s, err, sizeof(err));
    if (r != -EINVAL || s || !err[0]) {
        fprintf(stderr, "sl_stack_create without a device: %d (%s)\n", r, err);
        fail = 1;
    }
    /* a stack over an outside device and clock, as an adapter builds one */
    static const struct sl_device_ops ops = {
        .recv = null_recv, .send = null_send, .destroy = null_destroy};
    struct sl_device dev = {.ops = &ops, .mac = {2, 0, 0, 0, 0, 1}};
    uint64_t now = 1000000;
    cfg.clock_us = fixed_clock;
    cfg.clock_arg = &now;
    r = sl_stack_create_dev(&cfg, &dev, &s, err, sizeof(err));
    sl_conn *c = NULL;
    if (r != 0 || sl_connect(s, 0xc6120102, 80, &c) != 0 || sl_run(s, 0) != 0 ||
        sl_now_us(s) != now || sent < 1) {
        fprintf(stderr, "device stack: %d (%s), sent %d\n", r, err, sent);
        fail = 1;
    }
    sl_stack_destroy(s);
    if (destroyed != 1)
        fail = 1;
    if (strcmp(sl_strerror(-EAGAIN), "") == 0)
        fail = 1;
    if (sl_stats_count() < 10 || !sl_stats_name(1))
        fail = 1;
    printf("hello from sltcp: %u counters, %d frame(s) through an outside device, %s\n",
           sl_stats_count(), sent, fail ? "FAIL" : "ok");
    return fail;
}
