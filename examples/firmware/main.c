/* main.c: the application of the firmware template. It runs the model's
 * self-test first (the framework's numbers, checked on this board), then
 * the network once more the way your code will: fill the input, run,
 * read the output.
 *
 * The Makefile passes NET, the network's name from the model's 'network'
 * line, and NET_UPPER: every generated symbol starts with them
 * (digits_run, DIGITS_INPUT_SIZE). */
#include <stdio.h>

#include "model.h"

#define PASTE_(a, b) a##b
#define PASTE(a, b) PASTE_(a, b)
#define STRING_(a) #a
#define STRING(a) STRING_(a)
/* NET_FN(_run) is digits_run; NET_MACRO(_INPUT_SIZE) is DIGITS_INPUT_SIZE. */
#define NET_FN(suffix) PASTE(NET, suffix)
#define NET_MACRO(suffix) PASTE(NET_UPPER, suffix)

#ifndef NO_SELFTEST
int NET_FN(_selftest)(void); /* from selftest.c, which cnnc --emit-test wrote */
#endif

/* The network's input, float32 CHW: your sensor data goes here. */
static float input[NET_MACRO(_INPUT_SIZE)];
/* Its output (a network with several outputs takes one buffer per output). */
static float output[NET_MACRO(_OUTPUT_SIZE)];

int main(void)
{
    int status = 0;
#ifndef NO_SELFTEST
    status = NET_FN(_selftest)(); /* prints PASS or FAIL; 0 when it passed */
#endif

    /* Your application: fill input[] and run the network. Here the input
     * is all zeros; NET_FN(_run_arena) takes the scratch memory from you
     * instead (NET_MACRO(_ARENA_BYTES) bytes) if you prefer. */
    NET_FN(_run)(input, output);
    int best = 0;
    for (int i = 1; i < NET_MACRO(_OUTPUT_SIZE); i++)
        if (output[i] > output[best])
            best = i;
    printf("%s: on an all-zero input, output %d scores highest (of %d)\n", STRING(NET), best,
           NET_MACRO(_OUTPUT_SIZE));
    return status;
}
