from passage.migrations import run_env
from services.scoring.models import TABLES

run_env(TABLES)
