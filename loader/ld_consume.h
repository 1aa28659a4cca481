/* ld_consume.h - the consumption loop (ld_consume.c). */
#ifndef LD_CONSUME_H
#define LD_CONSUME_H

#include "ld_internal.h"

/* Consumes the topic until stopped (run) or until the end offsets seen at
 * start (drain: MLC_RETRY when stopped before). */
mlc_rc ld_consume(struct ld *ld, bool drain, struct mlc_err *err);

/* While paused for the budget: a cheap probe (GET /v1/users/me, sent even
 * while paused) re-reads the budget headers, so an early reset (or a sandbox
 * day) ends the pause. MLC_FATAL (err filled) when Pipedrive refuses the
 * token or blocks it: nothing more may be sent; any other failure only
 * leaves the pause as it is (MLC_OK). */
mlc_rc ld_probe_budget(struct ld *ld, struct mlc_err *err);

/* Which of the first n (<= CARRY_MAX) messages of carry may have their
 * offsets stored: finished, and no unfinished message of their partition
 * before them. Fills storable[0..n) and returns how many are. */
size_t ld_carry_storable(const struct item *carry, size_t n, bool *storable);

#endif
