# Helpers for the bench/quality scripts (prepended to their awk programs): columns of
# trials.csv by name, median, Kendall tau-b, 2-D hypervolume (minimization).
function col(name,   i) { for (i = 1; i <= NF; i++) if ($i == name) return i; return 0 }
function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# Kendall tau-b of x[1..n], y[1..n] (ties in either counted as neither concordant nor discordant).
function kendall(x, y, n,   i, j, c, d, tx, ty, s) {
    c = d = tx = ty = 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) {
        s = (x[i] - x[j]) * (y[i] - y[j])
        if (x[i] == x[j] && y[i] == y[j]) continue
        if (x[i] == x[j]) { tx++; continue }
        if (y[i] == y[j]) { ty++; continue }
        if (s > 0) c++; else d++
    }
    return (c + d + tx) * (c + d + ty) > 0 ? (c - d) / sqrt((c + d + tx) * (c + d + ty)) : 0
}
# Hypervolume dominated by points (a[i], b[i]), i = 1..n, both minimized, up to (ra, rb).
function hv2(a, b, n, ra, rb,   i, j, t, best, v) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && (a[j-1] > a[j] || (a[j-1] == a[j] && b[j-1] > b[j])); j--) {
        t = a[j]; a[j] = a[j-1]; a[j-1] = t; t = b[j]; b[j] = b[j-1]; b[j-1] = t
    }
    v = 0; best = rb
    for (i = 1; i <= n; i++) {
        if (a[i] >= ra || b[i] >= best) continue
        v += (ra - a[i]) * (best - b[i]); best = b[i]
    }
    return v
}
