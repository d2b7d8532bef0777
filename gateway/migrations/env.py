from passage.migrations import run_env

run_env()
