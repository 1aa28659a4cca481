/* ld_fields.h - custom-field set-up (ld_fields.c). */
#ifndef LD_FIELDS_H
#define LD_FIELDS_H

#include "ld_internal.h"

/* GETs the organization fields, resolves the mapping, creates what is
 * missing (unless create is false; then MLC_FATAL naming what lacks),
 * resolves again and sets ld's identity keys (i_num, i_co, k_num, k_co). */
mlc_rc ld_prepare_fields(struct ld *ld, bool create, struct mlc_err *err);

/* After Pipedrive refused a write naming custom fields (400: a mapped field
 * or option deleted by an admin): lists the fields again (10 tokens),
 * resolves the mapping, creates what is missing when create (5 tokens
 * each) and sets the identity keys again. lacking (size lsz) names what is
 * still missing ("" when nothing is); then the mapping is unresolved and
 * may not be applied. MLC_FATAL on a conflict (two fields of one name, a
 * type mismatch), MLC_RETRY when the listing failed for now. */
mlc_rc ld_recover_fields(struct ld *ld, bool create, char *lacking, size_t lsz,
                         struct mlc_err *err);

#endif
