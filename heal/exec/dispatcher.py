"""Run jobs through dpdispatcher (Shell / Slurm / PBS / LSF, local or SSH), configured by machines/*.yaml."""

from __future__ import annotations

import shlex
import time

from heal.errors import FatalError, TransientError
from heal.exec.base import Job, JobResult, Machine, tail


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
                raise FatalError(f"{argv[0]} failed under dpdispatcher in {job.cwd}: {tail(job.cwd / err)}") from None
            raise TransientError(f"dpdispatcher error in {job.cwd}: {msg}") from None
        return JobResult(0, time.monotonic() - t0, job.cwd / out, job.cwd / err)
