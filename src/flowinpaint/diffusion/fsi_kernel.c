/* One FSI cycle of the Weickert-Welk-Wickert stencil in gather form, for flowinpaint.diffusion.native.
 *
 * Each step computes, for every pixel p and channel,
 *     next_p = known_p ? data_p : w_k (u_p + tau (sum_q w_pq (u_q - u_p))) + (1 - w_k) prev_p
 * over the 8 neighbours q, as flowinpaint.diffusion.fused._forward_step does (to float rounding:
 * the sums here use fused multiply-adds, see MUL_ADD). The three states
 * (prev, u, next) are (B, C, H + 2, fsi_row_stride(W)) float32 buffers, zero but for the image:
 * pixel (y, x) at row y + 1, column ROW_LEAD + x, so that every neighbour read is in bounds and
 * every row of the image starts on a 64-byte boundary (its reads do not straddle cache lines; see
 * step_row_avx512); the padded pair weights are zero across the image border, so the border
 * contributes nothing (no-flux). Pixels are independent within a step: the result does not depend
 * on the number of threads.
 *
 * fsi_solve runs whole cycles until the steady state, as flowinpaint.diffusion.solve_to_convergence
 * does with this cycle: cycles of growing length, after each the residual max |tau A u| over the
 * unknown pixels (fsi_residual), with the states, weights and time steps set up once per level.
 *
 * Temporal blocking (a cycle whose iterates are not kept): one step is a pass over ~50 bytes per
 * pixel that does too little arithmetic to hide the memory traffic, so up to BLOCK_STEPS steps run
 * per pass over the rows. Each thread owns a band of rows and sweeps it as a wavefront (step k of
 * the block one row behind step k - 1), so the rows in flight stay in its cache; at a band's inner
 * edges its trapezoid shrinks by one row per step, and the triangles left between two bands run
 * after a barrier. Every pixel of every step is computed exactly as in the plain loop (the same
 * arithmetic in the same order): the results are identical bit for bit. Three buffers suffice: a
 * step overwrites the buffer of the iterate three steps back, which no row still in flight reads.
 */
#include <omp.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ROW_LEAD 16  /* the column of a state's row where the image's row starts (the zero border at 15) */

/* Floats from one row of a state to the next: the image's W pixels after ROW_LEAD, the border after
 * them, rounded up to whole 64-byte lines. */
static inline long row_stride(long width) { return (ROW_LEAD + width + 1 + 15) / 16 * 16; }

/* Floats (or bytes, for the mask) from one row of a per-pixel or per-pair input of `entries` a row to
 * the next: whole 64-byte lines, so that its rows start on them too. */
static inline long float_row(long entries) { return (entries + 15) / 16 * 16; }
static inline long byte_row(long entries) { return (entries + 63) / 64 * 64; }

/* The layout, for the caller that allocates the arrays: the states' row stride and the image's
 * column in it; the row strides of the other inputs (see fsi_cycle). */
long fsi_row_stride(long width) { return row_stride(width); }
long fsi_row_lead(void) { return ROW_LEAD; }
long fsi_float_row(long entries) { return float_row(entries); }
long fsi_byte_row(long entries) { return byte_row(entries); }

/* `known ? held : stepped`, as a bit mask: with a plain `?:` compilers move the arithmetic of
 * `stepped` into a branch (floating-point arithmetic may trap), and the loop stops vectorising. */
static inline __attribute__((always_inline)) float select_bits(uint8_t known, float held, float stepped) {
    uint32_t h, s;
    memcpy(&h, &held, sizeof h);
    memcpy(&s, &stepped, sizeof s);
    const uint32_t mask = -(uint32_t)(known != 0);
    const uint32_t bits = (h & mask) | (s & ~mask);
    float result;
    memcpy(&result, &bits, sizeof result);
    return result;
}

/* a * b + c with one rounding where the processor has fused multiply-adds (most x86-64 since
 * 2013, every ARM64): fmaf is correctly rounded, so the results are the same on every such
 * machine (~6 % a step faster than a multiply and an add). */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define MUL_ADD(a, b, c) fmaf(a, b, c)
#else
#define MUL_ADD(a, b, c) ((a) * (b) + (c))
#endif

/* The stencil's flux sum_q w_pq (u_q - u_p) at pixel x of a row (`uc` at the row's first pixel),
 * summed in the order east, west, south, north, south-east, north-west, south-west, north-east. */
#define FLUX(uc, up, down, x, p) \
    MUL_ADD(sw0[(x) + 1], (up)[(x) + 1] - (p), MUL_ADD(sw1[x], (down)[(x) - 1] - (p), \
    MUL_ADD(se0[x], (up)[(x) - 1] - (p), MUL_ADD(se1[(x) + 1], (down)[(x) + 1] - (p), \
    MUL_ADD(s0[x], (up)[x] - (p), MUL_ADD(s1[x], (down)[x] - (p), \
    MUL_ADD(e0[x], (uc)[(x) - 1] - (p), e0[(x) + 1] * ((uc)[(x) + 1] - (p)))))))))

/* The row step of step_row with AVX-512 (F, BW, VL), where the compiler targets it and PORTABLE_STEP is
 * not defined: the same operations in the same order, so the same bits. Its neighbours one column
 * aside are what keeps the compiled loop of step_row waiting: each is a 64-byte read that straddles
 * two cache lines, which the 2-core Xeon this was measured on serves at less than half the rate of
 * aligned reads. Here each row is read once, 16 floats at a time, and the blocks one column left and
 * right are shifted together from the blocks before and after in registers (valignd): 0.87-0.91x a
 * step (a synthetic 64-step cycle and the finest eed level at 1 % and 5 %, the two kernels
 * alternated in one process; docs/speed.md). */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && !defined(PORTABLE_STEP)
#include <immintrin.h>
#define ROW_STEP_AVX512 2  /* the most channels it steps in one pass */

/* The lanes of the 16 floats from index `first` of a row that lie at or before its index `last`. */
static inline __attribute__((always_inline)) __mmask16 lanes_upto(long first, long last) {
    const long count = last - first + 1;
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1u);
}

/* 16 floats of `row` from `first`, the lanes past `last` zero and not read. */
static inline __attribute__((always_inline)) __m512 block_at(const float *row, long first, long last) {
    return _mm512_maskz_loadu_ps(lanes_upto(first, last), row + first);
}

/* A row read one block at a time: the block at x, the one after it and (for reads one column to the
 * left) the one before it. */
typedef struct { __m512 before, here, after; } Blocks;

static inline __attribute__((always_inline)) Blocks blocks_start(const float *row, long last) {
    const Blocks blocks = {_mm512_maskz_loadu_ps((__mmask16)0x8000, row - 16), block_at(row, 0, last),
                           block_at(row, 16, last)};  /* row[-1] in the last lane of `before` */
    return blocks;
}

static inline __attribute__((always_inline)) void blocks_next(Blocks *blocks, const float *row, long x, long last) {
    blocks->before = blocks->here;
    blocks->here = blocks->after;
    blocks->after = block_at(row, x + 32, last);
}

static inline __attribute__((always_inline)) __m512 left_of(const Blocks *blocks) {  /* row[x - 1 .. x + 14] */
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(blocks->here),
                                                   _mm512_castps_si512(blocks->before), 15));
}

static inline __attribute__((always_inline)) __m512 right_of(const Blocks *blocks) {  /* row[x + 1 .. x + 16] */
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(blocks->after),
                                                   _mm512_castps_si512(blocks->here), 1));
}

static inline __attribute__((always_inline)) void step_row_avx512(
        const float *uc, const float *before, float *out, long stride, long plane, const float *e0, const float *s0,
        const float *s1, const float *se0, const float *se1, const float *sw0, const float *sw1,
        const uint8_t *fixed, const float *value, long data_plane, const float *t_row, float t_scalar, float w,
        long W, int per_pixel, int channels, int from_data) {
    const __m512 weight = _mm512_set1_ps(w), rest = _mm512_set1_ps(1.0f - w), t_all = _mm512_set1_ps(t_scalar);
    Blocks up[ROW_STEP_AVX512], centre[ROW_STEP_AVX512], down[ROW_STEP_AVX512];
    for (int c = 0; c < channels; c++) {  /* a padded row runs from index -1 to W */
        up[c] = blocks_start(uc + c * plane - stride, W);
        centre[c] = blocks_start(uc + c * plane, W);
        down[c] = blocks_start(uc + c * plane + stride, W);
    }
    /* the weight rows read one column to the right (they run from index 0 to W) */
    Blocks east = blocks_start(e0, W), south_east = blocks_start(se1, W), south_west = blocks_start(sw0, W);
    for (long x = 0; x < W; x += 16) {
        const __mmask16 lanes = lanes_upto(x, W - 1);
        const __m512 we = right_of(&east), ww = east.here, ws = block_at(s1, x, W - 1), wn = block_at(s0, x, W - 1),
                     wse = right_of(&south_east), wnw = block_at(se0, x, W - 1), wsw = block_at(sw1, x, W - 1),
                     wne = right_of(&south_west);
        const __m512 t = per_pixel ? block_at(t_row, x, W - 1) : t_all;
        const __m128i bytes = _mm_maskz_loadu_epi8(lanes, fixed + x);
        const __mmask16 known = _mm_test_epi8_mask(bytes, bytes);
        for (int c = 0; c < channels; c++) {  /* FLUX's products in its order */
            const __m512 p = centre[c].here;
            const __m512 flux = _mm512_fmadd_ps(wne, _mm512_sub_ps(right_of(&up[c]), p),
                                _mm512_fmadd_ps(wsw, _mm512_sub_ps(left_of(&down[c]), p),
                                _mm512_fmadd_ps(wnw, _mm512_sub_ps(left_of(&up[c]), p),
                                _mm512_fmadd_ps(wse, _mm512_sub_ps(right_of(&down[c]), p),
                                _mm512_fmadd_ps(wn, _mm512_sub_ps(up[c].here, p),
                                _mm512_fmadd_ps(ws, _mm512_sub_ps(down[c].here, p),
                                _mm512_fmadd_ps(ww, _mm512_sub_ps(left_of(&centre[c]), p),
                                _mm512_mul_ps(we, _mm512_sub_ps(right_of(&centre[c]), p)))))))));
            const __m512 previous = block_at(before + c * plane, x, W - 1);
            const __m512 stepped = _mm512_fmadd_ps(weight, _mm512_fmadd_ps(t, flux, p), _mm512_mul_ps(rest, previous));
            const __m512 held = from_data ? block_at(value + c * data_plane, x, W - 1) : p;
            _mm512_mask_storeu_ps(out + c * plane + x, lanes, _mm512_mask_blend_ps(known, stepped, held));
        }
        for (int c = 0; c < channels; c++) {
            blocks_next(&up[c], uc + c * plane - stride, x, W);
            blocks_next(&centre[c], uc + c * plane, x, W);
            blocks_next(&down[c], uc + c * plane + stride, x, W);
        }
        blocks_next(&east, e0, x, W);
        blocks_next(&south_east, se1, x, W);
        blocks_next(&south_west, sw0, x, W);
    }
}
#endif

/* One row of `channels` channels (1, or 2 for a flow's u and v: a constant at each call, so that
 * the channel loop unrolls and each pixel's weights, time step and mask are read once for all of
 * them). `uc` points at the row's first pixel in the padded state `u` of the first channel,
 * `before` and `out` at the same pixel of the previous and next states; the next channel lies
 * `plane` floats further on (`data_plane` in the data). `per_pixel` (the kind of time step) and
 * `from_data` are constants at each call too, so that the compiler emits one branch-free,
 * vectorised loop for each. Only a cycle's first step reads the data (`from_data`): from then
 * on u holds the data at the known pixels, and keeping u there saves a stream (~6 % a step). */
static inline __attribute__((always_inline)) void step_row(
        const float *uc, const float *before, float *out, long stride, long plane, const float *e0, const float *s0,
        const float *s1, const float *se0, const float *se1, const float *sw0, const float *sw1,
        const uint8_t *fixed, const float *value, long data_plane, const float *t_row, float t_scalar, float w,
        long W, int per_pixel, int channels, int from_data) {
#ifdef ROW_STEP_AVX512
    if (channels <= ROW_STEP_AVX512) {
        step_row_avx512(uc, before, out, stride, plane, e0, s0, s1, se0, se1, sw0, sw1, fixed, value, data_plane, t_row,
                        t_scalar, w, W, per_pixel, channels, from_data);
        return;
    }
#endif
    #pragma omp simd
    for (long x = 0; x < W; x++) {
        const float t = per_pixel ? t_row[x] : t_scalar;
        for (int c = 0; c < channels; c++) {
            const float *centre = uc + c * plane, *up = centre - stride, *down = centre + stride;
            const float p = centre[x];
            const float flux = FLUX(centre, up, down, x, p);
            const float stepped = MUL_ADD(w, MUL_ADD(t, flux, p), (1.0f - w) * before[c * plane + x]);
            out[c * plane + x] = select_bits(fixed[x], from_data ? value[c * data_plane + x] : p, stepped);
        }
    }
}

/* The largest |tau flux| over the unknown pixels of one row of one channel. */
static inline __attribute__((always_inline)) float residual_row(
        const float *uc, long stride, const float *e0, const float *s0, const float *s1, const float *se0,
        const float *se1, const float *sw0, const float *sw1, const uint8_t *fixed, const float *t_row,
        float t_scalar, long W, int per_pixel) {
    const float *up = uc - stride, *down = uc + stride;
    float largest = 0.0f;
    #pragma omp simd reduction(max:largest)
    for (long x = 0; x < W; x++) {
        const float p = uc[x];
        const float t = per_pixel ? t_row[x] : t_scalar;
        const float change = select_bits(fixed[x], 0.0f, fabsf(t * FLUX(uc, up, down, x, p)));
        largest = change > largest ? change : largest;
    }
    return largest;
}

/* What a row y of image b reads besides the states: its pair weights (padded, see fsi_cycle), mask
 * and time step (per pixel, or the image's scalar), each row of them starting on a 64-byte line. */
typedef struct {
    const float *e0, *s0, *s1, *se0, *se1, *sw0, *sw1, *t_row;
    const uint8_t *fixed;
    float t_scalar;
} Row;

static inline Row row_at(const float *east, const float *south, const float *south_east, const float *south_west,
                         const uint8_t *known, const float *tau, int tau_per_pixel, long b, long y, long H, long W) {
    Row r;
    const long pairs = float_row(W + 1), pixels = float_row(W);
    r.e0 = east + (b * H + y) * pairs;           /* pair (y, x-1)-(y, x) at e0[x] */
    r.s0 = south + (b * (H + 1) + y) * pixels;   /* pair (y-1, x)-(y, x) at s0[x] */
    r.s1 = r.s0 + pixels;                        /* pair (y, x)-(y+1, x) */
    r.se0 = south_east + (b * (H + 1) + y) * pairs;
    r.se1 = r.se0 + pairs;
    r.sw0 = south_west + (b * (H + 1) + y) * pairs;
    r.sw1 = r.sw0 + pairs;
    r.fixed = known + (b * H + y) * byte_row(W);
    r.t_row = tau_per_pixel ? tau + (b * H + y) * pixels : 0;
    r.t_scalar = tau_per_pixel ? 0.0f : tau[b];
    return r;
}

/* The three states of a cycle and what every step reads besides them. */
typedef struct {
    const float *east, *south, *south_east, *south_west, *tau, *data, *step_weights;
    const uint8_t *known;
    float *buffers[3]; /* step k reads buffers[(k + 1) % 3] (u) and buffers[k % 3] (prev), writes buffers[(k + 2) % 3];
                        * step 0 reads u as prev too (u^{-1} = u^0): buffers[0] is not read before step 1 writes it */
    int tau_per_pixel;
    long B, C, H, W, stride, plane;
} Cycle;

/* Step k at row y of image b, every channel. */
static inline void step_at(const Cycle *s, int k, long b, long y) {
    float *u = s->buffers[(k + 1) % 3], *prev = k == 0 ? u : s->buffers[k % 3], *next = s->buffers[(k + 2) % 3];
    const float w = s->step_weights[k];
    const Row r = row_at(s->east, s->south, s->south_east, s->south_west, s->known, s->tau, s->tau_per_pixel, b, y, s->H,
                         s->W);
    const long paired = s->C == 2 ? 2 : 1;  /* a flow's two channels in one loop, others one by one */
    for (long c = 0; c < s->C; c += paired) {
        const long offset = (b * s->C + c) * s->plane + (y + 1) * s->stride + ROW_LEAD;
        const float *value = s->data + ((b * s->C + c) * s->H + y) * s->W;
        /* each call with constant flags: one specialised loop for each */
        #define STEP(per_pixel, channels, from_data)                                                               \
            step_row(u + offset, prev + offset, next + offset, s->stride, s->plane, r.e0, r.s0, r.s1, r.se0, r.se1, r.sw0, \
                     r.sw1, r.fixed, value, s->H * s->W, r.t_row, r.t_scalar, w, s->W, per_pixel, channels, from_data)
        #define STEP_EACH_TAU(channels, from_data) \
            if (r.t_row) STEP(1, channels, from_data); else STEP(0, channels, from_data)
        if (paired == 2) {
            if (k == 0) STEP_EACH_TAU(2, 1); else STEP_EACH_TAU(2, 0);
        } else {
            if (k == 0) STEP_EACH_TAU(1, 1); else STEP_EACH_TAU(1, 0);
        }
        #undef STEP_EACH_TAU
        #undef STEP
    }
}

/* Steps per pass of the blocked cycle: the rows in flight of one thread (one per step, ~50 bytes
 * a pixel) fit its share of the caches up to ~2,000-pixel rows (measured at 1024x436: 8 steps
 * 1.4x faster a step than 1 on one thread, 16 no faster than 8). */
#define BLOCK_STEPS 8

/* Steps first .. last - 1 on band `band` of `bands` (rows [low, high)) as a wavefront: step k
 * (d = k - first steps into the block) on rows [low + d, high - d), shrinking at the inner edges
 * only; row low + t - d at wavefront time t, one row behind step k - 1. */
static void trapezoid(const Cycle *s, int first, int last, long band, long bands) {
    const long low = band * s->H / bands, high = (band + 1) * s->H / bands;
    for (long t = 0; t < high - low + (last - first); t++) {
        for (int k = first; k < last; k++) {
            const long d = k - first, y = low + t - d;
            const long top = band > 0 ? low + d : low, bottom = band < bands - 1 ? high - d : high;
            if (y < top || y >= bottom) continue;
            for (long b = 0; b < s->B; b++) step_at(s, k, b, y);
        }
    }
}

/* What the trapezoids of bands `band` and `band + 1` leave between them: step k on rows
 * [edge - d, edge + d) around their shared edge, in step order. */
static void triangle(const Cycle *s, int first, int last, long band, long bands) {
    const long edge = (band + 1) * s->H / bands;
    for (int k = first + 1; k < last; k++) {
        const long d = k - first;
        for (long y = edge - d; y < edge + d; y++)
            for (long b = 0; b < s->B; b++) step_at(s, k, b, y);
    }
}

/* The cycle with temporal blocking (see the file's header), on `bands` bands of at least
 * 2 BLOCK_STEPS rows each. The team's threads share the bands out (a runtime may give fewer
 * threads than asked for: every band is still swept). */
static void blocked_cycle(const Cycle *s, int n_steps, int bands) {
    #pragma omp parallel num_threads(bands)
    {
        const int thread = omp_get_thread_num(), team = omp_get_num_threads();
        for (int first = 0; first < n_steps; first += BLOCK_STEPS) {
            const int last = first + BLOCK_STEPS < n_steps ? first + BLOCK_STEPS : n_steps;
            for (long band = thread; band < bands; band += team) trapezoid(s, first, last, band, bands);
            #pragma omp barrier
            for (long band = thread; band < bands - 1; band += team) triangle(s, first, last, band, bands);
            #pragma omp barrier
        }
    }
}

/* The cycle of fsi_cycle on three zero-bordered states in any order: u^0 in buffers[1] (buffers[0]
 * and buffers[2] of any content inside their borders). Returns the index in `buffers` of the one that
 * holds the result. */
static int cycle_on(float *const buffers[3], const float *east, const float *south, const float *south_east,
                    const float *south_west, const float *tau, int tau_per_pixel, const uint8_t *known,
                    const float *data, const float *step_weights, int n_steps, float *iterates,
                    int batch, int channels, int height, int width, int threads) {
    const long H = height, W = width, C = channels, B = batch;
    const long stride = row_stride(W), plane = (H + 2) * stride;
    const Cycle s = {east, south, south_east, south_west, tau, data, step_weights, known,
                     {buffers[0], buffers[1], buffers[2]}, tau_per_pixel, B, C, H, W, stride, plane};
    const long bands = H / (2 * BLOCK_STEPS) < threads ? H / (2 * BLOCK_STEPS) : threads;
    if (!iterates && n_steps > 1 && bands >= 1) {
        blocked_cycle(&s, n_steps, (int)bands);
        return (n_steps + 1) % 3;
    }
    for (int k = 0; k < n_steps; k++) {
        if (iterates) { /* u^k, unpadded, for the backward of a training step */
            const float *u = s.buffers[(k + 1) % 3];
            #pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
            for (long bc = 0; bc < B * C; bc++)
                for (long y = 0; y < H; y++)
                    memcpy(iterates + ((k * B * C + bc) * H + y) * W, u + bc * plane + (y + 1) * stride + ROW_LEAD,
                           W * sizeof(float));
        }
        #pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
        for (long b = 0; b < B; b++)
            for (long y = 0; y < H; y++) step_at(&s, k, b, y);
    }
    return (n_steps + 1) % 3; /* the buffer that holds the result */
}

/* Pair weights, padded as flowinpaint.diffusion.fused.pad_stencil pads them, each row in
 * fsi_float_row(its entries) floats: east (B, H, W + 1), south (B, H + 1, W), south_east and
 * south_west (B, H + 1, W + 1); per-pixel time steps (B, H, W) the same way, the mask (B, H, W)
 * in fsi_byte_row(W) bytes a row, the data (B, C, H, W) dense.
 * states: three states (B, C, H + 2, fsi_row_stride(W)) one after the other (see the file's header),
 * u^0 in the second.
 * With `iterates` NULL the cycle runs temporally blocked where every thread gets a band of at
 * least 2 BLOCK_STEPS rows; `iterates` keeps u^0 .. u^{n-1}, one pass a step. Returns the state
 * that holds the result. */
int fsi_cycle(float *states, const float *east, const float *south, const float *south_east,
              const float *south_west, const float *tau, int tau_per_pixel, const uint8_t *known,
              const float *data, const float *step_weights, int n_steps, float *iterates,
              int batch, int channels, int height, int width, int threads) {
    const long state = (long)batch * channels * (height + 2) * row_stride(width);
    float *const buffers[3] = {states, states + state, states + 2 * state};
    return cycle_on(buffers, east, south, south_east, south_west, tau, tau_per_pixel, known, data, step_weights,
                    n_steps, iterates, batch, channels, height, width, threads);
}

/* max |tau A u| over the unknown pixels of the state u (B, C, H + 2, fsi_row_stride(W)). */
float fsi_residual(const float *u, const float *east, const float *south, const float *south_east,
                   const float *south_west, const float *tau, int tau_per_pixel, const uint8_t *known,
                   int batch, int channels, int height, int width, int threads) {
    const long H = height, W = width, C = channels, B = batch;
    const long stride = row_stride(W), plane = (H + 2) * stride;
    float largest = 0.0f;
    #pragma omp parallel for collapse(2) schedule(static) reduction(max:largest) num_threads(threads)
    for (long b = 0; b < B; b++) {
        for (long y = 0; y < H; y++) {
            const Row r = row_at(east, south, south_east, south_west, known, tau, tau_per_pixel, b, y, H, W);
            for (long c = 0; c < C; c++) {
                const float *uc = u + (b * C + c) * plane + (y + 1) * stride + ROW_LEAD;
                const float row = r.t_row
                    ? residual_row(uc, stride, r.e0, r.s0, r.s1, r.se0, r.se1, r.sw0, r.sw1, r.fixed, r.t_row, 0.0f, W, 1)
                    : residual_row(uc, stride, r.e0, r.s0, r.s1, r.se0, r.se1, r.sw0, r.sw1, r.fixed, 0, r.t_scalar, W, 0);
                largest = row > largest ? row : largest;
            }
        }
    }
    return largest;
}

/* Cycles from the padded state in states[1] (the other two zero-bordered, of any content) until the
 * residual is at most `tolerance` (absolute) or `max_steps` steps have run: the first cycle has
 * `first_cycle` steps, each next one `growth` times as many (rounded, as Python's round), at most
 * `max_cycle`. out: the steps run, the cycles, the final residual. Returns the buffer that holds
 * the result. step_weights: scratch of at least max(first_cycle, max_cycle) floats. */
int fsi_solve(float *states, const float *east, const float *south, const float *south_east,
              const float *south_west, const float *tau, int tau_per_pixel, const uint8_t *known,
              const float *data, float *step_weights, int first_cycle, double growth, int max_cycle,
              double tolerance, long max_steps, int batch, int channels, int height, int width, int threads,
              long *out_steps, long *out_cycles, float *out_residual) {
    const long state = (long)batch * channels * (height + 2) * row_stride(width);
    int current = 1;
    long steps = 0, cycles = 0;
    double length = first_cycle;
    float residual = fsi_residual(states + current * state, east, south, south_east, south_west, tau, tau_per_pixel,
                                  known, batch, channels, height, width, threads);
    while (residual > tolerance && steps < max_steps) {
        const int n = (int)nearbyint(length);  /* round half to even, as Python's round */
        for (int k = 0; k < n; k++) step_weights[k] = (float)((4.0 * k + 2.0) / (2.0 * k + 3.0));
        /* the state that holds u second, the other two around it: buffer r of the cycle is state (current + 2 + r) % 3 */
        float *const buffers[3] = {states + ((current + 2) % 3) * state, states + current * state,
                                   states + ((current + 1) % 3) * state};
        current = (current + 2 + cycle_on(buffers, east, south, south_east, south_west, tau, tau_per_pixel, known, data,
                                          step_weights, n, 0, batch, channels, height, width, threads)) % 3;
        cycles++;
        steps += n;
        length = length * growth < max_cycle ? length * growth : max_cycle;
        residual = fsi_residual(states + current * state, east, south, south_east, south_west, tau, tau_per_pixel,
                                known, batch, channels, height, width, threads);
    }
    *out_steps = steps;
    *out_cycles = cycles;
    *out_residual = residual;
    return current;
}
