/* The k nearest known pixels of known pixels, by position or by position and colour, in C
 * (flowinpaint.methods.local_affine.nearest_known).
 *
 * The known pixels lie on the pixel grid, so instead of a k-d tree each query searches the grid
 * around its pixel, keeping the k best candidates sorted by their squared distance (rows^2 +
 * columns^2 + the squared distance of their colour features). The position part alone is a
 * lower bound, so a search may stop once every pixel it has not visited is farther in position
 * than the k-th best distance: the result is exact. Two searches give the same lists:
 * - nearest_by_rings walks the square rings around the pixel, nearest ring first, reading the
 *   map of known pixels (fast where many pixels are known: the rings it reads are few);
 * - nearest_by_rows visits growing squares row by row, nearest rows first, and finds a row's
 *   known pixels in a span of columns from a running count of the known pixels, without reading
 *   the unknown ones (fast where few are).
 * Among candidates at equal distance the one with the smaller ring key wins (the rings in order;
 * in a ring, its top row, bottom row, left and right columns, each in increasing order), the
 * order in which the ring walk meets them. Each query is independent: the result does not
 * depend on the number of threads.
 *
 * median_of_rows gives the median of each row of a small table (the neighbours' distances);
 * median_and_spread summarises each known pixel's neighbours' values (neighbour_agreement):
 * their component-wise median and their spread, the median distance of the values from it,
 * medians as numpy's (the mean of the two middle values of an even count); consensus_count counts
 * the neighbours that agree closely with the pixel's own value (consensus_agreement);
 * median_of_neighbours gives the channel-wise median of the neighbours' colours (colour_contrast);
 * neighbours_plane predicts each value from the affine model of its neighbours alone (the trust
 * classifier's leave-one-out residual).
 */

#include <math.h>

#define MAX_NEIGHBOURS 64

/* The k best candidates so far, nearest first. */
typedef struct {
    int filled;
    long index[MAX_NEIGHBOURS];
    long key[MAX_NEIGHBOURS];
    double distance2[MAX_NEIGHBOURS];
} Best;

/* The candidate at row and column offsets (dr, dc) in the order of the ring walk: ring, then
 * side (top row, bottom row, left column, right column), then the position along the side. */
static long ring_key(long dr, long dc) {
    const long ar = dr < 0 ? -dr : dr, ac = dc < 0 ? -dc : dc, ring = ar > ac ? ar : ac;
    long side, along;
    if (dr == -ring) side = 0, along = dc;
    else if (dr == ring) side = 1, along = dc;
    else if (dc == -ring) side = 2, along = dr;
    else side = 3, along = dr;
    return ((ring * 4 + side) << 32) + along + ring;
}

static int before(double distance2, long key, double other_distance2, long other_key) {
    return distance2 < other_distance2 || (distance2 == other_distance2 && key < other_key);
}

static void consider(long candidate, double distance2, long key, int k, Best *best) {
    if (best->filled == k && !before(distance2, key, best->distance2[k - 1], best->key[k - 1])) return;
    int at = best->filled < k ? best->filled++ : k - 1;
    while (at > 0 && before(distance2, key, best->distance2[at - 1], best->key[at - 1])) {
        best->distance2[at] = best->distance2[at - 1];
        best->index[at] = best->index[at - 1];
        best->key[at] = best->key[at - 1];
        at--;
    }
    best->distance2[at] = distance2;
    best->index[at] = candidate;
    best->key[at] = key;
}

/* The squared distance beyond which no candidate enters the list. */
static double reach2(const Best *best, int k) {
    return best->filled < k ? INFINITY : best->distance2[k - 1];
}

/* The squared distance in position beyond which no candidate enters either list (`both`: the
 * list by position alone is kept too). */
static double search_reach2(const Best *best, const Best *near, int k, int both) {
    const double own = reach2(best, k);
    return both && reach2(near, k) > own ? reach2(near, k) : own;
}

/* The squared distance of known pixel j from the query (features `own`): `position2` plus that of the features. */
static double feature_distance2(double position2, long j, const float *own, const float *features, int channels) {
    const float *other = features + j * channels;
    for (int channel = 0; channel < channels; channel++) {
        const double difference = (double)other[channel] - (double)own[channel];
        position2 += difference * difference;
    }
    return position2;
}

/* Whether a candidate at these squared distances would enter either list. */
static int enters(double distance2, double position2, int k, int both, const Best *best, const Best *near) {
    return distance2 <= reach2(best, k) || (both && position2 <= reach2(near, k));
}

/* Offers candidate j with tie-breaking `key` to both lists. */
static void offer(long j, double distance2, double position2, long key, int k, int both, Best *best, Best *near) {
    consider(j, distance2, key, k, best);
    if (both) consider(j, position2, key, k, near);
}

/* Writes the k best of the list (the pixel itself where there were fewer) and their distance in position. */
static void write_best(const long *rows, const long *columns, long self, int k, const Best *best, long *out_index,
                       double *out_distance) {
    for (int j = 0; j < k; j++) {
        const long other = j < best->filled ? best->index[j] : self;
        const double dr = (double)(rows[other] - rows[self]), dc = (double)(columns[other] - columns[self]);
        out_index[self * k + j] = other;
        out_distance[self * k + j] = sqrt(dr * dr + dc * dc);
    }
}

/* The arguments both searches share: rows, columns: (N,) int64, the known pixels in row-major
 * order (np.nonzero's); features: (N, channels) float32 colour features (already times the
 * colour weight; channels 0: by position only); k <= MAX_NEIGHBOURS and < N; out_index: (N, k)
 * int64, the k nearest other known pixels of each by position and features, nearest first;
 * out_distance: (N, k) float64, their distance in position, pixels. position_index and
 * position_distance, where not NULL, receive the k nearest by position alone from the same
 * search (it goes on until both lists are final). */

/* label: (H, W) int32, the index of the known pixel at each pixel or -1. */
void nearest_by_rings(const int *label, const long *rows, const long *columns, const float *features, int channels,
                      long count, int k, long height, long width, long *out_index, double *out_distance,
                      long *position_index, double *position_distance, int threads) {
    const long largest_ring = height > width ? height : width;
    const int both = position_index != 0 && position_distance != 0;
    #pragma omp parallel for schedule(dynamic, 256) num_threads(threads)
    for (long self = 0; self < count; self++) {
        const long row = rows[self], column = columns[self];
        const float *own = features + self * channels;
        Best best, near;
        best.filled = near.filled = 0;
        long met = 0;
        for (long ring = 1; ring <= largest_ring; ring++) {
            if ((double)(ring * ring) >= search_reach2(&best, &near, k, both)) break;
            for (int side = 0; side < 4; side++) {
                /* top and bottom rows of the ring in full, left and right columns without corners */
                const int horizontal = side < 2;
                const long fixed = horizontal ? row + (side == 0 ? -ring : ring) : column + (side == 2 ? -ring : ring);
                if (fixed < 0 || fixed >= (horizontal ? height : width)) continue;
                const long from = horizontal ? column - ring : row - ring + 1;
                const long to = horizontal ? column + ring : row + ring - 1;
                const long limit = horizontal ? width : height;
                for (long moving = from < 0 ? 0 : from; moving <= to && moving < limit; moving++) {
                    const long r = horizontal ? fixed : moving, c = horizontal ? moving : fixed;
                    const long candidate = label[r * width + c];  /* int32: the map stays in cache */
                    if (candidate < 0) continue;
                    const double position2 = (double)((r - row) * (r - row) + (c - column) * (c - column));
                    const double distance2 = feature_distance2(position2, candidate, own, features, channels);
                    /* the walk meets candidates in ring-key order: a count of them is that key */
                    if (enters(distance2, position2, k, both, &best, &near))
                        offer(candidate, distance2, position2, met, k, both, &best, &near);
                    met++;
                }
            }
        }
        write_best(rows, columns, self, k, &best, out_index, out_distance);
        if (both) write_best(rows, columns, self, k, &near, position_index, position_distance);
    }
}

/* Offers the known pixels of row `r` from column `near_end` outward to `far_end` (either side of
 * the query's column; clipped to the image), nearest first, until they lie beyond `limit`,
 * which is kept equal to search_reach2. */
static void visit_run(const int *known_before, const long *columns, const float *features, int channels, long self,
                      long row, long column, long r, long near_end, long far_end, long width, int k, int both,
                      Best *best, Best *near, double *limit) {
    const long step = far_end >= near_end ? 1 : -1;
    long low = step > 0 ? near_end : far_end, high = step > 0 ? far_end : near_end;
    if (low < 0) low = 0;
    if (high >= width) high = width - 1;
    if (low > high) return;
    const long first = known_before[r * width + low], last = known_before[r * width + high + 1] - 1;
    const long dr = r - row;
    const float *own = features + self * channels;
    for (long j = step > 0 ? first : last; j >= first && j <= last; j += step) {
        const long dc = columns[j] - column;
        const double position2 = (double)(dr * dr + dc * dc);
        if (position2 > *limit) break;
        const double distance2 = feature_distance2(position2, j, own, features, channels);
        if (!enters(distance2, position2, k, both, best, near)) continue;
        offer(j, distance2, position2, ring_key(dr, dc), k, both, best, near);
        *limit = search_reach2(best, near, k, both);
    }
}

/* known_before: (H * W + 1,) int32, the number of known pixels before each pixel in row-major
 * order (those of row r, columns a..b, are known_before[r W + a] .. known_before[r W + b + 1] - 1).
 *
 * Each query visits a square expected to hold about 2k known pixels, then, once both lists are
 * full, the square whose half side is the square root of the larger k-th best distance
 * (doubling while they are not): every pixel outside it is farther in position alone. */
void nearest_by_rows(const int *known_before, const long *rows, const long *columns, const float *features,
                     int channels, long count, int k, long height, long width, long *out_index, double *out_distance,
                     long *position_index, double *position_distance, int threads) {
    const int both = position_index != 0 && position_distance != 0;
    const long largest = height > width ? height : width;
    const long first_radius = (long)ceil(0.5 * sqrt(2.0 * k * (double)height * (double)width / (double)count));
    #pragma omp parallel for schedule(dynamic, 256) num_threads(threads)
    for (long self = 0; self < count; self++) {
        const long row = rows[self], column = columns[self];
        Best best, near;
        best.filled = near.filled = 0;
        long done = 0, radius = first_radius;  /* the square of half side `done` is visited */
        while (done < largest) {
            double limit = search_reach2(&best, &near, k, both);
            for (long offset = 0; offset <= radius && (double)(offset * offset) <= limit; offset++)
            for (int side = offset == 0; side < 2; side++) {  /* nearest rows first: the lists fill with near candidates */
                const long dr = side ? offset : -offset, r = row + dr;
                if (r < 0 || r >= height) continue;
                long reach = radius;
                if (limit < INFINITY) {
                    const long within = (long)sqrt(limit - (double)(dr * dr)) + 1;
                    if (within < reach) reach = within;
                }
                /* the row's part of the square outside the visited one: all of it, or both ends */
                const long inner = dr < -done || dr > done ? 0 : done + 1;
                if (reach >= inner) {
                    visit_run(known_before, columns, features, channels, self, row, column, r, column + inner,
                              column + reach, width, k, both, &best, &near, &limit);
                    visit_run(known_before, columns, features, channels, self, row, column, r,
                              column - (inner ? inner : 1), column - reach, width, k, both, &best, &near, &limit);
                }
            }
            done = radius;
            if (limit < INFINITY) {
                const long needed = (long)sqrt(limit) + 1;
                if (needed <= done) break;
                radius = needed;
            } else {
                radius = 2 * radius;
            }
        }
        write_best(rows, columns, self, k, &best, out_index, out_distance);
        if (both) write_best(rows, columns, self, k, &near, position_index, position_distance);
    }
}

/* The median of n values (sorted in place; finite), as numpy's. */
static double median_of(double *values, int n) {
    if (n == 8) {  /* the default's neighbour count: a sorting network in registers, without branches */
        double v0 = values[0], v1 = values[1], v2 = values[2], v3 = values[3], v4 = values[4], v5 = values[5],
               v6 = values[6], v7 = values[7];
#define ORDER(a, b) { const double low = b < a ? b : a, high = b < a ? a : b; a = low; b = high; }
        ORDER(v0, v2) ORDER(v1, v3) ORDER(v4, v6) ORDER(v5, v7) ORDER(v0, v4) ORDER(v1, v5) ORDER(v2, v6)
        ORDER(v3, v7) ORDER(v0, v1) ORDER(v2, v3) ORDER(v4, v5) ORDER(v6, v7) ORDER(v2, v4) ORDER(v3, v5)
        ORDER(v1, v4) ORDER(v3, v6) ORDER(v1, v2) ORDER(v3, v4) ORDER(v5, v6)
#undef ORDER
        values[0] = v0, values[1] = v1, values[2] = v2, values[3] = v3, values[4] = v4, values[5] = v5,
        values[6] = v6, values[7] = v7;
        return 0.5 * (v3 + v4);
    }
    for (int i = 1; i < n; i++) {
        const double value = values[i];
        int at = i;
        while (at > 0 && values[at - 1] > value) {
            values[at] = values[at - 1];
            at--;
        }
        values[at] = value;
    }
    return 0.5 * (values[(n - 1) / 2] + values[n / 2]);
}

/* The component-wise median of the k values values[neighbours[j]] (rows of (M, 2)) and the
 * median of their distances from it. */
static void summarise(const double *values, const long *neighbours, int k, double *median_u, double *median_v,
                      double *spread) {
    double u[MAX_NEIGHBOURS], v[MAX_NEIGHBOURS], distance[MAX_NEIGHBOURS];
    for (int j = 0; j < k; j++) {
        u[j] = values[2 * neighbours[j]];
        v[j] = values[2 * neighbours[j] + 1];
    }
    *median_u = median_of(u, k);
    *median_v = median_of(v, k);
    for (int j = 0; j < k; j++) {
        const double du = values[2 * neighbours[j]] - *median_u, dv = values[2 * neighbours[j] + 1] - *median_v;
        distance[j] = sqrt(du * du + dv * dv);
    }
    *spread = median_of(distance, k);
}

/* values: (N, k) float64 finite, k <= MAX_NEIGHBOURS; out: (N,) the median of each row, as numpy's. */
void median_of_rows(const double *values, long count, int k, double *out, int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long row = 0; row < count; row++) {
        double sorted[MAX_NEIGHBOURS];
        for (int j = 0; j < k; j++) sorted[j] = values[row * k + j];
        out[row] = median_of(sorted, k);
    }
}

/* values: (M, 2) float64; index: (N, k) int64 rows of values, k <= MAX_NEIGHBOURS; out_median:
 * (N, 2) the component-wise median of each row's k values; out_spread: (N,) the median of their
 * distances from it. */
void median_and_spread(const double *values, const long *index, long count, int k, double *out_median,
                       double *out_spread, int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long row = 0; row < count; row++)
        summarise(values, index + row * k, k, &out_median[2 * row], &out_median[2 * row + 1], &out_spread[row]);
}

/* values: (M, channels) float32; index: (N, k) int64 rows of values, k <= MAX_NEIGHBOURS; out: (N,
 * channels) float32, the channel-wise median of each row's k values (the mean of the middle two, in
 * float32 as numpy's). */
void median_of_neighbours(const float *values, const long *index, long count, int k, int channels, float *out,
                          int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long row = 0; row < count; row++) {
        double column[MAX_NEIGHBOURS];
        for (int channel = 0; channel < channels; channel++) {
            for (int j = 0; j < k; j++) column[j] = values[index[row * k + j] * channels + channel];
            median_of(column, k);  /* sorts in place */
            out[row * channels + channel] = ((float)column[(k - 1) / 2] + (float)column[k / 2]) / 2.0f;
        }
    }
}

/* For each tested value tested[i] (rows of values (M, 2) float64) with neighbours index (N, k) at
 * distances distance (N, k) pixels: how many of them that are counted (counted: (M,) uint8) lie
 * within tolerance + slope * distance + spread_factor * spread of it, spread that of all k
 * neighbours (as median_and_spread). out_count: (N,) int64. */
void consensus_count(const double *values, const long *tested, const long *index, const double *distance,
                     const unsigned char *counted, long count, int k, double tolerance, double slope,
                     double spread_factor, long *out_count, int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long row = 0; row < count; row++) {
        const long *neighbours = index + row * k;
        double median_u, median_v, spread;
        summarise(values, neighbours, k, &median_u, &median_v, &spread);
        const double own_u = values[2 * tested[row]], own_v = values[2 * tested[row] + 1];
        long agreeing = 0;
        for (int j = 0; j < k; j++) {
            if (!counted[neighbours[j]]) continue;
            const double du = values[2 * neighbours[j]] - own_u, dv = values[2 * neighbours[j] + 1] - own_v;
            agreeing += sqrt(du * du + dv * dv) <= tolerance + slope * distance[row * k + j] + spread_factor * spread;
        }
        out_count[row] = agreeing;
    }
}

/* The weighted least-squares plane c + a dx + b dy through the k values values[neighbours[j]] at
 * offsets (dx[j], dy[j]) with weights weight[j], its slopes ridged by ridge: (c, a, b) for both
 * components, each (2,), by Cramer's rule on the 3x3 normal equations. */
static void weighted_plane(const double *values, const long *neighbours, const double *dx, const double *dy,
                           const double *weight, int k, double ridge, double *c, double *a, double *b) {
    double s00 = 1e-12, s01 = 0, s02 = 0, s11 = ridge, s12 = 0, s22 = ridge;
    double t0[2] = {0, 0}, t1[2] = {0, 0}, t2[2] = {0, 0};
    for (int j = 0; j < k; j++) {
        const double w = weight[j], wx = w * dx[j], wy = w * dy[j];
        s00 += w; s01 += wx; s02 += wy;
        s11 += wx * dx[j]; s12 += wx * dy[j]; s22 += wy * dy[j];
        for (int component = 0; component < 2; component++) {
            const double value = values[2 * neighbours[j] + component];
            t0[component] += w * value; t1[component] += wx * value; t2[component] += wy * value;
        }
    }
    const double a00 = s11 * s22 - s12 * s12, a01 = s02 * s12 - s01 * s22, a02 = s01 * s12 - s02 * s11;
    const double a11 = s00 * s22 - s02 * s02, a12 = s01 * s02 - s00 * s12, a22 = s00 * s11 - s01 * s01;
    const double determinant = s00 * a00 + s01 * a01 + s02 * a02;
    for (int component = 0; component < 2; component++) {
        c[component] = (a00 * t0[component] + a01 * t1[component] + a02 * t2[component]) / determinant;
        a[component] = (a01 * t0[component] + a11 * t1[component] + a12 * t2[component]) / determinant;
        b[component] = (a02 * t0[component] + a12 * t1[component] + a22 * t2[component]) / determinant;
    }
}

/* For each value rows[i] (rows of values (M, 2) float64 at positions (M, 2) (row, column) px;
 * rows: (N,) int64) with neighbours index (N, k) at distances distance (N, k) px: the prediction
 * of the affine model of its neighbours alone, evaluated at its position (out: (N, 2)). Offsets are measured in the
 * neighbours' median distance (at least 1 px); the plane is fitted with the weights prior[j] of
 * the neighbours, then again with prior[j] / (1 + (misfit_j / cauchy)^2), misfit_j the distance of
 * neighbour j's value from the first plane (local_affine.neighbours_plane, whose numpy path computes the same). */
void neighbours_plane(const double *values, const double *positions, const long *index, const double *distance,
                      const double *prior, const long *rows, long count, int k, double ridge, double cauchy,
                      double *out, int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long row = 0; row < count; row++) {
        const long self = rows[row];
        const long *neighbours = index + row * k;
        double sorted[MAX_NEIGHBOURS], dx[MAX_NEIGHBOURS], dy[MAX_NEIGHBOURS], weight[MAX_NEIGHBOURS];
        for (int j = 0; j < k; j++) sorted[j] = distance[row * k + j];
        double scale = median_of(sorted, k);
        if (scale < 1.0) scale = 1.0;
        for (int j = 0; j < k; j++) {
            dy[j] = (positions[2 * neighbours[j]] - positions[2 * self]) / scale;
            dx[j] = (positions[2 * neighbours[j] + 1] - positions[2 * self + 1]) / scale;
            weight[j] = prior[neighbours[j]];
        }
        double c[2], a[2], b[2];
        weighted_plane(values, neighbours, dx, dy, weight, k, ridge, c, a, b);
        for (int j = 0; j < k; j++) {
            const double du = values[2 * neighbours[j]] - c[0] - a[0] * dx[j] - b[0] * dy[j];
            const double dv = values[2 * neighbours[j] + 1] - c[1] - a[1] * dx[j] - b[1] * dy[j];
            const double misfit = sqrt(du * du + dv * dv) / cauchy;
            weight[j] = prior[neighbours[j]] / (1.0 + misfit * misfit);
        }
        weighted_plane(values, neighbours, dx, dy, weight, k, ridge, c, a, b);
        out[2 * row] = c[0];
        out[2 * row + 1] = c[1];
    }
}
