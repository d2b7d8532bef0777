from passage.migrations import run_env
from services.intake.models import Client

run_env(Client.metadata)
