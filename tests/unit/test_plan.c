/* test_plan.c: buffers, liveness, the arena and the layer-by-layer bound.
 * Expected bytes are worked by hand in the comments (float32: 4 bytes a
 * value) from generated-c.md's rules: single-input elementwise ops and
 * flatten run in place, add and concat write a new buffer, the input and
 * the outputs live in the caller's memory. The bound is defined layer by
 * layer whatever fuse() decides; the arena is planned for the groups
 * fuse() forms, so most tests here plan without fusion (fuse(net, false):
 * only batchnorm folding), and the fused arena is checked on LeNet-5
 * against cli.md's figure. */
#include "testutil.h"

#include <glob.h>

/* Compiles src as tu_compile() does, but with fusion on or off. */
static Compiled *compile_plan(const char *src, bool fused)
{
    Compiled *c = calloc(1, sizeof *c);
    assert_non_null(c);
    FILE *out = open_memstream(&c->messages, &c->messages_len);
    assert_non_null(out);
    diag_init(&c->diag, "t.net", src, strlen(src), out);
    c->net = ir_build(&c->mem, &c->diag, parse_source(&c->mem, &c->diag, src, strlen(src)));
    analyze(c->net, &c->diag);
    diag_flush(&c->diag);
    fclose(out);
    c->errors = c->diag.errors;
    c->warnings = c->diag.warnings;
    if (c->errors)
        fail_msg("unexpected errors:\n%s", c->messages);
    fuse(c->net, fused);
    plan(&c->mem, c->net);
    return c;
}

/* Layer by layer: no fusion, each layer's output stored. */
static Compiled *compile_ok(const char *src)
{
    return compile_plan(src, false);
}

/* Checks the placement: every arena buffer lies in [0, arena), and two
 * buffers live at a common step never share a byte. */
static void assert_placement_valid(const Net *net, const char *what, bool fused)
{
    int nb = net->nbufs;
    bool *arena = calloc((size_t)nb + 1, sizeof *arena);
    assert_non_null(arena);
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i]->buf >= 0)
            arena[net->layers[i]->buf] = true;
    int64_t sum = 0;
    for (int a = 0; a < nb; a++) {
        if (!arena[a])
            continue;
        sum += net->buf_bytes[a];
        if (net->buf_offset[a] < 0 || net->buf_offset[a] + net->buf_bytes[a] > net->arena_bytes)
            fail_msg("%s: buffer %d outside the arena", what, a);
        for (int b = a + 1; b < nb; b++) {
            if (!arena[b])
                continue;
            bool live_together = net->buf_first[a] <= net->buf_last[b] && net->buf_first[b] <= net->buf_last[a];
            bool share = net->buf_offset[a] < net->buf_offset[b] + net->buf_bytes[b] &&
                         net->buf_offset[b] < net->buf_offset[a] + net->buf_bytes[a];
            if (live_together && share)
                fail_msg("%s: buffers %d and %d are live together and overlap", what, a, b);
        }
    }
    /* unfused, no placement beats the most bytes live at once; fused
     * groups store less, which is how the arena goes below the bound */
    if (!fused)
        assert_true(net->arena_bytes >= net->bound_bytes);
    assert_true(net->arena_bytes <= sum);
    free(arena);
}

static void test_plan_lenet_bound(void **state)
{
    (void)state;
    /* generated-c.md: 23,520 B, while s2 reads c1's 6*28*28*4 = 18,816 B
     * and writes 6*14*14*4 = 4,704 B. The other steps need less: c3 reads
     * 4,704 and writes 16*10*10*4 = 6,400; s4 6,400 + 1,600; ... */
    size_t n;
    char *src = tu_read_file("models/lenet5.net", &n);
    Compiled *c = compile_ok(src);
    Net *net = c->net;
    assert_int_equal(net->bound_bytes, 23520);
    assert_placement_valid(net, "lenet5", false);
    /* the input is the caller's; relu runs in place over c1, flatten over s4 */
    assert_int_equal(tu_layer(c, "x")->buf, BUF_INPUT);
    assert_int_equal(tu_layer(c, "relu_1")->buf, tu_layer(c, "c1")->buf);
    assert_int_not_equal(tu_layer(c, "s2")->buf, tu_layer(c, "c1")->buf);
    assert_int_equal(tu_layer(c, "flatten_1")->buf, tu_layer(c, "s4")->buf);
    /* softmax (the output) runs in place over f7: both are the caller's output 0 */
    assert_int_equal(tu_layer(c, "softmax_1")->buf, BUF_OUTPUT(0));
    assert_int_equal(tu_layer(c, "f7")->buf, BUF_OUTPUT(0));
    /* the live steps of c1's buffer: written by c1 (step 1), read by s2 (step 3) */
    int b = tu_layer(c, "c1")->buf;
    assert_int_equal(net->buf_first[b], 1);
    assert_int_equal(net->buf_last[b], 3);
    assert_int_equal(net->buf_bytes[b], 18816);
    tu_free(c);
    free(src);
}

static void test_plan_chain_without_pools(void **state)
{
    (void)state;
    /* a: 4x4x4 = 256 B, b: 8x4x4 = 512 B, d: 1x4x4 the output. Steps: a
     * alone 256; b reads a: 768; d reads b: 512 (d is the caller's). The
     * arena can be no smaller than 768 and greedy placement reaches it. */
    Compiled *c = compile_ok("network n\ninput x 1x4x4\nconv2d a out=4 kernel=1\nconv2d b out=8 kernel=1\n"
                             "conv2d d out=1 kernel=1\n");
    assert_int_equal(c->net->bound_bytes, 768);
    assert_int_equal(c->net->arena_bytes, 768);
    assert_int_equal(tu_layer(c, "d")->buf, BUF_OUTPUT(0));
    assert_placement_valid(c->net, "chain", false);
    tu_free(c);
}

static void test_plan_residual_liveness(void **state)
{
    (void)state;
    /* a, b, d: 2x4x4 = 128 B each; s = add(a, d) is the output. a lives
     * from step 1 to the add (step 4), b from 2 to 3, d from 3 to 4: at
     * step 3, a, b and d are all live: 384 B */
    Compiled *c = compile_ok("network n\ninput x 1x4x4\nconv2d a out=2 kernel=1\nconv2d b out=2 kernel=1\n"
                             "conv2d d out=2 kernel=1\nadd s from=a,d\n");
    Net *net = c->net;
    int a = tu_layer(c, "a")->buf, b = tu_layer(c, "b")->buf, d = tu_layer(c, "d")->buf;
    assert_int_equal(net->buf_first[a], 1);
    assert_int_equal(net->buf_last[a], 4);
    assert_int_equal(net->buf_first[b], 2);
    assert_int_equal(net->buf_last[b], 3);
    assert_int_equal(net->buf_first[d], 3);
    assert_int_equal(net->buf_last[d], 4);
    assert_int_equal(net->bound_bytes, 384);
    assert_int_equal(net->arena_bytes, 384);
    assert_placement_valid(net, "residual", false);
    tu_free(c);
}

static void test_plan_disjoint_lifetimes_share_bytes(void **state)
{
    (void)state;
    /* 1x4x4 tensors, 64 B each. b reads a, d reads b: a is dead after
     * step 2, so d (written at step 3) may take a's bytes. Steps: 1 a;
     * 2 a+b = 128; 3 b+d = 128; 4 d (e is the caller's output). */
    Compiled *c = compile_ok("network n\ninput x 1x4x4\nconv2d a out=1 kernel=1\nconv2d b out=1 kernel=1\n"
                             "conv2d d out=1 kernel=1\nconv2d e out=1 kernel=1\n");
    Net *net = c->net;
    assert_int_equal(net->bound_bytes, 128);
    assert_int_equal(net->arena_bytes, 128);
    assert_int_equal(net->buf_offset[tu_layer(c, "a")->buf], net->buf_offset[tu_layer(c, "d")->buf]);
    assert_placement_valid(net, "disjoint", false);
    tu_free(c);
}

static void test_plan_in_place_rules(void **state)
{
    (void)state;
    const char src[] = "network n\ninput x 1x4x4\n"
                       "relu r0\n"                  /* reads the caller's const input: new buffer */
                       "conv2d a out=2 kernel=1\n"
                       "relu r1\n"                  /* a's last reader: in place */
                       "sigmoid r2\n"               /* in place again */
                       "relu r3\n"                  /* r2 is read again below: not in place */
                       "add s from=r2,r3\n"         /* add always writes a new buffer */
                       "batchnorm2d bn\n"           /* in place over s */
                       "maxpool2d p kernel=1\n"     /* a window op: new buffer */
                       "flatten f\n"                /* in place */
                       "dropout d\n";               /* in place: the output */
    Compiled *c = compile_ok(src);
    int r0 = tu_layer(c, "r0")->buf;
    assert_true(r0 >= 0);
    int a = tu_layer(c, "a")->buf;
    assert_int_not_equal(a, r0);
    assert_int_equal(tu_layer(c, "r1")->buf, a);
    assert_int_equal(tu_layer(c, "r2")->buf, a);
    int r3 = tu_layer(c, "r3")->buf;
    assert_int_not_equal(r3, a);
    int s = tu_layer(c, "s")->buf;
    assert_int_not_equal(s, a);
    assert_int_not_equal(s, r3);
    assert_int_equal(tu_layer(c, "bn")->buf, s);
    /* p, f and d share p's buffer, which is the output */
    assert_int_equal(tu_layer(c, "p")->buf, BUF_OUTPUT(0));
    assert_int_equal(tu_layer(c, "f")->buf, BUF_OUTPUT(0));
    assert_int_equal(tu_layer(c, "d")->buf, BUF_OUTPUT(0));
    /* bytes: r0 64, a 128, r3 128, s 128. Steps are source positions
     * (x is 0): r0 lives 1-2, a's buffer 2-6 (r2 is last read by s at 6),
     * r3 5-6, s's buffer 6-8 (p reads bn at 8): at step 6,
     * a + r3 + s = 384 */
    assert_int_equal(c->net->bound_bytes, 384);
    assert_placement_valid(c->net, "in place", false);
    tu_free(c);
}

static void test_plan_outputs_are_never_overwritten(void **state)
{
    (void)state;
    /* a is an output and relu r reads it last: r must not run in place
     * over a, or the caller would get r's values as a */
    Compiled *c = compile_ok("network n\ninput x 1x4x4\nconv2d a out=2 kernel=1\nrelu r\noutput a r\n");
    assert_int_equal(tu_layer(c, "a")->buf, BUF_OUTPUT(0));
    assert_int_equal(tu_layer(c, "r")->buf, BUF_OUTPUT(1));
    assert_int_equal(c->net->arena_bytes, 0);
    assert_int_equal(c->net->bound_bytes, 0);
    tu_free(c);
    /* an output read by a conv and a flatten downstream stays intact too */
    c = compile_ok("network n\ninput x 1x4x4\nconv2d a out=2 kernel=1\nflatten f\nlinear l out=3\noutput l a\n");
    assert_int_equal(tu_layer(c, "a")->buf, BUF_OUTPUT(1));
    assert_true(tu_layer(c, "f")->buf >= 0);
    assert_int_equal(tu_layer(c, "l")->buf, BUF_OUTPUT(0));
    assert_int_equal(c->net->bound_bytes, 128); /* f's 32 values: 128 B */
    tu_free(c);
}

static void test_plan_input_is_never_written(void **state)
{
    (void)state;
    /* an elementwise op right after the input writes its own buffer, and
     * the input costs the arena nothing: 1x4x4 relu output 64 B, then the
     * output conv */
    Compiled *c = compile_ok("network n\ninput x 1x4x4\nrelu r\nconv2d a out=1 kernel=1\n");
    assert_int_equal(tu_layer(c, "x")->buf, BUF_INPUT);
    assert_true(tu_layer(c, "r")->buf >= 0);
    assert_int_equal(c->net->bound_bytes, 64);
    assert_int_equal(c->net->arena_bytes, 64);
    tu_free(c);
}

static void test_plan_lenet_fused_arena(void **state)
{
    (void)state;
    /* cli.md's example: arena 6,304 B beside the 23,520 B bound. With
     * c1+relu+s2 and c3+relu+s4 each one loop nest, only the pooled
     * tensors are stored: while the second group runs, s2's 6*14*14*4 =
     * 4,704 B are read and s4's 16*5*5*4 = 1,600 B written: 6,304 B; the
     * linear layers need less (1,600 + 480, ...) */
    char *src = tu_read_file("models/lenet5.net", NULL);
    Compiled *c = compile_plan(src, true);
    assert_int_equal(c->net->arena_bytes, 6304);
    assert_int_equal(c->net->bound_bytes, 23520);
    assert_placement_valid(c->net, "lenet5 fused", true);
    tu_free(c);
    free(src);
}

static void test_plan_every_model_is_packed_validly(void **state)
{
    (void)state;
    /* both views of every model: no two buffers live at once share a
     * byte; fusion leaves the layer-by-layer bound as it is and does not
     * make the arena larger */
    glob_t g;
    assert_int_equal(glob("models/*.net", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 9);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *src = tu_read_file(g.gl_pathv[i], NULL);
        Compiled *plain = compile_plan(src, false), *fused = compile_plan(src, true);
        assert_placement_valid(plain->net, g.gl_pathv[i], false);
        assert_placement_valid(fused->net, g.gl_pathv[i], true);
        assert_int_equal(fused->net->bound_bytes, plain->net->bound_bytes);
        if (fused->net->arena_bytes > plain->net->arena_bytes)
            fail_msg("%s: fused arena %lld B > unfused %lld B", g.gl_pathv[i], (long long)fused->net->arena_bytes,
                     (long long)plain->net->arena_bytes);
        tu_free(plain);
        tu_free(fused);
        free(src);
    }
    globfree(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_lenet_bound),
        cmocka_unit_test(test_plan_chain_without_pools),
        cmocka_unit_test(test_plan_residual_liveness),
        cmocka_unit_test(test_plan_disjoint_lifetimes_share_bytes),
        cmocka_unit_test(test_plan_in_place_rules),
        cmocka_unit_test(test_plan_outputs_are_never_overwritten),
        cmocka_unit_test(test_plan_input_is_never_written),
        cmocka_unit_test(test_plan_lenet_fused_arena),
        cmocka_unit_test(test_plan_every_model_is_packed_validly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
