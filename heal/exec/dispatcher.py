"""Run jobs through dpdispatcher (Shell / Slurm / PBS / LSF, local or SSH), configured by machines/*.yaml.

``run_all`` sends a stage's jobs as ONE dpdispatcher Submission: one Task per job, packed into scheduler jobs
by the preset's ``resources.group_size``, each task uploading its ``forward`` files and bringing back its
``backward`` files and logs. Task paths are relative to the jobs' common directory, so nothing a task runs
names a path of the submitting machine. A resubmission of the same tasks (``heal resume`` after a kill) is
the same Submission: dpdispatcher finds the jobs it had submitted and does not submit finished ones again.

**Packing and threads.** A scheduler (Slurm, PBS, LSF) packs tasks by the preset's ``group_size`` and gives each
job its ``cpu_per_node``; a task's engine threads are ``cpu_per_node / para_deg``. dpdispatcher's Shell batch
type starts every job it is given at once, so heal packs a Shell submission into at most ``max_parallel`` jobs
(default ``cpu_per_node``), each running its tasks one after the other, and shares the cores among those jobs:
oversubscribed cores cost TensorFlow several times its speed. Thread variables set in the preset win.

Each task records its program's exit code in ``heal.rc``; after a submission that dpdispatcher gave up on,
whatever exists is brought back and every task gets its own outcome (finished, failed with its stderr, or
not run), so one failing frame does not fail the others.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from heal.errors import FatalError, SetupError, TransientError
from heal.exec.base import Job, JobResult, Machine, job_env, tail, thread_env
from heal.fsutil import atomic_write_json

log = logging.getLogger("heal.exec")

#: the file in which each task records its program's exit code
RC = "heal.rc"
#: the stage's submissions with their scheduler job ids, written in the jobs' common directory as soon as the
#: jobs are submitted (``heal status`` lists them while they queue and run)
SUBMISSIONS = "scheduler-jobs.json"
#: exit codes of a program killed from outside (scheduler, OOM killer, node failure): worth a retry
_KILLED = {128 + signal.SIGKILL, 128 + signal.SIGTERM, 128 + signal.SIGINT, 256 - 9, 256 - 15}


def _quiet_dpdispatcher() -> None:
    """dpdispatcher logs every poll to stdout: keep the console for heal's lines and send its records to
    ``dpdispatcher.log`` beside heal's campaign log (or in the working directory, its own default)."""
    from dpdispatcher.dlog import dlog

    from heal.logs import current_log

    for h in list(dlog.handlers):
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            dlog.removeHandler(h)
    campaign_log = current_log()
    if campaign_log is not None:
        target = str(campaign_log.parent / "dpdispatcher.log")
        if not any(isinstance(h, logging.FileHandler) and h.baseFilename == target for h in dlog.handlers):
            for h in [h for h in dlog.handlers if isinstance(h, logging.FileHandler)]:
                dlog.removeHandler(h)
            fh = logging.FileHandler(target, delay=True)
            fh.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s : %(message)s"))
            dlog.addHandler(fh)


class DispatcherExecutor:
    def __init__(self, machine: Machine):
        self.machine = machine
        #: scheduler job ids of the last submission, and of every submission of this executor (for status)
        self.last_job_ids: list[str] = []
        self.job_ids: list[str] = []

    def run(self, job: Job) -> JobResult:
        (res,) = self.run_all([job])
        if isinstance(res, Exception):
            raise res
        return res

    def run_all(self, jobs: list[Job]) -> list[JobResult | Exception]:
        if not jobs:
            return []
        by_command: dict[str, list[int]] = {}
        for i, j in enumerate(jobs):
            by_command.setdefault(j.command, []).append(i)
        results: list[JobResult | Exception | None] = [None] * len(jobs)
        for idx in by_command.values():  # a stage's jobs share a command: one submission
            for i, r in zip(idx, self._run_submission([jobs[i] for i in idx])):
                results[i] = r
        return results  # type: ignore[return-value]

    def submission(self, jobs: list[Job], preview: bool = False):
        """The dpdispatcher Submission of `jobs` (one command): tasks relative to the jobs' common directory,
        the preset's resources with ``dispatcher.resources_by_command[<command>]`` on top. `preview` swaps
        the context for a local one that connects nowhere (the batch scripts do not depend on it)."""
        from dpdispatcher import Machine as DMachine
        from dpdispatcher import Resources, Submission, Task

        cfg = dict(self.machine.dispatcher or {})
        base = _base(jobs)
        mdict = dict(cfg["machine"])
        mdict["local_root"] = str(base)
        if preview:
            mdict = {**mdict, "context_type": "LazyLocalContext", "remote_root": str(base)}
            mdict.pop("remote_profile", None)
        resources = {**cfg.get("resources", {}), **(cfg.get("resources_by_command") or {}).get(jobs[0].command, {})}
        envs = dict(resources.get("envs", {}))
        if str(mdict.get("context_type", "")).lower().startswith("local"):
            # as LocalExecutor: programs installed beside heal (dp, lmp) are found without an activated venv
            envs.setdefault("PATH", job_env(Machine(), jobs[0])["PATH"])
        resources["envs"] = {**_packing(resources, mdict, len(jobs), self.machine), **envs, **self.machine.env}
        tasks = [Task(command=self._command(j), task_work_path=_rel(j.cwd, base),
                      forward_files=list(j.forward), backward_files=list(j.backward) + [f"{j.log}.out",
                                                                                       f"{j.log}.err", RC],
                      outlog=f"{j.log}.out", errlog=f"{j.log}.err") for j in jobs]
        return Submission(work_base="./", machine=DMachine.load_from_dict(mdict),
                          resources=Resources.load_from_dict(resources), task_list=tasks)

    def scripts(self, jobs: list[Job]) -> list[str]:
        """The batch scripts `jobs` would be submitted as, each with the task commands it runs (nothing is
        submitted): to check a preset."""
        sub = self.submission(jobs, preview=True)
        sub.generate_jobs()
        return [sub.machine.gen_script(job) + "\n# --- tasks ---\n" + sub.machine.gen_script_command(job)
                for job in sub.belonging_jobs]

    def _run_submission(self, jobs: list[Job]) -> list[JobResult | Exception]:
        _quiet_dpdispatcher()
        cfg = dict(self.machine.dispatcher or {})
        for j in jobs:
            Path(j.cwd, RC).unlink(missing_ok=True)  # an exit code must come from this run
        sub = self.submission(jobs)
        t0 = time.monotonic()
        failure = None
        interval = int(cfg.get("check_interval", 1))
        try:
            # submit (or find the jobs of an earlier run of the same submission), record the job ids, then wait
            with _recording(Path(sub.machine.context.local_root), jobs[0].command, sub):
                sub.run_submission(check_interval=interval, clean=bool(cfg.get("clean", True)))
        except (RuntimeError, FileNotFoundError) as exc:
            # dpdispatcher gave up on a job, or a task did not write every backward file (VASP may write
            # no OSZICAR, say): bring back whatever exists; each task's heal.rc says how it ended
            if isinstance(exc, FileNotFoundError) and "upload" in str(exc):
                raise SetupError(f"dpdispatcher could not send a task's input files: {exc}") from exc
            failure = None if isinstance(exc, FileNotFoundError) else str(exc)
            try:
                sub.machine.context.download(sub, check_exists=True, mark_failure=False)
            except Exception as dexc:  # noqa: BLE001 - the outcomes below say what is missing
                log.warning("dpdispatcher: downloading after a failed submission: %s", dexc)
        self.last_job_ids = [str(j.job_id) for j in sub.belonging_jobs if getattr(j, "job_id", "")]
        self.job_ids += self.last_job_ids
        log.info("dpdispatcher: %d task(s) as %d job(s) %s in %.0f s", len(jobs), len(sub.belonging_jobs),
                 self.last_job_ids, time.monotonic() - t0)
        seconds = time.monotonic() - t0
        refused = _refused_submission(failure) if failure else None
        if refused is not None and not any(Path(j.cwd, RC).is_file() for j in jobs):
            err = SetupError(f"the scheduler refused the submission of {len(jobs)} task(s) from "
                             f"{self.machine.source or 'the machine file'}: {refused}; fix the preset's "
                             f"dispatcher.resources (queue_name, number_node, cpu_per_node, ...) or machine")
            return [err] * len(jobs)
        job_of = {}  # task directory -> the scheduler job that ran it
        for bj in sub.belonging_jobs:
            for t in bj.job_task_list:
                job_of[os.path.normpath(t.task_work_path)] = str(getattr(bj, "job_id", "") or "?")
        base = Path(sub.machine.context.local_root)  # the jobs' common directory (see submission)
        return [self._outcome(j, seconds, failure, job_of.get(os.path.normpath(_rel(j.cwd, base)), "?"))
                for j in jobs]

    def _command(self, job: Job) -> str:
        # dpdispatcher writes a shell script; shlex quotes every word so no value is interpreted
        prefix = "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in job.env.items()) + " " if job.env else ""
        cmd = " && ".join(prefix + shlex.join(argv) for argv in job.argvs(self.machine))
        return f"{cmd}; echo $? > {RC}; exit $(cat {RC})"

    def _outcome(self, job: Job, seconds: float, failure: str | None, job_id: str) -> JobResult | Exception:
        cwd = Path(job.cwd)
        out, err = cwd / f"{job.log}.out", cwd / f"{job.log}.err"
        where = f"{self.machine.argv(job.command)[0]} in {cwd} (scheduler job {job_id})"
        try:
            rc = int((cwd / RC).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            why = f" (the submission failed: {' '.join(failure.split())[:300]})" if failure else ""
            return TransientError(f"{where} did not finish under dpdispatcher{why}; "
                                  f"last lines of its stderr:\n{_failed_tail(cwd, err.name)}")
        if rc == 0:
            return JobResult(0, seconds, out, err)
        if rc in _KILLED:
            return TransientError(f"{where} was killed (exit {rc}) under dpdispatcher")
        return FatalError(f"{where} failed with exit code {rc} under dpdispatcher; "
                          f"last lines of {err.name}:\n{tail(err) or tail(out)}")


@contextmanager
def _recording(base: Path, command: str, sub, poll: float = 0.2):
    """Record the submission's job ids as soon as the scheduler gives them, while dpdispatcher waits for the
    jobs (a watcher thread: a second ``run_submission`` call would upload the inputs again), and once more at
    the end."""
    stop = threading.Event()

    def watch() -> None:
        seen: list[str] = []
        while not stop.wait(poll):
            ids = _job_ids(sub)
            if ids and ids != seen:
                _record_submission(base, command, sub, ids)
                seen = ids

    watcher = threading.Thread(target=watch, name="heal-job-ids", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        _record_submission(base, command, sub, _job_ids(sub))


def _job_ids(sub) -> list[str]:
    return [str(j.job_id) for j in list(sub.belonging_jobs) if getattr(j, "job_id", "")]


def _record_submission(base: Path, command: str, sub, ids: list[str]) -> None:
    if not ids:
        return
    path = base / SUBMISSIONS
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        records = []
    entry = {"command": command, "tasks": sum(len(j.job_task_list) for j in sub.belonging_jobs), "jobs": ids,
             "submission": sub.submission_hash}
    records = [r for r in records if r.get("submission") != sub.submission_hash] + [
        {**entry, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}]
    atomic_write_json(path, records)


def read_submissions(root: Path) -> list[dict]:
    """Every submission recorded under `root` (a campaign): its directory relative to `root`, command, task
    count, scheduler job ids and time of submission, oldest first."""
    out = []
    for path in sorted(Path(root).rglob(SUBMISSIONS)):
        try:
            records = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        out += [{"dir": str(path.parent.relative_to(root)), **r} for r in records]
    return sorted(out, key=lambda r: r.get("submitted", ""))


def _packing(resources: dict, mdict: dict, n_tasks: int, machine: Machine) -> dict[str, str]:
    """Set a Shell submission's ``group_size`` so that at most ``max_parallel`` jobs run at once (see the module
    docstring); return the thread settings of its tasks."""
    cores = int(resources.get("cpu_per_node") or 1)
    if str(mdict.get("batch_type", "")).lower() == "shell":
        slots = machine.max_parallel or cores
        group = int(resources.get("group_size", 1))
        group = n_tasks if group == 0 else max(group, -(-n_tasks // slots))
        resources["group_size"] = group
        resources["para_deg"] = 1
        return thread_env(cores, -(-n_tasks // group), machine)
    return thread_env(cores, int(resources.get("para_deg") or 1), machine)


def _refused_submission(failure: str) -> str | None:
    """The scheduler's own words when it refused a submission (sbatch / qsub / bsub failed), else None."""
    m = re.search(r"fails to execute\s*\nerror message:(.*?)(?:\nreturn code|\Z)", failure, re.S)
    return " ".join(m.group(1).split()) if m else None


def _base(jobs: list[Job]) -> Path:
    """The jobs' common directory: the submission's local root, task paths are relative to it."""
    return Path(os.path.commonpath([str(Path(j.cwd).resolve()) for j in jobs]))


def _rel(cwd: Path, base: Path) -> str:
    rel = os.path.relpath(Path(cwd).resolve(), base)
    return "./" if rel == "." else rel + "/"


def _failed_tail(cwd: Path, err: str) -> str:
    """The stderr tail of a failed job: its own stderr if it came back, else dpdispatcher's
    ``<job_hash>_last_err_file`` (the end of the task's stderr) in the local root."""
    text = tail(cwd / err)
    if text:
        return text
    errs = sorted(cwd.glob("*_last_err_file"), key=lambda p: p.stat().st_mtime)
    return tail(errs[-1]) if errs else "(no stderr was copied back)"
