/* Named counters. Every dropped packet, refused connection and store
 * failure increments exactly one of these (principle 3: nothing is dropped
 * silently). The list is an X-macro so names, enum values and the stats dump
 * can never drift apart.
 *
 * Convention: pure layers (wire, tcp engine) never touch global state; they
 * either return an `enum sl_ctr` drop verdict (wire parsers: 0 == accepted)
 * or add to a counter array handed to them by the caller (engine). */
#ifndef SL_COMMON_CTR_H
#define SL_COMMON_CTR_H

#include <stdint.h>

#define SL_CTR_LIST(X)                                                       \
    X(ok)                       /* 0: not a drop; never incremented */       \
    /* link / io */                                                          \
    X(rx_frames) X(rx_bytes) X(tx_frames) X(tx_bytes) X(tx_gso_frames)       \
    X(rx_csum_unverified)       /* CSUMNOTREADY / NEEDS_CSUM: trusted */     \
    X(rx_oversize_frames)       /* GRO frames larger than the MTU */         \
    X(rx_copied_frames)         /* larger than a ring slot: read with recv */ \
    X(drop_tx_ring_full) X(drop_tx_error) X(drop_rx_truncated)            \
    X(drop_rx_ring_full)        /* kernel dropped: our RX ring was full */               \
    X(tx_offload_changes)       /* the device's transmit offloads changed */ \
    X(tx_sw_gso_frames)         /* super-frames cut in software (no TSO) */  \
    X(tx_sw_csum)               /* checksums filled in software (no tx csum) */ \
    X(tx_retries)               /* refused frame sent again after a backoff */ \
    X(drop_tx_retry_exhausted)  /* refused frame dropped after the retries */ \
    X(drop_tx_gso_refused)      /* super-frame the device would not cut */  \
    X(impair_dropped) X(impair_duplicated) X(impair_reordered)               \
    X(impair_delayed)                                                        \
    /* stack work, counted so tests check cost by operations, not time */    \
    X(table_lookups) X(table_probes) /* 4-tuple table: slots visited */      \
    X(timer_updates) X(timer_steps)  /* timer heap: levels moved */          \
    X(impair_ce_marked)         /* ECT packets marked CE (ce=P) */           \
    /* ethernet */                                                           \
    X(drop_eth_short) X(drop_eth_not_for_us) X(drop_eth_type)                \
    /* arp */                                                                \
    X(arp_rx) X(arp_reply_tx) X(arp_request_tx) X(arp_learned)               \
    X(drop_arp_malformed) X(drop_arp_not_for_us) X(drop_arp_unresolved)      \
    X(drop_arp_table_full)                                                   \
    /* ipv4 */                                                               \
    X(drop_ip_short) X(drop_ip_version) X(drop_ip_hdrlen) X(drop_ip_totlen)  \
    X(drop_ip_csum) X(drop_ip_not_for_us) X(drop_ip_bad_src)                 \
    X(drop_ip_frag)             /* fragments are counted and dropped */      \
    X(drop_ip_proto) X(ip_options_skipped) X(drop_ip_no_route)              \
    X(ip_srcroute_rx)           /* a return route saved (RFC 9293 MUST-53) */ \
    X(drop_ip_bad_srcroute)     /* malformed source route option */          \
    /* icmp */                                                               \
    X(icmp_echo_rx) X(icmp_echo_tx) X(drop_icmp_short) X(drop_icmp_csum)     \
    X(drop_icmp_type) X(icmp_frag_needed) X(drop_icmp_ptb_no_conn)           \
    X(drop_icmp_ptb_bad_seq) X(drop_icmp_ptb_mtu)                            \
    X(icmp_soft_error)          /* RFC 9293 MUST-54: recorded, app told */   \
    X(drop_icmp_err_no_conn) X(drop_icmp_err_bad_seq)                        \
    X(tcp_r1_advice)            /* MUST-20: R1 retransmissions: next hop re-resolved */ \
    /* tcp header */                                                         \
    X(drop_tcp_short) X(drop_tcp_doff) X(drop_tcp_csum)                      \
    X(drop_tcp_opt_malformed) X(drop_tcp_bad_flags) X(drop_tcp_bad_port)     \
    /* tcp engine */                                                         \
    X(tcp_rx_segs) X(tcp_tx_segs) X(tcp_tx_data_segs) X(tcp_retransmits)     \
    X(tcp_rto_fired) X(tcp_fast_retransmits) X(tcp_sack_retransmits)         \
    X(tcp_tlp_probes) X(tcp_lost_rexmit) X(tcp_rst_tx) X(tcp_rst_rx) X(tcp_dupacks_rx)          \
    X(tcp_delayed_acks) X(tcp_zwp_tx) X(tcp_keepalive_tx) X(tcp_ooo_segs)    \
    X(tcp_passive_opens) X(tcp_active_opens) X(tcp_established)             \
    X(tcp_closed) X(tcp_timeouts) X(tcp_timewait_reused)                     \
    X(tcp_timewait_recycled)    /* TIME-WAIT cut short: max_conns of them held */ \
    X(tcp_challenge_ack_tx) X(drop_tcp_challenge_ack_limited)                \
    X(drop_tcp_oow_ack_limited) /* no ACK for an out-of-window segment */                   \
    X(drop_tcp_no_conn)         /* answered with RST (3.10.7.1) */           \
    X(drop_tcp_no_conn_rst)     /* RST to nothing: dropped, no reply */      \
    X(drop_tcp_listen_ack) X(drop_tcp_listen_rst) X(drop_tcp_listen_nosyn)   \
    X(drop_tcp_synsent_bad_ack) X(drop_tcp_synsent_noflags)                  \
    X(drop_tcp_out_of_window) X(drop_tcp_paws) X(drop_tcp_rst_bad_seq)       \
    X(drop_tcp_syn_in_window) X(drop_tcp_ack_unsent) X(drop_tcp_no_ack)      \
    X(drop_tcp_old_ack) X(drop_tcp_data_after_fin) X(drop_tcp_rcv_overflow)  \
    X(drop_tcp_syn_data)        /* SYN payload discarded (no TFO) */         \
    X(drop_tcp_backlog_full) X(drop_tcp_max_conns) X(drop_tcp_nomem)         \
    X(drop_tcp_land) X(drop_tcp_closed_conn)                                 \
    X(tcp_mss_clamped)                                                        \
    X(tcp_ecn_negotiated)       /* RFC 3168 6.1.1 handshakes agreed on ECN */ \
    X(tcp_ecn_ce_rx)            /* segments that arrived with CE marked */   \
    X(tcp_ecn_cwnd_reduced)     /* window cut for an ECE (RFC 3168 6.1.2) */  \
    X(tcp_syncookies_sent) X(tcp_syncookies_ok) X(drop_tcp_syncookie_bad)                                                                   \
    /* externalized state (src/stack/persist.c) */                           \
    X(drop_tx_hold_full)        /* sync: staging arena full, frame lost */   \
    X(drop_tx_held_discard)     /* sync: commit failed, held frames dropped */ \
    X(persist_batches) X(persist_records) X(persist_bytes) X(persist_deletes) \
    X(persist_store_errors)     /* a batch the store refused or lost */      \
    X(persist_stalled_iters)    /* sync: iterations whose output was held back */ \
    X(persist_superseded)       /* fenced out by a newer owner: dropped, no RST */ \
    X(persist_too_big)          /* record over the limit: kept in memory only */ \
    X(persist_reowned)          /* the store had lost the flow: written again */ \
    X(persist_foreign_value)    /* a flow's key held a foreign value: that flow aborted */ \
    X(restore_ok) X(restore_startup) X(restore_on_demand)                    \
    X(restore_bad_record)       /* tampered, foreign or undecodable: refused */ \
    /* authentic record, impossible control block (src/tcp/tcp_validate.c) */   \
    X(restore_invalid_state) X(restore_invalid_addr) X(restore_invalid_mss)  \
    X(restore_invalid_bufsz) X(restore_invalid_sndseq)                       \
    X(restore_invalid_rcvseq) X(restore_invalid_window)                      \
    X(restore_invalid_timer)                                                 \
    X(restore_oversize)         /* a value longer than any record: not read */ \
    X(restore_lost_race)        /* another instance took the flow first */  \
    X(restore_ref_error)        /* object bytes could not be read back */    \
    X(restore_store_error)                                                   \
    X(restore_lookup_miss)      /* unknown flow, not in the store: RST */    \
    X(restore_lookup_limited)   /* lookup budget spent: dropped, never a RST */ \
    X(restore_negcache_hit)     /* recently missed: not asked again */       \
    X(restore_retries)          /* a listener's flows restored again from a timer */ \
    X(drop_tcp_flow_elsewhere)  /* flow owned by another instance, or store away: no RST */ \
    X(persist_evicted)          /* idle connection moved out of memory */

enum sl_ctr {
#define SL_CTR_ENUM(n) SL_CTR_##n,
    SL_CTR_LIST(SL_CTR_ENUM)
#undef SL_CTR_ENUM
    SL_CTR__COUNT
};

extern const char *const sl_ctr_names[SL_CTR__COUNT];

#endif
