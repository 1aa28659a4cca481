/* ld_plan.h - planning one event of a round (ld_plan.c). */
#ifndef LD_PLAN_H
#define LD_PLAN_H

#include "ld_internal.h"

/* Marks w finished with outcome, org_id and an optional reason. */
void ld_work_finish(struct work *w, enum ld_outcome outcome, int64_t org_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Plans w for the dead-letter topic with error class cls and text. */
void ld_work_to_dlq(struct work *w, const char *cls, const char *text);

/* Plans a POST creating w's organization (body from the mapping). */
mlc_rc ld_plan_create(struct ld *ld, struct work *w, struct mlc_err *err);

/* Decides what the event needs. May run an identity lookup (a POST whose
 * answer was lost). Fills w->kind; finished events get their outcome. */
mlc_rc ld_plan(struct ld *ld, struct work *w, struct mlc_err *err);

/* Plans w again from its event after the mapping changed (fields re-read)
 * or, with drop_match, as a create after its match by name was undone.
 * The call it planned before (POST or PATCH) decides which, unless
 * drop_match. */
mlc_rc ld_plan_again(struct ld *ld, struct work *w, bool drop_match, struct mlc_err *err);

#endif
