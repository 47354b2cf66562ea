#!/usr/bin/env python3
"""Outside oracle for cari's evaluation metrics: writes tests/fixtures/metrics.json.

    ~/torchenv/bin/python tools/gen_metric_fixtures.py     # needs numpy, scipy, scikit-learn

Written from the definitions in DATASETS.md section 3, independently of the Rust code: the
ROC and AUC come from scikit-learn, everything else from plain numpy (brute force where that
is clearer).  Seeded; the output is the same on every run.

Conventions
-----------
* A pair is (distance, same); "same" is predicted when distance < threshold.  Distances are
  float32 values.  Quantised cases store integers q with d = q / scale (exact in float32, and
  they make ties); the others store the float32 values themselves.
* ROC: sklearn.metrics.roc_curve(same, -distance, drop_intermediate=False).  Its thresholds
  are scores (accept score >= s); the engine's are distances (accept d < t), so point k's
  threshold here is: the smallest distance for k = 0, the next distinct distance after the
  one point k adds, and the float32 just above the largest distance for the last point.
* AUC: sklearn.metrics.roc_auc_score(same, -distance).
* EER: where the ROC polyline crosses FAR = 1 - TAR (checked against scipy's brentq on
  1 - x - interp(x)); its threshold is interpolated linearly between the two points' ones.
* VAL@FAR, "test_fold": per fold, the largest candidate threshold (every distance of the
  fold, and the float above its largest) whose FAR on the fold is <= target; VAL there.
* VAL@FAR, "reference_training_folds": the paper's code (facenet_ext.calculate_val): FAR of
  the other folds on numpy.arange(0, 4, 0.001); threshold = interp1d(far, thresholds,
  kind='slinear')(target) as scipy evaluated it then (a degree-1 B-spline with knots
  [far0, far..., farN]; today's scipy refuses the repeated FAR values, so the same B-spline
  is built directly), or 0 when the FAR never reaches the target; VAL and FAR measured on
  those training folds.
* Folds: contiguous, the first n mod k folds one pair longer.  Means and population stds.
* Identification: D[i, j] = |p_i - g_j|^2; gallery identities ranked by their minimum
  distance; identities tied with the true one are in random order, and Rank-k counts the
  probability that the true identity lands in the first k (exact fractions).  A probe whose
  identity is not in the gallery scores 0 at every rank.
"""

import json
import os
from fractions import Fraction

import numpy as np
from scipy import interpolate, optimize
from sklearn.metrics import roc_auc_score, roc_curve

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "metrics.json")
TARGETS = [0.001, 0.01, 0.1]


def folds(n, k):
    base, extra = divmod(n, k)
    ranges, start = [], 0
    for f in range(k):
        length = base + (1 if f < extra else 0)
        ranges.append((start, start + length))
        start += length
    return ranges


def next_float32(x):
    return np.nextafter(np.float32(x), np.float32(np.inf))


def roc(d, same):
    fpr, tpr, score_thresholds = roc_curve(same, -d, drop_intermediate=False)
    distinct = np.unique(d)
    assert len(fpr) == len(distinct) + 1
    assert np.all(-score_thresholds[1:] == distinct)
    thresholds = np.concatenate([[distinct[0]], distinct[1:], [next_float32(distinct[-1])]])
    return thresholds.astype(np.float64), fpr, tpr


def eer(thresholds, fpr, tpr):
    excess = fpr + tpr - 1.0
    k = int(np.argmax(excess[1:] >= 0.0))
    along = -excess[k] / (excess[k + 1] - excess[k])
    value = fpr[k] + along * (fpr[k + 1] - fpr[k])
    check = optimize.brentq(lambda x: 1.0 - x - np.interp(x, fpr, tpr), 0.0, 1.0, xtol=1e-15)
    assert abs(check - value) < 1e-9, (check, value)
    return value, thresholds[k] + along * (thresholds[k + 1] - thresholds[k])


def rates_at(d, same, threshold):
    accepted = d.astype(np.float64) < threshold
    return float(np.mean(accepted[same])), float(np.mean(accepted[~same]))


def val_test_fold(d, same, ranges, target):
    val, far, thresholds = [], [], []
    for start, end in ranges:
        fd, fs = d[start:end], same[start:end]
        candidates = np.concatenate([np.unique(fd), [next_float32(fd.max())]]).astype(np.float64)
        within = [t for t in candidates if np.mean(fd[~fs].astype(np.float64) < t) <= target]
        threshold = max(within)
        v, f = rates_at(fd, fs, threshold)
        val.append(v), far.append(f), thresholds.append(float(threshold))
    return val, far, thresholds


def val_reference(d, same, ranges, target):
    grid = np.arange(0, 4, 0.001)
    val, far, thresholds = [], [], []
    for start, end in ranges:
        train = np.ones(len(d), dtype=bool)
        train[start:end] = False
        td, ts = d[train].astype(np.float64), same[train]
        far_train = np.array([np.mean(td[~ts] < t) for t in grid])
        if far_train.max() >= target:
            spline = interpolate.BSpline.construct_fast(np.r_[far_train[0], far_train, far_train[-1]], grid, 1)
            threshold = float(spline(target))
            i = int(np.nonzero(far_train[:-1] <= target)[0][-1])
            direct = grid[i] + (target - far_train[i]) / (far_train[i + 1] - far_train[i]) * (grid[i + 1] - grid[i])
            assert abs(direct - threshold) < 1e-12, (direct, threshold)
        else:
            threshold = 0.0
        # Keep the case robust: no distance so close to the threshold that rounding matters.
        assert np.min(np.abs(td - threshold)) > 1e-9 or threshold == 0.0
        v, f = rates_at(d[train], ts, threshold)
        val.append(v), far.append(f), thresholds.append(threshold)
    return val, far, thresholds


def summary(values):
    values = np.array(values)
    return {"per_fold": values.tolist(), "mean": float(values.mean()), "std": float(values.std())}


def verification_case(name, d, same, k, scale=None, full_roc=True):
    d = d.astype(np.float32)
    same = same.astype(bool)
    ranges = folds(len(d), k)
    for start, end in ranges:
        assert same[start:end].any() and (~same[start:end]).any(), f"{name}: a fold lacks a kind of pair"
    thresholds, fpr, tpr = roc(d, same)
    eer_value, eer_threshold = eer(thresholds, fpr, tpr)
    case = {"name": name, "folds": k, "same": "".join("1" if s else "0" for s in same)}
    if scale is None:
        case["distances"] = [float(x) for x in d]
    else:
        q = np.round(d * scale).astype(int)
        assert np.all(q / scale == d)
        case["scale"], case["distances_scaled"] = scale, q.tolist()
    points = len(fpr)
    keep = range(points) if full_roc else sorted(set(range(0, points, max(1, points // 24))) | {points - 1})
    case["roc"] = {
        "points": points,
        "index": list(keep),
        "thresholds": [float(thresholds[i]) for i in keep],
        "far": [float(fpr[i]) for i in keep],
        "tar": [float(tpr[i]) for i in keep],
    }
    case["auc"] = float(roc_auc_score(same, -d))
    case["eer"], case["eer_threshold"] = float(eer_value), float(eer_threshold)
    case["val"] = []
    for protocol, compute in [("test_fold", val_test_fold), ("reference_training_folds", val_reference)]:
        for target in TARGETS:
            val, far, chosen = compute(d, same, ranges, target)
            case["val"].append(
                {"protocol": protocol, "target_far": target, "val": summary(val), "far": summary(far), "thresholds": chosen}
            )
    return case


def cmc_expected(dist, probe_ids, gallery_ids, max_rank):
    identities = sorted(set(gallery_ids))
    credit = [Fraction(0)] * max_rank
    missing = 0
    for i, probe in enumerate(probe_ids):
        if probe not in identities:
            missing += 1
            continue
        nearest = {c: min(dist[i][j] for j, g in enumerate(gallery_ids) if g == c) for c in identities}
        ordered = sorted(set(nearest.values()))
        start = sum(1 for c in identities if nearest[c] < nearest[probe])  # positions before the tie group
        group = sum(1 for c in identities if nearest[c] == nearest[probe])
        assert ordered.index(nearest[probe]) <= start
        for k in range(1, max_rank + 1):
            inside = max(0, min(k, start + group) - start)
            credit[k - 1] += Fraction(inside, group)
    return [float(c / len(probe_ids)) for c in credit], missing


def cmc_case(name, dist, probe_ids, gallery_ids, max_rank, **data):
    """A CMC fixture: `data` (how the case gives its distances), then the ids and the expected curve."""
    rates, missing = cmc_expected(dist, probe_ids, gallery_ids, max_rank)
    return {
        "name": name,
        **data,
        "probe_ids": probe_ids,
        "gallery_ids": gallery_ids,
        "max_rank": max_rank,
        "rates": rates,
        "probes_without_gallery_identity": missing,
        "gallery_identities": len(set(gallery_ids)),
    }


def identification_ties(rng):
    probes, gallery, scale = 40, 30, 4
    gallery_ids = [100 + int(x) for x in rng.integers(0, 9, gallery)]
    probe_ids = [100 + int(x) for x in rng.integers(0, 10, probes)]  # identity 109 has no gallery image
    q = rng.integers(0, 16, (probes, gallery))
    dist = q / scale
    case = cmc_case(
        "quantised_ties", dist.tolist(), probe_ids, gallery_ids, 12, scale=scale, distances_scaled=q.flatten().tolist()
    )
    assert case["probes_without_gallery_identity"] > 0
    return case


def identification_embeddings(rng):
    probes, gallery, dim = 7, 11, 13

    def unit(n):
        x = rng.normal(size=(n, dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    p, g = unit(probes), unit(gallery)
    gallery_ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    probe_ids = [1, 5, 9, 2, 6, 3, 7]
    p64, g64 = p.astype(np.float64), g.astype(np.float64)
    dist = np.array([[np.sum((a - b) ** 2) for b in g64] for a in p64])
    for row in dist:  # identity minima far enough apart that float32 rounding cannot reorder them
        minima = sorted(min(row[j] for j in range(gallery) if gallery_ids[j] == c) for c in set(gallery_ids))
        assert np.min(np.diff(minima)) > 1e-4
    return cmc_case(
        "embeddings",
        dist.tolist(),
        probe_ids,
        gallery_ids,
        6,
        dim=dim,
        probes=[float(x) for x in p.flatten()],
        gallery=[float(x) for x in g.flatten()],
        distances=dist.flatten().tolist(),
    )


def main():
    rng = np.random.default_rng(20190905)
    cases = []

    n = 60
    same = rng.random(n) < 0.5
    d = np.where(same, rng.normal(0.8, 0.3, n), rng.normal(1.6, 0.35, n)).clip(0, 4)
    cases.append(verification_case("float_60", d, same, 10))

    n = 83
    same = rng.random(n) < 0.45
    d = np.where(same, rng.normal(1.0, 0.5, n), rng.normal(1.7, 0.5, n)).clip(0, 3.9)
    cases.append(verification_case("ties_83", np.round(d * 8) / 8, same, 10, scale=8))

    n = 2000
    same = rng.random(n) < 0.45
    d = np.where(same, rng.normal(0.9, 0.35, n), rng.normal(1.75, 0.3, n)).clip(0, 3.999)
    cases.append(verification_case("quantised_2000", np.round(d * 1024) / 1024, same, 10, scale=1024, full_roc=False))

    fixture = {
        "format_version": 1,
        "generator": "tools/gen_metric_fixtures.py",
        "verification": cases,
        "identification": [identification_ties(rng), identification_embeddings(rng)],
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
