/* ld_match_cmd.h - `mlc-loader match [--apply] [--json]` (ld_match_cmd.c):
 * links customers on the event topic to organizations typed in by hand,
 * by the rules of ld_match.h. Reads the topic outside the group (no offset
 * committed) and lists every organization once; writes only with apply,
 * and then only the two ID fields of unambiguous matches. */
#ifndef LD_MATCH_CMD_H
#define LD_MATCH_CMD_H

#include "ld_internal.h"

mlc_rc ld_match_command(struct ld *ld, bool apply, bool json, struct mlc_err *err);

#endif
