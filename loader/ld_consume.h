/* ld_consume.h - the consumption loop (ld_consume.c). */
#ifndef LD_CONSUME_H
#define LD_CONSUME_H

#include "ld_internal.h"

/* Consumes the topic until stopped (run) or until the end offsets seen at
 * start (drain: MLC_RETRY when stopped before). */
mlc_rc ld_consume(struct ld *ld, bool drain, struct mlc_err *err);

#endif
