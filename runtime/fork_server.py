"""What the server that solver processes fork from imports before its first fork (runtime/pool.py).

Each solver process is forked from it with the solvers already imported (about 2 s saved per process: a
service starting, a process replaced after a kill). A fork copies only the thread that forks: any other
thread running in the server could hold a lock the child then waits on for ever, so the server runs none.
NumPy (imported by OR-Tools) may start OpenBLAS's thread pool on import unless one thread is asked for; the
solvers do no linear algebra worth more (the pool hands the cores to the solver threads).
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import runtime.tasks  # noqa: F401  (the point of this module: imported once, before any fork)
