/* One sweep of the domain transform's first-order recursion, in C (flowinpaint.diffusion.domain_transform).
 *
 * values x and result z: (batch, channels, height, width) float32, contiguous; links a: the feedback
 * between consecutive pixels along the sweep's axis, shared by the channels: (batch, height, width - 1)
 * along rows (vertical = 0), (batch, height - 1, width) along columns (vertical = 1). Link k joins
 * pixels k and k + 1.
 *
 *   blend (accumulate = 0):      z_j = x_j + a (z_prev - x_j)   (the filter itself)
 *   accumulate (accumulate = 1): z_j = x_j + a z_prev            (its adjoint, for the gradient)
 *
 * where z_prev is the previous pixel along the sweep (j - 1 forwards, j + 1 with reverse = 1) and a
 * the link between the two; the first pixel of the sweep is z = x. x and z may be the same array.
 * Lines are independent: the result does not depend on the number of threads.
 */

static inline float step(float x, float a, float previous, int accumulate) {
    return accumulate ? x + a * previous : x + a * (previous - x);
}

void rf_sweep(const float *x, const float *a, float *z, long batch, long channels, long height, long width,
              int vertical, int reverse, int accumulate, int threads) {
    const long plane = height * width;
    if (!vertical) {
        /* one row at a time, sequential along it; rows in parallel */
        #pragma omp parallel for schedule(static) num_threads(threads)
        for (long line = 0; line < batch * channels * height; line++) {
            const long b = line / (channels * height), row = line % height;
            const float *xs = x + line * width;
            float *zs = z + line * width;
            const float *links = a + (b * height + row) * (width - 1);
            if (!reverse) {
                zs[0] = xs[0];
                for (long j = 1; j < width; j++) zs[j] = step(xs[j], links[j - 1], zs[j - 1], accumulate);
            } else {
                zs[width - 1] = xs[width - 1];
                for (long j = width - 2; j >= 0; j--) zs[j] = step(xs[j], links[j], zs[j + 1], accumulate);
            }
        }
        return;
    }
    /* one plane at a time, sequential over the rows, vectorised along each row; planes in parallel */
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long p = 0; p < batch * channels; p++) {
        const long b = p / channels;
        const float *xs = x + p * plane;
        float *zs = z + p * plane;
        const float *links = a + b * (height - 1) * width;
        const long first = reverse ? height - 1 : 0, last = reverse ? -1 : height, direction = reverse ? -1 : 1;
        for (long j = 0; j < width; j++) zs[first * width + j] = xs[first * width + j];
        for (long row = first + direction; row != last; row += direction) {
            const float *link = links + (reverse ? row : row - 1) * width;
            const float *previous = zs + (row - direction) * width;
            const float *xr = xs + row * width;
            float *zr = zs + row * width;
            for (long j = 0; j < width; j++) zr[j] = step(xr[j], link[j], previous[j], accumulate);
        }
    }
}
