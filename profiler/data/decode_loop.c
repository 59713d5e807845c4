/* pocketprof's decode loop: llama.cpp's sampler chain and decode, one token after another, in C.
 *
 * The child calls pp_decode_run once per burst instead of once per token from Python: each token
 * is sampled by the sampler chain (llama_sampler_sample), stamped on CLOCK_MONOTONIC (Python's
 * time.monotonic on Linux and macOS) and decoded, until `n` tokens, an end-of-generation token
 * (unless `ignore_eos`) or the first token stamped at or after `deadline`. Built on first use
 * against the installed llama.cpp (profiler/run/decode_loop.py); benchmarks/RESULTS.md, "The
 * decode loop in C", says why.
 *
 * Returns how many tokens it wrote to ids/stamps. *ended is 1 when an end token was sampled (not
 * written); *rc is llama_decode's code when one failed (its token is written, not decoded). The
 * last of the `n` tokens is decoded only when `decode_last` is set (a run that stops there does
 * not need it).
 */
#include <time.h>

#include "llama.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

int pp_decode_run(struct llama_context * ctx, struct llama_sampler * smpl, const struct llama_vocab * vocab,
                  int n, double deadline, int ignore_eos, int decode_last,
                  llama_token * ids, double * stamps, int * ended, int * rc) {
    *ended = 0;
    *rc = 0;
    for (int i = 0; i < n; i++) {
        const llama_token token = llama_sampler_sample(smpl, ctx, -1);
        const double t = now();
        if (!ignore_eos && llama_vocab_is_eog(vocab, token)) {
            *ended = 1;
            return i;
        }
        ids[i] = token;
        stamps[i] = t;
        if (i == n - 1 && !decode_last) {
            return n;
        }
        *rc = llama_decode(ctx, llama_batch_get_one(&ids[i], 1));
        if (*rc != 0 || t >= deadline) {
            return i + 1;
        }
    }
    return n;
}

int pp_decode_loop_version(void) { return 1; }
