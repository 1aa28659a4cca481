/* ld_loader.h - mlc-loader's commands: drain, run, ping, setup.
 *
 * How one event is handled, identity, pacing, budget and failure behaviour
 * are described in docs/loader.md; the decisions in
 * docs/adr/0006-loader-identity-and-pacing.md.
 *
 * Ownership: everything is allocated and released inside ld_main().
 */
#ifndef LD_LOADER_H
#define LD_LOADER_H

#include "ld_opts.h"
#include "mlc_config.h"
#include "mlc_err.h"

/* Runs one command. MLC_OK: done (drain reached the end, run was stopped by
 * a signal); MLC_RETRY: stopped before finishing (a later run continues);
 * MLC_FATAL: configuration, credentials, block page, state file. */
mlc_rc ld_main(const struct mlc_config *cfg, const struct ld_opts *o, struct mlc_err *err);

#endif
