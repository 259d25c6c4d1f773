"""Run jobs through dpdispatcher (Shell / Slurm / PBS / LSF, local or SSH), configured by machines/*.yaml."""

from __future__ import annotations

import shlex
import time

from heal.errors import FatalError, TransientError
from heal.exec.base import Job, JobResult, Machine, job_env, tail


class DispatcherExecutor:
    def __init__(self, machine: Machine):
        self.machine = machine

    def run(self, job: Job) -> JobResult:
        from dpdispatcher import Machine as DMachine
        from dpdispatcher import Resources, Submission, Task

        cfg = dict(self.machine.dispatcher or {})
        mdict = dict(cfg["machine"])
        mdict["local_root"] = str(job.cwd)
        resources = dict(cfg.get("resources", {}))
        envs = dict(resources.get("envs", {}))
        if str(mdict.get("context_type", "")).lower().startswith("local"):
            # as LocalExecutor: programs installed beside heal (dp, lmp) are found without an activated venv
            envs.setdefault("PATH", job_env(Machine(), job)["PATH"])
        envs.update(self.machine.env)
        envs.update(job.env)
        resources["envs"] = envs
        argv = self.machine.argv(job.command) + list(job.args)
        # dpdispatcher writes a shell script; shlex.join quotes every word so no value is interpreted.
        cmd = shlex.join(argv)
        out, err = f"{job.log}.out", f"{job.log}.err"
        task = Task(command=cmd, task_work_path="./", forward_files=job.forward,
                    backward_files=job.backward + [out, err], outlog=out, errlog=err)
        machine = DMachine.load_from_dict(mdict)
        res = Resources.load_from_dict(resources)
        sub = Submission(work_base="./", machine=machine, resources=res, task_list=[task])
        t0 = time.monotonic()
        try:
            sub.run_submission(check_interval=int(cfg.get("check_interval", 1)), clean=True)
        except RuntimeError as exc:
            msg = str(exc)
            if "fail" in msg.lower() and "times" in msg.lower():
                raise FatalError(f"{argv[0]} failed under dpdispatcher in {job.cwd}; last lines of its stderr:\n"
                                 f"{_failed_tail(job.cwd, err)}") from None
            raise TransientError(f"dpdispatcher error in {job.cwd}: {msg}") from None
        return JobResult(0, time.monotonic() - t0, job.cwd / out, job.cwd / err)


def _failed_tail(cwd, err: str) -> str:
    """The stderr tail of a failed job: backward files are not copied back after a failure, but dpdispatcher
    downloads ``<job_hash>_last_err_file`` (the end of the task's stderr) into the local root."""
    text = tail(cwd / err)
    if text:
        return text
    errs = sorted(cwd.glob("*_last_err_file"), key=lambda p: p.stat().st_mtime)
    return tail(errs[-1]) if errs else "(no stderr was copied back)"
