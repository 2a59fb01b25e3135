/* main.c: the command line. Reads the options, runs the phases in order
 * and turns what they found into an exit status: 0 success, 1 the model
 * or weights are wrong, 2 the command line is wrong. */
#include "cnnc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Multiply-adds unrolled across the model when --unroll is not given:
 * every window of a small model, the busiest layers of a large one. */
enum { DEFAULT_UNROLL = 4096 };

typedef enum { REPORT_NONE, REPORT_TEXT, REPORT_JSON, REPORT_SVG } ReportKind;

/* Everything the command line asked for. */
typedef struct Options {
    const char *model;
    const char *output;  /* -o */
    const char *weights; /* -w */
    const char *init;    /* --init= */
    const char *unroll;  /* --unroll= */
    const char *depfile; /* -MF */
    const char *quantize;  /* --quantize=: "int8", or NULL for float */
    const char *calibrate; /* --calibrate FILE: raw float32 inputs for int8 ranges */
    bool int8_io;          /* --int8-io: int8 input and outputs instead of float */
    const char *validate;  /* --validate FILE: held-out inputs to measure int8 against float */
    bool make_deps;      /* -MD */
    bool check;
    bool no_fuse;
    bool tune_host; /* --tune=host */
    SelftestOptions test; /* --emit-test and its data */
    ReportKind report;
    int64_t unroll_budget;
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
    "  --report[=text|json|svg]  print shapes, params, MACs, receptive fields, memory\n"
    "                            (svg: the layer graph, arena timeline, receptive field)\n"
    "  --check                   parse and analyse only; the exit status tells\n"
    "  --unroll=N|none|full      multiply-adds to unroll in all (default 4096)\n"
    "  --no-fuse                 keep every layer's output (more arena, for comparison)\n"
    "  --tune=mcu|host           shape the float code for microcontrollers (default) or\n"
    "                            for a vectorizing host compiler (gcc -O3 -march=native)\n"
    "  --quantize=int8           generate int8 inference (float input and outputs kept)\n"
    "  --calibrate FILE          raw float32 inputs (CHW, one after another) that set\n"
    "                            the int8 ranges; required by --quantize\n"
    "  --int8-io                 with --quantize: int8 input and outputs, no conversion\n"
    "  --validate FILE           int8 against float, tensor by tensor, on these inputs\n"
    "                            (the calibration format); --report does it on --calibrate's\n"
    "  -MD                       also write a make dependency file (FILE.d beside -o)\n"
    "  -MF FILE                  name the dependency file (implies -MD)\n"
    "  --version                 print the version and exit\n"
    "  --help                    print this help and exit\n"
    "\n"
    "self-test for the board:\n"
    "%s"
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
            printf(usage_text, st_usage);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("cnnc %s\n", CNNC_VERSION);
            return 0;
        } else if (strcmp(a, "--no-fuse") == 0) {
            o->no_fuse = true;
        } else if (strncmp(a, "--tune=", 7) == 0) {
            if (strcmp(a + 7, "host") != 0 && strcmp(a + 7, "mcu") != 0)
                return usage_error("unknown --tune value '%s'; use --tune=mcu or --tune=host", a + 7);
            o->tune_host = strcmp(a + 7, "host") == 0;
        } else if (strcmp(a, "--check") == 0) {
            o->check = true;
        } else if (strcmp(a, "--report") == 0 || strcmp(a, "--report=text") == 0) {
            o->report = REPORT_TEXT;
        } else if (strcmp(a, "--report=json") == 0) {
            o->report = REPORT_JSON;
        } else if (strcmp(a, "--report=svg") == 0) {
            o->report = REPORT_SVG;
        } else if (strncmp(a, "--report=", 9) == 0) {
            return usage_error("unknown report format '%s'; use --report=text, --report=json or --report=svg", a + 9);
        } else if (strncmp(a, "--quantize=", 11) == 0) {
            if (strcmp(a + 11, "int8") != 0)
                return usage_error("unknown --quantize value '%s'; use --quantize=int8", a + 11);
            o->quantize = a + 11;
        } else if (strcmp(a, "--calibrate") == 0) {
            if (!(o->calibrate = option_value(argc, argv, &i, "--calibrate")))
                return usage_error("%s needs a file name", "--calibrate");
        } else if (strncmp(a, "--calibrate=", 12) == 0) {
            o->calibrate = a + 12;
        } else if (strcmp(a, "--int8-io") == 0) {
            o->int8_io = true;
        } else if (strcmp(a, "--validate") == 0) {
            if (!(o->validate = option_value(argc, argv, &i, "--validate")))
                return usage_error("%s needs a file name", "--validate");
        } else if (strncmp(a, "--validate=", 11) == 0) {
            o->validate = a + 11;
        } else if (strncmp(a, "--init=", 7) == 0) {
            o->init = a + 7;
        } else if (strncmp(a, "--unroll=", 9) == 0) {
            o->unroll = a + 9;
            char *end;
            errno = 0;
            long long n = strtoll(o->unroll, &end, 10);
            if (strcmp(o->unroll, "none") == 0)
                o->unroll_budget = 0;
            else if (strcmp(o->unroll, "full") == 0)
                o->unroll_budget = INT64_MAX;
            else if (*o->unroll && !*end && n >= 0 && errno == 0)
                o->unroll_budget = n;
            else
                return usage_error("bad --unroll value '%s'; use a number of taps, none or full", o->unroll);
        } else if (st_is_option(a)) {
            if (!st_parse_option(&o->test, argc, argv, &i))
                return usage_error("%s", o->test.error);
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
    if (!st_check_options(&o->test, o->output))
        return usage_error("%s", o->test.error);
    if (!o->output && !o->report && !o->check)
        return usage_error("nothing to do for '%s': give -o FILE.c, --report or --check", o->model);
    if (o->quantize && !o->calibrate)
        return usage_error("%s", "--quantize=int8 needs --calibrate FILE (raw float32 inputs)");
    if (o->calibrate && !o->quantize)
        return usage_error("%s", "--calibrate needs --quantize=int8");
    if (o->quantize && !o->weights && !o->init)
        return usage_error("%s", "--quantize=int8 needs weights: give -w FILE.safetensors, or --init=zeros|random[:SEED]");
    if (o->int8_io && !o->quantize)
        return usage_error("%s", "--int8-io needs --quantize=int8");
    if (o->int8_io && o->test.path)
        return usage_error("%s", "--emit-test checks float outputs; it does not work with --int8-io");
    if (o->weights && o->init)
        return usage_error("%s", "give either -w or --init, not both");
    if (o->make_deps && !o->output)
        return usage_error("%s", "-MD and -MF need -o");
    if (o->output && !o->weights && !o->init)
        return usage_error("%s", "-o needs weights: give -w FILE.safetensors, or --init=zeros|random[:SEED] to try a model");
    if (o->init && strcmp(o->init, "zeros") != 0 && strncmp(o->init, "random", 6) != 0)
        return usage_error("bad --init value '%s'; use zeros, random or random:SEED", o->init);
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
    int failed = ferror(f) ? (errno ? errno : EIO) : 0; /* EISDIR for a directory */
    fclose(f);
    if (!buf)
        die("out of memory reading '%s'", path);
    if (failed) {
        free(buf);
        errno = failed;
        return NULL;
    }
    *len = n;
    return buf;
}

/* The path with its extension replaced: "net.c" -> "net.h". */
static char *swap_extension(Mem *m, const char *path, const char *ext)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    return mem_printf(m, "%.*s%s", (int)stem, path, ext);
}

/* A file being written: generated into memory, and only when the whole
 * run has succeeded written to a temporary beside its path and renamed.
 * So a failed run, even one stopped by die(), never leaves half a file
 * or a temporary behind, nor clobbers a good one. */
typedef struct Pending {
    const char *path;
    char *text;
    size_t len;
    FILE *f;
    bool keep_same; /* an existing file with this very text is left alone */
} Pending;

static bool pending_open(Diag *d, Pending *p, const char *path)
{
    p->path = path;
    /* rename() would fail on a directory after the other files were
     * already replaced: refuse before anything is written */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        diag_file_error(d, path, "cannot write: %s", strerror(EISDIR));
        return false;
    }
    p->f = open_memstream(&p->text, &p->len);
    if (!p->f)
        die("out of memory");
    return true;
}

/* Writes text to a new temporary beside path; its name, or NULL after
 * reporting why not. */
static char *pending_write(Mem *m, Diag *d, const Pending *p)
{
    char *tmp = mem_printf(m, "%s.tmp.XXXXXX", p->path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        diag_file_error(d, p->path, "cannot write: %s", strerror(errno));
        return NULL;
    }
    /* mkstemp makes the file private; a generated file is as readable as
     * any other the user creates */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "w");
    bool ok = f && fwrite(p->text, 1, p->len, f) == p->len;
    ok = (f ? fclose(f) == 0 : close(fd) == 0) && ok;
    if (!ok) {
        diag_file_error(d, p->path, "cannot write: %s", strerror(errno ? errno : EIO));
        unlink(tmp);
        return NULL;
    }
    return tmp;
}

/* Whether path holds exactly text already: then the header is not
 * rewritten, so a build system that checks (ninja's restat, make) need
 * not recompile the application's files that include it when the model
 * changed in ways the interface does not show. */
static bool same_content(const Pending *p)
{
    FILE *f = fopen(p->path, "rb");
    if (!f)
        return false;
    bool same = true;
    size_t at = 0;
    char buf[4096];
    for (size_t n; same && (n = fread(buf, 1, sizeof buf, f)) > 0; at += n)
        same = at + n <= p->len && memcmp(buf, p->text + at, n) == 0;
    same = same && !ferror(f) && at == p->len;
    fclose(f);
    return same;
}

/* Writes every pending file if ok, then renames them all into place;
 * on any error none is renamed and the temporaries are removed. */
static bool pending_commit(Mem *m, Diag *d, Pending *files, int n, bool ok)
{
    char *tmp[8] = {NULL};
    if (n > 8)
        die("internal error: %d pending files", n);
    for (int i = 0; i < n; i++)
        if (files[i].f && fclose(files[i].f) != 0)
            die("out of memory");
    for (int i = 0; i < n && ok; i++)
        if (files[i].f && !(files[i].keep_same && same_content(&files[i])) && !(tmp[i] = pending_write(m, d, &files[i])))
            ok = false;
    for (int i = 0; i < n; i++) {
        if (tmp[i] && ok && rename(tmp[i], files[i].path) != 0) {
            diag_file_error(d, files[i].path, "cannot write: %s", strerror(errno));
            ok = false;
        }
        if (tmp[i] && !ok)
            unlink(tmp[i]);
        free(files[i].text);
        files[i] = (Pending){0};
    }
    return ok;
}

/* A path as make reads it: spaces and $ escaped. */
static void make_path(FILE *f, const char *path)
{
    for (const char *s = path; *s; s++) {
        if (*s == ' ' || *s == '#')
            fputc('\\', f);
        if (*s == '$')
            fputc('$', f);
        fputc(*s, f);
    }
}

/* Like gcc -MD -MP: the outputs depend on the model and the weights (and
 * the self-test's data), and each input gets an empty rule so deleting it
 * does not break make. */
static void write_depfile(FILE *f, const Options *o, const char *header)
{
    make_path(f, o->output);
    fputc(' ', f);
    make_path(f, header);
    if (o->test.path) {
        fputc(' ', f);
        make_path(f, o->test.path);
    }
    fputs(":", f);
    const char *inputs[5] = {o->model, o->weights, o->test.input, o->test.expected, o->calibrate};
    for (int i = 0; i < 5; i++) {
        if (!inputs[i])
            continue;
        fputc(' ', f);
        make_path(f, inputs[i]);
    }
    fputs("\n", f);
    for (int i = 0; i < 5; i++) {
        if (!inputs[i])
            continue;
        fputs("\n", f);
        make_path(f, inputs[i]);
        fputs(":\n", f);
    }
}

/* Checks the net fits the emitter, then loads (-w) or invents (--init)
 * its weights. */
static bool bind_weights(Mem *m, Diag *d, Net *net, const Options *o)
{
    if (!emit_fits(d, net))
        return false;
    if (o->weights ? !weights_load(m, d, net, o->weights) : !weights_init(m, net, o->init)) {
        if (!o->weights)
            diag_file_error(d, o->init, "bad --init value; use zeros, random or random:SEED");
        return false;
    }
    return true;
}

/* Loads or invents the weights, then writes the C, its header and the
 * dependency file, all or nothing. */
static bool generate(Mem *m, Diag *d, Net *net, const Options *o)
{
    if (!bind_weights(m, d, net, o))
        return false;
    const char *header = swap_extension(m, o->output, ".h");
    const char *slash = strrchr(header, '/');
    EmitOptions eo = {
        .argc = o->argc,
        .argv = o->argv,
        .weights_note = o->weights ? o->weights
                                   : mem_printf(m, "--init=%s: placeholder values, not trained weights", o->init),
        .header_name = slash ? slash + 1 : header,
        .unroll_budget = o->unroll_budget,
        .tune_host = o->tune_host,
    };
    Pending files[4] = {{0}};
    bool ok = pending_open(d, &files[0], o->output) && pending_open(d, &files[1], header);
    files[1].keep_same = true;
    if (ok && o->make_deps)
        ok = pending_open(d, &files[2], o->depfile ? o->depfile : swap_extension(m, o->output, ".d"));
    if (ok && o->test.path)
        ok = pending_open(d, &files[3], o->test.path);
    if (ok && net->quantized)
        ok = quant_import(m, d, net);
    else if (ok && o->quantize)
        ok = quant_calibrate(m, d, net, o->calibrate);
    if (ok) {
        int errors = d->errors;
        if (net->quantized)
            emit_q8_c(m, d, net, &eo, "none: the model's own int8 params", !net->float_io, files[0].f, files[1].f);
        else if (o->quantize)
            emit_q8_c(m, d, net, &eo, o->calibrate, o->int8_io, files[0].f, files[1].f);
        else
            emit_c(m, d, net, &eo, files[0].f, files[1].f);
        if (o->test.path)
            st_emit(m, d, net, &o->test, eo.header_name, files[3].f);
        if (o->make_deps)
            write_depfile(files[2].f, o, header);
        ok = d->errors == errors;
    }
    return pending_commit(m, d, files, 4, ok);
}

/* Without -o, for --report and --validate: the weights bound and the net
 * quantized as generate would, and the int8 code planned (net->q8). */
static bool quantize_only(Mem *m, Diag *d, Net *net, const Options *o)
{
    if (!bind_weights(m, d, net, o))
        return false;
    if (net->quantized ? !quant_import(m, d, net) : !quant_calibrate(m, d, net, o->calibrate))
        return false;
    EmitOptions eo = {.argc = o->argc, .argv = o->argv, .unroll_budget = o->unroll_budget, .tune_host = o->tune_host};
    int errors = d->errors;
    emit_q8_plan(m, d, net, &eo, net->quantized ? !net->float_io : o->int8_io);
    return d->errors == errors;
}

/* Beyond these a model fits no microcontroller: the largest have a few
 * MiB of RAM (16 with external PSRAM) and 64 MiB of (external) flash. */
#define MCU_ARENA_BYTES (16 << 20)
#define MCU_WEIGHT_BYTES (64 << 20)

/* Says so when the model is far too large for what cnnc targets; it may
 * still be generated, for a larger machine or to compare. */
static void warn_size(Diag *d, const Net *net)
{
    if (net->arena_bytes > MCU_ARENA_BYTES)
        diag_warning(d, net->name_loc, "arena of %.1f MiB will not fit a microcontroller (more than %d MiB of RAM)",
                     net->arena_bytes / 1048576.0, MCU_ARENA_BYTES >> 20);
    if (net->weight_bytes > MCU_WEIGHT_BYTES)
        diag_warning(d, net->name_loc,
                     "weights of %.1f MiB will not fit a microcontroller (more than %d MiB of flash)",
                     net->weight_bytes / 1048576.0, MCU_WEIGHT_BYTES >> 20);
}

/* Runs the front end and analysis; false when the model has errors. */
static bool compile_model(Mem *m, Diag *d, bool fusion, Net **out)
{
    /* A weights file or any other binary given as the model would get an
     * error per byte; one that says what it is helps more. */
    const char *nul = memchr(d->src, '\0', d->srclen);
    if (nul) {
        Loc at = {1, 1, 2};
        for (const char *p = d->src; p < nul; p++, at.col++)
            if (*p == '\n')
                at = (Loc){at.line + 1, 0, 0};
        at.end_col = at.col + 1;
        diag_error(d, at, "a NUL byte: this is a binary file, not a .net model (weights are given with -w)");
        return false;
    }
    /* Classic Mac line ends: to the scanner the whole file is one line. */
    if (!memchr(d->src, '\n', d->srclen) && memchr(d->src, '\r', d->srclen)) {
        diag_error(d, (Loc){1, 1, 1}, "lines end in CR alone; save the file with LF (or CRLF) line ends");
        return false;
    }
    Stmt *stmts = parse_source(m, d, d->src, d->srclen);
    if (!stmts && d->errors == 0) {
        diag_error(d, (Loc){1, 1, 1}, "the file is empty; a model starts with 'network NAME'");
        return false;
    }
    Net *net = ir_build(m, d, stmts);
    analyze(net, d);
    if (d->errors)
        return false;
    fuse(net, fusion);
    plan(m, net);
    warn_size(d, net);
    *out = net;
    return true;
}

/* The arena with fusion the other way than `fused`, for the report: the
 * model built again aside, quietly (its diagnostics were given already),
 * so the net being generated keeps its own groups and plan. -1 if it
 * cannot be. */
static int64_t other_arena(const Diag *d, bool fused)
{
    FILE *quiet = fopen("/dev/null", "w");
    if (!quiet)
        return -1;
    Mem m = {0};
    Diag q;
    diag_init(&q, d->path, d->src, d->srclen, quiet);
    Net *net = NULL;
    int64_t arena = compile_model(&m, &q, !fused, &net) ? net->arena_bytes : -1;
    diag_flush(&q);
    fclose(quiet);
    mem_free(&m);
    return arena;
}

/* Whether two paths name one existing file. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The files -o writes must be distinct and must not be an input: '-o
 * net.h' would write the C over its own header, '-o model.net' the model.
 * Returns -1 to go on, or the usage error's status. */
static int check_outputs(const Options *o)
{
    if (!o->output)
        return -1;
    Mem m = {0};
    const char *outs[4] = {o->output, swap_extension(&m, o->output, ".h"),
                           o->make_deps ? (o->depfile ? o->depfile : swap_extension(&m, o->output, ".d")) : NULL,
                           o->test.path};
    const char *ins[6] = {o->model, o->weights, o->test.input, o->test.expected, o->calibrate, o->validate};
    int status = -1;
    for (int i = 0; i < 4 && status < 0; i++) {
        for (int j = 0; j < i && outs[i] && status < 0; j++)
            if (outs[j] && strcmp(outs[i], outs[j]) == 0)
                status = usage_error("'%s' would be written twice; -o FILE.c also writes FILE.h, so give distinct names",
                                     outs[i]);
        for (int j = 0; j < 6 && outs[i] && status < 0; j++)
            if (same_file(outs[i], ins[j]))
                status = usage_error("writing '%s' would overwrite an input; choose another -o", outs[i]);
    }
    mem_free(&m);
    return status;
}

int main(int argc, char **argv)
{
    Options o = {.unroll_budget = DEFAULT_UNROLL};
    int status = parse_options(&o, argc, argv);
    if (status < 0)
        status = check_outputs(&o);
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
    bool ok = compile_model(&mem, &diag, !o.no_fuse, &net);
    if (ok && net->quantized && (o.quantize || o.int8_io)) {
        diag_error(&diag, net->input->loc,
                   "the model is int8 already (its input gives scale= and zero_point=): drop %s; "
                   "dtype=float32 on the input gives a float interface",
                   o.quantize ? "--quantize and --calibrate" : "--int8-io");
        ok = false;
    }
    if (ok && o.validate && !net->quantized && !o.quantize) {
        diag_file_error(&diag, o.validate, "--validate measures int8 code: give --quantize=int8 (or an int8 model)");
        ok = false;
    }
    if (ok && o.validate)
        ok = quant_check_inputs(&diag, o.validate, "validation data", net);
    if (ok && o.output)
        ok = generate(&mem, &diag, net, &o);
    else if (ok && (o.report || o.validate) && (o.quantize || net->quantized) && (o.weights || o.init))
        ok = quantize_only(&mem, &diag, net, &o);
    diag_flush(&diag);
    if (ok && o.report == REPORT_TEXT) {
        report_text(net, stdout);
        EmitOptions eo = {.unroll_budget = o.unroll_budget, .tune_host = o.tune_host};
        ReportOptions ro = {.emit = &eo, .fused = !o.no_fuse, .other_arena = net->q8 ? -1 : other_arena(&diag, !o.no_fuse),
                            .int8 = o.quantize != NULL || net->quantized};
        report_tradeoffs(net, &ro, stdout);
        if (net->input->quant)
            quant_report(net, stdout);
    }
    /* int8 against float: on held-out inputs, or on the calibration data with --report */
    const char *vdata = o.validate ? o.validate : o.report == REPORT_TEXT ? o.calibrate : NULL;
    if (ok && vdata && net->input->quant) {
        fflush(stdout);
        ok = validate_int8(&diag, net, vdata, o.validate ? "--validate" : "the calibration data", stdout);
        diag_flush(&diag);
    }
    else if (ok && o.report == REPORT_JSON)
        report_json(net, stdout);
    else if (ok && o.report == REPORT_SVG) {
        SvgOptions so = {.int8 = o.quantize != NULL || net->quantized,
                         .int8_io = net->quantized ? !net->float_io : o.int8_io};
        svg_report(&mem, net, &so, stdout);
    }
    mem_free(&mem);
    free(src);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cnnc: error: cannot write the report: %s\n", strerror(errno));
        return 1;
    }
    return ok ? 0 : 1;
}
