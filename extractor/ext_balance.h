/* ext_balance.h - when a change of a customer's credit picture is worth an
 * event of its own (docs/extractor.md, "Balance refresh").
 *
 * Every event is a full snapshot and costs the loader Pipedrive tokens, so
 * balance moves that do not matter to sales are held back until they add up
 * or ride along with a change that does. The rule compares the credit picture
 * read now with the one last PUBLISHED for the customer (not the last read,
 * so small moves cannot creep past the threshold one at a time):
 *
 *   published always: nothing published yet; amount past due going from zero
 *   to non-zero or back; on hold changed; the balance crossing the credit
 *   limit (either way; only with a limit above zero).
 *   held back: a balance move (|now - last|) smaller than min_pct percent of
 *   the last published balance due AND smaller than 1 % of the credit limit
 *   (so a customer without a limit, or whose last balance was zero, has every
 *   move published); a move of zero (only open documents or dates changed).
 *   published otherwise.
 *
 * Master-data changes are decided by the content hash elsewhere and are
 * always published; this rule only sees the credit facts. A pure function:
 * no I/O, no state.
 */
#ifndef EXT_BALANCE_H
#define EXT_BALANCE_H

#include <stdbool.h>

/* The credit facts the rule looks at, in the customer's currency. */
struct ext_credit_view {
    double balance;  /* credit.balance_due */
    double past_due; /* credit.amount_past_due */
    double limit;    /* customer.credit_limit; <= 0: no limit */
    bool on_hold;    /* customer.on_hold */
};

enum ext_balance_why {
    EXT_BAL_MINOR = 0,     /* held back */
    EXT_BAL_FIRST,         /* nothing published before */
    EXT_BAL_PAST_DUE,      /* past due zero <-> non-zero */
    EXT_BAL_ON_HOLD,       /* on hold changed */
    EXT_BAL_LIMIT_CROSSED, /* balance crossed the credit limit */
    EXT_BAL_MOVE,          /* a move at or above the thresholds */
};

/* The verdict for now against last (NULL: nothing published yet). min_pct is
 * MLC_BALANCE_MIN_CHANGE_PCT (0: every move is published). */
enum ext_balance_why ext_balance_verdict(const struct ext_credit_view *last,
                                         const struct ext_credit_view *now, double min_pct);

/* "minor", "first", "past_due", "on_hold", "limit_crossed" or "move". */
const char *ext_balance_why_name(enum ext_balance_why why);

#endif
