/* ld_outcome.h - what became of an event: one enum, one name table
 * (ld_util.c). A leaf. */
#ifndef LD_OUTCOME_H
#define LD_OUTCOME_H

/* What became of an event (the event audit's outcome column, the metrics'
 * label): ld_outcome_name() gives its name. */
enum ld_outcome {
    LD_OUT_CREATED = 0,
    LD_OUT_UPDATED,
    LD_OUT_UNCHANGED,
    LD_OUT_ADOPTED,
    LD_OUT_DLQ,
    LD_OUT_DELETED_IN_CRM,
    LD_OUT_DUPLICATE,
    LD_OUT_DRY_RUN,
    LD_OUT__COUNT
};

/* "created", "updated", ...: the name stored and shown for o. */
const char *ld_outcome_name(enum ld_outcome o);

#endif
