/* ld_match.h - matching Sage customers to organizations typed in by hand.
 *
 * On the day the connector is installed, sales has usually typed many
 * customers into Pipedrive already, without the two ID fields. Creating them
 * again would duplicate them; adopting the wrong one would overwrite another
 * company's organization. So a match is decided from names alone, strictly:
 *
 *   1. Both names are normalised (ld_match_normalize): letters folded to
 *      lower case and accents removed (Latin-1 and Latin Extended-A), dots
 *      inside a word dropped ("S.A." = "SA"), apostrophes dropped ("O'Brien"
 *      = "OBrien"), "&" read as "and", every other run of punctuation and
 *      white space one space, then legal-form suffixes removed from the end
 *      (the closed list in MLC_MATCH_SUFFIXES: Inc, Ltd, LLC, GmbH, ...), as
 *      long as a word remains. "Müller GmbH" = "MULLER", "Acme, Inc." =
 *      "acme", "Smith & Sons Pty. Ltd." = "smith and sons".
 *   2. Candidates are the organizations without a customer's IDs whose
 *      normalised name equals the customer's. One: matched. Several: those
 *      with the customer's postal code (compared without case and blanks),
 *      if exactly one; else those, or all, with its city, if exactly one;
 *      else ambiguous.
 *   3. An organization that two customers match is given to neither: both
 *      become ambiguous (ld_match_all).
 *
 * Nothing here talks to Pipedrive or Kafka: the caller lists the
 * organizations (10 tokens per 500) and reads the customers from the topic.
 *
 * Ownership: ld_match_rules_init() allocates the suffix list
 * (ld_match_rules_free); ld_match_index_new() copies what it needs from the
 * organizations (ld_match_index_free); results are plain values.
 */
#ifndef LD_MATCH_H
#define LD_MATCH_H

#include "mlc_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LD_MATCH_NAME_MAX 512 /* a normalised name, terminator included */
#define LD_MATCH_MAX_IDS  8   /* candidate ids kept for an ambiguous result */

struct ld_match_rules {
    char **suffixes; /* normalised, without dots: "inc", "ltd", ... */
    size_t n;
};

/* csv: comma-separated suffixes (dots allowed: "S.A."); empty: none.
 * MLC_PERM with one line naming a suffix that normalises to nothing. */
mlc_rc ld_match_rules_init(struct ld_match_rules *r, const char *csv, struct mlc_err *err);
void ld_match_rules_free(struct ld_match_rules *r);

/* Writes the normalised name to out (size LD_MATCH_NAME_MAX is enough for
 * any name of up to LD_MATCH_NAME_MAX - 1 bytes; longer input is cut).
 * Returns the length; 0 when nothing is left (a name of punctuation only). */
size_t ld_match_normalize(const struct ld_match_rules *r, const char *name, char *out,
                          size_t outsz);

struct ld_match_org {
    int64_t id;
    const char *name;        /* may be NULL */
    const char *postal_code; /* may be NULL */
    const char *city;        /* may be NULL */
    bool claimed;            /* carries some customer's IDs: never a candidate */
};

struct ld_match_customer {
    const char *name, *postal_code, *city; /* name required; others may be NULL */
};

enum ld_match_verdict {
    LD_MATCH_NONE = 0,
    LD_MATCH_ONE,
    LD_MATCH_AMBIGUOUS,
};

struct ld_match_result {
    enum ld_match_verdict verdict;
    size_t n_ids;                  /* ONE: 1; AMBIGUOUS: candidates kept (<= MAX_IDS) */
    int64_t ids[LD_MATCH_MAX_IDS]; /* ascending */
};

const char *ld_match_verdict_name(enum ld_match_verdict v); /* "matched", "ambiguous", "none" */

struct ld_match_index;

struct ld_match_index *ld_match_index_new(const struct ld_match_rules *r,
                                          const struct ld_match_org *orgs, size_t n);
void ld_match_index_free(struct ld_match_index *ix);

/* One customer against the index (rules 1 and 2). */
void ld_match_find(const struct ld_match_index *ix, const struct ld_match_customer *c,
                   struct ld_match_result *res);

/* Every customer (rules 1 to 3): res[i] for customers[i]. */
void ld_match_all(const struct ld_match_index *ix, const struct ld_match_customer *customers,
                  size_t n, struct ld_match_result *res);

#endif
