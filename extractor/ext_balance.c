/* ext_balance.c - the balance-change threshold rule (see ext_balance.h). */
#include "ext_balance.h"

#include <math.h>

enum ext_balance_why ext_balance_verdict(const struct ext_credit_view *last,
                                         const struct ext_credit_view *now, double min_pct)
{
    double move;

    if (!last)
        return EXT_BAL_FIRST;
    if ((last->past_due != 0) != (now->past_due != 0))
        return EXT_BAL_PAST_DUE;
    if (last->on_hold != now->on_hold)
        return EXT_BAL_ON_HOLD;
    if (now->limit > 0 && (last->balance > now->limit) != (now->balance > now->limit))
        return EXT_BAL_LIMIT_CROSSED;
    move = fabs(now->balance - last->balance);
    if (move == 0)
        return EXT_BAL_MINOR;
    if (move < min_pct / 100.0 * fabs(last->balance) && now->limit > 0 && move < 0.01 * now->limit)
        return EXT_BAL_MINOR;
    return EXT_BAL_MOVE;
}

const char *ext_balance_why_name(enum ext_balance_why why)
{
    switch (why) {
    case EXT_BAL_MINOR:
        return "minor";
    case EXT_BAL_FIRST:
        return "first";
    case EXT_BAL_PAST_DUE:
        return "past_due";
    case EXT_BAL_ON_HOLD:
        return "on_hold";
    case EXT_BAL_LIMIT_CROSSED:
        return "limit_crossed";
    case EXT_BAL_MOVE:
        return "move";
    }
    return "?";
}
