/* The beam search of additive quantization for one chunk of vectors, one vector at a time, in C.
 *
 * The same search as vqcore/quantizers/beam_search.py (see its docstring), on the same float32
 * tables: `lin` (||c||^2 - 2 <x, c> per codeword, from torch's matrix product), `gram`
 * (2 <c_j, c_l>) and the set hashes. Every score is the same float addition as there, in the same
 * order (a tuple's increments are the linear block plus one Gram row per codeword, added in the
 * order the codewords were added), so the codes are the same up to the order in which exactly equal
 * scores are ranked. What changes is the work: torch ranks candidates with block minima and top-k
 * kernels over whole batches; here each vector keeps its B best distinct tuples in a short list,
 * and a block of 8 candidates is read further only when its minimum can enter that list.
 *
 * Built by vqcore/quantizers/beam_search_native.py with the system's C compiler (no -ffast-math:
 * the additions must round as torch's do). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

#define VQ_MAX_STAGES 64

typedef struct {
    float err;
    uint64_t key;
    uint64_t used;
    int32_t path[VQ_MAX_STAGES];
} hyp_t;

typedef struct {
    float score;
    uint64_t key;
    int32_t parent;
    int32_t cand; /* flat codeword index m * K + k */
} cand_t;

typedef struct {
    cand_t *items; /* a binary max-heap by score: items[0] is the worst kept */
    int count, cap;
    int dedup;
} best_list_t;

static void swap_items(cand_t *a, cand_t *b) {
    cand_t t = *a;
    *a = *b;
    *b = t;
}

static void sift_up(cand_t *h, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!(h[i].score > h[p].score)) return;
        swap_items(&h[i], &h[p]);
        i = p;
    }
}

static void sift_down(cand_t *h, int n, int i) {
    for (;;) {
        int a = 2 * i + 1, b = a + 1, m = i;
        if (a < n && h[a].score > h[m].score) m = a;
        if (b < n && h[b].score > h[m].score) m = b;
        if (m == i) return;
        swap_items(&h[i], &h[m]);
        i = m;
    }
}

/* Offer one candidate: the list keeps the `cap` best distinct sets (by key), each at its lowest score. */
static void offer(best_list_t *l, float s, uint64_t key, int32_t parent, int32_t cand) {
    int full = l->count == l->cap;
    if (full && !(s < l->items[0].score)) return;
    if (l->dedup) {
        for (int i = 0; i < l->count; i++) {
            if (l->items[i].key == key) {
                if (s < l->items[i].score) {
                    l->items[i].score = s;
                    l->items[i].parent = parent;
                    l->items[i].cand = cand;
                    sift_down(l->items, l->count, i);
                }
                return;
            }
        }
    }
    cand_t c = {s, key, parent, cand};
    if (!full) {
        l->items[l->count] = c;
        sift_up(l->items, l->count++);
        return;
    }
    l->items[0] = c;
    sift_down(l->items, l->count, 0);
}

static int by_score(const void *a, const void *b) {
    float x = ((const cand_t *)a)->score, y = ((const cand_t *)b)->score;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y); /* NaNs last: a consistent order for qsort */
    return (x > y) - (x < y);
}

/* Every candidate e + row[k], k < K, of tuple `parent`, codebook block starting at flat index `base`.
 * Once the list is full, 8 candidates at a time are compared with its worst (one vector compare
 * where the CPU has AVX), and only those below it are offered. */
static void scan_row(best_list_t *l, const float *row, int K, float e, uint64_t key, const uint64_t *hashes,
                     int32_t parent, int32_t base) {
    int k = 0;
    for (; k < K && l->count < l->cap; k++) offer(l, e + row[k], key + hashes[base + k], parent, base + k);
#ifdef __AVX__
    const __m256 ev = _mm256_set1_ps(e);
    for (; k + 8 <= K; k += 8) {
        __m256 sv = _mm256_add_ps(ev, _mm256_loadu_ps(row + k));
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(sv, _mm256_set1_ps(l->items[0].score), _CMP_LT_OQ));
        if (!mask) continue;
        float v[8];
        _mm256_storeu_ps(v, sv);
        while (mask) {
            int i = __builtin_ctz((unsigned)mask);
            mask &= mask - 1;
            if (v[i] < l->items[0].score) offer(l, v[i], key + hashes[base + k + i], parent, base + k + i);
        }
    }
#endif
    for (; k < K; k++) {
        float s = e + row[k];
        if (s < l->items[0].score) offer(l, s, key + hashes[base + k], parent, base + k);
    }
}

/* The first index of the smallest of row[0..K) (K >= 1). */
static int argmin_row(const float *row, int K) {
    int k = 0;
    float best = row[0];
#ifdef __AVX__
    if (K >= 16) {
        __m256 mv = _mm256_loadu_ps(row);
        int j = 8;
        for (; j + 8 <= K; j += 8) mv = _mm256_min_ps(mv, _mm256_loadu_ps(row + j));
        float v[8];
        _mm256_storeu_ps(v, mv);
        for (int i = 0; i < 8; i++) best = v[i] < best ? v[i] : best;
        for (; j < K; j++) best = row[j] < best ? row[j] : best;
        for (k = 0; k < K; k++) if (row[k] == best) return k;
        k = 0;
        best = row[0]; /* no value equals the minimum (NaNs): the scalar scan below decides */
    }
#endif
    for (int j = 1; j < K; j++)
        if (row[j] < best) {
            best = row[j];
            k = j;
        }
    return k;
}

/* One vector. lin: (M*K); gram: (M*K, M*K); cur, nxt: (B, M*K) scratch; hyps, hyps2: (B); items: (B).
 * Writes the tuple's flat codewords to `path_out` (M) and returns its error. */
static float search_one(int M, int K, int B, int ordered, const float *lin, float sqn, const float *gram,
                        const uint64_t *hashes, float *cur, float *nxt, hyp_t *hyps, hyp_t *hyps2, cand_t *items,
                        int32_t *path_out) {
    const int64_t MK = (int64_t)M * K;
    best_list_t l = {items, 0, 0, !ordered};
    int nb = 1;
    hyps[0].err = sqn;
    hyps[0].key = 0;
    hyps[0].used = 0;
    /* the increments of tuple h at this step: `lin` itself for the empty tuple, then `cur` */
    const float *inc = lin;
    for (int step = 0; step < M - 1; step++) {
        int64_t total = (int64_t)nb * (ordered ? 1 : (M - step)) * K;
        l.count = 0;
        l.cap = total < B ? (int)total : B;
        l.dedup = !ordered && step > 0;
        for (int h = 0; h < nb; h++) {
            const hyp_t *p = &hyps[h];
            for (int m = ordered ? step : 0; m < (ordered ? step + 1 : M); m++) {
                if (p->used >> m & 1) continue;
                scan_row(&l, inc + h * MK + (int64_t)m * K, K, p->err, p->key, hashes, h, m * K);
            }
        }
        /* the new tuples best first: the next step's list then fills with good candidates early */
        qsort(l.items, (size_t)l.count, sizeof(cand_t), by_score);
        for (int i = 0; i < l.count; i++) {
            const cand_t *c = &l.items[i];
            const hyp_t *p = &hyps[c->parent];
            hyp_t *q = &hyps2[i];
            int mj = c->cand / K;
            q->err = c->score;
            q->key = c->key;
            q->used = p->used | (uint64_t)1 << mj;
            memcpy(q->path, p->path, sizeof(int32_t) * (size_t)step);
            q->path[step] = c->cand;
            float *dst = nxt + i * MK;
            if (ordered) {
                /* only the next codebook's block, which the parent never had: the linear block plus
                 * one Gram row per codeword of the path, in order (as torch's embedding_bag adds them) */
                const int64_t o = (int64_t)(step + 1) * K;
                const float *g0 = gram + (int64_t)q->path[0] * MK + o;
                for (int k = 0; k < K; k++) dst[o + k] = lin[o + k] + g0[k];
                for (int s = 1; s <= step; s++) {
                    const float *gs = gram + (int64_t)q->path[s] * MK + o;
                    for (int k = 0; k < K; k++) dst[o + k] += gs[k];
                }
                continue;
            }
            const float *src = inc + c->parent * MK, *g = gram + (int64_t)c->cand * MK;
            for (int m = 0; m < M; m++) {
                if (q->used >> m & 1) continue;
                const int64_t o = (int64_t)m * K;
                for (int k = 0; k < K; k++) dst[o + k] = src[o + k] + g[o + k];
            }
        }
        nb = l.count;
        float *tf = cur; cur = nxt; nxt = tf;
        inc = cur;
        hyp_t *th = hyps; hyps = hyps2; hyps2 = th;
    }
    /* one codebook left per tuple: each tuple's best entry, then the best tuple */
    float best = INFINITY;
    int best_h = 0, best_j = 0, found = 0;
    for (int h = 0; h < nb; h++) {
        int m = 0;
        while (m < M && (hyps[h].used >> m & 1)) m++;
        if (ordered) m = M - 1;
        const float *row = inc + h * MK + (int64_t)m * K;
        int kmin = argmin_row(row, K);
        float total = row[kmin] + hyps[h].err;
        if (!found || total < best) {
            best = total;
            best_h = h;
            best_j = m * K + kmin;
            found = 1;
        }
    }
    memcpy(path_out, hyps[best_h].path, sizeof(int32_t) * (size_t)(M - 1));
    path_out[M - 1] = best_j;
    return best;
}

/* Codes (n, M) of n vectors: free-order beam search of width B, and with `ordered` also the
 * fixed-order one, keeping per vector the tuple with the smaller error (the fixed-order one only
 * when strictly smaller). lin: (n, M*K); sqn: (n,); gram: (M*K, M*K); hashes: (M*K), torch's int64
 * set hashes, added here as unsigned integers (they wrap as torch's do, without undefined behaviour).
 * Returns 0, or -1 when M is out of range or memory cannot be had (nothing written then). */
int vqcore_beam_search_f32(int64_t n, int32_t M, int32_t K, int32_t B, int32_t ordered, const float *lin,
                           const float *sqn, const float *gram, const uint64_t *hashes, int64_t *codes) {
    if (M < 2 || M > VQ_MAX_STAGES || K < 1 || B < 1) return -1;
    const int64_t MK = (int64_t)M * K;
    float *cur = malloc(sizeof(float) * (size_t)(B * MK)), *nxt = malloc(sizeof(float) * (size_t)(B * MK));
    hyp_t *h1 = malloc(sizeof(hyp_t) * (size_t)B), *h2 = malloc(sizeof(hyp_t) * (size_t)B);
    cand_t *items = malloc(sizeof(cand_t) * (size_t)B);
    int rc = 0;
    if (!cur || !nxt || !h1 || !h2 || !items) {
        rc = -1;
        goto done;
    }
    int32_t path[VQ_MAX_STAGES], fixed[VQ_MAX_STAGES];
    for (int64_t i = 0; i < n; i++) {
        const float *row = lin + i * MK;
        float err = search_one(M, K, B, 0, row, sqn[i], gram, hashes, cur, nxt, h1, h2, items, path);
        if (ordered) {
            float ferr = search_one(M, K, B, 1, row, sqn[i], gram, hashes, cur, nxt, h1, h2, items, fixed);
            if (ferr < err) memcpy(path, fixed, sizeof(int32_t) * (size_t)M);
        }
        for (int s = 0; s < M; s++) codes[i * M + path[s] / K] = path[s] % K;
    }
done:
    free(cur);
    free(nxt);
    free(h1);
    free(h2);
    free(items);
    return rc;
}

/* The index of the smallest score of each of n rows of K (K >= 1), as torch.argmin(-1) gives it:
 * the first NaN of a row that has one, else the first index of the row's minimum. The nearest
 * codeword's search (vqcore/quantizers/nearest.py) calls it on torch's scores. */
void vqcore_argmin_rows_f32(int64_t n, int32_t K, const float *scores, int64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        const float *row = scores + i * (int64_t)K;
        float best = row[0];
        int at = 0, nan = isnan(row[0]), k = 1;
#ifdef __AVX2__
        if (K >= 16) {
            /* per lane: the smallest value so far and its first index (strictly smaller replaces) */
            __m256 mv = _mm256_loadu_ps(row), un = _mm256_cmp_ps(mv, mv, _CMP_UNORD_Q);
            __m256i mi = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), idx = mi;
            const __m256i step = _mm256_set1_epi32(8);
            for (k = 8; k + 8 <= K; k += 8) {
                __m256 v = _mm256_loadu_ps(row + k);
                idx = _mm256_add_epi32(idx, step);
                un = _mm256_or_ps(un, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
                __m256 lt = _mm256_cmp_ps(v, mv, _CMP_LT_OQ);
                mv = _mm256_blendv_ps(mv, v, lt);
                mi = _mm256_blendv_epi8(mi, idx, _mm256_castps_si256(lt));
            }
            float v[8];
            int32_t vi[8];
            _mm256_storeu_ps(v, mv);
            _mm256_storeu_si256((__m256i *)vi, mi);
            nan = _mm256_movemask_ps(un) != 0;
            best = v[0];
            at = vi[0];
            for (int j = 1; j < 8; j++)
                if (v[j] < best || (v[j] == best && vi[j] < at)) {
                    best = v[j];
                    at = vi[j];
                }
        }
#endif
        for (; k < K; k++) {
            nan |= isnan(row[k]);
            if (row[k] < best) {
                best = row[k];
                at = k;
            }
        }
        if (nan) {
            at = 0;
            while (!isnan(row[at])) at++;
        }
        out[i] = at;
    }
}
