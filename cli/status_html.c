/* status_html.c - `mlc status --html FILE`: the same facts as the text, as a
 * page operators would rather look at than read (see status.h).
 *
 * Plain HTML with inline CSS and SVG: no script, no font, no image, nothing
 * fetched, so the file can be mailed or opened from a share. Every value
 * from the state files is escaped. The spending chart stacks each day's
 * tokens by kind; the 429s of a day are written above its bar.
 */
#include "mlc_alloc.h"
#include "mlc_str.h"
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHART_W   560
#define CHART_H   180
#define CHART_PAD 28

static const struct {
    const char *key, *label, *color;
} kinds[] = {
    {"creates", "creates", "#2e7d32"}, {"updates", "updates", "#1565c0"},
    {"scans", "scans", "#f9a825"},     {"field_setup", "field set-up", "#6a1b9a"},
    {"probes", "probes", "#78909c"},   {"other", "other", "#bdbdbd"},
};

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* <td>value</td>, "-" for NULL. */
static void cell(FILE *f, const char *s)
{
    fputs("<td>", f);
    esc(f, s ? s : "-");
    fputs("</td>", f);
}

static void num_cell(FILE *f, double v)
{
    fprintf(f, "<td class=n>%.0f</td>", v);
}

static void error_line(FILE *f, const cJSON *o)
{
    if (status_str(o, "error")) {
        fputs("<p class=err>", f);
        esc(f, status_str(o, "error"));
        fputs("</p>\n", f);
    }
}

static void extractor_section(FILE *f, const cJSON *x)
{
    const cJSON *it;

    fputs("<h2>Extractor</h2>\n", f);
    error_line(f, x);
    fputs("<table><tr><th>company</th><th>watermark</th><th>last cycle</th><th>result</th>"
          "<th>finished</th><th>records</th><th>published</th><th>missing</th></tr>\n",
          f);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(x, "companies"))
    {
        fputs("<tr>", f);
        cell(f, status_str(it, "company"));
        cell(f, status_str(it, "watermark"));
        cell(f, status_str(it, "kind"));
        cell(f, status_str(it, "result"));
        cell(f, status_str(it, "finished_at") ? status_str(it, "finished_at")
                                              : status_str(it, "started_at"));
        num_cell(f, status_num(it, "records", 0));
        num_cell(f, status_num(it, "published", 0));
        num_cell(f, status_num(it, "missing", 0));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void kafka_section(FILE *f, const cJSON *k)
{
    const cJSON *it;
    double lag = 0;

    fputs("<h2>Kafka</h2>\n<p>topic ", f);
    esc(f, status_str(k, "topic"));
    fputs(", group ", f);
    esc(f, status_str(k, "group"));
    fputs("</p>\n", f);
    error_line(f, k);
    fputs("<table><tr><th>partition</th><th>committed</th><th>high</th><th>lag</th></tr>\n", f);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(k, "partitions"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "committed");

        fputs("<tr>", f);
        num_cell(f, status_num(it, "partition", 0));
        if (cJSON_IsNumber(c))
            num_cell(f, c->valuedouble);
        else
            cell(f, "none");
        num_cell(f, status_num(it, "high", -1));
        num_cell(f, status_num(it, "lag", -1));
        fputs("</tr>\n", f);
        lag += status_num(it, "lag", 0);
    }
    fprintf(f, "</table>\n<p>total lag <b id=lag>%.0f</b> event(s)</p>\n", lag);
}

/* Stacked bars, one per day, tokens by kind; the day's 429s above it. */
static void spending_chart(FILE *f, const cJSON *days)
{
    int n = cJSON_GetArraySize(days), i = 0;
    double max = 1, bw;
    const cJSON *it;

    if (n == 0) {
        fputs("<p>no Pipedrive calls in the last 7 days</p>\n", f);
        return;
    }
    cJSON_ArrayForEach(it, days)
    {
        if (status_num(it, "total", 0) > max)
            max = status_num(it, "total", 0);
    }
    bw = (double)(CHART_W - 2 * CHART_PAD) / 7.0;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
            "aria-label=\"tokens spent per day by kind\">\n"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#555\"/>\n"
            "<text x=\"2\" y=\"12\" font-size=\"10\">%.0f tokens</text>\n",
            CHART_W, CHART_H + 30, CHART_PAD, CHART_H, CHART_W - CHART_PAD, CHART_H, max);
    cJSON_ArrayForEach(it, days)
    {
        double x = CHART_PAD + i * bw + bw * 0.15, y = CHART_H;
        const char *day = status_str(it, "day");

        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
            double h = status_num(it, kinds[k].key, 0) * (CHART_H - 20) / max;

            if (h <= 0)
                continue;
            y -= h;
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%s %s: %.0f tokens</title></rect>\n",
                    x, y, bw * 0.7, h, kinds[k].color, day ? day : "", kinds[k].label,
                    status_num(it, kinds[k].key, 0));
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.5s</text>\n", x, CHART_H + 14,
                day ? day + 5 : "");
        if (status_num(it, "status_429", 0) > 0)
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#c62828\">%.0f&#215;429"
                    "</text>\n",
                    x, y - 4, status_num(it, "status_429", 0));
        i++;
    }
    fputs("</svg>\n<p class=legend>", f);
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
        fprintf(f, "<span style=\"color:%s\">&#9632;</span> %s ", kinds[k].color, kinds[k].label);
    fputs("</p>\n", f);
}

static void spending_table(FILE *f, const cJSON *days)
{
    const cJSON *it;

    fputs("<table id=spending><tr><th>day</th>", f);
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
        fprintf(f, "<th>%s</th>", kinds[k].label);
    fputs("<th>total</th><th>429s</th></tr>\n", f);
    cJSON_ArrayForEach(it, days)
    {
        fputs("<tr>", f);
        cell(f, status_str(it, "day"));
        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
            num_cell(f, status_num(it, kinds[k].key, 0));
        num_cell(f, status_num(it, "total", 0));
        num_cell(f, status_num(it, "status_429", 0));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void loader_section(FILE *f, const cJSON *l)
{
    const cJSON *it, *first;

    fputs("<h2>Loader</h2>\n", f);
    error_line(f, l);
    fputs("<table>", f);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "meta"))
    {
        if (!strcmp(status_str(it, "key") ? status_str(it, "key") : "", "daily_remaining")) {
            fputs("<tr><th>daily budget left (last seen)</th>", f);
            cell(f, status_str(it, "value"));
            fputs("</tr>\n", f);
        }
    }
    first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "idmap"), 0);
    if (first)
        fprintf(f, "<tr><th>organizations mapped</th><td class=n id=orgs>%.0f</td></tr>\n",
                status_num(first, "organizations", 0));
    first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "dlq"), 0);
    if (first)
        fprintf(f, "<tr><th>dead letters</th><td class=n id=dlq>%.0f</td></tr>\n",
                status_num(first, "dlq", 0));
    first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "dlq_open"), 0);
    if (first)
        fprintf(f, "<tr><th>dead letters not yet replayed</th><td class=n>%.0f</td></tr>\n",
                status_num(first, "not_replayed", 0));
    fputs("</table>\n<h3>Outcomes, last 24 h</h3>\n<table id=outcomes>", f);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "outcomes_24h"))
    {
        fputs("<tr>", f);
        cell(f, status_str(it, "outcome"));
        num_cell(f, status_num(it, "count", 0));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<h3>Pipedrive tokens per day, last 7 days</h3>\n", f);
    spending_chart(f, cJSON_GetObjectItemCaseSensitive(l, "spending_7d"));
    spending_table(f, cJSON_GetObjectItemCaseSensitive(l, "spending_7d"));
}

/* The initial-load forecast (cmd_status.c's forecast_status). */
static void forecast_section(FILE *f, const cJSON *fc)
{
    if (!fc)
        return;
    fputs("<h2>Initial load forecast</h2>\n", f);
    error_line(f, fc);
    fputs("<table id=forecast>", f);
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(fc, "customers_without_org"))) {
        fputs("<tr><th>customers without organization</th>", f);
        num_cell(f, status_num(fc, "customers_without_org", 0));
        fputs("</tr>\n<tr><th>counted from</th>", f);
        cell(f, status_str(fc, "source"));
        fputs("</tr>\n<tr><th>tokens needed (5 a create)</th>", f);
        num_cell(f, status_num(fc, "tokens", 0));
        fputs("</tr>\n", f);
    }
    fputs("<tr><th>daily budget</th>", f);
    num_cell(f, status_num(fc, "daily_budget", 0));
    fputs("</tr>\n<tr><th>reserve %</th>", f);
    num_cell(f, status_num(fc, "reserve_pct", 0));
    fputs("</tr>\n<tr><th>net tokens a day</th>", f);
    num_cell(f, status_num(fc, "net_daily", 0));
    fputs("</tr>\n", f);
    if (status_str(fc, "eta_date")) {
        fprintf(f, "<tr><th>days to go</th><td class=n id=eta_days>%.2f</td></tr>\n",
                status_num(fc, "eta_days", 0));
        fputs("<tr><th>done about (UTC)</th>", f);
        cell(f, status_str(fc, "eta_date"));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

mlc_rc status_write_html(const cJSON *doc, const char *path, struct mlc_err *err)
{
    char tmp[4096];
    FILE *f;
    bool ok;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return mlc_err_set(err, MLC_PERM, "--html %s: path too long", path);
    if (!(f = fopen(tmp, "w")))
        return mlc_err_set(err, MLC_PERM, "--html %s: %s", tmp, strerror(errno));
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<title>ml-connector status</title>\n<style>\n"
          "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\n"
          "table{border-collapse:collapse;margin:.5em 0}\n"
          "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}\n"
          "td.n{text-align:right}.err{color:#c62828}.legend{font-size:12px}\n"
          "</style></head><body>\n<h1>ml-connector status</h1>\n",
          f);
    extractor_section(f, cJSON_GetObjectItemCaseSensitive(doc, "extractor"));
    kafka_section(f, cJSON_GetObjectItemCaseSensitive(doc, "kafka"));
    loader_section(f, cJSON_GetObjectItemCaseSensitive(doc, "loader"));
    forecast_section(f, cJSON_GetObjectItemCaseSensitive(doc, "forecast"));
    fputs("</body></html>\n", f);
    ok = !ferror(f);
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return mlc_err_set(err, MLC_PERM, "--html %s: cannot write: %s", path, strerror(errno));
    }
    return MLC_OK;
}
