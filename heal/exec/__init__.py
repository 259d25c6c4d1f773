"""Executors: how an external program (lmp, dp, vasp, gpaw) is run.

A stage builds a :class:`Job` (a command *key* from the machine file plus arguments, a working
directory and a timeout) and hands it to an executor from :func:`get_executor`. Commands come from
``machines/*.yaml``, never from code, and are argv lists that never pass through a shell.
"""

from heal.exec.base import Job, JobResult, Machine, load_machine
from heal.exec.registry import get_executor

__all__ = ["Job", "JobResult", "Machine", "load_machine", "get_executor"]
