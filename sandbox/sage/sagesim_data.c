/* sagesim_data.c - ARCustomers records, companies and generator, see sagesim_data.h. */
#include "sagesim_data.h"
#include "mlc_alloc.h"

#include "mlc_buf.h"
#include "mlc_str.h"
#include "sagesim_render.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    EN_NONE,
    EN_STATUS,
    EN_YESNO,
    EN_ACCTTYPE,
    EN_DISCTYPE,
    EN_DELIVERY,
    EN_DUPPO,
    EN_PROCCMD,
    EN_MODE,
    EN_COUNT
};

/* Member names. Active/Inactive, Yes/No, OpenItem/BalanceForward are
 * documented or seen; the others follow the view's labels (inferred). */
static const char *const en_status[] = {"Active", "Inactive"};
static const char *const en_yesno[] = {"No", "Yes"};
static const char *const en_accttype[] = {"OpenItem", "BalanceForward"};
static const char *const en_disctype[] = {"Base", "A", "B", "C", "D", "E"};
static const char *const en_delivery[] = {"Mail", "EmailCustomer", "EmailContact",
                                          "EmailMultipleContacts"};
static const char *const en_duppo[] = {"None", "Warning", "Error"};
static const char *const en_proccmd[] = {"InsertOptionalFields"};
static const char *const en_mode[] = {"Ordinary"};

static const struct {
    const char *const *m;
    size_t n;
} enum_sets[EN_COUNT] = {
    {NULL, 0},        {en_status, 2}, {en_yesno, 2},   {en_accttype, 2}, {en_disctype, 6},
    {en_delivery, 4}, {en_duppo, 3},  {en_proccmd, 1}, {en_mode, 1},
};

const char *const *sagesim_enum_members(int enumset, size_t *n)
{
    if (enumset <= EN_NONE || enumset >= EN_COUNT) {
        *n = 0;
        return NULL;
    }
    *n = enum_sets[enumset].n;
    return enum_sets[enumset].m;
}

/* Every ARCustomers property, in metadata order. */
const struct sagesim_field sagesim_fields[SAGESIM_NFIELDS] = {
    {"CustomerNumber", SAGESIM_FT_STRING, 12, 0, EN_NONE},
    {"ShortName", SAGESIM_FT_STRING, 10, 0, EN_NONE},
    {"GroupCode", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"NationalAccount", SAGESIM_FT_STRING, 12, 0, EN_NONE},
    {"Status", SAGESIM_FT_ENUM, 0, 0, EN_STATUS},
    {"InactiveDate", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateLastMaintained", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"OnHold", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"StartDate", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"CreditBureauNumber", SAGESIM_FT_STRING, 9, 0, EN_NONE},
    {"CreditBureauRating", SAGESIM_FT_STRING, 5, 0, EN_NONE},
    {"CreditBureauDate", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"CustomerName", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"AddressLine1", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"AddressLine2", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"AddressLine3", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"AddressLine4", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"City", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"StateProvince", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"ZipPostalCode", SAGESIM_FT_STRING, 20, 0, EN_NONE},
    {"Country", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"ContactName", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"PhoneNumber", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"FaxNumber", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"TerritoryCode", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"AccountSet", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"AutocashProfile", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"BillingCycle", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"InterestProfile", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"CurrencyCode", SAGESIM_FT_STRING, 3, 0, EN_NONE},
    {"PrintStatements", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"AccountType", SAGESIM_FT_ENUM, 0, 0, EN_ACCTTYPE},
    {"Terms", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"RateType", SAGESIM_FT_STRING, 2, 0, EN_NONE},
    {"TaxGroup", SAGESIM_FT_STRING, 12, 0, EN_NONE},
    {"TaxRegistrationNumber1", SAGESIM_FT_STRING, 20, 0, EN_NONE},
    {"TaxRegistrationNumber2", SAGESIM_FT_STRING, 20, 0, EN_NONE},
    {"TaxRegistrationNumber3", SAGESIM_FT_STRING, 20, 0, EN_NONE},
    {"TaxRegistrationNumber4", SAGESIM_FT_STRING, 20, 0, EN_NONE},
    {"TaxRegistrationNumber5", SAGESIM_FT_STRING, 20, 0, EN_NONE},
    {"TaxClassCode1", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"TaxClassCode2", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"TaxClassCode3", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"TaxClassCode4", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"TaxClassCode5", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"CreditLimitCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"BalanceDueInCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"BalanceDueInFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"DateOfLastStatement", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"LastStatementTotalCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"DateOfLastBalanceForwardStatement", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"BeginningBalanceOnLastStatement", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"DateOfLastRevaluation", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"LastRevaluationBalance", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"NumberOfOpenDocuments", SAGESIM_FT_DECIMAL, 0, 0, EN_NONE},
    {"NumberOfPaidInvoices", SAGESIM_FT_DECIMAL, 0, 0, EN_NONE},
    {"NumberOfDaysToPay", SAGESIM_FT_DECIMAL, 0, 0, EN_NONE},
    {"DateOfLargestInvoice", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfHighestBalance", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLargestInvoiceLastYear", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfHighestBalanceLastYear", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastActivity", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastInvoice", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastCreditNote", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastDebitNote", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastReceipt", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastDiscount", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastAdjustment", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastWriteOff", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastReturnedCheck", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"DateOfLastInterestCharge", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"LargestInvoiceNumber", SAGESIM_FT_STRING, 22, 0, EN_NONE},
    {"LargestInvoiceNumberLastYear", SAGESIM_FT_STRING, 22, 0, EN_NONE},
    {"LargestInvoiceCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"HighestBalanceCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LargestInvoiceLastYearCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"HighBalanceLastYearCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastInvoiceAmountCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastCreditNoteAmountCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastDebitNoteAmountCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastReceiptCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastDiscountAmountCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastAdjustmentAmountCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastWriteOffAmountCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastReturnedCheckAmountCustomerCurr", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastInterestChargeCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LargestInvoiceFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"HighestBalanceFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LargestInvoiceLastYearFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"HighBalanceLastYearFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastInvoiceAmountFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastCreditNoteAmountFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastDebitNoteAmountFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastReceiptFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastDiscountAmountFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastAdjustmentAmountFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastWriteOffAmountFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastReturnedCheckAmountFunctionalCurr", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastInterestChargeFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"Salesperson1", SAGESIM_FT_STRING, 8, 0, EN_NONE},
    {"Salesperson2", SAGESIM_FT_STRING, 8, 0, EN_NONE},
    {"Salesperson3", SAGESIM_FT_STRING, 8, 0, EN_NONE},
    {"Salesperson4", SAGESIM_FT_STRING, 8, 0, EN_NONE},
    {"Salesperson5", SAGESIM_FT_STRING, 8, 0, EN_NONE},
    {"SalesSplitPercentage1", SAGESIM_FT_DECIMAL, 0, 5, EN_NONE},
    {"SalesSplitPercentage2", SAGESIM_FT_DECIMAL, 0, 5, EN_NONE},
    {"SalesSplitPercentage3", SAGESIM_FT_DECIMAL, 0, 5, EN_NONE},
    {"SalesSplitPercentage4", SAGESIM_FT_DECIMAL, 0, 5, EN_NONE},
    {"SalesSplitPercentage5", SAGESIM_FT_DECIMAL, 0, 5, EN_NONE},
    {"AverageDaysToPay", SAGESIM_FT_DECIMAL, 0, 1, EN_NONE},
    {"CustomerPriceList", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"CustomerDiscountType", SAGESIM_FT_ENUM, 0, 0, EN_DISCTYPE},
    {"AmountPastDue", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"ContactsEmail", SAGESIM_FT_STRING, 50, 0, EN_NONE},
    {"Email", SAGESIM_FT_STRING, 50, 0, EN_NONE},
    {"WebSite", SAGESIM_FT_STRING, 100, 0, EN_NONE},
    {"BillingMethod", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"PaymentCode", SAGESIM_FT_STRING, 12, 0, EN_NONE},
    {"FreeOnBoard", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"ShipViaCode", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"ShipViaDescription", SAGESIM_FT_STRING, 60, 0, EN_NONE},
    {"DeliveryMethod", SAGESIM_FT_ENUM, 0, 0, EN_DELIVERY},
    {"PrimaryShipToLocation", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"ContactsPhone", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"ContactsFax", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"AllowPartialShipments", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"AllowWebStoreShopping", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"PercentRetained", SAGESIM_FT_DECIMAL, 0, 5, EN_NONE},
    {"DaysRetained", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"RetainageTermsCode", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"AmountRetainedCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"AmountRetainedFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"NumberOfOptionalFields", SAGESIM_FT_INT64, 0, 0, EN_NONE},
    {"ProcessCommandCode", SAGESIM_FT_ENUM, 0, 0, EN_PROCCMD},
    {"NumberOfOpenPrepayments", SAGESIM_FT_DECIMAL, 0, 0, EN_NONE},
    {"AmountPrepaidCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"AmountPrepaidFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"DateOfLastRefund", SAGESIM_FT_DATE, 0, 0, EN_NONE},
    {"LastRefundAmountCustomerCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"LastRefundAmountFunctionalCurrency", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"CheckLanguage", SAGESIM_FT_STRING, 3, 0, EN_NONE},
    {"NextClientUniqueID", SAGESIM_FT_INT64, 0, 0, EN_NONE},
    {"InventoryLocation", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"CheckCreditLimit", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"CheckOverdueAmounts", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"DaysOverdue", SAGESIM_FT_INT32, 0, 0, EN_NONE},
    {"AmountOverdue", SAGESIM_FT_DECIMAL, 0, 3, EN_NONE},
    {"AllowBackorderQuantities", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"CheckForDuplicatePOs", SAGESIM_FT_ENUM, 0, 0, EN_DUPPO},
    {"SuppressIntegration", SAGESIM_FT_BOOL, 0, 0, EN_NONE},
    {"ARVersion", SAGESIM_FT_STRING, 3, 0, EN_NONE},
    {"Database", SAGESIM_FT_STRING, 6, 0, EN_NONE},
    {"Mode", SAGESIM_FT_ENUM, 0, 0, EN_MODE},
    {"SageBillingAndPaymentCustomer", SAGESIM_FT_ENUM, 0, 0, EN_YESNO},
    {"BusinessRegistrationNumber", SAGESIM_FT_STRING, 30, 0, EN_NONE},
    {"CustomerOptionalFieldValues", SAGESIM_FT_COLLECTION, 0, 0, EN_NONE},
};

int sagesim_f_datelastmaintained = -1, sagesim_f_numoptfields = -1, sagesim_f_optfields = -1;

int sagesim_field_index(const char *name)
{
    for (int i = 0; i < SAGESIM_NFIELDS; i++)
        if (strcmp(sagesim_fields[i].name, name) == 0)
            return i;
    return -1;
}

static int schema_lookup(const void *ctx, const char *name, enum sagesim_ftype *type,
                         const char *const **members, size_t *nmembers)
{
    int i = sagesim_field_index(name);
    if (i < 0)
        return -1;
    *type = sagesim_fields[i].type;
    *members = sagesim_enum_members(sagesim_fields[i].enumset, nmembers);
    return i;
}

static const struct sagesim_schema customer_schema = {SAGESIM_CUSTOMER_TYPE, schema_lookup, NULL};

const struct sagesim_schema *sagesim_customer_schema(void)
{
    return &customer_schema;
}

static void init_indexes(void)
{
    if (sagesim_f_datelastmaintained < 0) {
        sagesim_f_datelastmaintained = sagesim_field_index("DateLastMaintained");
        sagesim_f_numoptfields = sagesim_field_index("NumberOfOptionalFields");
        sagesim_f_optfields = sagesim_field_index("CustomerOptionalFieldValues");
    }
}

/* ---- records ---------------------------------------------------------- */

struct sagesim_customer *sagesim_customer_pack(const union sagesim_cell *cells)
{
    size_t strbytes = 0;
    for (int i = 0; i < SAGESIM_NFIELDS; i++) {
        enum sagesim_ftype t = sagesim_fields[i].type;
        if ((t == SAGESIM_FT_STRING || t == SAGESIM_FT_COLLECTION) && cells[i].s)
            strbytes += strlen(cells[i].s) + 1;
    }
    struct sagesim_customer *c = mlc_xmalloc(sizeof *c + strbytes);
    char *p = (char *)(c + 1);
    for (int i = 0; i < SAGESIM_NFIELDS; i++) {
        enum sagesim_ftype t = sagesim_fields[i].type;
        if (t == SAGESIM_FT_STRING || t == SAGESIM_FT_COLLECTION) {
            if (cells[i].s) {
                size_t l = strlen(cells[i].s) + 1;
                memcpy(p, cells[i].s, l);
                c->v[i].s = p;
                p += l;
            } else {
                c->v[i].s = NULL;
            }
        } else {
            c->v[i].i = cells[i].i;
        }
    }
    return c;
}

void sagesim_customer_defaults(union sagesim_cell *cells)
{
    init_indexes();
    for (int i = 0; i < SAGESIM_NFIELDS; i++) {
        switch (sagesim_fields[i].type) {
        case SAGESIM_FT_STRING:
            cells[i].s = "";
            break;
        case SAGESIM_FT_COLLECTION:
            cells[i].s = "[]";
            break;
        case SAGESIM_FT_DATE:
            cells[i].i = SAGESIM_NULL_DATE;
            break;
        default:
            cells[i].i = 0;
            break;
        }
    }
    /* Sage's defaults for a new customer */
    cells[sagesim_field_index("PrintStatements")].i = 1;
    cells[sagesim_field_index("ARVersion")].s = "72A";
}

static size_t utf8_chars(const char *s)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        k += (*p & 0xC0) != 0x80;
    return k;
}

bool sagesim_parse_date(const char *s, int64_t *days)
{
    int64_t us;
    size_t n = strlen(s);
    if (n == 10) {
        char buf[32];
        snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
        if (!sagesim_parse_datetime(buf, strlen(buf), &us))
            return false;
    } else if (!sagesim_parse_datetime(s, n, &us)) {
        return false;
    }
    const int64_t day_us = (int64_t)86400 * 1000000;
    *days = us >= 0 ? us / day_us : -((-us + day_us - 1) / day_us);
    return true;
}

struct sagesim_customer *sagesim_customer_merge(const struct sagesim_customer *base,
                                                const cJSON *obj, char *msg, size_t msgsz)
{
    union sagesim_cell cells[SAGESIM_NFIELDS];
    char *coll[SAGESIM_NFIELDS];
    struct sagesim_customer *out = NULL;
    bool coll_given = false, count_given = false;
    memset(coll, 0, sizeof coll);
    init_indexes();
    if (!cJSON_IsObject(obj)) {
        snprintf(msg, msgsz, "a customer must be a JSON object");
        return NULL;
    }
    if (base)
        memcpy(cells, base->v, sizeof cells);
    else
        sagesim_customer_defaults(cells);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        const char *name = it->string;
        if (mlc_str_startswith(name, "@odata."))
            continue;
        int f = sagesim_field_index(name);
        if (f < 0) {
            snprintf(msg, msgsz, "The property '%.64s' does not exist on type '%s'.", name,
                     SAGESIM_CUSTOMER_TYPE);
            goto out;
        }
        const struct sagesim_field *fd = &sagesim_fields[f];
        switch (fd->type) {
        case SAGESIM_FT_STRING:
            if (cJSON_IsNull(it) && f != SAGESIM_F_CUSTOMERNUMBER) {
                cells[f].s = NULL;
                break;
            }
            if (!cJSON_IsString(it)) {
                snprintf(msg, msgsz, "property '%s' must be a string", name);
                goto out;
            }
            if (!mlc_utf8_valid(it->valuestring, strlen(it->valuestring)) ||
                utf8_chars(it->valuestring) > (size_t)fd->maxlen) {
                snprintf(msg, msgsz, "property '%s' must be valid UTF-8 of at most %d characters",
                         name, fd->maxlen);
                goto out;
            }
            cells[f].s = it->valuestring;
            break;
        case SAGESIM_FT_DECIMAL:
            if (!cJSON_IsNumber(it) || fabs(it->valuedouble) > 9e12) {
                snprintf(msg, msgsz, "property '%s' must be a number", name);
                goto out;
            }
            cells[f].i = llround(it->valuedouble * SAGESIM_DEC_SCALE);
            break;
        case SAGESIM_FT_INT32:
        case SAGESIM_FT_INT64: {
            double lim = fd->type == SAGESIM_FT_INT32 ? 2147483647.0 : 9e15;
            if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
                fabs(it->valuedouble) > lim) {
                snprintf(msg, msgsz, "property '%s' must be an integer", name);
                goto out;
            }
            cells[f].i = (int64_t)it->valuedouble;
            if (f == sagesim_f_numoptfields)
                count_given = true;
            break;
        }
        case SAGESIM_FT_BOOL:
            if (!cJSON_IsBool(it)) {
                snprintf(msg, msgsz, "property '%s' must be true or false", name);
                goto out;
            }
            cells[f].i = cJSON_IsTrue(it);
            break;
        case SAGESIM_FT_DATE: {
            int64_t days;
            if (cJSON_IsNull(it)) {
                cells[f].i = SAGESIM_NULL_DATE;
                break;
            }
            if (!cJSON_IsString(it) || !sagesim_parse_date(it->valuestring, &days)) {
                snprintf(msg, msgsz,
                         "property '%s' must be null or a date like 2024-03-18T00:00:00Z", name);
                goto out;
            }
            cells[f].i = days;
            break;
        }
        case SAGESIM_FT_ENUM: {
            size_t n, k;
            const char *const *m = sagesim_enum_members(fd->enumset, &n);
            if (!cJSON_IsString(it)) {
                snprintf(msg, msgsz, "property '%s' must be a member name string", name);
                goto out;
            }
            for (k = 0; k < n; k++)
                if (strcmp(m[k], it->valuestring) == 0)
                    break;
            if (k == n) {
                snprintf(msg, msgsz, "'%.40s' is not a member of the enum of property '%s'",
                         it->valuestring, name);
                goto out;
            }
            cells[f].i = (int64_t)k;
            break;
        }
        case SAGESIM_FT_COLLECTION: {
            if (!cJSON_IsArray(it)) {
                snprintf(msg, msgsz, "property '%s' must be an array", name);
                goto out;
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, it)
            {
                if (!cJSON_IsObject(e)) {
                    snprintf(msg, msgsz, "property '%s' must be an array of objects", name);
                    goto out;
                }
            }
            coll[f] = cJSON_PrintUnformatted(it);
            if (!coll[f]) {
                snprintf(msg, msgsz, "property '%s' cannot be printed", name);
                goto out;
            }
            cells[f].s = coll[f];
            coll_given = true;
            break;
        }
        }
    }
    if (!cells[SAGESIM_F_CUSTOMERNUMBER].s || !cells[SAGESIM_F_CUSTOMERNUMBER].s[0]) {
        snprintf(msg, msgsz, "CustomerNumber is required");
        goto out;
    }
    if (coll_given && !count_given) {
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "CustomerOptionalFieldValues");
        cells[sagesim_f_numoptfields].i = cJSON_GetArraySize(arr);
    }
    out = sagesim_customer_pack(cells);
out:
    for (int i = 0; i < SAGESIM_NFIELDS; i++)
        free(coll[i]);
    return out;
}

void sagesim_customer_get(const void *ctx, const void *rec, int field, struct sagesim_value *out)
{
    const struct sagesim_customer *c = rec;
    memset(out, 0, sizeof *out);
    switch (sagesim_fields[field].type) {
    case SAGESIM_FT_STRING:
        out->kind = c->v[field].s ? SAGESIM_V_STR : SAGESIM_V_NULL;
        out->s = c->v[field].s;
        break;
    case SAGESIM_FT_DECIMAL:
        out->kind = SAGESIM_V_NUM;
        out->num = (double)c->v[field].i / SAGESIM_DEC_SCALE;
        break;
    case SAGESIM_FT_INT32:
    case SAGESIM_FT_INT64:
        out->kind = SAGESIM_V_NUM;
        out->num = (double)c->v[field].i;
        break;
    case SAGESIM_FT_BOOL:
        out->kind = SAGESIM_V_BOOL;
        out->b = c->v[field].i != 0;
        break;
    case SAGESIM_FT_DATE:
        if (c->v[field].i == SAGESIM_NULL_DATE) {
            out->kind = SAGESIM_V_NULL;
        } else {
            out->kind = SAGESIM_V_DATE;
            out->us = c->v[field].i * 86400 * 1000000;
        }
        break;
    case SAGESIM_FT_ENUM:
        out->kind = SAGESIM_V_ENUM;
        out->e = (int)c->v[field].i;
        break;
    case SAGESIM_FT_COLLECTION:
        out->kind = SAGESIM_V_NULL;
        break;
    }
}

/* ---- store ------------------------------------------------------------ */

void sagesim_store_init(struct sagesim_store *st, int64_t today)
{
    memset(st, 0, sizeof *st);
    st->today = today;
    init_indexes();
}

void sagesim_store_free(struct sagesim_store *st)
{
    for (size_t i = 0; i < st->nco; i++) {
        for (size_t j = 0; j < st->co[i].n; j++)
            free(st->co[i].cust[j]);
        free(st->co[i].cust);
    }
    free(st->co);
    memset(st, 0, sizeof *st);
}

struct sagesim_company *sagesim_store_company(struct sagesim_store *st, const char *code)
{
    for (size_t i = 0; i < st->nco; i++)
        if (strcasecmp(st->co[i].code, code) == 0)
            return &st->co[i];
    return NULL;
}

struct sagesim_company *sagesim_store_add_company(struct sagesim_store *st, const char *code)
{
    struct sagesim_company *co = sagesim_store_company(st, code);
    if (co)
        return co;
    size_t n = strlen(code);
    if (n == 0 || n >= sizeof co->code)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)code[i]))
            return NULL;
    st->co = mlc_xreallocarray(st->co, st->nco + 1, sizeof *st->co);
    co = &st->co[st->nco++];
    memset(co, 0, sizeof *co);
    mlc_str_upper(co->code, code, sizeof co->code);
    return co;
}

size_t sagesim_company_lower_bound(const struct sagesim_company *co, const char *key, bool incl)
{
    size_t lo = 0, hi = co->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(co->cust[mid]->v[SAGESIM_F_CUSTOMERNUMBER].s, key);
        if (c < 0 || (c == 0 && !incl))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct sagesim_customer *sagesim_company_find(const struct sagesim_company *co, const char *key)
{
    size_t i = sagesim_company_lower_bound(co, key, true);
    if (i < co->n && strcmp(co->cust[i]->v[SAGESIM_F_CUSTOMERNUMBER].s, key) == 0)
        return co->cust[i];
    return NULL;
}

void sagesim_company_put(struct sagesim_company *co, struct sagesim_customer *c)
{
    const char *key = c->v[SAGESIM_F_CUSTOMERNUMBER].s;
    size_t i = sagesim_company_lower_bound(co, key, true);
    if (i < co->n && strcmp(co->cust[i]->v[SAGESIM_F_CUSTOMERNUMBER].s, key) == 0) {
        free(co->cust[i]);
        co->cust[i] = c;
        return;
    }
    if (co->n == co->cap) {
        size_t nc = co->cap ? co->cap * 2 : 256;

        co->cust = mlc_xreallocarray(co->cust, nc, sizeof *co->cust);
        co->cap = nc;
    }
    memmove(&co->cust[i + 1], &co->cust[i], (co->n - i) * sizeof *co->cust);
    co->cust[i] = c;
    co->n++;
}

bool sagesim_company_delete(struct sagesim_company *co, const char *key)
{
    size_t i = sagesim_company_lower_bound(co, key, true);
    if (i >= co->n || strcmp(co->cust[i]->v[SAGESIM_F_CUSTOMERNUMBER].s, key) != 0)
        return false;
    free(co->cust[i]);
    memmove(&co->cust[i], &co->cust[i + 1], (co->n - i - 1) * sizeof *co->cust);
    co->n--;
    return true;
}

/* ---- terms ------------------------------------------------------------ */

const struct sagesim_terms sagesim_terms[] = {
    {"COD", "Cash on delivery", 0, 0, 0}, {"DUETBL", "Due per table", 30, 0, 0},
    {"N15", "Net 15 days", 15, 0, 0},     {"N30", "Net 30 days", 30, 0, 0},
    {"N60", "Net 60 days", 60, 0, 0},     {"2N10", "2% 10 days, net 30", 30, 10, 2},
};
const size_t sagesim_nterms = ARRAY_SIZE(sagesim_terms);

/* ---- generator -------------------------------------------------------- */

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct gen {
    uint64_t s;
    char arena[8192];
    size_t used;
};

static uint64_t rnd(struct gen *g, uint64_t n)
{
    g->s = mix(g->s);
    return n ? g->s % n : 0;
}

/* Formats into the per-record arena; returns the string. */
__attribute__((format(printf, 2, 3))) static const char *gs(struct gen *g, const char *fmt, ...)
{
    va_list ap;
    char *p = g->arena + g->used;
    size_t room = sizeof g->arena - g->used;
    va_start(ap, fmt);
    int n = vsnprintf(p, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= room)
        n = (int)room - 1;
    g->used += (size_t)n + 1;
    return p;
}

#define PICK(g, arr) arr[rnd(g, ARRAY_SIZE(arr))]

static const char *const names[] = {
    "Bargain Mart",          "O'Brien & Sons",        "Müller GmbH",         "Søren's Café",
    "Zoë & Chloé Design",    "Ångström Tools",        "日本商事株式会社",    "Björk Ltd",
    "Łódź Trading",          "Barnes & Noble Supply", "D'Angelo's Pizzeria", "Černý a syn s.r.o.",
    "São Paulo Imports",     "Peña Hermanos",         "Smith \"Quoted\" Co", "Back\\slash Works",
    "Fjällräven Outfitters", "Crème Brûlée Bakery",   "Mañana Logistics",    "Ørsted Wind & Sea",
    "Black's Hardware",      "Ace Widgets",           "Nguyễn Văn An",       "Δέλτα Εμπορική",
};
static const char *const cities[] = {
    "San Diego", "São Paulo",     "Zürich",        "Montréal",  "Köln",     "Kraków",
    "Reykjavík", "Coeur d'Alene", "Saint-Étienne", "東京",      "New York", "Los Angeles",
    "Malmö",     "A Coruña",      "Toronto",       "Vancouver",
};
static const char *const streets[] = {
    "Shoreline Drive", "Rue de l'Église",  "Königstraße", "Main Street",
    "O'Connell St",    "Avenida São João", "Calle Mayor", "High St & Market Sq",
};
static const char *const firsts[] = {"Ellen", "Zoë",    "Seán",  "José",  "Ingrid",
                                     "Mary",  "Łukasz", "Chloé", "Björn", "Aoife"};
static const char *const lasts[] = {"Martinez", "O'Neil", "Müller",   "Ødegård",
                                    "Smith",    "D'Arcy", "Nakamura", "García"};
static const char *const states[] = {"CA", "NY", "ON", "QC", "BC", "ZH", "NRW", ""};
static const char *const countries[] = {"USA",    "Canada", "Switzerland", "Deutschland",
                                        "Brasil", "日本",   "España",      ""};
static const char *const groups[] = {"RTL", "WHL", "INT", "GOV"};
static const char *const acctsets[] = {"USA", "CAN", "EUR"};
static const char *const currencies[] = {"USD", "CAD", "EUR"};
static const char *const taxgroups[] = {"CALIF", "ONTARI", "EUTAX"};
static const char *const langs[] = {"ENG", "FRA", "ESN"};

#define SET_S(name, val) cells[idx_##name].s = (val)

static int fi(const char *name)
{
    int i = sagesim_field_index(name);
    return i < 0 ? 0 : i;
}

static const char *slug(struct gen *g, const char *name)
{
    char out[32];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && o < 16; p++)
        if (isalnum(*p))
            out[o++] = (char)tolower(*p);
    if (o == 0)
        out[o++] = 'x';
    out[o] = '\0';
    return gs(g, "%s", out);
}

static const char *optfields_json(struct gen *g, const char *key, int k)
{
    struct mlc_buf b;
    static const char *const zones[] = {"RED", "BLUE", "GREEN"};
    mlc_buf_init(&b, 4096);
    (void)mlc_buf_puts(&b, "[");
    for (int i = 0; i < k; i++) {
        const char *of = i == 0 ? "UPSZONE" : "REGION";
        const char *val = i == 0 ? zones[rnd(g, 3)] : "Nord-Est & Île";
        if (i)
            (void)mlc_buf_puts(&b, ",");
        (void)mlc_buf_puts(&b, "{\"CustomerNumber\":");
        (void)sagesim_json_string(&b, key);
        (void)mlc_buf_printf(&b, ",\"OptionalField\":\"%s\",\"Value\":", of);
        (void)sagesim_json_string(&b, val);
        (void)mlc_buf_printf(&b,
                             ",\"CustomerOptionalFieldValueType\":\"Text\",\"Length\":%d,"
                             "\"Decimals\":0,\"AllowBlank\":true,\"Validate\":%s,"
                             "\"ValueSet\":\"%s\",\"TypedValueFieldIndex\":0,\"TextValue\":",
                             i == 0 ? 10 : 60, i == 0 ? "true" : "false", i == 0 ? "Yes" : "No");
        (void)sagesim_json_string(&b, val);
        (void)mlc_buf_printf(&b,
                             ",\"AmountValue\":0,\"NumberValue\":0,\"IntegerValue\":0,"
                             "\"YesNoValue\":false,\"DateValue\":null,\"TimeValue\":null,"
                             "\"OptionalFieldDescription\":\"%s\",\"ValueDescription\":\"\","
                             "\"UpdateOperation\":\"Unspecified\"}",
                             i == 0 ? "UPS zone" : "Sales region");
    }
    (void)mlc_buf_puts(&b, "]");
    const char *r = gs(g, "%s", mlc_buf_str(&b));
    mlc_buf_free(&b);
    return r;
}

static int64_t money(struct gen *g, uint64_t max_units)
{
    /* up to max_units with cents, scaled by 10^5 */
    return (int64_t)(rnd(g, max_units * 100)) * (SAGESIM_DEC_SCALE / 100);
}

bool sagesim_generate(struct sagesim_store *st, struct sagesim_company *co, long n, uint64_t seed)
{
    static struct gen g; /* 8 KiB arena; the store is single-threaded */
    union sagesim_cell cells[SAGESIM_NFIELDS];
    uint64_t cohash = 1469598103934665603ULL;
    for (const char *p = co->code; *p; p++)
        cohash = (cohash ^ (unsigned char)*p) * 1099511628211ULL;
    static int idx_name = -1, idx_short, idx_group, idx_status, idx_inact, idx_dlm, idx_hold,
               idx_start, idx_a1, idx_a2, idx_a3, idx_a4, idx_city, idx_state, idx_zip, idx_country,
               idx_contact, idx_phone, idx_fax, idx_acctset, idx_cur, idx_acctype, idx_terms,
               idx_taxgrp, idx_tax1, idx_limit, idx_bal, idx_balf, idx_lastinv, idx_lastinvamt,
               idx_cemail, idx_email, idx_web, idx_cphone, idx_cfax, idx_nopt, idx_opt, idx_lang,
               idx_db, idx_ncuid, idx_brn, idx_terr, idx_sp1, idx_split1, idx_opendocs, idx_lastact,
               idx_nat, idx_pricelist, idx_delivery, idx_ratetype;
    if (idx_name < 0) {
        idx_name = fi("CustomerName");
        idx_short = fi("ShortName");
        idx_group = fi("GroupCode");
        idx_status = fi("Status");
        idx_inact = fi("InactiveDate");
        idx_dlm = fi("DateLastMaintained");
        idx_hold = fi("OnHold");
        idx_start = fi("StartDate");
        idx_a1 = fi("AddressLine1");
        idx_a2 = fi("AddressLine2");
        idx_a3 = fi("AddressLine3");
        idx_a4 = fi("AddressLine4");
        idx_city = fi("City");
        idx_state = fi("StateProvince");
        idx_zip = fi("ZipPostalCode");
        idx_country = fi("Country");
        idx_contact = fi("ContactName");
        idx_phone = fi("PhoneNumber");
        idx_fax = fi("FaxNumber");
        idx_acctset = fi("AccountSet");
        idx_cur = fi("CurrencyCode");
        idx_acctype = fi("AccountType");
        idx_terms = fi("Terms");
        idx_taxgrp = fi("TaxGroup");
        idx_tax1 = fi("TaxClassCode1");
        idx_limit = fi("CreditLimitCustomerCurrency");
        idx_bal = fi("BalanceDueInCustomerCurrency");
        idx_balf = fi("BalanceDueInFunctionalCurrency");
        idx_lastinv = fi("DateOfLastInvoice");
        idx_lastinvamt = fi("LastInvoiceAmountCustomerCurrency");
        idx_cemail = fi("ContactsEmail");
        idx_email = fi("Email");
        idx_web = fi("WebSite");
        idx_cphone = fi("ContactsPhone");
        idx_cfax = fi("ContactsFax");
        idx_nopt = fi("NumberOfOptionalFields");
        idx_opt = fi("CustomerOptionalFieldValues");
        idx_lang = fi("CheckLanguage");
        idx_db = fi("Database");
        idx_ncuid = fi("NextClientUniqueID");
        idx_brn = fi("BusinessRegistrationNumber");
        idx_terr = fi("TerritoryCode");
        idx_sp1 = fi("Salesperson1");
        idx_split1 = fi("SalesSplitPercentage1");
        idx_opendocs = fi("NumberOfOpenDocuments");
        idx_lastact = fi("DateOfLastActivity");
        idx_nat = fi("NationalAccount");
        idx_pricelist = fi("CustomerPriceList");
        idx_delivery = fi("DeliveryMethod");
        idx_ratetype = fi("RateType");
    }
    long i = (long)co->n - 1;
    for (long added = 0; added < n;) {
        i++;
        if (i > 999999)
            return false; /* keys would outgrow CustomerNumber's 12 characters */
        g.used = 0;
        g.s = mix(seed ^ mix(cohash) ^ mix((uint64_t)i * 0x2545F4914F6CDD1DULL));
        sagesim_customer_defaults(cells);
        const char *key;
        switch (i % 20) {
        case 14:
            key = gs(&g, "AB %06ld", i);
            break;
        case 15:
            key = gs(&g, "O'B%06ld", i);
            break;
        case 16:
            key = gs(&g, "A&B%06ld", i);
            break;
        case 17:
            key = gs(&g, "X/%06ld", i);
            break;
        case 18:
            key = gs(&g, "#%06ld", i);
            break;
        case 19:
            key = gs(&g, "MAXKEY%06ld", i);
            break;
        default:
            key = gs(&g, "%ld", 100000 + i);
            break;
        }
        if (sagesim_company_find(co, key))
            continue; /* taken by a loaded record: never replace it */
        added++;
        cells[SAGESIM_F_CUSTOMERNUMBER].s = key;
        bool maxlen = i % 25 == 7;
        const char *base = PICK(&g, names);
        const char *name;
        if (maxlen)
            name = "Maximum Length Customer Name Corporation International Ltd";
        else
            name = gs(&g, "%s %ld", base, i);
        if (maxlen)
            name = gs(&g, "%.*s%02ld", 58, name, i % 100);
        SET_S(name, name);
        {
            char sn[11];
            size_t o = 0;
            for (const unsigned char *p = (const unsigned char *)name; *p && o < 10; p++)
                if (isalnum(*p) && *p < 0x80)
                    sn[o++] = (char)toupper(*p);
            sn[o] = '\0';
            SET_S(short, gs(&g, "%s", sn));
        }
        SET_S(group, PICK(&g, groups));
        bool inactive = i % 13 == 5;
        cells[idx_status].i = inactive;
        int64_t dlm = st->today - (int64_t)rnd(&g, 730);
        cells[idx_dlm].i = dlm;
        cells[idx_inact].i = inactive ? dlm : SAGESIM_NULL_DATE;
        cells[idx_hold].i = i % 17 == 3;
        cells[idx_start].i = i % 11 == 4 ? SAGESIM_NULL_DATE : dlm - (int64_t)rnd(&g, 3000);
        if (maxlen) {
            SET_S(a1, "1234567890 Maximum Length Address Line One Boulevard & Co #1");
            SET_S(a2, "Building 42, Floor 17, Suite 1701, Attention: Accounts Dept.");
            SET_S(a3, "c/o O'Brien & Sons Warehousing and Distribution Services Ltd");
            SET_S(a4, "Industrial Estate Zone B, Gate 4, Loading Dock Number Twelve");
            SET_S(city, "Llanfairpwllgwyngyllgogerychwy");
            SET_S(state, "Maximum Length State Province.");
            SET_S(zip, "12345-6789-ABCDE-XYZ");
            SET_S(country, "United Kingdom & North Ireland");
        } else {
            SET_S(a1, gs(&g, "%lu %s", (unsigned long)(1 + rnd(&g, 9999)), PICK(&g, streets)));
            uint64_t r2 = rnd(&g, 10);
            SET_S(a2, r2 == 0 ? "Suite 4" : r2 == 1 ? "c/o Smith & Co" : "");
            SET_S(city, PICK(&g, cities));
            SET_S(state, PICK(&g, states));
            SET_S(zip, gs(&g, "%05lu", (unsigned long)rnd(&g, 100000)));
            SET_S(country, PICK(&g, countries));
        }
        SET_S(contact, gs(&g, "%s %s", PICK(&g, firsts), PICK(&g, lasts)));
        SET_S(phone, gs(&g, "(%03lu)555-%04lu", (unsigned long)(200 + rnd(&g, 700)),
                        (unsigned long)rnd(&g, 10000)));
        SET_S(fax, i % 3 ? "" : gs(&g, "(619)555-%04lu", (unsigned long)rnd(&g, 10000)));
        SET_S(acctset, PICK(&g, acctsets));
        SET_S(cur, PICK(&g, currencies));
        cells[idx_acctype].i = (int64_t)rnd(&g, 2);
        SET_S(terms, sagesim_terms[rnd(&g, sagesim_nterms)].code);
        SET_S(taxgrp, PICK(&g, taxgroups));
        cells[idx_tax1].i = 1;
        cells[idx_limit].i = (int64_t)rnd(&g, 100) * 1000 * SAGESIM_DEC_SCALE;
        int64_t bal = money(&g, 50000);
        cells[idx_bal].i = bal;
        cells[idx_balf].i = bal;
        cells[idx_lastinv].i = i % 4 == 1 ? SAGESIM_NULL_DATE : dlm - (int64_t)rnd(&g, 400);
        cells[idx_lastinvamt].i = cells[idx_lastinv].i == SAGESIM_NULL_DATE ? 0 : money(&g, 9000);
        cells[idx_lastact].i = cells[idx_lastinv].i;
        cells[idx_opendocs].i = (int64_t)rnd(&g, 12) * SAGESIM_DEC_SCALE;
        const char *sl = slug(&g, base);
        SET_S(cemail, i % 7 == 2 ? "" : gs(&g, "contact%ld@%s.example", i, sl));
        SET_S(email, i % 9 == 2 ? "" : gs(&g, "ap@%s.example", sl));
        SET_S(web, i % 5 == 0 ? "" : gs(&g, "www.%s.example", sl));
        SET_S(cphone, cells[idx_phone].s);
        SET_S(cfax, "");
        int nopt = i % 5 == 0 ? 2 : i % 3 == 0 ? 1 : 0;
        cells[idx_nopt].i = nopt;
        SET_S(opt, optfields_json(&g, key, nopt));
        SET_S(lang, PICK(&g, langs));
        SET_S(db, co->code);
        cells[idx_ncuid].i = 1;
        SET_S(brn, i % 6 == 0 ? gs(&g, "BRN-%08lu", (unsigned long)rnd(&g, 100000000)) : "");
        SET_S(terr, i % 4 == 0 ? "WEST" : "");
        SET_S(sp1, i % 2 ? "MK" : "");
        cells[idx_split1].i = i % 2 ? 100 * SAGESIM_DEC_SCALE : 0;
        SET_S(nat, i % 19 == 0 ? "NATL01" : "");
        SET_S(pricelist, "WHS");
        cells[idx_delivery].i = (int64_t)rnd(&g, 4);
        SET_S(ratetype, "SP");
        sagesim_company_put(co, sagesim_customer_pack(cells));
    }
    return true;
}

/* ---- JSON file -------------------------------------------------------- */

bool sagesim_load_json(struct sagesim_store *st, const char *path, char *msg, size_t msgsz)
{
    bool ok = false;
    char *text = NULL;
    cJSON *doc = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msgsz, "cannot open %s", path);
        return false;
    }
    struct mlc_buf b;
    mlc_buf_init(&b, (size_t)2 << 30);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (mlc_buf_append(&b, chunk, n) != MLC_OK) {
            snprintf(msg, msgsz, "%s: too large", path);
            goto out;
        }
    }
    text = mlc_buf_steal(&b);
    doc = text ? cJSON_Parse(text) : NULL;
    if (!cJSON_IsObject(doc)) {
        snprintf(msg, msgsz, "%s: expected a JSON object {\"COMPANY\": [customers]}", path);
        goto out;
    }
    const cJSON *coj;
    cJSON_ArrayForEach(coj, doc)
    {
        struct sagesim_company *co = sagesim_store_add_company(st, coj->string);
        if (!co || !cJSON_IsArray(coj)) {
            snprintf(msg, msgsz, "%s: company '%.20s' must be alphanumeric and hold an array", path,
                     coj->string);
            goto out;
        }
        const cJSON *cj;
        int idx = 0;
        cJSON_ArrayForEach(cj, coj)
        {
            char m[256];
            struct sagesim_customer *c = sagesim_customer_merge(NULL, cj, m, sizeof m);
            if (!c) {
                snprintf(msg, msgsz, "%s: %s[%d]: %s", path, co->code, idx, m);
                goto out;
            }
            sagesim_company_put(co, c);
            idx++;
        }
    }
    ok = true;
out:
    fclose(f);
    mlc_buf_free(&b);
    free(text);
    cJSON_Delete(doc);
    return ok;
}
