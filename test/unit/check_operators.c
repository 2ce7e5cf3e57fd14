/*
 * Unit tests: the built-in operators, each run as the only subtask of a real operator
 * chain (harness_chain.h: [operator, capture], the engine's te_operator_api_t, keyed
 * state, side outputs read back from record writers). Outputs are compared with
 * independent oracles (a hand-written line splitter, coreutils `tr` for tokenize, a
 * naive counter for keyed_count).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "te/operator.h"
#include "common/log.h"
#include "operators/operator_registry.h"

#include "harness_chain.h"

/* ------------------------------------------------------------------ harness ---- */

#define H_MAX_PARAMS 16

/* One operator under test: its chain (the keys and values it borrows live here), the
 * head as the chain runs it, and what reached capture (cap_slot[0]) and the side
 * outputs (t.side). */
typedef struct run {
    test_chain_t t;
    const char *keys[H_MAX_PARAMS];
    const char *vals[H_MAX_PARAMS];
    size_t n;
    const te_operator_def_t *d;
    const te_schema_t *in; /* the head's input schema (NULL = text) */
    te_chain_head_t h;
    te_operator_chain_t *c;
} run_t;

static const te_operator_def_t *def_of(const char *name)
{
    const te_operator_def_t *d = operator_registry_find(name);
    ck_assert_msg(d != NULL, "no operator %s", name);
    ck_assert_uint_eq(d->abi_version, TE_OPERATOR_ABI_VERSION); /* every built-in reads typed rows */
    return d;
}

/* Builds op(key = value, ...) as subtask `subtask` of `par` reading rows of `in` (NULL =
 * text); opens it when `open`. NULL with err when setup fails. */
static te_operator_chain_t *run_try(run_t *r, const char *op, uint32_t subtask, uint32_t par,
                                    const te_schema_t *in, int open, te_error_t *err, va_list ap)
{
    memset(r, 0, sizeof(*r));
    harness_capture_rows(1); /* every emitted row checked against its schema */
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL)
            break;
        ck_assert_uint_lt(r->n, H_MAX_PARAMS);
        r->keys[r->n] = k;
        r->vals[r->n++] = va_arg(ap, const char *);
    }
    r->d = def_of(op);
    r->in = in;
    r->c = test_chain_new_in(&r->t, r->d, op, r->keys, r->vals, r->n, subtask, par, 0, open, in, NULL, err);
    if (r->c != NULL)
        operator_chain_head(r->c, &r->h);
    return r->c;
}

/* The same, set up and opened, asserting success: mk(&r, "op", subtask, par, in,
 * "key", "value", ..., NULL). */
static te_operator_chain_t *mk(run_t *r, const char *op, uint32_t subtask, uint32_t par, const te_schema_t *in,
                               ...)
{
    te_error_t err = {0};
    va_list ap;
    va_start(ap, in);
    run_try(r, op, subtask, par, in, 1, &err, ap);
    va_end(ap);
    ck_assert_msg(r->c != NULL, "setup of %s failed: %s", op, err.msg);
    return r->c;
}

/* Set up only (open = 0), asserting success. */
static te_operator_chain_t *mk_closed(run_t *r, const char *op, uint32_t subtask, uint32_t par,
                                      const te_schema_t *in, ...)
{
    te_error_t err = {0};
    va_list ap;
    va_start(ap, in);
    run_try(r, op, subtask, par, in, 0, &err, ap);
    va_end(ap);
    ck_assert_msg(r->c != NULL, "setup of %s failed: %s", op, err.msg);
    return r->c;
}

/* Setup is refused: the chain's message (NULL when it was accepted). */
static const char *mk_fails(run_t *r, te_error_t *err, const char *op, const te_schema_t *in, ...)
{
    va_list ap;
    va_start(ap, in);
    run_try(r, op, 0, 1, in, 0, err, ap);
    va_end(ap);
    if (r->c == NULL)
        return err->msg;
    test_chain_free(&r->t);
    return NULL;
}

/* One record given as text (the row of the head's input schema, timestamp 42). Returns
 * the chain's status. */
static te_status_t feed_rc(run_t *r, const char *s)
{
    te_error_t err = {0};
    return push_tsv(r->c, 0, r->in ? r->in : schema_text_line(), s, 42, &err);
}

static void feed(run_t *r, const char *s)
{
    te_error_t err = {0};
    ck_assert_msg(push_tsv(r->c, 0, r->in ? r->in : schema_text_line(), s, 42, &err) == TE_OK, "%s", err.msg);
}

/* A source step through the chain (asserting it does not fail): the source's status. */
static te_source_status_t step(run_t *r, uint32_t budget, uint32_t *idle)
{
    te_error_t err = {0};
    te_source_status_t st = TE_SOURCE_ERROR;
    ck_assert_msg(operator_chain_source_step(r->c, budget, &st, idle, &err) == TE_OK, "%s", err.msg);
    ck_assert_int_ne(st, TE_SOURCE_ERROR);
    return st;
}

/* end_input and close (asserting both succeed); the chain stays for its counters. */
static void finish_keep(run_t *r)
{
    te_error_t err = {0};
    ck_assert_msg(operator_chain_end_input(r->c, 0, &err) == TE_OK, "%s", err.msg);
    ck_assert_msg(operator_chain_close(r->c, &err) == TE_OK, "%s", err.msg);
}

/* end_input, close, then dispose and free (side outputs drained into r->t.side). */
static void finish(run_t *r)
{
    finish_keep(r);
    test_chain_free(&r->t);
}

/* What reached capture (the main output) and the side outputs. */
#define OUT     (cap_slot[0])
#define SIDE(r) ((r)->t.side)

/* OUT is exactly want[0..n-1], in order; then it is cleared. */
static void expect_out(const char *const *want, size_t n)
{
    ck_assert_uint_eq(OUT.n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(OUT.lines[i], want[i]);
    cap_reset(0);
}

/* The chain's failure message ("" when none). */
static const char *failure(run_t *r)
{
    static te_error_t err;
    memset(&err, 0, sizeof(err));
    operator_chain_failure(r->c, &err);
    return err.msg;
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_operators.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    b[sz] = '\0';
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* ------------------------------------------------------------------ registry ---- */

START_TEST(test_registry)
{
    static const char *names[] = {"file_lines", "sequence", "socket_text", "tokenize",  "filter", "select",
                                  "upper",      "lower",    "keyed_count", "file_sink", "print",  "discard"};
    char list[1024];
    operator_registry_names(list, sizeof(list));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const te_operator_def_t *d = def_of(names[i]);
        ck_assert_str_eq(d->name, names[i]);
        ck_assert_ptr_nonnull(d->setup);
        ck_assert_ptr_nonnull(d->dispose);
        if (d->kind == TE_OP_SOURCE)
            ck_assert_ptr_nonnull(d->blocking_source ? (void *)d->run : (void *)d->step);
        else
            ck_assert_ptr_nonnull(d->process_element);
        ck_assert_msg(strstr(list, names[i]) != NULL, "%s not in '%s'", names[i], list);
    }
    ck_assert_int_eq(def_of("socket_text")->blocking_source, 1);
    ck_assert_int_eq(def_of("sequence")->kind, TE_OP_SOURCE);
    ck_assert_int_eq(def_of("filter")->kind, TE_OP_ONE_INPUT);
    ck_assert_ptr_null(operator_registry_find("no_such_operator"));
    ck_assert_ptr_null(operator_registry_find(""));
    ck_assert_ptr_null(operator_registry_find(NULL));
    char small[8];
    operator_registry_names(small, sizeof(small));
    ck_assert_uint_lt(strlen(small), sizeof(small));
}
END_TEST

/* The built-ins kept in a module (the connectors): listed without loading; a lookup
 * loads the module (build/te_connectors.so, beside this program) and its definition
 * is the one builtins.def names, of the role asked for. */
START_TEST(test_registry_module)
{
    size_t n = 0;
    const te_operator_def_t *listed;
    for (size_t i = 0; (listed = operator_registry_at(i)) != NULL; i++) {
        const char *module = operator_registry_module_at(i);
        if (module == NULL)
            continue;
        n++;
        ck_assert_str_eq(module, "te_connectors");
        ck_assert_ptr_null(listed->setup); /* only its identity until loaded */
        char err[2048];
        const te_operator_def_t *d =
            operator_registry_lookup(listed->name, listed->kind == TE_OP_SOURCE, err, sizeof(err));
        ck_assert_msg(d != NULL, "%s: %s", listed->name, err);
        ck_assert_str_eq(err, "");
        ck_assert_ptr_ne(d, listed);
        ck_assert_str_eq(d->name, listed->name);
        ck_assert_int_eq(d->kind, listed->kind);
        ck_assert_int_eq(d->blocking_source, listed->blocking_source);
        ck_assert_ptr_nonnull(d->setup);
        ck_assert_ptr_nonnull(d->kind == TE_OP_SOURCE ? (void *)d->step : (void *)d->process_element);
        ck_assert_ptr_eq(operator_registry_find_kind(listed->name, listed->kind == TE_OP_SOURCE),
                         d); /* loaded once */
    }
    ck_assert_uint_eq(n, 6); /* kafka, postgres, mqtt: a source and a sink each */
    char err[64] = "x";
    ck_assert_ptr_null(operator_registry_lookup("no_such_operator", -1, err, sizeof(err)));
    ck_assert_str_eq(err, ""); /* unknown, not unloadable */
}
END_TEST

/* ------------------------------------------------------------ bad parameters ---- */

struct bad_case {
    const char *op;
    const char *kv[8];   /* key, value pairs, NULL-terminated */
    const char *want[3]; /* substrings the message must contain */
};

static const struct bad_case bad_cases[] = {
    {"max_by", {"key_field", "0"}, {"missing required parameter 'value_field'"}},
    {"max_by", {"value_field", "1", "emit", "sometimes"}, {"parameter 'emit' = 'sometimes' is not one of"}},
    {"nexmark", {"count", "10", "events", "trades"}, {"parameter 'events' = 'trades' is not one of"}},
    {"nexmark", {"rate", "5"}, {"missing required parameter 'count'"}},
    {"scale", {"field", "1", "factor", "lots"}, {"parameter 'factor' = 'lots' is not a number"}},
    {"scale", {"field", "1"}, {"missing required parameter 'factor'"}},
    {"socket_sink", {"host", "localhost", "port", "70000"}, {"'port'"}},
    {"sequence", {"to", "abc"}, {"operator 'sequence': parameter 'to' = 'abc' is not an integer"}},
    {"sequence", {"from", "1"}, {"operator 'sequence': missing required parameter 'to'"}},
    {"sequence", {"to", "10", "rate", "-1"}, {"parameter 'rate' = '-1' is out of range"}},
    {"sequence", {"to", "10", "from", "1x"}, {"parameter 'from' = '1x' is not an integer"}},
    {"sequence", {"to", "1", "from", "5"}, {"parameter 'to'", "less than 'from'"}},
    {"sequence", {"to", "1", "unbounded", "maybe"}, {"parameter 'unbounded' = 'maybe' is not a boolean"}},
    {"sequence", {"to", "10", "speed", "3"}, {"unknown parameter 'speed'", "allowed: from, to, rate"}},
    {"file_lines", {NULL}, {"operator 'file_lines': missing required parameter 'path'"}},
    {"file_lines", {"path", "/x", "pth", "y"}, {"unknown parameter 'pth'", "path"}},
    {"file_lines", {"path", "/x", "delimiter", "ab"}, {"parameter 'delimiter' = 'ab'", "single character"}},
    {"socket_text", {"port", "9"}, {"missing required parameter 'host'"}},
    {"socket_text", {"host", "localhost"}, {"missing required parameter 'port'"}},
    {"socket_text", {"host", "localhost", "port", "70000"}, {"parameter 'port' = '70000' is out of range"}},
    {"socket_text", {"host", "localhost", "port", "x"}, {"parameter 'port' = 'x' is not an integer"}},
    {"socket_text", {"host", "h", "port", "1", "max_retries", "-2"}, {"parameter 'max_retries' = '-2'"}},
    {"tokenize",
     {"bogus", "1"},
     {"operator 'tokenize': unknown parameter 'bogus'", "allowed: field, lowercase, delimiter"}},
    {"tokenize", {"lowercase", "perhaps"}, {"parameter 'lowercase' = 'perhaps'"}},
    {"tokenize", {"field", "-1"}, {"parameter 'field' = '-1': field -1 is past the last field"}},
    {"tokenize",
     {"field", "nope"},
     {"parameter 'field' = 'nope': no field of that name in the input schema (line:string)"}},
    {"scale",
     {"field", "f0", "factor", "2"},
     {"parameter 'field' = 'f0' is a string field; a number is needed", "(f0:string, f1:int64, f2:string)"}},
    {"filter",
     {"expr", "f1 > 'x'"},
     {"parameter 'expr': expression 'f1 > 'x'': column 4: '>' compares a int64 with a string"}},
    {"filter", {"expr", "f1 + 1"}, {"parameter 'expr' = 'f1 + 1' is a int64, not a condition"}},
    {"filter", {"expr", "f1 > 1", "cmp", "eq"}, {"parameter 'expr' cannot be combined with 'cmp'"}},
    {"map",
     {"exprs", "f1, nosuch * 2"},
     {"parameter 'exprs': expression 'f1, nosuch * 2': column 5: no field 'nosuch' in the input schema "
      "(f0:string, f1:int64, f2:string)"}},
    {"map", {"exprs", "f1, f1"}, {"two expressions are named 'f1'"}},
    {"map", {"exprs", "lower(f1)"}, {"lower: argument 1 needs a string, got a int64"}},
    {"parse",
     {"fields", "a:int64", "format", "yaml"},
     {"parameter 'format' = 'yaml' is not one of tsv, csv, json"}},
    {"parse",
     {"fields", "a:int64", "field", "f1"},
     {"parameter 'field' = 'f1' is a int64 field; a string is needed"}},
    {"filter", {"regex", "(ab"}, {"operator 'filter': parameter 'regex' = '(ab' is not a valid"}},
    {"filter", {"cmp", "zz", "value", "1"}, {"parameter 'cmp' = 'zz' is not one of"}},
    {"filter", {"cmp", "lt", "value", "abc"}, {"parameter 'value' = 'abc' is not a number"}},
    {"filter", {"cmp", "eq"}, {"missing required parameter 'value'"}},
    {"filter", {"field", "1"}, {"missing required parameter 'expr' (or 'cmp' + 'value', or 'regex')"}},
    {"filter", {"regex", "a", "cmp", "eq"}, {"'regex'", "'cmp'"}},
    {"filter", {"cmp", "multiple_of", "value", "0"}, {"parameter 'value' = '0' is not a positive integer"}},
    {"filter", {"cmp", "eq", "value", "1", "side", "x"}, {"unknown parameter 'side'", "side_output"}},
    {"select", {NULL}, {"operator 'select': missing required parameter 'fields'"}},
    {"select", {"fields", "1,x"}, {"parameter 'fields' = 'x': no field of that name"}},
    {"select", {"fields", "1,,2"}, {"parameter 'fields' = '1,,2' has an empty item"}},
    {"select", {"fields", "99999999"}, {"parameter 'fields'", "is past the last field of the input schema"}},
    {"upper", {"field", "abc"}, {"operator 'upper': parameter 'field' = 'abc': no field of that name"}},
    {"upper",
     {"field", "f1"},
     {"operator 'upper': parameter 'field' = 'f1' is a int64 field; a string is needed"}},
    {"lower", {"fields", "1"}, {"operator 'lower': unknown parameter 'fields'"}},
    {"keyed_count", {"emit", "sometimes"}, {"parameter 'emit' = 'sometimes' is not one of updates, final"}},
    {"keyed_count", {"key_field", "1.5"}, {"parameter 'key_field' = '1.5': no field of that name"}},
    {"keyed_count", {"key_field", "3"}, {"parameter 'key_field' = '3': field 3 is past the last field of"}},
    {"keyed_count", {"delimiter", ""}, {"parameter 'delimiter' = ''"}},
    {"keyed_sum", {"value_field", "f2", "key_field", "f0", "emit", "x"}, {"parameter 'emit' = 'x' is not one of"}},
    {"keyed_reduce", {"value_field", "f1", "fn", "avg"}, {"parameter 'fn' = 'avg' is not one of"}},
    {"max_by", {"value_field", "f1", "key_field", "nope"}, {"parameter 'key_field' = 'nope': no field of that"}},
    {"tumbling_window", {"size", "1s", "agg", "sum"}, {"missing required parameter 'value_field'"}},
    {"sliding_window", {"size", "1s"}, {"missing required parameter 'slide'"}},
    {"tumbling_window", {"size", "1s", "agg", "median", "value_field", "f1"}, {"'agg' = 'median' is not one"}},
    {"file_sink", {NULL}, {"operator 'file_sink': missing required parameter 'path'"}},
    {"file_sink", {"path", ""}, {"parameter 'path' is empty"}},
    {"print", {"prefix", "p", "level", "x"}, {"operator 'print': unknown parameter 'level'", "allowed: prefix"}},
    {"discard", {"x", "1"}, {"operator 'discard': unknown parameter 'x'"}},
};

/* want, with the operator's own "operator '<op>': " as the chain writes it (it names
 * the operator once, with its position: "operator '<op>' (#0): "). */
static const char *as_chain_says(const char *op, const char *want, char *buf, size_t cap)
{
    char own[64];
    int n = snprintf(own, sizeof(own), "operator '%s': ", op);
    if (strncmp(want, own, (size_t)n) != 0)
        return want;
    snprintf(buf, cap, "operator '%s' (#0): %s", op, want + n);
    return buf;
}

START_TEST(test_bad_params)
{
    const struct bad_case *bc = &bad_cases[_i];
    const te_schema_t *in = NULL;
    if (def_of(bc->op)->abi_version >= 3 && strcmp(bc->op, "tokenize") != 0)
        in = h_schema("f0:string, f1:int64, f2:string");
    const char *kv[10] = {NULL};
    memcpy(kv, bc->kv, sizeof(bc->kv));
    run_t r;
    te_error_t e = {0};
    const char *err = mk_fails(&r, &e, bc->op, in, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], NULL);
    ck_assert_msg(err != NULL, "case %d (%s): setup accepted bad params", _i, bc->op);
    char buf[512];
    for (int w = 0; w < 3 && bc->want[w]; w++) {
        const char *want = as_chain_says(bc->op, bc->want[w], buf, sizeof(buf));
        ck_assert_msg(strstr(err, want) != NULL, "case %d: '%s' not in '%s'", _i, want, err);
    }
    test_chain_free(&r.t);
}
END_TEST

START_TEST(test_delimiter_escapes)
{
    /* "\\t" (backslash, t) means tab; a literal character works too. */
    const char *forms[][2] = {{"\\t", "a\tb"}, {"\t", "a\tb"}, {",", "a,b"}, {"\\n", "a\nb"}};
    for (size_t i = 0; i < 4; i++) {
        run_t r;
        mk(&r, "parse", 0, 1, NULL, "fields", "x:string, y:string", "delimiter", forms[i][0], NULL);
        feed(&r, forms[i][1]);
        ck_assert_uint_eq(OUT.n, 1);
        ck_assert_str_eq(OUT.lines[0], "a\tb");
        finish(&r);
        cap_reset(0);
    }
}
END_TEST

/* ---------------------------------------------------------------- file_lines ---- */

/* Independent oracle: the lines of a buffer, as the documented rule says. */
static size_t oracle_lines(const char *buf, size_t n, char ***lines)
{
    size_t count = 0, cap = 16;
    char **v = malloc(cap * sizeof(*v));
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && buf[j] != '\n')
            j++;
        size_t len = j - i;
        if (len > 0 && buf[i + len - 1] == '\r')
            len--;
        if (count == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof(*v));
        }
        v[count] = strndup(buf + i, len);
        count++;
        i = j + 1; /* past the '\n' (or past the end) */
    }
    *lines = v;
    return count;
}

static void check_file_lines(const char *content, size_t n, uint32_t budget)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/in.txt", tmpdir);
    write_file(path, content, n);
    char **want;
    size_t nwant = oracle_lines(content, n, &want);
    for (uint32_t p = 1; p <= 4; p++) {
        for (uint32_t i = 0; i < p; i++) {
            run_t r;
            mk(&r, "file_lines", i, p, NULL, "path", path, NULL);
            te_source_status_t st;
            int steps = 0;
            do {
                uint32_t idle = 0;
                st = step(&r, budget, &idle);
                ck_assert_int_lt(++steps, 10000000);
            } while (st != TE_SOURCE_END);
            finish(&r);
        }
        ck_assert_msg(OUT.n == nwant, "p=%u size=%zu: %zu lines, want %zu", p, n, OUT.n, nwant);
        for (size_t k = 0; k < nwant; k++) {
            ck_assert_msg(strcmp(OUT.lines[k], want[k]) == 0, "p=%u line %zu differs", p, k);
            ck_assert(OUT.ts[k] == TE_NO_TIMESTAMP);
        }
        cap_reset(0);
    }
    for (size_t k = 0; k < nwant; k++)
        free(want[k]);
    free(want);
}

START_TEST(test_file_lines_split)
{
    make_tmpdir();
    const char *fixed[] = {
        "alpha\nbeta\n\ngamma\n", /* empty line inside */
        "a\nb\n\n",               /* empty last line */
        "x\nyy\nzzz",             /* no trailing newline */
        "",                       /* empty file */
        "\n",
        "\n\n\n",
        "one line no newline",
        "crlf\r\nline two\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        for (uint32_t budget = 1; budget <= 1000; budget *= 10)
            check_file_lines(fixed[i], strlen(fixed[i]), budget);

    /* Random lines, some longer than the reader's buffer. */
    srand(7);
    size_t cap = 2 * 1024 * 1024, n = 0;
    char *big = malloc(cap);
    for (int line = 0; line < 5000; line++) {
        size_t len = (size_t)(rand() % 90);
        if (line == 1234 || line == 4000)
            len = 300000;
        for (size_t k = 0; k < len; k++)
            big[n++] = (char)('a' + rand() % 26);
        if (rand() % 10 == 0)
            big[n++] = '\r';
        big[n++] = '\n';
    }
    check_file_lines(big, n, 100);
    check_file_lines(big, n - 1, 1000); /* without the final newline */
    free(big);
    remove_tmpdir();
}
END_TEST

START_TEST(test_file_lines_errors)
{
    run_t r;
    te_error_t e = {0};
    /* at deployment (a job id is set): refused by setup, naming the path */
    const char *err = mk_fails(&r, &e, "file_lines", NULL, "path", "/nonexistent/dir/file.txt", NULL);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "/nonexistent/dir/file.txt") != NULL, "%s", err);
    test_chain_free(&r.t);
}
END_TEST

START_TEST(test_file_lines_snapshot)
{
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof(path), "%s/snap.txt", tmpdir);
    write_file(path, "l0\nl1\nl2\nl3\nl4\n", 15);
    /* the source's own snapshot / restore, called on the chain's instance of it (the
     * chain calls them the same way around a checkpoint) */
    const te_operator_def_t *d = def_of("file_lines");
    te_error_t err = {0};
    run_t a, b;
    mk(&a, "file_lines", 0, 1, NULL, "path", path, NULL);
    uint32_t idle;
    ck_assert_int_eq(step(&a, 2, &idle), TE_SOURCE_MORE);
    uint8_t *snap;
    size_t snaplen;
    ck_assert_int_eq(d->snapshot(a.h.self, 1, &snap, &snaplen), 0);
    finish(&a);
    mk_closed(&b, "file_lines", 0, 1, NULL, "path", path, NULL);
    ck_assert_int_eq(d->restore(b.h.self, snap, snaplen), 0);
    free(snap);
    ck_assert_int_eq(operator_chain_open(b.c, &err), TE_OK);
    while (step(&b, 10, &idle) != TE_SOURCE_END)
        ;
    finish(&b);
    ck_assert_uint_eq(OUT.n, 5);
    for (int i = 0; i < 5; i++) {
        char want[16];
        snprintf(want, sizeof(want), "l%d", i);
        ck_assert_str_eq(OUT.lines[i], want);
    }
    cap_reset(0);

    /* A snapshot taken before the first step of subtask 1 of 2 (still inside a line of
     * subtask 0) restores to the same lines. */
    mk(&a, "file_lines", 1, 2, NULL, "path", path, NULL);
    ck_assert_int_eq(d->snapshot(a.h.self, 2, &snap, &snaplen), 0);
    test_chain_free(&a.t);
    mk_closed(&b, "file_lines", 1, 2, NULL, "path", path, NULL);
    ck_assert_int_eq(d->restore(b.h.self, snap, snaplen), 0);
    free(snap);
    ck_assert_int_eq(operator_chain_open(b.c, &err), TE_OK);
    while (step(&b, 10, &idle) != TE_SOURCE_END)
        ;
    finish(&b);
    ck_assert_uint_eq(OUT.n, 2); /* bytes [7,15): lines starting at 9 and 12 */
    ck_assert_str_eq(OUT.lines[0], "l3");
    ck_assert_str_eq(OUT.lines[1], "l4");
    cap_reset(0);
    remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------------ sequence ---- */

START_TEST(test_sequence)
{
    for (uint32_t p = 1; p <= 4; p++) {
        int seen[100] = {0};
        size_t total = 0;
        for (uint32_t i = 0; i < p; i++) {
            run_t r;
            mk(&r, "sequence", i, p, NULL, "from", "5", "to", "27", NULL);
            uint32_t idle;
            while (step(&r, 3, &idle) != TE_SOURCE_END)
                ;
            ck_assert_int_eq(step(&r, 3, &idle), TE_SOURCE_END);
            finish(&r);
            for (size_t k = 0; k < OUT.n; k++) {
                int v = atoi(OUT.lines[k]);
                ck_assert_int_ge(v, 5);
                ck_assert_int_le(v, 27);
                ck_assert_int_eq((v - 5) % (int)p, (int)i); /* subtask i emits from+i, from+i+p... */
                if (k > 0)
                    ck_assert_int_eq(v, atoi(OUT.lines[k - 1]) + (int)p);
                seen[v]++;
            }
            total += OUT.n;
            cap_reset(0);
        }
        ck_assert_uint_eq(total, 23);
        for (int v = 5; v <= 27; v++)
            ck_assert_int_eq(seen[v], 1);
    }
}
END_TEST

START_TEST(test_sequence_edges)
{
    uint32_t idle = 0;
    /* More subtasks than values: the last ones emit nothing. */
    run_t r;
    mk(&r, "sequence", 3, 4, NULL, "from", "0", "to", "1", NULL);
    ck_assert_int_eq(step(&r, 10, &idle), TE_SOURCE_END);
    ck_assert_uint_eq(OUT.n, 0);
    finish(&r);

    /* Near INT64_MAX: no overflow. */
    mk(&r, "sequence", 0, 1, NULL, "from", "9223372036854775805", "to", "9223372036854775807", NULL);
    while (step(&r, 10, &idle) != TE_SOURCE_END)
        ;
    finish(&r);
    ck_assert_uint_eq(OUT.n, 3);
    ck_assert_str_eq(OUT.lines[2], "9223372036854775807");
    cap_reset(0);

    /* Unbounded: no `to` needed; keeps going. */
    mk(&r, "sequence", 0, 1, NULL, "unbounded", "true", "from", "-2", NULL);
    ck_assert_int_eq(step(&r, 100, &idle), TE_SOURCE_MORE);
    ck_assert_uint_eq(OUT.n, 100);
    ck_assert_str_eq(OUT.lines[0], "-2");
    ck_assert_str_eq(OUT.lines[99], "97");
    finish(&r);
    cap_reset(0);

    /* Rate-limited: after the allowed record the source reports IDLE with a wait. */
    mk(&r, "sequence", 0, 1, NULL, "to", "1000", "rate", "1", NULL);
    ck_assert_int_eq(step(&r, 100, &idle), TE_SOURCE_MORE);
    ck_assert_uint_eq(OUT.n, 1);
    idle = 0;
    ck_assert_int_eq(step(&r, 100, &idle), TE_SOURCE_IDLE);
    ck_assert_uint_gt(idle, 0);
    ck_assert_uint_le(idle, 1000);
    finish(&r);
    cap_reset(0);
}
END_TEST

START_TEST(test_sequence_snapshot)
{
    const te_operator_def_t *d = def_of("sequence");
    run_t a, b;
    mk(&a, "sequence", 1, 2, NULL, "from", "0", "to", "20", NULL);
    uint32_t idle;
    step(&a, 4, &idle); /* 1 3 5 7 */
    uint8_t *snap;
    size_t len;
    ck_assert_int_eq(d->snapshot(a.h.self, 7, &snap, &len), 0);
    finish(&a);
    mk(&b, "sequence", 1, 2, NULL, "from", "0", "to", "20", NULL);
    ck_assert_int_eq(d->restore(b.h.self, snap, len), 0);
    ck_assert_int_ne(d->restore(b.h.self, snap, len - 1), 0);
    free(snap);
    while (step(&b, 100, &idle) != TE_SOURCE_END)
        ;
    finish(&b);
    ck_assert_uint_eq(OUT.n, 10);
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(atoi(OUT.lines[k]), 2 * k + 1);
    cap_reset(0);
}
END_TEST

/* ------------------------------------------------------------------ tokenize ---- */

static const char *tok_sample[] = {
    "Hello, World! It's 2024: foo_bar BAZ42qux",
    "   leading and trailing   ",
    "",
    "123 456 !!!",
    "MiXeD-CaSe--words\tand\ttabs\xc3\xa9t\xc3\xa9 caf\xc3\xa9",
    "a",
    "x1y2z3",
};

/* Random lines for test_tokenize_vs_tr: runs of letters of 1-40 bytes (across the
 * 8-byte steps) between runs of 1-3 other bytes of every value but NUL and newline
 * (bytes above 0x7f, those next to the letters' ranges: '@', '[', '`', '{'). */
static char **tok_random(size_t *n)
{
    enum { LINES = 300 };
    char **lines = calloc(LINES, sizeof(*lines));
    uint32_t x = 12345;
    for (size_t l = 0; l < LINES; l++) {
        char *s = calloc(1, 400);
        size_t k = 0;
        size_t runs = (x = x * 1103515245u + 12345u) >> 16 & 7;
        for (size_t r = 0; r < runs && k < 300; r++) {
            uint32_t wl = 1 + ((x = x * 1103515245u + 12345u) >> 16) % 40;
            for (uint32_t i = 0; i < wl; i++) {
                uint32_t v = (x = x * 1103515245u + 12345u) >> 16;
                s[k++] = (char)((v & 1 ? 'a' : 'A') + (v >> 1) % 26);
            }
            uint32_t ol = 1 + ((x = x * 1103515245u + 12345u) >> 16) % 3;
            for (uint32_t i = 0; i < ol; i++) {
                uint32_t v;
                do
                    v = ((x = x * 1103515245u + 12345u) >> 16) & 0xff;
                while (v == 0 || v == '\n' || (v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z'));
                s[k++] = (char)v;
            }
        }
        lines[l] = s;
    }
    *n = LINES;
    return lines;
}

START_TEST(test_tokenize_vs_tr)
{
    /* Oracle: coreutils, exactly the documented rule. */
    char *words = NULL;
    size_t wlen = 0, n_rand;
    char **rand_lines = tok_random(&n_rand);
    {
        char inpath[] = "/tmp/check_tok.XXXXXX";
        int fd = mkstemp(inpath);
        ck_assert_int_ge(fd, 0);
        FILE *f = fdopen(fd, "w");
        for (size_t i = 0; i < sizeof(tok_sample) / sizeof(tok_sample[0]); i++)
            fprintf(f, "%s\n", tok_sample[i]);
        for (size_t i = 0; i < n_rand; i++)
            fprintf(f, "%s\n", rand_lines[i]);
        fclose(f);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "LC_ALL=C tr -cs 'A-Za-z' '\\n' < %s | LC_ALL=C tr A-Z a-z", inpath);
        FILE *p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        FILE *m = open_memstream(&words, &wlen);
        int ch;
        while ((ch = fgetc(p)) != EOF)
            fputc(ch, m);
        fclose(m);
        ck_assert_int_eq(pclose(p), 0);
        unlink(inpath);
    }
    /* Concatenate our words one per line and compare (ignoring tr's empty lines). */
    run_t r;
    mk(&r, "tokenize", 0, 1, NULL, NULL);
    for (size_t i = 0; i < sizeof(tok_sample) / sizeof(tok_sample[0]); i++)
        feed(&r, tok_sample[i]);
    for (size_t i = 0; i < n_rand; i++)
        feed(&r, rand_lines[i]);
    finish(&r);
    size_t k = 0;
    char *save = NULL;
    for (char *w = strtok_r(words, "\n", &save); w; w = strtok_r(NULL, "\n", &save)) {
        ck_assert_msg(k < OUT.n, "missing word '%s'", w);
        ck_assert_str_eq(OUT.lines[k], w);
        ck_assert(OUT.ts[k] == 42);
        k++;
    }
    ck_assert_uint_eq(k, OUT.n);
    ck_assert_str_eq(OUT.lines[0], "hello");
    ck_assert_str_eq(OUT.lines[3], "s");
    ck_assert_uint_gt(k, 1000); /* the random lines' words too */
    for (size_t i = 0; i < n_rand; i++)
        free(rand_lines[i]);
    free(rand_lines);
    free(words);
    cap_reset(0);
}
END_TEST

START_TEST(test_tokenize_options)
{
    run_t r;
    mk(&r, "tokenize", 0, 1, h_schema("ign:string, text:string?, more:string"), "field", "text", "lowercase",
       "false", NULL);
    feed(&r, "IGNORED words\tKeep THIS-one\tnot this");
    feed(&r, "no\t\tsecond field"); /* a null field: no words */
    finish(&r);
    expect_out((const char *[]){"Keep", "THIS", "one"}, 3);

    /* a row of one string field needs no `field` */
    mk(&r, "tokenize", 0, 1, NULL, NULL);
    feed(&r, "already lower, Not");
    ck_assert_uint_eq(OUT.n, 3);
    ck_assert_str_eq(OUT.lines[0], "already");
    ck_assert_str_eq(OUT.lines[2], "not");
    finish(&r);
    cap_reset(0);
}
END_TEST

/* -------------------------------------------------------------------- filter ---- */

/* Rows (k:string, v:string?) unless `in`: the legacy forms compare v's text, or the
 * row's. filter(key, value, ...) with a writer for side output `side` (NULL: none); the
 * main output in OUT, the side output in *side_out (freed by the caller), the side
 * records the chain dropped (no edge) in *dropped. */
static uint64_t filter_dropped;

static void run_filter(const te_schema_t *in, const char *const *rows, size_t n, const char *side,
                       cap_list_t *side_out, ...)
{
    run_t r;
    te_error_t err = {0};
    harness_capture_sides(&side, side ? 1 : 0);
    va_list ap;
    va_start(ap, side_out);
    run_try(&r, "filter", 0, 1, in ? in : h_schema("k:string, v:string?"), 1, &err, ap);
    va_end(ap);
    harness_capture_sides(NULL, 0);
    ck_assert_msg(r.c != NULL, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        feed(&r, rows[i]);
    finish_keep(&r);
    filter_dropped = operator_chain_side_dropped(r.c);
    test_chain_free(&r.t);
    *side_out = r.t.side;
}

START_TEST(test_filter)
{
    static const char *in[] = {"a\t5", "b\t12", "c\tx", "d", "ab\t5.5", "abc\t-3"};
    cap_list_t side;

    run_filter(NULL, in, 6, "rejects", &side, "field", "1", "cmp", "lt", "value", "10", "side_output", "rejects",
               NULL);
    ck_assert_uint_eq(OUT.n, 3);
    ck_assert_str_eq(OUT.lines[0], "a\t5");
    ck_assert_str_eq(OUT.lines[1], "ab\t5.5");
    ck_assert_str_eq(OUT.lines[2], "abc\t-3");
    ck_assert(OUT.ts[0] == 42);
    ck_assert_uint_eq(side.n, 3); /* 12, the non-number, the record without the field */
    ck_assert_str_eq(side.tag[0], "rejects");
    ck_assert_str_eq(side.lines[0], "b\t12");
    ck_assert_str_eq(side.lines[2], "d\t");
    cap_reset(0);
    cap_list_free(&side);

    /* expr: typed, three-valued (a null v is not TRUE) */
    static const char *nums[] = {"x\t9", "y\t10", "z\t", "ab\t1", "q\t-3"};
    run_filter(h_schema("k:string, v:int64?"), nums, 5, "no", &side, "expr", "v % 3 = 0 OR k LIKE 'a%'",
               "side_output", "no", NULL);
    ck_assert_uint_eq(OUT.n, 3);
    ck_assert_str_eq(OUT.lines[0], "x\t9");
    ck_assert_str_eq(OUT.lines[1], "ab\t1");
    ck_assert_str_eq(OUT.lines[2], "q\t-3");
    ck_assert_uint_eq(side.n, 2);
    ck_assert_str_eq(side.lines[1], "z\t");
    cap_reset(0);
    cap_list_free(&side);

    run_filter(NULL, in, 6, NULL, &side, "field", "1", "cmp", "ge", "value", "5.5", NULL);
    ck_assert_uint_eq(OUT.n, 2);
    ck_assert_str_eq(OUT.lines[0], "b\t12");
    ck_assert_uint_eq(filter_dropped, 0); /* no side_output: nothing emitted to one */
    cap_reset(0);

    run_filter(NULL, in, 6, NULL, &side, "field", "0", "cmp", "eq", "value", "ab", NULL);
    ck_assert_uint_eq(OUT.n, 1);
    ck_assert_str_eq(OUT.lines[0], "ab\t5.5");
    cap_reset(0);

    run_filter(NULL, in, 6, NULL, &side, "field", "0", "cmp", "ne", "value", "ab", NULL);
    ck_assert_uint_eq(OUT.n, 5);
    cap_reset(0);

    run_filter(NULL, in, 6, NULL, &side, "field", "1", "cmp", "multiple_of", "value", "3",
               NULL); /* 12 and -3; not 5.5 */
    ck_assert_uint_eq(OUT.n, 2);
    ck_assert_str_eq(OUT.lines[0], "b\t12");
    ck_assert_str_eq(OUT.lines[1], "abc\t-3");
    cap_reset(0);

    run_filter(NULL, in, 6, NULL, &side, "cmp", "contains", "value", "b", NULL); /* whole record */
    ck_assert_uint_eq(OUT.n, 3);
    cap_reset(0);

    run_filter(NULL, in, 6, NULL, &side, "regex", "^a.*[0-9]$", NULL);
    ck_assert_uint_eq(OUT.n, 3); /* a\t5, ab\t5.5, abc\t-3 */
    cap_reset(0);

    run_filter(NULL, in, 6, "s", &side, "regex", "^(b|c)$", "field", "0", "side_output", "s", NULL);
    ck_assert_uint_eq(OUT.n, 2);
    ck_assert_str_eq(OUT.lines[1], "c\tx");
    ck_assert_uint_eq(side.n, 4);
    cap_reset(0);
    cap_list_free(&side);
}
END_TEST

/* parse: unparsable records go to the side output with a reason naming the field. */
START_TEST(test_parse_side_output)
{
    static const char *const tags[] = {"unparsable"};
    run_t r;
    harness_capture_sides(tags, 1);
    mk(&r, "parse", 0, 1, NULL, "fields", "a:int64, b:timestamp", NULL);
    harness_capture_sides(NULL, 0);
    feed(&r, "5\t1700000000000");
    feed(&r, "5\tnoon");
    feed(&r, "5");
    finish(&r);
    ck_assert_uint_eq(OUT.n, 1);
    ck_assert_str_eq(OUT.lines[0], "5\t1700000000000");
    ck_assert_uint_eq(SIDE(&r).n, 2);
    ck_assert_str_eq(SIDE(&r).tag[0], "unparsable");
    ck_assert_str_eq(SIDE(&r).lines[0], "5\tnoon\tfield 1 (b): 'noon' is not a timestamp");
    ck_assert_str_eq(SIDE(&r).lines[1], "5\t1 values, expected 2");
    ck_assert_int_eq(SIDE(&r).ts[0], 42);
    cap_reset(0);
    cap_list_free(&SIDE(&r));
}
END_TEST

/* ----------------------------------------------------------------------- map ---- */

START_TEST(test_select_upper_lower)
{
    run_t r;
    char sb[128];
    mk(&r, "select", 0, 1, h_schema("a:string, b:int64, c:double?"), "fields", "2,a", NULL);
    feed(&r, "a\t1\t2.5");
    feed(&r, "only\t2\t");
    ck_assert_str_eq(te_schema_format(operator_chain_op_output_schema(r.c, 0), sb, sizeof(sb)),
                     "(c:double?, a:string)");
    finish(&r);
    ck_assert_uint_eq(OUT.n, 2);
    ck_assert_str_eq(OUT.lines[0], "2.5\ta");
    ck_assert_str_eq(OUT.lines[1], "\tonly"); /* null -> empty */
    ck_assert(OUT.ts[0] == 42);
    cap_reset(0);

    /* a string copied twice past the builder's first buffer; rows whose fixed part
     * does not match the schema, or whose string points outside the row, read as
     * nulls (checked path and fast path agree): handed to the head the way the
     * network input does (operator_chain_head), which checks nothing itself */
    mk(&r, "select", 0, 1, h_schema("a:string?, b:int64?, c:double?"), "fields", "a,b,a,a", NULL);
    static char big[700];
    memset(big, 'z', sizeof(big) - 1);
    char line[800];
    snprintf(line, sizeof(line), "%s\t7\t1", big);
    feed(&r, line);
    char want[2200];
    snprintf(want, sizeof(want), "%s\t7\t%s\t%s", big, big, big);
    ck_assert_str_eq(OUT.lines[0], want);
    uint8_t bad[8 + 8 * 3] = {3};
    uint64_t slot = (uint64_t)40 | (uint64_t)1000 << 32; /* a's bytes past the end */
    memcpy(bad + 8, &slot, 8);
    bad[16] = 5; /* b = 5 */
    te_record_t r1 = {bad, sizeof(bad), 1};
    ck_assert_int_eq(r.h.process_element(r.h.self, 0, &r1, r.h.out), 0);
    te_record_t r2 = {bad, 12, 2}; /* the fixed part cut short */
    ck_assert_int_eq(r.h.process_element(r.h.self, 0, &r2, r.h.out), 0);
    finish(&r);
    ck_assert_str_eq(OUT.lines[1], "\t5\t\t");
    ck_assert_str_eq(OUT.lines[2], "\t\t\t");
    cap_reset(0);

    /* map: expressions */
    mk(&r, "map", 0, 1, h_schema("a:string, b:int64, c:double?"), "exprs",
       "b * 2 AS b2, upper(a) || '!', CASE WHEN c IS NULL THEN -1.0 ELSE c END AS c", NULL);
    feed(&r, "x\t21\t0.5");
    feed(&r, "y\t-3\t");
    ck_assert_str_eq(te_schema_format(operator_chain_op_output_schema(r.c, 0), sb, sizeof(sb)),
                     "(b2:int64, expr1:string, c:double?)");
    finish(&r);
    ck_assert_str_eq(OUT.lines[0], "42\tX!\t0.5");
    ck_assert_str_eq(OUT.lines[1], "-6\tY!\t-1");
    cap_reset(0);

    /* every kind of column at once, out of the input's order: fixed-size fields and
     * strings copied (one twice), fixed expressions, other expressions; nulls in each */
    mk(&r, "map", 0, 1, h_schema("a:string?, b:int64?, c:double?, d:timestamp?"), "exprs",
       "d, c * 2 AS c2, a, b % 4 AS m, upper(a) AS u, a AS a2, b, d + 1 AS d1", NULL);
    feed(&r, "xy\t-7\t1.25\t1000");
    feed(&r, "\t8\t\t5");
    feed(&r, "long string\t\t-0.5\t");
    ck_assert_str_eq(
        te_schema_format(operator_chain_op_output_schema(r.c, 0), sb, sizeof(sb)),
        "(d:timestamp?, c2:double?, a:string?, m:int64?, u:string?, a2:string?, b:int64?, d1:timestamp?)");
    finish(&r);
    ck_assert_str_eq(OUT.lines[0], "1000\t2.5\txy\t-3\tXY\txy\t-7\t1001");
    ck_assert_str_eq(OUT.lines[1], "5\t\t\t0\t\t\t8\t6");
    ck_assert_str_eq(OUT.lines[2], "\t-1\tlong string\t\tLONG STRING\tlong string\t\t");
    cap_reset(0);

    /* strings of 0 to 17 bytes, null ones, one copied twice, out of order (short ones
     * move as the 16 bytes that end where they end: nothing around them may change) */
    mk(&r, "map", 0, 1, h_schema("p:string?, q:string?, r:string?, n:int64"), "exprs",
       "r, n, q, p AS p1, p AS p2, n * 2 AS n2", NULL);
    feed(&r, "\tabcde\t0123456789abcdef\t1");
    feed(&r, "0123456789abcdefg\tx\tfifteen-bytes..\t2");
    feed(&r, "ab\t\t\t3");
    feed(&r, "sixteen-bytes-ok\tq\t\t4");
    finish(&r);
    ck_assert_str_eq(OUT.lines[0], "0123456789abcdef\t1\tabcde\t\t\t2");
    ck_assert_str_eq(OUT.lines[1], "fifteen-bytes..\t2\tx\t0123456789abcdefg\t0123456789abcdefg\t4");
    ck_assert_str_eq(OUT.lines[2], "\t3\t\tab\tab\t6");
    ck_assert_str_eq(OUT.lines[3], "\t4\tq\tsixteen-bytes-ok\tsixteen-bytes-ok\t8");
    cap_reset(0);

    /* one string copied (its own path): null, short, 16 and 17 bytes, and one whose
     * bytes lie outside the row (read as null), between fixed-size copies */
    mk(&r, "map", 0, 1, h_schema("p:string?, n:int64"), "exprs", "n, p, n * 3 AS n3", NULL);
    feed(&r, "\t1");
    feed(&r, "abc\t2");
    feed(&r, "sixteen-bytes-ok\t3");
    feed(&r, "0123456789abcdefg\t4");
    uint8_t out_of_row[8 + 8 * 2] = {2};
    uint64_t far = (uint64_t)24 | (uint64_t)100 << 32;
    memcpy(out_of_row + 8, &far, 8);
    out_of_row[16] = 9;
    te_record_t r3 = {out_of_row, sizeof(out_of_row), 1};
    ck_assert_int_eq(r.h.process_element(r.h.self, 0, &r3, r.h.out), 0);
    finish(&r);
    ck_assert_uint_eq(OUT.n, 5);
    ck_assert_str_eq(OUT.lines[0], "1\t\t3");
    ck_assert_str_eq(OUT.lines[1], "2\tabc\t6");
    ck_assert_str_eq(OUT.lines[2], "3\tsixteen-bytes-ok\t9");
    ck_assert_str_eq(OUT.lines[3], "4\t0123456789abcdefg\t12");
    ck_assert_str_eq(OUT.lines[4], "9\t\t27");
    cap_reset(0);

    mk(&r, "upper", 0, 1, NULL, NULL);
    feed(&r, "Hello, wOrld 42 \xc3\xa9");
    finish(&r);
    ck_assert_str_eq(OUT.lines[0], "HELLO, WORLD 42 \xc3\xa9");
    cap_reset(0);

    mk(&r, "upper", 0, 1, h_schema("k:string, v:string?, w:string"), "field", "1", NULL);
    feed(&r, "keep\tup\tkeep");
    feed(&r, "keep\t\tkeep");
    finish(&r);
    ck_assert_str_eq(OUT.lines[0], "keep\tUP\tkeep");
    ck_assert_str_eq(OUT.lines[1], "keep\t\tkeep");
    cap_reset(0);

    mk(&r, "lower", 0, 1, h_schema("a:string, n:int64, b:string"), NULL); /* every string field */
    feed(&r, "ABC\t7\tDeF");
    finish(&r);
    ck_assert_str_eq(OUT.lines[0], "abc\t7\tdef");
    cap_reset(0);
}
END_TEST

/* --------------------------------------------------------------- keyed_count ---- */

START_TEST(test_keyed_count_updates)
{
    run_t r;
    mk(&r, "keyed_count", 0, 1, NULL, NULL);
    feed(&r, "a");
    feed(&r, "b");
    feed(&r, "a");
    feed(&r, "");
    finish(&r);
    expect_out((const char *[]){"a\t1", "b\t1", "a\t2", "\t1"}, 4);

    /* typed: by an int64 field named in key_field; the output keeps its type */
    mk(&r, "keyed_count", 0, 1, h_schema("s:string, n:int64"), "key_field", "n", NULL);
    feed(&r, "x\t-5");
    feed(&r, "y\t7");
    feed(&r, "z\t-5");
    char sb[128];
    ck_assert_str_eq(te_schema_format(operator_chain_op_output_schema(r.c, 0), sb, sizeof(sb)),
                     "(n:int64, count:int64)");
    finish(&r);
    ck_assert_str_eq(OUT.lines[2], "-5\t2");
    cap_reset(0);
}
END_TEST

START_TEST(test_keyed_count_final)
{
    /* Independent oracle: sort the keys and count runs. */
    enum { N = 20000 };
    static char keys[N][16];
    char *sorted[N];
    srand(11);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", rand() % 3000);
        sorted[i] = keys[i];
    }
    qsort(sorted, N, sizeof(sorted[0]), str_cmp);

    const te_operator_def_t *d = def_of("keyed_count");
    run_t r;
    mk(&r, "keyed_count", 0, 1, NULL, "emit", "final", NULL);
    void *self = r.h.self;
    for (int i = 0; i < N / 2; i++)
        feed(&r, keys[i]);
    ck_assert_uint_eq(OUT.n, 0);
    /* No copy of its own: the engine snapshots the keyed state (check_operator_restore);
     * the KCN1 section of older snapshots is checked and skipped. */
    ck_assert_ptr_null(d->snapshot);
    static const uint8_t kcn1[] = {'K', 'C', 'N', '1', 1,   0, 0, 0, 0, 0, 0, 0, 2,
                                   0,   0,   0,   'a', 'b', 5, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(d->restore(self, kcn1, sizeof(kcn1)), 0);
    ck_assert_int_eq(d->restore(self, kcn1, sizeof(kcn1) - 1), -1);
    ck_assert_int_eq(d->restore(self, kcn1 + 1, sizeof(kcn1) - 1), -1);
    for (int i = N / 2; i < N; i++)
        feed(&r, keys[i]);
    finish(&r);

    size_t k = 0;
    for (int i = 0; i < N;) {
        int j = i;
        while (j < N && strcmp(sorted[j], sorted[i]) == 0)
            j++;
        char want[64];
        snprintf(want, sizeof(want), "%s\t%d", sorted[i], j - i);
        ck_assert_msg(k < OUT.n, "missing %s", want);
        ck_assert_str_eq(OUT.lines[k], want);
        k++;
        i = j;
    }
    ck_assert_uint_eq(k, OUT.n);
    cap_reset(0);
}
END_TEST

/* ------------------------------------------------------------------- sinks ---- */

START_TEST(test_file_sink)
{
    make_tmpdir();
    run_t r;
    char path[300];
    /* parallelism 1: exactly `path`; includes a record larger than the buffer. */
    snprintf(path, sizeof(path), "%s/out.txt", tmpdir);
    size_t biglen = 300000;
    char *big = malloc(biglen + 1);
    memset(big, 'q', biglen);
    big[biglen] = '\0';
    mk(&r, "file_sink", 0, 1, NULL, "path", path, NULL);
    char *expect = NULL;
    size_t elen = 0;
    FILE *m = open_memstream(&expect, &elen);
    for (int i = 0; i < 50000; i++) {
        char rec[32];
        snprintf(rec, sizeof(rec), "record %d", i);
        feed(&r, rec);
        fprintf(m, "%s\n", rec);
        if (i == 20000) {
            feed(&r, big);
            fprintf(m, "%s\n", big);
        }
    }
    feed(&r, "");
    fprintf(m, "\n");
    fclose(m);
    finish(&r);
    ck_assert_uint_eq(OUT.n, 0);
    size_t n;
    char *got = read_file(path, &n);
    ck_assert_uint_eq(n, elen);
    ck_assert(memcmp(got, expect, n) == 0);
    free(got);
    free(expect);
    free(big);

    /* parallelism 2 with {subtask}, and without it (".<i>" appended). */
    snprintf(path, sizeof(path), "%s/part-{subtask}.txt", tmpdir);
    mk(&r, "file_sink", 1, 2, NULL, "path", path, NULL);
    feed(&r, "x");
    finish(&r);
    snprintf(path, sizeof(path), "%s/part-1.txt", tmpdir);
    got = read_file(path, &n);
    ck_assert_str_eq(got, "x\n");
    free(got);

    snprintf(path, sizeof(path), "%s/plain", tmpdir);
    mk(&r, "file_sink", 1, 3, NULL, "path", path, NULL);
    feed(&r, "y");
    finish(&r);
    snprintf(path, sizeof(path), "%s/plain.1", tmpdir);
    got = read_file(path, &n);
    ck_assert_str_eq(got, "y\n");
    free(got);

    /* Missing parent directories are created. */
    snprintf(path, sizeof(path), "%s/new/deeper/out", tmpdir);
    mk(&r, "file_sink", 0, 1, NULL, "path", path, NULL);
    feed(&r, "z");
    finish(&r);
    got = read_file(path, &n);
    ck_assert_str_eq(got, "z\n");
    free(got);

    /* Open error names the path: a parent that is a file, not a directory. */
    snprintf(path, sizeof(path), "%s/plain.1/out", tmpdir);
    mk_closed(&r, "file_sink", 0, 1, NULL, "path", path, NULL);
    te_error_t err = {0};
    ck_assert_int_ne(operator_chain_open(r.c, &err), TE_OK);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s", err.msg);
    test_chain_free(&r.t);
    snprintf(path, sizeof(path), "%s/new/deeper/out", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/new/deeper", tmpdir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/new", tmpdir);
    rmdir(path);
    remove_tmpdir();
}
END_TEST

/* The lines print wrote to the log (a file for the test): how many, the last in *last. */
static int print_lines(const char *log, char *last, size_t cap)
{
    size_t n;
    char *text = read_file(log, &n);
    int lines = 0;
    last[0] = '\0';
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        const char *m = strstr(l, "] print: ");
        if (m != NULL) {
            lines++;
            snprintf(last, cap, "%s", m + 9);
        }
    }
    free(text);
    return lines;
}

START_TEST(test_print_discard)
{
    /* print logs through the engine's log (INFO): to a file here */
    make_tmpdir();
    char log[300], last[256];
    snprintf(log, sizeof(log), "%s/log", tmpdir);
    te_log_level_t lvl = te_log_get_level();
    te_log_set_level(TE_LOG_INFO);
    ck_assert_int_eq(te_log_set_file(log), 0);
    run_t r;
    mk(&r, "print", 0, 1, NULL, NULL);
    feed(&r, "hello");
    finish(&r);
    ck_assert_int_eq(print_lines(log, last, sizeof(last)), 1);
    ck_assert_str_eq(last, "t> hello"); /* the prefix defaults to the task's name ("t") */
    ck_assert_uint_eq(OUT.n, 0);

    mk(&r, "print", 2, 4, NULL, "prefix", "wc", NULL);
    feed(&r, "a");
    feed(&r, "b");
    finish(&r);
    ck_assert_int_eq(print_lines(log, last, sizeof(last)), 1 + 2);
    ck_assert_str_eq(last, "wc:3> b");
    te_log_set_file(NULL);
    te_log_set_level(lvl);

    mk(&r, "discard", 0, 1, NULL, NULL);
    for (int i = 0; i < 10001; i++)
        feed(&r, "r");
    finish_keep(&r);
    ck_assert_uint_eq(operator_chain_counter(r.c, 0, "numRecordsDiscarded"), 10001);
    test_chain_free(&r.t);
    ck_assert_uint_eq(OUT.n, 0);
    remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------- socket_text ---- */

struct server {
    int lfd;
    int port;
    const char *payload; /* NULL = stay silent until `release` */
    atomic_int release;
};

static void server_listen(struct server *s)
{
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->lfd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->lfd, 4), 0);
    socklen_t l = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &l);
    s->port = ntohs(a.sin_port);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (s->payload) {
        /* Write in small pieces so records span reads. */
        size_t n = strlen(s->payload);
        for (size_t off = 0; off < n; off += 3) {
            size_t k = n - off < 3 ? n - off : 3;
            if (write(fd, s->payload + off, k) < 0)
                break;
            usleep(1000);
        }
    } else {
        while (!atomic_load(&s->release))
            usleep(10000);
    }
    close(fd);
    return NULL;
}

START_TEST(test_socket_text_reads_lines)
{
    struct server s = {0};
    s.payload = "line one\nline two\r\n\nlast without newline";
    server_listen(&s);
    pthread_t th;
    pthread_create(&th, NULL, server_main, &s);
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    /* run as the chain's source thread calls it (on the chain's instance and output) */
    const te_operator_def_t *d = def_of("socket_text");
    run_t r;
    mk(&r, "socket_text", 0, 1, NULL, "host", "127.0.0.1", "port", port, NULL);
    ck_assert_int_eq(d->run(r.h.self, r.h.out), TE_SOURCE_END);
    pthread_join(th, NULL);
    close(s.lfd);
    finish(&r);
    expect_out((const char *[]){"line one", "line two", "", "last without newline"}, 4);

    /* Another delimiter. */
    s.payload = "a;bb;ccc;";
    server_listen(&s);
    pthread_create(&th, NULL, server_main, &s);
    snprintf(port, sizeof(port), "%d", s.port);
    mk(&r, "socket_text", 0, 1, NULL, "host", "localhost", "port", port, "delimiter", ";", NULL);
    ck_assert_int_eq(d->run(r.h.self, r.h.out), TE_SOURCE_END);
    pthread_join(th, NULL);
    close(s.lfd);
    finish(&r);
    ck_assert_uint_eq(OUT.n, 3);
    ck_assert_str_eq(OUT.lines[2], "ccc");
    cap_reset(0);
}
END_TEST

struct runner {
    run_t r;
    te_source_status_t rc;
};

static void *runner_main(void *arg)
{
    struct runner *x = arg;
    x->rc = x->r.d->run(x->r.h.self, x->r.h.out);
    return NULL;
}

START_TEST(test_socket_text_cancel)
{
    struct server s = {0};
    s.payload = NULL; /* silent */
    atomic_init(&s.release, 0);
    server_listen(&s);
    pthread_t th, rt;
    pthread_create(&th, NULL, server_main, &s);
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    struct runner x;
    mk(&x.r, "socket_text", 0, 1, NULL, "host", "127.0.0.1", "port", port, "max_retries", "-1", NULL);
    x.rc = TE_SOURCE_MORE;
    pthread_create(&rt, NULL, runner_main, &x);
    usleep(100000);
    operator_chain_source_cancel(x.r.c);
    pthread_join(rt, NULL); /* the case timeout catches a hang */
    ck_assert_int_eq(x.rc, TE_SOURCE_END);
    ck_assert_uint_eq(OUT.n, 0);
    atomic_store(&s.release, 1);
    pthread_join(th, NULL);
    close(s.lfd);
    test_chain_free(&x.r.t);
}
END_TEST

START_TEST(test_socket_text_connect_fails)
{
    struct server s = {0};
    server_listen(&s);
    close(s.lfd); /* nothing listens on this port now */
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    const te_operator_def_t *d = def_of("socket_text");
    run_t r;
    mk(&r, "socket_text", 0, 1, NULL, "host", "127.0.0.1", "port", port, "max_retries", "1", "retry_delay_ms",
       "10", NULL);
    ck_assert_int_eq(d->run(r.h.self, r.h.out), TE_SOURCE_ERROR);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%s", port);
    /* the chain keeps the first api->fail: it names the address */
    ck_assert_msg(strstr(failure(&r), want) != NULL, "%s", failure(&r));
    ck_assert_uint_eq(OUT.n, 0);
    test_chain_free(&r.t);
}
END_TEST

/* ---- nexmark, scale, socket_sink ---- */

static size_t count_fields(const char *r)
{
    size_t n = 1;
    for (; *r; r++)
        n += *r == '\t';
    return n;
}

/* Runs a nexmark source at parallelism p and returns every record (sorted copies);
 * *keep0 (when not NULL) gets subtask 0's records in order. events "all": every kind,
 * read from the side outputs (bids also go to the main output), one event per step and
 * the side outputs drained after each, so the list keeps the order across kinds. */
static char **nexmark_all(uint32_t p, const char *count, const char *events, size_t *n_out, cap_list_t *keep0)
{
    static const char *const kinds[] = {"persons", "auctions", "bids"};
    char **all = NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < p; i++) {
        int all_kinds = strcmp(events, "all") == 0;
        run_t r;
        harness_capture_sides(kinds, all_kinds ? 3 : 0);
        mk(&r, "nexmark", i, p, NULL, "count", count, "events", all_kinds ? "bids" : events, "seed", "7",
           "side_outputs", all_kinds ? "true" : "false", NULL);
        harness_capture_sides(NULL, 0);
        uint32_t idle;
        while (step(&r, all_kinds ? 1 : 100, &idle) != TE_SOURCE_END)
            test_chain_drain(&r.t);
        finish(&r);
        cap_list_t l = all_kinds ? r.t.side : cap_slot[0]; /* the list checked (moved) */
        if (all_kinds)
            cap_reset(0);
        else
            memset(&cap_slot[0], 0, sizeof(cap_slot[0]));
        all = realloc(all, (n + l.n) * sizeof(char *));
        for (size_t k = 0; k < l.n; k++) {
            /* the record's timestamp is its date_time field (P: 7, A: 6, B: 6) */
            const char *f = l.lines[k];
            int idx = f[0] == 'P' ? 7 : 6;
            for (int j = 0; j < idx && f; j++)
                f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
            ck_assert(f != NULL);
            ck_assert_int_eq(l.ts[k], atoll(f));
            all[n++] = strdup(l.lines[k]);
        }
        if (i == 0 && keep0)
            *keep0 = l;
        else
            cap_list_free(&l);
    }
    qsort(all, n, sizeof(char *), str_cmp);
    *n_out = n;
    return all;
}

START_TEST(test_nexmark_deterministic_split)
{
    size_t n1, n3;
    cap_list_t first = {0};
    char **a = nexmark_all(1, "5000", "all", &n1, &first);
    char **b = nexmark_all(3, "5000", "all", &n3, NULL);
    ck_assert_uint_eq(n1, 5000);
    ck_assert_uint_eq(n3, 5000);
    size_t persons = 0, auctions = 0, bids = 0;
    for (size_t i = 0; i < n1; i++) {
        ck_assert_str_eq(a[i], b[i]); /* the same events whatever the parallelism */
        switch (a[i][0]) {
        case 'P':
            persons++;
            ck_assert_uint_eq(count_fields(a[i]), 9);
            break;
        case 'A':
            auctions++;
            ck_assert_uint_eq(count_fields(a[i]), 11);
            break;
        case 'B':
            bids++;
            ck_assert_uint_eq(count_fields(a[i]), 8);
            break;
        default: ck_abort_msg("unknown event kind in '%s'", a[i]);
        }
    }
    /* Nexmark's proportions 1 : 3 : 46 out of every 50 events. */
    ck_assert_uint_eq(persons, 100);
    ck_assert_uint_eq(auctions, 300);
    ck_assert_uint_eq(bids, 4600);
    /* In generation order: event time grows by 100us per event, and every bid refers
     * to an auction and a person created before it. */
    long long max_auction = 0, max_person = 0, prev_ts = 0;
    ck_assert_uint_eq(first.n, 5000);
    for (size_t k = 0; k < first.n; k++) {
        const char *r = first.lines[k];
        long long id = atoll(r + 2);
        ck_assert_int_ge(first.ts[k], prev_ts);
        prev_ts = first.ts[k];
        ck_assert_int_eq(first.ts[k], 1700000000000LL + (long long)k / 10);
        if (r[0] == 'P')
            max_person = id;
        else if (r[0] == 'A')
            max_auction = id;
        else {
            const char *bidder = strchr(r + 2, '\t') + 1;
            ck_assert_int_le(id, max_auction);
            ck_assert_int_ge(id, 1000);
            ck_assert_int_le(atoll(bidder), max_person);
        }
    }
    cap_list_free(&first);
    for (size_t i = 0; i < n1; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(a);
    free(b);
}
END_TEST

START_TEST(test_nexmark_bids_only)
{
    size_t n, n1, n64;
    char **a = nexmark_all(2, "1000", "bids", &n, NULL);
    ck_assert_uint_eq(n, 920);
    /* many events per step: the same bids at parallelism 1 and 64 (a stride above the 50
     * events of an epoch) */
    char **b = nexmark_all(1, "1000", "bids", &n1, NULL), **c = nexmark_all(64, "1000", "bids", &n64, NULL);
    ck_assert_uint_eq(n1, 920);
    ck_assert_uint_eq(n64, 920);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(a[i], b[i]);
        ck_assert_str_eq(a[i], c[i]);
        free(b[i]);
        free(c[i]);
    }
    free(b);
    free(c);
    for (size_t i = 0; i < n; i++) {
        ck_assert(a[i][0] == 'B');
        /* B auction bidder price ...: the price is the fourth field */
        const char *p = a[i];
        for (int f = 0; f < 3; f++)
            p = strchr(p, '\t') + 1;
        long long price = atoll(p);
        ck_assert_int_ge(price, 100);       /* 10^0 * 100 */
        ck_assert_int_le(price, 100000000); /* 10^6 * 100 */
        free(a[i]);
    }
    free(a);
}
END_TEST

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Bid prices are round(10^(6u) * 100) cents with u uniform in [0, 1), as in Nexmark:
 * u = log10(price / 100) / 6 over 18,400 bids passes a Kolmogorov-Smirnov test against
 * the uniform distribution (1% level), spans the whole range, and the high prices
 * are almost all different. */
START_TEST(test_nexmark_price_distribution)
{
    size_t n;
    char **a = nexmark_all(1, "20000", "bids", &n, NULL);
    ck_assert_uint_eq(n, 18400);
    double *u = malloc(n * sizeof(*u));
    for (size_t i = 0; i < n; i++) {
        const char *p = a[i];
        for (int f = 0; f < 3; f++)
            p = strchr(p, '\t') + 1;
        long long price = atoll(p);
        ck_assert_int_ge(price, 100);
        ck_assert_int_le(price, 100000000);
        u[i] = log10((double)price / 100.0) / 6.0;
        free(a[i]);
    }
    free(a);
    qsort(u, n, sizeof(*u), double_cmp);
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double lo = u[i] - (double)i / (double)n, hi = (double)(i + 1) / (double)n - u[i];
        d = fmax(d, fmax(lo, hi));
    }
    ck_assert_msg(d < 1.63 / sqrt((double)n), "prices are not 10^(6u) * 100 for uniform u: KS distance %.4f", d);
    ck_assert_double_lt(u[0], 0.01);
    ck_assert_double_gt(u[n - 1], 0.99);
    /* u continuous: the prices of 1,000 dollars and more (a million cents to choose
     * from per bid) differ, rather than fall on a few thousand steps */
    size_t high = 0, distinct = 0;
    for (size_t i = 1; i < n; i++)
        if (u[i] >= 0.5) {
            high++;
            distinct += u[i] != u[i - 1];
        }
    ck_assert_msg(distinct * 100 > high * 99, "only %zu distinct prices in %zu bids of 1,000 dollars or more",
                  distinct, high);
    free(u);
}
END_TEST

START_TEST(test_scale)
{
    run_t r;
    mk(&r, "scale", 0, 1, h_schema("k:string, v:int64?, x:string"), "field", "v", "factor", "0.908", NULL);
    feed(&r, "a\t100\tx");   /* 90.8 -> 91 */
    feed(&r, "b\t-1000\ty"); /* -908 */
    feed(&r, "e\t\tz");      /* null stays null */
    finish(&r);
    ck_assert_uint_eq(OUT.n, 3);
    ck_assert_str_eq(OUT.lines[0], "a\t91\tx");
    ck_assert_str_eq(OUT.lines[1], "b\t-908\ty");
    ck_assert_str_eq(OUT.lines[2], "e\t\tz");
    ck_assert(OUT.ts[0] == 42);
    cap_reset(0);
    mk(&r, "scale", 0, 1, h_schema("k:string, d:double"), "field", "1", "factor", "0.908", NULL);
    feed(&r, "c\t2.5"); /* 2.27 */
    finish(&r);
    ck_assert_str_eq(OUT.lines[0], "c\t2.27");
    cap_reset(0);
}
END_TEST

struct collector {
    int lfd;
    char buf[65536];
    size_t len;
};

static void *collector_main(void *arg)
{
    struct collector *k = arg;
    int fd = accept(k->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    ssize_t n;
    while ((n = read(fd, k->buf + k->len, sizeof(k->buf) - 1 - k->len)) > 0)
        k->len += (size_t)n;
    k->buf[k->len] = '\0';
    close(fd);
    return NULL;
}

START_TEST(test_socket_sink)
{
    struct server s = {0};
    server_listen(&s);
    struct collector k = {.lfd = s.lfd};
    pthread_t th;
    pthread_create(&th, NULL, collector_main, &k);
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    run_t r;
    mk(&r, "socket_sink", 0, 1, NULL, "host", "127.0.0.1", "port", port, NULL);
    feed(&r, "first");
    feed(&r, "");
    feed(&r, "third record");
    finish(&r);
    pthread_join(th, NULL);
    close(s.lfd);
    ck_assert_str_eq(k.buf, "first\n\nthird record\n");
    ck_assert_uint_eq(OUT.n, 0);

    /* Nobody listening: open fails naming host:port. */
    server_listen(&s);
    snprintf(port, sizeof(port), "%d", s.port);
    close(s.lfd);
    mk_closed(&r, "socket_sink", 0, 1, NULL, "host", "127.0.0.1", "port", port, NULL);
    te_error_t err = {0};
    ck_assert_int_ne(operator_chain_open(r.c, &err), TE_OK);
    ck_assert_msg(strstr(err.msg, port) != NULL, "%s", err.msg);
    test_chain_free(&r.t);
}
END_TEST

START_TEST(test_max_by)
{
    /* Oracle: per key, the first record with the largest value, computed here. */
    static const char *in[] = {"a\t3\tx",  "b\t1\ty",        "a\t7\tz", "b\t1\tw",
                               "c\t-2\tq", "a\t7\tlate-tie", "b\t4\tv"};
    const te_schema_t *sc = h_schema("k:string, v:int64, x:string");
    run_t r;
    mk(&r, "max_by", 0, 1, sc, "value_field", "1", "emit", "final", NULL);
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        feed(&r, in[i]);
    ck_assert_uint_eq(OUT.n, 0);
    finish(&r);
    expect_out((const char *[]){"a\t7\tz", "b\t4\tv", "c\t-2\tq"}, 3);

    mk(&r, "max_by", 0, 1, sc, "value_field", "v", NULL); /* updates: each new maximum */
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        feed(&r, in[i]);
    finish(&r);
    ck_assert_uint_eq(OUT.n, 5); /* a3 b1 a7 c-2 b4 */
    ck_assert_str_eq(OUT.lines[2], "a\t7\tz");
    ck_assert_str_eq(OUT.lines[4], "b\t4\tv");
    cap_reset(0);

    /* numbers in a string field are read; text that is not one fails the task */
    mk(&r, "max_by", 0, 1, h_schema("k:string, v:string"), "value_field", "1", NULL);
    feed(&r, "a\t2.5");
    ck_assert_uint_eq(OUT.n, 1);
    ck_assert_int_ne(feed_rc(&r, "a\tNaN-ish"), TE_OK);
    ck_assert_msg(strstr(failure(&r), "value_field 'v' = 'NaN-ish' is not a number") != NULL, "%s", failure(&r));
    test_chain_free(&r.t);
    cap_reset(0);
}
END_TEST

Suite *operators_suite(void)
{
    Suite *s = suite_create("operators");
    TCase *tc = tcase_create("params");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_registry);
    tcase_add_test(tc, test_registry_module);
    tcase_add_loop_test(tc, test_bad_params, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, test_delimiter_escapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("sources");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_file_lines_split);
    tcase_add_test(tc, test_file_lines_errors);
    tcase_add_test(tc, test_file_lines_snapshot);
    tcase_add_test(tc, test_sequence);
    tcase_add_test(tc, test_sequence_edges);
    tcase_add_test(tc, test_sequence_snapshot);
    suite_add_tcase(s, tc);

    tc = tcase_create("transforms");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tokenize_vs_tr);
    tcase_add_test(tc, test_tokenize_options);
    tcase_add_test(tc, test_filter);
    tcase_add_test(tc, test_select_upper_lower);
    tcase_add_test(tc, test_keyed_count_updates);
    tcase_add_test(tc, test_keyed_count_final);
    tcase_add_test(tc, test_parse_side_output);
    suite_add_tcase(s, tc);

    tc = tcase_create("sinks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_file_sink);
    tcase_add_test(tc, test_print_discard);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_socket_text_reads_lines);
    tcase_add_test(tc, test_socket_text_cancel);
    tcase_add_test(tc, test_socket_text_connect_fails);
    tcase_add_test(tc, test_socket_sink);
    suite_add_tcase(s, tc);

    tc = tcase_create("nexmark");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_nexmark_deterministic_split);
    tcase_add_test(tc, test_nexmark_bids_only);
    tcase_add_test(tc, test_nexmark_price_distribution);
    tcase_add_test(tc, test_scale);
    tcase_add_test(tc, test_max_by);
    suite_add_tcase(s, tc);
    return s;
}
