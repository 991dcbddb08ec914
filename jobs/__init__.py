"""Durable jobs: submission (`submit`), execution by workers (`worker`), results (`results`).

A job is split into parts at submission, each part one solve of a stored
portfolio version (possibly varied: a scenario's changes, a total budget, a
baseline plan to stay close to). Parts and their plans are stored as they
finish, so a lost worker loses nothing that was done.
"""
