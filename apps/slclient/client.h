/* slclient: the client's state and its calls (private to apps/slclient).
 *
 *   client.c  connections, requests, responses (head, length, chunked, EOF)
 *   main.c    command line, the run loop, the summary line
 */
#ifndef SLCLIENT_CLIENT_H
#define SLCLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include <sltcp/sltcp.h>

#define HEAD_MAX 16384
#define REQ_MAX 8192
#define MAX_HEADERS 16
#define RBUF (256 * 1024)

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum recv_state { R_HEAD, R_BODY };

struct client {
    sl_stack *s;
    sl_conn *c;          /* current connection or NULL */
    int connected;
    uint32_t daddr;
    uint16_t dport;
    int head_method;     /* HEAD: responses have no body */
    int verbose, quiet, any_status;

    char req[REQ_MAX];
    size_t req_len, req_off;

    /* response being received */
    enum recv_state rstate;
    char head[HEAD_MAX + 1];
    size_t head_len;
    int status;
    int resp_close;      /* server will close after this response */
    enum body_mode mode;
    uint64_t body_left;  /* BODY_LENGTH, or current chunk */
    enum chunk_state ch;
    char chline[128];
    size_t chline_len;
    uint64_t body_bytes;
    crypto_hash_sha256_state sha;
    unsigned char digest[crypto_hash_sha256_BYTES];

    /* totals */
    unsigned requests, done;
    uint64_t total_bytes;
    int last_status;
    int all_ok;
    int finished;        /* all requests done */
    int failed;
    char why[256];
    unsigned connects;
    unsigned conn_done;  /* responses completed on the current connection */
    unsigned retries;    /* consecutive keep-alive retries */
    sl_conn *closing;    /* last closed handle, until SL_EV_CLOSED */

    int out_fd;
    const char *out_path;
};

/* Monotonic seconds. */
/* Records the first failure (fmt has one %s for arg). */
void fail(struct client *cl, const char *fmt, const char *arg);
/* Closes the current connection, if any (its handle is kept in
 * cl->closing until SL_EV_CLOSED). */
void drop_connection(struct client *cl);
/* Sends the next request, connecting first if needed; sets cl->finished
 * when every request is done. */
void next_request(struct client *cl);

#endif
