//! The few statistics the dataset tools need: the normal distribution, a Cholesky factor,
//! correlation, and two-sample distances. Small enough that a linear-algebra crate would
//! cost more build time than it saves.

/// Φ(z), the standard normal CDF.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Φ⁻¹(p): Acklam's rational approximation, polished by one Halley step on `erfc`
/// (relative error near machine precision). `p` is clamped away from 0 and 1.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Pearson correlation of the columns of `data` (`data[column][row]`).
pub fn correlation(data: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let d = data.len();
    let n = data.first().map_or(0, Vec::len) as f64;
    let centred: Vec<(Vec<f64>, f64)> = data
        .iter()
        .map(|col| {
            let mean = col.iter().sum::<f64>() / n.max(1.0);
            let c: Vec<f64> = col.iter().map(|x| x - mean).collect();
            let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
            (c, norm)
        })
        .collect();
    let mut out = vec![vec![0.0; d]; d];
    for i in 0..d {
        out[i][i] = 1.0;
        for j in i + 1..d {
            let (a, na) = &centred[i];
            let (b, nb) = &centred[j];
            let r = if *na > 0.0 && *nb > 0.0 {
                a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (na * nb)
            } else {
                0.0
            };
            out[i][j] = r.clamp(-1.0, 1.0);
            out[j][i] = out[i][j];
        }
    }
    out
}

/// The lower Cholesky factor of a symmetric matrix, or `None` when it is not positive
/// definite.
pub fn cholesky(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let v = a[i][i] - s;
                if v <= 1e-12 || !v.is_finite() {
                    return None;
                }
                l[i][j] = v.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Some(l)
}

/// A Cholesky factor of `a`, shrunk toward the identity as little as needed to get one
/// (a correlation matrix from data can be singular: duplicated or constant columns).
pub fn cholesky_shrunk(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    for step in 0..=20 {
        let lambda = if step == 0 {
            0.0
        } else {
            0.001 * 1.5f64.powi(step)
        };
        let m: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let id = if i == j { 1.0 } else { 0.0 };
                        (1.0 - lambda.min(1.0)) * a[i][j] + lambda.min(1.0) * id
                    })
                    .collect()
            })
            .collect();
        if let Some(l) = cholesky(&m) {
            return l;
        }
    }
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// The two-sample Kolmogorov–Smirnov statistic: the largest gap between the empirical
/// CDFs. Both inputs sorted.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return if a.len() == b.len() { 0.0 } else { 1.0 };
    }
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// Total variation distance between two count vectors over the same categories.
pub fn total_variation(a: &[f64], b: &[f64]) -> f64 {
    let (sa, sb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    if sa == 0.0 || sb == 0.0 {
        return if sa == sb { 0.0 } else { 1.0 };
    }
    0.5 * a
        .iter()
        .zip(b)
        .map(|(x, y)| (x / sa - y / sb).abs())
        .sum::<f64>()
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_inverts_the_cdf() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-9);
        assert!(normal_quantile(0.5).abs() < 1e-12);
        for z in [-6.0, -3.1, -1.0, -0.2, 0.0, 0.7, 2.5, 5.5] {
            assert!((normal_quantile(normal_cdf(z)) - z).abs() < 1e-7, "{z}");
        }
        assert!(normal_quantile(0.0).is_finite() && normal_quantile(1.0).is_finite());
    }

    #[test]
    fn cholesky_factors_and_refuses_what_is_not_positive_definite() {
        let a = vec![vec![1.0, 0.6], vec![0.6, 1.0]];
        let l = cholesky(&a).unwrap();
        assert!((l[1][0] - 0.6).abs() < 1e-12 && (l[1][1] - 0.8).abs() < 1e-12);
        let singular = vec![vec![1.0, 1.0], vec![1.0, 1.0]];
        assert!(cholesky(&singular).is_none());
        let l = cholesky_shrunk(&singular);
        assert!(l[1][1] > 0.0);
    }

    #[test]
    fn distances() {
        assert_eq!(ks_statistic(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.0);
        assert_eq!(ks_statistic(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert!((ks_statistic(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]) - 0.5).abs() < 1e-12);
        assert_eq!(total_variation(&[1.0, 1.0], &[2.0, 2.0]), 0.0);
        assert_eq!(total_variation(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
        let r = correlation(&[
            vec![1.0, 2.0, 3.0],
            vec![2.0, 4.0, 6.1],
            vec![3.0, 2.0, 1.0],
        ]);
        assert!(r[0][1] > 0.99 && (r[0][2] + 1.0).abs() < 1e-12);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), 2.0);
    }
}
