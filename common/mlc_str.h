/* mlc_str.h - bounded string helpers that replace strcpy/sprintf/atoi.
 *
 * The project never calls strcpy, strcat, sprintf, atoi/atol or strtok:
 * copies are bounded and report truncation, numbers are parsed with range
 * checks, and every function here leaves its output NUL-terminated.
 */
#ifndef MLC_STR_H
#define MLC_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (size dstsz > 0), always terminating. Returns false
 * when src did not fit (dst then holds the truncated prefix). */
bool mlc_strlcpy(char *dst, const char *src, size_t dstsz);

/* Parses a whole base-10 integer in [min, max], surrounding blanks allowed.
 * Returns false on empty input, trailing garbage, or out of range. */
bool mlc_parse_long(const char *s, long min, long max, long *out);

/* Accepts true/false, yes/no, on/off, 1/0 (any case). */
bool mlc_parse_bool(const char *s, bool *out);

/* ASCII upper-case copy into dst; false on truncation. */
bool mlc_str_upper(char *dst, const char *src, size_t dstsz);

/* Trims ASCII blanks in place; returns s (moved past leading blanks). */
char *mlc_str_trim(char *s);

/* True when s starts with prefix. */
bool mlc_str_startswith(const char *s, const char *prefix);

/* True when s is valid UTF-8 of length n (no overlongs, no surrogates). */
bool mlc_utf8_valid(const char *s, size_t n);

/* The longest prefix of the NUL-terminated s, at most max bytes, that does
 * not end inside a UTF-8 sequence: where to cut a text for a bounded
 * message ("%.*s") without leaving half a character, and where to end a
 * text snprintf already cut. */
size_t mlc_utf8_cut(const char *s, size_t max);

#endif
