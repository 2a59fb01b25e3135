/* fuzz_weights.c: libFuzzer target for binding weights to a model. The
 * input is a .net model, a NUL byte, then a safetensors file (the seeds
 * pair each reference model with its real weights, so most mutations
 * reach the binding). When the model compiles, the weights are loaded
 * through weights_load as cnnc -w does, and when they bind, C is
 * generated with them. */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The weights as a file weights_load can open, without touching disk. */
static int weights_file(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
    int fd = memfd_create("fuzz.safetensors", 0);
    FUZZ_CHECK(fd >= 0);
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul)
        return 0; /* fuzz_net covers models alone */
    size_t netlen = (size_t)(nul - data);
    FuzzRun r;
    if (fuzz_compile(&r, (const char *)data, netlen) && fuzz_small(r.net)) {
        char path[64];
        int fd = weights_file(nul + 1, size - netlen - 1, path, sizeof path);
        int errors = r.diag.errors;
        bool ok = weights_load(&r.mem, &r.diag, r.net, path);
        close(fd);
        FUZZ_CHECK(ok == (r.diag.errors == errors));
        if (ok) {
            /* every tensor the model needs is bound */
            for (int i = 1; i < r.net->nlayers; i++)
                for (int k = 0; k < weights_count(r.net->layers[i]); k++)
                    FUZZ_CHECK(r.net->layers[i]->tensor[k] != NULL);
            fuzz_emit(&r);
        }
    }
    fuzz_finish(&r);
    return 0;
}
