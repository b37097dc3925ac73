/* The per-pixel weighted least-squares affine solve of flowinpaint.methods.local_affine, in C.
 *
 * For each pixel, from its 12 filtered moments (1, x, y, x^2, xy, y^2, u, ux, uy, v, vx, vy, in
 * that order, all times the certainty), the affine model of u and v is fitted and evaluated at
 * the pixel, in double precision, as local_affine._solve_affine_torch does: the centred second
 * moments are small differences of large ones. Pixels are independent: the result does not depend
 * on the number of threads. The pixels of a row are solved BLOCK at a time, their moments first
 * transposed to one array per moment and the solve written without branches, so that the compiler
 * vectorises it (built with -fno-math-errno, so that sqrt needs no branch either): the same
 * operations in the same order as one pixel at a time, so the same bits, several times faster
 * (benchmarks/fit_speed.py).
 */

#include <math.h>

#define BLOCK 16  /* pixels solved together: their moments transposed to one array per moment, so the solve vectorises */

/* The affine models (u, v, without the trend) of `count` <= BLOCK pixels of a row from their
 * moments m (count x 12 floats), evaluated at (xs[k], y): branch-free, so that the loop over
 * the pixels vectorises. */
static inline __attribute__((always_inline)) void solve_block(const float *m, const float *xs, double y,
        double reach2, const int finite_reach, float *out, float *support, long count) {
    double moment[12][BLOCK];
    for (long k = 0; k < count; k++)
        for (int j = 0; j < 12; j++) moment[j][k] = m[k * 12 + j];
    #pragma omp simd
    for (long k = 0; k < count; k++) {
        const double inverse_weight = 1.0 / (moment[0][k] > 1e-30 ? moment[0][k] : 1e-30);
        const double mean_x = moment[1][k] * inverse_weight, mean_y = moment[2][k] * inverse_weight;
        const double cxx = moment[3][k] * inverse_weight - mean_x * mean_x;
        const double cxy = moment[4][k] * inverse_weight - mean_x * mean_y;
        const double cyy = moment[5][k] * inverse_weight - mean_y * mean_y;
        const double det = cxx * cyy - cxy * cxy;
        const double reciprocal = 1.0 / det;
        double inverse_det = det > 1e-4 * (cxx + cyy) * (cxx + cyy) + 1e-12 ? reciprocal : 0.0;
        const double dx = (double)xs[k] - mean_x, dy = y - mean_y;
        if (finite_reach) {
            double distance2 = (dx * dx * cyy - 2 * dx * dy * cxy + dy * dy * cxx) * inverse_det;
            distance2 = distance2 < 1e-30 ? 1e-30 : distance2;
            const double shrink = reach2 / distance2;
            const double root = sqrt(shrink);
            inverse_det *= shrink < 1.0 ? root : 1.0;
        }
        const double mean_u = moment[6][k] * inverse_weight, mean_v = moment[9][k] * inverse_weight;
        const double cux = moment[7][k] * inverse_weight - mean_x * mean_u, cuy = moment[8][k] * inverse_weight - mean_y * mean_u;
        const double cvx = moment[10][k] * inverse_weight - mean_x * mean_v, cvy = moment[11][k] * inverse_weight - mean_y * mean_v;
        out[2 * k] = (float)(mean_u + ((cux * cyy - cuy * cxy) * dx + (cuy * cxx - cux * cxy) * dy) * inverse_det);
        out[2 * k + 1] = (float)(mean_v + ((cvx * cyy - cvy * cxy) * dx + (cvy * cxx - cvx * cxy) * dy) * inverse_det);
        support[k] = (float)moment[0][k];
    }
}

static inline __attribute__((always_inline)) void solve_row(const float *m, const float *xs, double y,
        double reach2, const int finite_reach, float *out, float *support, long width) {
    for (long first = 0; first < width; first += BLOCK) {
        const long count = width - first < BLOCK ? width - first : BLOCK;
        solve_block(m + first * 12, xs + first, y, reach2, finite_reach, out + 2 * first, support + first, count);
    }
}

/* The global trend with its slope held back far from the known values (local_affine._evaluate),
 * added to a row's fitted flow `out` (W, 2) at fit coordinates (xs, y): in float32, the operations
 * of that numpy code in its order (built without contraction, -std=c99), so the same bits.
 * held: centre x and y, the inverse covariance's (0, 0), (0, 1) and (1, 1), reach squared, the
 * trend at the centre (u, v), its slope d/dx (u, v) and d/dy (u, v). */
static inline __attribute__((always_inline)) void add_held_trend(const float *held, const float *xs, float y,
                                                                 float *out, long width) {
    const float dy = y - held[1];
    #pragma omp simd
    for (long column = 0; column < width; column++) {
        const float dx = xs[column] - held[0];
        const float distance2 = dx * dx * held[2] + 2.0f * dx * dy * held[3] + dy * dy * held[4];
        const float ratio = held[5] / (distance2 > 1e-30f ? distance2 : 1e-30f);
        const float shrink = sqrtf(ratio < 1.0f ? ratio : 1.0f);
        out[2 * column] += held[6] + shrink * (dx * held[8] + dy * held[10]);
        out[2 * column + 1] += held[7] + shrink * (dx * held[9] + dy * held[11]);
    }
}

/* moments: (H, W, 12) float32; xs: (W,) and ys: (H,) the fit's coordinates; reach: the slope's
 * extrapolation limit in standard deviations (finite_reach = 0: none); trend: (3, 2) float32, the
 * global affine flow (coefficients of 1, x, y for u and v) the moments were taken of, added back
 * in float32, or, where held_trend is not NULL, that trend with its slope held back far from the
 * known values (12 floats, see add_held_trend); fitted: (H, W, 2) float32; support: (H, W)
 * float32, the filtered certainty (the first moment), copied out in the same pass. */
void affine_solve(const float *moments, const float *xs, const float *ys,
                  const float *trend, const float *held_trend, double reach, int finite_reach,
                  float *fitted, float *support, long height, long width, int threads) {
    const double reach2 = reach * reach;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long row = 0; row < height; row++) {
        const float *m = moments + row * width * 12;
        float *out = fitted + row * width * 2, *weight = support + row * width;
        if (finite_reach) solve_row(m, xs, ys[row], reach2, 1, out, weight, width);
        else solve_row(m, xs, ys[row], reach2, 0, out, weight, width);
        if (held_trend) {
            add_held_trend(held_trend, xs, ys[row], out, width);
        } else {
            for (long column = 0; column < width; column++) {
                out[2 * column] += trend[0] + xs[column] * trend[2] + ys[row] * trend[4];
                out[2 * column + 1] += trend[1] + xs[column] * trend[3] + ys[row] * trend[5];
            }
        }
    }
}
