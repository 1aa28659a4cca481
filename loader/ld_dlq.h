/* ld_dlq.h - the dead-letter topic (ld_dlq.c). */
#ifndef LD_DLQ_H
#define LD_DLQ_H

#include "ld_internal.h"
#include "mlc_kafka.h"

/* Delivery report callback of the DLQ producer (ctx: struct ld). */
void ld_dlq_on_delivery(const struct mlc_kafka_dr *dr, void *ctx);

/* Sends the item's message with its headers (a backlog row has none kept)
 * plus the mlc.* failure headers (text redacted) to MLC_DLQ_TOPIC and waits
 * for the delivery report. The producer is created on first use and owned
 * by ld. */
mlc_rc ld_dlq_send(struct ld *ld, const struct item *it, const char *cls, const char *text,
                   struct mlc_err *err);

#endif
