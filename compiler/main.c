/* main.c: the command line. Reads the options, runs the phases in order
 * and turns what they found into an exit status: 0 success, 1 the model
 * or weights are wrong, 2 the command line is wrong. */
#include "cnnc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { REPORT_NONE, REPORT_TEXT, REPORT_JSON } ReportKind;

/* Everything the command line asked for. */
typedef struct Options {
    const char *model;
    const char *output;  /* -o */
    const char *weights; /* -w */
    const char *init;    /* --init= */
    const char *unroll;  /* --unroll= */
    const char *depfile; /* -MF */
    bool make_deps;      /* -MD */
    bool check;
    ReportKind report;
    int argc;
    char **argv;
} Options;

static const char usage_text[] =
    "usage: cnnc [options] MODEL.net\n"
    "\n"
    "Compiles a convolutional network described in the .net language into C.\n"
    "\n"
    "options:\n"
    "  -o FILE.c                 write generated C to FILE.c and its header FILE.h\n"
    "  -w FILE.safetensors       trained weights (PyTorch state_dict names)\n"
    "  --init=zeros|random[:SEED]\n"
    "                            placeholder weights when there is no -w\n"
    "  --report[=text|json]      print shapes, params, MACs, receptive fields, memory\n"
    "  --check                   parse and analyse only; the exit status tells\n"
    "  --unroll=LEVEL            how far to unroll loops (see docs/generated-c.md)\n"
    "  -MD                       also write a make dependency file (FILE.d beside -o)\n"
    "  -MF FILE                  name the dependency file (implies -MD)\n"
    "  --version                 print the version and exit\n"
    "  --help                    print this help and exit\n"
    "\n"
    "exit status: 0 success, 1 errors in the model or weights, 2 usage error\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("cnnc: error: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nusage: cnnc [options] MODEL.net (try 'cnnc --help')\n", stderr);
    return 2;
}

/* The value of an option given as "-o FILE" or "-oFILE". */
static const char *option_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (argv[*i][n])
        return argv[*i] + n;
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* Parses argv; returns -1 to go on, or an exit status. */
static int parse_options(Options *o, int argc, char **argv)
{
    o->argc = argc;
    o->argv = argv;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("cnnc %s\n", CNNC_VERSION);
            return 0;
        } else if (strcmp(a, "--check") == 0) {
            o->check = true;
        } else if (strcmp(a, "--report") == 0 || strcmp(a, "--report=text") == 0) {
            o->report = REPORT_TEXT;
        } else if (strcmp(a, "--report=json") == 0) {
            o->report = REPORT_JSON;
        } else if (strncmp(a, "--report=", 9) == 0) {
            return usage_error("unknown report format '%s'; use --report=text or --report=json", a + 9);
        } else if (strncmp(a, "--init=", 7) == 0) {
            o->init = a + 7;
        } else if (strncmp(a, "--unroll=", 9) == 0) {
            o->unroll = a + 9;
        } else if (strcmp(a, "-MD") == 0) {
            o->make_deps = true;
        } else if (strncmp(a, "-MF", 3) == 0) {
            if (!(o->depfile = option_value(argc, argv, &i, "-MF")))
                return usage_error("%s needs a file name", "-MF");
            o->make_deps = true;
        } else if (strncmp(a, "-o", 2) == 0) {
            if (!(o->output = option_value(argc, argv, &i, "-o")))
                return usage_error("%s needs a file name", "-o");
        } else if (strncmp(a, "-w", 2) == 0) {
            if (!(o->weights = option_value(argc, argv, &i, "-w")))
                return usage_error("%s needs a file name", "-w");
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (o->model) {
            return usage_error("more than one model given ('%s')", a);
        } else {
            o->model = a;
        }
    }
    if (!o->model)
        return usage_error("%s", "no model given");
    if (!o->output && !o->report && !o->check)
        return usage_error("nothing to do for '%s': give -o FILE.c, --report or --check", o->model);
    if (o->weights && o->init)
        return usage_error("%s", "give either -w or --init, not both");
    if (o->make_deps && !o->output)
        return usage_error("%s", "-MD and -MF need -o");
    return -1;
}

/* Reads a whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        char *bigger = realloc(buf, cap);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        die("out of memory reading '%s'", path);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

/* Runs the front end and analysis; false when the model has errors. */
static bool compile_model(Mem *m, Diag *d, Net **out)
{
    Stmt *stmts = parse_source(m, d, d->src, d->srclen);
    if (!stmts && d->errors == 0) {
        diag_error(d, (Loc){1, 1, 1}, "the file is empty; a model starts with 'network NAME'");
        return false;
    }
    Net *net = ir_build(m, d, stmts);
    analyze(net, d);
    if (d->errors)
        return false;
    plan(m, net);
    *out = net;
    return true;
}

int main(int argc, char **argv)
{
    Options o = {0};
    int status = parse_options(&o, argc, argv);
    if (status >= 0)
        return status;
    size_t len = 0;
    char *src = read_file(o.model, &len);
    if (!src) {
        fprintf(stderr, "cnnc: error: cannot read '%s': %s\n", o.model, strerror(errno));
        return 1;
    }
    Mem mem = {0};
    Diag diag;
    diag_init(&diag, o.model, src, len, stderr);
    Net *net = NULL;
    bool ok = compile_model(&mem, &diag, &net);
    if (ok && o.output) {
        fprintf(stderr, "cnnc: error: code generation (-o) is not available in this version yet\n");
        ok = false;
    }
    diag_flush(&diag);
    if (ok && o.report == REPORT_TEXT)
        report_text(net, stdout);
    else if (ok && o.report == REPORT_JSON)
        report_json(net, stdout);
    mem_free(&mem);
    free(src);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cnnc: error: cannot write the report: %s\n", strerror(errno));
        return 1;
    }
    return ok ? 0 : 1;
}
