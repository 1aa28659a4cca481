/* ld_fields.h - custom-field set-up (ld_fields.c). */
#ifndef LD_FIELDS_H
#define LD_FIELDS_H

#include "ld_internal.h"

/* GETs the organization fields, resolves the mapping, creates what is
 * missing (unless create is false; then MLC_FATAL naming what lacks),
 * resolves again and sets ld's identity keys (i_num, i_co, k_num, k_co). */
mlc_rc ld_prepare_fields(struct ld *ld, bool create, struct mlc_err *err);

#endif
