/* The per-pixel weighted least-squares affine solve of flowinpaint.methods.local_affine, in C.
 *
 * For each pixel, from its 12 filtered moments (1, x, y, x^2, xy, y^2, u, ux, uy, v, vx, vy, in
 * that order, all times the certainty), the affine model of u and v is fitted and evaluated at
 * the pixel, in double precision, as local_affine._solve_affine_torch does: the centred second
 * moments are small differences of large ones. Pixels are independent: the result does not depend
 * on the number of threads.
 */

#include <math.h>

/* moments: (H, W, 12) float32; xs: (W,) and ys: (H,) the fit's coordinates; reach: the slope's
 * extrapolation limit in standard deviations (finite_reach = 0: none); trend: (3, 2) float32, the
 * global affine flow (coefficients of 1, x, y for u and v) the moments were taken of, added back
 * in float32, or, where trend_field is not NULL, that field (H, W, 2) float32 (the trend with its
 * slope held back far from the known values); fitted: (H, W, 2) float32. */
void affine_solve(const float *moments, const float *xs, const float *ys,
                  const float *trend, const float *trend_field, double reach, int finite_reach,
                  float *fitted, long height, long width, int threads) {
    const double reach2 = reach * reach;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long row = 0; row < height; row++) {
        const double y = ys[row];
        for (long column = 0; column < width; column++) {
            const float *m = moments + (row * width + column) * 12;
            const double inverse_weight = 1.0 / (m[0] > 1e-30 ? (double)m[0] : 1e-30);
            double means[11];
            for (int k = 0; k < 11; k++) means[k] = m[k + 1] * inverse_weight;
            const double mean_x = means[0], mean_y = means[1];
            const double cxx = means[2] - mean_x * mean_x;
            const double cxy = means[3] - mean_x * mean_y;
            const double cyy = means[4] - mean_y * mean_y;
            const double det = cxx * cyy - cxy * cxy;
            const int spans_plane = det > 1e-4 * (cxx + cyy) * (cxx + cyy) + 1e-12;
            double inverse_det = spans_plane ? 1.0 / det : 0.0;
            const double dx = (double)xs[column] - mean_x, dy = y - mean_y;
            if (finite_reach) {
                double distance2 = (dx * dx * cyy - 2 * dx * dy * cxy + dy * dy * cxx) * inverse_det;
                if (distance2 < 1e-30) distance2 = 1e-30;
                const double shrink = reach2 / distance2;
                inverse_det *= shrink < 1.0 ? sqrt(shrink) : 1.0;
            }
            for (int f = 0; f < 2; f++) {
                const double mean_f = means[5 + 3 * f];
                const double cfx = means[6 + 3 * f] - mean_x * mean_f;
                const double cfy = means[7 + 3 * f] - mean_y * mean_f;
                const float local = (float)(mean_f + ((cfx * cyy - cfy * cxy) * dx + (cfy * cxx - cfx * cxy) * dy) * inverse_det);
                const float global = trend_field ? trend_field[(row * width + column) * 2 + f]
                                                 : trend[f] + xs[column] * trend[2 + f] + ys[row] * trend[4 + f];
                fitted[(row * width + column) * 2 + f] = local + global;
            }
        }
    }
}
