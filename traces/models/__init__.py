"""thinkscope's data model, split by domain and re-exported here."""

from traces.models.analysis import TraceAnalysis
from traces.models.label import ADJUDICATED, HUMAN, Label, LabelValue, TraceAnnotation, is_auto_source
from traces.models.label_history import LabelChange
from traces.models.preference import Preference, PreferenceChoice
from traces.models.prm import TrainedPrm
from traces.models.problem import AnswerType, Problem
from traces.models.project import ROLE_RANK, Membership, MembershipChange, Project, Role
from traces.models.queue import AssignmentPolicy, AssignmentStatus, Queue, QueueAssignment, QueueItem
from traces.models.run import Backend, LanguageModel, Run, RunKind, RunStatus, ThinkFormat
from traces.models.score import ProjectScoreName, Score
from traces.models.trace import FinishReason, Part, Segmentation, Step, Trace

__all__ = [
    "ADJUDICATED",
    "HUMAN",
    "ROLE_RANK",
    "AnswerType",
    "AssignmentPolicy",
    "AssignmentStatus",
    "Backend",
    "FinishReason",
    "Label",
    "LabelChange",
    "LabelValue",
    "LanguageModel",
    "Membership",
    "MembershipChange",
    "Part",
    "Preference",
    "PreferenceChoice",
    "Problem",
    "Project",
    "ProjectScoreName",
    "Queue",
    "QueueAssignment",
    "QueueItem",
    "Role",
    "Run",
    "RunKind",
    "RunStatus",
    "Score",
    "Segmentation",
    "Step",
    "ThinkFormat",
    "Trace",
    "TraceAnalysis",
    "TraceAnnotation",
    "TrainedPrm",
    "is_auto_source",
]
