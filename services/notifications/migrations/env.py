from passage.migrations import run_env
from services.notifications.models import InAppNotification

run_env(InAppNotification.metadata)
