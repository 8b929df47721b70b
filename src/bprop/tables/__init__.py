"""Tables → arrays: reading CSVs (column types decided once at training and stored), encoding,
imputation and scaling, targets, and the bundled datasets. Needs the ``cli`` extra (pandas).
May import: nn, training (splits), memory."""

from .data import Prepared as Prepared
from .data import TableEncoder as TableEncoder
from .data import prepare as prepare
from .data import read_csv as read_csv
from .data import split_target as split_target
from .preprocessing import Preprocessor as Preprocessor
from .preprocessing import TransformReport as TransformReport
from .targets import TargetEncoder as TargetEncoder
from .targets import detect_task as detect_task
