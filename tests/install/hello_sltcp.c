/* A program built against an installed sltcp the way any user builds one:
 *   cc hello_sltcp.c $(pkg-config --cflags --libs sltcp)
 * It includes only <sltcp/sltcp.h> and uses only exported functions. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sltcp/sltcp.h>

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
    if (strcmp(sl_strerror(-EAGAIN), "") == 0)
        fail = 1;
    if (sl_stats_count() < 10 || !sl_stats_name(1))
        fail = 1;
    printf("hello from sltcp: %u counters, %s\n", sl_stats_count(), fail ? "FAIL" : "ok");
    return fail;
}
