from passage.migrations import run_env
from services.scoring.models import ScheduledAssessment

run_env(ScheduledAssessment.metadata)
