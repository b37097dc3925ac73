/* The domain transform's recursive filter (OpenCV's DTF_RF) of an interleaved many-channel image,
 * in place, in C (flowinpaint.methods.local_affine.EdgeAwareFilter).
 *
 * values: (H, W, C) float32, any C (at most MAX_STRIP_FLOATS); links: the first iteration's feedback a = alpha_1^d between
 * neighbouring pixels, horizontal (H, W - 1) and vertical (H - 1, W) float32; iteration i uses
 * their 2^(i-1)-th powers (alpha_i = alpha_1^(2^(i-1))), got by squaring. Each iteration runs,
 * as OpenCV's filter and flowinpaint.diffusion.domain_transform do, along every row forwards then
 * backwards, z_j = x_j + a (z_prev - x_j), then along every column the same way.
 *
 * OpenCV filters at most 4 channels per call and recomputes the links for each; here all channels
 * ride one pass, a row (for the horizontal sweeps) or a strip of columns (for the vertical ones)
 * stays in cache between its forward and backward sweep, and each thread owns whole rows or strips:
 * the result does not depend on the number of threads.
 */

#include <math.h>
#include <unistd.h>
#if defined(__SSE__)
#include <xmmintrin.h>
/* Denormal floats flushed to zero (FTZ) and read as zero (DAZ) in this thread: a link or a value
 * below 1.2e-38 (across a strong edge, a link's powers; far from any known value, the decayed
 * moments) is then 0 at full speed instead of taking a slow microcode path per operation (the
 * filter ran 3x slower on a guide whose edges made a fifth of its links so small). The previous
 * mode comes back after each pass: the OpenMP threads are shared with the rest of the process. */
#define FLUSH_DENORMALS(saved) const unsigned int saved = _mm_getcsr(); _mm_setcsr(saved | 0x8040)
#define RESTORE_DENORMALS(saved) _mm_setcsr(saved)
#else
#define FLUSH_DENORMALS(saved) (void)0
#define RESTORE_DENORMALS(saved) (void)0
#endif

#define ROW_BLOCK 8  /* rows swept together: independent recursions, so that their latencies overlap */
#define DEFAULT_L2 524288L  /* bytes, where the C library cannot say */
#define MIN_STRIP_FLOATS 64L  /* per row: whole cache lines, and enough of them for the prefetcher */
#define MAX_STRIP_FLOATS 1024L  /* and the most channels */
#define PIXELWISE_FROM 8  /* channels from which the vertical sweeps go pixel by pixel (see vertical_step) */

/* The link of iteration `iteration` (0-based) from the first one's: a^(2^iteration). */
static inline float link_at(float a, int iteration) {
    for (int k = 0; k < iteration; k++) a *= a;
    return a;
}

/* The forward and backward horizontal sweeps of rows [first, last). Always inlined, so that each
 * call with a constant `channels` (see SPECIALISED) gets its own loops of known length, which the
 * compiler vectorises whole; with a run-time count a few channels run as a scalar remainder loop. */
static inline __attribute__((always_inline)) void horizontal_rows(
        float *values, const float *links, long first, long last, long width, long channels, int iteration) {
    for (long j = 1; j < width; j++) {
        for (long row = first; row < last; row++) {
            const float weight = link_at(links[row * (width - 1) + j - 1], iteration);
            float *here = values + (row * width + j) * channels;
            const float *previous = here - channels;
            #pragma omp simd
            for (long c = 0; c < channels; c++) here[c] += weight * (previous[c] - here[c]);
        }
    }
    for (long j = width - 2; j >= 0; j--) {
        for (long row = first; row < last; row++) {
            const float weight = link_at(links[row * (width - 1) + j], iteration);
            float *here = values + (row * width + j) * channels;
            const float *next = here + channels;
            #pragma omp simd
            for (long c = 0; c < channels; c++) here[c] += weight * (next[c] - here[c]);
        }
    }
}

/* `call` with `channels` replaced by a constant for the counts the package filters (1 to 16), else as is. */
#define SPECIALISED(channels, call) \
    switch (channels) { \
        case 1: { const long channels = 1; call; break; } case 2: { const long channels = 2; call; break; } \
        case 3: { const long channels = 3; call; break; } case 4: { const long channels = 4; call; break; } \
        case 5: { const long channels = 5; call; break; } case 6: { const long channels = 6; call; break; } \
        case 7: { const long channels = 7; call; break; } case 8: { const long channels = 8; call; break; } \
        case 9: { const long channels = 9; call; break; } case 10: { const long channels = 10; call; break; } \
        case 11: { const long channels = 11; call; break; } case 12: { const long channels = 12; call; break; } \
        case 13: { const long channels = 13; call; break; } case 14: { const long channels = 14; call; break; } \
        case 15: { const long channels = 15; call; break; } case 16: { const long channels = 16; call; break; } \
        default: call; \
    }

static void horizontal_pass(float *values, const float *links, long height, long width, long channels, int iteration,
                            int threads) {
    const long blocks = (height + ROW_BLOCK - 1) / ROW_BLOCK;
    #pragma omp parallel num_threads(threads)
    {
        FLUSH_DENORMALS(saved);
        #pragma omp for schedule(static)
        for (long block = 0; block < blocks; block++) {
            const long first = block * ROW_BLOCK, last = first + ROW_BLOCK < height ? first + ROW_BLOCK : height;
            SPECIALISED(channels, horizontal_rows(values, links, first, last, width, channels, iteration))
        }
        RESTORE_DENORMALS(saved);
    }
}

/* One step of the vertical sweep on a strip of `count` floats of a row (whole pixels): here += w (other - here),
 * w the link of each float's pixel (links from the strip's first pixel). From PIXELWISE_FROM to 16
 * channels (a constant count: see SPECIALISED) pixel by pixel, each pixel's channels one vector
 * operation; with fewer, each float's link first spread into `weights`, then one long vector loop
 * (pixel by pixel filtered 12 channels 10 % faster, 3 channels 10 % slower; Xeon, 1024x436). */
static inline __attribute__((always_inline)) void vertical_step(float *here, const float *other, const float *links, long count, long channels,
                                 int iteration, float *weights) {
    if (channels >= PIXELWISE_FROM && channels <= 16) {
        for (long j = 0; j < count / channels; j++) {
            const float weight = link_at(links[j], iteration);
            float *pixel = here + j * channels;
            const float *beside = other + j * channels;
            #pragma omp simd
            for (long c = 0; c < channels; c++) pixel[c] += weight * (beside[c] - pixel[c]);
        }
        return;
    }
    for (long j = 0; j < count / channels; j++) {
        const float weight = link_at(links[j], iteration);
        for (long c = 0; c < channels; c++) weights[j * channels + c] = weight;
    }
    #pragma omp simd
    for (long k = 0; k < count; k++) here[k] += weights[k] * (other[k] - here[k]);
}

/* The vertical sweeps of the strip of pixels [from, from + count / channels), forwards then backwards. */
static inline __attribute__((always_inline)) void vertical_strip(
        float *values, const float *links, long height, long width, long from, long count, long channels,
        int iteration, float *weights) {
    const long row_length = width * channels;
    for (long row = 1; row < height; row++) {
        float *here = values + row * row_length + from * channels;
        vertical_step(here, here - row_length, links + (row - 1) * width + from, count, channels,
                      iteration, weights);
    }
    for (long row = height - 2; row >= 0; row--) {
        float *here = values + row * row_length + from * channels;
        vertical_step(here, here + row_length, links + row * width + from, count, channels, iteration,
                      weights);
    }
}

/* Bytes of a strip of columns (all rows): half of this core's L2 cache, so that the strip stays in
 * it between its forward and backward sweep. Wider strips make longer vector loops: at 2048x872
 * with 12 channels half of a 2 MiB L2 filters 1.35x faster than the 256 KiB budget fixed before
 * (which was half of the AMD EPYC's 512 KiB L2). */
static long strip_budget(void) {
#ifdef _SC_LEVEL2_CACHE_SIZE  /* glibc */
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#else
    const long l2 = 0;
#endif
    return (l2 > 0 ? l2 : DEFAULT_L2) / 2;
}

static void vertical_pass(float *values, const float *links, long height, long width, long channels, int iteration,
                          int threads) {
    long floats = strip_budget() / ((long)sizeof(float) * height);
    floats = floats < MIN_STRIP_FLOATS ? MIN_STRIP_FLOATS : floats > MAX_STRIP_FLOATS ? MAX_STRIP_FLOATS : floats;
    const long strip = floats / channels > 0 ? floats / channels : 1;  /* pixels */
    const long strips = (width + strip - 1) / strip;
    #pragma omp parallel num_threads(threads)
    {
        FLUSH_DENORMALS(saved);
        #pragma omp for schedule(static)
        for (long s = 0; s < strips; s++) {
            float weights[MAX_STRIP_FLOATS];
            const long from = s * strip, count = ((from + strip < width ? from + strip : width) - from) * channels;
            SPECIALISED(channels, vertical_strip(values, links, height, width, from, count, channels, iteration, weights))
        }
        RESTORE_DENORMALS(saved);
    }
}

/* The link exponents of rows [first, last) (see rf_link_exponents). Always inlined, so that each call
 * with a constant `guide_channels` (see SPECIALISED) gets a channel loop of known length, which the
 * compiler unrolls and vectorises across the pixels (with a run-time count, 6x slower). */
static inline __attribute__((always_inline)) void link_exponent_rows(
        const float *guide, long guide_channels, long first, long last, long height, long width, float scale,
        float steepness, float *horizontal, float *vertical) {
    for (long row = first; row < last; row++) {
        const float *here = guide + row * width * guide_channels;
        for (long j = 0; j + 1 < width; j++) {
            float sum = 0.0f;
            for (long g = 0; g < guide_channels; g++) sum += fabsf(here[(j + 1) * guide_channels + g] - here[j * guide_channels + g]);
            horizontal[row * (width - 1) + j] = scale + steepness * sum;
        }
        if (row + 1 == height) continue;
        const float *below = here + width * guide_channels;
        for (long j = 0; j < width; j++) {
            float sum = 0.0f;
            for (long g = 0; g < guide_channels; g++) sum += fabsf(below[j * guide_channels + g] - here[j * guide_channels + g]);
            vertical[row * width + j] = scale + steepness * sum;
        }
    }
}

/* The exponents of the first iteration's links of a guide (H, W, G) float32, log_alpha (1 + ratio
 * sum_g |dI_g|), between horizontal neighbours, (H, W - 1), and vertical ones, (H - 1, W): the
 * caller takes their exponential (vectorised, as C's expf is not). */
void rf_link_exponents(const float *guide, long guide_channels, long height, long width, double ratio,
                       double log_alpha, float *horizontal, float *vertical, int threads) {
    const float scale = (float)log_alpha, steepness = (float)(log_alpha * ratio);
    const long blocks = (height + ROW_BLOCK - 1) / ROW_BLOCK;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long block = 0; block < blocks; block++) {
        const long first = block * ROW_BLOCK, last = first + ROW_BLOCK < height ? first + ROW_BLOCK : height;
        const long channels = guide_channels;
        SPECIALISED(channels, link_exponent_rows(guide, channels, first, last, height, width, scale, steepness,
                                                 horizontal, vertical))
    }
}

/* values (H, W, C) filtered in place, `iterations` times, with the links exp(rf_link_exponents). */
void rf_filter(float *values, const float *horizontal_links, const float *vertical_links, long height, long width,
               long channels, int iterations, int threads) {
    for (int iteration = 0; iteration < iterations; iteration++) {
        if (width > 1) horizontal_pass(values, horizontal_links, height, width, channels, iteration, threads);
        if (height > 1) vertical_pass(values, vertical_links, height, width, channels, iteration, threads);
    }
}
