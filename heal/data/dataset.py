"""The labeled-frame dataset: an append-only directory of deepmd/npy chunks that ``dp train`` reads directly.

Units: energy eV, forces eV/Å, virial eV (DeePMD convention, ``virial = -stress * volume``), lengths Å.
Frames come in and go out as ``ase.Atoms`` with labels attached by :func:`heal.frames.set_labels`
(ASE stress, eV/Å^3); see :mod:`heal.data.npy` for how frames are grouped into systems.

On-disk layout::

    DIR/
      dataset.json            {"format": "heal-dataset", "version": 1, "type_map": [...], "created": ...}
      .lock                   filelock: one appender at a time
      .staging/               half-written chunks of an append in progress (or of a crashed one)
      chunks/
        000001/               one immutable chunk per append that added frames
          manifest.json       per frame: hash, system, index, natoms, formula, virial, provenance
          Al4Co4Cr4Ni4-1a2b3c4d/             a deepmd/npy system: type.raw, type_map.raw,
          Al4Co4Cr4Ni4-1a2b3c4d-novirial/      set.000/{box,coord,energy,force[,virial]}.npy (float64)

Every frame is keyed by :func:`heal.frames.frame_hash`; a hash already in any chunk is never stored
again. An append writes its chunk under ``.staging/``, fsyncs every file and directory, and commits with
one ``os.rename`` to ``chunks/<seq>/`` followed by an fsync of ``chunks/``: a crash at any point leaves
the previous state readable, and leftovers in ``.staging/`` are ignored by readers and removed by the
next append. Appenders are serialised by a file lock; readers need no lock because chunks are immutable
and appear atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ase import Atoms
from filelock import FileLock, Timeout

from heal import fsutil as fsio
from heal.data import npy
from heal.data.inputs import check_type_map as _check_type_map
from heal.data.inputs import provenances as _provenances
from heal.errors import FatalError, TransientError
from heal.frames import frame_hash

FORMAT = "heal-dataset"
VERSION = 1
_CHUNK_RE = re.compile(r"^\d{6,}$")


@dataclass
class AppendResult:
    """Outcome of :meth:`Dataset.append`: frames added, duplicates skipped (already stored or repeated
    within the call), the hashes added in input order, and the chunk that holds them (None if none)."""

    added: int = 0
    duplicates: int = 0
    hashes_added: list[str] = field(default_factory=list)
    chunk: str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Dataset:
    """A directory of labeled frames (see the module docstring for the layout and guarantees).

    ``type_map`` fixes the element order of every model trained on the dataset. For a new directory it
    is written to ``dataset.json`` at once; if omitted, the first :meth:`append` sets it from the
    elements of its frames in order of first appearance. For an existing dataset it must equal the
    stored one (grow it with :meth:`extend_type_map`).
    """

    def __init__(self, path: str | os.PathLike, type_map: Sequence[str] | None = None, *,
                 lock_timeout: float = 600.0) -> None:
        self.path = Path(path).absolute()
        self.lock_timeout = lock_timeout
        self._manifests: dict[str, dict] = {}
        meta = self._read_meta()
        self._type_map: list[str] | None = meta["type_map"] if meta else None
        if type_map is not None:
            tm = _check_type_map(type_map)
            if meta is None:
                self.create(tm)
            elif tm != self._type_map:
                raise FatalError(f"dataset {self.path} has type map {self._type_map}, not {tm}; open it without "
                                 f"a type map, or grow it with Dataset.extend_type_map (new elements go last)")

    # -- paths and metadata -------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.path / "dataset.json"

    @property
    def chunks_dir(self) -> Path:
        return self.path / "chunks"

    @property
    def staging_dir(self) -> Path:
        return self.path / ".staging"

    @property
    def exists(self) -> bool:
        return self.meta_path.is_file()

    @property
    def type_map(self) -> list[str] | None:
        """Element order of the dataset (None until created)."""
        return None if self._type_map is None else list(self._type_map)

    def _read_meta(self) -> dict | None:
        try:
            meta = json.loads(self.meta_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise FatalError(f"{self.meta_path} is unreadable ({exc}); restore it or start a new dataset") from exc
        if meta.get("format") != FORMAT:
            raise FatalError(f"{self.meta_path} is not a heal dataset (format {meta.get('format')!r})")
        return meta

    def _lock(self) -> FileLock:
        self.path.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path / ".lock"), timeout=self.lock_timeout)

    def _locked(self):
        lock = self._lock()
        try:
            lock.acquire()
        except Timeout as exc:
            raise TransientError(f"dataset {self.path} is locked by another writer for more than "
                                 f"{self.lock_timeout:.0f} s; retry later") from exc
        return lock

    def _write_meta(self, type_map: list[str], created: str | None = None) -> None:
        meta = {"format": FORMAT, "version": VERSION, "type_map": type_map, "created": created or _now()}
        fsio.atomic_write_text(self.meta_path, json.dumps(meta, indent=1) + "\n")
        self._type_map = list(type_map)

    def create(self, type_map: Sequence[str]) -> None:
        """Create the dataset with this type map (no-op if it exists with the same map)."""
        tm = _check_type_map(type_map)
        lock = self._locked()
        try:
            self._create_locked(tm)
        finally:
            lock.release()

    def _create_locked(self, tm: list[str]) -> list[str]:
        meta = self._read_meta()
        if meta is not None:
            if meta["type_map"] != tm:
                raise FatalError(f"dataset {self.path} already exists with type map {meta['type_map']}, not {tm}")
            self._type_map = list(tm)
            return tm
        self.chunks_dir.mkdir(parents=True, exist_ok=True)
        fsio.fsync_dir(self.path)
        self._write_meta(tm)
        return tm

    def extend_type_map(self, elements: Iterable[str]) -> list[str]:
        """Append new elements to the type map (existing ones keep their index); returns the new map.

        Stored chunks stay valid: their ``type_map.raw`` is a prefix of the new map, and DeePMD maps
        types by name.
        """
        lock = self._locked()
        try:
            meta = self._read_meta()
            if meta is None:
                raise FatalError(f"no dataset at {self.path}; create it with a type map first")
            old = meta["type_map"]
            new = _check_type_map(old + [el for el in dict.fromkeys(elements) if el not in old])
            if new != old:
                self._write_meta(new, meta.get("created"))
            self._type_map = new
            return list(new)
        finally:
            lock.release()

    # -- reading ------------------------------------------------------------------------------------
    def _chunk_names(self) -> list[str]:
        try:
            names = [p.name for p in self.chunks_dir.iterdir() if _CHUNK_RE.match(p.name) and p.is_dir()]
        except FileNotFoundError:
            return []
        return sorted(names, key=int)

    def manifests(self) -> list[dict]:
        """Manifests of all committed chunks, oldest first (cached: chunks are immutable)."""
        names = self._chunk_names()
        for name in names:
            if name not in self._manifests:
                path = self.chunks_dir / name / "manifest.json"
                try:
                    self._manifests[name] = json.loads(path.read_text())
                except (OSError, ValueError) as exc:
                    raise FatalError(f"chunk {path.parent} has no readable manifest ({exc}); it was not written "
                                     f"by heal's append — move it out of {self.chunks_dir}") from exc
        for name in set(self._manifests) - set(names):
            del self._manifests[name]
        return [self._manifests[n] for n in names]

    def hashes(self) -> set[str]:
        """frame_hash of every stored frame."""
        return {e["hash"] for m in self.manifests() for e in m["frames"]}

    def __len__(self) -> int:
        return sum(m["n_frames"] for m in self.manifests())

    def system_dirs(self) -> list[Path]:
        """Every deepmd/npy system directory (for ``training_data.systems`` of ``dp train``)."""
        return [self.chunks_dir / m["chunk"] / s for m in self.manifests() for s in m["systems"]]

    def iter_frames(self, hashes: Iterable[str] | None = None) -> Iterator[Atoms]:
        """Yield stored frames (oldest first) with labels attached; ``atoms.info`` holds ``hash`` and the
        frame's provenance keys. ``hashes`` restricts the output to those frames."""
        wanted = None if hashes is None else set(hashes)
        for m in self.manifests():
            entries = [e for e in m["frames"] if wanted is None or e["hash"] in wanted]
            loaded: dict[str, list[Atoms]] = {}
            for e in entries:
                if e["system"] not in loaded:
                    loaded[e["system"]] = npy.read_system(self.chunks_dir / m["chunk"] / e["system"])
                atoms = loaded[e["system"]][e["index"]]
                atoms.info.update(e["provenance"])
                atoms.info["hash"] = e["hash"]
                yield atoms

    def stats(self) -> dict:
        """Counts from the manifests: frames, unique hashes, chunks, systems, frames with a virial, and
        frames by formula, by atom count and by ``provenance['source']`` ("unknown" when absent)."""
        manifests = self.manifests()
        frames = [e for m in manifests for e in m["frames"]]
        by_formula = Counter(e["formula"] for e in frames)
        by_natoms = Counter(e["natoms"] for e in frames)
        by_source = Counter(str(e["provenance"].get("source", "unknown")) for e in frames)
        return {
            "path": str(self.path),
            "type_map": self.type_map,
            "frames": len(frames),
            "unique_hashes": len({e["hash"] for e in frames}),
            "chunks": len(manifests),
            "systems": sum(len(m["systems"]) for m in manifests),
            "with_virial": sum(1 for e in frames if e["virial"]),
            "by_formula": dict(sorted(by_formula.items())),
            "by_natoms": {str(k): v for k, v in sorted(by_natoms.items())},
            "by_source": dict(sorted(by_source.items())),
        }

    def split(self, test_fraction: float = 0.1, seed: int = 0) -> tuple[set[str], set[str]]:
        """(train, test) hash sets. A frame is held out iff a hash of (seed, frame hash) falls below
        ``test_fraction``: the split is deterministic and stable as the dataset grows (a frame never
        changes side), and about ``test_fraction`` of the frames are held out."""
        if not 0.0 <= test_fraction <= 1.0:
            raise FatalError(f"test_fraction {test_fraction} must be between 0 and 1")
        train, test = set(), set()
        for h in self.hashes():
            u = int(hashlib.sha256(f"{seed}:{h}".encode()).hexdigest()[:15], 16) / 16**15
            (test if u < test_fraction else train).add(h)
        return train, test

    def export_extxyz(self, path: str | os.PathLike, hashes: Iterable[str] | None = None) -> int:
        """Write the frames (or those in ``hashes``) to an extended-XYZ file: ``ase.io.read`` returns
        energy (eV), forces (eV/Å) and stress (eV/Å^3); provenance goes to info (non-scalars as JSON).
        The file is written to a temporary name and renamed. Returns the number of frames written."""
        import ase.io

        n = 0

        def _write(tmp: Path) -> None:
            nonlocal n
            with open(tmp, "w") as fh:
                for atoms in self.iter_frames(hashes):
                    info = {}
                    for k, v in atoms.info.items():
                        key = re.sub(r"[^A-Za-z0-9_]", "_", str(k))
                        info[key] = v if isinstance(v, (str, int, float, bool)) else json.dumps(v)
                    atoms.info = info
                    ase.io.write(fh, atoms, format="extxyz")
                    n += 1

        fsio.atomic_write_with(Path(path), _write)
        return n

    # -- writing ------------------------------------------------------------------------------------
    def append(self, frames: Sequence[Atoms], provenance: list[dict] | dict | None = None) -> AppendResult:
        """Store the frames not stored yet, as one new chunk, atomically.

        ``provenance``: one dict per frame, one dict for all, or None. Raises FatalError for a frame
        without finite energy/forces labels, a non-periodic frame, or an element not in the type map.
        """
        frames = list(frames)
        provs = _provenances(provenance, len(frames))
        if not frames:
            return AppendResult()
        for i, atoms in enumerate(frames):
            npy.require_labels(atoms, f"frame {i} ({atoms.get_chemical_formula()})")
            npy.system_key(atoms)
        hashes = [frame_hash(a) for a in frames]
        lock = self._locked()
        try:
            return self._append_locked(frames, provs, hashes)
        finally:
            lock.release()

    def _append_locked(self, frames: list[Atoms], provs: list[dict], hashes: list[str]) -> AppendResult:
        meta = self._read_meta()
        if meta is None:
            tm = self._type_map or list(dict.fromkeys(s for a in frames for s in a.get_chemical_symbols()))
            tm = self._create_locked(_check_type_map(tm))
        else:
            tm = self._type_map = meta["type_map"]
        for i, atoms in enumerate(frames):
            missing = sorted(set(atoms.get_chemical_symbols()) - set(tm))
            if missing:
                raise FatalError(f"frame {i} ({atoms.get_chemical_formula()}) has element(s) {missing} not in the "
                                 f"type map {tm} of {self.path}; grow it with Dataset.extend_type_map({missing}) "
                                 f"or 'heal data import --type-map {','.join(tm + missing)}'")
        self._clean_staging()
        seen = self.hashes()
        keep: list[int] = []
        for i, h in enumerate(hashes):
            if h not in seen:
                seen.add(h)
                keep.append(i)
        result = AppendResult(added=len(keep), duplicates=len(frames) - len(keep),
                              hashes_added=[hashes[i] for i in keep])
        if not keep:
            return result
        names = self._chunk_names()
        name = f"{int(names[-1]) + 1 if names else 1:06d}"
        target = self.chunks_dir / name
        staging = self.staging_dir / f"{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True)
            systems, entries = npy.write_chunk(staging, tm, [frames[i] for i in keep],
                                               [provs[i] for i in keep], result.hashes_added)
            manifest = {"format": FORMAT, "version": VERSION, "chunk": name, "created": _now(), "type_map": tm,
                        "n_frames": len(keep), "systems": systems, "frames": entries}
            (staging / "manifest.json").write_text(json.dumps(manifest, separators=(",", ":")))
            fsio.fsync_tree(staging)
            self.chunks_dir.mkdir(exist_ok=True)
            if target.exists():
                raise FatalError(f"{target} is in the way (a file, not a committed chunk); move it away")
            os.rename(staging, target)  # the commit point
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsio.fsync_dir(self.chunks_dir)
        self._manifests[name] = manifest
        result.chunk = name
        return result

    def _clean_staging(self) -> None:
        """Remove leftovers of crashed appends (only ever called with the lock held)."""
        if self.staging_dir.is_dir():
            for p in self.staging_dir.iterdir():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"Dataset({str(self.path)!r}, type_map={self._type_map})"
