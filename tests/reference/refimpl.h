/* refimpl.h: a second oracle for the generated C. A slow, direct
 * implementation of every op of docs/language.md over an analysed Net,
 * written from the language spec and PyTorch's semantics rather than from
 * the back end: no folding, no fusion, no shared buffers, every window
 * walked cell by cell with its bounds checked. Weights are read from
 * Layer.tensor[] in PyTorch layout, as weights.c loads them. */
#ifndef CNNC_REFIMPL_H
#define CNNC_REFIMPL_H

#include <stddef.h>
#include <stdint.h>

#include "cnnc.h"

/* Runs net on one CHW input. outputs[k] must hold the floats of
 * net->outputs[k]'s shape. Returns 0, or -1 with a message in err when the
 * net is something the reference refuses: a shape or padding that
 * disagrees with its own reading of the spec, missing weights, a pooling
 * window made only of padding. */
int ref_run(const Net *net, const float *input, float **outputs, char *err, size_t errlen);

/* Same, with every operand an op reads (input values, weights, statistics)
 * jittered by a random relative amount of up to 2^-23, a float rounding
 * or two; seed 0 means none. How far that moves the outputs measures how
 * ill-conditioned they are: how much float32 arithmetic, done in any
 * order, may legitimately disagree with the exact result. */
int ref_run_jittered(const Net *net, const float *input, float **outputs, uint64_t seed, char *err,
                     size_t errlen);

/* Same as ref_run, and also keeps every layer's output: tensors[i] (malloc'd, the
 * caller frees each) is layer i's, layers[0] being the input. For
 * narrowing a disagreement down to a layer. */
int ref_run_all(const Net *net, const float *input, float **tensors, char *err, size_t errlen);

#endif
