/* The image-driven set-up of an explicit diffusion level, for flowinpaint.diffusion.stencil_native.
 *
 * What the torch code of flowinpaint.diffusion computes as a chain of whole-array operations (each a
 * pass over memory, ~30 of them per pyramid level), here in three functions of one to three passes:
 *
 * - gradient_outer_product: sum_c grad I_c grad I_c^T at the cell centres (structure.py's
 *   cell_gradients and gradient_outer_product);
 * - eed_tensor: the EED tensor of the smoothed structure tensor (structure.py's
 *   dominant_eigen, eed.py's diffusivity, tensor.py's tensor_from_eigen with mu2 = 1);
 * - www_weights: the (alpha, beta) stencil's pair weights and the per-pixel time step
 *   (explicit.py's stencil_alpha, stencil.py's www_stencil, solver.py's pixel_time_step).
 *
 * Each computes what its torch counterpart computes, operation by operation in the same order (the
 * build's -std=c99 contracts no multiply-add into an FMA); float32 throughout. Cells are the dual
 * grid, (H - 1) x (W - 1) for an H x W image, row-major. Each runs on `threads` threads; pixels are
 * independent: the results do not depend on their number.
 */
#include <math.h>
#include <float.h>

#define EED_BLOCK 4096L  /* cells per call of eed_cells */

/* torch's clamp_min / clamp(max=) for the finite values here; fmaxf and fminf are libm calls
 * (their NaN rules have no x86 instruction) that keep a loop from vectorising */
static inline __attribute__((always_inline)) float larger(float x, float y) { return x > y ? x : y; }
static inline __attribute__((always_inline)) float smaller(float x, float y) { return x < y ? x : y; }

/* (a, b, c) = sum_c (gx^2, gx gy, gy^2) of the image (C, H, W), each gradient the mean of the cell's
 * two differences along its axis; a, b, c: (H - 1) x (W - 1). */
void gradient_outer_product(const float *restrict image, int channels, int height, int width,
                            float *restrict a, float *restrict b, float *restrict c, int threads) {
    const long plane = (long)height * width;
    const int cell_width = width - 1;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int y = 0; y < height - 1; y++) {
        float *ar = a + (long)y * cell_width, *br = b + (long)y * cell_width, *cr = c + (long)y * cell_width;
        for (int x = 0; x < cell_width; x++) {
            ar[x] = 0.0f;
            br[x] = 0.0f;
            cr[x] = 0.0f;
        }
        for (int k = 0; k < channels; k++) {
            const float *top = image + k * plane + (long)y * width, *bottom = top + width;
            for (int x = 0; x < cell_width; x++) {
                const float gx = ((top[x + 1] - top[x]) + (bottom[x + 1] - bottom[x])) / 2.0f;
                const float gy = ((bottom[x] - top[x]) + (bottom[x + 1] - top[x + 1])) / 2.0f;
                ar[x] += gx * gx;
                br[x] += gx * gy;
                cr[x] += gy * gy;
            }
        }
    }
}

/* eed_tensor's cells [first, last); its own restrict arguments let the compiler vectorise the loop,
 * which it does not when the pointers come through OpenMP's shared variables. Branch-free (every
 * candidate computed, then selected) for the same reason. */
static void eed_cells(const float *restrict a, const float *restrict b, const float *restrict c, float *restrict da,
                      float *restrict db, float *restrict dc, long first, long last, float squared_contrast,
                      int charbonnier) {
    for (long i = first; i < last; i++) {
        const float ai = a[i], bi = b[i], ci = c[i];
        const float half_diff = (ai - ci) / 2.0f;
        const float radius = sqrtf(half_diff * half_diff + bi * bi);
        const float mean = (ai + ci) / 2.0f;
        const float wx = half_diff >= 0.0f ? half_diff + radius : bi;
        const float wy = half_diff >= 0.0f ? bi : radius - half_diff;
        const float squared = wx * wx + wy * wy;
        const float root = sqrtf(larger(squared, FLT_MIN));
        const float norm = squared > 0.0f ? root : 0.0f;
        const float bound = FLT_EPSILON * (fabsf(mean) + FLT_MIN);
        const float divisor = larger(norm, FLT_MIN);
        const float qx = wx / divisor, qy = wy / divisor;
        const float vx = norm <= bound ? 1.0f : qx, vy = norm <= bound ? 0.0f : qy;
        const float lambda1 = mean + radius;
        const float ratio = 1.0f + larger(lambda1, 0.0f) / squared_contrast;
        const float across = 1.0f / (charbonnier ? sqrtf(ratio) : ratio);
        /* tensor_from_eigen normalises v again (a unit vector already, but its rounding counts) */
        const float unit2 = vx * vx + vy * vy;
        const float length = sqrtf(larger(unit2, 1e-12f));
        const float rx = vx / length, ry = vy / length;
        const float ux = unit2 < 1e-12f ? 1.0f : rx, uy = unit2 < 1e-12f ? 0.0f : ry;
        da[i] = across * ux * ux + 1.0f * uy * uy;
        db[i] = (across - 1.0f) * ux * uy;
        dc[i] = across * uy * uy + 1.0f * ux * ux;
    }
}

/* (a, b, c) the smoothed structure tensor -> (da, db, dc) the EED tensor
 * g(lambda1) v v^T + v_perp v_perp^T, v the unit eigenvector of the larger eigenvalue lambda1
 * ((1, 0) where the tensor is isotropic), g(s) = 1 / (1 + s / contrast^2) (Perona-Malik) or its
 * square root's inverse (Charbonnier); squared_contrast is contrast^2. */
void eed_tensor(const float *restrict a, const float *restrict b, const float *restrict c, float *restrict da,
                float *restrict db, float *restrict dc, long count, float squared_contrast, int charbonnier,
                int threads) {
    const long blocks = (count + EED_BLOCK - 1) / EED_BLOCK;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long block = 0; block < blocks; block++) {
        const long first = block * EED_BLOCK, last = first + EED_BLOCK < count ? first + EED_BLOCK : count;
        eed_cells(a, b, c, da, db, dc, first, last, squared_contrast, charbonnier);
    }
}

/* sum_q |w_pq| of pixel (y, x) where some of its pairs leave the image (the frame's border rows
 * and columns), in centre_weight's order: east right, left; south down, up; south-east down, up;
 * south-west (down-left, up-right). */
static float border_total(const float *east, const float *south, const float *south_east, const float *south_west,
                          int height, int width, int y, int x) {
    const int cw = width - 1, ch = height - 1;
    float total = (x < cw ? fabsf(east[(long)y * cw + x]) : 0.0f) + (x > 0 ? fabsf(east[(long)y * cw + x - 1]) : 0.0f);
    total = total + (y < ch ? fabsf(south[(long)y * width + x]) : 0.0f);
    total = total + (y > 0 ? fabsf(south[(long)(y - 1) * width + x]) : 0.0f);
    total = total + (y < ch && x < cw ? fabsf(south_east[(long)y * cw + x]) : 0.0f);
    total = total + (y > 0 && x > 0 ? fabsf(south_east[(long)(y - 1) * cw + x - 1]) : 0.0f);
    total = total + (y < ch && x > 0 ? fabsf(south_west[(long)y * cw + x - 1]) : 0.0f);
    total = total + (y > 0 && x < cw ? fabsf(south_west[(long)(y - 1) * cw + x]) : 0.0f);
    return total;
}

/* www_weights' per-cell part for cells [first, last): each cell's shares of its axis pairs and its
 * diagonal pairs' weights (a function of its own for the vectoriser, as eed_cells). */
static void cell_weights(const float *restrict a, const float *restrict b, const float *restrict c, float fixed_alpha,
                         float *restrict horizontal, float *restrict vertical, float *restrict south_east,
                         float *restrict south_west, long first, long last) {
    for (long i = first; i < last; i++) {
        const float ai = a[i], bi = b[i], ci = c[i];
        const float abs_b = fabsf(bi);
        const float spread = larger(ai + ci - 2.0f * abs_b, FLT_MIN);
        const float high = smaller((smaller(ai, ci) - abs_b) / spread, 0.5f);
        const float alpha = fixed_alpha >= 0.0f ? fixed_alpha : larger(high, 0.0f) / 2.0f;
        const float sign = (float)((bi > 0.0f) - (bi < 0.0f));  /* torch.sign */
        const float beta = (1.0f - 2.0f * alpha) * sign;
        const float delta = alpha * (ai + ci) + beta * bi;
        horizontal[i] = (ai - delta) / 2.0f;
        vertical[i] = (ci - delta) / 2.0f;
        south_east[i] = (bi + delta) / 2.0f;
        south_west[i] = (delta - bi) / 2.0f;
    }
}

/* The pair weights of the (alpha, beta) stencil of the cell tensors (a, b, c), alpha the given
 * one (fixed_alpha >= 0) or each cell's midpoint of its non-negative range, beta = (1 - 2 alpha)
 * sign(b); and tau_p = 1 / sum_q |w_pq| per pixel. east: H x (W - 1); south: (H - 1) x W;
 * south_east, south_west: (H - 1) x (W - 1); tau: H x W; horizontal, vertical: (H - 1) x (W - 1)
 * scratch, each cell's share of its axis pairs' weights. */
void www_weights(const float *restrict a, const float *restrict b, const float *restrict c, int height, int width,
                 float fixed_alpha, float *restrict horizontal, float *restrict vertical, float *restrict east,
                 float *restrict south, float *restrict south_east, float *restrict south_west, float *restrict tau,
                 int threads) {
    const int cw = width - 1, ch = height - 1;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int y = 0; y < ch; y++)
        cell_weights(a, b, c, fixed_alpha, horizontal, vertical, south_east, south_west, (long)y * cw, (long)(y + 1) * cw);
    #pragma omp parallel num_threads(threads)
    {
        /* a horizontal pair lies in the cells above and below it, a vertical pair in the cells
         * left and right of it; none outside the image (no flux: torch's zero padding, whose
         * 0 + w also turns a -0 into +0) */
        #pragma omp for schedule(static)
        for (int y = 0; y < height; y++) {
            float *row = east + (long)y * cw;
            const float *above = horizontal + (long)(y > 0 ? y - 1 : 0) * cw, *below = horizontal + (long)(y < ch ? y : 0) * cw;
            if (y == 0) {
                for (int x = 0; x < cw; x++) row[x] = 0.0f + below[x];
            } else if (y == ch) {
                for (int x = 0; x < cw; x++) row[x] = above[x] + 0.0f;
            } else {
                for (int x = 0; x < cw; x++) row[x] = above[x] + below[x];
            }
            if (y < ch) {
                const float *cells = vertical + (long)y * cw;
                float *out = south + (long)y * width;
                out[0] = 0.0f + cells[0];
                for (int x = 1; x < cw; x++) out[x] = cells[x - 1] + cells[x];
                out[cw] = cells[cw - 1] + 0.0f;
            }
        }
        /* tau_p = 1 / sum_q |w_pq|: the interior in one vectorisable loop per row (the same sum
         * in the same order as border_total), the border pixels by border_total */
        #pragma omp for schedule(static)
        for (int y = 0; y < height; y++) {
            float *out = tau + (long)y * width;
            if (y > 0 && y < ch) {
                const float *e = east + (long)y * cw, *sd = south + (long)y * width, *su = sd - width;
                const float *sed = south_east + (long)y * cw, *seu = sed - cw, *swd = south_west + (long)y * cw, *swu = swd - cw;
                for (int x = 1; x < cw; x++) {
                    float total = fabsf(e[x]) + fabsf(e[x - 1]);
                    total = total + fabsf(sd[x]);
                    total = total + fabsf(su[x]);
                    total = total + fabsf(sed[x]);
                    total = total + fabsf(seu[x - 1]);
                    total = total + fabsf(swd[x - 1]);
                    total = total + fabsf(swu[x]);
                    out[x] = 1.0f / larger(total, FLT_MIN);
                }
            }
            const int interior = y > 0 && y < ch;
            for (int x = 0; x < width; x += (interior && x == 0) ? cw : 1) {
                out[x] = 1.0f / larger(border_total(east, south, south_east, south_west, height, width, y, x), FLT_MIN);
            }
        }
    }
}
