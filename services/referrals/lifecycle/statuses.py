"""Who may move a referral from one status to another (FHIR Task, as the Gravity IG uses it):
the receiver accepts, rejects, starts, completes, fails or holds; the sender requests, cancels or
marks an error. What a move needs (a reason, an outcome) is checked here too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.referrals.lifecycle.models import Status as S  # noqa: N817 - reads as a table

Side = Literal["sender", "receiver"]


@dataclass(frozen=True)
class Move:
    side: Side
    needs_reason: bool = False
    needs_outcome: bool = False


MOVES: dict[tuple[S, S], Move] = {
    (S.DRAFT, S.REQUESTED): Move("sender"),
    (S.DRAFT, S.ENTERED_IN_ERROR): Move("sender"),
    (S.DRAFT, S.CANCELLED): Move("sender"),
    (S.REQUESTED, S.ACCEPTED): Move("receiver"),
    (S.REQUESTED, S.REJECTED): Move("receiver", needs_reason=True),
    (S.REQUESTED, S.CANCELLED): Move("sender"),
    (S.REQUESTED, S.ENTERED_IN_ERROR): Move("sender"),
    (S.REQUESTED, S.ON_HOLD): Move("receiver", needs_reason=True),
    (S.ACCEPTED, S.IN_PROGRESS): Move("receiver"),
    (S.ACCEPTED, S.COMPLETED): Move("receiver", needs_outcome=True),
    (S.ACCEPTED, S.FAILED): Move("receiver", needs_reason=True),
    (S.ACCEPTED, S.ON_HOLD): Move("receiver", needs_reason=True),
    (S.ACCEPTED, S.CANCELLED): Move("sender"),
    (S.IN_PROGRESS, S.COMPLETED): Move("receiver", needs_outcome=True),
    (S.IN_PROGRESS, S.FAILED): Move("receiver", needs_reason=True),
    (S.IN_PROGRESS, S.ON_HOLD): Move("receiver", needs_reason=True),
    (S.IN_PROGRESS, S.CANCELLED): Move("sender"),
    (S.ON_HOLD, S.CANCELLED): Move("sender"),
}
# Leaving on-hold goes back where the referral was held from; who may do it depends on the cause:
# a hold for withdrawn consent is lifted by the sender with a new consent, a manual hold by the receiver.
RESUMABLE = frozenset({S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS})


def allowed_targets(current: S) -> list[str]:
    targets = [to.value for (frm, to) in MOVES if frm == current]
    if current == S.ON_HOLD:
        targets.append("the status it was held from")
    return targets
