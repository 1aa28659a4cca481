/* cli_time.c - time arguments of the operator tool, see mlc_cli.h. */
#include "mlc_cli.h"

#include <string.h>

/* "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z]" -> "YYYY-MM-DDTHH:MM:SS" (UTC); a bare
 * date or minute is widened to its first (since) or last (until) second. */
bool mlc_cli_parse_time(const char *v, bool until, char out[20])
{
    static const char tmpl[] = "dddd-dd-ddTdd:dd:dd";
    size_t n = strlen(v), len;

    if (n && v[n - 1] == 'Z')
        n--;
    len = n;
    if (len > 19 && v[19] == '.') {
        for (size_t i = 20; i < len; i++)
            if (v[i] < '0' || v[i] > '9')
                return false;
        len = 19;
    }
    if (len != 10 && len != 16 && len != 19)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (tmpl[i] == 'd' ? (v[i] < '0' || v[i] > '9') : v[i] != tmpl[i])
            return false;
    }
    memcpy(out, v, len);
    memcpy(out + len, (until ? "T23:59:59" : "T00:00:00") + (len == 10 ? 0 : len - 10), 19 - len);
    out[19] = '\0';
    return true;
}
