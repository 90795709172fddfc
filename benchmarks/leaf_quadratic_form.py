"""Numpy prototype: LEAF's pooled Gabor energy of the cut filters as a low-rank quadratic form.

LEAF's pooled energy for filter ``n`` at frame ``m`` reads ``2 W - 1`` samples ``x_m``
around the frame: ``z_n[m] = sum_j phi_n[j] |sum_k x_m[j + k] h_n[k]|^2 = x_m^T Q_n x_m``
with ``Q_n = sum_j phi_n[j] Re(s_j s_j^H)`` (``s_j`` the taps ``h_n`` shifted by ``j``).
If ``Q_n`` has a small numerical rank, ``z_n`` is a few real filters at stride ``hop``.
This script measures, for the filters that the band-limited plan runs at stride 1
(the window cuts their Gaussian above 1e-3 of its peak):

* ``rank``: eigenvalues of ``Q_n`` above ``1e-5`` of its largest, and the error on speech
  of ``z_n`` through those eigenvectors alone (of the largest ``z`` of all 40 filters);
* ``fixed U``: one basis per group, from the eigenvectors of the stacked ``Q_n`` over a
  range of centres, widths and pooling widths around the initial values, its size and
  its worst error on speech over parameters drawn in that range;
* ``baseband``: ``Q_n = Re(D^H Q0 D)`` with ``D = diag(exp(-i mu t))`` and ``Q0`` the form
  of the real Gaussian (the centre is a modulation), so one real basis ``V`` of the
  ``Q0`` over the group's widths serves every centre: ``z_n = |V^T D x_m|^2_C`` with a
  per-filter ``C_n = V^T Q0_n V``; its size and error;
* multiply counts per frame against LogMel's dense DFT and the stride-1 convolution.

Run: ``python benchmarks/leaf_quadratic_form.py [--check]`` (numpy, float64; ``--check``
first compares the numpy definition with ``LEAF(band_limited=False)``).
"""

from __future__ import annotations

import argparse

import numpy as np

from framebank.audio import load_audio, read_manifest
from framebank.filterbanks import GaborFilterbank
from framebank.frontends._band_limited import BandLimitedPlan

REL_EIG = 1e-5  # eigenvalues kept: above this fraction of the largest


def speech(rate: int, seconds: float, clips: int) -> np.ndarray:
    length = int(rate * seconds)
    out = []
    for clip in read_manifest():
        samples, _ = load_audio(clip.path, rate)
        for start in range(0, len(samples) - length + 1, length):
            out.append(samples[start : start + length].astype("float64"))
            if len(out) == clips:
                return np.stack(out)
    raise RuntimeError("not enough speech")


def gabor(mu: float, sigma: float, window: int) -> np.ndarray:
    t = np.arange(window) - (window - 1) / 2
    gauss = np.exp(-0.5 * (t / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    return gauss * np.exp(-1j * mu * t)


def pool_window(width: float, window: int) -> np.ndarray:
    half = 0.5 * (window - 1)
    return np.exp(-0.5 * ((np.arange(window) - half) / (width * half)) ** 2)


def pooled_energy(x: np.ndarray, h: np.ndarray, phi: np.ndarray, hop: int) -> np.ndarray:
    """The stride-1 definition, float64: ``[clips, frames]`` for one filter."""
    window, time = len(h), x.shape[1]
    centre = window // 2
    count = -(-time // hop)
    left = max((count - 1) * hop + window - time, 0) // 2
    # y(t) = sum_k x[t + k - centre] h[k], every t in [0, time).
    n = int(2 ** np.ceil(np.log2(time + 2 * window)))
    spec = np.fft.fft(x, n) * np.conj(np.fft.fft(np.conj(h), n))[None]
    corr = np.fft.ifft(spec)  # corr[d] = sum_u x[u + d] h[u], d circular
    y = np.roll(corr, centre, axis=1)[:, :time]  # y[t] = corr[t - centre]
    energy = np.abs(y) ** 2
    padded = np.zeros((x.shape[0], (count - 1) * hop + window + 2 * window))
    padded[:, window : window + time] = energy
    z = np.empty((x.shape[0], count))
    for m in range(count):
        start = window + hop * m - left
        z[:, m] = padded[:, start : start + window] @ phi
    return z


def frames(x: np.ndarray, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Interior frames' ``2 W - 1`` samples ``[clips, frames, 2W - 1]`` and their indices."""
    time = x.shape[1]
    count = -(-time // hop)
    left = max((count - 1) * hop + window - time, 0) // 2
    centre = window // 2
    inside = [
        m
        for m in range(count)
        if hop * m - left - centre >= 0 and hop * m - left - centre + 2 * window - 1 <= time
    ]
    starts = np.array([hop * m - left - centre for m in inside])
    index = starts[:, None] + np.arange(2 * window - 1)[None]
    return x[:, index], np.array(inside)


def form(h: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``Q = sum_j phi[j] Re(s_j s_j^H)``, ``[2W - 1, 2W - 1]``."""
    window = len(h)
    shifts = np.zeros((2 * window - 1, window), complex)
    for j in range(window):
        shifts[j : j + window, j] = h
    return np.real((shifts * phi) @ shifts.conj().T)


def top_eigenvalue(q: np.ndarray) -> float:
    vector = np.ones(len(q))
    for _ in range(60):
        vector = q @ vector
        vector /= np.linalg.norm(vector)
    return float(vector @ q @ vector)


def basis(forms: list[np.ndarray], rel: float) -> np.ndarray:
    """Orthonormal columns spanning every form to ``rel`` of its largest eigenvalue."""
    total = sum(q / top_eigenvalue(q) for q in forms)
    values, vectors = np.linalg.eigh(total)
    return vectors[:, values > rel * values[-1]]


def error(xm: np.ndarray, q: np.ndarray, u: np.ndarray, scale: float) -> float:
    """Worst ``|x^T Q x - (U^T x)^T (U^T Q U) (U^T x)|`` over the frames, over ``scale``."""
    proj = xm @ u
    approx = np.einsum("cfi,ij,cfj->cf", proj, u.T @ q @ u, proj)
    exact = np.einsum("cfi,ij,cfj->cf", xm, q, xm)
    return float(np.abs(approx - exact).max() / scale)


def baseband_error(xm, q, v, mu, scale) -> float:
    """The same with ``Q = Re(D^H Q0 D)``: ``z = (V^T D x)^H (V^T Q0 V) (V^T D x)``."""
    t = np.arange(xm.shape[-1])
    proj = (xm * np.exp(-1j * mu * t)) @ v
    approx = np.real(np.einsum("cfi,ij,cfj->cf", proj.conj(), v.T @ q[0] @ v, proj))
    exact = np.einsum("cfi,ij,cfj->cf", xm, q[1], xm)
    return float(np.abs(approx - exact).max() / scale)


def study(rate: int, window_ms: float, hop_ms: float, seconds: float, clips: int, seed: int):
    rng = np.random.default_rng(seed)
    window = int(rate * window_ms // 1000 + 1)
    hop = int(rate * hop_ms // 1000)
    bank = GaborFilterbank(80, window, rate, min_hz=60.0, max_hz=0.4875 * rate, init="leaf")
    mu0, sigma0 = bank.initial_parameters()
    low_s, high_s = bank.sigma_range
    plan = BandLimitedPlan(sigma0, window, hop)
    margin, half = 1.25, window // 2
    # Cut: the window cuts the Gaussian above 1e-3 of its peak (at its plan's widest).
    cut = np.flatnonzero(np.exp(-0.5 * (half / (sigma0 * margin)) ** 2) > 1e-3)
    wide = np.setdiff1d(np.flatnonzero(plan.strides == 1), cut)
    x = speech(rate, seconds, clips)
    xm, inside = frames(x, window, hop)
    phi0 = pool_window(0.4, window)
    z_all = np.stack(
        [pooled_energy(x, gabor(mu0[n], sigma0[n], window), phi0, hop) for n in range(len(mu0))]
    )
    scale = z_all.max()
    hz = rate / (2 * np.pi)
    print(f"\n== {rate} Hz, {window} taps, hop {hop}, {clips} x {seconds} s of speech")
    print(
        f"stride-1 filters of the plan: {len(cut)} cut by the window (centres "
        f"{mu0[cut].min() * hz:.0f}-{mu0[cut].max() * hz:.0f} Hz, widths "
        f"{sigma0[cut].min():.1f}-{sigma0[cut].max():.1f} samples; allowed up to {high_s:.1f}), "
        f"{len(wide)} wide-band (widths {sigma0[wide].min() if len(wide) else 0:.1f}-"
        f"{sigma0[wide].max() if len(wide) else 0:.1f})"
    )
    # 1. Per-filter rank of Q_n at initialisation and the error of its eigen-truncation.
    for name, group in (("cut", cut), ("wide", wide)):
        ranks, worst = [], 0.0
        for n in group:
            q = form(gabor(mu0[n], sigma0[n], window), phi0)
            exact = np.einsum("cfi,ij,cfj->cf", xm, q, xm)
            assert np.abs(exact - z_all[n][:, inside]).max() <= 1e-9 * scale
            values, vectors = np.linalg.eigh(q)
            keep = vectors[:, values > REL_EIG * values[-1]]
            ranks.append(keep.shape[1])
            worst = max(worst, error(xm, q, keep, scale))
        if ranks:
            print(
                f"{name}: rank of each Q_n (eigenvalues > {REL_EIG:g} of the largest): {ranks};"
                f" error {worst:.1e} of the largest z"
            )
    # 2. One fixed basis U for the cut group: centres within +-dmu of the initial ones,
    # widths from sigma / margin to the largest allowed, any pooling width (a narrower
    # pooling window is below the widest one everywhere, so its form is below too).
    counts = {}
    widths = [sigma0[cut].min() / margin, *np.geomspace(sigma0[cut].min(), high_s, 4)]
    for dmu_hz in (0.0, 100.0, 300.0):
        dmu = dmu_hz / hz
        fit = [
            form(gabor(max(m, 1e-3), s, window), pool_window(0.5, window))
            for n in cut
            for m in np.linspace(mu0[n] - dmu, mu0[n] + dmu, 3 if dmu else 1)
            for s in widths
            if s >= sigma0[n] / margin / 1.01
        ]
        u = basis(fit, REL_EIG)
        worst = 0.0
        for n in cut:
            for trial in range(3):
                # The extremes first: widest filter, widest pooling, centre at the margin.
                m = mu0[n] + (dmu if trial == 0 else rng.uniform(-dmu, dmu))
                s = high_s if trial == 0 else sigma0[n] * margin ** rng.uniform(-1, 1)
                p = 0.5 if trial == 0 else rng.uniform(2.0 / window, 0.5)
                q = form(gabor(max(m, 1e-3), min(s, high_s), window), pool_window(p, window))
                worst = max(worst, error(xm, q, u, scale))
        counts[dmu_hz] = u.shape[1]
        print(
            f"fixed U for the cut group, centres +-{dmu_hz:.0f} Hz, widths sigma/{margin} to "
            f"{high_s:.0f}, any pooling: {u.shape[1]} columns, worst error {worst:.1e}"
        )
    # 3. Baseband V: the centre is a modulation, so V serves every centre.
    fit = [form(gabor(0.0, s, window), pool_window(0.5, window)) for s in widths]
    v = basis(fit, REL_EIG)
    worst = 0.0
    for n in cut:
        m = rng.uniform(1e-3, np.pi - 1e-3)
        s = min(sigma0[n] * margin ** rng.uniform(-1, 1), high_s)
        p = rng.uniform(2.0 / window, 0.5)
        pair = (
            form(gabor(0.0, s, window), pool_window(p, window)),
            form(gabor(m, s, window), pool_window(p, window)),
        )
        worst = max(worst, baseband_error(xm, pair, v, m, scale))
    print(
        f"baseband V for the cut group (any centre): {v.shape[1]} columns, worst error {worst:.1e}"
    )
    # 4. Real multiply-adds per frame (one clip).
    n_fft = int(2 ** np.ceil(np.log2(window - 1)))
    logmel = (window - 1) * 2 * (n_fft // 2 + 1) + (n_fft // 2 + 1) * len(mu0)
    stride1 = len(cut) * (hop * window * 2 + window)
    length = plan.fft_length(int(rate * seconds))
    count = -(-int(rate * seconds) // hop)
    fft_path = len(cut) * ((5 * length * np.log2(length) + 9 * length) / 2 / count + window + 40)
    r = counts[100.0]
    fixed_u = r * (2 * window - 1) + len(cut) * r * (r + 1) // 2
    base = len(cut) * (2 * v.shape[1] * (2 * window - 1) + v.shape[1] * (v.shape[1] + 1))
    print(
        f"multiply-adds per frame: LogMel ({window - 1} window, dense [{window - 1}, "
        f"{2 * (n_fft // 2 + 1)}] DFT + mel) {logmel / 1e3:.0f}k; the {len(cut)} cut filters: "
        f"stride-1 convolution {stride1 / 1e3:.0f}k, today's FFT path (~5 N log2 N flops, "
        f"N = {length}) {fft_path / 1e3:.0f}k, fixed U (+-100 Hz, {r} columns) "
        f"{fixed_u / 1e3:.0f}k, baseband V {base / 1e3:.0f}k"
    )


def fft_path_counts(rate: int, window_ms: float, hop_ms: float, seconds: float) -> None:
    """Today's band-limited path, whole, in real multiply-adds per frame (about ``5 M log2 M``
    flops per complex FFT of ``M``, the band's product and modulus, the pooling's taps)."""
    window = int(rate * window_ms // 1000 + 1)
    hop = int(rate * hop_ms // 1000)
    bank = GaborFilterbank(80, window, rate, min_hz=60.0, max_hz=0.4875 * rate, init="leaf")
    plan = BandLimitedPlan(bank.initial_parameters()[1], window, hop)
    time = int(rate * seconds)
    length, count = plan.fft_length(time), -(-time // hop)
    total = 5 * length * np.log2(length) / 2 / count  # the signal's FFT
    parts = []
    for stride, _, members in plan.groups:
        bins = length // stride
        per = (5 * bins * np.log2(bins) + 9 * bins) / 2 / count + (window + 40 * stride) / stride
        parts.append(f"stride {stride} x {len(members)}: {per * len(members) / 1e3:.0f}k")
        total += per * len(members)
    n_fft = int(2 ** np.ceil(np.log2(window - 1)))
    logmel = (window - 1) * 2 * (n_fft // 2 + 1) + (n_fft // 2 + 1) * len(plan.strides)
    print(
        f"{rate} Hz, today's band-limited path: {total / 1e3:.0f}k multiply-adds per frame "
        f"({', '.join(parts)}); LogMel {logmel / 1e3:.0f}k"
    )


def check_against_framebank() -> None:
    """The numpy definition here against framebank's ``LEAF(band_limited=False)``."""
    from framebank import frontends

    for rate, window_ms in ((16000, 25.0), (8000, 32.0)):
        x = speech(rate, 0.5, 2)
        leaf = frontends.LEAF(rate, window_ms=window_ms, band_limited=False)
        encoder, (energy, pool) = leaf.encoder, leaf.postprocessing[:2]
        ref = np.asarray(pool(energy(encoder(x.astype("float32")[..., None]))))
        bank = encoder.filterbank
        mu, sigma = (np.asarray(w, "float64") for w in (bank.centre, bank.sigma))
        phi = pool_window(0.4, bank.frame_len)
        mine = np.stack(
            [
                pooled_energy(x, gabor(mu[n], sigma[n], bank.frame_len), phi, pool.strides)
                for n in range(len(mu))
            ],
            axis=-1,
        )
        print(
            f"{rate} Hz: numpy definition vs LEAF(band_limited=False): "
            f"{np.abs(ref - mine).max() / np.abs(ref).max():.1e} of the largest value"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="compare with framebank's LEAF")
    parser.add_argument("--rel", type=float, default=REL_EIG, help="eigenvalues kept (of the top)")
    args = parser.parse_args()
    globals()["REL_EIG"] = args.rel
    if args.check:
        check_against_framebank()
    for rate, window_ms in ((16000, 25.0), (8000, 32.0)):
        fft_path_counts(rate, window_ms, 10.0, 1.0)
    study(16000, 25.0, 10.0, 1.0, args.clips, 0)
    study(8000, 32.0, 10.0, 1.0, args.clips, 1)


if __name__ == "__main__":
    main()
