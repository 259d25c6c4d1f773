"""MD stability: ASE MD on any calculator (Langevin NVT, MTK NPT), the radial distribution function and the
stability verdict.

A run is summarised by: atoms lost (LAMMPS's error, or atoms missing from the last frame), the shortest
interatomic distance over all frames (Å), the energy drift (eV/atom/ps: the slope of the thermostat's
conserved energy, fitted over the run; None for Langevin dynamics, which conserves nothing), the largest
rise of the potential energy above its first value (eV/atom) and the RDF g(r) averaged over the frames.
A run is *stable* when no atom was lost, LAMMPS did not stop, every distance stayed ≥ ``d_min`` (the label
threshold), the energies stayed finite and the potential energy never rose by more than ``max_rise``
eV/atom. An unstable run's frames to label (``unstable_frames``) are those the oracle accepts (every distance
≥ ``d_min``): the last ``LEAD_IN`` before the first collapse or before the run stopped, and those past the
energy rise. RDF distance between two curves: ∫|g_a − g_b| dr / ∫ g_b dr (0 for identical curves; g_b the
reference).
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms, units
from ase.neighborlist import neighbor_list

#: rise of the potential energy (eV/atom) above its start beyond which a run is called exploding
MAX_RISE = 1.0
#: frames before a collapse (or before the run stopped) that become candidates for labeling
LEAD_IN = 3


def min_distance(atoms: Atoms, cutoff: float = 4.0) -> float:
    """The shortest interatomic distance (Å, periodic images included); `cutoff` if none is shorter, 0 for a
    frame with non-finite coordinates."""
    if not (np.all(np.isfinite(atoms.positions)) and np.all(np.isfinite(atoms.cell.array))):
        return 0.0
    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if len(d) else float(cutoff)


def rdf(frames: list[Atoms], rmax: float = 6.0, nbins: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """(r, g(r)) averaged over `frames` (all pairs, all species), bins of width rmax / nbins (Å)."""
    edges = np.linspace(0.0, rmax, nbins + 1)
    r = 0.5 * (edges[1:] + edges[:-1])
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = np.zeros(nbins)
    frames = [a for a in frames if np.all(np.isfinite(a.positions)) and np.all(np.isfinite(a.cell.array))]
    for a in frames:
        d = neighbor_list("d", a, rmax)
        hist, _ = np.histogram(d, bins=edges)
        rho = len(a) / a.get_volume()
        g += hist / (len(a) * rho * shell)
    return r, g / max(len(frames), 1)


def rdf_distance(g: np.ndarray, g_ref: np.ndarray) -> float:
    """∫|g − g_ref| dr / ∫ g_ref dr on a common grid (dimensionless)."""
    g, g_ref = np.asarray(g, float), np.asarray(g_ref, float)
    if g.shape != g_ref.shape:
        raise ValueError(f"RDF curves on different grids ({g.shape} vs {g_ref.shape})")
    den = float(np.sum(np.abs(g_ref)))
    return float(np.sum(np.abs(g - g_ref)) / den) if den > 0 else float("inf")


def ase_md(atoms: Atoms, calc, temperature: float, steps: int, every: int, dt_fs: float = 1.0, seed: int = 1,
           friction: float = 0.02, pressure: float | None = None) -> dict:
    """NVT (Langevin) or, with `pressure` (bar), isotropic NPT MD with `calc` (any ASE calculator): the same
    record as ``LammpsSession.md``.

    NVT: ``friction`` in 1/fs; the conserved energy is not defined for Langevin dynamics (``econserve`` None).
    NPT: ase's Martyna-Tobias-Klein barostat with Nosé-Hoover chains (``IsotropicMTKNPT``), the equations of
    LAMMPS's ``fix npt ... iso`` with the same damping times as the model side (thermostat 100, barostat
    1000 timesteps); ``econserve`` is its conserved energy (eV per cell).
    """
    from ase.md import velocitydistribution as vd

    a = atoms.copy()
    a.calc = calc
    rng = np.random.default_rng(seed)
    if hasattr(vd, "thermalize_momenta"):  # ase >= 3.29
        vd.thermalize_momenta(a, temperature, rng=rng)
    else:
        vd.MaxwellBoltzmannDistribution(a, temperature_K=temperature, rng=rng)
    vd.Stationary(a)
    dt = dt_fs * units.fs
    if pressure is not None:
        from ase.md.nose_hoover_chain import IsotropicMTKNPT

        dyn = IsotropicMTKNPT(a, dt, temperature_K=temperature, pressure_au=pressure * units.bar,
                              tdamp=100 * dt, pdamp=1000 * dt)
    else:
        from ase.md.langevin import Langevin

        with warnings.catch_warnings():  # ase's FutureWarning on the fixcm default
            warnings.simplefilter("ignore", FutureWarning)
            dyn = Langevin(a, dt, temperature_K=temperature, friction=friction / units.fs, rng=rng)
    out = {"frames": [], "time_ps": [], "epot": [], "econserve": [] if pressure is not None else None,
           "volume": [], "error": None}

    def record():
        f = a.copy()
        f.calc = None
        out["frames"].append(f)
        out["time_ps"].append(dyn.nsteps * dt_fs / 1000.0)
        out["epot"].append(float(a.get_potential_energy()))
        out["volume"].append(float(a.get_volume()))
        if out["econserve"] is not None:
            out["econserve"].append(float(dyn.get_conserved_energy()))

    dyn.attach(record, interval=every)
    try:
        dyn.run(steps)
    except Exception as exc:  # a calculator that fails mid-run: the run is unstable
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def summarize(trace: dict, n_atoms: int, d_min: float, max_rise: float = MAX_RISE, rmax: float = 6.0,
              nbins: int = 120, skip: float = 0.2) -> dict:
    """The stability record of one MD trace (see the module docstring). The first `skip` of the frames is
    left out of the RDF (equilibration)."""
    frames = trace["frames"]
    t = np.asarray(trace["time_ps"], float)
    epot = np.asarray(trace["epot"], float)
    econs = trace.get("econserve")
    lost = n_atoms - (len(frames[-1]) if frames else 0)
    if trace.get("error") and "lost" in trace["error"].lower():
        lost = max(lost, 1)
    dmins = [min_distance(f) for f in frames]
    finite = bool(np.all(np.isfinite(epot))) and len(epot) > 0
    rise = float((epot - epot[0]).max() / n_atoms) if finite else float("inf")
    ec = np.asarray(econs, float) if econs is not None and len(econs) == len(t) else None
    drift = (float(np.polyfit(t, ec / n_atoms, 1)[0])
             if ec is not None and np.all(np.isfinite(ec)) and len(t) >= 3 and t[-1] > t[0] else None)
    first = int(len(frames) * skip)
    r, g = rdf(frames[first:] or frames, rmax, nbins) if frames else (np.zeros(0), np.zeros(0))
    d_lo = min(dmins) if dmins else 0.0
    reasons = []
    if trace.get("error"):
        reasons.append(f"MD stopped: {trace['error']}")
    if lost > 0:
        reasons.append(f"{lost} atoms lost")
    if d_lo < d_min:
        reasons.append(f"shortest distance {d_lo:.2f} Å < {d_min} Å")
    if not finite:
        reasons.append("non-finite energy")
    elif rise > max_rise:
        reasons.append(f"potential energy rose by {rise:.2f} eV/atom (> {max_rise})")
    # frames to label: the oracle refuses atoms closer than d_min, so the frames that lead into the failure
    unstable_frames = []
    bad = [i for i, d in enumerate(dmins) if d < d_min]
    if bad:  # the last frames before the first collapse
        unstable_frames += list(range(max(0, bad[0] - LEAD_IN), bad[0]))
    if trace.get("error") or lost > 0:  # the frames just before the run stopped
        unstable_frames += list(range(max(0, len(frames) - LEAD_IN), len(frames)))
    if finite:
        unstable_frames += [i for i, e in enumerate(epot) if (e - epot[0]) / n_atoms > max_rise]
    unstable_frames = [i for i in unstable_frames
                       if dmins[i] >= d_min and np.all(np.isfinite(frames[i].positions))]
    return {"stable": not reasons, "reasons": reasons, "atoms_lost": int(lost), "d_min": d_lo,
            "energy_drift": drift, "epot_rise": rise if finite else None,
            "epot_mean": float(epot[first:].mean() / n_atoms) if finite else None,
            "frames": len(frames), "time_ps": float(t[-1]) if len(t) else 0.0,
            "rdf_r": r.tolist(), "rdf_g": g.tolist(), "unstable_frames": sorted(set(unstable_frames)),
            "volume_mean": float(np.mean(trace["volume"][first:])) if trace.get("volume") else None}
