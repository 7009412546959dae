from alembic import context

from services.scoring.models import Base
from shared.ops.migrations import run_env

run_env(context, Base.metadata, "scoring")
