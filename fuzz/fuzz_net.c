/* fuzz_net.c: libFuzzer target for the .net front end. The input is a
 * model file: it is parsed, built, analysed and planned; its reports are
 * written to memory, and when it compiles and is small, C is generated
 * for it with placeholder weights. Beyond the sanitizers, the target
 * checks what the compiler promises: every error counted is printed, a
 * model without errors has sane shapes and a plan whose live buffers
 * never share bytes, and the generated C is not cut short. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzRun r;
    if (fuzz_compile(&r, (const char *)data, size)) {
        char *rep = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&rep, &len);
        FUZZ_CHECK(f != NULL);
        report_json(r.net, f);
        report_text(r.net, f);
        fclose(f);
        free(rep);
        if (fuzz_small(r.net) && weights_init(&r.mem, r.net, "random:1"))
            fuzz_emit(&r);
    }
    fuzz_finish(&r);
    return 0;
}
