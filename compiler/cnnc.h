/* cnnc: a compiler from the .net CNN description language to specialized C.
 *
 * One module per phase; this header lists what each phase exports.
 *   mem.c       arena allocator, freed at once                  mem_
 *   diag.c      diagnostics for the user, die() for our bugs    diag_
 *   parse.c     flex/bison front end into statements            parse_
 *   ir.c        statements to a checked graph of layers         ir_
 *   analyze.c   shapes, counts, receptive fields                analyze()
 *   fuse.c      layers that run in one loop nest                fuse()
 *   plan.c      buffer liveness and the activation arena        plan()
 *   report.c    text and JSON reports                           report_
 *   svg.c       the report as a picture (--report=svg)          svg_
 *   weights.c   binding safetensors tensors to layers           weights_
 *   cwrite.c    C text the back ends print alike                cw_
 *   emit.c      the C back end                                  emit_
 *   interp.c    the float reference of the graph                interp_
 *   quant.c     int8 quantization: calibrated or imported       quant_
 *   qref.c      the int8 reference of the quantized graph       qref_
 *   emit_q8.c   the int8 back end                               emit_q8_
 *   selftest.c  a golden self-test to run on the board          st_
 *   main.c      the command line
 */
#ifndef CNNC_H
#define CNNC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CNNC_VERSION "0.1.0"

#if defined(__GNUC__)
#define NORETURN __attribute__((noreturn))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NORETURN
#define PRINTF(f, a)
#endif

/* ---- mem.c: every structure of one compilation lives in one Mem ---- */

typedef struct MemBlock MemBlock;
typedef struct Mem {
    MemBlock *blocks;
} Mem;

void *mem_alloc(Mem *m, size_t size); /* zeroed; dies when the machine is out of memory */
void *mem_array(Mem *m, size_t count, size_t size);
char *mem_strndup(Mem *m, const char *s, size_t n);
char *mem_strdup(Mem *m, const char *s);
char *mem_printf(Mem *m, const char *fmt, ...) PRINTF(2, 3);
void mem_free(Mem *m);

/* ---- diag.c ---- */

/* A span in the source: 1-based line and columns, end_col exclusive. */
typedef struct Loc {
    int line, col, end_col;
} Loc;

typedef struct DiagEntry DiagEntry;
typedef struct Diag {
    const char *path;  /* as the user named it */
    const char *src;   /* whole source text, for quoting lines */
    size_t srclen;
    FILE *out;         /* stderr, or a memory stream in tests */
    int errors, warnings;
    /* held until diag_flush(), to print in source order */
    DiagEntry *entries;
    int nentries, cap;
    FILE *stream;
    char *buf;
    size_t buflen;
    /* where each source line starts, built at the first quote so that
     * quoting stays linear however many diagnostics a file has */
    size_t *line_start;
    int nlines;
} Diag;

void diag_init(Diag *d, const char *path, const char *src, size_t srclen, FILE *out);
void diag_error(Diag *d, Loc loc, const char *fmt, ...) PRINTF(3, 4);
void diag_warning(Diag *d, Loc loc, const char *fmt, ...) PRINTF(3, 4);
void diag_note(Diag *d, Loc loc, const char *fmt, ...) PRINTF(3, 4);
/* A problem with a file as a whole (weights, output): "path: error: msg". */
void diag_file_error(Diag *d, const char *path, const char *fmt, ...) PRINTF(3, 4);
void diag_file_warning(Diag *d, const char *path, const char *fmt, ...) PRINTF(3, 4);
/* Prints what is held, in source order, and forgets it. */
void diag_flush(Diag *d);
NORETURN void die(const char *fmt, ...) PRINTF(1, 2);
#define unreachable() die("internal error: unreachable code at %s:%d", __FILE__, __LINE__)

/* ---- parse.c: syntax, before any meaning is given to names ---- */

typedef enum { VAL_INT, VAL_FLOAT, VAL_DIMS, VAL_WORD, VAL_LIST } ValKind;

typedef struct Value Value;
struct Value {
    ValKind kind;
    Loc loc;
    const char *text; /* source spelling (scalars) */
    Value *items;     /* VAL_LIST: the scalars, linked by next */
    int nitems;
    Value *next;
};

typedef struct Attr Attr;
struct Attr {
    const char *key;
    Loc loc;      /* the key */
    Value *value;
    Attr *next;
};

typedef enum { STMT_NETWORK, STMT_INPUT, STMT_OUTPUT, STMT_LAYER } StmtKind;

typedef struct Stmt Stmt;
struct Stmt {
    StmtKind kind;
    Loc loc;            /* the statement's first token */
    const char *op;     /* STMT_LAYER: the op word */
    const char *name;   /* may be NULL for unnamed layers and input */
    Loc name_loc;
    Value *dims;        /* STMT_INPUT */
    Value *names;       /* STMT_OUTPUT: words linked by next */
    Attr *attrs;        /* STMT_LAYER */
    bool dropped;       /* STMT_LAYER whose line had a syntax error: holds its place */
    Stmt *next;
};

/* Parses src; syntax errors go to d. Returns the statements (possibly partial). */
Stmt *parse_source(Mem *m, Diag *d, const char *src, size_t len);

/* ---- ir.c: the graph ---- */

typedef enum {
    OP_INPUT,
    OP_CONV2D,
    OP_MAXPOOL2D,
    OP_MINPOOL2D,
    OP_AVGPOOL2D,
    OP_SUMPOOL2D,
    OP_GLOBALAVGPOOL2D,
    OP_GLOBALMAXPOOL2D,
    OP_LINEAR,
    OP_FLATTEN,
    OP_BATCHNORM2D,
    OP_RELU,
    OP_RELU6,
    OP_SIGMOID,
    OP_TANH,
    OP_HARDSWISH,
    OP_LEAKYRELU,
    OP_SOFTMAX,
    OP_DROPOUT,
    OP_ADD,
    OP_CONCAT,
    OP_MEAN,
    OP_HARDSIGMOID,
    OP_MUL,
    OP_SILU,
    OP_GELU,
    OP_ELU,
    OP_PRELU,
    OP_HARDTANH,
    OP_PAD,
    OP_UPSAMPLE,
    OP_PIXELSHUFFLE,
    OP_CONVTRANSPOSE2D,
    OP_COUNT
} OpKind;

/* What an op is, for the passes that treat families alike. */
enum {
    OPF_WINDOW = 1 << 0,      /* slides a kernel window: conv and pools */
    OPF_ELEMENTWISE = 1 << 1, /* one input, same shape, each value on its own */
    OPF_GLOBAL = 1 << 2,      /* output sees the whole input: field becomes global */
    OPF_MULTI = 1 << 3,       /* reads several inputs given by from= */
    OPF_FLOAT_ONLY = 1 << 4,  /* no int8 form yet: --quantize and int8 models reject it */
};

typedef enum { KEY_OUT, KEY_KERNEL, KEY_STRIDE, KEY_PADDING, KEY_DILATION, KEY_GROUPS, KEY_BIAS,
               KEY_PADDING_MODE, KEY_CEIL_MODE, KEY_COUNT_INCLUDE_PAD, KEY_EPS, KEY_SLOPE, KEY_P,
               KEY_FROM, KEY_SCALE, KEY_ZERO_POINT, KEY_LAYOUT, KEY_DTYPE, KEY_ALPHA, KEY_BETA,
               KEY_APPROXIMATE, KEY_MIN, KEY_MAX, KEY_NUM_PARAMETERS, KEY_MODE, KEY_VALUE, KEY_FACTOR,
               KEY_ALIGN_CORNERS, KEY_OUTPUT_PADDING, KEY_COUNT } KeyKind;

typedef struct OpInfo {
    const char *name;
    unsigned flags;
    unsigned keys;     /* bit per KeyKind accepted */
    unsigned required; /* bit per KeyKind that must be given */
} OpInfo;

extern const OpInfo ir_ops[OP_COUNT];

typedef enum { PAD_EXPLICIT, PAD_SAME, PAD_VALID } PadRule;
typedef enum { PM_ZEROS, PM_REFLECT, PM_REPLICATE, PM_CIRCULAR } PadMode;

typedef struct Shape {
    int64_t c, h, w;
} Shape;

/* Receptive field along one axis, in input pixels: size/den, jump/den
 * and start2/(2*den). start2 is twice the start so that half-pixel
 * centres stay exact integers; den is 1 until an upsampling layer makes
 * the jump a fraction of an input pixel (den > 0, kept in lowest terms). */
typedef struct Field {
    int64_t size, jump, start2, den;
} Field;

typedef struct Layer Layer;
struct Layer {
    OpKind op;
    const char *name;
    Loc loc;       /* the op word */
    Loc name_loc;  /* the name, or the op word when unnamed */
    int index;     /* position in Net.layers */

    Layer **in;    /* producers, in from= order */
    Loc *in_loc;   /* where each producer is named (the op word when implicit) */
    int nin;
    Layer **users; /* consumers, in schedule order */
    int nusers;
    bool is_output;

    /* attributes, defaults applied */
    int64_t out;
    int64_t kernel[2], stride[2], dilation[2];
    PadRule pad_rule;
    int64_t pad[4]; /* top, bottom, left, right: resolved by analyze() for same/valid */
    int64_t groups;
    bool bias, ceil_mode, count_include_pad;
    PadMode pad_mode;
    double eps, slope, p, alpha, beta;
    double min_val, max_val;  /* hardtanh's range */
    bool gelu_tanh;           /* gelu approximate=tanh */
    int64_t num_parameters;   /* prelu: slopes, 1 or the channels */
    double pad_value;         /* pad mode=constant: the value of padded cells */
    int64_t factor[2];        /* upsample, pixelshuffle: output pixels per input pixel, per axis */
    bool bilinear, align_corners; /* upsample mode=bilinear, align_corners=true */
    int64_t out_pad[2];       /* convtranspose2d output_padding, per axis */
    Loc key_loc[KEY_COUNT]; /* where each key was given, for diagnostics */
    unsigned given;         /* bit per KeyKind given in the source */

    bool broken;           /* has errors already reported: analyze() skips it */
    const char *op_word;   /* the op as written: conv1d for a 1-D conv (op OP_CONV2D) */
    bool one_d;            /* a 1-D op (conv1d, maxpool1d, ...): works along W of a Cx1xL tensor */

    /* analyze() */
    bool ok;             /* shape known: false after an error here or upstream */
    Shape shape;
    int64_t params, macs;
    int64_t weight_floats; /* floats the generated code stores for this layer */
    Field rf[2];           /* H, W */
    bool rf_global;        /* after flatten/linear/global pooling */
    Layer *fold_into;      /* batchnorm folded into this conv */

    /* weights.c: float32 tensors in PyTorch layout, NULL when absent
     * (conv/linear: weight, bias; batchnorm: weight, bias, mean, var) */
    float *tensor[4];

    /* fuse(): layers that run in one loop nest form a group. The host's
     * function computes the whole group; the tail's tensor is the only
     * one stored, when the group runs (at the tail's step). */
    Layer *host;           /* NULL only for the input */
    Layer *tail;           /* on a host: the group's last layer */
    Layer *next_fused;     /* on a host and its members: the next member */
    Layer *pool;           /* on a conv host: the pool it reduces into */
    Layer *residual;       /* on a conv host: the other input of its fused add */

    /* plan() */
    int buf;               /* arena buffer id, or BUF_INPUT / BUF_OUTPUT(k) / BUF_NONE */
    bool residual_in_place; /* on a conv host: its output overwrites the residual */

    /* quant.c: the layer's int8 form, NULL until quant_calibrate() */
    struct QuantInfo *quant;

    /* an imported int8 model's own params for this tensor (scale=, zero_point=) */
    bool qgiven;
    float qscale;
    int32_t qzero;
    /* weights.c, int8 models: conv/linear weights as stored (PyTorch layout),
     * their scales (one per output channel, or one for all) and int32 biases
     * (NULL without bias) */
    int8_t *qweight;
    float *qwscale;
    int64_t nqwscale;
    int32_t *qbias;
};

/* Tensors that live in the caller's memory rather than the arena. */
#define BUF_INPUT (-1)
#define BUF_OUTPUT(k) (-2 - (k))
#define BUF_OUTPUT_INDEX(buf) (-2 - (buf))
#define BUF_NONE INT32_MIN /* a tensor inside a fused group: never stored */

typedef struct Net {
    const char *name;
    Loc name_loc;
    Layer **layers; /* schedule order = source order; layers[0] is the input */
    int nlayers;
    Layer *input;
    Layer **outputs;
    int noutputs;

    /* the caller's side (input statement): layout=hwc makes the input and
     * the outputs HWC; scale= makes the model int8 with its own params
     * (quantized), whose interface is int8 unless dtype=float32 (float_io) */
    bool hwc;
    bool quantized, float_io;
    /* the input was written CxL: tensors are Cx1xL and reports speak 1-D */
    bool one_d;

    /* analyze() */
    int64_t params, macs, weight_bytes;

    /* plan() */
    int nbufs;
    int64_t *buf_bytes, *buf_offset;
    int *buf_first, *buf_last; /* schedule steps a buffer is live */
    int64_t arena_bytes, bound_bytes;
    /* the int8 code's figures once emit_q8_c or emit_q8_plan ran: the
     * report then gives them instead of the float plan's */
    const struct Q8Plan *q8;
} Net;

/* Gives the statements meaning; errors go to d. NULL when nothing usable was built. */
Net *ir_build(Mem *m, Diag *d, Stmt *stmts);
Layer *ir_find(Net *net, const char *name);
const char *ir_op_name(OpKind op);
/* The op of a layer as its statement spells it (conv1d, batchnorm1d, ...). */
const char *ir_layer_op(const Layer *l);
int64_t ir_bytes(Shape s); /* float32 bytes of a tensor; analyze() keeps it from overflowing */

/* ---- analyze.c ---- */

/* Shapes, params, MACs, receptive fields, batchnorm folding; errors go to d. */
void analyze(Net *net, Diag *d);

/* ---- fuse.c ---- */

/* Groups layers into loop nests: batchnorm folded into its conv always;
 * with `enabled`, elementwise ops into their producer's store, a pool
 * into the conv before it, and an add into the conv that feeds it. */
void fuse(Net *net, bool enabled);

/* ---- plan.c ---- */

/* Assigns buffers by liveness and computes the arena and the layer-by-layer bound. */
void plan(Mem *m, Net *net);
/* Whether the caller's side of tensor l (the input or an output) is in
 * HWC order and that differs from CHW: such a tensor is reordered between
 * the caller's buffer and an arena buffer at the edge. */
bool plan_reordered(const Net *net, const Layer *l);

/* ---- weights.c ---- */

/* Reads every layer's tensors from a safetensors file, checking names,
 * dtypes and shapes; problems go to d. */
bool weights_load(Mem *m, Diag *d, Net *net, const char *path);
/* Placeholder weights: "zeros" or "random[:SEED]"; false if spec is bad. */
bool weights_init(Mem *m, Net *net, const char *spec);
/* How many tensors an op has, and their names' suffixes. */
int weights_count(const Layer *l);
const char *weights_suffix(const Layer *l, int i);
/* Elements of tensor i of the layer. */
int64_t weights_numel(const Layer *l, int i);
/* A conv's or linear's weights and bias, with batchnorm bn (or NULL)
 * folded in; *b is NULL for a layer without bias and no batchnorm. */
void weights_folded(Mem *m, const Layer *l, const Layer *bn, float **w, float **b);

/* ---- emit.c ---- */

typedef struct EmitOptions {
    int argc;                 /* the command line, for the banner */
    char **argv;
    const char *weights_note; /* where the weights came from, for the banner */
    const char *header_name;  /* what the .c file includes */
    int64_t unroll_budget;    /* kernel-window taps to unroll in all (--unroll) */
    bool tune_host;           /* --tune=host: loops a host compiler vectorizes */
} EmitOptions;

/* Whether every tensor fits what the generated C indexes with an int;
 * reports the first that does not. Checked before weights are made, so a
 * model too large to generate fails at once rather than after gigabytes. */
bool emit_fits(Diag *d, const Net *net);
/* Which kernel windows the C back end unrolls under opt's --unroll budget
 * (all under --tune=host): the busiest layers first, while their
 * multiply-add statements fit. */
typedef struct EmitUnrollPlan {
    bool *unroll;      /* per layer (Net.layers order): its window is unrolled */
    int candidates;    /* group hosts with a window (conv, pool, linear) */
    int unrolled;      /* of those, how many are unrolled */
    int64_t taps;      /* multiply-add statements the unrolled windows take */
    int64_t all_taps;  /* what unrolling every candidate would take (--unroll=full) */
    int64_t budget;    /* the budget in force; INT64_MAX for full or --tune=host */
} EmitUnrollPlan;
EmitUnrollPlan emit_unroll_plan(Mem *m, const Net *net, const EmitOptions *opt);
/* Writes the C file and its header; errors (sizes C cannot index) go to d. */
void emit_c(Mem *m, Diag *d, Net *net, const EmitOptions *opt, FILE *c_out, FILE *h_out);

/* ---- cwrite.c: C text every back end prints alike ---- */

/* The network's name in capitals, as the header's macros spell it. */
const char *cw_upper(Mem *m, const char *s);
/* s with every comment closer broken up, for quoting user text in comments. */
const char *cw_comment_safe(Mem *m, const char *s);
/* CxHxW, as the reports write shapes. */
const char *cw_shape(Mem *m, Shape s);

/* ---- selftest.c: a self-test for the board, from golden data ---- */

/* The command line's --emit-test, --test-input, --test-expected and
 * --test-tolerance. */
typedef struct SelftestOptions {
    const char *path;     /* the C file to write; NULL when not asked for */
    const char *input;    /* raw float32 LE inputs, CHW, samples one after another */
    const char *expected; /* per sample, the outputs in declaration order */
    double tolerance;     /* relative; 0 for the default of the reference tests */
    char error[160];      /* the usage error when parsing or checking fails */
} SelftestOptions;

/* The --help lines of the options. */
extern const char st_usage[];
/* Whether arg is one of the options (st_parse_option takes it). */
bool st_is_option(const char *arg);
/* Takes argv[*i] and its value; false with so->error set on a usage error. */
bool st_parse_option(SelftestOptions *so, int argc, char **argv, int *i);
/* Checks the options fit together and with -o (output, or NULL); false
 * with so->error set if not. */
bool st_check_options(SelftestOptions *so, const char *output);
/* Writes the self-test C file, which includes header_name; problems
 * with the golden data go to d. */
void st_emit(Mem *m, Diag *d, Net *net, const SelftestOptions *so, const char *header_name, FILE *out);

/* ---- report.c ---- */

void report_text(Net *net, FILE *out);
/* The options in force, for the report's lines on what they cost. */
typedef struct ReportOptions {
    const EmitOptions *emit; /* --unroll and --tune */
    bool fused;              /* fusion on (no --no-fuse) */
    int64_t other_arena;     /* the arena with fusion the other way, or -1 if unknown */
    bool int8;               /* --quantize=int8: the int8 back end ignores --unroll */
} ReportOptions;
/* After report_text: what fusion and --unroll do to this model, and what
 * --no-fuse (or fusion) and --unroll=none / full would give instead. */
void report_tradeoffs(Net *net, const ReportOptions *ro, FILE *out);
void report_json(Net *net, FILE *out);
/* Formats n with thousands separators into buf. */
const char *report_thousands(int64_t n, char *buf, size_t len);

/* ---- svg.c ---- */

typedef struct SvgOptions {
    bool int8;    /* show the int8 back end's arena (Layer.quant set) */
    bool int8_io; /* --int8-io: the int8 input stays in the caller's memory */
} SvgOptions;
/* The layer graph, the arena timeline and the receptive field of the
 * last feature map as one SVG document; scratch allocations in m. */
void svg_report(Mem *m, const Net *net, const SvgOptions *so, FILE *out);

/* ---- interp.c: the float reference of the analysed graph ---- */

/* Runs net (analysed without errors, weights bound) on one CHW float32
 * input and returns every layer's output, indexed by Layer.index (CHW,
 * allocated in m; [0] is a copy of the input). Plain loops with PyTorch's
 * semantics, batchnorm not folded, sums in double. For calibration. */
float **interp_run(Mem *m, const Net *net, const float *input);

/* ---- quant.c: int8 quantization, the TFLite / CMSIS-NN scheme ---- */

/* An int8 tensor: real = scale * (q - zero_point). */
typedef struct QParams {
    float scale;
    int32_t zero_point;
} QParams;

/* How a layer's int8 output is computed (runtime/cnnc_q8.h gives each kernel). */
typedef enum {
    QK_QUANTIZE, /* the input: q = clamp(round(x / scale) + zp) */
    QK_CONV,     /* conv2d (any groups), a folded batchnorm included */
    QK_LINEAR,
    QK_AFFINE,   /* batchnorm not folded: a 1x1 depthwise conv, one weight per channel */
    QK_MAXPOOL,  /* maxpool2d, globalmaxpool2d: int8 compare, params of the input */
    QK_MINPOOL,
    QK_AVGPOOL,  /* avgpool2d, globalavgpool2d: rounded division, params of the input */
    QK_SUMPOOL,  /* sum of (q - in zp), requantized */
    QK_ADD,      /* TFLite's Add: inputs << 20, rescaled to 2*max(scale), summed, requantized */
    QK_CONCAT,   /* inputs requantized to the output's params where they differ */
    QK_CLAMP,    /* relu, relu6 on their own: params of the input, y = clamp(x) */
    QK_LUT,      /* sigmoid, tanh, hardswish, hardsigmoid, leakyrelu: y = lut[x + 128] */
    QK_SOFTMAX,  /* over channels, TFLM's (gemmlowp fixed point, exp table); output 1/256, zp -128 */
    QK_MEAN,     /* an imported mean: TFLM's MEAN over H, W (sum, one requantization) */
    QK_IDENTITY, /* flatten, dropout: the input's bytes */
    QK_MUL,      /* TFLite's MUL: (a - za) * (b - zb) requantized by sa*sb/so; a Cx1x1 gate broadcast */
    QK_GATHER,   /* pad, nearest upsample, pixelshuffle: values moved, params of the input (TFLite's PAD,
                  * RESIZE_NEAREST_NEIGHBOR, DEPTH_TO_SPACE); constant padding is pad_q */
    QK_FUSED,    /* folded batchnorm, fused relu/relu6: computed by fused_into */
} QKind;

/* A layer's int8 form: its tensor's params and its kernel's constants. */
typedef struct QuantInfo {
    QKind kind;
    float min, max;           /* calibrated range of the layer's float output */
    QParams out;              /* the int8 tensor this layer's name stands for */
    int32_t act_min, act_max; /* clamp of the stored values: -128..127 narrowed by relu/relu6 */
    Layer *fused_into;        /* QK_FUSED: the layer whose kernel produces this tensor */
    Layer *fused_act;         /* on that layer: the relu/relu6 in its clamp, or NULL */
    Layer *fused_bn;          /* on a conv: the batchnorm folded into its weights, or NULL */

    /* QK_CONV, QK_LINEAR, QK_AFFINE: per output channel c (nchan of them) */
    int64_t nchan;
    int8_t *weight;           /* PyTorch layout [out][in/groups][kh][kw], [out][in]; AFFINE [C] */
    float *weight_scale;      /* per channel, zero point 0 (0 for an all-zero channel) */
    int32_t *bias;            /* scale in.scale * weight_scale[c]; zeros when there is no bias */
    int32_t *wsum;            /* sum of weight[c][...], to fold -in_zp * wsum into the bias */
    int32_t *mult, *shift;    /* requantization of channel c, QuantizeMultiplier's */

    /* QK_SUMPOOL (in.scale / out.scale) and QK_ADD (2*max / (2^20 * out.scale)) */
    int32_t out_mult, out_shift;

    /* QK_ADD, QK_CONCAT: per input i (nin of them, as Layer.in) */
    int nin;
    int left_shift;           /* QK_ADD: 20 */
    int32_t *in_mult, *in_shift; /* ADD: in[i].scale / (2*max); CONCAT: in[i].scale / out.scale */
    bool *in_requant;         /* CONCAT: false when the input's params equal the output's (copy) */

    int8_t *lut;              /* QK_LUT: 256 entries, y = lut[x + 128] */
    int32_t *exp_lut;         /* QK_SOFTMAX: 256 entries by max - x, TFLM's exp in Q0.31 (tflm.h) */
    int32_t mean_bias;        /* QK_MEAN: -in zp * count; out_mult, out_shift the rescale by 1/count */
    int32_t pad_q;            /* QK_GATHER of a constant pad: the padded cells' int8 value */
} QuantInfo;

/* Runs the float interpreter on every input of a raw float32 file (CHW,
 * concatenated), records each tensor's range and quantizes the net:
 * Layer.quant for every layer. Problems go to d; false after an error. */
bool quant_calibrate(Mem *m, Diag *d, Net *net, const char *path);
/* Same, from count inputs in memory. */
bool quant_calibrate_data(Mem *m, Diag *d, Net *net, const float *inputs, int64_t count);
/* Calls fn on each input of a raw float32 file (the model's input layout,
 * whole inputs concatenated), reordered to CHW; what names the data in
 * errors ("calibration data"). False after reporting (nothing run when the
 * size is not a whole number of inputs). */
bool quant_each_input(Diag *d, const char *path, const char *what, const Net *net,
                      void (*fn)(void *ctx, const float *chw), void *ctx);
/* Only the size check of quant_each_input, before anything is generated. */
bool quant_check_inputs(Diag *d, const char *path, const char *what, const Net *net);
/* An int8 model's own quantization (Net.quantized): every tensor's params
 * from the model, weights, scales and biases as stored, the constants
 * computed as TensorFlow Lite's kernels compute them. Layer.quant for
 * every layer; problems go to d; false after an error. */
bool quant_import(Mem *m, Diag *d, Net *net);
/* Whether layer l has an int8 form: not prelu, convtranspose2d or a
 * bilinear upsample yet (quantizing a net with one is refused). */
bool quant_has_int8(const Layer *l);
/* Prints each tensor's scale, zero point, range and clamp as a text table. */
void quant_report(Net *net, FILE *out);

/* Activation params from a calibrated range, widened to include 0 (TFLite's). */
QParams quant_params(float min, float max);
/* TFLite's QuantizeMultiplier: m = mult * 2^(shift - 31), mult in [2^30, 2^31). */
void quant_multiplier(double m, int32_t *mult, int32_t *shift);
/* zp + round(f / scale), clamped to int8: where real value f lands. */
int32_t quant_value(QParams p, float f);

/* ---- qref.c: the int8 reference ----
 * A plain, slow, obviously correct int8 inference of a quantized net,
 * written from the quantization scheme (TFLite / CMSIS-NN arithmetic)
 * rather than from runtime/cnnc_q8.h or any back end: fixed-point
 * primitives computed from their definitions in wide integers, every
 * kernel walking its window cell by cell with bounds checks, parameters
 * from Layer.quant. The oracle generated int8 code must equal bit for
 * bit, and what --validate compares with float. */

int32_t qref_srdhm(int32_t a, int32_t b);
/* x / 2^e rounded to nearest, half away from zero; e in 0..31. */
int32_t qref_rdbpot(int32_t x, int e);
/* acc * 2^max(shift,0) (wrapping in 32 bits), then srdhm by mult, then
 * rdbpot by max(-shift,0): TFLite's MultiplyByQuantizedMultiplier. */
int32_t qref_requant(int32_t acc, int32_t mult, int32_t shift);
/* sum / count rounded half away from zero (TFLite's average pool). */
int32_t qref_div_round(int32_t sum, int32_t count);
/* TFLite's AffineQuantize: round(x / scale) + zp with libm's roundf, saturated. */
int8_t qref_quantize(float x, QParams p);
/* TFLite's Dequantize: scale * (q - zp) in double, rounded to float. */
float qref_dequantize(int8_t q, QParams p);

/* Runs the quantized net (quant_calibrate or quant_import done) on a float input: returns
 * every layer's int8 tensor, by Layer.index (malloc'd; qref_free). A layer
 * of kind QK_FUSED holds the tensor of the layer that computes it. */
int8_t **qref_run(const Net *net, const float *input);
void qref_free(const Net *net, int8_t **t);
/* Layer l's int8 tensor back to float, by its params. */
void qref_dequantize_tensor(const Layer *l, const int8_t *q, float *out);

/* ---- validate.c: int8 against float, tensor by tensor ---- */

/* Runs every input of path (as quant_each_input) through the float
 * interpreter and the int8 reference and prints, per tensor, the largest
 * error, the RMSE and the cosine similarity of the dequantized int8 values
 * against float, and top-1 agreement for class-score outputs. what names
 * the inputs in the table's title. False after reporting. */
bool validate_int8(Diag *d, Net *net, const char *path, const char *what, FILE *out);

/* ---- emit_q8.c: the int8 back end ---- */

/* Writes the C file and its header for a calibrated net (quant_calibrate
 * done): the float API of emit_c, the input quantized and the outputs
 * dequantized at the edges, int8 kernels inside; with int8_io the input
 * and outputs are int8 instead (params in the header). calibration names
 * the calibration data for the banner. Errors go to d. */
void emit_q8_c(Mem *m, Diag *d, Net *net, const EmitOptions *opt, const char *calibration, bool int8_io,
               FILE *c_out, FILE *h_out);
/* Where emit_q8_c places every tensor and kernel scratch in its arena,
 * for the reports; arrays per layer (Net.layers order), -1 for none. */
typedef struct Q8Arena {
    int64_t *offset;        /* of the int8 tensor the layer stores */
    int64_t *scratch;       /* of its kernel's scratch */
    int64_t *scratch_bytes;
    int *last;              /* the last step reading its tensor; nlayers for outputs */
    int64_t bytes;          /* the arena: NAME_ARENA_BYTES */
} Q8Arena;
Q8Arena emit_q8_arena(Mem *m, Net *net, bool int8_io);

/* The memory of the int8 code: what its header states and the report
 * prints, counted from the code as it is generated. */
typedef struct Q8Plan {
    int64_t arena;      /* RAM bytes: int8 tensors and kernel scratch */
    int64_t bound;      /* the most tensor bytes live at one step: no placement does better */
    int64_t weights;    /* flash bytes of int8 weights (as packed for the kernels) */
    int64_t biases;     /* int32 biases (zero points folded in where the kernel does) */
    int64_t multipliers; /* int32 multipliers, shifts and per-channel kernel constants */
    int64_t tables;     /* lookup tables: activations, softmax's exp, add rescales */
    int64_t *tensor;    /* per layer: arena bytes of the tensor it stores (0: none or the caller's) */
    int64_t *at;        /* per layer: its tensor's arena offset, -1 when none */
    int64_t *scratch;   /* per layer: arena bytes of its kernel's scratch */
    int64_t *constants; /* per layer: flash bytes of its constants */
} Q8Plan;
/* The int8 code's memory without writing it (the emission runs into
 * nothing); sets net->q8. Errors go to d (as emit_q8_c's). */
const Q8Plan *emit_q8_plan(Mem *m, Diag *d, Net *net, const EmitOptions *opt, bool int8_io);
/* The sum of a plan's constants. */
int64_t q8_constant_bytes(const Q8Plan *p);

#endif
