"""``heal train`` and ``heal explore``: one stage alone, outside any campaign, for debugging and trying settings.

Both read a campaign file for their settings (``train`` / ``explore`` / ``select`` sections, ``machine``) and
run the same stage functions the loop runs.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def train(dataset: Path = typer.Argument(..., help="a heal dataset directory (heal data import ... --into)"),
              config: Path = typer.Option(..., "--config", help="campaign file: its train section and machine"),
              out: Path = typer.Option(..., "-o", "--out", help="directory for model-00, model-01, ..."),
              test: Path = typer.Option(None, "--test", help="a held-out dataset directory for dp test"),
              models: int = typer.Option(None, "--models", help="ensemble size (default: train.n_models)")) -> None:
        """Train the campaign's DeePMD ensemble on a dataset: dp train, dp freeze, dp test per member."""
        from heal.config import load_config
        from heal.data.dataset import Dataset
        from heal.errors import ConfigError
        from heal.exec import get_executor
        from heal.train.deepmd import train_member

        cfg = load_config(config)
        ds = Dataset(dataset)
        if not ds.exists or len(ds) == 0:
            raise ConfigError(f"{dataset}: not a heal dataset with frames; create one with 'heal data import'")
        tm = ds.type_map
        tests = Dataset(test).system_dirs() if test else None
        ex = get_executor(cfg.machine_file())
        for k in range(models or cfg.train.n_models):
            r = train_member(cfg.train, tm, ds.system_dirs(), out / f"model-{k:02d}", ex, seed=cfg.train.seed + k,
                             test_systems=tests)
            t = r.test
            typer.echo(f"{r.model}: {r.seconds:.0f} s; last lcurve {r.lcurve_last}"
                       + (f"; held-out RMSE F {t.rmse_f:.3f} eV/Å, E {1000 * t.rmse_e_per_atom:.1f} meV/atom"
                          if t else ""))

    @app.command()
    def explore(structure: Path = typer.Argument(..., help="starting structure (any ase-readable file)"),
                models: list[Path] = typer.Option(..., "--model", "-m", help="frozen models (.pb), repeat"),
                config: Path = typer.Option(..., "--config", help="campaign file: explore/select sections, machine"),
                out: Path = typer.Option(..., "-o", "--out", help="run directory"),
                temperature: float = typer.Option(300.0, "-T", help="K"),
                pressure: float = typer.Option(None, "-P", help="bar (NPT); default NVT"),
                nsteps: int = typer.Option(1000, help="MD steps"),
                seed: int = typer.Option(1, help="velocity seed")) -> None:
        """One LAMMPS run with the ensemble's inline deviation, classified with the campaign's trust levels."""
        from ase.io import read

        from heal.config import load_config
        from heal.exec import get_executor
        from heal.explore.lammps import ExploreRun, run_one
        from heal.select.screen import screen_file

        cfg = load_config(config)
        atoms = read(structure)
        run = ExploreRun(out.name, temperature, pressure, nsteps, seed)
        res = run_one(run, atoms, models, cfg.system.type_map, cfg.explore, out, get_executor(cfg.machine_file()))
        sel = cfg.select
        sc = screen_file(out / "model_devi.out", sel.f_lo, sel.f_hi, sel.v_lo, sel.v_hi)
        c = sc.counts
        typer.echo(f"{out}: {res.n_frames} frames in {res.seconds:.0f} s; accurate {c.accurate}, candidate "
                   f"{c.candidate}, failed {c.failed} (f_lo {sel.f_lo}, f_hi {sel.f_hi} eV/Å)"
                   + (f"; LAMMPS stopped: {res.error}" if res.error else ""))
        if res.error:
            raise typer.Exit(1)
