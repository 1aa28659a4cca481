/* ld_round.h - one round: calls, settling, storing (ld_round.c). */
#ifndef LD_ROUND_H
#define LD_ROUND_H

#include "ld_internal.h"

/* Handles the messages of one round (different customers). *retry is set
 * when some could not be finished now (their offsets are not stored). */
mlc_rc ld_run_round(struct ld *ld, struct item **items, size_t n, bool *retry, struct mlc_err *err);

#endif
