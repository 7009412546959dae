from alembic import context

from services.voting.models import Base
from shared.ops.migrations import run_env

run_env(context, Base.metadata, "voting")
